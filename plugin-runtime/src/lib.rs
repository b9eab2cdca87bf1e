//! Write Fluent Bit plugins in safe Rust.
#![doc = "(crate docs are written once the API settles)"]

pub mod event;
pub mod ffi;
