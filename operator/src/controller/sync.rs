//! The API calls of one DaemonSet reconcile: observe, execute a plan's writes, list the pods.

use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::core::Selector;

use super::Error;
use crate::plan::{self, ConfigMapStep, Plan};
use crate::status::ApplyState;
use crate::workload::{self, FIELD_MANAGER};

/// What was read about one DaemonSet before planning.
pub struct Observation {
    /// The DaemonSet (`None` when it does not exist).
    pub daemonset: Option<DaemonSet>,
    /// The text of its own config, when its ConfigMap key exists.
    pub base_config: Option<String>,
    /// The `<ds>-fbplugin` ConfigMap as it is now.
    pub configmap: Option<ConfigMap>,
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

/// Reads one DaemonSet, the ConfigMap key it reads its own config from, and the operator's
/// `<ds>-fbplugin` ConfigMap: everything [`plan::plan`] needs besides the plugins.
pub async fn observe(client: &Client, namespace: &str, name: &str) -> Result<Observation, Error> {
    let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), namespace);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let what = |kind: &str, n: &str| format!("get {kind} {namespace}/{n}");
    let ds = daemonsets
        .get_opt(name)
        .await
        .map_err(|e| Error::api(what("DaemonSet", name), e))?;
    let mut base_config = None;
    if let Some(source) = ds.as_ref().and_then(plan::base_config_source) {
        let cm = configmaps
            .get_opt(&source.configmap)
            .await
            .map_err(|e| Error::api(what("ConfigMap", &source.configmap), e))?;
        base_config = cm.and_then(|cm| cm.data?.remove(&source.key));
    }
    let cm_name = workload::configmap_name(name);
    let configmap = match &ds {
        Some(_) => configmaps
            .get_opt(&cm_name)
            .await
            .map_err(|e| Error::api(what("ConfigMap", &cm_name), e))?,
        None => None,
    };
    Ok(Observation {
        daemonset: ds,
        base_config,
        configmap,
    })
}

/// Executes a plan's writes: ConfigMap apply, DaemonSet apply, then (only once the DaemonSet
/// stopped mounting it) the ConfigMap delete. Returns the DaemonSet as the apply left it
/// (`ds` when nothing was applied) and the apply state: [`Plan::apply`], or
/// [`ApplyState::ApplyFailed`] with the server's answer to a refused write. Transient API
/// errors (conflicts, 5xx, transport) are returned for a retry.
pub async fn execute(
    client: &Client,
    namespace: &str,
    name: &str,
    planned: &Plan<'_>,
    ds: Option<DaemonSet>,
) -> Result<(Option<DaemonSet>, ApplyState), Error> {
    let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), namespace);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let what = |verb: &str, kind: &str, n: &str| format!("{verb} {kind} {namespace}/{n}");
    let cm_name = workload::configmap_name(name);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut ds = ds;
    let mut failed = None;
    if let ConfigMapStep::Apply(intent) = &planned.configmap {
        let result = configmaps
            .patch(&cm_name, &params, &Patch::Apply(intent))
            .await;
        failed = refused(result, what("apply", "ConfigMap", &cm_name))?.err();
    }
    if let (None, Some(intent)) = (&failed, planned.daemonset_write()) {
        let result = daemonsets.patch(name, &params, &Patch::Apply(intent)).await;
        match refused(result, what("apply", "DaemonSet", name))? {
            Ok(updated) => ds = Some(updated),
            Err(e) => failed = Some(e),
        }
    }
    if let (None, ConfigMapStep::Delete { uid }) = (&failed, &planned.configmap) {
        delete_configmap(&configmaps, namespace, &cm_name, uid.clone()).await?;
    }
    let apply = match failed {
        Some(e) => ApplyState::ApplyFailed(e),
        None => planned.apply.clone(),
    };
    Ok((ds, apply))
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

pub async fn pods_of(client: &Client, namespace: &str, ds: &DaemonSet) -> Result<Vec<Pod>, Error> {
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
