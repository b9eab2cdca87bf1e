//! The CRD API server of a current Kubernetes: `apiextensions-apiserver` 1.36 and etcd on free
//! loopback ports, the authority for "does the CRD install" and "what does CEL accept".
//!
//! It is the code a 1.36 cluster runs for CustomResourceDefinitions and custom resources
//! (structural schema, pruning, defaulting, the published OpenAPI, CEL compilation, the CEL cost
//! estimator, CEL evaluation), run on its own: there is no core API, so it is reached with raw
//! requests (`kubectl` cannot discover it). Provisioned by `e2e/crd-server/provision.sh` from
//! Debian sid and cached per version; facts in `docs/testing.md`.
//!
//! Unlike the 1.20 control plane, a missing server is never a skip: the tests that need it fail
//! with the provisioning script's words, because a CRD that does not install on a current
//! cluster breaks every user.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use serde_json::Value;

use crate::cluster::client_from_file;
use crate::error::{Error, Result};
use crate::local::{free_ports, openssl};
use crate::process::Process;
use crate::provision::cache_root;

/// The Kubernetes minor version whose CRD server the tests run.
pub const CRD_SERVER_MINOR: &str = "1.36";

/// The provisioning script of the CRD server.
pub const CRD_SERVER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/crd-server/provision.sh");

/// How long the server may take to answer `/livez` (about 2 s on 2 idle cores).
const LIVE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a created CRD may take to become Established (well under a second when idle).
const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);

/// The provisioned binaries.
#[derive(Debug, Clone)]
pub struct CrdServerBinaries {
    /// `apiextensions-apiserver`
    pub server: PathBuf,
    /// `etcd`
    pub etcd: PathBuf,
    /// `yaml2json`: YAML decoded the way kubectl and Helm decode manifests.
    pub yaml2json: PathBuf,
    /// The first line of the `complete` stamp: which version was built from which package.
    pub version: String,
}

/// `$FBPLUGIN_CRD_SERVER_DIR`, else `${XDG_CACHE_HOME:-$HOME/.cache}/fbplugin/crd-server-1.36`.
pub fn crd_server_cache_dir() -> Result<PathBuf> {
    match std::env::var_os("FBPLUGIN_CRD_SERVER_DIR") {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(cache_root()?.join(format!("crd-server-{CRD_SERVER_MINOR}"))),
    }
}

fn binaries_in(dir: &Path) -> Option<CrdServerBinaries> {
    let bin = dir.join("bin");
    let stamp = std::fs::read_to_string(dir.join("complete")).ok()?;
    let found = CrdServerBinaries {
        server: bin.join("apiextensions-apiserver"),
        etcd: bin.join("etcd"),
        yaml2json: bin.join("yaml2json"),
        version: stamp.lines().next().unwrap_or_default().to_owned(),
    };
    [&found.server, &found.etcd, &found.yaml2json]
        .iter()
        .all(|p| p.is_file())
        .then_some(found)
}

/// Returns the binaries, running the provisioning script first when the cache is incomplete (its
/// progress goes to stderr; a cold build takes 10-20 minutes on 2 cores).
pub fn ensure_crd_server() -> Result<CrdServerBinaries> {
    let dir = crd_server_cache_dir()?;
    if let Some(found) = binaries_in(&dir) {
        return Ok(found);
    }
    eprintln!(
        "e2e: CRD server {CRD_SERVER_MINOR} not in {}; provisioning it with {CRD_SERVER_SCRIPT}",
        dir.display()
    );
    let status = Command::new("bash")
        .arg(CRD_SERVER_SCRIPT)
        .env("FBPLUGIN_CRD_SERVER_DIR", &dir)
        .status()
        .map_err(|e| Error::Invalid(format!("cannot run bash {CRD_SERVER_SCRIPT}: {e}")))?;
    if !status.success() {
        return Err(Error::Invalid(format!(
            "{CRD_SERVER_SCRIPT} failed with {status}: the Kubernetes {CRD_SERVER_MINOR} CRD \
             server is required (its output above says why; the build log is under {}.work)",
            dir.display()
        )));
    }
    binaries_in(&dir).ok_or_else(|| {
        Error::Invalid(format!(
            "{CRD_SERVER_SCRIPT} succeeded but {} lacks bin/{{apiextensions-apiserver,etcd,yaml2json}} or the `complete` stamp",
            dir.display()
        ))
    })
}

/// What the server said about an object sent with `dryRun=All`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted (201 on a dry run: nothing stored).
    Accepted,
    /// Refused, with the server's message (422 for schema and CEL refusals).
    Refused {
        /// HTTP status code.
        code: u16,
        /// The server's message, every cause included.
        message: String,
    },
}

impl Verdict {
    /// True for [`Verdict::Accepted`].
    pub fn accepted(&self) -> bool {
        *self == Verdict::Accepted
    }
}

/// A running CRD server. Dropping it kills the server and etcd and removes their directory.
///
/// The processes are killed by the kernel if the thread that started them dies: keep the handle
/// on the test's own thread.
pub struct CrdServer {
    // Server first, etcd last.
    processes: Vec<Process>,
    client: Client,
    binaries: CrdServerBinaries,
    startup: Duration,
    // Dropped last: data and logs.
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for CrdServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrdServer")
            .field("version", &self.binaries.version)
            .field("startup", &self.startup)
            .finish_non_exhaustive()
    }
}

impl CrdServer {
    /// Provisions (first time only) and starts etcd and the server, returning once the server
    /// answers requests (`/livez`; its `/readyz` never passes without a core API).
    pub async fn start() -> Result<Self> {
        let binaries = ensure_crd_server()?;
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("fbplugin-crd-server-")
            .tempdir()
            .map_err(Error::io("creating the CRD server's directory"))?;
        let path = dir.path();
        let [etcd_port, peer_port, api_port] = free_ports()?;
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut etcd = Command::new(&binaries.etcd);
        etcd.args([
            "--name=crd".to_owned(),
            format!("--data-dir={}", path.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=crd={peer_url}"),
        ]);
        let mut processes = vec![Process::spawn("etcd", etcd, path)?];

        let pki = path.join("pki");
        std::fs::create_dir_all(&pki).map_err(Error::io(format!("creating {}", pki.display())))?;
        client_certificates(&pki)?;
        // The server delegates authentication and authorization lookups to a core API that does
        // not exist; it starts anyway and, with the client CA, knows system:masters.
        let nowhere = path.join("nowhere.kubeconfig");
        write(
            &nowhere,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: none\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\n\
             users:\n- name: none\n  user: {}\ncontexts:\n- name: none\n  context: {cluster: none, user: none}\ncurrent-context: none\n",
        )?;
        let nowhere = nowhere.display().to_string();
        let mut server = Command::new(&binaries.server);
        server.args([
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".to_owned(),
            format!("--secure-port={api_port}"),
            format!("--cert-dir={}", pki.join("serving").display()),
            format!("--client-ca-file={}", pki.join("ca.crt").display()),
            "--authentication-skip-lookup".to_owned(),
            format!("--authentication-kubeconfig={nowhere}"),
            format!("--authorization-kubeconfig={nowhere}"),
            format!("--kubeconfig={nowhere}"),
            // With the two policy plugins on, every CRD create is refused 403 "not yet ready".
            "--disable-admission-plugins=NamespaceLifecycle,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,MutatingAdmissionPolicy".to_owned(),
        ]);
        processes.insert(0, Process::spawn("apiextensions-apiserver", server, path)?);

        let serving = pki.join("serving").join("apiserver.crt");
        let deadline = Instant::now() + LIVE_TIMEOUT;
        while !serving.is_file() {
            check_running(&mut processes)?;
            if Instant::now() > deadline {
                return Err(processes[0].failure(format!(
                    "did not write its serving certificate {} within {LIVE_TIMEOUT:?}",
                    serving.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let kubeconfig = path.join("admin.kubeconfig");
        write(
            &kubeconfig,
            &format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: crd\n  cluster:\n    server: https://127.0.0.1:{api_port}\n    certificate-authority: {ca}\n\
                 users:\n- name: admin\n  user:\n    client-certificate: {cert}\n    client-key: {key}\n\
                 contexts:\n- name: crd\n  context: {{cluster: crd, user: admin}}\ncurrent-context: crd\n",
                ca = serving.display(),
                cert = pki.join("admin.crt").display(),
                key = pki.join("admin.key").display(),
            ),
        )?;
        let client = client_from_file(&kubeconfig).await?;
        let mut crd_server = CrdServer {
            processes,
            client,
            binaries,
            startup: Duration::ZERO,
            _dir: dir,
        };
        crd_server.wait_live().await?;
        crd_server.startup = started.elapsed();
        Ok(crd_server)
    }

    async fn wait_live(&mut self) -> Result<()> {
        let deadline = Instant::now() + LIVE_TIMEOUT;
        loop {
            check_running(&mut self.processes)?;
            let request = http::Request::get("/livez")
                .body(Vec::new())
                .map_err(|e| Error::Invalid(e.to_string()))?;
            let last = match self.client.request_text(request).await {
                Ok(body) if body.trim() == "ok" => return Ok(()),
                Ok(body) => body,
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    expected: "apiextensions-apiserver /livez to answer ok".into(),
                    waited: LIVE_TIMEOUT,
                    observed: format!("last answer: {last}\n{}", self.tails(30)),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// An admin (`system:masters`) client.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Which server runs: `apiextensions-apiserver v1.36.4 (golang-k8s-apiextensions-apiserver-dev ...)`.
    pub fn version(&self) -> &str {
        &self.binaries.version
    }

    /// From start to the first `/livez` ok.
    pub fn startup(&self) -> Duration {
        self.startup
    }

    /// Resident memory of (server, etcd) in KiB, from `/proc/<pid>/status` (`VmRSS`).
    pub fn rss_kib(&self) -> (u64, u64) {
        let rss = |p: &Process| {
            std::fs::read_to_string(format!("/proc/{}/status", p.pid()))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                })
                .unwrap_or(0)
        };
        (rss(&self.processes[0]), rss(&self.processes[1]))
    }

    /// The last lines of both logs, labelled, for failure messages.
    pub fn tails(&self, lines: usize) -> String {
        self.processes
            .iter()
            .map(|p| format!("--- {} ---\n{}\n", p.name(), p.log_tail(lines)))
            .collect()
    }

    /// Decodes YAML documents exactly as `kubectl apply -f` and Helm do (YAML 1.1 scalars: an
    /// unquoted `off` is `false`), with the provisioned `yaml2json`.
    pub fn decode_like_kubectl(&self, yaml: &str) -> Result<Vec<Value>> {
        use std::io::Write;
        let mut child = Command::new(&self.binaries.yaml2json)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(Error::io("starting yaml2json"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(yaml.as_bytes())
                .map_err(Error::io("writing to yaml2json"))?;
        }
        let output = child
            .wait_with_output()
            .map_err(Error::io("waiting for yaml2json"))?;
        if !output.status.success() {
            return Err(Error::Invalid(format!(
                "kubectl's YAML decoder refuses the document: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .map_err(|e| Error::Invalid(format!("yaml2json wrote invalid JSON: {e}")))
            })
            .collect()
    }

    /// Creates a CRD and waits until it is `Established`. A refusal (schema, CEL compilation,
    /// cost budget) is an error carrying the server's whole message.
    pub async fn create_crd(&self, crd: &Value) -> Result<CustomResourceDefinition> {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Invalid("the CRD has no metadata.name".into()))?
            .to_owned();
        if let Verdict::Refused { code, message } = self
            .send(
                "POST",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                crd,
            )
            .await?
        {
            return Err(Error::Invalid(format!(
                "the Kubernetes {CRD_SERVER_MINOR} API server refused CRD {name} ({code}): {message}"
            )));
        }
        let api: kube::Api<CustomResourceDefinition> = kube::Api::all(self.client());
        let deadline = Instant::now() + ESTABLISHED_TIMEOUT;
        loop {
            let crd = api
                .get(&name)
                .await
                .map_err(Error::kube(format!("reading CRD {name}")))?;
            let conditions = crd
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            if conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
            {
                return Ok(crd);
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    expected: format!("CRD {name} to be Established"),
                    waited: ESTABLISHED_TIMEOUT,
                    observed: format!("conditions: {conditions:?}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends `object` to `collection` (e.g. `/apis/fbplugin.dev/v1alpha1/namespaces/logging/fluentbitplugins`)
    /// as a create with `dryRun=All&fieldValidation=Strict`: the server validates everything a
    /// real create would (schema, unknown fields, CEL) and stores nothing.
    pub async fn dry_run_create(&self, collection: &str, object: &Value) -> Result<Verdict> {
        self.send(
            "POST",
            &format!("{collection}?dryRun=All&fieldValidation=Strict"),
            object,
        )
        .await
    }

    /// GETs a path and parses the JSON answer.
    pub async fn get_json(&self, path: &str) -> Result<Value> {
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| Error::Invalid(e.to_string()))?;
        self.client
            .request::<Value>(request)
            .await
            .map_err(Error::kube(format!("GET {path}")))
    }

    async fn send(&self, method: &str, path: &str, body: &Value) -> Result<Verdict> {
        let body = serde_json::to_vec(body).map_err(|e| Error::Invalid(e.to_string()))?;
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("Content-Type", "application/json")
            .body(body)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        match self.client.request::<Value>(request).await {
            Ok(_) => Ok(Verdict::Accepted),
            Err(kube::Error::Api(status)) => Ok(Verdict::Refused {
                code: status.code,
                message: status.message,
            }),
            Err(e) => Err(Error::Kube {
                what: format!("{method} {path}"),
                source: e,
            }),
        }
    }
}

fn check_running(processes: &mut [Process]) -> Result<()> {
    processes.iter_mut().try_for_each(Process::check_running)
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(Error::io(format!("writing {}", path.display())))
}

/// A client CA and an admin client certificate (organisation `system:masters`), made with openssl.
fn client_certificates(pki: &Path) -> Result<()> {
    let at = |name: &str| pki.join(name).display().to_string();
    let (ca_key, ca_crt, key, csr, crt) = (
        at("ca.key"),
        at("ca.crt"),
        at("admin.key"),
        at("admin.csr"),
        at("admin.crt"),
    );
    openssl(&["genrsa", "-out", &ca_key, "2048"])?;
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &ca_key,
        "-subj",
        "/CN=fbplugin-e2e-ca",
        "-days",
        "2",
        "-out",
        &ca_crt,
    ])?;
    openssl(&["genrsa", "-out", &key, "2048"])?;
    openssl(&[
        "req",
        "-new",
        "-key",
        &key,
        "-subj",
        "/O=system:masters/CN=e2e-admin",
        "-out",
        &csr,
    ])?;
    // Extensions make it an X.509 v3 certificate, which rustls requires.
    let ext = pki.join("admin.ext");
    write(
        &ext,
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )?;
    let ext = ext.display().to_string();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca_crt,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &ext,
        "-out",
        &crt,
    ])
}
