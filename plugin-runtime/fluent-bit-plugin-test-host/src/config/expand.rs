//! `${VAR}` / `${VAR:-default}` expansion (`flb_env_var_translate`): `@SET` variables first,
//! then the process environment; unset variables become empty with a warning.

use super::Config;

/// Expands `value`; `lookup` resolves a name. Returns the text and the unset names.
pub fn expand_vars(value: &str, lookup: &dyn Fn(&str) -> Option<String>) -> (String, Vec<String>) {
    let mut out = String::with_capacity(value.len());
    let mut unset = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            // No closing brace: the rest is literal.
            out.push_str(&rest[start..]);
            return (out, unset);
        };
        let spec = &after[..end];
        let (name, default) = match spec.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (spec, None),
        };
        match lookup(name) {
            Some(v) => out.push_str(&v),
            None => match default {
                Some(d) => out.push_str(d),
                None => unset.push(name.to_owned()),
            },
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    (out, unset)
}

pub(super) fn expand_all(cfg: &mut Config) {
    let vars = cfg.vars.clone();
    let lookup = move |name: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    };
    let mut warnings = Vec::new();
    for s in &mut cfg.sections {
        let entries = s
            .entries
            .iter_mut()
            .chain(s.groups.iter_mut().flat_map(|g| g.entries.iter_mut()));
        for e in entries {
            if !e.value.contains("${") {
                continue;
            }
            let (v, unset) = expand_vars(&e.value, &lookup);
            for name in unset {
                warnings.push(format!(
                    "{}:{}: variable ${{{name}}} is not set; it expands to an empty string",
                    e.file.display(),
                    e.line
                ));
            }
            e.value = v;
        }
    }
    cfg.warnings.extend(warnings);
}
