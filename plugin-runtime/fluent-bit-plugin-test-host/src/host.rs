//! [`Host`]: one loaded plugin `.so`, its registrations and instances.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use crate::custom::{CustomBuilder, CustomState};
use crate::dl::Library;
use crate::error::HostError;
use crate::input::{InputBuilder, InputState};
use crate::logs::{LogLevel, LogLine};
use crate::output::{OutputBuilder, OutputState};
use crate::props::PluginKind;
use crate::register::{DefSize, Registration};
use crate::shared::Shared;
use crate::worker::Worker;

/// Default flush coroutine stack: 64 KiB, as Fluent Bit 5.1.1 on Linux.
pub const DEFAULT_CORO_STACK_SIZE: usize = 64 * 1024;

/// Options for loading a plugin; start from [`Host::builder`].
#[derive(Debug, Clone)]
pub struct HostBuilder {
    path: PathBuf,
    def_size: DefSize,
    metrics: bool,
    echo_logs: bool,
    coro_stack_size: usize,
    log_level: LogLevel,
    hot_reload: bool,
}

impl HostBuilder {
    /// Size of the `def` block given to `FLBPluginRegister` (default: 5.1.1's 48 bytes). A
    /// plugin that writes past a smaller block is rejected at load.
    pub fn def_size(mut self, size: DefSize) -> Self {
        self.def_size = size;
        self
    }

    /// With `false` the cmetrics stand-in is not loaded by this host and `*_get_cmt_instance`
    /// return NULL, like a Fluent Bit built without metrics. (Once any host in the process
    /// loaded the stand-in, `dlsym(RTLD_DEFAULT, "cmt_*")` keeps finding it: test the
    /// "no cmt symbols" path in a test binary that never enables metrics.)
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Echo every captured log line to stderr (default: off; the CLI turns it on).
    pub fn echo_logs(mut self, on: bool) -> Self {
        self.echo_logs = on;
        self
    }

    /// Flush stack budget in bytes (Fluent Bit's `coro_stack_size`, default 64 KiB).
    pub fn coro_stack_size(mut self, bytes: usize) -> Self {
        self.coro_stack_size = bytes.max(16 * 1024);
        self
    }

    /// Service log level: the default `log_level` of instances (default `info`).
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.log_level = level;
        self
    }

    /// Service `hot_reload`: the value passed to the `*PreRun` hooks (default off).
    pub fn hot_reload(mut self, on: bool) -> Self {
        self.hot_reload = on;
        self
    }

    /// Loads the plugin: `dlopen(RTLD_LAZY)`, `FLBPluginPreRegister(0)`, `FLBPluginRegister`.
    pub fn load(self) -> Result<Host, HostError> {
        Host::open(self)
    }
}

pub(crate) enum InstanceRef {
    Output(Arc<OutputState>),
    Input(Arc<InputState>),
    Custom(Arc<CustomState>),
}

/// One registration (the first load, or a hot reload) with its pipeline thread and instances.
pub(crate) struct Generation {
    pub(crate) reg: Arc<Registration>,
    pub(crate) pipeline: Arc<Worker>,
    next_id: [AtomicU32; 3],
    pub(crate) instances: Mutex<Vec<InstanceRef>>,
    /// The first worker pool of each output with `workers`, leaked as 5.1.1 leaks it.
    leaked_workers: Mutex<Vec<(String, Vec<Arc<Worker>>)>>,
}

impl Generation {
    fn new(reg: Registration) -> Result<Self, HostError> {
        Ok(Self {
            reg: Arc::new(reg),
            pipeline: Worker::spawn("flb-pipeline".to_owned())?,
            next_id: Default::default(),
            instances: Mutex::new(Vec::new()),
            leaked_workers: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn next_id(&self, kind: PluginKind) -> u32 {
        let i = match kind {
            PluginKind::Input => 0,
            PluginKind::Output => 1,
            PluginKind::Custom => 2,
        };
        self.next_id[i].fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn track(&self, r: InstanceRef) {
        self.instances
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r);
    }

    pub(crate) fn leak_workers(&self, instance: &str, pool: Vec<Arc<Worker>>) {
        if !pool.is_empty() {
            self.leaked_workers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((instance.to_owned(), pool));
        }
    }

    fn take_leaked_workers(&self) -> Vec<(String, Vec<Arc<Worker>>)> {
        std::mem::take(
            &mut *self
                .leaked_workers
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Exit order of `flb_engine`: pause inputs, outputs, customs, inputs.
    fn exit_all(&self, reload: bool) {
        let list = std::mem::take(&mut *self.instances.lock().unwrap_or_else(|e| e.into_inner()));
        for r in &list {
            if let InstanceRef::Input(i) = r {
                let _ = i.pause();
            }
        }
        for r in &list {
            if let InstanceRef::Output(o) = r {
                o.exit(reload);
            }
        }
        for r in &list {
            if let InstanceRef::Custom(c) = r {
                c.exit();
            }
        }
        for r in &list {
            if let InstanceRef::Input(i) = r {
                i.exit(reload);
            }
        }
    }
}

/// A loaded proxy plugin, driven as Fluent Bit 5.1.1 drives it. See the crate docs.
pub struct Host {
    path: PathBuf,
    opts: HostBuilder,
    pub(crate) shared: Arc<Shared>,
    libs: Vec<Library>,
    base: usize,
    pub(crate) generation: Option<Generation>,
    /// Leaked first worker pools of exited generations; joined when the host shuts down (in
    /// Fluent Bit they run until the process exits).
    leaked_workers: Vec<Arc<Worker>>,
}

impl Host {
    /// Loads `path` with the defaults (48-byte def, metrics on, 64 KiB flush stack).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, HostError> {
        Self::builder(path).load()
    }

    /// Starts a [`HostBuilder`] for `path`.
    pub fn builder(path: impl AsRef<Path>) -> HostBuilder {
        HostBuilder {
            path: path.as_ref().to_owned(),
            def_size: DefSize::default(),
            metrics: true,
            echo_logs: false,
            coro_stack_size: DEFAULT_CORO_STACK_SIZE,
            log_level: LogLevel::Info,
            hot_reload: false,
        }
    }

    fn open(opts: HostBuilder) -> Result<Self, HostError> {
        crate::logs::mark_fluent_bit_thread();
        let path = opts.path.clone();
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if file_name.starts_with("flb-") {
            return Err(HostError::NativeLoaderName(path));
        }
        crate::api::ensure_core_shim().map_err(HostError::Os)?;
        if opts.metrics {
            crate::metrics::ensure_loaded().map_err(HostError::Os)?;
        }
        let lib = Library::open(&path, libc::RTLD_LAZY).map_err(|reason| HostError::Dlopen {
            path: path.clone(),
            reason,
        })?;
        let shared = Arc::new(Shared::new(opts.echo_logs));
        // Attribute log lines by the address they come from; FLBPluginRegister lives in the
        // plugin's own image (if it is missing, Registration reports that below).
        let base = lib
            .symbol(c"FLBPluginRegister")
            .and_then(|p| crate::dl::object_base(p.cast_const()))
            .unwrap_or(0);
        crate::logs::attach(base, &shared);
        let reg = match Registration::register(&lib, &path, opts.def_size, false) {
            Ok(r) => r,
            Err(e) => {
                crate::logs::detach(base, &shared);
                return Err(e);
            }
        };
        let generation = Some(Generation::new(reg)?);
        Ok(Self {
            path,
            opts,
            shared,
            libs: vec![lib],
            base,
            generation,
            leaked_workers: Vec::new(),
        })
    }

    pub(crate) fn generation(&self) -> Result<&Generation, HostError> {
        self.generation
            .as_ref()
            .ok_or_else(|| HostError::Exited(format!("host for {}", self.path.display())))
    }

    /// The name the plugin registered (`def->name`).
    pub fn plugin_name(&self) -> &str {
        self.generation.as_ref().map_or("", |g| g.reg.name.as_str())
    }

    /// The registered description.
    pub fn description(&self) -> &str {
        self.generation
            .as_ref()
            .map_or("", |g| g.reg.description.as_str())
    }

    /// The registered plugin type.
    pub fn kind(&self) -> Option<PluginKind> {
        self.generation.as_ref().map(|g| g.reg.kind)
    }

    /// `def->flags` as registered.
    pub fn flags(&self) -> i32 {
        self.generation.as_ref().map_or(0, |g| g.reg.flags)
    }

    /// `def->event_type` (outputs: 0 reads as 1, logs), when the def is 40 bytes or more.
    pub fn event_type(&self) -> Option<i32> {
        self.generation.as_ref().and_then(|g| g.reg.event_type)
    }

    /// Bytes of the `def` block the plugin registered into.
    pub fn def_size(&self) -> usize {
        self.generation.as_ref().map_or(0, |g| g.reg.def_size)
    }

    /// Names in the plugin's `config_map`, if it registered one (48-byte def only).
    pub fn config_map_keys(&self) -> Option<Vec<String>> {
        self.generation
            .as_ref()
            .and_then(|g| g.reg.config_map.as_ref())
            .map(|m| m.iter().map(|e| e.name.clone()).collect())
    }

    /// The path given to `dlopen`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts an output instance.
    pub fn output(&self) -> OutputBuilder<'_> {
        OutputBuilder::new(self)
    }

    /// Starts an input instance.
    pub fn input(&self) -> InputBuilder<'_> {
        InputBuilder::new(self)
    }

    /// Starts a custom instance.
    pub fn custom(&self) -> CustomBuilder<'_> {
        CustomBuilder::new(self)
    }

    /// Every line the plugin logged through `log_print` that reached Fluent Bit's log (called
    /// on one of Fluent Bit's threads), in order.
    pub fn logs(&self) -> Vec<LogLine> {
        self.shared.logs()
    }

    /// Lines the plugin passed to `log_print` on threads Fluent Bit does not own (threads the
    /// plugin started). Fluent Bit writes those straight to stderr: they are missing from its
    /// log pipeline and `Log_File`, so they are kept here and not in [`Host::logs`].
    pub fn stderr_logs(&self) -> Vec<LogLine> {
        self.shared.stderr_logs()
    }

    /// The text of every line the plugin logged, in order.
    pub fn messages(&self) -> Vec<String> {
        self.logs().into_iter().map(|l| l.message).collect()
    }

    /// ABI misuse the host detected (bad instance pointers to the API, wrong label counts,
    /// non-NULL buffers with length 0, ...). Tests should usually assert this is empty.
    pub fn violations(&self) -> Vec<String> {
        self.shared.violations()
    }

    pub(crate) fn options(&self) -> (bool, usize, LogLevel, bool) {
        (
            self.opts.metrics,
            self.opts.coro_stack_size,
            self.opts.log_level,
            self.opts.hot_reload,
        )
    }

    /// Hot reload as on SIGHUP: `FLBPluginPreRegister(1)` and `FLBPluginRegister(new def)` while
    /// the old instances still run; then the old instances exit (`*PreExit(1)`), the old def is
    /// unregistered and one `dlopen` reference is dropped. Create the new instances afterwards;
    /// their `*PreRun` get 1.
    pub fn reload(&mut self) -> Result<(), HostError> {
        crate::logs::mark_fluent_bit_thread();
        let old = self
            .generation
            .take()
            .ok_or_else(|| HostError::Exited("host".into()))?;
        let lib = match Library::open(&self.path, libc::RTLD_LAZY) {
            Ok(l) => l,
            Err(reason) => {
                self.generation = Some(old);
                return Err(HostError::Dlopen {
                    path: self.path.clone(),
                    reason,
                });
            }
        };
        let reg = match Registration::register(&lib, &self.path, self.opts.def_size, true) {
            Ok(r) => r,
            Err(e) => {
                self.generation = Some(old);
                return Err(e);
            }
        };
        self.libs.push(lib);
        let new = Generation::new(reg)?;
        old.exit_all(true);
        for (instance, pool) in old.take_leaked_workers() {
            self.shared.violation(format!(
                "{instance}: hot reload of an output with `workers {}`: Fluent Bit 5.1.1 starts \
                 a proxy output's worker pool twice and stops only the second, so the first \
                 pool's threads outlive this reload and touch the freed configuration \
                 (Fluent Bit segfaulted within 1-4 reloads in 3 of 3 runs); do not set workers \
                 on proxy outputs when hot_reload is on",
                pool.len()
            ));
            self.leaked_workers.extend(pool);
        }
        old.reg.unregister();
        old.pipeline.stop();
        // Fluent Bit dlcloses the old proxy's handle; the new one keeps the library mapped.
        if self.libs.len() > 1 {
            drop(self.libs.remove(0));
        }
        self.opts.hot_reload = true;
        self.generation = Some(new);
        Ok(())
    }

    /// Shuts down as Fluent Bit does: inputs paused, then outputs exit (`OutputPreExit(0)`,
    /// `ExitCtx`), customs exit, inputs exit (`InputPreExit(0)`, `Exit` on their threads), then
    /// `FLBPluginUnregister(def)` on this thread and `dlclose`. Also done on drop.
    pub fn shutdown(mut self) {
        self.shutdown_in_place();
    }

    fn shutdown_in_place(&mut self) {
        crate::logs::mark_fluent_bit_thread();
        if let Some(g) = self.generation.take() {
            g.exit_all(false);
            g.reg.unregister();
            g.pipeline.stop();
            for (_, pool) in g.take_leaked_workers() {
                self.leaked_workers.extend(pool);
            }
        }
        for w in std::mem::take(&mut self.leaked_workers) {
            w.stop();
        }
        crate::logs::detach(self.base, &self.shared);
        self.libs.clear();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.shutdown_in_place();
    }
}
