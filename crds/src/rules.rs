//! The single-object rules, shared by the CRD's CEL validations and the operator.
//!
//! Every rule that one `FluentBitPlugin` can decide on its own lives here once, as a Rust
//! predicate, and [`crate::cel`] turns the same tables into `x-kubernetes-validations`. The
//! operator runs the Rust side again because clusters without CEL (Kubernetes 1.20) or a CRD
//! installed with the rules stripped accept anything the OpenAPI types allow.

/// Keys Fluent Bit consumes itself (compared case-insensitively), so a proxy plugin never sees
/// them. From the documented list, what Fluent Bit 5.1.1 also consumes, and `name`, which the
/// operator renders from `spec.pluginName`.
pub const RESERVED_KEYS: &[&str] = &[
    "alias",
    "host",
    "ipv6",
    "listen",
    "log_level",
    "log_suppress_interval",
    "match",
    "match_regex",
    "mem_buf_limit",
    "name",
    "port",
    "retry_limit",
    "routable",
    "storage.pause_on_chunks_overlimit",
    "storage.total_limit_size",
    "storage.type",
    "tag",
    "threaded",
    "tls",
    "workers",
];

/// Key prefixes Fluent Bit 5.1.1 consumes (`tls.*`, `net.*`, `oauth2*`, `rate_*`,
/// `thread.ring_buffer.*`, and the debug-build `_debug.*`), compared case-insensitively.
pub const RESERVED_PREFIXES: &[&str] = &[
    "tls.",
    "net.",
    "oauth2",
    "rate_",
    "thread.ring_buffer.",
    "_debug.",
];

/// Longest property key accepted (keeps CEL cost estimates bounded).
pub const MAX_KEY_LEN: usize = 128;
/// Longest property or engine-setting value accepted.
pub const MAX_VALUE_LEN: usize = 4096;
/// Most instances one plugin may declare.
pub const MAX_INSTANCES: usize = 16;
/// Most properties one instance may declare.
pub const MAX_PROPERTIES: usize = 64;
/// Longest `metadata.name`: the init container is `fbplugin-<name>`, a 63-character DNS label.
pub const MAX_OBJECT_NAME_LEN: usize = 54;

/// Largest `spec.wasm.maxRecordSize` (16 MiB): the rendered heap stays a sane size.
pub const MAX_WASM_RECORD_SIZE: i64 = 16 * 1024 * 1024;
/// Largest `spec.wasm.maxTagSize`.
pub const MAX_WASM_TAG_SIZE: i64 = 4096;
/// `spec.wasm.maxTagSize` when not set.
pub const DEFAULT_WASM_TAG_SIZE: i64 = 256;
/// Smallest `spec.wasm.stackSize`: Fluent Bit ignores smaller values (its default and floor).
pub const MIN_WASM_STACK_SIZE: i64 = 8192;
/// Largest `spec.wasm.stackSize` (8 MiB).
pub const MAX_WASM_STACK_SIZE: i64 = 8 * 1024 * 1024;
/// `spec.wasm.stackSize` when not set: WAMR's interpreter needs more than Fluent Bit's 8 KiB
/// default for JSON parsing and serialization frames.
pub const DEFAULT_WASM_STACK_SIZE: i64 = 65536;
/// Longest `spec.wasm.functionName`.
pub const MAX_FUNCTION_NAME_LEN: usize = 128;
/// File name suffix of a WASM filter module.
pub const WASM_SUFFIX: &str = ".wasm";

/// True for a C identifier (what a module can export and Fluent Bit looks up by name):
/// 1-128 of `A-Z a-z 0-9 _`, not starting with a digit.
pub fn is_c_identifier(name: &str) -> bool {
    (1..=MAX_FUNCTION_NAME_LEN).contains(&name.len())
        && !name.as_bytes()[0].is_ascii_digit()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Where a reserved key belongs instead of `properties`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservedUse {
    /// A typed instance field (its name in the spec, e.g. `workers`).
    InstanceField(&'static str),
    /// Routing: `match` or `matchRegex`.
    Match,
    /// The plugin's registered name: `spec.pluginName`.
    PluginName,
    /// A network or TLS setting the engine intercepts: the plugin must use another key.
    Network,
    /// An engine setting the operator does not expose.
    Engine,
}

/// Whether `key` is reserved, and what to use instead. Case-insensitive.
pub fn reserved_key(key: &str) -> Option<ReservedUse> {
    let lower = key.to_ascii_lowercase();
    let exact = RESERVED_KEYS.contains(&lower.as_str());
    let prefixed = RESERVED_PREFIXES.iter().any(|p| lower.starts_with(p));
    if !exact && !prefixed {
        return None;
    }
    Some(match lower.as_str() {
        "alias" => ReservedUse::InstanceField("alias"),
        "workers" => ReservedUse::InstanceField("workers"),
        "retry_limit" => ReservedUse::InstanceField("retryLimit"),
        "storage.type" => ReservedUse::InstanceField("storageType"),
        "storage.total_limit_size" => ReservedUse::InstanceField("storageTotalLimitSize"),
        "mem_buf_limit" => ReservedUse::InstanceField("memBufLimit"),
        "log_level" => ReservedUse::InstanceField("logLevel"),
        "tag" => ReservedUse::InstanceField("tag"),
        "match" | "match_regex" => ReservedUse::Match,
        "name" => ReservedUse::PluginName,
        "host" | "port" | "ipv6" | "listen" | "tls" => ReservedUse::Network,
        _ if lower.starts_with("tls.") || lower.starts_with("net.") => ReservedUse::Network,
        _ if lower.starts_with("oauth2") => ReservedUse::Network,
        _ => ReservedUse::Engine,
    })
}

/// Why a property key cannot be written into a classic config section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// The key is empty.
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`].
    TooLong,
    /// Whitespace or a control character: the key would end early or break the line.
    Whitespace,
    /// A leading `[`, `#` or `@` would make the line a section, comment or directive.
    LeadingMarker,
}

/// Checks a property key against the classic grammar (reference section 3.2).
pub fn key_error(key: &str) -> Option<KeyError> {
    if key.is_empty() {
        return Some(KeyError::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Some(KeyError::TooLong);
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(KeyError::Whitespace);
    }
    if key.starts_with(['[', '#', '@']) {
        return Some(KeyError::LeadingMarker);
    }
    None
}

/// Why a value cannot be written into a classic config line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueError {
    /// Empty: Fluent Bit refuses a key without a value.
    Empty,
    /// Longer than [`MAX_VALUE_LEN`].
    TooLong,
    /// CR, LF or NUL: a value cannot span lines, and NUL ends it early.
    LineBreak,
    /// Other control characters (tab inside is allowed) would be invisible in the file.
    Control,
    /// Leading or trailing whitespace is trimmed silently by Fluent Bit.
    SurroundingWhitespace,
    /// `${` expands an environment variable; only allowed when the instance asks for it.
    EnvExpansion,
}

/// Checks a value against the classic grammar. `allow_env` permits `${VAR}` references.
pub fn value_error(value: &str, allow_env: bool) -> Option<ValueError> {
    if value.is_empty() {
        return Some(ValueError::Empty);
    }
    if value.len() > MAX_VALUE_LEN {
        return Some(ValueError::TooLong);
    }
    if value.contains(['\r', '\n', '\0']) {
        return Some(ValueError::LineBreak);
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Some(ValueError::Control);
    }
    let trimmed = value.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    if trimmed.len() != value.len() {
        return Some(ValueError::SurroundingWhitespace);
    }
    if !allow_env && value.contains("${") {
        return Some(ValueError::EnvExpansion);
    }
    None
}

/// True for `repository@sha256:<64 lowercase hex>` (a tag before the digest is allowed).
pub fn is_digest_reference(image: &str) -> bool {
    let Some((name, digest)) = image.rsplit_once("@sha256:") else {
        return false;
    };
    !name.is_empty()
        && !name.contains(|c: char| c.is_whitespace() || c.is_control() || c == '@')
        && is_sha256_hex(digest)
}

/// True for exactly 64 lowercase hexadecimal characters.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Why an artifact path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Does not start with `/`.
    NotAbsolute,
    /// Characters other than `A-Z a-z 0-9 . _ - /`, or longer than 1024 bytes.
    UnsafeCharacters,
    /// Empty, `.` or `..` segments, or a trailing `/`.
    BadSegment,
    /// The file name starts with `flb-`, which sends it to Fluent Bit's native C loader.
    NativePrefix,
}

/// Checks `spec.artifact.path`.
pub fn path_error(path: &str) -> Option<PathError> {
    if !path.starts_with('/') {
        return Some(PathError::NotAbsolute);
    }
    if path.len() > 1024
        || !path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
    {
        return Some(PathError::UnsafeCharacters);
    }
    if path[1..]
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Some(PathError::BadSegment);
    }
    if file_name(path).starts_with("flb-") {
        return Some(PathError::NativePrefix);
    }
    None
}

/// The last segment of a `/`-separated path.
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// True for a plugin name Fluent Bit can look up: 1-63 of `A-Z a-z 0-9 _ -`, starting with a
/// letter or digit.
pub fn is_plugin_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// True for an alias: 1-63 of `A-Z a-z 0-9 _ . -`, starting with a letter or digit (it ends up
/// in metric names and log lines).
pub fn is_alias(alias: &str) -> bool {
    (1..=63).contains(&alias.len())
        && alias.as_bytes()[0].is_ascii_alphanumeric()
        && alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// True for a Fluent Bit size: digits, an optional fraction, an optional `K`, `M` or `G`
/// suffix with an optional `B` (case-insensitive), e.g. `5M`, `512KB`, `1.5G`.
pub fn is_size(size: &str) -> bool {
    let lower = size.to_ascii_lowercase();
    let number = lower
        .strip_suffix(['k', 'm', 'g'])
        .or_else(|| {
            ["kb", "mb", "gb"]
                .iter()
                .find_map(|suffix| lower.strip_suffix(suffix))
        })
        .unwrap_or(&lower);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// True for a DNS-1123 label (container names, DaemonSet names are subdomains but the
/// operator derives labels from them).
pub fn is_dns_label(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_keys_are_case_insensitive_and_cover_prefixes() {
        assert_eq!(
            reserved_key("Workers"),
            Some(ReservedUse::InstanceField("workers"))
        );
        assert_eq!(reserved_key("MATCH_REGEX"), Some(ReservedUse::Match));
        assert_eq!(reserved_key("tls.min_version"), Some(ReservedUse::Network));
        assert_eq!(reserved_key("oauth2.token_url"), Some(ReservedUse::Network));
        assert_eq!(reserved_key("rate_gate"), Some(ReservedUse::Engine));
        assert_eq!(
            reserved_key("thread.ring_buffer.window"),
            Some(ReservedUse::Engine)
        );
        assert_eq!(reserved_key("Name"), Some(ReservedUse::PluginName));
        assert_eq!(reserved_key("path"), None);
        assert_eq!(reserved_key("tlsx"), None);
        assert_eq!(reserved_key("hostname"), None);
    }

    #[test]
    fn c_identifiers() {
        for ok in ["redact_filter", "_f", "F9", &"a".repeat(128)] {
            assert!(is_c_identifier(ok), "{ok}");
        }
        for bad in ["", "9f", "redact-filter", "a b", "é", &"a".repeat(129)] {
            assert!(!is_c_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        for ok in ["5M", "512KB", "1.5g", "100", "8mb"] {
            assert!(is_size(ok), "{ok}");
        }
        for bad in ["", "M", "5 M", "5T", "1.", ".5", "-1", "5MiB"] {
            assert!(!is_size(bad), "{bad}");
        }
    }

    #[test]
    fn digests() {
        let hex = "a".repeat(64);
        assert!(is_digest_reference(&format!("ghcr.io/x/y@sha256:{hex}")));
        assert!(is_digest_reference(&format!("x/y:1.0@sha256:{hex}")));
        assert!(!is_digest_reference("ghcr.io/x/y:1.0"));
        assert!(!is_digest_reference(&format!("@sha256:{hex}")));
        assert!(!is_digest_reference(&format!(
            "x@sha256:{}",
            "A".repeat(64)
        )));
        assert!(!is_digest_reference(&format!("x y@sha256:{hex}")));
    }
}
