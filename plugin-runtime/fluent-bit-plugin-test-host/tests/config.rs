//! The classic config parser, rule by rule (`docs/fluent-bit-config.md` section 3.2).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use fluent_bit_plugin_test_host::config::{Config, SectionKind, expand_vars};

/// A fresh directory with the given files.
fn dir(files: &[(&str, &str)]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "pth-cfg-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&d).unwrap();
    for (name, text) in files {
        let p = d.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    d
}

fn load(text: &str) -> Result<Config, String> {
    let d = dir(&[("fluent-bit.conf", text)]);
    Config::load(d.join("fluent-bit.conf")).map_err(|e| {
        let s = e.to_string();
        s.strip_prefix(&format!("{}/", d.display()))
            .unwrap_or(&s)
            .to_owned()
    })
}

fn pairs(cfg: &Config, i: usize) -> Vec<(String, String)> {
    cfg.sections[i]
        .entries
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect()
}

fn kv(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// (what, config text, expected pairs of the first section).
type Case = (&'static str, &'static str, Vec<(String, String)>);

#[test]
fn accepted_grammar() {
    let cases: &[Case] = &[
        (
            "indent fixed by first key, keys lowercased",
            "[INPUT]\n    Name dummy\n    Tag  a.b\n",
            kv(&[("name", "dummy"), ("tag", "a.b")]),
        ),
        (
            "tab indentation",
            "[INPUT]\n\tName dummy\n\tTag x\n",
            kv(&[("name", "dummy"), ("tag", "x")]),
        ),
        (
            "key ends at the first space, inner spaces kept",
            "[INPUT]\n  Name   dummy\n  Dummy  {\"a\": 1}  \n",
            kv(&[("name", "dummy"), ("dummy", "{\"a\": 1}")]),
        ),
        (
            "inline # is part of the value",
            "[OUTPUT]\n  Format json # or msgpack\n",
            kv(&[("format", "json # or msgpack")]),
        ),
        (
            "full-line comments at column 0 and after the indent",
            "# top\n[INPUT]\n  # c\n  Name x\n#c2\n",
            kv(&[("name", "x")]),
        ),
        (
            "CRLF line ends",
            "[INPUT]\r\n  Name x\r\n",
            kv(&[("name", "x")]),
        ),
        (
            "empty lines are skipped",
            "\n[INPUT]\n\n  Name x\n\n",
            kv(&[("name", "x")]),
        ),
        (
            "duplicate keys are all kept",
            "[OUTPUT]\n  Match a\n  match b\n",
            kv(&[("match", "a"), ("match", "b")]),
        ),
        (
            "quotes stay literal",
            "[OUTPUT]\n  id \"q v\"\n",
            kv(&[("id", "\"q v\"")]),
        ),
        (
            "text after ] is ignored",
            "[INPUT] trailing\n  Name x\n",
            kv(&[("name", "x")]),
        ),
    ];
    for (what, text, expected) in cases {
        let cfg = load(text).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(&pairs(&cfg, 0), expected, "{what}");
    }
}

#[test]
fn section_types_match_by_case_insensitive_prefix() {
    let cases = [
        ("SERVICE", SectionKind::Service),
        ("serv", SectionKind::Service),
        ("Input", SectionKind::Input),
        ("INPUTS", SectionKind::Input),
        ("IN", SectionKind::Input),
        ("output", SectionKind::Output),
        ("OUTPUTS", SectionKind::Output),
        ("filter", SectionKind::Filter),
        ("Custom", SectionKind::Custom),
        ("stream_processor", SectionKind::StreamProcessor),
        ("UPSTREAM_SERVERS", SectionKind::UpstreamServers),
        (" INPUT ", SectionKind::Other),
        ("INPUTX", SectionKind::Other),
        ("whatever", SectionKind::Other),
    ];
    for (name, kind) in cases {
        let cfg = load(&format!("[{name}]\n  Name x\n")).unwrap();
        assert_eq!(cfg.sections[0].kind, kind, "[{name}]");
        assert_eq!(cfg.sections[0].name, name);
    }
}

#[test]
fn repeated_service_sections_merge_and_the_last_value_wins() {
    let cfg =
        load("[SERVICE]\n  Flush 1\n[INPUT]\n  Name x\n[service]\n  Flush 5\n  Log_Level debug\n")
            .unwrap();
    assert_eq!(cfg.sections_of(SectionKind::Service).count(), 1);
    assert_eq!(cfg.service("flush").unwrap().value, "5");
    assert_eq!(cfg.service("FLUSH").unwrap().line, 6);
    assert_eq!(cfg.service("log_level").unwrap().value, "debug");
    assert_eq!(cfg.sections[1].kind, SectionKind::Input);
}

#[test]
fn groups_use_double_indentation() {
    let cfg = load("[INPUT]\n  Name x\n  [PROCESSORS]\n    a 1\n    b 2\n  Tag t\n").unwrap();
    let s = &cfg.sections[0];
    assert_eq!(s.groups.len(), 1);
    assert_eq!(s.groups[0].name, "PROCESSORS");
    assert_eq!(s.groups[0].entries.len(), 2);
    assert_eq!(s.get("tag"), Some("t"));
}

#[test]
fn set_and_variable_expansion() {
    // SAFETY: no other test in this binary touches this variable.
    unsafe { std::env::set_var("PTH_CFG_FROM_ENV", "env-value") };
    let cfg = load(
        "@SET a=one\n@set B= spaced \n[OUTPUT]\n  x ${a}-${B}\n  y ${PTH_CFG_FROM_ENV}\n  z ${PTH_NOT_SET:-dflt}\n  w pre${PTH_NOT_SET_EITHER}post\n  v ${unclosed\n",
    )
    .unwrap();
    let s = &cfg.sections[0];
    assert_eq!(s.get("x"), Some("one- spaced "), "@SET does not trim");
    assert_eq!(s.get("y"), Some("env-value"));
    assert_eq!(s.get("z"), Some("dflt"));
    assert_eq!(s.get("w"), Some("prepost"));
    assert_eq!(s.get("v"), Some("${unclosed"));
    assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
    assert!(
        cfg.warnings[0].contains("fluent-bit.conf:7: variable ${PTH_NOT_SET_EITHER} is not set"),
        "{:?}",
        cfg.warnings
    );
    // @SET applies to the whole config, wherever it is written, and the last one wins.
    let late = load("[OUTPUT]\n  x ${v}\n@SET v=1\n@SET v=2\n").unwrap();
    assert_eq!(late.sections[0].get("x"), Some("2"));
    let (s, unset) = expand_vars("${A}${B:-b}", &|n| (n == "A").then(|| "a".to_owned()));
    assert_eq!((s.as_str(), unset.len()), ("ab", 0));
}

#[test]
fn errors_name_file_and_line() {
    let cases = [
        (
            "[INPUT]\n  Name x\n  Tag\n",
            "fluent-bit.conf:3: key 'tag' has an empty value",
        ),
        (
            "[INPUT]\n  Name x\n  Tag    \n",
            "fluent-bit.conf:3: key 'tag' has an empty value",
        ),
        (
            "[INPUT]\n  Name\tx\n",
            "fluent-bit.conf:2: key 'name\tx' has an empty value",
        ),
        (
            "[INPUT]\n    Name x\n  Tag y\n",
            "fluent-bit.conf:3: invalid indentation level: 2 space(s) here, but line 2 fixed the indentation of this file at 4 space(s)",
        ),
        (
            "[INPUT]\n  Name x\n   Tag y\n",
            "fluent-bit.conf:3: invalid indentation level: 3 space(s)",
        ),
        (
            "[INPUT]\n  Name x\n\tTag y\n",
            "(tabs and spaces are mixed)",
        ),
        (
            "[INPUT]\n  Name x\n  \n",
            "fluent-bit.conf:3: line has only whitespace",
        ),
        (
            "[INPUT]\nName x\n",
            "fluent-bit.conf:2: 'Name x' is not indented",
        ),
        ("  Name x\n", "fluent-bit.conf:1: key outside any section"),
        (
            "[INPUT\n  Name x\n",
            "fluent-bit.conf:1: section header without a closing ']'",
        ),
        (
            "[INPUT]\n  Name x\n    deep 1\n",
            "fluent-bit.conf:3: double indentation is only allowed inside a [GROUP]",
        ),
        (
            "@SETX=1\n",
            "fluent-bit.conf:1: '@SETX=1': a space must follow the command",
        ),
        (
            "@INCLUDE missing.conf\n",
            "fluent-bit.conf:1: @INCLUDE missing.conf: file not found",
        ),
        (
            "@INCLUDE nothing-*.conf\n",
            "fluent-bit.conf:1: @INCLUDE nothing-*.conf: no file matches the pattern",
        ),
        (
            "[PARSER]\n  Name p\n",
            "fluent-bit.conf:1: [PARSER] is not allowed in a main config",
        ),
        (
            "[MULTILINE_PARSER]\n  Name p\n",
            "[MULTILINE_PARSER] is not allowed",
        ),
        (
            "[PLUGINS]\n  Path /x.so\n",
            "fluent-bit.conf:1: [PLUGINS] in a classic main config",
        ),
    ];
    for (text, needle) in cases {
        let e = load(text)
            .err()
            .unwrap_or_else(|| panic!("accepted: {text:?}"));
        assert!(
            e.contains(needle),
            "{text:?}\n  got:  {e}\n  want: {needle}"
        );
    }
}

#[test]
fn includes_glob_resolve_relative_to_the_top_file_and_fix_indent_per_file() {
    let d = dir(&[
        (
            "main.conf",
            "@INCLUDE conf.d/*.conf\n@include   extra.conf\n[SERVICE]\n    Flush 2\n",
        ),
        ("conf.d/b.conf", "[OUTPUT]\n\tName b\n"),
        ("conf.d/a.conf", "[INPUT]\n  Name a\n"),
        ("  extra.conf", "[CUSTOM]\n Name c\n"),
    ]);
    let cfg = Config::load(d.join("main.conf")).unwrap();
    let names: Vec<&str> = cfg
        .sections
        .iter()
        .map(|s| s.get("name").unwrap_or("-"))
        .collect();
    assert_eq!(
        names,
        ["a", "b", "c", "-"],
        "glob matches are sorted; the @INCLUDE path is not trimmed"
    );
    assert_eq!(cfg.files.len(), 4);
    assert_eq!(cfg.sections[1].file, d.join("conf.d/b.conf"));
    assert_eq!(cfg.sections[1].line, 1);

    let twice = dir(&[
        ("main.conf", "@INCLUDE x.conf\n@INCLUDE x.conf\n"),
        ("x.conf", "[INPUT]\n  Name a\n"),
    ]);
    let e = Config::load(twice.join("main.conf")).unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("read twice"), "{e}");

    let nested = dir(&[
        ("main.conf", "@INCLUDE x.conf\n"),
        ("x.conf", "[INPUT]\n  Name a\n  Tag\n"),
    ]);
    let e = Config::load(nested.join("main.conf")).unwrap_err();
    assert_eq!(
        (e.file.clone(), e.line),
        (nested.join("x.conf"), 3),
        "errors point into the included file"
    );
}

#[test]
fn plugins_file_paths_and_relative_resolution() {
    let d = dir(&[
        (
            "etc/fluent-bit.conf",
            "[SERVICE]\n    Plugins_File plugins.conf\n",
        ),
        (
            "etc/plugins.conf",
            "[PLUGINS]\n    Path /opt/a.so\n    PATH ./b.so\n[plugins]\n    path /opt/c.so\n    other x\n",
        ),
    ]);
    let cfg = Config::load(d.join("etc/fluent-bit.conf")).unwrap();
    let paths = cfg.plugin_paths().unwrap();
    assert_eq!(
        paths,
        [
            Path::new("/opt/a.so"),
            Path::new("./b.so"),
            Path::new("/opt/c.so")
        ]
    );

    let missing = load("[SERVICE]\n    plugins_file nope.conf\n").unwrap();
    let e = missing.plugin_paths().unwrap_err();
    assert_eq!(e.line, 2);
    assert!(
        e.message.contains("plugins_file 'nope.conf' not found"),
        "{e}"
    );
    assert!(
        load("[INPUT]\n  Name x\n")
            .unwrap()
            .plugin_paths()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn properties_exclude_name() {
    let cfg = load("[OUTPUT]\n  Name x\n  Match *\n  id 1\n").unwrap();
    assert_eq!(
        cfg.sections[0].properties(),
        kv(&[("match", "*"), ("id", "1")])
    );
}
