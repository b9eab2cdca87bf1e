//! Input plugins: the plugin produces records on its own thread into a bounded queue that
//! Fluent Bit drains once a second.
//!
//! Fluent Bit calls a proxy input's collect callback every second on the instance's own thread
//! and stops calling it while the input is paused (for example when `mem_buf_limit` is hit);
//! reference section 6. The runtime therefore runs [`InputPlugin::run`] on a thread it starts
//! after Init and joins at Exit, and gives it an [`Emitter`]: records are encoded straight into
//! the queue, and when the queue is full or the input is paused the producer is told, by
//! blocking in [`Emitter::emit`] or by an error from [`Emitter::try_emit`]. Nothing is dropped
//! silently. The buffer handed to Fluent Bit is returned to the runtime by the cleanup callback
//! and reused, so steady-state collection allocates nothing.

use std::ffi::{c_int, c_void};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crate::context::{Error, InitContext, PluginMeta, instance_context, lock, run_init};
use crate::event::Encoder;
use crate::ffi::{self, GoInputPlugin};
use crate::host::PluginKind;
use crate::logging::Logger;
use crate::metrics::Metrics;

/// The queue bound used when [`InputPlugin::queue_limit`] is not overridden: 4 MiB.
pub const DEFAULT_QUEUE_LIMIT: usize = 4 << 20;

/// An input plugin: one value per configured `[INPUT]` instance.
///
/// **Throughput ceiling.** The collect interval is hard-coded to one second in Fluent Bit 5.1.1
/// (`PROXY_CALLBACK_TIME` in `flb_plugin_proxy.c`; no property changes it), and each collect
/// takes the whole queue. An instance therefore delivers at most [`InputPlugin::queue_limit`]
/// bytes per second: with the default 4 MiB and ~40-byte records that is about 100,000
/// records/s. Size the queue from the rate: two seconds of records (one for the interval, one
/// for a late collect), e.g. `rate × record bytes × 2`. Through the test host one instance
/// moved 1 million 37-byte records/s with such a queue, against 120,000/s with the default
/// (the `in-generator` benchmark, `cargo bench -p in-generator --bench input_throughput`).
///
/// **What is lost at shutdown and hot reload.** Fluent Bit pauses every input when it starts to
/// shut down or reload (`flb_engine_stop_ingestion`), stops the collector, flushes what it
/// already holds during the grace period, and then exits the input (`FLBPluginInputPreExit`,
/// `FLBPluginExit`) without collecting again. The proxy ABI offers no later collect. So:
/// - delivered: everything a collect took before the pause;
/// - hot reload: the library stays loaded (same `dlopen` handle), so what was queued after the
///   last collect is handed to the reloaded configuration's input of the same name (Fluent
///   Bit's instance name: the alias, else `<plugin>.<id>`), whose first collect delivers it
///   under that instance's tag; only if the new configuration has no input of that name are
///   those records lost (logged with their count when the next instance of the plugin exits);
/// - shutdown: what was queued after the last collect (collects are a second apart, so
///   normally up to a second of production; never more than `queue_limit` bytes, and including
///   what was queued while Fluent Bit had the input paused for back pressure) is not
///   delivered; the runtime logs the exact number of records and bytes at exit;
/// - never produced: nothing is made up while paused; the producer waits in [`Emitter::emit`]
///   from the pause until [`Emitter::is_running`] turns false at exit, so it queues nothing
///   more.
///
/// A successful emit means queued, not delivered: a plugin reading from a source that can
/// replay (a file offset, a broker) should keep its position far enough back to replay the
/// last second. A smaller `queue_limit` lowers the bound at the cost of throughput.
pub trait InputPlugin: Sized + Send + 'static {
    /// Creates an instance from its configuration. An error (or a panic) fails this instance's
    /// Init with the message in Fluent Bit's log.
    fn init(ctx: &InitContext) -> Result<Self, Error>;

    /// Produces records until [`Emitter::is_running`] turns false, then returns. Runs on a
    /// thread the runtime starts after Init and joins when Fluent Bit exits the instance, so
    /// waits must be short or use [`Emitter::wait`], which wakes up at shutdown. An error or a
    /// panic is logged and ends production for this instance.
    fn run(&mut self, emitter: &Emitter) -> Result<(), Error>;

    /// How many bytes of encoded records may wait for Fluent Bit before producers are held back.
    /// Fluent Bit collects once a second, so this is also the instance's ceiling in bytes per
    /// second, and the most that can be left undelivered at shutdown (see the trait docs).
    fn queue_limit(&self) -> usize {
        DEFAULT_QUEUE_LIMIT
    }
}

/// Why a record was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitError {
    /// The queue holds `queue_limit` bytes: Fluent Bit has not collected them yet.
    Full,
    /// Fluent Bit paused the input (back pressure from its buffers).
    Paused,
    /// The instance is shutting down; `run` should return.
    Stopped,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmitError::Full => "the input queue is full (Fluent Bit has not collected it yet)",
            EmitError::Paused => "Fluent Bit paused this input (back pressure)",
            EmitError::Stopped => "the input is shutting down",
        })
    }
}

impl std::error::Error for EmitError {}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    limit: usize,
}

struct State {
    buf: Vec<u8>,
    records: usize,
    paused: bool,
    stopping: bool,
    finished: bool,
}

/// The producer's handle to the instance's queue.
pub struct Emitter {
    shared: Arc<Shared>,
    logger: Logger,
    metrics: Metrics,
}

impl Emitter {
    /// Appends the records `encode` writes, waiting while the queue is full or the input is
    /// paused. Returns [`EmitError::Stopped`] once the instance shuts down. If `encode` panics
    /// the partial records are removed and the panic continues.
    pub fn emit<R>(&self, encode: impl FnOnce(&mut Encoder<'_>) -> R) -> Result<R, EmitError> {
        self.emit_until(None, encode)
    }

    /// Like [`Emitter::emit`], but gives up after `timeout` with [`EmitError::Full`] or
    /// [`EmitError::Paused`].
    pub fn emit_timeout<R>(
        &self,
        timeout: Duration,
        encode: impl FnOnce(&mut Encoder<'_>) -> R,
    ) -> Result<R, EmitError> {
        self.emit_until(Some(Instant::now() + timeout), encode)
    }

    /// Appends without waiting, or says why it cannot.
    pub fn try_emit<R>(&self, encode: impl FnOnce(&mut Encoder<'_>) -> R) -> Result<R, EmitError> {
        self.emit_until(Some(Instant::now()), encode)
    }

    fn emit_until<R>(
        &self,
        deadline: Option<Instant>,
        encode: impl FnOnce(&mut Encoder<'_>) -> R,
    ) -> Result<R, EmitError> {
        let mut state = lock(&self.shared.state);
        loop {
            let blocked = match self.shared.blocked(&state) {
                None => break,
                Some(EmitError::Stopped) => return Err(EmitError::Stopped),
                Some(reason) => reason,
            };
            state = match deadline {
                None => self.shared.wait(state, None),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(blocked);
                    }
                    self.shared.wait(state, Some(deadline - now))
                }
            };
        }
        let start = state.buf.len();
        let encoded = catch_unwind(AssertUnwindSafe(|| {
            let mut encoder = Encoder::new(&mut state.buf);
            let result = encode(&mut encoder);
            (result, encoder.records())
        }));
        match encoded {
            Ok((result, records)) => {
                state.records += records;
                Ok(result)
            }
            Err(panic) => {
                state.buf.truncate(start);
                drop(state);
                resume_unwind(panic)
            }
        }
    }

    /// Sleeps up to `duration`, waking early at shutdown. Returns whether the input still runs.
    pub fn wait(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let mut state = lock(&self.shared.state);
        while !state.stopping {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self.shared.wait(state, Some(deadline - now));
        }
        !state.stopping
    }

    /// Whether the instance is still running (false once Fluent Bit exits it).
    pub fn is_running(&self) -> bool {
        !lock(&self.shared.state).stopping
    }

    /// Whether Fluent Bit has paused the input.
    pub fn is_paused(&self) -> bool {
        lock(&self.shared.state).paused
    }

    /// Bytes currently waiting for Fluent Bit.
    pub fn queued_bytes(&self) -> usize {
        lock(&self.shared.state).buf.len()
    }

    /// The instance's logger.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// The instance's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

impl Shared {
    fn blocked(&self, state: &State) -> Option<EmitError> {
        if state.stopping {
            Some(EmitError::Stopped)
        } else if state.paused {
            Some(EmitError::Paused)
        } else if state.buf.len() >= self.limit {
            Some(EmitError::Full)
        } else {
            None
        }
    }

    fn wait<'a>(
        &self,
        guard: MutexGuard<'a, State>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, State> {
        match timeout {
            None => self
                .changed
                .wait(guard)
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            Some(t) => {
                self.changed
                    .wait_timeout(guard, t)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0
            }
        }
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut lock(&self.state));
        self.changed.notify_all();
    }
}

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
/// `Resume` carry no context (reference 3.4), but every callback of an instance runs on its own
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
