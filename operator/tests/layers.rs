//! The pure modules import nothing from each other in a circle: each may name (in code or in
//! its docs) only the modules before it in the layer order that `operator/src/lib.rs`
//! documents under `# Layers`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The documented order: the first `→`-separated chain of module names in the `# Layers`
/// section of lib.rs (a line ending in `→` continues on the next).
fn documented_layers(lib_rs: &str) -> Vec<String> {
    let mut in_section = false;
    let mut chain = String::new();
    for line in lib_rs.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.trim();
        if doc.starts_with('#') {
            in_section = doc == "# Layers";
        } else if in_section && (chain.ends_with('→') || chain.is_empty() && doc.contains('→'))
        {
            chain.push_str(doc);
        }
    }
    chain
        .split('→')
        .map(|name| {
            name.trim()
                .trim_start_matches("[`")
                .trim_end_matches("`]")
                .to_owned()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// Every `crate::<module>` a source names, with the line, including `crate::{a, b}` groups.
fn crate_references(source: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .collect(),
                None => vec![rest],
            };
            for name in names {
                let name = name.trim_start();
                let end = name
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(name.len());
                if end > 0 {
                    out.push((n + 1, name[..end].to_owned()));
                }
            }
        }
    }
    out
}

/// Every reference of a module to itself, to a later layer or to a module outside the layers
/// (the I/O shell), as `file:line: module names later`.
fn violations(layers: &[String], sources: &BTreeMap<String, Vec<(String, String)>>) -> Vec<String> {
    let rank = |name: &str| layers.iter().position(|l| l == name);
    let mut out = Vec::new();
    for (module, files) in sources {
        let Some(own) = rank(module) else {
            out.push(format!(
                "{module} has sources but is not in the layer order"
            ));
            continue;
        };
        for (file, text) in files {
            for (line, target) in crate_references(text) {
                if &target == module {
                    continue;
                }
                match rank(&target) {
                    Some(r) if r < own => {}
                    Some(_) => out.push(format!(
                        "{file}:{line}: {module} names {target}, which comes after it"
                    )),
                    None => out.push(format!(
                        "{file}:{line}: {module} names {target}, which is not a pure module"
                    )),
                }
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The sources of each layer: `src/<module>.rs` or every file under `src/<module>/`.
fn layer_sources(src: &Path, layers: &[String]) -> BTreeMap<String, Vec<(String, String)>> {
    let mut sources = BTreeMap::new();
    for module in layers {
        let mut files = Vec::new();
        let file = src.join(format!("{module}.rs"));
        if file.exists() {
            files.push(file);
        }
        let dir = src.join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        assert!(!files.is_empty(), "no source for layer {module}");
        let texts = files
            .into_iter()
            .map(|f| {
                let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{e}"));
                (f.display().to_string(), text)
            })
            .collect();
        sources.insert(module.clone(), texts);
    }
    sources
}

#[test]
fn pure_modules_name_only_earlier_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib_rs = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let layers = documented_layers(&lib_rs);
    assert!(
        layers.len() >= 10 && layers[0] == "layout" && layers.iter().any(|l| l == "plan"),
        "the `# Layers` section of lib.rs lists {layers:?}"
    );
    for layer in &layers {
        assert!(
            lib_rs.contains(&format!("pub mod {layer};")),
            "{layer} is in the layer order but not a module of the crate"
        );
    }
    let problems = violations(&layers, &layer_sources(&src, &layers));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_reference_back_up_the_layers_is_reported() {
    let layers: Vec<String> = ["layout", "validate", "render"].map(String::from).into();
    let file = |text: &str| vec![("f.rs".to_owned(), text.to_owned())];
    let sources = BTreeMap::from([
        ("layout".to_owned(), file("")),
        (
            "validate".to_owned(),
            file("use crate::layout::CONFIG_DIR;\n/// See [`crate::render::render`].\n"),
        ),
        (
            "render".to_owned(),
            file("use crate::{layout, validate::Problem};\nuse crate::controller::Error;\n"),
        ),
    ]);
    assert_eq!(
        violations(&layers, &sources),
        [
            "f.rs:2: render names controller, which is not a pure module",
            "f.rs:2: validate names render, which comes after it",
        ]
    );
}

#[test]
fn the_documented_order_is_read_across_lines() {
    let lib = "//! # Other\n//! x → y\n//! # Layers\n//!\n//! [`a`] → [`b`] →\n//! [`c`]\n//! text → not\n";
    assert_eq!(documented_layers(lib), ["a", "b", "c"]);
}
