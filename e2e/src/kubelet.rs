//! Playing the kubelet on the local control plane: ready Nodes, and pod status for a
//! DaemonSet's pods (docs/testing.md, "Playing the kubelet").

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::pod_status::{PodState, node_info, now, status_for};
use crate::wait::{observed_yaml, wait_for};

/// The taint admission puts on every new Node; with no node lifecycle controller nobody lifts it.
const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

impl Cluster {
    /// Creates Node `name` and makes it schedulable as a kubelet would: capacity and allocatable
    /// (4 cpu, 8Gi memory, 110 pods), `Ready=True`, and the not-ready taint removed. On an
    /// external cluster this fails: real nodes exist there.
    pub async fn create_ready_node(&self, name: &str) -> Result<Node> {
        if !self.plays_kubelet() {
            return Err(Error::NotPlayingKubelet(format!(
                "create_ready_node({name})"
            )));
        }
        let nodes: Api<Node> = Api::all(self.client());
        let node: Node = serde_json::from_value(json!({
            "metadata": { "name": name, "labels": { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux" } },
        }))
        .map_err(|e| Error::Invalid(format!("node {name}: {e}")))?;
        nodes
            .create(&PostParams::default(), &node)
            .await
            .map_err(Error::kube(format!("creating Node {name}")))?;
        let resources =
            json!({ "cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi" });
        let status = json!({ "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet played by the e2e harness",
                "lastHeartbeatTime": now(), "lastTransitionTime": now(),
            }],
            "nodeInfo": node_info(),
        }});
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .map_err(Error::kube(format!("writing Node {name} status")))?;
        // Controllers (TTL, ...) write the Node concurrently: write the filtered taints with the
        // resourceVersion read, and on a conflict read again, so nobody's change is lost.
        for _ in 0..20 {
            let current = nodes
                .get(name)
                .await
                .map_err(Error::kube(format!("reading Node {name}")))?;
            let taints: Vec<Value> = current
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .into_iter()
                .flatten()
                .filter(|t| t.key != NOT_READY_TAINT)
                .map(|t| json!({ "key": t.key, "effect": t.effect, "value": t.value }))
                .collect();
            let patch = json!({ "metadata": { "resourceVersion": current.resource_version() }, "spec": { "taints": taints } });
            match nodes
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(node) => return Ok(node),
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => {
                    return Err(Error::kube(format!(
                        "removing the not-ready taint from Node {name}"
                    ))(e));
                }
            }
        }
        Err(Error::Invalid(format!(
            "Node {name} kept changing: 20 attempts to remove its not-ready taint conflicted"
        )))
    }

    /// A kubelet player for DaemonSet `namespace/name`.
    pub fn kubelet(&self, namespace: &str, daemonset: &str) -> KubeletPlayer {
        KubeletPlayer {
            client: self.client(),
            namespace: namespace.to_owned(),
            daemonset: daemonset.to_owned(),
            plays: self.plays_kubelet(),
        }
    }
}

/// Writes pod status for one DaemonSet's pods, as the kubelet would. On an external cluster
/// the writing methods fail with [`Error::NotPlayingKubelet`], and [`Self::play_until_rolled_out`]
/// only waits (the real kubelet does the work).
#[derive(Clone)]
pub struct KubeletPlayer {
    client: Client,
    namespace: String,
    daemonset: String,
    plays: bool,
}

impl std::fmt::Debug for KubeletPlayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletPlayer")
            .field("namespace", &self.namespace)
            .field("daemonset", &self.daemonset)
            .field("plays", &self.plays)
            .finish_non_exhaustive()
    }
}

impl KubeletPlayer {
    fn daemonsets(&self) -> Api<DaemonSet> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn pod_api(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The DaemonSet's pods (owned by it, matched by uid), including terminating ones.
    pub async fn pods(&self) -> Result<Vec<Pod>> {
        let ds = self
            .daemonsets()
            .get(&self.daemonset)
            .await
            .map_err(Error::kube(format!(
                "reading DaemonSet {}/{}",
                self.namespace, self.daemonset
            )))?;
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let selector = ds
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.as_ref())
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let pods = self
            .pod_api()
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(Error::kube("listing pods"))?;
        Ok(pods
            .items
            .into_iter()
            .filter(|p| p.owner_references().iter().any(|o| o.uid == uid))
            .collect())
    }

    /// Writes `state` into pod `name`'s status.
    pub async fn set_pod(&self, name: &str, state: &PodState) -> Result<Pod> {
        if !self.plays {
            return Err(Error::NotPlayingKubelet(format!(
                "setting pod {name} to {state:?}"
            )));
        }
        let pod = self
            .pod_api()
            .get(name)
            .await
            .map_err(Error::kube(format!("reading pod {name}")))?;
        let status = status_for(&pod, state);
        self.pod_api()
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({ "status": status })),
            )
            .await
            .map_err(Error::kube(format!(
                "writing pod {}/{name} status",
                self.namespace
            )))
    }

    /// Like [`Self::set_pod`], but a pod deleted since it was listed (the controller replacing
    /// it, or a force delete) is skipped: returns whether the status was written.
    async fn set_if_present(&self, pod: &Pod, state: &PodState) -> Result<bool> {
        match self.set_pod(&pod.name_any(), state).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_status(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes `state` into every non-terminating pod of the DaemonSet; returns how many.
    pub async fn set_all(&self, state: &PodState) -> Result<usize> {
        let mut count = 0;
        for pod in self.pods().await? {
            if pod.metadata.deletion_timestamp.is_none() && self.set_if_present(&pod, state).await?
            {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Force-deletes (grace period 0) the DaemonSet's pods that carry a deletionTimestamp, as a
    /// kubelet finishing termination would, so the controller creates their replacements.
    /// Returns how many were deleted.
    pub async fn force_delete_terminating(&self) -> Result<usize> {
        if !self.plays {
            return Err(Error::NotPlayingKubelet(
                "force-deleting terminating pods".into(),
            ));
        }
        let mut count = 0;
        for pod in self.pods().await? {
            if pod.metadata.deletion_timestamp.is_some() {
                match self
                    .pod_api()
                    .delete(
                        &pod.name_any(),
                        &DeleteParams {
                            grace_period_seconds: Some(0),
                            ..DeleteParams::default()
                        },
                    )
                    .await
                {
                    Ok(_) => count += 1,
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(e) => {
                        return Err(Error::kube(format!(
                            "force-deleting pod {}",
                            pod.name_any()
                        ))(e));
                    }
                }
            }
        }
        Ok(count)
    }

    /// Plays the kubelet (force-deletes terminating pods, makes scheduled pods Ready) until the
    /// DaemonSet is rolled out: status observed the current generation and desired = updated =
    /// ready = available > 0, with no pod left terminating. Returns that status. On an external
    /// cluster it only waits.
    ///
    /// "Rolled out" is judged on the controller's current view: right after Nodes are created
    /// its node cache may not hold them all yet. When the pod count matters, first wait for
    /// `desiredNumberScheduled` to reach it ([`crate::wait_for_object`]).
    pub async fn play_until_rolled_out(&self, timeout: Duration) -> Result<DaemonSetStatus> {
        let expected = format!(
            "DaemonSet {}/{} rolled out (observedGeneration = generation, desired = updated = ready = available > 0, no terminating pods)",
            self.namespace, self.daemonset
        );
        wait_for(&expected, timeout, Duration::from_millis(200), || async {
            let pods = self.pods().await?;
            if self.plays {
                self.force_delete_terminating().await?;
                for pod in &pods {
                    let bound = pod.spec.as_ref().is_some_and(|s| s.node_name.is_some());
                    if bound && pod.metadata.deletion_timestamp.is_none() && !is_ready(pod) {
                        self.set_if_present(pod, &PodState::Ready).await?;
                    }
                }
            }
            let ds = self
                .daemonsets()
                .get(&self.daemonset)
                .await
                .map_err(Error::kube("reading the DaemonSet"))?;
            let terminating = pods
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_some())
                .count();
            Ok(match ds.status.clone() {
                Some(status) if rolled_out(&ds, &status) && terminating == 0 => Ok(status),
                _ => Err(format!(
                    "{}\npods: {}",
                    observed_yaml(&Some(&ds)),
                    describe_pods(&pods)
                )),
            })
        })
        .await
    }
}

/// True when the DaemonSet's status matches its current generation and every desired pod is
/// updated, ready and available.
pub fn rolled_out(ds: &DaemonSet, status: &DaemonSetStatus) -> bool {
    let desired = status.desired_number_scheduled;
    status.observed_generation >= ds.metadata.generation
        && desired > 0
        && status.updated_number_scheduled == Some(desired)
        && status.number_ready == desired
        && status.number_available == Some(desired)
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn describe_pods(pods: &[Pod]) -> String {
    let lines: Vec<String> = pods
        .iter()
        .map(|p| {
            let phase = p
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "-".into());
            let node = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_else(|| "(unscheduled)".into());
            let deleting = if p.metadata.deletion_timestamp.is_some() {
                " terminating"
            } else {
                ""
            };
            format!(
                "{} on {node}: {phase} ready={}{deleting}",
                p.name_any(),
                is_ready(p)
            )
        })
        .collect();
    if lines.is_empty() {
        "(none)".into()
    } else {
        lines.join("; ")
    }
}
