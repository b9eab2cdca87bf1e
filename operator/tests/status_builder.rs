//! `status::plugin_status`: what a user sees on `kubectl get fbp -o yaml` for each situation,
//! and no change (so no write) when nothing changed.

mod support;

use fbplugin_crds::FluentBitPluginStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use operator::render::render_daemonset;
use operator::rollout::{self, Assessment};
use operator::status::{ApplyState, Facts, plugin_status};
use support::{fixture, make};

fn at(s: &str) -> Time {
    Time(s.parse().expect("timestamp"))
}

fn table(s: &FluentBitPluginStatus) -> Vec<(String, String, String)> {
    s.conditions
        .iter()
        .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
        .collect()
}

fn rows(expected: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

fn ready_assessment() -> Assessment {
    let text = fixture("rollout/complete.yaml");
    let mut docs = serde_norway::Deserializer::from_str(&text);
    use serde::Deserialize;
    let ds =
        k8s_openapi::api::apps::v1::DaemonSet::deserialize(docs.next().expect("doc")).expect("ds");
    let pods: Vec<k8s_openapi::api::core::v1::Pod> = docs
        .map(|d| k8s_openapi::api::core::v1::Pod::deserialize(d).expect("pod"))
        .collect();
    let plugin = make("out-jsonl", "output", "jsonl_file", "{match: '*'}");
    rollout::assess(&ds, &pods, rollout::template_check(&ds, &plugin, "h1"))
}

#[test]
fn an_applied_and_rolled_out_plugin_is_ready_and_stable() {
    let plugin = make("out-jsonl", "output", "jsonl_file", "{match: '*'}");
    let result = render_daemonset("", &[&plugin]);
    let assessment = ready_assessment();
    let facts = Facts {
        generation: Some(4),
        outcome: &result.outcomes[0],
        apply: &ApplyState::Applied,
        hash: Some("h1"),
        rollout: Some(&assessment),
    };
    let first = plugin_status(None, facts, &at("2026-11-21T06:00:00Z"));
    assert_eq!(
        table(&first),
        rows(&[
            ("Accepted", "True", "Valid"),
            ("Applied", "True", "Applied"),
            ("Progressing", "False", "RolloutComplete"),
            ("Ready", "True", "RolloutComplete"),
            ("Degraded", "False", "AsExpected"),
        ])
    );
    assert_eq!(first.observed_generation, Some(4));
    assert_eq!(first.rendered_hash.as_deref(), Some("h1"));
    assert_eq!(first.progress.as_deref(), Some("3/3"));
    assert!(first.problems.is_empty());
    // A later reconcile with the same facts produces the same status: no write.
    let again = plugin_status(Some(&first), facts, &at("2026-11-21T07:00:00Z"));
    assert_eq!(again, first);
}

#[test]
fn an_invalid_plugin_lists_its_problems_and_is_not_applied() {
    let invalid = support::plugin(&fixture("invalid-fluentbitplugin.yaml"));
    let result = render_daemonset("", &[&invalid]);
    let assessment = ready_assessment();
    let status = plugin_status(
        None,
        Facts {
            generation: Some(1),
            outcome: &result.outcomes[0],
            apply: &ApplyState::Applied,
            hash: None,
            rollout: Some(&assessment),
        },
        &at("2026-11-21T06:00:00Z"),
    );
    assert_eq!(
        table(&status),
        rows(&[
            ("Accepted", "False", "Invalid"),
            ("Applied", "False", "NotAccepted"),
            // `kubectl get fbp` shows Ready False with the plugin's own reason, and no
            // rollout: the DaemonSet's 2/2 belongs to the other plugins.
            ("Progressing", "False", "Invalid"),
            ("Ready", "False", "Invalid"),
            ("Degraded", "False", "AsExpected"),
        ])
    );
    assert_eq!((status.progress.as_deref(), status.rollout), (None, None));
    assert_eq!(status.problems.len(), 6);
    assert_eq!(
        status.problems[3].field,
        "spec.instances[0].properties[0].name"
    );
    assert_eq!(status.problems[3].reason, "ReservedKey");
    assert_eq!(status.rendered_hash, None);
}

#[test]
fn a_missing_daemonset_is_a_condition() {
    let plugin = make("out-jsonl", "output", "jsonl_file", "{match: '*'}");
    let result = render_daemonset("", &[&plugin]);
    let status = plugin_status(
        None,
        Facts {
            generation: Some(1),
            outcome: &result.outcomes[0],
            apply: &ApplyState::DaemonSetNotFound,
            hash: None,
            rollout: None,
        },
        &at("2026-11-21T06:00:00Z"),
    );
    assert_eq!(
        table(&status),
        rows(&[
            ("Accepted", "True", "Valid"),
            ("Applied", "False", "DaemonSetNotFound"),
            ("Progressing", "False", "NotApplied"),
            ("Ready", "False", "NotApplied"),
            ("Degraded", "False", "NotApplied"),
        ])
    );
    let ready = status.condition("Ready").expect("Ready");
    assert!(
        ready
            .message
            .contains("spec.target.daemonSet does not exist"),
        "{}",
        ready.message
    );
}

#[test]
fn transition_times_follow_status_changes_only() {
    let plugin = make("out-jsonl", "output", "jsonl_file", "{match: '*'}");
    let result = render_daemonset("", &[&plugin]);
    let failed = ApplyState::ApplyFailed("Internal error".into());
    let facts = |apply| Facts {
        generation: Some(1),
        outcome: &result.outcomes[0],
        apply,
        hash: Some("h1"),
        rollout: None,
    };
    let t0 = at("2026-11-21T06:00:00Z");
    let t1 = at("2026-11-21T06:05:00Z");
    let first = plugin_status(None, facts(&failed), &t0);
    let second = plugin_status(Some(&first), facts(&ApplyState::Applied), &t1);
    let applied = second.condition("Applied").expect("Applied");
    assert_eq!(
        (applied.status.as_str(), &applied.last_transition_time),
        ("True", &t1)
    );
    let accepted = second.condition("Accepted").expect("Accepted");
    assert_eq!(accepted.last_transition_time, t0);
}
