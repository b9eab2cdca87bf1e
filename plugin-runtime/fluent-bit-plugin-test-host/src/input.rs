//! Input instances: one `flb-in-<name>.<id>-w0` thread per instance runs Init, PreRun, every
//! collect and cleanup, Pause, Resume, PreExit and Exit.

use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use fluent_bit_plugin_sdk::ffi::InputProxyContext;

use crate::api::InstanceCore;
use crate::error::HostError;
use crate::host::InstanceRef;
use crate::instance::{InstanceBuilder, SendPtr, logs_since, prepare};
use crate::props::PluginKind;
use crate::records::{RecordStats, validate_records};
use crate::register::Registration;
use crate::shared::Shared;
use crate::worker::{Tick, Worker};

/// The bytes one collect produced (already copied out and cleaned up by the plugin).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Collected {
    /// Concatenated msgpack records, as Fluent Bit would append them to a chunk.
    pub data: Vec<u8>,
    /// Log records in `data` (group markers not counted).
    pub records: usize,
    /// Group start/end markers in `data`.
    pub group_markers: usize,
    /// The callback's return value (only -1 means failure to Fluent Bit).
    pub code: i32,
}

/// Marks an [`InstanceBuilder`] that creates input instances.
pub enum InputKind {}

/// Builds an input instance; see [`Host::input`](crate::Host::input).
pub type InputBuilder<'h> = InstanceBuilder<'h, InputKind>;

impl InstanceBuilder<'_, InputKind> {
    /// Starts the instance thread and runs `FLBPluginInit` then `FLBPluginInputPreRun` on it.
    pub fn init(self) -> Result<InputInstance, HostError> {
        let p = prepare(self.host, PluginKind::Input, self.pending)?;
        let thread = Worker::spawn(format!("flb-in-{}-w0", p.name))?;
        // SAFETY: calloc of the per-instance input context (coll_fd 0 during Init).
        let ctx =
            unsafe { libc::calloc(1, size_of::<InputProxyContext>()) }.cast::<InputProxyContext>();
        if ctx.is_null() {
            return Err(HostError::Os("out of memory for the input context".into()));
        }
        let ctx = SendPtr(ctx);
        let (reg, ins) = (p.reg.clone(), SendPtr(p.core.as_ptr()));
        let mark = p.shared.log_count();
        let code = thread.call(move |_| reg.call_init(ins.get(), ctx.get().cast()))?;
        if code <= 0 {
            thread.stop();
            // SAFETY: calloc'd above; the plugin failed Init and gets no Exit.
            unsafe { libc::free(ctx.0.cast()) };
            return Err(HostError::InitFailed {
                instance: p.name,
                code,
                logs: logs_since(&p.shared, mark),
            });
        }
        if let Some(pre_run) = p.reg.syms.input_pre_run {
            let hot = i32::from(p.hot_reload);
            // SAFETY: FLBPluginInputPreRun(int), return ignored.
            thread.call(move |_| unsafe { pre_run(hot) })?;
        }
        let tag = p
            .core
            .props
            .core("tag")
            .map_or_else(|| p.name.clone(), str::to_owned);
        let state = Arc::new(InputState {
            name: p.name,
            tag,
            reg: p.reg,
            shared: p.shared,
            core: p.core,
            ctx,
            thread,
            alive: RwLock::new(true),
            paused: AtomicBool::new(false),
            queue: Mutex::new(VecDeque::new()),
            errors: Mutex::new(Vec::new()),
        });
        self.host
            .generation()?
            .track(InstanceRef::Input(state.clone()));
        Ok(InputInstance { state })
    }
}

pub(crate) struct InputState {
    name: String,
    tag: String,
    reg: Arc<Registration>,
    shared: Arc<Shared>,
    core: Box<InstanceCore>,
    ctx: SendPtr<InputProxyContext>,
    thread: Arc<Worker>,
    alive: RwLock<bool>,
    paused: AtomicBool,
    queue: Mutex<VecDeque<Collected>>,
    errors: Mutex<Vec<HostError>>,
}

impl InputState {
    /// One collector tick, on the instance thread (`flb_plugin_proxy.c:74-108`, `go.c:237-277`).
    fn collect_here(&self) -> Result<Collected, HostError> {
        let s = &self.reg.syms;
        // SAFETY: ctx is our live context; the plugin wrote remote_context at offset 8 in Init.
        let remote = unsafe { (*self.ctx.0).remote_context };
        let mut buf: *mut c_void = std::ptr::null_mut();
        let mut len: usize = 0;
        // SAFETY: callback signatures per `docs/fluent-bit-abi.md` section 1.2; buf/len are valid out-pointers.
        let code = unsafe {
            match (s.collect_ctx, s.collect) {
                (Some(f), _) => f(remote, &mut buf, &mut len),
                (None, Some(f)) => f(&mut buf, &mut len),
                (None, None) => {
                    return Err(HostError::Contract {
                        subject: self.name.clone(),
                        reason: "exports neither FLBPluginInputCallbackCtx nor \
                                 FLBPluginInputCallback; Fluent Bit calls NULL on the first \
                                 collect (crash)"
                            .into(),
                    });
                }
            }
        };
        if code == -1 {
            return Err(HostError::CollectFailed {
                instance: self.name.clone(),
                len,
            });
        }
        if len == 0 {
            if !buf.is_null() {
                self.shared.violation(format!(
                    "{}: collect returned a non-NULL buffer with len 0; Fluent Bit ignores it \
                     and never calls cleanup, so an allocated buffer leaks",
                    self.name
                ));
            }
            return Ok(Collected {
                code,
                ..Collected::default()
            });
        }
        if buf.is_null() {
            return Err(HostError::Contract {
                subject: self.name.clone(),
                reason: format!(
                    "collect returned len {len} with a NULL buffer (Fluent Bit crashes)"
                ),
            });
        }
        // SAFETY: the plugin promises `len` readable bytes at `buf` until cleanup.
        let data = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) }.to_vec();
        // SAFETY: cleanup signatures per `docs/fluent-bit-abi.md` section 1.2; without one Fluent Bit calls free().
        let rc = unsafe {
            match (s.cleanup_ctx, s.cleanup) {
                (Some(f), _) => f(remote, buf),
                (None, Some(f)) => f(buf),
                (None, None) => {
                    libc::free(buf);
                    0
                }
            }
        };
        if rc == -1 {
            self.shared
                .violation(format!("{}: cleanup callback returned -1", self.name));
        }
        let RecordStats {
            records,
            group_markers,
        } = validate_records(&data).map_err(|reason| HostError::InvalidRecords {
            instance: self.name.clone(),
            reason,
        })?;
        Ok(Collected {
            data,
            records,
            group_markers,
            code,
        })
    }

    fn call<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&InputState) -> R + Send + 'static,
    ) -> Result<R, HostError> {
        let alive = self.alive.read().unwrap_or_else(|e| e.into_inner());
        if !*alive {
            return Err(HostError::Exited(self.name.clone()));
        }
        let st = self.clone();
        let r = self.thread.call(move |_| f(&st));
        drop(alive);
        r
    }

    pub(crate) fn pause(self: &Arc<Self>) -> Result<(), HostError> {
        if self.paused.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let pause = self.reg.syms.pause;
        self.call(move |_| {
            if let Some(p) = pause {
                // SAFETY: void FLBPluginInputPause(void).
                unsafe { p() };
            }
        })
    }

    fn resume(self: &Arc<Self>) -> Result<(), HostError> {
        if !self.paused.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let resume = self.reg.syms.resume;
        self.call(move |_| {
            if let Some(r) = resume {
                // SAFETY: void FLBPluginInputResume(void).
                unsafe { r() };
            }
        })
    }

    /// Stops the collector, runs PreExit(reload) and Exit() on the instance thread, joins it.
    /// Fluent Bit never exits a running input: shutdown and reload pause every input first
    /// (`flb_engine_stop_ingestion`), so an input not paused yet is paused here, and no collect
    /// runs after that.
    pub(crate) fn exit(self: &Arc<Self>, reload: bool) -> bool {
        if *self.alive.read().unwrap_or_else(|e| e.into_inner()) {
            let _ = self.pause();
        }
        let mut alive = self.alive.write().unwrap_or_else(|e| e.into_inner());
        if !*alive {
            return false;
        }
        *alive = false;
        let s = self.reg.syms;
        let _ = self.thread.call(move |local| {
            local.tick = None;
            // SAFETY: hooks per `docs/fluent-bit-abi.md` section 1.2, on the instance's own thread.
            unsafe {
                if let Some(pre) = s.input_pre_exit {
                    pre(i32::from(reload));
                }
                if let Some(e) = s.exit {
                    e();
                }
            }
        });
        self.thread.stop();
        self.core.retire();
        true
    }
}

impl Drop for InputState {
    fn drop(&mut self) {
        // SAFETY: calloc'd in init; the instance thread has been joined.
        unsafe { libc::free(self.ctx.0.cast()) };
    }
}

/// A running input instance. Dropping it exits it.
pub struct InputInstance {
    state: Arc<InputState>,
}

impl InputInstance {
    instance_accessors!(
        "flb_input_name",
        "`tag`, `mem_buf_limit`, `log_level`, ...",
        "input_get_property"
    );

    /// The tag records get: the `tag` property, else the instance name.
    pub fn tag(&self) -> &str {
        &self.state.tag
    }

    /// The thread name the instance runs on (`flb-in-<name>.<id>-w0`).
    pub fn thread_name(&self) -> &str {
        &self.state.thread.name
    }

    /// One 1-second tick: callback, copy, cleanup, validation, on the instance thread.
    pub fn collect(&self) -> Result<Collected, HostError> {
        self.state.call(InputState::collect_here)?
    }

    /// Starts ticking every `interval` on the instance thread (Fluent Bit: 1 s). Results go
    /// to [`InputInstance::take_collected`], errors to [`InputInstance::take_errors`]. No ticks
    /// run while paused.
    pub fn run_collector(&self, interval: Duration) -> Result<(), HostError> {
        // The tick holds a weak reference so the timer never keeps the instance alive.
        let weak = Arc::downgrade(&self.state);
        self.state.call(move |_| ())?;
        self.state.thread.call(move |local| {
            local.tick = Some(Tick {
                every: interval,
                next: Instant::now() + interval,
                run: Box::new(move || {
                    let Some(st) = weak.upgrade() else { return };
                    if st.paused.load(Ordering::SeqCst) {
                        return;
                    }
                    match st.collect_here() {
                        Ok(c) if c.data.is_empty() => {}
                        Ok(c) => st
                            .queue
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push_back(c),
                        Err(e) => st.errors.lock().unwrap_or_else(|e| e.into_inner()).push(e),
                    }
                }),
            });
        })
    }

    /// Stops the periodic collector (the instance stays initialised).
    pub fn stop_collector(&self) -> Result<(), HostError> {
        self.state.thread.call(|local| local.tick = None)
    }

    /// Non-empty chunks collected by [`InputInstance::run_collector`] so far.
    pub fn take_collected(&self) -> Vec<Collected> {
        self.state
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect()
    }

    /// Errors from collector ticks so far.
    pub fn take_errors(&self) -> Vec<HostError> {
        std::mem::take(&mut *self.state.errors.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// `FLBPluginInputPause()` on the instance thread; the collector stops ticking.
    pub fn pause(&self) -> Result<(), HostError> {
        self.state.pause()
    }

    /// `FLBPluginInputResume()` on the instance thread; ticking resumes.
    pub fn resume(&self) -> Result<(), HostError> {
        self.state.resume()
    }

    /// A metric this instance recorded through cmetrics.
    pub fn metric(&self, name: &str, labels: &[&str]) -> Option<f64> {
        crate::instance::metric(&self.state.shared, &self.state.name, name, labels)
    }

    /// Shuts the instance down as Fluent Bit 5.1.1 does: `FLBPluginInputPause()` (unless it is
    /// paused already; the collector stops and never runs again), then `FLBPluginInputPreExit(0)`
    /// and `FLBPluginExit()` on the instance thread, which is then joined. Records the plugin
    /// queued after the last collect are not delivered, as in Fluent Bit.
    pub fn exit(self) -> Result<(), HostError> {
        if self.state.exit(false) {
            Ok(())
        } else {
            Err(HostError::Exited(self.state.name.clone()))
        }
    }
}

impl Drop for InputInstance {
    fn drop(&mut self) {
        self.state.exit(false);
    }
}
