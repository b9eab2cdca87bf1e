//! The shared setup of the suites: the CRD (CEL stripped for 1.20), the chart's ServiceAccount
//! and RBAC from `helm template`, and the real operator binary running as that ServiceAccount.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use fbplugin_crds::FluentBitPlugin;
use kube::api::DynamicObject;
use kube::{Api, Client};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::apply::{apply_object, strip_cel_rules};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::operator_bin::{operator_binary, workspace_root};
use crate::process::Process;

/// The Helm release name the suites render the chart as.
pub const RELEASE: &str = "fbp";
/// The field manager charts install with.
pub const HELM_MANAGER: &str = "helm";
/// The image repositories the suites' operator allows (`--allowed-image-repository`): where
/// the examples' images live. Anything else is refused (reason `ImageNotAllowed`).
pub const ALLOWED_IMAGE_REPOSITORIES: &[&str] = &["ghcr.io/fbplugin/"];
/// Lines of the operator log shown with a failure.
const LOG_LINES: usize = 40;

/// Renders the chart with `helm template` (a real helm v4, fetched once by `chart-tests`) as
/// release [`RELEASE`] in `namespace`, and returns every object as JSON, in helm's order.
pub fn chart_objects(namespace: &str, sets: &[&str]) -> Result<Vec<Value>> {
    let helm = chart_tests::helm::helm().map_err(|e| Error::Unavailable(e.to_string()))?;
    let chart = chart_tests::chart_dir();
    let chart = chart.to_string_lossy();
    let mut args = vec!["template", RELEASE, &chart, "--namespace", namespace];
    for set in sets {
        args.extend(["--set", set]);
    }
    let out = chart_tests::helm::run(&helm, &args)
        .map_err(Error::io(format!("running {}", helm.display())))?;
    if !out.success {
        return Err(Error::Invalid(format!(
            "helm {}: {}",
            args.join(" "),
            out.stderr.trim()
        )));
    }
    yaml_documents(&out.stdout)
}

/// Every non-empty document of a YAML stream, as JSON.
pub fn yaml_documents(text: &str) -> Result<Vec<Value>> {
    let mut objects = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let value: Value = serde::Deserialize::deserialize(document)
            .map_err(|e| Error::Invalid(format!("YAML document: {e}")))?;
        if !value.is_null() {
            objects.push(value);
        }
    }
    Ok(objects)
}

/// The objects of `kind` (and `name`, when given) among `objects`.
pub fn of_kind<'a>(objects: &'a [Value], kind: &str, name: Option<&str>) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|o| o["kind"] == kind && name.is_none_or(|n| o["metadata"]["name"] == n))
        .collect()
}

/// Server-side applies JSON objects as `manager` into `namespace` (as admin).
pub async fn apply_values(
    client: &Client,
    objects: &[&Value],
    manager: &str,
    namespace: &str,
) -> Result<Vec<DynamicObject>> {
    let mut stored = Vec::new();
    for object in objects {
        let object: DynamicObject = serde_json::from_value((*object).clone())
            .map_err(|e| Error::Invalid(format!("not a Kubernetes object: {e}")))?;
        stored.push(apply_object(client, &object, manager, namespace).await?);
    }
    Ok(stored)
}

/// A namespace with the CRD, the chart's ServiceAccount and RBAC (namespaced: the chart's
/// `watchNamespace` mode, a Role and RoleBinding), and the real operator running as that
/// ServiceAccount with its log captured. Dropping it stops the operator (drop it before the
/// [`Cluster`]); when the test is panicking the operator's log tail is printed first.
pub struct Installed<'c> {
    cluster: &'c Cluster,
    /// The namespace the operator watches and the suites work in.
    pub namespace: String,
    /// The chart's operator ServiceAccount name.
    pub service_account: String,
    /// Everything `helm template` rendered for this namespace (default values).
    pub chart: Vec<Value>,
    kubeconfig: PathBuf,
    operator: Option<Process>,
    listen: SocketAddr,
    starts: u32,
    rollback_after: u32,
}

/// The `--rollback-after` the suites' operator runs with unless a suite sets its own
/// ([`Installed::restart_with_rollback_after`]): longer than any suite waits, so a suite that
/// checks how a failure is reported sees it as it is, not rolled back.
pub const SUITE_ROLLBACK_AFTER_SECS: u32 = 3600;

impl<'c> Installed<'c> {
    /// Creates a namespace (`prefix-<random>`), installs the CRD and the chart's RBAC, and
    /// starts the operator; returns once its `/readyz` answers 200.
    pub async fn new(cluster: &'c Cluster, prefix: &str) -> Result<Installed<'c>> {
        let namespace = cluster.create_namespace(prefix).await?;
        Self::in_namespace(cluster, namespace).await
    }

    /// The same in an exact namespace (the demo's `logging`), which must not exist yet.
    pub async fn new_named(cluster: &'c Cluster, namespace: &str) -> Result<Installed<'c>> {
        let namespace = cluster.create_namespace_named(namespace).await?;
        Self::in_namespace(cluster, namespace).await
    }

    async fn in_namespace(cluster: &'c Cluster, namespace: String) -> Result<Installed<'c>> {
        install_crd(&cluster.client()).await?;
        let sets = format!("watchNamespace={namespace}");
        let chart = chart_objects(&namespace, &[&sets])?;
        let rbac: Vec<&Value> = chart
            .iter()
            .filter(|o| {
                let kind = o["kind"].as_str().unwrap_or_default();
                let operator_sa = kind == "ServiceAccount"
                    && o["metadata"]["name"] == format!("{RELEASE}-fbplugin-operator");
                operator_sa || matches!(kind, "Role" | "RoleBinding")
            })
            .collect();
        if rbac.len() != 3 {
            return Err(Error::Invalid(format!(
                "the chart rendered {} of ServiceAccount, Role, RoleBinding for watchNamespace={namespace}",
                rbac.len()
            )));
        }
        apply_values(&cluster.client(), &rbac, HELM_MANAGER, &namespace).await?;
        let service_account = format!("{RELEASE}-fbplugin-operator");
        let kubeconfig = cluster
            .service_account_kubeconfig(&namespace, &service_account)
            .await?;
        let mut installed = Installed {
            cluster,
            namespace,
            service_account,
            chart,
            kubeconfig,
            operator: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            starts: 0,
            rollback_after: SUITE_ROLLBACK_AFTER_SECS,
        };
        installed.start_operator().await?;
        Ok(installed)
    }

    /// The cluster.
    pub fn cluster(&self) -> &'c Cluster {
        self.cluster
    }

    /// An admin client (the test's own view; the operator runs as the ServiceAccount).
    pub fn client(&self) -> Client {
        self.cluster.client()
    }

    /// The `FluentBitPlugin`s of the namespace.
    pub fn plugins(&self) -> Api<FluentBitPlugin> {
        Api::namespaced(self.client(), &self.namespace)
    }

    /// The kubeconfig of the operator's ServiceAccount.
    pub fn service_account_kubeconfig(&self) -> &std::path::Path {
        &self.kubeconfig
    }

    /// Starts the operator (again, after [`Self::stop_operator`]) on a free port and waits for
    /// `/readyz`. Each start logs to its own file (`operator-<n>.log`).
    pub async fn start_operator(&mut self) -> Result<()> {
        let binary = operator_binary()?;
        self.starts += 1;
        let name = format!("operator-{}", self.starts);
        let mut last = None;
        // A port found free can be taken before the operator binds it: retry on another.
        for _ in 0..3 {
            let listen = free_port()?;
            let mut command = Command::new(&binary);
            command
                .args(["run", "--namespace", &self.namespace, "--listen"])
                .arg(listen.to_string());
            for repository in ALLOWED_IMAGE_REPOSITORIES {
                command.arg(format!("--allowed-image-repository={repository}"));
            }
            command.arg(format!("--rollback-after={}", self.rollback_after));
            // The real node's registry, where the suites push the examples' images.
            if let Some(registry) = self.cluster.registry() {
                command.arg(format!("--allowed-image-repository={registry}/"));
            }
            command.env("KUBECONFIG", &self.kubeconfig).env(
                "RUST_LOG",
                std::env::var("E2E_OPERATOR_LOG").unwrap_or_else(|_| "info".into()),
            );
            let mut process = self.cluster.spawn(&name, command)?;
            match wait_ready(&mut process, listen, Duration::from_secs(30)).await {
                Ok(()) => {
                    self.listen = listen;
                    self.operator = Some(process);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Invalid("the operator did not start".into())))
    }

    /// Restarts the operator with `--rollback-after=<secs>` (the rollback suites).
    pub async fn restart_with_rollback_after(&mut self, secs: u32) -> Result<()> {
        self.stop_operator();
        self.rollback_after = secs;
        self.start_operator().await
    }

    /// Kills the operator (SIGKILL to its process group), as a crash or an evicted pod would.
    pub fn stop_operator(&mut self) {
        self.operator = None;
    }

    /// The running operator's process id.
    pub fn operator_pid(&self) -> Option<u32> {
        self.operator.as_ref().map(Process::pid)
    }

    /// The address of the running operator's `/healthz`, `/readyz` and `/metrics`.
    pub fn operator_address(&self) -> SocketAddr {
        self.listen
    }

    /// The last `lines` lines of the current operator's log.
    pub fn operator_log_tail(&self, lines: usize) -> String {
        match &self.operator {
            Some(process) => process.log_tail(lines),
            None => "(the operator is not running)".into(),
        }
    }

    /// Fails with `error` plus what to look at: the operator's log tail and, for timeouts, the
    /// control plane's log tails.
    pub fn explain(&self, error: Error) -> Error {
        let error = self.cluster.with_logs(error);
        let log = self
            .operator
            .as_ref()
            .map(|p| p.log_path().display().to_string())
            .unwrap_or_default();
        Error::Invalid(format!(
            "{error}\n--- operator log {log} (last {LOG_LINES} lines) ---\n{}",
            self.operator_log_tail(LOG_LINES)
        ))
    }

    /// Fails if the operator has exited.
    pub fn check_operator(&mut self) -> Result<()> {
        match &mut self.operator {
            Some(process) => process.check_running(),
            None => Err(Error::Invalid("the operator is not running".into())),
        }
    }
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "e2e: the test panicked; operator log (last {LOG_LINES} lines):\n{}",
                self.operator_log_tail(LOG_LINES)
            );
        }
    }
}

/// Applies the committed CRD with its CEL rules removed (1.20 has no CEL) as `helm`.
pub async fn install_crd(client: &Client) -> Result<()> {
    let path = workspace_root().join("crds/fluentbitplugins.fbplugin.dev.yaml");
    let text =
        std::fs::read_to_string(&path).map_err(Error::io(format!("reading {}", path.display())))?;
    let mut crd: Value = serde_norway::from_str(&text)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    strip_cel_rules(&mut crd);
    apply_values(client, &[&crd], HELM_MANAGER, "default").await?;
    Ok(())
}

fn free_port() -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(Error::io("binding a free loopback port"))?;
    listener
        .local_addr()
        .map_err(Error::io("reading its address"))
}

/// One HTTP/1.0 GET on loopback; returns the status code and body.
pub async fn http_get(address: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

async fn wait_ready(process: &mut Process, listen: SocketAddr, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    loop {
        process.check_running()?;
        if let Ok((200, _)) = http_get(listen, "/readyz").await {
            return Ok(());
        }
        if started.elapsed() > timeout {
            return Err(process.failure(format!(
                "/readyz on {listen} did not answer 200 within {timeout:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The chart's prepared Fluent Bit objects (`fluent-bit`, from [`Installed::chart`]) made to run
/// on a real node of this harness: the container runs the node's pause image (no probes:
/// nothing serves HTTP; the operator's part ends at the files it delivers), and the hostPath
/// volumes point under `host_dir`, so the pod writes nothing on the host.
pub fn fluent_bit_on_real_node(chart: &[Value], host_dir: &std::path::Path) -> Vec<Value> {
    let mut objects: Vec<Value> = chart
        .iter()
        .filter(|o| o["metadata"]["name"] == "fluent-bit")
        .cloned()
        .collect();
    for object in &mut objects {
        if object["kind"] != "DaemonSet" {
            continue;
        }
        let spec = &mut object["spec"]["template"]["spec"];
        spec["terminationGracePeriodSeconds"] = serde_json::json!(1);
        let container = &mut spec["containers"][0];
        container["image"] = serde_json::json!(crate::PAUSE_IMAGE);
        container["imagePullPolicy"] = serde_json::json!("Never");
        container["command"] = serde_json::json!(["/pause"]);
        container["args"] = serde_json::json!([]);
        if let Some(c) = container.as_object_mut() {
            c.remove("livenessProbe");
            c.remove("readinessProbe");
        }
        for volume in spec["volumes"].as_array_mut().into_iter().flatten() {
            if let Some(path) = volume["hostPath"]["path"].as_str() {
                let private = host_dir.join(path.trim_start_matches('/'));
                // A `type: File` hostPath (the official chart's /etc/machine-id) must exist as
                // a file; any other is a directory the kubelet would create.
                if volume["hostPath"]["type"] == "File" {
                    if let Some(parent) = private.parent() {
                        let _ = std::fs::create_dir_all(parent);
                    }
                    let _ = std::fs::write(&private, "");
                } else {
                    let _ = std::fs::create_dir_all(&private);
                }
                volume["hostPath"]["path"] = serde_json::json!(private.display().to_string());
            }
        }
    }
    objects
}
