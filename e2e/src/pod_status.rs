//! The pod and node status a kubelet would write, for the [`crate::KubeletPlayer`].

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

/// A pod state the player can write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodState {
    /// Running, every container ready.
    Ready,
    /// Running, containers running but not ready (a failing readiness probe).
    NotReady,
    /// Running, every app container waiting with this reason (`CrashLoopBackOff`,
    /// `ImagePullBackOff`, ...) and a message.
    Waiting {
        /// The waiting reason.
        reason: String,
        /// The waiting message.
        message: String,
    },
    /// Pending: init container `name` terminated with `exit_code` and `reason`; app containers
    /// wait in `PodInitializing`.
    InitContainerFailed {
        /// The init container's name (must be in the pod spec).
        name: String,
        /// Its exit code (non-zero).
        exit_code: i32,
        /// Its termination reason, usually `Error`.
        reason: String,
        /// Its termination message (with `FallbackToLogsOnError`, the end of its output); empty
        /// for none.
        message: String,
    },
}

pub(crate) fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub(crate) fn node_info() -> Value {
    json!({
        "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "e2e://played",
        "kernelVersion": "", "kubeProxyVersion": "v1.20.2", "kubeletVersion": "v1.20.2",
        "machineID": "", "operatingSystem": "linux", "osImage": "e2e harness", "systemUUID": "",
    })
}

/// The status a kubelet would write for `state`.
pub(crate) fn status_for(pod: &Pod, state: &PodState) -> Value {
    let spec = pod.spec.as_ref();
    let containers: Vec<(String, String)> = spec
        .map(|s| {
            s.containers
                .iter()
                .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let init: Vec<(String, String)> = spec
        .and_then(|s| s.init_containers.as_ref())
        .map(|cs| {
            cs.iter()
                .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let t = now();
    let running = json!({ "running": { "startedAt": t } });
    let completed = json!({ "terminated": { "exitCode": 0, "reason": "Completed", "startedAt": t, "finishedAt": t } });
    let (phase, ready, initialized, app_state, init_status): (&str, bool, bool, Value, Vec<Value>) =
        match state {
            PodState::Ready => (
                "Running",
                true,
                true,
                running,
                init.iter()
                    .map(|c| container(c, false, completed.clone()))
                    .collect(),
            ),
            PodState::NotReady => (
                "Running",
                false,
                true,
                running,
                init.iter()
                    .map(|c| container(c, false, completed.clone()))
                    .collect(),
            ),
            PodState::Waiting { reason, message } => (
                "Running",
                false,
                true,
                json!({ "waiting": { "reason": reason, "message": message } }),
                init.iter()
                    .map(|c| container(c, false, completed.clone()))
                    .collect(),
            ),
            PodState::InitContainerFailed {
                name,
                exit_code,
                reason,
                message,
            } => {
                let mut failed = json!({ "terminated": { "exitCode": exit_code, "reason": reason, "startedAt": t, "finishedAt": t } });
                if !message.is_empty() {
                    failed["terminated"]["message"] = json!(message);
                }
                let statuses = init
                    .iter()
                    .map(|c| {
                        if &c.0 == name {
                            container(c, false, failed.clone())
                        } else {
                            container(c, false, completed.clone())
                        }
                    })
                    .collect();
                (
                    "Pending",
                    false,
                    false,
                    json!({ "waiting": { "reason": "PodInitializing" } }),
                    statuses,
                )
            }
        };
    let condition = |kind: &str, ok: bool| json!({ "type": kind, "status": if ok { "True" } else { "False" }, "lastTransitionTime": t });
    json!({
        "phase": phase,
        "hostIP": "127.0.0.1",
        "podIP": "10.244.0.10",
        "startTime": pod.status.as_ref().and_then(|s| s.start_time.clone()).map(|s| s.0.to_string()).unwrap_or_else(|| t.clone()),
        "conditions": [
            condition("Initialized", initialized),
            condition("Ready", ready),
            condition("ContainersReady", ready),
            condition("PodScheduled", true),
        ],
        "initContainerStatuses": init_status,
        "containerStatuses": containers.iter().map(|c| container(c, ready, app_state.clone())).collect::<Vec<_>>(),
    })
}

fn container((name, image): &(String, String), ready: bool, state: Value) -> Value {
    json!({
        "name": name, "image": image, "imageID": format!("docker-pullable://{image}"),
        "ready": ready, "restartCount": 0, "started": ready, "state": state,
    })
}
