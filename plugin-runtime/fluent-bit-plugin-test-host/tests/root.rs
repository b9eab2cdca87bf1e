//! A config written for a container, read with a root: the user's main file includes the
//! operator's file by absolute path (`@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf`,
//! YAML `includes: [/fluent-bit/etc/fbplugin/pipeline.yaml]`), and every absolute path the
//! loader opens is looked up under the root.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use fluent_bit_plugin_test_host::config::{Config, SectionKind};

/// A fresh directory with the given files.
fn dir(files: &[(&str, &str)]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "pth-root-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    for (name, text) in files {
        let p = d.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    d
}

fn names(cfg: &Config, kind: SectionKind) -> Vec<String> {
    cfg.sections_of(kind)
        .map(|s| s.get("name").unwrap_or("-").to_owned())
        .collect()
}

const PIPELINE_CONF: &str = "\
# Written by the fbplugin operator. Do not edit.
[SERVICE]
    Plugins_File /fluent-bit/etc/fbplugin/plugins.conf
[CUSTOM]
    Name my_custom
[INPUT]
    Name my_in
    Tag  app
[FILTER]
    Name  wasm
    Match *
    WASM_Path /fluent-bit/plugins/f.wasm
    Function_Name go_filter
[OUTPUT]
    Name  my_out
    Match *
";

const PLUGINS_CONF: &str = "\
[PLUGINS]
    Path /fluent-bit/plugins/out.so
";

#[test]
fn classic_absolute_include_under_root_merges_service() {
    let root = dir(&[
        (
            "fluent-bit.conf",
            "[SERVICE]\n    Flush 2\n    Log_Level debug\n\n\
             @INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n",
        ),
        ("fluent-bit/etc/fbplugin/pipeline.conf", PIPELINE_CONF),
        ("fluent-bit/etc/fbplugin/plugins.conf", PLUGINS_CONF),
    ]);
    let cfg = Config::load_under(root.join("fluent-bit.conf"), Some(&root)).unwrap();
    let included = root.join("fluent-bit/etc/fbplugin/pipeline.conf");
    assert_eq!(cfg.files, [root.join("fluent-bit.conf"), included.clone()]);
    assert_eq!(
        cfg.sections_of(SectionKind::Service).count(),
        1,
        "the included [SERVICE] merges into the main one"
    );
    assert_eq!(cfg.service("flush").unwrap().value, "2");
    let pf = cfg.service("plugins_file").unwrap();
    assert_eq!(pf.value, "/fluent-bit/etc/fbplugin/plugins.conf");
    assert_eq!((pf.file.clone(), pf.line), (included.clone(), 3));
    assert_eq!(names(&cfg, SectionKind::Output), ["my_out"]);
    assert_eq!(names(&cfg, SectionKind::Input), ["my_in"]);
    assert_eq!(names(&cfg, SectionKind::Custom), ["my_custom"]);
    let out = cfg.sections_of(SectionKind::Output).next().unwrap();
    assert_eq!((out.file.clone(), out.line), (included, 14));
    assert_eq!(
        cfg.plugin_paths_under(Some(&root)).unwrap(),
        [root.join("fluent-bit/plugins/out.so")],
        "the plugins_file named by the included [SERVICE] is read under the root"
    );

    // Without a root the absolute include is looked up as written, and is not there.
    let e = Config::load(root.join("fluent-bit.conf")).unwrap_err();
    assert_eq!((e.file.clone(), e.line), (root.join("fluent-bit.conf"), 5));
    assert!(e.message.contains("file not found"), "{e}");
}

#[test]
fn classic_absolute_glob_include_under_root() {
    let root = dir(&[
        (
            "main.conf",
            "@INCLUDE /fluent-bit/etc/conf.d/*.conf\n[SERVICE]\n    Flush 1\n",
        ),
        ("fluent-bit/etc/conf.d/b.conf", "[OUTPUT]\n    Name b\n"),
        ("fluent-bit/etc/conf.d/a.conf", "[INPUT]\n    Name a\n"),
    ]);
    let cfg = Config::load_under(root.join("main.conf"), Some(&root)).unwrap();
    assert_eq!(cfg.files.len(), 3);
    assert_eq!(names(&cfg, SectionKind::Input), ["a"]);
    assert_eq!(names(&cfg, SectionKind::Output), ["b"]);

    let none = dir(&[("main.conf", "@INCLUDE /nowhere/*.conf\n")]);
    let e = Config::load_under(none.join("main.conf"), Some(&none)).unwrap_err();
    assert_eq!(e.line, 1);
    assert!(e.message.contains("@INCLUDE /nowhere/*.conf"), "{e}");
    assert!(
        e.message
            .contains(&none.join("nowhere/*.conf").display().to_string()),
        "{e}"
    );
}

#[test]
fn relative_includes_keep_their_rules_with_a_root() {
    let root = dir(&[
        ("etc/main.conf", "@INCLUDE extra.conf\n"),
        ("etc/extra.conf", "[OUTPUT]\n    Name x\n"),
    ]);
    let cfg = Config::load_under(root.join("etc/main.conf"), Some(&root)).unwrap();
    assert_eq!(names(&cfg, SectionKind::Output), ["x"]);
}

#[test]
fn comment_only_includes_add_nothing() {
    let root = dir(&[
        (
            "fluent-bit.conf",
            "[SERVICE]\n    Flush 1\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n\
             [OUTPUT]\n    Name stdout\n",
        ),
        (
            "fluent-bit/etc/fbplugin/pipeline.conf",
            "# Written by the fbplugin operator.\n# No plugins.\n",
        ),
        (
            "fluent-bit.yaml",
            "service:\n  flush: 1\nincludes:\n  - /fluent-bit/etc/fbplugin/pipeline.yaml\n  \
             - /fluent-bit/etc/fbplugin/empty.yaml\n  - /fluent-bit/etc/fbplugin/comment.yaml\n\
             pipeline:\n  outputs:\n    - name: stdout\n      match: '*'\n",
        ),
        (
            "fluent-bit/etc/fbplugin/pipeline.yaml",
            "# Written by the fbplugin operator. No plugins.\n{}\n",
        ),
        ("fluent-bit/etc/fbplugin/empty.yaml", ""),
        ("fluent-bit/etc/fbplugin/comment.yaml", "# only a comment\n"),
    ]);
    for main in ["fluent-bit.conf", "fluent-bit.yaml"] {
        let cfg = Config::load_under(root.join(main), Some(&root)).unwrap();
        let kinds: Vec<SectionKind> = cfg.sections.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [SectionKind::Service, SectionKind::Output], "{main}");
        assert_eq!(cfg.sections[0].entries.len(), 1, "{main}");
        assert!(cfg.plugin_paths_under(Some(&root)).unwrap().is_empty());
        assert!(cfg.warnings.is_empty(), "{main}: {:?}", cfg.warnings);
    }
}

#[test]
fn yaml_absolute_include_under_root() {
    let root = dir(&[
        (
            "fluent-bit.yaml",
            "service:\n  flush: 1\nincludes:\n  - /fluent-bit/etc/fbplugin/pipeline.yaml\n",
        ),
        (
            "fluent-bit/etc/fbplugin/pipeline.yaml",
            "# Written by the fbplugin operator. Do not edit.\n\
             plugins:\n  - /fluent-bit/plugins/out.so\n\
             customs:\n  - name: my_custom\n\
             pipeline:\n  inputs:\n    - name: my_in\n      tag: app\n  \
             outputs:\n    - name: my_out\n      match: '*'\n",
        ),
    ]);
    let cfg = Config::load_under(root.join("fluent-bit.yaml"), Some(&root)).unwrap();
    assert_eq!(
        cfg.files,
        [
            root.join("fluent-bit.yaml"),
            root.join("fluent-bit/etc/fbplugin/pipeline.yaml")
        ]
    );
    assert_eq!(names(&cfg, SectionKind::Output), ["my_out"]);
    assert_eq!(names(&cfg, SectionKind::Input), ["my_in"]);
    assert_eq!(names(&cfg, SectionKind::Custom), ["my_custom"]);
    assert_eq!(
        cfg.plugin_paths_under(Some(&root)).unwrap(),
        [root.join("fluent-bit/plugins/out.so")]
    );
    assert_eq!(
        cfg.plugin_paths().unwrap(),
        [Path::new("/fluent-bit/plugins/out.so")]
    );
}

#[test]
fn a_missing_include_under_root_names_both_paths() {
    let root = dir(&[
        (
            "fluent-bit.conf",
            "[SERVICE]\n    Flush 1\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n",
        ),
        (
            "fluent-bit.yaml",
            "includes:\n  - /fluent-bit/etc/fbplugin/pipeline.yaml\n",
        ),
    ]);
    let e = Config::load_under(root.join("fluent-bit.conf"), Some(&root)).unwrap_err();
    assert_eq!((e.file.clone(), e.line), (root.join("fluent-bit.conf"), 3));
    let looked = root.join("fluent-bit/etc/fbplugin/pipeline.conf");
    assert!(
        e.message
            .contains("@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf"),
        "{e}"
    );
    assert!(e.message.contains(&looked.display().to_string()), "{e}");

    let e = Config::load_under(root.join("fluent-bit.yaml"), Some(&root)).unwrap_err();
    assert_eq!(e.file, root.join("fluent-bit.yaml"));
    assert!(
        e.message
            .contains("\"/fluent-bit/etc/fbplugin/pipeline.yaml\""),
        "{e}"
    );
    let looked = root.join("fluent-bit/etc/fbplugin/pipeline.yaml");
    assert!(e.message.contains(&looked.display().to_string()), "{e}");
}

#[test]
fn a_missing_plugins_file_under_root_names_both_paths() {
    let root = dir(&[
        (
            "fluent-bit.conf",
            "@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf\n",
        ),
        ("fluent-bit/etc/fbplugin/pipeline.conf", PIPELINE_CONF),
    ]);
    let cfg = Config::load_under(root.join("fluent-bit.conf"), Some(&root)).unwrap();
    let e = cfg.plugin_paths_under(Some(&root)).unwrap_err();
    assert_eq!(
        (e.file.clone(), e.line),
        (root.join("fluent-bit/etc/fbplugin/pipeline.conf"), 3)
    );
    assert!(
        e.message
            .contains("'/fluent-bit/etc/fbplugin/plugins.conf'"),
        "{e}"
    );
    assert!(
        e.message.contains(
            &root
                .join("fluent-bit/etc/fbplugin/plugins.conf")
                .display()
                .to_string()
        ),
        "{e}"
    );
}
