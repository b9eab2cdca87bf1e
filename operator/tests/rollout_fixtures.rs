//! `rollout`: conditions from recorded DaemonSet and pod statuses (`fixtures/rollout/`).

mod support;

use fbplugin_crds::ConditionUpdate;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Pod;
use operator::rollout::{self, Assessment, TemplateCheck};
use serde::Deserialize;
use support::{fixture, make};

fn load(name: &str) -> (DaemonSet, Vec<Pod>) {
    let text = fixture(&format!("rollout/{name}"));
    let mut docs = serde_norway::Deserializer::from_str(&text);
    let ds = DaemonSet::deserialize(docs.next().expect("a DaemonSet document")).expect("DaemonSet");
    let pods = docs.map(|d| Pod::deserialize(d).expect("Pod")).collect();
    (ds, pods)
}

fn assess(name: &str) -> Assessment {
    let (ds, pods) = load(name);
    let plugin = make("out-jsonl", "output", "jsonl_file", "{match: '*'}");
    let template = rollout::template_check(&ds, &plugin, "h1");
    assert!(
        template.applied(),
        "{name}: the fixture's template carries the plugin"
    );
    rollout::assess(&ds, &pods, template)
}

fn summary(c: &ConditionUpdate) -> (&str, bool, &str) {
    (c.type_, c.status, c.reason)
}

#[test]
fn a_finished_rollout_is_ready() {
    let a = assess("complete.yaml");
    let got: Vec<_> = a.conditions.iter().map(summary).collect();
    assert_eq!(
        got,
        [
            ("Progressing", false, "RolloutComplete"),
            ("Ready", true, "RolloutComplete"),
            ("Degraded", false, "AsExpected"),
        ]
    );
    assert_eq!(a.conditions[1].message, "3/3 pods updated and ready");
    assert_eq!(a.counts.progress(), "3/3");
}

#[test]
fn a_rolling_update_is_progressing() {
    let a = assess("in-progress.yaml");
    let got: Vec<_> = a.conditions.iter().map(summary).collect();
    assert_eq!(
        got,
        [
            ("Progressing", true, "RolloutInProgress"),
            ("Ready", false, "RolloutInProgress"),
            ("Degraded", false, "AsExpected"),
        ]
    );
    assert_eq!(a.conditions[0].message, "1/3 pods updated, 2 ready");
    assert_eq!(a.counts.progress(), "1/3");
}

#[test]
fn counts_of_an_old_generation_are_not_trusted() {
    let a = assess("stale-generation.yaml");
    assert_eq!(
        summary(&a.conditions[0]),
        ("Progressing", true, "RolloutInProgress")
    );
    assert_eq!(
        summary(&a.conditions[1]),
        ("Ready", false, "RolloutInProgress")
    );
    assert!(
        a.conditions[0]
            .message
            .contains("waiting for the DaemonSet controller")
    );
    // The recorded status says 3 of 3 updated, but for the previous template: the printer
    // column must not claim the new one is out.
    assert_eq!(a.counts.updated, 0);
    assert_eq!(a.counts.progress(), "0/3");
}

#[test]
fn a_sha256_mismatch_degrades_naming_pod_and_digests() {
    let a = assess("sha-mismatch.yaml");
    assert_eq!(
        summary(&a.conditions[2]),
        ("Degraded", true, "InitContainerFailed")
    );
    let message = &a.conditions[2].message;
    assert!(message.starts_with("pod fluent-bit-x7k2p: init container fbplugin-out-jsonl exited with 1: fbplugin: sha256 mismatch"), "{message}");
    // The copy program's words, as the kubelet recorded them (FallbackToLogsOnError).
    assert!(
        message.contains(&format!(
            "expected {} (spec.artifact.sha256), actual {}",
            "2".repeat(64),
            "1".repeat(64)
        )),
        "{message}"
    );
    assert!(!message.ends_with('\n'));
    assert_eq!(
        summary(&a.conditions[1]),
        ("Ready", false, "RolloutInProgress")
    );
}

#[test]
fn an_image_that_cannot_be_pulled_degrades() {
    let a = assess("image-pull.yaml");
    assert_eq!(
        summary(&a.conditions[2]),
        ("Degraded", true, "ImagePullFailed")
    );
    assert!(
        a.conditions[2]
            .message
            .contains("pod fluent-bit-p9: init container fbplugin-out-jsonl cannot pull image")
    );
    assert!(a.conditions[2].message.contains("manifest unknown"));
}

#[test]
fn a_crash_loop_degrades_and_counts_pods() {
    let a = assess("crash-loop.yaml");
    assert_eq!(
        summary(&a.conditions[2]),
        ("Degraded", true, "CrashLoopBackOff")
    );
    assert_eq!(
        a.conditions[2].message,
        "pod fluent-bit-b2: container fluent-bit is in CrashLoopBackOff (last exit 139, Error); \
         see `kubectl logs fluent-bit-b2 -c fluent-bit` (2 pods affected)"
    );
    assert_eq!(summary(&a.conditions[1]), ("Ready", false, "PodsNotReady"));
}

#[test]
fn a_template_without_the_plugin_is_not_applied() {
    let (ds, pods) = load("complete.yaml");
    let other = make("in-gen", "input", "gen", "{tag: x}");
    let check = rollout::template_check(&ds, &other, "h1");
    assert_eq!(
        check,
        TemplateCheck {
            hash_current: true,
            init_container_present: false
        }
    );
    let a = rollout::assess(&ds, &pods, check);
    assert_eq!(summary(&a.conditions[1]), ("Ready", false, "NotApplied"));
    let plugin = make("out-jsonl", "output", "jsonl_file", "{match: '*'}");
    let stale = rollout::template_check(&ds, &plugin, "h2");
    assert_eq!(
        stale,
        TemplateCheck {
            hash_current: false,
            init_container_present: true
        }
    );
    let a = rollout::assess(&ds, &pods, stale);
    assert_eq!(
        summary(&a.conditions[0]),
        ("Progressing", false, "NotApplied")
    );
    assert!(a.conditions[0].message.contains("another config hash"));
}

#[test]
fn a_daemonset_on_no_node_is_ready_but_says_so() {
    let (mut ds, _) = load("complete.yaml");
    if let Some(status) = ds.status.as_mut() {
        status.desired_number_scheduled = 0;
        status.updated_number_scheduled = Some(0);
        status.number_ready = 0;
    }
    let plugin = make("out-jsonl", "output", "jsonl_file", "{match: '*'}");
    let a = rollout::assess(&ds, &[], rollout::template_check(&ds, &plugin, "h1"));
    assert_eq!(
        summary(&a.conditions[1]),
        ("Ready", true, "RolloutComplete")
    );
    assert!(
        a.conditions[1].message.starts_with("no node is scheduled"),
        "{}",
        a.conditions[1].message
    );
}
