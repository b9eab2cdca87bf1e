//! Proves the harness on the local control plane: a DaemonSet rolls under the kubelet player,
//! server-side apply by a second manager is reversible, ServiceAccount clients are bound by RBAC,
//! and teardown leaves nothing behind.

use std::time::Duration;

use e2e::{Cluster, Error, PodState, Result, apply_yaml, wait_for_object};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

const ROLLOUT: Duration = Duration::from_secs(90);
const HELM: &str = "helm";
const OPERATOR: &str = "fbplugin-e2e-operator";

/// A DaemonSet as a chart would create it (field manager `helm`).
async fn create_fluent_bit(cluster: &Cluster, namespace: &str) -> Result<DaemonSet> {
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": { "name": "fluent-bit", "labels": { "app": "fluent-bit" } },
        "spec": {
            "selector": { "matchLabels": { "app": "fluent-bit" } },
            "template": {
                "metadata": { "labels": { "app": "fluent-bit" } },
                "spec": {
                    "containers": [{
                        "name": "fluent-bit",
                        "image": "fluent/fluent-bit:5.1.1",
                        "volumeMounts": [{ "name": "config", "mountPath": "/fluent-bit/etc" }],
                    }],
                    "volumes": [{ "name": "config", "configMap": { "name": "fluent-bit" } }],
                },
            },
        },
    }))
    .map_err(|e| Error::Invalid(e.to_string()))?;
    let params = PostParams {
        field_manager: Some(HELM.into()),
        ..PostParams::default()
    };
    Api::namespaced(cluster.client(), namespace)
        .create(&params, &ds)
        .await
        .map_err(|e| Error::Invalid(format!("creating the DaemonSet: {e}")))
}

/// The operator-like apply intent: an init container, a volume, a mount and an annotation.
fn plugin_intent(namespace: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": { "name": "fluent-bit", "namespace": namespace },
        "spec": { "template": {
            "metadata": { "annotations": { "fbplugin.io/checksum": "sha256-0123" } },
            "spec": {
                "initContainers": [{
                    "name": "plugin-out-jsonl", "image": "example/out-jsonl:1",
                    "volumeMounts": [{ "name": "fbplugin-plugins", "mountPath": "/plugins" }],
                }],
                "containers": [{
                    "name": "fluent-bit",
                    "volumeMounts": [{ "name": "fbplugin-plugins", "mountPath": "/fluent-bit/plugins" }],
                }],
                "volumes": [{ "name": "fbplugin-plugins", "emptyDir": {} }],
            },
        }},
    })
}

fn managers(ds: &DaemonSet) -> Vec<(String, String, Value)> {
    ds.managed_fields()
        .iter()
        .map(|m| {
            let fields = serde_json::to_value(&m.fields_v1).unwrap_or(Value::Null);
            (
                m.manager.clone().unwrap_or_default(),
                m.operation.clone().unwrap_or_default(),
                fields,
            )
        })
        .collect()
}

fn template_spec(ds: &DaemonSet) -> Value {
    serde_json::to_value(ds.spec.as_ref().map(|s| &s.template)).unwrap_or(Value::Null)
}

#[tokio::test]
async fn daemonset_rolls_and_a_second_managers_apply_is_reversible() -> Result<()> {
    let cluster = e2e::cluster_or_skip!();
    eprintln!("cluster ready in {:?}", cluster.startup_time());
    let ns = cluster.create_namespace("rollout").await?;
    cluster.create_ready_node("node-a").await?;
    create_fluent_bit(&cluster, &ns).await?;
    let player = cluster.kubelet(&ns, "fluent-bit");

    let status = player
        .play_until_rolled_out(ROLLOUT)
        .await
        .map_err(|e| cluster.with_logs(e))?;
    assert_eq!(
        (
            status.desired_number_scheduled,
            status.updated_number_scheduled,
            status.number_ready
        ),
        (1, Some(1), 1)
    );
    let api: Api<DaemonSet> = Api::namespaced(cluster.client(), &ns);
    let before = api
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let first_pod = player.pods().await?.remove(0).name_any();

    // A second field manager adds its fields; the controller rolls the pod.
    let intent =
        serde_norway::to_string(&plugin_intent(&ns)).map_err(|e| Error::Invalid(e.to_string()))?;
    apply_yaml(&cluster.client(), &intent, OPERATOR, &ns).await?;
    player
        .play_until_rolled_out(ROLLOUT)
        .await
        .map_err(|e| cluster.with_logs(e))?;
    let pods = player.pods().await?;
    assert_eq!(pods.len(), 1, "one node, one pod");
    assert_ne!(pods[0].name_any(), first_pod, "the old pod was replaced");
    let init: Vec<String> = pods[0]
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(
        init,
        ["plugin-out-jsonl"],
        "the new pod runs the applied init container"
    );
    let with_plugin = api
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let spec = template_spec(&with_plugin);
    assert_eq!(
        spec["spec"]["containers"][0]["image"], "fluent/fluent-bit:5.1.1",
        "helm's image untouched"
    );
    assert_eq!(
        spec["spec"]["containers"][0]["volumeMounts"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        spec["metadata"]["annotations"]["fbplugin.io/checksum"],
        "sha256-0123"
    );
    let owners: Vec<(String, String)> = managers(&with_plugin)
        .into_iter()
        .map(|(m, op, _)| (m, op))
        .collect();
    assert!(
        owners.contains(&(OPERATOR.into(), "Apply".into())),
        "managers: {owners:?}"
    );

    // The same manager applying an empty intent gives up exactly its fields.
    let empty = format!(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: fluent-bit\n  namespace: {ns}\n"
    );
    apply_yaml(&cluster.client(), &empty, OPERATOR, &ns).await?;
    player
        .play_until_rolled_out(ROLLOUT)
        .await
        .map_err(|e| cluster.with_logs(e))?;
    let after = api
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let mut restored = template_spec(&after);
    // Removing the only annotation may leave an empty map behind; that is the same template.
    if restored["metadata"]["annotations"] == json!({})
        && let Some(meta) = restored["metadata"].as_object_mut()
    {
        meta.remove("annotations");
    }
    assert_eq!(
        restored,
        template_spec(&before),
        "the pod template is back to what helm created"
    );
    let helm_fields = |ds: &DaemonSet| {
        managers(ds)
            .into_iter()
            .filter(|(m, _, _)| m == HELM)
            .map(|(_, _, f)| f)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        helm_fields(&after),
        helm_fields(&before),
        "helm's managed fields are unchanged"
    );
    assert!(
        managers(&after)
            .iter()
            .all(|(m, _, f)| m != OPERATOR || f == &json!({}) || f.is_null()),
        "the operator manages nothing any more: {:?}",
        managers(&after)
    );
    let init_after: usize = player
        .pods()
        .await?
        .iter()
        .filter_map(|p| p.spec.as_ref()?.init_containers.as_ref().map(Vec::len))
        .sum();
    assert_eq!(init_after, 0, "the rolled pod has no init container");
    Ok(())
}

fn waiting_reason(pod: &Pod) -> Option<String> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses
        .first()?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

#[tokio::test]
async fn kubelet_player_writes_failure_states_the_controller_counts() -> Result<()> {
    let cluster = e2e::cluster_or_skip!();
    let ns = cluster.create_namespace("states").await?;
    cluster.create_ready_node("node-a").await?;
    cluster.create_ready_node("node-b").await?;
    create_fluent_bit(&cluster, &ns).await?;
    let intent =
        serde_norway::to_string(&plugin_intent(&ns)).map_err(|e| Error::Invalid(e.to_string()))?;
    apply_yaml(&cluster.client(), &intent, OPERATOR, &ns).await?;
    let player = cluster.kubelet(&ns, "fluent-bit");
    let status = player
        .play_until_rolled_out(ROLLOUT)
        .await
        .map_err(|e| cluster.with_logs(e))?;
    assert_eq!(
        (status.desired_number_scheduled, status.number_ready),
        (2, 2)
    );

    let api: Api<DaemonSet> = Api::namespaced(cluster.client(), &ns);
    let pods = player.pods().await?;
    let (crashing, pulling) = (pods[0].name_any(), pods[1].name_any());
    let crash = PodState::Waiting {
        reason: "CrashLoopBackOff".into(),
        message: "back-off 5m0s restarting failed container".into(),
    };
    let pull = PodState::Waiting {
        reason: "ImagePullBackOff".into(),
        message: "Back-off pulling image".into(),
    };
    assert_eq!(
        waiting_reason(&player.set_pod(&crashing, &crash).await?).as_deref(),
        Some("CrashLoopBackOff")
    );
    assert_eq!(
        waiting_reason(&player.set_pod(&pulling, &pull).await?).as_deref(),
        Some("ImagePullBackOff")
    );
    wait_for_object(
        &api,
        "fluent-bit",
        "numberReady = 0 after both pods fail",
        ROLLOUT,
        |ds| {
            ds.status
                .as_ref()
                .is_some_and(|s| s.number_ready == 0 && s.number_unavailable == Some(2))
        },
    )
    .await
    .map_err(|e| cluster.with_logs(e))?;

    let failed_init = PodState::InitContainerFailed {
        name: "plugin-out-jsonl".into(),
        exit_code: 3,
        reason: "Error".into(),
        message: String::new(),
    };
    let pod = player.set_pod(&crashing, &failed_init).await?;
    let init = pod
        .status
        .as_ref()
        .and_then(|s| s.init_container_statuses.as_ref())
        .and_then(|s| s.first().cloned());
    let terminated = init.and_then(|s| s.state).and_then(|s| s.terminated);
    assert_eq!(
        terminated.map(|t| (t.exit_code, t.reason)),
        Some((3, Some("Error".into())))
    );
    assert_eq!(pod.status.and_then(|s| s.phase).as_deref(), Some("Pending"));

    assert_eq!(player.set_all(&PodState::NotReady).await?, 2);
    assert_eq!(player.set_all(&PodState::Ready).await?, 2);
    wait_for_object(&api, "fluent-bit", "numberReady = 2 again", ROLLOUT, |ds| {
        ds.status.as_ref().is_some_and(|s| s.number_ready == 2)
    })
    .await
    .map_err(|e| cluster.with_logs(e))?;

    // A timeout says what was expected and shows the object.
    let timeout = wait_for_object(
        &api,
        "fluent-bit",
        "numberReady = 7",
        Duration::from_millis(300),
        |ds| ds.status.as_ref().is_some_and(|s| s.number_ready == 7),
    )
    .await
    .expect_err("seven ready pods on two nodes cannot happen");
    let message = timeout.to_string();
    assert!(
        message.contains("DaemonSet fluent-bit: numberReady = 7"),
        "{message}"
    );
    assert!(
        message.contains("numberReady: 2") && message.contains("image: fluent/fluent-bit:5.1.1"),
        "{message}"
    );
    assert!(
        message.contains("Events:") && message.contains("SuccessfulCreate"),
        "{message}"
    );
    Ok(())
}

const LIMITED_ACCOUNT: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata:
  name: reader
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: daemonset-reader
rules:
- apiGroups: ["apps"]
  resources: ["daemonsets"]
  verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: daemonset-reader
subjects:
- kind: ServiceAccount
  name: reader
"#;

#[tokio::test]
async fn service_account_client_gets_only_what_its_role_grants() -> Result<()> {
    let cluster = e2e::cluster_or_skip!();
    let ns = cluster.create_namespace("rbac").await?;
    create_fluent_bit(&cluster, &ns).await?;
    let applied = apply_yaml(&cluster.client(), LIMITED_ACCOUNT, HELM, &ns).await?;
    let kinds: Vec<String> = applied
        .iter()
        .filter_map(|o| o.types.as_ref().map(|t| t.kind.clone()))
        .collect();
    assert_eq!(kinds, ["ServiceAccount", "Role", "RoleBinding"]);

    let reader = cluster.client_for_service_account(&ns, "reader").await?;
    let as_reader: Api<DaemonSet> = Api::namespaced(reader, &ns);
    let ds = as_reader
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(format!("get should be allowed: {e}")))?;
    assert_eq!(ds.name_any(), "fluent-bit");
    match as_reader
        .delete("fluent-bit", &DeleteParams::default())
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(
                status
                    .message
                    .contains(&format!("system:serviceaccount:{ns}:reader")),
                "{}",
                status.message
            );
        }
        other => panic!("delete must be forbidden for the reader, got {other:?}"),
    }
    let patch = json!({ "metadata": { "labels": { "touched": "yes" } } });
    let refused = as_reader
        .patch("fluent-bit", &PatchParams::default(), &Patch::Merge(&patch))
        .await;
    assert!(
        matches!(refused, Err(kube::Error::Api(ref s)) if s.code == 403),
        "{refused:?}"
    );
    // The admin can: the refusal came from RBAC, not from the object.
    Api::<DaemonSet>::namespaced(cluster.client(), &ns)
        .delete("fluent-bit", &DeleteParams::default())
        .await
        .map_err(|e| Error::Invalid(format!("admin delete: {e}")))?;
    Ok(())
}

#[tokio::test]
async fn external_mode_uses_the_given_kubeconfig_and_does_not_play_the_kubelet() -> Result<()> {
    let local = e2e::cluster_or_skip!();
    let external = Cluster::connect(local.kubeconfig().to_owned()).await?;
    assert!(!external.plays_kubelet());
    assert!(external.component_pids().is_empty());
    assert!(matches!(
        external.create_ready_node("n").await,
        Err(Error::NotPlayingKubelet(_))
    ));
    let ns = external.create_namespace("ext").await?;
    let namespaces: Api<Namespace> = Api::all(local.client());
    assert!(
        namespaces
            .get_opt(&ns)
            .await
            .map_err(|e| Error::Invalid(e.to_string()))?
            .is_some()
    );
    drop(external);
    let gone = namespaces
        .get_opt(&ns)
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let deleting = gone
        .as_ref()
        .is_none_or(|n| n.metadata.deletion_timestamp.is_some());
    assert!(
        deleting,
        "the external handle deletes the namespaces it created: {gone:?}"
    );
    Ok(())
}
