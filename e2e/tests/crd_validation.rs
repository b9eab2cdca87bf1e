//! The Kubernetes 1.36 API server is the authority on what the CRD accepts: every row of the
//! validation table (`operator/tests/support/validation_rows.rs`) is refused by the real server
//! (`dryRun=All`, `fieldValidation=Strict`) and every base object and bound variant accepted;
//! then a few thousand hostile objects get the same verdict from the server and from the
//! operator's validation. The only rules the server cannot apply are the cross-object ones
//! (plugin name and alias conflicts, target agreement), which are not rows.

#[path = "../../operator/tests/support/validation_rows.rs"]
#[allow(dead_code)]
mod table;

use e2e::{CrdServer, Verdict};
use fbplugin_crds::FluentBitPlugin;
use serde_json::{Value, json};

const COLLECTION: &str = "/apis/fbplugin.dev/v1alpha1/namespaces/logging/fluentbitplugins";

async fn server() -> Result<CrdServer, e2e::Error> {
    let server = CrdServer::start().await?;
    let crd = serde_json::to_value(fbplugin_crds::crd())
        .map_err(|e| e2e::Error::Invalid(e.to_string()))?;
    server.create_crd(&crd).await?;
    Ok(server)
}

fn json_of(yaml: &str) -> Value {
    serde_norway::from_str(yaml).unwrap_or_else(|e| panic!("table YAML must decode: {e}\n{yaml}"))
}

/// The operator's verdict on what the server received: decoded as the operator decodes it,
/// validated on its own.
fn operator_accepts(object: &Value) -> Result<(), String> {
    let plugin: FluentBitPlugin = serde_json::from_value(object.clone())
        .map_err(|e| format!("the operator cannot decode it: {e}"))?;
    let problems: Vec<String> = operator::validate::validate(&plugin)
        .iter()
        .filter(|p| p.blocking)
        .map(ToString::to_string)
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[tokio::test]
async fn the_server_refuses_every_row_and_accepts_every_base() -> Result<(), e2e::Error> {
    let server = server().await?;
    let mut failures = Vec::new();
    let accepted = table::BASES
        .iter()
        .map(|b| b.to_string())
        .chain(table::accepted_variants());
    for yaml in accepted {
        let verdict = server.dry_run_create(COLLECTION, &json_of(&yaml)).await?;
        if verdict != Verdict::Accepted {
            failures.push(format!("refused a valid object: {verdict:?}\n{yaml}"));
        }
    }
    let rows = table::rows();
    for row in &rows {
        let verdict = server
            .dry_run_create(COLLECTION, &json_of(&row.yaml()))
            .await?;
        match verdict {
            Verdict::Refused { code: 422, .. } => {}
            other => failures.push(format!(
                "{} ({:?} at {}): server said {other:?}",
                row.to, row.reason, row.field
            )),
        }
    }
    eprintln!("{} rows refused by {}", rows.len(), server.version());
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

/// Strings that broke one validator or the other, and values at every bound.
fn hostile_strings() -> Vec<String> {
    let mut out: Vec<String> = [
        "",
        " ",
        "x",
        "a b",
        "a\nb",
        "a\rb",
        "a\tb",
        "\tx",
        "x\t",
        "x\u{b}",
        "\u{a0}x",
        "x\u{a0}",
        "x\u{2028}y",
        "x\u{85}y",
        "x\u{0}y",
        "x\u{1b}[31m",
        "x\u{7f}",
        "x\u{9f}",
        "${X}",
        "$X",
        "[OUTPUT]",
        "@INCLUDE",
        "#x",
        "x#",
        "UPPER",
        "with.dot",
        "with_underscore",
        "-x",
        "x-",
        "../x",
        "/a/../b",
        "/a/./b",
        "/a//b",
        "/a/",
        "/",
        "/fbplugin-out/x.so",
        "/fbplugin-out",
        "/plugins/flb-x.so",
        "/plugins/x.wasm",
        "/plugins/x.so",
        "/x.yaml",
        "/etc/fb.conf",
        "/fluent-bit/etc/fbplugin/x.conf",
        "/fluent-bit/plugins/x",
        "99999999999G",
        "1000000000G",
        "999999999G",
        "5MiB",
        "5M",
        "1.5g",
        "0",
        "-1",
        "1.",
        ".5",
        "stdout",
        "NULL",
        "tail",
        "calyptia",
        "http",
        "日本",
        "é",
        "name",
        "Alias",
        "tls.verify",
        "net.x",
        "host",
        "tag",
        "workers",
        "match",
        "listen",
        "no_limits",
        "regcred",
        "Reg_Cred",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "ghcr.io/x/y@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "ghcr.io/X/y@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "ghcr.io/x/y:tag@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "x y@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "ghcr.io/x/y:1.0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for n in [
        40, 41, 53, 54, 55, 63, 64, 128, 129, 244, 245, 253, 254, 256, 257, 1024, 1025, 4096, 4097,
    ] {
        out.push("a".repeat(n));
        out.push(format!("/{}", "a".repeat(n - 1)));
    }
    for n in [128, 129, 256, 257, 4096, 4097] {
        out.push("é".repeat(n));
    }
    out
}

/// JSON pointers of every string field, per base.
const STRING_FIELDS: &[&str] = &[
    "/metadata/name",
    "/spec/pluginName",
    "/spec/artifact/image",
    "/spec/artifact/path",
    "/spec/artifact/sha256",
    "/spec/artifact/imagePullSecrets/0/name",
    "/spec/instances/0/tag",
    "/spec/instances/0/match",
    "/spec/instances/0/matchRegex",
    "/spec/instances/0/alias",
    "/spec/instances/0/memBufLimit",
    "/spec/instances/0/storageTotalLimitSize",
    "/spec/instances/0/retryLimit",
    "/spec/instances/0/properties/0/name",
    "/spec/instances/0/properties/0/value",
    "/spec/target/daemonSet",
    "/spec/target/container",
    "/spec/target/configPath",
    "/spec/wasm/functionName",
];

/// Sets the field at `pointer`, creating the objects and lists on the way.
fn set(object: &mut Value, pointer: &str, value: Value) {
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    let mut at = object;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let fresh = || match parts.get(i + 1).map(|p| p.parse::<usize>().is_ok()) {
            Some(true) => json!([]),
            _ => json!({}),
        };
        let child = match part.parse::<usize>() {
            Ok(index) => {
                let list = at.as_array_mut().expect("a list on the path");
                while list.len() <= index {
                    list.push(fresh());
                }
                &mut list[index]
            }
            Err(_) => at
                .as_object_mut()
                .expect("an object on the path")
                .entry(*part)
                .or_insert_with(fresh),
        };
        if last {
            *child = value;
            return;
        }
        at = child;
    }
}

#[tokio::test]
async fn hostile_objects_get_the_same_verdict_from_the_server_and_the_operator()
-> Result<(), e2e::Error> {
    let server = server().await?;
    let mut objects = Vec::new();
    for base in table::BASES {
        let base = json_of(base);
        for pointer in STRING_FIELDS {
            for s in hostile_strings() {
                let mut object = base.clone();
                set(&mut object, pointer, json!(s));
                objects.push((format!("{pointer} = {s:?}"), object));
            }
        }
        for (pointer, values) in [
            (
                "/spec/instances/0/workers",
                vec![
                    json!(-1),
                    json!(0),
                    json!(64),
                    json!(65),
                    json!(4294967296u64),
                ],
            ),
            (
                "/spec/instances/0/retryLimit",
                vec![
                    json!(-3),
                    json!(0),
                    json!(1),
                    json!(999999999),
                    json!(1000000000),
                    json!("5"),
                    json!("05"),
                    json!("NO_LIMITS"),
                    json!(1.5),
                ],
            ),
            (
                "/spec/wasm/maxRecordSize",
                vec![json!(0), json!(1), json!(16777216), json!(16777217)],
            ),
            (
                "/spec/wasm/maxTagSize",
                vec![json!(0), json!(1), json!(4096), json!(4097)],
            ),
            (
                "/spec/wasm/stackSize",
                vec![json!(8191), json!(8192), json!(8388608), json!(8388609)],
            ),
        ] {
            for value in values {
                let mut object = base.clone();
                set(&mut object, pointer, value.clone());
                objects.push((format!("{pointer} = {value}"), object));
            }
        }
    }
    let mut disagreements = Vec::new();
    let (mut accepted, mut refused) = (0, 0);
    for (what, object) in &objects {
        let server_verdict = server.dry_run_create(COLLECTION, object).await?;
        let operator_verdict = operator_accepts(object);
        match (&server_verdict, &operator_verdict) {
            (Verdict::Accepted, Ok(())) => accepted += 1,
            (Verdict::Refused { .. }, Err(_)) => refused += 1,
            // Values the types cannot hold are refused by decoding in the operator too.
            (Verdict::Refused { .. }, Ok(())) | (Verdict::Accepted, Err(_)) => {
                disagreements.push(format!(
                    "{what} (type {}): server {server_verdict:?}, operator {operator_verdict:?}",
                    object["spec"]["type"]
                ))
            }
        }
    }
    eprintln!(
        "{} hostile objects: {accepted} accepted and {refused} refused by both",
        objects.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} of {} objects judged differently:\n{}",
        disagreements.len(),
        objects.len(),
        disagreements.join("\n")
    );
    Ok(())
}
