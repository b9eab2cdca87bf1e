//! The ABI boundary: every line of the SDK that crosses into Fluent Bit, and the only module
//! allowed `unsafe` (the crate's lints in `Cargo.toml` deny `unsafe_code` everywhere else).
//!
//! The facts this code relies on (struct layouts, call order, threads, memory) are written down
//! in `docs/fluent-bit-abi.md` in the repository; section numbers in comments refer to it.
//!
//! - [`raw`]: `#[repr(C)]` mirrors of Fluent Bit 5.1.1's proxy structs, layouts asserted at
//!   compile time.
//! - `host`: the one place that calls through `struct flb_api` (properties, log level, log
//!   print, instance name, cmetrics context).
//! - `export`: `FLBPluginRegister` and the macros that emit the C symbols Fluent Bit looks up;
//!   `output`, `input`, `custom`: the callbacks those symbols forward to.
//! - `metrics`: the cmetrics functions found with `dlsym`.
//! - `log_scope`: the per-thread logger pointer (a raw pointer because Fluent Bit `dlclose()`s
//!   the library while its threads live on, so no thread-local may have a destructor).
//! - `wasm` and `filter_export`: the WASM filter side, where Fluent Bit's WAMR passes
//!   pointers into linear memory.

#![allow(unsafe_code)]

#[cfg(not(target_family = "wasm"))]
pub(crate) mod custom;
#[cfg(not(target_family = "wasm"))]
pub(crate) mod export;
mod filter_export;
#[cfg(not(target_family = "wasm"))]
pub(crate) mod host;
#[cfg(not(target_family = "wasm"))]
pub(crate) mod input;
#[cfg(not(target_family = "wasm"))]
pub(crate) mod log_scope;
#[cfg(not(target_family = "wasm"))]
pub(crate) mod metrics;
#[cfg(not(target_family = "wasm"))]
pub(crate) mod output;
#[cfg(not(target_family = "wasm"))]
pub mod raw;
#[cfg(target_family = "wasm")]
pub(crate) mod wasm;
