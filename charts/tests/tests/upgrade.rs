//! What a `helm upgrade` changes, and what the objects are called: a chart upgrade with no
//! other change leaves both pod templates unchanged (so no operator or Fluent Bit pod
//! restarts), and the names follow Helm's nameOverride / fullnameOverride convention.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chart_tests::manifest::Object;
use chart_tests::{chart_dir, helm, template, template_chart};
use serde_json::Value;

const NS: &str = "logging";

fn helm_bin() -> PathBuf {
    static HELM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match HELM.get_or_init(|| helm::helm().map_err(|e| e.to_string())) {
        Ok(path) => path.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// A copy of the chart in a fresh directory with `edit` applied to its Chart.yaml, removed
/// again on drop.
struct ChartCopy(PathBuf);

impl ChartCopy {
    fn new(tag: &str, edit: impl Fn(&str) -> String) -> ChartCopy {
        let dir = std::env::temp_dir().join(format!("fbplugin-chart-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&chart_dir(), &dir);
        let chart_yaml = dir.join("Chart.yaml");
        let text = std::fs::read_to_string(&chart_yaml).expect("Chart.yaml");
        let edited = edit(&text);
        assert_ne!(edited, text, "the edit changed Chart.yaml");
        std::fs::write(&chart_yaml, edited).expect("write Chart.yaml");
        ChartCopy(dir)
    }
}

impl Drop for ChartCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("{}: {e}", target.display()));
        }
    }
}

fn replace_line(text: &str, prefix: &str, line: &str) -> String {
    text.lines()
        .map(|l| if l.starts_with(prefix) { line } else { l })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `Kind/name` -> (the object's own labels, its pod template) of the Deployment and the
/// DaemonSet.
fn workloads(objects: &[Object]) -> BTreeMap<String, (BTreeMap<String, String>, Value)> {
    let mut out = BTreeMap::new();
    for o in objects {
        let (meta, template) = match o {
            Object::Deployment(d) => (&d.metadata, d.spec.as_ref().map(|s| &s.template)),
            Object::DaemonSet(d) => (&d.metadata, d.spec.as_ref().map(|s| &s.template)),
            _ => continue,
        };
        out.insert(
            o.key(),
            (
                meta.labels.clone().unwrap_or_default(),
                serde_json::to_value(template).expect("serializes"),
            ),
        );
    }
    out
}

fn render_copy(chart: &ChartCopy, sets: &[&str]) -> Vec<Object> {
    template_chart(&helm_bin(), &chart.0, "fbplugin", NS, None, sets)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_chart_upgrade_with_no_other_change_leaves_the_pod_templates_unchanged() {
    let version = ChartCopy::new("version", |t| replace_line(t, "version:", "version: 9.9.9"));
    // A new appVersion with the operator image pinned: only the labels could change.
    let app = ChartCopy::new("app-version", |t| {
        replace_line(t, "appVersion:", "appVersion: \"9.9.9\"")
    });
    for sets in [
        &[][..],
        &["fluentBit.podLabels.tier=collector", "podLabels.team=logs"][..],
        &["fluentBit.rbac.create=true", "leaderElection.enabled=true"][..],
        &["fluentBit.configFileFormat=yaml"][..],
    ] {
        let pinned: Vec<&str> = sets.iter().copied().chain(["image.tag=0.1.0"]).collect();
        let before = workloads(
            &template(&helm_bin(), "fbplugin", NS, &pinned).unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(before.len(), 2, "a Deployment and a DaemonSet: {before:?}");
        for (what, copy, label, value) in [
            (
                "version",
                &version,
                "helm.sh/chart",
                "fbplugin-operator-9.9.9",
            ),
            ("appVersion", &app, "app.kubernetes.io/version", "9.9.9"),
        ] {
            let after = workloads(&render_copy(copy, &pinned));
            for (key, (labels, template)) in &before {
                let (new_labels, new_template) = &after[key];
                // The upgrade is visible on the object itself ...
                assert_eq!(
                    new_labels.get(label).map(String::as_str),
                    Some(value),
                    "{key}: the new chart {what} is on the object"
                );
                assert_ne!(labels, new_labels, "{key}");
                // ... and leaves the pods alone.
                assert_eq!(
                    template, new_template,
                    "{key}: a chart {what} bump with {sets:?} changed the pod template, which \
                     restarts every pod"
                );
            }
        }
    }
    // Without the pin, a new appVersion is a new operator image: that does roll the operator.
    let after = workloads(&render_copy(&app, &[]));
    let before = workloads(&template(&helm_bin(), "fbplugin", NS, &[]).expect("renders"));
    let key = "Deployment/logging/fbplugin-fbplugin-operator";
    assert_ne!(before[key].1, after[key].1, "the image follows appVersion");
}

#[test]
fn pod_templates_carry_only_selector_and_stable_labels() {
    let objects = template(&helm_bin(), "fbplugin", NS, &[]).expect("renders");
    for (key, (_, template)) in workloads(&objects) {
        let labels = template["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let names: Vec<&str> = labels.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "app.kubernetes.io/instance",
                "app.kubernetes.io/managed-by",
                "app.kubernetes.io/name",
                "app.kubernetes.io/part-of",
            ],
            "{key}"
        );
    }
}

fn names(objects: &[Object], kind: &str) -> Vec<String> {
    objects
        .iter()
        .map(Object::key)
        .filter(|k| k.starts_with(&format!("{kind}/")))
        .collect()
}

#[test]
fn names_follow_the_helm_convention_with_name_and_fullname_overrides() {
    let helm = helm_bin();
    for (release, sets, fullname) in [
        ("fbplugin", &[][..], "fbplugin-fbplugin-operator"),
        (
            "fbplugin",
            &["nameOverride=operator"][..],
            "fbplugin-operator",
        ),
        ("fbplugin", &["fullnameOverride=fbplugin"][..], "fbplugin"),
        (
            "fbplugin",
            &["nameOverride=operator", "fullnameOverride=logs-operator"][..],
            "logs-operator",
        ),
        // The release name already contains the chart's name: it is the full name.
        ("fbplugin-operator", &[][..], "fbplugin-operator"),
        ("prod-fbplugin-operator", &[][..], "prod-fbplugin-operator"),
    ] {
        let objects = template(&helm, release, NS, sets).unwrap_or_else(|e| panic!("{e}"));
        let expect = |kind: &str, suffix: &str| vec![format!("{kind}/{NS}/{fullname}{suffix}")];
        assert_eq!(
            names(&objects, "Deployment"),
            expect("Deployment", ""),
            "{release} {sets:?}"
        );
        assert_eq!(
            names(&objects, "Role"),
            expect("Role", ""),
            "{release} {sets:?}"
        );
        assert!(
            names(&objects, "Service").contains(&format!("Service/{NS}/{fullname}-metrics")),
            "{release} {sets:?}"
        );
        assert!(
            names(&objects, "ClusterRole")
                .contains(&format!("ClusterRole//{fullname}-plugin-author")),
            "{release} {sets:?}"
        );
        let binding = objects
            .iter()
            .find_map(|o| match o {
                Object::RoleBinding(b) => Some(b),
                _ => None,
            })
            .expect("RoleBinding");
        assert_eq!(
            binding.subjects.clone().unwrap_or_default()[0].name,
            fullname,
            "the operator's ServiceAccount"
        );
        // The Fluent Bit objects keep fluentBit.name, where FluentBitPlugins point.
        assert!(names(&objects, "DaemonSet").contains(&format!("DaemonSet/{NS}/fluent-bit")));
    }
}
