//! Input plugins: the plugin produces records on its own thread into a bounded queue that
//! Fluent Bit drains once a second.
//!
//! Fluent Bit calls a proxy input's collect callback every second on the instance's own thread
//! and stops calling it while the input is paused (for example when `mem_buf_limit` is hit);
//! `docs/fluent-bit-abi.md` section 6. The runtime therefore runs [`InputPlugin::run`] on a thread it starts
//! after Init and joins at Exit, and gives it an [`Emitter`]: records are encoded straight into
//! the queue, and when the queue is full or the input is paused the producer is told, by
//! blocking in [`Emitter::emit`] or by an error from [`Emitter::try_emit`]. Nothing is dropped
//! silently. The buffer handed to Fluent Bit is returned to the runtime by the cleanup callback
//! and reused, so steady-state collection allocates nothing.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::context::{Error, InitContext, lock};
use crate::event::Encoder;
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

pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) changed: Condvar,
    pub(crate) limit: usize,
}

pub(crate) struct State {
    pub(crate) buf: Vec<u8>,
    pub(crate) records: usize,
    pub(crate) paused: bool,
    pub(crate) stopping: bool,
    pub(crate) finished: bool,
}

/// The producer's handle to the instance's queue.
pub struct Emitter {
    pub(crate) shared: Arc<Shared>,
    pub(crate) logger: Logger,
    pub(crate) metrics: Metrics,
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

    pub(crate) fn wait<'a>(
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

    pub(crate) fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut lock(&self.state));
        self.changed.notify_all();
    }
}
