//! One DaemonSet's plugins → the writes that make the DaemonSet carry them, and what the
//! DaemonSet and its pods say afterwards.

use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::core::Selector;
use kube::{Client, Resource};
use serde_json::Value;

use super::{Error, drift};
use crate::gate::{self, ImagePolicy};
use crate::render::{self, DaemonSetRender, render_daemonset_admitted};
use crate::status::ApplyState;
use crate::workload::{self, FIELD_MANAGER, Owner, TargetError};

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
    /// The ConfigMap holding the DaemonSet's own config, when found (for the watch mapper).
    pub base_configmap: Option<String>,
}

impl Synced {
    /// The rendered hash, when something was rendered.
    pub fn hash(&self) -> Option<&str> {
        self.render.rendered.as_ref().map(|r| r.hash.as_str())
    }
}

/// Plugins in `namespace` that target `daemonset` and are not being deleted, fresh from the
/// API (not from a cache) so two plugins created together both see each other.
pub async fn plugins_of(
    client: &Client,
    namespace: &str,
    daemonset: &str,
) -> Result<Vec<FluentBitPlugin>, Error> {
    let api: Api<FluentBitPlugin> = Api::namespaced(client.clone(), namespace);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::api(format!("list FluentBitPlugins in {namespace}"), e))?;
    let mut plugins: Vec<FluentBitPlugin> = list
        .items
        .into_iter()
        .filter(|p| p.spec.target.daemon_set == daemonset && p.meta().deletion_timestamp.is_none())
        .collect();
    plugins.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(plugins)
}

/// DaemonSets in `namespace`, other than the plugin's target, whose pod template carries the
/// plugin's init container.
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
    let init = workload::init_container_name(plugin);
    let target = plugin.spec.target.daemon_set.as_str();
    Ok(list
        .items
        .into_iter()
        .filter(|ds| ds.metadata.name.as_deref() != Some(target))
        .filter(|ds| {
            let pod = ds.spec.as_ref().and_then(|s| s.template.spec.as_ref());
            let inits = pod.and_then(|p| p.init_containers.as_ref());
            inits.is_some_and(|c| c.iter().any(|c| c.name == init))
        })
        .filter_map(|ds| ds.metadata.name)
        .collect())
}

/// Reads the DaemonSet and its base config, renders `plugins`, applies what changed and reads
/// the pods. Transient API errors (conflicts, 5xx, transport) are returned for a retry; a
/// refused apply becomes [`ApplyState::ApplyFailed`].
///
/// The gate comes first ([`gate`]): a DaemonSet whose owner has not opted in gets nothing
/// added ([`ApplyState::NotOptedIn`]; fields the operator added earlier are removed, so taking
/// the opt-in away takes the plugins out), and each plugin must pass [`gate::admit`] (allowed
/// image repository, the container, config path and pull secrets the owner listed). A
/// `<ds>-fbplugin` ConfigMap the operator did not create is never adopted or deleted
/// ([`ApplyState::ConfigMapNotOwned`]).
///
/// When the target cannot take plugins (container or base config missing), nothing is written
/// and the DaemonSet keeps its last render, unless `release_unusable` (a plugin is being
/// deleted): then the operator's fields are removed, so a deleted plugin never stays in the
/// template because its neighbours cannot be rendered.
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

    let Some(ds) = daemonsets
        .get_opt(name)
        .await
        .map_err(|e| Error::api(what("get", "DaemonSet", name), e))?
    else {
        return Ok(Synced {
            daemonset: None,
            render: render_daemonset_admitted("", plugins, |p| gate::admit(p, None, images)),
            apply: ApplyState::DaemonSetNotFound,
            pods: Vec::new(),
            base_configmap: None,
        });
    };

    let opt_in = gate::opt_in(&ds);
    let admit = |p: &FluentBitPlugin| gate::admit(p, opt_in.as_ref().ok(), images);
    let (base_configmap, base) = match &opt_in {
        Ok(opt_in) => base_config(&configmaps, &ds, opt_in, plugins).await?,
        Err(e) => (None, Err(ApplyState::NotOptedIn(e.to_string()))),
    };
    let (render, unusable) = match base {
        Ok(text) => {
            let base = render::BaseConfig {
                text: &text,
                hot_reload_flag: opt_in
                    .as_ref()
                    .ok()
                    .and_then(|o| workload::hot_reload_flag(&ds, &o.container)),
            };
            (render_daemonset_admitted(base, plugins, admit), None)
        }
        // Without the opt-in the operator's fields go whatever the reason of the sync.
        Err(state) if release_unusable || matches!(state, ApplyState::NotOptedIn(_)) => {
            let mut render = render_daemonset_admitted("", plugins, admit);
            render.rendered = None;
            (render, Some(state))
        }
        Err(state) => {
            let pods = pods_of(client, namespace, &ds).await?;
            return Ok(Synced {
                daemonset: Some(ds),
                render: render_daemonset_admitted("", plugins, admit),
                apply: state,
                pods,
                base_configmap,
            });
        }
    };
    let cm_name = workload::configmap_name(name);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let live_cm = configmaps
        .get_opt(&cm_name)
        .await
        .map_err(|e| Error::api(what("get", "ConfigMap", &cm_name), e))?;
    let foreign_cm = live_cm
        .as_ref()
        .filter(|cm| !workload::is_own_configmap(&cm.metadata, name))
        .map(|_| {
            format!(
                "ConfigMap {namespace}/{cm_name} exists but the operator did not create it (it                  lacks the labels {}={FIELD_MANAGER} and {}={name}): the operator neither                  adopts nor deletes it. Rename or remove that ConfigMap (its owner decides),                  then the plugins are applied",
                workload::MANAGED_BY_LABEL,
                workload::DAEMONSET_LABEL
            )
        });

    let mut apply = ApplyState::Applied;
    let mut ds = ds;
    let ds_intent = match (&render.rendered, &foreign_cm) {
        // The DaemonSet would mount a ConfigMap that is not the operator's: write nothing.
        (Some(_), Some(message)) => {
            apply = ApplyState::ConfigMapNotOwned(message.clone());
            None
        }
        (Some(rendered), None) => {
            let owner = Owner {
                name: name.to_string(),
                uid: ds.metadata.uid.clone().unwrap_or_default(),
            };
            let intent = workload::configmap_intent(name, namespace, Some(&owner), rendered);
            if !live_cm
                .as_ref()
                .is_some_and(|cm| drift::contains(&to_value(cm), &intent))
            {
                let result = configmaps
                    .patch(&cm_name, &params, &Patch::Apply(&intent))
                    .await;
                if let Err(e) = refused(result, what("apply", "ConfigMap", &cm_name))? {
                    apply = ApplyState::ApplyFailed(e);
                }
            }
            Some(workload::daemonset_intent(
                name,
                namespace,
                &render.included(plugins),
                &rendered.hash,
            ))
        }
        (None, _) => Some(workload::empty_daemonset_intent(name, namespace)),
    };
    if let Some(ds_intent) = ds_intent
        && apply == ApplyState::Applied
        && !drift::daemonset_current(&to_value(&ds), &ds_intent)
    {
        let result = daemonsets
            .patch(name, &params, &Patch::Apply(&ds_intent))
            .await;
        match refused(result, what("apply", "DaemonSet", name))? {
            Ok(updated) => ds = updated,
            Err(e) => apply = ApplyState::ApplyFailed(e),
        }
    }
    // The ConfigMap goes only after the DaemonSet stopped mounting it, and only when it is the
    // operator's own (the uid precondition: the very object that was checked).
    if render.rendered.is_none()
        && apply == ApplyState::Applied
        && foreign_cm.is_none()
        && let Some(cm) = &live_cm
    {
        let params = DeleteParams {
            preconditions: cm.metadata.uid.clone().map(|uid| Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match configmaps.delete(&cm_name, &params).await {
            Ok(_) => {}
            // Gone already, or replaced by another object since it was read (409).
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => return Err(Error::api(what("delete", "ConfigMap", &cm_name), e)),
        }
    }
    let pods = pods_of(client, namespace, &ds).await?;
    if let (ApplyState::Applied, Some(state)) = (&apply, unusable) {
        apply = state;
    }
    Ok(Synced {
        daemonset: Some(ds),
        render,
        apply,
        pods,
        base_configmap,
    })
}

type BaseConfig = (Option<String>, Result<String, ApplyState>);

/// The ConfigMap holding the base config (at the container and config path the DaemonSet's
/// owner named) and its text, or the ApplyState explaining why the text cannot be had.
async fn base_config(
    configmaps: &Api<ConfigMap>,
    ds: &DaemonSet,
    opt_in: &gate::OptIn,
    plugins: &[&FluentBitPlugin],
) -> Result<BaseConfig, Error> {
    if plugins.is_empty() {
        return Ok((None, Ok(String::new())));
    }
    let (container, config_path) = (opt_in.container.as_str(), opt_in.config_path.as_str());
    let source = match workload::base_config_source(ds, container, config_path) {
        Ok(source) => source,
        Err(e @ TargetError::ContainerNotFound { .. }) => {
            return Ok((None, Err(ApplyState::ContainerNotFound(e.to_string()))));
        }
        Err(e @ TargetError::ConfigNotFound { .. }) => {
            return Ok((None, Err(ApplyState::BaseConfigInvalid(e.to_string()))));
        }
    };
    let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
    let cm = configmaps
        .get_opt(&source.configmap)
        .await
        .map_err(|e| Error::api(format!("get ConfigMap {ns}/{}", source.configmap), e))?;
    let text = cm.and_then(|cm| cm.data?.remove(&source.key));
    let text = text.ok_or_else(|| {
        ApplyState::BaseConfigInvalid(format!(
            "the DaemonSet reads {config_path} from key {:?} of ConfigMap {}, which does not \
             exist; create it, or fix the DaemonSet's {} annotation",
            source.key,
            source.configmap,
            gate::CONFIG_PATH_ANNOTATION
        ))
    });
    Ok((Some(source.configmap), text))
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

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
