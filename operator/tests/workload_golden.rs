//! `workload`: golden apply intents, the fields they may contain, and finding the base config.

mod support;

use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;
use operator::layout;
use operator::render::render_daemonset;
use operator::workload::{self, Owner, TargetError};
use serde_json::Value;
use support::{assert_golden, fixture, make};

fn yaml(value: &Value) -> String {
    serde_norway::to_string(value).expect("YAML")
}

fn two_plugins() -> Vec<FluentBitPlugin> {
    let mut with_secret = make("out-b", "output", "b", "{match: '*'}");
    with_secret.spec.artifact.image_pull_secrets = vec![
        fbplugin_crds::SecretReference {
            name: "regcred".into(),
        },
        fbplugin_crds::SecretReference {
            name: "another".into(),
        },
    ];
    with_secret.spec.artifact.sha256 = Some("12".repeat(32));
    let mut a = make("in-a", "input", "a", "{tag: a}");
    a.spec.artifact.image_pull_secrets = vec![fbplugin_crds::SecretReference {
        name: "regcred".into(),
    }];
    vec![with_secret, a]
}

#[test]
fn daemonset_and_configmap_intents() {
    let plugins = two_plugins();
    let refs: Vec<&FluentBitPlugin> = plugins.iter().collect();
    let result = render_daemonset(&fixture("fluent-bit.conf"), &refs);
    let rendered = result.rendered.as_ref().expect("renders");
    let ds = workload::daemonset_intent(
        "fluent-bit",
        "logging",
        "fluent-bit",
        &result.included(&refs),
        rendered,
    );
    assert_golden("workload/daemonset-intent.yaml", &yaml(&ds));
    let owner = Owner {
        name: "fluent-bit".into(),
        uid: "6f1d3c2a-8b4e-4f7a-9c0d-2e5b7a9c1f30".into(),
    };
    let retained = [(
        "pipeline-0123456789abcdef.conf",
        "# the live template's revision\n",
    )]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let cm = workload::configmap_intent("fluent-bit", "logging", Some(&owner), rendered, &retained);
    assert_golden("workload/configmap-intent.yaml", &yaml(&cm));
}

#[test]
fn the_empty_intent_releases_everything() {
    let empty = workload::empty_daemonset_intent("fluent-bit", "logging");
    assert_golden("workload/empty-intent.yaml", &yaml(&empty));
}

/// An opted-in DaemonSet without plugins still reads the operator's (empty) pipeline: its own
/// config includes the file, and Fluent Bit does not start without it.
#[test]
fn no_plugin_still_mounts_the_empty_pipeline() {
    let result = render_daemonset(&fixture("fluent-bit.conf"), &[]);
    let rendered = result.rendered.as_ref().expect("the empty pipeline");
    assert!(rendered.plugins_conf.is_none());
    assert!(!rendered.pipeline.contains('['), "{}", rendered.pipeline);
    let ds = workload::daemonset_intent("fluent-bit", "logging", "fluent-bit", &[], rendered);
    let pod = &ds["spec"]["template"]["spec"];
    assert!(pod["initContainers"].is_null(), "{pod}");
    assert_eq!(
        pod["volumes"][0]["configMap"]["items"],
        serde_json::json!([{ "key": rendered.key("pipeline.conf"), "path": "pipeline.conf" }])
    );
    assert_eq!(
        pod["containers"][0]["volumeMounts"][0],
        serde_json::json!({ "name": "fbplugin-config", "mountPath": "/fluent-bit/etc/fbplugin", "readOnly": true })
    );
}

/// Every path in the intent must be one the operator owns: never the selector, images of
/// other containers, args or command of the Fluent Bit container.
#[test]
fn the_intent_holds_only_operator_fields() {
    let plugins = two_plugins();
    let refs: Vec<&FluentBitPlugin> = plugins.iter().collect();
    let rendered = render_daemonset(&fixture("fluent-bit.conf"), &refs)
        .rendered
        .expect("renders");
    let ds = workload::daemonset_intent("fluent-bit", "logging", "fluent-bit", &refs, &rendered);
    let spec = &ds["spec"];
    assert_eq!(
        spec.as_object().map(|o| o.keys().collect::<Vec<_>>()),
        Some(vec![&"template".to_string()])
    );
    let pod = &spec["template"]["spec"];
    let keys: Vec<&String> = pod.as_object().expect("pod spec").keys().collect();
    assert_eq!(
        keys,
        [
            "containers",
            "imagePullSecrets",
            "initContainers",
            "volumes"
        ]
    );
    let container = &pod["containers"][0];
    let container_keys: Vec<&String> = container.as_object().expect("container").keys().collect();
    assert_eq!(container_keys, ["name", "volumeMounts"]);
    for mount in container["volumeMounts"].as_array().expect("mounts") {
        assert_eq!(mount["readOnly"], Value::Bool(true));
    }
    // It must decode as a DaemonSet: field names and types are real ones.
    let typed: DaemonSet = serde_json::from_value(ds.clone()).expect("intent is a DaemonSet");
    let init = typed
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.init_containers)
        .expect("init");
    assert_eq!(
        init.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        [
            "fbplugin-in-a",
            "fbplugin-out-b",
            format!("fbplugin-verify-in-a-{}", &rendered.hash[..6]).as_str(),
            format!("fbplugin-verify-out-b-{}", &rendered.hash[..6]).as_str(),
        ],
        "every copy step, then every verify step"
    );
    // Each step sees only its own plugin's directory; only the copy steps may write.
    for (c, plugin) in init.iter().zip(["in-a", "out-b", "in-a", "out-b"]) {
        let mounts = c.volume_mounts.as_ref().expect("mounts");
        assert_eq!(mounts.len(), 1, "{}", c.name);
        assert_eq!(mounts[0].name, layout::PLUGINS_VOLUME);
        assert_eq!(mounts[0].sub_path.as_deref(), Some(plugin), "{}", c.name);
        let verify = c.name.starts_with(layout::VERIFY_INIT_PREFIX);
        assert_eq!(mounts[0].read_only.unwrap_or(false), verify, "{}", c.name);
    }
    // Fluent Bit mounts the plugin files read-only.
    let fb_mounts = typed_mounts(&ds);
    assert!(
        fb_mounts
            .iter()
            .filter(|m| m.name == layout::PLUGINS_VOLUME)
            .all(|m| m.read_only == Some(true) && m.sub_path.is_none())
    );
    let sc = init[0].security_context.as_ref().expect("securityContext");
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.run_as_user, Some(65532));
    assert_eq!(
        sc.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_owned()])
    );
    // The copy program of the plugin's image, every input an argv element: no shell, no
    // environment, so no spec value is ever parsed by a shell.
    let file = init[1].command.as_ref().expect("command")[2].clone();
    let name = file.rsplit('/').next().unwrap_or_default().to_owned();
    let sha = "12".repeat(32);
    let commands: Vec<Vec<String>> = init
        .iter()
        .map(|c| {
            assert!(c.env.is_none() && c.args.is_none(), "{}", c.name);
            c.command.clone().expect("command")
        })
        .collect();
    assert_eq!(
        commands[1],
        [
            layout::COPY_PROGRAM,
            "--from",
            &file,
            "--into",
            "/fbplugin-out",
            "--as",
            &name,
            "--sha256",
            &sha
        ]
    );
    assert_eq!(
        commands[3],
        [
            layout::COPY_PROGRAM,
            "--check",
            &format!("/fbplugin-out/{name}"),
            "--sha256",
            &sha
        ]
    );
    // Without a spec sha256 the verify step compares with the file in the plugin's image.
    let in_file = commands[0][2].clone();
    assert_eq!(
        commands[0].len(),
        7,
        "no --sha256 without one: {:?}",
        commands[0]
    );
    assert_eq!(
        commands[2][3..],
        ["--same-as".to_owned(), in_file],
        "{:?}",
        commands[2]
    );
    for c in &commands {
        assert!(!c.iter().any(|a| a == "sh" || a == "-c"), "{c:?}");
    }
}

#[test]
fn finds_the_helm_chart_config_and_ignores_the_operators_own_mounts() {
    let ds: DaemonSet = serde_norway::from_str(&fixture("daemonset.yaml")).expect("DaemonSet");
    let want = workload::BaseConfigSource {
        configmap: "fluent-bit".into(),
        key: "fluent-bit.conf".into(),
    };
    let source =
        workload::base_config_source(&ds, "fluent-bit", "/fluent-bit/etc/conf/fluent-bit.conf");
    assert_eq!(source, Ok(want.clone()));

    // After the operator's apply the container also has its directory mounts.
    let plugins = two_plugins();
    let refs: Vec<&FluentBitPlugin> = plugins.iter().collect();
    let rendered = render_daemonset(&fixture("fluent-bit.conf"), &refs)
        .rendered
        .expect("renders");
    let intent =
        workload::daemonset_intent("fluent-bit", "logging", "fluent-bit", &refs, &rendered);
    let mut merged = serde_json::to_value(&ds).expect("json");
    let ours = intent["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].clone();
    let theirs = merged["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        .as_array_mut()
        .expect("mounts");
    theirs.splice(0..0, ours.as_array().expect("ours").iter().cloned());
    let merged: DaemonSet = serde_json::from_value(merged).expect("DaemonSet");
    let source = workload::base_config_source(
        &merged,
        "fluent-bit",
        "/fluent-bit/etc/conf/fluent-bit.conf",
    );
    assert_eq!(source, Ok(want));
}

#[test]
fn a_missing_container_or_config_is_explained() {
    let ds: DaemonSet = serde_norway::from_str(&fixture("daemonset.yaml")).expect("DaemonSet");
    let err = workload::base_config_source(&ds, "fb", "/fluent-bit/etc/conf/fluent-bit.conf")
        .unwrap_err();
    assert!(matches!(err, TargetError::ContainerNotFound { .. }));
    assert!(err.to_string().contains("spec.target.container"), "{err}");
    let err = workload::base_config_source(&ds, "fluent-bit", "/etc/fluent-bit.conf").unwrap_err();
    assert!(matches!(err, TargetError::ConfigNotFound { .. }));
    assert!(err.to_string().contains("spec.target.configPath"), "{err}");
}

#[test]
fn a_subpath_mount_with_renamed_items_is_followed() {
    let ds: DaemonSet = serde_norway::from_str(
        r#"
metadata: {name: fb}
spec:
  selector: {}
  template:
    spec:
      containers:
        - name: fluent-bit
          volumeMounts: [{name: cfg, mountPath: /etc/fb/main.conf, subPath: main.conf}]
      volumes:
        - name: cfg
          configMap: {name: fb-config, items: [{key: fluent-bit.conf, path: main.conf}]}
"#,
    )
    .expect("DaemonSet");
    let source = workload::base_config_source(&ds, "fluent-bit", "/etc/fb/main.conf");
    assert_eq!(
        source,
        Ok(workload::BaseConfigSource {
            configmap: "fb-config".into(),
            key: "fluent-bit.conf".into()
        })
    );
}

fn typed_mounts(ds: &serde_json::Value) -> Vec<k8s_openapi::api::core::v1::VolumeMount> {
    serde_json::from_value(ds["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].clone())
        .expect("the Fluent Bit container's mounts")
}

/// Where the operator's directories cannot be mounted: a volume at their path, or a ConfigMap,
/// Secret or projected volume above them (runc cannot create a mount point inside it).
#[test]
fn mounts_that_would_hide_or_block_the_operators_directories_are_named() {
    let rows: &[(&str, &str, bool)] = &[
        ("configMap: {name: fb}", "/fluent-bit/etc/conf", false),
        ("configMap: {name: fb}", "/fluent-bit/etc", true),
        ("secret: {secretName: fb}", "/fluent-bit", true),
        ("projected: {sources: []}", "/fluent-bit/etc/", true),
        ("emptyDir: {}", "/fluent-bit/etc", false),
        ("emptyDir: {}", "/fluent-bit/plugins", true),
        ("hostPath: {path: /x}", "/fluent-bit/etc/fbplugin", true),
        (
            "configMap: {name: fb}",
            "/fluent-bit/etc/fbplugin-extra",
            false,
        ),
    ];
    for (source, at, conflict) in rows {
        let ds: DaemonSet = serde_norway::from_str(&format!(
            "metadata: {{name: fb}}\nspec:\n  selector: {{}}\n  template:\n    spec:\n      containers:\n        - name: fluent-bit\n          volumeMounts: [{{name: v, mountPath: {at}}}]\n      volumes: [{{name: v, {source}}}]\n"
        ))
        .expect("DaemonSet");
        let found = workload::mount_conflict(&ds, "fluent-bit");
        assert_eq!(found.is_some(), *conflict, "{source} at {at}: {found:?}");
        if let Some(message) = found {
            assert!(message.contains(&format!("at {at}")), "{message}");
        }
    }
}
