//! The operator's delivery path on real pods: kubelet 1.20.2 + containerd + runc run the
//! DaemonSet, the plugin image is built by the image tool, pushed to the node's registry and
//! pulled by digest, the init containers really run the copy program, and the pod status the
//! operator reads is the kubelet's.
//!
//! The Fluent Bit container here is the node's pause image (the operator's part ends at the
//! files it delivers; whether they are there is read from the pod's volume on the node),
//! except in the stand-in test: there it is the STAND-IN Fluent Bit image ([`e2e::StandIn`],
//! this project's test host, not Fluent Bit), which runs the rendered config in the pod.

use std::path::{Path, PathBuf};
use std::time::Duration;

use e2e::{
    Cluster, Error, HELM_MANAGER, Installed, Result, apply_values, condition, example_plugin,
    push_plugin, wait_for_plugin,
};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use operator::workload::PLUGINS_VOLUME;
use serde_json::{Value, json};

/// Real pods take longer than played ones: pulls, init containers, a rolling update.
const WAIT: Duration = Duration::from_secs(180);
const USER: &str = "kubectl-client-side-apply";

/// The chart's prepared Fluent Bit objects for a real node: its container runs the node's
/// pause image (no probes: nothing serves HTTP), and its hostPath volumes point into the
/// cluster's directory, so the pod writes nothing on the host.
fn prepared_objects(installed: &Installed<'_>, host_dir: &Path) -> Vec<Value> {
    let mut objects: Vec<Value> = installed
        .chart
        .iter()
        .filter(|o| o["metadata"]["name"] == "fluent-bit")
        .cloned()
        .collect();
    for object in &mut objects {
        if object["kind"] != "DaemonSet" {
            continue;
        }
        let spec = &mut object["spec"]["template"]["spec"];
        spec["terminationGracePeriodSeconds"] = json!(1);
        let container = &mut spec["containers"][0];
        container["image"] = json!(e2e::PAUSE_IMAGE);
        container["imagePullPolicy"] = json!("Never");
        container["command"] = json!(["/pause"]);
        container["args"] = json!([]);
        if let Some(c) = container.as_object_mut() {
            c.remove("livenessProbe");
            c.remove("readinessProbe");
        }
        for volume in spec["volumes"].as_array_mut().into_iter().flatten() {
            if let Some(path) = volume["hostPath"]["path"].as_str() {
                let private = host_dir.join(path.trim_start_matches('/'));
                let _ = std::fs::create_dir_all(&private);
                volume["hostPath"]["path"] = json!(private.display().to_string());
            }
        }
    }
    objects
}

/// The example `example`'s image (its built `file`) made by the tool and pushed to the node's
/// registry; the example CR with `spec.artifact` filled from it (what `fbplugin-image --cr`
/// does).
fn example_on_node(cluster: &Cluster, namespace: &str, example: &str, file: &str) -> Result<Value> {
    let registry = cluster
        .registry()
        .ok_or_else(|| Error::Invalid("no real node".into()))?;
    let so = e2e::built_plugin(file)?;
    let pushed = push_plugin(registry, &format!("fbplugin/{example}"), &so)?;
    let mut plugin = example_plugin(example, namespace)?;
    plugin["spec"]["artifact"]["image"] = json!(pushed.image);
    plugin["spec"]["artifact"]["path"] = json!(pushed.path);
    plugin["spec"]["artifact"]["sha256"] = json!(pushed.sha256);
    Ok(plugin)
}

/// [`example_on_node`] for out-jsonl.
fn out_jsonl_on_node(cluster: &Cluster, namespace: &str) -> Result<Value> {
    example_on_node(cluster, namespace, "out-jsonl", "libout_jsonl.so")
}

/// [`prepared_objects`] with the STAND-IN Fluent Bit ([`e2e::StandIn`], imported into the
/// node's containerd) as the main container: the test host runs the chart's config at the
/// chart's path, so the `@INCLUDE` of the operator's pipeline file and the plugins it names
/// are read from the pod's real mounts (no `--root`). The chart's built-in sections (`tail`,
/// `null`) are skipped. The test host needs a writable `/tmp` (an emptyDir).
fn standin_objects(installed: &Installed<'_>, host_dir: &Path) -> Vec<Value> {
    let mut objects = prepared_objects(installed, host_dir);
    for object in &mut objects {
        if object["kind"] != "DaemonSet" {
            continue;
        }
        let container = &mut object["spec"]["template"]["spec"]["containers"][0];
        container["image"] = json!(e2e::STANDIN_IMAGE);
        container["imagePullPolicy"] = json!("Never");
        container["command"] = json!([e2e::STANDIN_BINARY]);
        container["args"] = json!([
            "run",
            "-c",
            "/fluent-bit/etc/conf/fluent-bit.conf",
            "--duration",
            "24h",
            "--skip-builtin"
        ]);
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

async fn setup<'c>(cluster: &'c Cluster, prefix: &str) -> Result<Installed<'c>> {
    setup_with(cluster, prefix, prepared_objects).await
}

async fn setup_with<'c>(
    cluster: &'c Cluster,
    prefix: &str,
    objects_of: fn(&Installed<'_>, &Path) -> Vec<Value>,
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
    let cluster = Cluster::start_with_node().await?;
    let installed = setup(&cluster, "real-quick").await?;
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

/// A tampered plugin file (its sha256 is not the spec's): the real copy step fails
/// (Init:Error, then CrashLoopBackOff), the plugin goes Degraded with the copy program's own
/// message, and the file never reaches Fluent Bit's plugin directory.
#[tokio::test]
async fn a_tampered_plugin_never_reaches_fluent_bit_and_the_plugin_is_degraded() -> Result<()> {
    let cluster = Cluster::start_with_node().await?;
    let installed = setup(&cluster, "real-tamper").await?;
    let mut plugin = out_jsonl_on_node(&cluster, &installed.namespace)?;
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
    Ok(())
}

/// The stand-in Fluent Bit (the test host in an image) runs the chart's config in the real
/// pod: the chart's `@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf` reads the operator's
/// directory mount, its `plugins.conf` loads both delivered plugins from
/// `/fluent-bit/plugins/<name>/`, and the generator's records reach the out-jsonl file on the
/// host (the chart's `/var/log/fbplugin` hostPath) intact.
#[tokio::test]
async fn the_standin_fluent_bit_runs_the_rendered_config_and_records_flow() -> Result<()> {
    let started = std::time::Instant::now();
    let generator_so = e2e::built_plugin("libin_generator.so")?;
    let jsonl_so = e2e::built_plugin("libout_jsonl.so")?;
    let standin = e2e::StandIn::build(&[&generator_so, &jsonl_so])?;
    eprintln!(
        "e2e: stand-in image {}: {} bytes ({:.1} MiB), files {:?}",
        standin.reference,
        standin.size,
        standin.size as f64 / (1024.0 * 1024.0),
        standin.files
    );
    let cluster = Cluster::start_with_node().await?;
    standin.import(&cluster)?;
    let installed = setup_with(&cluster, "real-standin", standin_objects).await?;
    let generator = example_on_node(
        &cluster,
        &installed.namespace,
        "in-generator",
        "libin_generator.so",
    )?;
    let jsonl = out_jsonl_on_node(&cluster, &installed.namespace)?;
    apply_values(
        &installed.client(),
        &[&generator, &jsonl],
        USER,
        &installed.namespace,
    )
    .await?;
    for name in ["in-generator", "out-jsonl"] {
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
                "e2e: the stand-in's log:\n{}",
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
            let statuses: Vec<_> = pods
                .iter()
                .map(|p| {
                    (
                        p.name_any(),
                        p.status.as_ref().and_then(|s| s.phase.clone()),
                    )
                })
                .collect();
            return Err(installed.explain(Error::Timeout {
                expected: format!(
                    "{RECORDS} records from the generator in {}",
                    out_file.display()
                ),
                waited: Duration::from_secs(120),
                observed: format!(
                    "{} complete line(s) so far; pods {statuses:?}; the stand-in's log:\n{}",
                    complete.lines().count(),
                    container_logs(&installed.namespace)
                ),
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for line in text.lines() {
        let record: Value = serde_json::from_str(line)
            .map_err(|e| Error::Invalid(format!("not a JSON line ({e}): {line}")))?;
        assert_eq!(record["message"], "hello from a Rust input", "{record}");
        assert_eq!(record["source"], "in-generator", "{record}");
        assert_eq!(record["team"], "logging", "{record}");
        assert!(record["seq"].is_u64(), "{record}");
    }
    // The pod that delivered them ran the stand-in on the chart's config, both plugins
    // delivered into it.
    let pods = current_pods(&installed).await?;
    assert_eq!(pods.len(), 1, "one node, one pod");
    let spec = pods[0].spec.clone().unwrap_or_default();
    assert_eq!(
        spec.containers[0].image.as_deref(),
        Some(e2e::STANDIN_IMAGE)
    );
    let plugins = plugins_dir_of(&cluster, &pods[0]);
    for file in [
        "in-generator/libin_generator.so",
        "out-jsonl/libout_jsonl.so",
    ] {
        assert!(plugins.join(file).is_file(), "{file} delivered");
    }
    eprintln!(
        "e2e: {} records delivered by the stand-in; the test took {:.1} s",
        text.lines().count(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
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
