//! [`Cluster`]: the handle tests hold. Either a local control plane it started, or an external
//! cluster named by `E2E_KUBECONFIG`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::DeleteParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::error::{Error, Result};
use crate::local::{
    DIR_PREFIX, LocalControlPlane, claim_dir, keep_dir_requested, sweep_stale_dirs,
};
use crate::node::{RealNode, ensure_node_binaries};
use crate::process::Process;
use crate::provision::{ensure_binaries, ensure_kubelet};

/// Environment variable naming the kubeconfig of an existing cluster to use instead of starting
/// the local control plane.
pub const EXTERNAL_KUBECONFIG_ENV: &str = "E2E_KUBECONFIG";

/// A Kubernetes cluster for one test (or one test binary).
///
/// Local mode ([`Cluster::start`] without `E2E_KUBECONFIG`): etcd, kube-apiserver,
/// kube-controller-manager and kube-scheduler 1.20.2 run on loopback in a temporary directory.
/// Dropping the handle kills every process group and removes the directory, also when the test
/// panics (the component log tails are then printed to stderr). There is no kubelet: the test
/// plays it with [`crate::KubeletPlayer`].
///
/// The processes are also killed by the kernel if the thread that called `start` dies, so keep
/// the handle on that thread (the test's own thread: a `#[tokio::test]` body runs on it) and do
/// not start clusters from `spawn_blocking` or `tokio::spawn`ed tasks.
///
/// External mode (`E2E_KUBECONFIG=<path>`): the cluster in that kubeconfig's current context is
/// used as it is; [`Cluster::plays_kubelet`] is false, namespaces made with
/// [`Cluster::create_namespace`] are deleted on drop.
pub struct Cluster {
    pub(crate) client: Client,
    pub(crate) kubeconfig: PathBuf,
    pub(crate) local: Option<LocalControlPlane>,
    /// The real node (registry, containerd, kubelet) of [`Cluster::start_with_node`].
    pub(crate) node: Option<RealNode>,
    pub(crate) created_namespaces: Mutex<Vec<String>>,
    pub(crate) startup: Duration,
    // Dropped last: the directory holds the components' data and logs.
    pub(crate) dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("kubeconfig", &self.kubeconfig)
            .field("local", &self.local)
            .field("startup", &self.startup)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Starts the local control plane (provisioning it first if the cache is empty), or connects
    /// to the cluster named by `E2E_KUBECONFIG`. Returns once the API server is ready and the
    /// controller-manager has created the `default` ServiceAccount's token.
    ///
    /// Fails with [`Error::Unavailable`] when the control plane cannot be provisioned here.
    pub async fn start() -> Result<Cluster> {
        Self::start_mode(false).await
    }

    /// Like [`Cluster::start`], plus a real node: a local registry, containerd + runc and
    /// kubelet 1.20.2 joined to the control plane (the node lifecycle controller on), started
    /// in the cluster's directory. Returns once the Node is Ready and untainted. Pods really run:
    /// the kubelet writes their status, [`Cluster::plays_kubelet`] is false. One real node per
    /// machine: a second process waits for the first one's node to be torn down (a file lock).
    /// Every missing piece is provisioned first; a piece that cannot be is an error (never a
    /// skip) with the provisioning script's words. On an external cluster (`E2E_KUBECONFIG`)
    /// this is [`Cluster::start`]: its own nodes run the pods.
    pub async fn start_with_node() -> Result<Cluster> {
        Self::start_mode(true).await
    }

    async fn start_mode(real_node: bool) -> Result<Cluster> {
        if let Some(path) = std::env::var_os(EXTERNAL_KUBECONFIG_ENV).filter(|v| !v.is_empty()) {
            eprintln!(
                "e2e: using the existing cluster of {EXTERNAL_KUBECONFIG_ENV}={}; kubelet playing is off (a real kubelet runs the pods)",
                PathBuf::from(&path).display()
            );
            return Self::connect(PathBuf::from(path)).await;
        }
        let bins = tokio::task::spawn_blocking(move || {
            if real_node {
                ensure_kubelet()
            } else {
                ensure_binaries()
            }
        })
        .await
        .map_err(|e| Error::Invalid(format!("provisioning thread failed: {e}")))??;
        let started = Instant::now();
        sweep_stale_dirs();
        let mut attempt = 1;
        let mut cluster = loop {
            match Self::start_local(&bins, real_node).await {
                // Free ports are chosen, released, then bound by the components: another
                // process can take one in between. Fresh ports fix that.
                Err(e) if attempt < 3 && e.to_string().contains("address already in use") => {
                    eprintln!(
                        "e2e: a chosen port was taken before the component bound it; starting again"
                    );
                    attempt += 1;
                }
                outcome => break outcome?,
            }
        };
        cluster.startup = started.elapsed();
        Ok(cluster)
    }

    async fn start_local(bins: &crate::provision::Binaries, real_node: bool) -> Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir()
            .map_err(Error::io("creating the cluster's temporary directory"))?;
        claim_dir(dir.path())?;
        let mut plane = LocalControlPlane::start_apiserver(bins, dir.path(), real_node)?;
        let kubeconfig = dir.path().join("admin.kubeconfig");
        write_kubeconfig(
            &kubeconfig,
            &plane.server,
            &plane.ca_file,
            &plane.admin_token,
        )?;
        let client = client_from_file(&kubeconfig).await?;
        wait_ready(&client, &mut plane).await?;
        plane.start_controllers(bins, dir.path(), &kubeconfig, real_node)?;
        let node = if real_node {
            let node_bins = ensure_node_binaries(bins)?;
            // The lock wait and the node's start block: off the runtime, on a thread that
            // stays alive (the node's processes die with the thread that spawned them).
            Some(RealNode::start(bins, &node_bins, dir.path(), &kubeconfig)?)
        } else {
            None
        };
        let mut cluster = Cluster {
            client,
            kubeconfig,
            local: Some(plane),
            node,
            created_namespaces: Mutex::new(Vec::new()),
            startup: Duration::ZERO,
            dir: Some(dir),
        };
        cluster.wait_service_account_token("default").await?;
        if cluster.node.is_some() {
            cluster.wait_node_ready().await?;
        }
        Ok(cluster)
    }

    /// Uses the existing cluster of `kubeconfig` (its current context) as an external cluster:
    /// no processes, no kubelet playing, created namespaces deleted on drop. [`Cluster::start`]
    /// calls this when `E2E_KUBECONFIG` is set.
    pub async fn connect(kubeconfig: PathBuf) -> Result<Cluster> {
        let started = Instant::now();
        let client = client_from_file(&kubeconfig).await?;
        client
            .apiserver_version()
            .await
            .map_err(Error::kube(format!(
                "reaching the cluster of kubeconfig {}",
                kubeconfig.display()
            )))?;
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir()
            .map_err(Error::io("creating a temporary directory for kubeconfigs"))?;
        Ok(Cluster {
            client,
            kubeconfig,
            local: None,
            node: None,
            created_namespaces: Mutex::new(Vec::new()),
            startup: started.elapsed(),
            dir: Some(dir),
        })
    }

    /// A client authenticated as cluster admin.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The admin kubeconfig (for `kubectl --kubeconfig`, or a process started by the test).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// True on the local control plane, where the test must write pod status itself.
    pub fn plays_kubelet(&self) -> bool {
        self.local.is_some() && self.node.is_none()
    }

    /// True when a real kubelet runs this cluster's pods: [`Cluster::start_with_node`], or an
    /// external cluster.
    pub fn has_real_node(&self) -> bool {
        !self.plays_kubelet()
    }

    /// `127.0.0.1:<port>` of the real node's registry (containerd pulls from it over plain
    /// HTTP), or `None` without a real node of this harness.
    pub fn registry(&self) -> Option<&str> {
        self.node.as_ref().map(|n| n.registry_addr.as_str())
    }

    /// The real node's Node name (the machine's hostname).
    pub fn node_name(&self) -> Option<&str> {
        self.node.as_ref().map(|n| n.name.as_str())
    }

    /// The OCI runtime spec containerd gave runc for the container of a pod's container status
    /// `container_id` (`containerd://<id>`, as the kubelet reports it): what was really
    /// enforced (`process.user`, `root.readonly`, `process.capabilities`,
    /// `process.noNewPrivileges`). Exited containers keep their record until the kubelet
    /// removes them. Only on a real node of this harness.
    pub fn runtime_spec(&self, container_id: &str) -> Result<serde_json::Value> {
        let node = self
            .node
            .as_ref()
            .ok_or_else(|| Error::Invalid("the runtime spec needs a real node".into()))?;
        let id = container_id
            .strip_prefix("containerd://")
            .ok_or_else(|| Error::Invalid(format!("not a containerd container: {container_id}")))?;
        let mut info = node.ctr_container_info(id)?;
        Ok(info["Spec"].take())
    }

    /// Waits until the real node's Node is Ready and has no taint left (the node lifecycle
    /// controller lifts `not-ready` once the kubelet reports Ready).
    async fn wait_node_ready(&mut self) -> Result<()> {
        let Some(name) = self.node.as_ref().map(|n| n.name.clone()) else {
            return Ok(());
        };
        let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(self.client());
        let started = Instant::now();
        let timeout = RealNode::ready_timeout();
        loop {
            if let Some(node) = self.node.as_mut() {
                node.check_running()?;
            }
            let current = nodes
                .get_opt(&name)
                .await
                .map_err(Error::kube(format!("reading Node {name}")))?;
            let ready = current.as_ref().is_some_and(|n| {
                let conditions = n.status.as_ref().and_then(|s| s.conditions.as_ref());
                let tainted = n
                    .spec
                    .as_ref()
                    .and_then(|s| s.taints.as_ref())
                    .is_some_and(|t| !t.is_empty());
                !tainted
                    && conditions
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            });
            if ready {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(Error::Timeout {
                    expected: format!("Node {name} Ready with no taints (the real kubelet)"),
                    waited: started.elapsed(),
                    observed: format!(
                        "{}
{}",
                        crate::wait::observed_yaml(&current),
                        self.log_tails(25)
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Time from the binaries being present to the cluster being ready.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Process ids of the local control plane's components (empty on an external cluster).
    pub fn component_pids(&self) -> Vec<u32> {
        self.local
            .as_ref()
            .map(LocalControlPlane::pids)
            .unwrap_or_default()
    }

    /// The temporary directory (component logs, kubeconfigs, etcd data).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }

    /// Component names and their captured output files (empty on an external cluster).
    pub fn component_logs(&self) -> Vec<(String, PathBuf)> {
        self.local
            .as_ref()
            .map(LocalControlPlane::logs)
            .unwrap_or_default()
    }

    /// The last `lines` lines of every component's log, for failure messages.
    pub fn log_tails(&self, lines: usize) -> String {
        match &self.local {
            Some(plane) => format!(
                "{}{}",
                plane.tails(lines),
                self.node
                    .as_ref()
                    .map(|n| n.tails(lines))
                    .unwrap_or_default()
            ),
            None => format!(
                "(external cluster {}: no component logs here)\n",
                self.kubeconfig.display()
            ),
        }
    }

    /// Starts a process (the operator, typically with `KUBECONFIG` set to
    /// [`Cluster::service_account_kubeconfig`]) whose output goes to `<dir>/<name>.log`; it is
    /// killed when the returned handle is dropped. Drop it before the cluster.
    pub fn spawn(&self, name: &str, command: std::process::Command) -> Result<Process> {
        let dir = self
            .dir()
            .ok_or_else(|| Error::Invalid("the cluster has no temporary directory".into()))?;
        Process::spawn(name, command, dir)
    }

    /// Appends the component log tails to a timeout, so a hang in a controller is visible.
    pub fn with_logs(&self, error: Error) -> Error {
        match error {
            Error::Timeout {
                expected,
                waited,
                observed,
            } if self.local.is_some() => Error::Timeout {
                expected,
                waited,
                observed: format!("{observed}\n{}", self.log_tails(15)),
            },
            other => other,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(plane) = &self.local
        {
            eprintln!(
                "e2e: the test panicked; control plane log tails:\n{}",
                plane.tails(20)
            );
        }
        if std::thread::panicking()
            && let Some(node) = &self.node
        {
            eprintln!("e2e: node log tails:\n{}", node.tails(30));
        }
        // Kill the processes before the directory goes: the node first (its teardown cleans
        // the host), then the control plane.
        self.node = None;
        self.local = None;
        if let Some(dir) = self.dir.take()
            && keep_dir_requested()
        {
            eprintln!("e2e: E2E_KEEP_DIR is set; keeping {}", dir.keep().display());
        }
        let namespaces = self
            .created_namespaces
            .get_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        if !namespaces.is_empty() {
            delete_namespaces(&self.kubeconfig, namespaces);
        }
    }
}

/// Deletes namespaces from a destructor: on a thread of its own with its own runtime and its own
/// client, because the test's runtime may be the one blocked in this drop, and a client's
/// background task lives on the runtime that built it.
fn delete_namespaces(kubeconfig: &Path, namespaces: Vec<String>) {
    let kubeconfig = kubeconfig.to_owned();
    let work = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            let client = match client_from_file(&kubeconfig).await {
                Ok(client) => client,
                Err(e) => return eprintln!("e2e: cannot delete namespaces {namespaces:?}: {e}"),
            };
            let api: Api<Namespace> = Api::all(client);
            for name in namespaces {
                if let Err(e) = api.delete(&name, &DeleteParams::background()).await {
                    eprintln!("e2e: could not delete namespace {name}: {e}");
                }
            }
        });
    });
    let _ = work.join();
}

fn write_kubeconfig(path: &Path, server: &str, ca_file: &Path, token: &str) -> Result<()> {
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\n\
         users:\n- name: admin\n  user:\n    token: {token}\ncontexts:\n- name: e2e\n  context:\n    cluster: e2e\n    user: admin\n\
         current-context: e2e\n",
        ca = ca_file.display()
    );
    std::fs::write(path, yaml).map_err(Error::io(format!("writing {}", path.display())))
}

pub(crate) async fn client_from_file(path: &Path) -> Result<Client> {
    let kubeconfig = Kubeconfig::read_from(path)
        .map_err(|e| Error::Invalid(format!("reading kubeconfig {}: {e}", path.display())))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::Invalid(format!("using kubeconfig {}: {e}", path.display())))?;
    Client::try_from(config).map_err(Error::kube(format!(
        "building a client from {}",
        path.display()
    )))
}

async fn wait_ready(client: &Client, plane: &mut LocalControlPlane) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        plane.check_running()?;
        let request = http::Request::get("/readyz")
            .body(Vec::new())
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let last = match client.request_text(request).await {
            Ok(body) if body.trim() == "ok" => return Ok(()),
            Ok(body) => body,
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                expected: "kube-apiserver /readyz to answer ok".into(),
                waited: Duration::from_secs(120),
                observed: format!("last answer: {last}\n{}", plane.tails(20)),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
