//! The real node: kubelet 1.20.2, containerd and runc joined to the local control plane run a
//! DaemonSet's pod for real (the kubelet writes its status), and the teardown leaves the host
//! as it was.

use std::path::Path;
use std::time::Duration;

use e2e::{Cluster, Error, Result, apply_yaml};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;

const ROLLOUT: Duration = Duration::from_secs(240);

/// A DaemonSet of the node's own pause image: no registry needed.
fn pause_daemonset() -> String {
    format!(
        "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: pause
spec:
  selector:
    matchLabels: {{app: pause}}
  template:
    metadata:
      labels: {{app: pause}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: pause
        image: {image}
        imagePullPolicy: Never
        securityContext:
          runAsNonRoot: true
          readOnlyRootFilesystem: true
          allowPrivilegeEscalation: false
",
        image = e2e::PAUSE_IMAGE
    )
}

fn host_state() -> Vec<(String, bool)> {
    [
        "/var/log/pods",
        "/var/log/containers",
        "/sys/fs/cgroup/memory/fbplugin-e2e",
        "/sys/fs/cgroup/cpu/fbplugin-e2e",
        "/sys/class/net/fbpe2e0",
    ]
    .iter()
    .map(|p| ((*p).to_owned(), Path::new(p).exists()))
    .collect()
}

#[tokio::test]
async fn a_real_kubelet_runs_the_pod_and_teardown_leaves_the_host_as_it_was() -> Result<()> {
    let before = host_state();
    let sysctls = |()| {
        [
            "vm/overcommit_memory",
            "kernel/panic",
            "kernel/panic_on_oops",
        ]
        .map(|f| std::fs::read_to_string(format!("/proc/sys/{f}")).unwrap_or_default())
    };
    let sysctls_before = sysctls(());
    let cluster = Cluster::start_with_node().await?;
    eprintln!("cluster and node ready in {:?}", cluster.startup_time());
    assert!(!cluster.plays_kubelet());
    let ns = cluster.create_namespace("node").await?;
    apply_yaml(&cluster.client(), &pause_daemonset(), "helm", &ns).await?;
    let status = cluster
        .kubelet(&ns, "pause")
        .play_until_rolled_out(ROLLOUT)
        .await
        .map_err(|e| cluster.with_logs(e))?;
    assert_eq!(
        (status.desired_number_scheduled, status.number_ready),
        (1, 1)
    );
    let pods = cluster.kubelet(&ns, "pause").pods().await?;
    let pod: &Pod = &pods[0];
    let status = pod.status.clone().unwrap_or_default();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let container = status
        .container_statuses
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| Error::Invalid("no container status".into()))?;
    assert!(
        container
            .container_id
            .as_deref()
            .is_some_and(|id| id.starts_with("containerd://")),
        "the kubelet wrote a real container id: {container:?}"
    );
    assert!(
        status.pod_ip.is_some_and(|ip| ip.starts_with("10.244.77.")),
        "bridge CNI address"
    );
    let _ = Api::<Pod>::namespaced(cluster.client(), &ns);
    drop(cluster);
    // The node's own traces (its cgroups and bridge) must be gone. When they existed before,
    // another node of this machine was running (another test process waited for the node's
    // lock meanwhile), so only the paths the kubelet shares are compared.
    let after = host_state();
    if before.iter().skip(2).any(|(_, exists)| *exists) {
        eprintln!("another real node was up when this test started: comparing /var/log only");
        assert_eq!(after[..2], before[..2], "the node's traces are gone");
    } else {
        assert_eq!(after, before, "the node's traces are gone");
    }
    assert_eq!(
        sysctls(()),
        sysctls_before,
        "the kubelet wrote no host sysctl"
    );
    Ok(())
}
