//! The kube-runtime `Controller`: what it watches and how a change finds its plugins.
//!
//! - `FluentBitPlugin`s (the controller's own reflector; its store answers the mappers).
//! - DaemonSets, metadata only: a change reconciles every plugin targeting that DaemonSet.
//! - DaemonSets again, whole, for a second controller ([`reconcile_daemonset`]): a DaemonSet no
//!   plugin targets gets the operator's empty pipeline when it opts in, and loses the
//!   operator's fields when it opts out.
//! - ConfigMaps, metadata only: the operator's own `<ds>-fbplugin` (label
//!   `fbplugin.dev/daemonset`), any ConfigMap named `<ds>-fbplugin` (a foreign one blocks the
//!   DaemonSet's plugins until it goes), and any ConfigMap a reconcile found holding a
//!   DaemonSet's base config map to the plugins of that DaemonSet; other ConfigMaps map to
//!   nothing.
//!
//! Metadata-only watches keep a cluster-wide operator's memory independent of how big the
//! cluster's ConfigMaps are; every reconcile reads what it needs fresh.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use fbplugin_crds::FluentBitPlugin;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::{Context, Error, daemonset_error_policy, error_policy, reconcile, reconcile_daemonset};
use crate::workload::DAEMONSET_LABEL;

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

/// How often readiness looks at the plugin store again.
const READY_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// ConfigMaps (namespace, name) holding a DaemonSet's base config → those DaemonSets.
pub(super) type BaseConfigIndex = Mutex<HashMap<(String, String), BTreeSet<String>>>;

/// Runs the controller in `namespace` (or all namespaces) until `shutdown` resolves, then
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
    let controller = Controller::new(plugins, watcher::Config::default().any_semantic());
    let store = controller.store();
    let (ds_synced, ds_events) =
        synced_watch(api::<PartialObjectMeta<DaemonSet>>(&client, namespace));
    let (cm_synced, cm_events) =
        synced_watch(api::<PartialObjectMeta<ConfigMap>>(&client, namespace));

    let by_ds = store.clone();
    let ds_mapper = move |ds: PartialObjectMeta<DaemonSet>| {
        targeting(&by_ds, ds.namespace().as_deref(), &[ds.name_any()])
    };
    let by_cm = store.clone();
    let index = ctx.clone();
    let cm_mapper = move |cm: PartialObjectMeta<ConfigMap>| {
        let namespace = cm.namespace().unwrap_or_default();
        let mut daemonsets: Vec<String> = cm
            .labels()
            .get(DAEMONSET_LABEL)
            .cloned()
            .into_iter()
            .collect();
        // A `<ds>-fbplugin` ConfigMap without the operator's labels (someone else's, which
        // blocks the plugins with ConfigMapNotOwned): its removal must bring them round too.
        if let Some(ds) = cm.name_any().strip_suffix("-fbplugin") {
            daemonsets.push(ds.to_string());
        }
        let known = index.base_configs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ds) = known.get(&(namespace.clone(), cm.name_any())) {
            daemonsets.extend(ds.iter().cloned());
        }
        drop(known);
        targeting(&by_cm, Some(&namespace), &daemonsets)
    };

    let ready_health = health.clone();
    let ready_store = store.clone();
    let readiness = tokio::spawn(async move {
        let mut ds_synced = ds_synced;
        let mut cm_synced = cm_synced;
        let watches = async {
            // `Store::wait_until_ready` wakes only its latest poller, and the controller polls
            // it too: poll again until it answers.
            while tokio::time::timeout(READY_POLL, ready_store.wait_until_ready())
                .await
                .is_err()
            {}
            ds_synced.wait_for(|s| *s).await.ok()?;
            cm_synced.wait_for(|s| *s).await.ok()
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
    // DaemonSets no plugin targets: the empty pipeline on opt-in, the release on opt-out.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut stop_plugins = stop_rx.clone();
    let daemonsets = Controller::new(
        api::<DaemonSet>(&client, namespace),
        watcher::Config::default().any_semantic(),
    )
    .graceful_shutdown_on(async move {
        stop_plugins.wait_for(|s| *s).await.ok();
    })
    .run(reconcile_daemonset, daemonset_error_policy, ctx.clone())
    .for_each(|result| async move {
        match result {
            Ok((object, _)) => debug!(daemonset = %object, "reconciled"),
            Err(e) => debug!(error = %e, "DaemonSet reconcile not completed"),
        }
    });
    let plugins = controller
        .watches_stream(ds_events, ds_mapper)
        .watches_stream(cm_events, cm_mapper)
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

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// A watch that reports (through the receiver) once its initial list is in.
#[allow(clippy::type_complexity)]
fn synced_watch<K>(
    api: Api<K>,
) -> (
    watch::Receiver<bool>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (tx, rx) = watch::channel(false);
    // `Api<PartialObjectMeta<_>>` lists and watches metadata only.
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .inspect_ok(move |event| {
            if matches!(event, watcher::Event::InitDone) {
                tx.send_replace(true);
            }
        })
        .inspect_err(|e| warn!(error = %e, "watch failed; retrying with backoff"))
        .touched_objects();
    (rx, stream)
}

/// The plugins in `namespace` that target one of `daemonsets`.
fn targeting(
    store: &Store<FluentBitPlugin>,
    namespace: Option<&str>,
    daemonsets: &[String],
) -> Vec<ObjectRef<FluentBitPlugin>> {
    if daemonsets.is_empty() {
        return Vec::new();
    }
    store
        .state()
        .iter()
        .filter(|p| p.namespace().as_deref() == namespace)
        .filter(|p| daemonsets.contains(&p.spec.target.daemon_set))
        .map(|p| ObjectRef::from(p.as_ref()))
        .collect()
}
