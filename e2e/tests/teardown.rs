//! Dropping a cluster, normally or while a test panics, leaves no process and no directory.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e::{Cluster, Error};

/// Processes alive whose id is in `pids` or whose command line mentions `dir`.
fn survivors(pids: &[u32], dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec!["cannot read /proc".into()];
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (pids.contains(&pid) || cmdline.contains(&needle)).then(|| format!("{pid}: {cmdline}"))
        })
        .collect()
}

/// Survivors can take a moment to vanish from /proc after SIGKILL; the drop reaps its children,
/// so this normally passes on the first look.
fn assert_all_gone(pids: &[u32], dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = survivors(pids, dir);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processes outlived the cluster: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!dir.exists(), "{} outlived the cluster", dir.display());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Starts a cluster and returns what teardown must remove, or None when skipping.
fn started(rt: &tokio::runtime::Runtime) -> Result<Option<(Cluster, Vec<u32>, PathBuf)>, Error> {
    let Some(cluster) = rt.block_on(e2e::start_or_skip())? else {
        return Ok(None);
    };
    let pids = cluster.component_pids();
    assert_eq!(
        pids.len(),
        4,
        "etcd, apiserver, controller-manager, scheduler"
    );
    let dir = cluster
        .dir()
        .map(Path::to_owned)
        .expect("a local cluster has a directory");
    assert!(
        survivors(&pids, &dir).len() >= 4,
        "components run before the drop"
    );
    Ok(Some((cluster, pids, dir)))
}

#[test]
fn drop_kills_every_component_and_removes_the_directory() -> Result<(), Error> {
    let rt = runtime();
    let Some((cluster, pids, dir)) = started(&rt)? else {
        return Ok(());
    };
    eprintln!(
        "cluster ready in {:?}; components {pids:?}",
        cluster.startup_time()
    );
    let logs = cluster.component_logs();
    assert!(
        logs.iter()
            .all(|(_, path)| path.starts_with(&dir) && path.is_file()),
        "{logs:?}"
    );
    drop(cluster);
    assert_all_gone(&pids, &dir);
    Ok(())
}

#[test]
fn a_panicking_test_still_tears_the_cluster_down() -> Result<(), Error> {
    let rt = runtime();
    let Some((cluster, pids, dir)) = started(&rt)? else {
        return Ok(());
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async move {
            let _cluster = cluster;
            panic!("a failing assertion in a test");
        })
    }));
    assert!(outcome.is_err(), "the test body panicked");
    // Same thread, so the kernel's parent-death signal played no part: the destructor did it.
    assert_all_gone(&pids, &dir);
    Ok(())
}

/// Run by [`a_killed_test_process_leaves_no_components_and_its_directory_is_swept`] in a child
/// process: starts a cluster, reports it, and waits to be killed.
#[test]
#[ignore = "helper: runs only inside the SIGKILL test's child process"]
fn helper_start_and_wait_to_be_killed() -> Result<(), Error> {
    let rt = runtime();
    let Some((_cluster, pids, dir)) = started(&rt)? else {
        return Ok(());
    };
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    println!("CLUSTER {} {}", dir.display(), pids.join(","));
    std::thread::sleep(Duration::from_secs(120));
    Ok(())
}

#[test]
fn a_killed_test_process_leaves_no_components_and_its_directory_is_swept() -> Result<(), Error> {
    use std::io::{BufRead, BufReader};
    let rt = runtime();
    // Skip (or fail under CI) exactly as the other tests do when there is no control plane.
    if let Err(e) = e2e::ensure_binaries() {
        return e2e::skip_unavailable(e);
    }
    let exe = std::env::current_exe().map_err(|e| Error::Invalid(e.to_string()))?;
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "helper_start_and_wait_to_be_killed",
            "--ignored",
            "--nocapture",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::Invalid(format!("starting the helper test process: {e}")))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let line = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("CLUSTER "))
        .expect("the helper reports its cluster");
    let mut parts = line.split_whitespace().skip(1);
    let dir = PathBuf::from(parts.next().expect("a directory"));
    let pids: Vec<u32> = parts
        .next()
        .expect("pids")
        .split(',')
        .filter_map(|p| p.parse().ok())
        .collect();
    assert_eq!(pids.len(), 4, "{line}");
    assert_eq!(
        survivors(&pids, &dir).len(),
        4,
        "the helper's components run"
    );

    // SIGKILL: no destructor runs, as when CI's timeout kills a hung test.
    child.kill().map_err(|e| Error::Invalid(e.to_string()))?;
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !survivors(&pids, &dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "orphans after SIGKILL: {:?}",
            survivors(&pids, &dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // No destructor removed the directory; the next cluster start (this one, or one of a test
    // running beside it) sweeps it.
    let next = rt.block_on(Cluster::start())?;
    assert!(
        !dir.exists(),
        "{} was not swept by the next start",
        dir.display()
    );
    drop(next);
    Ok(())
}

#[test]
fn a_spawned_process_is_logged_and_its_whole_group_dies_with_the_handle() -> Result<(), Error> {
    let dir = tempfile::tempdir().map_err(|e| Error::Invalid(e.to_string()))?;
    let mut command = std::process::Command::new("sh");
    // The shell forks a grandchild: the group kill must reach it too.
    command.args([
        "-c",
        "sleep 300 & echo \"grandchild $!\"; echo to-stderr >&2; wait",
    ]);
    let mut process = e2e::Process::spawn("operator", command, dir.path())?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let grandchild: u32 = loop {
        let tail = process.log_tail(10);
        if let Some(pid) = tail
            .lines()
            .find_map(|l| l.strip_prefix("grandchild ")?.trim().parse().ok())
            && tail.contains("to-stderr")
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "no output captured: {tail:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    process.check_running()?;
    let pids = [process.pid(), grandchild];
    assert_eq!(process.log_path(), dir.path().join("operator.log"));
    drop(process);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids
        .iter()
        .any(|p| Path::new(&format!("/proc/{p}")).exists())
    {
        assert!(Instant::now() < deadline, "{pids:?} outlived the handle");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
