//! The Helm chart into a real API server: every object `helm template` renders (CRD included,
//! with its CEL rules stripped for 1.20) is accepted by server-side apply, for the default
//! values and the non-default sets CI lints.

use std::time::Duration;

use e2e::{HELM_MANAGER, Result, apply_values, chart_objects, install_crd, wait_for_object};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use kube::Api;
use serde_json::Value;

/// Applies the chart rendered with `sets` into a fresh namespace; returns the kinds applied.
async fn install(cluster: &e2e::Cluster, prefix: &str, sets: &[&str]) -> Result<Vec<String>> {
    let namespace = cluster.create_namespace(prefix).await?;
    let sets: Vec<String> = sets.iter().map(|s| s.replace("{ns}", &namespace)).collect();
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let objects = chart_objects(&namespace, &sets)?;
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .and_then(|d| d["metadata"]["name"].as_str())
        .unwrap_or_default()
        .to_owned();
    let refs: Vec<&Value> = objects.iter().collect();
    let stored = apply_values(&cluster.client(), &refs, HELM_MANAGER, &namespace).await?;
    assert_eq!(
        stored.len(),
        objects.len(),
        "every rendered object was stored"
    );
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), &namespace);
    wait_for_object(
        &deployments,
        &deployment,
        "the operator Deployment as rendered",
        Duration::from_secs(10),
        |d: &Deployment| d.spec.is_some(),
    )
    .await?;
    Ok(objects
        .iter()
        .filter_map(|o| o["kind"].as_str().map(str::to_owned))
        .collect())
}

#[tokio::test]
async fn every_object_the_chart_renders_is_accepted() -> Result<()> {
    let cluster = e2e::cluster_or_skip!();
    install_crd(&cluster.client()).await?;

    // Default: namespace-scoped (Role + RoleBinding), plus the plugin author/viewer
    // ClusterRoles.
    let kinds = install(&cluster, "chart-default", &[]).await?;
    for kind in [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "Deployment",
        "Service",
        "ConfigMap",
        "DaemonSet",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let daemonsets: Api<DaemonSet> = Api::all(cluster.client());
    let listed = daemonsets.list(&Default::default()).await;
    assert!(
        listed.is_ok_and(|l| !l.items.is_empty()),
        "the prepared Fluent Bit DaemonSet was created"
    );

    let kinds = install(
        &cluster,
        "chart-scoped",
        &[
            "watchNamespace={ns}",
            "leaderElection.enabled=true",
            "replicaCount=2",
        ],
    )
    .await?;
    assert!(kinds.iter().any(|k| k == "Role") && !kinds.iter().any(|k| k == "ClusterRoleBinding"));

    let kinds = install(
        &cluster,
        "chart-cluster",
        &[
            "clusterWide=true",
            "allowedImageRepositories={ghcr.io/fbplugin/}",
            "rbac.aggregateToDefaultRoles=true",
        ],
    )
    .await?;
    assert!(kinds.iter().any(|k| k == "ClusterRoleBinding"), "{kinds:?}");

    // The Fluent Bit values named as in the official fluent-bit chart: the kubernetes
    // filter's ClusterRole (kubelet mode too), env, an extra volume, Lua scripts.
    let kinds = install(
        &cluster,
        "chart-fluent-bit",
        &[
            "nameOverride=operator",
            "fluentBit.rbac.create=true",
            "fluentBit.rbac.nodeAccess=true",
            "fluentBit.env[0].name=ES_HOST",
            "fluentBit.env[0].value=elasticsearch",
            "fluentBit.extraVolumes[0].name=scratch",
            "fluentBit.extraVolumes[0].emptyDir.medium=Memory",
            "fluentBit.extraVolumeMounts[0].name=scratch",
            "fluentBit.extraVolumeMounts[0].mountPath=/scratch",
            "fluentBit.luaScripts.noop\\.lua=return 0",
            "fluentBit.updateStrategy.type=OnDelete",
            "fluentBit.tolerations[0].operator=Exists",
        ],
    )
    .await?;
    assert!(
        kinds.iter().filter(|k| *k == "ClusterRoleBinding").count() == 1
            && kinds.iter().filter(|k| *k == "ConfigMap").count() == 2,
        "the kubernetes filter's binding and the Lua scripts' ConfigMap: {kinds:?}"
    );

    install(
        &cluster,
        "chart-bare",
        &["fluentBit.enabled=false", "logFormat=json"],
    )
    .await?;
    Ok(())
}
