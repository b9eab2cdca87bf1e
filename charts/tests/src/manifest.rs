//! Rendered YAML → typed objects, with every unknown field an error.
//!
//! k8s-openapi's types skip fields they do not know (as the API server's non-strict decoding
//! did before 1.25), so a misspelled `runAsNonRot` would parse and do nothing. Deserializing
//! through [`serde_ignored`] reports each skipped field by its path.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One rendered object, in its type.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Object {
    /// apps/v1 Deployment.
    Deployment(Deployment),
    /// apps/v1 DaemonSet.
    DaemonSet(DaemonSet),
    /// v1 ServiceAccount.
    ServiceAccount(ServiceAccount),
    /// v1 ConfigMap.
    ConfigMap(ConfigMap),
    /// v1 Service.
    Service(Service),
    /// rbac.authorization.k8s.io/v1 ClusterRole.
    ClusterRole(ClusterRole),
    /// rbac.authorization.k8s.io/v1 ClusterRoleBinding.
    ClusterRoleBinding(ClusterRoleBinding),
    /// rbac.authorization.k8s.io/v1 Role.
    Role(Role),
    /// rbac.authorization.k8s.io/v1 RoleBinding.
    RoleBinding(RoleBinding),
    /// apiextensions.k8s.io/v1 CustomResourceDefinition.
    Crd(CustomResourceDefinition),
    /// monitoring.coreos.com/v1 ServiceMonitor (the fields this chart may set).
    ServiceMonitor(ServiceMonitor),
}

impl Object {
    /// `Kind/namespace/name`, for messages and lookups.
    pub fn key(&self) -> String {
        let (kind, meta) = match self {
            Object::Deployment(o) => ("Deployment", &o.metadata),
            Object::DaemonSet(o) => ("DaemonSet", &o.metadata),
            Object::ServiceAccount(o) => ("ServiceAccount", &o.metadata),
            Object::ConfigMap(o) => ("ConfigMap", &o.metadata),
            Object::Service(o) => ("Service", &o.metadata),
            Object::ClusterRole(o) => ("ClusterRole", &o.metadata),
            Object::ClusterRoleBinding(o) => ("ClusterRoleBinding", &o.metadata),
            Object::Role(o) => ("Role", &o.metadata),
            Object::RoleBinding(o) => ("RoleBinding", &o.metadata),
            Object::Crd(o) => ("CustomResourceDefinition", &o.metadata),
            Object::ServiceMonitor(o) => ("ServiceMonitor", &o.metadata),
        };
        format!(
            "{kind}/{}/{}",
            meta.namespace.as_deref().unwrap_or(""),
            meta.name.as_deref().unwrap_or("")
        )
    }
}

/// A Prometheus Operator ServiceMonitor, limited to the fields of its v1 API this chart uses;
/// anything else is an error.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceMonitor {
    /// Must be `monitoring.coreos.com/v1`.
    pub api_version: String,
    /// Must be `ServiceMonitor`.
    pub kind: String,
    /// Object metadata.
    pub metadata: ObjectMeta,
    /// The spec.
    pub spec: ServiceMonitorSpec,
}

/// `spec` of a [`ServiceMonitor`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    /// Selects the Services to scrape.
    pub selector: LabelSelector,
    /// Where those Services are.
    pub namespace_selector: Option<NamespaceSelector>,
    /// How to scrape them.
    pub endpoints: Vec<Endpoint>,
}

/// `spec.namespaceSelector` of a [`ServiceMonitor`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// Namespaces by name.
    pub match_names: Vec<String>,
}

/// One `spec.endpoints[]` item of a [`ServiceMonitor`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Endpoint {
    /// The Service port's name.
    pub port: String,
    /// HTTP path.
    pub path: Option<String>,
    /// Scrape interval.
    pub interval: Option<String>,
    /// Scrape timeout.
    pub scrape_timeout: Option<String>,
    /// Relabelings of the scraped samples (Prometheus `metric_relabel_configs`).
    pub metric_relabelings: Option<Vec<Value>>,
    /// Relabelings of the target (Prometheus `relabel_configs`).
    pub relabelings: Option<Vec<Value>>,
}

/// Deserializes `value` into `T`, failing with the path of every field `T` does not know.
pub fn strict<T: DeserializeOwned>(value: Value, what: &str) -> Result<T, String> {
    let mut unknown = Vec::new();
    let parsed: Result<T, _> = serde_ignored::deserialize(value, |path| {
        // Option layers show as `?` segments; leave them out of the path.
        unknown.push(path.to_string().replace(".?", ""));
    });
    let parsed = parsed.map_err(|e| format!("{what}: {e}"))?;
    if unknown.is_empty() {
        Ok(parsed)
    } else {
        Err(format!("{what}: unknown fields {unknown:?}"))
    }
}

/// Parses a multi-document YAML stream (as `helm template` prints it) into typed objects.
/// Empty documents are skipped; an unknown apiVersion/kind is an error.
pub fn parse(yaml: &str) -> Result<Vec<Object>, String> {
    let mut objects = Vec::new();
    for (i, document) in serde_norway::Deserializer::from_str(yaml).enumerate() {
        let value = Value::deserialize(document).map_err(|e| format!("document {i}: {e}"))?;
        if value.is_null() {
            continue;
        }
        let api_version = value["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        let name = value["metadata"]["name"].as_str().unwrap_or_default();
        let what = format!("document {i} ({api_version} {kind} {name})");
        let object = match (api_version.as_str(), kind.as_str()) {
            ("apps/v1", "Deployment") => Object::Deployment(strict(value, &what)?),
            ("apps/v1", "DaemonSet") => Object::DaemonSet(strict(value, &what)?),
            ("v1", "ServiceAccount") => Object::ServiceAccount(strict(value, &what)?),
            ("v1", "ConfigMap") => Object::ConfigMap(strict(value, &what)?),
            ("v1", "Service") => Object::Service(strict(value, &what)?),
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
                Object::ClusterRole(strict(value, &what)?)
            }
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                Object::ClusterRoleBinding(strict(value, &what)?)
            }
            ("rbac.authorization.k8s.io/v1", "Role") => Object::Role(strict(value, &what)?),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
                Object::RoleBinding(strict(value, &what)?)
            }
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
                Object::Crd(strict(value, &what)?)
            }
            ("monitoring.coreos.com/v1", "ServiceMonitor") => {
                Object::ServiceMonitor(strict(value, &what)?)
            }
            _ => {
                return Err(format!(
                    "{what}: no type known for this apiVersion and kind"
                ));
            }
        };
        objects.push(object);
    }
    Ok(objects)
}
