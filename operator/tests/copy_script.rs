//! The init container's script, run with the local `sh`: it copies on a matching or absent
//! sha256, and fails loudly (non-zero, message on stderr, nothing copied) otherwise.

use std::path::Path;
use std::process::{Command, Output};

use operator::workload::COPY_SCRIPT;

fn run(dir: &Path, sha: Option<&str>) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(COPY_SCRIPT)
        .env("SRC", dir.join("src/libx.so"))
        .env("DST", dir.join("out/obj/libx.so"));
    if let Some(sha) = sha {
        cmd.env("SHA256", sha);
    }
    cmd.output().expect("sh runs")
}

fn setup(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fbplugin-copy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::write(dir.join("src/libx.so"), b"hello\n").expect("write");
    dir
}

// sha256 of "hello\n".
const HELLO: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

#[test]
fn copies_when_the_sha256_matches_or_is_absent() {
    for sha in [Some(HELLO), None] {
        let dir = setup(if sha.is_some() { "match" } else { "nosha" });
        let out = run(&dir, sha);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read(dir.join("out/obj/libx.so")).expect("copied"),
            b"hello\n"
        );
        assert!(!dir.join("out/obj/libx.so.tmp").exists());
        assert_eq!(
            std::fs::read_to_string(dir.join("out/obj/libx.so.sha256")).expect("recorded"),
            format!("{HELLO}\n"),
            "the copy step records what it copied for the verify step"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn refuses_a_mismatching_file_and_names_both_digests() {
    let dir = setup("mismatch");
    let wrong = "0".repeat(64);
    let out = run(&dir, Some(&wrong));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("sha256 mismatch"), "{stderr}");
    assert!(
        stderr.contains(HELLO) && stderr.contains(&wrong),
        "{stderr}"
    );
    assert!(!dir.join("out/obj/libx.so").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refuses_a_missing_file() {
    let dir = setup("missing");
    std::fs::remove_file(dir.join("src/libx.so")).expect("rm");
    let out = run(&dir, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("not found in the image"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// One plugin cannot touch another's file: the init containers of a real intent, run with the
// mounts the intent gives them (bind mounts in a user + mount namespace, `unshare -rm`), with a
// hostile later plugin `zz-evil` whose image runs whatever it likes.
// ---------------------------------------------------------------------------------------------

mod support;

use operator::workload::{self, PLUGINS_VOLUME, VERIFY_SCRIPT};
use serde_json::Value;

/// What the hostile image runs instead of the copy step: overwrite every file it can see or
/// guess, through its own mount and through `..`.
const HOSTILE: &str = r#"
for f in $(find "$VIEW" -type f 2>/dev/null); do echo evil > "$f" || true; done
mkdir -p "$VIEW/../out-a" 2>/dev/null || true
echo evil > "$VIEW/../out-a/libout_a.so" 2>/dev/null || true
echo evil > "$VIEW/out-a/libout_a.so" 2>/dev/null || true
exit 0
"#;

fn unshare_works() -> bool {
    Command::new("unshare")
        .args(["-rm", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs one init container of the intent: its plugins-volume mount (subPath, readOnly) bound
/// over `views/<name>`, its env with the mount path and the image's root rewritten.
fn run_step(root: &Path, container: &Value, script: &str) -> Output {
    let name = container["name"].as_str().expect("name");
    let mounts = container["volumeMounts"].as_array().expect("mounts");
    let mount = mounts
        .iter()
        .find(|m| m["name"] == PLUGINS_VOLUME)
        .expect("mounts the plugins volume");
    let mount_path = mount["mountPath"].as_str().expect("mountPath");
    let source = root
        .join("volume")
        .join(mount["subPath"].as_str().unwrap_or_default());
    // The kubelet creates a missing subPath directory with the volume's mode.
    std::fs::create_dir_all(&source).expect("subPath dir");
    let view = root.join("views").join(name);
    std::fs::create_dir_all(&view).expect("view dir");
    let image = root.join("image");
    let mut bind = format!("mount --bind '{}' '{}'", source.display(), view.display());
    if mount["readOnly"] == true {
        bind.push_str(&format!(
            " && mount -o remount,bind,ro '{}'",
            view.display()
        ));
    }
    let mut cmd = Command::new("unshare");
    cmd.args(["-rm", "sh", "-c"])
        .arg(format!("{bind} && exec sh -c \"$STEP\""))
        .env("STEP", script)
        .env("VIEW", &view);
    for env in container["env"].as_array().into_iter().flatten() {
        let name = env["name"].as_str().expect("env name");
        let value = env["value"].as_str().unwrap_or_default();
        let value = match (name, value.strip_prefix(mount_path)) {
            (_, Some(rest)) => format!("{}{rest}", view.display()),
            // The file inside the plugin's image.
            ("SRC", None) => format!("{}{value}", image.display()),
            (_, None) => value.to_string(),
        };
        cmd.env(name, value);
    }
    cmd.output().expect("unshare runs")
}

fn pod_intent(subpath_layout: bool) -> Vec<Value> {
    let mut a = support::make("out-a", "output", "out_a", "match: '*'");
    a.spec.artifact.sha256 = Some(sha_of(b"plugin a\n"));
    let evil = support::make("zz-evil", "output", "zz_evil", "match: '*'");
    let intent = workload::daemonset_intent("fluent-bit", "logging", &[&a, &evil], "h");
    let mut inits = intent["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .expect("init containers")
        .clone();
    if !subpath_layout {
        // The layout before per-plugin directories: every step mounts the whole volume.
        for c in &mut inits {
            let m = &mut c["volumeMounts"][0];
            m.as_object_mut().expect("mount").remove("subPath");
            let file = c["env"]
                .as_array()
                .and_then(|e| e.iter().find(|e| e["name"] == "DST" || e["name"] == "FILE"))
                .and_then(|e| e["value"].as_str())
                .map(str::to_string)
                .expect("DST or FILE");
            let plugin = plugin_of(c["name"].as_str().expect("name")).to_string();
            let moved = file.replacen("/fbplugin-out/", &format!("/fbplugin-out/{plugin}/"), 1);
            for e in c["env"].as_array_mut().expect("env") {
                if e["name"] == "DST" || e["name"] == "FILE" {
                    e["value"] = Value::String(moved.clone());
                }
            }
        }
    }
    inits
}

/// The plugin a step's container belongs to: `fbplugin-<name>` or
/// `fbplugin-verify-<name>-<hash>` (the intents here use the hash `h`).
fn plugin_of(container: &str) -> &str {
    match container.strip_prefix(workload::VERIFY_INIT_PREFIX) {
        Some(rest) => rest.strip_suffix("-h").unwrap_or(rest),
        None => container.strip_prefix("fbplugin-").unwrap_or(container),
    }
}

fn sha_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs the pod's init containers in order (the hostile image replaces zz-evil's copy step) and
/// returns (each step's name, success, stderr).
fn run_pod(root: &Path, inits: &[Value]) -> Vec<(String, bool, String)> {
    let image = root.join("image/plugins");
    std::fs::create_dir_all(&image).expect("image dir");
    std::fs::write(image.join("libout_a.so"), b"plugin a\n").expect("write a");
    std::fs::write(image.join("libzz_evil.so"), b"evil\n").expect("write evil");
    inits
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            let script = if name == "fbplugin-zz-evil" {
                HOSTILE.to_string()
            } else {
                c["command"][2].as_str().unwrap_or_default().to_string()
            };
            let out = run_step(root, c, &script);
            (
                name,
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .collect()
}

#[test]
fn a_hostile_later_plugin_cannot_change_an_earlier_plugins_file() {
    if !unshare_works() {
        eprintln!("SKIPPED: `unshare -rm` (user + mount namespaces) is not available here");
        return;
    }
    let root = setup("hostile");
    let inits = pod_intent(true);
    let names: Vec<&str> = inits.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "fbplugin-out-a",
            "fbplugin-zz-evil",
            "fbplugin-verify-out-a-h",
            "fbplugin-verify-zz-evil-h"
        ],
        "every copy step, then every verify step"
    );
    for c in &inits {
        let mount = &c["volumeMounts"][0];
        let plugin = c["name"].as_str().map(plugin_of);
        assert_eq!(mount["subPath"].as_str(), plugin, "{c}");
    }
    let steps = run_pod(&root, &inits);
    // out-a's copy and verify steps pass around the hostile one (whose own file, never
    // copied, fails only its own verify step).
    for (name, ok, stderr) in &steps {
        if name.ends_with("out-a") || name == "fbplugin-zz-evil" {
            assert!(ok, "{name} failed: {stderr}");
        }
    }
    // What Fluent Bit sees (the whole volume, read-only, at /fluent-bit/plugins).
    assert_eq!(
        std::fs::read(root.join("volume/out-a/libout_a.so")).expect("a's file"),
        b"plugin a\n",
        "the earlier plugin's file is unchanged"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn without_per_plugin_directories_the_verify_step_catches_the_overwrite() {
    if !unshare_works() {
        eprintln!("SKIPPED: `unshare -rm` (user + mount namespaces) is not available here");
        return;
    }
    let root = setup("shared-volume");
    let steps = run_pod(&root, &pod_intent(false));
    assert_eq!(
        std::fs::read(root.join("volume/out-a/libout_a.so")).expect("a's file"),
        b"evil\n",
        "with one shared writable mount the hostile step overwrites a's file"
    );
    let (name, ok, stderr) = &steps[2];
    assert_eq!(name, "fbplugin-verify-out-a-h");
    assert!(!ok, "the verify step must fail");
    assert!(stderr.contains("changed after it was verified"), "{stderr}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_verify_step_cannot_write_and_checks_the_recorded_sha256_without_a_spec_one() {
    let root = setup("verify-record");
    let dir = root.join("out");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("libx.so"), b"hello\n").expect("write");
    std::fs::write(dir.join("libx.so.sha256"), format!("{HELLO}\n")).expect("write");
    let verify = |sha: Option<&str>| {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(VERIFY_SCRIPT)
            .env("FILE", dir.join("libx.so"));
        if let Some(sha) = sha {
            cmd.env("SHA256", sha);
        }
        cmd.output().expect("sh runs")
    };
    assert!(verify(None).status.success());
    assert!(verify(Some(HELLO)).status.success());
    std::fs::write(dir.join("libx.so"), b"changed\n").expect("write");
    let out = verify(None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("changed after it was verified"));
    let _ = std::fs::remove_dir_all(&root);
}
