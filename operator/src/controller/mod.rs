//! The only module that talks to the API server: reconcile, finalizer, error policy, and the
//! kube-runtime `Controller` wiring ([`run`]).
//!
//! One reconcile of a plugin syncs its whole DaemonSet (every plugin of a DaemonSet shares one
//! ConfigMap and one pod template), then writes only that plugin's status; the DaemonSet watch
//! brings the other plugins of the DaemonSet round when the template changes.

mod runner;
mod sync;
pub mod transitions;

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
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info, warn};

pub use crate::drift::{contains, daemonset_current};
pub use runner::{Health, run};

use crate::gate::ImagePolicy;
use crate::metrics::Metrics;
use crate::rollout;
use crate::status::{ApplyState, Facts, plugin_status};
use crate::workload::FIELD_MANAGER;

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
    /// The API server refused to take a deleted plugin out of its DaemonSet; the finalizer
    /// stays until it can.
    #[error("{0}")]
    Refused(String),
    /// The DaemonSet's selector cannot be turned into a label selector.
    #[error("the DaemonSet's selector is not usable: {0}")]
    Selector(String),
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
                Error::Refused(_) => "refused",
                _ => "finalizer",
            },
        }
    }
}

/// What the reconciler shares: the client, the Event recorder, metrics and the per-object
/// failure counts behind the exponential backoff.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Publishes `events.k8s.io/v1` Events.
    pub recorder: Recorder,
    /// Reconcile metrics.
    pub metrics: Arc<Metrics>,
    /// Consecutive failures per object (`namespace/name`), reset by a success.
    failures: Mutex<HashMap<String, u32>>,
    /// Which ConfigMaps hold which DaemonSets' base config, as reconciles found them.
    base_configs: runner::BaseConfigIndex,
    /// The image repositories plugins may come from (`--allowed-image-repository`).
    pub images: ImagePolicy,
}

impl Context {
    /// A context whose Events are reported by `fbplugin-operator` (instance: `instance`, e.g.
    /// the pod name). It allows no image until [`Context::with_images`] says which.
    pub fn new(client: Client, metrics: Arc<Metrics>, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance,
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            failures: Mutex::new(HashMap::new()),
            base_configs: Default::default(),
            images: ImagePolicy::default(),
        }
    }

    /// The same context allowing images from `images` only.
    pub fn with_images(mut self, images: ImagePolicy) -> Self {
        self.images = images;
        self
    }

    /// Counts one more failure of `key` and returns how long to wait: 1 s doubling to 5 min.
    fn backoff(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(key.to_string()).or_default();
        *n = n.saturating_add(1);
        backoff_delay(*n)
    }

    fn reset(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
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

/// Reconciles one plugin: adds the finalizer, then syncs its DaemonSet and status
/// (Apply), or takes it out of the DaemonSet and lets it go (Cleanup).
#[tracing::instrument(skip_all, fields(plugin = %key(&plugin)))]
pub async fn reconcile(plugin: Arc<FluentBitPlugin>, ctx: Arc<Context>) -> Result<Action, Error> {
    let timer = ctx.metrics.start();
    let namespace = plugin
        .namespace()
        .ok_or_else(|| Error::NoNamespace(plugin.name_any()))?;
    let api: Api<FluentBitPlugin> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer::finalizer(&api, FINALIZER, plugin, |event| async {
        match event {
            Finalizer::Apply(p) => apply(&p, &ctx).await,
            Finalizer::Cleanup(p) => cleanup(&p, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    timer.finish(result.as_ref().map(|_| ()).map_err(Error::metric_label));
    result
}

/// Reconciles a DaemonSet that no plugin targets: an opted-in one gets the operator's mount
/// with an empty pipeline (its config includes the file, and Fluent Bit does not start without
/// it), one that opted out loses the operator's fields. A DaemonSet with plugins is left to
/// their reconciles. The plugins are listed fresh, so a plugin created a moment ago is never
/// taken out again.
#[tracing::instrument(skip_all, fields(daemonset = %format!("{}/{}", ds.namespace().unwrap_or_default(), ds.name_any())))]
pub async fn reconcile_daemonset(ds: Arc<DaemonSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = ds.namespace().unwrap_or_default();
    let name = ds.name_any();
    let opted_in = ds
        .labels()
        .get(crate::gate::OPT_IN_LABEL)
        .map(String::as_str)
        == Some("true");
    let carries =
        !crate::drift::operator_marks(&serde_json::to_value(ds.as_ref()).unwrap_or_default())
            .is_empty();
    if !opted_in && !carries {
        return Ok(Action::await_change());
    }
    if !sync::plugins_of(&ctx.client, &namespace, &name)
        .await?
        .is_empty()
    {
        return Ok(Action::await_change());
    }
    let synced =
        sync::sync_daemonset(&ctx.client, &ctx.images, &namespace, &name, &[], false).await?;
    if let ApplyState::ApplyFailed(message) = &synced.apply {
        warn!(%message, "cannot give the DaemonSet the operator's empty pipeline");
        return Ok(Action::requeue(
            ctx.backoff(&format!("daemonset/{namespace}/{name}")),
        ));
    }
    ctx.reset(&format!("daemonset/{namespace}/{name}"));
    Ok(Action::requeue(RESYNC))
}

/// [`error_policy`] for [`reconcile_daemonset`].
pub fn daemonset_error_policy(ds: Arc<DaemonSet>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!(
        "daemonset/{}/{}",
        ds.namespace().unwrap_or_default(),
        ds.name_any()
    );
    let delay = ctx.backoff(&key);
    warn!(daemonset = %key, error = %error, retry_in = ?delay, "DaemonSet reconcile failed");
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

async fn apply(plugin: &FluentBitPlugin, ctx: &Context) -> Result<Action, Error> {
    let namespace = plugin.namespace().unwrap_or_default();
    let ds_name = &plugin.spec.target.daemon_set;
    let mut group = sync::plugins_of(&ctx.client, &namespace, ds_name).await?;
    // The list may predate this object (a cache in between); the object in hand is current.
    let me = match group
        .iter()
        .position(|p| p.metadata.name == plugin.metadata.name)
    {
        Some(i) => i,
        None => {
            group.push(plugin.clone());
            group.len() - 1
        }
    };
    let refs: Vec<&FluentBitPlugin> = group.iter().collect();
    let synced =
        sync::sync_daemonset(&ctx.client, &ctx.images, &namespace, ds_name, &refs, false).await?;
    if let Some(cm) = &synced.base_configmap {
        let mut index = ctx.base_configs.lock().unwrap_or_else(|e| e.into_inner());
        index
            .entry((namespace.clone(), cm.clone()))
            .or_default()
            .insert(ds_name.clone());
    }
    let me_now = &group[me];
    // A changed spec may have moved the plugin to another DaemonSet: take it out of any other
    // whose template still carries it, before the status records this generation.
    let observed = me_now.status.as_ref().and_then(|s| s.observed_generation);
    if observed.is_none() || observed != me_now.metadata.generation {
        release_elsewhere(me_now, ctx).await?;
    }
    let rollout = synced.daemonset.as_ref().map(|ds| {
        let check = rollout::template_check(ds, me_now, synced.hash().unwrap_or_default());
        rollout::assess(ds, &synced.pods, check)
    });
    let now =
        Time(Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH));
    let status = plugin_status(
        me_now.status.as_ref(),
        Facts {
            generation: me_now.metadata.generation,
            outcome: &synced.render.outcomes[me],
            apply: &synced.apply,
            hash: synced.hash(),
            rollout: rollout.as_ref(),
        },
        &now,
    );
    write_status(me_now, &status, ctx).await?;
    ctx.metrics.set_plugin(&key(plugin), &status);

    Ok(match synced.apply {
        ApplyState::DaemonSetNotFound
        | ApplyState::ApplyFailed(_)
        | ApplyState::NotOptedIn(_)
        | ApplyState::ConfigMapNotOwned(_) => {
            // Not a crash loop: the status says why; look again with growing delays (and at
            // once when the DaemonSet appears, through the DaemonSet watch).
            Action::requeue(ctx.backoff(&key(plugin)))
        }
        _ => {
            ctx.reset(&key(plugin));
            let rolling = status
                .condition(condition::PROGRESSING)
                .is_some_and(|c| c.status == "True");
            Action::requeue(if rolling { ROLLING_RECHECK } else { RESYNC })
        }
    })
}

/// Patches the status only when it differs, then publishes the Events of the transition.
async fn write_status(
    plugin: &FluentBitPlugin,
    status: &FluentBitPluginStatus,
    ctx: &Context,
) -> Result<(), Error> {
    if plugin.status.as_ref() == Some(status) {
        return Ok(());
    }
    let namespace = plugin.namespace().unwrap_or_default();
    let name = plugin.name_any();
    let api: Api<FluentBitPlugin> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = json!({
        "apiVersion": FluentBitPlugin::api_version(&()),
        "kind": FluentBitPlugin::kind(&()),
        "status": status,
    });
    api.patch_status(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|e| {
        Error::api(
            format!("patch status of FluentBitPlugin {namespace}/{name}"),
            e,
        )
    })?;
    let reference = plugin.object_ref(&());
    for note in transitions::transitions(plugin.status.as_ref(), status) {
        let event = KubeEvent {
            type_: if note.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: note.reason,
            note: Some(note.note),
            action: note.action,
            secondary: None,
        };
        // Events are advice; failing to publish one must not fail the reconcile.
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            warn!(plugin = %key(plugin), error = %e, reason = %event.reason, "cannot publish Event");
        }
    }
    Ok(())
}

async fn cleanup(plugin: &FluentBitPlugin, ctx: &Context) -> Result<Action, Error> {
    remove_from(plugin, &plugin.spec.target.daemon_set, ctx).await?;
    release_elsewhere(plugin, ctx).await?;
    ctx.metrics.remove_plugin(&key(plugin));
    ctx.reset(&key(plugin));
    Ok(Action::await_change())
}

/// Re-syncs `daemonset` without `plugin` (the empty intent when no other plugin is left).
async fn remove_from(
    plugin: &FluentBitPlugin,
    daemonset: &str,
    ctx: &Context,
) -> Result<(), Error> {
    let namespace = plugin.namespace().unwrap_or_default();
    let group = sync::plugins_of(&ctx.client, &namespace, daemonset).await?;
    // Deleting plugins are already out of the group; never render this one, even from a list
    // that predates its deletion or its retargeting.
    let rest: Vec<&FluentBitPlugin> = group
        .iter()
        .filter(|p| p.metadata.name != plugin.metadata.name)
        .collect();
    let synced =
        sync::sync_daemonset(&ctx.client, &ctx.images, &namespace, daemonset, &rest, true).await?;
    if let ApplyState::ApplyFailed(message) = &synced.apply {
        // Keep the finalizer (or the old generation): the plugin is still in the DaemonSet.
        return Err(Error::Refused(message.clone()));
    }
    info!(plugin = %key(plugin), %daemonset, remaining = rest.len(), "removed from DaemonSet");
    Ok(())
}

/// Takes the plugin out of every DaemonSet of its namespace, other than its target, whose
/// template still carries its init container (it was retargeted).
async fn release_elsewhere(plugin: &FluentBitPlugin, ctx: &Context) -> Result<(), Error> {
    let namespace = plugin.namespace().unwrap_or_default();
    for daemonset in sync::carrying(&ctx.client, &namespace, plugin).await? {
        remove_from(plugin, &daemonset, ctx).await?;
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
