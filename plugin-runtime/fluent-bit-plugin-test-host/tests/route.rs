//! `Match` wildcards as the router applies them.

use fluent_bit_plugin_test_host::run::wildcard_match;

#[test]
fn wildcard_table() {
    let cases = [
        ("*", "anything", true),
        ("*", "", true),
        ("app.*", "app.web", true),
        ("app.*", "app.", true),
        ("app.*", "ap", false),
        ("app.*", "xapp.web", false),
        ("*.log", "kube.var.log", true),
        ("*.log", "kube.var.logs", false),
        ("a*b*c", "a-x-b-y-c", true),
        ("a*b*c", "acb", false),
        ("a*a", "a", false),
        ("exact", "exact", true),
        ("exact", "Exact", false),
    ];
    for (pattern, tag, expected) in cases {
        assert_eq!(wildcard_match(pattern, tag), expected, "{pattern} vs {tag}");
    }
}
