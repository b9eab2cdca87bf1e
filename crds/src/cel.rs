//! The CEL (`x-kubernetes-validations`) rules of the CRD, built from the tables in
//! [`crate::rules`] so the API server and the operator refuse the same things.
//!
//! Rules stay cheap for the API server's cost estimator: every string and list they touch has
//! a `maxLength`/`maxItems`, and per-item rules sit on the item, not on the parent.

use kube::core::Rule;

use crate::PluginType;
use crate::layout::{CONFIG_DIR, COPY_MOUNT, PLUGIN_DIR};
use crate::rules::{
    Applies, BUILTIN_CUSTOMS, BUILTIN_INPUTS, BUILTIN_OUTPUTS, FieldScope, IMAGE_PATTERN,
    MAX_OBJECT_NAME_LEN, MAX_WASM_RECORD_SIZE, MAX_WASM_STACK_SIZE, MAX_WASM_TAG_SIZE,
    MIN_WASM_STACK_SIZE, PLUGIN_TYPES, RESERVED_FOR_ALL, RESERVED_FOR_INPUTS, RESERVED_FOR_OUTPUTS,
    RESERVED_NAME_PREFIX, ReservedKeys, TypeField, WASM_SUFFIX, type_field,
};

fn cel_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// A CEL string literal holding an RE2 pattern (backslashes doubled).
/// `self.type` is one of `types`.
fn type_in(types: &[PluginType]) -> String {
    match types {
        [one] => format!("self.type == '{}'", one.as_str()),
        _ => format!("self.type in {}", cel_list(&names(types))),
    }
}

/// `self.type` is none of `types`.
fn type_not_in(types: &[PluginType]) -> String {
    match types {
        [one] => format!("self.type != '{}'", one.as_str()),
        _ => format!("!(self.type in {})", cel_list(&names(types))),
    }
}

fn names(types: &[PluginType]) -> Vec<&'static str> {
    types.iter().map(|t| t.as_str()).collect()
}

/// The CEL of "field `f` of `row` is set" (`v` the object holding it); a list set but empty
/// counts as not set.
fn is_set(row: &TypeField, v: &str, f: &str) -> String {
    match row.scope {
        FieldScope::WasmArtifact => format!("self.{f}.endsWith('{WASM_SUFFIX}')"),
        _ if f == "properties" => format!("has({v}.{f}) && size({v}.{f}) > 0"),
        _ => format!("has({v}.{f})"),
    }
}

fn not_set(row: &TypeField, v: &str, f: &str) -> String {
    match row.scope {
        FieldScope::WasmArtifact => format!("!{}", is_set(row, v, f)),
        _ if f == "properties" => format!("!has({v}.{f}) || size({v}.{f}) == 0"),
        _ => format!("!has({v}.{f})"),
    }
}

/// `check` of every field of the row joined with `join`, over every instance for
/// [`FieldScope::Instance`].
fn over_row(row: &TypeField, join: &str, check: fn(&TypeField, &str, &str) -> String) -> String {
    let v = if row.scope == FieldScope::Instance {
        "i"
    } else {
        "self"
    };
    let all: Vec<String> = row.fields.iter().map(|f| check(row, v, f)).collect();
    let all = all.join(join);
    if row.scope == FieldScope::Instance {
        format!("self.instances.all(i, {all})")
    } else {
        all
    }
}

/// The row's fields are not set by the types that refuse them (the guard names the shorter
/// side: the types that accept them, or on a tie those).
fn refused_by_type(row: &TypeField) -> String {
    let refused = row.types(Applies::Refused);
    let accepting = row.accepting_types();
    let guard = if refused.len() < accepting.len() {
        type_not_in(&refused)
    } else {
        type_in(&accepting)
    };
    format!("{guard} || {}", over_row(row, " && ", not_set))
}

/// The types that require the row's fields set one of them.
fn required_by_type(row: &TypeField) -> String {
    let required = row.types(Applies::Required);
    format!(
        "{} || {}",
        type_not_in(&required),
        over_row(row, " || ", is_set)
    )
}

/// For a row that every type either requires or refuses: `type in <shorter side> ? ... : ...`.
fn exactly_by_type(row: &TypeField) -> String {
    let required = row.types(Applies::Required);
    let refused = row.types(Applies::Refused);
    debug_assert_eq!(required.len() + refused.len(), PLUGIN_TYPES.len());
    if refused.len() < required.len() {
        format!(
            "{} ? {} : {}",
            type_in(&refused),
            over_row(row, " && ", not_set),
            over_row(row, " || ", is_set)
        )
    } else {
        format!(
            "{} ? {} : {}",
            type_in(&required),
            over_row(row, " || ", is_set),
            over_row(row, " && ", not_set)
        )
    }
}

fn cel_regex(pattern: &str) -> String {
    format!("'{}'", pattern.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// CEL: the lowercase key `key` (an expression) is not in `set`.
fn not_reserved(key: &str, set: &ReservedKeys) -> String {
    format!(
        "!({key} in {}) && !{}.exists(x, {key}.startsWith(x))",
        cel_list(set.keys),
        cel_list(set.prefixes)
    )
}

/// `properties[*].name` is not a key Fluent Bit consumes for every kind of plugin.
pub fn property_not_reserved() -> Rule {
    Rule::new(not_reserved("self.name.lowerAscii()", &RESERVED_FOR_ALL)).message(
        "this key is consumed by Fluent Bit itself and never reaches the plugin: set the \
         instance's alias or logLevel field instead, spec.pluginName for name, and rename a \
         net.* key",
    )
}

fn spec_properties_not_reserved(kind: &str, set: &ReservedKeys) -> String {
    format!(
        "self.type != '{kind}' || self.instances.all(i, !has(i.properties) || \
         i.properties.all(p, {}))",
        not_reserved("p.name.lowerAscii()", set)
    )
}

/// No property of an input uses a key Fluent Bit consumes for inputs.
pub fn spec_input_keys_not_reserved() -> Rule {
    Rule::new(spec_properties_not_reserved("input", &RESERVED_FOR_INPUTS)).message(
        "a property of this input uses a key Fluent Bit consumes for inputs and never passes to \
         the plugin: set the instance's tag, memBufLimit or storageType field instead, and \
         rename a plugin key named host, port, listen, ipv6, routable, threaded, \
         log_suppress_interval, storage.pause_on_chunks_overlimit, tls*, oauth2*, rate_* or \
         thread.ring_buffer.*",
    )
}

/// No property of an output uses a key Fluent Bit consumes for outputs.
pub fn spec_output_keys_not_reserved() -> Rule {
    Rule::new(spec_properties_not_reserved(
        "output",
        &RESERVED_FOR_OUTPUTS,
    ))
    .message(
        "a property of this output uses a key Fluent Bit consumes for outputs and never passes \
         to the plugin: set the instance's match, matchRegex, workers, retryLimit or \
         storageTotalLimitSize field instead, and rename a plugin key named host, port, ipv6, \
         log_suppress_interval, tls*, oauth2* or _debug.*",
    )
}

/// `pluginName` is not the name of one of Fluent Bit's own plugins of that type.
pub fn spec_plugin_name_not_builtin() -> Rule {
    Rule::new(format!(
        "!has(self.pluginName) || \
         !(self.type == 'input' && self.pluginName.lowerAscii() in {}) && \
         !(self.type == 'output' && self.pluginName.lowerAscii() in {}) && \
         !(self.type == 'custom' && self.pluginName.lowerAscii() in {})",
        cel_list(BUILTIN_INPUTS),
        cel_list(BUILTIN_OUTPUTS),
        cel_list(BUILTIN_CUSTOMS)
    ))
    .message(
        "pluginName is the name of one of Fluent Bit's own plugins of this type: Fluent Bit \
         finds its built-in first (names compare case-insensitively) and the plugin would never \
         run; register the plugin under another name",
    )
}

/// `properties[*].name` has no whitespace or control characters.
pub fn property_key_no_whitespace() -> Rule {
    Rule::new(r"!self.name.matches('[\\s\\p{Z}\\x00-\\x1f\\x7f\\x{80}-\\x{9f}]')")
        .message("a property name must not contain whitespace or control characters")
}

/// `properties[*].name` does not start a section, comment or directive.
pub fn property_key_no_marker() -> Rule {
    Rule::new(r"!self.name.matches('^[\\[#@]')")
        .message("a property name must not start with '[', '#' or '@'")
}

/// A single-line value without control characters (tab allowed).
pub fn value_one_line(field: &str) -> Rule {
    // One range for DEL and the C1 controls keeps the rule within the cost budget.
    Rule::new(format!(
        r"!{field}.matches('[\\x00-\\x08\\x0a-\\x1f\\x7f-\\x{{9f}}]')"
    ))
    .message("the value must be one line: no CR, LF, NUL or other control characters")
}

/// No leading or trailing whitespace (Fluent Bit would trim it silently).
pub fn value_trimmed(field: &str) -> Rule {
    Rule::new(format!(r"!{field}.matches('^[\\s\\v]|[\\s\\v]$')"))
        .message("the value must not start or end with whitespace (Fluent Bit trims it)")
}

/// No `${` in any value of the instance unless `allowEnvExpansion` is true.
pub fn instance_env_expansion() -> Rule {
    Rule::new(
        "(has(self.allowEnvExpansion) && self.allowEnvExpansion) || \
         ((!has(self.properties) || self.properties.all(p, !p.value.contains('${'))) && \
         (!has(self.tag) || !self.tag.contains('${')) && \
         (!has(self.match) || !self.match.contains('${')) && \
         (!has(self.matchRegex) || !self.matchRegex.contains('${')))",
    )
    .message(
        "'${' makes Fluent Bit expand an environment variable (an unset one becomes empty): \
         set allowEnvExpansion: true on this instance if that is intended",
    )
}

/// `match` and `matchRegex` are exclusive.
pub fn instance_one_match() -> Rule {
    Rule::new("!(has(self.match) && has(self.matchRegex))")
        .message("set either match or matchRegex, not both")
}

/// Outputs and filters route by `match`/`matchRegex` on every instance.
pub fn spec_output_needs_match() -> Rule {
    Rule::new(required_by_type(type_field("match")))
        .message("every instance of an output or filter needs match or matchRegex")
}

/// Only inputs carry `tag`.
pub fn spec_tag_only_on_inputs() -> Rule {
    Rule::new(refused_by_type(type_field("tag")))
        .message("tag is only for inputs: outputs route with match or matchRegex")
}

/// Only outputs and filters carry `match`/`matchRegex`.
pub fn spec_match_only_on_outputs() -> Rule {
    Rule::new(refused_by_type(type_field("match")))
        .message("match and matchRegex are only for outputs and filters: inputs set tag")
}

/// Output-only engine settings.
pub fn spec_output_only_fields() -> Rule {
    Rule::new(refused_by_type(type_field("workers")))
        .message("workers, retryLimit and storageTotalLimitSize apply to outputs only")
}

/// Input-only engine settings.
pub fn spec_input_only_fields() -> Rule {
    Rule::new(refused_by_type(type_field("memBufLimit")))
        .message("memBufLimit and storageType apply to inputs only")
}

/// `retryLimit` is a count of at least 1 or one of the keywords.
pub fn retry_limit() -> Rule {
    Rule::new(
        "string(self) in ['no_limits', 'no_retries'] || string(self).matches('^[1-9][0-9]{0,8}$')",
    )
    .message("retryLimit must be a count of at least 1, no_limits or no_retries")
}

/// `artifact.image` is pinned by digest.
pub fn image_digest() -> Rule {
    Rule::new(format!("self.matches({})", cel_regex(IMAGE_PATTERN))).message(
        "image must be an image reference pinned by digest: [registry[:port]/]path[:tag]@sha256:<64 \
         lowercase hex>, with lowercase path components; a tag alone is refused",
    )
}

/// `artifact.sha256` is 64 lowercase hex characters.
pub fn sha256_hex() -> Rule {
    Rule::new("self.matches('^[0-9a-f]{64}$')")
        .message("sha256 must be 64 lowercase hexadecimal characters (the output of sha256sum)")
}

/// `artifact.path` is absolute and made of safe characters.
pub fn path_safe() -> Rule {
    Rule::new("self.matches('^(/[A-Za-z0-9._-]+)+$') && !self.matches('/[.][.]?(/|$)')")
        .message("path must be absolute, made of A-Z a-z 0-9 . _ - /, without '.' or '..' segments")
}

/// `artifact.path`'s file name does not start with `flb-`.
pub fn path_not_native() -> Rule {
    Rule::new("!self.matches('/flb-[^/]*$')").message(
        "the file name must not start with 'flb-': Fluent Bit would load it as a native C \
         plugin, not through the proxy",
    )
}

/// `artifact.path` is not under the init containers' copy mount.
pub fn path_not_copy_mount() -> Rule {
    Rule::new(format!(
        "self != '{COPY_MOUNT}' && !self.startsWith('{COPY_MOUNT}/')"
    ))
    .message(format!(
        "path must not be under {COPY_MOUNT}: the init container mounts the plugin volume there, \
         hiding the image's file; move the file in the image"
    ).as_str())
}

/// `target.configPath` is an absolute config path (classic, or YAML when it ends in `.yaml` or
/// `.yml`) outside the operator's mounts.
pub fn config_path() -> Rule {
    Rule::new(format!(
        "self.matches('^(/[A-Za-z0-9._-]+)+$') && !self.matches('/[.][.]?(/|$)') && \
         !self.startsWith('{CONFIG_DIR}') && !self.startsWith('{PLUGIN_DIR}')"
    ))
    .message(
        format!(
            "configPath must be the absolute path of the main config (classic, or YAML when it \
         ends in .yaml or .yml), made of A-Z a-z 0-9 . _ - / without '.' or '..' segments, \
         outside {CONFIG_DIR} and {PLUGIN_DIR} (the operator mounts those)"
        )
        .as_str(),
    )
}

/// `metadata.name` fits the init container name `fbplugin-<name>`.
pub fn object_name() -> Rule {
    Rule::new(format!(
        "self.metadata.name.size() <= {MAX_OBJECT_NAME_LEN} && !self.metadata.name.contains('.') \
         && !self.metadata.name.startsWith('{RESERVED_NAME_PREFIX}')"
    ))
    .message(
        format!(
            "metadata.name must be at most {MAX_OBJECT_NAME_LEN} characters without dots, not \
             starting with {RESERVED_NAME_PREFIX:?}: the plugin's init containers are \
             fbplugin-<name> and fbplugin-verify-<name>-<hash>"
        )
        .as_str(),
    )
}

/// `pluginName` is set for `.so` kinds and not for filters (always `Name wasm`).
pub fn spec_plugin_name_by_type() -> Rule {
    Rule::new(exactly_by_type(type_field("pluginName"))).message(
        "pluginName is required for input, output and custom, and not set for a filter (its \
         sections are always `Name wasm`; the module's export is wasm.functionName)",
    )
}

/// A filter has its `wasm` section.
pub fn spec_filter_needs_wasm() -> Rule {
    Rule::new(required_by_type(type_field("wasm")))
        .message("a filter needs spec.wasm with functionName and maxRecordSize")
}

/// Only filters have a `wasm` section.
pub fn spec_wasm_only_on_filters() -> Rule {
    Rule::new(refused_by_type(type_field("wasm")))
        .message("spec.wasm applies to type filter only: remove it")
}

/// Filters load a `.wasm` module; the other kinds a shared object, never a `.wasm`.
pub fn spec_artifact_suffix_by_type() -> Rule {
    Rule::new(exactly_by_type(type_field("artifact.path"))).message(
        "a filter's artifact.path must name its .wasm module, and a .wasm module runs only as \
         type filter (input, output and custom load a .so)",
    )
}

/// Filters take no free-form properties.
pub fn spec_filter_no_properties() -> Rule {
    Rule::new(refused_by_type(type_field("properties"))).message(
        "a WASM filter gets no settings from Fluent Bit (its function receives only tag, time \
         and record): remove properties and build the settings into the module",
    )
}

/// `wasm.functionName` is a C identifier.
pub fn function_name() -> Rule {
    Rule::new("self.matches('^[A-Za-z_][A-Za-z0-9_]*$')").message(
        "functionName must be the exported function: a C identifier (A-Z a-z 0-9 _, not \
         starting with a digit)",
    )
}

/// `wasm.eventFormat` is one Fluent Bit knows.
pub fn event_format() -> Rule {
    Rule::new("self in ['json', 'msgpack']").message("eventFormat must be json or msgpack")
}

/// `wasm.maxRecordSize` is in range.
pub fn wasm_max_record_size() -> Rule {
    Rule::new(format!(
        "self.maxRecordSize >= 1 && self.maxRecordSize <= {MAX_WASM_RECORD_SIZE}"
    ))
    .message(
        format!(
            "maxRecordSize must be 1 to {MAX_WASM_RECORD_SIZE} bytes (the largest record's JSON \
             text)"
        )
        .as_str(),
    )
}

/// `wasm.maxTagSize` is in range.
pub fn wasm_max_tag_size() -> Rule {
    Rule::new(format!(
        "!has(self.maxTagSize) || (self.maxTagSize >= 1 && self.maxTagSize <= {MAX_WASM_TAG_SIZE})"
    ))
    .message(format!("maxTagSize must be 1 to {MAX_WASM_TAG_SIZE} bytes").as_str())
}

/// `wasm.stackSize` is in range.
pub fn wasm_stack_size() -> Rule {
    Rule::new(format!(
        "!has(self.stackSize) || \
         (self.stackSize >= {MIN_WASM_STACK_SIZE} && self.stackSize <= {MAX_WASM_STACK_SIZE})"
    ))
    .message(
        format!(
            "stackSize must be {MIN_WASM_STACK_SIZE} to {MAX_WASM_STACK_SIZE} bytes (Fluent Bit \
             ignores smaller values)"
        )
        .as_str(),
    )
}
