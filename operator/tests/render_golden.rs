//! `render`: golden files for what Fluent Bit will read, determinism, and what is left out.

mod support;

use fbplugin_crds::FluentBitPlugin;
use operator::layout;
use operator::render::{self, render_daemonset};
use operator::validate::Reason;
use support::{assert_golden, fixture, make, plugin};

fn multi() -> Vec<FluentBitPlugin> {
    vec![
        make(
            "out-archive",
            "output",
            "archive",
            r#"{matchRegex: '^(kube|gen)\..*$', alias: archive_all, workers: 2, retryLimit: no_retries, storageTotalLimitSize: 500M, logLevel: warn, properties: [{name: Header, value: 'X-A 1'}, {name: Header, value: 'X-B 2'}, {name: dir, value: '${ARCHIVE_DIR}/logs'}], allowEnvExpansion: true}"#,
        ),
        make(
            "in-generator",
            "input",
            "generator",
            r#"{tag: gen.hello, memBufLimit: 5M, storageType: filesystem, properties: [{name: message, value: 'hello # not a comment [x] @y'}, {name: rate, value: '10'}]}"#,
        ),
        make(
            "ext-metrics",
            "custom",
            "metrics_ext",
            r#"{alias: metrics_ext, logLevel: debug}"#,
        ),
        plugin(&fixture_plugin_with_two_instances()),
    ]
}

fn fixture_plugin_with_two_instances() -> String {
    format!(
        r#"
apiVersion: fbplugin.dev/v1alpha1
kind: FluentBitPlugin
metadata: {{name: out-jsonl, namespace: logging}}
spec:
  type: output
  pluginName: jsonl_file
  artifact:
    image: registry.example/out-jsonl@sha256:{d}
    path: /plugins/libout_jsonl.so
    sha256: {d}
    imagePullPolicy: Always
    imagePullSecrets: [{{name: regcred}}]
  instances:
    - match: "kube.*"
      properties: [{{name: path, value: /var/log/kube.jsonl}}]
    - match: "gen.*"
      retryLimit: 3
      properties: [{{name: path, value: /var/log/gen.jsonl}}]
  target: {{daemonSet: fluent-bit}}
"#,
        d = "cd".repeat(32)
    )
}

#[test]
fn multi_plugin_daemonset() {
    let plugins = multi();
    let refs: Vec<&FluentBitPlugin> = plugins.iter().collect();
    let result = render_daemonset(&fixture("fluent-bit.conf"), &refs);
    assert!(
        result
            .outcomes
            .iter()
            .all(|o| o.included && o.problems.is_empty()),
        "{:#?}",
        result.outcomes
    );
    let rendered = result.rendered.expect("four valid plugins render");
    assert_eq!(
        support::classic_config_errors(&rendered.pipeline),
        Vec::<String>::new()
    );
    assert_eq!(
        support::classic_config_errors(rendered.plugins_conf.as_deref().unwrap_or_default()),
        Vec::<String>::new()
    );
    assert_golden("multi/pipeline.conf", &rendered.pipeline);
    assert_golden(
        "multi/plugins.conf",
        rendered.plugins_conf.as_deref().unwrap_or_default(),
    );
    assert_golden("multi/hash", &format!("{}\n", rendered.hash));
}

#[test]
fn rendering_is_deterministic_whatever_the_input_order() {
    let plugins = multi();
    let forward: Vec<&FluentBitPlugin> = plugins.iter().collect();
    let backward: Vec<&FluentBitPlugin> = plugins.iter().rev().collect();
    let base = fixture("fluent-bit.conf");
    let a = render_daemonset(&base, &forward).rendered.expect("renders");
    let b = render_daemonset(&base, &backward)
        .rendered
        .expect("renders");
    assert_eq!(a, b);
}

#[test]
fn the_pipeline_never_has_whitespace_only_lines_nor_the_base_config() {
    let plugins = multi();
    let refs: Vec<&FluentBitPlugin> = plugins.iter().collect();
    let base = fixture("fluent-bit.conf");
    let rendered = render_daemonset(&base, &refs).rendered.expect("renders");
    assert!(
        !rendered.pipeline.contains("Name tail"),
        "never a copy of the base"
    );
    for (n, line) in rendered.pipeline.lines().enumerate() {
        assert!(
            line.is_empty() || !line.trim().is_empty(),
            "line {} is whitespace only",
            n + 1
        );
    }
}

#[test]
fn every_change_that_must_roll_pods_changes_the_hash() {
    let base = fixture("fluent-bit.conf");
    let hash = |p: &FluentBitPlugin, base: &str| {
        render_daemonset(base, &[p]).rendered.expect("renders").hash
    };
    let original = make("out-a", "output", "a", "{match: '*'}");
    let h0 = hash(&original, &base);
    let mut image = original.clone();
    image.spec.artifact.image = format!("registry.example/out-a@sha256:{}", "ef".repeat(32));
    let mut sha = original.clone();
    sha.spec.artifact.sha256 = Some("01".repeat(32));
    let mut secret = original.clone();
    secret.spec.artifact.image_pull_secrets =
        vec![fbplugin_crds::SecretReference { name: "r".into() }];
    let changed = [
        hash(&image, &base),
        hash(&sha, &base),
        hash(&secret, &base),
        hash(&make("out-a", "output", "a", "{match: 'x'}"), &base),
    ];
    for (i, h) in changed.iter().enumerate() {
        assert_ne!(h, &h0, "change {i} kept the hash");
    }
    assert_eq!(hash(&original, &base), h0);
    // The DaemonSet's own config is included, not copied: its changes reach the pods through
    // its own rollout, and do not roll them a second time.
    assert_eq!(
        hash(
            &original,
            &format!("{base}\n[OUTPUT]\n    Name null\n    Match x\n"),
        ),
        h0
    );
}

#[test]
fn invalid_plugin_beside_a_valid_one_is_left_out_and_reported() {
    let invalid = support::plugin(&fixture("invalid-fluentbitplugin.yaml"));
    let valid = make("out-a", "output", "a", "{match: '*'}");
    let result = render_daemonset(&fixture("fluent-bit.conf"), &[&invalid, &valid]);
    assert!(!result.outcomes[0].included);
    assert!(result.outcomes[1].included);
    let reasons: Vec<Reason> = result.outcomes[0]
        .problems
        .iter()
        .map(|p| p.reason)
        .collect();
    assert_eq!(
        reasons,
        vec![
            Reason::ImageNotPinned,
            Reason::RoutingNotAllowed,
            Reason::MissingMatch,
            Reason::ReservedKey,
            Reason::InvalidValue,
            Reason::InvalidKey,
        ]
    );
    let rendered = result.rendered.expect("the valid one renders");
    assert!(!rendered.pipeline.contains("broken"));
    assert!(
        !rendered
            .plugins_conf
            .as_deref()
            .unwrap_or_default()
            .contains("broken")
    );
    assert!(rendered.pipeline.contains("    Name a\n"));
    assert_golden("invalid-beside-valid/pipeline.conf", &rendered.pipeline);
}

#[test]
fn a_base_config_that_sets_plugins_file_blocks_every_plugin() {
    let base = "[SERVICE]\n    Plugins_File /etc/plugins.conf\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n";
    let p = make("out-a", "output", "a", "{match: '*'}");
    let result = render_daemonset(base, &[&p]);
    let rendered = result.rendered.expect("the empty pipeline");
    assert!(!rendered.pipeline.contains('['), "{}", rendered.pipeline);
    let problem = &result.outcomes[0].problems[0];
    assert_eq!(problem.reason, Reason::BaseConfigSetsPluginsFile);
    assert!(problem.message.contains("line 2"), "{}", problem.message);
}

#[test]
fn under_hot_reload_a_plugin_output_renders_without_workers_and_says_why() {
    let out = make("out-a", "output", "a", "{match: '*', workers: 2}");
    let input = make("in-b", "input", "b", "{tag: b}");
    for (base, line) in [
        (
            "[SERVICE]\n    Hot_Reload On\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n",
            2,
        ),
        (
            "[SERVICE]\n    Flush 1\n    hot_reload  TRUE\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n",
            3,
        ),
    ] {
        let result = render_daemonset(base, &[&out, &input]);
        let conf = result.rendered.expect("renders").pipeline;
        assert!(conf.contains("    Name a\n    Match *\n"), "{conf}");
        assert!(!conf.contains("Workers"), "{conf}");
        let problems = &result.outcomes[0].problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            (
                problems[0].reason,
                problems[0].blocking,
                problems[0].field.as_str()
            ),
            (
                Reason::WorkersWithHotReload,
                false,
                "spec.instances[0].workers"
            )
        );
        assert!(
            problems[0].message.contains(&format!("line {line}")),
            "{}",
            problems[0].message
        );
        assert!(result.outcomes[0].included && result.outcomes[1].problems.is_empty());
        let accepted = operator::validate::accepted_condition(problems);
        assert!(
            accepted.status && accepted.message.contains("hot reload"),
            "{accepted:?}"
        );
    }
    // The official chart turns hot reload on with a container argument instead.
    let ds: k8s_openapi::api::apps::v1::DaemonSet = serde_norway::from_str(
        "metadata: {name: fluent-bit}\nspec:\n  selector: {}\n  template:\n    spec:\n      containers:\n        - name: fluent-bit\n          args: [--workdir=/fluent-bit/etc, --config=/fluent-bit/etc/conf/fluent-bit.conf, --enable-hot-reload]\n",
    )
    .expect("DaemonSet");
    let flag = operator::workload::hot_reload_flag(&ds, "fluent-bit");
    assert_eq!(flag, Some("--enable-hot-reload"));
    assert_eq!(operator::workload::hot_reload_flag(&ds, "other"), None);
    let base = render::BaseConfig {
        text: "[SERVICE]\n    Flush 1\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n",
        hot_reload_flag: flag,
        yaml: Some(false),
        known: true,
    };
    let result = render::render_daemonset_admitted(base, &[&out], |_| Vec::new());
    assert!(
        !result
            .rendered
            .expect("renders")
            .pipeline
            .contains("Workers")
    );
    let note = &result.outcomes[0].problems[0];
    assert!(
        note.message.contains("argument --enable-hot-reload"),
        "{}",
        note.message
    );
    for base in [
        "",
        "[SERVICE]\n    Hot_Reload Off\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n",
        "[SERVICE]\n    Hot_Reload On\n    Hot_Reload off\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n",
    ] {
        let result = render_daemonset(base, &[&out]);
        assert!(
            result
                .rendered
                .expect("renders")
                .pipeline
                .contains("Workers 2"),
            "{base:?}"
        );
        assert!(result.outcomes[0].problems.is_empty(), "{base:?}");
    }
}

#[test]
fn the_pipeline_keeps_its_own_indent_whatever_the_base_config_uses() {
    // Fluent Bit fixes the indent per file, so the included file may differ from the main one.
    let base = "[SERVICE]\n  Flush 1\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n";
    let p = make("out-a", "output", "a", "{match: '*'}");
    let rendered = render_daemonset(base, &[&p]).rendered.expect("renders");
    assert!(rendered.pipeline.contains("\n    Name a\n    Match *\n"));
    assert_eq!(
        support::classic_config_errors(&rendered.pipeline),
        Vec::<String>::new()
    );
}

#[test]
fn no_valid_plugin_renders_the_empty_pipeline() {
    let invalid = support::plugin(&fixture("invalid-fluentbitplugin.yaml"));
    let result = render_daemonset("", &[&invalid]);
    let rendered = result.rendered.expect("the empty pipeline");
    assert!(!rendered.pipeline.contains('['), "{}", rendered.pipeline);
    assert_eq!(rendered.plugins_conf, None);
    let none = render_daemonset("", &[])
        .rendered
        .expect("the empty pipeline");
    assert_eq!(none.pipeline, rendered.pipeline);
}

#[test]
fn a_config_that_does_not_include_the_pipeline_keeps_every_plugin_out() {
    let p = make("out-a", "output", "a", "{match: '*'}");
    let base = fixture("fluent-bit.conf").replace("@INCLUDE", "# @INCLUDE");
    let result = render_daemonset(&base, &[&p]);
    assert!(!result.outcomes[0].included);
    let problem = &result.outcomes[0].problems[0];
    assert_eq!(
        (problem.reason, problem.field.as_str()),
        (Reason::PipelineNotIncluded, "spec.target")
    );
    assert!(
        problem
            .message
            .contains("add the line `@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf`"),
        "{}",
        problem.message
    );
}

#[test]
fn the_grammar_check_catches_what_it_must() {
    let bad = "[SERVICE]\n  Flush 1\n    Grace 5\n  \n  Daemon\nName x\n";
    assert_eq!(
        support::classic_config_errors(bad).len(),
        4,
        "{:?}",
        support::classic_config_errors(bad)
    );
}

#[test]
fn plugin_files_live_in_a_directory_per_object() {
    let p = make("out-a", "output", "a", "{match: '*'}");
    assert_eq!(
        layout::plugin_file_path(&p),
        "/fluent-bit/plugins/out-a/liba.so"
    );
}
