//! The prepared Fluent Bit DaemonSet's values, named as in the official fluent-bit chart
//! (0.58.1): each lands where that chart puts it, the schema refuses unknown keys and wrong
//! types, the kubernetes filter's RBAC is exact and only for Fluent Bit's own account, and the
//! metrics Service and ServiceMonitor appear only when enabled. Real helm v4, strict parsing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use chart_tests::manifest::{Object, ServiceMonitor};
use chart_tests::{classic, helm, template, template_values};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, Service};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

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

fn render_values(values: &str) -> Vec<Object> {
    template_values(&helm_bin(), "fbplugin", NS, values, &[]).unwrap_or_else(|e| panic!("{e}"))
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

fn pod(ds: &DaemonSet) -> &PodSpec {
    ds.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
}

fn fluent_bit(ds: &DaemonSet) -> &Container {
    pod(ds)
        .containers
        .iter()
        .find(|c| c.name == "fluent-bit")
        .expect("container fluent-bit")
}

fn pod_annotations(ds: &DaemonSet) -> BTreeMap<String, String> {
    ds.spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default()
}

fn pod_labels(ds: &DaemonSet) -> BTreeMap<String, String> {
    ds.spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

fn config_map<'a>(objects: &'a [Object], name: &str) -> Option<&'a ConfigMap> {
    objects.iter().find_map(|o| match o {
        Object::ConfigMap(c) if c.metadata.name.as_deref() == Some(name) => Some(c),
        _ => None,
    })
}

fn service<'a>(objects: &'a [Object], name: &str) -> Option<&'a Service> {
    objects.iter().find_map(|o| match o {
        Object::Service(s) if s.metadata.name.as_deref() == Some(name) => Some(s),
        _ => None,
    })
}

fn service_monitor<'a>(objects: &'a [Object], name: &str) -> Option<&'a ServiceMonitor> {
    objects.iter().find_map(|o| match o {
        Object::ServiceMonitor(s) if s.metadata.name.as_deref() == Some(name) => Some(s),
        _ => None,
    })
}

fn cluster_role<'a>(objects: &'a [Object], name: &str) -> Option<&'a ClusterRole> {
    objects.iter().find_map(|o| match o {
        Object::ClusterRole(r) if r.metadata.name.as_deref() == Some(name) => Some(r),
        _ => None,
    })
}

fn cluster_role_binding<'a>(objects: &'a [Object], name: &str) -> Option<&'a ClusterRoleBinding> {
    objects.iter().find_map(|o| match o {
        Object::ClusterRoleBinding(b) if b.metadata.name.as_deref() == Some(name) => Some(b),
        _ => None,
    })
}

/// What helm said in a [`template`] error, without the command line it starts with.
fn said(err: &str) -> &str {
    err.split_once("Error:").map_or(err, |(_, said)| said)
}

/// A rendered object as JSON, to compare with what the values said.
fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serializes")
}

/// The name of the kubernetes filter's ClusterRole (and binding) for release `fbplugin`.
const FILTER_ROLE: &str = "fbplugin-fbplugin-operator-fluent-bit";

/// What the official chart's values look like once moved under `fluentBit:`.
const MOVED_VALUES: &str = r#"
fluentBit:
  env:
    - name: ES_HOST
      value: elasticsearch-master
    - name: NODE_NAME
      valueFrom:
        fieldRef:
          fieldPath: spec.nodeName
  envFrom:
    - secretRef:
        name: es-credentials
  extraVolumes:
    - name: certs
      secret:
        secretName: es-ca
  extraVolumeMounts:
    - name: certs
      mountPath: /fluent-bit/certs
      readOnly: true
  tolerations:
    - operator: Exists
      effect: NoSchedule
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions:
              - key: node-role.kubernetes.io/logging
                operator: DoesNotExist
  nodeSelector:
    kubernetes.io/os: linux
    pool: workers
  priorityClassName: system-node-critical
  podSecurityContext:
    fsGroup: 2000
    seccompProfile:
      type: RuntimeDefault
  securityContext:
    runAsUser: 0
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    capabilities:
      drop: ["ALL"]
  livenessProbe:
    httpGet:
      path: /
      port: http
    initialDelaySeconds: 15
  readinessProbe:
    httpGet:
      path: /api/v2/health
      port: http
  updateStrategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 25%
  resources:
    requests:
      cpu: 100m
      memory: 128Mi
    limits:
      # The chart's default has a CPU limit; null takes it out of the merge.
      cpu: null
      memory: 512Mi
  podAnnotations:
    team: logging
  podLabels:
    tier: collector
"#;

#[test]
fn official_chart_values_land_where_that_chart_puts_them() {
    let values: Value = serde_norway::from_str(MOVED_VALUES).expect("test values");
    let fb = &values["fluentBit"];
    let objects = render_values(MOVED_VALUES);
    let ds = daemonset(&objects);
    let p = pod(ds);
    let c = fluent_bit(ds);

    assert_eq!(json(&c.env), fb["env"], "env");
    assert_eq!(json(&c.env_from), fb["envFrom"], "envFrom");
    assert_eq!(json(&p.tolerations), fb["tolerations"], "tolerations");
    assert_eq!(json(&p.affinity), fb["affinity"], "affinity");
    assert_eq!(json(&p.node_selector), fb["nodeSelector"], "nodeSelector");
    assert_eq!(
        p.priority_class_name.as_deref(),
        Some("system-node-critical")
    );
    assert_eq!(
        json(&p.security_context),
        fb["podSecurityContext"],
        "podSecurityContext"
    );
    // Helm merges a map value into the chart's default: the keys given win, the chart's
    // other lock-downs stay (as null removes one).
    let sc = json(&c.security_context);
    for (k, v) in fb["securityContext"].as_object().expect("map") {
        assert_eq!(&sc[k], v, "securityContext.{k}");
    }
    assert_eq!(sc["seccompProfile"], json!({"type": "RuntimeDefault"}));
    let liveness = json(&c.liveness_probe);
    assert_eq!(
        liveness["initialDelaySeconds"], 15,
        "livenessProbe: {liveness}"
    );
    assert_eq!(liveness["httpGet"]["path"], "/");
    let readiness = json(&c.readiness_probe);
    assert_eq!(
        readiness["httpGet"]["path"], "/api/v2/health",
        "readinessProbe: {readiness}"
    );
    assert_eq!(
        json(&c.resources),
        json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}),
        "resources"
    );
    assert_eq!(
        json(&ds.spec.as_ref().and_then(|s| s.update_strategy.clone())),
        fb["updateStrategy"],
        "updateStrategy"
    );

    let volumes = json(&p.volumes);
    assert!(
        volumes
            .as_array()
            .is_some_and(|v| v.contains(&fb["extraVolumes"][0])),
        "extraVolumes in {volumes}"
    );
    let mounts = json(&c.volume_mounts);
    assert!(
        mounts
            .as_array()
            .is_some_and(|m| m.contains(&fb["extraVolumeMounts"][0])),
        "extraVolumeMounts in {mounts}"
    );

    let annotations = pod_annotations(ds);
    assert_eq!(annotations.get("team").map(String::as_str), Some("logging"));
    assert!(
        annotations.contains_key("checksum/config"),
        "the chart's own annotation stays"
    );
    let labels = pod_labels(ds);
    assert_eq!(labels.get("tier").map(String::as_str), Some("collector"));
    for (k, v) in ds
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default()
    {
        assert_eq!(labels.get(&k), Some(&v), "pods still match the selector");
    }

    // The operator still finds the config and may still add plugins.
    let source = operator::workload::base_config_source(
        ds,
        "fluent-bit",
        "/fluent-bit/etc/conf/fluent-bit.conf",
    )
    .unwrap_or_else(|e| panic!("the operator cannot use the DaemonSet: {e}"));
    assert_eq!(source.configmap, "fluent-bit");
    operator::gate::opt_in(ds).expect("still opted in");
    assert_eq!(
        operator::workload::mount_conflict(ds, "fluent-bit"),
        None,
        "the extra mounts leave room for the operator's directories"
    );
}

#[test]
fn defaults_keep_the_daemonset_locked_down_and_rolling_one_node_at_a_time() {
    let objects = render(&[]);
    let ds = daemonset(&objects);
    let c = fluent_bit(ds);
    assert_eq!(c.env, None, "no env unless given");
    assert_eq!(c.env_from, None, "no envFrom unless given");
    assert_eq!(
        json(&ds.spec.as_ref().and_then(|s| s.update_strategy.clone())),
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}})
    );
    // One node at a time, and an updated pod must stay Ready 10 s before the next node rolls.
    let min_ready = |ds: &DaemonSet| ds.spec.as_ref().and_then(|s| s.min_ready_seconds);
    assert_eq!(min_ready(ds), Some(10));
    assert_eq!(
        min_ready(daemonset(&render(&["fluentBit.minReadySeconds=0"]))),
        None
    );
    // OnDelete drops the default rollingUpdate Helm would otherwise merge in.
    let on_delete = render(&["fluentBit.updateStrategy.type=OnDelete"]);
    assert_eq!(
        json(
            &daemonset(&on_delete)
                .spec
                .as_ref()
                .and_then(|s| s.update_strategy.clone())
        ),
        json!({"type": "OnDelete"})
    );
    assert_eq!(
        json(&pod(ds).security_context),
        json!({"seccompProfile": {"type": "RuntimeDefault"}})
    );
    assert_eq!(
        json(&c.security_context),
        json!({
            "runAsUser": 0,
            "runAsGroup": 0,
            "readOnlyRootFilesystem": true,
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}
        })
    );
    let volume_names: Vec<String> = pod(ds)
        .volumes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert!(
        !volume_names.iter().any(|v| v == "luascripts"),
        "no Lua volume without luaScripts: {volume_names:?}"
    );
    assert!(config_map(&objects, "fluent-bit-luascripts").is_none());
    let data = config_map(&objects, "fluent-bit")
        .and_then(|c| c.data.clone())
        .unwrap_or_default();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["fluent-bit.conf"],
        "only the main config by default"
    );
}

const FILES: &str = r#"
fluentBit:
  config:
    service: |
      [SERVICE]
          Flush 1
          Parsers_File /fluent-bit/etc/conf/custom_parsers.conf
    customParsers: |
      [PARSER]
          Name docker_no_time
          Format json
          Time_Keep Off
    extraFiles:
      upstream.conf: |
        [UPSTREAM]
            name es
      multiline.conf: |
        [MULTILINE_PARSER]
            name multiline-java
  luaScripts:
    add_node.lua: |
      function add_node(tag, ts, record)
        record["node"] = os.getenv("NODE_NAME")
        return 1, ts, record
      end
"#;

#[test]
fn parsers_extra_files_and_lua_scripts_are_mounted_and_roll_the_pods() {
    let values: Value = serde_norway::from_str(FILES).expect("test values");
    let objects = render_values(FILES);
    let data = config_map(&objects, "fluent-bit")
        .and_then(|c| c.data.clone())
        .expect("ConfigMap fluent-bit");
    assert_eq!(
        data.get("custom_parsers.conf").map(String::as_str),
        values["fluentBit"]["config"]["customParsers"].as_str()
    );
    for file in ["upstream.conf", "multiline.conf"] {
        assert_eq!(
            data.get(file).map(String::as_str),
            values["fluentBit"]["config"]["extraFiles"][file].as_str(),
            "{file}"
        );
    }
    let conf = &data["fluent-bit.conf"];
    assert_eq!(classic::problems(conf), Vec::<String>::new(), "{conf}");
    assert!(
        conf.ends_with("\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n"),
        "the operator's pipeline is included last, whatever the user's sections: {conf}"
    );
    assert!(
        conf.lines()
            .any(|l| l == "    Parsers_File /fluent-bit/etc/conf/custom_parsers.conf"),
        "{conf}"
    );
    // They are files beside fluent-bit.conf: the config directory is mounted whole.
    let ds = daemonset(&objects);
    let c = fluent_bit(ds);
    let mounts = c.volume_mounts.clone().unwrap_or_default();
    assert!(
        mounts
            .iter()
            .any(|m| m.name == "config" && m.mount_path == "/fluent-bit/etc/conf"),
        "{mounts:?}"
    );

    let lua = config_map(&objects, "fluent-bit-luascripts")
        .and_then(|c| c.data.clone())
        .expect("ConfigMap fluent-bit-luascripts");
    assert_eq!(
        lua.get("add_node.lua").map(String::as_str),
        values["fluentBit"]["luaScripts"]["add_node.lua"].as_str()
    );
    let lua_mount = mounts
        .iter()
        .find(|m| m.name == "luascripts")
        .expect("the Lua scripts are mounted");
    assert_eq!(
        (lua_mount.mount_path.as_str(), lua_mount.read_only),
        ("/fluent-bit/scripts", Some(true))
    );
    let lua_volume = pod(ds)
        .volumes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.name == "luascripts")
        .and_then(|v| v.config_map)
        .map(|c| c.name);
    assert_eq!(lua_volume.as_deref(), Some("fluent-bit-luascripts"));

    // Editing any of these files rolls the pods.
    let before = pod_annotations(ds);
    for (what, changed) in [
        ("an extra file", FILES.replace("name es", "name es2")),
        ("a parser", FILES.replace("Time_Keep Off", "Time_Keep On")),
        ("a Lua script", FILES.replace("return 1", "return 2")),
    ] {
        let after = pod_annotations(daemonset(&render_values(&changed)));
        assert_ne!(before, after, "{what} changed, the pod template must too");
    }
}

#[test]
fn the_chart_keeps_its_own_file_names() {
    let helm = helm_bin();
    let err = template_values(
        &helm,
        "fbplugin",
        NS,
        "fluentBit:\n  config:\n    customParsers: \"[PARSER]\\n    Name a\\n\"\n    extraFiles:\n      custom_parsers.conf: x\n",
        &[],
    )
    .expect_err("custom_parsers.conf twice");
    assert!(
        said(&err)
            .contains("fluentBit.config.extraFiles.custom_parsers.conf: that file is the chart's"),
        "{err}"
    );
    let err = template_values(
        &helm,
        "fbplugin",
        NS,
        "fluentBit:\n  config:\n    extraFiles:\n      fluent-bit.conf: x\n",
        &[],
    )
    .expect_err("the main config cannot be replaced through extraFiles");
    assert!(
        said(&err).contains("invalid propertyName 'fluent-bit.conf'"),
        "{err}"
    );
    // The chart writes the include of the operator's pipeline itself; a second one in the
    // user's sections (e.g. carried over from the official chart) would include it twice.
    for (part, line) in [
        ("outputs", "@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf"),
        ("filters", "@include /fluent-bit/etc/fbplugin/pipeline.conf"),
    ] {
        let values = format!(
            "fluentBit:\n  config:\n    {part}: |\n      [{}]\n          Name null\n          Match *\n      {line}\n",
            if part == "outputs" {
                "OUTPUT"
            } else {
                "FILTER"
            }
        );
        let err =
            template_values(&helm, "fbplugin", NS, &values, &[]).expect_err("the include twice");
        assert!(
            said(&err).contains(&format!(
                "fluentBit.config.{part}: remove the line `@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf`; the chart adds it itself"
            )),
            "{err}"
        );
    }
    // A commented-out include is not the include: it is left as written.
    let objects = render_values(
        "fluentBit:\n  config:\n    outputs: |\n      [OUTPUT]\n          Name null\n          Match *\n      # @INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n",
    );
    let conf = config_map(&objects, "fluent-bit")
        .and_then(|c| c.data.clone())
        .and_then(|d| d.get("fluent-bit.conf").cloned())
        .expect("fluent-bit.conf");
    assert!(
        conf.ends_with("\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n"),
        "{conf}"
    );
    assert_eq!(classic::problems(&conf), Vec::<String>::new(), "{conf}");
}

fn filter_rules(node_access: bool) -> Vec<PolicyRule> {
    let mut resources = vec!["namespaces", "pods"];
    if node_access {
        resources.extend(["nodes", "nodes/metrics", "nodes/proxy"]);
    }
    vec![PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(resources.into_iter().map(String::from).collect()),
        verbs: ["get", "list", "watch"].map(String::from).into(),
        resource_names: None,
        non_resource_urls: None,
    }]
}

fn automount(objects: &[Object]) -> (Option<bool>, Option<bool>) {
    let sa = objects.iter().find_map(|o| match o {
        Object::ServiceAccount(s) if s.metadata.name.as_deref() == Some("fluent-bit") => {
            Some(s.automount_service_account_token)
        }
        _ => None,
    });
    (
        pod(daemonset(objects)).automount_service_account_token,
        sa.flatten(),
    )
}

#[test]
fn kubernetes_filter_rbac_is_exact_for_fluent_bits_account_and_turns_its_token_on() {
    let default = render(&[]);
    assert!(
        cluster_role(&default, FILTER_ROLE).is_none(),
        "off by default"
    );
    assert_eq!(
        automount(&default),
        (Some(false), Some(false)),
        "no token without the kubernetes filter's RBAC (pod, ServiceAccount)"
    );

    let objects = render(&["fluentBit.rbac.create=true"]);
    let role = cluster_role(&objects, FILTER_ROLE).expect("the kubernetes filter's ClusterRole");
    assert_eq!(role.rules.clone().unwrap_or_default(), filter_rules(false));
    let binding = cluster_role_binding(&objects, FILTER_ROLE).expect("its binding");
    assert_eq!(
        (
            binding.role_ref.kind.as_str(),
            binding.role_ref.name.as_str()
        ),
        ("ClusterRole", FILTER_ROLE)
    );
    let subjects = binding.subjects.clone().unwrap_or_default();
    assert_eq!(subjects.len(), 1, "Fluent Bit's account only: {subjects:?}");
    assert_eq!(
        (
            subjects[0].kind.as_str(),
            subjects[0].name.as_str(),
            subjects[0].namespace.as_deref()
        ),
        ("ServiceAccount", "fluent-bit", Some(NS))
    );
    assert_eq!(
        automount(&objects),
        (Some(true), Some(true)),
        "the filter needs the token"
    );
    assert_eq!(
        pod(daemonset(&objects)).service_account_name.as_deref(),
        Some("fluent-bit")
    );

    // The operator's own rules do not grow.
    let operator_role = |objects: &[Object]| {
        objects
            .iter()
            .find_map(|o| match o {
                Object::Role(r)
                    if r.metadata.name.as_deref() == Some("fbplugin-fbplugin-operator") =>
                {
                    r.rules.clone()
                }
                _ => None,
            })
            .expect("the operator's Role")
    };
    assert_eq!(operator_role(&objects), operator_role(&default));
    for o in &objects {
        if let Object::ClusterRoleBinding(b) = o {
            for s in b.subjects.clone().unwrap_or_default() {
                assert_ne!(
                    s.name, "fbplugin-fbplugin-operator",
                    "{:?} binds the operator",
                    b.metadata.name
                );
            }
        }
    }

    let kubelet = render(&[
        "fluentBit.rbac.create=true",
        "fluentBit.rbac.nodeAccess=true",
    ]);
    assert_eq!(
        cluster_role(&kubelet, FILTER_ROLE).and_then(|r| r.rules.clone()),
        Some(filter_rules(true)),
        "kubelet mode (Use_Kubelet) reads the node's kubelet"
    );

    // An explicit choice wins: RBAC for another container, or a token for a custom filter.
    let no_token = render(&[
        "fluentBit.rbac.create=true",
        "fluentBit.serviceAccount.automountServiceAccountToken=false",
    ]);
    assert_eq!(automount(&no_token), (Some(false), Some(false)));
    let own_account = render(&[
        "fluentBit.serviceAccount.create=false",
        "fluentBit.serviceAccount.name=collector",
        "fluentBit.rbac.create=true",
    ]);
    assert_eq!(
        pod(daemonset(&own_account)).service_account_name.as_deref(),
        Some("collector")
    );
    let subjects = cluster_role_binding(&own_account, FILTER_ROLE)
        .and_then(|b| b.subjects.clone())
        .unwrap_or_default();
    assert_eq!(subjects[0].name, "collector");
}

#[test]
fn metrics_service_selects_the_fluent_bit_pods_on_the_http_server_port() {
    let objects = render(&["fluentBit.metricsPort=2021"]);
    let ds = daemonset(&objects);
    let c = fluent_bit(ds);
    let ports = c.ports.clone().unwrap_or_default();
    assert_eq!(
        (ports[0].name.as_deref(), ports[0].container_port),
        (Some("http"), 2021)
    );
    let conf = config_map(&objects, "fluent-bit")
        .and_then(|c| c.data.clone())
        .and_then(|d| d.get("fluent-bit.conf").cloned())
        .expect("fluent-bit.conf");
    assert!(
        conf.lines().any(|l| l == "    HTTP_Port 2021"),
        "Fluent Bit listens where the probes and the Service point: {conf}"
    );

    let svc = service(&objects, "fluent-bit-metrics").expect("the Fluent Bit metrics Service");
    let spec = svc.spec.clone().expect("spec");
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    let labels = pod_labels(ds);
    let selector = spec.selector.clone().unwrap_or_default();
    assert!(!selector.is_empty());
    for (k, v) in &selector {
        assert_eq!(labels.get(k), Some(v), "the Service selects the pods");
    }
    assert!(
        selector.get("app.kubernetes.io/name").map(String::as_str) == Some("fluent-bit"),
        "and not the operator's: {selector:?}"
    );
    let port = &spec.ports.clone().unwrap_or_default()[0];
    assert_eq!(
        (port.name.as_deref(), port.port, port.target_port.clone()),
        (Some("http"), 2020, Some(IntOrString::String("http".into())))
    );

    let custom = render(&[
        "fluentBit.service.type=NodePort",
        "fluentBit.service.port=9020",
        "fluentBit.service.labels.scrape=yes",
        "fluentBit.service.annotations.prometheus\\.io/path=/api/v2/metrics/prometheus",
    ]);
    let svc = service(&custom, "fluent-bit-metrics").expect("Service");
    let spec = svc.spec.clone().expect("spec");
    assert_eq!(spec.type_.as_deref(), Some("NodePort"));
    assert_eq!(spec.ports.unwrap_or_default()[0].port, 9020);
    assert_eq!(
        svc.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("scrape"))
            .map(String::as_str),
        Some("yes")
    );
    assert_eq!(
        svc.metadata
            .annotations
            .as_ref()
            .and_then(|l| l.get("prometheus.io/path"))
            .map(String::as_str),
        Some("/api/v2/metrics/prometheus")
    );

    let off = render(&["fluentBit.service.enabled=false"]);
    assert!(service(&off, "fluent-bit-metrics").is_none());
    assert!(
        service(&off, "fbplugin-fbplugin-operator-metrics").is_some(),
        "the operator's Service is its own setting"
    );
}

#[test]
fn service_monitor_scrapes_fluent_bits_prometheus_endpoint_only_when_enabled() {
    assert!(
        service_monitor(&render(&[]), "fluent-bit").is_none(),
        "off by default"
    );
    let objects = render_values(
        r#"
fluentBit:
  serviceMonitor:
    enabled: true
    interval: 15s
    scrapeTimeout: 5s
    selector:
      release: prom
    relabelings:
      - sourceLabels: [__meta_kubernetes_pod_node_name]
        targetLabel: nodename
        action: replace
    metricRelabelings:
      - sourceLabels: [__name__]
        regex: fluentbit_uptime
        action: drop
"#,
    );
    let sm = service_monitor(&objects, "fluent-bit").expect("the Fluent Bit ServiceMonitor");
    assert_eq!(
        sm.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("release"))
            .map(String::as_str),
        Some("prom"),
        "selector: the labels Prometheus picks ServiceMonitors by"
    );
    let svc = service(&objects, "fluent-bit-metrics").expect("Service");
    let svc_labels = svc.metadata.labels.clone().unwrap_or_default();
    for (k, v) in sm.spec.selector.match_labels.clone().unwrap_or_default() {
        assert_eq!(
            svc_labels.get(&k),
            Some(&v),
            "selects the Fluent Bit Service"
        );
    }
    let operator_svc = service(&objects, "fbplugin-fbplugin-operator-metrics").expect("Service");
    let operator_labels = operator_svc.metadata.labels.clone().unwrap_or_default();
    assert!(
        sm.spec
            .selector
            .match_labels
            .clone()
            .unwrap_or_default()
            .iter()
            .any(|(k, v)| operator_labels.get(k) != Some(v)),
        "and not the operator's"
    );
    assert_eq!(sm.spec.endpoints.len(), 1);
    let e = &sm.spec.endpoints[0];
    assert_eq!(
        (
            e.port.as_str(),
            e.path.as_deref(),
            e.interval.as_deref(),
            e.scrape_timeout.as_deref()
        ),
        (
            "http",
            Some("/api/v2/metrics/prometheus"),
            Some("15s"),
            Some("5s")
        )
    );
    assert_eq!(
        e.relabelings.as_ref().map(|r| r[0]["targetLabel"].clone()),
        Some(json!("nodename"))
    );
    assert_eq!(
        e.metric_relabelings
            .as_ref()
            .map(|r| r[0]["action"].clone()),
        Some(json!("drop"))
    );
    assert_eq!(
        sm.spec
            .namespace_selector
            .as_ref()
            .map(|n| n.match_names.clone()),
        Some(vec![NS.to_string()])
    );

    let err = template(
        &helm_bin(),
        "fbplugin",
        NS,
        &[
            "fluentBit.serviceMonitor.enabled=true",
            "fluentBit.service.enabled=false",
        ],
    )
    .expect_err("a ServiceMonitor without its Service");
    assert!(
        said(&err).contains("needs fluentBit.service.enabled"),
        "{err}"
    );
    let keys: Vec<String> = render(&[
        "fluentBit.enabled=false",
        "fluentBit.serviceMonitor.enabled=true",
        "fluentBit.rbac.create=true",
    ])
    .iter()
    .map(Object::key)
    .collect();
    assert!(
        !keys.iter().any(|k| k.contains("fluent-bit")),
        "nothing of Fluent Bit without the DaemonSet: {keys:?}"
    );
}

#[test]
fn schema_refuses_unknown_keys_wrong_types_and_templates_in_the_config() {
    let helm = helm_bin();
    // What helm said, without the command line it echoes (which holds every key given).
    let cases: &[(&[&str], &str)] = &[
        (&["fluentBit.envv[0].name=A"], "'envv' not allowed"),
        (
            &["fluentBit.env=A"],
            "'/fluentBit/env': got string, want array",
        ),
        (
            &["fluentBit.env[0].value=no-name"],
            "missing property 'name'",
        ),
        (
            &["fluentBit.tolerations=all"],
            "'/fluentBit/tolerations': got string",
        ),
        (&["fluentBit.rbac.creat=true"], "'creat' not allowed"),
        (
            &["fluentBit.rbac.create=yes"],
            "'/fluentBit/rbac/create': got string",
        ),
        (
            &["fluentBit.service.port=http"],
            "'/fluentBit/service/port': got string",
        ),
        (
            &["fluentBit.service.type=Ingress"],
            "'/fluentBit/service/type'",
        ),
        (
            &["fluentBit.serviceMonitor.interval=often"],
            "'/fluentBit/serviceMonitor/interval'",
        ),
        (
            &["fluentBit.serviceMonitor.labels.a=b"],
            "'labels' not allowed",
        ),
        (
            &["fluentBit.updateStrategy.type=Sometimes"],
            "'/fluentBit/updateStrategy/type'",
        ),
        (
            &["fluentBit.updateStrategy.rollingUpdate.maxUnavailable=half"],
            "'/fluentBit/updateStrategy/rollingUpdate/maxUnavailable'",
        ),
        // Renamed to the official chart's names: the old ones are refused, not ignored.
        (
            &["fluentBit.maxUnavailable=1"],
            "'maxUnavailable' not allowed",
        ),
        (&["fluentBit.httpPort=2020"], "'httpPort' not allowed"),
        (&["fluentBit.metricsPort=0"], "'/fluentBit/metricsPort'"),
        (
            &["fluentBit.livenessProbe=off"],
            "'/fluentBit/livenessProbe': got string",
        ),
        (
            &["fluentBit.podSecurityContext=none"],
            "'/fluentBit/podSecurityContext': got string",
        ),
        (
            &["fluentBit.config.extraFiles.a/b=x"],
            "invalid propertyName 'a/b'",
        ),
        (
            &["fluentBit.luaScripts.x=1"],
            "'/fluentBit/luaScripts/x': got number",
        ),
        (
            &["fluentBit.serviceAccount.automountServiceAccountToken=maybe"],
            "'/fluentBit/serviceAccount/automountServiceAccountToken'",
        ),
        (&["nameOverride=Not_A_Name"], "'/nameOverride'"),
        (&["fullnameOverride=-x"], "'/fullnameOverride'"),
    ];
    for (sets, message) in cases {
        let err =
            template(&helm, "fbplugin", NS, sets).expect_err(&format!("{sets:?} must be refused"));
        assert!(
            said(&err).contains(message),
            "{sets:?}: expected {message:?} in: {err}"
        );
    }
    // The official chart's config is a template (`Flush {{ .Values.flush }}`); this one is
    // written as it is, so a moved value that still holds `{{` is refused, not shipped.
    let err = template_values(
        &helm,
        "fbplugin",
        NS,
        "fluentBit:\n  config:\n    service: |\n      [SERVICE]\n          Flush {{ .Values.flush }}\n",
        &[],
    )
    .expect_err("a template in the config");
    assert!(said(&err).contains("'/fluentBit/config/service'"), "{err}");
}
