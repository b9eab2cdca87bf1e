//! The output callbacks Fluent Bit calls: `FLBPluginInit`, `FLBPluginFlushCtx` (and the
//! context-free `FLBPluginFlush`), `FLBPluginExitCtx`. ABI facts: `docs/fluent-bit-abi.md`
//! sections 2 and 3.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Mutex;

use super::host::{c_str, instance_context};
use super::raw::{self as ffi, GoOutputPlugin};
use crate::PluginKind;
use crate::context::{PluginMeta, lock, run_init};
use crate::logging::Logger;
use crate::output::{Chunk, FlushError, OutputPlugin};

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
    // SAFETY: the host filled these fields just before calling Init (`docs/fluent-bit-abi.md` section 2.3); they are
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
