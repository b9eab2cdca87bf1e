//! The CRD on a current Kubernetes: the exact file the chart ships is created on the 1.36 CRD
//! server (read the way kubectl and Helm read it) and becomes Established; the published OpenAPI
//! gives every field a type and a description; the example resources are accepted.

use e2e::{CrdServer, Verdict};
use serde_json::Value;

const CHART_CRD: &str = "charts/fbplugin-operator/crds/fluentbitplugins.fbplugin.dev.yaml";

fn read(relative: &str) -> String {
    let path = e2e::workspace_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

async fn server_with_crd() -> Result<CrdServer, e2e::Error> {
    let server = CrdServer::start().await?;
    let docs = server.decode_like_kubectl(&read(CHART_CRD))?;
    assert_eq!(docs.len(), 1, "{CHART_CRD} holds one document");
    server.create_crd(&docs[0]).await?;
    Ok(server)
}

#[tokio::test]
async fn the_charts_crd_is_established_on_kubernetes_1_36() -> Result<(), e2e::Error> {
    let server = server_with_crd().await?;
    let (server_kib, etcd_kib) = server.rss_kib();
    eprintln!(
        "{} started in {:?}; CRD Established; RSS: server {} MiB, etcd {} MiB",
        server.version(),
        server.startup(),
        server_kib / 1024,
        etcd_kib / 1024
    );
    assert!(
        server.version().contains("v1.36."),
        "the CRD server must be Kubernetes 1.36, is {}",
        server.version()
    );
    Ok(())
}

/// kubectl and Helm read YAML 1.1: an unquoted `off` would reach the server as `false`. The
/// committed file, read their way, is exactly the CRD the types generate, and `logLevel: 'off'`
/// is accepted.
#[tokio::test]
async fn kubectl_reads_the_committed_file_as_the_types_define_it() -> Result<(), e2e::Error> {
    let server = server_with_crd().await?;
    let read = server.decode_like_kubectl(&read(CHART_CRD))?;
    let generated = serde_json::to_value(fbplugin_crds::crd())
        .map_err(|e| e2e::Error::Invalid(e.to_string()))?;
    if let Some(at) = first_difference(&read[0], &generated, String::new()) {
        panic!("{CHART_CRD} read as kubectl reads it differs from fbplugin_crds::crd() at {at}");
    }
    let cr = server.decode_like_kubectl(
        "apiVersion: fbplugin.dev/v1alpha1\nkind: FluentBitPlugin\nmetadata: {name: quiet, namespace: logging}\n\
         spec:\n  type: output\n  pluginName: quiet\n  artifact:\n    image: ghcr.io/x/quiet@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n\
         \x20   path: /plugins/libquiet.so\n  instances:\n    - match: '*'\n      logLevel: 'off'\n  target: {daemonSet: fluent-bit}\n",
    )?;
    let verdict = server.dry_run_create(&collection(&cr[0]), &cr[0]).await?;
    assert_eq!(verdict, Verdict::Accepted, "logLevel: 'off'");
    Ok(())
}

/// Where two JSON values differ; numbers compare by value (YAML writes `64.0` for a float 64).
fn first_difference(a: &Value, b: &Value, at: String) -> Option<String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                first_difference(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    format!("{at}/{k}"),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, format!("{at}/{i}"))),
        _ if a == b => None,
        _ => Some(format!("{at}: {a} != {b}")),
    }
}

#[tokio::test]
async fn every_example_resource_is_accepted_as_kubectl_sends_it() -> Result<(), e2e::Error> {
    let server = server_with_crd().await?;
    let root = e2e::workspace_root();
    let mut checked = 0;
    for example in
        std::fs::read_dir(root.join("examples")).map_err(|e| e2e::Error::Invalid(e.to_string()))?
    {
        let deploy = example
            .map_err(|e| e2e::Error::Invalid(e.to_string()))?
            .path()
            .join("deploy");
        let Ok(files) = std::fs::read_dir(&deploy) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text =
                std::fs::read_to_string(&path).map_err(|e| e2e::Error::Invalid(e.to_string()))?;
            for doc in server.decode_like_kubectl(&text)? {
                if doc["kind"] != "FluentBitPlugin" {
                    continue;
                }
                let verdict = server.dry_run_create(&collection(&doc), &doc).await?;
                assert_eq!(verdict, Verdict::Accepted, "{}", path.display());
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 3,
        "expected the example FluentBitPlugins, found {checked}"
    );
    Ok(())
}

fn collection(doc: &Value) -> String {
    let ns = doc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    format!("/apis/fbplugin.dev/v1alpha1/namespaces/{ns}/fluentbitplugins")
}

/// What `kubectl explain fluentbitplugin.spec...` shows is built from the schema the server
/// stores for the CRD: every field has a type and a description, and none is `nullable`, because
/// the OpenAPI v2 a cluster publishes for CRDs drops the type of a nullable field (explain then
/// shows `<>`). The standalone CRD server does not publish `/openapi/v2` or the group's
/// `/openapi/v3` itself (kube-apiserver does), so the test reads the stored schema back.
#[tokio::test]
async fn every_field_has_a_type_and_a_description_for_kubectl_explain() -> Result<(), e2e::Error> {
    let server = server_with_crd().await?;
    let crd = server
        .get_json(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/fluentbitplugins.fbplugin.dev",
        )
        .await?;
    let root = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut missing = Vec::new();
    for field in ["spec", "status"] {
        walk(&root["properties"][field], field, &mut missing);
    }
    assert!(
        missing.is_empty(),
        "fields kubectl explain shows without a type or description:\n{}",
        missing.join("\n")
    );
    Ok(())
}

fn walk(schema: &Value, path: &str, missing: &mut Vec<String>) {
    let typed = schema.get("type").is_some() || schema.get("x-kubernetes-int-or-string").is_some();
    let described = schema["description"]
        .as_str()
        .is_some_and(|d| !d.is_empty());
    let nullable = schema["nullable"].as_bool() == Some(true);
    if !typed || !described || nullable {
        missing.push(format!(
            "{path}: type {}, description {}, nullable {nullable}",
            schema["type"], schema["description"]
        ));
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            walk(child, &format!("{path}.{name}"), missing);
        }
    }
    if let Some(items) = schema.get("items") {
        walk(items, &format!("{path}[]"), missing);
    }
}
