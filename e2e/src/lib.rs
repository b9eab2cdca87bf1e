//! End-to-end harness: a real Kubernetes control plane on this machine, started and torn down
//! by tests, with a real node (kubelet, containerd, runc, a local registry) or a played kubelet.
//!
//! # What runs
//!
//! [`Cluster::start`] runs etcd 3.4 and kube-apiserver, kube-controller-manager and
//! kube-scheduler 1.20.2 (upstream code, built from Debian's source package) on free loopback
//! ports in a fresh temporary directory, and returns once `/readyz` answers `ok` and the
//! controller-manager is issuing ServiceAccount tokens (5 to 7 s on 2 cores). With it alone there
//! is no kubelet and no container runtime: pods are scheduled to Node objects and stay Pending
//! until the test writes their status with a [`KubeletPlayer`]. [`Cluster::start_with_node`]
//! adds the real node: pods really run, and the kubelet writes their status. Everything else is real: validation, RBAC with
//! ServiceAccount tokens, server-side apply and managedFields, the DaemonSet controller's rolling
//! update, garbage collection, Events. Facts and limits (no CEL in CRDs on 1.20, unknown fields
//! rejected by server-side apply): `docs/testing.md`.
//!
//! Dropping the [`Cluster`] kills every component's process group and removes the directory,
//! also when the test panics; the kernel kills them too if the test process dies without
//! unwinding (`PR_SET_PDEATHSIG`).
//!
//! # Running
//!
//! `cargo nextest run -p e2e` (or `cargo test -p e2e`). The first run on a machine provisions the
//! binaries with `e2e/control-plane/provision.sh`: it downloads Debian packages through a private
//! apt configuration (the machine's apt sources stay untouched; root is not needed), builds
//! Kubernetes with Go 1.15 (about 4 minutes on 2 cores) and caches the result in
//! `${XDG_CACHE_HOME:-$HOME/.cache}/fbplugin/kube-1.20.2/` (override with `FBPLUGIN_KUBE_DIR`).
//! Later runs find the cache and start at once. Run the script by hand to see its progress, or
//! delete the directory to rebuild.
//!
//! In CI, run `bash e2e/control-plane/provision.sh` as its own step before the tests: a cold
//! provisioning takes about 5.5 minutes, longer than a test may run before nextest stops it.
//! Each test starts its own cluster (nextest runs every test in its own process, so a shared one
//! is not possible there); the suite of this crate takes about 30 s with two tests at a time.
//!
//! # Writing a test
//!
//! ```no_run
//! use std::time::Duration;
//!
//! #[tokio::test]
//! async fn the_daemonset_rolls() -> Result<(), e2e::Error> {
//!     let cluster = e2e::cluster_or_skip!();
//!     let ns = cluster.create_namespace("demo").await?;
//!     cluster.create_ready_node("node-a").await?;
//!     let manifests = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: fluent-bit\n..."; // e.g. `helm template` output
//!     e2e::apply_yaml(&cluster.client(), manifests, "helm", &ns).await?;
//!     let status = cluster
//!         .kubelet(&ns, "fluent-bit")
//!         .play_until_rolled_out(Duration::from_secs(60))
//!         .await
//!         .map_err(|e| cluster.with_logs(e))?;
//!     assert_eq!(status.number_ready, 1);
//!     Ok(())
//! }
//! ```
//!
//! # The suites and the demo
//!
//! [`Installed::new`] is the shared setup: a namespace, the CRD with its CEL rules stripped, the
//! chart's ServiceAccount, Role and RoleBinding from `helm template` ([`chart_objects`]), and the
//! real `operator` binary ([`operator_binary`], built first when missing or older than its
//! sources) running as that ServiceAccount, its log captured; [`Installed::explain`] adds the
//! operator's log tail to a failure.
//!
//! The operator's suites run on the real node ([`Cluster::start_with_node`], helpers in
//! [`real`]): `tests/real_pods.rs` (quick start, failure states, the lifecycle of a plugin with
//! update, no-write, invalid beside valid, restart mid-rollout, delete and restore, and the
//! stand-in Fluent Bit with the WASM filter and rollbacks, and a YAML-configured DaemonSet) and
//! `tests/real_gate.rs` (the official
//! chart's DaemonSet, the gate, RBAC). The played kubelet ([`KubeletPlayer`]) remains where one real
//! node cannot reach the state: `tests/scale.rs` (1,000 plugins over 50 DaemonSets:
//! convergence, linear writes, CPU, memory; 50 Fluent Bit pods rolling on a 2-core node would
//! measure the node, and a cluster of 50 DaemonSets has many nodes), `tests/yaml_config.rs`,
//! `tests/harness.rs` (the player itself) and the demo's default mode (`tests/demo.rs` also
//! runs its `--real-node` mode). `tests/offline.rs` needs no pods (offline render, the init
//! containers' commands run with the cargo-built copy program, test host).
//! `cargo run -p e2e --bin demo` runs the whole product live; `tests/demo.rs` runs it with
//! `--once`.
//!
//! # The CRD on a current Kubernetes (1.36)
//!
//! Kubernetes 1.20 has no CEL, so it cannot say whether the CRD installs on the clusters users
//! run. [`CrdServer::start`] runs the CRD API server of Kubernetes 1.36
//! (`k8s.io/apiextensions-apiserver` 1.36.4, the code a 1.36 cluster runs for CRDs and custom
//! resources: structural schema, pruning, CEL compilation, the CEL cost estimator, CEL
//! evaluation) with its own etcd on free loopback ports, authenticated with a client
//! certificate in `system:masters`. It has no core API, so it is reached with raw requests:
//! [`CrdServer::create_crd`] waits for `Established`, [`CrdServer::dry_run_create`] sends an
//! object with `dryRun=All&fieldValidation=Strict` and returns the server's [`Verdict`], and
//! [`CrdServer::decode_like_kubectl`] reads YAML with kubectl's and Helm's decoder (YAML 1.1:
//! an unquoted `off` is `false`). `tests/crd_install.rs` creates the chart's exact CRD file and
//! checks what `kubectl explain` will show; `tests/crd_validation.rs` sends every row of the
//! validation table and about 9,000 hostile objects to the server and to the operator's
//! validation, which must agree.
//!
//! The server is built by `e2e/crd-server/provision.sh` from Debian sid's Go sources (private
//! apt configuration, nothing installed on the machine; 10 to 20 minutes cold on 2 cores) and
//! cached in `${XDG_CACHE_HOME:-$HOME/.cache}/fbplugin/crd-server-1.36/` (override with
//! `FBPLUGIN_CRD_SERVER_DIR`). It is never skipped: when it cannot be provisioned, its tests fail
//! with the script's words. CI runs the script as its own step before the tests.
//!
//! # Against an existing cluster (kind, ...)
//!
//! Set `E2E_KUBECONFIG=/path/to/kubeconfig` (the plain `KUBECONFIG` is ignored on purpose, so a
//! test run never lands on a cluster by accident). The harness uses that kubeconfig's current
//! context as admin, does not play the kubelet ([`Cluster::plays_kubelet`] is false: the real
//! kubelet runs the pods, [`Cluster::create_ready_node`] and the pod-status writers return
//! [`Error::NotPlayingKubelet`]) and deletes the namespaces it created when dropped.
//!
//! # Skipping
//!
//! When the control plane cannot be provisioned (no access to Debian's archive, not a Debian
//! machine), [`start_or_skip`] prints a `SKIPPED` line naming the test and the reason, and the
//! test returns early. Skipping is refused (the test fails) when `CI` or `E2E_REQUIRE_CLUSTER`
//! is set to anything but `0`/`false`, so CI can never pass without running the suites.
//!
//! # Debugging
//!
//! Each component's output is captured in `<dir>/<component>.log` ([`Cluster::component_logs`],
//! [`Cluster::log_tails`]); timeouts raised through [`Cluster::with_logs`] and panics while a
//! cluster is alive print the tails. `E2E_KEEP_DIR=1` keeps the directory after the test (its
//! path is printed); `kubectl --kubeconfig <dir>/admin.kubeconfig get all -A` works against a
//! cluster while a test holds it.

mod accounts;
pub mod apiserver_metrics;
mod apply;
mod cluster;
mod crd_server;
mod error;
mod images;
mod install;
mod kubelet;
mod local;
mod node;
mod operator_bin;
mod plugins;
mod pod_status;
mod process;
mod provision;
pub mod real;
mod standin;
mod wait;

pub use apply::{apply_object, apply_yaml, strip_cel_rules};
pub use cluster::{Cluster, EXTERNAL_KUBECONFIG_ENV};
pub use crd_server::{
    CRD_SERVER_MINOR, CRD_SERVER_SCRIPT, CrdServer, CrdServerBinaries, Verdict,
    crd_server_cache_dir, ensure_crd_server,
};
pub use error::{Error, Result};
pub use images::{PushedPlugin, built_plugin, example_on_registry, push_image, push_plugin};
pub use install::{
    HELM_MANAGER, Installed, RELEASE, apply_values, chart_objects, fluent_bit_on_real_node,
    http_get, install_crd, of_kind, yaml_documents,
};
pub use kubelet::{KubeletPlayer, rolled_out};
pub use node::{NODE_SCRIPT, PAUSE_IMAGE, REGISTRY_SCRIPT};
pub use operator_bin::{built_after_sources, copy_program_binary, operator_binary, workspace_root};
pub use plugins::{condition, example_plugin, printed_columns, wait_for_plugin};
pub use pod_status::PodState;
pub use process::{Process, tail_file};
pub use provision::{
    Binaries, KUBE_VERSION, PROVISION_SCRIPT, cache_dir, ensure_binaries, ensure_kubelet,
};
pub use standin::{
    FLUENT_BIT_BINARY, FLUENT_BIT_IMAGE_ENV, FluentBit, FluentBitContainer, STANDIN_BINARY,
    STANDIN_IMAGE, StandIn, shared_libraries, wasm_test_host,
};
pub use wait::{describe_events, events_for, observed_yaml, wait_for, wait_for_object};

/// Starts a [`Cluster`], or returns `None` after printing why the test is skipped when the
/// control plane cannot be provisioned here and skipping is allowed (see the crate docs).
pub async fn start_or_skip() -> Result<Option<Cluster>> {
    match Cluster::start().await {
        Ok(cluster) => Ok(Some(cluster)),
        Err(error) => skip_unavailable(error).map(|()| None),
    }
}

/// Decides what a test does with `error`: `Ok(())` after printing a `SKIPPED <test>: <reason>`
/// line when it is [`Error::Unavailable`] and skipping is allowed, else `Err(error)`.
pub fn skip_unavailable(error: Error) -> Result<()> {
    if !error.is_unavailable() || skipping_forbidden() {
        return Err(error);
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_owned();
    eprintln!(
        "SKIPPED {test}: {error}. Set E2E_KUBECONFIG to use an existing cluster; CI or E2E_REQUIRE_CLUSTER=1 turn this skip into a failure."
    );
    Ok(())
}

fn skipping_forbidden() -> bool {
    ["CI", "E2E_REQUIRE_CLUSTER"].iter().any(|name| {
        std::env::var(name)
            .is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
    })
}

/// `let cluster = e2e::cluster_or_skip!();` in a test returning `Result<(), e2e::Error>`:
/// starts a cluster, or returns `Ok(())` early after printing why the test is skipped.
#[macro_export]
macro_rules! cluster_or_skip {
    () => {
        match $crate::start_or_skip().await? {
            Some(cluster) => cluster,
            None => return Ok(()),
        }
    };
}
