//! Whether a live object already carries an apply intent: the no-write rule. Pure.
//!
//! The controller reads the DaemonSet and the rendered ConfigMap on every reconcile anyway, so it
//! compares them with the intents before writing, instead of applying blindly:
//! - every field of the intent must be in the live object with the same value ([`contains`]:
//!   list items are matched by `mountPath`, else `name`, like server-side apply merges them);
//! - nothing the operator adds may be left over: the live template's `fbplugin-*` init
//!   containers, its `fbplugin-config` / `fbplugin-plugins` volumes and their mounts, and the
//!   hash annotation are exactly those of the intent ([`daemonset_current`]).
//!
//! A write happens only when one of these fails, so a steady state costs reads only. Values
//! the API server rewrites (it does not for the fields in our intents) would show up as a
//! write on every reconcile; the e2e suite checks that against a real server.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::layout::{CONFIG_VOLUME, HASH_ANNOTATION, INIT_PREFIX, PLUGINS_VOLUME};

/// True when every field of `intent` is in `live` with an equal value. Objects may have more
/// keys in `live`; keyed lists may have more items; other lists must match item by item.
pub fn contains(live: &Value, intent: &Value) -> bool {
    match (live, intent) {
        (Value::Object(live), Value::Object(intent)) => intent
            .iter()
            .all(|(k, v)| live.get(k).is_some_and(|l| contains(l, v))),
        (Value::Array(live), Value::Array(intent)) => {
            if intent.iter().all(|i| list_key(i).is_some()) {
                intent.iter().all(|item| {
                    live.iter()
                        .find(|l| list_key(l) == list_key(item))
                        .is_some_and(|l| contains(l, item))
                })
            } else {
                live.len() == intent.len() && live.iter().zip(intent).all(|(l, i)| contains(l, i))
            }
        }
        _ => live == intent,
    }
}

fn list_key(item: &Value) -> Option<(&'static str, &str)> {
    ["mountPath", "name"]
        .into_iter()
        .find_map(|k| Some((k, item.get(k)?.as_str()?)))
}

/// What the operator adds to a DaemonSet template, as comparable strings.
pub fn operator_marks(daemonset: &Value) -> BTreeSet<String> {
    let mut marks = BTreeSet::new();
    let template = &daemonset["spec"]["template"];
    if let Some(hash) = template["metadata"]["annotations"][HASH_ANNOTATION].as_str() {
        marks.insert(format!("annotation={hash}"));
    }
    let pod = &template["spec"];
    let names = |list: &Value| -> Vec<String> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["name"].as_str().map(str::to_string))
            .collect()
    };
    for name in names(&pod["initContainers"]) {
        if name.starts_with(INIT_PREFIX) {
            marks.insert(format!("initContainer={name}"));
        }
    }
    let ours = |name: &str| name == CONFIG_VOLUME || name == PLUGINS_VOLUME;
    for name in names(&pod["volumes"]) {
        if ours(&name) {
            marks.insert(format!("volume={name}"));
        }
    }
    for container in pod["containers"].as_array().into_iter().flatten() {
        let cname = container["name"].as_str().unwrap_or_default();
        for mount in container["volumeMounts"].as_array().into_iter().flatten() {
            if mount["name"].as_str().is_some_and(ours) {
                let path = mount["mountPath"].as_str().unwrap_or_default();
                marks.insert(format!("mount={cname}:{path}"));
            }
        }
    }
    marks
}

/// True when the live DaemonSet already is what applying `intent` (a
/// [`crate::workload::daemonset_intent`] or the empty intent) would make it, so the apply
/// can be skipped.
pub fn daemonset_current(live: &Value, intent: &Value) -> bool {
    let intent_spec = intent.get("spec").cloned().unwrap_or(Value::Null);
    let spec_ok = intent_spec.is_null() || contains(&live["spec"], &intent_spec);
    spec_ok && operator_marks(live) == operator_marks(intent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live(init: &[&str], hash: Option<&str>, mounts: bool) -> Value {
        let mut inits: Vec<Value> = vec![json!({"name": "helm-init", "image": "busybox"})];
        inits.extend(init.iter().map(
            |n| json!({"name": n, "image": "img@sha256:1", "terminationMessagePath": "/dev/x"}),
        ));
        let mut volume_mounts =
            vec![json!({"name": "config", "mountPath": "/fluent-bit/etc/conf"})];
        let mut volumes = vec![json!({"name": "config", "configMap": {"name": "fluent-bit"}})];
        if mounts {
            volume_mounts.push(json!({"name": CONFIG_VOLUME, "mountPath": "/fluent-bit/etc/fbplugin", "readOnly": true}));
            volumes.push(json!({"name": CONFIG_VOLUME, "configMap": {"name": "fb-fbplugin", "defaultMode": 420}}));
        }
        let mut annotations = json!({"kubectl.kubernetes.io/restartedAt": "x"});
        if let Some(h) = hash {
            annotations[HASH_ANNOTATION] = json!(h);
        }
        json!({"spec": {"selector": {}, "template": {
            "metadata": {"annotations": annotations},
            "spec": {"initContainers": inits, "volumes": volumes,
                     "containers": [{"name": "fluent-bit", "image": "fb", "volumeMounts": volume_mounts}]}}}})
    }

    fn intent(init: &[&str], hash: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "fb"},
            "spec": {"template": {"metadata": {"annotations": {HASH_ANNOTATION: hash}},
            "spec": {
                "initContainers": init.iter().map(|n| json!({"name": n, "image": "img@sha256:1"})).collect::<Vec<_>>(),
                "containers": [{"name": "fluent-bit", "volumeMounts": [
                    {"name": CONFIG_VOLUME, "mountPath": "/fluent-bit/etc/fbplugin", "readOnly": true}]}],
                "volumes": [{"name": CONFIG_VOLUME, "configMap": {"name": "fb-fbplugin"}}]}}}})
    }

    #[test]
    fn applied_intent_is_current_despite_server_defaults_and_foreign_fields() {
        assert!(daemonset_current(
            &live(&["fbplugin-a"], Some("h1"), true),
            &intent(&["fbplugin-a"], "h1")
        ));
    }

    #[test]
    fn new_hash_missing_or_leftover_plugin_needs_a_write() {
        let l = live(&["fbplugin-a"], Some("h1"), true);
        assert!(!daemonset_current(&l, &intent(&["fbplugin-a"], "h2")));
        assert!(!daemonset_current(
            &l,
            &intent(&["fbplugin-a", "fbplugin-b"], "h1")
        ));
        let two = live(&["fbplugin-a", "fbplugin-b"], Some("h1"), true);
        assert!(!daemonset_current(&two, &intent(&["fbplugin-a"], "h1")));
    }

    #[test]
    fn changed_init_container_field_needs_a_write() {
        let mut i = intent(&["fbplugin-a"], "h1");
        i["spec"]["template"]["spec"]["initContainers"][0]["image"] = json!("img@sha256:2");
        assert!(!daemonset_current(
            &live(&["fbplugin-a"], Some("h1"), true),
            &i
        ));
    }

    #[test]
    fn empty_intent_is_current_only_without_operator_fields() {
        let empty =
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "fb"}});
        assert!(daemonset_current(&live(&[], None, false), &empty));
        assert!(!daemonset_current(&live(&[], Some("h1"), false), &empty));
        assert!(!daemonset_current(&live(&[], None, true), &empty));
        assert!(!daemonset_current(
            &live(&["fbplugin-a"], None, false),
            &empty
        ));
    }

    #[test]
    fn unkeyed_lists_compare_whole() {
        assert!(contains(
            &json!({"c": ["sh", "-c"]}),
            &json!({"c": ["sh", "-c"]})
        ));
        assert!(!contains(
            &json!({"c": ["sh", "-c", "x"]}),
            &json!({"c": ["sh", "-c"]})
        ));
        assert!(!contains(
            &json!({"data": {"a": "1"}}),
            &json!({"data": {"a": "2"}})
        ));
    }
}
