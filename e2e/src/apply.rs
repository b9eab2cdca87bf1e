//! Server-side apply of YAML documents (for example `helm template` output) as a chosen field
//! manager.

use std::time::Duration;

use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope, pinned_kind};
use kube::{Api, Client, ResourceExt};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::wait::wait_for;

/// Server-side applies every document of `yaml` (separated by `---`; empty documents are
/// skipped) with field manager `field_manager`, forcing conflicts, in order. Namespaced objects
/// without a namespace go to `default_namespace`. After a CustomResourceDefinition the harness
/// waits until it is Established, so a later document may be one of its resources. Returns the
/// objects as the server stored them.
pub async fn apply_yaml(
    client: &Client,
    yaml: &str,
    field_manager: &str,
    default_namespace: &str,
) -> Result<Vec<DynamicObject>> {
    let mut applied = Vec::new();
    for (index, document) in serde_norway::Deserializer::from_str(yaml).enumerate() {
        let value = serde_json::Value::deserialize(document).map_err(|e| {
            Error::Invalid(format!("YAML document {} is not valid: {e}", index + 1))
        })?;
        if value.is_null() {
            continue;
        }
        let object: DynamicObject = serde_json::from_value(value).map_err(|e| {
            Error::Invalid(format!(
                "YAML document {} is not a Kubernetes object: {e}",
                index + 1
            ))
        })?;
        applied.push(apply_object(client, &object, field_manager, default_namespace).await?);
    }
    Ok(applied)
}

/// Server-side applies one object (its `apiVersion` and `kind` must be set) as `field_manager`.
pub async fn apply_object(
    client: &Client,
    object: &DynamicObject,
    field_manager: &str,
    default_namespace: &str,
) -> Result<DynamicObject> {
    let types = object.types.as_ref().ok_or_else(|| {
        Error::Invalid(format!(
            "object {} has no apiVersion/kind",
            object.name_any()
        ))
    })?;
    let gvk = GroupVersionKind::try_from(types)
        .map_err(|e| Error::Invalid(format!("object {}: {e}", object.name_any())))?;
    let name = object.name_any();
    let (resource, capabilities) = resolve(client, &gvk).await?;
    let api: Api<DynamicObject> = match capabilities.scope {
        Scope::Namespaced => {
            let namespace = object
                .namespace()
                .unwrap_or_else(|| default_namespace.to_owned());
            Api::namespaced_with(client.clone(), &namespace, &resource)
        }
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    let stored = api
        .patch(
            &name,
            &PatchParams::apply(field_manager).force(),
            &Patch::Apply(object),
        )
        .await
        .map_err(Error::kube(format!(
            "server-side applying {} {name} as {field_manager}",
            gvk.kind
        )))?;
    if gvk.group == "apiextensions.k8s.io" && gvk.kind == "CustomResourceDefinition" {
        wait_established(&api, &name).await?;
    }
    Ok(stored)
}

/// Resolves a kind through discovery, retrying briefly: a CRD applied just before may not be
/// served yet.
async fn resolve(
    client: &Client,
    gvk: &GroupVersionKind,
) -> Result<(ApiResource, ApiCapabilities)> {
    wait_for(
        &format!(
            "the API server to serve {}/{} {}",
            gvk.group, gvk.version, gvk.kind
        ),
        Duration::from_secs(20),
        Duration::from_millis(250),
        || async {
            match pinned_kind(client, gvk).await {
                Ok(found) => Ok(Ok(found)),
                Err(e) => Ok(Err(format!("discovery: {e}"))),
            }
        },
    )
    .await
}

async fn wait_established(api: &Api<DynamicObject>, name: &str) -> Result<()> {
    wait_for(
        &format!("CustomResourceDefinition {name} to be Established"),
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let crd = api
                .get(name)
                .await
                .map_err(Error::kube(format!("reading CRD {name}")))?;
            let established = crd.data["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Established" && c["status"] == "True")
                });
            Ok(if established {
                Ok(())
            } else {
                Err(crate::wait::observed_yaml(&Some(&crd)))
            })
        },
    )
    .await
}

/// Removes every `x-kubernetes-validations` (CEL rules) from a CustomResourceDefinition, for
/// servers older than 1.25: 1.20 rejects them in server-side apply (`field not declared in
/// schema`). The operator's own validation must then catch what the rules would have.
pub fn strip_cel_rules(crd: &mut serde_json::Value) {
    match crd {
        serde_json::Value::Object(map) => {
            map.remove("x-kubernetes-validations");
            map.values_mut().for_each(strip_cel_rules);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_cel_rules),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn cel_rules_are_removed_at_every_depth_and_nothing_else() {
        let mut crd = json!({ "spec": { "versions": [{ "schema": { "openAPIV3Schema": {
            "x-kubernetes-validations": [{ "rule": "self.a == 1" }],
            "properties": { "spec": {
                "type": "object",
                "x-kubernetes-validations": [{ "rule": "has(self.b)" }],
                "properties": { "b": { "type": "string" } },
            }},
        }}}]}});
        super::strip_cel_rules(&mut crd);
        assert_eq!(
            crd,
            json!({ "spec": { "versions": [{ "schema": { "openAPIV3Schema": {
                "properties": { "spec": { "type": "object", "properties": { "b": { "type": "string" } } } },
            }}}]}})
        );
    }
}
