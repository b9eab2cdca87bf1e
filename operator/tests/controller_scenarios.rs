//! The controllers against a scripted API server: each test lists the exact requests one
//! reconcile must send (method, path, field manager, the body fields that matter) and what a
//! user then sees (status, Events, retries). Most are reconciles of the DaemonSet
//! (`reconcile_daemonset`, which writes every plugin's status); the plugin's own reconcile
//! keeps the finalizer, `DaemonSetNotFound` and the release on deletion.

mod api_mock;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use api_mock::{
    Cluster, DAEMONSET, DAEMONSETS, EVENTS, PLUGINS, PODS, Seen, Step, configmap, mock, plugin_path,
};
use fbplugin_crds::FluentBitPlugin;
use http::Method;
use k8s_openapi::api::apps::v1::DaemonSet;
use kube::runtime::controller::Action;
use kube::runtime::watcher;
use operator::controller::{self, Context, Error, FINALIZER, RESYNC, ROLLING_RECHECK};
use operator::gate::ImagePolicy;
use operator::metrics::Metrics;
use serde_json::{Value, json};

const RENDERED: &str = "fluent-bit-fbplugin";

/// How long one reconcile against the mock may take: milliseconds here, but generous for a
/// loaded CI machine (a stuck reconcile still fails, saying what it was waiting for).
const RECONCILE_LIMIT: Duration = Duration::from_secs(60);

/// A valid output plugin (its own plugin name, so plugins never conflict) on `fluent-bit`.
struct PluginBuilder(Value);

fn plugin(name: &str) -> PluginBuilder {
    let p = support::make(name, "output", &name.replace('-', "_"), "{match: '*'}");
    let mut v = serde_json::to_value(p).expect("plugin JSON");
    v["metadata"]["uid"] = json!(format!("uid-{name}"));
    v["metadata"]["generation"] = json!(1);
    v["metadata"]["resourceVersion"] = json!("1");
    PluginBuilder(v)
}

impl PluginBuilder {
    fn finalized(mut self) -> Self {
        self.0["metadata"]["finalizers"] = json!([FINALIZER]);
        self
    }
    fn deleting(mut self) -> Self {
        self.0["metadata"]["deletionTimestamp"] = json!("2026-11-21T07:00:00Z");
        self
    }
    /// A reserved key in the free-form properties.
    fn invalid(mut self) -> Self {
        self.0["spec"]["instances"][0]["properties"] = json!([{"name": "Match", "value": "x"}]);
        self
    }
    fn into(self, cluster: &mut Cluster) {
        let name = self.0["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_string();
        cluster.put(plugin_path(&name), self.0);
    }
}

/// The Helm-chart-shaped DaemonSet (fully rolled out on 2 nodes) and its base config.
fn cluster() -> Cluster {
    let mut ds: Value = serde_norway::from_str(&support::fixture("daemonset.yaml")).expect("ds");
    ds["status"] = rolled_out(1);
    let base = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "fluent-bit", "namespace": "logging"},
        "data": {"fluent-bit.conf": support::fixture("fluent-bit.conf")}});
    let mut c = Cluster::default();
    c.put(DAEMONSET, ds).put(configmap("fluent-bit"), base);
    c
}

fn rolled_out(generation: i64) -> Value {
    json!({"observedGeneration": generation, "desiredNumberScheduled": 2, "currentNumberScheduled": 2,
           "updatedNumberScheduled": 2, "numberReady": 2, "numberAvailable": 2, "numberMisscheduled": 0})
}

/// The DaemonSet controller finished rolling the current template.
fn finish_rollout(cluster: &mut Cluster) {
    let ds = cluster.objects.get_mut(DAEMONSET).expect("ds");
    let generation = ds["metadata"]["generation"].as_i64().unwrap_or(1);
    ds["status"] = rolled_out(generation);
}

fn object(cluster: &Cluster, name: &str) -> FluentBitPlugin {
    serde_json::from_value(cluster.objects[&plugin_path(name)].clone()).expect("plugin decodes")
}

/// Reads every reconcile of `fluent-bit` starts with: the DaemonSet, its own config (unless it
/// cannot have one), the operator's ConfigMap.
fn reads(with_base: bool) -> Vec<Step> {
    let mut steps = vec![Step::get(DAEMONSET)];
    if with_base {
        steps.push(Step::get(configmap("fluent-bit")));
    }
    steps.push(Step::get(configmap(RENDERED)));
    steps
}

/// A file of the ConfigMap intent's revision (its hash annotation): `plugins.conf` is the key
/// `plugins-<hash>.conf`. Empty when the revision has no such file.
fn file<'a>(cm: &'a Value, name: &str) -> &'a str {
    let hash = cm["metadata"]["annotations"]["fbplugin.dev/config-hash"]
        .as_str()
        .unwrap_or_default();
    let (stem, ext) = name
        .rsplit_once('.')
        .expect("a file name with an extension");
    let key = format!("{stem}-{}.{ext}", &hash[..hash.len().min(16)]);
    cm["data"][key.as_str()].as_str().unwrap_or_default()
}

fn list_pods() -> Step {
    Step::get(PODS).query("labelSelector=")
}

/// The look for DaemonSets still carrying a deleted plugin.
fn list_daemonsets() -> Step {
    Step::get(DAEMONSETS)
}

fn status_of(name: &str) -> Step {
    Step::apply(format!("{}/status", plugin_path(name)))
}

fn event(reason: &'static str) -> Step {
    Step::new(Method::POST, EVENTS).body(move |b| assert_eq!(b["reason"], reason, "event {b}"))
}

/// The condition of this type in a status (JSON), if set.
fn find_condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == type_)
}

fn condition<'a>(status: &'a Value, type_: &str) -> (&'a str, &'a str) {
    let c =
        find_condition(status, type_).unwrap_or_else(|| panic!("no {type_} condition in {status}"));
    (
        c["status"].as_str().unwrap_or_default(),
        c["reason"].as_str().unwrap_or_default(),
    )
}

/// The message of the condition of this type (empty when unset).
fn message<'a>(status: &'a Value, type_: &str) -> &'a str {
    find_condition(status, type_)
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
}

/// The init container names, verify steps without their hash suffix
/// (`fbplugin-verify-<name>`).
fn init_names(ds_intent: &Value) -> Vec<&str> {
    ds_intent["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .map(
            |n| match n.starts_with(operator::layout::VERIFY_INIT_PREFIX) {
                true => n.rsplit_once('-').map_or(n, |(head, _)| head),
                false => n,
            },
        )
        .collect()
}

struct Outcome {
    result: Result<Action, Error>,
    seen: Vec<Seen>,
    started: Instant,
    cluster: Cluster,
    ctx_metrics: Arc<Metrics>,
}

impl Outcome {
    /// Time from the reconcile's start to the DaemonSet apply reaching the server.
    fn to_daemonset_patch(&self) -> Option<Duration> {
        let patch = self
            .seen
            .iter()
            .find(|s| s.method == Method::PATCH && s.path == DAEMONSET)?;
        Some(patch.at - self.started)
    }
    fn body(&self, method: Method, path: &str) -> &Value {
        let s = self
            .seen
            .iter()
            .find(|s| s.method == method && s.path == path);
        &s.unwrap_or_else(|| panic!("no {method} {path}")).body
    }
}

/// Which reconciler runs.
enum Key<'a> {
    /// The plugin controller, for this plugin.
    Plugin(&'a str),
    /// The DaemonSet controller, for `fluent-bit`.
    DaemonSet,
}

/// A context whose plugin store holds every plugin of `cluster`, as the watch would.
fn context(client: kube::Client, cluster: &Cluster, metrics: Arc<Metrics>) -> Arc<Context> {
    let ctx = Context::new(client, metrics, None)
        .with_images(ImagePolicy::new(["registry.example/", "ghcr.io/fbplugin/"]));
    let mut writer = ctx.new_plugin_store();
    writer.apply_watcher_event(&watcher::Event::Init);
    for (path, object) in &cluster.objects {
        if path.starts_with(&format!("{PLUGINS}/")) {
            let plugin: FluentBitPlugin =
                serde_json::from_value(object.clone()).expect("plugin decodes");
            writer.apply_watcher_event(&watcher::Event::InitApply(plugin));
        }
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    Arc::new(ctx)
}

/// One reconcile (as the watch delivers the object from `cluster`) against `steps`.
async fn run(cluster: Cluster, key: Key<'_>, steps: Vec<Step>) -> Outcome {
    let (client, server) = mock(cluster.clone());
    let metrics = Arc::new(Metrics::default());
    let ctx = context(client, &cluster, metrics.clone());
    let script = tokio::spawn(server.run(steps));
    let started = Instant::now();
    let reconcile = async {
        match key {
            Key::Plugin(name) => {
                controller::reconcile(Arc::new(object(&cluster, name)), ctx.clone()).await
            }
            Key::DaemonSet => {
                controller::reconcile_daemonset(Arc::new(daemonset(&cluster)), ctx.clone()).await
            }
        }
    };
    let result = match tokio::time::timeout(RECONCILE_LIMIT, reconcile).await {
        Ok(result) => result,
        Err(_) => {
            // Either the script is still waiting (its own panic names the step), or it answered
            // every step and the reconcile sent one more request: assert_done names it.
            let (server, _) = script.await.expect("script ran every step");
            server.assert_done().await;
            panic!("the reconcile did not finish within {RECONCILE_LIMIT:?} and sent nothing more");
        }
    };
    let (server, seen) = script.await.expect("script ran every step");
    if let Err(e) = &result {
        let after = server.cluster.lock().unwrap().clone();
        let _ = match key {
            Key::Plugin(name) => {
                controller::error_policy(Arc::new(object(&after, name)), e, ctx.clone())
            }
            Key::DaemonSet => {
                controller::daemonset_error_policy(Arc::new(daemonset(&after)), e, ctx.clone())
            }
        };
    }
    drop(ctx);
    let cluster = server.cluster.lock().unwrap().clone();
    server.assert_done().await;
    Outcome {
        result,
        seen,
        started,
        cluster,
        ctx_metrics: metrics,
    }
}

/// One reconcile of plugin `name` by the plugin controller.
async fn reconcile(cluster: Cluster, name: &str, steps: Vec<Step>) -> Outcome {
    run(cluster, Key::Plugin(name), steps).await
}

/// One reconcile of the DaemonSet `fluent-bit` by the DaemonSet controller.
async fn reconcile_ds(cluster: Cluster, steps: Vec<Step>) -> Outcome {
    run(cluster, Key::DaemonSet, steps).await
}

fn daemonset(cluster: &Cluster) -> DaemonSet {
    serde_json::from_value(cluster.objects[DAEMONSET].clone()).expect("DaemonSet decodes")
}

/// The mock merges applies; a real server drops the init containers the operator's new apply
/// leaves out. Make the DaemonSet's template carry exactly the last applied ones.
fn take_applied_init_containers(out: &mut Outcome) {
    let applied =
        out.body(Method::PATCH, DAEMONSET)["spec"]["template"]["spec"]["initContainers"].clone();
    let ds = out.cluster.objects.get_mut(DAEMONSET).expect("ds");
    ds["spec"]["template"]["spec"]["initContainers"] = applied;
}

/// The steps of a DaemonSet reconcile that applies a new render of out-a alone on a fresh
/// DaemonSet.
fn first_apply_steps() -> Vec<Step> {
    let mut steps = reads(true);
    steps.extend([
        Step::apply(configmap(RENDERED)).body(|cm| {
            assert!(file(cm, "plugins.conf").contains("/fluent-bit/plugins/out-a/libout_a.so"));
            let pipeline = file(cm, "pipeline.conf");
            assert!(
                pipeline.contains("[OUTPUT]\n    Name out_a\n"),
                "{pipeline}"
            );
            assert!(
                !pipeline.contains("Name tail"),
                "the DaemonSet's own config is included, never copied"
            );
            assert_eq!(
                cm["metadata"]["ownerReferences"][0]["uid"],
                "6f1d3c2a-8b4e-4f7a-9c0d-2e5b7a9c1f30"
            );
            assert_eq!(
                cm["metadata"]["labels"]["fbplugin.dev/daemonset"],
                "fluent-bit"
            );
        }),
        Step::apply(DAEMONSET).body(|ds| {
            assert_eq!(init_names(ds), ["fbplugin-out-a", "fbplugin-verify-out-a"]);
            assert!(ds["spec"].get("selector").is_none(), "never the selector");
            assert!(
                ds["spec"]["template"]["metadata"]["annotations"]["fbplugin.dev/config-hash"]
                    .is_string()
            );
        }),
        list_pods(),
        status_of("out-a").body(|p| {
            let s = &p["status"];
            assert_eq!(condition(s, "Accepted"), ("True", "Valid"));
            assert_eq!(condition(s, "Applied"), ("True", "Applied"));
            assert_eq!(condition(s, "Progressing"), ("True", "RolloutInProgress"));
            assert_eq!(condition(s, "Ready").0, "False");
        }),
        event("Applied"),
    ]);
    steps
}

/// out-a created, finalized and applied; the DaemonSet rolled out; status says Ready.
async fn applied_and_ready() -> Cluster {
    let mut c = cluster();
    plugin("out-a").finalized().into(&mut c);
    let mut c = reconcile_ds(c, first_apply_steps()).await.cluster;
    finish_rollout(&mut c);
    let mut steps = reads(true);
    steps.extend([
        // Every pod runs it and is ready: the last known good state is recorded.
        Step::apply(configmap(RENDERED)).body(|cm| {
            let good: Value = serde_json::from_str(
                cm["data"]["last-known-good.json"]
                    .as_str()
                    .expect("recorded"),
            )
            .expect("JSON");
            assert_eq!(good["plugins"]["out-a"]["generation"], 1, "{good}");
            assert_eq!(
                good["templateHash"],
                cm["metadata"]["annotations"]["fbplugin.dev/config-hash"]
            );
        }),
        list_pods(),
        status_of("out-a").body(|p| {
            assert_eq!(
                condition(&p["status"], "Ready"),
                ("True", "RolloutComplete")
            )
        }),
        event("Ready"),
    ]);
    reconcile_ds(c, steps).await.cluster
}

#[tokio::test]
async fn new_plugin_gets_finalizer_then_configmap_daemonset_and_status() {
    let mut c = cluster();
    plugin("out-a").into(&mut c);
    let add = Step::new(Method::PATCH, plugin_path("out-a")).body(|ops| {
        assert_eq!(
            ops[1],
            json!({"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]})
        )
    });
    let first = reconcile(c, "out-a", vec![add]).await;
    assert_eq!(
        first.result.expect("finalizer added"),
        Action::await_change()
    );
    // The plugin's own reconcile: its DaemonSet exists, so the rest is the DaemonSet's.
    let own = reconcile(first.cluster, "out-a", vec![Step::get(DAEMONSET)]).await;
    assert_eq!(own.result.expect("nothing to do"), Action::await_change());

    let second = reconcile_ds(own.cluster, first_apply_steps()).await;
    assert_eq!(
        second.result.as_ref().expect("applied"),
        &Action::requeue(ROLLING_RECHECK)
    );
    let latency = second.to_daemonset_patch().expect("DaemonSet patched");
    eprintln!("new plugin: reconcile start -> DaemonSet apply {latency:?}");
    assert!(
        second
            .ctx_metrics
            .encode()
            .contains("fbplugin_reconciles_total{result=\"success\"} 1")
    );
}

#[tokio::test]
async fn spec_change_applies_a_new_hash() {
    let mut c = applied_and_ready().await;
    let old_hash = c.objects[&plugin_path("out-a")]["status"]["renderedHash"].clone();
    let p = c.objects.get_mut(&plugin_path("out-a")).unwrap();
    p["spec"]["artifact"]["image"] =
        json!(format!("registry.example/out-a@sha256:{}", "cd".repeat(32)));
    p["metadata"]["generation"] = json!(2);
    let mut steps = reads(true);
    steps.extend([
        Step::apply(configmap(RENDERED)),
        Step::apply(DAEMONSET).body(|ds| {
            let init = &ds["spec"]["template"]["spec"]["initContainers"][0];
            assert!(init["image"].as_str().unwrap().ends_with(&"cd".repeat(32)));
        }),
        list_pods(),
        status_of("out-a").body(|p| assert_eq!(p["status"]["observedGeneration"], 2)),
        event("Applied"),
    ]);
    let out = reconcile_ds(c, steps).await;
    out.result.as_ref().expect("applied");
    let ds = out.body(Method::PATCH, DAEMONSET);
    let new_hash = &ds["spec"]["template"]["metadata"]["annotations"]["fbplugin.dev/config-hash"];
    assert_ne!(
        new_hash, &old_hash,
        "a new image is a new hash, so the pods roll"
    );
    eprintln!(
        "spec change: reconcile start -> DaemonSet apply {:?}",
        out.to_daemonset_patch().unwrap()
    );
}

/// A plugin moved to a DaemonSet that does not exist: its old DaemonSet's reconcile takes it
/// out (keeping the empty pipeline), its own reconcile says the new target is missing.
#[tokio::test]
async fn retargeted_plugin_leaves_its_old_daemonset() {
    let mut c = applied_and_ready().await;
    let p = c.objects.get_mut(&plugin_path("out-a")).unwrap();
    p["spec"]["target"]["daemonSet"] = json!("other");
    p["metadata"]["generation"] = json!(2);
    let mut steps = reads(true);
    steps.extend([
        // The old DaemonSet keeps the operator's mount with an empty pipeline.
        Step::apply(configmap(RENDERED))
            .body(|cm| assert!(!file(cm, "pipeline.conf").contains("out-a"))),
        Step::apply(DAEMONSET).body(|ds| {
            assert!(
                ds["spec"]["template"]["spec"]["initContainers"].is_null(),
                "{ds}"
            )
        }),
        list_pods(),
    ]);
    let old = reconcile_ds(c, steps).await;
    assert_eq!(old.result.expect("released"), Action::requeue(RESYNC));
    let steps = vec![
        Step::get("/apis/apps/v1/namespaces/logging/daemonsets/other"),
        status_of("out-a").body(|p| {
            assert_eq!(
                condition(&p["status"], "Applied"),
                ("False", "DaemonSetNotFound")
            )
        }),
        event("DaemonSetNotFound"),
    ];
    reconcile(old.cluster, "out-a", steps)
        .await
        .result
        .expect("a condition, not an error");
}

#[tokio::test]
async fn invalid_plugin_beside_a_valid_one_is_left_out_and_told_why() {
    let mut c = cluster();
    plugin("out-a").finalized().into(&mut c);
    plugin("out-bad").finalized().invalid().into(&mut c);
    let mut steps = reads(true);
    steps.extend([
        Step::apply(configmap(RENDERED)).body(|cm| {
            let plugins = file(cm, "plugins.conf");
            assert!(
                plugins.contains("out-a") && !plugins.contains("out-bad"),
                "{plugins}"
            );
        }),
        Step::apply(DAEMONSET)
            .body(|ds| assert_eq!(init_names(ds), ["fbplugin-out-a", "fbplugin-verify-out-a"])),
        list_pods(),
        // One reconcile of the DaemonSet writes both statuses.
        status_of("out-a")
            .body(|p| assert_eq!(condition(&p["status"], "Applied"), ("True", "Applied"))),
        event("Applied"),
        status_of("out-bad").body(|p| {
            let s = &p["status"];
            assert_eq!(condition(s, "Accepted"), ("False", "Invalid"));
            assert_eq!(condition(s, "Applied"), ("False", "NotAccepted"));
            assert_eq!(
                s["problems"][0]["field"],
                "spec.instances[0].properties[0].name"
            );
        }),
        Step::new(Method::POST, EVENTS).body(|e| {
            assert_eq!(
                (e["type"].as_str(), e["reason"].as_str()),
                (Some("Warning"), Some("Rejected"))
            );
            assert!(
                e["note"]
                    .as_str()
                    .unwrap()
                    .contains("spec.instances[0].properties[0].name"),
                "{e}"
            );
        }),
    ]);
    reconcile_ds(c, steps)
        .await
        .result
        .expect("an invalid plugin is a status, not an error");
}

/// Deleting one of two: the DaemonSet's reconcile applies the template without it; the
/// plugin's finalizer stays while a DaemonSet still carries it, and goes once none does.
#[tokio::test]
async fn deleting_one_of_two_reapplies_without_it_then_drops_the_finalizer() {
    let mut c = cluster();
    plugin("out-a").finalized().into(&mut c);
    plugin("out-b").finalized().into(&mut c);
    let mut steps = reads(true);
    steps.extend([
        Step::apply(configmap(RENDERED)),
        Step::apply(DAEMONSET),
        list_pods(),
        status_of("out-a"),
        event("Applied"),
        status_of("out-b"),
        event("Applied"),
    ]);
    let mut out = reconcile_ds(c, steps).await;
    take_applied_init_containers(&mut out);
    let mut c = out.cluster;
    let p = c.objects.get_mut(&plugin_path("out-b")).unwrap();
    p["metadata"]["deletionTimestamp"] = json!("2026-11-21T07:00:00Z");

    // The release waits while the DaemonSet still carries the plugin.
    let early = reconcile(c, "out-b", vec![list_daemonsets()]).await;
    let err = early.result.expect_err("the finalizer stays");
    assert_eq!(err.metric_label(), "releasing", "{err}");
    assert!(err.to_string().contains("fluent-bit"), "{err}");

    let mut steps = reads(true);
    steps.extend([
        Step::apply(configmap(RENDERED))
            .body(|cm| assert!(!file(cm, "plugins.conf").contains("out-b"))),
        Step::apply(DAEMONSET)
            .body(|ds| assert_eq!(init_names(ds), ["fbplugin-out-a", "fbplugin-verify-out-a"])),
        list_pods(),
        // out-a's status names the new hash; the deleted plugin's is not written.
        status_of("out-a"),
        event("Applied"),
    ]);
    let mut out = reconcile_ds(early.cluster, steps).await;
    out.result.as_ref().expect("applied without out-b");
    take_applied_init_containers(&mut out);
    let steps = vec![
        list_daemonsets(),
        Step::new(Method::PATCH, plugin_path("out-b")).body(|ops| {
            assert_eq!(
                ops[0],
                json!({"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER})
            );
            assert_eq!(ops[1]["op"], "remove");
        }),
    ];
    let out = reconcile(out.cluster, "out-b", steps).await;
    assert_eq!(out.result.expect("cleaned up"), Action::await_change());
}

/// The DaemonSet's config includes the operator's pipeline, so the last plugin's removal
/// leaves the mount with an empty pipeline (Fluent Bit does not start without the file), and
/// the ConfigMap keeps the previous revision's files for the pods still running it.
#[tokio::test]
async fn deleting_the_last_plugin_leaves_the_empty_pipeline_mounted() {
    let mut c = applied_and_ready().await;
    c.objects.get_mut(&plugin_path("out-a")).unwrap()["metadata"]["deletionTimestamp"] =
        json!("2026-11-21T07:00:00Z");
    let mut steps = reads(true);
    steps.extend([
        Step::apply(configmap(RENDERED)).body(|cm| {
            let pipeline = file(cm, "pipeline.conf");
            assert!(
                !pipeline.is_empty() && !pipeline.contains('['),
                "{pipeline}"
            );
            assert_eq!(
                file(cm, "plugins.conf"),
                "",
                "no plugins.conf without a plugin"
            );
            let keys: Vec<&String> = cm["data"]
                .as_object()
                .expect("data")
                .keys()
                .filter(|k| *k != "last-known-good.json")
                .collect();
            assert_eq!(
                keys.len(),
                3,
                "the previous revision's two files stay: {keys:?}"
            );
        }),
        Step::apply(DAEMONSET).body(|ds| {
            let pod = &ds["spec"]["template"]["spec"];
            assert!(pod["initContainers"].is_null(), "no plugin left: {pod}");
            assert_eq!(
                pod["volumes"][0]["configMap"]["items"][0]["path"],
                "pipeline.conf"
            );
        }),
        list_pods(),
    ]);
    let mut out = reconcile_ds(c, steps).await;
    out.result.as_ref().expect("released");
    take_applied_init_containers(&mut out);
    assert!(out.cluster.objects.contains_key(&configmap(RENDERED)));
    let steps = vec![
        list_daemonsets(),
        Step::new(Method::PATCH, plugin_path("out-a"))
            .body(|ops| assert_eq!(ops[1]["op"], "remove")),
    ];
    reconcile(out.cluster, "out-a", steps)
        .await
        .result
        .expect("cleaned up");
}

/// A plugin is being deleted while the DaemonSet's own config is gone: the operator's fields
/// still come out (the empty intent), so a deleted plugin never stays in the template.
#[tokio::test]
async fn deleting_a_plugin_when_the_base_config_is_gone_still_takes_it_out() {
    let mut c = applied_and_ready().await;
    plugin("out-b").finalized().deleting().into(&mut c);
    c.objects.remove(&configmap("fluent-bit"));
    let steps = vec![
        Step::get(DAEMONSET),
        Step::get(configmap("fluent-bit")),
        Step::get(configmap(RENDERED)),
        Step::apply(DAEMONSET).body(|ds| assert!(ds.get("spec").is_none(), "the empty intent")),
        Step::new(Method::DELETE, configmap(RENDERED)),
        list_pods(),
        status_of("out-a").body(|p| {
            assert_eq!(
                condition(&p["status"], "Applied"),
                ("False", "BaseConfigInvalid")
            )
        }),
        event("BaseConfigInvalid"),
    ];
    reconcile_ds(c, steps).await.result.expect("released");
}

#[tokio::test]
async fn deleting_a_plugin_whose_daemonset_is_gone_just_drops_the_finalizer() {
    let mut c = cluster();
    c.objects.remove(DAEMONSET);
    plugin("out-a").finalized().deleting().into(&mut c);
    let steps = vec![
        list_daemonsets(),
        Step::new(Method::PATCH, plugin_path("out-a"))
            .body(|ops| assert_eq!(ops[1]["op"], "remove")),
    ];
    let out = reconcile(c, "out-a", steps).await;
    assert_eq!(out.result.expect("cleaned up"), Action::await_change());
}

#[tokio::test]
async fn missing_daemonset_is_a_condition_and_a_requeue_not_an_error() {
    let mut c = cluster();
    c.objects.remove(DAEMONSET);
    plugin("out-a").finalized().into(&mut c);
    let steps = vec![
        Step::get(DAEMONSET),
        status_of("out-a").body(|p| {
            assert_eq!(
                condition(&p["status"], "Applied"),
                ("False", "DaemonSetNotFound")
            )
        }),
        event("DaemonSetNotFound"),
    ];
    let out = reconcile(c, "out-a", steps).await;
    assert_eq!(
        out.result.expect("not an error"),
        Action::requeue(Duration::from_secs(1))
    );
    // Again: same status, so no write and no Event.
    let again = reconcile(out.cluster, "out-a", vec![Step::get(DAEMONSET)]).await;
    again.result.expect("still not an error");
}

async fn failing_once_then_succeeding(fail_daemonset: bool, code: u16, kind: &str) {
    let mut c = cluster();
    plugin("out-a").finalized().into(&mut c);
    let mut steps = reads(true);
    if fail_daemonset {
        steps.extend([
            Step::apply(configmap(RENDERED)),
            Step::apply(DAEMONSET).fail(code),
        ]);
    } else {
        steps.push(Step::apply(configmap(RENDERED)).fail(code));
    }
    let out = reconcile_ds(c, steps).await;
    let err = out
        .result
        .as_ref()
        .expect_err("the error is returned for a retry");
    assert_eq!(err.metric_label(), kind, "{err}");
    assert!(out.ctx_metrics.encode().contains(&format!(
        "fbplugin_reconcile_failures_total{{error=\"{kind}\"}} 1"
    )));
    // The retry: with the ConfigMap already current, only the DaemonSet is written.
    let mut retry = reads(true);
    if !fail_daemonset {
        retry.push(Step::apply(configmap(RENDERED)));
    }
    retry.extend([
        Step::apply(DAEMONSET),
        list_pods(),
        status_of("out-a"),
        event("Applied"),
    ]);
    reconcile_ds(out.cluster, retry)
        .await
        .result
        .expect("the retry succeeds");
}

#[tokio::test]
async fn conflict_409_is_retried_then_succeeds() {
    failing_once_then_succeeding(false, 409, "conflict").await;
}

#[tokio::test]
async fn server_error_500_is_retried_then_succeeds() {
    failing_once_then_succeeding(true, 500, "server_error").await;
}

#[test]
fn error_policy_backs_off_exponentially_to_five_minutes() {
    let delays: Vec<u64> = (1..=11)
        .map(|n| controller::backoff_delay(n).as_secs())
        .collect();
    assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
}

#[tokio::test]
async fn unchanged_status_is_not_written_and_nothing_else_is_either() {
    let c = applied_and_ready().await;
    let mut steps = reads(true);
    steps.push(list_pods());
    let out = reconcile_ds(c, steps).await;
    assert_eq!(out.result.expect("steady"), Action::requeue(RESYNC));
    assert!(
        out.seen.iter().all(|s| s.method == Method::GET),
        "reads only"
    );
}

/// Fifty image changes in a row: each reaches the DaemonSet in exactly one apply carrying the
/// new image. How long that took (against the mock, so only the operator's own work) is
/// printed as a figure, never asserted: a test does not race the wall clock.
#[tokio::test]
async fn every_cr_change_reaches_the_daemonset_in_one_apply() {
    let base = applied_and_ready().await;
    let mut samples = Vec::new();
    for i in 0..50u32 {
        let mut c = base.clone();
        let image = format!("registry.example/out-a@sha256:{:064x}", i + 1);
        let p = c.objects.get_mut(&plugin_path("out-a")).unwrap();
        p["spec"]["artifact"]["image"] = json!(image);
        p["metadata"]["generation"] = json!(2);
        let mut steps = reads(true);
        steps.extend([
            Step::apply(configmap(RENDERED)),
            Step::apply(DAEMONSET),
            list_pods(),
            status_of("out-a"),
            event("Applied"),
        ]);
        let out = reconcile_ds(c, steps).await;
        out.result.as_ref().expect("applied");
        let applies = out
            .seen
            .iter()
            .filter(|s| s.method == Method::PATCH && s.path == DAEMONSET)
            .count();
        assert_eq!(applies, 1, "change {i}: DaemonSet applies");
        let body = out.body(Method::PATCH, DAEMONSET).to_string();
        assert!(
            body.contains(&image),
            "change {i}: the apply carries {image}: {body}"
        );
        samples.push(out.to_daemonset_patch().expect("patched"));
    }
    samples.sort();
    eprintln!(
        "CR change -> DaemonSet apply over {} mock reconciles: p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
        samples[samples.len() - 1]
    );
}

/// A WASM filter (`filter-redact`, 64 KiB records) on `fluent-bit`, routed to everything.
fn filter_plugin(name: &str) -> PluginBuilder {
    let mut v = serde_json::to_value(filter_object(name)).expect("plugin JSON");
    v["metadata"]["uid"] = json!(format!("uid-{name}"));
    v["metadata"]["generation"] = json!(1);
    v["metadata"]["resourceVersion"] = json!("1");
    PluginBuilder(v)
}

fn filter_object(name: &str) -> FluentBitPlugin {
    support::plugin(&format!(
        r#"
apiVersion: fbplugin.dev/v1alpha1
kind: FluentBitPlugin
metadata: {{name: {name}, namespace: logging}}
spec:
  type: filter
  artifact:
    image: registry.example/{name}@sha256:{digest}
    path: /plugins/filter_redact.wasm
  wasm: {{functionName: redact_filter, maxRecordSize: 65536}}
  instances:
    - match: "*"
  target: {{daemonSet: fluent-bit}}
"#,
        digest = "5e".repeat(32)
    ))
}

#[tokio::test]
async fn new_filter_renders_a_wasm_filter_section_and_an_init_container() {
    let mut c = cluster();
    plugin("out-a").finalized().into(&mut c);
    filter_plugin("filter-redact").finalized().into(&mut c);
    let mut steps = reads(true);
    steps.extend([
        Step::apply(configmap(RENDERED)).body(|cm| {
            let plugins = file(cm, "plugins.conf");
            assert!(
                plugins.contains("out-a/libout_a.so") && !plugins.contains(".wasm"),
                "only .so files are in plugins.conf: {plugins}"
            );
            let conf = file(cm, "pipeline.conf");
            assert!(
                conf.contains(
                    "[FILTER]\n    Name wasm\n    Match *\n    \
                     WASM_Path /fluent-bit/plugins/filter-redact/filter_redact.wasm\n    \
                     Function_Name redact_filter\n    Event_Format json\n    \
                     WASM_Heap_Size 66832\n    WASM_Stack_Size 65536\n"
                ),
                "{conf}"
            );
        }),
        Step::apply(DAEMONSET).body(|ds| {
            assert_eq!(
                init_names(ds),
                [
                    "fbplugin-filter-redact",
                    "fbplugin-out-a",
                    "fbplugin-verify-filter-redact",
                    "fbplugin-verify-out-a"
                ]
            );
            let init = &ds["spec"]["template"]["spec"]["initContainers"][0];
            // The copy program, argv only; its own directory of the volume is mounted at
            // /fbplugin-out (subPath).
            assert_eq!(init["command"][0], "/fbplugin/copy");
            assert_eq!(init["command"][2], "/plugins/filter_redact.wasm");
            assert_eq!(init["command"][4], "/fbplugin-out");
            assert_eq!(init["command"][6], "filter_redact.wasm");
            assert!(init["env"].is_null(), "{init}");
            assert_eq!(init["volumeMounts"][0]["subPath"], "filter-redact");
        }),
        list_pods(),
        Step::apply(format!("{}/status", plugin_path("filter-redact"))).body(|p| {
            let s = &p["status"];
            assert_eq!(condition(s, "Accepted"), ("True", "Valid"));
            assert_eq!(condition(s, "Applied"), ("True", "Applied"));
            assert_eq!(condition(s, "Progressing"), ("True", "RolloutInProgress"));
        }),
        event("Applied"),
        status_of("out-a"),
        event("Applied"),
    ]);
    let out = reconcile_ds(c, steps).await;
    assert_eq!(
        out.result.expect("applied"),
        Action::requeue(ROLLING_RECHECK)
    );
}

#[tokio::test]
async fn a_filter_with_properties_is_rejected_and_the_output_keeps_running() {
    let mut c = cluster();
    plugin("out-a").finalized().into(&mut c);
    let mut bad = filter_plugin("filter-redact").finalized();
    bad.0["spec"]["instances"][0]["properties"] = json!([{"name": "fields", "value": "password"}]);
    bad.into(&mut c);
    let mut steps = reads(true);
    steps.extend([
        Step::apply(configmap(RENDERED)).body(|cm| {
            let conf = file(cm, "pipeline.conf");
            assert!(!conf.contains("[FILTER]\n    Name wasm"), "{conf}");
        }),
        Step::apply(DAEMONSET)
            .body(|ds| assert_eq!(init_names(ds), ["fbplugin-out-a", "fbplugin-verify-out-a"])),
        list_pods(),
        Step::apply(format!("{}/status", plugin_path("filter-redact"))).body(|p| {
            let s = &p["status"];
            assert_eq!(condition(s, "Accepted"), ("False", "Invalid"));
            assert_eq!(s["problems"][0]["field"], "spec.instances[0].properties");
            assert_eq!(s["problems"][0]["reason"], "PropertiesNotAllowed");
        }),
        Step::new(Method::POST, EVENTS).body(|e| {
            assert_eq!(e["reason"], "Rejected");
            assert!(
                e["note"]
                    .as_str()
                    .unwrap()
                    .contains("no settings from Fluent Bit"),
                "{e}"
            );
        }),
        status_of("out-a")
            .body(|p| assert_eq!(condition(&p["status"], "Applied"), ("True", "Applied"))),
        event("Applied"),
    ]);
    reconcile_ds(c, steps)
        .await
        .result
        .expect("an invalid filter is a status, not an error");
}

/// The gate: a DaemonSet whose owner did not opt in is read, never written; the status and an
/// Event say what the owner must add.
#[tokio::test]
async fn a_daemonset_without_the_owners_opt_in_is_never_written() {
    let mut c = cluster();
    let ds = c.objects.get_mut(DAEMONSET).expect("ds");
    ds["metadata"]["labels"]
        .as_object_mut()
        .expect("labels")
        .remove("fbplugin.dev/accept-plugins");
    plugin("out-a").finalized().into(&mut c);
    let mut steps = reads(false);
    steps.extend([
        list_pods(),
        Step::apply(format!("{}/status", plugin_path("out-a"))).body(|p| {
            assert_eq!(
                condition(&p["status"], "Applied"),
                ("False", "DaemonSetNotOptedIn")
            );
            let message = message(&p["status"], "Applied");
            assert!(message.contains("fbplugin.dev/accept-plugins"), "{message}");
        }),
        event("DaemonSetNotOptedIn"),
    ]);
    let out = reconcile_ds(c, steps).await;
    out.result.expect("a condition, not an error");
}

/// A `<ds>-fbplugin` ConfigMap the operator did not create: not adopted on apply, not deleted
/// when the last plugin goes.
#[tokio::test]
async fn a_foreign_configmap_is_neither_adopted_nor_deleted() {
    let foreign = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": RENDERED, "namespace": "logging", "uid": "someone-elses"},
        "data": {"theirs": "x"}});
    let mut c = cluster();
    c.put(configmap(RENDERED), foreign.clone());
    plugin("out-a").finalized().into(&mut c);
    let mut steps = reads(true);
    steps.extend([
        list_pods(),
        Step::apply(format!("{}/status", plugin_path("out-a"))).body(|p| {
            assert_eq!(
                condition(&p["status"], "Applied"),
                ("False", "ConfigMapNotOwned")
            )
        }),
        event("ConfigMapNotOwned"),
    ]);
    let out = reconcile_ds(c, steps).await;
    out.result.expect("a condition, not an error");
    assert_eq!(out.cluster.objects[&configmap(RENDERED)], foreign);

    // Deleting the plugin: the DaemonSet carries nothing, so the finalizer goes at once and
    // the ConfigMap stays.
    let mut c = out.cluster;
    plugin("out-a").finalized().deleting().into(&mut c);
    let steps = vec![
        list_daemonsets(),
        Step::new(Method::PATCH, plugin_path("out-a"))
            .body(|ops| assert_eq!(ops[1]["op"], "remove")),
    ];
    let out = reconcile(c, "out-a", steps).await;
    out.result.expect("cleaned up");
    assert_eq!(out.cluster.objects[&configmap(RENDERED)], foreign);
}

/// An opted-in DaemonSet that no plugin targets gets the operator's empty pipeline (its config
/// includes the file, and Fluent Bit does not start without it); once it carries it, nothing
/// more is written.
#[tokio::test]
async fn an_opted_in_daemonset_without_plugins_gets_the_empty_pipeline() {
    let mut steps = reads(true);
    steps.extend([
        Step::apply(configmap(RENDERED)).body(|cm| {
            let pipeline = file(cm, "pipeline.conf");
            assert!(
                !pipeline.is_empty() && !pipeline.contains('['),
                "{pipeline}"
            );
        }),
        Step::apply(DAEMONSET).body(|ds| {
            let pod = &ds["spec"]["template"]["spec"];
            assert!(pod["initContainers"].is_null(), "{pod}");
            assert_eq!(
                pod["containers"][0]["volumeMounts"][0]["mountPath"],
                "/fluent-bit/etc/fbplugin"
            );
        }),
        list_pods(),
    ]);
    let out = reconcile_ds(cluster(), steps).await;
    assert_eq!(out.result.expect("applied"), Action::requeue(RESYNC));
    // Steady: the same observation plans no write.
    let mut steady = reads(true);
    steady.push(list_pods());
    let out = reconcile_ds(out.cluster, steady).await;
    assert_eq!(out.result.expect("steady"), Action::requeue(RESYNC));
}

/// A DaemonSet that never opted in and carries nothing of the operator's is not even read.
#[tokio::test]
async fn a_daemonset_that_never_opted_in_is_left_alone() {
    let mut c = cluster();
    let ds = c.objects.get_mut(DAEMONSET).expect("ds");
    ds["metadata"]["labels"]
        .as_object_mut()
        .expect("labels")
        .remove("fbplugin.dev/accept-plugins");
    let out = reconcile_ds(c, vec![]).await;
    assert_eq!(out.result.expect("nothing to do"), Action::await_change());
}

/// Many plugins on one DaemonSet: one reconcile of the DaemonSet writes the ConfigMap and the
/// DaemonSet once and each plugin's status once, whatever the number of plugins.
#[tokio::test]
async fn one_reconcile_writes_once_for_every_plugin_of_the_daemonset() {
    const PLUGINS_ON_DS: usize = 40;
    let mut c = cluster();
    let names: Vec<String> = (0..PLUGINS_ON_DS).map(|i| format!("out-{i:02}")).collect();
    for name in &names {
        plugin(name).finalized().into(&mut c);
    }
    let mut steps = reads(true);
    steps.extend([
        Step::apply(configmap(RENDERED)),
        Step::apply(DAEMONSET)
            .body(|ds| assert_eq!(init_names(ds).len(), 2 * PLUGINS_ON_DS, "{ds}")),
        list_pods(),
    ]);
    for name in &names {
        steps.extend([status_of(name), event("Applied")]);
    }
    let out = reconcile_ds(c, steps).await;
    out.result.expect("applied");
    let writes = out.seen.iter().filter(|s| s.method != Method::GET).count();
    assert_eq!(
        writes,
        2 + 2 * PLUGINS_ON_DS,
        "2 applies, then a status and an Event each"
    );
    // Steady afterwards: reads only.
    let mut steady = reads(true);
    steady.push(list_pods());
    let out = reconcile_ds(out.cluster, steady).await;
    out.result.expect("steady");
}

/// A second reconcile right after the first, before the watch brought the written status back
/// (the store still holds the old one): nothing is written again and no Event repeats.
#[tokio::test]
async fn a_quick_second_reconcile_repeats_no_status_and_no_event() {
    let mut c = cluster();
    plugin("out-a").finalized().into(&mut c);
    let (client, server) = mock(c.clone());
    let ctx = context(client, &c, Arc::new(Metrics::default()));
    let ds = Arc::new(daemonset(&c));
    let script = tokio::spawn(server.run(first_apply_steps()));
    controller::reconcile_daemonset(ds.clone(), ctx.clone())
        .await
        .expect("applied");
    let (server, _) = script.await.expect("first script");
    // The live objects now carry the intents; the store's plugin is still the unapplied one.
    let ds = Arc::new(daemonset(&server.cluster.lock().unwrap()));
    let mut steady = reads(true);
    steady.push(list_pods());
    let script = tokio::spawn(server.run(steady));
    controller::reconcile_daemonset(ds, ctx.clone())
        .await
        .expect("steady");
    let (server, seen) = script.await.expect("second script");
    assert!(seen.iter().all(|s| s.method == Method::GET), "reads only");
    drop(ctx);
    server.assert_done().await;
}

/// A restarted operator reconciles DaemonSets as soon as their watch delivers them; the plugin
/// watch may not have listed yet. The DaemonSet reconcile waits for it: applying before would
/// take every plugin out for a moment and roll every Fluent Bit pod twice.
#[tokio::test]
async fn a_daemonset_is_not_planned_before_the_plugins_are_listed() {
    let mut c = cluster();
    plugin("out-a").finalized().into(&mut c);
    let (client, server) = mock(c.clone());
    let ctx = Arc::new(
        Context::new(client, Arc::new(Metrics::default()), None)
            .with_images(ImagePolicy::new(["registry.example/"])),
    );
    let mut writer = ctx.new_plugin_store();
    let script = tokio::spawn(server.run(first_apply_steps()));
    let reconcile = tokio::spawn(controller::reconcile_daemonset(
        Arc::new(daemonset(&c)),
        ctx.clone(),
    ));
    // Long enough for a reconcile that did not wait to have planned without the plugin.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!reconcile.is_finished(), "waits for the plugin watch");
    writer.apply_watcher_event(&watcher::Event::Init);
    writer.apply_watcher_event(&watcher::Event::InitApply(object(&c, "out-a")));
    writer.apply_watcher_event(&watcher::Event::InitDone);
    let result = tokio::time::timeout(RECONCILE_LIMIT, reconcile)
        .await
        .expect("reconcile finishes")
        .expect("reconcile task");
    assert_eq!(result.expect("applied"), Action::requeue(ROLLING_RECHECK));
    let (server, _) = script.await.expect("the plugin was applied, not dropped");
    drop(ctx);
    server.assert_done().await;
}

/// A pod of the DaemonSet running the template with config `hash`, created `age_secs` ago,
/// whose plugin init container cannot pull its image.
fn pulling_pod(hash: &str, age_secs: i64) -> Value {
    let created = k8s_openapi::jiff::Timestamp::now()
        - k8s_openapi::jiff::SignedDuration::from_secs(age_secs);
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "fluent-bit-x1", "namespace": "logging",
            "creationTimestamp": created.to_string(),
            "annotations": {"fbplugin.dev/config-hash": hash}},
        "spec": {"nodeName": "node-a", "containers": [{"name": "fluent-bit"}]},
        "status": {"initContainerStatuses": [{"name": "fbplugin-out-a", "ready": false,
            "restartCount": 0, "image": "x", "imageID": "",
            "state": {"waiting": {"reason": "ImagePullBackOff",
                "message": "Back-off pulling image"}}}]}})
}

fn hash_in(ds_intent: &Value) -> String {
    ds_intent["spec"]["template"]["metadata"]["annotations"]["fbplugin.dev/config-hash"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A change whose new pods cannot pull the plugin image: once the failure has shown for the
/// patience (60 s), the operator marks the plugin RolledBack (naming pod, node, container and
/// reason), applies the last known good template again, and holds that generation back until
/// the spec changes.
#[tokio::test]
async fn a_stuck_rollout_goes_back_to_the_last_known_good_state() {
    let good_hash =
        applied_and_ready().await.objects[&plugin_path("out-a")]["status"]["renderedHash"]
            .as_str()
            .expect("hash")
            .to_string();
    let (mut c, bad_hash) = changed_and_applied(|_| {}).await;
    assert_ne!(bad_hash, good_hash);

    // Within the patience: reported, not rolled back; looked at again soon.
    c.pods = vec![pulling_pod(&bad_hash, 5)];
    let mut steps = reads(true);
    steps.extend([
        list_pods(),
        status_of("out-a").body(|p| {
            assert_eq!(
                condition(&p["status"], "Degraded"),
                ("True", "ImagePullFailed")
            )
        }),
        event("ImagePullFailed"),
    ]);
    let out = reconcile_ds(c, steps).await;
    let wait = match out.result.expect("a wait") {
        a if a == Action::requeue(ROLLING_RECHECK) => ROLLING_RECHECK,
        other => panic!("expected a recheck within the patience, got {other:?}"),
    };
    assert!(wait <= ROLLING_RECHECK);

    // Past the patience: rolled back.
    let mut c = out.cluster;
    c.pods = vec![pulling_pod(&bad_hash, 120)];
    let mut steps = reads(true);
    steps.extend([
        list_pods(),
        status_of("out-a").body(|p| {
            let s = &p["status"];
            assert_eq!(condition(s, "RolledBack"), ("True", "RolloutStuck"));
            assert_eq!(condition(s, "Applied"), ("False", "RolledBack"));
            assert_eq!(condition(s, "Ready"), ("False", "RolledBack"));
            let message = message(s, "RolledBack");
            for part in [
                "fluent-bit-x1",
                "node-a",
                "fbplugin-out-a",
                "ImagePullBackOff",
            ] {
                assert!(message.contains(part), "{part} in {message}");
            }
        }),
        Step::new(Method::POST, EVENTS).body(|e| {
            assert_eq!(
                (e["type"].as_str(), e["reason"].as_str()),
                (Some("Warning"), Some("RolledBack"))
            )
        }),
    ]);
    let out = reconcile_ds(c, steps).await;
    assert_eq!(
        out.result.expect("rolled back"),
        Action::requeue(Duration::from_secs(1))
    );

    // The next plan renders the last known good spec: the old template comes back.
    let good = good_hash.clone();
    let mut steps = reads(true);
    steps.extend([
        Step::apply(configmap(RENDERED)),
        Step::apply(DAEMONSET).body(move |ds| {
            assert_eq!(hash_in(ds), good, "the last known good template");
            let init = &ds["spec"]["template"]["spec"]["initContainers"][0];
            assert!(
                !init["image"].as_str().unwrap().contains(&"ee".repeat(32)),
                "{init}"
            );
        }),
        list_pods(),
    ]);
    let mut out = reconcile_ds(out.cluster, steps).await;
    out.result.as_ref().expect("applied the good state");
    take_applied_init_containers(&mut out);

    // The user changes the spec: the hold ends and the new generation is applied.
    let mut c = out.cluster;
    c.pods.clear();
    let p = c.objects.get_mut(&plugin_path("out-a")).unwrap();
    p["spec"]["artifact"]["image"] =
        json!(format!("registry.example/out-a@sha256:{}", "ff".repeat(32)));
    p["metadata"]["generation"] = json!(3);
    let mut steps = reads(true);
    steps.extend([
        Step::apply(configmap(RENDERED)),
        Step::apply(DAEMONSET).body(|ds| {
            let init = &ds["spec"]["template"]["spec"]["initContainers"][0];
            assert!(
                init["image"].as_str().unwrap().contains(&"ff".repeat(32)),
                "{init}"
            );
        }),
        list_pods(),
        status_of("out-a").body(|p| {
            let s = &p["status"];
            assert_eq!(condition(s, "Applied"), ("True", "Applied"));
            assert!(find_condition(s, "RolledBack").is_none(), "{s}");
        }),
        event("Applied"),
    ]);
    reconcile_ds(c, steps).await.result.expect("applied again");
}

/// out-a Ready, then changed to a new image (generation 2, `set` edits it further) and applied.
/// Returns the cluster and the new template's hash; the test gives the pods.
async fn changed_and_applied(set: impl Fn(&mut Value)) -> (Cluster, String) {
    let mut c = applied_and_ready().await;
    let p = c.objects.get_mut(&plugin_path("out-a")).unwrap();
    p["spec"]["artifact"]["image"] =
        json!(format!("registry.example/out-a@sha256:{}", "ee".repeat(32)));
    p["metadata"]["generation"] = json!(2);
    set(p);
    let mut steps = reads(true);
    steps.extend([
        Step::apply(configmap(RENDERED)),
        Step::apply(DAEMONSET),
        list_pods(),
        status_of("out-a"),
        event("Applied"),
    ]);
    let mut out = reconcile_ds(c, steps).await;
    take_applied_init_containers(&mut out);
    let hash = hash_in(out.body(Method::PATCH, DAEMONSET));
    (out.cluster, hash)
}

/// `spec.rollback: Never`, or the DaemonSet owner's `fbplugin.dev/rollback: Never`: a stuck
/// rollout is reported (Degraded with the pod's reason) and left as it is.
#[tokio::test]
async fn with_rollback_never_a_stuck_rollout_is_only_reported() {
    let by_plugin = |p: &mut Value| p["spec"]["rollback"] = json!("Never");
    let (plugin_never, hash_a) = changed_and_applied(by_plugin).await;
    let (mut owner_never, hash_b) = changed_and_applied(|_| {}).await;
    owner_never.objects.get_mut(DAEMONSET).expect("ds")["metadata"]["annotations"]["fbplugin.dev/rollback"] =
        json!("Never");
    for (mut c, hash) in [(plugin_never, hash_a), (owner_never, hash_b)] {
        c.pods = vec![pulling_pod(&hash, 120)];
        let mut steps = reads(true);
        steps.extend([
            list_pods(),
            status_of("out-a").body(|p| {
                let s = &p["status"];
                assert_eq!(condition(s, "Degraded"), ("True", "ImagePullFailed"));
                assert!(find_condition(s, "RolledBack").is_none(), "{s}");
            }),
            event("ImagePullFailed"),
        ]);
        let out = reconcile_ds(c, steps).await;
        assert_eq!(
            out.result.expect("reported"),
            Action::requeue(ROLLING_RECHECK)
        );
    }
}
