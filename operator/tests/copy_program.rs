//! The init containers of a real intent, run as the pod would run them: the copy program
//! (`fbplugin-copy`, built by cargo from `plugin-runtime/copy`, the program every plugin image
//! carries at `/fbplugin/copy`) with the rendered `command` as its argv, the mount paths and the
//! image's root rewritten onto a temporary directory. It copies on a matching or absent sha256,
//! fails loudly (non-zero, message on stderr, nothing copied) otherwise, and the verify steps
//! catch a file that changed after its copy step.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use fbplugin_crds::FluentBitPlugin;
use operator::layout::{self, COPY_PROGRAM, PLUGINS_VOLUME};
use operator::workload;
use serde_json::Value;

mod support;

/// The copy program, built once per test process by cargo into its own target directory (so
/// it never waits on the lock of the cargo running the tests).
fn copy_program() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let target_dir = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace.join("target"))
                .join("copy-program");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let out = Command::new(cargo)
                .args([
                    "build",
                    "--locked",
                    "-p",
                    "fbplugin-copy",
                    "--bin",
                    "fbplugin-copy",
                ])
                .arg("--target-dir")
                .arg(&target_dir)
                .current_dir(&workspace)
                .output()
                .unwrap_or_else(|e| panic!("running cargo to build fbplugin-copy: {e}"));
            assert!(
                out.status.success(),
                "cargo build -p fbplugin-copy failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            target_dir.join("debug/fbplugin-copy")
        })
        .clone()
}

fn setup(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fbplugin-copy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("image/plugins")).expect("mkdir");
    dir
}

fn sha_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The intent's init containers for `plugins` (rendered hash `h`).
fn inits(plugins: &[&FluentBitPlugin]) -> Vec<Value> {
    let rendered = operator::render::Rendered {
        yaml: false,
        pipeline: String::new(),
        plugins_conf: None,
        hash: "h".into(),
    };
    let intent =
        workload::daemonset_intent("fluent-bit", "logging", "fluent-bit", plugins, &rendered);
    intent["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .expect("init containers")
        .clone()
}

/// The plugin a step's container belongs to: `fbplugin-<name>` or
/// `fbplugin-verify-<name>-<hash>` (the intents here use the hash `h`).
fn plugin_of(container: &str) -> &str {
    match container.strip_prefix(layout::VERIFY_INIT_PREFIX) {
        Some(rest) => rest.strip_suffix("-h").unwrap_or(rest),
        None => container.strip_prefix("fbplugin-").unwrap_or(container),
    }
}

/// The container's plugins-volume mount: (mountPath, subPath, readOnly).
fn plugins_mount(container: &Value) -> (String, String, bool) {
    let mount = container["volumeMounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == PLUGINS_VOLUME))
        .expect("mounts the plugins volume");
    (
        mount["mountPath"].as_str().expect("mountPath").to_owned(),
        mount["subPath"].as_str().unwrap_or_default().to_owned(),
        mount["readOnly"] == true,
    )
}

/// The container's command as the test runs it: the copy program built by cargo, the paths in
/// the image under `root/image`, the mount path at `view`. Everything else verbatim.
fn argv(container: &Value, root: &Path, view: &Path) -> Vec<String> {
    let command: Vec<&str> = container["command"]
        .as_array()
        .expect("a command")
        .iter()
        .map(|v| v.as_str().expect("strings"))
        .collect();
    assert_eq!(command[0], COPY_PROGRAM, "{container}");
    assert!(container["args"].is_null() && container["env"].is_null());
    let (mount_path, _, _) = plugins_mount(container);
    let mut out = vec![copy_program().display().to_string()];
    let mut previous = "";
    for arg in &command[1..] {
        out.push(match (previous, arg.strip_prefix(mount_path.as_str())) {
            ("--from" | "--same-as", _) => format!("{}/image{arg}", root.display()),
            ("--into" | "--check", Some(rest)) => format!("{}{rest}", view.display()),
            _ => (*arg).to_owned(),
        });
        previous = arg;
    }
    out
}

fn run_direct(container: &Value, root: &Path) -> Output {
    let (_, sub_path, _) = plugins_mount(container);
    let view = root.join("volume").join(sub_path);
    std::fs::create_dir_all(&view).expect("subPath dir");
    let argv = argv(container, root, &view);
    Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .output()
        .expect("the copy program runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// sha256 of "hello\n".
const HELLO: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

fn hello_plugin(sha: Option<&str>) -> FluentBitPlugin {
    let mut p = support::make("out-x", "output", "x", "match: '*'");
    p.spec.artifact.path = "/plugins/libx.so".into();
    p.spec.artifact.sha256 = sha.map(str::to_owned);
    p
}

#[test]
fn copies_and_verifies_when_the_sha256_matches_or_is_absent() {
    for sha in [Some(HELLO), None] {
        let root = setup(if sha.is_some() { "match" } else { "nosha" });
        std::fs::write(root.join("image/plugins/libx.so"), b"hello\n").expect("write");
        let plugin = hello_plugin(sha);
        let steps = inits(&[&plugin]);
        let copy = &steps[0];
        let expected_flag = if sha.is_some() {
            "--sha256"
        } else {
            "--same-as"
        };
        assert_eq!(
            steps[1]["command"][3], expected_flag,
            "without a spec sha256 the verify step compares with the image's file"
        );
        for step in &steps {
            let out = run_direct(step, &root);
            assert!(out.status.success(), "{}: {}", step["name"], stderr(&out));
        }
        let dest = root.join("volume/out-x/libx.so");
        assert_eq!(std::fs::read(&dest).expect("copied"), b"hello\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o444, "{copy}");
        let names: Vec<_> = std::fs::read_dir(root.join("volume/out-x"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["libx.so"], "only the plugin file is placed");
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[test]
fn refuses_a_mismatching_file_and_names_both_digests() {
    let root = setup("mismatch");
    std::fs::write(root.join("image/plugins/libx.so"), b"hello\n").expect("write");
    let wrong = "0".repeat(64);
    let plugin = hello_plugin(Some(&wrong));
    let out = run_direct(&inits(&[&plugin])[0], &root);
    let stderr = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("sha256 mismatch"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "expected {wrong} (spec.artifact.sha256), actual {HELLO}"
        )),
        "{stderr}"
    );
    assert!(!root.join("volume/out-x/libx.so").exists());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn refuses_a_missing_file() {
    let root = setup("missing");
    let plugin = hello_plugin(None);
    let out = run_direct(&inits(&[&plugin])[0], &root);
    let stderr = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not found in the image"), "{stderr}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_verify_step_catches_a_file_changed_after_the_copy_with_or_without_a_spec_sha256() {
    for sha in [Some(HELLO), None] {
        let root = setup(if sha.is_some() {
            "changed"
        } else {
            "changed-nosha"
        });
        std::fs::write(root.join("image/plugins/libx.so"), b"hello\n").expect("write");
        let plugin = hello_plugin(sha);
        let steps = inits(&[&plugin]);
        assert!(run_direct(&steps[0], &root).status.success());
        let dest = root.join("volume/out-x/libx.so");
        std::fs::remove_file(&dest).expect("rm");
        std::fs::write(&dest, b"changed\n").expect("write");
        let out = run_direct(&steps[1], &root);
        let stderr = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("sha256 mismatch") && stderr.contains(HELLO),
            "{stderr}"
        );
        assert!(stderr.contains(&sha_of(b"changed\n")), "{stderr}");
        let _ = std::fs::remove_dir_all(&root);
    }
}

// ---------------------------------------------------------------------------------------------
// One plugin cannot touch another's file: the init containers of a real intent, run with the
// mounts the intent gives them (bind mounts in a user + mount namespace, `unshare -rm`), with a
// hostile later plugin `zz-evil` whose image runs whatever it likes.
// ---------------------------------------------------------------------------------------------

/// What the hostile image runs instead of the copy step (its image has a shell: it is the
/// attacker's): overwrite every file it can see or guess, through its own mount and `..`.
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
/// over `views/<name>`, then its command (or, for the hostile step, `HOSTILE` with `$VIEW`).
fn run_step(root: &Path, container: &Value, hostile: bool) -> Output {
    let name = container["name"].as_str().expect("name");
    let (_, sub_path, read_only) = plugins_mount(container);
    let source = root.join("volume").join(sub_path);
    // The kubelet creates a missing subPath directory with the volume's mode.
    std::fs::create_dir_all(&source).expect("subPath dir");
    let view = root.join("views").join(name);
    std::fs::create_dir_all(&view).expect("view dir");
    let mut bind = format!("mount --bind '{}' '{}'", source.display(), view.display());
    if read_only {
        bind.push_str(&format!(
            " && mount -o remount,bind,ro '{}'",
            view.display()
        ));
    }
    let mut cmd = Command::new("unshare");
    cmd.args(["-rm", "sh", "-c"]);
    if hostile {
        cmd.arg(format!("{bind} && exec sh -c \"$STEP\""))
            .env("STEP", HOSTILE)
            .env("VIEW", &view);
    } else {
        // The program's argv as positional parameters: nothing of it is parsed by this shell.
        cmd.arg(format!("{bind} && exec \"$@\""))
            .arg("step")
            .args(argv(container, root, &view));
    }
    cmd.output().expect("unshare runs")
}

/// The pod's init containers: out-a (sha256 in the spec or not) and the hostile zz-evil.
/// `subpath_layout: false` is the layout before per-plugin directories: every step mounts the
/// whole volume and its paths name the plugin's directory.
fn pod_intent(subpath_layout: bool, a_sha: bool) -> Vec<Value> {
    let mut a = support::make("out-a", "output", "out_a", "match: '*'");
    if a_sha {
        a.spec.artifact.sha256 = Some(sha_of(b"plugin a\n"));
    }
    let evil = support::make("zz-evil", "output", "zz_evil", "match: '*'");
    let mut inits = inits(&[&a, &evil]);
    if !subpath_layout {
        for c in &mut inits {
            c["volumeMounts"][0]
                .as_object_mut()
                .expect("mount")
                .remove("subPath");
            let plugin = plugin_of(c["name"].as_str().expect("name")).to_string();
            let command = c["command"].as_array_mut().expect("command");
            for i in 1..command.len() {
                let flag = command[i - 1].as_str().unwrap_or_default().to_owned();
                let value = command[i].as_str().unwrap_or_default().to_owned();
                let moved = match flag.as_str() {
                    "--as" => format!("{plugin}/{value}"),
                    "--check" => {
                        value.replacen("/fbplugin-out/", &format!("/fbplugin-out/{plugin}/"), 1)
                    }
                    _ => continue,
                };
                command[i] = Value::String(moved);
            }
        }
    }
    inits
}

/// Runs the pod's init containers in order (the hostile image replaces zz-evil's copy step) and
/// returns (each step's name, success, stderr).
fn run_pod(root: &Path, inits: &[Value]) -> Vec<(String, bool, String)> {
    let image = root.join("image/plugins");
    std::fs::write(image.join("libout_a.so"), b"plugin a\n").expect("write a");
    std::fs::write(image.join("libzz_evil.so"), b"evil\n").expect("write evil");
    inits
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            let out = run_step(root, c, name == "fbplugin-zz-evil");
            (name, out.status.success(), stderr(&out))
        })
        .collect()
}

#[test]
fn a_hostile_later_plugin_cannot_change_an_earlier_plugins_file() {
    if !unshare_works() {
        eprintln!("SKIPPED: `unshare -rm` (user + mount namespaces) is not available here");
        return;
    }
    for a_sha in [true, false] {
        let root = setup(if a_sha { "hostile" } else { "hostile-nosha" });
        let inits = pod_intent(true, a_sha);
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
            let (_, sub_path, _) = plugins_mount(c);
            let plugin = c["name"].as_str().map(plugin_of);
            assert_eq!(Some(sub_path.as_str()), plugin, "{c}");
        }
        let steps = run_pod(&root, &inits);
        // out-a's copy and verify steps pass around the hostile one (whose own file, never
        // copied, fails only its own verify step).
        for (name, ok, stderr) in &steps {
            if name.ends_with("out-a") || name.ends_with("out-a-h") || name == "fbplugin-zz-evil" {
                assert!(ok, "{name} failed: {stderr}");
            }
        }
        let (name, ok, stderr) = &steps[3];
        assert!(
            !ok && stderr.contains("is missing after the copy steps"),
            "{name}: {stderr}"
        );
        // What Fluent Bit sees (the whole volume, read-only, at /fluent-bit/plugins).
        assert_eq!(
            std::fs::read(root.join("volume/out-a/libout_a.so")).expect("a's file"),
            b"plugin a\n",
            "the earlier plugin's file is unchanged"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[test]
fn without_per_plugin_directories_the_verify_step_catches_the_overwrite() {
    if !unshare_works() {
        eprintln!("SKIPPED: `unshare -rm` (user + mount namespaces) is not available here");
        return;
    }
    // With or without a spec sha256: the verify step's expected digest comes from outside the
    // volume (the spec, or the file in out-a's own image), so the hostile step cannot forge it.
    for a_sha in [true, false] {
        let root = setup(if a_sha {
            "shared-volume"
        } else {
            "shared-volume-nosha"
        });
        let steps = run_pod(&root, &pod_intent(false, a_sha));
        assert_eq!(
            std::fs::read(root.join("volume/out-a/libout_a.so")).expect("a's file"),
            b"evil\n",
            "with one shared writable mount the hostile step overwrites a's file"
        );
        let (name, ok, stderr) = &steps[2];
        assert_eq!(name, "fbplugin-verify-out-a-h");
        assert!(!ok, "the verify step must fail");
        assert!(stderr.contains("sha256 mismatch"), "{stderr}");
        assert!(stderr.contains(&sha_of(b"plugin a\n")), "{stderr}");
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[test]
fn the_verify_step_cannot_write() {
    if !unshare_works() {
        eprintln!("SKIPPED: `unshare -rm` (user + mount namespaces) is not available here");
        return;
    }
    let root = setup("verify-ro");
    let inits = pod_intent(true, false);
    let verify = &inits[2];
    let (_, _, read_only) = plugins_mount(verify);
    assert!(read_only, "{verify}");
    // The verify step's mount with a copy step's command: the program cannot write through it.
    let mut writer = verify.clone();
    writer["command"] = inits[0]["command"].clone();
    let steps = run_pod(&root, &[writer]);
    assert!(
        !steps[0].1,
        "writing through the verify step's mount must fail"
    );
    assert!(
        steps[0].2.contains("Read-only file system"),
        "{}",
        steps[0].2
    );
    assert!(!root.join("volume/out-a/libout_a.so").exists());
    let _ = std::fs::remove_dir_all(&root);
}
