use super::*;

fn output(pairs: &[(&str, &str)]) -> Config {
    Config::from_pairs(PluginKind::Output, pairs.iter().copied())
}

#[test]
fn keys_are_case_insensitive_and_quotes_are_stripped() {
    let cfg = output(&[("Path", "\"/var/log/out.json\""), ("Name2", "'x'")]);
    assert_eq!(cfg.required::<String>("path").unwrap(), "/var/log/out.json");
    assert_eq!(cfg.required::<String>("NAME2").unwrap(), "x");
    // A lone quote is data, not quoting.
    let cfg = output(&[("k", "\"")]);
    assert_eq!(cfg.required::<String>("k").unwrap(), "\"");
}

#[test]
fn empty_and_missing_values_read_as_absent() {
    let cfg = output(&[("empty", ""), ("quoted_empty", "\"\"")]);
    assert_eq!(cfg.optional::<String>("empty").unwrap(), None);
    assert_eq!(cfg.optional::<String>("quoted_empty").unwrap(), None);
    assert_eq!(cfg.optional::<String>("absent").unwrap(), None);
    let err = cfg.required::<Size>("max_size").unwrap_err();
    assert_eq!(
        err.to_string(),
        "config key `max_size` is required: set it to a size such as 10M, 512K or 1Gi"
    );
}

#[test]
fn booleans_accept_fluent_bit_words() {
    for (text, want) in [
        ("on", true),
        ("TRUE", true),
        ("yes", true),
        ("off", false),
        ("False", false),
        ("NO", false),
    ] {
        let cfg = output(&[("flag", text)]);
        assert_eq!(cfg.required::<bool>("flag").unwrap(), want, "{text}");
    }
    let err = output(&[("flag", "maybe")])
        .required::<bool>("flag")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "config key `flag`: expected a boolean (on/off, true/false, yes/no), got `maybe`"
    );
}

#[test]
fn sizes() {
    let table: &[(&str, Option<u64>)] = &[
        ("512", Some(512)),
        ("10K", Some(10_000)),
        ("10kb", Some(10_000)),
        ("10M", Some(10_000_000)),
        ("1G", Some(1_000_000_000)),
        ("64Ki", Some(65_536)),
        ("1MiB", Some(1_048_576)),
        ("1.5M", Some(1_500_000)),
        ("ten", None),
        ("10X", None),
        ("", None),
        ("-1", None),
    ];
    for (text, want) in table {
        let got = Size::from_property(text).ok().map(|s| s.0);
        assert_eq!(got, *want, "{text:?}");
    }
}

#[test]
fn durations() {
    let table: &[(&str, Option<Duration>)] = &[
        ("5", Some(Duration::from_secs(5))),
        ("5s", Some(Duration::from_secs(5))),
        ("250ms", Some(Duration::from_millis(250))),
        ("1.5s", Some(Duration::from_millis(1500))),
        ("2m", Some(Duration::from_secs(120))),
        ("1h", Some(Duration::from_secs(3600))),
        ("1d", Some(Duration::from_secs(86_400))),
        ("10us", Some(Duration::from_micros(10))),
        ("soon", None),
        ("5 parsecs", None),
    ];
    for (text, want) in table {
        assert_eq!(Duration::from_property(text).ok(), *want, "{text:?}");
    }
}

#[test]
fn integers_and_lists() {
    let cfg = output(&[
        ("rate", "250"),
        ("bad", "2.5"),
        ("fields", " a=1, b=2,, c=3 "),
    ]);
    assert_eq!(cfg.required::<u32>("rate").unwrap(), 250);
    let err = cfg.required::<u32>("bad").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("config key `bad`: expected an integer (u32), got `2.5`"),
        "{err}"
    );
    assert_eq!(
        cfg.required::<List>("fields").unwrap().0,
        ["a=1", "b=2", "c=3"]
    );
    assert_eq!(cfg.get_or("absent", 7u32).unwrap(), 7);
}

#[test]
fn reading_a_key_fluent_bit_consumes_is_an_error() {
    let cases: &[(PluginKind, &str, bool)] = &[
        (PluginKind::Output, "Host", true),
        (PluginKind::Output, "port", true),
        (PluginKind::Output, "match", true),
        (PluginKind::Output, "Workers", true),
        (PluginKind::Output, "tls.verify", true),
        (PluginKind::Output, "net.keepalive", true),
        (PluginKind::Output, "oauth2.token_url", true),
        (PluginKind::Output, "tag", false),
        (PluginKind::Output, "path", false),
        (PluginKind::Input, "tag", true),
        (PluginKind::Input, "mem_buf_limit", true),
        (PluginKind::Input, "thread.ring_buffer.capacity", true),
        (PluginKind::Input, "rate_window", true),
        (PluginKind::Input, "rate", false),
        (PluginKind::Input, "match", false),
        (PluginKind::Custom, "alias", true),
        (PluginKind::Custom, "host", false),
    ];
    for (kind, key, reserved) in cases {
        let cfg = Config::from_pairs(*kind, [(*key, "x")]);
        let result = cfg.optional::<String>(key);
        assert_eq!(result.is_err(), *reserved, "{kind:?} {key}");
        if let Err(err) = result {
            assert!(err.to_string().contains("consumed by Fluent Bit"), "{err}");
        }
    }
}
