//! The gate ([`operator::gate`]): the DaemonSet owner's opt-in, the image allow-list, the
//! container / config path / pull secrets the owner listed, reserved names. Table tests.

mod support;

use fbplugin_crds::SecretReference;
use k8s_openapi::api::apps::v1::DaemonSet;
use operator::gate::{self, ImagePolicy, OptIn};
use operator::layout;
use operator::render::render_daemonset_admitted;
use operator::validate::Reason;
use support::{fixture, make};

fn daemonset(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> DaemonSet {
    let mut ds: DaemonSet = serde_norway::from_str(&fixture("daemonset.yaml")).expect("fixture");
    ds.metadata.labels = Some(
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    ds.metadata.annotations = Some(
        annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    ds
}

const OPTED_IN: &[(&str, &str)] = &[(layout::OPT_IN_LABEL, "true")];
const NAMED: &[(&str, &str)] = &[
    (layout::CONTAINER_ANNOTATION, "fluent-bit"),
    (
        layout::CONFIG_PATH_ANNOTATION,
        "/fluent-bit/etc/conf/fluent-bit.conf",
    ),
];

#[test]
fn a_daemonset_opts_in_only_with_the_label_and_both_annotations() {
    struct Case {
        what: &'static str,
        labels: &'static [(&'static str, &'static str)],
        annotations: &'static [(&'static str, &'static str)],
        missing: &'static [&'static str],
    }
    let cases = [
        Case {
            what: "nothing (a kube-proxy-shaped DaemonSet)",
            labels: &[],
            annotations: &[],
            missing: &[
                layout::OPT_IN_LABEL,
                layout::CONTAINER_ANNOTATION,
                layout::CONFIG_PATH_ANNOTATION,
            ],
        },
        Case {
            what: "annotations only",
            labels: &[],
            annotations: NAMED,
            missing: &[layout::OPT_IN_LABEL],
        },
        Case {
            what: "label with another value",
            labels: &[(layout::OPT_IN_LABEL, "yes")],
            annotations: NAMED,
            missing: &[layout::OPT_IN_LABEL],
        },
        Case {
            what: "label without the container",
            labels: OPTED_IN,
            annotations: &[(
                layout::CONFIG_PATH_ANNOTATION,
                "/fluent-bit/etc/conf/fluent-bit.conf",
            )],
            missing: &[layout::CONTAINER_ANNOTATION],
        },
        Case {
            what: "label with an empty config path",
            labels: OPTED_IN,
            annotations: &[
                (layout::CONTAINER_ANNOTATION, "fluent-bit"),
                (layout::CONFIG_PATH_ANNOTATION, " "),
            ],
            missing: &[layout::CONFIG_PATH_ANNOTATION],
        },
    ];
    for case in cases {
        let err = gate::opt_in(&daemonset(case.labels, case.annotations))
            .expect_err(case.what)
            .to_string();
        assert!(err.contains("logging/fluent-bit"), "{}: {err}", case.what);
        assert!(err.contains("its owner must add"), "{}: {err}", case.what);
        for m in case.missing {
            assert!(err.contains(m), "{}: should name {m}: {err}", case.what);
        }
    }
    let ok = gate::opt_in(&daemonset(
        OPTED_IN,
        &[
            NAMED[0],
            NAMED[1],
            (layout::PULL_SECRETS_ANNOTATION, "regcred, other ,"),
        ],
    ))
    .expect("opted in");
    assert_eq!(
        ok,
        OptIn {
            container: "fluent-bit".into(),
            config_path: "/fluent-bit/etc/conf/fluent-bit.conf".into(),
            pull_secrets: vec!["regcred".into(), "other".into()],
        }
    );
}

#[test]
fn image_repositories_match_exactly_or_below_a_prefix() {
    let policy = ImagePolicy::new(["ghcr.io/acme/", "registry.example:5000/team/out", "busybox"]);
    let digest = format!("@sha256:{}", "a".repeat(64));
    for (image, allowed) in [
        ("ghcr.io/acme/out-jsonl", true),
        ("ghcr.io/acme/deep/path/x", true),
        ("ghcr.io/acme/x:1.0", true),
        ("ghcr.io/acme", false),
        ("ghcr.io/acmeevil/x", false),
        ("ghcr.io/other/x", false),
        ("GHCR.IO/acme/x", true),
        ("registry.example:5000/team/out", true),
        ("registry.example:5000/team/out:v2", true),
        ("registry.example:5000/team/out-evil", false),
        ("registry.example/team/out", false),
        ("busybox", true),
        ("docker.io/library/busybox", true),
        ("library/busybox", true),
        ("evil/busybox", false),
        // A registry that merely looks like an allowed path.
        ("ghcr.io.evil.example/acme/x", false),
    ] {
        assert_eq!(
            policy.allows(&format!("{image}{digest}")),
            allowed,
            "{image}"
        );
    }
    let none = ImagePolicy::new(Vec::<String>::new());
    assert!(!none.allows(&format!("ghcr.io/acme/x{digest}")));
}

#[test]
fn admit_names_the_field_and_what_to_do() {
    let owner = OptIn {
        container: "fluent-bit".into(),
        config_path: "/fluent-bit/etc/conf/fluent-bit.conf".into(),
        pull_secrets: vec!["regcred".into()],
    };
    let allowed = ImagePolicy::new(["registry.example/"]);
    let reasons = |p: &fbplugin_crds::FluentBitPlugin, images: &ImagePolicy| {
        gate::admit(p, Some(&owner), images)
            .into_iter()
            .map(|p| (p.field, p.reason, p.message))
            .collect::<Vec<_>>()
    };
    let good = make("out-a", "output", "out_a", "match: '*'");
    assert_eq!(reasons(&good, &allowed), vec![]);

    let none = reasons(&good, &ImagePolicy::default());
    assert_eq!(none.len(), 1);
    assert_eq!(none[0].0, "spec.artifact.image");
    assert_eq!(none[0].1, Reason::ImageNotAllowed);
    assert!(
        none[0].2.contains("allows no image repository yet")
            && none[0].2.contains("--allowed-image-repository"),
        "{}",
        none[0].2
    );
    let elsewhere = reasons(&good, &ImagePolicy::new(["ghcr.io/acme/"]));
    assert!(
        elsewhere[0].2.contains("registry.example/out-a")
            && elsewhere[0].2.contains("ghcr.io/acme/"),
        "{}",
        elsewhere[0].2
    );

    let mut other_container = good.clone();
    other_container.spec.target.container = Some("kube-proxy".into());
    other_container.spec.target.config_path = Some("/var/lib/kube-proxy/config.conf".into());
    let got = reasons(&other_container, &allowed);
    assert_eq!(
        got.iter().map(|g| (g.0.as_str(), g.1)).collect::<Vec<_>>(),
        [
            ("spec.target.container", Reason::TargetNotAllowed),
            ("spec.target.configPath", Reason::TargetNotAllowed),
        ]
    );
    assert!(
        got[0].2.contains(layout::CONTAINER_ANNOTATION),
        "{}",
        got[0].2
    );

    let mut secrets = good.clone();
    secrets.spec.artifact.image_pull_secrets = vec![
        SecretReference {
            name: "regcred".into(),
        },
        SecretReference {
            name: "cloud-admin-token".into(),
        },
    ];
    let got = reasons(&secrets, &allowed);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "spec.artifact.imagePullSecrets[1].name");
    assert_eq!(got[0].1, Reason::PullSecretNotAllowed);
    assert!(got[0].2.contains("cloud-admin-token") && got[0].2.contains("regcred"));

    // Names that would clash with or not fit the verify steps are single-object rules, refused
    // by the CRD and by validation (the validation table's rows), not by the gate.
}

#[test]
fn a_refused_plugin_is_left_out_and_reported_not_allowed_while_its_neighbour_renders() {
    let good = make("out-a", "output", "out_a", "match: '*'");
    let mut foreign = make("out-b", "output", "out_b", "match: '*'");
    foreign.spec.artifact.image = format!("evil.example/x@sha256:{}", "b".repeat(64));
    let policy = ImagePolicy::new(["registry.example/"]);
    let result =
        render_daemonset_admitted("", &[&good, &foreign], |p| gate::admit(p, None, &policy));
    assert!(result.outcomes[0].included);
    assert!(!result.outcomes[1].included);
    let condition = operator::validate::accepted_condition(&result.outcomes[1].problems);
    assert_eq!(condition.reason, fbplugin_crds::status::reason::NOT_ALLOWED);
    let rendered = result.rendered.expect("the allowed one renders");
    assert!(
        rendered
            .plugins_conf
            .as_deref()
            .unwrap_or_default()
            .contains("out-a")
            && !rendered
                .plugins_conf
                .as_deref()
                .unwrap_or_default()
                .contains("out-b")
    );
}
