//! What every instance kind shares: naming, properties, the `o_ins`/`i_ins` object.

use std::sync::Arc;

use crate::api::InstanceCore;
use crate::error::HostError;
use crate::host::Host;
use crate::logs::LogLevel;
use crate::props::{PluginKind, Properties};
use crate::register::Registration;
use crate::shared::Shared;
use crate::worker::Worker;

/// Properties collected by a builder before Init.
#[derive(Debug, Default, Clone)]
pub(crate) struct Pending {
    pub(crate) pairs: Vec<(String, String)>,
    pub(crate) id: Option<u32>,
}

/// Everything an instance needs from its host, resolved when the builder calls init.
pub(crate) struct Prepared {
    pub(crate) name: String,
    pub(crate) reg: Arc<Registration>,
    pub(crate) pipeline: Arc<Worker>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) core: Box<InstanceCore>,
    pub(crate) coro_stack_size: usize,
    pub(crate) hot_reload: bool,
}

pub(crate) fn prepare(
    host: &Host,
    kind: PluginKind,
    pending: Pending,
) -> Result<Prepared, HostError> {
    let g = host.generation()?;
    if g.reg.kind != kind {
        return Err(HostError::WrongKind {
            plugin: g.reg.name.clone(),
            registered: g.reg.kind.as_str(),
            requested: kind.as_str(),
        });
    }
    let (metrics, coro_stack_size, default_level, hot_reload) = host.options();
    let id = pending.id.unwrap_or_else(|| g.next_id(kind));
    let name = format!("{}.{id}", g.reg.name);
    let props = Properties::build(kind, &name, &pending.pairs)?;
    let level = match props.core("log_level") {
        None => default_level,
        Some(v) => LogLevel::parse(v).ok_or_else(|| HostError::Property {
            instance: name.clone(),
            key: "log_level".into(),
            reason: format!("invalid value '{v}' (use off, error, warn, info, debug or trace)"),
        })?,
    };
    check_config_map(&g.reg, &name, &props)?;
    let core = InstanceCore::boxed(
        kind,
        name.clone(),
        props,
        level.raw(),
        metrics,
        host.shared.clone(),
    );
    Ok(Prepared {
        name,
        reg: g.reg.clone(),
        pipeline: g.pipeline.clone(),
        shared: host.shared.clone(),
        core,
        coro_stack_size,
        hot_reload,
    })
}

/// With a `config_map`, Fluent Bit rejects unknown and repeated (non-MULT) properties before
/// Init (`flb_config_map_properties_check`).
fn check_config_map(reg: &Registration, name: &str, props: &Properties) -> Result<(), HostError> {
    let Some(map) = &reg.config_map else {
        return Ok(());
    };
    for (i, (k, _)) in props.plugin.iter().enumerate() {
        let lk = k.to_ascii_lowercase();
        if lk == "active" || lk == "condition" {
            continue;
        }
        let Some(entry) = map.iter().find(|e| e.name == lk) else {
            let valid: Vec<&str> = map.iter().map(|e| e.name.as_str()).collect();
            return Err(HostError::Property {
                instance: name.to_owned(),
                key: k.clone(),
                reason: format!(
                    "unknown configuration property (the plugin's config_map allows: {})",
                    valid.join(", ")
                ),
            });
        };
        let count = props
            .plugin
            .iter()
            .filter(|(k2, _)| k2.eq_ignore_ascii_case(k))
            .count();
        if count > 1
            && !entry.multiple
            && props.plugin[..i]
                .iter()
                .all(|(k2, _)| !k2.eq_ignore_ascii_case(k))
        {
            return Err(HostError::Property {
                instance: name.to_owned(),
                key: k.clone(),
                reason: format!("configuration property is set {count} times"),
            });
        }
    }
    Ok(())
}

/// Lines logged since `start`, for init failure reports.
pub(crate) fn logs_since(shared: &Shared, start: usize) -> Vec<String> {
    shared
        .logs_since(start)
        .into_iter()
        .map(|l| l.to_string())
        .collect()
}

/// A raw pointer that may cross to the instance's threads.
pub(crate) struct SendPtr<T>(pub(crate) *mut T);

impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
// SAFETY: used only for host-allocated context structs whose accesses are serialised by the
// instance's lifecycle locks (init/exit) or are reads of a pointer the plugin set in Init.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer (a method, so closures capture the whole Send wrapper).
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

/// Looks up metric values recorded for one instance.
pub(crate) fn metric(shared: &Shared, instance: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let key = (
        instance.to_owned(),
        name.to_owned(),
        labels.iter().map(|s| (*s).to_owned()).collect(),
    );
    shared.series().get(&key).copied()
}

/// Builds one instance of the loaded plugin: properties as config lines, then `init()`. The
/// kind is fixed by how it was obtained ([`Host::output`](crate::Host::output),
/// [`Host::input`](crate::Host::input), [`Host::custom`](crate::Host::custom)).
#[must_use = "call .init() to create the instance"]
pub struct InstanceBuilder<'h, K> {
    pub(crate) host: &'h crate::Host,
    pub(crate) pending: Pending,
    kind: std::marker::PhantomData<K>,
}

impl<'h, K> InstanceBuilder<'h, K> {
    pub(crate) fn new(host: &'h crate::Host) -> Self {
        Self {
            host,
            pending: Pending::default(),
            kind: std::marker::PhantomData,
        }
    }

    /// Sets a property, exactly like a config line: keys Fluent Bit consumes for this kind
    /// (`match`, `tag`, `workers`, `alias`, `log_level`, `net.*`, ...) are captured by the host
    /// and never reach the plugin. Repeated keys are kept; the plugin sees the first.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.pending.pairs.push((key.into(), value.into()));
        self
    }

    /// Sets several properties in order.
    pub fn properties<Key: Into<String>, Value: Into<String>>(
        mut self,
        kv: impl IntoIterator<Item = (Key, Value)>,
    ) -> Self {
        self.pending
            .pairs
            .extend(kv.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Overrides the instance number (default: 0, 1, 2... per host, as Fluent Bit numbers them).
    pub fn instance_id(mut self, id: u32) -> Self {
        self.pending.id = Some(id);
        self
    }
}
