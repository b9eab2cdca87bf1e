//! Child processes of a test (control-plane components, the operator): started in their own
//! process group with output captured to a file, killed (the whole group) when dropped.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::error::{Error, Result};

/// A running child process (etcd, kube-apiserver, the operator, ...) whose stdout and stderr go
/// to a log file. Dropping it kills its process group and reaps it.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `command` (program, arguments and environment set by the caller) with stdin closed
    /// and stdout and stderr written to `<log_dir>/<name>.log`.
    ///
    /// The child leads a new process group, so the kill on drop reaches anything it forks, and
    /// asks the kernel for SIGKILL when the spawning thread dies: if the test process itself is
    /// killed (a CI timeout sends SIGKILL and no destructor runs), nothing is left behind.
    ///
    /// The kernel kills the child when the thread that called `spawn` exits: keep the handle on
    /// that thread (see [`crate::Cluster`]).
    pub fn spawn(name: &str, mut command: Command, log_dir: &Path) -> Result<Self> {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log).map_err(Error::io(format!("creating {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(Error::io(format!("duplicating {}", log.display())))?;
        let program = command.get_program().to_owned();
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
        // SAFETY: the closure runs in the forked child before exec and only calls prctl(2) and
        // getppid(2), both async-signal-safe; it reads one copied integer and allocates nothing
        // on the success path.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl: then nobody would kill us.
                if libc::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(Error::io(format!(
            "starting {name} ({})",
            program.to_string_lossy()
        )))?;
        Ok(Process {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// Process id (also the process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the log tail if the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.failure(format!("exited early with {status}"))),
            Err(e) => Err(self.failure(format!("cannot be waited for: {e}"))),
        }
    }

    /// An error about this process, with the end of its log.
    pub fn failure(&self, message: String) -> Error {
        Error::Process {
            name: self.name.clone(),
            message,
            log: self.log.clone(),
            tail: tail_file(&self.log, 40),
        }
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Path of the captured output.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of the captured output.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_file(&self.log, lines)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let Ok(pgid) = libc::pid_t::try_from(self.child.id()) else {
            return;
        };
        // SAFETY: kill(2) with a negative pid signals the process group we created for this
        // child; it has no memory-safety preconditions.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        // Reap it so no zombie stays in /proc.
        let _ = self.child.wait();
    }
}

/// The last `lines` lines of a file (at most 64 KiB are read), or a note saying why not.
pub fn tail_file(path: &Path, lines: usize) -> String {
    const WINDOW: u64 = 64 * 1024;
    let read = || -> std::io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(WINDOW)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
