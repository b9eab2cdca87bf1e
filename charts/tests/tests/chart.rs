//! `helm lint` and `helm template` of charts/fbplugin-operator with a real helm v4, default and
//! non-default values; every object parsed strictly; security, probes, RBAC and the prepared
//! DaemonSet checked against what the operator reads.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use chart_tests::manifest::{self, Object};
use chart_tests::{chart_dir, classic, helm, template, workspace_root};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::api::rbac::v1::PolicyRule;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

const NS: &str = "logging";

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

fn keys(objects: &[Object]) -> BTreeSet<String> {
    objects.iter().map(Object::key).collect()
}

fn deployment(objects: &[Object]) -> &Deployment {
    let found: Vec<&Deployment> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Deployment(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "one Deployment: {:?}", keys(objects));
    found[0]
}

fn daemonset(objects: &[Object]) -> Option<&DaemonSet> {
    objects.iter().find_map(|o| match o {
        Object::DaemonSet(d) => Some(d),
        _ => None,
    })
}

fn pod(spec: Option<&PodSpec>) -> &PodSpec {
    spec.expect("pod template has a spec")
}

fn rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> PolicyRule {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(strings(groups)),
        resources: Some(strings(resources)),
        resource_names: (!names.is_empty()).then(|| strings(names)),
        verbs: strings(verbs),
        non_resource_urls: None,
    }
}

/// What the operator calls in a watched namespace (see the controller: sync.rs, runner.rs,
/// mod.rs, and kube's finalizer and event recorder).
fn operator_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            &["fbplugin.dev"],
            &["fluentbitplugins"],
            &[],
            &["list", "watch", "patch"],
        ),
        rule(
            &["fbplugin.dev"],
            &["fluentbitplugins/status"],
            &[],
            &["patch"],
        ),
        rule(
            &["apps"],
            &["daemonsets"],
            &[],
            &["get", "list", "watch", "patch"],
        ),
        rule(
            &[""],
            &["configmaps"],
            &[],
            &["get", "list", "watch", "create", "patch", "delete"],
        ),
        rule(&[""], &["pods"], &[], &["list"]),
        rule(&["events.k8s.io"], &["events"], &[], &["create", "patch"]),
    ]
}

fn lease_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["coordination.k8s.io"], &["leases"], &[], &["create"]),
        rule(
            &["coordination.k8s.io"],
            &["leases"],
            &["fbplugin-operator"],
            &["get", "update"],
        ),
    ]
}

/// The security properties every container of the chart has; `non_root` for the operator.
fn assert_locked_down(c: &Container, pod: &PodSpec, non_root: bool) {
    let sc = c
        .security_context
        .as_ref()
        .unwrap_or_else(|| panic!("{}: no securityContext", c.name));
    assert_eq!(
        sc.read_only_root_filesystem,
        Some(true),
        "{}: read-only root fs",
        c.name
    );
    assert_eq!(
        sc.allow_privilege_escalation,
        Some(false),
        "{}: no privilege escalation",
        c.name
    );
    let caps = sc
        .capabilities
        .as_ref()
        .and_then(|c| c.drop.clone())
        .unwrap_or_default();
    assert_eq!(
        caps,
        vec!["ALL".to_string()],
        "{}: drops all capabilities",
        c.name
    );
    assert!(
        sc.capabilities
            .as_ref()
            .and_then(|c| c.add.as_ref())
            .is_none(),
        "{}: adds none",
        c.name
    );
    assert_ne!(sc.privileged, Some(true), "{}: not privileged", c.name);
    let seccomp = sc
        .seccomp_profile
        .as_ref()
        .or(pod
            .security_context
            .as_ref()
            .and_then(|p| p.seccomp_profile.as_ref()))
        .map(|s| s.type_.as_str());
    assert_eq!(seccomp, Some("RuntimeDefault"), "{}: seccomp", c.name);
    let resources = c
        .resources
        .as_ref()
        .unwrap_or_else(|| panic!("{}: no resources", c.name));
    for (what, set) in [
        ("requests", &resources.requests),
        ("limits", &resources.limits),
    ] {
        let set = set
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no {what}", c.name));
        assert!(
            set.contains_key("cpu") && set.contains_key("memory"),
            "{}: {what} cpu+memory",
            c.name
        );
    }
    if non_root {
        let pod_sc = pod.security_context.as_ref();
        let run_as_non_root = sc
            .run_as_non_root
            .or(pod_sc.and_then(|p| p.run_as_non_root));
        let uid = sc.run_as_user.or(pod_sc.and_then(|p| p.run_as_user));
        assert_eq!(run_as_non_root, Some(true), "{}: runAsNonRoot", c.name);
        assert!(
            uid.is_some_and(|u| u != 0),
            "{}: a non-zero runAsUser, got {uid:?}",
            c.name
        );
    }
}

fn http_probe(c: &Container, which: &str) -> (String, IntOrString) {
    let probe = match which {
        "liveness" => c.liveness_probe.as_ref(),
        _ => c.readiness_probe.as_ref(),
    };
    let get = probe
        .and_then(|p| p.http_get.as_ref())
        .unwrap_or_else(|| panic!("{}: no {which} httpGet probe", c.name));
    (get.path.clone().unwrap_or_default(), get.port.clone())
}

fn args(c: &Container) -> Vec<String> {
    c.args.clone().unwrap_or_default()
}

#[test]
fn helm_lint_passes_with_default_and_non_default_values() {
    let helm = helm_bin();
    let chart = chart_dir();
    let chart = chart.to_string_lossy();
    for sets in VALUE_SETS {
        let mut argv = vec!["lint", "--strict", &chart, "--namespace", NS];
        for s in *sets {
            argv.extend(["--set", s]);
        }
        let out = helm::run(&helm, &argv).expect("run helm");
        assert!(
            out.success,
            "helm {}:\n{}{}",
            argv.join(" "),
            out.stdout,
            out.stderr
        );
    }
}

const VALUE_SETS: &[&[&str]] = &[
    &[],
    &["watchNamespace=apps"],
    &["leaderElection.enabled=true", "replicaCount=2"],
    &["fluentBit.enabled=false"],
    &[
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.labels.release=prom",
    ],
    &[
        "fluentBit.rbac.create=true",
        "fluentBit.rbac.nodeAccess=true",
        "fluentBit.serviceMonitor.enabled=true",
        "nameOverride=operator",
    ],
    &["fluentBit.service.enabled=false", "fullnameOverride=fbp"],
    &[
        "fluentBit.configFileFormat=yaml",
        "fluentBit.metricsPort=2021",
    ],
    &[
        "logFormat=json",
        "logLevel=debug",
        "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ],
];

#[test]
fn every_value_set_renders_objects_without_unknown_fields() {
    for sets in VALUE_SETS {
        let objects = render(sets);
        assert!(!objects.is_empty(), "{sets:?} rendered nothing");
    }
}

#[test]
fn default_install_is_namespace_scoped_with_exact_rules_and_a_prepared_daemonset() {
    let objects = render(&[]);
    let expected: BTreeSet<String> = [
        "CustomResourceDefinition//fluentbitplugins.fbplugin.dev",
        "ServiceAccount/logging/fbplugin-fbplugin-operator",
        "Role/logging/fbplugin-fbplugin-operator",
        "RoleBinding/logging/fbplugin-fbplugin-operator",
        "ClusterRole//fbplugin-fbplugin-operator-plugin-author",
        "ClusterRole//fbplugin-fbplugin-operator-plugin-viewer",
        "Deployment/logging/fbplugin-fbplugin-operator",
        "Service/logging/fbplugin-fbplugin-operator-metrics",
        "Service/logging/fluent-bit-metrics",
        "ServiceAccount/logging/fluent-bit",
        "ConfigMap/logging/fluent-bit",
        "DaemonSet/logging/fluent-bit",
    ]
    .map(String::from)
    .into();
    assert_eq!(keys(&objects), expected);

    for o in &objects {
        match o {
            Object::Role(r) => {
                assert_eq!(r.metadata.namespace.as_deref(), Some(NS));
                assert_eq!(r.rules.clone().unwrap_or_default(), operator_rules())
            }
            Object::RoleBinding(b) => {
                assert_eq!(b.role_ref.kind, "Role");
                assert_eq!(b.role_ref.name, "fbplugin-fbplugin-operator");
                let s = b.subjects.clone().unwrap_or_default();
                assert_eq!(s.len(), 1);
                assert_eq!(
                    (s[0].kind.as_str(), s[0].name.as_str()),
                    ("ServiceAccount", "fbplugin-fbplugin-operator")
                );
                assert_eq!(s[0].namespace.as_deref(), Some(NS));
            }
            _ => {}
        }
    }
    let rules = operator_rules();
    for r in &rules {
        let resources = r.resources.clone().unwrap_or_default();
        assert!(
            !resources.iter().any(|r| r == "secrets"),
            "nothing on Secrets"
        );
        if resources == ["daemonsets"] {
            assert!(
                !r.verbs.iter().any(|v| v == "delete" || v == "create"),
                "DaemonSets are never created or deleted"
            );
        }
    }

    let d = deployment(&objects);
    let spec = d.spec.as_ref().expect("spec");
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(
        spec.strategy.as_ref().and_then(|s| s.type_.as_deref()),
        Some("Recreate")
    );
    let p = pod(spec.template.spec.as_ref());
    assert_eq!(
        p.service_account_name.as_deref(),
        Some("fbplugin-fbplugin-operator")
    );
    let c = &p.containers[0];
    assert_locked_down(c, p, true);
    assert_eq!(
        args(c),
        [
            "run",
            "--listen=0.0.0.0:8080",
            "--log-format=text",
            "--namespace=logging",
            "--rollback-after=60"
        ],
        "the release namespace only, and no image repository allowed until the admin lists one"
    );
    let port = c.ports.clone().unwrap_or_default();
    assert_eq!(port.len(), 1);
    assert_eq!(
        (port[0].name.as_deref(), port[0].container_port),
        (Some("http"), 8080)
    );
    assert_eq!(
        http_probe(c, "liveness"),
        ("/healthz".into(), IntOrString::String("http".into()))
    );
    assert_eq!(
        http_probe(c, "readiness"),
        ("/readyz".into(), IntOrString::String("http".into()))
    );
    let env: Vec<String> = c
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(env, ["RUST_LOG", "POD_NAME", "POD_NAMESPACE"]);
    assert_eq!(c.image.as_deref(), Some("ghcr.io/fbplugin/operator:0.1.0"));

    let service = objects.iter().find_map(|o| match o {
        Object::Service(s)
            if s.metadata.name.as_deref() == Some("fbplugin-fbplugin-operator-metrics") =>
        {
            Some(s)
        }
        _ => None,
    });
    let service_spec = service
        .and_then(|s| s.spec.clone())
        .expect("metrics Service");
    let pod_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    for (k, v) in service_spec.selector.clone().unwrap_or_default() {
        assert_eq!(
            pod_labels.get(&k),
            Some(&v),
            "the metrics Service selects the operator pods"
        );
    }
    let sp = &service_spec.ports.unwrap_or_default()[0];
    assert_eq!(
        (sp.name.as_deref(), sp.port, sp.target_port.clone()),
        (
            Some("metrics"),
            8080,
            Some(IntOrString::String("http".into()))
        )
    );
}

#[test]
fn prepared_daemonset_is_where_the_operator_looks_and_runs_the_examples() {
    let objects = render(&[]);
    let ds = daemonset(&objects).expect("the prepared DaemonSet");
    let p = pod(ds.spec.as_ref().and_then(|s| s.template.spec.as_ref()));
    let c = p
        .containers
        .iter()
        .find(|c| c.name == "fluent-bit")
        .expect("container fluent-bit");
    assert_locked_down(c, p, false);
    assert_eq!(p.automount_service_account_token, Some(false));
    let image = c.image.clone().unwrap_or_default();
    assert!(
        image.starts_with("fluent/fluent-bit:5.1.1@sha256:"),
        "{image}"
    );
    assert!(args(c).contains(&"--config=/fluent-bit/etc/conf/fluent-bit.conf".to_string()));
    assert_eq!(
        http_probe(c, "liveness"),
        ("/".into(), IntOrString::String("http".into()))
    );
    assert_eq!(
        http_probe(c, "readiness"),
        ("/api/v1/health".into(), IntOrString::String("http".into()))
    );

    // The operator finds the base config where the chart puts it, with its own defaults.
    let source = operator::workload::base_config_source(
        ds,
        "fluent-bit",
        "/fluent-bit/etc/conf/fluent-bit.conf",
    )
    .unwrap_or_else(|e| panic!("the operator cannot use the prepared DaemonSet: {e}"));
    assert_eq!(
        (source.configmap.as_str(), source.key.as_str()),
        ("fluent-bit", "fluent-bit.conf")
    );
    // Nothing in the chart collides with what the operator adds.
    let volumes: Vec<String> = p
        .volumes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    for ours in [
        operator::layout::CONFIG_VOLUME,
        operator::layout::PLUGINS_VOLUME,
    ] {
        assert!(
            !volumes.iter().any(|v| v == ours),
            "volume {ours} belongs to the operator"
        );
    }
    for m in c.volume_mounts.clone().unwrap_or_default() {
        for reserved in [operator::layout::CONFIG_DIR, operator::layout::PLUGIN_DIR] {
            assert!(
                !m.mount_path.starts_with(reserved),
                "{} is the operator's",
                m.mount_path
            );
        }
    }
    assert_eq!(
        operator::workload::mount_conflict(ds, "fluent-bit"),
        None,
        "the operator's directory mounts fit"
    );
    // The example output writes under a writable mount (the root filesystem is read-only).
    let writable = c
        .volume_mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .any(|m| m.mount_path == "/var/log/fbplugin" && m.read_only != Some(true));
    assert!(
        writable,
        "/var/log/fbplugin is writable for the out-jsonl example"
    );

    let base = objects
        .iter()
        .find_map(|o| match o {
            Object::ConfigMap(cm) if cm.metadata.name.as_deref() == Some("fluent-bit") => {
                cm.data.as_ref()?.get("fluent-bit.conf").cloned()
            }
            _ => None,
        })
        .expect("ConfigMap fluent-bit with fluent-bit.conf");
    assert_eq!(
        classic::problems(&base),
        Vec::<String>::new(),
        "base config:\n{base}"
    );
    for needed in [
        "    HTTP_Server On",
        "    HTTP_Port 2020",
        "    Health_Check On",
        "    Path /var/log/containers/*.log",
    ] {
        assert!(base.lines().any(|l| l == needed), "{needed:?} in\n{base}");
    }
    // It ends with the include of the operator's pipeline file, after the chart's [SERVICE]
    // section and a comment saying who mounts it, and the operator sees that include.
    let include = format!("@INCLUDE {}", operator::layout::include_path(false));
    assert_eq!(include, "@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf");
    let lines: Vec<&str> = base.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&include.as_str()),
        "base config:\n{base}"
    );
    assert!(base.ends_with(&format!("{include}\n")), "{base:?}");
    let comment = lines[lines.len() - 2];
    assert!(
        comment.starts_with("# ") && comment.contains("operator mounts"),
        "a comment line before the include: {comment:?}"
    );
    let service = lines
        .iter()
        .rposition(|l| *l == "[SERVICE]")
        .expect("the chart's [SERVICE]");
    assert_eq!(
        lines[service + 1..service + 5],
        [
            "    HTTP_Server On",
            "    HTTP_Listen 0.0.0.0",
            "    HTTP_Port 2020",
            "    Health_Check On"
        ],
        "the chart's [SERVICE] comes right before the include"
    );
    assert_eq!(lines.len(), service + 8, "{base}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.eq_ignore_ascii_case(&include))
            .count(),
        1,
        "included once: {base}"
    );
    assert!(
        operator::render::includes_pipeline(&base, false),
        "the operator finds the include in:\n{base}"
    );

    // The examples render onto it, and the result is still valid classic config.
    let examples = workspace_root().join("examples");
    let sources = operator::offline::load_plugins(&[
        examples.join("in-generator/deploy"),
        examples.join("out-jsonl/deploy"),
    ])
    .expect("example FluentBitPlugins load");
    let plugins: Vec<&fbplugin_crds::FluentBitPlugin> = sources.iter().map(|s| &s.plugin).collect();
    for plugin in &plugins {
        assert_eq!(
            plugin.metadata.namespace.as_deref(),
            Some(NS),
            "examples target the quick-start namespace"
        );
        assert_eq!(
            plugin.spec.target.daemon_set, "fluent-bit",
            "examples target the prepared DaemonSet"
        );
    }
    // With the chart's own config as the DaemonSet's (so the include is checked: no
    // PipelineNotIncluded), both examples are included, and the pipeline file the chart's
    // config includes is valid classic config too.
    let result = operator::render::render_daemonset(&base, &plugins);
    let rendered = result.rendered.as_ref().expect("the examples render");
    assert!(
        result
            .outcomes
            .iter()
            .all(|o| o.included && o.problems.is_empty()),
        "both examples included: {:?}",
        result.outcomes
    );
    assert!(!rendered.yaml, "the chart's config is classic");
    for (file, text) in rendered.files() {
        assert_eq!(
            classic::problems(text),
            Vec::<String>::new(),
            "{file}:\n{text}"
        );
    }
    assert!(
        rendered.pipeline.contains("[INPUT]") && rendered.pipeline.contains("[OUTPUT]"),
        "the examples' sections are in the included file:\n{}",
        rendered.pipeline
    );
    // Without the include the operator would refuse them.
    let without: String = base
        .lines()
        .filter(|l| *l != include)
        .map(|l| format!("{l}\n"))
        .collect();
    let refused = operator::render::render_daemonset(&without, &plugins);
    assert!(
        refused.outcomes.iter().all(|o| !o.included
            && o.problems
                .iter()
                .any(|p| p.reason == operator::validate::Reason::PipelineNotIncluded)),
        "{:?}",
        refused.outcomes
    );
}

#[test]
fn namespace_scoped_install_creates_a_role_in_that_namespace_only() {
    let objects = render(&["watchNamespace=apps"]);
    let k = keys(&objects);
    assert!(
        !k.iter()
            .any(|k| k.starts_with("ClusterRole") && !k.contains("-plugin-")),
        "nothing cluster-wide for the operator: {k:?}"
    );
    let role = objects.iter().find_map(|o| match o {
        Object::Role(r) => Some(r),
        _ => None,
    });
    let role = role.expect("a Role");
    assert_eq!(role.metadata.namespace.as_deref(), Some("apps"));
    assert_eq!(role.rules.clone().unwrap_or_default(), operator_rules());
    let binding = objects.iter().find_map(|o| match o {
        Object::RoleBinding(b) => Some(b),
        _ => None,
    });
    let binding = binding.expect("a RoleBinding");
    assert_eq!(binding.metadata.namespace.as_deref(), Some("apps"));
    assert_eq!(binding.role_ref.kind, "Role");
    let subject = &binding.subjects.clone().unwrap_or_default()[0];
    assert_eq!(
        subject.namespace.as_deref(),
        Some(NS),
        "the ServiceAccount stays in the release namespace"
    );
    let c = &pod(deployment(&objects)
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref()))
    .containers[0];
    assert!(
        args(c).contains(&"--namespace=apps".to_string()),
        "{:?}",
        args(c)
    );
    assert!(!args(c).iter().any(|a| a.starts_with("--leader")));
}

#[test]
fn leader_election_adds_lease_rights_for_one_lease_and_allows_replicas() {
    let objects = render(&["leaderElection.enabled=true", "replicaCount=2"]);
    let lease_role = objects.iter().find_map(|o| match o {
        Object::Role(r)
            if r.metadata.name.as_deref() == Some("fbplugin-fbplugin-operator-leader-election") =>
        {
            Some(r)
        }
        _ => None,
    });
    let lease_role = lease_role.expect("the leader-election Role");
    assert_eq!(lease_role.metadata.namespace.as_deref(), Some(NS));
    assert_eq!(lease_role.rules.clone().unwrap_or_default(), lease_rules());
    assert!(
        keys(&objects).contains("RoleBinding/logging/fbplugin-fbplugin-operator-leader-election")
    );
    let d = deployment(&objects);
    let spec = d.spec.as_ref().expect("spec");
    assert_eq!(spec.replicas, Some(2));
    assert_eq!(
        spec.strategy.as_ref().and_then(|s| s.type_.as_deref()),
        Some("RollingUpdate")
    );
    let c = &pod(spec.template.spec.as_ref()).containers[0];
    for a in [
        "--leader-elect",
        "--lease-name=fbplugin-operator",
        "--lease-namespace=logging",
    ] {
        assert!(args(c).contains(&a.to_string()), "{a} in {:?}", args(c));
    }
    // Without leader election there is no Lease access at all.
    let plain = render(&[]);
    assert!(!keys(&plain).iter().any(|k| k.contains("leader-election")));
}

#[test]
fn refuses_unsafe_or_misspelled_values_with_a_message() {
    let helm = helm_bin();
    let cases: &[(&[&str], &str)] = &[
        (&["replicaCount=2"], "needs leaderElection.enabled=true"),
        (&["fluentBit.imag.tag=x"], "'imag' not allowed"),
        (&["logFormat=xml"], "'/logFormat'"),
        (
            &[
                "metrics.serviceMonitor.enabled=true",
                "metrics.service.enabled=false",
            ],
            "needs metrics.service.enabled",
        ),
        (&["image.digest=sha256:short"], "'/image/digest'"),
        (
            &["clusterWide=true", "watchNamespace=apps"],
            "leave watchNamespace empty",
        ),
        (
            &["allowedImageRepositories={Not A Repo}"],
            "'/allowedImageRepositories/0'",
        ),
        (&["rollbackAfterSeconds=1"], "'/rollbackAfterSeconds'"),
    ];
    for (sets, message) in cases {
        let err =
            template(&helm, "fbplugin", NS, sets).expect_err(&format!("{sets:?} must be refused"));
        // What helm said, not the command line it echoes (which holds every key given).
        let said = err
            .split_once("Error:")
            .map_or(err.as_str(), |(_, said)| said);
        assert!(
            said.contains(message),
            "{sets:?}: expected {message:?} in: {err}"
        );
    }
}

#[test]
fn without_the_prepared_daemonset_only_the_operator_is_installed() {
    let objects = render(&["fluentBit.enabled=false"]);
    let k = keys(&objects);
    assert!(daemonset(&objects).is_none(), "{k:?}");
    assert!(!k.iter().any(|k| k.contains("fluent-bit")), "{k:?}");
    deployment(&objects);
}

#[test]
fn service_monitor_scrapes_the_metrics_service() {
    let objects = render(&[
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.labels.release=prom",
    ]);
    let sm = objects.iter().find_map(|o| match o {
        Object::ServiceMonitor(s) => Some(s),
        _ => None,
    });
    let sm = sm.expect("a ServiceMonitor");
    assert_eq!(
        sm.metadata.name.as_deref(),
        Some("fbplugin-fbplugin-operator"),
        "the operator's, not Fluent Bit's (fluentBit.serviceMonitor is off)"
    );
    assert_eq!(
        (sm.api_version.as_str(), sm.kind.as_str()),
        ("monitoring.coreos.com/v1", "ServiceMonitor")
    );
    assert_eq!(
        sm.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("release"))
            .map(String::as_str),
        Some("prom")
    );
    let service = objects.iter().find_map(|o| match o {
        Object::Service(s)
            if s.metadata.name.as_deref() == Some("fbplugin-fbplugin-operator-metrics") =>
        {
            Some(s)
        }
        _ => None,
    });
    let service = service.expect("the operator's metrics Service");
    let labels = service.metadata.labels.clone().unwrap_or_default();
    for (k, v) in sm.spec.selector.match_labels.clone().unwrap_or_default() {
        assert_eq!(
            labels.get(&k),
            Some(&v),
            "the ServiceMonitor selects the Service"
        );
    }
    let port_names: Vec<String> = service
        .spec
        .clone()
        .and_then(|s| s.ports)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.name)
        .collect();
    assert_eq!(sm.spec.endpoints.len(), 1);
    assert!(port_names.contains(&sm.spec.endpoints[0].port));
    assert_eq!(sm.spec.endpoints[0].path.as_deref(), Some("/metrics"));
    assert_eq!(
        sm.spec
            .namespace_selector
            .as_ref()
            .map(|n| n.match_names.clone()),
        Some(vec![NS.to_string()])
    );
    assert!(
        !keys(&render(&[]))
            .iter()
            .any(|k| k.starts_with("ServiceMonitor")),
        "off by default"
    );
}

#[test]
fn chart_crd_is_the_generated_one() {
    let chart_copy = chart_dir().join("crds").join(fbplugin_crds::CRD_FILE_NAME);
    let chart_copy = std::fs::read_to_string(&chart_copy)
        .unwrap_or_else(|e| panic!("{}: {e}", chart_copy.display()));
    let generated = fbplugin_crds::crd_yaml(fbplugin_crds::Cel::Keep).expect("CRD yaml");
    assert!(
        chart_copy == generated,
        "charts/fbplugin-operator/crds is stale: run `cargo run -p fbplugin-crds --bin crdgen`"
    );
    let parsed = manifest::parse(&chart_copy).expect("the CRD parses strictly");
    assert!(matches!(parsed.as_slice(), [Object::Crd(_)]));
}

#[test]
fn unknown_fields_are_caught_at_any_depth() {
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers:\n        - name: c\n          securityContext: {runAsNonRot: true}\n";
    let err = manifest::parse(yaml).expect_err("a misspelled field must be an error");
    assert!(
        err.contains("spec.template.spec.containers") && err.contains("runAsNonRot"),
        "{err}"
    );
    let sm = "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec: {selector: {}, endpoints: [{port: m, intervall: 5s}]}\n";
    assert!(
        manifest::parse(sm)
            .expect_err("unknown ServiceMonitor field")
            .contains("intervall")
    );
    assert!(
        manifest::parse("apiVersion: v9\nkind: Nope\n").is_err(),
        "unknown kinds are errors"
    );
}

#[test]
fn notes_tell_the_user_what_to_do_next() {
    let helm = helm_bin();
    let chart = chart_dir();
    let chart = chart.to_string_lossy();
    let notes = |sets: &[&str]| {
        let mut argv = vec![
            "install",
            "fbplugin",
            &chart,
            "--namespace",
            NS,
            "--dry-run=client",
        ];
        for s in sets {
            argv.extend(["--set", s]);
        }
        let out = helm::run(&helm, &argv).expect("run helm");
        assert!(out.success, "helm {}: {}", argv.join(" "), out.stderr);
        out.stdout
            .split("\nNOTES:\n")
            .nth(1)
            .expect("NOTES")
            .to_string()
    };
    let quick = notes(&[]);
    for line in [
        "kubectl -n logging rollout status deployment/fbplugin-fbplugin-operator",
        "kubectl -n logging rollout status daemonset/fluent-bit",
        "crash-loop for a few seconds",
        "`@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf`",
        "fluent-bit-fbplugin",
        "daemonSet: fluent-bit",
        "get fbp -w",
        "kubectl apply --server-side -f <chart>/crds/",
    ] {
        assert!(quick.contains(line), "{line:?} in NOTES:\n{quick}");
    }
    assert!(
        !quick.contains("configPath:"),
        "the default path fits: {quick}"
    );
    // In YAML mode plugins must name the YAML config (the operator refuses the default).
    let yaml = notes(&["fluentBit.configFileFormat=yaml"]);
    assert!(
        yaml.contains("configPath: /fluent-bit/etc/conf/fluent-bit.yaml")
            && yaml.contains("fluent-bit.yaml includes /fluent-bit/etc/fbplugin/pipeline.yaml")
            && !yaml.contains("@INCLUDE"),
        "{yaml}"
    );
    let own = notes(&["fluentBit.enabled=false", "watchNamespace=apps"]);
    assert!(own.contains("watching only namespace apps"), "{own}");
    assert!(
        own.contains("/fluent-bit/etc/conf/fluent-bit.conf") && own.contains("(must be apps)"),
        "{own}"
    );
    // The user's own DaemonSet needs the include line, in column 0 of the main file.
    assert!(
        own.lines()
            .any(|l| l.trim() == "@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf")
            && own.contains("PipelineNotIncluded")
            && own.contains("/fluent-bit/etc/fbplugin/pipeline.yaml"),
        "{own}"
    );
    for notes in [&quick, &own] {
        assert!(!notes.contains("subPath"), "{notes}");
    }
    assert!(
        !own.contains("rollout status daemonset/fluent-bit"),
        "{own}"
    );
}

#[test]
fn cluster_wide_is_an_explicit_choice_with_the_same_rules() {
    let objects = render(&["clusterWide=true"]);
    let k = keys(&objects);
    assert!(
        k.contains("ClusterRole//fbplugin-fbplugin-operator"),
        "{k:?}"
    );
    assert!(
        k.contains("ClusterRoleBinding//fbplugin-fbplugin-operator"),
        "{k:?}"
    );
    assert!(!k.iter().any(|k| k.starts_with("Role/")), "{k:?}");
    for o in &objects {
        if let Object::ClusterRole(r) = o
            && r.metadata.name.as_deref() == Some("fbplugin-fbplugin-operator")
        {
            assert_eq!(r.rules.clone().unwrap_or_default(), operator_rules());
        }
    }
    let c = &pod(deployment(&objects)
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref()))
    .containers[0];
    assert!(
        !args(c).iter().any(|a| a.starts_with("--namespace")),
        "{:?}",
        args(c)
    );
}

#[test]
fn the_admin_lists_the_trusted_image_repositories() {
    let objects = render(&["allowedImageRepositories={ghcr.io/acme/,registry.example/team/out}"]);
    let c = &pod(deployment(&objects)
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref()))
    .containers[0];
    let args = args(c);
    assert!(
        args.contains(&"--allowed-image-repository=ghcr.io/acme/".to_string())
            && args.contains(&"--allowed-image-repository=registry.example/team/out".to_string()),
        "{args:?}"
    );
}

#[test]
fn the_rollback_patience_reaches_the_operator() {
    let arg_of = |objects: &[Object]| {
        let c = &pod(deployment(objects)
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref()))
        .containers[0];
        args(c)
            .into_iter()
            .find(|a| a.starts_with("--rollback-after="))
    };
    assert_eq!(arg_of(&render(&[])).as_deref(), Some("--rollback-after=60"));
    assert_eq!(
        arg_of(&render(&["rollbackAfterSeconds=300"])).as_deref(),
        Some("--rollback-after=300")
    );
}

#[test]
fn the_prepared_daemonset_opts_in_and_lists_only_the_pull_secrets_given() {
    let objects = render(&[]);
    let ds = daemonset(&objects).expect("the prepared DaemonSet");
    let labels = ds.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("fbplugin.dev/accept-plugins")
            .map(String::as_str),
        Some("true")
    );
    let annotations = ds.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("fbplugin.dev/container")
            .map(String::as_str),
        Some("fluent-bit")
    );
    assert_eq!(
        annotations
            .get("fbplugin.dev/config-path")
            .map(String::as_str),
        Some("/fluent-bit/etc/conf/fluent-bit.conf")
    );
    assert!(!annotations.contains_key("fbplugin.dev/pull-secrets"));
    let objects = render(&["fluentBit.pluginPullSecrets={regcred,mirror}"]);
    let ds = daemonset(&objects).expect("the prepared DaemonSet");
    let annotations = ds.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("fbplugin.dev/pull-secrets")
            .map(String::as_str),
        Some("regcred,mirror")
    );
}

#[test]
fn plugin_author_and_viewer_roles_are_not_aggregated_unless_asked() {
    let roles = |sets: &[&str]| -> Vec<k8s_openapi::api::rbac::v1::ClusterRole> {
        render(sets)
            .into_iter()
            .filter_map(|o| match o {
                Object::ClusterRole(r)
                    if r.metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| n.contains("-plugin-")) =>
                {
                    Some(r)
                }
                _ => None,
            })
            .collect()
    };
    let default = roles(&[]);
    assert_eq!(default.len(), 2);
    for r in &default {
        let labels = r.metadata.labels.clone().unwrap_or_default();
        assert!(
            !labels
                .keys()
                .any(|k| k.starts_with("rbac.authorization.k8s.io/aggregate")),
            "{labels:?}"
        );
        for rule in r.rules.clone().unwrap_or_default() {
            assert_eq!(
                rule.api_groups.clone().unwrap_or_default(),
                ["fbplugin.dev"]
            );
        }
    }
    let author = default
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some("fbplugin-fbplugin-operator-plugin-author"))
        .expect("author role");
    assert_eq!(
        author.rules.clone().unwrap_or_default()[0].verbs,
        [
            "get", "list", "watch", "create", "update", "patch", "delete"
        ]
    );
    let viewer = default
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some("fbplugin-fbplugin-operator-plugin-viewer"))
        .expect("viewer role");
    assert_eq!(
        viewer.rules.clone().unwrap_or_default()[0].verbs,
        ["get", "list", "watch"]
    );
    let aggregated = roles(&["rbac.aggregateToDefaultRoles=true"]);
    let labels = |name: &str| {
        aggregated
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .and_then(|r| r.metadata.labels.clone())
            .unwrap_or_default()
    };
    assert!(
        labels("fbplugin-fbplugin-operator-plugin-author")
            .contains_key("rbac.authorization.k8s.io/aggregate-to-edit")
    );
    assert!(
        labels("fbplugin-fbplugin-operator-plugin-viewer")
            .contains_key("rbac.authorization.k8s.io/aggregate-to-view")
    );
    assert!(roles(&["rbac.pluginRoles=false"]).is_empty());
}
