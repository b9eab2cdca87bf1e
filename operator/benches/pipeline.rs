//! Validate + render + apply intents for 1,000 plugins over 50 DaemonSets, single-threaded.
//!
//! `cargo bench -p operator --bench pipeline` prints min/median/max of 30 runs. Target: under
//! 100 ms per run on one core.

use std::hint::black_box;
use std::time::{Duration, Instant};

use fbplugin_crds::FluentBitPlugin;
use operator::render::render_daemonset;
use operator::workload::{self, Owner};

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

fn run(groups: &[(String, String, Vec<&FluentBitPlugin>)]) -> usize {
    let mut bytes = 0;
    for (namespace, ds, plugins) in groups {
        let result = render_daemonset(BASE, plugins);
        let Some(rendered) = &result.rendered else {
            panic!(
                "benchmark DaemonSet {ds} rendered nothing: {:?}",
                result.outcomes
            );
        };
        let owner = Owner {
            name: ds.clone(),
            uid: "uid".into(),
        };
        let cm =
            workload::configmap_intent(ds, namespace, Some(&owner), rendered, &Default::default());
        let intent = workload::daemonset_intent(
            ds,
            namespace,
            "fluent-bit",
            &result.included(plugins),
            rendered,
        );
        bytes += rendered.pipeline.len() + black_box(&cm).as_object().map_or(0, |o| o.len());
        black_box(intent);
    }
    bytes
}

fn main() {
    let plugins: Vec<FluentBitPlugin> = (0..PLUGINS).map(plugin).collect();
    let mut groups: Vec<(String, String, Vec<&FluentBitPlugin>)> = Vec::new();
    for d in 0..DAEMONSETS {
        let members: Vec<&FluentBitPlugin> = plugins
            .iter()
            .filter(|p| p.spec.target.daemon_set == format!("fluent-bit-{d}"))
            .collect();
        let namespace = members[0].metadata.namespace.clone().unwrap_or_default();
        groups.push((namespace, format!("fluent-bit-{d}"), members));
    }
    let bytes = run(&groups);
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            black_box(run(black_box(&groups)));
            start.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "validate+render+intents: {PLUGINS} plugins, {DAEMONSETS} DaemonSets, {RUNS} runs: \
         min {:.2} ms, median {:.2} ms, max {:.2} ms ({} KiB of config per run)",
        ms(times[0]),
        ms(times[RUNS / 2]),
        ms(times[RUNS - 1]),
        bytes / 1024
    );
}
