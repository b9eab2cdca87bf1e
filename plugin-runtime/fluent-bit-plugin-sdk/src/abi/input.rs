//! The input callbacks Fluent Bit calls: `FLBPluginInit`, the collect and cleanup callbacks
//! (with and without context), pause/resume, pre-exit and exit. ABI facts:
//! `docs/fluent-bit-abi.md` sections 2, 3 and 6.

use std::ffi::{c_int, c_void};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use super::host::instance_context;
use super::raw::{self as ffi, GoInputPlugin};
use crate::PluginKind;
use crate::context::{PluginMeta, lock, run_init};
use crate::input::{Emitter, InputPlugin, Shared, State};
use crate::logging::Logger;

struct Instance {
    /// Fluent Bit's name for the instance: what a reloaded configuration's instance must be
    /// called to take over this one's undelivered records.
    name: String,
    shared: Arc<Shared>,
    producer: Option<JoinHandle<()>>,
    logger: Logger,
    /// The buffer Fluent Bit is copying; returned by cleanup (or reclaimed at the next collect).
    in_flight: Option<Vec<u8>>,
    /// An empty buffer with capacity, swapped into the queue at the next collect.
    spare: Vec<u8>,
}

/// Input instances by the thread Fluent Bit runs them on: `FLBPluginExit`, `Pause` and
/// `Resume` carry no context (`docs/fluent-bit-abi.md` section 3.4), but every callback of an instance runs on its own
/// thread.
static INSTANCES: Mutex<Vec<(ThreadId, usize)>> = Mutex::new(Vec::new());

/// `FLBPluginInit` for inputs: creates the instance and starts its producer thread.
///
/// # Safety
/// `plugin` must be the host's `flbgo_input_plugin` for the instance being initialised.
pub unsafe fn init<P: InputPlugin>(meta: &PluginMeta, plugin: *mut GoInputPlugin) -> c_int {
    let _callback = crate::logging::CallbackScope::enter();
    if plugin.is_null() {
        return ffi::FLB_ERROR;
    }
    // SAFETY: filled by the host just before Init; copied because the struct is shared.
    let (api, ins, context) = unsafe { ((*plugin).api, (*plugin).i_ins, (*plugin).context) };
    if context.is_null() {
        return ffi::FLB_ERROR;
    }
    // SAFETY: api and ins are this instance's, valid until its Exit.
    let Some(ctx) = (unsafe { instance_context(meta, api, ins, PluginKind::Input) }) else {
        return ffi::FLB_ERROR;
    };
    let Some(mut plugin) = run_init(&ctx, P::init) else {
        return ffi::FLB_ERROR;
    };
    let logger = ctx.logger().clone();
    let (carried, carried_records) = take_carried_over(ctx.instance_name());
    if carried_records > 0 {
        ctx.logger().info(format_args!(
            "took over {carried_records} record(s) ({} bytes) the instance of the same name \
             queued before the hot reload; the first collect delivers them",
            carried.len()
        ));
    }
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            buf: carried,
            records: carried_records,
            paused: false,
            stopping: false,
            finished: false,
        }),
        changed: Condvar::new(),
        limit: plugin.queue_limit().max(1),
    });
    let emitter = Emitter {
        shared: shared.clone(),
        logger: logger.clone(),
        metrics: ctx.metrics().clone(),
    };
    let thread_name = format!("fbp-{}", ctx.instance_name());
    let spawned = thread::Builder::new().name(thread_name).spawn(move || {
        let logger = emitter.logger.clone();
        let _scope = logger.enter();
        match crate::panic::catch(|| plugin.run(&emitter)) {
            Ok(Ok(())) => {}
            Ok(Err(err)) => logger.error(format_args!("input stopped producing: {err}")),
            Err(panic) => {
                let (msg, at) = crate::panic::describe(&*panic);
                logger.error(format_args!(
                    "input panicked and stopped producing: {msg}{at}"
                ))
            }
        }
        if let Err(panic) = crate::panic::catch(move || drop(plugin)) {
            let (msg, at) = crate::panic::describe(&*panic);
            logger.error(format_args!("input panicked while dropping: {msg}{at}"));
        }
        emitter.shared.update(|s| s.finished = true);
    });
    let producer = match spawned {
        Ok(handle) => handle,
        Err(err) => {
            logger.error(format_args!("could not start the producer thread: {err}"));
            return ffi::FLB_ERROR;
        }
    };
    let instance = Box::into_raw(Box::new(Instance {
        name: ctx.instance_name().to_owned(),
        shared,
        producer: Some(producer),
        logger: logger.clone(),
        in_flight: None,
        spare: Vec::new(),
    }));
    // SAFETY: `context` is this instance's input proxy context (remote_context at offset 8).
    unsafe { (*context).remote_context = instance.cast() };
    lock(&INSTANCES).push((thread::current().id(), instance as usize));
    ffi::FLB_OK
}

/// `FLBPluginInputCallbackCtx`: hands the queued records to Fluent Bit.
///
/// # Safety
/// `ctx` must come from [`init`]; `buf` and `len` must be writable. Called on the instance's
/// thread only, never concurrently with cleanup or exit for the same instance.
pub unsafe fn collect(ctx: *mut c_void, buf: *mut *mut c_void, len: *mut usize) -> c_int {
    if buf.is_null() || len.is_null() {
        return -1;
    }
    // SAFETY: writable out-parameters (caller contract).
    unsafe {
        *buf = std::ptr::null_mut();
        *len = 0;
    }
    if ctx.is_null() {
        return ffi::FLB_OK;
    }
    // SAFETY: the instance is only touched from its own thread (caller contract); the producer
    // shares only `shared`, which is behind a mutex.
    let instance = unsafe { &mut *ctx.cast::<Instance>() };
    let _callback = crate::logging::CallbackScope::enter();
    // What the producer thread logged since the last collect reaches Fluent Bit's log here.
    instance.logger.flush_deferred();
    if let Some(mut stale) = instance.in_flight.take() {
        // The host never returned the last buffer; by now it has copied it.
        stale.clear();
        instance.spare = stale;
    }
    {
        let mut state = lock(&instance.shared.state);
        if state.records == 0 {
            return ffi::FLB_OK;
        }
        std::mem::swap(&mut state.buf, &mut instance.spare);
        state.records = 0;
    }
    instance.shared.changed.notify_all();
    let out = std::mem::take(&mut instance.spare);
    // SAFETY: writable out-parameters; the buffer stays alive in `in_flight` until cleanup.
    unsafe {
        *buf = out.as_ptr().cast_mut().cast();
        *len = out.len();
    }
    instance.in_flight = Some(out);
    ffi::FLB_OK
}

/// `FLBPluginInputCleanupCallbackCtx`: takes back the buffer Fluent Bit has copied.
///
/// # Safety
/// As [`collect`].
pub unsafe fn cleanup(ctx: *mut c_void, buf: *mut c_void) -> c_int {
    if ctx.is_null() {
        return ffi::FLB_OK;
    }
    // SAFETY: as in `collect`.
    let instance = unsafe { &mut *ctx.cast::<Instance>() };
    match instance.in_flight.take() {
        Some(mut v) if v.as_ptr() == buf.cast_const().cast() => {
            v.clear();
            instance.spare = v;
        }
        other => {
            instance.in_flight = other;
            instance.logger.warn(format_args!(
                "cleanup called for a buffer this input did not hand out"
            ));
        }
    }
    ffi::FLB_OK
}

/// Legacy `FLBPluginInputCallback` (hosts before 4.1): the instance is found by thread.
///
/// # Safety
/// As [`collect`].
pub unsafe fn collect_legacy(buf: *mut *mut c_void, len: *mut usize) -> c_int {
    let ctx = current_instance().map_or(std::ptr::null_mut(), |p| p as *mut c_void);
    // SAFETY: forwarded caller contract.
    unsafe { collect(ctx, buf, len) }
}

/// Legacy `FLBPluginInputCleanupCallback`.
///
/// # Safety
/// As [`cleanup`].
pub unsafe fn cleanup_legacy(buf: *mut c_void) -> c_int {
    let ctx = current_instance().map_or(std::ptr::null_mut(), |p| p as *mut c_void);
    // SAFETY: forwarded caller contract.
    unsafe { cleanup(ctx, buf) }
}

fn current_instance() -> Option<usize> {
    let me = thread::current().id();
    lock(&INSTANCES)
        .iter()
        .find(|(t, _)| *t == me)
        .map(|(_, p)| *p)
}

/// `FLBPluginInputPause` / `Resume`: no context, so every instance on this thread.
pub fn set_paused(paused: bool) {
    let _callback = crate::logging::CallbackScope::enter();
    let me = thread::current().id();
    for (_, ptr) in lock(&INSTANCES).iter().filter(|(t, _)| *t == me) {
        // SAFETY: registered instances stay alive until removed from INSTANCES in `exit`.
        let instance = unsafe { &*(*ptr as *const Instance) };
        instance.shared.update(|s| s.paused = paused);
        instance.logger.flush_deferred();
    }
}

thread_local! {
    // Set by FLBPluginInputPreExit(1) on the instance's thread, read by the FLBPluginExit that
    // follows it there. A plain const Cell: no destructor (Fluent Bit dlclose()s the library
    // while its threads live on).
    static EXITING_FOR_RELOAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Records queued by instances exited for a hot reload, by instance name, with the reload they
/// belong to; the reloaded configuration's instance of the same name takes them over.
type CarriedOver = Vec<(String, u64, Vec<u8>, usize)>;
static CARRIED_OVER: Mutex<CarriedOver> = Mutex::new(Vec::new());

fn take_carried_over(name: &str) -> (Vec<u8>, usize) {
    let mut all = lock(&CARRIED_OVER);
    match all.iter().position(|(n, ..)| n == name) {
        Some(i) => {
            let (_, _, buf, records) = all.remove(i);
            (buf, records)
        }
        None => (Vec::new(), 0),
    }
}

/// `FLBPluginInputPreExit(shutdown_by_hot_reloading)`: runs on the instance's thread right
/// before its `FLBPluginExit` (`flb_proxy_input_cb_exit`).
pub fn pre_exit(shutdown_by_hot_reloading: c_int) {
    EXITING_FOR_RELOAD.with(|c| c.set(shutdown_by_hot_reloading != 0));
}

/// `FLBPluginExit` for inputs: stops, joins and frees this thread's instance.
pub fn exit_current() -> c_int {
    let _callback = crate::logging::CallbackScope::enter();
    let for_reload = EXITING_FOR_RELOAD.with(|c| c.replace(false));
    let me = thread::current().id();
    let entry = {
        let mut all = lock(&INSTANCES);
        all.iter()
            .position(|(t, _)| *t == me)
            .map(|i| all.remove(i))
    };
    if let Some((_, ptr)) = entry {
        // SAFETY: removed from the registry above, so this is the only owner.
        unsafe { stop(ptr, for_reload) };
    }
    ffi::FLB_OK
}

/// `FLBPluginUnregister`: stops whatever Exit did not (the library is unloaded next).
pub fn exit_all() {
    let _callback = crate::logging::CallbackScope::enter();
    let all = std::mem::take(&mut *lock(&INSTANCES));
    for (_, ptr) in all {
        // SAFETY: taken out of the registry, so this is the only owner.
        unsafe { stop(ptr, false) };
    }
}

/// # Safety
/// `ptr` must be an instance from [`init`] that nothing else references any more.
unsafe fn stop(ptr: usize, for_reload: bool) {
    // SAFETY: created by Box::into_raw in `init`; the caller owns it now.
    let mut instance = unsafe { Box::from_raw(ptr as *mut Instance) };
    instance.shared.update(|s| s.stopping = true);
    let deadline = Instant::now() + Duration::from_secs(5);
    {
        let mut state = lock(&instance.shared.state);
        while !state.finished && Instant::now() < deadline {
            state = instance.shared.wait(
                state,
                Some(deadline.saturating_duration_since(Instant::now())),
            );
        }
        if !state.finished {
            instance.logger.warn(format_args!(
                "the input's run() has not returned 5s after shutdown began; still waiting \
                 (it must check Emitter::is_running or use Emitter::wait)"
            ));
        }
    }
    if let Some(handle) = instance.producer.take() {
        let _ = handle.join();
    }
    instance.logger.flush_deferred();
    let (buf, records) = {
        let mut state = lock(&instance.shared.state);
        (
            std::mem::take(&mut state.buf),
            std::mem::take(&mut state.records),
        )
    };
    let epoch = crate::context::RELOAD_EPOCH.load(std::sync::atomic::Ordering::Relaxed);
    // What an earlier reload carried over and no instance took is lost now.
    let unclaimed: CarriedOver = {
        let mut all = lock(&CARRIED_OVER);
        let (stale, keep): (CarriedOver, CarriedOver) = std::mem::take(&mut *all)
            .into_iter()
            .partition(|(_, e, ..)| !for_reload || *e < epoch);
        *all = keep;
        stale
    };
    for (name, _, buf, records) in unclaimed {
        instance.logger.warn(format_args!(
            "{records} record(s) ({} bytes) that {name} queued before a hot reload were not \
             delivered: the reloaded configuration has no input named {name}",
            buf.len()
        ));
    }
    if records == 0 {
        return;
    }
    let bytes = buf.len();
    if for_reload {
        // The library stays loaded across a hot reload (same dlopen handle), so the records
        // wait here for the new configuration's instance of the same name.
        instance.logger.info(format_args!(
            "hot reload: {records} record(s) ({bytes} bytes) queued after Fluent Bit's last \
             collect are handed to the reloaded instance named {}",
            instance.name
        ));
        lock(&CARRIED_OVER).push((instance.name.clone(), epoch, buf, records));
    } else {
        // Fluent Bit 5.1.1 pauses an input when it shuts down, stops its collector, and exits
        // it without collecting again (flb_engine.c), so what is still queued cannot be
        // handed over: say exactly how much.
        instance.logger.warn(format_args!(
            "{records} record(s) ({bytes} bytes) queued after Fluent Bit's last collect were not \
             delivered: Fluent Bit pauses an input when it shuts down and exits it without \
             collecting again"
        ));
    }
}
