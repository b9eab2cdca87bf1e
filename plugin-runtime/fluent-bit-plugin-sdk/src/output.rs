//! Output plugins: Fluent Bit hands each instance chunks of records to deliver.

use std::ffi::{c_char, c_int, c_void};
use std::fmt;
use std::sync::Mutex;

use crate::context::{Error, InitContext, PluginMeta, instance_context, lock, run_init};
use crate::event::Events;
use crate::ffi::{self, GoOutputPlugin};
use crate::host::{PluginKind, c_str};
use crate::logging::Logger;

/// An output plugin: one value per configured `[OUTPUT]` instance.
///
/// `flush` takes `&self` and the type must be `Sync`: with `workers N` Fluent Bit calls flush
/// for the same instance from up to N threads at once (reference section 3.5). Keep mutable
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
    tag: &'a [u8],
    data: &'a [u8],
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

struct Instance<P> {
    plugin: P,
    logger: Logger,
}

/// Live instances, only for the legacy context-free `FLBPluginFlush`.
static LIVE: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// `FLBPluginInit` for outputs.
///
/// # Safety
/// `plugin` must be the host's `flbgo_output_plugin` for the instance being initialised.
pub unsafe fn init<P: OutputPlugin>(meta: &PluginMeta, plugin: *mut GoOutputPlugin) -> c_int {
    let _callback = crate::logging::CallbackScope::enter();
    if plugin.is_null() {
        return ffi::FLB_ERROR;
    }
    // SAFETY: the host filled these fields just before calling Init (reference 2.3); they are
    // copied now because the struct is shared and overwritten for the next instance.
    let (api, ins, context) = unsafe { ((*plugin).api, (*plugin).o_ins, (*plugin).context) };
    if context.is_null() {
        return ffi::FLB_ERROR;
    }
    // SAFETY: api and ins are this instance's, valid until ExitCtx.
    let Some(ctx) = (unsafe { instance_context(meta, api, ins, PluginKind::Output) }) else {
        return ffi::FLB_ERROR;
    };
    let Some(plugin) = run_init(&ctx, P::init) else {
        return ffi::FLB_ERROR;
    };
    let logger = ctx.logger().clone();
    let instance = Box::into_raw(Box::new(Instance { plugin, logger }));
    // SAFETY: `context` is this instance's proxy context, allocated by the host.
    unsafe { (*context).remote_context = instance.cast() };
    lock(&LIVE).push(instance as usize);
    ffi::FLB_OK
}

/// `FLBPluginFlushCtx`.
///
/// # Safety
/// `ctx` must be a `remote_context` set by [`init`] for `P`; `data`/`size` a readable buffer and
/// `tag` NULL or a NUL-terminated string, both valid for the call.
pub unsafe fn flush<P: OutputPlugin>(
    ctx: *mut c_void,
    data: *const c_void,
    size: usize,
    tag: *const c_char,
) -> c_int {
    if ctx.is_null() {
        eprintln!("flush called for an output that was never initialised; chunk dropped");
        return ffi::FLB_ERROR;
    }
    // SAFETY: set by `init` for this `P`; flush only takes shared references.
    let instance = unsafe { &*ctx.cast::<Instance<P>>() };
    let data = if data.is_null() || size == 0 {
        &[][..]
    } else {
        // SAFETY: the host passes a buffer of `size` readable bytes valid during the call.
        unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size) }
    };
    // SAFETY: the host passes a NUL-terminated copy of the tag valid during the call.
    let tag = unsafe { c_str(tag) }.map_or(&[][..], |t| t.to_bytes());
    let chunk = Chunk { tag, data };
    let _callback = crate::logging::CallbackScope::enter();
    let _scope = instance.logger.enter();
    let code = flush_chunk(instance, &chunk);
    // Lines the plugin's own threads logged (an offload thread, a background sender) reach
    // Fluent Bit's log from here.
    instance.logger.flush_deferred();
    code
}

fn flush_chunk<P: OutputPlugin>(instance: &Instance<P>, chunk: &Chunk<'_>) -> c_int {
    match crate::panic::catch(|| instance.plugin.flush(chunk)) {
        Ok(Ok(())) => ffi::FLB_OK,
        Ok(Err(FlushError::Retry(err))) => {
            instance
                .logger
                .warn(format_args!("flush failed, will retry: {err}"));
            ffi::FLB_RETRY
        }
        Ok(Err(FlushError::Drop(err))) => {
            instance
                .logger
                .error(format_args!("flush failed, chunk dropped: {err}"));
            ffi::FLB_ERROR
        }
        Err(panic) => {
            let (msg, at) = crate::panic::describe(&*panic);
            instance
                .logger
                .error(format_args!("flush panicked: {msg}; chunk dropped{at}"));
            ffi::FLB_ERROR
        }
    }
}

/// Legacy `FLBPluginFlush` (no context): only unambiguous with a single instance.
///
/// # Safety
/// As [`flush`], for `data`, `size` and `tag`.
pub unsafe fn flush_legacy<P: OutputPlugin>(
    data: *const c_void,
    size: usize,
    tag: *const c_char,
) -> c_int {
    let live = lock(&LIVE).clone();
    match live.as_slice() {
        // SAFETY: the pointer came from `init` and stays registered until exit.
        [only] => unsafe { flush::<P>(*only as *mut c_void, data, size, tag) },
        _ => {
            eprintln!(
                "this Fluent Bit calls FLBPluginFlush without a context and {} instances exist; \
                 chunk dropped (upgrade Fluent Bit)",
                live.len()
            );
            ffi::FLB_ERROR
        }
    }
}

/// `FLBPluginExitCtx`: drops the instance.
///
/// # Safety
/// `ctx` must be a `remote_context` set by [`init`] for `P`, not yet exited, with no flush
/// running (the host guarantees it).
pub unsafe fn exit<P: OutputPlugin>(ctx: *mut c_void) -> c_int {
    if ctx.is_null() {
        return ffi::FLB_OK;
    }
    lock(&LIVE).retain(|p| *p != ctx as usize);
    // SAFETY: created by Box::into_raw in `init`; ownership returns here exactly once.
    let instance = unsafe { Box::from_raw(ctx.cast::<Instance<P>>()) };
    let logger = instance.logger.clone();
    let _callback = crate::logging::CallbackScope::enter();
    let _scope = logger.enter();
    if let Err(panic) = crate::panic::catch(move || drop(instance)) {
        let (msg, at) = crate::panic::describe(&*panic);
        logger.error(format_args!("exit panicked: {msg}{at}"));
    }
    logger.flush_deferred();
    ffi::FLB_OK
}
