//! Checks a Fluent Bit classic config file against the grammar rules that break loading
//! (Fluent Bit 5.1.1, `flb_cf_fluentbit.c`): the first indented line fixes the indent and
//! every key line must use exactly it, tabs and whitespace-only lines are errors, a key needs
//! a non-empty value, and a `#` after a value is not a comment but part of the value.

/// Every problem in `text`, as `line N: what`; empty when the file would load.
pub fn problems(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut indent: Option<&str> = None;
    let mut in_section = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let mut say = |what: String| out.push(format!("line {n}: {what}: {line:?}"));
        if line.is_empty() {
            continue;
        }
        if line.contains('\t') {
            say("tab (indent with spaces only)".into());
            continue;
        }
        if line.trim().is_empty() {
            say("a line holding only spaces is a load error".into());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with('@') {
            if !(line.starts_with("@INCLUDE ") || line.starts_with("@SET ")) {
                say("unknown @ command".into());
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            if !rest.contains(']') || rest.starts_with(' ') {
                say("malformed section header".into());
            }
            in_section = true;
            continue;
        }
        let body = line.trim_start_matches(' ');
        let this_indent = &line[..line.len() - body.len()];
        if this_indent.is_empty() {
            say("a key must be indented".into());
            continue;
        }
        match indent {
            None => indent = Some(this_indent),
            Some(fixed) if fixed != this_indent => {
                say(format!(
                    "indent of {} spaces, the file uses {}",
                    this_indent.len(),
                    fixed.len()
                ));
                continue;
            }
            Some(_) => {}
        }
        if !in_section {
            say("key outside any section".into());
        }
        if body.starts_with('#') {
            continue;
        }
        let Some((key, value)) = body.split_once(' ') else {
            say("key without a value".into());
            continue;
        };
        let value = value.trim();
        if key.is_empty() || value.is_empty() {
            say("empty key or value".into());
        } else if value.contains(" #") {
            say("`#` after a value is part of the value, not a comment".into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::problems;

    #[test]
    fn accepts_valid_and_names_each_mistake() {
        assert!(
            problems("[SERVICE]\n    Flush 1\n\n# c\n[INPUT]\n    Name tail\n    # x\n").is_empty()
        );
        let bad = "[SERVICE]\n    Flush 1\n  Log_Level info\n    \n\tName x\n    Health_Check\n    Format json # or msgpack\nName y\n";
        let found = problems(bad);
        assert_eq!(found.len(), 6, "{found:#?}");
        assert!(found[0].starts_with("line 3: indent of 2 spaces, the file uses 4"));
        assert!(found[1].starts_with("line 4: a line holding only spaces"));
        assert!(found[2].starts_with("line 5: tab"));
        assert!(found[3].starts_with("line 6: key without a value"));
        assert!(found[4].starts_with("line 7: `#` after a value"));
        assert!(found[5].starts_with("line 8: a key must be indented"));
    }
}
