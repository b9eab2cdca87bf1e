//! Helpers for the suites on the real node (`tests/real_pods.rs`, `tests/real_gate.rs`): the
//! chart's Fluent Bit objects made to run there, example CRs filled from images pushed to the
//! node's registry, waits on the pods the kubelet runs, and where the kubelet keeps a pod's
//! volumes on the node (so a test reads what was really delivered).
//!
//! Every wait allows [`WAIT`] (real pods pull, run init containers and roll) and says, on
//! timeout, what it saw: the pods one per line ([`describe_pods`]) and the operator's log.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::ResourceExt;
use kube::api::DeleteParams;
use operator::layout::{CONFIG_VOLUME, HASH_ANNOTATION, INIT_PREFIX, PLUGINS_VOLUME};
use serde_json::{Value, json};

use crate::{
    Cluster, Error, HELM_MANAGER, Installed, Result, apply_values, condition, wait_for_plugin,
};

/// Real pods take longer than played ones: pulls, init containers, a rolling update.
pub const WAIT: Duration = Duration::from_secs(180);

/// The chart's prepared Fluent Bit objects for a real node ([`crate::fluent_bit_on_real_node`]:
/// the pause image as Fluent Bit, hostPath volumes under the cluster's directory).
pub fn prepared_objects(installed: &Installed<'_>, host_dir: &Path) -> Vec<Value> {
    crate::fluent_bit_on_real_node(&installed.chart, host_dir)
}

/// The example `example`'s image (its built `file`) made by the tool and pushed to the node's
/// registry; the example CR with `spec.artifact` filled from it (what `fbplugin-image --cr`
/// does).
pub fn example_on_node(
    cluster: &Cluster,
    namespace: &str,
    example: &str,
    file: &str,
) -> Result<Value> {
    example_file_on_node(cluster, namespace, example, &crate::built_plugin(file)?)
}

/// [`example_on_node`] for a built file at `built` (a `.so` or a `.wasm`).
pub fn example_file_on_node(
    cluster: &Cluster,
    namespace: &str,
    example: &str,
    built: &Path,
) -> Result<Value> {
    let registry = cluster
        .registry()
        .ok_or_else(|| Error::Invalid("no real node".into()))?;
    crate::example_on_registry(registry, namespace, example, built)
}

/// [`example_on_node`] for out-jsonl.
pub fn out_jsonl_on_node(cluster: &Cluster, namespace: &str) -> Result<Value> {
    example_on_node(cluster, namespace, "out-jsonl", "libout_jsonl.so")
}

/// Installs the operator ([`Installed::new`]) and applies the chart's Fluent Bit objects made
/// for the real node ([`prepared_objects`]) as helm; returns once that DaemonSet rolled out.
pub async fn setup<'c>(cluster: &'c Cluster, prefix: &str) -> Result<Installed<'c>> {
    setup_with(cluster, prefix, prepared_objects).await
}

/// [`setup`] with the Fluent Bit objects `objects_of` makes (given the installation and the
/// directory under which hostPath volumes go).
pub async fn setup_with<'c>(
    cluster: &'c Cluster,
    prefix: &str,
    objects_of: impl Fn(&Installed<'_>, &Path) -> Vec<Value>,
) -> Result<Installed<'c>> {
    let started = std::time::Instant::now();
    let installed = Installed::new(cluster, prefix).await?;
    eprintln!(
        "e2e timing: {prefix}: the operator built if needed, installed and started: {:.1} s",
        started.elapsed().as_secs_f64()
    );
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
    eprintln!(
        "e2e timing: {prefix}: the Fluent Bit DaemonSet rolled out: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(installed)
}

/// Where the kubelet keeps pod `uid`'s plugins emptyDir on the node.
pub fn plugins_dir_of(cluster: &Cluster, pod: &Pod) -> PathBuf {
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
pub fn config_dir_of(cluster: &Cluster, pod: &Pod) -> PathBuf {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    cluster
        .dir()
        .unwrap_or_else(|| Path::new("/nonexistent"))
        .join("node/kubelet/pods")
        .join(uid)
        .join("volumes/kubernetes.io~configmap")
        .join(CONFIG_VOLUME)
}

/// The DaemonSet `fluent-bit`'s pods that are not terminating.
pub async fn current_pods(installed: &Installed<'_>) -> Result<Vec<Pod>> {
    pods_of(installed, "fluent-bit").await
}

/// DaemonSet `daemonset`'s pods that are not terminating.
pub async fn pods_of(installed: &Installed<'_>, daemonset: &str) -> Result<Vec<Pod>> {
    Ok(installed
        .cluster()
        .kubelet(&installed.namespace, daemonset)
        .pods()
        .await?
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect())
}

/// Prints how long each phase of a test took (`e2e timing:` lines on stderr).
pub struct Clock {
    test: &'static str,
    started: std::time::Instant,
    lap: std::time::Instant,
}

impl Clock {
    /// Starts the clock of test `test`.
    pub fn start(test: &'static str) -> Clock {
        let now = std::time::Instant::now();
        Clock {
            test,
            started: now,
            lap: now,
        }
    }

    /// Prints the time since the last lap (and since the start) as phase `what`.
    pub fn lap(&mut self, what: &str) {
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

/// Deletes plugin `name` and waits until the operator's finalizer let it go.
pub async fn delete_and_wait_gone(installed: &Installed<'_>, name: &str) -> Result<()> {
    let plugins = installed.plugins();
    plugins
        .delete(name, &DeleteParams::default())
        .await
        .map_err(|e| Error::Invalid(format!("deleting {name}: {e}")))?;
    crate::wait_for(
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
                Some(p) => Err(crate::observed_yaml(&Some(p))),
            })
        },
    )
    .await
    .map_err(|e| installed.explain(e))
}

/// Waits until plugin `name` is Ready after a completed rollout of its current generation.
pub async fn wait_ready(installed: &Installed<'_>, name: &str) -> Result<FluentBitPlugin> {
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

/// The config hash the plugin's status says it was rendered into.
pub fn rendered_hash(plugin: &FluentBitPlugin) -> Result<String> {
    plugin
        .status
        .as_ref()
        .and_then(|s| s.rendered_hash.clone())
        .ok_or_else(|| Error::Invalid(format!("no rendered hash in {:?}", plugin.status)))
}

/// Waits until the DaemonSet runs exactly one pod, Ready, created from the template with config
/// hash `hash`, with the operator's init containers or (`with_plugins` false) without any, and
/// returns it.
pub async fn rolled_to(installed: &Installed<'_>, hash: &str, with_plugins: bool) -> Result<Pod> {
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
pub fn assert_delivered(cluster: &Cluster, pod: &Pod, built: &[u8]) -> Result<()> {
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

/// File `name` of the operator's config volume of `pod`, as the kubelet projected it.
pub fn projected(cluster: &Cluster, pod: &Pod, name: &str) -> Result<String> {
    let path = config_dir_of(cluster, pod).join(name);
    std::fs::read_to_string(&path)
        .map_err(|e| Error::Invalid(format!("the kubelet projected {}: {e}", path.display())))
}

/// The (key, path) items of `pod`'s operator config volume.
pub fn config_items(pod: &Pod) -> Vec<(String, String)> {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter(|v| v.name == CONFIG_VOLUME)
        .flat_map(|v| v.config_map.iter().flat_map(|c| c.items.iter().flatten()))
        .map(|i| (i.key.clone(), i.path.clone()))
        .collect()
}

/// Sets property `name` of the first instance of `plugin` to `value`.
pub fn set_property(plugin: &mut Value, name: &str, value: &str) {
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
pub fn init_statuses(pod: &Pod) -> Vec<ContainerStatus> {
    pod.status
        .as_ref()
        .and_then(|s| s.init_container_statuses.clone())
        .unwrap_or_default()
}

/// Why the container waits (`ErrImagePull`, `CrashLoopBackOff`, ...), if it does.
pub fn waiting_reason(status: &ContainerStatus) -> Option<&str> {
    status
        .state
        .as_ref()
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.as_deref())
}

/// One line per pod: its name, phase, Ready condition, config hash and container states.
pub fn describe_pods(pods: &[Pod]) -> String {
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

/// Whether the pod's `Ready` condition is true.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The operator's config-hash annotation the pod was created with (its template's).
pub fn config_hash(pod: &Pod) -> Option<&str> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(HASH_ANNOTATION))
        .map(String::as_str)
}

/// Waits until the DaemonSet's current (not terminating) pods satisfy `check`; on timeout the
/// error shows them.
pub async fn wait_for_pods(
    installed: &Installed<'_>,
    expected: &str,
    check: impl Fn(&[Pod]) -> bool,
) -> Result<Vec<Pod>> {
    crate::wait_for(expected, WAIT, Duration::from_millis(500), || async {
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

/// The kubelet's log files of the Fluent Bit container of the pods in `namespace`
/// (`/var/log/pods/<namespace>_<pod>_<uid>/fluent-bit/*.log`), their last lines.
pub fn container_logs(namespace: &str) -> String {
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
                crate::tail_file(Path::new(&log), 30)
            ));
        }
    }
    out
}

/// Every file under `dir`, recursively (nothing when it does not exist).
pub fn walk(dir: &Path) -> Vec<String> {
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

/// The DaemonSet's pod template as JSON (`null` without a spec).
pub fn template(ds: &DaemonSet) -> Value {
    serde_json::to_value(ds.spec.as_ref().map(|s| &s.template)).unwrap_or(Value::Null)
}

/// The operator's config-hash annotation on the DaemonSet's pod template.
pub fn hash_of(ds: &DaemonSet) -> Option<String> {
    template(ds)["metadata"]["annotations"][HASH_ANNOTATION]
        .as_str()
        .map(str::to_owned)
}

/// Whether the template carries one of the operator's plugin init containers (beyond the
/// empty pipeline every opted-in DaemonSet has).
pub fn carries_a_plugin(ds: &DaemonSet) -> bool {
    ds.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.init_containers.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.name.starts_with(INIT_PREFIX)))
}

/// A file of the operator's ConfigMap in its current revision (`pipeline.conf`,
/// `plugins.conf`): the key named by the ConfigMap's hash annotation. Empty when absent.
pub fn rendered_file(cm: &ConfigMap, file: &str) -> String {
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

fn is_operator_volume(name: &Value) -> bool {
    name == PLUGINS_VOLUME || name == CONFIG_VOLUME
}

/// The pod template without what the operator adds: its annotation, its init containers, its
/// two volumes and the mounts of them. Also returns how many of each were removed.
pub fn without_operator_fields(mut template: Value) -> (Value, [usize; 4]) {
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

/// The plugin's rollout counts (desired, updated, ready) from its status.
pub fn counts(plugin: &FluentBitPlugin) -> Option<(i32, i32, i32)> {
    let r = plugin.status.as_ref()?.rollout.as_ref()?;
    Some((r.desired, r.updated, r.ready))
}

/// The fields `manager` owns in the DaemonSet (its managedFields entry), as JSON.
pub fn manager_entry(ds: &DaemonSet, manager: &str) -> Option<Value> {
    ds.managed_fields()
        .iter()
        .find(|m| m.manager.as_deref() == Some(manager))
        .and_then(|m| serde_json::to_value(&m.fields_v1).ok())
}

/// Waits until an Event with `reason` is recorded for `plugin`.
pub async fn wait_for_event(
    installed: &Installed<'_>,
    plugin: &FluentBitPlugin,
    reason: &str,
) -> Result<()> {
    crate::wait_for(
        &format!("an Event {reason} for plugin {}", plugin.name_any()),
        WAIT,
        Duration::from_millis(300),
        || async {
            let events = crate::events_for(&installed.client(), plugin).await?;
            Ok(
                if events.iter().any(|e| e.reason.as_deref() == Some(reason)) {
                    Ok(())
                } else {
                    Err(crate::describe_events(&events))
                },
            )
        },
    )
    .await
    .map_err(|e| installed.explain(e))
}

/// The conditions (type, status, reason) of one status a plugin was written with.
pub type Conditions = Vec<(String, String, String)>;

/// Every status plugin `name` is written with, in order, from a watch started before the change
/// under test: a state the operator reports only briefly (Progressing while a real pod rolls)
/// is seen without polling fast enough to catch it.
pub struct StatusHistory {
    seen: std::sync::Arc<std::sync::Mutex<Vec<Conditions>>>,
    task: tokio::task::JoinHandle<()>,
}

impl StatusHistory {
    /// Starts watching plugin `name` (which may not exist yet) in the installation's namespace.
    pub async fn watch(installed: &Installed<'_>, name: &str) -> Result<StatusHistory> {
        use futures::StreamExt;
        let plugins = installed.plugins();
        let listed = plugins
            .list(&kube::api::ListParams::default())
            .await
            .map_err(|e| Error::Invalid(format!("listing plugins: {e}")))?;
        let version = listed.metadata.resource_version.unwrap_or_default();
        let params = kube::api::WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(290);
        let stream = plugins
            .watch(&params, &version)
            .await
            .map_err(|e| Error::Invalid(format!("watching plugin {name}: {e}")))?;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(event)) = stream.next().await {
                let (kube::api::WatchEvent::Added(p) | kube::api::WatchEvent::Modified(p)) = event
                else {
                    continue;
                };
                let conditions = p
                    .status
                    .iter()
                    .flat_map(|s| s.conditions.iter())
                    .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
                    .collect();
                if let Ok(mut seen) = record.lock() {
                    seen.push(conditions);
                }
            }
        });
        Ok(StatusHistory { seen, task })
    }

    /// The statuses seen so far, oldest first.
    pub fn seen(&self) -> Vec<Conditions> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Whether some status had every condition of `wanted` (type, status) at once.
    pub fn saw(&self, wanted: &[(&str, &str)]) -> bool {
        self.seen().iter().any(|conditions| {
            wanted
                .iter()
                .all(|(type_, status)| conditions.iter().any(|(t, s, _)| t == type_ && s == status))
        })
    }
}

impl Drop for StatusHistory {
    fn drop(&mut self) {
        self.task.abort();
    }
}
