//! Suite 10, without pods: the example `FluentBitPlugin`s (input, WASM filter, output) through
//! the operator's offline render onto the chart's prepared base config; the `.so` and `.wasm`
//! files placed by running each rendered init container's own command (the copy program
//! `fbplugin-copy` that the plugin images carry at `/fbplugin/copy`, built by cargo, checking
//! the CRs' sha256; then the verify steps' `--check`); the rendered `pipeline.conf` and
//! `plugins.conf` placed as the kubelet projects the operator's ConfigMap (its `items`), and the
//! chart's own `fluent-bit.conf`, which includes the pipeline, run by the plugin-runtime test
//! host, the `[FILTER] Name wasm` section through the WASM filter host; the example input's
//! records reach the example output's file intact, redacted by the filter.
//!
//! Changed only to run outside a pod: the jsonl output's `path` points into a temporary
//! directory, the generator's `rate` is raised (10 → 2000 records/s) so the run is short and a
//! `password` field is added to its `fields` so the filter has something to redact,
//! `spec.artifact.sha256` is set to the checksum of the locally built `.so`, and in the init
//! containers' argv the file in the image (`--from`, `--same-as`) is the built `.so` or `.wasm`
//! while the paths on the plugins volume (`--into`, `--check`) are remapped under the temporary
//! root through the volume both containers mount. The base config's built-in plugins (tail, null) are skipped by the host.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use e2e::{chart_objects, of_kind, workspace_root, yaml_documents};
use fluent_bit_plugin_test_host::run::{RunOptions, run};
use fluent_bit_wasm_filter_test_host::build_wasm;
use serde_json::Value;
use sha2::{Digest, Sha256};

const RECORDS: u64 = 300;

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn built(crate_name: &str) -> PathBuf {
    if crate_name == "filter-redact" {
        return build_wasm(crate_name)
            .unwrap_or_else(|e| panic!("building the {crate_name} .wasm: {e}"));
    }
    fluent_bit_plugin_test_host::cdylib_path(crate_name)
        .unwrap_or_else(|e| panic!("the {crate_name} cdylib (a dev-dependency): {e:?}"))
}

/// The examples' CRs, patched as the module docs say.
fn example_sources(out_file: &Path, wrong_sha: bool) -> Vec<operator::offline::Source> {
    example_sources_at(out_file, wrong_sha, None)
}

/// [`example_sources`] targeting the config at `config_path` (the examples' default if `None`).
fn example_sources_at(
    out_file: &Path,
    wrong_sha: bool,
    config_path: Option<&str>,
) -> Vec<operator::offline::Source> {
    let examples = workspace_root().join("examples");
    let mut sources = operator::offline::load_plugins(&[
        examples.join("in-generator/deploy"),
        examples.join("filter-redact/deploy"),
        examples.join("out-jsonl/deploy"),
    ])
    .unwrap_or_else(|e| panic!("loading the examples: {e}"));
    for source in &mut sources {
        let spec = &mut source.plugin.spec;
        if let Some(path) = config_path {
            spec.target.config_path = Some(path.to_string());
        }
        let crate_name = match spec.plugin_name() {
            "generator" => "in-generator",
            "jsonl_file" => "out-jsonl",
            "" if spec.wasm.is_some() => "filter-redact",
            other => panic!("unexpected example plugin {other:?}"),
        };
        let mut sha = sha256_hex(&built(crate_name));
        if wrong_sha && crate_name == "out-jsonl" {
            sha = "0".repeat(64);
        }
        spec.artifact.sha256 = Some(sha);
        for property in spec
            .instances
            .iter_mut()
            .flat_map(|i| i.properties.iter_mut())
        {
            match property.name.as_str() {
                "path" => property.value = out_file.display().to_string(),
                "rate" => property.value = "2000".into(),
                "fields" => property.value.push_str(", password=hunter2"),
                _ => {}
            }
        }
    }
    sources
}

/// The chart's prepared base config (`fluent-bit.conf` of ConfigMap `fluent-bit`).
fn chart_base_config() -> String {
    let objects = chart_objects("logging", &[]).unwrap_or_else(|e| panic!("{e}"));
    let cm = of_kind(&objects, "ConfigMap", Some("fluent-bit"));
    cm.first()
        .and_then(|cm| cm["data"]["fluent-bit.conf"].as_str())
        .map(str::to_owned)
        .expect("the chart's ConfigMap fluent-bit has fluent-bit.conf")
}

/// Writes the operator's ConfigMap files where the Fluent Bit container sees them, as the
/// kubelet projects the `fbplugin-config` volume: each `items` entry's key at its path under
/// the container's mount of that volume (under `root`). Returns the files written.
fn place_configmap(data: &Value, ds: &Value, root: &Path) -> Vec<PathBuf> {
    let pod = &ds["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == operator::layout::CONFIG_VOLUME)
        .expect("the operator's config volume");
    let mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == operator::layout::CONFIG_VOLUME)
        .expect("the operator's config mount");
    assert!(mount["subPath"].is_null(), "a directory mount: {mount}");
    let dir = root.join(
        mount["mountPath"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('/'),
    );
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut written = Vec::new();
    for item in volume["configMap"]["items"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = item["key"].as_str().unwrap_or_default();
        let content = data[key]
            .as_str()
            .unwrap_or_else(|| panic!("the ConfigMap has the item's key {key}: {data}"));
        let path = dir.join(item["path"].as_str().unwrap_or_default());
        std::fs::write(&path, content).expect("write a ConfigMap file");
        written.push(path);
    }
    written
}

/// The test host runs the config at `config` (a path under `root`) as the pod would, with
/// `root` as the container's filesystem, until [`RECORDS`] records arrived (20 s at most).
fn run_in_root(
    config: &Path,
    root: &Path,
) -> Result<fluent_bit_plugin_test_host::run::Summary, fluent_bit_plugin_test_host::run::RunError> {
    run(&RunOptions {
        config: config.to_path_buf(),
        duration: Duration::from_secs(20),
        collect_interval: Duration::from_millis(100),
        flush_interval: Some(Duration::from_millis(100)),
        until_records: Some(RECORDS),
        skip_builtin: true,
        echo_logs: false,
        plugin_map: Vec::new(),
        root: Some(root.to_path_buf()),
    })
}

/// Renders; returns (ConfigMap data, init containers of the DaemonSet intent, and the Fluent Bit
/// container's mounts in the intent).
fn render(sources: &[operator::offline::Source], base: &str) -> (Value, Vec<Value>, Vec<Value>) {
    let (data, init, mounts, _) = render_all(sources, base);
    (data, init, mounts)
}

/// [`render`], with the DaemonSet intent.
fn render_all(
    sources: &[operator::offline::Source],
    base: &str,
) -> (Value, Vec<Value>, Vec<Value>, Value) {
    let output = operator::offline::render(sources, None, base)
        .unwrap_or_else(|e| panic!("offline render: {e}"));
    assert!(!output.failed, "{:?}", output.messages);
    let docs = yaml_documents(&output.manifests).unwrap_or_else(|e| panic!("{e}"));
    let cm = of_kind(&docs, "ConfigMap", None)[0]["data"].clone();
    let ds = of_kind(&docs, "DaemonSet", None)[0].clone();
    let init = ds["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mounts = ds["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    (cm, init, mounts, ds)
}

/// Where a path inside the init container lands as the Fluent Bit container sees it (both mount
/// the same volume, at different paths), under `root`.
fn through_volume(path: &str, init: &Value, fluent_bit_mounts: &[Value], root: &Path) -> PathBuf {
    for mount in init["volumeMounts"].as_array().into_iter().flatten() {
        let at = mount["mountPath"].as_str().unwrap_or_default();
        let Some(rest) = path.strip_prefix(at) else {
            continue;
        };
        let seen_at = fluent_bit_mounts
            .iter()
            .find(|m| m["name"] == mount["name"] && m["subPath"].is_null())
            .and_then(|m| m["mountPath"].as_str())
            .unwrap_or_else(|| panic!("the Fluent Bit container mounts volume {}", mount["name"]));
        // The init container mounts only its plugin's directory (subPath) of the volume.
        let sub_path = mount["subPath"].as_str().unwrap_or_default();
        let dir = root.join(seen_at.trim_start_matches('/')).join(sub_path);
        let rest = rest.trim_start_matches('/');
        return if rest.is_empty() { dir } else { dir.join(rest) };
    }
    panic!("{path} is on no volume of init container {}", init["name"])
}

/// Runs one rendered init container's command as the pod would: the copy program built by
/// cargo for `/fbplugin/copy`, the file in the image (`--from`, `--same-as`) the locally built
/// one, the paths on the plugins volume (`--into`, `--check`) under `root`. Returns (success,
/// output).
fn run_init_container(container: &Value, mounts: &[Value], root: &Path) -> (bool, String) {
    let command: Vec<String> = container["command"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(container["args"].as_array().into_iter().flatten())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert!(
        command.first().map(String::as_str) == Some(operator::layout::COPY_PROGRAM)
            && container["env"].is_null(),
        "the init containers run the copy program with argv only: {container}"
    );
    let program = e2e::copy_program_binary().unwrap_or_else(|e| panic!("{e}"));
    let mut args = Vec::new();
    let mut previous = "";
    for arg in &command[1..] {
        args.push(match previous {
            "--from" | "--same-as" => {
                let file = Path::new(arg)
                    .file_name()
                    .and_then(|f| f.to_str())
                    .unwrap_or_default();
                let crate_name = file
                    .trim_start_matches("lib")
                    .trim_end_matches(".so")
                    .trim_end_matches(".wasm")
                    .replace('_', "-");
                // The copy program refuses `..` in paths: give it the real one.
                let built = built(&crate_name);
                std::fs::canonicalize(&built)
                    .unwrap_or_else(|e| panic!("{}: {e}", built.display()))
                    .display()
                    .to_string()
            }
            "--into" | "--check" => {
                let path = through_volume(arg, container, mounts, root);
                if previous == "--into" {
                    // The kubelet creates a missing subPath directory.
                    std::fs::create_dir_all(&path).expect("the plugin's directory");
                }
                path.display().to_string()
            }
            _ => arg.clone(),
        });
        previous = arg;
    }
    let out = Command::new(&program)
        .args(&args)
        .env_clear()
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn config_path_line(conf: &str, key: &str) -> Option<String> {
    conf.lines()
        .map(str::trim)
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&key.to_ascii_lowercase())
        })
        .and_then(|l| l.split_whitespace().nth(1))
        .map(str::to_owned)
}

#[test]
fn examples_render_install_and_carry_records_end_to_end() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path().join("root");
    let out_file = dir.path().join("gen.jsonl");
    let base = chart_base_config();
    let (data, init, mounts, ds) = render_all(&example_sources(&out_file, false), &base);
    // Where the pod sees them: the chart's own config at its path, the operator's files in the
    // directory it mounts, which the chart's config includes.
    let placed = place_configmap(&data, &ds, &root);
    let read = |name: &str| {
        let path = placed
            .iter()
            .find(|p| p.ends_with(name))
            .unwrap_or_else(|| panic!("{name} placed: {placed:?}"));
        std::fs::read_to_string(path).expect("read a placed file")
    };
    let plugins_conf = read("plugins.conf");
    let pipeline = read("pipeline.conf");
    assert_eq!(
        config_path_line(&pipeline, "Plugins_File").as_deref(),
        Some("/fluent-bit/etc/fbplugin/plugins.conf"),
        "{pipeline}"
    );
    assert!(
        base.contains("\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf"),
        "the chart's config includes the operator's pipeline:\n{base}"
    );
    let conf_path = root.join("fluent-bit/etc/conf/fluent-bit.conf");
    std::fs::create_dir_all(conf_path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(&conf_path, &base).expect("write fluent-bit.conf");
    let fluent_bit_conf = format!("{base}\n--- {}:\n{pipeline}", "pipeline.conf");

    assert_eq!(
        init.len(),
        6,
        "one copy step per example, then one verify step per example"
    );
    for (i, container) in init.iter().enumerate() {
        let (ok, output) = run_init_container(container, &mounts, &root);
        assert!(ok, "init container {} failed:\n{output}", container["name"]);
        let said = if i < 3 { " copied to " } else { " has sha256 " };
        assert!(output.contains(said), "{output}");
    }
    for line in plugins_conf
        .lines()
        .map(str::trim)
        .filter(|l| l.to_ascii_lowercase().starts_with("path"))
    {
        let path = line.split_whitespace().nth(1).expect("a path");
        assert!(
            root.join(path.trim_start_matches('/')).is_file(),
            "{path} placed by its init container"
        );
    }

    let summary = run_in_root(&conf_path, &root)
        .unwrap_or_else(|e| panic!("the test host run: {e:?}\nconfig:\n{fluent_bit_conf}"));
    assert!(!summary.failed(), "{summary:?}");
    let filter = &summary.filters[0];
    assert!(
        filter.records >= RECORDS && filter.modified == filter.records && filter.dropped == 0,
        "every record went through the filter and was redacted: {filter:?}"
    );

    let text = std::fs::read_to_string(&out_file).expect("the output file was written");
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {e}: {l}")))
        .collect();
    assert!(records.len() as u64 >= RECORDS, "{} records", records.len());
    for (i, record) in records.iter().enumerate() {
        assert_eq!(
            record["seq"].as_u64(),
            Some(i as u64),
            "every seq once, in order: {record}"
        );
        assert_eq!(record["message"], "hello from a Rust input", "{record}");
        assert_eq!(record["source"], "in-generator", "{record}");
        assert_eq!(record["team"], "logging", "{record}");
        assert_eq!(record["password"], "[REDACTED]", "the filter ran: {record}");
    }

    // A wrong checksum: the copy step refuses the file.
    let (_, init, mounts) = render(&example_sources(&out_file, true), &base);
    let jsonl = init
        .iter()
        .find(|c| {
            c["name"]
                .as_str()
                .is_some_and(|n| n.contains("jsonl") && !n.contains("verify"))
        })
        .expect("the out-jsonl init container");
    let (ok, output) = run_init_container(jsonl, &mounts, &dir.path().join("root2"));
    assert!(
        !ok,
        "a wrong sha256 must fail the init container:\n{output}"
    );
    assert!(output.contains("sha256 mismatch"), "{output}");
}

/// A Fluent Bit DaemonSet configured in YAML, shaped like the chart's prepared config: it
/// includes the operator's pipeline file, and Fluent Bit reads both.
const YAML_BASE: &str = "\
includes:
  - /fluent-bit/etc/fbplugin/pipeline.yaml
service:
  flush: 1
  log_level: info
  http_server: on
  http_port: 2020
pipeline:
  inputs:
    - name: tail
      path: /var/log/containers/*.log
      tag: kube.*
  outputs:
    - name: 'null'
      match: kube.*
";

#[test]
fn a_yaml_configured_daemonset_runs_the_examples_end_to_end() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path().join("root");
    let out_file = dir.path().join("gen.jsonl");
    let config_path = "/fluent-bit/etc/conf/fluent-bit.yaml";
    let sources = example_sources_at(&out_file, false, Some(config_path));
    let (data, init, mounts, ds) = render_all(&sources, YAML_BASE);
    let placed = place_configmap(&data, &ds, &root);
    assert_eq!(
        placed.len(),
        1,
        "one YAML pipeline, no plugins.conf: {placed:?}"
    );
    assert!(placed[0].ends_with("pipeline.yaml"), "{placed:?}");
    let pipeline = std::fs::read_to_string(&placed[0]).expect("read the pipeline");
    assert!(
        !pipeline.to_ascii_lowercase().contains("plugins_file")
            && pipeline.contains("\nplugins:\n"),
        "YAML mode lists the plugins in the pipeline itself:\n{pipeline}"
    );
    let config = format!("{YAML_BASE}\n# pipeline.yaml:\n{pipeline}");
    let conf_path = root.join(config_path.trim_start_matches('/'));
    std::fs::create_dir_all(conf_path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(&conf_path, YAML_BASE).expect("write the config");
    for container in &init {
        let (ok, output) = run_init_container(container, &mounts, &root);
        assert!(ok, "init container {} failed:\n{output}", container["name"]);
    }

    let summary = run_in_root(&conf_path, &root)
        .unwrap_or_else(|e| panic!("the test host run: {e:?}\nconfig:\n{config}"));
    assert!(!summary.failed(), "{summary:?}");
    assert_eq!(summary.filters.len(), 1, "the WASM filter ran: {summary:?}");
    let text = std::fs::read_to_string(&out_file).expect("the output file was written");
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {e}: {l}")))
        .collect();
    assert!(records.len() as u64 >= RECORDS, "{} records", records.len());
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record["seq"].as_u64(), Some(i as u64), "{record}");
        assert_eq!(record["source"], "in-generator", "{record}");
        assert_eq!(record["password"], "[REDACTED]", "the filter ran: {record}");
    }
}
