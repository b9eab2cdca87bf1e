//! A private OCI registry for the tests: bookworm's `docker-registry` 2.8.2 (provisioned by
//! `e2e/registry/provision.sh`, cached), on a free 127.0.0.1 port, with its own config and
//! storage in a temporary directory. Dropping it stops the process and removes the directory.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The registry version the provisioning script installs.
pub const REGISTRY_VERSION: &str = "2.8.2";
/// How long a start may take before the test fails (a loaded 2-core machine is slow).
const START_TIMEOUT: Duration = Duration::from_secs(90);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `$FBPLUGIN_REGISTRY_DIR`, else `${XDG_CACHE_HOME:-$HOME/.cache}/fbplugin/registry-2.8.2`
/// (the script's rule).
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FBPLUGIN_REGISTRY_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .expect("neither XDG_CACHE_HOME nor HOME is set: no cache for the registry");
    base.join("fbplugin")
        .join(format!("registry-{REGISTRY_VERSION}"))
}

/// The registry binary, provisioning it first when the cache is not complete.
pub fn registry_binary() -> PathBuf {
    let dir = cache_dir();
    let bin = dir.join("bin/registry");
    if dir.join("complete").is_file() && bin.is_file() {
        return bin;
    }
    let script = workspace().join("e2e/registry/provision.sh");
    eprintln!(
        "registry {REGISTRY_VERSION} not in {}; provisioning it with {}",
        dir.display(),
        script.display()
    );
    let status = Command::new("bash")
        .arg(&script)
        .status()
        .expect("running bash for the registry provisioning script");
    match status.code() {
        Some(0) => {}
        Some(3) => panic!(
            "{} could not reach Debian's archive (exit 3); these tests need the registry: allow access or set FBPLUGIN_DEBIAN_MIRROR",
            script.display()
        ),
        _ => panic!("{} failed: {status}", script.display()),
    }
    assert!(
        bin.is_file(),
        "{} finished but {} is missing",
        script.display(),
        bin.display()
    );
    bin
}

/// A running registry.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`.
    pub addr: String,
}

impl Registry {
    /// Starts a registry and waits until `GET /v2/` answers 200.
    pub fn start() -> Registry {
        let bin = registry_binary();
        let dir = tempfile::tempdir().expect("a temporary directory for the registry");
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
            listener.local_addr().expect("local addr").port()
        };
        let addr = format!("127.0.0.1:{port}");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("storage dir");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: fbplugin-test-only\n",
                storage.display()
            ),
        )
        .expect("registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
        let child = Command::new(&bin)
            .arg("serve")
            .arg(&config)
            .env_clear()
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let mut registry = Registry { child, dir, addr };
        registry.wait_ready();
        registry
    }

    fn log(&self) -> String {
        let mut text = String::new();
        let _ = std::fs::File::open(self.dir.path().join("registry.log"))
            .and_then(|mut f| f.read_to_string(&mut text));
        text
    }

    fn wait_ready(&mut self) {
        let started = Instant::now();
        let url = format!("http://{}/v2/", self.addr);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .new_agent();
        let mut last = String::from("no answer yet");
        while started.elapsed() < START_TIMEOUT {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the registry exited ({status}) before answering {url}; its log:\n{}",
                    self.log()
                );
            }
            match agent.get(&url).call() {
                Ok(r) if r.status() == 200 => return,
                Ok(r) => last = format!("answered {}", r.status()),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "the registry did not answer GET {url} with 200 within {START_TIMEOUT:?} (last: {last}); its log:\n{}",
            self.log()
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
