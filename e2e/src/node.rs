//! The real node: a local registry, containerd + runc and kubelet 1.20.2 joined to the local
//! control plane, with private configs in the cluster's directory, and a teardown that leaves
//! the host as it was (docs/testing.md, "The real node").
//!
//! One kubelet per machine: [`RealNode::start`] takes an exclusive file lock first, so parallel
//! test processes (nextest runs each test in its own) take turns on the node instead of starting
//! two.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::local::free_ports;
use crate::process::{Process, tail_file};
use crate::provision::{Binaries, cache_root};

/// The provisioning script of the node's runtime (containerd, runc, CNI, pause).
pub const NODE_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/node/provision.sh");
/// The registry's provisioning script.
pub const REGISTRY_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/registry/provision.sh");
/// The sandbox image kubelet 1.20 makes containerd use; the harness imports its own.
pub const PAUSE_IMAGE: &str = "k8s.gcr.io/pause:3.2";
/// How long a test waits for another process's node to be released.
const LOCK_TIMEOUT: Duration = Duration::from_secs(40 * 60);
/// How long the node may take to turn Ready (about 15 s idle; a busy 2-core machine is slower).
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// The CNI bridge the node's pods attach to (at most 15 characters).
const BRIDGE: &str = "fbpe2e0";
/// The cgroup root of the node's pods in every hierarchy.
const CGROUP_ROOT: &str = "fbplugin-e2e";
/// Host paths the kubelet or CNI may create: removed at teardown when they did not exist before.
const HOST_PATHS: &[&str] = &[
    "/var/log/pods",
    "/var/log/containers",
    "/var/lib/cni",
    "/var/run/netns",
    "/run/netns",
];
const HIERARCHIES: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
    "unified",
];

/// The node runtime's binaries, from [`NODE_SCRIPT`].
#[derive(Debug, Clone)]
pub(crate) struct NodeBinaries {
    dir: PathBuf,
    registry: PathBuf,
}

fn node_cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("FBPLUGIN_NODE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    Ok(cache_root()?.join("node-containerd-1.6.20-runc-1.1.5"))
}

fn registry_cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("FBPLUGIN_REGISTRY_DIR") {
        return Ok(PathBuf::from(dir));
    }
    Ok(cache_root()?.join("registry-2.8.2"))
}

/// Runs a provisioning script when its `complete` stamp is missing. Never a skip: a failure is
/// an error carrying the script's name (its own words went to stderr above).
fn provision(script: &str, dir: &Path) -> Result<()> {
    if dir.join("complete").is_file() {
        return Ok(());
    }
    eprintln!(
        "e2e: {} is not provisioned; running {script}",
        dir.display()
    );
    let status = Command::new("bash")
        .arg(script)
        .status()
        .map_err(Error::io(format!("running bash {script}")))?;
    if status.success() && dir.join("complete").is_file() {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{script} failed ({status}); its output above says why. The real node needs it: run it by hand"
        )))
    }
}

/// Provisions (when needed) and finds the node runtime and the registry.
pub(crate) fn ensure_node_binaries(kube: &Binaries) -> Result<NodeBinaries> {
    if !kube.kubelet.is_file() {
        return Err(Error::Invalid(format!(
            "{} is missing: run bash {} (it builds the kubelet with the control plane)",
            kube.kubelet.display(),
            crate::provision::PROVISION_SCRIPT
        )));
    }
    let dir = node_cache_dir()?;
    provision(NODE_SCRIPT, &dir)?;
    let registry = registry_cache_dir()?;
    provision(REGISTRY_SCRIPT, &registry)?;
    Ok(NodeBinaries {
        dir,
        registry: registry.join("bin/registry"),
    })
}

/// The exclusive lock on the machine's one node, held for the node's lifetime.
#[derive(Debug)]
struct NodeLock {
    _file: File,
}

impl NodeLock {
    fn acquire() -> Result<NodeLock> {
        let path = std::env::temp_dir().join("fbplugin-e2e-node.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(Error::io(format!("opening {}", path.display())))?;
        let started = Instant::now();
        let mut announced = false;
        loop {
            // SAFETY: flock(2) on a descriptor this function owns; no memory is involved.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                std::fs::write(&path, std::process::id().to_string())
                    .map_err(Error::io(format!("writing {}", path.display())))?;
                return Ok(NodeLock { _file: file });
            }
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            if started.elapsed() > LOCK_TIMEOUT {
                return Err(Error::Timeout {
                    expected: format!("the real node's lock {}", path.display()),
                    waited: started.elapsed(),
                    observed: format!(
                        "still held by process {} (one kubelet per machine)",
                        holder.trim()
                    ),
                });
            }
            if !announced {
                eprintln!(
                    "e2e: the real node is in use by process {}; waiting for it ({})",
                    holder.trim(),
                    path.display()
                );
                announced = true;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// A running node: registry, containerd, kubelet. Dropping it stops them and cleans the host.
#[derive(Debug)]
pub(crate) struct RealNode {
    kubelet: Option<Process>,
    containerd: Option<Process>,
    registry: Option<Process>,
    dir: PathBuf,
    /// The Node's name (the machine's hostname, which resolves to 127.0.0.1).
    pub(crate) name: String,
    /// `127.0.0.1:<port>` of the node's registry (containerd pulls from it over plain HTTP).
    pub(crate) registry_addr: String,
    socket: PathBuf,
    ctr: PathBuf,
    absent_before: Vec<&'static str>,
    netns_before: Vec<String>,
    _lock: NodeLock,
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(Error::io(format!("creating {}", parent.display())))?;
    }
    std::fs::write(path, text).map_err(Error::io(format!("writing {}", path.display())))
}

fn run(what: &str, command: &mut Command) -> Result<String> {
    let out = command
        .output()
        .map_err(Error::io(format!("running {what}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Invalid(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

fn netns_entries() -> Vec<String> {
    ["/var/run/netns", "/run/netns"]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.path().display().to_string())
        .collect()
}

impl RealNode {
    /// Starts the registry, containerd and the kubelet in `<cluster dir>/node`, joined to the
    /// API server through `kubeconfig` (admin), and waits until the registry answers and the
    /// kubelet runs. The caller waits for the Node to turn Ready.
    pub(crate) fn start(
        kube: &Binaries,
        bins: &NodeBinaries,
        cluster_dir: &Path,
        kubeconfig: &Path,
    ) -> Result<RealNode> {
        let lock = NodeLock::acquire()?;
        let absent_before = HOST_PATHS
            .iter()
            .copied()
            .filter(|p| !Path::new(p).exists())
            .collect();
        let dir = cluster_dir.join("node");
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .map_err(Error::io("reading the hostname"))?;
        let [registry_port, kubelet_port, healthz_port] = free_ports()?;
        let mut node = RealNode {
            kubelet: None,
            containerd: None,
            registry: None,
            socket: dir.join("containerd/containerd.sock"),
            ctr: bins.dir.join("bin/ctr"),
            dir,
            name,
            registry_addr: format!("127.0.0.1:{registry_port}"),
            absent_before,
            netns_before: netns_entries(),
            _lock: lock,
        };
        // A test process killed outright (a nextest timeout sends SIGKILL, no destructor runs)
        // leaves its node's shims, mounts and cgroups: with the lock held, clean those of every
        // cluster directory whose owner is gone, then the host paths.
        for stale in stale_node_dirs() {
            eprintln!(
                "e2e: cleaning the node left by a killed test in {}",
                stale.display()
            );
            let mut old = NodeLeftovers::of(&stale);
            old.clean();
        }
        node.clean_host();
        node.start_registry(bins)?;
        node.start_containerd(bins)?;
        node.import_pause(bins)?;
        node.start_kubelet(kube, kubeconfig, kubelet_port, healthz_port)?;
        Ok(node)
    }

    fn start_registry(&mut self, bins: &NodeBinaries) -> Result<()> {
        let storage = self.dir.join("registry");
        let config = self.dir.join("registry.yml");
        write(
            &config,
            &format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {}\n  secret: fbplugin-e2e-only\n",
                storage.display(),
                self.registry_addr
            ),
        )?;
        let mut command = Command::new(&bins.registry);
        command.arg("serve").arg(&config).env_clear();
        let mut process = Process::spawn("registry", command, &self.dir)?;
        let addr: std::net::SocketAddr = self
            .registry_addr
            .parse()
            .map_err(|e| Error::Invalid(format!("{}: {e}", self.registry_addr)))?;
        let started = Instant::now();
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
            process.check_running()?;
            if started.elapsed() > Duration::from_secs(90) {
                return Err(process.failure(format!("did not listen on {addr} within 90 s")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.registry = Some(process);
        Ok(())
    }

    fn start_containerd(&mut self, bins: &NodeBinaries) -> Result<()> {
        let c = self.dir.join("containerd");
        let cni_conf = self.dir.join("cni/net.d");
        write(
            &cni_conf.join("10-fbplugin-e2e.conflist"),
            &serde_json::json!({
                "cniVersion": "0.4.0",
                "name": "fbplugin-e2e",
                "plugins": [{
                    "type": "bridge",
                    "bridge": BRIDGE,
                    // isGateway would switch on the host's ip_forward.
                    "isGateway": false,
                    "ipMasq": false,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{ "subnet": "10.244.77.0/24" }]],
                        "routes": [],
                        "dataDir": self.dir.join("cni/ipam").display().to_string(),
                    },
                }],
            })
            .to_string(),
        )?;
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
# Plugins that would write outside the node's directory (/opt/containerd) or probe filesystems.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # Required here: the VM denies CAP_SYS_RESOURCE; without it every sandbox fails to start.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{runc}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."{registry}"]
    endpoint = ["http://{registry}"]
"#,
            root = c.join("root").display(),
            state = c.join("state").display(),
            socket = self.socket.display(),
            runc = bins.dir.join("bin/runc").display(),
            cni_bin = bins.dir.join("cni").display(),
            cni_conf = cni_conf.display(),
            registry = self.registry_addr,
        );
        let file = c.join("config.toml");
        write(&file, &config)?;
        let path = format!(
            "{}:{}",
            bins.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
        );
        let mut command = Command::new(bins.dir.join("bin/containerd"));
        command.arg("--config").arg(&file).env("PATH", path);
        let mut process = Process::spawn("containerd", command, &self.dir)?;
        let started = Instant::now();
        loop {
            process.check_running()?;
            let version = Command::new(&self.ctr)
                .arg("--address")
                .arg(&self.socket)
                .arg("version")
                .output();
            if version.is_ok_and(|o| o.status.success()) {
                break;
            }
            if started.elapsed() > Duration::from_secs(90) {
                return Err(process.failure(format!(
                    "did not answer on {} within 90 s",
                    self.socket.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.containerd = Some(process);
        Ok(())
    }

    /// Imports the static pause program as [`PAUSE_IMAGE`] (built by the image tool's library).
    fn import_pause(&self, bins: &NodeBinaries) -> Result<()> {
        let pause_path = bins.dir.join("pause/pause");
        let pause = std::fs::read(&pause_path)
            .map_err(Error::io(format!("reading {}", pause_path.display())))?;
        let image = fbplugin_image::Image::from_files(
            "pause (fbplugin e2e)",
            &[("pause".to_owned(), 0o555, pause)],
            vec!["/pause".to_owned()],
            "65535:65535",
        )
        .map_err(|e| Error::Invalid(format!("building the pause image: {e}")))?;
        let archive = fbplugin_image::layout::archive_bytes(&image, Some(PAUSE_IMAGE))
            .map_err(|e| Error::Invalid(format!("writing the pause image archive: {e}")))?;
        let file = self.dir.join("pause.tar");
        std::fs::write(&file, archive).map_err(Error::io(format!("writing {}", file.display())))?;
        self.ctr_import(&file)
    }

    /// `ctr -n k8s.io images import <archive>` into the node's containerd.
    pub(crate) fn ctr_import(&self, archive: &Path) -> Result<()> {
        run(
            &format!("ctr images import {}", archive.display()),
            Command::new(&self.ctr)
                .arg("--address")
                .arg(&self.socket)
                .args(["-n", "k8s.io", "images", "import"])
                .arg(archive),
        )
        .map(|_| ())
    }

    /// `ctr -n k8s.io images import <archive>` (an OCI or `docker save` archive) and the image
    /// names it unpacked (`unpacking <name> (sha256:…)...done` lines).
    pub(crate) fn ctr_import_names(&self, archive: &Path) -> Result<Vec<String>> {
        let out = run(
            &format!("ctr images import {}", archive.display()),
            Command::new(&self.ctr)
                .arg("--address")
                .arg(&self.socket)
                .args(["-n", "k8s.io", "images", "import"])
                .arg(archive),
        )?;
        Ok(out
            .lines()
            .filter_map(|l| l.trim().strip_prefix("unpacking "))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect())
    }

    /// `ctr -n k8s.io containers info <id>`: the container's record in the node's containerd,
    /// its `Spec` being the OCI runtime spec runc was given (user, read-only root,
    /// capabilities, no_new_privileges).
    pub(crate) fn ctr_container_info(&self, id: &str) -> Result<serde_json::Value> {
        let text = run(
            &format!("ctr containers info {id}"),
            Command::new(&self.ctr)
                .arg("--address")
                .arg(&self.socket)
                .args(["-n", "k8s.io", "containers", "info", id]),
        )?;
        serde_json::from_str(&text).map_err(|e| {
            Error::Invalid(format!("ctr containers info {id}: not JSON ({e}): {text}"))
        })
    }

    fn start_kubelet(
        &mut self,
        kube: &Binaries,
        kubeconfig: &Path,
        port: u16,
        healthz_port: u16,
    ) -> Result<()> {
        let root = self.dir.join("kubelet");
        std::fs::create_dir_all(&root)
            .map_err(Error::io(format!("creating {}", root.display())))?;
        // Host mounts are private here: tmpfs volumes (ServiceAccount tokens) made by the
        // kubelet would never reach the containers without a shared root dir.
        let root_arg = root.display().to_string();
        run(
            "mount --bind (kubelet root)",
            Command::new("mount").args(["--bind", &root_arg, &root_arg]),
        )?;
        run(
            "mount --make-rshared (kubelet root)",
            Command::new("mount").args(["--make-rshared", &root_arg]),
        )?;
        for hierarchy in HIERARCHIES {
            let base = Path::new("/sys/fs/cgroup").join(hierarchy);
            if !base.is_dir() || *hierarchy == "unified" {
                continue;
            }
            let own = base.join(CGROUP_ROOT);
            std::fs::create_dir_all(&own)
                .map_err(Error::io(format!("creating {}", own.display())))?;
            if *hierarchy == "cpuset" {
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    let value = std::fs::read_to_string(base.join(file))
                        .map_err(Error::io(format!("reading cpuset {file}")))?;
                    std::fs::write(own.join(file), value.trim())
                        .map_err(Error::io(format!("writing {}/{file}", own.display())))?;
                }
            }
        }
        let config = self.dir.join("kubelet.yaml");
        write(
            &config,
            &format!(
                "apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: {port}
healthzBindAddress: 127.0.0.1
healthzPort: {healthz_port}
readOnlyPort: 0
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
cgroupDriver: cgroupfs
cgroupRoot: /{CGROUP_ROOT}
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failSwapOn: false
evictionHard: {{}}
imageGCHighThresholdPercent: 100
makeIPTablesUtilChains: false
protectKernelDefaults: true
maxPods: 16
nodeStatusUpdateFrequency: 5s
serializeImagePulls: false
"
            ),
        )?;
        // kubelet 1.20 writes three host sysctls at start, with no option to skip it: it runs in
        // a mount namespace of its own where those files are ordinary files with its values.
        let sysctls = self.dir.join("sysctl");
        let mut binds = Vec::new();
        for (file, value) in [
            ("/proc/sys/vm/overcommit_memory", "1"),
            ("/proc/sys/kernel/panic", "10"),
            ("/proc/sys/kernel/panic_on_oops", "1"),
        ] {
            let stand_in = sysctls.join(file.trim_start_matches("/proc/sys/").replace('/', "."));
            write(&stand_in, &format!("{value}\n"))?;
            binds.push(stand_in.display().to_string());
        }
        let mut command = Command::new("unshare");
        command
            .args([
                "--mount",
                "--propagation",
                "unchanged",
                "--",
                "/bin/sh",
                "-c",
            ])
            .arg(
                "mount --bind \"$1\" /proc/sys/vm/overcommit_memory && \
                 mount --bind \"$2\" /proc/sys/kernel/panic && \
                 mount --bind \"$3\" /proc/sys/kernel/panic_on_oops && shift 3 && exec \"$@\"",
            )
            .arg("kubelet-sysctls")
            .args(&binds)
            .arg(&kube.kubelet)
            .arg(format!("--config={}", config.display()))
            .arg("--container-runtime=remote")
            .arg(format!(
                "--container-runtime-endpoint=unix://{}",
                self.socket.display()
            ))
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--root-dir={}", root.display()))
            .arg(format!(
                "--cert-dir={}",
                self.dir.join("kubelet-pki").display()
            ))
            .arg(format!("--hostname-override={}", self.name))
            .arg("--v=1");
        self.kubelet = Some(Process::spawn("kubelet", command, &self.dir)?);
        Ok(())
    }

    /// Fails, with the log tail, when the registry, containerd or the kubelet has exited.
    pub(crate) fn check_running(&mut self) -> Result<()> {
        for process in [&mut self.registry, &mut self.containerd, &mut self.kubelet]
            .into_iter()
            .flatten()
        {
            process.check_running()?;
        }
        Ok(())
    }

    /// The last `lines` lines of the node's logs, labelled.
    pub(crate) fn tails(&self, lines: usize) -> String {
        [&self.registry, &self.containerd, &self.kubelet]
            .into_iter()
            .flatten()
            .map(|p| {
                format!(
                    "--- {} ({}) ---\n{}\n",
                    p.name(),
                    p.log_path().display(),
                    tail_file(p.log_path(), lines)
                )
            })
            .collect()
    }

    /// How long the node may take to turn Ready.
    pub(crate) fn ready_timeout() -> Duration {
        READY_TIMEOUT
    }

    /// Kills what runs in the node's cgroups and the shims of its containerd, unmounts what is
    /// mounted under its directory, removes its cgroups, bridge, netns files and the host paths
    /// that did not exist before.
    fn clean_host(&self) {
        // Containers: everything in a cgroup under the node's root.
        for hierarchy in HIERARCHIES {
            let own = Path::new("/sys/fs/cgroup")
                .join(hierarchy)
                .join(CGROUP_ROOT);
            for procs in files_named(&own, "cgroup.procs") {
                for pid in std::fs::read_to_string(&procs).unwrap_or_default().lines() {
                    if let Ok(pid) = pid.trim().parse::<libc::pid_t>() {
                        // SAFETY: kill(2) on a pid read from the node's own cgroup.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
        }
        // Shims: containerd starts them in their own sessions, named by their -address flag.
        kill_shims(&self.socket);
        std::thread::sleep(Duration::from_millis(300));
        unmount_under(&self.dir);
        for hierarchy in HIERARCHIES {
            remove_cgroups(
                &Path::new("/sys/fs/cgroup")
                    .join(hierarchy)
                    .join(CGROUP_ROOT),
            );
        }
        let _ = Command::new("ip")
            .args(["link", "delete", BRIDGE])
            .stderr(std::process::Stdio::null())
            .status();
        for ns in netns_entries() {
            if !self.netns_before.contains(&ns) {
                unmount_under(Path::new(&ns));
                let _ = std::fs::remove_file(&ns);
            }
        }
        for path in &self.absent_before {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// `<cluster dir>/node` directories whose owning process is gone.
fn stale_node_dirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(crate::local::DIR_PREFIX))
        })
        .filter(|p| {
            std::fs::read_to_string(p.join("owner.pid"))
                .is_ok_and(|o| !o.trim().is_empty() && !Path::new("/proc").join(o.trim()).exists())
        })
        .map(|p| p.join("node"))
        .filter(|p| p.is_dir())
        .collect()
}

/// What a killed test's node left: its shims (by socket) and its mounts.
struct NodeLeftovers {
    dir: PathBuf,
}

impl NodeLeftovers {
    fn of(dir: &Path) -> NodeLeftovers {
        NodeLeftovers {
            dir: dir.to_owned(),
        }
    }

    fn clean(&mut self) {
        kill_shims(&self.dir.join("containerd/containerd.sock"));
        std::thread::sleep(Duration::from_millis(300));
        unmount_under(&self.dir);
    }
}

/// Kills the shims of the containerd listening on `socket` (named by their -address flag).
fn kill_shims(socket: &Path) {
    let socket = socket.display().to_string();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<libc::pid_t>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_shim = args
            .first()
            .is_some_and(|a| a.ends_with(b"containerd-shim-runc-v2"));
        if is_shim && args.contains(&socket.as_bytes()) {
            // SAFETY: kill(2) on a shim of that node's containerd.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Detaches every mount at or below `dir`, deepest first.
fn unmount_under(dir: &Path) {
    let prefix = dir.display().to_string();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| p.replace("\\040", " "))
        .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        if let Ok(c) = std::ffi::CString::new(point) {
            // SAFETY: umount2(2) with a NUL-terminated path that outlives the call.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

fn files_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_named(&path, name));
        } else if entry.file_name() == name {
            found.push(path);
        }
    }
    found
}

/// Removes a cgroup directory tree, deepest first (cgroup directories are removed with rmdir).
fn remove_cgroups(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                remove_cgroups(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

impl Drop for RealNode {
    fn drop(&mut self) {
        self.kubelet = None;
        self.clean_host();
        self.containerd = None;
        // The shims may have outlived containerd by a moment; once more.
        self.clean_host();
        self.registry = None;
    }
}
