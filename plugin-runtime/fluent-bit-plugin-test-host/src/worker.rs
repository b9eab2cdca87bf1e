//! Named host threads that run jobs in order (flb-pipeline, flb-in-*, flb-out-*-w*).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::coro::CoroStack;
use crate::error::HostError;

type Job = Box<dyn FnOnce(&mut Local) + Send>;

/// State owned by the worker thread.
#[derive(Default)]
pub(crate) struct Local {
    /// Coroutine stack for flushes run on this thread (created on first use).
    pub(crate) coro: Option<CoroStack>,
    /// A periodic job (the input collector timer).
    pub(crate) tick: Option<Tick>,
}

/// A periodic job run between queued jobs.
pub(crate) struct Tick {
    pub(crate) every: Duration,
    pub(crate) next: Instant,
    pub(crate) run: Box<dyn FnMut() + Send>,
}

pub(crate) struct Worker {
    pub(crate) name: String,
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    join: Mutex<Option<JoinHandle<()>>>,
}

impl Worker {
    pub(crate) fn spawn(name: String) -> Result<Arc<Self>, HostError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let join = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || run(rx))
            .map_err(|e| HostError::Os(format!("cannot start thread {name}: {e}")))?;
        Ok(Arc::new(Self {
            name,
            tx: Mutex::new(Some(tx)),
            join: Mutex::new(Some(join)),
        }))
    }

    /// Queues `f`; the receiver yields its result (or the panic).
    pub(crate) fn submit<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Local) -> R + Send + 'static,
    ) -> Result<mpsc::Receiver<std::thread::Result<R>>, HostError> {
        let (rtx, rrx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |local| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(local)));
            let _ = rtx.send(r);
        });
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        tx.as_ref()
            .ok_or_else(|| HostError::Exited(format!("thread {}", self.name)))?
            .send(job)
            .map_err(|_| HostError::Exited(format!("thread {}", self.name)))?;
        Ok(rrx)
    }

    /// Runs `f` on this thread and waits for it.
    pub(crate) fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Local) -> R + Send + 'static,
    ) -> Result<R, HostError> {
        let rx = self.submit(f)?;
        wait(&self.name, rx)
    }

    /// Lets queued jobs finish, then joins the thread.
    pub(crate) fn stop(&self) {
        drop(self.tx.lock().unwrap_or_else(|e| e.into_inner()).take());
        let join = self.join.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(j) = join
            && j.thread().id() != std::thread::current().id()
        {
            let _ = j.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits for a submitted job's result.
pub(crate) fn wait<R>(
    name: &str,
    rx: mpsc::Receiver<std::thread::Result<R>>,
) -> Result<R, HostError> {
    match rx.recv() {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(p)) => {
            let msg = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("non-string panic");
            Err(HostError::Os(format!("host job on {name} panicked: {msg}")))
        }
        Err(_) => Err(HostError::Exited(format!("thread {name}"))),
    }
}

fn run(rx: mpsc::Receiver<Job>) {
    crate::logs::mark_fluent_bit_thread();
    let mut local = Local::default();
    loop {
        let job = match local.tick.as_mut() {
            Some(t) => {
                let now = Instant::now();
                if now >= t.next {
                    (t.run)();
                    // Fixed rate like a timerfd, without bursts after a stall.
                    t.next = (t.next + t.every).max(now);
                    continue;
                }
                match rx.recv_timeout(t.next - now) {
                    Ok(j) => j,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => break,
            },
        };
        job(&mut local);
    }
}
