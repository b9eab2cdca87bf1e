//! `FluentBitPlugin.status`: conditions, rollout counts, what was rendered.
//!
//! # Conditions
//!
//! | type | status | reason | meaning |
//! |---|---|---|---|
//! | `Accepted` | True | `Valid` | the spec passed validation and does not conflict with other plugins |
//! | `Accepted` | False | `Invalid` | the spec breaks a rule; `status.problems` lists each field |
//! | `Accepted` | False | `NotAllowed` | valid, but not allowed here: the image repository is not in the operator's allow-list, or the DaemonSet's owner did not list the container, config path or pull secret |
//! | `Accepted` | False | `Conflict` | another plugin on the DaemonSet registers the same name or alias, or disagrees on the target container/config path |
//! | `Applied` | True | `Applied` | the ConfigMap and the DaemonSet pod template carry this plugin |
//! | `Applied` | False | `NotAccepted` | nothing was applied for this plugin because it is not accepted |
//! | `Applied` | False | `DaemonSetNotFound` | `spec.target.daemonSet` does not exist in the namespace |
//! | `Applied` | False | `ContainerNotFound` | the DaemonSet has no container named `spec.target.container` |
//! | `Applied` | False | `BaseConfigInvalid` | the DaemonSet's own config cannot be extended (it sets `Plugins_File`, or it cannot be found) |
//! | `Applied` | False | `DaemonSetNotOptedIn` | the DaemonSet lacks the owner's opt-in (label `fbplugin.dev/accept-plugins: "true"`, annotations `fbplugin.dev/container`, `fbplugin.dev/config-path`); nothing is written to it |
//! | `Applied` | False | `ConfigMapNotOwned` | `<daemonset>-fbplugin` exists and was not created by the operator; it is neither adopted nor deleted |
//! | `Applied` | False | `ApplyFailed` | the API server refused the apply; the message has its answer |
//! | `Progressing` | True | `RolloutInProgress` | pods are being replaced with the new template |
//! | `Progressing` | False | `RolloutComplete` | every scheduled pod runs the current template |
//! | `Ready` | True | `RolloutComplete` | all pods are updated and ready |
//! | `Ready` | False | `RolloutInProgress` / `NotApplied` / `PodsNotReady` | not (yet) ready; see message |
//! | `Degraded` | True | `CrashLoopBackOff` | a Fluent Bit container keeps crashing (message names the pod) |
//! | `Degraded` | True | `ImagePullFailed` | the plugin image (or another) cannot be pulled |
//! | `Degraded` | True | `InitContainerFailed` | the plugin's init container failed, e.g. sha256 mismatch |
//! | `Degraded` | False | `AsExpected` | no failing pod seen |
//! | `RolledBack` | True | `RolloutStuck` | this generation's change made the new pods fail in a way that will not heal; the operator went back to the last known good state and holds this generation back until the spec changes (the message names the pod, node, container, reason and the plugins rolled back together) |
//! | `Applied`, `Progressing`, `Ready` | False | `RolledBack` | while held back: the DaemonSet runs the plugin's last known good spec (or leaves it out when it had none) |

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition types.
pub mod condition {
    /// The spec is valid and does not conflict with the other plugins of the DaemonSet.
    pub const ACCEPTED: &str = "Accepted";
    /// The operator wrote the plugin into the ConfigMap and the DaemonSet template.
    pub const APPLIED: &str = "Applied";
    /// The DaemonSet is rolling out a template.
    pub const PROGRESSING: &str = "Progressing";
    /// Every pod runs the current template and is ready.
    pub const READY: &str = "Ready";
    /// Pods fail in a way that needs a human.
    pub const DEGRADED: &str = "Degraded";
    /// The operator rolled this plugin's change back (only present after a rollback).
    pub const ROLLED_BACK: &str = "RolledBack";
}

/// Condition reasons (CamelCase, stable: tools may match on them).
pub mod reason {
    /// Accepted=True.
    pub const VALID: &str = "Valid";
    /// Accepted=False: the spec breaks a rule.
    pub const INVALID: &str = "Invalid";
    /// Accepted=False: conflicts with another plugin of the same DaemonSet.
    pub const CONFLICT: &str = "Conflict";
    /// Accepted=False: the spec is valid but not allowed here: an image repository the
    /// operator does not allow, or a container, config path or pull secret the DaemonSet's
    /// owner did not list.
    pub const NOT_ALLOWED: &str = "NotAllowed";
    /// Applied=True.
    pub const APPLIED: &str = "Applied";
    /// Applied=False: the plugin is not accepted.
    pub const NOT_ACCEPTED: &str = "NotAccepted";
    /// Applied=False: the target DaemonSet does not exist.
    pub const DAEMON_SET_NOT_FOUND: &str = "DaemonSetNotFound";
    /// Applied=False: the target container does not exist.
    pub const CONTAINER_NOT_FOUND: &str = "ContainerNotFound";
    /// Applied=False: the base config cannot be extended.
    pub const BASE_CONFIG_INVALID: &str = "BaseConfigInvalid";
    /// Applied=False: the DaemonSet's owner has not opted in (label
    /// `fbplugin.dev/accept-plugins: "true"` and the annotations `fbplugin.dev/container` and
    /// `fbplugin.dev/config-path`); nothing was written to it.
    pub const NOT_OPTED_IN: &str = "DaemonSetNotOptedIn";
    /// Applied=False: `<daemonset>-fbplugin` exists but the operator did not create it; it is
    /// neither adopted nor deleted.
    pub const CONFIG_MAP_NOT_OWNED: &str = "ConfigMapNotOwned";
    /// Applied=False: the API server refused the apply.
    pub const APPLY_FAILED: &str = "ApplyFailed";
    /// Progressing=True, Ready=False.
    pub const ROLLOUT_IN_PROGRESS: &str = "RolloutInProgress";
    /// Progressing=False, Ready=True.
    pub const ROLLOUT_COMPLETE: &str = "RolloutComplete";
    /// Ready=False: the plugin is not in the DaemonSet's current template.
    pub const NOT_APPLIED: &str = "NotApplied";
    /// Ready=False: updated pods exist but not all are ready.
    pub const PODS_NOT_READY: &str = "PodsNotReady";
    /// Degraded=True: a container is in CrashLoopBackOff.
    pub const CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";
    /// Degraded=True: ImagePullBackOff, ErrImagePull or an invalid image name.
    pub const IMAGE_PULL_FAILED: &str = "ImagePullFailed";
    /// Degraded=True: an init container exited non-zero (sha256 mismatch, missing file).
    pub const INIT_CONTAINER_FAILED: &str = "InitContainerFailed";
    /// Degraded=False.
    pub const AS_EXPECTED: &str = "AsExpected";
    /// RolledBack=True: the rollout of this generation was stuck and was rolled back.
    pub const ROLLOUT_STUCK: &str = "RolloutStuck";
    /// Applied, Progressing, Ready=False: this generation is held back after a rollback.
    pub const ROLLED_BACK: &str = "RolledBack";
}

/// The observed state of a `FluentBitPlugin`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FluentBitPluginStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Accepted, Applied, Progressing, Ready and Degraded, each with a reason and a message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// Every validation problem of the spec, with the field to fix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<StatusProblem>,

    /// Pod counts of the target DaemonSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutCounts>,

    /// `updated/desired` pods of the target DaemonSet, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,

    /// sha256 of everything rendered for the DaemonSet (the pod template's
    /// `fbplugin.dev/config-hash` annotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_hash: Option<String>,
}

/// One condition, shaped like `metav1.Condition`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Accepted, Applied, Progressing, Ready or Degraded.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason, stable across releases.
    pub reason: String,
    /// What happened and what to do, for humans.
    #[serde(default)]
    pub message: String,
    /// The generation the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When `status` last changed.
    #[schemars(schema_with = "date_time")]
    pub last_transition_time: Time,
}

fn date_time(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "format": "date-time" })
}

/// A validation problem, as shown on the status.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
pub struct StatusProblem {
    /// The field, e.g. `spec.instances[0].properties[2].name`.
    pub field: String,
    /// CamelCase reason, e.g. `ReservedKey`.
    pub reason: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Pod counts of the target DaemonSet.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutCounts {
    /// Nodes that should run the pod (`desiredNumberScheduled`).
    pub desired: i32,
    /// Nodes running the current template (`updatedNumberScheduled`).
    pub updated: i32,
    /// Nodes with a ready pod (`numberReady`).
    pub ready: i32,
    /// Nodes with an available pod (`numberAvailable`).
    pub available: i32,
}

impl RolloutCounts {
    /// `updated/desired`, for the printer column.
    pub fn progress(&self) -> String {
        format!("{}/{}", self.updated, self.desired)
    }
}

/// A condition before it gets a transition time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionUpdate {
    /// The condition type (see [`condition`]).
    pub type_: &'static str,
    /// True, False or Unknown.
    pub status: bool,
    /// See [`reason`].
    pub reason: &'static str,
    /// What happened and what to do.
    pub message: String,
}

impl FluentBitPluginStatus {
    /// Sets a condition, keeping `lastTransitionTime` when the status did not change, so
    /// a status patch is only needed when something a user can see changed.
    pub fn set_condition(&mut self, update: ConditionUpdate, generation: Option<i64>, now: &Time) {
        let status = if update.status { "True" } else { "False" };
        let existing = self.conditions.iter_mut().find(|c| c.type_ == update.type_);
        let last_transition_time = match &existing {
            Some(c) if c.status == status => c.last_transition_time.clone(),
            _ => now.clone(),
        };
        let condition = Condition {
            type_: update.type_.to_string(),
            status: status.to_string(),
            reason: update.reason.to_string(),
            message: update.message,
            observed_generation: generation,
            last_transition_time,
        };
        match existing {
            Some(c) => *c = condition,
            None => self.conditions.push(condition),
        }
    }

    /// The condition of this type, if set.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}
