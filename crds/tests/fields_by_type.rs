//! The table of which fields apply to which plugin type ([`rules::FIELDS_BY_TYPE`]) is the one
//! the docs show and the one the CRD's CEL rules are built from.

use fbplugin_crds::rules::{self, Applies, FIELDS_BY_TYPE, PLUGIN_TYPES};
use fbplugin_crds::{Cel, PluginType, crd_yaml};

fn doc(path: &str) -> String {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

#[test]
fn the_operator_guide_shows_the_table() {
    let table = rules::fields_by_type_markdown();
    assert!(
        doc("../docs/operator-guide.md").contains(&table),
        "docs/operator-guide.md must hold rules::fields_by_type_markdown() verbatim:\n{table}"
    );
}

#[test]
fn the_crate_docs_show_the_table() {
    let table: String = rules::fields_by_type_markdown()
        .lines()
        .map(|l| format!("//! {l}\n"))
        .collect();
    assert!(
        doc("src/lib.rs").contains(&table),
        "crds/src/lib.rs must hold rules::fields_by_type_markdown() in its docs:\n{table}"
    );
}

#[test]
fn every_field_of_the_table_is_in_a_cel_rule() {
    let yaml = crd_yaml(Cel::Keep).expect("CRD serializes");
    for row in FIELDS_BY_TYPE {
        for field in row.fields {
            let name = field.rsplit('.').next().unwrap_or(field);
            assert!(
                yaml.lines()
                    .any(|l| l.contains("self.type") && l.contains(name)),
                "no CEL rule on self.type names {field}"
            );
        }
    }
}

#[test]
fn every_row_is_found_by_each_of_its_fields_and_types_are_in_order() {
    assert_eq!(
        PLUGIN_TYPES.map(PluginType::as_str),
        ["input", "output", "custom", "filter"]
    );
    for row in FIELDS_BY_TYPE {
        for field in row.fields {
            assert_eq!(rules::type_field(field), row);
        }
        assert!(
            row.by_type.iter().any(|&a| a != Applies::Allowed),
            "{:?} applies to every type: leave it out of the table",
            row.fields
        );
    }
    assert_eq!(
        rules::type_field("tag").applies(PluginType::Unsupported),
        Applies::Allowed
    );
}
