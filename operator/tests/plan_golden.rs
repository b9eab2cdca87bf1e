//! `plan`: what the operator writes for one DaemonSet in every branch, as golden files
//! (`UPDATE_GOLDEN=1` rewrites them).

mod api_mock;
mod support;

use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ConfigMap;
use operator::plan::{self, ConfigMapStep, Observed, Plan, Target};
use support::{assert_golden, fixture, make};

/// The plan as a reviewer reads it: apply state, each plugin's outcome, then the writes.
fn summary(plugins: &[&FluentBitPlugin], plan: &Plan<'_>) -> String {
    let mut out = format!("apply: {:?}\nwrites: {}\n", plan.apply, plan.writes());
    for (p, o) in plugins.iter().zip(&plan.render.outcomes) {
        let name = p.metadata.name.as_deref().unwrap_or_default();
        out.push_str(&format!("plugin {name}: included={}\n", o.included));
        for problem in &o.problems {
            out.push_str(&format!("  {problem}\n"));
        }
    }
    let yaml = |v| serde_norway::to_string(v).expect("YAML");
    match &plan.configmap {
        ConfigMapStep::Leave => out.push_str("configmap: leave\n"),
        ConfigMapStep::Delete { uid } => out.push_str(&format!("configmap: delete {uid:?}\n")),
        ConfigMapStep::Apply(v) => out.push_str(&format!("configmap: apply\n{}", yaml(v))),
    }
    match plan.daemonset_write() {
        None => out.push_str("daemonset: none\n"),
        Some(v) => out.push_str(&format!("daemonset: apply\n{}", yaml(v))),
    }
    out
}

fn daemonset() -> DaemonSet {
    serde_norway::from_str(&fixture("daemonset.yaml")).expect("fixture DaemonSet")
}

fn own_configmap() -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": "fluent-bit-fbplugin", "namespace": "logging", "uid": "cm-uid",
            "labels": {
                "app.kubernetes.io/managed-by": "fbplugin-operator",
                "fbplugin.dev/daemonset": "fluent-bit",
            },
        },
    }))
    .expect("ConfigMap")
}

fn run(
    target: Target<'_>,
    base: Option<&str>,
    configmap: Option<&ConfigMap>,
    plugins: &[&FluentBitPlugin],
) -> String {
    let observed = Observed {
        namespace: "logging",
        name: "fluent-bit",
        daemonset: target,
        base_config: base,
        configmap,
        plugins,
        // The image allow-list is the gate's own table test (gate_table.rs).
        images: None,
        release_unusable: false,
        offline: false,
    };
    summary(plugins, &plan::plan(&observed))
}

#[test]
fn first_plugin_writes_the_configmap_and_the_daemonset() {
    let (ds, base) = (daemonset(), fixture("fluent-bit.conf"));
    let a = make("out-a", "output", "a", "{match: '*'}");
    assert_golden(
        "plan/first-plugin.txt",
        &run(Target::Present(&ds), Some(&base), None, &[&a]),
    );
}

#[test]
fn last_plugin_removed_leaves_the_empty_pipeline_mounted() {
    let (ds, base, cm) = (daemonset(), fixture("fluent-bit.conf"), own_configmap());
    let out = run(Target::Present(&ds), Some(&base), Some(&cm), &[]);
    assert!(out.contains("configmap: apply"), "{out}");
    assert!(!out.contains("initContainers"), "{out}");
    assert_golden("plan/last-plugin-removed.txt", &out);
}

#[test]
fn not_opted_in_releases_everything_and_deletes_the_configmap() {
    let (mut ds, cm) = (daemonset(), own_configmap());
    ds.metadata.labels = None;
    let out = run(Target::Present(&ds), None, Some(&cm), &[]);
    assert!(out.contains("configmap: delete Some(\"cm-uid\")"), "{out}");
    assert_golden("plan/not-opted-in.txt", &out);
}

#[test]
fn invalid_beside_valid_keeps_the_valid_one() {
    let (ds, base) = (daemonset(), fixture("fluent-bit.conf"));
    let good = make("out-a", "output", "a", "{match: '*'}");
    let bad = make(
        "out-b",
        "output",
        "b",
        "{match: '*', properties: [{name: match, value: x}]}",
    );
    let out = run(Target::Present(&ds), Some(&base), None, &[&good, &bad]);
    assert!(out.contains("plugin out-a: included=true"), "{out}");
    assert!(out.contains("plugin out-b: included=false"), "{out}");
    assert_golden("plan/invalid-beside-valid.txt", &out);
}

#[test]
fn retargeted_plugin_leaves_the_old_daemonset_with_the_others() {
    // The old DaemonSet's plan no longer lists the retargeted plugin.
    let (ds, base, cm) = (daemonset(), fixture("fluent-bit.conf"), own_configmap());
    let stays = make("in-a", "input", "a", "{tag: a}");
    assert_golden(
        "plan/retargeted.txt",
        &run(Target::Present(&ds), Some(&base), Some(&cm), &[&stays]),
    );
}

#[test]
fn base_config_changed() {
    let ds = daemonset();
    let a = make("out-a", "output", "a", "{match: '*'}");
    let base = fixture("fluent-bit.conf");
    // Included, not copied: the DaemonSet's own change rolls its pods by itself.
    let flush = base.replace("    Flush 1", "    Flush 5");
    assert_eq!(
        run(Target::Present(&ds), Some(&base), None, &[&a]),
        run(Target::Present(&ds), Some(&flush), None, &[&a]),
        "a base change that the pipeline does not depend on writes nothing new"
    );
    // Without the include, the plugin is left out (and the empty pipeline stays mounted).
    let dropped = base.replace("@INCLUDE", "# @INCLUDE");
    let after = run(Target::Present(&ds), Some(&dropped), None, &[&a]);
    assert!(out_of(&after, "out-a"), "{after}");
    assert_golden("plan/base-config-changed.txt", &after);
}

fn out_of(summary: &str, plugin: &str) -> bool {
    summary.contains(&format!("plugin {plugin}: included=false"))
}

#[test]
fn daemonset_gone_writes_nothing() {
    let a = make("out-a", "output", "a", "{match: '*'}");
    let out = run(Target::Absent, None, None, &[&a]);
    assert!(out.contains("writes: 0"), "{out}");
    assert_golden("plan/daemonset-gone.txt", &out);
}

/// The DaemonSet runs the current render on every scheduled pod, all ready: the ConfigMap
/// gains the last known good state (the hash and each plugin's spec), the only write; the
/// previous revision's files go, no pod reads them any more.
#[test]
fn rolled_out_records_the_last_known_good_state() {
    let (base, cm) = (fixture("fluent-bit.conf"), own_configmap());
    let a = make("out-a", "output", "a", "{match: '*'}");
    let first = {
        let ds = daemonset();
        let observed = Observed {
            namespace: "logging",
            name: "fluent-bit",
            daemonset: Target::Present(&ds),
            base_config: Some(&base),
            configmap: Some(&cm),
            plugins: &[&a],
            images: None,
            release_unusable: false,
            offline: false,
        };
        let plan = plan::plan(&observed);
        (
            plan.daemonset_write().cloned(),
            plan.hash().map(str::to_owned),
        )
    };
    let (Some(intent), Some(hash)) = first else {
        panic!("the first plan applies the DaemonSet");
    };
    // The live DaemonSet as the API server has it after that apply, rolled out on 2 nodes.
    let mut live = serde_json::to_value(daemonset()).expect("JSON");
    api_mock::merge(&mut live, &intent);
    live["metadata"]["generation"] = serde_json::json!(2);
    live["status"] = serde_json::json!({"observedGeneration": 2, "desiredNumberScheduled": 2,
        "currentNumberScheduled": 2, "updatedNumberScheduled": 2, "numberReady": 2,
        "numberAvailable": 2, "numberMisscheduled": 0});
    let live: DaemonSet = serde_json::from_value(live).expect("DaemonSet");
    let out = run(Target::Present(&live), Some(&base), Some(&cm), &[&a]);
    assert!(out.contains("last-known-good.json"), "{out}");
    assert!(out.contains(&hash), "{out}");
    assert!(out.contains("daemonset: none"), "{out}");
    assert_golden("plan/rolled-out.txt", &out);
}
