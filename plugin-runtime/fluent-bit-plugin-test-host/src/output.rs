//! Output instances: Init/PreRun/PreExit/ExitCtx on flb-pipeline, flushes on a 64 KiB
//! coroutine stack on flb-pipeline (`workers 0`) or on `flb-out-<name>.<id>-w<i>` threads.

use std::ffi::{CString, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use fluent_bit_plugin_sdk::ffi::ProxyContext;

use crate::api::InstanceCore;
use crate::coro::CoroStack;
use crate::error::HostError;
use crate::host::InstanceRef;
use crate::instance::{InstanceBuilder, SendPtr, logs_since, prepare};
use crate::props::PluginKind;
use crate::register::Registration;
use crate::shared::Shared;
use crate::worker::{Local, Worker, wait};

/// What a flush returned, mapped like `proxy_cb_flush`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushCode {
    /// 1 (`FLB_OK`).
    Ok,
    /// 0 (`FLB_ERROR`), and any value other than 0, 1, 2.
    Error,
    /// 2 (`FLB_RETRY`).
    Retry,
}

impl FlushCode {
    /// Maps a raw return value.
    pub fn from_raw(v: i32) -> Self {
        match v {
            1 => Self::Ok,
            2 => Self::Retry,
            _ => Self::Error,
        }
    }
}

/// The outcome of one flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushReport {
    /// The mapped code.
    pub code: FlushCode,
    /// The raw value the plugin returned.
    pub raw: i32,
    /// Bytes of the coroutine stack the flush touched (high-water mark).
    pub stack_used: usize,
    /// The thread the flush ran on (`flb-pipeline` or `flb-out-<name>.<id>-w<i>`).
    pub thread: String,
    /// Wall time of the call.
    pub elapsed: Duration,
}

/// Marks an [`InstanceBuilder`] that creates output instances.
pub enum OutputKind {}

/// Builds an output instance; see [`Host::output`](crate::Host::output).
pub type OutputBuilder<'h> = InstanceBuilder<'h, OutputKind>;

impl InstanceBuilder<'_, OutputKind> {
    /// Runs `FLBPluginInit` (then `FLBPluginOutputPreRun`) on flb-pipeline.
    pub fn init(self) -> Result<OutputInstance, HostError> {
        let p = prepare(self.host, PluginKind::Output, self.pending)?;
        let workers = match p.core.props.core("workers") {
            None => 0,
            Some(v) => v.trim().parse::<usize>().map_err(|_| HostError::Property {
                instance: p.name.clone(),
                key: "workers".into(),
                reason: format!("'{v}' is not a number of worker threads"),
            })?,
        };
        // SAFETY: calloc of the per-instance context, as flb_output_new does.
        let ctx = unsafe { libc::calloc(1, size_of::<ProxyContext>()) }.cast::<ProxyContext>();
        if ctx.is_null() {
            return Err(HostError::Os("out of memory for the output context".into()));
        }
        let ctx = SendPtr(ctx);
        let (reg, ins) = (p.reg.clone(), SendPtr(p.core.as_ptr()));
        let mark = p.shared.log_count();
        let code = p
            .pipeline
            .call(move |_| reg.call_init(ins.get(), ctx.get().cast()))?;
        if code <= 0 {
            // SAFETY: the context was calloc'd above and the plugin failed; ExitCtx is not
            // called after a failed Init, like Fluent Bit.
            unsafe { libc::free(ctx.0.cast()) };
            return Err(HostError::InitFailed {
                instance: p.name,
                code,
                logs: logs_since(&p.shared, mark),
            });
        }
        if let Some(pre_run) = p.reg.syms.output_pre_run {
            let hot = i32::from(p.hot_reload);
            // SAFETY: FLBPluginOutputPreRun(int), return ignored.
            p.pipeline.call(move |_| unsafe { pre_run(hot) })?;
        }
        // Fluent Bit 5.1.1 enables the worker pool twice for a proxy output: once inside the
        // proxy's init callback (`flb_proxy_output_cb_init`, right after FLBPluginInit) and
        // again in `flb_output_init_all`. The second pool replaces `ins->tp`, so tasks go only
        // to its threads; the first pool's threads idle, are never stopped, and outlive the
        // instance (after a hot reload they touch the freed configuration).
        let leaked = (0..workers)
            .map(|i| Worker::spawn(format!("flb-out-{}-w{i}", p.name)))
            .collect::<Result<Vec<_>, _>>()?;
        self.host.generation()?.leak_workers(&p.name, leaked);
        let mut worker_threads = Vec::with_capacity(workers);
        for i in 0..workers {
            worker_threads.push(Worker::spawn(format!("flb-out-{}-w{i}", p.name))?);
        }
        let state = Arc::new(OutputState {
            name: p.name,
            reg: p.reg,
            shared: p.shared,
            core: p.core,
            ctx,
            pipeline: p.pipeline,
            workers: worker_threads,
            next: AtomicUsize::new(0),
            budget: p.coro_stack_size,
            alive: RwLock::new(true),
        });
        self.host
            .generation()?
            .track(InstanceRef::Output(state.clone()));
        Ok(OutputInstance { state })
    }
}

/// A queued flush: the worker's name and where its result arrives.
type FlushRx = std::sync::mpsc::Receiver<std::thread::Result<Result<FlushReport, HostError>>>;

pub(crate) struct OutputState {
    name: String,
    reg: Arc<Registration>,
    shared: Arc<Shared>,
    core: Box<InstanceCore>,
    ctx: SendPtr<ProxyContext>,
    pipeline: Arc<Worker>,
    workers: Vec<Arc<Worker>>,
    next: AtomicUsize,
    budget: usize,
    alive: RwLock<bool>,
}

impl OutputState {
    fn pick(&self) -> &Arc<Worker> {
        if self.workers.is_empty() {
            &self.pipeline
        } else {
            &self.workers[self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len()]
        }
    }

    /// Runs on a worker thread: copies in, calls FlushCtx on the coroutine stack, frees.
    fn flush_here(
        &self,
        local: &mut Local,
        tag: &str,
        data: Vec<u8>,
    ) -> Result<FlushReport, HostError> {
        let syms = &self.reg.syms;
        if syms.flush_ctx.is_none() && syms.flush.is_none() {
            return Err(HostError::Contract {
                subject: self.name.clone(),
                reason: "exports neither FLBPluginFlushCtx nor FLBPluginFlush; Fluent Bit calls \
                         a NULL pointer on the first flush (crash)"
                    .into(),
            });
        }
        let tag_c = CString::new(tag).map_err(|_| HostError::Contract {
            subject: self.name.clone(),
            reason: "tag contains a NUL byte".into(),
        })?;
        if local.coro.as_ref().is_none_or(|c| c.budget != self.budget) {
            local.coro = Some(CoroStack::new(self.budget)?);
        }
        let coro = local
            .coro
            .as_mut()
            .ok_or_else(|| HostError::Os("no flush stack".into()))?;
        // SAFETY: ctx is our live context; remote_context is what the plugin stored in Init.
        let remote = unsafe { (*self.ctx.0).remote_context };
        let mut raw = 0;
        let start = Instant::now();
        let used = coro.run(&mut || {
            // SAFETY: signatures per `docs/fluent-bit-abi.md` section 1.2; data and tag outlive the call and are freed
            // right after it, as Fluent Bit frees its temporary copies.
            raw = unsafe {
                match (syms.flush_ctx, syms.flush) {
                    (Some(f), _) => f(
                        remote,
                        data.as_ptr().cast::<c_void>(),
                        data.len(),
                        tag_c.as_ptr().cast_mut(),
                    ),
                    (None, Some(f)) => {
                        f(data.as_ptr().cast::<c_void>(), data.len(), tag_c.as_ptr())
                    }
                    (None, None) => 0,
                }
            };
        });
        let elapsed = start.elapsed();
        drop(tag_c);
        drop(data);
        if used > self.budget {
            return Err(HostError::StackBudgetExceeded {
                instance: self.name.clone(),
                used,
                budget: self.budget,
            });
        }
        Ok(FlushReport {
            code: FlushCode::from_raw(raw),
            raw,
            stack_used: used,
            thread: crate::logs::current_thread().0,
            elapsed,
        })
    }

    fn submit(self: &Arc<Self>, tag: &str, data: &[u8]) -> Result<(String, FlushRx), HostError> {
        if data.is_empty() {
            return Err(HostError::Contract {
                subject: self.name.clone(),
                reason: "Fluent Bit never flushes an empty chunk; pass at least one record".into(),
            });
        }
        let w = self.pick();
        let (st, tag, data) = (self.clone(), tag.to_owned(), data.to_vec());
        Ok((
            w.name.clone(),
            w.submit(move |local| st.flush_here(local, &tag, data))?,
        ))
    }

    /// PreExit(reload) and ExitCtx (or Exit) on flb-pipeline, once. Returns false if already gone.
    pub(crate) fn exit(&self, reload: bool) -> bool {
        let mut alive = self.alive.write().unwrap_or_else(|e| e.into_inner());
        if !*alive {
            return false;
        }
        *alive = false;
        for w in &self.workers {
            w.stop();
        }
        let syms = self.reg.syms;
        let ctx = self.ctx;
        let _ = self.pipeline.call(move |_| {
            // SAFETY: hooks per `docs/fluent-bit-abi.md` section 1.2; the context is live until this state drops.
            unsafe {
                if let Some(pre) = syms.output_pre_exit {
                    pre(i32::from(reload));
                }
                match (syms.exit_ctx, syms.exit) {
                    (Some(f), _) => {
                        f((*ctx.get()).remote_context);
                    }
                    (None, Some(f)) => {
                        f();
                    }
                    (None, None) => {}
                }
            }
        });
        self.core.retire();
        true
    }
}

impl Drop for OutputState {
    fn drop(&mut self) {
        // SAFETY: the context was calloc'd in init and nothing uses it after exit.
        unsafe { libc::free(self.ctx.0.cast()) };
    }
}

/// A running output instance. Dropping it exits it (like [`OutputInstance::exit`]).
pub struct OutputInstance {
    state: Arc<OutputState>,
}

impl OutputInstance {
    instance_accessors!(
        "flb_output_name",
        "`workers`, `match`, `log_level`, ...",
        "output_get_property"
    );

    /// Number of threads flushes run on (`workers`). Fluent Bit 5.1.1 starts twice as many
    /// `flb-out-<name>-w<i>` threads for a proxy output (the pool is enabled twice); the first
    /// pool never receives a flush and is only stopped when the host shuts down.
    pub fn workers(&self) -> usize {
        self.state.workers.len()
    }

    /// One flush of `data` (concatenated msgpack records) under `tag`: the tag and data are
    /// copied, passed to FlushCtx on the coroutine stack, and freed after the call. Fails if the
    /// flush used more stack than the budget.
    pub fn flush(&self, tag: &str, data: &[u8]) -> Result<FlushReport, HostError> {
        let alive = self.state.alive.read().unwrap_or_else(|e| e.into_inner());
        if !*alive {
            return Err(HostError::Exited(self.state.name.clone()));
        }
        let (name, rx) = self.state.submit(tag, data)?;
        let r = wait(&name, rx)?;
        drop(alive);
        r
    }

    /// Issues all flushes at once: with `workers N` they run concurrently on the N worker
    /// threads (round-robin), otherwise one after another on flb-pipeline. Reports are in input
    /// order; the first failure is returned after all calls finished.
    pub fn flush_concurrent(
        &self,
        chunks: &[(&str, &[u8])],
    ) -> Result<Vec<FlushReport>, HostError> {
        let alive = self.state.alive.read().unwrap_or_else(|e| e.into_inner());
        if !*alive {
            return Err(HostError::Exited(self.state.name.clone()));
        }
        let mut rxs = Vec::with_capacity(chunks.len());
        for (tag, data) in chunks {
            rxs.push(self.state.submit(tag, data)?);
        }
        let results: Vec<_> = rxs
            .into_iter()
            .map(|(n, rx)| wait(&n, rx).and_then(|r| r))
            .collect();
        drop(alive);
        results.into_iter().collect()
    }

    /// A metric this instance recorded through cmetrics, by full name
    /// (`<ns>_<subsystem>_<name>`) and label values in creation order.
    pub fn metric(&self, name: &str, labels: &[&str]) -> Option<f64> {
        crate::instance::metric(&self.state.shared, &self.state.name, name, labels)
    }

    /// `OutputPreExit(0)` then `FLBPluginExitCtx(ctx)` (or `FLBPluginExit()`), on flb-pipeline.
    pub fn exit(self) -> Result<(), HostError> {
        if self.state.exit(false) {
            Ok(())
        } else {
            Err(HostError::Exited(self.state.name.clone()))
        }
    }
}

impl Drop for OutputInstance {
    fn drop(&mut self) {
        self.state.exit(false);
    }
}
