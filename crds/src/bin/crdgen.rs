//! Writes the `FluentBitPlugin` CRD YAML, or checks that the committed copy is current.
//!
//! ```text
//! crdgen                 write crds/fluentbitplugins.fbplugin.dev.yaml and the Helm chart's copy
//!                        (charts/fbplugin-operator/crds/)
//! crdgen --check         exit 1 when a committed file differs from the types
//! crdgen --out <file>    also write/check this file (repeatable, e.g. the chart's copy)
//! crdgen --stdout        print instead of writing
//! crdgen --no-cel        without CEL rules (Kubernetes < 1.25); implies --stdout
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use fbplugin_crds::{CRD_FILE_NAME, Cel, crd_yaml};

fn main() -> ExitCode {
    let mut check = false;
    let mut stdout = false;
    let mut cel = Cel::Keep;
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut outs = vec![
        crate_dir.join(CRD_FILE_NAME),
        crate_dir
            .join("../charts/fbplugin-operator/crds")
            .join(CRD_FILE_NAME),
    ];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--stdout" => stdout = true,
            "--no-cel" => {
                cel = Cel::Strip;
                stdout = true;
            }
            "--out" => match args.next() {
                Some(path) => outs.push(PathBuf::from(path)),
                None => return usage("--out needs a file path"),
            },
            "-h" | "--help" => {
                println!("usage: crdgen [--check] [--stdout] [--no-cel] [--out <file>]...");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let yaml = match crd_yaml(cel) {
        Ok(yaml) => yaml,
        Err(err) => {
            eprintln!("crdgen: cannot serialize the CRD: {err}");
            return ExitCode::FAILURE;
        }
    };
    if stdout {
        print!("{yaml}");
        return ExitCode::SUCCESS;
    }
    let mut stale = false;
    for out in &outs {
        if check {
            match std::fs::read_to_string(out) {
                Ok(existing) if existing == yaml => {}
                Ok(_) => {
                    eprintln!(
                        "crdgen: {} is stale: the FluentBitPlugin types changed. Run \
                         `cargo run -p fbplugin-crds --bin crdgen` and commit the result.",
                        out.display()
                    );
                    stale = true;
                }
                Err(err) => {
                    eprintln!(
                        "crdgen: cannot read {}: {err}. Run `cargo run -p fbplugin-crds --bin \
                         crdgen` and commit the result.",
                        out.display()
                    );
                    stale = true;
                }
            }
        } else if let Err(err) = std::fs::write(out, &yaml) {
            eprintln!("crdgen: cannot write {}: {err}", out.display());
            return ExitCode::FAILURE;
        } else {
            eprintln!("crdgen: wrote {}", out.display());
        }
    }
    if stale {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("crdgen: {problem}\nusage: crdgen [--check] [--stdout] [--no-cel] [--out <file>]...");
    ExitCode::from(2)
}
