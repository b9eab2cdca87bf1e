//! DaemonSet status + its pods → Progressing, Ready and Degraded.
//!
//! The DaemonSet is rolled out when its controller has seen the current generation,
//! `updatedNumberScheduled == desiredNumberScheduled` and `numberReady >= desired`. Otherwise
//! the pods are inspected for failures a human must fix: a failed plugin init container (such
//! as a sha256 mismatch), image pull errors, crash loops. Each finding names the pod.

use fbplugin_crds::status::{condition, reason};
use fbplugin_crds::{ConditionUpdate, FluentBitPlugin, RolloutCounts};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use crate::layout::{HASH_ANNOTATION, INIT_PREFIX};
use crate::workload::carries;

/// Whether the DaemonSet's current template carries a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateCheck {
    /// The template's hash annotation equals the expected rendered hash.
    pub hash_current: bool,
    /// The template has the plugin's init container.
    pub init_container_present: bool,
}

impl TemplateCheck {
    /// Both hold.
    pub fn applied(&self) -> bool {
        self.hash_current && self.init_container_present
    }
}

/// Checks the DaemonSet template for the plugin's init container and the expected hash.
pub fn template_check(
    ds: &DaemonSet,
    plugin: &FluentBitPlugin,
    expected_hash: &str,
) -> TemplateCheck {
    let template = ds.spec.as_ref().map(|s| &s.template);
    let hash = template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(HASH_ANNOTATION));
    TemplateCheck {
        hash_current: hash.is_some_and(|h| h == expected_hash),
        init_container_present: carries(ds, plugin),
    }
}

/// The rollout state of one plugin's DaemonSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// Pod counts for `status.rollout`.
    pub counts: RolloutCounts,
    /// Progressing, Ready and Degraded, in that order.
    pub conditions: [ConditionUpdate; 3],
}

/// Assesses a DaemonSet for one plugin. `pods` are the DaemonSet's pods (selected by its
/// selector); `template` is [`template_check`] for this plugin.
pub fn assess(ds: &DaemonSet, pods: &[Pod], template: TemplateCheck) -> Assessment {
    let status = ds.status.clone().unwrap_or_default();
    let generation = ds.metadata.generation.unwrap_or(0);
    let observed = status.observed_generation.unwrap_or(0) >= generation;
    let counts = RolloutCounts {
        desired: status.desired_number_scheduled,
        // Until the DaemonSet controller has seen the current template, its updated count is
        // about the previous one: no pod is known to run this template yet.
        updated: if observed {
            status.updated_number_scheduled.unwrap_or(0)
        } else {
            0
        },
        ready: status.number_ready,
        available: status.number_available.unwrap_or(0),
    };
    let complete = observed && counts.updated == counts.desired && counts.ready >= counts.desired;
    let degraded = find_failure(pods);

    let progressing = if !template.applied() {
        cond(
            condition::PROGRESSING,
            false,
            reason::NOT_APPLIED,
            not_applied(template),
        )
    } else if complete {
        cond(
            condition::PROGRESSING,
            false,
            reason::ROLLOUT_COMPLETE,
            format!(
                "all {} scheduled pods run the current template",
                counts.desired
            ),
        )
    } else {
        cond(
            condition::PROGRESSING,
            true,
            reason::ROLLOUT_IN_PROGRESS,
            progress_message(observed, &counts),
        )
    };
    let ready = if !template.applied() {
        cond(
            condition::READY,
            false,
            reason::NOT_APPLIED,
            not_applied(template),
        )
    } else if complete && counts.desired == 0 {
        cond(
            condition::READY,
            true,
            reason::ROLLOUT_COMPLETE,
            "no node is scheduled to run the DaemonSet (0/0); check its nodeSelector and \
             tolerations if that is unexpected"
                .into(),
        )
    } else if complete {
        cond(
            condition::READY,
            true,
            reason::ROLLOUT_COMPLETE,
            format!(
                "{}/{} pods updated and ready",
                counts.updated, counts.desired
            ),
        )
    } else if observed && counts.updated == counts.desired {
        cond(
            condition::READY,
            false,
            reason::PODS_NOT_READY,
            format!(
                "all pods updated, {}/{} ready",
                counts.ready, counts.desired
            ),
        )
    } else {
        cond(
            condition::READY,
            false,
            reason::ROLLOUT_IN_PROGRESS,
            progress_message(observed, &counts),
        )
    };
    let degraded = match degraded {
        Some((why, message)) => cond(condition::DEGRADED, true, why, message),
        None => cond(
            condition::DEGRADED,
            false,
            reason::AS_EXPECTED,
            "no failing pod".into(),
        ),
    };
    Assessment {
        counts,
        conditions: [progressing, ready, degraded],
    }
}

fn cond(
    type_: &'static str,
    status: bool,
    reason: &'static str,
    message: String,
) -> ConditionUpdate {
    ConditionUpdate {
        type_,
        status,
        reason,
        message,
    }
}

fn not_applied(t: TemplateCheck) -> String {
    if !t.init_container_present {
        "the DaemonSet's pod template does not have this plugin's init container yet".into()
    } else {
        "the DaemonSet's pod template carries another config hash; waiting for the apply".into()
    }
}

fn progress_message(observed: bool, c: &RolloutCounts) -> String {
    if !observed {
        return "waiting for the DaemonSet controller to see the new template".into();
    }
    format!(
        "{}/{} pods updated, {} ready",
        c.updated, c.desired, c.ready
    )
}

/// The most important failure among the pods: a failed plugin init container first, then
/// image pulls, then crash loops. Pods are scanned in name order so the answer is stable.
fn find_failure(pods: &[Pod]) -> Option<(&'static str, String)> {
    let mut sorted: Vec<&Pod> = pods.iter().collect();
    sorted.sort_by_key(|p| p.metadata.name.as_deref().unwrap_or_default());
    let mut best: Option<(u8, &'static str, String)> = None;
    let mut affected = 0;
    for pod in sorted {
        let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
        let Some(status) = &pod.status else { continue };
        let inits = status
            .init_container_statuses
            .iter()
            .flatten()
            .map(|c| (true, c));
        let mains = status
            .container_statuses
            .iter()
            .flatten()
            .map(|c| (false, c));
        let mut found_in_pod = false;
        for (init, c) in inits.chain(mains) {
            let Some((rank, why, message)) = classify(pod_name, init, c) else {
                continue;
            };
            found_in_pod = true;
            if best.as_ref().is_none_or(|(r, _, _)| rank < *r) {
                best = Some((rank, why, message));
            }
        }
        affected += usize::from(found_in_pod);
    }
    best.map(|(_, why, message)| {
        if affected > 1 {
            (why, format!("{message} ({} pods affected)", affected))
        } else {
            (why, message)
        }
    })
}

fn classify(pod: &str, init: bool, c: &ContainerStatus) -> Option<(u8, &'static str, String)> {
    let state = c.state.as_ref();
    let waiting = state.and_then(|s| s.waiting.as_ref());
    let terminated = state
        .and_then(|s| s.terminated.as_ref())
        .or_else(|| c.last_state.as_ref().and_then(|s| s.terminated.as_ref()));
    let waiting_reason = waiting
        .and_then(|w| w.reason.as_deref())
        .unwrap_or_default();
    let kind = if init { "init container" } else { "container" };
    if matches!(
        waiting_reason,
        "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName"
    ) {
        let detail = waiting
            .and_then(|w| w.message.as_deref())
            .unwrap_or(waiting_reason);
        return Some((
            1,
            reason::IMAGE_PULL_FAILED,
            format!(
                "pod {pod}: {kind} {} cannot pull image {}: {detail}",
                c.name, c.image
            ),
        ));
    }
    let failed_exit = terminated.filter(|t| t.exit_code != 0);
    if init
        && c.name.starts_with(INIT_PREFIX)
        && let Some(t) = failed_exit
    {
        let detail = t
            .message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        return Some((
            0,
            reason::INIT_CONTAINER_FAILED,
            format!(
                "pod {pod}: init container {} exited with {}: {}",
                c.name,
                t.exit_code,
                detail.unwrap_or("no message (see its logs)")
            ),
        ));
    }
    if waiting_reason == "CrashLoopBackOff" {
        let last = failed_exit
            .map(|t| {
                format!(
                    " (last exit {}{})",
                    t.exit_code,
                    t.reason
                        .as_deref()
                        .map(|r| format!(", {r}"))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default();
        return Some((
            2,
            reason::CRASH_LOOP_BACK_OFF,
            format!(
                "pod {pod}: {kind} {} is in CrashLoopBackOff{last}; see `kubectl logs {pod} -c {}`",
                c.name, c.name
            ),
        ));
    }
    None
}
