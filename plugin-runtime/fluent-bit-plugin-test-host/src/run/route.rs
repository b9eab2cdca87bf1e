//! Output routing (`Match` wildcards, `Match_Regex`) and `retry_limit`.

use regex::Regex;

use crate::config::{ConfigError, Section};

/// Which tags an output receives.
#[derive(Debug, Clone)]
pub enum Route {
    /// No `Match`/`Match_Regex`: nothing.
    None,
    /// `Match` with `*` wildcards.
    Wildcard(String),
    /// `Match_Regex` (takes precedence over `Match`, as in Fluent Bit's router).
    Regex(Regex),
}

impl Route {
    /// From an `[OUTPUT]` section; a bad regex is an error at its line.
    pub fn from_section(s: &Section) -> Result<Self, ConfigError> {
        if let Some(e) = s.get_last("match_regex") {
            return Regex::new(&e.value)
                .map(Route::Regex)
                .map_err(|err| ConfigError {
                    file: e.file.clone(),
                    line: e.line,
                    message: format!(
                        "Match_Regex '{}' is not a valid regular expression: {err}",
                        e.value
                    ),
                });
        }
        Ok(s.get_last("match")
            .map_or(Route::None, |e| Route::Wildcard(e.value.clone())))
    }

    /// True for [`Route::None`].
    pub fn is_none(&self) -> bool {
        matches!(self, Route::None)
    }

    /// Whether a chunk with `tag` goes to this output.
    pub fn matches(&self, tag: &str) -> bool {
        match self {
            Route::None => false,
            Route::Wildcard(p) => wildcard_match(p, tag),
            Route::Regex(r) => r.is_match(tag),
        }
    }
}

/// `*` matches any run of characters (including none); everything else literally.
pub fn wildcard_match(pattern: &str, tag: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == tag;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !tag.starts_with(first) || tag.len() < first.len() + last.len() || !tag.ends_with(last) {
        return false;
    }
    let mut rest = &tag[first.len()..tag.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// `retry_limit`: a number, `no_limits`/`false` (unlimited) or `no_retries` (0); default 1.
pub(crate) fn retry_limit(s: &Section) -> Result<Option<u32>, ConfigError> {
    let Some(e) = s.get_last("retry_limit") else {
        return Ok(Some(1));
    };
    match e.value.to_ascii_lowercase().as_str() {
        "no_limits" | "false" => Ok(None),
        "no_retries" => Ok(Some(0)),
        v => v.parse().map(Some).map_err(|_| ConfigError {
            file: e.file.clone(),
            line: e.line,
            message: format!(
                "retry_limit '{}' must be a number, no_limits or no_retries",
                e.value
            ),
        }),
    }
}
