//! One plugin's complete status from what a reconcile found. Pure.
//!
//! The controller gathers the facts (render outcome, what the apply did, the rollout
//! assessment) and calls [`plugin_status`]; the result equals the previous status exactly
//! when nothing a user can see changed, so "patch status only when it changes" is `!=`.

use fbplugin_crds::status::{condition, reason};
use fbplugin_crds::{ConditionUpdate, FluentBitPluginStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::render::PluginOutcome;
use crate::rollout::Assessment;
use crate::validate;

/// What happened when the operator tried to write the plugin into its DaemonSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyState {
    /// The ConfigMap and DaemonSet intents were applied.
    Applied,
    /// The target DaemonSet does not exist.
    DaemonSetNotFound,
    /// The container is missing ([`crate::workload::TargetError::ContainerNotFound`]); the
    /// message says what to do.
    ContainerNotFound(String),
    /// The base config cannot be found or extended; the message says why.
    BaseConfigInvalid(String),
    /// The DaemonSet's owner has not opted in ([`crate::gate::opt_in`]); nothing was added to
    /// it. The message says what the owner must add.
    NotOptedIn(String),
    /// `<daemonset>-fbplugin` exists and the operator did not create it: neither adopted nor
    /// deleted, nothing written.
    ConfigMapNotOwned(String),
    /// The API server refused an apply; its answer.
    ApplyFailed(String),
}

/// The facts about one plugin after a reconcile of its DaemonSet.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// `metadata.generation` of the plugin.
    pub generation: Option<i64>,
    /// Its outcome from [`crate::render::render_daemonset`].
    pub outcome: &'a PluginOutcome,
    /// What the apply did (ignored when the plugin is not included).
    pub apply: &'a ApplyState,
    /// The rendered hash of the DaemonSet, when something was rendered.
    pub hash: Option<&'a str>,
    /// [`crate::rollout::assess`] of the DaemonSet for this plugin, when the DaemonSet exists.
    pub rollout: Option<&'a Assessment>,
}

/// Builds the status. `previous` keeps the transition times of conditions whose status holds;
/// `now` stamps those that changed.
pub fn plugin_status(
    previous: Option<&FluentBitPluginStatus>,
    facts: Facts<'_>,
    now: &Time,
) -> FluentBitPluginStatus {
    let mut status = FluentBitPluginStatus {
        conditions: previous.map(|p| p.conditions.clone()).unwrap_or_default(),
        ..Default::default()
    };
    let generation = facts.generation;
    let set = |status: &mut FluentBitPluginStatus, update: ConditionUpdate| {
        status.set_condition(update, generation, now);
    };
    status.observed_generation = generation;
    status.problems = facts
        .outcome
        .problems
        .iter()
        .map(validate::Problem::to_status)
        .collect();
    let accepted = validate::accepted_condition(&facts.outcome.problems);
    // Why Ready and Progressing are False when the plugin is not applied: its own Accepted
    // reason (Invalid, Conflict) when it is left out, so `kubectl get fbp` says so.
    let not_applied_reason = if facts.outcome.included {
        reason::NOT_APPLIED
    } else {
        accepted.reason
    };
    set(&mut status, accepted);

    let applied = facts.outcome.included && *facts.apply == ApplyState::Applied;
    let (applied_reason, applied_message) = if !facts.outcome.included {
        (
            reason::NOT_ACCEPTED,
            "the plugin is left out until Accepted is True".to_string(),
        )
    } else {
        match facts.apply {
            ApplyState::Applied => (
                reason::APPLIED,
                "the ConfigMap and the DaemonSet's pod template carry this plugin".to_string(),
            ),
            ApplyState::DaemonSetNotFound => (
                reason::DAEMON_SET_NOT_FOUND,
                "spec.target.daemonSet does not exist in this namespace; create it or fix the name"
                    .to_string(),
            ),
            ApplyState::ContainerNotFound(m) => (reason::CONTAINER_NOT_FOUND, m.clone()),
            ApplyState::BaseConfigInvalid(m) => (reason::BASE_CONFIG_INVALID, m.clone()),
            ApplyState::NotOptedIn(m) => (reason::NOT_OPTED_IN, m.clone()),
            ApplyState::ConfigMapNotOwned(m) => (reason::CONFIG_MAP_NOT_OWNED, m.clone()),
            ApplyState::ApplyFailed(m) => (reason::APPLY_FAILED, m.clone()),
        }
    };
    set(
        &mut status,
        ConditionUpdate {
            type_: condition::APPLIED,
            status: applied,
            reason: applied_reason,
            message: applied_message.clone(),
        },
    );
    if applied {
        status.rendered_hash = facts.hash.map(str::to_string);
    }

    match facts.rollout {
        Some(assessment) => {
            // The DaemonSet's pod counts are this plugin's rollout only once it is applied;
            // before that `kubectl get fbp` would show other plugins' rollout as its own.
            if applied {
                status.rollout = Some(assessment.counts);
                status.progress = Some(assessment.counts.progress());
            }
            for update in assessment.conditions.iter().cloned() {
                // A plugin that is not applied cannot be progressing or ready, whatever the
                // DaemonSet's own rollout says.
                let update = if applied || update.type_ == condition::DEGRADED {
                    update
                } else {
                    not_applied(update.type_, not_applied_reason, &applied_message)
                };
                set(&mut status, update);
            }
        }
        None => {
            for type_ in [condition::PROGRESSING, condition::READY] {
                set(
                    &mut status,
                    not_applied(type_, not_applied_reason, &applied_message),
                );
            }
            set(
                &mut status,
                ConditionUpdate {
                    type_: condition::DEGRADED,
                    status: false,
                    reason: reason::NOT_APPLIED,
                    message: "no DaemonSet pods to inspect".into(),
                },
            );
        }
    }
    status
}

fn not_applied(type_: &'static str, reason: &'static str, why: &str) -> ConditionUpdate {
    ConditionUpdate {
        type_,
        status: false,
        reason,
        message: format!("not applied: {why}"),
    }
}
