//! One DaemonSet's plugins → the writes that make the DaemonSet carry them, and what the
//! DaemonSet and its pods say afterwards.

use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::core::Selector;

use super::Error;
use crate::gate::ImagePolicy;
use crate::plan::{self, ConfigMapStep, Observed, Plan, Target};
use crate::render::DaemonSetRender;
use crate::status::ApplyState;
use crate::workload::{self, FIELD_MANAGER};

/// What syncing a DaemonSet found and did.
pub struct Synced {
    /// The DaemonSet as it is after the apply (`None` when it does not exist).
    pub daemonset: Option<DaemonSet>,
    /// Outcomes (index-aligned with the plugins given) and the rendered files.
    pub render: DaemonSetRender,
    /// What the apply did.
    pub apply: ApplyState,
    /// The DaemonSet's pods (by its selector), for the rollout assessment.
    pub pods: Vec<Pod>,
}

/// The DaemonSets in `namespace` whose pod template still carries the plugin's init container
/// (its target, or one it was retargeted away from), fresh from the API: a deleted plugin's
/// finalizer stays until this is empty.
pub async fn carrying(
    client: &Client,
    namespace: &str,
    plugin: &FluentBitPlugin,
) -> Result<Vec<String>, Error> {
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), namespace);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::api(format!("list DaemonSets in {namespace}"), e))?;
    Ok(list
        .items
        .into_iter()
        .filter(|ds| workload::carries(ds, plugin))
        .filter_map(|ds| ds.metadata.name)
        .collect())
}

/// Observes one DaemonSet (the DaemonSet, its base config, the `<ds>-fbplugin` ConfigMap),
/// asks [`plan::plan`] what to write, and executes it: at most one ConfigMap write and one
/// DaemonSet apply. Transient API errors (conflicts, 5xx, transport) are returned for a retry;
/// a refused apply becomes [`ApplyState::ApplyFailed`]. What is written when, including the
/// gate ([`gate`]), is [`plan`]'s business.
pub async fn sync_daemonset(
    client: &Client,
    images: &ImagePolicy,
    namespace: &str,
    name: &str,
    plugins: &[&FluentBitPlugin],
    release_unusable: bool,
) -> Result<Synced, Error> {
    let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), namespace);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let what = |verb: &str, kind: &str, n: &str| format!("{verb} {kind} {namespace}/{n}");

    // Observe.
    let ds = daemonsets
        .get_opt(name)
        .await
        .map_err(|e| Error::api(what("get", "DaemonSet", name), e))?;
    let source = ds.as_ref().and_then(plan::base_config_source);
    let mut base_text = None;
    if let Some(source) = source.as_ref() {
        let cm = configmaps
            .get_opt(&source.configmap)
            .await
            .map_err(|e| Error::api(what("get", "ConfigMap", &source.configmap), e))?;
        base_text = cm.and_then(|cm| cm.data?.remove(&source.key));
    }
    let cm_name = workload::configmap_name(name);
    let live_cm = match &ds {
        Some(_) => configmaps
            .get_opt(&cm_name)
            .await
            .map_err(|e| Error::api(what("get", "ConfigMap", &cm_name), e))?,
        None => None,
    };

    // Plan.
    let observed = Observed {
        namespace,
        name,
        daemonset: ds.as_ref().map_or(Target::Absent, Target::Present),
        base_config: base_text.as_deref(),
        configmap: live_cm.as_ref(),
        plugins,
        images: Some(images),
        release_unusable,
        offline: false,
    };
    let planned = plan::plan(&observed);
    let daemonset = planned.daemonset_write().cloned();
    let Plan {
        render,
        configmap,
        mut apply,
        ..
    } = planned;

    // Execute: ConfigMap apply, DaemonSet apply, then (only once the DaemonSet stopped
    // mounting it) the ConfigMap delete.
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut ds = ds;
    let mut failed = None;
    if let ConfigMapStep::Apply(intent) = &configmap {
        let result = configmaps
            .patch(&cm_name, &params, &Patch::Apply(intent))
            .await;
        failed = refused(result, what("apply", "ConfigMap", &cm_name))?.err();
    }
    if let (None, Some(intent)) = (&failed, &daemonset) {
        let result = daemonsets.patch(name, &params, &Patch::Apply(intent)).await;
        match refused(result, what("apply", "DaemonSet", name))? {
            Ok(updated) => ds = Some(updated),
            Err(e) => failed = Some(e),
        }
    }
    if let (None, ConfigMapStep::Delete { uid }) = (&failed, &configmap) {
        delete_configmap(&configmaps, namespace, &cm_name, uid.clone()).await?;
    }
    if let Some(e) = failed {
        apply = ApplyState::ApplyFailed(e);
    }
    let pods = match &ds {
        Some(ds) => pods_of(client, namespace, ds).await?,
        None => Vec::new(),
    };
    Ok(Synced {
        daemonset: ds,
        render,
        apply,
        pods,
    })
}

/// Deletes the operator's ConfigMap, with the observed uid as precondition.
async fn delete_configmap(
    configmaps: &Api<ConfigMap>,
    namespace: &str,
    name: &str,
    uid: Option<String>,
) -> Result<(), Error> {
    let params = DeleteParams {
        preconditions: uid.map(|uid| Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match configmaps.delete(name, &params).await {
        Ok(_) => Ok(()),
        // Gone already, or replaced by another object since it was read (409).
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(Error::api(
            format!("delete ConfigMap {namespace}/{name}"),
            e,
        )),
    }
}

async fn pods_of(client: &Client, namespace: &str, ds: &DaemonSet) -> Result<Vec<Pod>, Error> {
    let Some(selector) = ds.spec.as_ref().map(|s| s.selector.clone()) else {
        return Ok(Vec::new());
    };
    let selector = Selector::try_from(selector).map_err(|e| Error::Selector(e.to_string()))?;
    if selector.selects_all() {
        // An empty selector would list every pod of the namespace.
        return Ok(Vec::new());
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let name = ds.metadata.name.as_deref().unwrap_or_default();
    let pods = api
        .list(&ListParams::default().labels_from(&selector))
        .await
        .map_err(|e| Error::api(format!("list pods of DaemonSet {namespace}/{name}"), e))?;
    Ok(pods.items)
}

/// Splits an apply result: transient errors are returned for a retry; a refusal (4xx other
/// than 409 and 429) is the API server's message for the status.
fn refused<T>(result: Result<T, kube::Error>, action: String) -> Result<Result<T, String>, Error> {
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(kube::Error::Api(s))
            if (400..500).contains(&s.code) && ![409, 429].contains(&s.code) =>
        {
            Ok(Err(format!("{action}: {} ({})", s.message, s.code)))
        }
        Err(e) => Err(Error::api(action, e)),
    }
}
