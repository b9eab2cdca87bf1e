//! Static checks of what cannot be built here (no Docker): the Dockerfiles name crates, files
//! and paths that exist and agree with the FluentBitPlugin examples; the plugin template's
//! rename recipe leaves nothing behind; the kind script passes `bash -n` and shellcheck and
//! references what exists.

use std::path::{Path, PathBuf};
use std::process::Command;

use chart_tests::workspace_root;
use serde_json::Value;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The package name in a Cargo.toml.
fn package_name(manifest: &str) -> Option<String> {
    let package = manifest.split("[package]").nth(1)?;
    let line = package
        .lines()
        .find(|l| l.trim_start().starts_with("name ="))?;
    Some(line.split('"').nth(1)?.to_string())
}

/// The word after `flag` in `text` (`-p <crate>`).
fn after<'a>(text: &'a str, flag: &str) -> Vec<&'a str> {
    text.split(flag)
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next())
        .collect()
}

/// Example crates shipped as a `.so` (a cdylib whose FluentBitPlugin names a `.so` file):
/// (dir, package name). WASM filters (`.wasm` artifacts) follow their own image recipe.
fn plugin_crates() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let examples = workspace_root().join("examples");
    for entry in std::fs::read_dir(&examples).expect("examples/") {
        let dir = entry.expect("entry").path();
        let manifest = dir.join("Cargo.toml");
        if !manifest.exists() {
            continue;
        }
        let text = read(&manifest);
        let cr = dir.join("deploy/fluentbitplugin.yaml");
        let ships_so = cr.exists()
            && yaml(&cr)["spec"]["artifact"]["path"]
                .as_str()
                .is_some_and(|p| p.ends_with(".so"));
        if text.contains("cdylib") && ships_so {
            out.push((dir, package_name(&text).expect("package name")));
        }
    }
    out.sort();
    out
}

/// The layout `fbplugin-image build` writes (plugin-runtime/image): an empty base, the static
/// copy program at /fbplugin/copy built as the tool builds it, no shell step, uid 65532.
fn shell_free_final_stage(dockerfile: &str, rel: &str) {
    let final_stage = dockerfile.rsplit("\nFROM ").next().expect("a final stage");
    assert!(
        final_stage.starts_with("${BASE_IMAGE}") && dockerfile.contains("ARG BASE_IMAGE=scratch\n"),
        "{rel}: final stage is the empty base"
    );
    assert!(
        dockerfile.contains(
            "cargo build --release --locked -p fbplugin-copy --target x86_64-unknown-linux-musl"
        ) && dockerfile.contains("rustup target add x86_64-unknown-linux-musl"),
        "{rel}: builds the static copy program"
    );
    for setting in [
        "CARGO_PROFILE_RELEASE_OPT_LEVEL=s",
        "CARGO_PROFILE_RELEASE_LTO=fat",
        "CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1",
        "CARGO_PROFILE_RELEASE_PANIC=abort",
        "CARGO_PROFILE_RELEASE_STRIP=symbols",
    ] {
        let build_rs = read(&workspace_root().join("plugin-runtime/image/build.rs"));
        let (key, value) = setting.split_once('=').expect("key=value");
        assert!(
            dockerfile.contains(setting)
                && build_rs.contains(&format!(".env(\"{key}\", \"{value}\")")),
            "{rel}: {setting}, as fbplugin-image's build.rs"
        );
    }
    assert!(
        final_stage.contains("\nCOPY --from=build --chmod=0555 /out/copy /fbplugin/copy\n"),
        "{rel}: the copy program at /fbplugin/copy"
    );
    assert!(
        !final_stage.contains("\nRUN "),
        "{rel}: no shell in the final stage"
    );
    assert!(
        final_stage.contains("\nUSER 65532:65532\n"),
        "{rel}: non-root"
    );
    assert!(
        final_stage.contains("\nENTRYPOINT [\"/fbplugin/copy\"]\n"),
        "{rel}: the entrypoint of fbplugin-image's config"
    );
}

#[test]
fn every_plugin_has_a_dockerfile_that_builds_it_to_the_path_its_cr_names() {
    let plugins = plugin_crates();
    assert!(
        plugins.len() >= 3,
        "in-generator, out-jsonl and the template: {plugins:?}"
    );
    for (dir, crate_name) in plugins {
        let dockerfile = read(&dir.join("Dockerfile"));
        let lib = format!("lib{}.so", crate_name.replace('-', "_"));
        let so_path = format!("/plugins/{lib}");
        assert_eq!(
            after(&dockerfile, "cargo build --release --locked -p"),
            [crate_name.as_str(), "fbplugin-copy"],
            "{}: the plugin, then the copy program",
            dir.display()
        );
        assert!(
            dockerfile.contains(&format!("cp target/release/{lib} /out/")),
            "{}: copies {lib}",
            dir.display()
        );
        assert!(
            dockerfile.contains(&format!(
                "COPY --from=build --chmod=0444 /out/{lib} {so_path}"
            )),
            "{}",
            dir.display()
        );
        assert!(
            dockerfile.contains(&format!("sha256sum {lib} | tee {lib}.sha256")),
            "{}: prints the sha256",
            dir.display()
        );
        let rel = dir
            .strip_prefix(workspace_root())
            .expect("under the workspace")
            .display()
            .to_string();
        assert!(
            dockerfile.contains(&format!("docker build -f {rel}/Dockerfile")),
            "{rel}: build command names its own path"
        );
        shell_free_final_stage(&dockerfile, &rel);
        assert!(
            dockerfile.contains("ARG RUST_IMAGE=rust:") && dockerfile.contains("-bookworm"),
            "{rel}: glibc no newer than Fluent Bit's"
        );

        let cr = yaml(&dir.join("deploy/fluentbitplugin.yaml"));
        assert_eq!(
            cr["spec"]["artifact"]["path"],
            Value::from(so_path.clone()),
            "{rel}: CR path"
        );
        let plugin_name = cr["spec"]["pluginName"].as_str().expect("pluginName");
        let source = read(&dir.join("src/lib.rs"));
        assert!(
            source.contains(&format!("name = \"{plugin_name}\"")),
            "{rel}: the library registers {plugin_name}"
        );
    }
}

#[test]
fn every_wasm_filter_has_a_dockerfile_that_builds_it_to_the_path_its_cr_names() {
    let mut filters = 0;
    let examples = workspace_root().join("examples");
    for entry in std::fs::read_dir(&examples).expect("examples/") {
        let dir = entry.expect("entry").path();
        let cr_path = dir.join("deploy/fluentbitplugin.yaml");
        if !cr_path.exists() || yaml(&cr_path)["spec"]["type"] != "filter" {
            continue;
        }
        filters += 1;
        let rel = dir
            .strip_prefix(workspace_root())
            .expect("under the workspace")
            .display()
            .to_string();
        let crate_name = package_name(&read(&dir.join("Cargo.toml"))).expect("package name");
        let module = format!("{}.wasm", crate_name.replace('-', "_"));
        let cr = yaml(&cr_path);
        assert_eq!(
            cr["spec"]["artifact"]["path"],
            Value::from(format!("/plugins/{module}")),
            "{rel}: CR path"
        );
        let function = cr["spec"]["wasm"]["functionName"]
            .as_str()
            .expect("functionName");
        assert!(
            read(&dir.join("src/lib.rs")).contains(&format!("export_filter!({function},")),
            "{rel}: the module exports {function}"
        );
        let dockerfile = read(&dir.join("Dockerfile"));
        assert!(
            dockerfile.contains("rustup target add wasm32-unknown-unknown"),
            "{rel}: installs the wasm target"
        );
        assert!(
            dockerfile.contains(&format!(
                "cargo build --release --locked -p {crate_name} --target wasm32-unknown-unknown"
            )),
            "{rel}: builds the module"
        );
        assert!(
            dockerfile.contains(&format!(
                "cp target/wasm32-unknown-unknown/release/{module} /out/"
            )),
            "{rel}: copies {module}"
        );
        assert!(
            dockerfile.contains(&format!(
                "COPY --from=build --chmod=0444 /out/{module} /plugins/{module}"
            )),
            "{rel}"
        );
        assert!(
            dockerfile.contains(&format!("sha256sum {module} | tee {module}.sha256")),
            "{rel}: prints the sha256"
        );
        assert!(
            dockerfile.contains(&format!("docker build -f {rel}/Dockerfile")),
            "{rel}: build command names its own path"
        );
        shell_free_final_stage(&dockerfile, &rel);
    }
    assert!(
        filters >= 1,
        "filter-redact ships a FluentBitPlugin of type filter"
    );
}

#[test]
fn operator_dockerfile_builds_a_static_non_root_binary_of_the_operator_package() {
    let root = workspace_root();
    let dockerfile = read(&root.join("operator/Dockerfile"));
    assert_eq!(
        package_name(&read(&root.join("operator/Cargo.toml"))).as_deref(),
        Some("operator")
    );
    assert!(root.join("operator/src/main.rs").exists());
    assert!(dockerfile.contains("cargo build --release --locked -p operator --bin operator"));
    assert!(
        dockerfile.contains("ARG RUST_IMAGE=rust:") && dockerfile.contains("-alpine"),
        "musl: a static binary"
    );
    assert!(
        dockerfile.contains("program interpreter"),
        "refuses a dynamic binary"
    );
    assert!(dockerfile.contains("ARG RUNTIME_IMAGE=gcr.io/distroless/static"));
    let final_stage = dockerfile.rsplit("\nFROM ").next().expect("final stage");
    assert!(final_stage.contains("\nUSER 65532:65532\n"));
    assert!(final_stage.contains("ENTRYPOINT [\"/operator\"]"));
    let ignore = read(&root.join(".dockerignore"));
    assert!(
        ignore.lines().any(|l| l == "target/"),
        "the build context leaves target/ out"
    );
    // The chart's probes and port are the operator's defaults (`run --listen 0.0.0.0:8080`).
    let values = yaml(&root.join("charts/fbplugin-operator/values.yaml"));
    assert_eq!(values["httpPort"], Value::from(8080));
}

#[test]
fn template_rename_recipe_leaves_no_template_name_behind() {
    let template = workspace_root().join("examples/template");
    let readme = read(&template.join("README.md"));
    let recipe = "sed -i 's/plugin-template/my-output/g; s/plugin_template/my_output/g' Cargo.toml Dockerfile deploy/fluentbitplugin.yaml tests/*.rs";
    assert!(
        readme.contains(recipe),
        "the README's recipe is the one checked here"
    );
    let mut files = vec![
        template.join("Cargo.toml"),
        template.join("Dockerfile"),
        template.join("deploy/fluentbitplugin.yaml"),
    ];
    for entry in std::fs::read_dir(template.join("tests")).expect("tests/") {
        files.push(entry.expect("entry").path());
    }
    for file in files {
        let renamed = read(&file)
            .replace("plugin-template", "my-output")
            .replace("plugin_template", "my_output");
        for stale in ["plugin-template", "plugin_template"] {
            assert!(!renamed.contains(stale), "{}: {stale}", file.display());
        }
    }
}

#[test]
fn kind_script_is_valid_shell_and_references_what_exists() {
    let root = workspace_root();
    let script = root.join("e2e/kind/run.sh");
    let text = read(&script);
    let out = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // shellcheck where available (`apt-get install shellcheck`); bash -n always.
    match Command::new("shellcheck")
        .arg("--severity=style")
        .arg(&script)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "shellcheck:\n{}",
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(e) => eprintln!(
            "NOTE: shellcheck not run on e2e/kind/run.sh ({e}); `apt-get install shellcheck` to run it"
        ),
    }
    let head: String = text.lines().take(8).collect::<Vec<_>>().join("\n");
    assert!(
        head.contains("NEEDS: docker") && head.contains("kind, kubectl, helm"),
        "says up front what it needs"
    );
    assert!(text.contains("trap cleanup EXIT"), "cleans up on exit");
    for path in ["operator/Dockerfile", "charts/fbplugin-operator"] {
        assert!(text.contains(path) && root.join(path).exists(), "{path}");
    }
    for example in ["in-generator", "out-jsonl"] {
        assert!(root.join(format!("examples/{example}/Dockerfile")).exists());
        assert!(
            root.join(format!("examples/{example}/deploy/fluentbitplugin.yaml"))
                .exists()
        );
    }
    // What the script looks for is what the examples do.
    let output = yaml(&root.join("examples/out-jsonl/deploy/fluentbitplugin.yaml"));
    let props = &output["spec"]["instances"][0]["properties"];
    assert_eq!(props[0]["name"], "path");
    assert_eq!(props[0]["value"], "/var/log/fbplugin/gen.jsonl");
    assert!(text.contains("/var/log/fbplugin/gen.jsonl"));
    assert_eq!(
        props[2]["name"], "max_size",
        "the script patches properties/2 (max_size)"
    );
    assert!(text.contains("/spec/instances/0/properties/2/value"));
    let input = yaml(&root.join("examples/in-generator/deploy/fluentbitplugin.yaml"));
    let message = input["spec"]["instances"][0]["properties"][0]["value"]
        .as_str()
        .expect("message");
    assert!(
        text.contains(&format!("\"message\":\"{message}\"")),
        "greps for the generator's message"
    );
    assert_eq!(input["metadata"]["namespace"], "logging");
    assert!(text.contains("NS=logging") && text.contains("DS=fluent-bit"));
}
