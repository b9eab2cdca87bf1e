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

use std::path::{Path, PathBuf};
use std::time::Duration;

use e2e::{
    Cluster, Error, HELM_MANAGER, Installed, Result, apply_values, condition, example_plugin,
    wait_for_plugin,
};
use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use kube::ResourceExt;
use kube::api::DeleteParams;
use operator::workload::{HASH_ANNOTATION, PLUGINS_VOLUME};
use serde_json::{Value, json};

/// Real pods take longer than played ones: pulls, init containers, a rolling update.
const WAIT: Duration = Duration::from_secs(180);
const USER: &str = "kubectl-client-side-apply";

/// The chart's prepared Fluent Bit objects for a real node ([`e2e::fluent_bit_on_real_node`]:
/// the pause image as Fluent Bit, hostPath volumes under the cluster's directory).
fn prepared_objects(installed: &Installed<'_>, host_dir: &Path) -> Vec<Value> {
    e2e::fluent_bit_on_real_node(&installed.chart, host_dir)
}

/// The example `example`'s image (its built `file`) made by the tool and pushed to the node's
/// registry; the example CR with `spec.artifact` filled from it (what `fbplugin-image --cr`
/// does).
fn example_on_node(cluster: &Cluster, namespace: &str, example: &str, file: &str) -> Result<Value> {
    example_file_on_node(cluster, namespace, example, &e2e::built_plugin(file)?)
}

/// [`example_on_node`] for a built file at `built` (a `.so` or a `.wasm`).
fn example_file_on_node(
    cluster: &Cluster,
    namespace: &str,
    example: &str,
    built: &Path,
) -> Result<Value> {
    let registry = cluster
        .registry()
        .ok_or_else(|| Error::Invalid("no real node".into()))?;
    e2e::example_on_registry(registry, namespace, example, built)
}

/// [`example_on_node`] for out-jsonl.
fn out_jsonl_on_node(cluster: &Cluster, namespace: &str) -> Result<Value> {
    example_on_node(cluster, namespace, "out-jsonl", "libout_jsonl.so")
}

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
    let mut objects = prepared_objects(installed, host_dir);
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

async fn setup<'c>(cluster: &'c Cluster, prefix: &str) -> Result<Installed<'c>> {
    setup_with(cluster, prefix, prepared_objects).await
}

async fn setup_with<'c>(
    cluster: &'c Cluster,
    prefix: &str,
    objects_of: impl Fn(&Installed<'_>, &Path) -> Vec<Value>,
) -> Result<Installed<'c>> {
    let installed = Installed::new(cluster, prefix).await?;
    let host_dir = cluster
        .dir()
        .ok_or_else(|| Error::Invalid("no cluster directory".into()))?
        .join("host");
    let objects = objects_of(&installed, &host_dir);
    apply_values(
        &installed.client(),
        &objects.iter().collect::<Vec<_>>(),
        HELM_MANAGER,
        &installed.namespace,
    )
    .await?;
    installed
        .cluster()
        .kubelet(&installed.namespace, "fluent-bit")
        .play_until_rolled_out(WAIT)
        .await
        .map_err(|e| installed.explain(e))?;
    Ok(installed)
}

/// Where the kubelet keeps pod `uid`'s plugins emptyDir on the node.
fn plugins_dir_of(cluster: &Cluster, pod: &Pod) -> PathBuf {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    cluster
        .dir()
        .unwrap_or_else(|| Path::new("/nonexistent"))
        .join("node/kubelet/pods")
        .join(uid)
        .join("volumes/kubernetes.io~empty-dir")
        .join(PLUGINS_VOLUME)
}

/// The operator's ConfigMap volume of `pod` on the node, as the kubelet projected it.
fn config_dir_of(cluster: &Cluster, pod: &Pod) -> PathBuf {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    cluster
        .dir()
        .unwrap_or_else(|| Path::new("/nonexistent"))
        .join("node/kubelet/pods")
        .join(uid)
        .join("volumes/kubernetes.io~configmap")
        .join(operator::workload::CONFIG_VOLUME)
}

async fn current_pods(installed: &Installed<'_>) -> Result<Vec<Pod>> {
    Ok(installed
        .cluster()
        .kubelet(&installed.namespace, "fluent-bit")
        .pods()
        .await?
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect())
}

/// Prints how long each phase of a test took (`e2e timing:` lines on stderr).
struct Clock {
    test: &'static str,
    started: std::time::Instant,
    lap: std::time::Instant,
}

impl Clock {
    fn start(test: &'static str) -> Clock {
        let now = std::time::Instant::now();
        Clock {
            test,
            started: now,
            lap: now,
        }
    }

    fn lap(&mut self, what: &str) {
        let now = std::time::Instant::now();
        eprintln!(
            "e2e timing: {} {what}: {:.1} s (total {:.1} s)",
            self.test,
            (now - self.lap).as_secs_f64(),
            (now - self.started).as_secs_f64()
        );
        self.lap = now;
    }
}

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
    let plugin = out_jsonl_on_node(&cluster, &installed.namespace)?;
    apply_values(&installed.client(), &[&plugin], USER, &installed.namespace).await?;
    let ready = wait_for_plugin(
        &installed.plugins(),
        "out-jsonl",
        "Ready",
        "True",
        Some("RolloutComplete"),
        WAIT,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    clock.lap("applied to Ready");
    assert_eq!(
        condition(&ready, "Degraded").map(|c| c.status.as_str()),
        Some("False")
    );
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

    clock.lap("valid plugin to Ready, pod checked");

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
    Ok(())
}

/// Deletes plugin `name` and waits until the operator's finalizer let it go.
async fn delete_and_wait_gone(installed: &Installed<'_>, name: &str) -> Result<()> {
    let plugins = installed.plugins();
    plugins
        .delete(name, &DeleteParams::default())
        .await
        .map_err(|e| Error::Invalid(format!("deleting {name}: {e}")))?;
    e2e::wait_for(
        &format!("plugin {name} to be deleted"),
        WAIT,
        Duration::from_millis(200),
        || async {
            let current = plugins
                .get_opt(name)
                .await
                .map_err(|e| Error::Invalid(format!("reading {name}: {e}")))?;
            Ok(match current {
                None => Ok(()),
                Some(p) => Err(e2e::observed_yaml(&Some(p))),
            })
        },
    )
    .await
    .map_err(|e| installed.explain(e))
}

/// Waits until plugin `name` is Ready after a completed rollout of its current generation.
async fn wait_ready(installed: &Installed<'_>, name: &str) -> Result<FluentBitPlugin> {
    let ready = wait_for_plugin(
        &installed.plugins(),
        name,
        "Ready",
        "True",
        Some("RolloutComplete"),
        WAIT,
    )
    .await
    .map_err(|e| installed.explain(e))?;
    assert_eq!(
        condition(&ready, "Degraded").map(|c| c.status.as_str()),
        Some("False"),
        "{name}"
    );
    Ok(ready)
}

fn rendered_hash(plugin: &FluentBitPlugin) -> Result<String> {
    plugin
        .status
        .as_ref()
        .and_then(|s| s.rendered_hash.clone())
        .ok_or_else(|| Error::Invalid(format!("no rendered hash in {:?}", plugin.status)))
}

/// Waits until the DaemonSet runs exactly one pod, Ready, created from the template with config
/// hash `hash`, with the operator's init containers or (`with_plugins` false) without any, and
/// returns it.
async fn rolled_to(installed: &Installed<'_>, hash: &str, with_plugins: bool) -> Result<Pod> {
    let expected = format!(
        "one Ready pod of the template with config hash {hash}, {} init containers",
        if with_plugins { "with" } else { "without" }
    );
    let pods = wait_for_pods(installed, &expected, |pods| {
        pods.len() == 1
            && is_ready(&pods[0])
            && config_hash(&pods[0]) == Some(hash)
            && (with_plugins
                == pods[0]
                    .spec
                    .as_ref()
                    .and_then(|s| s.init_containers.as_ref())
                    .is_some_and(|c| !c.is_empty()))
    })
    .await?;
    pods.into_iter()
        .next()
        .ok_or_else(|| Error::Invalid("no pod".into()))
}

/// The out-jsonl file in `pod`'s plugins volume is `built`, byte for byte.
fn assert_delivered(cluster: &Cluster, pod: &Pod, built: &[u8]) -> Result<()> {
    let delivered = plugins_dir_of(cluster, pod).join("out-jsonl/libout_jsonl.so");
    let copied = std::fs::read(&delivered).map_err(|e| {
        Error::Invalid(format!(
            "reading the delivered {}: {e}",
            delivered.display()
        ))
    })?;
    assert!(
        copied == built,
        "{} is the built file byte for byte",
        delivered.display()
    );
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

/// File `name` of the operator's config volume of `pod`, as the kubelet projected it.
fn projected(cluster: &Cluster, pod: &Pod, name: &str) -> Result<String> {
    let path = config_dir_of(cluster, pod).join(name);
    std::fs::read_to_string(&path)
        .map_err(|e| Error::Invalid(format!("the kubelet projected {}: {e}", path.display())))
}

/// The (key, path) items of `pod`'s operator config volume.
fn config_items(pod: &Pod) -> Vec<(String, String)> {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter(|v| v.name == operator::workload::CONFIG_VOLUME)
        .flat_map(|v| v.config_map.iter().flat_map(|c| c.items.iter().flatten()))
        .map(|i| (i.key.clone(), i.path.clone()))
        .collect()
}

/// Sets property `name` of the first instance of `plugin` to `value`.
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

/// The init container statuses the kubelet wrote for `pod`.
fn init_statuses(pod: &Pod) -> Vec<ContainerStatus> {
    pod.status
        .as_ref()
        .and_then(|s| s.init_container_statuses.clone())
        .unwrap_or_default()
}

fn waiting_reason(status: &ContainerStatus) -> Option<&str> {
    status
        .state
        .as_ref()
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.as_deref())
}

/// One line per pod: its name, phase, Ready condition, config hash and container states.
fn describe_pods(pods: &[Pod]) -> String {
    pods.iter()
        .map(|p| {
            let status = p.status.clone().unwrap_or_default();
            let states: Vec<String> = init_statuses(p)
                .iter()
                .chain(status.container_statuses.iter().flatten())
                .map(|c| {
                    let state = c.state.clone().unwrap_or_default();
                    let what = if let Some(w) = state.waiting {
                        format!("waiting {}", w.reason.unwrap_or_default())
                    } else if let Some(t) = state.terminated {
                        format!("exited {}", t.exit_code)
                    } else if state.running.is_some() {
                        "running".to_owned()
                    } else {
                        "?".to_owned()
                    };
                    format!("{}: {what}", c.name)
                })
                .collect();
            format!(
                "{} {} ready={} hash={} [{}]",
                p.name_any(),
                status.phase.unwrap_or_default(),
                is_ready(p),
                config_hash(p).unwrap_or("-"),
                states.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The operator's config-hash annotation the pod was created with (its template's).
fn config_hash(pod: &Pod) -> Option<&str> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(HASH_ANNOTATION))
        .map(String::as_str)
}

/// Waits until the DaemonSet's current (not terminating) pods satisfy `check`; on timeout the
/// error shows them.
async fn wait_for_pods(
    installed: &Installed<'_>,
    expected: &str,
    check: impl Fn(&[Pod]) -> bool,
) -> Result<Vec<Pod>> {
    e2e::wait_for(expected, WAIT, Duration::from_millis(500), || async {
        let pods = current_pods(installed).await?;
        Ok(if check(&pods) {
            Ok(pods)
        } else {
            Err(format!("pods:\n{}", describe_pods(&pods)))
        })
    })
    .await
    .map_err(|e| installed.explain(e))
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

/// The kubelet's log files of the Fluent Bit container of the pods in `namespace`
/// (`/var/log/pods/<namespace>_<pod>_<uid>/fluent-bit/*.log`), their last lines.
fn container_logs(namespace: &str) -> String {
    let mut out = String::new();
    for pod in std::fs::read_dir("/var/log/pods")
        .into_iter()
        .flatten()
        .flatten()
    {
        if !pod
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("{namespace}_"))
        {
            continue;
        }
        for log in walk(&pod.path().join("fluent-bit")) {
            out.push_str(&format!(
                "--- {log} ---\n{}\n",
                e2e::tail_file(Path::new(&log), 30)
            ));
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path.display().to_string());
        }
    }
    found
}
