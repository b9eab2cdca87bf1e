//! The kube-runtime `Controller`s: what each watches and how a change finds its key.
//!
//! **DaemonSets** ([`reconcile_daemonset`], keyed by DaemonSet), triggered by:
//! - the DaemonSet itself (whole objects: the store answers the mappers below);
//! - `FluentBitPlugin`s, through a reflector whose store [`Context`] reads: a plugin maps to
//!   its target and to any other DaemonSet whose template still carries it;
//! - ConfigMaps, metadata only: the operator's own `<ds>-fbplugin` (label
//!   `fbplugin.dev/daemonset`), any ConfigMap named `<ds>-fbplugin` (a foreign one blocks the
//!   DaemonSet's plugins until it goes), and any ConfigMap a DaemonSet in the store reads its
//!   own config from ([`plan::base_config_source`]).
//!
//! **Plugins** ([`reconcile`], keyed by plugin): the plugin's own watch (finalizer, deletion,
//! a target that does not exist) and DaemonSet deletions (metadata only), which map to the
//! plugins targeting the deleted DaemonSet.
//!
//! Every mapping is computed from what a watch holds now; nothing a reconcile learned is kept
//! for the mappers.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use fbplugin_crds::FluentBitPlugin;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store, reflector};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::{
    Context, Error, daemonset_error_policy, error_policy, reconcile, reconcile_daemonset,
    wait_until_ready,
};
use crate::plan;
use crate::workload::{self, DAEMONSET_LABEL};

/// What `/readyz` reports: the watches have synced; with leader election a standby replica
/// (not leading, so not watching) is ready too, so a rollout of the operator is not blocked
/// by which replica holds the lease.
#[derive(Debug, Default)]
pub struct Health {
    synced: AtomicBool,
    leader_election: bool,
    leading: AtomicBool,
}

impl Health {
    /// Health for a process that runs with (`true`) or without leader election.
    pub fn new(leader_election: bool) -> Self {
        Health {
            leader_election,
            ..Default::default()
        }
    }

    /// Whether the process should receive traffic.
    pub fn ready(&self) -> bool {
        self.synced.load(Ordering::Relaxed)
            || (self.leader_election && !self.leading.load(Ordering::Relaxed))
    }

    /// Records whether the controller's watches have synced.
    pub fn set_synced(&self, synced: bool) {
        self.synced.store(synced, Ordering::Relaxed);
    }

    /// Records whether this replica holds the lease.
    pub fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::Relaxed);
    }
}

/// Runs both controllers in `namespace` (or all namespaces) until `shutdown` resolves, then
/// lets running reconciles finish. Fails fast when the CRD is not installed.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    health: Arc<Health>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    let client = ctx.client.clone();
    let plugins: Api<FluentBitPlugin> = api(&client, namespace);
    plugins
        .list(&ListParams::default().limit(1))
        .await
        .map_err(|e| {
            Error::api(
                "list FluentBitPlugins (is the CRD installed? `operator crd | kubectl apply -f -`; \
                 does the ServiceAccount have the RBAC of the chart?)",
                e,
            )
        })?;
    let writer = ctx.new_plugin_store();

    // The DaemonSet controller: every DaemonSet, triggered by its plugins and ConfigMaps too.
    let daemonsets = Controller::new(
        api::<DaemonSet>(&client, namespace),
        watcher::Config::default().any_semantic(),
    );
    let ds_store = daemonsets.store();
    let (plugins_synced, plugin_events) = synced(reflector(
        writer,
        watcher(plugins.clone(), watcher::Config::default().any_semantic()).default_backoff(),
    ));
    let (cm_synced, cm_events) = synced(
        watcher(
            api::<PartialObjectMeta<ConfigMap>>(&client, namespace),
            watcher::Config::default().any_semantic(),
        )
        .default_backoff(),
    );
    let carriers = ds_store.clone();
    let by_plugin = move |plugin: FluentBitPlugin| daemonsets_of_plugin(&carriers, &plugin);
    let readers = ds_store.clone();
    let by_configmap =
        move |cm: PartialObjectMeta<ConfigMap>| daemonsets_of_configmap(&readers, &cm);

    // The plugin controller: the finalizer, and plugins whose DaemonSet is gone.
    let controller = Controller::new(plugins, watcher::Config::default().any_semantic());
    let plugin_store = controller.store();
    let (deletions_synced, deletions) =
        synced_deletions(api::<PartialObjectMeta<DaemonSet>>(&client, namespace));
    let by_ds = plugin_store.clone();
    let targeting_deleted = move |ds: PartialObjectMeta<DaemonSet>| {
        targeting(&by_ds, ds.namespace().as_deref(), &ds.name_any())
    };

    let ready_health = health.clone();
    let stores = (plugin_store, ds_store, ctx.plugin_store());
    let readiness = tokio::spawn(async move {
        let watches = async {
            wait_until_ready(&stores.0).await;
            wait_until_ready(&stores.1).await;
            wait_until_ready(&stores.2).await;
            for mut synced in [plugins_synced, cm_synced, deletions_synced] {
                synced.wait_for(|s| *s).await.ok()?;
            }
            Some(())
        };
        if watches.await.is_some() {
            info!("watches synced; ready");
            ready_health.set_synced(true);
        }
    });

    info!(
        namespace = namespace.unwrap_or("<all>"),
        "controller started"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut stop_daemonsets = stop_rx.clone();
    let daemonsets = daemonsets
        .watches_stream(plugin_events, by_plugin)
        .watches_stream(cm_events, by_configmap)
        .graceful_shutdown_on(async move {
            stop_daemonsets.wait_for(|s| *s).await.ok();
        })
        .run(reconcile_daemonset, daemonset_error_policy, ctx.clone())
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => debug!(daemonset = %object, "reconciled"),
                Err(e) => debug!(error = %e, "DaemonSet reconcile not completed"),
            }
        });
    let plugins = controller
        .watches_stream(deletions, targeting_deleted)
        .graceful_shutdown_on(async move {
            shutdown.await;
            stop_tx.send_replace(true);
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => debug!(plugin = %object, "reconciled"),
                Err(e) => debug!(error = %e, "reconcile not completed"),
            }
        });
    futures::join!(plugins, daemonsets);
    readiness.abort();
    health.set_synced(false);
    info!("controller stopped");
    Ok(())
}

/// The DaemonSets a plugin event concerns: its target, and any other DaemonSet of its
/// namespace whose template still carries it (it was retargeted, or is being deleted).
fn daemonsets_of_plugin(
    daemonsets: &Store<DaemonSet>,
    plugin: &FluentBitPlugin,
) -> Vec<ObjectRef<DaemonSet>> {
    let namespace = plugin.namespace();
    let target = &plugin.spec.target.daemon_set;
    let mut refs = vec![ObjectRef::new(target).within(namespace.as_deref().unwrap_or_default())];
    refs.extend(
        daemonsets
            .state_filter(|ds| {
                ds.namespace() == namespace
                    && ds.metadata.name.as_ref() != Some(target)
                    && workload::carries(ds, plugin)
            })
            .iter()
            .map(|ds| ObjectRef::from(ds.as_ref())),
    );
    refs
}

/// The DaemonSets a ConfigMap event concerns: the one the operator's own `<ds>-fbplugin`
/// belongs to (label `fbplugin.dev/daemonset`), the one whose name a `<ds>-fbplugin` without
/// the operator's labels blocks (its removal must bring the plugins round), and every
/// DaemonSet of the namespace that reads its own config from it.
fn daemonsets_of_configmap(
    daemonsets: &Store<DaemonSet>,
    cm: &PartialObjectMeta<ConfigMap>,
) -> Vec<ObjectRef<DaemonSet>> {
    let namespace = cm.namespace().unwrap_or_default();
    let name = cm.name_any();
    let mut names: BTreeSet<String> = cm
        .labels()
        .get(DAEMONSET_LABEL)
        .cloned()
        .into_iter()
        .collect();
    if let Some(ds) = name.strip_suffix("-fbplugin") {
        names.insert(ds.to_string());
    }
    let readers = daemonsets.state_filter(|ds| {
        ds.namespace().as_deref() == Some(namespace.as_str())
            && plan::base_config_source(ds).is_some_and(|s| s.configmap == name)
    });
    names.extend(readers.iter().map(|ds| ds.name_any()));
    names
        .iter()
        .map(|ds| ObjectRef::new(ds).within(&namespace))
        .collect()
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// A watch's touched objects, and a receiver that turns true once its initial list is in.
#[allow(clippy::type_complexity)]
fn synced<K>(
    events: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
) -> (
    watch::Receiver<bool>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Send + 'static,
{
    let (tx, rx) = watch::channel(false);
    let stream = events
        .inspect_ok(move |event| {
            if matches!(event, watcher::Event::InitDone) {
                tx.send_replace(true);
            }
        })
        .inspect_err(|e| warn!(error = %e, "watch failed; retrying with backoff"))
        .touched_objects();
    (rx, stream)
}

/// The DaemonSets deleted (metadata only), and a receiver that turns true once the watch's
/// initial list is in. A DaemonSet that is there is the DaemonSet controller's; only its
/// deletion concerns the plugin controller.
#[allow(clippy::type_complexity)]
fn synced_deletions(
    api: Api<PartialObjectMeta<DaemonSet>>,
) -> (
    watch::Receiver<bool>,
    impl futures::Stream<Item = Result<PartialObjectMeta<DaemonSet>, watcher::Error>> + Send + 'static,
) {
    let (tx, rx) = watch::channel(false);
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .inspect_ok(move |event| {
            if matches!(event, watcher::Event::InitDone) {
                tx.send_replace(true);
            }
        })
        .inspect_err(|e| warn!(error = %e, "watch failed; retrying with backoff"))
        .try_filter_map(|event| async move {
            Ok(match event {
                watcher::Event::Delete(ds) => Some(ds),
                _ => None,
            })
        });
    (rx, stream)
}

/// The plugins in `namespace` that target `daemonset`.
fn targeting(
    store: &Store<FluentBitPlugin>,
    namespace: Option<&str>,
    daemonset: &str,
) -> Vec<ObjectRef<FluentBitPlugin>> {
    store
        .state_filter(|p| {
            p.namespace().as_deref() == namespace && p.spec.target.daemon_set == daemonset
        })
        .iter()
        .map(|p| ObjectRef::from(p.as_ref()))
        .collect()
}
