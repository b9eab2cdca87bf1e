//! Checks of one instance: routing against the plugin type, typed engine fields, and the
//! free-form properties (reserved keys, key and value syntax).

use fbplugin_crds::rules::{self, Applies, KeyError, ReservedUse, ValueError};
use fbplugin_crds::{Instance, PluginType, RetryLimit};

use super::{Problem, Reason};

pub(super) fn check(kind: PluginType, i: usize, inst: &Instance, out: &mut Vec<Problem>) {
    let at = |f: &str| format!("spec.instances[{i}].{f}");
    let env = inst.allow_env_expansion;
    for (name, value) in [
        ("tag", &inst.tag),
        ("match", &inst.match_),
        ("matchRegex", &inst.match_regex),
    ] {
        if let Some(value) = value {
            check_value(&at(name), value, env, out);
            if value.chars().count() > rules::MAX_ROUTE_LEN {
                out.push(Problem::new(
                    at(name),
                    Reason::InvalidValue,
                    format!(
                        "{name} is longer than {} characters; shorten it",
                        rules::MAX_ROUTE_LEN
                    ),
                ));
            }
        }
    }
    let tag = rules::type_field("tag");
    let routing = rules::type_field("match");
    if inst.tag.is_some() && tag.applies(kind) == Applies::Refused {
        out.push(Problem::new(
            at("tag"),
            Reason::RoutingNotAllowed,
            format!(
                "tag is for {}; this {} cannot set it: remove it{}",
                super::types_setting(tag),
                kind.as_str(),
                if routing.applies(kind) == Applies::Required {
                    " and route with match or matchRegex"
                } else {
                    ""
                }
            ),
        ));
    }
    for (name, value) in [("match", &inst.match_), ("matchRegex", &inst.match_regex)] {
        if value.is_some() && routing.applies(kind) == Applies::Refused {
            out.push(Problem::new(
                at(name),
                Reason::RoutingNotAllowed,
                format!(
                    "{name} is for {}; this {} cannot set it: remove it{}",
                    super::types_setting(routing),
                    kind.as_str(),
                    if tag.applies(kind) == Applies::Refused {
                        ""
                    } else {
                        " and set tag"
                    }
                ),
            ));
        }
    }
    if routing.applies(kind) == Applies::Required {
        match (&inst.match_, &inst.match_regex) {
            (None, None) => out.push(Problem::new(
                at("match"),
                Reason::MissingMatch,
                format!(
                    "{} {} receives nothing without routing: set match (e.g. \"*\") or \
                     matchRegex",
                    if kind == PluginType::Output {
                        "an"
                    } else {
                        "a"
                    },
                    kind.as_str()
                ),
            )),
            (Some(_), Some(_)) => out.push(Problem::new(
                at("matchRegex"),
                Reason::ConflictingMatch,
                "set either match or matchRegex, not both",
            )),
            _ => {}
        }
    }
    for (field, present) in [
        ("workers", inst.workers.is_some()),
        ("retryLimit", inst.retry_limit.is_some()),
        (
            "storageTotalLimitSize",
            inst.storage_total_limit_size.is_some(),
        ),
        ("memBufLimit", inst.mem_buf_limit.is_some()),
        ("storageType", inst.storage_type.is_some()),
    ] {
        let row = rules::type_field(field);
        if present && row.applies(kind) == Applies::Refused {
            out.push(Problem::new(
                at(field),
                Reason::FieldNotAllowed,
                format!(
                    "{field} applies to {} only; remove it from this {}",
                    super::types_setting(row),
                    kind.as_str()
                ),
            ));
        }
    }
    if let Some(workers) = inst.workers
        && workers > rules::MAX_WORKERS
    {
        out.push(Problem::new(
            at("workers"),
            Reason::FieldNotAllowed,
            format!(
                "workers {workers} is more than {}; Fluent Bit flushes one instance from at most \
                 that many threads here",
                rules::MAX_WORKERS
            ),
        ));
    }
    if let Some(alias) = &inst.alias
        && !rules::is_alias(alias)
    {
        out.push(Problem::new(
            at("alias"),
            Reason::InvalidAlias,
            format!(
                "alias {alias:?} must be 1-63 of A-Z a-z 0-9 _ . -, starting with a letter or digit"
            ),
        ));
    }
    for (field, size) in [
        ("storageTotalLimitSize", &inst.storage_total_limit_size),
        ("memBufLimit", &inst.mem_buf_limit),
    ] {
        if let Some(size) = size
            && !rules::is_size(size)
        {
            out.push(Problem::new(
                at(field),
                Reason::InvalidSize,
                format!(
                    "{field} {size:?} must be a size Fluent Bit accepts, such as 512K, 5M or \
                     1.5G: digits with an optional fraction of up to 9 digits and an optional \
                     K, M or G (optionally followed by B), at most 18 whole digits bare, 15 with \
                     K, 12 with M, 9 with G (larger values make Fluent Bit refuse to start)"
                ),
            ));
        }
    }
    match &inst.retry_limit {
        Some(RetryLimit::Count(n)) if !(1..=rules::MAX_RETRY_LIMIT).contains(n) => {
            out.push(Problem::new(
                at("retryLimit"),
                Reason::InvalidRetryLimit,
                format!(
                    "retryLimit {n} must be between 1 and {}; use no_retries to never \
                 retry, no_limits to retry forever",
                    rules::MAX_RETRY_LIMIT
                ),
            ))
        }
        Some(RetryLimit::Keyword(k)) if !is_retry_keyword(k) => out.push(Problem::new(
            at("retryLimit"),
            Reason::InvalidRetryLimit,
            format!("retryLimit {k:?} must be a count of at least 1, no_limits or no_retries"),
        )),
        _ => {}
    }
    if !inst.properties.is_empty()
        && rules::type_field("properties").applies(kind) == Applies::Refused
    {
        out.push(Problem::new(
            at("properties"),
            Reason::PropertiesNotAllowed,
            "a WASM filter gets no settings from Fluent Bit: its function receives only the tag, \
             the time and the record, and Fluent Bit's wasm filter passes no other keys; remove \
             properties and build the settings into the module",
        ));
        return;
    }
    if inst.properties.len() > rules::MAX_PROPERTIES {
        out.push(Problem::new(
            at("properties"),
            Reason::TooManyProperties,
            format!("at most {} properties per instance", rules::MAX_PROPERTIES),
        ));
    }
    for (p, prop) in inst.properties.iter().enumerate() {
        let field = format!("spec.instances[{i}].properties[{p}]");
        check_key(kind, i, &format!("{field}.name"), &prop.name, out);
        check_value(&format!("{field}.value"), &prop.value, env, out);
    }
}

fn is_retry_keyword(k: &str) -> bool {
    let numeric =
        (1..=9).contains(&k.len()) && !k.starts_with('0') && k.bytes().all(|b| b.is_ascii_digit());
    numeric || k == "no_limits" || k == "no_retries"
}

fn check_key(kind: PluginType, i: usize, field: &str, key: &str, out: &mut Vec<Problem>) {
    if let Some(err) = rules::key_error(key) {
        let why = match err {
            KeyError::Empty => "is empty".to_string(),
            KeyError::TooLong => format!("is longer than {} characters", rules::MAX_KEY_LEN),
            KeyError::Whitespace => {
                "contains whitespace or a control character (a key ends at the first space)"
                    .to_string()
            }
            KeyError::LeadingMarker => {
                "starts with '[', '#' or '@', which would open a section, a comment or a \
                 directive"
                    .to_string()
            }
        };
        out.push(Problem::new(
            field,
            Reason::InvalidKey,
            format!("property name {key:?} {why}; use the key the plugin reads"),
        ));
        return;
    }
    let Some(usage) = rules::reserved_key(kind, key) else {
        return;
    };
    let advice = match usage {
        ReservedUse::InstanceField(f) => format!("set spec.instances[{i}].{f} instead"),
        ReservedUse::Match => {
            format!("set spec.instances[{i}].match or spec.instances[{i}].matchRegex instead")
        }
        ReservedUse::PluginName => {
            "the section's Name comes from spec.pluginName: remove it".into()
        }
        ReservedUse::Network => {
            "it is consumed by Fluent Bit, never reaches a proxy plugin: rename the plugin's key \
             (e.g. prefix it with the plugin's name)"
                .into()
        }
        ReservedUse::Engine => {
            "it is consumed by Fluent Bit and not exposed by the operator, so it never reaches \
             the plugin: remove it, or rename the plugin's key"
                .into()
        }
    };
    out.push(Problem::new(
        field,
        Reason::ReservedKey,
        format!(
            "property name {key:?} is consumed by Fluent Bit for a{} {} plugin: {advice}",
            if kind == PluginType::Input { "n" } else { "" },
            kind.as_str()
        ),
    ));
}

fn check_value(field: &str, value: &str, allow_env: bool, out: &mut Vec<Problem>) {
    let Some(err) = rules::value_error(value, allow_env) else {
        return;
    };
    let (reason, why) = match err {
        ValueError::Empty => (
            Reason::InvalidValue,
            "is empty; Fluent Bit refuses a key without a value".to_string(),
        ),
        ValueError::TooLong => (
            Reason::InvalidValue,
            format!("is longer than {} characters", rules::MAX_VALUE_LEN),
        ),
        ValueError::LineBreak => (
            Reason::InvalidValue,
            "contains CR, LF or NUL; a value must be one line (a newline would inject config)"
                .into(),
        ),
        ValueError::Control => (Reason::InvalidValue, "contains a control character".into()),
        ValueError::SurroundingWhitespace => (
            Reason::InvalidValue,
            "starts or ends with whitespace, which Fluent Bit trims silently; remove it".into(),
        ),
        ValueError::EnvExpansion => (
            Reason::EnvExpansionNotAllowed,
            "contains `${`, which Fluent Bit expands from its environment (an unset variable \
             becomes empty); set allowEnvExpansion: true on the instance if that is intended"
                .into(),
        ),
    };
    out.push(Problem::new(field, reason, format!("value {why}")));
}
