//! Safe rollouts, the pure part: whether a rollout is stuck on a failure that will not heal,
//! what the last known good state of a DaemonSet is, and which plugins a rollback blames.
//!
//! Every change of a plugin rolls the whole Fluent Bit DaemonSet. A `.so` that crashes Fluent
//! Bit, a file whose sha256 does not match, an image that cannot be pulled: the DaemonSet
//! controller keeps replacing pods node after node and log collection stops everywhere. So the
//! operator remembers, per DaemonSet, the last rendered state that reached Ready on every
//! scheduled pod ([`LastKnownGood`]), watches the pods of a rollout for failures that the kubelet
//! will only retry ([`assess`]), and when one persists past a bounded time goes back to that
//! state and names the plugins whose change caused it ([`culprits`]).
//!
//! What counts as "will not heal", for a pod running the new template:
//! - a container waiting in `CrashLoopBackOff` (Fluent Bit crashed or exited, more than once);
//! - an init container that exited non-zero (`Init:Error`, then `Init:CrashLoopBackOff`): the
//!   verify-and-copy step refused the file;
//! - `ErrImagePull`, `ImagePullBackOff`, `InvalidImageName`, `ErrImageNeverPull`;
//! - `CreateContainerConfigError` (for example `runAsNonRoot` with a root image).
//!
//! Each must have been visible on a pod at least [`Patience`] old, so a registry hiccup or the
//! first seconds of a slow start do not roll back a good change.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::workload::HASH_ANNOTATION;

/// Waiting reasons the kubelet only retries: the spec has to change for them to go away.
const STUCK_WAITING: &[&str] = &[
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
];

/// How long a failure must have been visible on an updated pod before the rollout counts as
/// stuck, counted from the pod's creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience(pub SignedDuration);

impl Default for Patience {
    /// 60 seconds: long enough for an image pull to be retried once and a crashing Fluent Bit
    /// to enter `CrashLoopBackOff`, short enough that at most the nodes the update strategy
    /// allows at once lose their collector.
    fn default() -> Self {
        Patience(SignedDuration::from_secs(60))
    }
}

/// A pod of the new template that fails in a way that will not heal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodFailure {
    /// The pod's name.
    pub pod: String,
    /// The node it is scheduled on (empty if it is not yet bound).
    pub node: String,
    /// The failing container.
    pub container: String,
    /// Whether that container is an init container.
    pub init: bool,
    /// The kubelet's reason: `CrashLoopBackOff`, `ImagePullBackOff`, `Init:Error`, ...
    pub reason: String,
    /// The kubelet's or the container's own message, trimmed (may be empty).
    pub message: String,
}

impl PodFailure {
    /// One line for a condition message or an Event: pod, node, container and reason.
    pub fn describe(&self) -> String {
        let kind = if self.init {
            "init container"
        } else {
            "container"
        };
        let node = if self.node.is_empty() {
            String::new()
        } else {
            format!(" on node {}", self.node)
        };
        let message = if self.message.is_empty() {
            String::new()
        } else {
            format!(": {}", self.message)
        };
        format!(
            "pod {}{node}: {kind} {} {}{message}",
            self.pod, self.container, self.reason
        )
    }
}

/// What the pods of a rollout say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No pod of the new template shows a failure that will not heal.
    Healthy,
    /// A pod of the new template fails, but has not yet been given [`Patience`]: look again at
    /// `at` (the first moment the failure would count).
    Wait {
        /// When to look again.
        at: Timestamp,
        /// The failure seen so far.
        failure: PodFailure,
    },
    /// The rollout is stuck: go back to the last known good state.
    Stuck(PodFailure),
}

/// Looks at the pods of a DaemonSet for the template whose config hash is `template_hash`.
/// Pods of other templates (the ones the rollout has not replaced yet) are ignored: their
/// failures were there before this change. Pods are read in name order, so the answer is
/// stable; a stuck pod wins over one still within its patience.
pub fn assess(pods: &[Pod], template_hash: &str, now: Timestamp, patience: Patience) -> Verdict {
    let mut sorted: Vec<&Pod> = pods
        .iter()
        .filter(|p| pod_hash(p) == Some(template_hash))
        .collect();
    sorted.sort_by_key(|p| p.metadata.name.as_deref().unwrap_or_default());
    let mut waiting: Option<(Timestamp, PodFailure)> = None;
    for pod in sorted {
        let Some(failure) = pod_failure(pod) else {
            continue;
        };
        let created = pod
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(now, |t| t.0);
        let due = created.checked_add(patience.0).unwrap_or(created);
        if due <= now {
            return Verdict::Stuck(failure);
        }
        if waiting.as_ref().is_none_or(|(at, _)| due < *at) {
            waiting = Some((due, failure));
        }
    }
    match waiting {
        Some((at, failure)) => Verdict::Wait { at, failure },
        None => Verdict::Healthy,
    }
}

fn pod_hash(pod: &Pod) -> Option<&str> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(HASH_ANNOTATION)
        .map(String::as_str)
}

/// The first failure that will not heal in a pod: init containers first (they run first).
fn pod_failure(pod: &Pod) -> Option<PodFailure> {
    let status = pod.status.as_ref()?;
    let inits = status.init_container_statuses.iter().flatten();
    let mains = status.container_statuses.iter().flatten();
    let (init, c, reason, message) = inits
        .filter_map(|c| container_failure(c, true).map(|(r, m)| (true, c, r, m)))
        .chain(mains.filter_map(|c| container_failure(c, false).map(|(r, m)| (false, c, r, m))))
        .next()?;
    Some(PodFailure {
        pod: pod.metadata.name.clone().unwrap_or_default(),
        node: pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default(),
        container: c.name.clone(),
        init,
        reason,
        message,
    })
}

fn container_failure(c: &ContainerStatus, init: bool) -> Option<(String, String)> {
    let state = c.state.as_ref();
    if let Some(w) = state.and_then(|s| s.waiting.as_ref())
        && let Some(reason) = w.reason.as_deref()
        && STUCK_WAITING.contains(&reason)
    {
        let message = w.message.as_deref().unwrap_or_default().trim();
        // A crash loop's own words are in the last termination, not in the waiting state.
        let last = c
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .filter(|t| t.exit_code != 0);
        let message = match last {
            Some(t) if reason == "CrashLoopBackOff" => {
                let said = t.message.as_deref().map(str::trim).unwrap_or_default();
                if said.is_empty() {
                    format!("last exit code {}", t.exit_code)
                } else {
                    format!("last exit code {}: {said}", t.exit_code)
                }
            }
            _ => message.to_string(),
        };
        let reason = if init && reason == "CrashLoopBackOff" {
            "Init:CrashLoopBackOff".to_string()
        } else {
            reason.to_string()
        };
        return Some((reason, message));
    }
    if init
        && let Some(t) = state.and_then(|s| s.terminated.as_ref())
        && t.exit_code != 0
    {
        let said = t.message.as_deref().map(str::trim).unwrap_or_default();
        let message = if said.is_empty() {
            format!("exit code {}", t.exit_code)
        } else {
            format!("exit code {}: {said}", t.exit_code)
        };
        return Some(("Init:Error".to_string(), message));
    }
    None
}

/// The last rendered state of one DaemonSet that reached Ready on every scheduled pod: enough
/// to apply it again without reading the plugins, and to tell which plugins changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastKnownGood {
    /// The config hash of the template that was Ready.
    pub template_hash: String,
    /// The operator's ConfigMap data at that time.
    pub config: BTreeMap<String, String>,
    /// The DaemonSet apply intent at that time (the operator's fields only).
    pub daemon_set: serde_json::Value,
    /// Every plugin rendered into it, by name.
    pub plugins: BTreeMap<String, GoodPlugin>,
}

/// One plugin as it was in the last known good state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoodPlugin {
    /// Its `metadata.generation` then.
    pub generation: i64,
    /// Its spec then, as JSON, compared field by field with today's.
    pub spec: serde_json::Value,
}

/// The ConfigMap key [`LastKnownGood`] is stored under.
pub const LAST_KNOWN_GOOD_KEY: &str = "last-known-good.json";

impl LastKnownGood {
    /// The ConfigMap data that stores it.
    pub fn to_config_map_data(&self) -> BTreeMap<String, String> {
        // Serialising plain maps, strings and JSON values cannot fail.
        let text = serde_json::to_string(self).unwrap_or_default();
        BTreeMap::from([(LAST_KNOWN_GOOD_KEY.to_string(), text)])
    }

    /// Reads it back from ConfigMap data; `None` when there is none yet, an error when the
    /// stored text is not one (someone edited the ConfigMap).
    pub fn from_config_map_data(
        data: &BTreeMap<String, String>,
    ) -> Result<Option<Self>, serde_json::Error> {
        data.get(LAST_KNOWN_GOOD_KEY)
            .map(|text| serde_json::from_str(text))
            .transpose()
    }
}

/// A plugin as it is now: its name, generation and spec as JSON.
#[derive(Debug, Clone, Copy)]
pub struct CurrentPlugin<'a> {
    /// `metadata.name`.
    pub name: &'a str,
    /// `metadata.generation`.
    pub generation: i64,
    /// The spec, as JSON.
    pub spec: &'a serde_json::Value,
}

/// Which of today's plugins a rollback from `good` blames, in name order: the ones that are
/// new since, and the ones whose spec differs from the good state's. Plugins removed since
/// are not blamed: their removal cannot break a pod, and the good state brings them back only
/// until the next plan drops them again.
pub fn culprits<'a>(good: &LastKnownGood, now: &[CurrentPlugin<'a>]) -> Vec<&'a str> {
    let mut names: Vec<&str> = now
        .iter()
        .filter(|p| good.plugins.get(p.name).is_none_or(|g| g.spec != *p.spec))
        .map(|p| p.name)
        .collect();
    names.sort_unstable();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStateWaiting, PodSpec, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use serde_json::json;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).expect("in range")
    }

    fn waiting(name: &str, reason: &str, message: &str) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.into()),
                    message: Some(message.into()),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn exited(name: &str, code: i32, message: &str) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: code,
                    message: Some(message.into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(
        name: &str,
        hash: &str,
        created: i64,
        inits: Vec<ContainerStatus>,
        mains: Vec<ContainerStatus>,
    ) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(Time(at(created))),
                annotations: Some(BTreeMap::from([(HASH_ANNOTATION.into(), hash.into())])),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some(format!("node-{name}")),
                ..Default::default()
            }),
            status: Some(PodStatus {
                init_container_statuses: Some(inits),
                container_statuses: Some(mains),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn failures_that_will_not_heal_roll_back_after_the_patience() {
        let patience = Patience::default();
        let rows: Vec<(&str, Pod, Option<&str>)> = vec![
            (
                "wrong sha256: the verify step exits 1",
                pod(
                    "fb-a",
                    "new",
                    0,
                    vec![exited(
                        "fbplugin-out-jsonl",
                        1,
                        "sha256 mismatch for /plugins/out.so",
                    )],
                    vec![],
                ),
                Some(
                    "pod fb-a on node node-fb-a: init container fbplugin-out-jsonl Init:Error: \
                     exit code 1: sha256 mismatch for /plugins/out.so",
                ),
            ),
            (
                "missing image",
                pod(
                    "fb-a",
                    "new",
                    0,
                    vec![waiting(
                        "fbplugin-out-jsonl",
                        "ImagePullBackOff",
                        "Back-off pulling image",
                    )],
                    vec![],
                ),
                Some(
                    "pod fb-a on node node-fb-a: init container fbplugin-out-jsonl \
                     ImagePullBackOff: Back-off pulling image",
                ),
            ),
            (
                "Fluent Bit crashes",
                pod(
                    "fb-a",
                    "new",
                    0,
                    vec![],
                    vec![ContainerStatus {
                        last_state: Some(ContainerState {
                            terminated: Some(ContainerStateTerminated {
                                exit_code: 139,
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                        ..waiting("fluent-bit", "CrashLoopBackOff", "back-off 10s")
                    }],
                ),
                Some(
                    "pod fb-a on node node-fb-a: container fluent-bit CrashLoopBackOff: \
                     last exit code 139",
                ),
            ),
            (
                "root image under runAsNonRoot",
                pod(
                    "fb-a",
                    "new",
                    0,
                    vec![],
                    vec![waiting(
                        "fluent-bit",
                        "CreateContainerConfigError",
                        "container has runAsNonRoot and image will run as root",
                    )],
                ),
                Some(
                    "pod fb-a on node node-fb-a: container fluent-bit \
                     CreateContainerConfigError: container has runAsNonRoot and image will run \
                     as root",
                ),
            ),
            (
                "a pod of the old template fails: not this change's doing",
                pod(
                    "fb-a",
                    "old",
                    0,
                    vec![],
                    vec![waiting("fluent-bit", "CrashLoopBackOff", "")],
                ),
                None,
            ),
            (
                "still creating",
                pod(
                    "fb-a",
                    "new",
                    0,
                    vec![],
                    vec![waiting("fluent-bit", "ContainerCreating", "")],
                ),
                None,
            ),
            (
                "an init container that succeeded",
                pod(
                    "fb-a",
                    "new",
                    0,
                    vec![exited("fbplugin-out-jsonl", 0, "")],
                    vec![],
                ),
                None,
            ),
        ];
        for (what, p, want) in rows {
            let got = match assess(&[p], "new", at(61), patience) {
                Verdict::Stuck(f) => Some(f.describe()),
                Verdict::Healthy => None,
                Verdict::Wait { .. } => panic!("{what}: still waiting after the patience"),
            };
            assert_eq!(got.as_deref(), want, "{what}");
        }
    }

    #[test]
    fn a_young_failing_pod_is_given_its_patience_and_a_time_to_look_again() {
        let p = pod(
            "fb-a",
            "new",
            10,
            vec![],
            vec![waiting("fluent-bit", "ErrImagePull", "")],
        );
        match assess(std::slice::from_ref(&p), "new", at(30), Patience::default()) {
            Verdict::Wait { at: due, failure } => {
                assert_eq!(due, at(70));
                assert_eq!(failure.reason, "ErrImagePull");
            }
            other => panic!("expected Wait, got {other:?}"),
        }
        assert!(matches!(
            assess(&[p], "new", at(70), Patience::default()),
            Verdict::Stuck(_)
        ));
    }

    #[test]
    fn a_stuck_pod_wins_over_a_younger_one_whatever_their_names() {
        let young = pod(
            "fb-a",
            "new",
            50,
            vec![],
            vec![waiting("fluent-bit", "CrashLoopBackOff", "")],
        );
        let old = pod(
            "fb-b",
            "new",
            0,
            vec![waiting("fbplugin-x", "CrashLoopBackOff", "")],
            vec![],
        );
        match assess(&[young, old], "new", at(61), Patience::default()) {
            Verdict::Stuck(f) => {
                assert_eq!(f.pod, "fb-b");
                assert_eq!(f.reason, "Init:CrashLoopBackOff");
            }
            other => panic!("expected Stuck, got {other:?}"),
        }
    }

    #[test]
    fn culprits_are_the_plugins_new_or_changed_since_the_good_state() {
        let good = LastKnownGood {
            template_hash: "good".into(),
            config: BTreeMap::new(),
            daemon_set: json!({}),
            plugins: BTreeMap::from([
                (
                    "a".to_string(),
                    GoodPlugin {
                        generation: 1,
                        spec: json!({"x": 1}),
                    },
                ),
                (
                    "b".to_string(),
                    GoodPlugin {
                        generation: 3,
                        spec: json!({"x": 2}),
                    },
                ),
                (
                    "gone".to_string(),
                    GoodPlugin {
                        generation: 1,
                        spec: json!({}),
                    },
                ),
            ]),
        };
        let same = json!({"x": 1});
        let changed = json!({"x": 3});
        let fresh = json!({});
        let now = [
            CurrentPlugin {
                name: "new",
                generation: 1,
                spec: &fresh,
            },
            // The same spec at a newer generation (an edit, then its revert) is no change.
            CurrentPlugin {
                name: "a",
                generation: 2,
                spec: &same,
            },
            CurrentPlugin {
                name: "b",
                generation: 4,
                spec: &changed,
            },
        ];
        assert_eq!(culprits(&good, &now), ["b", "new"]);
    }

    #[test]
    fn the_good_state_round_trips_through_config_map_data_and_edits_are_errors() {
        let good = LastKnownGood {
            template_hash: "abc".into(),
            config: BTreeMap::from([("plugins.conf".into(), "[PLUGINS]\n".into())]),
            daemon_set: json!({"spec": {"template": {}}}),
            plugins: BTreeMap::new(),
        };
        let data = good.to_config_map_data();
        assert_eq!(
            LastKnownGood::from_config_map_data(&data).expect("reads back"),
            Some(good)
        );
        assert_eq!(
            LastKnownGood::from_config_map_data(&BTreeMap::new()).expect("empty"),
            None
        );
        let edited = BTreeMap::from([(LAST_KNOWN_GOOD_KEY.to_string(), "{".to_string())]);
        assert!(LastKnownGood::from_config_map_data(&edited).is_err());
    }
}
