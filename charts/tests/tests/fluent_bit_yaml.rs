//! The prepared DaemonSet in Fluent Bit's YAML format (`fluentBit.configFileFormat: yaml`):
//! the ConfigMap holds `fluent-bit.yaml` and nothing named `fluent-bit.conf`, Fluent Bit is
//! started with it and the opt-in names it; the document loads as Fluent Bit 5.1.1 reads it
//! (the project's test host, with the operator's own `pipeline.yaml` for the examples), holds
//! the chart's HTTP server settings and the operator's include exactly once, last; the user's
//! include of that file is refused. Classic mode renders as it did before YAML mode existed.
//! Real helm v4, strict parsing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use chart_tests::manifest::Object;
use chart_tests::{helm, template, template_values, workspace_root};
use fluent_bit_plugin_test_host::config::{Config, SectionKind};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Container;
use operator::render::BaseConfig;
use serde_norway::Value;

const NS: &str = "logging";
const YAML_PATH: &str = "/fluent-bit/etc/conf/fluent-bit.yaml";
const CLASSIC_PATH: &str = "/fluent-bit/etc/conf/fluent-bit.conf";
const PIPELINE_YAML: &str = "/fluent-bit/etc/fbplugin/pipeline.yaml";

fn helm_bin() -> PathBuf {
    static HELM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match HELM.get_or_init(|| helm::helm().map_err(|e| e.to_string())) {
        Ok(path) => path.clone(),
        Err(e) => panic!("{e}"),
    }
}

fn render(sets: &[&str]) -> Vec<Object> {
    template(&helm_bin(), "fbplugin", NS, sets).unwrap_or_else(|e| panic!("{e}"))
}

fn render_values(values: &str) -> Vec<Object> {
    template_values(&helm_bin(), "fbplugin", NS, values, &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// What helm said in a [`template`] error, without the command line it starts with.
fn said(err: &str) -> &str {
    err.split_once("Error:").map_or(err, |(_, said)| said)
}

fn daemonset(objects: &[Object]) -> &DaemonSet {
    objects
        .iter()
        .find_map(|o| match o {
            Object::DaemonSet(d) => Some(d),
            _ => None,
        })
        .expect("the prepared DaemonSet")
}

fn fluent_bit(ds: &DaemonSet) -> &Container {
    ds.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.iter().find(|c| c.name == "fluent-bit"))
        .expect("container fluent-bit")
}

fn config_path_annotation(ds: &DaemonSet) -> Option<&str> {
    ds.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(operator::layout::CONFIG_PATH_ANNOTATION))
        .map(String::as_str)
}

fn checksum(ds: &DaemonSet) -> String {
    ds.spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get("checksum/config").cloned())
        .expect("checksum/config on the pod template")
}

/// The data of the ConfigMap `fluent-bit`.
fn config_files(objects: &[Object]) -> BTreeMap<String, String> {
    objects
        .iter()
        .find_map(|o| match o {
            Object::ConfigMap(c) if c.metadata.name.as_deref() == Some("fluent-bit") => {
                c.data.clone()
            }
            _ => None,
        })
        .expect("ConfigMap fluent-bit")
}

/// Compares `actual` with `tests/golden/<name>`; `UPDATE_GOLDEN=1` rewrites the file.
fn assert_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_GOLDEN=1", path.display()));
    assert!(
        expected == actual,
        "{} differs; if intended, rerun with UPDATE_GOLDEN=1 and review the diff.\n--- golden ---\n{expected}\n--- actual ---\n{actual}",
        path.display()
    );
}

/// A container filesystem in a fresh directory: the chart's ConfigMap at /fluent-bit/etc/conf/
/// and the operator's files at /fluent-bit/etc/fbplugin/; removed on drop.
struct Root(PathBuf);

impl Root {
    fn new(chart_files: &BTreeMap<String, String>, operator_files: &[(&str, &str)]) -> Root {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fbplugin-yaml-root-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let conf = dir.join("fluent-bit/etc/conf");
        let fbplugin = dir.join(operator::layout::CONFIG_DIR.trim_start_matches('/'));
        for d in [&conf, &fbplugin] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        }
        for (name, text) in chart_files {
            std::fs::write(conf.join(name), text).expect("write a chart file");
        }
        for (name, text) in operator_files {
            std::fs::write(fbplugin.join(name), text).expect("write an operator file");
        }
        Root(dir)
    }

    /// Loads the main config at `path` (a container path) as Fluent Bit 5.1.1 would.
    fn load(&self, path: &str) -> Config {
        let local = self.0.join(path.trim_start_matches('/'));
        Config::load_under(&local, Some(&self.0)).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The operator's files for this base config and these plugins (none: the empty pipeline it
/// mounts before any plugin comes), checking that every plugin is included (notes such as
/// workers left out under hot reload do not block).
fn operator_files(
    base: &str,
    yaml: bool,
    plugins: &[&fbplugin_crds::FluentBitPlugin],
) -> Vec<(&'static str, String)> {
    let base = BaseConfig {
        text: base,
        hot_reload_flag: None,
        yaml: Some(yaml),
        known: true,
    };
    let result = operator::render::render_daemonset_admitted(base, plugins, |_| Vec::new());
    assert!(
        result
            .outcomes
            .iter()
            .all(|o| o.included && o.problems.iter().all(|p| !p.blocking)),
        "every plugin included: {:?}",
        result.outcomes
    );
    let rendered = result.rendered.expect("rendered");
    assert_eq!(rendered.yaml, yaml);
    rendered
        .files()
        .into_iter()
        .map(|(name, text)| (name, text.to_owned()))
        .collect()
}

fn load_with_operator(
    chart_files: &BTreeMap<String, String>,
    main: &str,
    plugins: &[&fbplugin_crds::FluentBitPlugin],
) -> Config {
    let yaml = main.ends_with(".yaml");
    let base = &chart_files[main.rsplit('/').next().unwrap_or(main)];
    let files = operator_files(base, yaml, plugins);
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    Root::new(chart_files, &files).load(main)
}

/// A section's properties as Fluent Bit compares them: keys in any case, booleans in any
/// spelling (`On`, `true`), order not significant.
fn normalized(cfg: &Config) -> Vec<(SectionKind, Vec<(String, String)>)> {
    cfg.sections
        .iter()
        .map(|s| {
            let mut entries: Vec<(String, String)> = s
                .entries
                .iter()
                .map(|e| {
                    let v = e.value.to_ascii_lowercase();
                    let v = match v.as_str() {
                        "on" | "true" | "yes" => "true".to_owned(),
                        "off" | "false" | "no" => "false".to_owned(),
                        _ => e.value.clone(),
                    };
                    (e.key.to_ascii_lowercase(), v)
                })
                .collect();
            entries.sort();
            (s.kind, entries)
        })
        .collect()
}

fn top_level(text: &str) -> serde_norway::Mapping {
    match serde_norway::from_str::<Value>(text) {
        Ok(Value::Mapping(m)) => m,
        other => panic!("fluent-bit.yaml is not one YAML map: {other:?}\n{text}"),
    }
}

fn example_plugins() -> Vec<fbplugin_crds::FluentBitPlugin> {
    let examples = workspace_root().join("examples");
    operator::offline::load_plugins(&[
        examples.join("in-generator/deploy"),
        examples.join("filter-redact/deploy"),
        examples.join("out-jsonl/deploy"),
    ])
    .expect("example FluentBitPlugins load")
    .into_iter()
    .map(|s| s.plugin)
    .collect()
}

#[test]
fn classic_stays_the_default_and_renders_as_before() {
    let objects = render(&[]);
    let files = config_files(&objects);
    assert_eq!(files.keys().collect::<Vec<_>>(), ["fluent-bit.conf"]);
    // The golden is what the chart rendered before YAML mode existed.
    assert_golden("fluent-bit.conf", &files["fluent-bit.conf"]);
    let ds = daemonset(&objects);
    // And so the pods of a default install do not roll when the chart is upgraded to it.
    assert_eq!(
        checksum(ds),
        "abdc96688cf8dd9b6bdfde1851565982f7f163c0574434c42f1a9558f4001152"
    );
    assert_eq!(config_path_annotation(ds), Some(CLASSIC_PATH));
    assert!(
        fluent_bit(ds)
            .args
            .clone()
            .unwrap_or_default()
            .contains(&format!("--config={CLASSIC_PATH}"))
    );
    assert_eq!(
        render(&["fluentBit.configFileFormat=classic"])
            .iter()
            .map(Object::key)
            .collect::<Vec<_>>(),
        objects.iter().map(Object::key).collect::<Vec<_>>()
    );
    assert_eq!(
        checksum(daemonset(&render(&["fluentBit.configFileFormat=classic"]))),
        checksum(ds),
        "naming the default changes nothing"
    );
}

#[test]
fn yaml_mode_names_fluent_bit_yaml_wherever_fluent_bit_and_the_operator_look() {
    let classic = render(&[]);
    let objects = render(&["fluentBit.configFileFormat=yaml"]);
    let files = config_files(&objects);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["fluent-bit.yaml"],
        "no fluent-bit.conf beside it"
    );
    assert_golden("fluent-bit.yaml", &files["fluent-bit.yaml"]);
    let ds = daemonset(&objects);
    let args = fluent_bit(ds).args.clone().unwrap_or_default();
    assert_eq!(
        args,
        [
            "--workdir=/fluent-bit/etc",
            &format!("--config={YAML_PATH}")
        ]
    );
    assert_eq!(config_path_annotation(ds), Some(YAML_PATH));
    let opt_in = operator::gate::opt_in(ds).expect("opted in");
    assert_eq!(opt_in.config_path, YAML_PATH);
    let source = operator::workload::base_config_source(ds, "fluent-bit", YAML_PATH)
        .unwrap_or_else(|e| panic!("the operator cannot read the YAML config: {e}"));
    assert_eq!(
        (source.configmap.as_str(), source.key.as_str()),
        ("fluent-bit", "fluent-bit.yaml")
    );
    assert!(operator::render::yaml::is_yaml_path(&opt_in.config_path));
    assert_ne!(
        checksum(ds),
        checksum(daemonset(&classic)),
        "switching the format rolls the pods"
    );
}

#[test]
fn the_default_yaml_config_is_the_classic_default_and_loads_with_the_examples() {
    let yaml_files = config_files(&render(&["fluentBit.configFileFormat=yaml"]));
    let classic_files = config_files(&render(&[]));
    let text = &yaml_files["fluent-bit.yaml"];

    // Parsed: the chart's service keys, the operator's include once, as the last section.
    let top = top_level(text);
    let keys: Vec<&str> = top.keys().filter_map(Value::as_str).collect();
    assert_eq!(keys, ["service", "pipeline", "includes"], "{text}");
    let service = &top["service"];
    assert_eq!(service["http_server"], Value::Bool(true), "{text}");
    assert_eq!(service["http_listen"].as_str(), Some("0.0.0.0"));
    assert_eq!(service["http_port"].as_u64(), Some(2020));
    assert_eq!(service["health_check"], Value::Bool(true));
    assert_eq!(
        top["includes"],
        serde_norway::from_str::<Value>(&format!("[{PIPELINE_YAML}]")).expect("list"),
    );
    assert_eq!(text.matches(PIPELINE_YAML).count(), 1, "{text}");
    assert!(operator::render::includes_pipeline(text, true), "{text}");

    // Loaded the way Fluent Bit reads each format, the two defaults are the same pipeline.
    let yaml = load_with_operator(&yaml_files, YAML_PATH, &[]);
    let classic = load_with_operator(&classic_files, CLASSIC_PATH, &[]);
    assert_eq!(normalized(&yaml), normalized(&classic));
    assert!(
        yaml.files
            .iter()
            .any(|f| f.ends_with("fbplugin/pipeline.yaml")),
        "the operator's file is read: {:?}",
        yaml.files
    );
    let port = yaml.service("http_port").map(|e| e.value.as_str());
    assert_eq!(port, Some("2020"));

    // The examples render onto it and load: their sections come after the base pipeline.
    let plugins = example_plugins();
    let plugins: Vec<&fbplugin_crds::FluentBitPlugin> = plugins.iter().collect();
    let cfg = load_with_operator(&yaml_files, YAML_PATH, &plugins);
    let names = |kind| {
        cfg.sections_of(kind)
            .map(|s| s.get("name").unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(SectionKind::Input), ["tail", "generator"]);
    assert_eq!(names(SectionKind::Filter), ["wasm"]);
    assert_eq!(names(SectionKind::Output), ["null", "jsonl_file"]);
    let so = cfg
        .plugin_paths_under(None)
        .expect("the plugins: list reads");
    assert_eq!(so.len(), 2, "both .so files are listed: {so:?}");
}

/// A YAML config as a user pastes it: keys and booleans as Fluent Bit's docs write them, the
/// HTTP server settings of the official chart, parsers inline, an include of an extra file.
const PASTED: &str = r#"
fluentBit:
  configFileFormat: yaml
  metricsPort: 2021
  config:
    extraFiles:
      extra.yaml: |
        pipeline:
          filters:
            - name: modify
              match: "*"
              add: from_extra 1
    yaml:
      env:
        ES_HOST: elasticsearch-master
      service:
        flush: 5
        log_level: debug
        HTTP_Server: off
        httpPort: 9999
        http_listen: 127.0.0.1
        Health_Check: off
        hot_reload: on
      parsers:
        - name: json_no_time
          format: json
          time_keep: off
      multiline_parsers:
        - name: java
          type: regex
          flush_timeout: 1000
          rules:
            - state: start_state
              regex: '/^\d{4}-\d{2}-\d{2}/'
              next_state: cont
      pipeline:
        inputs:
          - name: tail
            tag: kube.*
            path: /var/log/containers/*.log
            buffer_max_size: 10000000
            skip_long_lines: on
        filters:
          - name: grep
            match: kube.*
            exclude: log ^(?:GET|POST) /healthz?( HTTP/1\.[01])? 200 and a tail long enough that a YAML writer folds it
          - name: modify
            match: "*"
            add:
              - cluster prod
              - region eu
        outputs:
          - name: es
            match: kube.*
            host: ${ES_HOST}
            logstash_format: on
            retry_limit: false
      includes:
        - extra.yaml
"#;

#[test]
fn a_pasted_yaml_config_keeps_its_values_and_the_chart_owns_the_http_server() {
    let objects = render_values(PASTED);
    let files = config_files(&objects);
    let text = &files["fluent-bit.yaml"];
    for gone in [
        "HTTP_Server",
        "httpPort",
        "9999",
        "Health_Check",
        "127.0.0.1",
    ] {
        assert!(
            !text.contains(gone),
            "{gone:?} replaced by the chart's:\n{text}"
        );
    }
    let top = top_level(text);
    assert_eq!(
        top.keys().filter_map(Value::as_str).collect::<Vec<_>>(),
        [
            "env",
            "service",
            "parsers",
            "multiline_parsers",
            "pipeline",
            "includes"
        ],
        "includes last: read after this file's pipeline"
    );
    assert!(operator::render::includes_pipeline(text, true), "{text}");
    // The operator sees the hot reload Fluent Bit will run with.
    let base = BaseConfig {
        text,
        hot_reload_flag: None,
        yaml: Some(true),
        known: true,
    };
    assert!(base.hot_reload_in(true).is_some(), "{text}");

    let plugins = example_plugins();
    let plugins: Vec<&fbplugin_crds::FluentBitPlugin> = plugins.iter().collect();
    let cfg = load_with_operator(&files, YAML_PATH, &plugins);
    let service = |k: &str| cfg.service(k).map(|e| e.value.clone());
    assert_eq!(service("http_server").as_deref(), Some("true"));
    assert_eq!(service("http_listen").as_deref(), Some("0.0.0.0"));
    assert_eq!(service("http_port").as_deref(), Some("2021"), "metricsPort");
    assert_eq!(service("health_check").as_deref(), Some("true"));
    assert_eq!(service("flush").as_deref(), Some("5"));
    assert_eq!(service("log_level").as_deref(), Some("debug"));
    let http_keys = cfg
        .sections_of(SectionKind::Service)
        .flat_map(|s| &s.entries)
        .filter(|e| e.key.to_ascii_lowercase().starts_with("http") || e.key.contains("ealth"))
        .count();
    assert_eq!(http_keys, 4, "one of each, the chart's: {:?}", cfg.sections);

    let input = cfg
        .sections_of(SectionKind::Input)
        .next()
        .expect("the tail input");
    assert_eq!(input.get("buffer_max_size"), Some("10000000"), "not 1e+07");
    assert!(
        matches!(input.get("skip_long_lines"), Some("true" | "on")),
        "{input:?}"
    );
    let filters: Vec<_> = cfg.sections_of(SectionKind::Filter).collect();
    let filter_names: Vec<&str> = filters.iter().filter_map(|s| s.get("name")).collect();
    assert_eq!(
        filter_names,
        ["grep", "modify", "modify", "wasm"],
        "this file's filters, the included file's, then the plugins'"
    );
    assert_eq!(
        filters[0].get("exclude"),
        Some(
            "log ^(?:GET|POST) /healthz?( HTTP/1\\.[01])? 200 and a tail long enough that a \
             YAML writer folds it"
        )
    );
    let adds: Vec<&str> = filters[1]
        .entries
        .iter()
        .filter(|e| e.key == "add")
        .map(|e| e.value.as_str())
        .collect();
    assert_eq!(
        adds,
        ["cluster prod", "region eu"],
        "a list is the repeated key"
    );
    assert_eq!(filters[2].get("add"), Some("from_extra 1"));
    let es = cfg
        .sections_of(SectionKind::Output)
        .find(|s| s.get("name") == Some("es"))
        .expect("the es output");
    assert_eq!(es.get("host"), Some("elasticsearch-master"), "env expands");
    assert!(
        cfg.files
            .iter()
            .filter(|f| f.ends_with("fbplugin/pipeline.yaml"))
            .count()
            == 1,
        "{:?}",
        cfg.files
    );
    let top_parsers = &top["multiline_parsers"][0]["rules"][0]["regex"];
    assert_eq!(top_parsers.as_str(), Some("/^\\d{4}-\\d{2}-\\d{2}/"));
}

#[test]
fn the_include_of_the_operators_pipeline_is_the_charts_alone() {
    let helm = helm_bin();
    for (entry, message) in [
        (
            PIPELINE_YAML,
            "fluentBit.config.yaml.includes: remove `/fluent-bit/etc/fbplugin/pipeline.yaml`; \
             the chart adds it itself",
        ),
        (
            "/fluent-bit/etc/fbplugin/*.yaml",
            "fluentBit.config.yaml.includes: `/fluent-bit/etc/fbplugin/*.yaml` is in the \
             operator's directory",
        ),
    ] {
        let values = format!(
            "fluentBit:\n  configFileFormat: yaml\n  config:\n    yaml:\n      includes:\n        - {entry:?}\n"
        );
        let err = template_values(&helm, "fbplugin", NS, &values, &[])
            .expect_err("the operator's file listed by the user");
        assert!(said(&err).contains(message), "{err}");
    }
    // The main config's name is the chart's in the format in use; classic keeps allowing a
    // file named fluent-bit.yaml, as before.
    let extra =
        "fluentBit:\n  config:\n    extraFiles:\n      fluent-bit.yaml: \"service: {}\\n\"\n";
    let err = template_values(
        &helm,
        "fbplugin",
        NS,
        extra,
        &["fluentBit.configFileFormat=yaml"],
    )
    .expect_err("fluent-bit.yaml twice");
    assert!(
        said(&err).contains(
            "fluentBit.config.extraFiles.fluent-bit.yaml: that file is the chart's \
             (fluent-bit.yaml is the main config"
        ),
        "{err}"
    );
    let classic = config_files(&render_values(extra));
    assert_eq!(
        classic.keys().collect::<Vec<_>>(),
        ["fluent-bit.conf", "fluent-bit.yaml"]
    );
    // Not a template: the official chart's `{{ .Values.x }}` is refused, not shipped.
    let err = template_values(
        &helm,
        "fbplugin",
        NS,
        "fluentBit:\n  configFileFormat: yaml\n  config:\n    yaml:\n      service:\n        http_port: \"{{ .Values.metricsPort }}\"\n",
        &[],
    )
    .expect_err("a template in the YAML config");
    assert!(
        said(&err).contains("fluentBit.config.yaml: holds `{{`"),
        "{err}"
    );
}

#[test]
fn the_schema_describes_the_yaml_values() {
    let helm = helm_bin();
    let cases: &[(&[&str], &str)] = &[
        (
            &["fluentBit.configFileFormat=json"],
            "'/fluentBit/configFileFormat': value must be one of 'classic', 'yaml'",
        ),
        (
            &["fluentBit.config.yaml.pipeline.inputs[0].tag=x"],
            "'/fluentBit/config/yaml/pipeline/inputs/0': missing property 'name'",
        ),
        (
            &["fluentBit.config.yaml.pipeline.input[0].name=tail"],
            "additional properties 'input' not allowed",
        ),
        (
            &["fluentBit.config.yaml.servce.flush=1"],
            "additional properties 'servce' not allowed",
        ),
        (
            &["fluentBit.config.yaml.service.flush={1,2}"],
            "'/fluentBit/config/yaml/service/flush': got array",
        ),
        (
            &["fluentBit.config.yaml.includes=extra.yaml"],
            "'/fluentBit/config/yaml/includes': got string, want array",
        ),
        (
            &["fluentBit.config.yaml.parsers[0].format=json"],
            "'/fluentBit/config/yaml/parsers/0': missing property 'name'",
        ),
        (
            &["fluentBit.config.yaml.pipeline.outputs[0].name=null"],
            "'/fluentBit/config/yaml/pipeline/outputs/0/name': got null, want string",
        ),
    ];
    for (sets, message) in cases {
        let err =
            template(&helm, "fbplugin", NS, sets).expect_err(&format!("{sets:?} must be refused"));
        assert!(
            said(&err).contains(message),
            "{sets:?}: expected {message:?} in: {err}"
        );
    }
}

#[test]
fn editing_the_yaml_config_rolls_the_pods() {
    let base = checksum(daemonset(&render(&["fluentBit.configFileFormat=yaml"])));
    for (what, set) in [
        ("a service key", "fluentBit.config.yaml.service.flush=2"),
        (
            "an output",
            "fluentBit.config.yaml.pipeline.outputs[0].name=stdout",
        ),
        ("the metrics port", "fluentBit.metricsPort=2021"),
    ] {
        let after = checksum(daemonset(&render(&[
            "fluentBit.configFileFormat=yaml",
            set,
        ])));
        assert_ne!(after, base, "{what} changed, the pod template must too");
    }
    // The classic strings are not used in YAML mode, so changing them rolls nothing.
    let unused = checksum(daemonset(&render(&[
        "fluentBit.configFileFormat=yaml",
        "fluentBit.config.filters=",
        "fluentBit.config.outputs=x",
    ])));
    assert_eq!(unused, base);
}
