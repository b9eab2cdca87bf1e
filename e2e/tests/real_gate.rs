//! On the real node: a DaemonSet as the official fluent-bit chart renders it, the gate, and the
//! operator's RBAC.
//!
//! One cluster, one node, three parts in turn (each real-node test pays for a node start):
//!
//! 1. **The official chart's DaemonSet** (chart fluent-bit 0.58.1, Fluent Bit 5.1.1, default
//!    values plus the owner's opt-in and the include line, applied as `helm`): the plugin's image
//!    is pulled by digest, the real init containers deliver the file, the pod runs with the
//!    chart's ConfigMap directory mounted at `/fluent-bit/etc/conf` and the operator's directory
//!    beside it, and helm still owns exactly the fields it owned.
//! 2. **The gate**: a DaemonSet that never opted in is never written, an image outside the
//!    allow-list, a container or a pull secret the owner did not list are refused before
//!    anything is applied (the running pod is not replaced), and a foreign `<ds>-fbplugin`
//!    ConfigMap is neither adopted nor deleted; once its owner removes it the plugin goes in and
//!    that DaemonSet's real pod runs it. Each refusal is a condition and an Event.
//! 3. **RBAC**: the chart's ServiceAccount, which the operator runs as, is refused what it must
//!    not do and allowed what it needs.
//!
//! The Fluent Bit container is the node's pause image, as in `real_pods.rs`.

use std::path::Path;

use e2e::real::{
    Clock, WAIT, assert_delivered, carries_a_plugin, config_items, current_pods,
    delete_and_wait_gone, hash_of, manager_entry, out_jsonl_on_node, plugins_dir_of, pods_of,
    rendered_file, rolled_to, template, wait_for_event, wait_ready, without_operator_fields,
};
use e2e::{
    Cluster, Error, HELM_MANAGER, Installed, Result, apply_values, condition, wait_for_object,
    wait_for_plugin,
};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::DeleteParams;
use kube::{Api, ResourceExt};
use operator::layout::{
    CONFIG_PATH_ANNOTATION, CONFIG_VOLUME, CONTAINER_ANNOTATION, FIELD_MANAGER, OPT_IN_LABEL,
};
use serde_json::{Value, json};

const USER: &str = "kubectl-client-side-apply";

/// The official fluent-bit chart (fluent/helm-charts, chart fluent-bit 0.58.1, app 5.1.1) as
/// `helm template fluent-bit fluent/fluent-bit` renders its ServiceAccount, ConfigMap and
/// DaemonSet with default values, plus what an owner adds to opt in: the `labels` and
/// `annotations` values and the include line at the end of `config.outputs`. (Its ClusterRole
/// for the kubernetes filter is left out: nothing here reads the API.)
fn official_chart_objects(namespace: &str) -> Vec<Value> {
    let selector = json!({ "app.kubernetes.io/name": "fluent-bit", "app.kubernetes.io/instance": "fluent-bit" });
    let mut labels = selector.clone();
    labels["helm.sh/chart"] = json!("fluent-bit-0.58.1");
    labels["app.kubernetes.io/version"] = json!("5.1.1");
    labels["app.kubernetes.io/managed-by"] = json!("Helm");
    let mut ds_labels = labels.clone();
    ds_labels[OPT_IN_LABEL] = json!("true");
    let config = "[SERVICE]\n    Daemon Off\n    Flush 1\n    Log_Level info\n    Parsers_File /fluent-bit/etc/parsers.conf\n    Parsers_File /fluent-bit/etc/conf/custom_parsers.conf\n    HTTP_Server On\n    HTTP_Listen 0.0.0.0\n    HTTP_Port 2020\n    Health_Check On\n\n[INPUT]\n    Name tail\n    Path /var/log/containers/*.log\n    multiline.parser docker, cri\n    Tag kube.*\n    Mem_Buf_Limit 5MB\n    Skip_Long_Lines On\n\n[INPUT]\n    Name systemd\n    Tag host.*\n    Systemd_Filter _SYSTEMD_UNIT=kubelet.service\n    Read_From_Tail On\n\n[FILTER]\n    Name kubernetes\n    Match kube.*\n    Merge_Log On\n    Keep_Log Off\n    K8S-Logging.Parser On\n    K8S-Logging.Exclude On\n\n[OUTPUT]\n    Name es\n    Match kube.*\n    Host elasticsearch-master\n    Logstash_Format On\n    Retry_Limit False\n\n[OUTPUT]\n    Name es\n    Match host.*\n    Host elasticsearch-master\n    Logstash_Format On\n    Logstash_Prefix node\n    Retry_Limit False\n\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n";
    let parsers = "[PARSER]\n    Name docker_no_time\n    Format json\n    Time_Keep Off\n    Time_Key time\n    Time_Format %Y-%m-%dT%H:%M:%S.%L\n";
    vec![
        json!({ "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": { "name": "fluent-bit", "namespace": namespace, "labels": labels } }),
        json!({ "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "fluent-bit", "namespace": namespace, "labels": labels },
            "data": { "custom_parsers.conf": parsers, "fluent-bit.conf": config } }),
        json!({ "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": { "name": "fluent-bit", "namespace": namespace, "labels": ds_labels,
                "annotations": {
                    CONTAINER_ANNOTATION: "fluent-bit",
                    CONFIG_PATH_ANNOTATION: "/fluent-bit/etc/conf/fluent-bit.conf",
                } },
            "spec": {
                "selector": { "matchLabels": selector },
                "template": {
                    "metadata": {
                        "labels": selector,
                        "annotations": { "checksum/config": "5c8b0d3f1e2a4b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c" },
                    },
                    "spec": {
                        "serviceAccountName": "fluent-bit",
                        "hostNetwork": false,
                        "dnsPolicy": "ClusterFirst",
                        "containers": [{
                            "name": "fluent-bit",
                            "image": "cr.fluentbit.io/fluent/fluent-bit:5.1.1",
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["/fluent-bit/bin/fluent-bit"],
                            "args": ["--workdir=/fluent-bit/etc", "--config=/fluent-bit/etc/conf/fluent-bit.conf"],
                            "ports": [{ "name": "http", "containerPort": 2020, "protocol": "TCP" }],
                            "livenessProbe": { "httpGet": { "path": "/", "port": "http" } },
                            "readinessProbe": { "httpGet": { "path": "/api/v2/health", "port": "http" } },
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

/// A copy of the official chart's DaemonSet for the node, named `name` (its own pod labels),
/// with the owner's opt-in or (`opt_in` false) without it.
fn another_daemonset(official: &[Value], name: &str, opt_in: bool) -> Result<Value> {
    let mut ds = official
        .iter()
        .find(|o| o["kind"] == "DaemonSet")
        .cloned()
        .ok_or_else(|| Error::Invalid("no DaemonSet among the official chart's objects".into()))?;
    ds["metadata"]["name"] = json!(name);
    ds["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] = json!(name);
    ds["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"] = json!(name);
    if !opt_in {
        if let Some(labels) = ds["metadata"]["labels"].as_object_mut() {
            labels.remove(OPT_IN_LABEL);
        }
        if let Some(metadata) = ds["metadata"].as_object_mut() {
            metadata.remove("annotations");
        }
    }
    Ok(ds)
}

fn daemonsets(installed: &Installed<'_>) -> Api<DaemonSet> {
    Api::namespaced(installed.client(), &installed.namespace)
}

fn configmaps(installed: &Installed<'_>) -> Api<ConfigMap> {
    Api::namespaced(installed.client(), &installed.namespace)
}

async fn get<K>(api: &Api<K>, name: &str) -> Result<K>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get(name)
        .await
        .map_err(|e| Error::Invalid(format!("reading {name}: {e}")))
}

/// A file of the chart's own ConfigMap volume (`config`) of `pod`, as the kubelet projected it.
fn chart_config_file(cluster: &Cluster, pod: &Pod, file: &str) -> Result<String> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let path = cluster
        .dir()
        .unwrap_or_else(|| Path::new("/nonexistent"))
        .join("node/kubelet/pods")
        .join(uid)
        .join("volumes/kubernetes.io~configmap/config")
        .join(file);
    std::fs::read_to_string(&path)
        .map_err(|e| Error::Invalid(format!("the kubelet projected {}: {e}", path.display())))
}

#[tokio::test]
async fn the_official_charts_daemonset_the_gate_and_rbac_on_real_pods() -> Result<()> {
    let mut clock = Clock::start("official-gate-rbac");
    let cluster = Cluster::start_with_node().await?;
    clock.lap("control plane and node up");
    let installed = Installed::new(&cluster, "real-official").await?;
    let host_dir = cluster
        .dir()
        .ok_or_else(|| Error::Invalid("no cluster directory".into()))?
        .join("host");
    let official =
        e2e::fluent_bit_on_real_node(&official_chart_objects(&installed.namespace), &host_dir);
    let as_helm = |objects: Vec<Value>| {
        let client = installed.client();
        let namespace = installed.namespace.clone();
        async move {
            apply_values(
                &client,
                &objects.iter().collect::<Vec<_>>(),
                HELM_MANAGER,
                &namespace,
            )
            .await
        }
    };
    as_helm(official.clone()).await?;

    // 1. The official chart's DaemonSet. Opted in, its config includes the pipeline: the
    // operator mounts the empty one first, and the pod of that template runs.
    let before = wait_for_object(
        &daemonsets(&installed),
        "fluent-bit",
        "the operator's empty pipeline mounted",
        WAIT,
        |d| hash_of(d).is_some(),
    )
    .await
    .map_err(|e| installed.explain(e))?;
    let empty_hash = hash_of(&before).unwrap_or_default();
    let first = rolled_to(&installed, &empty_hash, false).await?;
    clock.lap("operator installed, official chart's DaemonSet running");
    let helm_before = manager_entry(&before, HELM_MANAGER);
    assert!(helm_before.is_some(), "helm applied the DaemonSet");

    let plugin = out_jsonl_on_node(&cluster, &installed.namespace)?;
    apply_values(&installed.client(), &[&plugin], USER, &installed.namespace).await?;
    let ready = wait_ready(&installed, "out-jsonl").await?;
    let hash = ready
        .status
        .as_ref()
        .and_then(|s| s.rendered_hash.clone())
        .unwrap_or_default();
    let pod = rolled_to(&installed, &hash, true).await?;
    clock.lap("plugin applied to Ready");
    assert_ne!(pod.metadata.uid, first.metadata.uid, "a new pod");
    let built = std::fs::read(e2e::built_plugin("libout_jsonl.so")?)
        .map_err(|e| Error::Invalid(format!("reading the built plugin: {e}")))?;
    assert_delivered(&cluster, &pod, &built)?;
    // Both ConfigMaps are mounted as directories in the running pod: the chart's, whose
    // fluent-bit.conf ends with the include, and the operator's, holding the included file.
    let chart_conf = chart_config_file(&cluster, &pod, "fluent-bit.conf")?;
    assert!(
        chart_conf.ends_with("@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n")
            && chart_conf.contains("Name kubernetes"),
        "the chart's own config, as helm wrote it:\n{chart_conf}"
    );
    let pipeline = e2e::real::projected(&cluster, &pod, "pipeline.conf")?;
    assert!(
        pipeline.contains("Name jsonl_file") && !pipeline.contains("Daemon Off"),
        "the operator's sections only:\n{pipeline}"
    );
    assert!(
        config_items(&pod)
            .iter()
            .any(|(_, path)| path == "pipeline.conf"),
        "{:?}",
        config_items(&pod)
    );

    let after = get(&daemonsets(&installed), "fluent-bit").await?;
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
    let mounts = template(&after)["spec"]["containers"][0]["volumeMounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ours = mounts
        .iter()
        .find(|m| m["mountPath"] == "/fluent-bit/etc/fbplugin")
        .ok_or_else(|| {
            Error::Invalid(format!("the operator's directory is mounted: {mounts:?}"))
        })?;
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
    assert_eq!(after.metadata.labels, before.metadata.labels);
    assert_eq!(
        serde_json::to_value(after.spec.as_ref().map(|s| &s.selector)).ok(),
        serde_json::to_value(before.spec.as_ref().map(|s| &s.selector)).ok()
    );
    let rendered = get(&configmaps(&installed), "fluent-bit-fbplugin").await?;
    assert!(rendered_file(&rendered, "plugins.conf").contains("libout_jsonl.so"));

    // 2. The gate. a) A DaemonSet that never opted in: its own pod runs; it is never written.
    let ns = installed.namespace.clone();
    let plugins = installed.plugins();
    as_helm(vec![another_daemonset(&official, "no-opt-in", false)?]).await?;
    let mut to_unprepared = plugin.clone();
    to_unprepared["metadata"]["name"] = json!("to-no-opt-in");
    to_unprepared["spec"]["target"]["daemonSet"] = json!("no-opt-in");
    apply_values(&installed.client(), &[&to_unprepared], USER, &ns).await?;
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
        message.contains(OPT_IN_LABEL)
            && message.contains(CONTAINER_ANNOTATION)
            && message.contains(CONFIG_PATH_ANNOTATION),
        "names what the owner must add: {message}"
    );
    wait_for_event(&installed, &refused, "DaemonSetNotOptedIn").await?;
    let unprepared_pods = wait_for_pods_of(&installed, "no-opt-in").await?;
    let unprepared = get(&daemonsets(&installed), "no-opt-in").await?;
    assert!(
        manager_entry(&unprepared, FIELD_MANAGER).is_none(),
        "the operator never wrote to it: {:?}",
        unprepared.managed_fields()
    );
    assert_eq!(unprepared.metadata.generation, Some(1));
    assert!(
        unprepared_pods
            .iter()
            .all(|p| p.spec.as_ref().is_none_or(|s| s.init_containers.is_none())),
        "its pod runs without any init container"
    );
    assert!(
        configmaps(&installed)
            .get_opt("no-opt-in-fbplugin")
            .await
            .map_err(|e| Error::Invalid(e.to_string()))?
            .is_none(),
        "no ConfigMap for it either"
    );
    clock.lap("not opted in: refused");

    // b) An image outside the allow-list, c) a container and d) a pull secret the owner did
    // not list: refused per plugin (NotAllowed), the running pod not replaced.
    let mut foreign_image = plugin.clone();
    foreign_image["metadata"]["name"] = json!("foreign-image");
    foreign_image["spec"]["artifact"]["image"] =
        json!(format!("docker.io/attacker/x@sha256:{}", "e".repeat(64)));
    let mut other_container = plugin.clone();
    other_container["metadata"]["name"] = json!("other-container");
    other_container["spec"]["target"]["container"] = json!("sidecar");
    let mut secret = plugin.clone();
    secret["metadata"]["name"] = json!("pull-secret");
    secret["spec"]["artifact"]["imagePullSecrets"] = json!([{ "name": "cloud-admin-token" }]);
    for (refused, field, reason) in [
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
        apply_values(&installed.client(), &[refused], USER, &ns).await?;
        let name = refused["metadata"]["name"].as_str().unwrap_or_default();
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
    let unchanged = get(&daemonsets(&installed), "fluent-bit").await?;
    assert_eq!(
        unchanged.metadata.generation, after.metadata.generation,
        "nothing applied"
    );
    let running = current_pods(&installed).await?;
    assert_eq!(
        running
            .iter()
            .map(|p| p.metadata.uid.clone())
            .collect::<Vec<_>>(),
        vec![pod.metadata.uid.clone()],
        "the running pod was not replaced"
    );
    assert!(
        wait_ready(&installed, "out-jsonl").await.is_ok(),
        "the admitted plugin stays Ready"
    );
    clock.lap("image, container, pull secret: refused");

    // e) A foreign `<ds>-fbplugin` ConfigMap beside an opted-in DaemonSet.
    as_helm(vec![another_daemonset(&official, "second", true)?]).await?;
    let foreign_cm = json!({ "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "second-fbplugin", "namespace": ns },
        "data": { "someone-else": "keeps this" } });
    apply_values(&installed.client(), &[&foreign_cm], USER, &ns).await?;
    let mut to_second = plugin.clone();
    to_second["metadata"]["name"] = json!("to-second");
    to_second["spec"]["target"]["daemonSet"] = json!("second");
    apply_values(&installed.client(), &[&to_second], USER, &ns).await?;
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
    let cm = get(&configmaps(&installed), "second-fbplugin").await?;
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
            .all(|m| m.manager.as_deref() != Some(FIELD_MANAGER))
    );
    let second = get(&daemonsets(&installed), "second").await?;
    assert!(
        manager_entry(&second, FIELD_MANAGER).is_none(),
        "a DaemonSet mounting a foreign ConfigMap is not written"
    );
    delete_and_wait_gone(&installed, "to-second").await?;
    assert!(
        configmaps(&installed)
            .get_opt("second-fbplugin")
            .await
            .map_err(|e| Error::Invalid(e.to_string()))?
            .is_some(),
        "deleting the plugin does not delete a ConfigMap the operator did not create"
    );
    // Once its owner removes that ConfigMap, the plugin goes in (the ConfigMap watch maps a
    // `<ds>-fbplugin` name to the DaemonSet) and the new ConfigMap is the operator's; the
    // second DaemonSet's real pod runs it.
    apply_values(&installed.client(), &[&to_second], USER, &ns).await?;
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
    wait_ready(&installed, "to-second").await?;
    let cm = get(&configmaps(&installed), "second-fbplugin").await?;
    assert!(
        operator::workload::is_own_configmap(&cm.metadata, "second"),
        "{:?}",
        cm.metadata.labels
    );
    let second = get(&daemonsets(&installed), "second").await?;
    assert!(carries_a_plugin(&second));
    let second_pods = wait_for_pods_of(&installed, "second").await?;
    // Each plugin has its own directory, named after it.
    let delivered = plugins_dir_of(&cluster, &second_pods[0]).join("to-second/libout_jsonl.so");
    assert!(
        std::fs::read(&delivered).is_ok_and(|copied| copied == built),
        "{} is the built file byte for byte",
        delivered.display()
    );
    clock.lap("foreign ConfigMap: refused, then taken once removed");

    // 3. RBAC: the chart's ServiceAccount, which the operator runs as.
    let client = cluster
        .client_for_service_account(&ns, &installed.service_account)
        .await?;
    let forbidden = |r: std::result::Result<(), kube::Error>, what: &str| match r {
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    forbidden(
        secrets.list(&Default::default()).await.map(|_| ()),
        "listing Secrets",
    );
    let as_operator: Api<DaemonSet> = Api::namespaced(client.clone(), &ns);
    forbidden(
        as_operator
            .delete("no-opt-in", &DeleteParams::default())
            .await
            .map(|_| ()),
        "deleting a DaemonSet",
    );
    let mut copy = unprepared.clone();
    copy.metadata = kube::api::ObjectMeta {
        name: Some("another".into()),
        ..Default::default()
    };
    forbidden(
        as_operator
            .create(&Default::default(), &copy)
            .await
            .map(|_| ()),
        "creating a DaemonSet",
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    forbidden(
        pods.delete(&pod.name_any(), &DeleteParams::default())
            .await
            .map(|_| ()),
        "deleting a Fluent Bit pod",
    );
    let elsewhere: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    forbidden(
        elsewhere.list(&Default::default()).await.map(|_| ()),
        "ConfigMaps outside its namespace",
    );
    // What it needs works with the same account.
    as_operator
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(format!("get DaemonSet as the SA: {e}")))?;
    let plugins_as_operator: Api<fbplugin_crds::FluentBitPlugin> = Api::namespaced(client, &ns);
    plugins_as_operator
        .list(&Default::default())
        .await
        .map_err(|e| Error::Invalid(format!("list plugins as the SA: {e}")))?;
    assert!(
        get(&daemonsets(&installed), "no-opt-in").await.is_ok(),
        "the refused delete left it"
    );
    clock.lap("RBAC");
    Ok(())
}

/// Waits until DaemonSet `daemonset` runs one Ready pod; returns its pods.
async fn wait_for_pods_of(installed: &Installed<'_>, daemonset: &str) -> Result<Vec<Pod>> {
    e2e::wait_for(
        &format!("one Ready pod of DaemonSet {daemonset}"),
        WAIT,
        std::time::Duration::from_millis(500),
        || async {
            let pods = pods_of(installed, daemonset).await?;
            Ok(if pods.len() == 1 && pods.iter().all(e2e::real::is_ready) {
                Ok(pods)
            } else {
                Err(format!("pods:\n{}", e2e::real::describe_pods(&pods)))
            })
        },
    )
    .await
    .map_err(|e| installed.explain(e))
}
