//! `plan::plan` (validate, gate, render, apply intents, drift) for 1,000 plugins over 50
//! opted-in DaemonSets, single-threaded: what the controller computes for a full resync.
//!
//! `cargo bench -p operator --bench pipeline` prints min/median/max of 30 runs. Target: under
//! 100 ms per run on one core.

use std::hint::black_box;
use std::time::{Duration, Instant};

use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;
use operator::gate::ImagePolicy;
use operator::plan::{self, Observed, Target};

const DAEMONSETS: usize = 50;
const PLUGINS: usize = 1_000;
const RUNS: usize = 30;

const BASE: &str = "[SERVICE]\n    Flush 1\n    HTTP_Server On\n\n[INPUT]\n    Name tail\n    \
                    Path /var/log/containers/*.log\n    Tag kube.*\n\n[OUTPUT]\n    Name stdout\n    \
                    Match kube.*\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n";

fn plugin(i: usize) -> FluentBitPlugin {
    let ds = i % DAEMONSETS;
    let (kind, routing) = if i.is_multiple_of(2) {
        (
            "output",
            format!("match: 'kube.{i}.*'\n      workers: 1\n      retryLimit: 3"),
        )
    } else {
        ("input", format!("tag: 'gen.{i}'\n      memBufLimit: 5M"))
    };
    let yaml = format!(
        r#"
apiVersion: fbplugin.dev/v1alpha1
kind: FluentBitPlugin
metadata: {{name: plugin-{i}, namespace: ns-{ns}}}
spec:
  type: {kind}
  pluginName: plugin_{i}
  artifact:
    image: registry.example/plugins/p{i}@sha256:{digest}
    path: /plugins/libplugin_{i}.so
    sha256: {digest}
    imagePullSecrets: [{{name: regcred}}]
  instances:
    - {routing}
      alias: p{i}_a
      properties:
        - {{name: path, value: /var/log/out/{i}.jsonl}}
        - {{name: format, value: jsonl}}
        - {{name: Header, value: 'X-Plugin {i}'}}
        - {{name: Header, value: 'X-Tenant ns-{ns}'}}
    - {routing}
      alias: p{i}_b
      properties:
        - {{name: path, value: /var/log/out/{i}-b.jsonl}}
        - {{name: max_size, value: 10M}}
  target: {{daemonSet: fluent-bit-{ds}}}
"#,
        ns = ds % 5,
        digest = format!("{:064x}", i),
    );
    match serde_norway::from_str(&yaml) {
        Ok(p) => p,
        Err(e) => panic!("benchmark plugin {i} does not decode: {e}"),
    }
}

/// An opted-in DaemonSet shaped like the official chart's (config from ConfigMap `name`).
fn daemonset(namespace: &str, name: &str) -> DaemonSet {
    let ds = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {
            "name": name, "namespace": namespace, "uid": format!("uid-{name}"),
            "labels": { "fbplugin.dev/accept-plugins": "true" },
            "annotations": {
                "fbplugin.dev/container": "fluent-bit",
                "fbplugin.dev/config-path": "/fluent-bit/etc/conf/fluent-bit.conf",
                "fbplugin.dev/pull-secrets": "regcred",
            },
        },
        "spec": {
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": {
                    "containers": [{
                        "name": "fluent-bit", "image": "fluent/fluent-bit:5.1.1",
                        "volumeMounts": [{ "name": "config", "mountPath": "/fluent-bit/etc/conf" }],
                    }],
                    "volumes": [{ "name": "config", "configMap": { "name": name } }],
                },
            },
        },
    });
    match serde_json::from_value(ds) {
        Ok(ds) => ds,
        Err(e) => panic!("benchmark DaemonSet {name} does not decode: {e}"),
    }
}

type Group<'a> = (String, String, DaemonSet, Vec<&'a FluentBitPlugin>);

fn run(groups: &[Group<'_>], images: &ImagePolicy) -> usize {
    let mut writes = 0;
    for (namespace, name, ds, plugins) in groups {
        let observed = Observed {
            namespace,
            name,
            daemonset: Target::Present(ds),
            base_config: Some(BASE),
            configmap: None,
            plugins,
            images: Some(images),
            release_unusable: false,
            offline: false,
        };
        let planned = plan::plan(black_box(&observed));
        if planned.included.len() != plugins.len() {
            panic!(
                "benchmark DaemonSet {name} left plugins out: {:?}",
                planned.render.outcomes
            );
        }
        writes += planned.writes();
    }
    writes
}

fn main() {
    let plugins: Vec<FluentBitPlugin> = (0..PLUGINS).map(plugin).collect();
    let mut groups: Vec<Group<'_>> = Vec::new();
    for d in 0..DAEMONSETS {
        let members: Vec<&FluentBitPlugin> = plugins
            .iter()
            .filter(|p| p.spec.target.daemon_set == format!("fluent-bit-{d}"))
            .collect();
        let namespace = members[0].metadata.namespace.clone().unwrap_or_default();
        let name = format!("fluent-bit-{d}");
        let ds = daemonset(&namespace, &name);
        groups.push((namespace, name, ds, members));
    }
    let images = ImagePolicy::new(["registry.example/"]);
    let writes = run(&groups, &images);
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            black_box(run(black_box(&groups), &images));
            start.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "plan: {PLUGINS} plugins, {DAEMONSETS} DaemonSets, {RUNS} runs: min {:.2} ms, median \
         {:.2} ms, max {:.2} ms ({writes} writes planned per run: one ConfigMap and one \
         DaemonSet apply per DaemonSet)",
        ms(times[0]),
        ms(times[RUNS / 2]),
        ms(times[RUNS - 1]),
    );
}
