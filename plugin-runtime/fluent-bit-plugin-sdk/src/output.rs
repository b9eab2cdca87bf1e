//! Output plugins: Fluent Bit hands each instance chunks of records to deliver.

use std::fmt;

use crate::context::{Error, InitContext};
use crate::event::Events;

/// An output plugin: one value per configured `[OUTPUT]` instance.
///
/// `flush` takes `&self` and the type must be `Sync`: with `workers N` Fluent Bit calls flush
/// for the same instance from up to N threads at once (`docs/fluent-bit-abi.md` section 3.5). Keep mutable
/// state behind a `Mutex` or in atomics. Fluent Bit 5.1.1 starts a proxy output's worker pool
/// twice, so 2N worker threads exist (flushes go to N of them; the other N idle and are never
/// stopped): thread-local state must expect 2N threads, and `workers` must not be combined with
/// hot reload, after which the leaked threads touch freed memory and Fluent Bit crashes. The instance is dropped when Fluent Bit exits it, so
/// `Drop` is the place to flush buffers and join threads.
///
/// Flush runs on a 64 KiB coroutine stack without a guard page. The runtime's own frames use a
/// few KiB of it; keep plugin frames shallow, avoid large arrays on the stack, and move heavy
/// work (TLS, HTTP clients, deep recursion) off the coroutine with [`crate::offload::run`].
pub trait OutputPlugin: Sized + Send + Sync + 'static {
    /// Creates an instance from its configuration. An error (or a panic) fails this instance's
    /// Init with the message in Fluent Bit's log.
    fn init(ctx: &InitContext) -> Result<Self, Error>;

    /// Delivers one chunk. `Ok` releases it, [`FlushError::Retry`] asks Fluent Bit to try again
    /// later (subject to `retry_limit`), [`FlushError::Drop`] discards it for this output.
    fn flush(&self, chunk: &Chunk<'_>) -> Result<(), FlushError>;
}

/// One chunk of records for an output, valid only during the flush call.
pub struct Chunk<'a> {
    pub(crate) tag: &'a [u8],
    pub(crate) data: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// A chunk over raw msgpack bytes (what Fluent Bit passes; also handy in unit tests).
    pub fn new(tag: &'a str, data: &'a [u8]) -> Self {
        Chunk {
            tag: tag.as_bytes(),
            data,
        }
    }

    /// The tag the records were routed with. Tags are ASCII in practice; a tag that is not
    /// UTF-8 reads as `""` (use [`Chunk::tag_bytes`]).
    pub fn tag(&self) -> &'a str {
        std::str::from_utf8(self.tag).unwrap_or("")
    }

    /// The tag as raw bytes.
    pub fn tag_bytes(&self) -> &'a [u8] {
        self.tag
    }

    /// The records, decoded lazily and without copying.
    pub fn events(&self) -> Events<'a> {
        Events::new(self.data)
    }

    /// The raw msgpack bytes, for plugins that forward them unchanged.
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }
}

/// Why a flush did not deliver its chunk.
#[derive(Debug)]
pub enum FlushError {
    /// A transient failure (disk full, endpoint down): Fluent Bit retries the chunk later.
    Retry(Error),
    /// A permanent failure (malformed data, rejected by the destination): the chunk is dropped
    /// for this output and counted in `fluentbit_output_errors_total`.
    Drop(Error),
}

impl FlushError {
    /// A transient failure.
    pub fn retry(err: impl Into<Error>) -> Self {
        FlushError::Retry(err.into())
    }
    /// A permanent failure.
    pub fn drop(err: impl Into<Error>) -> Self {
        FlushError::Drop(err.into())
    }
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlushError::Retry(e) => write!(f, "{e} (will retry)"),
            FlushError::Drop(e) => write!(f, "{e} (chunk dropped)"),
        }
    }
}

impl std::error::Error for FlushError {}

/// I/O errors are usually transient (full disk, unreachable peer): retry.
impl From<std::io::Error> for FlushError {
    fn from(err: std::io::Error) -> Self {
        FlushError::Retry(err.into())
    }
}

/// Malformed records do not get better on retry: drop the chunk.
impl From<crate::event::DecodeError> for FlushError {
    fn from(err: crate::event::DecodeError) -> Self {
        FlushError::Drop(err.into())
    }
}
