//! Typed access to an instance's configuration.
//!
//! Fluent Bit hands a proxy plugin its properties only as strings, looked up one key at a time
//! (`docs/fluent-bit-abi.md` section 4.1): keys are case-insensitive, empty values read as absent, and the
//! classic format keeps quotes. [`Config`] turns that into typed values and errors that name the
//! key and the expected form, so a bad config fails `Init` with a message a user can act on:
//!
//! ```text
//! config key `max_size`: expected a size such as 10M, 512K or 1Gi, got `ten`
//! ```
//!
//! Keys that Fluent Bit consumes itself (`host`, `port`, `match`, `tag`, `workers`, `tls.*`, ...)
//! never reach a plugin; reading one is an error rather than a silent empty value.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::PluginKind;
use crate::abi::host::HostApi;

/// An instance's properties, as set in the Fluent Bit configuration.
pub struct Config {
    source: Source,
}

enum Source {
    Host(HostApi),
    #[cfg_attr(not(test), allow(dead_code))]
    Map(PluginKind, Vec<(String, String)>),
}

impl Config {
    pub(crate) fn from_host(host: HostApi) -> Self {
        Config {
            source: Source::Host(host),
        }
    }

    /// A configuration backed by a list of key/value pairs, for unit tests of a plugin's
    /// config parsing without a host.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        kind: PluginKind,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Config {
            source: Source::Map(kind, pairs),
        }
    }

    fn kind(&self) -> PluginKind {
        match &self.source {
            Source::Host(host) => host.kind(),
            Source::Map(kind, _) => *kind,
        }
    }

    /// The raw value of `key` with one pair of surrounding quotes removed, or `None` when the
    /// key is absent or empty.
    pub fn raw(&self, key: &str) -> Result<Option<String>, ConfigError> {
        if let Some(consumer) = reserved_by_host(self.kind(), key) {
            return Err(ConfigError {
                key: key.to_owned(),
                kind: ErrorKind::Reserved(consumer),
            });
        }
        let value = match &self.source {
            Source::Host(host) => host.property(key),
            Source::Map(_, pairs) => pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty()),
        };
        Ok(value.map(unquote).filter(|v| !v.is_empty()))
    }

    /// The value of `key` parsed as `T`, or `None` when it is not set.
    pub fn optional<T: FromProperty>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        match self.raw(key)? {
            None => Ok(None),
            Some(value) => T::from_property(&value)
                .map(Some)
                .map_err(|detail| ConfigError {
                    key: key.to_owned(),
                    kind: ErrorKind::Invalid {
                        value,
                        expected: T::EXPECTED,
                        detail,
                    },
                }),
        }
    }

    /// The value of `key` parsed as `T`; a missing key is an error.
    pub fn required<T: FromProperty>(&self, key: &str) -> Result<T, ConfigError> {
        self.optional(key)?.ok_or_else(|| ConfigError {
            key: key.to_owned(),
            kind: ErrorKind::Missing(T::EXPECTED),
        })
    }

    /// The value of `key` parsed as `T`, or `default` when it is not set.
    pub fn get_or<T: FromProperty>(&self, key: &str, default: T) -> Result<T, ConfigError> {
        Ok(self.optional(key)?.unwrap_or(default))
    }
}

/// Removes one pair of matching surrounding quotes: the classic format keeps them verbatim.
fn unquote(value: String) -> String {
    let bytes = value.as_bytes();
    if bytes.len() >= 2 {
        let (first, last) = (bytes[0], bytes[bytes.len() - 1]);
        if (first == b'"' || first == b'\'') && first == last {
            return value[1..value.len() - 1].to_owned();
        }
    }
    value
}

/// Why a configuration value was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    key: String,
    kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq)]
enum ErrorKind {
    Missing(&'static str),
    Invalid {
        value: String,
        expected: &'static str,
        detail: String,
    },
    Reserved(&'static str),
}

impl ConfigError {
    /// The key the error is about.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// An error for a value the plugin rejects after parsing it (for example a path that must
    /// be absolute), in the same form as the SDK's own errors.
    pub fn invalid(key: &str, value: &str, expected: &'static str) -> Self {
        ConfigError {
            key: key.to_owned(),
            kind: ErrorKind::Invalid {
                value: value.to_owned(),
                expected,
                detail: String::new(),
            },
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        match &self.kind {
            ErrorKind::Missing(expected) => {
                write!(f, "config key `{key}` is required: set it to {expected}")
            }
            ErrorKind::Invalid {
                value,
                expected,
                detail,
            } => {
                write!(f, "config key `{key}`: expected {expected}, got `{value}`")?;
                if !detail.is_empty() {
                    write!(f, " ({detail})")?;
                }
                Ok(())
            }
            ErrorKind::Reserved(consumer) => write!(
                f,
                "config key `{key}` is consumed by Fluent Bit ({consumer}) and never reaches a \
                 plugin: give the plugin's setting another name"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Returns what consumes `key` when Fluent Bit keeps it from plugins of this kind
/// (`docs/fluent-bit-abi.md` section 4.2; the list is [`crate::reserved`]). Keys compare
/// case-insensitively. Whole namespaces are refused (`tls.*`, `rate_*`), not only the keys
/// Fluent Bit reads in them: a plugin setting under a Fluent Bit namespace would be a trap.
pub fn reserved_by_host(kind: PluginKind, key: &str) -> Option<&'static str> {
    use crate::reserved::{ALL, INPUT, OUTPUT};
    let key = key.to_ascii_lowercase();
    let key = key.as_str();
    let own = match kind {
        PluginKind::Custom => None,
        PluginKind::Input => Some(&INPUT),
        PluginKind::Output => Some(&OUTPUT),
    };
    if !ALL.contains(key) && !own.is_some_and(|set| set.contains(key)) {
        return None;
    }
    Some(if key.starts_with("net.") {
        "network settings"
    } else if key == "tls" || key.starts_with("tls.") {
        "TLS settings"
    } else if key.starts_with("oauth2") {
        "OAuth2 settings"
    } else if ALL.contains(key) || matches!(key, "log_suppress_interval" | "host" | "port" | "ipv6")
    {
        "instance settings"
    } else if kind == PluginKind::Output {
        "output settings"
    } else {
        "input settings"
    })
}

/// A type that can be read from a property string.
pub trait FromProperty: Sized {
    /// The expected form, shown in errors ("a size such as 10M").
    const EXPECTED: &'static str;
    /// Parses the (unquoted, non-empty) value; the error adds detail to the message.
    fn from_property(value: &str) -> Result<Self, String>;
}

impl FromProperty for String {
    const EXPECTED: &'static str = "a string";
    fn from_property(value: &str) -> Result<Self, String> {
        Ok(value.to_owned())
    }
}

impl FromProperty for PathBuf {
    const EXPECTED: &'static str = "a file path";
    fn from_property(value: &str) -> Result<Self, String> {
        Ok(PathBuf::from(value))
    }
}

impl FromProperty for bool {
    const EXPECTED: &'static str = "a boolean (on/off, true/false, yes/no)";
    fn from_property(value: &str) -> Result<Self, String> {
        // The words Fluent Bit itself accepts (flb_utils_bool).
        match value.to_ascii_lowercase().as_str() {
            "true" | "on" | "yes" => Ok(true),
            "false" | "off" | "no" => Ok(false),
            _ => Err(String::new()),
        }
    }
}

macro_rules! int_property {
    ($($ty:ty),*) => {$(
        impl FromProperty for $ty {
            const EXPECTED: &'static str = concat!("an integer (", stringify!($ty), ")");
            fn from_property(value: &str) -> Result<Self, String> {
                <$ty>::from_str(value).map_err(|e| e.to_string())
            }
        }
    )*};
}
int_property!(u8, u16, u32, u64, usize, i32, i64);

impl FromProperty for f64 {
    const EXPECTED: &'static str = "a number";
    fn from_property(value: &str) -> Result<Self, String> {
        match f64::from_str(value) {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(_) => Err("not a finite number".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A comma-separated list; items are trimmed and empty items dropped (`a, b,,c` is 3 items).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct List(pub Vec<String>);

impl FromProperty for List {
    const EXPECTED: &'static str = "a comma-separated list";
    fn from_property(value: &str) -> Result<Self, String> {
        Ok(List(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        ))
    }
}

/// A byte size such as `512`, `10K`, `10M`, `1G` (decimal, as Fluent Bit reads sizes) or `64Ki`,
/// `1Mi`, `1Gi` (binary). A trailing `B` is allowed (`10MB`, `1MiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl FromProperty for Size {
    const EXPECTED: &'static str = "a size such as 10M, 512K or 1Gi";
    fn from_property(value: &str) -> Result<Self, String> {
        let (number, unit) = number_and_unit(value, "size")?;
        let unit = unit.strip_suffix('b').unwrap_or(&unit);
        let factor: u64 = match unit {
            "" => 1,
            "k" => 1_000,
            "m" => 1_000_000,
            "g" => 1_000_000_000,
            "ki" => 1 << 10,
            "mi" => 1 << 20,
            "gi" => 1 << 30,
            other => return Err(format!("unknown unit `{other}`")),
        };
        let bytes = number * factor as f64;
        if bytes > u64::MAX as f64 {
            return Err("too large".into());
        }
        Ok(Size(bytes.round() as u64))
    }
}

impl FromProperty for Duration {
    const EXPECTED: &'static str =
        "a duration such as 500ms, 5s, 2m or 1h (a bare number is seconds)";
    fn from_property(value: &str) -> Result<Self, String> {
        let (number, unit) = number_and_unit(value, "duration")?;
        let seconds = match unit.as_str() {
            "ns" => number / 1e9,
            "us" => number / 1e6,
            "ms" => number / 1e3,
            "" | "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            "d" => number * 86_400.0,
            other => return Err(format!("unknown unit `{other}`")),
        };
        Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
    }
}

/// Splits `1.5M` into `1.5` and `"m"` (the unit lowercased and trimmed).
fn number_and_unit(value: &str, what: &str) -> Result<(f64, String), String> {
    let v = value.trim();
    let digits_end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (number, unit) = v.split_at(digits_end);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("the {what} must start with a number"))?;
    Ok((number, unit.trim().to_ascii_lowercase()))
}

#[cfg(test)]
mod tests;
