//! The local control plane: etcd, kube-apiserver, kube-controller-manager and kube-scheduler on
//! free loopback ports in a temporary directory (flags and why: docs/testing.md).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::process::{Process, tail_file};
use crate::provision::Binaries;

/// How long kube-apiserver may take to report ready (about 10 s on 2 idle cores; CI is busier).
const APISERVER_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The running processes and their directory. Dropping it kills every process group, then
/// removes the directory.
#[derive(Debug)]
pub(crate) struct LocalControlPlane {
    components: Vec<Process>,
    /// `https://127.0.0.1:<port>`
    pub(crate) server: String,
    /// The apiserver's self-signed serving certificate chain (PEM), trusted by the kubeconfig.
    pub(crate) ca_file: PathBuf,
    /// The admin bearer token (`system:masters`).
    pub(crate) admin_token: String,
}

impl LocalControlPlane {
    /// Starts etcd and kube-apiserver in `dir` and returns once the server's certificate exists.
    /// The caller waits for `/readyz` with a client, then calls [`Self::start_controllers`].
    /// `real_node`: a real kubelet joins, so logs and exec must reach it by its hostname.
    pub(crate) fn start_apiserver(bins: &Binaries, dir: &Path, real_node: bool) -> Result<Self> {
        let [etcd_port, etcd_peer_port, api_port] = free_ports()?;
        let mut plane = LocalControlPlane {
            components: Vec::new(),
            server: format!("https://127.0.0.1:{api_port}"),
            ca_file: dir.join("pki").join("apiserver.crt"),
            admin_token: random_hex(16)?,
        };
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer_port}");
        plane.components.push(spawn(
            "etcd",
            &bins.etcd,
            &strings(&[
                "--name=e2e",
                &format!("--data-dir={}", dir.join("etcd").display()),
                &format!("--listen-client-urls={etcd_url}"),
                &format!("--advertise-client-urls={etcd_url}"),
                &format!("--listen-peer-urls={peer_url}"),
                &format!("--initial-advertise-peer-urls={peer_url}"),
                &format!("--initial-cluster=e2e={peer_url}"),
            ]),
            dir,
        )?);

        let (key, public) = service_account_keys(dir)?;
        let tokens = dir.join("tokens.csv");
        std::fs::write(
            &tokens,
            format!("{},admin,admin,system:masters\n", plane.admin_token),
        )
        .map_err(Error::io(format!("writing {}", tokens.display())))?;
        let mut apiserver_args = Vec::new();
        if real_node {
            // The kubelet binds 127.0.0.1; the hostname resolves to it here.
            apiserver_args.push("--kubelet-preferred-address-types=Hostname,InternalIP".to_owned());
        }
        plane.components.push(spawn(
            "kube-apiserver",
            &bins.apiserver,
            &[
                apiserver_args,
                strings(&[
                    &format!("--etcd-servers={etcd_url}"),
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    &format!("--secure-port={api_port}"),
                    &format!("--cert-dir={}", dir.join("pki").display()),
                    &format!("--service-account-key-file={}", public.display()),
                    &format!("--service-account-signing-key-file={}", key.display()),
                    "--service-account-issuer=https://kubernetes.default.svc",
                    &format!("--token-auth-file={}", tokens.display()),
                    "--authorization-mode=RBAC",
                    "--service-cluster-ip-range=10.96.0.0/16",
                    // Loopback endpoints are invalid: the default reconciler would log errors forever.
                    "--endpoint-reconciler-type=none",
                    "--allow-privileged=true",
                    "--profiling=false",
                ]),
            ]
            .concat(),
            dir,
        )?);

        let deadline = Instant::now() + APISERVER_READY_TIMEOUT;
        while !plane.ca_file.is_file() {
            plane.check_running()?;
            if Instant::now() > deadline {
                return Err(plane.components[1].failure(format!(
                    "did not write its serving certificate {} within {APISERVER_READY_TIMEOUT:?}",
                    plane.ca_file.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(plane)
    }

    /// Starts kube-controller-manager and kube-scheduler against the admin kubeconfig.
    pub(crate) fn start_controllers(
        &mut self,
        bins: &Binaries,
        dir: &Path,
        kubeconfig: &Path,
        real_node: bool,
    ) -> Result<()> {
        let kubeconfig = format!("--kubeconfig={}", kubeconfig.display());
        // With a real kubelet the node lifecycle controller lifts the not-ready taint; with a
        // played one nobody would heartbeat, so it must stay off.
        let controllers = if real_node {
            "--controllers=*,-nodeipam,-cloud-node-lifecycle"
        } else {
            "--controllers=*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle"
        };
        let key = dir.join("sa.key");
        self.components.push(spawn(
            "kube-controller-manager",
            &bins.controller_manager,
            &strings(&[
                &kubeconfig,
                // Its token controller then creates token Secrets for ServiceAccounts.
                &format!("--service-account-private-key-file={}", key.display()),
                &format!("--root-ca-file={}", self.ca_file.display()),
                controllers,
                "--secure-port=0",
                "--port=0",
                "--leader-elect=false",
            ]),
            dir,
        )?);
        self.components.push(spawn(
            "kube-scheduler",
            &bins.scheduler,
            &strings(&[
                &kubeconfig,
                "--leader-elect=false",
                "--secure-port=0",
                "--port=0",
            ]),
            dir,
        )?);
        Ok(())
    }

    /// Fails, with the log tail, when any component has exited.
    pub(crate) fn check_running(&mut self) -> Result<()> {
        self.components
            .iter_mut()
            .try_for_each(Process::check_running)
    }

    /// Process ids of the running components.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.components.iter().map(Process::pid).collect()
    }

    /// Component names with their log files.
    pub(crate) fn logs(&self) -> Vec<(String, PathBuf)> {
        self.components
            .iter()
            .map(|c| (c.name().to_owned(), c.log_path().to_owned()))
            .collect()
    }

    /// The last `lines` lines of every component's log, labelled.
    pub(crate) fn tails(&self, lines: usize) -> String {
        self.components
            .iter()
            .map(|c| {
                format!(
                    "--- {} ({}) ---\n{}\n",
                    c.name(),
                    c.log_path().display(),
                    tail_file(c.log_path(), lines)
                )
            })
            .collect()
    }
}

impl Drop for LocalControlPlane {
    fn drop(&mut self) {
        // Clients first, storage last: the apiserver must not outlive etcd's data directory.
        while let Some(component) = self.components.pop() {
            drop(component);
        }
    }
}

fn spawn(name: &str, program: &Path, args: &[String], dir: &Path) -> Result<Process> {
    let mut command = Command::new(program);
    command.args(args);
    Process::spawn(name, command, dir)
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// Three distinct free loopback ports. All listeners are held until all are chosen, so the three
/// differ; another process could still take one before the component binds it, which then
/// fails start with "address already in use" in the component's log.
pub(crate) fn free_ports() -> Result<[u16; 3]> {
    let bind =
        || TcpListener::bind("127.0.0.1:0").map_err(Error::io("binding a free loopback port"));
    let listeners = [bind()?, bind()?, bind()?];
    let mut ports = [0u16; 3];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener
            .local_addr()
            .map_err(Error::io("reading a bound port"))?
            .port();
    }
    Ok(ports)
}

/// `n` random bytes from the kernel, hex encoded.
pub(crate) fn random_hex(n: usize) -> Result<String> {
    use std::io::Read;
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(Error::io("reading /dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The service-account signing key pair, made with the `openssl` command.
fn service_account_keys(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let key = dir.join("sa.key");
    let public = dir.join("sa.pub");
    let key_arg = key.display().to_string();
    let pub_arg = public.display().to_string();
    openssl(&["genrsa", "-out", &key_arg, "2048"])?;
    openssl(&["rsa", "-in", &key_arg, "-pubout", "-out", &pub_arg])?;
    Ok((key, public))
}

pub(crate) fn openssl(args: &[&str]) -> Result<()> {
    let output = Command::new("openssl").args(args).output().map_err(|e| {
        Error::Unavailable(format!(
            "cannot run `openssl` to make the harness's keys and certificates ({e}); install the openssl package"
        ))
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "openssl {} failed with {}: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}

/// Whether `E2E_KEEP_DIR` asks to keep the cluster directory after the test.
pub(crate) fn keep_dir_requested() -> bool {
    std::env::var_os("E2E_KEEP_DIR").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Prefix of cluster directories in the system temporary directory.
pub(crate) const DIR_PREFIX: &str = "fbplugin-e2e-";
const OWNER_FILE: &str = "owner.pid";

/// Records this process as the owner of a cluster directory, for [`sweep_stale_dirs`].
pub(crate) fn claim_dir(dir: &Path) -> Result<()> {
    let owner = dir.join(OWNER_FILE);
    std::fs::write(&owner, std::process::id().to_string())
        .map_err(Error::io(format!("writing {}", owner.display())))
}

/// Removes cluster directories whose owning process is gone. A test process killed outright
/// (a CI timeout) loses its components to the parent-death signal, but its directory stays;
/// the next start cleans it up.
pub(crate) fn sweep_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(DIR_PREFIX));
        let Ok(owner) = std::fs::read_to_string(path.join(OWNER_FILE)) else {
            continue;
        };
        let owner_alive = Path::new("/proc").join(owner.trim()).exists();
        if is_ours && !owner.trim().is_empty() && !owner_alive {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}
