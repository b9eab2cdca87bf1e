//! Reading `FluentBitPlugin`s the way a user does: conditions, `kubectl get fbp` columns, and
//! the example resources rewritten into a test's namespace.

use std::time::Duration;

use fbplugin_crds::FluentBitPlugin;
use fbplugin_crds::status::Condition;
use kube::{Api, Client};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::operator_bin::workspace_root;
use crate::wait::wait_for_object;

/// The condition `type_` of `plugin`'s status, if present.
pub fn condition<'a>(plugin: &'a FluentBitPlugin, type_: &str) -> Option<&'a Condition> {
    plugin
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// Waits until plugin `name` has condition `type_` with `status` (and `reason`, when given) for
/// its current generation, and returns it. On timeout: its YAML and Events.
pub async fn wait_for_plugin(
    api: &Api<FluentBitPlugin>,
    name: &str,
    type_: &str,
    status: &str,
    reason: Option<&str>,
    timeout: Duration,
) -> Result<FluentBitPlugin> {
    let expected = match reason {
        Some(reason) => format!("{type_}={status} ({reason})"),
        None => format!("{type_}={status}"),
    };
    wait_for_object(api, name, &expected, timeout, |p: &FluentBitPlugin| {
        let current =
            p.status.as_ref().and_then(|s| s.observed_generation) == p.metadata.generation;
        current
            && condition(p, type_)
                .is_some_and(|c| c.status == status && reason.is_none_or(|r| c.reason == r))
    })
    .await
}

/// An example's `deploy/fluentbitplugin.yaml` (`examples/<example>/deploy`), moved into
/// `namespace`, as JSON for server-side apply.
pub fn example_plugin(example: &str, namespace: &str) -> Result<Value> {
    let path = workspace_root()
        .join("examples")
        .join(example)
        .join("deploy/fluentbitplugin.yaml");
    let text =
        std::fs::read_to_string(&path).map_err(Error::io(format!("reading {}", path.display())))?;
    let mut value: Value = serde_norway::from_str(&text)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    value["metadata"]["namespace"] = Value::String(namespace.to_owned());
    Ok(value)
}

/// What `kubectl get fbp` prints for the namespace's plugins: the API server's Table rendering
/// of the CRD's printer columns (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), as
/// rows of `(column name, cell)` pairs, priority-1 columns included.
pub async fn printed_columns(
    client: &Client,
    namespace: &str,
) -> Result<Vec<Vec<(String, String)>>> {
    let request = http::Request::get(format!(
        "/apis/fbplugin.dev/v1alpha1/namespaces/{namespace}/fluentbitplugins?includeObject=None"
    ))
    .header(
        http::header::ACCEPT,
        "application/json;as=Table;g=meta.k8s.io;v=v1",
    )
    .body(Vec::new())
    .map_err(|e| Error::Invalid(format!("building the Table request: {e}")))?;
    let text = client
        .request_text(request)
        .await
        .map_err(Error::kube(format!(
            "listing fluentbitplugins in {namespace} as a Table"
        )))?;
    let table: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("the Table answer is not JSON: {e}: {text}")))?;
    let names: Vec<String> = table["columnDefinitions"]
        .as_array()
        .ok_or_else(|| Error::Invalid(format!("no columnDefinitions in {text}")))?
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    let rows = table["rows"].as_array().cloned().unwrap_or_default();
    Ok(rows
        .iter()
        .map(|row| {
            let cells = row["cells"].as_array().cloned().unwrap_or_default();
            names
                .iter()
                .zip(cells)
                .map(|(name, cell)| {
                    let cell = match cell {
                        Value::String(s) => s,
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (name.clone(), cell)
                })
                .collect()
        })
        .collect())
}
