//! Which Events a status change deserves. Pure: previous status + new status → notes.
//!
//! Events mark transitions only, so a steady state publishes nothing:
//!
//! | type | reason | when |
//! |---|---|---|
//! | Warning | `Rejected` | Accepted turns False, or its problems change; the note names each field |
//! | Warning | `DaemonSetNotFound`, `ContainerNotFound`, `BaseConfigInvalid`, `ApplyFailed` | Applied turns False with that reason |
//! | Normal | `Applied` | a new rendered hash is in the DaemonSet template |
//! | Normal | `Ready` | Ready turns True |
//! | Warning | `CrashLoopBackOff`, `ImagePullFailed`, `InitContainerFailed` | Degraded turns True or changes reason |
//! | Warning | `RolledBack` | RolledBack turns True: the operator went back to the last known good state (the note names the pod, node, container, reason and the plugins rolled back together) |
//!
//! kube's event recorder folds an Event into the series of an earlier one with the same reason
//! and action, keeping the earlier note. So the action names what the note is about (`Apply
//! config <hash>`, `Validate generation <n>`): a new config or a new set of problems is a new
//! Event, while the same one repeated stays one Event with a count.

use fbplugin_crds::FluentBitPluginStatus;
use fbplugin_crds::status::{condition, reason};

/// An Event to publish about one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Warning or Normal.
    pub warning: bool,
    /// CamelCase reason.
    pub reason: String,
    /// What happened, for `kubectl describe` (at most 1 KiB).
    pub note: String,
    /// What the operator was doing: the Event's `action`, also what keeps Events with different
    /// notes apart.
    pub action: String,
}

/// The Events of going from `previous` to `new`.
pub fn transitions(
    previous: Option<&FluentBitPluginStatus>,
    new: &FluentBitPluginStatus,
) -> Vec<Note> {
    let cond = |s: Option<&FluentBitPluginStatus>, t: &str| {
        s.and_then(|s| s.condition(t))
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let mut notes = Vec::new();

    let accepted = cond(Some(new), condition::ACCEPTED);
    let was_accepted = cond(previous, condition::ACCEPTED);
    if let Some((status, _, message)) = &accepted
        && status == "False"
    {
        let problems_changed = previous.is_none_or(|p| p.problems != new.problems);
        if was_accepted.as_ref().is_none_or(|(s, _, _)| s != "False") || problems_changed {
            let mut note = new
                .problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect::<Vec<_>>()
                .join("; ");
            if note.is_empty() {
                note = message.clone();
            }
            let generation = new.observed_generation.unwrap_or_default();
            let mut rejected = warning("Rejected", note);
            rejected.action = format!("Validate generation {generation}");
            notes.push(rejected);
        }
    }

    if let Some((status, why, message)) = cond(Some(new), condition::APPLIED) {
        let before = cond(previous, condition::APPLIED);
        if status == "False"
            && why != reason::NOT_ACCEPTED
            // Held back after a rollback: the RolledBack condition's own Event says why.
            && why != reason::ROLLED_BACK
            && before.is_none_or(|(s, r, _)| s != "False" || r != why)
        {
            notes.push(warning(&why, message));
        }
    }
    if new
        .condition(condition::APPLIED)
        .is_some_and(|c| c.status == "True")
        && let Some(hash) = &new.rendered_hash
        && previous.and_then(|p| p.rendered_hash.as_ref()) != Some(hash)
    {
        let short = hash.get(..12).unwrap_or(hash);
        notes.push(Note {
            warning: false,
            reason: "Applied".into(),
            note: format!("the DaemonSet's pod template now carries config hash {short}"),
            action: format!("Apply config {short}"),
        });
    }

    if let Some((status, _, message)) = cond(Some(new), condition::READY)
        && status == "True"
        && cond(previous, condition::READY).is_none_or(|(s, _, _)| s != "True")
    {
        notes.push(Note {
            warning: false,
            reason: "Ready".into(),
            note: message,
            action: RECONCILE.into(),
        });
    }

    if let Some((status, _, message)) = cond(Some(new), condition::ROLLED_BACK)
        && status == "True"
        && cond(previous, condition::ROLLED_BACK)
            .is_none_or(|(s, _, m)| s != "True" || m != message)
    {
        notes.push(Note {
            warning: true,
            reason: "RolledBack".into(),
            action: "Roll back".into(),
            ..warning("RolledBack", message)
        });
    }

    if let Some((status, why, message)) = cond(Some(new), condition::DEGRADED)
        && status == "True"
        && cond(previous, condition::DEGRADED).is_none_or(|(s, r, _)| s != "True" || r != why)
    {
        notes.push(warning(&why, message));
    }
    notes
}

fn warning(reason: &str, mut note: String) -> Note {
    if note.len() > 1024 {
        let mut end = 1021;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push_str("...");
    }
    Note {
        warning: true,
        reason: reason.into(),
        note,
        action: RECONCILE.into(),
    }
}

/// The action of Events whose reason says it all.
const RECONCILE: &str = "Reconcile";

#[cfg(test)]
mod tests {
    use super::*;
    use fbplugin_crds::{ConditionUpdate, StatusProblem};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn status(
        conds: &[(&'static str, bool, &'static str)],
        hash: Option<&str>,
    ) -> FluentBitPluginStatus {
        let mut s = FluentBitPluginStatus::default();
        let now = Time(Timestamp::UNIX_EPOCH);
        for (t, st, r) in conds {
            s.set_condition(
                ConditionUpdate {
                    type_: t,
                    status: *st,
                    reason: r,
                    message: format!("{t} {r}"),
                },
                Some(1),
                &now,
            );
        }
        s.rendered_hash = hash.map(str::to_string);
        s
    }

    fn reasons(notes: &[Note]) -> Vec<&str> {
        notes.iter().map(|n| n.reason.as_str()).collect()
    }

    #[test]
    fn steady_state_publishes_nothing() {
        let s = status(
            &[
                (condition::ACCEPTED, true, reason::VALID),
                (condition::APPLIED, true, reason::APPLIED),
                (condition::READY, true, reason::ROLLOUT_COMPLETE),
                (condition::DEGRADED, false, reason::AS_EXPECTED),
            ],
            Some("abc"),
        );
        assert!(transitions(Some(&s), &s).is_empty());
    }

    #[test]
    fn first_apply_then_ready() {
        let applied = status(
            &[
                (condition::ACCEPTED, true, reason::VALID),
                (condition::APPLIED, true, reason::APPLIED),
                (condition::READY, false, reason::ROLLOUT_IN_PROGRESS),
            ],
            Some("0123456789abcdef"),
        );
        let n = transitions(None, &applied);
        assert_eq!(reasons(&n), ["Applied"]);
        assert!(n[0].note.contains("0123456789ab") && !n[0].note.contains("cdef"));
        assert_eq!(n[0].action, "Apply config 0123456789ab");
        // An edit renders a new hash: a new Event (another action), not a repeat of the old.
        let mut edited = applied.clone();
        edited.rendered_hash = Some("fedcba9876543210".into());
        let n2 = transitions(Some(&applied), &edited);
        assert_eq!(reasons(&n2), ["Applied"]);
        assert_eq!(n2[0].action, "Apply config fedcba987654");
        assert!(n2[0].note.contains("fedcba987654"), "{}", n2[0].note);
        let ready = status(
            &[
                (condition::ACCEPTED, true, reason::VALID),
                (condition::APPLIED, true, reason::APPLIED),
                (condition::READY, true, reason::ROLLOUT_COMPLETE),
            ],
            Some("0123456789abcdef"),
        );
        assert_eq!(reasons(&transitions(Some(&applied), &ready)), ["Ready"]);
    }

    #[test]
    fn rejection_names_the_field_and_repeats_only_when_problems_change() {
        let mut bad = status(
            &[
                (condition::ACCEPTED, false, reason::INVALID),
                (condition::APPLIED, false, reason::NOT_ACCEPTED),
            ],
            None,
        );
        bad.problems = vec![StatusProblem {
            field: "spec.instances[0].properties[0].name".into(),
            reason: "ReservedKey".into(),
            message: "use spec.instances[0].match".into(),
        }];
        let n = transitions(None, &bad);
        assert_eq!(reasons(&n), ["Rejected"]);
        assert!(
            n[0].warning
                && n[0]
                    .note
                    .starts_with("spec.instances[0].properties[0].name: use")
        );
        assert!(transitions(Some(&bad), &bad).is_empty());
        let mut other = bad.clone();
        other.problems[0].field = "spec.artifact.image".into();
        assert_eq!(reasons(&transitions(Some(&bad), &other)), ["Rejected"]);
    }

    #[test]
    fn daemonset_missing_and_degraded_are_warnings_once() {
        let missing = status(
            &[
                (condition::ACCEPTED, true, reason::VALID),
                (condition::APPLIED, false, reason::DAEMON_SET_NOT_FOUND),
            ],
            None,
        );
        assert_eq!(reasons(&transitions(None, &missing)), ["DaemonSetNotFound"]);
        assert!(transitions(Some(&missing), &missing).is_empty());
        let crash = status(
            &[(condition::DEGRADED, true, reason::CRASH_LOOP_BACK_OFF)],
            None,
        );
        assert_eq!(reasons(&transitions(None, &crash)), ["CrashLoopBackOff"]);
        let pull = status(
            &[(condition::DEGRADED, true, reason::IMAGE_PULL_FAILED)],
            None,
        );
        assert_eq!(
            reasons(&transitions(Some(&crash), &pull)),
            ["ImagePullFailed"]
        );
    }
}
