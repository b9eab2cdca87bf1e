//! The single-object rules, shared by the CRD's CEL validations and the operator.
//!
//! Every rule that one `FluentBitPlugin` can decide on its own lives here once, as a Rust
//! predicate, and [`crate::cel`] turns the same tables into `x-kubernetes-validations`. The
//! operator runs the Rust side again because clusters without CEL (Kubernetes 1.20) or a CRD
//! installed with the rules stripped accept anything the OpenAPI types allow.

use crate::PluginType;

// The list of keys Fluent Bit consumes is kept once, in the SDK (`docs/fluent-bit-abi.md`
// section 4.2). This crate compiles that dependency-free file as its own module rather than
// depending on the SDK, so `ReservedKeys` is this crate's type and the sets below are the same
// values under the same names.
#[path = "../../plugin-runtime/fluent-bit-plugin-sdk/src/reserved.rs"]
#[allow(dead_code)]
mod fluent_bit_reserved;

pub use fluent_bit_reserved::ReservedKeys;

/// `RESERVED_FOR_ALL`'s keys: the SDK's list plus `name`, which the operator renders from
/// `spec.pluginName`.
const ALL_KEYS: [&str; 3] = {
    let shared = fluent_bit_reserved::ALL.keys;
    assert!(
        shared.len() == 2,
        "update ALL_KEYS' length to the SDK's list"
    );
    [shared[0], shared[1], "name"]
};

/// Consumed for every kind (`flb_custom.c` keeps only these; inputs and outputs too), plus
/// `name`, which the operator renders from `spec.pluginName`.
pub const RESERVED_FOR_ALL: ReservedKeys = ReservedKeys {
    keys: &ALL_KEYS,
    prefixes: fluent_bit_reserved::ALL.prefixes,
};

/// Also consumed for inputs (`flb_input_set_property`). The whole `tls.` namespace is reserved,
/// and `rate_` covers the metrics build's `rate_window` and `rate_gate*`.
pub const RESERVED_FOR_INPUTS: ReservedKeys = fluent_bit_reserved::INPUT;

/// Also consumed for outputs (`flb_output_set_property`); `_debug.` is the debug build's HTTP
/// client settings.
pub const RESERVED_FOR_OUTPUTS: ReservedKeys = fluent_bit_reserved::OUTPUT;

/// The key sets Fluent Bit consumes for a plugin of `kind`. Filters take no properties; an
/// unknown kind gets every set.
pub fn reserved_keys_for(kind: PluginType) -> &'static [ReservedKeys] {
    match kind {
        PluginType::Custom | PluginType::Filter => &[RESERVED_FOR_ALL],
        PluginType::Input => &[RESERVED_FOR_ALL, RESERVED_FOR_INPUTS],
        PluginType::Output => &[RESERVED_FOR_ALL, RESERVED_FOR_OUTPUTS],
        PluginType::Unsupported => &[RESERVED_FOR_ALL, RESERVED_FOR_INPUTS, RESERVED_FOR_OUTPUTS],
    }
}

/// The names Fluent Bit 5.1.1's own input plugins register (every `in_*` of its source tree).
/// Plugin lookup compares names case-insensitively and built-ins are registered before proxy
/// plugins, so a proxy plugin with one of these names would never run.
pub const BUILTIN_INPUTS: &[&str] = fluent_bit_reserved::BUILTIN_INPUTS;

/// The names Fluent Bit 5.1.1's own output plugins register (every `out_*`).
pub const BUILTIN_OUTPUTS: &[&str] = fluent_bit_reserved::BUILTIN_OUTPUTS;

/// The names Fluent Bit 5.1.1's own custom plugins register.
pub const BUILTIN_CUSTOMS: &[&str] = fluent_bit_reserved::BUILTIN_CUSTOMS;

/// The built-in names a plugin of `kind` must not take.
pub fn builtin_names_for(kind: PluginType) -> &'static [&'static str] {
    match kind {
        PluginType::Input => BUILTIN_INPUTS,
        PluginType::Output => BUILTIN_OUTPUTS,
        PluginType::Custom => BUILTIN_CUSTOMS,
        PluginType::Filter | PluginType::Unsupported => &[],
    }
}

/// True when Fluent Bit 5.1.1 has a built-in `kind` plugin of this name (case-insensitive).
pub fn is_builtin_name(kind: PluginType, name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    builtin_names_for(kind).contains(&lower.as_str())
}

/// Longest property key accepted (keeps CEL cost estimates bounded).
pub const MAX_KEY_LEN: usize = 128;
/// Longest property or engine-setting value accepted.
pub const MAX_VALUE_LEN: usize = 4096;
/// Most instances one plugin may declare.
pub const MAX_INSTANCES: usize = 16;
/// Most properties one instance may declare. With [`MAX_INSTANCES`] and [`MAX_VALUE_LEN`] this
/// keeps the per-value CEL rules within a current API server's cost budget (64 properties of
/// 4096 characters are refused at CRD creation).
pub const MAX_PROPERTIES: usize = 32;
/// Longest `tag`, `match` or `matchRegex`.
pub const MAX_ROUTE_LEN: usize = 256;
/// Longest `artifact.image`.
pub const MAX_IMAGE_LEN: usize = 512;
/// Longest `artifact.path` and `target.configPath`.
pub const MAX_PATH_LEN: usize = 1024;
/// Most `artifact.imagePullSecrets`.
pub const MAX_PULL_SECRETS: usize = 8;
/// Most `workers` of an output instance.
pub const MAX_WORKERS: u32 = 64;
/// Largest `retryLimit` count (`Retry_Limit` is read with `atoi`, so it must fit an `int`).
pub const MAX_RETRY_LIMIT: i64 = 999_999_999;
/// Longest `retryLimit` string (the CEL cost estimator needs a bound on the int-or-string).
pub const MAX_RETRY_LIMIT_LEN: usize = 16;
/// Longest size string (`memBufLimit`, `storageTotalLimitSize`).
pub const MAX_SIZE_LEN: usize = 32;
/// Longest `target.daemonSet`: the operator's ConfigMap is `<daemonSet>-fbplugin`, a name of at
/// most 253 characters.
pub const MAX_DAEMONSET_NAME_LEN: usize = 244;
/// Longest `metadata.name`: the plugin's verify step is the init container
/// `fbplugin-verify-<name>-<6 hex>`, a DNS label of at most 63 characters.
pub const MAX_OBJECT_NAME_LEN: usize = 40;
/// `metadata.name`s starting with this are refused: plugin `x`'s verify step is the init
/// container `fbplugin-verify-x-<hash>`, which must never be the copy step (`fbplugin-<name>`) of
/// a plugin named `verify-x-<hash>`.
pub const RESERVED_NAME_PREFIX: &str = "verify-";

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

/// How a type-specific field stands for one plugin type ([`FIELDS_BY_TYPE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// Must be set (of a group of fields, at least one).
    Required,
    /// May be set.
    Allowed,
    /// Must not be set.
    Refused,
}

/// Where the fields of a [`TypeField`] row sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldScope {
    /// Fields of `spec`.
    Spec,
    /// Fields of every `spec.instances[]` entry.
    Instance,
    /// Not a field but a property of `spec.artifact.path`: that it ends in [`WASM_SUFFIX`].
    WasmArtifact,
}

/// One row of [`FIELDS_BY_TYPE`]: fields that apply to some plugin types only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeField {
    /// Where the fields are.
    pub scope: FieldScope,
    /// The fields as the YAML spells them; several form a group (`match`, `matchRegex`):
    /// [`Applies::Required`] then means at least one of them.
    pub fields: &'static [&'static str],
    /// For each of [`PLUGIN_TYPES`], in that order.
    pub by_type: [Applies; 4],
}

impl TypeField {
    /// How the row stands for `kind`. A type this version does not know is refused as a whole
    /// (`UnsupportedType`), so none of its fields is reported on its own: [`Applies::Allowed`].
    pub fn applies(&self, kind: PluginType) -> Applies {
        PLUGIN_TYPES
            .iter()
            .position(|&t| t == kind)
            .map_or(Applies::Allowed, |i| self.by_type[i])
    }

    /// The types for which the row is `applies`, in [`PLUGIN_TYPES`] order.
    pub fn types(&self, applies: Applies) -> Vec<PluginType> {
        PLUGIN_TYPES
            .iter()
            .zip(self.by_type)
            .filter(|&(_, a)| a == applies)
            .map(|(&t, _)| t)
            .collect()
    }

    /// The types that may or must set the fields.
    pub fn accepting_types(&self) -> Vec<PluginType> {
        PLUGIN_TYPES
            .iter()
            .zip(self.by_type)
            .filter(|&(_, a)| a != Applies::Refused)
            .map(|(&t, _)| t)
            .collect()
    }
}

/// The plugin types the API knows, in the column order of [`FIELDS_BY_TYPE`].
pub const PLUGIN_TYPES: [PluginType; 4] = [
    PluginType::Input,
    PluginType::Output,
    PluginType::Custom,
    PluginType::Filter,
];

use Applies::{Allowed as A, Refused as X, Required as R};

/// Which fields apply to which plugin type: the one table the CRD's CEL rules
/// ([`crate::cel`]), the operator's validation and the docs ([`fields_by_type_markdown`]) are
/// built from. Columns: input, output, custom, filter. Fields not listed apply to every type.
///
/// Why: a filter is Fluent Bit's `wasm` filter, so its sections are always `Name wasm` (no
/// `pluginName`), it gets no config keys (no `properties`), and it loads a `.wasm` module,
/// which no other type may (a module is never `dlopen`ed, a `.so` never handed to WAMR). Inputs
/// name their records (`tag`); outputs and filters receive them by routing (`match`). The
/// engine settings are those Fluent Bit 5.1.1 reads for that kind of instance.
pub const FIELDS_BY_TYPE: &[TypeField] = &[
    TypeField {
        scope: FieldScope::Spec,
        fields: &["pluginName"],
        by_type: [R, R, R, X],
    },
    TypeField {
        scope: FieldScope::Spec,
        fields: &["wasm"],
        by_type: [X, X, X, R],
    },
    TypeField {
        scope: FieldScope::WasmArtifact,
        fields: &["artifact.path"],
        by_type: [X, X, X, R],
    },
    TypeField {
        scope: FieldScope::Instance,
        fields: &["tag"],
        by_type: [A, X, X, X],
    },
    TypeField {
        scope: FieldScope::Instance,
        fields: &["match", "matchRegex"],
        by_type: [X, R, X, R],
    },
    TypeField {
        scope: FieldScope::Instance,
        fields: &["workers", "retryLimit", "storageTotalLimitSize"],
        by_type: [X, A, X, X],
    },
    TypeField {
        scope: FieldScope::Instance,
        fields: &["memBufLimit", "storageType"],
        by_type: [A, X, X, X],
    },
    TypeField {
        scope: FieldScope::Instance,
        fields: &["properties"],
        by_type: [A, A, A, X],
    },
];

/// The row of [`FIELDS_BY_TYPE`] holding `field` (as the YAML spells it, `artifact.path` for
/// the `.wasm` suffix rule).
///
/// # Panics
///
/// When no row holds `field`: a programming error (the names are the crate's own), caught by
/// the tests.
pub fn type_field(field: &str) -> &'static TypeField {
    FIELDS_BY_TYPE
        .iter()
        .find(|row| row.fields.contains(&field))
        .unwrap_or_else(|| panic!("{field} is not in FIELDS_BY_TYPE"))
}

/// [`FIELDS_BY_TYPE`] as a Markdown table, the way the docs show it (`docs/operator-guide.md`
/// and this crate's docs hold it verbatim; a test checks).
pub fn fields_by_type_markdown() -> String {
    let mut out =
        String::from("| field | input | output | custom | filter |\n|---|---|---|---|---|\n");
    for row in FIELDS_BY_TYPE {
        let prefix = match row.scope {
            FieldScope::Spec => "",
            FieldScope::Instance => "instances[].",
            FieldScope::WasmArtifact => "",
        };
        let names: Vec<String> = row
            .fields
            .iter()
            .map(|f| format!("`{prefix}{f}`"))
            .collect();
        let mut field = names.join(" / ");
        if row.scope == FieldScope::WasmArtifact {
            field.push_str(&format!(" ends in `{WASM_SUFFIX}`"));
        }
        if row.fields.len() > 1 && row.by_type.contains(&R) {
            field.push_str(" (required: one of them)");
        }
        out.push_str(&format!("| {field} |"));
        for applies in row.by_type {
            out.push_str(match applies {
                R => " required |",
                A => " allowed |",
                X => " no |",
            });
        }
        out.push('\n');
    }
    out
}

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

/// Whether Fluent Bit consumes `key` for a plugin of `kind` (so the plugin never sees it), and
/// what to use instead. Case-insensitive.
pub fn reserved_key(kind: PluginType, key: &str) -> Option<ReservedUse> {
    let lower = key.to_ascii_lowercase();
    if !reserved_keys_for(kind)
        .iter()
        .any(|set| set.contains(&lower))
    {
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

/// Checks a property key against the classic grammar (`docs/fluent-bit-config.md` section 3.2).
pub fn key_error(key: &str) -> Option<KeyError> {
    if key.is_empty() {
        return Some(KeyError::Empty);
    }
    if key.chars().count() > MAX_KEY_LEN {
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
    if value.chars().count() > MAX_VALUE_LEN {
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

/// The grammar of `artifact.image`, as the CRD's CEL rule applies it (RE2) and
/// [`is_digest_reference`] implements it: an optional registry host (DNS labels, optional port)
/// followed by `/`, lowercase path components separated by `/` (each `a-z0-9` runs joined by
/// `.`, `_`, `__` or dashes), an optional `:tag`, and a mandatory `@sha256:` digest of 64
/// lowercase hex characters. The same shape as OCI's distribution reference, digest required.
pub const IMAGE_PATTERN: &str = concat!(
    r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(:[0-9]+)?/)?",
    r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*",
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[0-9a-f]{64}$"
);

/// An image reference pinned by digest, split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageReference<'a> {
    /// Registry host and path, e.g. `ghcr.io/fbplugin/out-jsonl`.
    pub repository: &'a str,
    /// The tag before the digest, if any (ignored when pulling: the digest wins).
    pub tag: Option<&'a str>,
    /// The 64 hex characters after `@sha256:`.
    pub digest: &'a str,
}

/// Parses `artifact.image` by [`IMAGE_PATTERN`]; `None` when it does not match.
pub fn image_reference(image: &str) -> Option<ImageReference<'_>> {
    if image.chars().count() > MAX_IMAGE_LEN {
        return None;
    }
    let (name, digest) = image.rsplit_once("@sha256:")?;
    if !is_sha256_hex(digest) {
        return None;
    }
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match name[last_slash..].find(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(tag) = tag {
        let mut bytes = tag.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
        let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !first_ok || !rest_ok || tag.len() > 128 {
            return None;
        }
    }
    let components: Vec<&str> = repository.split('/').collect();
    let all_paths = components.iter().all(|c| is_path_component(c));
    let host_then_paths = components.len() > 1
        && is_registry_host(components[0])
        && components[1..].iter().all(|c| is_path_component(c));
    (all_paths || host_then_paths).then_some(ImageReference {
        repository,
        tag,
        digest,
    })
}

/// True for an image pinned by digest (see [`IMAGE_PATTERN`]).
pub fn is_digest_reference(image: &str) -> bool {
    image_reference(image).is_some()
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A registry host: DNS labels of `A-Z a-z 0-9 -` (not starting or ending with `-`) joined by
/// `.`, with an optional `:port`.
fn is_registry_host(host: &str) -> bool {
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    name.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
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

/// The grammar of a size field (`memBufLimit`, `storageTotalLimitSize`), as the CRD applies
/// it: a number with an optional fraction of up to 9 digits and an optional `K`, `M` or `G`
/// suffix with an optional `B` (case-insensitive), bounded so that Fluent Bit 5.1.1's
/// `flb_utils_size_to_bytes` accepts it. That parser refuses (and Fluent Bit then fails to
/// start) a `K` value from 9223372036854775, an `M` value from 9223372036854 and a `G` value
/// from 9223372036, and turns a bare number of 2^63 or more into garbage. So: at most 18 whole
/// digits bare, 15 with `K`, 12 with `M`, 9 with `G` (999999999G is about 1 EB).
pub const SIZE_PATTERN: &str = concat!(
    r"^([0-9]{1,18}(\.[0-9]{1,9})?|[0-9]{1,15}(\.[0-9]{1,9})?[kK][bB]?",
    r"|[0-9]{1,12}(\.[0-9]{1,9})?[mM][bB]?|[0-9]{1,9}(\.[0-9]{1,9})?[gG][bB]?)$"
);

/// True for a size by [`SIZE_PATTERN`], e.g. `5M`, `512KB`, `1.5g`, `100`.
pub fn is_size(size: &str) -> bool {
    let lower = size.to_ascii_lowercase();
    let number = lower
        .strip_suffix('b')
        .filter(|n| n.ends_with(['k', 'm', 'g']));
    let number = number.unwrap_or(&lower);
    let (number, max_whole) = match number.as_bytes().last() {
        Some(b'k') => (&number[..number.len() - 1], 15),
        Some(b'm') => (&number[..number.len() - 1], 12),
        Some(b'g') => (&number[..number.len() - 1], 9),
        _ => (number, 18),
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (number, None),
    };
    let digits =
        |s: &str, max: usize| (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole, max_whole) && fraction.is_none_or(|f| digits(f, 9))
}

/// The CRD's pattern for a DNS-1123 label (container names).
pub const DNS_LABEL_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// The CRD's pattern for a DNS-1123 subdomain (DaemonSet and Secret names), as Kubernetes
/// validates object names: labels joined by dots, 253 characters in all.
pub const DNS_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// The CRD's pattern for `pluginName` (see [`is_plugin_name`]).
pub const PLUGIN_NAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$";

/// True for a DNS-1123 subdomain of at most 253 characters (Kubernetes object names).
pub fn is_dns_subdomain(name: &str) -> bool {
    (1..=253).contains(&name.len())
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// True for a DNS-1123 label (container names).
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
    fn reserved_keys_are_case_insensitive_per_kind_and_cover_prefixes() {
        use PluginType::{Custom, Input, Output};
        let cases = [
            (
                Output,
                "Workers",
                Some(ReservedUse::InstanceField("workers")),
            ),
            (Output, "MATCH_REGEX", Some(ReservedUse::Match)),
            (Output, "tls.min_version", Some(ReservedUse::Network)),
            (Input, "oauth2.token_url", Some(ReservedUse::Network)),
            (Input, "rate_gate", Some(ReservedUse::Engine)),
            (
                Input,
                "thread.ring_buffer.window",
                Some(ReservedUse::Engine),
            ),
            (Input, "Tag", Some(ReservedUse::InstanceField("tag"))),
            (Custom, "Name", Some(ReservedUse::PluginName)),
            (Custom, "net.keepalive", Some(ReservedUse::Network)),
            (
                Custom,
                "log_level",
                Some(ReservedUse::InstanceField("logLevel")),
            ),
            // Fluent Bit passes these to a custom plugin, an input's `workers` and an output's
            // `tag` to the plugin too.
            (Custom, "host", None),
            (Custom, "tag", None),
            (Custom, "workers", None),
            (Input, "workers", None),
            (Input, "match", None),
            (Output, "tag", None),
            (Output, "path", None),
            (Output, "tlsx", None),
            (Output, "hostname", None),
        ];
        for (kind, key, expected) in cases {
            assert_eq!(reserved_key(kind, key), expected, "{kind:?} {key}");
        }
    }

    #[test]
    fn builtin_names_per_kind() {
        assert!(is_builtin_name(PluginType::Output, "stdout"));
        assert!(is_builtin_name(PluginType::Output, "NULL"));
        assert!(is_builtin_name(PluginType::Input, "tail"));
        assert!(is_builtin_name(PluginType::Custom, "calyptia"));
        assert!(!is_builtin_name(PluginType::Input, "stdout"));
        assert!(!is_builtin_name(PluginType::Output, "jsonl_file"));
        assert!(!is_builtin_name(PluginType::Filter, "stdout"));
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
        for ok in [
            "5M",
            "512KB",
            "1.5g",
            "100",
            "8mb",
            "0",
            "999999999G",
            "999999999999M",
            "999999999999999k",
            "999999999999999999",
            "1.123456789M",
        ] {
            assert!(is_size(ok), "{ok}");
        }
        for bad in [
            "",
            "M",
            "5 M",
            "5T",
            "1.",
            ".5",
            "-1",
            "5MiB",
            "100b",
            "1000000000G",
            "99999999999G",
            "1000000000000M",
            "1000000000000000K",
            "9999999999999999999",
            "1.1234567890M",
        ] {
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
        assert!(!is_digest_reference(&format!("x\u{a0}y@sha256:{hex}")));
        assert!(is_digest_reference(&format!(
            "127.0.0.1:5000/fbplugin/out-jsonl@sha256:{hex}"
        )));
        assert!(is_digest_reference(&format!(
            "localhost:5000/a__b/c-d.e@sha256:{hex}"
        )));
        assert!(is_digest_reference(&format!("busybox:1.36@sha256:{hex}")));
        assert!(!is_digest_reference(&format!(
            "ghcr.io/Upper/x@sha256:{hex}"
        )));
        assert!(!is_digest_reference(&format!("ghcr.io/x_.y@sha256:{hex}")));
        assert!(!is_digest_reference(&format!(
            "ghcr.io/x:-tag@sha256:{hex}"
        )));
        let image = format!("ghcr.io:443/a/b:v1@sha256:{hex}");
        let parsed = image_reference(&image);
        assert_eq!(
            parsed.map(|r| (r.repository, r.tag)),
            Some(("ghcr.io:443/a/b", Some("v1")))
        );
    }
}
