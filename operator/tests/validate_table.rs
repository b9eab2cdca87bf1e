//! Every validation rule, as a table (`support/validation_rows.rs`): each row changes one valid
//! object and says which field and reason the operator must report and what its message says.
//! The 1.36 CRD server suite (`e2e/tests/crd_validation.rs`) sends the same rows to a real API
//! server, which must refuse every one.

#[path = "support/validation_rows.rs"]
mod table;

use fbplugin_crds::FluentBitPlugin;
use operator::validate::{self, Reason};
use table::{BASES, INPUT, OUTPUT, PROP, rows};

fn decode(yaml: &str) -> FluentBitPlugin {
    serde_norway::from_str(yaml).unwrap_or_else(|e| panic!("test YAML must decode: {e}\n{yaml}"))
}

#[test]
fn the_base_objects_are_valid() {
    for base in BASES {
        assert_eq!(validate::validate(&decode(base)), vec![], "{base}");
    }
}

#[test]
fn every_rule_reports_field_reason_and_advice() {
    let mut failures = Vec::new();
    for row in rows() {
        let plugin = decode(&row.yaml());
        let problems = validate::validate(&plugin);
        let hit = problems
            .iter()
            .find(|p| p.field == row.field && p.reason == row.reason);
        match hit {
            None => failures.push(format!(
                "{}: expected {:?} at {}, got {problems:#?}",
                row.to, row.reason, row.field
            )),
            Some(p) if !p.message.contains(row.message) => failures.push(format!(
                "{}: message {:?} lacks {:?}",
                row.to, p.message, row.message
            )),
            Some(_) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn values_at_the_bounds_and_keys_the_plugin_receives_are_valid() {
    for yaml in table::accepted_variants() {
        assert_eq!(validate::validate(&decode(&yaml)), vec![], "{yaml}");
    }
}

#[test]
fn repeated_property_names_and_allowed_env_expansion_are_fine() {
    let yaml = OUTPUT
        .replace(PROP, "{name: path, value: '${LOG_DIR}/out.jsonl'}")
        .replace(
            "retryLimit: 5",
            "retryLimit: no_limits\n      allowEnvExpansion: true",
        );
    assert_eq!(validate::validate(&decode(&yaml)), vec![]);
}

#[test]
fn an_unknown_type_is_reported_not_a_decode_failure() {
    let plugin = decode(&OUTPUT.replace("type: output", "type: router"));
    let problems = validate::validate(&plugin);
    assert!(
        problems
            .iter()
            .any(|p| p.reason == Reason::UnsupportedType && p.field == "spec.type")
    );
}

#[test]
fn conflicts_are_reported_on_both_and_the_newer_is_left_out() {
    let older = decode(&OUTPUT.replace(
        "namespace: logging}",
        "namespace: logging, creationTimestamp: '2026-01-01T00:00:00Z'}",
    ));
    let newer = decode(
        &OUTPUT
            .replace("name: out-jsonl,", "name: zz-other,")
            .replace(
                "namespace: logging}",
                "namespace: logging, creationTimestamp: '2026-02-01T00:00:00Z'}",
            ),
    );
    // The newer one comes first in the input: order must not matter.
    let result = validate::conflicts(&[&newer, &older]);
    let reasons = |ps: &Vec<validate::Problem>| {
        ps.iter()
            .map(|p| (p.reason, p.blocking))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        reasons(&result[0]),
        vec![
            (Reason::DuplicatePluginName, true),
            (Reason::DuplicateAlias, true)
        ]
    );
    assert_eq!(
        reasons(&result[1]),
        vec![
            (Reason::DuplicatePluginName, false),
            (Reason::DuplicateAlias, false)
        ]
    );
    assert!(
        result[0][0].message.contains("logging/out-jsonl"),
        "{}",
        result[0][0].message
    );
    assert!(
        result[1][0].message.contains("logging/zz-other"),
        "{}",
        result[1][0].message
    );
    let accepted = validate::accepted_condition(&result[0]);
    assert_eq!((accepted.status, accepted.reason), (false, "Conflict"));
    assert!(validate::accepted_condition(&result[1]).status);
}

#[test]
fn plugin_names_compare_case_insensitively_and_targets_must_agree() {
    let a = decode(OUTPUT);
    let b = decode(
        &INPUT
            .replace("pluginName: generator", "pluginName: JSONL_FILE")
            .replace(
                "target: {daemonSet: fluent-bit}",
                "target: {daemonSet: fluent-bit, container: fb}",
            ),
    );
    let result = validate::conflicts(&[&a, &b]);
    let got: Vec<Reason> = result[1].iter().map(|p| p.reason).collect();
    assert_eq!(
        got,
        vec![Reason::DuplicatePluginName, Reason::TargetMismatch]
    );
    assert_eq!(result[1][1].field, "spec.target");
}

#[test]
fn accepted_condition_names_the_first_problem_and_counts_the_rest() {
    let yaml = OUTPUT.replace(PROP, "{name: host, value: ' x'}");
    let problems = validate::validate(&decode(&yaml));
    assert_eq!(problems.len(), 2, "{problems:#?}");
    let c = validate::accepted_condition(&problems);
    assert_eq!(
        (c.type_, c.status, c.reason),
        ("Accepted", false, "Invalid")
    );
    assert!(
        c.message
            .starts_with("spec.instances[0].properties[0].name: "),
        "{}",
        c.message
    );
    assert!(
        c.message.ends_with("(and 1 more in status.problems)"),
        "{}",
        c.message
    );
}

/// The operator refuses a type-specific field exactly where `rules::FIELDS_BY_TYPE` says, and
/// misses a required one: for every base object (one per type), every row and every field.
#[test]
fn validation_follows_the_fields_by_type_table() {
    use fbplugin_crds::rules::{Applies, FIELDS_BY_TYPE, FieldScope};
    use serde_json::{Value, json};

    let sample = |field: &str| match field {
        "pluginName" => json!("probe_two"),
        "wasm" => json!({"functionName": "f", "maxRecordSize": 1024}),
        "tag" => json!("gen"),
        "match" => json!("app.*"),
        "matchRegex" => json!("^app"),
        "workers" => json!(2),
        "retryLimit" => json!(5),
        "storageTotalLimitSize" | "memBufLimit" => json!("5M"),
        "storageType" => json!("memory"),
        "properties" => json!([{"name": "path", "value": "/tmp/x"}]),
        other => panic!("no sample value for {other}"),
    };
    let mut failures = Vec::new();
    for base in BASES {
        let base: Value = serde_norway::from_str(base).expect("base decodes");
        let kind = decode(&serde_norway::to_string(&base).expect("YAML"))
            .spec
            .plugin_type;
        for row in FIELDS_BY_TYPE {
            // `set`: which of the row's fields to set (None: none of them).
            let variant = |set: Option<&str>| {
                let mut v = base.clone();
                for field in row.fields {
                    let sets = set == Some(*field);
                    match row.scope {
                        FieldScope::Spec => {
                            let spec = v["spec"].as_object_mut().expect("spec");
                            spec.remove(*field);
                            if sets {
                                spec.insert((*field).to_owned(), sample(field));
                            }
                        }
                        FieldScope::Instance => {
                            let inst = v["spec"]["instances"][0].as_object_mut().expect("inst");
                            inst.remove(*field);
                            if sets {
                                inst.insert((*field).to_owned(), sample(field));
                            }
                        }
                        FieldScope::WasmArtifact => {
                            let suffix = if sets { ".wasm" } else { ".so" };
                            v["spec"]["artifact"]["path"] = json!(format!("/plugins/x{suffix}"));
                        }
                    }
                }
                decode(&serde_norway::to_string(&v).expect("YAML"))
            };
            let path = |field: &str| match row.scope {
                FieldScope::Instance => format!("spec.instances[0].{field}"),
                _ => format!("spec.{field}"),
            };
            let at = |plugin: &FluentBitPlugin, field: &str| {
                validate::validate(plugin)
                    .into_iter()
                    .filter(|p| p.field == path(field))
                    .map(|p| p.reason)
                    .collect::<Vec<_>>()
            };
            let applies = row.applies(kind);
            for field in row.fields {
                let got = at(&variant(Some(field)), field);
                if (applies == Applies::Refused) == got.is_empty() {
                    failures.push(format!(
                        "{} with {field} ({applies:?}): {got:?}",
                        kind.as_str()
                    ));
                }
            }
            let got = at(&variant(None), row.fields[0]);
            if (applies == Applies::Required) == got.is_empty() {
                failures.push(format!(
                    "{} without {:?} ({applies:?}): {got:?}",
                    kind.as_str(),
                    row.fields
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
