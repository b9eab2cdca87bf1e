//! The operator's delivery path on real pods: kubelet 1.20.2 + containerd + runc run the
//! DaemonSet, the plugin image is built by the image tool, pushed to the node's registry and
//! pulled by digest, the init containers really run the copy program, and the pod status the
//! operator reads is the kubelet's.
//!
//! The Fluent Bit container here is the node's pause image (the operator's part ends at the
//! files it delivers; whether they are there is read from the pod's volume on the node),
//! except in the stand-in test: there it is the STAND-IN Fluent Bit image ([`e2e::StandIn`],
//! this project's test host, not Fluent Bit), or the image of `E2E_FLUENT_BIT_IMAGE`
//! ([`e2e::FluentBit`]), which runs the rendered config in the pod.
//!
//! Each test prints `e2e timing:` lines (node up, each phase) to stderr; `--no-capture` shows
//! them.

use std::path::Path;
use std::time::Duration;

use e2e::real::{
    Clock, StatusHistory, WAIT, assert_delivered, config_dir_of, config_items, container_logs,
    counts, current_pods, delete_and_wait_gone, describe_pods, example_file_on_node,
    example_on_node, hash_of, init_statuses, out_jsonl_on_node, plugins_dir_of, prepared_objects,
    projected, rendered_file, rendered_hash, rolled_to, set_property, setup, setup_with, template,
    wait_for_pods, wait_ready, waiting_reason, walk, without_operator_fields,
};
use e2e::{
    Cluster, Error, Installed, Result, apply_values, condition, example_plugin, wait_for_plugin,
};
use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use operator::layout::{HASH_ANNOTATION, INIT_PREFIX};
use serde_json::{Value, json};

const USER: &str = "kubectl-client-side-apply";

/// [`prepared_objects`] with `fluent_bit` as the main container: the STAND-IN Fluent Bit
/// ([`e2e::StandIn`], imported into the node's containerd), or the image of
/// `E2E_FLUENT_BIT_IMAGE` ([`e2e::FluentBit`]). It runs the chart's config at the chart's
/// path, so the `@INCLUDE` of the operator's pipeline file and the plugins it names are read
/// from the pod's real mounts (no `--root`); the stand-in skips the chart's built-in sections
/// (`tail`, `null`). The test host needs a writable `/tmp` (an emptyDir).
fn fluent_bit_objects(
    fluent_bit: &e2e::FluentBitContainer,
    installed: &Installed<'_>,
    host_dir: &Path,
) -> Vec<Value> {
    with_fluent_bit(fluent_bit, prepared_objects(installed, host_dir))
}

/// `objects` (the chart's Fluent Bit objects for the node) with `fluent_bit` as the main
/// container, as [`fluent_bit_objects`] says.
fn with_fluent_bit(fluent_bit: &e2e::FluentBitContainer, mut objects: Vec<Value>) -> Vec<Value> {
    for object in &mut objects {
        if object["kind"] != "DaemonSet" {
            continue;
        }
        let container = &mut object["spec"]["template"]["spec"]["containers"][0];
        container["image"] = json!(fluent_bit.image);
        container["imagePullPolicy"] = json!(fluent_bit.pull_policy);
        container["command"] = json!(fluent_bit.command);
        container["args"] = json!([]);
        // The test host writes a small core shim (a shared object it dlopens per plugin) to
        // the temporary directory; the root filesystem is read-only.
        container["volumeMounts"]
            .as_array_mut()
            .expect("the chart's container has mounts")
            .push(json!({ "name": "standin-tmp", "mountPath": "/tmp" }));
        object["spec"]["template"]["spec"]["volumes"]
            .as_array_mut()
            .expect("the chart's pod has volumes")
            .push(json!({ "name": "standin-tmp", "emptyDir": {} }));
    }
    objects
}

/// Where the chart's DaemonSet mounts its config (`fluent-bit.conf` of ConfigMap `fluent-bit`).
const CHART_CONFIG: &str = "/fluent-bit/etc/conf/fluent-bit.conf";

/// Quick start on a real node: the image is pulled by digest, the real init containers copy
/// and verify the file, the pod runs, the plugin turns Ready from the kubelet's status.
///
/// It also proves the config delivery on a real kubelet and runc: the chart's config
/// directory and the operator's directory are both mounted (the operator once mounted a
/// `subPath` file inside the chart's ConfigMap directory, which runc refuses,
/// kubernetes/kubernetes#61545), and the kubelet projects the current revision's keys to the
/// fixed names the chart's `@INCLUDE` reads.
#[tokio::test]
async fn quick_start_on_a_real_node_delivers_the_verified_file() -> Result<()> {
    let mut clock = Clock::start("quick-start");
    let cluster = Cluster::start_with_node().await?;
    clock.lap("control plane and node up");
    let installed = setup(&cluster, "real-quick").await?;
    clock.lap("operator installed, chart DaemonSet rolled out");
    let daemonsets: Api<DaemonSet> = Api::namespaced(installed.client(), &installed.namespace);
    let before = daemonsets
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(format!("reading DaemonSet fluent-bit: {e}")))?;
    let history = StatusHistory::watch(&installed, "out-jsonl").await?;
    let plugin = out_jsonl_on_node(&cluster, &installed.namespace)?;
    clock.lap("image built and pushed");
    apply_values(&installed.client(), &[&plugin], USER, &installed.namespace).await?;
    let ready = wait_ready(&installed, "out-jsonl").await?;
    clock.lap("applied to Ready");
    assert!(
        history.saw(&[
            ("Applied", "True"),
            ("Progressing", "True"),
            ("Ready", "False")
        ]),
        "the rollout was reported as in progress before Ready: {:?}",
        history.seen()
    );
    assert_eq!(counts(&ready), Some((1, 1, 1)));
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

    // The pod template gained exactly the operator's parts.
    let after = daemonsets
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(format!("reading DaemonSet fluent-bit: {e}")))?;
    let hash = rendered_hash(&ready)?;
    assert_eq!(hash_of(&after).as_deref(), Some(hash.as_str()));
    let (stripped, removed) = without_operator_fields(template(&after));
    assert_eq!(
        removed[..3],
        [1, 2, 2],
        "the config hash, one copy and one verify step, the plugins emptyDir and the rendered ConfigMap volume"
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
    assert_eq!(
        ours[1]["name"],
        format!(
            "fbplugin-verify-out-jsonl-{}",
            hash.get(..6).unwrap_or_default()
        )
    );
    assert_eq!(ours[0]["volumeMounts"][0]["subPath"], "out-jsonl");
    assert_eq!(ours[1]["volumeMounts"][0]["readOnly"], true);

    // What `kubectl get fbp -o wide` shows, from the API server's Table rendering.
    let rows = e2e::printed_columns(&installed.client(), &installed.namespace).await?;
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
    let pods = current_pods(&installed).await?;
    assert_eq!(pods.len(), 1, "one node, one pod");
    let status = pods[0].status.clone().unwrap_or_default();
    let inits = status.init_container_statuses.unwrap_or_default();
    assert_eq!(inits.len(), 2, "copy and verify steps ran: {inits:?}");
    for init in &inits {
        let done = init.state.as_ref().and_then(|s| s.terminated.as_ref());
        assert_eq!(done.map(|t| t.exit_code), Some(0), "{init:?}");
        assert!(
            init.image_id.contains("@sha256:"),
            "pulled by digest: {}",
            init.image_id
        );
    }
    let delivered = plugins_dir_of(&cluster, &pods[0]).join("out-jsonl/libout_jsonl.so");
    let built = std::fs::read(e2e::built_plugin("libout_jsonl.so")?)
        .map_err(|e| Error::Invalid(format!("reading the built plugin: {e}")))?;
    let copied = std::fs::read(&delivered).map_err(|e| {
        Error::Invalid(format!(
            "reading the delivered {}: {e}",
            delivered.display()
        ))
    })?;
    assert!(
        copied == built,
        "the delivered file is the built one byte for byte"
    );
    let config = config_dir_of(&cluster, &pods[0]);
    let pipeline = std::fs::read_to_string(config.join("pipeline.conf")).map_err(|e| {
        Error::Invalid(format!(
            "the kubelet projected pipeline.conf into {}: {e}",
            config.display()
        ))
    })?;
    assert!(pipeline.contains("Name jsonl_file"), "{pipeline}");
    let plugins_conf = std::fs::read_to_string(config.join("plugins.conf"))
        .map_err(|e| Error::Invalid(format!("plugins.conf projected: {e}")))?;
    assert!(
        plugins_conf.contains("/fluent-bit/plugins/out-jsonl/libout_jsonl.so"),
        "{plugins_conf}"
    );
    Ok(())
}

/// Failure states from reality, one phase after the other on one DaemonSet.
///
/// A tampered plugin file (its sha256 is not the spec's): the real copy step fails
/// (Init:Error, then CrashLoopBackOff), the plugin goes Degraded with the copy program's own
/// message, and the file never reaches Fluent Bit's plugin directory.
///
/// Then the image is pinned to a digest the registry does not have: containerd's pull fails,
/// the kubelet reports ErrImagePull / ImagePullBackOff on the copy step, and the plugin goes
/// Degraded (`ImagePullFailed`) naming the pod, the init container and the image.
#[tokio::test]
async fn a_tampered_or_missing_plugin_never_reaches_fluent_bit_and_the_plugin_is_degraded()
-> Result<()> {
    let mut clock = Clock::start("failures");
    let cluster = Cluster::start_with_node().await?;
    clock.lap("control plane and node up");
    let installed = setup(&cluster, "real-tamper").await?;
    clock.lap("operator installed, chart DaemonSet rolled out");
    let mut plugin = out_jsonl_on_node(&cluster, &installed.namespace)?;
    let pushed_sha256 = plugin["spec"]["artifact"]["sha256"].clone();
    // The image holds the built file; the spec expects other bytes: what a swapped file in a
    // registry looks like to the copy step.
    let expected = "0".repeat(64);
    plugin["spec"]["artifact"]["sha256"] = json!(expected);
    apply_values(&installed.client(), &[&plugin], USER, &installed.namespace).await?;
    let degraded = wait_for_plugin(
        &installed.plugins(),
        "out-jsonl",
        "Degraded",
        "True",
        Some("InitContainerFailed"),
        WAIT,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    clock.lap("tampered file to Degraded (InitContainerFailed)");
    let message = condition(&degraded, "Degraded")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("sha256 mismatch") && message.contains(&expected),
        "the init container's own words: {message}"
    );
    assert_eq!(
        condition(&degraded, "Ready").map(|c| c.status.as_str()),
        Some("False")
    );
    // The kubelet's record: the copy step terminated with an error and is restarted.
    let pods = current_pods(&installed).await?;
    let new_pod = pods
        .iter()
        .find(|p| p.spec.as_ref().is_some_and(|s| s.init_containers.is_some()))
        .ok_or_else(|| Error::Invalid(format!("no pod of the new template: {pods:?}")))?;
    let status = new_pod.status.clone().unwrap_or_default();
    let copy = status
        .init_container_statuses
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| Error::Invalid("no init container status".into()))?;
    let terminated = copy
        .state
        .as_ref()
        .and_then(|s| s.terminated.clone())
        .or_else(|| copy.last_state.as_ref().and_then(|s| s.terminated.clone()));
    assert!(
        terminated.as_ref().is_some_and(|t| t.exit_code != 0),
        "the copy step failed for real: {copy:?}"
    );
    let dir = plugins_dir_of(&cluster, new_pod);
    let leaked: Vec<String> = walk(&dir);
    // The kubelet restarts the failed init container (back-off), so the copy program may be
    // mid-copy when this looks: its temporary `.fbplugin-copy-*` file is never a name Fluent
    // Bit loads, and it is removed when the sha256 check fails again.
    let is_temporary = |f: &String| {
        std::path::Path::new(f)
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(".fbplugin-copy-"))
    };
    assert!(
        leaked
            .iter()
            .filter(|f| !is_temporary(f))
            .all(|f| !f.ends_with(".so")),
        "no plugin file in {}: {leaked:?}",
        dir.display()
    );
    assert_eq!(
        status.phase.as_deref(),
        Some("Pending"),
        "Fluent Bit never started: {}",
        new_pod.name_any()
    );

    // Phase 2: the right sha256, but a digest that was never pushed.
    let pushed = plugin["spec"]["artifact"]["image"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let repository = pushed
        .split_once("@sha256:")
        .map(|(repository, _)| repository.to_owned())
        .ok_or_else(|| Error::Invalid(format!("not an image by digest: {pushed}")))?;
    let missing = format!("{repository}@sha256:{}", "1".repeat(64));
    plugin["spec"]["artifact"]["image"] = json!(missing);
    plugin["spec"]["artifact"]["sha256"] = pushed_sha256;
    apply_values(&installed.client(), &[&plugin], USER, &installed.namespace).await?;
    let unpullable = wait_for_plugin(
        &installed.plugins(),
        "out-jsonl",
        "Degraded",
        "True",
        Some("ImagePullFailed"),
        WAIT,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    clock.lap("missing digest to Degraded (ImagePullFailed)");
    let message = condition(&unpullable, "Degraded")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("init container fbplugin-out-jsonl")
            && message.contains(&format!("cannot pull image {missing}")),
        "the pod, the step and the image are named: {message}"
    );
    assert_eq!(
        condition(&unpullable, "Ready").map(|c| c.status.as_str()),
        Some("False")
    );
    // The kubelet's record on the pod of the new template: the copy step waits on the pull.
    let pods = wait_for_pods(&installed, "a pod whose copy step cannot pull", |pods| {
        pods.iter().any(|p| {
            init_statuses(p).first().is_some_and(|c| {
                c.image == missing
                    && waiting_reason(c)
                        .is_some_and(|r| r == "ErrImagePull" || r == "ImagePullBackOff")
            })
        })
    })
    .await?;
    assert!(
        pods.iter().all(|p| walk(&plugins_dir_of(&cluster, p))
            .iter()
            .all(|f| !f.ends_with(".so"))),
        "no plugin file delivered"
    );
    Ok(())
}

/// The lifecycle of a plugin on one DaemonSet with real pods: applied → Ready; an invalid
/// plugin beside it is refused and changes nothing; an update rolls the pods to the new config;
/// delete rolls them back to the template without the operator's init containers; re-applying
/// restores it. On the way: the init containers' securityContext is what runc really enforced.
#[tokio::test]
async fn lifecycle_on_real_pods_invalid_beside_valid_update_restart_delete_restore() -> Result<()> {
    let mut clock = Clock::start("lifecycle");
    let cluster = Cluster::start_with_node().await?;
    clock.lap("control plane and node up");
    let mut installed = setup(&cluster, "real-life").await?;
    clock.lap("operator installed, chart DaemonSet rolled out");
    let plugins = installed.plugins();
    let daemonsets: Api<DaemonSet> = Api::namespaced(installed.client(), &installed.namespace);
    let get_ds = || async {
        daemonsets
            .get("fluent-bit")
            .await
            .map_err(|e| Error::Invalid(format!("reading DaemonSet fluent-bit: {e}")))
    };
    let built = std::fs::read(e2e::built_plugin("libout_jsonl.so")?)
        .map_err(|e| Error::Invalid(format!("reading the built plugin: {e}")))?;
    let before = get_ds()
        .await?
        .spec
        .map(|s| s.template)
        .ok_or_else(|| Error::Invalid("the DaemonSet has no spec".into()))?;
    // The opted-in DaemonSet already includes the operator's empty pipeline: its hash.
    let empty_hash = before
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(HASH_ANNOTATION))
        .cloned()
        .ok_or_else(|| Error::Invalid(format!("no {HASH_ANNOTATION} on the prepared template")))?;

    // 1. A valid plugin: Ready, its file delivered by init containers runc confined.
    let mut valid = out_jsonl_on_node(&cluster, &installed.namespace)?;
    apply_values(&installed.client(), &[&valid], USER, &installed.namespace).await?;
    let ready = wait_ready(&installed, "out-jsonl").await?;
    let first_hash = rendered_hash(&ready)?;
    let first = rolled_to(&installed, &first_hash, true).await?;
    assert_delivered(&cluster, &first, &built)?;
    assert_confined(&cluster, &first)?;

    assert!(
        ready
            .finalizers()
            .iter()
            .any(|f| f == "fbplugin.dev/cleanup"),
        "the operator's finalizer: {:?}",
        ready.finalizers()
    );
    clock.lap("valid plugin to Ready, pod checked");

    // Applying the same spec again, or a change outside the spec (a label), writes nothing:
    // not the DaemonSet, not the ConfigMap, not the status.
    let configmaps: Api<ConfigMap> = Api::namespaced(installed.client(), &installed.namespace);
    let quiet_ds = get_ds().await?.resource_version();
    let quiet_cm = configmaps
        .get("fluent-bit-fbplugin")
        .await
        .map_err(|e| Error::Invalid(format!("reading the operator's ConfigMap: {e}")))?
        .resource_version();
    let quiet_status = ready.status.clone();
    apply_values(&installed.client(), &[&valid], USER, &installed.namespace).await?;
    plugins
        .patch(
            "out-jsonl",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "team": "logging" } } })),
        )
        .await
        .map_err(|e| Error::Invalid(format!("labelling out-jsonl: {e}")))?;
    // Nothing is expected to happen: give the operator time to do something wrong.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        get_ds().await?.resource_version(),
        quiet_ds,
        "the DaemonSet is not written: {}",
        installed.operator_log_tail(20)
    );
    let cm = configmaps
        .get("fluent-bit-fbplugin")
        .await
        .map_err(|e| Error::Invalid(format!("reading the operator's ConfigMap: {e}")))?;
    assert_eq!(
        cm.resource_version(),
        quiet_cm,
        "the ConfigMap is not written"
    );
    let labelled = plugins
        .get("out-jsonl")
        .await
        .map_err(|e| Error::Invalid(format!("reading out-jsonl: {e}")))?;
    assert_eq!(labelled.status, quiet_status, "the status is not rewritten");
    clock.lap("no change, no write");

    // 2. An invalid plugin beside it: refused with its reason; nothing else moves.
    let generation = get_ds().await?.metadata.generation;
    let mut bad = example_plugin("in-generator", &installed.namespace)?;
    bad["metadata"]["name"] = json!("bad-generator");
    bad["spec"]["instances"][0]["properties"] = json!([{ "name": "Mem_Buf_Limit", "value": "4M" }]);
    apply_values(&installed.client(), &[&bad], USER, &installed.namespace).await?;
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
    let why = condition(&rejected, "Accepted")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        why.contains("spec.instances[0].properties[0].name"),
        "the refusal names the field: {why}"
    );
    let still = plugins
        .get("out-jsonl")
        .await
        .map_err(|e| Error::Invalid(format!("reading out-jsonl: {e}")))?;
    assert_eq!(
        condition(&still, "Ready").map(|c| c.status.as_str()),
        Some("True"),
        "the valid plugin stays Ready"
    );
    assert_eq!(
        get_ds().await?.metadata.generation,
        generation,
        "the invalid plugin did not change the DaemonSet"
    );
    let pods = current_pods(&installed).await?;
    assert_eq!(
        pods.iter()
            .map(|p| p.metadata.uid.clone())
            .collect::<Vec<_>>(),
        vec![first.metadata.uid.clone()],
        "the pod was not restarted:\n{}",
        describe_pods(&pods)
    );
    assert_delivered(&cluster, &first, &built)?;
    // What `kubectl get fbp` shows for it: not Ready, its own reason, no rollout of its own
    // (the DaemonSet's pods are the valid plugin's); and a Warning Event naming the field.
    let rows = e2e::printed_columns(&installed.client(), &installed.namespace).await?;
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
    e2e::wait_for(
        "a Warning Event naming the field",
        WAIT,
        Duration::from_millis(300),
        || async {
            let events = e2e::events_for(&installed.client(), &rejected).await?;
            Ok(
                if events.iter().any(|e| {
                    e.type_.as_deref() == Some("Warning")
                        && e.message.as_deref().is_some_and(|m| m.contains(field))
                }) {
                    Ok(())
                } else {
                    Err(e2e::describe_events(&events))
                },
            )
        },
    )
    .await
    .map_err(|e| installed.explain(e))?;
    delete_and_wait_gone(&installed, "bad-generator").await?;

    clock.lap("invalid plugin refused");

    // 3. An update: the pods roll to the new config, which the kubelet projects. The
    // operator is killed and restarted mid-rollout (template applied, pod not yet replaced):
    // the new one writes nothing twice, so the template changes once and the pod rolls once.
    let generation = get_ds().await?.metadata.generation.unwrap_or_default();
    set_property(&mut valid, "max_size", "20M");
    apply_values(&installed.client(), &[&valid], USER, &installed.namespace).await?;
    e2e::wait_for_object(
        &daemonsets,
        "fluent-bit",
        "the updated template applied",
        WAIT,
        |ds| ds.metadata.generation == Some(generation + 1),
    )
    .await
    .map_err(|e| installed.explain(e))?;
    installed.stop_operator();
    installed.start_operator().await?;
    let updated = wait_ready(&installed, "out-jsonl").await?;
    assert_eq!(
        get_ds().await?.metadata.generation,
        Some(generation + 1),
        "one template change for one spec change, across the operator's restart"
    );
    let second_hash = rendered_hash(&updated)?;
    assert_ne!(second_hash, first_hash, "a new config, a new hash");
    let second = rolled_to(&installed, &second_hash, true).await?;
    assert_ne!(second.metadata.uid, first.metadata.uid, "a new pod");
    let pipeline = projected(&cluster, &second, "pipeline.conf")?;
    assert!(pipeline.contains("20M"), "the new config: {pipeline}");
    let key = operator::render::revision_key("pipeline.conf", &second_hash);
    let items = config_items(&second);
    assert!(
        items
            .iter()
            .any(|(k, path)| *k == key && path == "pipeline.conf"),
        "the pod reads this revision's key {key} as pipeline.conf: {items:?}"
    );
    assert_delivered(&cluster, &second, &built)?;

    let cm = configmaps
        .get("fluent-bit-fbplugin")
        .await
        .map_err(|e| Error::Invalid(format!("reading the operator's ConfigMap: {e}")))?;
    let good = cm
        .data
        .as_ref()
        .and_then(|d| d.get(operator::layout::LAST_KNOWN_GOOD_KEY))
        .cloned()
        .unwrap_or_default();
    assert!(
        good.contains(&second_hash),
        "the completed rollout is the last known good state ({second_hash}): {good}"
    );
    clock.lap("update rolled to Ready");

    // 4. Delete: the template loses the init containers; the pods roll without them.
    delete_and_wait_gone(&installed, "out-jsonl").await?;
    e2e::wait_for_object(
        &daemonsets,
        "fluent-bit",
        "the pod template as it was before the first plugin",
        WAIT,
        |ds| ds.spec.as_ref().map(|s| &s.template) == Some(&before),
    )
    .await
    .map_err(|e| installed.explain(e))?;
    let without = rolled_to(&installed, &empty_hash, false).await?;
    assert_ne!(without.metadata.uid, second.metadata.uid, "a new pod");
    let leftover = walk(&plugins_dir_of(&cluster, &without));
    assert!(
        leftover.iter().all(|f| !f.ends_with(".so")),
        "no plugin file in the new pod: {leftover:?}"
    );

    let pipeline = projected(&cluster, &without, "pipeline.conf")?;
    assert!(
        !pipeline.is_empty() && !pipeline.contains('['),
        "the included file stays, with no section: {pipeline}"
    );
    clock.lap("delete rolled back");

    // 5. Re-applied: restored, to the same config as before the delete.
    let mut again = valid.clone();
    if let Some(metadata) = again["metadata"].as_object_mut() {
        metadata.remove("resourceVersion");
    }
    apply_values(&installed.client(), &[&again], USER, &installed.namespace).await?;
    let restored = wait_ready(&installed, "out-jsonl").await?;
    assert_eq!(
        rendered_hash(&restored)?,
        second_hash,
        "the same spec renders the same config"
    );
    let back = rolled_to(&installed, &second_hash, true).await?;
    clock.lap("re-applied to Ready");
    assert_delivered(&cluster, &back, &built)?;

    // 6. The DaemonSet deleted first: the plugin says so, and deleting it still completes.
    daemonsets
        .delete("fluent-bit", &DeleteParams::default())
        .await
        .map_err(|e| Error::Invalid(format!("deleting DaemonSet fluent-bit: {e}")))?;
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
    delete_and_wait_gone(&installed, "out-jsonl").await?;
    clock.lap("DaemonSet deleted, then the plugin");
    Ok(())
}

/// The init containers of `pod` ran as the operator's securityContext says, as runc was told
/// (the OCI runtime spec containerd gave it): uid/gid 65532 (runAsNonRoot holds), a read-only
/// root filesystem, no new privileges, no capabilities; and the copy still succeeded (exit 0,
/// its file owned by uid 65532 on the node).
fn assert_confined(cluster: &Cluster, pod: &Pod) -> Result<()> {
    let spec = pod.spec.clone().unwrap_or_default();
    for init in spec.init_containers.iter().flatten() {
        let context = init.security_context.clone().unwrap_or_default();
        assert_eq!(context.run_as_non_root, Some(true), "{}", init.name);
        assert_eq!(
            context.read_only_root_filesystem,
            Some(true),
            "{}",
            init.name
        );
    }
    let statuses = init_statuses(pod);
    assert_eq!(statuses.len(), 2, "copy and verify steps: {statuses:?}");
    for status in &statuses {
        let exit = status
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .map(|t| t.exit_code);
        assert_eq!(exit, Some(0), "{} succeeded: {status:?}", status.name);
        let id = status
            .container_id
            .as_deref()
            .ok_or_else(|| Error::Invalid(format!("{} has no container id", status.name)))?;
        let runtime = cluster.runtime_spec(id)?;
        let process = &runtime["process"];
        assert_eq!(process["user"]["uid"], 65532, "{}: {process}", status.name);
        assert_eq!(process["user"]["gid"], 65532, "{}: {process}", status.name);
        assert_eq!(
            runtime["root"]["readonly"], true,
            "{}: the root filesystem is mounted read-only: {}",
            status.name, runtime["root"]
        );
        assert_eq!(process["noNewPrivileges"], true, "{}", status.name);
        for set in ["bounding", "effective", "permitted"] {
            let caps = process["capabilities"][set]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(
                caps.is_empty(),
                "{}: {set} capabilities {caps:?}",
                status.name
            );
        }
    }
    let file = plugins_dir_of(cluster, pod).join("out-jsonl/libout_jsonl.so");
    let owner = std::fs::metadata(&file)
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .map_err(|e| Error::Invalid(format!("stat {}: {e}", file.display())))?;
    assert_eq!(
        owner,
        65532,
        "the copy step wrote {} as uid 65532",
        file.display()
    );
    Ok(())
}

/// The stand-in Fluent Bit (the test host in an image) runs the chart's config in the real
/// pod: the chart's `@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf` reads the operator's
/// directory mount, its `plugins.conf` loads both delivered `.so` plugins from
/// `/fluent-bit/plugins/<name>/`, the `[FILTER] Name wasm` section runs the delivered
/// filter-redact `.wasm`, and the generator's records reach the out-jsonl file on the host
/// (the chart's `/var/log/fbplugin` hostPath) intact but for the redacted field.
///
/// The generator's `fields` get a `password` for the filter to redact (the example has none).
/// With `E2E_FLUENT_BIT_IMAGE` set, that image runs instead of the stand-in, with the same
/// checks ([`e2e::FluentBit`]).
#[tokio::test]
async fn the_standin_fluent_bit_runs_the_rendered_config_and_records_flow() -> Result<()> {
    let started = std::time::Instant::now();
    let generator_so = e2e::built_plugin("libin_generator.so")?;
    let jsonl_so = e2e::built_plugin("libout_jsonl.so")?;
    let redact_wasm = fluent_bit_wasm_filter_test_host::build_wasm("filter-redact")
        .map_err(|e| Error::Invalid(format!("building the filter-redact .wasm: {e}")))?;
    let fluent_bit = e2e::FluentBit::from_env(&[&generator_so, &jsonl_so])?;
    if let e2e::FluentBit::StandIn(standin) = &fluent_bit {
        eprintln!(
            "e2e: stand-in image {}: {} bytes ({:.1} MiB), files {:?}",
            standin.reference,
            standin.size,
            standin.size as f64 / (1024.0 * 1024.0),
            standin.files
        );
    }
    let mut clock = Clock::start("standin");
    let cluster = Cluster::start_with_node().await?;
    clock.lap("images built, control plane and node up");
    let container = fluent_bit.container(&cluster, CHART_CONFIG)?;
    eprintln!("e2e: the Fluent Bit container runs {container:?}");
    let mut installed = setup_with(&cluster, "real-standin", |installed, host_dir| {
        fluent_bit_objects(&container, installed, host_dir)
    })
    .await?;
    clock.lap("operator installed, chart DaemonSet rolled out");
    let mut generator = example_on_node(
        &cluster,
        &installed.namespace,
        "in-generator",
        "libin_generator.so",
    )?;
    for property in generator["spec"]["instances"][0]["properties"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if property["name"] == "fields" {
            property["value"] = json!("source=in-generator, team=logging, password=hunter2");
        }
    }
    let redact = example_file_on_node(
        &cluster,
        &installed.namespace,
        "filter-redact",
        &redact_wasm,
    )?;
    let jsonl = out_jsonl_on_node(&cluster, &installed.namespace)?;
    apply_values(
        &installed.client(),
        &[&generator, &redact, &jsonl],
        USER,
        &installed.namespace,
    )
    .await?;
    for name in ["in-generator", "filter-redact", "out-jsonl"] {
        let ready = wait_for_plugin(
            &installed.plugins(),
            name,
            "Ready",
            "True",
            Some("RolloutComplete"),
            WAIT,
        )
        .await
        .map_err(|e| {
            eprintln!(
                "e2e: the Fluent Bit container's log:\n{}",
                container_logs(&installed.namespace)
            );
            installed.explain(e)
        })?;
        assert_eq!(
            condition(&ready, "Degraded").map(|c| c.status.as_str()),
            Some("False"),
            "{name}"
        );
    }
    clock.lap("three plugins applied to Ready");
    // The filter is rendered as Fluent Bit's wasm filter, not as a proxy plugin, and every
    // verify step comes after every copy step (init containers run in list order).
    let cm = Api::<ConfigMap>::namespaced(installed.client(), &installed.namespace)
        .get("fluent-bit-fbplugin")
        .await
        .map_err(|e| Error::Invalid(format!("reading the operator's ConfigMap: {e}")))?;
    let conf = rendered_file(&cm, "pipeline.conf");
    for line in [
        "Name wasm",
        "WASM_Path /fluent-bit/plugins/filter-redact/filter_redact.wasm",
        "Function_Name redact_filter",
        "Event_Format json",
    ] {
        assert!(conf.contains(line), "{line:?} in\n{conf}");
    }
    let plugins_conf = rendered_file(&cm, "plugins.conf");
    assert!(
        !plugins_conf.contains(".wasm"),
        "only .so files are proxy plugins: {plugins_conf}"
    );
    let ds = Api::<DaemonSet>::namespaced(installed.client(), &installed.namespace)
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(format!("reading DaemonSet fluent-bit: {e}")))?;
    let inits: Vec<String> = template(&ds)["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        inits.len(),
        6,
        "a copy and a verify step per plugin: {inits:?}"
    );
    assert!(
        inits[..3]
            .iter()
            .all(|n| !n.starts_with(operator::layout::VERIFY_INIT_PREFIX))
            && inits[3..]
                .iter()
                .all(|n| n.starts_with(operator::layout::VERIFY_INIT_PREFIX)),
        "{inits:?}"
    );
    let out_file = cluster
        .dir()
        .ok_or_else(|| Error::Invalid("no cluster directory".into()))?
        .join("host/var/log/fbplugin/gen.jsonl");
    const RECORDS: usize = 20;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let text = loop {
        let text = std::fs::read_to_string(&out_file).unwrap_or_default();
        // Whole lines only: the output may be mid-append.
        let complete = text.rfind('\n').map_or("", |end| &text[..=end]).to_owned();
        if complete.lines().count() >= RECORDS {
            break complete;
        }
        if std::time::Instant::now() > deadline {
            let pods = current_pods(&installed).await.unwrap_or_default();
            return Err(installed.explain(Error::Timeout {
                expected: format!(
                    "{RECORDS} records from the generator in {}",
                    out_file.display()
                ),
                waited: Duration::from_secs(120),
                observed: format!(
                    "{} complete line(s) so far; pods:\n{}\nthe Fluent Bit container's log:\n{}",
                    complete.lines().count(),
                    describe_pods(&pods),
                    container_logs(&installed.namespace)
                ),
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    clock.lap("records in the output file");
    for line in text.lines() {
        let record: Value = serde_json::from_str(line)
            .map_err(|e| Error::Invalid(format!("not a JSON line ({e}): {line}")))?;
        assert_eq!(record["message"], "hello from a Rust input", "{record}");
        assert_eq!(record["source"], "in-generator", "{record}");
        assert_eq!(record["team"], "logging", "{record}");
        assert!(record["seq"].is_u64(), "{record}");
        assert_eq!(
            record["password"], "[REDACTED]",
            "the WASM filter ran on every record: {record}"
        );
    }
    // The pod that delivered them ran the chosen Fluent Bit on the chart's config, the three
    // plugins delivered into it.
    let pods = current_pods(&installed).await?;
    assert_eq!(pods.len(), 1, "one node, one pod");
    let spec = pods[0].spec.clone().unwrap_or_default();
    assert_eq!(
        spec.containers[0].image.as_deref(),
        Some(container.image.as_str())
    );
    let plugins = plugins_dir_of(&cluster, &pods[0]);
    for file in [
        "in-generator/libin_generator.so",
        "filter-redact/filter_redact.wasm",
        "out-jsonl/libout_jsonl.so",
    ] {
        assert!(plugins.join(file).is_file(), "{file} delivered");
    }
    eprintln!(
        "e2e: {} records delivered by {}",
        text.lines().count(),
        container.image,
    );
    bad_changes_roll_back(&cluster, &mut installed, &generator, &out_file, &mut clock).await?;
    eprintln!(
        "e2e: the stand-in test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// How long the rollback phases let a failure show before the operator rolls back.
const ROLLBACK_AFTER_SECS: u32 = 15;

/// Safe rollouts on the running pipeline: three bad changes of the generator (a file whose
/// sha256 does not match, an image digest the registry does not have, a property that fails
/// the plugin's Init so Fluent Bit exits). Each is rolled back to the last known good
/// template: `RolledBack` names the pod, node, container and reason, an Event says so, the
/// filter and the output stay Ready, and records keep arriving. The good spec again ends the
/// hold.
async fn bad_changes_roll_back(
    cluster: &Cluster,
    installed: &mut Installed<'_>,
    generator: &Value,
    out_file: &Path,
    clock: &mut Clock,
) -> Result<()> {
    installed
        .restart_with_rollback_after(ROLLBACK_AFTER_SECS)
        .await?;
    let good_hash = rendered_hash(&wait_ready(installed, "in-generator").await?)?;
    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(installed.client(), &installed.namespace);
    e2e::wait_for(
        &format!("the last known good state {good_hash} in fluent-bit-fbplugin"),
        WAIT,
        Duration::from_millis(500),
        || async {
            let cm = configmaps
                .get_opt("fluent-bit-fbplugin")
                .await
                .map_err(|e| Error::Invalid(format!("reading the ConfigMap: {e}")))?;
            let good = cm
                .and_then(|cm| cm.data?.remove(operator::layout::LAST_KNOWN_GOOD_KEY))
                .unwrap_or_default();
            Ok(match good.contains(&good_hash) {
                true => Ok(()),
                false => Err(good),
            })
        },
    )
    .await
    .map_err(|e| installed.explain(e))?;
    clock.lap("last known good state recorded");

    let image = generator["spec"]["artifact"]["image"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let missing = match image.split_once("@sha256:") {
        Some((repository, _)) => format!("{repository}@sha256:{}", "2".repeat(64)),
        None => return Err(Error::Invalid(format!("not an image by digest: {image}"))),
    };
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, &[&str], Change)> = vec![
        (
            "a wrong sha256",
            &["Init:Error", "Init:CrashLoopBackOff"],
            Box::new(|p| p["spec"]["artifact"]["sha256"] = json!("0".repeat(64))),
        ),
        (
            "an image that does not exist",
            &["ErrImagePull", "ImagePullBackOff"],
            Box::new(move |p| p["spec"]["artifact"]["image"] = json!(missing)),
        ),
        (
            "an Init that fails in Fluent Bit",
            &["CrashLoopBackOff"],
            Box::new(|p| set_property(p, "rate", "fast")),
        ),
    ];
    for (what, reasons, change) in &cases {
        let mut bad = generator.clone();
        change(&mut bad);
        apply_values(&installed.client(), &[&bad], USER, &installed.namespace).await?;
        let rolled_back = generator_until(
            installed,
            &format!("in-generator RolledBack for its change with {what}"),
            |p| {
                condition(p, "RolledBack").is_some_and(|c| {
                    c.status == "True" && c.observed_generation == p.metadata.generation
                })
            },
        )
        .await?;
        clock.lap(&format!("{what}: RolledBack"));
        let message = condition(&rolled_back, "RolledBack")
            .map(|c| c.message.clone())
            .unwrap_or_default();
        let node = cluster.node_name().unwrap_or_default();
        assert!(
            reasons.iter().any(|r| message.contains(r))
                && message.contains(node)
                && message.contains(&good_hash[..12]),
            "{what}: the reason {reasons:?}, node {node} and the good config in: {message}"
        );
        assert_eq!(
            condition(&rolled_back, "Applied").map(|c| (c.status.as_str(), c.reason.as_str())),
            Some(("False", "RolledBack")),
            "{what}"
        );
        // Back on the good template, the other plugins running, records flowing.
        rolled_to(installed, &good_hash, true).await?;
        for other in ["filter-redact", "out-jsonl"] {
            wait_ready(installed, other).await?;
        }
        let before = complete_lines(out_file);
        e2e::wait_for(
            &format!("records after the rollback from {what}"),
            WAIT,
            Duration::from_millis(500),
            || async {
                let now = complete_lines(out_file);
                Ok(match now > before + 5 {
                    true => Ok(()),
                    false => Err(format!("{now} lines, {before} before")),
                })
            },
        )
        .await
        .map_err(|e| installed.explain(e))?;
        clock.lap(&format!("{what}: rolled back, records flowing"));
    }
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(installed.client(), &installed.namespace);
    let rolled_back_events = events
        .list(&Default::default())
        .await
        .map_err(|e| Error::Invalid(format!("listing Events: {e}")))?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("RolledBack"))
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("in-generator"))
        .count();
    assert!(
        rolled_back_events >= 1,
        "a RolledBack Event for in-generator"
    );

    // The good spec again: a new generation, so the hold ends; its render is the good template.
    apply_values(
        &installed.client(),
        &[generator],
        USER,
        &installed.namespace,
    )
    .await?;
    let released = generator_until(
        installed,
        "in-generator applied again with its good spec",
        |p| {
            condition(p, "Ready").is_some_and(|c| c.status == "True")
                && condition(p, "RolledBack").is_none()
        },
    )
    .await?;
    assert_eq!(rendered_hash(&released)?, good_hash);
    clock.lap("the good spec applied again");
    Ok(())
}

/// Waits until the in-generator plugin satisfies `done`; `expected` says what for a timeout.
async fn generator_until(
    installed: &Installed<'_>,
    expected: &str,
    done: impl Fn(&FluentBitPlugin) -> bool,
) -> Result<FluentBitPlugin> {
    let plugins = installed.plugins();
    let done = &done;
    e2e::wait_for(expected, WAIT, Duration::from_millis(500), || {
        let plugins = plugins.clone();
        async move {
            let p = plugins
                .get("in-generator")
                .await
                .map_err(|e| Error::Invalid(format!("reading in-generator: {e}")))?;
            Ok(match done(&p) {
                true => Ok(p),
                false => Err(e2e::observed_yaml(&Some(p))),
            })
        }
    })
    .await
    .map_err(|e| installed.explain(e))
}

/// The complete lines of the output file (the output may be mid-append).
fn complete_lines(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.rfind('\n')
        .map_or(0, |end| text[..=end].lines().count())
}

/// Where the chart's DaemonSet mounts its config with `fluentBit.configFileFormat=yaml`.
const CHART_YAML_CONFIG: &str = "/fluent-bit/etc/conf/fluent-bit.yaml";

/// The chart's prepared DaemonSet in Fluent Bit's YAML format
/// (`fluentBit.configFileFormat=yaml`) on the real node, with the stand-in Fluent Bit running
/// its `fluent-bit.yaml`: the chart's last `includes` entry reads the operator's
/// `pipeline.yaml` from its directory mount, the generator's records reach the out-jsonl file,
/// and deleting the plugins rolls the pod back to the template it had before.
#[tokio::test]
async fn a_yaml_configured_daemonset_runs_the_plugins_on_real_pods() -> Result<()> {
    let generator_so = e2e::built_plugin("libin_generator.so")?;
    let jsonl_so = e2e::built_plugin("libout_jsonl.so")?;
    let fluent_bit = e2e::FluentBit::from_env(&[&generator_so, &jsonl_so])?;
    let mut clock = Clock::start("yaml");
    let cluster = Cluster::start_with_node().await?;
    clock.lap("images built, control plane and node up");
    let container = fluent_bit.container(&cluster, CHART_YAML_CONFIG)?;
    let installed = setup_with(&cluster, "real-yaml", |installed, host_dir| {
        let chart = e2e::chart_objects(&installed.namespace, &["fluentBit.configFileFormat=yaml"])
            .unwrap_or_else(|e| panic!("helm template with configFileFormat=yaml: {e}"));
        with_fluent_bit(&container, e2e::fluent_bit_on_real_node(&chart, host_dir))
    })
    .await?;
    clock.lap("operator installed, YAML-configured DaemonSet rolled out");
    let daemonsets: Api<DaemonSet> = Api::namespaced(installed.client(), &installed.namespace);
    let before = daemonsets
        .get("fluent-bit")
        .await
        .map_err(|e| Error::Invalid(format!("reading DaemonSet fluent-bit: {e}")))?;
    let annotations = before.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get(operator::layout::CONFIG_PATH_ANNOTATION)
            .map(String::as_str),
        Some(CHART_YAML_CONFIG),
        "the chart's opt-in names its YAML config"
    );
    let empty_hash = hash_of(&before).unwrap_or_default();

    let mut plugins = Vec::new();
    for (example, file) in [
        ("in-generator", "libin_generator.so"),
        ("out-jsonl", "libout_jsonl.so"),
    ] {
        let mut plugin = example_on_node(&cluster, &installed.namespace, example, file)?;
        plugin["spec"]["target"]["configPath"] = json!(CHART_YAML_CONFIG);
        plugins.push(plugin);
    }
    apply_values(
        &installed.client(),
        &plugins.iter().collect::<Vec<_>>(),
        USER,
        &installed.namespace,
    )
    .await?;
    let mut hash = String::new();
    for name in ["in-generator", "out-jsonl"] {
        hash = rendered_hash(&wait_ready(&installed, name).await?)?;
    }
    let pod = rolled_to(&installed, &hash, true).await?;
    clock.lap("two plugins applied to Ready");
    let pipeline = projected(&cluster, &pod, "pipeline.yaml")?;
    assert!(
        pipeline.contains("pipeline:") && pipeline.contains("jsonl_file"),
        "the operator's part in YAML:\n{pipeline}"
    );
    let out_file = cluster
        .dir()
        .ok_or_else(|| Error::Invalid("no cluster directory".into()))?
        .join("host/var/log/fbplugin/gen.jsonl");
    e2e::wait_for(
        "records from the generator in the output file",
        WAIT,
        Duration::from_millis(500),
        || async {
            let lines = complete_lines(&out_file);
            Ok(match lines >= 10 {
                true => Ok(()),
                false => Err(format!(
                    "{lines} complete line(s); the Fluent Bit container's log:\n{}",
                    container_logs(&installed.namespace)
                )),
            })
        },
    )
    .await
    .map_err(|e| installed.explain(e))?;
    clock.lap("records in the output file");
    let text = std::fs::read_to_string(&out_file)
        .map_err(|e| Error::Invalid(format!("reading {}: {e}", out_file.display())))?;
    let first: Value = serde_json::from_str(text.lines().next().unwrap_or_default())
        .map_err(|e| Error::Invalid(format!("not a JSON line ({e}): {text}")))?;
    assert_eq!(first["message"], "hello from a Rust input", "{first}");

    for name in ["in-generator", "out-jsonl"] {
        delete_and_wait_gone(&installed, name).await?;
    }
    e2e::wait_for_object(
        &daemonsets,
        "fluent-bit",
        "the pod template as it was before the first plugin",
        WAIT,
        |ds| ds.spec.as_ref().map(|s| &s.template) == before.spec.as_ref().map(|s| &s.template),
    )
    .await
    .map_err(|e| installed.explain(e))?;
    rolled_to(&installed, &empty_hash, false).await?;
    clock.lap("deleted, template restored");
    Ok(())
}
