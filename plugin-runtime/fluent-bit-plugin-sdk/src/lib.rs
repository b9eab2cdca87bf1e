//! Write Fluent Bit plugins in safe Rust.
//!
//! A plugin is a type implementing [`OutputPlugin`], [`InputPlugin`] or [`CustomPlugin`],
//! exported with [`export_output!`], [`export_input!`] or [`export_custom!`] from a crate built
//! as a `cdylib`. The resulting `lib<name>.so` loads into Fluent Bit through its plugin proxy
//! (the ABI Go plugins use): list it in a `plugins_file` or pass it with `-e`. Every instance of
//! the plugin gets its own value and configuration; panics never cross into Fluent Bit.
//!
//! A complete output plugin:
//!
//! ```
//! use fluent_bit_plugin_sdk::{Chunk, Error, FlushError, InitContext, OutputPlugin, log};
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! /// Counts records whose `level` field equals the configured level.
//! struct LevelCounter {
//!     level: String,
//!     seen: AtomicU64,
//! }
//!
//! impl OutputPlugin for LevelCounter {
//!     fn init(ctx: &InitContext) -> Result<Self, Error> {
//!         let level = ctx.config().get_or("level", "error".to_string())?;
//!         log::info!("counting records with level={level}");
//!         Ok(LevelCounter { level, seen: AtomicU64::new(0) })
//!     }
//!
//!     fn flush(&self, chunk: &Chunk<'_>) -> Result<(), FlushError> {
//!         for event in chunk.events() {
//!             if event?.body().get("level").and_then(|v| v.as_str()) == Some(self.level.as_str()) {
//!                 self.seen.fetch_add(1, Ordering::Relaxed);
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! fluent_bit_plugin_sdk::export_output!(LevelCounter, name = "level_counter", description = "Counts records by level");
//! ```
//!
//! Build it with `crate-type = ["cdylib", "rlib"]` and load `target/release/liblevel_counter.so`
//! (any file name not starting with `flb-`). Test it without Fluent Bit through the
//! `fluent-bit-plugin-test-host` crate, which loads the `.so` and drives it exactly as Fluent Bit does.
//!
//! # The public API
//!
//! Everything a plugin author uses, on this page:
//!
//! | what | items |
//! |---|---|
//! | plugin traits | [`OutputPlugin`], [`InputPlugin`], [`CustomPlugin`]; WASM filters: [`filter`] ([`filter::Context`], [`filter::Record`], [`filter::Verdict`]) |
//! | export macros | [`export_output!`], [`export_input!`], [`export_custom!`], [`export_filter!`] |
//! | starting an instance | [`InitContext`], [`Error`], [`PluginKind`] |
//! | configuration | [`Config`], [`ConfigError`], [`FromProperty`], [`Size`], [`List`]; [`config`]; the keys Fluent Bit keeps: [`reserved`] |
//! | outputs: chunks and events | [`Chunk`], [`FlushError`], [`Events`], [`Event`], [`EventTime`], [`Value`], [`Map`], [`Str`], [`DecodeError`]; [`event`] |
//! | inputs: the encoder | [`Emitter`], [`EmitError`], [`Encoder`], [`DEFAULT_QUEUE_LIMIT`] |
//! | logging | the [`log`] macros, [`Logger`]; [`logging`] |
//! | metrics | [`Metrics`], [`Counter`], [`Gauge`]; [`metrics`] |
//! | the flush stack | [`offload::run`] |
//!
//! Nothing else is public API. The raw `#[repr(C)]` mirrors of Fluent Bit's structs and the
//! glue the macros expand to are hidden (`#[doc(hidden)]`): they stay reachable only so the
//! test host can build the same structs and the macros can name the glue, and may change in any
//! release. Every line the compiler cannot check for memory safety is in one private module,
//! `abi`, the boundary with Fluent Bit; the crate's lints (`Cargo.toml`) deny it everywhere
//! else. The Fluent Bit facts that module relies on are written down in the repository's
//! `docs/fluent-bit-abi.md`.
//!
//! What the runtime guarantees, and what it asks of a plugin:
//! - **Instances.** Fluent Bit shares one init struct across instances; the runtime copies what
//!   it needs and keeps each instance in its own `remote_context` (at offset 8 for inputs).
//! - **Concurrency.** With `workers N`, flush runs concurrently: outputs are `Sync`. Fluent Bit
//!   5.1.1 starts the worker pool of a proxy output twice (`flb_plugin_proxy.c` and again
//!   `flb_output.c`): 2N `flb-out-<name>-w<i>` threads exist and flushes are dispatched to the N
//!   of the second pool, so per-thread state must expect up to 2N threads. The first pool is
//!   never stopped; after a hot reload its threads touch the freed configuration and Fluent Bit
//!   crashes. Do not combine `workers` on a proxy output with `hot_reload`.
//! - **Results.** `Ok` → `FLB_OK`, [`FlushError::Retry`] → `FLB_RETRY`, [`FlushError::Drop`]
//!   → `FLB_ERROR`. A panic in flush is logged (message and location) and becomes `FLB_ERROR`;
//!   a panic or error in `init` fails that instance with a log line naming the cause. The
//!   runtime installs its own panic hook, which never captures a backtrace: Rust's default hook
//!   walks the stack when `RUST_BACKTRACE` is set, and on Fluent Bit's coroutine stack that walk
//!   crashes Fluent Bit. `RUST_BACKTRACE` therefore has no effect on a plugin's panics.
//! - **Names.** Log prefixes and the metrics' `name` label use Fluent Bit's own name for the
//!   instance ([`InitContext::instance_name`]): its `alias`, else `<plugin>.<id>` with `id`
//!   counting every section of that kind.
//! - **Config.** [`Config`] reads typed values (strings, booleans, integers, sizes like `10M`,
//!   durations like `5s`, comma lists) and names the key and the expected form on errors. Keys
//!   Fluent Bit consumes itself (`host`, `match`, `tag`, `workers`, `tls.*`, ...) are refused.
//! - **Events.** [`event`] decodes both record shapes and every timestamp encoding without
//!   allocating, skips group markers, and encodes V2 records for inputs.
//! - **Logging** goes through Fluent Bit's logger with the usual [`log`] macros; **metrics**
//!   ([`Metrics`]) appear on Fluent Bit's Prometheus endpoint.
//! - **Threads.** Start threads in `init` (never earlier: Register runs before Fluent Bit
//!   daemonises) and join them in `Drop`; the runtime joins the producer threads it starts for
//!   inputs before Exit returns, because Fluent Bit unloads the library afterwards. Log lines
//!   from threads Fluent Bit does not own would bypass its log (`Log_File`); the runtime
//!   hands them to the instance's next callback on a Fluent Bit thread ([`logging`]).
//! - **Inputs: throughput and shutdown.** Fluent Bit collects a proxy input once a second
//!   (hard-coded), so an instance delivers at most [`InputPlugin::queue_limit`] bytes per
//!   second; size the queue from the rate you need. At shutdown and hot reload Fluent Bit pauses
//!   the input and exits it without collecting again. On a hot reload the runtime hands what
//!   was queued after the last collect to the reloaded input of the same name; at shutdown
//!   those records (normally up to a second of production, never more than `queue_limit`
//!   bytes) are not delivered, and the runtime logs exactly how many. See the [`InputPlugin`]
//!   docs.
//! - **Stack.** Flush runs on a 64 KiB coroutine stack without a guard page; see [`offload`].
//! - **Hot reload** (Register(new) → Exit(old) → Init(new)) works: no state outlives its
//!   instance.
//! - Build plugins with the default `panic = "unwind"`: with `panic = "abort"` a panic would
//!   abort Fluent Bit instead of failing one flush.

// The proxy-ABI side (`.so` plugins) needs a native target; on `wasm32` only the event codec
// and WASM filter support are built.
mod abi;
#[cfg(not(target_family = "wasm"))]
pub mod config;
#[cfg(not(target_family = "wasm"))]
mod context;
#[cfg(not(target_family = "wasm"))]
mod custom;
pub mod event;
pub mod filter;
#[cfg(not(target_family = "wasm"))]
mod input;
#[cfg(not(target_family = "wasm"))]
mod kind;
#[cfg(not(target_family = "wasm"))]
pub mod logging;
#[cfg(not(target_family = "wasm"))]
pub mod metrics;
#[cfg(not(target_family = "wasm"))]
pub mod offload;
#[cfg(not(target_family = "wasm"))]
mod output;
#[cfg(not(target_family = "wasm"))]
mod panic;
pub mod reserved;

#[cfg(not(target_family = "wasm"))]
pub use config::{Config, ConfigError, FromProperty, List, Size};
#[cfg(not(target_family = "wasm"))]
pub use context::{Error, InitContext};
#[cfg(not(target_family = "wasm"))]
pub use custom::CustomPlugin;
pub use event::{DecodeError, Encoder, Event, EventTime, Events, Map, Str, Value};
#[cfg(not(target_family = "wasm"))]
pub use input::{DEFAULT_QUEUE_LIMIT, EmitError, Emitter, InputPlugin};
#[cfg(not(target_family = "wasm"))]
pub use kind::PluginKind;
#[cfg(not(target_family = "wasm"))]
pub use logging::Logger;
#[cfg(not(target_family = "wasm"))]
pub use metrics::{Counter, Gauge, Metrics};
#[cfg(not(target_family = "wasm"))]
pub use output::{Chunk, FlushError, OutputPlugin};

/// The raw `#[repr(C)]` mirrors of Fluent Bit's proxy structs and constants.
///
/// Hidden because it is not for plugin authors: the safe API covers everything a plugin does.
/// It stays public only so the test host (`fluent-bit-plugin-test-host`) builds exactly the
/// structs the SDK reads, from one definition; it may change in any release.
#[doc(hidden)]
#[cfg(not(target_family = "wasm"))]
pub use abi::raw as ffi;

/// Re-exported so plugins need no direct dependency to use the logging macros.
pub use log;

/// Used by the export macros; not part of the public API.
#[doc(hidden)]
#[cfg(not(target_family = "wasm"))]
pub mod __private {
    pub use crate::abi::export::{pre_register, register};
    pub use crate::abi::raw as ffi;
    pub use crate::context::PluginMeta;

    /// Output glue.
    pub mod output {
        pub use crate::abi::output::{exit, flush, flush_legacy, init};
    }
    /// Input glue.
    pub mod input {
        pub use crate::abi::input::{
            cleanup, cleanup_legacy, collect, collect_legacy, exit_all, exit_current, init,
            pre_exit, set_paused,
        };
    }
    /// Custom glue.
    pub mod custom {
        pub use crate::abi::custom::{exit_one, init};
    }
}
