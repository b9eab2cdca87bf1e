//! The operator against a real API server (1.20.2), run as the chart's ServiceAccount: quick
//! start, a DaemonSet made like the official fluent-bit chart's, updates and the no-write rule,
//! invalid beside valid, degraded pods, delete, restart mid-rollout, RBAC refusals.
//!
//! Each test starts its own cluster ([`e2e::Installed`] installs the CRD and the chart's RBAC
//! and starts the operator). On failure the error carries the operator's log tail, the object's
//! YAML and Events (`Installed::explain`, `wait_for_object`).

use std::time::Duration;

use e2e::{
    Error, HELM_MANAGER, Installed, PodState, Result, apply_values, condition, example_plugin,
    printed_columns, wait_for_object, wait_for_plugin,
};
use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use operator::layout::{CONFIG_VOLUME, HASH_ANNOTATION, INIT_PREFIX, PLUGINS_VOLUME};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(40);
const USER: &str = "kubectl-client-side-apply";

/// The chart's prepared Fluent Bit DaemonSet (its ServiceAccount, ConfigMap and DaemonSet from
/// `helm template` with default values), applied as `helm`, on one ready node, rolled out.
async fn prepared_daemonset(installed: &Installed<'_>) -> Result<DaemonSet> {
    let cluster = installed.cluster();
    cluster.create_ready_node("node-a").await?;
    let objects: Vec<&Value> = installed
        .chart
        .iter()
        .filter(|o| o["metadata"]["name"] == "fluent-bit")
        .collect();
    assert_eq!(
        objects.len(),
        3,
        "ServiceAccount, ConfigMap, DaemonSet fluent-bit"
    );
    apply_values(
        &installed.client(),
        &objects,
        HELM_MANAGER,
        &installed.namespace,
    )
    .await?;
    // The chart's config includes the operator's pipeline: the operator mounts it (empty) as
    // soon as the DaemonSet opts in, before any plugin.
    wait_for_object(
        &daemonsets(installed),
        "fluent-bit",
        "the operator's empty pipeline mounted",
        WAIT,
        |d| hash_of(d).is_some(),
    )
    .await
    .map_err(|e| installed.explain(e))?;
    rolled_out(installed, "fluent-bit").await
}

/// Whether the template carries one of the operator's plugin init containers (beyond the
/// empty pipeline every opted-in DaemonSet has).
fn carries_a_plugin(ds: &DaemonSet) -> bool {
    ds.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.init_containers.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.name.starts_with(INIT_PREFIX)))
}

/// A file of the operator's ConfigMap in its current revision (`pipeline.conf`,
/// `plugins.conf`): the key named by the ConfigMap's hash annotation. Empty when absent.
fn rendered_file(cm: &ConfigMap, file: &str) -> String {
    let hash = cm
        .annotations()
        .get(HASH_ANNOTATION)
        .cloned()
        .unwrap_or_default();
    let key = operator::render::revision_key(file, &hash);
    cm.data
        .as_ref()
        .and_then(|d| d.get(&key))
        .cloned()
        .unwrap_or_default()
}

async fn rolled_out(installed: &Installed<'_>, ds: &str) -> Result<DaemonSet> {
    installed
        .cluster()
        .kubelet(&installed.namespace, ds)
        .play_until_rolled_out(WAIT)
        .await
        .map_err(|e| installed.explain(e))?;
    daemonsets(installed)
        .get(ds)
        .await
        .map_err(|e| installed.explain(Error::Invalid(format!("reading DaemonSet {ds}: {e}"))))
}

fn daemonsets(installed: &Installed<'_>) -> Api<DaemonSet> {
    Api::namespaced(installed.client(), &installed.namespace)
}

fn configmaps(installed: &Installed<'_>) -> Api<ConfigMap> {
    Api::namespaced(installed.client(), &installed.namespace)
}

async fn apply_plugin(installed: &Installed<'_>, plugin: &Value) -> Result<()> {
    apply_values(&installed.client(), &[plugin], USER, &installed.namespace).await?;
    Ok(())
}

/// Applies `examples/<example>/deploy/fluentbitplugin.yaml` into the suite's namespace.
async fn apply_example(installed: &Installed<'_>, example: &str) -> Result<()> {
    apply_plugin(installed, &example_plugin(example, &installed.namespace)?).await
}

fn template(ds: &DaemonSet) -> Value {
    serde_json::to_value(ds.spec.as_ref().map(|s| &s.template)).unwrap_or(Value::Null)
}

fn hash_of(ds: &DaemonSet) -> Option<String> {
    template(ds)["metadata"]["annotations"][HASH_ANNOTATION]
        .as_str()
        .map(str::to_owned)
}

fn is_operator_volume(name: &Value) -> bool {
    name == PLUGINS_VOLUME || name == CONFIG_VOLUME
}

/// The pod template without what the operator adds: its annotation, its init containers, its
/// two volumes and the mounts of them. Also returns how many of each were removed.
fn without_operator_fields(mut template: Value) -> (Value, [usize; 4]) {
    let mut removed = [0; 4];
    if let Some(annotations) = template["metadata"]["annotations"].as_object_mut() {
        removed[0] += usize::from(annotations.remove(HASH_ANNOTATION).is_some());
    }
    let spec = &mut template["spec"];
    if let Some(init) = spec.get_mut("initContainers").and_then(Value::as_array_mut) {
        let before = init.len();
        init.retain(|c| {
            !c["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(INIT_PREFIX))
        });
        removed[1] = before - init.len();
        if init.is_empty()
            && let Some(spec) = spec.as_object_mut()
        {
            spec.remove("initContainers");
        }
    }
    if let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        let before = volumes.len();
        volumes.retain(|v| !is_operator_volume(&v["name"]));
        removed[2] = before - volumes.len();
    }
    for container in spec
        .get_mut("containers")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(mounts) = container
            .get_mut("volumeMounts")
            .and_then(Value::as_array_mut)
        {
            let before = mounts.len();
            mounts.retain(|m| !is_operator_volume(&m["name"]));
            removed[3] += before - mounts.len();
        }
    }
    (template, removed)
}

fn counts(plugin: &FluentBitPlugin) -> Option<(i32, i32, i32)> {
    let r = plugin.status.as_ref()?.rollout.as_ref()?;
    Some((r.desired, r.updated, r.ready))
}

/// Suite 1. The quick start: the chart's DaemonSet + the out-jsonl example.
#[tokio::test]
async fn quick_start_adds_exactly_the_plugin_and_rolls() -> Result<()> {
    let cluster = e2e::cluster_or_skip!();
    let installed = Installed::new(&cluster, "quick").await?;
    let before = prepared_daemonset(&installed).await?;
    let plugins = installed.plugins();
    apply_example(&installed, "out-jsonl").await?;

    let cm = wait_for_object(
        &configmaps(&installed),
        "fluent-bit-fbplugin",
        "out-jsonl rendered",
        WAIT,
        |cm| rendered_file(cm, "plugins.conf").contains("out-jsonl"),
    )
    .await
    .map_err(|e| installed.explain(e))?;
    let plugins_conf = rendered_file(&cm, "plugins.conf");
    assert!(
        plugins_conf.contains("/fluent-bit/plugins/out-jsonl/libout_jsonl.so"),
        "{plugins_conf}"
    );
    let conf = rendered_file(&cm, "pipeline.conf");
    assert!(
        conf.contains("jsonl_file") && conf.contains("/var/log/fbplugin/gen.jsonl"),
        "{conf}"
    );

    // Progressing while the pods are not replaced yet (the test has not played the kubelet).
    let progressing = wait_for_plugin(&plugins, "out-jsonl", "Progressing", "True", None, WAIT)
        .await
        .map_err(|e| installed.explain(e))?;
    assert_eq!(
        condition(&progressing, "Ready").map(|c| c.status.as_str()),
        Some("False")
    );

    let after = daemonsets(&installed)
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let (stripped, removed) = without_operator_fields(template(&after));
    assert_eq!(removed[0], 1, "the checksum annotation");
    assert_eq!(
        removed[1], 2,
        "one copy and one verify init container for one plugin"
    );
    // The copy step sees only its plugin's directory; the verify step runs after it, read-only.
    let inits = template(&after)["spec"]["initContainers"].clone();
    let ours: Vec<&Value> = inits
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            c["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(INIT_PREFIX))
        })
        .collect();
    assert_eq!(ours[0]["name"], "fbplugin-out-jsonl");
    let hash = hash_of(&after).unwrap_or_default();
    assert_eq!(
        ours[1]["name"],
        format!(
            "fbplugin-verify-out-jsonl-{}",
            hash.get(..6).unwrap_or_default()
        )
    );
    assert_eq!(ours[0]["volumeMounts"][0]["subPath"], "out-jsonl");
    assert_eq!(ours[1]["volumeMounts"][0]["readOnly"], true);
    assert_eq!(
        removed[2], 2,
        "the plugins emptyDir and the rendered ConfigMap volume"
    );
    assert!(
        removed[3] >= 2,
        "mounts of both volumes in fluent-bit: {}",
        removed[3]
    );
    assert_eq!(
        stripped,
        without_operator_fields(template(&before)).0,
        "nothing else in the pod template changed"
    );
    let hash = hash_of(&after).unwrap_or_default();
    assert!(!hash.is_empty());

    let ready_ds = rolled_out(&installed, "fluent-bit").await?;
    assert_eq!(hash_of(&ready_ds).as_deref(), Some(hash.as_str()));
    let ready = wait_for_plugin(
        &plugins,
        "out-jsonl",
        "Ready",
        "True",
        Some("RolloutComplete"),
        WAIT,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    assert_eq!(counts(&ready), Some((1, 1, 1)));
    assert_eq!(
        ready
            .status
            .as_ref()
            .and_then(|s| s.rendered_hash.clone())
            .as_deref(),
        Some(hash.as_str())
    );
    for (type_, status) in [
        ("Accepted", "True"),
        ("Applied", "True"),
        ("Progressing", "False"),
        ("Degraded", "False"),
    ] {
        assert_eq!(
            condition(&ready, type_).map(|c| c.status.as_str()),
            Some(status),
            "{type_}"
        );
    }

    // What `kubectl get fbp -o wide` shows, from the API server's Table rendering.
    let rows = printed_columns(&installed.client(), &installed.namespace).await?;
    assert_eq!(rows.len(), 1);
    let row: std::collections::BTreeMap<_, _> = rows[0].iter().cloned().collect();
    for (column, value) in [
        ("Name", "out-jsonl"),
        ("Type", "output"),
        ("DaemonSet", "fluent-bit"),
        ("Ready", "True"),
        ("Rollout", "1/1"),
        ("Reason", "RolloutComplete"),
    ] {
        assert_eq!(
            row.get(column).map(String::as_str),
            Some(value),
            "column {column} in {row:?}"
        );
    }
    Ok(())
}

/// A DaemonSet as the official fluent-bit Helm chart (fluent/helm-charts, chart fluent-bit)
/// renders it with default values, plus its ConfigMap.
fn official_chart_objects(namespace: &str) -> Vec<Value> {
    let labels = json!({ "app.kubernetes.io/name": "fluent-bit", "app.kubernetes.io/instance": "fluent-bit" });
    let mut all_labels = labels.clone();
    all_labels["helm.sh/chart"] = json!("fluent-bit-0.54.0");
    all_labels["app.kubernetes.io/version"] = json!("4.2.0");
    all_labels["app.kubernetes.io/managed-by"] = json!("Helm");
    let mut ds_labels = all_labels.clone();
    ds_labels["fbplugin.dev/accept-plugins"] = json!("true");
    let config = "[SERVICE]\n    Daemon Off\n    Flush 1\n    Log_Level info\n    Parsers_File /fluent-bit/etc/parsers.conf\n    Parsers_File /fluent-bit/etc/conf/custom_parsers.conf\n    HTTP_Server On\n    HTTP_Listen 0.0.0.0\n    HTTP_Port 2020\n    Health_Check On\n\n[INPUT]\n    Name tail\n    Path /var/log/containers/*.log\n    multiline.parser docker, cri\n    Tag kube.*\n    Mem_Buf_Limit 5MB\n    Skip_Long_Lines On\n\n[OUTPUT]\n    Name stdout\n    Match *\n\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n";
    vec![
        json!({ "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "fluent-bit", "namespace": namespace, "labels": all_labels },
            "data": { "fluent-bit.conf": config, "custom_parsers.conf": "[PARSER]\n    Name docker_no_time\n    Format json\n" } }),
        json!({ "apiVersion": "apps/v1", "kind": "DaemonSet",
            // The opt-in, as that chart's `labels` and `annotations` values set it.
            "metadata": { "name": "fluent-bit", "namespace": namespace, "labels": ds_labels,
                "annotations": {
                    "fbplugin.dev/container": "fluent-bit",
                    "fbplugin.dev/config-path": "/fluent-bit/etc/conf/fluent-bit.conf",
                } },
            "spec": {
                "selector": { "matchLabels": labels },
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": { "checksum/config": "2b1d0b3b0a4f5c1e7e0f7c7a9f3b1f0c1d4e2a8b6c5d4e3f2a1b0c9d8e7f6a5b" },
                    },
                    "spec": {
                        "serviceAccountName": "default",
                        "hostNetwork": false,
                        "dnsPolicy": "ClusterFirst",
                        "containers": [{
                            "name": "fluent-bit",
                            "image": "cr.fluentbit.io/fluent/fluent-bit:4.2.0",
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["/fluent-bit/bin/fluent-bit"],
                            "args": ["--workdir=/fluent-bit/etc", "--config=/fluent-bit/etc/conf/fluent-bit.conf"],
                            "ports": [{ "name": "http", "containerPort": 2020, "protocol": "TCP" }],
                            "livenessProbe": { "httpGet": { "path": "/", "port": "http" } },
                            "readinessProbe": { "httpGet": { "path": "/api/v1/health", "port": "http" } },
                            "volumeMounts": [
                                { "name": "config", "mountPath": "/fluent-bit/etc/conf" },
                                { "name": "varlog", "mountPath": "/var/log" },
                                { "name": "varlibdockercontainers", "mountPath": "/var/lib/docker/containers", "readOnly": true },
                                { "name": "etcmachineid", "mountPath": "/etc/machine-id", "readOnly": true },
                            ],
                        }],
                        "volumes": [
                            { "name": "config", "configMap": { "name": "fluent-bit" } },
                            { "name": "varlog", "hostPath": { "path": "/var/log" } },
                            { "name": "varlibdockercontainers", "hostPath": { "path": "/var/lib/docker/containers" } },
                            { "name": "etcmachineid", "hostPath": { "path": "/etc/machine-id", "type": "File" } },
                        ],
                    },
                },
            },
        }),
    ]
}

fn manager_entry(ds: &DaemonSet, manager: &str) -> Option<Value> {
    ds.managed_fields()
        .iter()
        .find(|m| m.manager.as_deref() == Some(manager))
        .and_then(|m| serde_json::to_value(&m.fields_v1).ok())
}

/// Suite 2. A DaemonSet of the official fluent-bit chart: same result, helm's fields untouched.
#[tokio::test]
async fn official_chart_daemonset_keeps_helms_fields() -> Result<()> {
    let cluster = e2e::cluster_or_skip!();
    let installed = Installed::new(&cluster, "official").await?;
    cluster.create_ready_node("node-a").await?;
    let objects = official_chart_objects(&installed.namespace);
    apply_values(
        &installed.client(),
        &objects.iter().collect::<Vec<_>>(),
        HELM_MANAGER,
        &installed.namespace,
    )
    .await?;
    // Opted in, and its config includes the pipeline: the operator mounts the empty one first.
    wait_for_object(
        &daemonsets(&installed),
        "fluent-bit",
        "the operator's empty pipeline mounted",
        WAIT,
        |d| hash_of(d).is_some(),
    )
    .await
    .map_err(|e| installed.explain(e))?;
    let before = rolled_out(&installed, "fluent-bit").await?;
    let helm_before = manager_entry(&before, HELM_MANAGER);
    assert!(helm_before.is_some());

    apply_example(&installed, "out-jsonl").await?;
    wait_for_object(
        &daemonsets(&installed),
        "fluent-bit",
        "a plugin in the template",
        WAIT,
        carries_a_plugin,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    let after = rolled_out(&installed, "fluent-bit").await?;
    wait_for_plugin(
        &installed.plugins(),
        "out-jsonl",
        "Ready",
        "True",
        None,
        WAIT,
    )
    .await
    .map_err(|e| installed.explain(e))?;

    assert_eq!(
        manager_entry(&after, HELM_MANAGER),
        helm_before,
        "helm still owns exactly what it owned"
    );
    let (stripped, removed) = without_operator_fields(template(&after));
    assert_eq!(
        removed[..3],
        [1, 2, 2],
        "hash, copy + verify step, two volumes"
    );
    assert_eq!(
        stripped,
        without_operator_fields(template(&before)).0,
        "helm's values are untouched"
    );
    let spec = template(&after)["spec"].clone();
    let mounts = spec["containers"][0]["volumeMounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ours = mounts
        .iter()
        .find(|m| m["mountPath"] == "/fluent-bit/etc/fbplugin")
        .unwrap_or_else(|| panic!("the operator's directory is mounted: {mounts:?}"));
    assert_eq!(ours["name"], CONFIG_VOLUME);
    assert!(
        ours["subPath"].is_null(),
        "a directory, never a file: {ours}"
    );
    assert!(
        mounts
            .iter()
            .all(|m| m["mountPath"] != "/fluent-bit/etc/conf/fluent-bit.conf"),
        "nothing over the chart's own config: {mounts:?}"
    );
    let rendered = configmaps(&installed)
        .get("fluent-bit-fbplugin")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let conf = rendered_file(&rendered, "pipeline.conf");
    assert!(
        conf.contains("Name jsonl_file") && !conf.contains("Daemon Off"),
        "the operator's sections only; the chart's config includes them:\n{conf}"
    );
    // Fields the operator does not own, in the DaemonSet outside the template, are unchanged.
    assert_eq!(after.metadata.labels, before.metadata.labels);
    assert_eq!(
        serde_json::to_value(after.spec.as_ref().map(|s| &s.selector)).ok(),
        serde_json::to_value(before.spec.as_ref().map(|s| &s.selector)).ok()
    );
    Ok(())
}

fn set_property(plugin: &mut Value, name: &str, value: &str) {
    for property in plugin["spec"]["instances"][0]["properties"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if property["name"] == name {
            property["value"] = json!(value);
        }
    }
}

/// Suite 3. A property change rolls a new hash; re-applying the same spec writes nothing.
#[tokio::test]
async fn update_rolls_a_new_hash_and_no_change_writes_nothing() -> Result<()> {
    let cluster = e2e::cluster_or_skip!();
    let installed = Installed::new(&cluster, "update").await?;
    prepared_daemonset(&installed).await?;
    let plugins = installed.plugins();
    let mut plugin = example_plugin("out-jsonl", &installed.namespace)?;
    apply_plugin(&installed, &plugin).await?;
    wait_for_object(
        &daemonsets(&installed),
        "fluent-bit",
        "a plugin in the template",
        WAIT,
        carries_a_plugin,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    let first = rolled_out(&installed, "fluent-bit").await?;
    let ready = wait_for_plugin(&plugins, "out-jsonl", "Ready", "True", None, WAIT)
        .await
        .map_err(|e| installed.explain(e))?;
    let first_hash = hash_of(&first);

    set_property(&mut plugin, "max_size", "20M");
    apply_plugin(&installed, &plugin).await?;
    let changed = wait_for_object(
        &daemonsets(&installed),
        "fluent-bit",
        "a new hash",
        WAIT,
        |d| hash_of(d) != first_hash,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    let second_hash = hash_of(&changed);
    let cm = configmaps(&installed)
        .get("fluent-bit-fbplugin")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    assert!(rendered_file(&cm, "pipeline.conf").contains("20M"));
    wait_for_plugin(&plugins, "out-jsonl", "Progressing", "True", None, WAIT)
        .await
        .map_err(|e| installed.explain(e))?;
    let second = rolled_out(&installed, "fluent-bit").await?;
    assert_eq!(hash_of(&second), second_hash);
    let ready2 = wait_for_plugin(&plugins, "out-jsonl", "Ready", "True", None, WAIT)
        .await
        .map_err(|e| installed.explain(e))?;
    assert_eq!(
        ready2.status.as_ref().and_then(|s| s.rendered_hash.clone()),
        second_hash
    );
    assert!(ready2.metadata.generation > ready.metadata.generation);
    // `kubectl describe fbp` names the new config hash in an Applied Event of its own.
    let short = second_hash
        .as_deref()
        .and_then(|h| h.get(..12))
        .unwrap_or_default()
        .to_owned();
    e2e::wait_for(
        "an Applied Event naming the new hash",
        WAIT,
        Duration::from_millis(300),
        || {
            let client = installed.client();
            let ready2 = ready2.clone();
            let short = short.clone();
            async move {
                let events = e2e::events_for(&client, &ready2).await?;
                let found = events.iter().any(|e| {
                    e.reason.as_deref() == Some("Applied")
                        && e.message.as_deref().is_some_and(|m| m.contains(&short))
                });
                Ok(if found {
                    Ok(())
                } else {
                    Err(e2e::describe_events(&events))
                })
            }
        },
    )
    .await
    .map_err(|e| installed.explain(e))?;

    // Settle, then the same spec again and an unrelated label: no write anywhere.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ds_rv = daemonsets(&installed)
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?
        .resource_version();
    let cm_rv = configmaps(&installed)
        .get("fluent-bit-fbplugin")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?
        .resource_version();
    let status_before = plugins
        .get("out-jsonl")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?
        .status;
    apply_plugin(&installed, &plugin).await?;
    plugins
        .patch(
            "out-jsonl",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "team": "logging" } } })),
        )
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let ds_after = daemonsets(&installed)
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let cm_after = configmaps(&installed)
        .get("fluent-bit-fbplugin")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let plugin_after = plugins
        .get("out-jsonl")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    assert_eq!(
        ds_after.resource_version(),
        ds_rv,
        "{}",
        installed.operator_log_tail(20)
    );
    assert_eq!(cm_after.resource_version(), cm_rv);
    assert_eq!(
        plugin_after.status, status_before,
        "the status is not rewritten"
    );
    let status_writes = plugin_after
        .managed_fields()
        .iter()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .map(|m| m.time.clone())
        .collect::<Vec<_>>();
    assert!(status_writes.len() <= 1, "{status_writes:?}");
    Ok(())
}

/// The chart's prepared DaemonSet with the out-jsonl example applied; returns the DaemonSet
/// once the operator has put the plugin into its pod template.
async fn out_jsonl_applied(installed: &Installed<'_>) -> Result<DaemonSet> {
    prepared_daemonset(installed).await?;
    apply_example(installed, "out-jsonl").await?;
    wait_for_object(
        &daemonsets(installed),
        "fluent-bit",
        "a plugin in the template",
        WAIT,
        carries_a_plugin,
    )
    .await
    .map_err(|e| installed.explain(e))
}

/// Suite 4. An invalid plugin beside a valid one.
#[tokio::test]
async fn invalid_plugin_is_reported_and_left_out() -> Result<()> {
    let cluster = e2e::cluster_or_skip!();
    let installed = Installed::new(&cluster, "invalid").await?;
    out_jsonl_applied(&installed).await?;
    let plugins = installed.plugins();
    rolled_out(&installed, "fluent-bit").await?;
    wait_for_plugin(&plugins, "out-jsonl", "Ready", "True", None, WAIT)
        .await
        .map_err(|e| installed.explain(e))?;
    let valid_ds = daemonsets(&installed)
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;

    // CEL would refuse this on a current cluster; 1.20 stores it and the operator must refuse it.
    let mut bad = example_plugin("in-generator", &installed.namespace)?;
    bad["metadata"]["name"] = json!("bad-generator");
    bad["spec"]["instances"][0]["properties"] = json!([{ "name": "Mem_Buf_Limit", "value": "4M" }]);
    apply_plugin(&installed, &bad).await?;
    let rejected = wait_for_plugin(
        &plugins,
        "bad-generator",
        "Accepted",
        "False",
        Some("Invalid"),
        WAIT,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    // What `kubectl get fbp` shows for it: not Ready, with its own reason and no rollout of its
    // own (the DaemonSet's pods are the valid plugin's).
    let rows = printed_columns(&installed.client(), &installed.namespace).await?;
    let row: std::collections::BTreeMap<_, _> = rows
        .iter()
        .find(|r| r.iter().any(|(c, v)| c == "Name" && v == "bad-generator"))
        .map(|r| r.iter().cloned().collect())
        .unwrap_or_default();
    for (column, value) in [("Ready", "False"), ("Rollout", ""), ("Reason", "Invalid")] {
        assert_eq!(
            row.get(column).map(String::as_str),
            Some(value),
            "column {column} in {row:?}"
        );
    }
    let field = "spec.instances[0].properties[0].name";
    let accepted = condition(&rejected, "Accepted")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(accepted.contains(field), "{accepted}");
    let problems = rejected
        .status
        .as_ref()
        .map(|s| s.problems.clone())
        .unwrap_or_default();
    assert!(problems.iter().any(|p| p.field == field), "{problems:?}");
    let events = e2e::wait_for(
        "a Warning Event naming the field",
        WAIT,
        Duration::from_millis(300),
        || {
            let client = installed.client();
            let rejected = rejected.clone();
            async move {
                let events = e2e::events_for(&client, &rejected).await?;
                Ok(
                    if events.iter().any(|e| {
                        e.type_.as_deref() == Some("Warning")
                            && e.message.as_deref().is_some_and(|m| m.contains(field))
                    }) {
                        Ok(events)
                    } else {
                        Err(e2e::describe_events(&events))
                    },
                )
            }
        },
    )
    .await
    .map_err(|e| installed.explain(e))?;
    assert!(!events.is_empty());

    tokio::time::sleep(Duration::from_secs(2)).await;
    let ds = daemonsets(&installed)
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    assert_eq!(
        ds.resource_version(),
        valid_ds.resource_version(),
        "the invalid plugin did not touch the DaemonSet"
    );
    let spec = template(&ds)["spec"].to_string();
    assert!(!spec.contains("bad-generator") && !spec.contains("in-generator"));
    let valid = plugins
        .get("out-jsonl")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    assert_eq!(
        condition(&valid, "Ready").map(|c| c.status.as_str()),
        Some("True")
    );
    Ok(())
}

/// Suite 5. Crash loops, failed pulls and failed init containers show as Degraded.
#[tokio::test]
async fn failing_pods_show_as_degraded_with_reason_and_pod() -> Result<()> {
    let cluster = e2e::cluster_or_skip!();
    let installed = Installed::new(&cluster, "degraded").await?;
    out_jsonl_applied(&installed).await?;
    let plugins = installed.plugins();
    let player = cluster.kubelet(&installed.namespace, "fluent-bit");
    // Let the controller replace the old pod: force-delete it until a pod with the init container exists.
    let pod = e2e::wait_for(
        "a pod of the new template",
        WAIT,
        Duration::from_millis(300),
        || {
            let player = player.clone();
            async move {
                player.force_delete_terminating().await?;
                let pods = player.pods().await?;
                Ok(pods
                    .into_iter()
                    .find(|p| {
                        p.metadata.deletion_timestamp.is_none()
                            && p.spec.as_ref().is_some_and(|s| s.init_containers.is_some())
                    })
                    .ok_or_else(|| "no new pod yet".to_owned()))
            }
        },
    )
    .await
    .map_err(|e| installed.explain(e))?;
    let pod_name = pod.name_any();
    let copy_step = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .map(|c| c[0].clone())
        .unwrap_or_default();
    let init = copy_step.name.clone();
    let (exit_code, mismatch) = wrong_sha256_output(&copy_step);
    let cases = [
        (
            PodState::Waiting {
                reason: "CrashLoopBackOff".into(),
                message: "back-off 5m0s restarting failed container".into(),
            },
            "CrashLoopBackOff",
        ),
        (
            PodState::Waiting {
                reason: "ImagePullBackOff".into(),
                message: "Back-off pulling image".into(),
            },
            "ImagePullFailed",
        ),
        (
            PodState::InitContainerFailed {
                name: init.clone(),
                exit_code,
                reason: "Error".into(),
                message: mismatch,
            },
            "InitContainerFailed",
        ),
    ];
    for (state, reason) in cases {
        player.set_pod(&pod_name, &state).await?;
        let degraded = wait_for_plugin(
            &plugins,
            "out-jsonl",
            "Degraded",
            "True",
            Some(reason),
            WAIT,
        )
        .await
        .map_err(|e| installed.explain(e))?;
        let message = condition(&degraded, "Degraded")
            .map(|c| c.message.clone())
            .unwrap_or_default();
        assert!(message.contains(&pod_name), "{reason}: {message}");
        if reason == "InitContainerFailed" {
            // The copy program's own words, as the kubelet records them.
            assert!(
                message.contains(&format!(
                    "init container {init} exited with 1: fbplugin: sha256 mismatch for /plugins/libout_jsonl.so: expected {}",
                    "0".repeat(64)
                )),
                "{message}"
            );
        }
        assert_eq!(
            condition(&degraded, "Ready").map(|c| c.status.as_str()),
            Some("False")
        );
    }
    player.set_pod(&pod_name, &PodState::Ready).await?;
    wait_for_plugin(&plugins, "out-jsonl", "Degraded", "False", None, WAIT)
        .await
        .map_err(|e| installed.explain(e))?;
    Ok(())
}

/// What the pod's copy step prints when the file in its image does not have the spec's sha256:
/// its command run with the copy program the images carry (built by cargo), the image's file a
/// stand-in, `--sha256` a wrong digest (set when the example CR sets none). Returns (exit code,
/// output) as the kubelet would record them.
fn wrong_sha256_output(step: &k8s_openapi::api::core::v1::Container) -> (i32, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = std::fs::canonicalize(dir.path()).expect("the temporary directory");
    let program = e2e::copy_program_binary().unwrap_or_else(|e| panic!("{e}"));
    let command = step.command.clone().unwrap_or_default();
    assert_eq!(
        command.first().map(String::as_str),
        Some(operator::layout::COPY_PROGRAM),
        "{command:?}"
    );
    let mut args = Vec::new();
    let mut previous = "";
    for arg in &command[1..] {
        args.push(match previous {
            "--from" => {
                let file = root.join("image").join(arg.trim_start_matches('/'));
                std::fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
                std::fs::write(&file, b"not the plugin you built\n").expect("write");
                file.display().to_string()
            }
            "--into" => {
                let into = root.join("volume");
                std::fs::create_dir_all(&into).expect("mkdir");
                into.display().to_string()
            }
            "--sha256" => "0".repeat(64),
            _ => arg.clone(),
        });
        previous = arg;
    }
    if !command.iter().any(|a| a == "--sha256") {
        args.extend(["--sha256".to_owned(), "0".repeat(64)]);
    }
    let out = std::process::Command::new(&program)
        .args(&args)
        .env_clear()
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    assert!(
        !root.join("volume/libout_jsonl.so").exists(),
        "nothing copied"
    );
    // The paths the program named are the test's; the kubelet would record the pod's own.
    let text =
        String::from_utf8_lossy(&out.stderr).replace(&format!("{}/image", root.display()), "");
    (out.status.code().unwrap_or(-1), text)
}

/// Suite 6. Delete: the DaemonSet and the ConfigMap are back to what they were; also with the
/// DaemonSet deleted first.
/// Deletes a plugin and waits until the finalizer let it go.
async fn delete_and_wait_gone(
    installed: &Installed<'_>,
    plugins: &Api<FluentBitPlugin>,
    name: &str,
) -> Result<()> {
    plugins
        .delete(name, &DeleteParams::default())
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    e2e::wait_for(
        &format!("plugin {name} to be deleted"),
        WAIT,
        Duration::from_millis(200),
        || {
            let plugins = plugins.clone();
            async move {
                let current = plugins
                    .get_opt(name)
                    .await
                    .map_err(|e| Error::Invalid(e.to_string()))?;
                Ok(match current {
                    None => Ok(()),
                    Some(p) => Err(e2e::observed_yaml(&Some(p))),
                })
            }
        },
    )
    .await
    .map_err(|e| installed.explain(e))?;
    Ok(())
}

#[tokio::test]
async fn delete_restores_the_daemonset_and_completes_without_it() -> Result<()> {
    let cluster = e2e::cluster_or_skip!();
    let installed = Installed::new(&cluster, "delete").await?;
    let before = prepared_daemonset(&installed).await?;
    let plugins = installed.plugins();
    apply_example(&installed, "out-jsonl").await?;
    let with = wait_for_plugin(&plugins, "out-jsonl", "Applied", "True", None, WAIT)
        .await
        .map_err(|e| installed.explain(e))?;
    assert!(
        with.finalizers()
            .iter()
            .any(|f| f == "fbplugin.dev/cleanup")
    );
    rolled_out(&installed, "fluent-bit").await?;

    delete_and_wait_gone(&installed, &plugins, "out-jsonl").await?;
    let after = rolled_out(&installed, "fluent-bit").await?;
    assert_eq!(
        template(&after),
        template(&before),
        "the template is back to what it was: the empty pipeline, no init container"
    );
    let cm = configmaps(&installed)
        .get("fluent-bit-fbplugin")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let pipeline = rendered_file(&cm, "pipeline.conf");
    assert!(
        !pipeline.is_empty() && !pipeline.contains('['),
        "the included file stays, empty: {pipeline}"
    );

    // The DaemonSet deleted first: the plugin says so, and deleting it still completes.
    apply_example(&installed, "out-jsonl").await?;
    wait_for_plugin(&plugins, "out-jsonl", "Applied", "True", None, WAIT)
        .await
        .map_err(|e| installed.explain(e))?;
    daemonsets(&installed)
        .delete("fluent-bit", &DeleteParams::default())
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    wait_for_plugin(
        &plugins,
        "out-jsonl",
        "Applied",
        "False",
        Some("DaemonSetNotFound"),
        WAIT,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    delete_and_wait_gone(&installed, &plugins, "out-jsonl").await?;
    Ok(())
}

/// Suite 8. The chart's ServiceAccount (what every suite runs the operator as) is refused what
/// the operator must not do.
#[tokio::test]
async fn the_operators_account_is_refused_what_it_must_not_do() -> Result<()> {
    let cluster = e2e::cluster_or_skip!();
    let installed = Installed::new(&cluster, "rbac").await?;
    let before = prepared_daemonset(&installed).await?;
    let client = cluster
        .client_for_service_account(&installed.namespace, &installed.service_account)
        .await?;
    let ns = &installed.namespace;
    let forbidden = |r: std::result::Result<_, kube::Error>, what: &str| match r {
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        other => panic!(
            "{what}: expected 403 Forbidden, got {:?}",
            other.map(|_| ())
        ),
    };
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
    forbidden(
        secrets.list(&Default::default()).await.map(|_| ()),
        "listing Secrets",
    );
    let ds: Api<DaemonSet> = Api::namespaced(client.clone(), ns);
    forbidden(
        ds.delete("fluent-bit", &DeleteParams::default())
            .await
            .map(|_| ()),
        "deleting a DaemonSet",
    );
    let mut copy = before.clone();
    copy.metadata = kube::api::ObjectMeta {
        name: Some("another".into()),
        ..Default::default()
    };
    forbidden(
        ds.create(&Default::default(), &copy).await.map(|_| ()),
        "creating a DaemonSet",
    );
    let other: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    forbidden(
        other.list(&Default::default()).await.map(|_| ()),
        "ConfigMaps outside its namespace",
    );
    // What it needs works with the same account.
    ds.get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(format!("get DaemonSet as the SA: {e}")))?;
    let plugins: Api<FluentBitPlugin> = Api::namespaced(client, ns);
    plugins
        .list(&Default::default())
        .await
        .map_err(|e| Error::Invalid(format!("list plugins as the SA: {e}")))?;
    Ok(())
}

/// A copy of the chart's prepared DaemonSet named `name` (its own pod labels), with the
/// owner's opt-in label and annotations replaced by `labels` / `annotations`.
fn daemonset_like_the_chart(installed: &Installed<'_>, name: &str, opt_in: bool) -> Result<Value> {
    let mut ds = installed
        .chart
        .iter()
        .find(|o| o["kind"] == "DaemonSet")
        .cloned()
        .ok_or_else(|| Error::Invalid("the chart renders no DaemonSet".into()))?;
    ds["metadata"]["name"] = json!(name);
    ds["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] = json!(name);
    ds["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"] = json!(name);
    if !opt_in {
        if let Some(labels) = ds["metadata"]["labels"].as_object_mut() {
            labels.remove(operator::layout::OPT_IN_LABEL);
        }
        if let Some(metadata) = ds["metadata"].as_object_mut() {
            metadata.remove("annotations");
        }
    }
    Ok(ds)
}

fn operator_manages(ds: &DaemonSet) -> bool {
    manager_entry(ds, operator::layout::FIELD_MANAGER).is_some()
}

async fn has_event(installed: &Installed<'_>, plugin: &FluentBitPlugin, reason: &str) -> bool {
    e2e::events_for(&installed.client(), plugin)
        .await
        .is_ok_and(|events| events.iter().any(|e| e.reason.as_deref() == Some(reason)))
}

async fn wait_for_event(
    installed: &Installed<'_>,
    plugin: &FluentBitPlugin,
    reason: &str,
) -> Result<()> {
    let started = std::time::Instant::now();
    while !has_event(installed, plugin, reason).await {
        if started.elapsed() > WAIT {
            return Err(installed.explain(Error::Invalid(format!(
                "no Event {reason} for plugin {} within {WAIT:?}",
                plugin.name_any()
            ))));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Suite 8b. The gate, on the real API server with the chart's RBAC: a DaemonSet without the
/// owner's opt-in is never written; an image outside the allow-list, a container or pull
/// secret the owner did not list are refused before anything is applied; a foreign
/// `<ds>-fbplugin` ConfigMap is neither adopted nor deleted. Each refusal is a condition and an
/// Event.
#[tokio::test]
async fn the_gate_refuses_what_the_owner_and_the_admin_did_not_allow() -> Result<()> {
    let cluster = e2e::cluster_or_skip!();
    let installed = Installed::new(&cluster, "gate").await?;
    prepared_daemonset(&installed).await?;
    let ns = installed.namespace.clone();
    let plugins = installed.plugins();
    let example = example_plugin("out-jsonl", &ns)?;

    // 1. A kube-proxy-shaped DaemonSet that never opted in.
    let unprepared = daemonset_like_the_chart(&installed, "no-opt-in", false)?;
    apply_values(&installed.client(), &[&unprepared], HELM_MANAGER, &ns).await?;
    let mut plugin = example.clone();
    plugin["metadata"]["name"] = json!("to-no-opt-in");
    plugin["spec"]["target"]["daemonSet"] = json!("no-opt-in");
    apply_plugin(&installed, &plugin).await?;
    let refused = wait_for_plugin(
        &plugins,
        "to-no-opt-in",
        "Applied",
        "False",
        Some("DaemonSetNotOptedIn"),
        WAIT,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    let message = condition(&refused, "Applied")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains(operator::layout::OPT_IN_LABEL)
            && message.contains(operator::layout::CONTAINER_ANNOTATION)
            && message.contains(operator::layout::CONFIG_PATH_ANNOTATION),
        "names what the owner must add: {message}"
    );
    wait_for_event(&installed, &refused, "DaemonSetNotOptedIn").await?;
    let ds = daemonsets(&installed)
        .get("no-opt-in")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    assert!(
        !operator_manages(&ds),
        "the operator never wrote to it: {:?}",
        ds.managed_fields()
    );
    assert_eq!(ds.metadata.generation, Some(1));
    assert!(
        configmaps(&installed)
            .get_opt("no-opt-in-fbplugin")
            .await
            .map_err(|e| Error::Invalid(e.to_string()))?
            .is_none(),
        "no ConfigMap for it either"
    );

    // 2. An image outside the allow-list, 3. a container and 4. a pull secret the owner did not
    // list: refused per plugin (NotAllowed), the prepared DaemonSet untouched.
    let before = daemonsets(&installed)
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let mut foreign_image = example.clone();
    foreign_image["metadata"]["name"] = json!("foreign-image");
    foreign_image["spec"]["artifact"]["image"] =
        json!(format!("docker.io/attacker/x@sha256:{}", "e".repeat(64)));
    let mut other_container = example.clone();
    other_container["metadata"]["name"] = json!("other-container");
    other_container["spec"]["target"]["container"] = json!("sidecar");
    let mut secret = example.clone();
    secret["metadata"]["name"] = json!("pull-secret");
    secret["spec"]["artifact"]["imagePullSecrets"] = json!([{ "name": "cloud-admin-token" }]);
    for (plugin, field, reason) in [
        (&foreign_image, "spec.artifact.image", "ImageNotAllowed"),
        (
            &other_container,
            "spec.target.container",
            "TargetNotAllowed",
        ),
        (
            &secret,
            "spec.artifact.imagePullSecrets[0].name",
            "PullSecretNotAllowed",
        ),
    ] {
        apply_plugin(&installed, plugin).await?;
        let name = plugin["metadata"]["name"].as_str().unwrap_or_default();
        let refused = wait_for_plugin(
            &plugins,
            name,
            "Accepted",
            "False",
            Some("NotAllowed"),
            WAIT,
        )
        .await
        .map_err(|e| installed.explain(e))?;
        let problems = refused
            .status
            .as_ref()
            .map(|s| s.problems.clone())
            .unwrap_or_default();
        assert!(
            problems
                .iter()
                .any(|p| p.field == field && p.reason == reason),
            "{name}: {problems:?}"
        );
        wait_for_event(&installed, &refused, "Rejected").await?;
    }
    let after = daemonsets(&installed)
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    assert_eq!(
        after.metadata.generation, before.metadata.generation,
        "nothing applied"
    );
    assert!(
        !carries_a_plugin(&after),
        "no refused plugin in the template"
    );

    // 5. A foreign `<ds>-fbplugin` ConfigMap on an opted-in DaemonSet.
    let second = daemonset_like_the_chart(&installed, "second", true)?;
    apply_values(&installed.client(), &[&second], HELM_MANAGER, &ns).await?;
    let foreign_cm = json!({ "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "second-fbplugin", "namespace": ns },
        "data": { "someone-else": "keeps this" } });
    apply_values(&installed.client(), &[&foreign_cm], USER, &ns).await?;
    let mut plugin = example.clone();
    plugin["metadata"]["name"] = json!("to-second");
    plugin["spec"]["target"]["daemonSet"] = json!("second");
    apply_plugin(&installed, &plugin).await?;
    let refused = wait_for_plugin(
        &plugins,
        "to-second",
        "Applied",
        "False",
        Some("ConfigMapNotOwned"),
        WAIT,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    wait_for_event(&installed, &refused, "ConfigMapNotOwned").await?;
    let cm = configmaps(&installed)
        .get("second-fbplugin")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    assert_eq!(
        cm.data
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect::<Vec<_>>(),
        [("someone-else".to_string(), "keeps this".to_string())],
        "not adopted"
    );
    assert!(
        cm.managed_fields()
            .iter()
            .all(|m| m.manager.as_deref() != Some(operator::layout::FIELD_MANAGER))
    );
    let ds = daemonsets(&installed)
        .get("second")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    assert!(
        !operator_manages(&ds),
        "a DaemonSet mounting a foreign ConfigMap is not written"
    );
    delete_and_wait_gone(&installed, &plugins, "to-second").await?;
    assert!(
        configmaps(&installed)
            .get_opt("second-fbplugin")
            .await
            .map_err(|e| Error::Invalid(e.to_string()))?
            .is_some(),
        "deleting the plugin does not delete a ConfigMap the operator did not create"
    );

    // Once its owner removes that ConfigMap, the plugin goes in (the ConfigMap watch maps a
    // `<ds>-fbplugin` name to the DaemonSet's plugins) and the new ConfigMap is the operator's.
    apply_plugin(&installed, &plugin).await?;
    wait_for_plugin(
        &plugins,
        "to-second",
        "Applied",
        "False",
        Some("ConfigMapNotOwned"),
        WAIT,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    configmaps(&installed)
        .delete("second-fbplugin", &DeleteParams::default())
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    wait_for_plugin(
        &plugins,
        "to-second",
        "Applied",
        "True",
        Some("Applied"),
        WAIT,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    let cm = configmaps(&installed)
        .get("second-fbplugin")
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    assert!(
        operator::workload::is_own_configmap(&cm.metadata, "second"),
        "{:?}",
        cm.metadata.labels
    );
    Ok(())
}

/// Suite 7. The operator killed mid-rollout and started again: it writes nothing twice (the
/// DaemonSet's generation counts spec changes: exactly one for one plugin), and the status
/// converges.
#[tokio::test]
async fn restart_mid_rollout_writes_nothing_twice() -> Result<()> {
    let cluster = e2e::cluster_or_skip!();
    let mut installed = Installed::new(&cluster, "restart").await?;
    let before = prepared_daemonset(&installed).await?;
    let generation = before.metadata.generation.unwrap_or_default();
    apply_example(&installed, "out-jsonl").await?;
    let applied = wait_for_object(
        &daemonsets(&installed),
        "fluent-bit",
        "the operator's template",
        WAIT,
        carries_a_plugin,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    assert_eq!(applied.metadata.generation, Some(generation + 1));
    wait_for_plugin(
        &installed.plugins(),
        "out-jsonl",
        "Progressing",
        "True",
        None,
        WAIT,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    let operator_write = |ds: &DaemonSet| {
        ds.managed_fields()
            .iter()
            .find(|m| m.manager.as_deref() == Some(operator::layout::FIELD_MANAGER))
            .and_then(|m| m.time.clone())
    };
    let written = operator_write(&applied);
    // The rendered files; the last known good state is written once the rollout completes.
    let files = |cm: ConfigMap| {
        let mut data = cm.data.unwrap_or_default();
        let good = data.remove(operator::layout::LAST_KNOWN_GOOD_KEY);
        (data, good)
    };
    let (files_before, _) = files(
        configmaps(&installed)
            .get("fluent-bit-fbplugin")
            .await
            .map_err(|e| Error::Invalid(e.to_string()))?,
    );

    // Killed while the DaemonSet rolls (no pod replaced yet), then a new one.
    installed.stop_operator();
    installed.start_operator().await?;
    let after = rolled_out(&installed, "fluent-bit").await?;
    let ready = wait_for_plugin(
        &installed.plugins(),
        "out-jsonl",
        "Ready",
        "True",
        None,
        WAIT,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    assert_eq!(
        after.metadata.generation,
        Some(generation + 1),
        "one template change for one spec change"
    );
    assert_eq!(
        operator_write(&after),
        written,
        "the new operator did not apply the DaemonSet again"
    );
    assert_eq!(hash_of(&after), hash_of(&applied));
    let (files_after, good) = files(
        configmaps(&installed)
            .get("fluent-bit-fbplugin")
            .await
            .map_err(|e| Error::Invalid(e.to_string()))?,
    );
    let hash = hash_of(&after).unwrap_or_default();
    // The previous revision's files go once no pod reads them; this revision's are untouched.
    let revision = operator::render::revision_key("pipeline.conf", &hash);
    assert!(files_after.contains_key(&revision), "{files_after:?}");
    assert!(
        files_after
            .iter()
            .all(|(k, v)| files_before.get(k) == Some(v)),
        "nor the rendered files: {files_after:?} against {files_before:?}"
    );
    assert!(
        good.is_some_and(|g| g.contains(&hash)),
        "the completed rollout is the last known good state ({hash})"
    );
    assert_eq!(counts(&ready), Some((1, 1, 1)));
    installed.check_operator()
}

#[tokio::test]
async fn a_wasm_filter_is_delivered_like_the_other_plugins() -> Result<()> {
    let cluster = e2e::cluster_or_skip!();
    let installed = Installed::new(&cluster, "filter").await?;
    prepared_daemonset(&installed).await?;
    let plugins = installed.plugins();
    for example in ["in-generator", "filter-redact", "out-jsonl"] {
        apply_example(&installed, example).await?;
    }

    let cm = wait_for_object(
        &configmaps(&installed),
        "fluent-bit-fbplugin",
        "all three plugins rendered",
        WAIT,
        |cm: &ConfigMap| {
            cm.data
                .as_ref()
                .map(|_| rendered_file(cm, "pipeline.conf"))
                .is_some_and(|c| {
                    c.contains("[FILTER]") && c.contains("[INPUT]") && c.contains("[OUTPUT]")
                })
        },
    )
    .await
    .map_err(|e| installed.explain(e))?;
    let conf = rendered_file(&cm, "pipeline.conf");
    for line in [
        "Name wasm",
        "WASM_Path /fluent-bit/plugins/filter-redact/filter_redact.wasm",
        "Function_Name redact_filter",
        "Event_Format json",
        "WASM_Heap_Size 66832",
    ] {
        assert!(conf.contains(line), "{line:?} in\n{conf}");
    }
    let plugins_conf = rendered_file(&cm, "plugins.conf");
    assert!(
        !plugins_conf.contains(".wasm"),
        "only .so files are proxy plugins: {plugins_conf}"
    );

    let ds = rolled_out(&installed, "fluent-bit").await?;
    let inits: Vec<String> = ds
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.init_containers)
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(
        inits.len(),
        6,
        "one copy and one verify init container per plugin: {inits:?}"
    );
    // The plugins were applied one after another (the operator may have applied the template
    // more than once); every verify step must still come after every copy step, since init
    // containers run in list order.
    let first_verify = inits
        .iter()
        .position(|n| n.starts_with(operator::layout::VERIFY_INIT_PREFIX));
    assert_eq!(first_verify, Some(3), "{inits:?}");
    assert!(
        inits[3..]
            .iter()
            .all(|n| n.starts_with(operator::layout::VERIFY_INIT_PREFIX)),
        "{inits:?}"
    );
    let ready = wait_for_plugin(
        &plugins,
        "filter-redact",
        "Ready",
        "True",
        Some("RolloutComplete"),
        WAIT,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    assert_eq!(counts(&ready), Some((1, 1, 1)));
    Ok(())
}
