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

use fbplugin_crds::status::condition;
use fbplugin_crds::{FluentBitPlugin, FluentBitPluginStatus, RollbackPolicy};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use serde::{Deserialize, Serialize};

use crate::layout::HASH_ANNOTATION;
pub use crate::layout::{LAST_KNOWN_GOOD_KEY, ROLLBACK_ANNOTATION};

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

/// The last rendered state of one DaemonSet that reached Ready on every scheduled pod: the
/// config hash and every plugin's spec then, so the operator can render it again without the
/// plugins' current specs, and tell which plugins changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastKnownGood {
    /// The config hash of the template that was Ready.
    pub template_hash: String,
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

impl LastKnownGood {
    /// The state of a rendered `hash` with these plugins (the ones included in it).
    pub fn of(hash: &str, plugins: &[&FluentBitPlugin]) -> Self {
        LastKnownGood {
            template_hash: hash.to_string(),
            plugins: plugins
                .iter()
                .map(|p| {
                    let spec = serde_json::to_value(&p.spec).unwrap_or_default();
                    let generation = p.metadata.generation.unwrap_or_default();
                    (p.name_any(), GoodPlugin { generation, spec })
                })
                .collect(),
        }
    }

    /// The text stored under [`LAST_KNOWN_GOOD_KEY`].
    pub fn to_text(&self) -> String {
        // Plain maps, strings and JSON values always serialise.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads it back from the ConfigMap's data; `None` when there is none yet or the stored
    /// text is not one (someone edited the ConfigMap: then there is nothing to go back to).
    pub fn from_data(data: Option<&BTreeMap<String, String>>) -> Option<Self> {
        serde_json::from_str(data?.get(LAST_KNOWN_GOOD_KEY)?).ok()
    }

    /// The plugin as it was in this state: today's object with the good spec. `None` when it
    /// was not in it.
    pub fn spec_of(&self, plugin: &FluentBitPlugin) -> Option<FluentBitPlugin> {
        let good = self.plugins.get(&plugin.name_any())?;
        let spec = serde_json::from_value(good.spec.clone()).ok()?;
        Some(FluentBitPlugin {
            metadata: plugin.metadata.clone(),
            spec,
            status: None,
        })
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

/// Whether the DaemonSet has rolled `hash` out: its controller saw the current generation, the
/// template carries `hash`, and every scheduled pod (at least one) is updated and ready.
pub fn rolled_out(ds: &DaemonSet, hash: &str) -> bool {
    let template_hash = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(HASH_ANNOTATION));
    let Some(status) = ds.status.as_ref() else {
        return false;
    };
    let desired = status.desired_number_scheduled;
    template_hash.is_some_and(|h| h == hash)
        && status.observed_generation.unwrap_or(0) >= ds.metadata.generation.unwrap_or(0)
        && desired > 0
        && status.updated_number_scheduled.unwrap_or(0) == desired
        && status.number_ready >= desired
}

/// Whether this generation of the plugin is held back: its status says it was rolled back,
/// for the generation it has now.
pub fn held_back(plugin: &FluentBitPlugin, status: Option<&FluentBitPluginStatus>) -> bool {
    status
        .and_then(|s| s.condition(condition::ROLLED_BACK))
        .is_some_and(|c| c.status == "True" && c.observed_generation == plugin.metadata.generation)
}

/// Whether a stuck rollout may be rolled back for this plugin: its own policy, and the
/// DaemonSet owner's annotation [`ROLLBACK_ANNOTATION`].
pub fn allowed(ds: &DaemonSet, plugin: &FluentBitPlugin) -> bool {
    let owner = ds
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ROLLBACK_ANNOTATION))
        .map(String::as_str);
    owner != Some("Never") && plugin.spec.rollback.unwrap_or_default() == RollbackPolicy::Automatic
}

/// A rollback: the failure that made the rollout stuck, the state it goes back to, and the
/// plugins whose change is held back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    /// What failed.
    pub failure: PodFailure,
    /// The config hash of the failing template.
    pub from_hash: String,
    /// The config hash of the last known good state.
    pub to_hash: String,
    /// The plugins rolled back together, by name.
    pub culprits: Vec<String>,
}

impl Rollback {
    /// The `RolledBack` condition message for one of the culprits.
    pub fn message(&self, plugin: &str) -> String {
        let others: Vec<&str> = self
            .culprits
            .iter()
            .map(String::as_str)
            .filter(|c| *c != plugin)
            .collect();
        let together = if others.is_empty() {
            String::new()
        } else {
            format!(" Rolled back together with: {}.", others.join(", "))
        };
        format!(
            "the rollout of config {} was stuck ({}); went back to the last known good config {}.{together} \
             This generation is held back: change the spec to try again",
            short(&self.from_hash),
            self.failure.describe(),
            short(&self.to_hash),
        )
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Decides whether a stuck rollout is rolled back: the pods of the current template
/// `hash` fail past `patience`, a last known good state with another hash exists, and some
/// plugin whose change it was may be rolled back. `Wait` says when to look again.
pub fn decide(
    ds: &DaemonSet,
    pods: &[Pod],
    hash: &str,
    good: Option<&LastKnownGood>,
    plugins: &[&FluentBitPlugin],
    now: Timestamp,
    patience: Patience,
) -> Decision {
    let Some(good) = good.filter(|g| g.template_hash != hash) else {
        return Decision::None;
    };
    let failure = match assess(pods, hash, now, patience) {
        Verdict::Healthy => return Decision::None,
        Verdict::Wait { at, .. } => return Decision::LookAgainAt(at),
        Verdict::Stuck(failure) => failure,
    };
    let allowed: Vec<(&FluentBitPlugin, serde_json::Value)> = plugins
        .iter()
        .filter(|p| allowed(ds, p))
        .map(|p| (*p, serde_json::to_value(&p.spec).unwrap_or_default()))
        .collect();
    let current: Vec<CurrentPlugin<'_>> = allowed
        .iter()
        .map(|(p, spec)| CurrentPlugin {
            name: p.metadata.name.as_deref().unwrap_or_default(),
            generation: p.metadata.generation.unwrap_or_default(),
            spec,
        })
        .collect();
    let culprits: Vec<String> = culprits(good, &current)
        .into_iter()
        .map(str::to_string)
        .collect();
    if culprits.is_empty() {
        // Nothing the operator may take back changed (the DaemonSet's own config, an operator
        // upgrade, or plugins whose policy is Never): report only.
        return Decision::None;
    }
    Decision::RollBack(Rollback {
        failure,
        from_hash: hash.to_string(),
        to_hash: good.template_hash.clone(),
        culprits,
    })
}

/// What [`decide`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do.
    None,
    /// A failure within its patience: look again then.
    LookAgainAt(Timestamp),
    /// Roll back.
    RollBack(Rollback),
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
    fn the_good_state_round_trips_through_config_map_data_and_an_edit_is_no_state() {
        let good = LastKnownGood {
            template_hash: "abc".into(),
            plugins: BTreeMap::from([(
                "a".to_string(),
                GoodPlugin {
                    generation: 2,
                    spec: json!({"x": 1}),
                },
            )]),
        };
        let data = BTreeMap::from([(LAST_KNOWN_GOOD_KEY.to_string(), good.to_text())]);
        assert_eq!(LastKnownGood::from_data(Some(&data)), Some(good));
        assert_eq!(LastKnownGood::from_data(Some(&BTreeMap::new())), None);
        assert_eq!(LastKnownGood::from_data(None), None);
        let edited = BTreeMap::from([(LAST_KNOWN_GOOD_KEY.to_string(), "{".to_string())]);
        assert_eq!(LastKnownGood::from_data(Some(&edited)), None);
    }

    #[test]
    fn a_rollback_names_the_failure_and_the_plugins_rolled_back_together() {
        let rollback = Rollback {
            failure: PodFailure {
                pod: "fluent-bit-x".into(),
                node: "node-a".into(),
                container: "fluent-bit".into(),
                init: false,
                reason: "CrashLoopBackOff".into(),
                message: "last exit code 1".into(),
            },
            from_hash: "b".repeat(64),
            to_hash: "a".repeat(64),
            culprits: vec!["in-gen".into(), "out-x".into(), "out-y".into()],
        };
        let message = rollback.message("out-x");
        assert!(
            message.contains(&format!("config {}", "b".repeat(12))),
            "{message}"
        );
        assert!(
            message.contains("pod fluent-bit-x on node node-a: container fluent-bit CrashLoopBackOff: last exit code 1"),
            "{message}"
        );
        assert!(
            message.contains(&format!("last known good config {}", "a".repeat(12))),
            "{message}"
        );
        assert!(
            message.contains("Rolled back together with: in-gen, out-y."),
            "{message}"
        );
        assert!(
            !rollback.message("in-gen").contains("with: in-gen"),
            "not itself"
        );
        let alone = Rollback {
            culprits: vec!["out-x".into()],
            ..rollback
        };
        assert!(!alone.message("out-x").contains("together"));
    }

    fn plugin(name: &str, image_byte: &str, rollback: Option<RollbackPolicy>) -> FluentBitPlugin {
        let mut p: FluentBitPlugin = serde_json::from_value(json!({
            "apiVersion": "fbplugin.dev/v1alpha1", "kind": "FluentBitPlugin",
            "metadata": {"name": name, "namespace": "logging", "generation": 2},
            "spec": {"type": "output", "pluginName": name.replace('-', "_"),
                "artifact": {"image": format!("registry.example/{name}@sha256:{}", image_byte.repeat(32)),
                    "path": "/plugins/lib.so"},
                "instances": [{"match": "*"}], "target": {"daemonSet": "fluent-bit"}}
        }))
        .expect("plugin");
        p.spec.rollback = rollback;
        p
    }

    #[test]
    fn a_stuck_rollout_blames_only_what_changed_and_may_be_rolled_back() {
        let (a, b_then) = (plugin("a", "aa", None), plugin("b", "bb", None));
        let good = LastKnownGood::of("good", &[&a, &b_then]);
        let b_now = plugin("b", "cc", None);
        let c_new = plugin("c", "dd", None);
        let stuck = pod(
            "fb-x",
            "new",
            0,
            vec![waiting("fbplugin-b", "ImagePullBackOff", "")],
            vec![],
        );
        let ds = DaemonSet::default();
        let decide_with = |plugins: &[&FluentBitPlugin], ds: &DaemonSet| {
            decide(
                ds,
                std::slice::from_ref(&stuck),
                "new",
                Some(&good),
                plugins,
                at(120),
                Patience::default(),
            )
        };
        match decide_with(&[&a, &b_now, &c_new], &ds) {
            Decision::RollBack(r) => {
                assert_eq!(r.culprits, ["b", "c"]);
                assert_eq!(r.to_hash, "good");
                assert_eq!(r.failure.pod, "fb-x");
            }
            other => panic!("expected a rollback, got {other:?}"),
        }
        // c says Never: only b is taken back.
        let c_never = plugin("c", "dd", Some(RollbackPolicy::Never));
        match decide_with(&[&a, &b_now, &c_never], &ds) {
            Decision::RollBack(r) => assert_eq!(r.culprits, ["b"]),
            other => panic!("expected a rollback, got {other:?}"),
        }
        // Nothing changed since the good state: nothing to take back.
        assert_eq!(decide_with(&[&a, &b_then], &ds), Decision::None);
        // The owner says Never.
        let mut owned = DaemonSet::default();
        owned.metadata.annotations = Some(BTreeMap::from([(
            ROLLBACK_ANNOTATION.to_string(),
            "Never".to_string(),
        )]));
        assert_eq!(decide_with(&[&a, &b_now, &c_new], &owned), Decision::None);
        // No good state, or the good state is the failing one: nothing to go back to.
        assert_eq!(
            decide(
                &ds,
                std::slice::from_ref(&stuck),
                "good",
                Some(&good),
                &[&b_now],
                at(120),
                Patience::default()
            ),
            Decision::None
        );
        assert_eq!(
            decide(
                &ds,
                std::slice::from_ref(&stuck),
                "new",
                None,
                &[&b_now],
                at(120),
                Patience::default()
            ),
            Decision::None
        );
    }
}
