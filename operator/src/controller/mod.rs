//! The only module that talks to the API server: the two reconcilers, the finalizer, the
//! error policies, and the kube-runtime `Controller` wiring ([`run`]).
//!
//! The unit of work is a DaemonSet: all its plugins share one ConfigMap and one pod template.
//! [`reconcile_daemonset`] (keyed by DaemonSet) observes the DaemonSet and every plugin
//! targeting it, calls [`plan::plan`], executes the writes, and writes the status of each
//! plugin whose status changed ([`plan::report`]). A change of any number of plugins of one
//! DaemonSet is one reconcile of that DaemonSet, not one per plugin.
//!
//! [`reconcile`] (keyed by plugin) keeps what exists without a DaemonSet: the finalizer, the
//! `DaemonSetNotFound` status, and the release on deletion (the finalizer goes once no
//! DaemonSet carries the plugin).

mod runner;
mod sync;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fbplugin_crds::status::condition;
use fbplugin_crds::{FluentBitPlugin, FluentBitPluginStatus};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info, warn};

pub use crate::drift::{contains, daemonset_current};
pub use runner::{Health, run};

use crate::gate::{self, ImagePolicy};
use crate::metrics::Metrics;
use crate::plan;
use crate::render;
use crate::rollback::{self, LastKnownGood, Patience};
use crate::status::ApplyState;
use crate::workload::{self, FIELD_MANAGER};

/// The finalizer the operator puts on every `FluentBitPlugin`, so it can take the plugin out
/// of its DaemonSet before the object goes.
pub const FINALIZER: &str = "fbplugin.dev/cleanup";
/// How often a settled plugin is looked at again without any watch event.
pub const RESYNC: Duration = Duration::from_secs(300);
/// How soon a plugin is looked at again while its DaemonSet rolls (pod failures such as
/// CrashLoopBackOff do not always change the DaemonSet's status).
pub const ROLLING_RECHECK: Duration = Duration::from_secs(15);

/// Everything that can fail in a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed; `action` says which.
    #[error("{action}: {source}")]
    Api {
        /// What was attempted, e.g. `apply DaemonSet logging/fluent-bit`.
        action: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// Adding or removing the finalizer failed, or the apply / cleanup inside it did.
    #[error("{0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
    /// The object lacks a namespace (the CRD is namespaced, so this is a broken object).
    #[error("FluentBitPlugin {0} has no namespace")]
    NoNamespace(String),
    /// The DaemonSet's selector cannot be turned into a label selector.
    #[error("the DaemonSet's selector is not usable: {0}")]
    Selector(String),
    /// A deleted plugin is still in these DaemonSets' templates; the finalizer stays until
    /// their reconciles take it out.
    #[error(
        "still in the pod template of DaemonSet(s) {0:?}; waiting for them to be re-applied without it"
    )]
    StillCarried(Vec<String>),
}

impl Error {
    fn api(action: impl Into<String>, source: kube::Error) -> Self {
        Error::Api {
            action: action.into(),
            source,
        }
    }

    /// The innermost API error, through the finalizer's wrapping.
    fn kube_error(&self) -> Option<&kube::Error> {
        match self {
            Error::Api { source, .. } => Some(source),
            Error::Finalizer(e) => match e.as_ref() {
                finalizer::Error::ApplyFailed(inner) | finalizer::Error::CleanupFailed(inner) => {
                    inner.kube_error()
                }
                finalizer::Error::AddFinalizer(e) | finalizer::Error::RemoveFinalizer(e) => Some(e),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether this is kube-runtime's finalizer patch failing its `test` against a cached copy
    /// older than the object (the API answers 422): the next attempt reads a fresher copy, so
    /// it is retried at once and not counted as a failure of the plugin.
    pub fn is_stale_finalizer_patch(&self) -> bool {
        matches!(self, Error::Finalizer(e)
            if matches!(e.as_ref(),
                finalizer::Error::AddFinalizer(kube::Error::Api(s))
                | finalizer::Error::RemoveFinalizer(kube::Error::Api(s)) if s.code == 422))
    }

    /// Label for `fbplugin_reconcile_failures_total{error}`.
    pub fn metric_label(&self) -> &'static str {
        if self.is_stale_finalizer_patch() {
            return "stale_cache";
        }
        if let Error::Finalizer(e) = self
            && let finalizer::Error::ApplyFailed(inner) | finalizer::Error::CleanupFailed(inner) =
                e.as_ref()
        {
            return inner.metric_label();
        }
        match self.kube_error() {
            Some(kube::Error::Api(s)) => match s.code {
                409 => "conflict",
                404 => "not_found",
                403 => "forbidden",
                429 => "throttled",
                500..=599 => "server_error",
                _ => "refused",
            },
            Some(_) => "transport",
            None => match self {
                Error::NoNamespace(_) => "invalid_object",
                Error::Selector(_) => "invalid_selector",
                Error::StillCarried(_) => "releasing",
                _ => "finalizer",
            },
        }
    }
}

/// What the reconcilers share: the client, the Event recorder, metrics, the plugins as the
/// DaemonSet controller's watch sees them, and the per-object failure counts behind the
/// exponential backoff.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Publishes `events.k8s.io/v1` Events.
    pub recorder: Recorder,
    /// Reconcile metrics.
    pub metrics: Arc<Metrics>,
    /// Consecutive failures per object (`namespace/name`, `daemonset/namespace/name`), reset
    /// by a success.
    failures: Mutex<HashMap<String, u32>>,
    /// The image repositories plugins may come from (`--allowed-image-repository`).
    pub images: ImagePolicy,
    /// How long a failure must show on a new pod before its rollout counts as stuck.
    pub patience: Patience,
    /// Every `FluentBitPlugin`, kept by the watch that triggers [`reconcile_daemonset`]: the
    /// store is updated before the trigger arrives, so a reconcile sees the change that
    /// caused it. Each [`run`] starts a new one.
    plugins: Mutex<Store<FluentBitPlugin>>,
    /// The status this process last wrote for each plugin (with its uid). The watch brings
    /// it back a moment later; until then this, not the store's older copy, is the previous
    /// status, so a quick second reconcile neither writes it again nor repeats its Events.
    written: Mutex<HashMap<String, (Option<String>, FluentBitPluginStatus)>>,
}

impl Context {
    /// A context whose Events are reported by `fbplugin-operator` (instance: `instance`, e.g.
    /// the pod name). It allows no image until [`Context::with_images`] says which.
    pub fn new(client: Client, metrics: Arc<Metrics>, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance,
        };
        let (plugins, _) = reflector::store();
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            failures: Mutex::new(HashMap::new()),
            images: ImagePolicy::default(),
            patience: Patience::default(),
            plugins: Mutex::new(plugins),
            written: Mutex::new(HashMap::new()),
        }
    }

    /// The same context allowing images from `images` only.
    pub fn with_images(mut self, images: ImagePolicy) -> Self {
        self.images = images;
        self
    }

    /// The same context rolling back a stuck rollout after `patience` (default 60 s).
    pub fn with_patience(mut self, patience: Patience) -> Self {
        self.patience = patience;
        self
    }

    /// Starts a new, empty plugin store for [`reconcile_daemonset`] and returns its writer:
    /// [`run`] feeds it from its plugin watch (each time it starts, also after a lost and
    /// regained lease), a test feeds it the plugins it sets up. What this process remembers
    /// writing is forgotten too: another replica may have written since.
    pub fn new_plugin_store(&self) -> Writer<FluentBitPlugin> {
        let (store, writer) = reflector::store();
        *lock(&self.plugins) = store;
        lock(&self.written).clear();
        writer
    }

    /// The plugin store of the current [`run`].
    fn plugin_store(&self) -> Store<FluentBitPlugin> {
        lock(&self.plugins).clone()
    }

    /// Waits until the plugin store holds the watch's initial list. A DaemonSet reconciled
    /// before that would look as if it had no plugin and lose them all for a moment (a
    /// restarted operator would roll every Fluent Bit pod twice).
    async fn plugins_listed(&self) {
        wait_until_ready(&self.plugin_store()).await;
    }

    /// Counts one more failure of `key` and returns how long to wait: 1 s doubling to 5 min.
    fn backoff(&self, key: &str) -> Duration {
        let mut failures = lock(&self.failures);
        let n = failures.entry(key.to_string()).or_default();
        *n = n.saturating_add(1);
        backoff_delay(*n)
    }

    fn reset(&self, key: &str) {
        lock(&self.failures).remove(key);
    }

    /// The plugins of `namespace` in the store that target `daemonset`, by name; and whether
    /// one that is being deleted is still in the DaemonSet (targets it, or its template
    /// carries it).
    fn plugins_of(&self, ds: &DaemonSet) -> (Vec<Arc<FluentBitPlugin>>, bool) {
        let namespace = ds.namespace();
        let name = ds.name_any();
        let concerned = self.plugin_store().state_filter(|p| {
            p.namespace() == namespace
                && (p.spec.target.daemon_set == name
                    || (p.meta().deletion_timestamp.is_some() && workload::carries(ds, p)))
        });
        let (deleting, mut plugins): (Vec<_>, Vec<_>) = concerned
            .into_iter()
            .partition(|p| p.meta().deletion_timestamp.is_some());
        plugins.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        (plugins, !deleting.is_empty())
    }

    /// The status the plugin had before this reconcile: the one this process last wrote, when
    /// it wrote one for this very object, else the watched copy's.
    fn previous_status(&self, plugin: &FluentBitPlugin) -> Option<FluentBitPluginStatus> {
        match lock(&self.written).get(&key(plugin)) {
            Some((uid, status)) if *uid == plugin.metadata.uid => Some(status.clone()),
            _ => plugin.status.clone(),
        }
    }

    fn wrote(&self, plugin: &FluentBitPlugin, status: &FluentBitPluginStatus) {
        lock(&self.written).insert(key(plugin), (plugin.metadata.uid.clone(), status.clone()));
    }

    fn forget(&self, plugin: &FluentBitPlugin) {
        lock(&self.written).remove(&key(plugin));
        self.reset(&key(plugin));
        self.metrics.remove_plugin(&key(plugin));
    }
}

/// Waits for a store's initial list. `Store::wait_until_ready` wakes only its latest
/// poller (and a controller polls its own store too): poll again until it answers.
pub(crate) async fn wait_until_ready<K>(store: &Store<K>)
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    const POLL: Duration = Duration::from_millis(200);
    while tokio::time::timeout(POLL, store.wait_until_ready())
        .await
        .is_err()
    {}
}

/// A poisoned lock still holds usable data (counters and caches): take it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// How soon a reconcile whose finalizer patch met a stale cached copy is retried.
pub const STALE_CACHE_RETRY: Duration = Duration::from_millis(500);

/// The delay after `n` consecutive failures: 1 s, 2 s, 4 s, ... capped at 5 minutes.
pub fn backoff_delay(n: u32) -> Duration {
    let secs = 1u64 << n.saturating_sub(1).min(9);
    Duration::from_secs(secs.min(300))
}

fn key(plugin: &FluentBitPlugin) -> String {
    format!(
        "{}/{}",
        plugin.namespace().unwrap_or_default(),
        plugin.name_any()
    )
}

fn daemonset_key(ds: &DaemonSet) -> String {
    format!(
        "daemonset/{}/{}",
        ds.namespace().unwrap_or_default(),
        ds.name_any()
    )
}

/// Reconciles one plugin's own part: adds the finalizer; reports `DaemonSetNotFound` while
/// its DaemonSet does not exist (everything else about a plugin whose DaemonSet exists is
/// [`reconcile_daemonset`]'s); on deletion (Cleanup) lets it go once no DaemonSet carries it.
#[tracing::instrument(skip_all, fields(plugin = %key(&plugin)))]
pub async fn reconcile(plugin: Arc<FluentBitPlugin>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = plugin
        .namespace()
        .ok_or_else(|| Error::NoNamespace(plugin.name_any()))?;
    let api: Api<FluentBitPlugin> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer::finalizer(&api, FINALIZER, plugin, |event| async {
        match event {
            Finalizer::Apply(p) => without_daemonset(&p, &ctx).await,
            Finalizer::Cleanup(p) => release(&p, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// A plugin whose DaemonSet exists is left to [`reconcile_daemonset`]; one whose DaemonSet
/// does not gets the status that says so.
async fn without_daemonset(plugin: &FluentBitPlugin, ctx: &Context) -> Result<Action, Error> {
    let namespace = plugin.namespace().unwrap_or_default();
    let name = &plugin.spec.target.daemon_set;
    let daemonsets: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let ds = daemonsets
        .get_opt(name)
        .await
        .map_err(|e| Error::api(format!("get DaemonSet {namespace}/{name}"), e))?;
    if ds.is_some() {
        return Ok(Action::await_change());
    }
    let plugins = [plugin];
    let planned = plan::plan(&plan::Observed {
        namespace: &namespace,
        name,
        daemonset: plan::Target::Absent,
        base_config: None,
        configmap: None,
        plugins: &plugins,
        images: Some(&ctx.images),
        release_unusable: false,
        offline: false,
    });
    let previous = ctx.previous_status(plugin);
    let executed = plan::Executed {
        daemonset: None,
        pods: &[],
        apply: &planned.apply,
        held: &[],
        rollback: None,
    };
    let updates = plan::report(
        &plugins,
        &[previous.as_ref()],
        &planned.render.outcomes,
        None,
        &executed,
        &stamp(Timestamp::now()),
    );
    for update in &updates {
        write_status(plugin, update, ctx).await?;
    }
    // The DaemonSet controller takes over once it exists; look again with growing delays.
    Ok(Action::requeue(ctx.backoff(&key(plugin))))
}

/// Cleanup: the finalizer goes once no DaemonSet's template carries the plugin. Taking it out
/// is [`reconcile_daemonset`]'s (the deletion triggers it); until then this is retried.
async fn release(plugin: &FluentBitPlugin, ctx: &Context) -> Result<Action, Error> {
    let namespace = plugin.namespace().unwrap_or_default();
    let carrying = sync::carrying(&ctx.client, &namespace, plugin).await?;
    if !carrying.is_empty() {
        return Err(Error::StillCarried(carrying));
    }
    info!(plugin = %key(plugin), "no DaemonSet carries the plugin any more; removing the finalizer");
    ctx.forget(plugin);
    Ok(Action::await_change())
}

/// Reconciles one DaemonSet: observes it with every plugin targeting it, plans, executes the
/// plan (at most one ConfigMap write and one DaemonSet apply), then writes the status of each
/// plugin whose status changed and publishes its Events. A DaemonSet that never opted in and
/// carries nothing of the operator's costs no API call.
#[tracing::instrument(skip_all, fields(daemonset = %daemonset_key(&ds)))]
pub async fn reconcile_daemonset(ds: Arc<DaemonSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.plugins_listed().await;
    let (plugins, releasing) = ctx.plugins_of(&ds);
    let opted_in = ds.labels().get(gate::OPT_IN_LABEL).map(String::as_str) == Some("true");
    let carries =
        !crate::drift::operator_marks(&serde_json::to_value(ds.as_ref()).unwrap_or_default())
            .is_empty();
    if plugins.is_empty() && !opted_in && !carries && !releasing {
        return Ok(Action::await_change());
    }
    let timer = ctx.metrics.start();
    let result = sync_and_report(&ds, &plugins, releasing, &ctx).await;
    timer.finish(result.as_ref().map(|_| ()).map_err(Error::metric_label));
    result
}

async fn sync_and_report(
    ds: &DaemonSet,
    plugins: &[Arc<FluentBitPlugin>],
    releasing: bool,
    ctx: &Context,
) -> Result<Action, Error> {
    let namespace = ds.namespace().unwrap_or_default();
    let name = ds.name_any();
    let refs: Vec<&FluentBitPlugin> = plugins.iter().map(AsRef::as_ref).collect();
    let previous: Vec<Option<FluentBitPluginStatus>> =
        refs.iter().map(|p| ctx.previous_status(p)).collect();
    let previous: Vec<Option<&FluentBitPluginStatus>> =
        previous.iter().map(Option::as_ref).collect();

    // Observe; a generation held back after a rollback is planned as it was when good.
    let observation = sync::observe(&ctx.client, &namespace, &name).await?;
    let good = LastKnownGood::from_data(
        observation
            .configmap
            .as_ref()
            .and_then(|cm| cm.data.as_ref()),
    );
    let inputs = HeldBack::new(&refs, &previous, good.as_ref());
    let planning = inputs.planned();

    // Plan and execute.
    let planned = plan::plan(&plan::Observed {
        namespace: &namespace,
        name: &name,
        daemonset: observation
            .daemonset
            .as_ref()
            .map_or(plan::Target::Absent, plan::Target::Present),
        base_config: observation.base_config.as_deref(),
        configmap: observation.configmap.as_ref(),
        plugins: &planning,
        images: Some(&ctx.images),
        release_unusable: releasing,
        offline: false,
    });
    let (live, apply) = sync::execute(
        &ctx.client,
        &namespace,
        &name,
        &planned,
        observation.daemonset.clone(),
    )
    .await?;
    let pods = match &live {
        Some(ds) => sync::pods_of(&ctx.client, &namespace, ds).await?,
        None => Vec::new(),
    };

    // Is the rollout of what was just applied stuck?
    let now = Timestamp::now();
    let decision = match (&live, planned.hash()) {
        (Some(live), Some(hash)) => rollback::decide(
            live,
            &pods,
            hash,
            good.as_ref(),
            &planning,
            now,
            ctx.patience,
        ),
        _ => rollback::Decision::None,
    };
    let rollback = match &decision {
        rollback::Decision::RollBack(r) => {
            warn!(failure = %r.failure.describe(), culprits = ?r.culprits, to = %r.to_hash, "rollout stuck: rolling back");
            Some(r)
        }
        _ => None,
    };

    // Report.
    let executed = plan::Executed {
        daemonset: live.as_ref(),
        pods: &pods,
        apply: &apply,
        held: &inputs.held,
        rollback,
    };
    let outcomes = inputs.outcomes(&planned.render.outcomes);
    let updates = plan::report(
        &refs,
        &previous,
        &outcomes,
        planned.hash(),
        &executed,
        &stamp(now),
    );
    let mut rolling = false;
    for (plugin, update) in refs.iter().zip(&updates) {
        write_status(plugin, update, ctx).await?;
        ctx.metrics.set_plugin(&key(plugin), &update.status);
        rolling |= update
            .status
            .condition(condition::PROGRESSING)
            .is_some_and(|c| c.status == "True");
    }
    Ok(next_action(
        ctx,
        ds,
        &apply,
        !plugins.is_empty(),
        &decision,
        rolling,
        now,
    ))
}

/// The plugins as they are planned: a generation held back after a rollback
/// ([`rollback::held_back`]) with its last known good spec, or left out when it had none.
struct HeldBack<'a> {
    plugins: &'a [&'a FluentBitPlugin],
    /// Index-aligned with `plugins`.
    held: Vec<bool>,
    /// The good spec of each held plugin that has one.
    substitutes: Vec<Option<FluentBitPlugin>>,
}

impl<'a> HeldBack<'a> {
    fn new(
        plugins: &'a [&'a FluentBitPlugin],
        previous: &[Option<&FluentBitPluginStatus>],
        good: Option<&LastKnownGood>,
    ) -> Self {
        let held: Vec<bool> = plugins
            .iter()
            .zip(previous)
            .map(|(p, s)| rollback::held_back(p, *s))
            .collect();
        let substitutes = plugins
            .iter()
            .zip(&held)
            .map(|(p, held)| held.then(|| good?.spec_of(p)).flatten())
            .collect();
        HeldBack {
            plugins,
            held,
            substitutes,
        }
    }

    /// Whether plugin `i` is planned at all.
    fn is_planned(&self, i: usize) -> bool {
        !self.held[i] || self.substitutes[i].is_some()
    }

    /// What [`plan::plan`] gets.
    fn planned(&self) -> Vec<&FluentBitPlugin> {
        (0..self.plugins.len())
            .filter(|&i| self.is_planned(i))
            .map(|i| self.substitutes[i].as_ref().unwrap_or(self.plugins[i]))
            .collect()
    }

    /// The plan's outcomes (aligned with [`HeldBack::planned`]) aligned with all plugins; one
    /// left out has no problem and is not included.
    fn outcomes(&self, planned: &[render::PluginOutcome]) -> Vec<render::PluginOutcome> {
        let mut planned = planned.iter();
        (0..self.plugins.len())
            .map(|i| match self.is_planned(i) {
                true => planned.next().cloned().unwrap_or_default(),
                false => render::PluginOutcome::default(),
            })
            .collect()
    }
}

/// When to look at the DaemonSet again.
fn next_action(
    ctx: &Context,
    ds: &DaemonSet,
    apply: &ApplyState,
    has_plugins: bool,
    decision: &rollback::Decision,
    rolling: bool,
    now: Timestamp,
) -> Action {
    let ds_key = daemonset_key(ds);
    match apply {
        ApplyState::ApplyFailed(message) => {
            warn!(%message, "the API server refused a write");
            return Action::requeue(ctx.backoff(&ds_key));
        }
        // Not a crash loop: the statuses say why; look again with growing delays (and at
        // once when what is missing changes, through the watches).
        ApplyState::DaemonSetNotFound
        | ApplyState::NotOptedIn(_)
        | ApplyState::ConfigMapNotOwned(_)
            if has_plugins =>
        {
            return Action::requeue(ctx.backoff(&ds_key));
        }
        _ => ctx.reset(&ds_key),
    }
    match decision {
        // The held-back statuses are written: plan again at once.
        rollback::Decision::RollBack(_) => Action::requeue(Duration::from_secs(1)),
        rollback::Decision::LookAgainAt(at) => {
            let wait = at.duration_since(now).unsigned_abs();
            Action::requeue(wait.clamp(Duration::from_secs(1), ROLLING_RECHECK))
        }
        rollback::Decision::None if rolling => Action::requeue(ROLLING_RECHECK),
        rollback::Decision::None => Action::requeue(RESYNC),
    }
}

/// A condition's time: whole seconds, as the API server stores it.
fn stamp(at: Timestamp) -> Time {
    Time(Timestamp::from_second(at.as_second()).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// [`error_policy`] for [`reconcile_daemonset`].
pub fn daemonset_error_policy(ds: Arc<DaemonSet>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = daemonset_key(&ds);
    let delay = ctx.backoff(&key);
    warn!(daemonset = %key, error = %error, kind = error.metric_label(), retry_in = ?delay, "DaemonSet reconcile failed");
    Action::requeue(delay)
}

/// Logs the error and retries the object with exponential backoff (conflicts, 5xx and
/// transport errors are all transient here).
pub fn error_policy(plugin: Arc<FluentBitPlugin>, error: &Error, ctx: Arc<Context>) -> Action {
    if error.is_stale_finalizer_patch() {
        debug!(plugin = %key(&plugin), error = %error, "finalizer patch raced the cache; retrying");
        return Action::requeue(STALE_CACHE_RETRY);
    }
    let delay = ctx.backoff(&key(&plugin));
    warn!(plugin = %key(&plugin), error = %error, kind = error.metric_label(), retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Applies the status when it changed, then publishes the Events of the change. A plugin
/// deleted since it was observed (404) has no status to write.
async fn write_status(
    plugin: &FluentBitPlugin,
    update: &plan::StatusUpdate,
    ctx: &Context,
) -> Result<(), Error> {
    if !update.changed {
        return Ok(());
    }
    let namespace = plugin.namespace().unwrap_or_default();
    let name = plugin.name_any();
    let api: Api<FluentBitPlugin> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = json!({
        "apiVersion": FluentBitPlugin::api_version(&()),
        "kind": FluentBitPlugin::kind(&()),
        "status": update.status,
    });
    let result = api
        .patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await;
    match result {
        Ok(_) => ctx.wrote(plugin, &update.status),
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => {
            return Err(Error::api(
                format!("patch status of FluentBitPlugin {namespace}/{name}"),
                e,
            ));
        }
    }
    let reference = plugin.object_ref(&());
    for note in &update.events {
        let event = KubeEvent {
            type_: if note.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: note.reason.clone(),
            note: Some(note.note.clone()),
            action: note.action.clone(),
            secondary: None,
        };
        // Events are advice; failing to publish one must not fail the reconcile.
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            warn!(plugin = %key(plugin), error = %e, reason = %event.reason, "cannot publish Event");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(
            kube::core::Status::failure("the test operation failed", "Invalid").with_code(code),
        ))
    }

    #[test]
    fn a_finalizer_patch_against_a_stale_copy_is_retried_quietly() {
        let stale = Error::Finalizer(Box::new(finalizer::Error::AddFinalizer(api_error(422))));
        assert!(stale.is_stale_finalizer_patch());
        assert_eq!(stale.metric_label(), "stale_cache");
        let conflict = Error::Finalizer(Box::new(finalizer::Error::AddFinalizer(api_error(409))));
        assert!(!conflict.is_stale_finalizer_patch());
        assert_eq!(conflict.metric_label(), "conflict");
        let refused = Error::api("apply the DaemonSet", api_error(422));
        assert!(
            !refused.is_stale_finalizer_patch(),
            "only the finalizer's own patch"
        );
        assert_eq!(refused.metric_label(), "refused");
    }
}
