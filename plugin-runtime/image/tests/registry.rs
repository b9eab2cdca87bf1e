//! Every example's image built by the tool, pushed to a real registry (bookworm's
//! docker-registry 2.8.2 on 127.0.0.1), pulled back by digest and taken apart: the layers hold
//! exactly the copy program and the plugin file with the promised owners and modes, the config
//! runs as 65532 with no shell, the copy program from the pulled layer verifies and copies the
//! pulled plugin, and building twice gives the same digest.

mod support;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use fbplugin_image::registry::Client;
use fbplugin_image::{COPY_PROGRAM, Reference, sha256_hex};
use serde_json::Value;
use support::Registry;

const TOOL: &str = env!("CARGO_BIN_EXE_fbplugin-image");

struct Example {
    dir: &'static str,
    file: PathBuf,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The examples' built plugin files, each copied under its canonical name (cargo's deps
/// directory may hold `lib<name>-<hash>.so`).
fn examples(dir: &Path) -> Vec<Example> {
    let mut out = Vec::new();
    for (example, package) in [
        ("out-jsonl", "out-jsonl"),
        ("in-generator", "in-generator"),
        ("template", "plugin-template"),
    ] {
        let built = fluent_bit_plugin_test_host::cdylib_path(package)
            .unwrap_or_else(|e| panic!("the {package} cdylib: {e}"));
        let file = dir.join(format!("lib{}.so", package.replace('-', "_")));
        std::fs::copy(&built, &file).expect("copy the .so");
        out.push(Example { dir: example, file });
    }
    let wasm = fluent_bit_wasm_filter_test_host::build_wasm("filter-redact")
        .expect("build filter-redact.wasm");
    let file = dir.join("filter_redact.wasm");
    std::fs::copy(&wasm, &file).expect("copy the .wasm");
    out.push(Example {
        dir: "filter-redact",
        file,
    });
    out
}

struct Built {
    image: String,
    digest: String,
    stdout: String,
}

fn build(args: &[&str]) -> Built {
    let out = Command::new(TOOL)
        .arg("build")
        .args(args)
        .output()
        .expect("run fbplugin-image");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "fbplugin-image build {args:?} failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = stdout
        .lines()
        .find_map(|l| l.strip_prefix("# image: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no `# image:` line in:\n{stdout}"))
        .to_owned();
    let digest = image
        .split_once('@')
        .map(|(_, d)| d.to_owned())
        .unwrap_or_else(|| panic!("{image} has no digest"));
    Built {
        image,
        digest,
        stdout,
    }
}

/// (path, mode, uid, gid, mtime, bytes) of every entry of a tar layer, in order.
fn entries(layer: &[u8]) -> Vec<(String, u32, u64, u64, u64, Vec<u8>)> {
    let mut archive = tar::Archive::new(layer);
    let mut out = Vec::new();
    for entry in archive.entries().expect("a tar layer") {
        let mut entry = entry.expect("a tar entry");
        let header = entry.header().clone();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("entry bytes");
        out.push((
            entry.path().expect("path").display().to_string(),
            header.mode().expect("mode"),
            header.uid().expect("uid"),
            header.gid().expect("gid"),
            header.mtime().expect("mtime"),
            bytes,
        ));
    }
    out
}

#[test]
fn every_example_is_pushed_pulled_back_by_digest_and_holds_exactly_what_is_promised() {
    let registry = Registry::start();
    let work = tempfile::tempdir().expect("tempdir");
    for example in examples(work.path()) {
        let name = example
            .file
            .file_name()
            .and_then(|n| n.to_str())
            .expect("file name")
            .to_owned();
        let plugin = std::fs::read(&example.file).expect("plugin bytes");
        let sha = sha256_hex(&plugin);
        let repository = format!("{}/fbplugin/{}", registry.addr, example.dir);
        let cr = workspace().join(format!(
            "examples/{}/deploy/fluentbitplugin.yaml",
            example.dir
        ));
        let file = example.file.display().to_string();
        let built = build(&[
            &file,
            "--image",
            &format!("{repository}:e2e"),
            "--push",
            "--cr",
            &cr.display().to_string(),
        ]);
        assert!(built.stdout.contains("(pushed)"), "{}", built.stdout);
        assert!(built.image.starts_with(&format!("{repository}@sha256:")));

        // The printed FluentBitPlugin is the example's, with the artifact filled in.
        let yaml = built
            .stdout
            .lines()
            .filter(|l| {
                !l.starts_with("# image:")
                    && !l.starts_with("# plugin:")
                    && !l.starts_with("# size:")
            })
            .collect::<Vec<_>>()
            .join("\n");
        let printed: Value = serde_norway::from_str(&yaml).expect("the printed CR is YAML");
        let original: Value = serde_norway::from_str(&std::fs::read_to_string(&cr).expect("CR"))
            .expect("the example CR");
        let artifact = &printed["spec"]["artifact"];
        assert_eq!(artifact["image"], built.image.as_str());
        assert_eq!(artifact["sha256"], sha.as_str());
        assert_eq!(artifact["path"], format!("/plugins/{name}").as_str());
        assert_eq!(
            artifact["path"], original["spec"]["artifact"]["path"],
            "{}: the CR's path is where the tool puts the file",
            example.dir
        );
        assert_eq!(printed["metadata"], original["metadata"]);

        // Pull back by digest (the client checks every byte against its digest).
        let reference = Reference::parse(&repository).expect("reference");
        let mut client = Client::new(&reference, false, None);
        let manifest_bytes = client
            .pull_manifest(&built.digest)
            .expect("manifest by digest");
        let manifest: Value = serde_json::from_slice(&manifest_bytes).expect("manifest JSON");
        assert_eq!(
            manifest["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        let layers = manifest["layers"].as_array().expect("layers");
        assert_eq!(layers.len(), 2, "{manifest}");
        for layer in layers {
            assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar");
        }
        let pull = |client: &mut Client, d: &Value| {
            client
                .pull_blob(d["digest"].as_str().expect("digest"))
                .expect("blob by digest")
        };
        let copy_layer = entries(&pull(&mut client, &layers[0]));
        assert_eq!(
            copy_layer,
            [
                ("fbplugin/".to_owned(), 0o755, 0, 0, 0, vec![]),
                (
                    "fbplugin/copy".to_owned(),
                    0o555,
                    0,
                    0,
                    0,
                    COPY_PROGRAM.to_vec()
                ),
            ]
        );
        let plugin_layer = entries(&pull(&mut client, &layers[1]));
        assert_eq!(
            plugin_layer,
            [
                ("plugins/".to_owned(), 0o755, 0, 0, 0, vec![]),
                (format!("plugins/{name}"), 0o444, 0, 0, 0, plugin.clone()),
            ]
        );
        let config: Value =
            serde_json::from_slice(&pull(&mut client, &manifest["config"])).expect("config JSON");
        assert_eq!(config["architecture"], "amd64");
        assert_eq!(config["os"], "linux");
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/fbplugin/copy"])
        );
        assert!(config["config"].get("Cmd").is_none() && config["config"].get("Env").is_none());
        assert!(config.get("created").is_none(), "no timestamp: {config}");
        assert_eq!(
            config["config"]["Labels"]["dev.fbplugin.plugin.sha256"],
            sha.as_str()
        );
        assert_eq!(
            config["rootfs"]["diff_ids"],
            serde_json::json!([layers[0]["digest"], layers[1]["digest"]])
        );

        // The pulled copy program is static and does the init container's job on the pulled file.
        let unpacked = work.path().join(format!("unpacked-{}", example.dir));
        let into = unpacked.join("out");
        std::fs::create_dir_all(&into).expect("mkdir");
        let copy = unpacked.join("copy");
        std::fs::write(&copy, &copy_layer[1].5).expect("write copy");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        let source = unpacked.join(&name);
        std::fs::write(&source, &plugin_layer[1].5).expect("write plugin");
        let run = |sha256: &str| {
            Command::new(&copy)
                .args(["--from", &source.display().to_string()])
                .args(["--into", &into.display().to_string()])
                .args([
                    "--as",
                    &format!("{}/{name}", example.dir),
                    "--sha256",
                    sha256,
                ])
                .env_clear()
                .output()
                .expect("run the pulled copy program")
        };
        let ok = run(&sha);
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert_eq!(
            std::fs::read(into.join(example.dir).join(&name)).expect("copied"),
            plugin
        );
        let wrong = run(&"0".repeat(64));
        assert_eq!(wrong.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&wrong.stderr).contains("sha256 mismatch"));

        let size: usize = layers
            .iter()
            .map(|l| l["size"].as_u64().unwrap_or(0) as usize)
            .sum::<usize>()
            + manifest_bytes.len()
            + manifest["config"]["size"].as_u64().unwrap_or(0) as usize;
        eprintln!(
            "{}: {} ({size} bytes: copy program layer {}, plugin layer {}; plugin file {} bytes)",
            example.dir,
            built.image,
            layers[0]["size"],
            layers[1]["size"],
            plugin.len()
        );

        // The tag points at the same manifest.
        let tagged = ureq::get(format!(
            "http://{}/v2/fbplugin/{}/manifests/e2e",
            registry.addr, example.dir
        ))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .call()
        .expect("manifest by tag")
        .body_mut()
        .read_to_vec()
        .expect("manifest bytes");
        assert_eq!(tagged, manifest_bytes);
    }
}

#[test]
fn the_same_file_gives_the_same_digest_and_a_pushed_image_pushes_again_unchanged() {
    let registry = Registry::start();
    let work = tempfile::tempdir().expect("tempdir");
    let example = examples(work.path()).remove(0);
    let file = example.file.display().to_string();
    let repository = format!("{}/fbplugin/{}", registry.addr, example.dir);
    let args = |layout: &Path| {
        vec![
            file.clone(),
            "--image".to_owned(),
            repository.clone(),
            "--oci-layout".to_owned(),
            layout.display().to_string(),
            "--type".to_owned(),
            "output".to_owned(),
            "--plugin-name".to_owned(),
            "jsonl_file".to_owned(),
        ]
    };
    let first_layout = work.path().join("first");
    let first = build(
        &args(&first_layout)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );

    // Another copy of the same bytes, elsewhere, with another mtime and mode.
    let elsewhere = work.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let copied = elsewhere.join(example.file.file_name().expect("name"));
    std::fs::copy(&example.file, &copied).expect("copy");
    std::fs::set_permissions(&copied, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let second_layout = work.path().join("second");
    let mut second_args = args(&second_layout);
    second_args[0] = copied.display().to_string();
    second_args.push("--push".to_owned());
    let second = build(&second_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(first.digest, second.digest, "same bytes, same digest");
    let files = |dir: &Path| {
        let mut out = Vec::new();
        for sub in ["oci-layout", "index.json"] {
            out.push((
                sub.to_owned(),
                std::fs::read(dir.join(sub)).expect("layout file"),
            ));
        }
        let mut blobs: Vec<_> = std::fs::read_dir(dir.join("blobs/sha256"))
            .expect("blobs")
            .map(|e| e.expect("entry").path())
            .collect();
        blobs.sort();
        for blob in blobs {
            let bytes = std::fs::read(&blob).expect("blob");
            assert_eq!(
                format!("sha256:{}", sha256_hex(&bytes)),
                format!(
                    "sha256:{}",
                    blob.file_name().and_then(|n| n.to_str()).expect("name")
                )
            );
            out.push((
                blob.display()
                    .to_string()
                    .replace(&dir.display().to_string(), ""),
                bytes,
            ));
        }
        out
    };
    assert_eq!(
        files(&first_layout),
        files(&second_layout),
        "byte-identical layouts"
    );
    assert!(second.stdout.contains("sha256: "), "{}", second.stdout);

    // Pushing again: blobs are found (HEAD) and the digest is unchanged.
    let mut again_args = args(&work.path().join("third"));
    again_args.push("--push".to_owned());
    let again = build(&again_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(again.digest, first.digest);

    // One byte different: another digest.
    let mut bytes = std::fs::read(&example.file).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let changed = elsewhere.join("changed");
    std::fs::create_dir_all(&changed).expect("mkdir");
    let changed_file = changed.join(example.file.file_name().expect("name"));
    std::fs::write(&changed_file, &bytes).expect("write");
    let mut changed_args = args(&work.path().join("fourth"));
    changed_args[0] = changed_file.display().to_string();
    let other = build(&changed_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_ne!(other.digest, first.digest);
}

#[test]
fn refuses_files_that_are_not_plugins_and_registries_without_a_host() {
    let work = tempfile::tempdir().expect("tempdir");
    let not_elf = work.path().join("libfake.so");
    std::fs::write(&not_elf, b"#!/bin/sh\necho hi\n").expect("write");
    let text = work.path().join("plugin.txt");
    std::fs::write(&text, b"x").expect("write");
    let cases: [(&Path, &str, &str); 3] = [
        (&not_elf, "127.0.0.1:1/x", "not an ELF file"),
        (&text, "127.0.0.1:1/x", "ends in .so"),
        (&not_elf, "fbplugin/out-jsonl", "registry host"),
    ];
    for (file, image, expected) in cases {
        let out = Command::new(TOOL)
            .args(["build", &file.display().to_string(), "--image", image])
            .output()
            .expect("run");
        assert!(!out.status.success());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(expected), "{said}");
    }
}

#[test]
fn write_cr_fills_the_artifact_of_a_cr_file_in_place_and_again_changes_nothing() {
    let work = tempfile::tempdir().expect("tempdir");
    let wasm = work.path().join("filter_redact.wasm");
    std::fs::write(&wasm, b"\0asm\x01\0\0\0").expect("write");
    let cr = work.path().join("fluentbitplugin.yaml");
    let original = std::fs::read_to_string(
        workspace().join("examples/filter-redact/deploy/fluentbitplugin.yaml"),
    )
    .expect("the example CR");
    std::fs::write(&cr, &original).expect("write");
    let args = [
        wasm.display().to_string(),
        "--image".to_owned(),
        "127.0.0.1:5000/fbplugin/filter-redact".to_owned(),
        "--cr".to_owned(),
        cr.display().to_string(),
        "--write-cr".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let built = build(&args);
    let written = std::fs::read_to_string(&cr).expect("read back");
    assert!(
        built.stdout.ends_with(&written),
        "stdout ends with the written file"
    );
    let value: Value = serde_norway::from_str(&written).expect("YAML");
    assert_eq!(value["spec"]["artifact"]["image"], built.image.as_str());
    assert_eq!(
        value["spec"]["artifact"]["sha256"],
        sha256_hex(b"\0asm\x01\0\0\0").as_str()
    );
    // Comments and every other line are kept.
    let kept = |text: &str| {
        text.lines()
            .filter(|l| {
                !l.trim_start().starts_with("image:") && !l.trim_start().starts_with("sha256:")
            })
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(kept(&written), kept(&original));
    build(&args);
    assert_eq!(
        std::fs::read_to_string(&cr).expect("read back"),
        written,
        "idempotent"
    );
}
