//! `cargo run -p e2e --bin demo`: the whole product on a local Kubernetes control plane.
//!
//! Provisions the control plane (the first time: Debian packages and a Kubernetes build, with
//! the script's progress on stderr; cached afterwards), installs the CRD and the chart's RBAC,
//! starts the real operator as the chart's ServiceAccount, applies the chart's prepared Fluent
//! Bit DaemonSet and the example plugins, plays the kubelet on two nodes, and shows the plugins
//! and the DaemonSet reconciling, one table per change (what `kubectl get fbp,ds -w` shows).
//! Ctrl-C (or SIGTERM) stops the operator and tears the cluster down at any moment, also during
//! start-up and when stdout is a pipe whose reader is gone (`| tee` dies with the same Ctrl-C).
//! The plugins live in the namespace `logging`, as in the README's commands.
//!
//! `--once` (or `DEMO_ONCE=1`): exit 0 as soon as every plugin is Ready and the DaemonSet is
//! rolled out, 1 if that does not happen within `DEMO_TIMEOUT_SECS` (default 120).
//!
//! `--real-node` (or `DEMO_REAL_NODE=1`): real pods instead of the played kubelet. The harness's
//! real node ([`Cluster::start_with_node`]: kubelet, containerd, runc and a local registry;
//! root needed, provisioned the first time) runs the DaemonSet with the node's pause image as
//! Fluent Bit; the examples' `.so` files are built (`cargo build -p in-generator -p
//! out-jsonl`), packed into images by the image tool, pushed to the node's registry and pulled
//! by digest, and their init containers really copy and verify the files.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use e2e::{Cluster, HELM_MANAGER, Installed, PodState, apply_values, condition, example_plugin};
use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;
use kube::{Api, ResourceExt};
use serde_json::Value;
use tokio::signal::unix::{SignalKind, signal};

/// The examples the demo applies, with the file each one's crate builds.
const EXAMPLES: [(&str, &str); 2] = [
    ("in-generator", "libin_generator.so"),
    ("out-jsonl", "libout_jsonl.so"),
];

/// `cargo build -p in-generator -p out-jsonl` in the demo's own profile, so
/// [`e2e::built_plugin`] finds the `.so` files in `target/<profile>/deps`; skipped when both
/// are there and newer than their sources, the SDK's and `Cargo.lock` (a build with other
/// features would rewrite files that tests running beside the demo may be loading).
fn build_examples() -> Result<(), Stop> {
    let current = EXAMPLES.iter().all(|(example, file)| {
        e2e::built_plugin(file).is_ok_and(|built| {
            e2e::built_after_sources(
                &built,
                &[
                    &format!("examples/{example}"),
                    "plugin-runtime/fluent-bit-plugin-sdk",
                    "Cargo.lock",
                ],
            )
        })
    });
    if current {
        eprintln!("demo: the example plugins are built and current");
        return Ok(());
    }
    let mut command =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
    command.current_dir(e2e::workspace_root()).arg("build");
    for (example, _) in EXAMPLES {
        command.args(["-p", example]);
    }
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    eprintln!("demo: building the example plugins ({command:?})");
    let status = command
        .status()
        .map_err(|e| format!("running cargo build for the examples: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(Stop::Failed(format!(
            "building the examples failed ({status})"
        )))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let once = std::env::args().any(|a| a == "--once")
        || std::env::var("DEMO_ONCE").is_ok_and(|v| !v.is_empty() && v != "0");
    let real_node = std::env::args().any(|a| a == "--real-node")
        || std::env::var("DEMO_REAL_NODE").is_ok_and(|v| !v.is_empty() && v != "0");
    let timeout = std::env::var("DEMO_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(120));
    // Listening from the first moment: a signal during start-up must still tear down what was
    // started (the default action would end the process with the cluster directory, keys
    // included, left behind). Dropping `run`'s future drops the cluster, which kills every
    // process and removes the directory.
    let (mut interrupt, mut terminate) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("demo: cannot listen for SIGINT/SIGTERM: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = tokio::select! {
        result = run(once, real_node, timeout) => result,
        _ = interrupt.recv() => Err(Stop::Signal("interrupted")),
        _ = terminate.recv() => Err(Stop::Signal("terminated")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop::Signal(how)) => {
            eprintln!("demo: {how}; the operator is stopped and the cluster removed");
            ExitCode::SUCCESS
        }
        Err(Stop::Failed(message)) => {
            eprintln!("demo: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Why the demo ended before `--once` was satisfied.
enum Stop {
    Signal(&'static str),
    Failed(String),
}

impl From<String> for Stop {
    fn from(message: String) -> Self {
        Stop::Failed(message)
    }
}

/// Prints to stdout; a reader that went away (`| tee` ended by the same Ctrl-C) is not an
/// error worth a panic: the signal is about to stop the demo cleanly.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

async fn run(once: bool, real_node: bool, timeout: Duration) -> Result<(), Stop> {
    eprintln!(
        "demo: starting the local Kubernetes control plane (the first run builds it: minutes)"
    );
    let cluster = if real_node {
        // Built before the cluster starts: nothing runs while cargo does.
        build_examples()?;
        Cluster::start_with_node().await
    } else {
        Cluster::start().await
    }
    .map_err(|e| e.to_string())?;
    eprintln!(
        "demo: control plane ready in {:?}{}",
        cluster.startup_time(),
        cluster
            .node_name()
            .map(|n| format!(", real node {n} Ready (real pods)"))
            .unwrap_or_default()
    );
    // A fresh local cluster has no `logging` yet; an external one may, so it gets a suffix.
    let installed = if cluster.plays_kubelet() || cluster.registry().is_some() {
        Installed::new_named(&cluster, "logging").await
    } else {
        Installed::new(&cluster, "logging").await
    }
    .map_err(|e| e.to_string())?;
    let ns = installed.namespace.clone();
    eprintln!(
        "demo: CRD and RBAC installed, operator running as ServiceAccount {ns}/{} (log: {})",
        installed.service_account,
        cluster
            .dir()
            .map(|d| d.join("operator-1.log").display().to_string())
            .unwrap_or_default()
    );
    if cluster.plays_kubelet() {
        for node in ["node-a", "node-b"] {
            cluster
                .create_ready_node(node)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let on_node = cluster.registry().zip(cluster.dir());
    let fluent_bit: Vec<Value> = match on_node {
        Some((_, dir)) => e2e::fluent_bit_on_real_node(&installed.chart, &dir.join("host")),
        None => installed
            .chart
            .iter()
            .filter(|o| o["metadata"]["name"] == "fluent-bit")
            .cloned()
            .collect(),
    };
    apply_values(
        &installed.client(),
        &fluent_bit.iter().collect::<Vec<_>>(),
        HELM_MANAGER,
        &ns,
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut plugins = Vec::new();
    for (example, file) in EXAMPLES {
        plugins.push(
            match on_node {
                Some((registry, _)) => e2e::built_plugin(file)
                    .and_then(|built| e2e::example_on_registry(registry, &ns, example, &built)),
                None => example_plugin(example, &ns),
            }
            .map_err(|e| e.to_string())?,
        );
    }
    apply_values(
        &installed.client(),
        &plugins.iter().collect::<Vec<_>>(),
        "kubectl",
        &ns,
    )
    .await
    .map_err(|e| e.to_string())?;
    say(&format!(
        "\nadmin kubeconfig: {}\ntry: kubectl --kubeconfig {} -n {ns} get fbp\n",
        cluster.kubeconfig().display(),
        cluster.kubeconfig().display()
    ));
    if !once {
        say("Ctrl-C stops the operator and removes the cluster.\n");
    }

    let player = cluster.kubelet(&ns, "fluent-bit");
    let fbp: Api<FluentBitPlugin> = installed.plugins();
    let daemonsets: Api<DaemonSet> = Api::namespaced(installed.client(), &ns);
    let started = Instant::now();
    let mut shown = String::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    loop {
        ticker.tick().await;
        if cluster.plays_kubelet() {
            // The kubelet's part: finish terminations, run and ready the new pods.
            if let Err(e) = play(&player).await {
                eprintln!("demo: playing the kubelet: {e}");
            }
        }
        let (table, done) = match snapshot(&fbp, &daemonsets).await {
            Ok(found) => found,
            Err(e) => (format!("(reading the cluster: {e})\n"), false),
        };
        if table != shown {
            say(&format!(
                "[{:>5.1}s]\n{table}",
                started.elapsed().as_secs_f64()
            ));
            shown = table;
        }
        if once && done {
            say("every plugin is Ready and the DaemonSet is rolled out");
            return Ok(());
        }
        if once && started.elapsed() > timeout {
            return Err(Stop::Failed(format!(
                "not everything Ready within {timeout:?}; last state:\n{shown}\n--- operator log ---\n{}",
                installed.operator_log_tail(30)
            )));
        }
    }
}

async fn play(player: &e2e::KubeletPlayer) -> e2e::Result<()> {
    player.force_delete_terminating().await?;
    for pod in player.pods().await? {
        let ready = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if pod.metadata.deletion_timestamp.is_none() && !ready {
            player.set_pod(&pod.name_any(), &PodState::Ready).await?;
        }
    }
    Ok(())
}

/// The two tables, and whether everything is Ready.
async fn snapshot(
    fbp: &Api<FluentBitPlugin>,
    daemonsets: &Api<DaemonSet>,
) -> Result<(String, bool), kube::Error> {
    let plugins = fbp.list(&Default::default()).await?;
    let mut out = format!(
        "{:<24} {:<7} {:<12} {:<6} {:<8} {}\n",
        "PLUGIN", "TYPE", "DAEMONSET", "READY", "ROLLOUT", "REASON"
    );
    let mut all_ready = !plugins.items.is_empty();
    for p in &plugins.items {
        let ready = condition(p, "Ready");
        let status = ready.map(|c| c.status.as_str()).unwrap_or("");
        all_ready &= status == "True";
        let reason = ready.map(|c| c.reason.as_str()).unwrap_or("");
        let progress = p
            .status
            .as_ref()
            .and_then(|s| s.progress.clone())
            .unwrap_or_default();
        let kind = serde_json::to_value(p.spec.plugin_type).ok();
        out.push_str(&format!(
            "{:<24} {:<7} {:<12} {:<6} {:<8} {}\n",
            p.name_any(),
            kind.as_ref().and_then(Value::as_str).unwrap_or(""),
            p.spec.target.daemon_set,
            status,
            progress,
            reason
        ));
    }
    out.push_str(&format!(
        "\n{:<24} {:>7} {:>7} {:>7}\n",
        "DAEMONSET", "DESIRED", "UPDATED", "READY"
    ));
    let mut rolled = true;
    for ds in daemonsets.list(&Default::default()).await?.items {
        let status = ds.status.clone().unwrap_or_default();
        rolled &= e2e::rolled_out(&ds, &status);
        out.push_str(&format!(
            "{:<24} {:>7} {:>7} {:>7}\n",
            ds.name_any(),
            status.desired_number_scheduled,
            status.updated_number_scheduled.unwrap_or(0),
            status.number_ready
        ));
    }
    Ok((out, all_ready && rolled))
}
