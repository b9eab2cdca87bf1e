//! The `FluentBitPlugin` the image belongs to: a given CR file with its `spec.artifact` filled
//! in (comments and layout kept), or a new one.

use serde_json::Value;

use crate::{Error, Result};

/// What goes into `spec.artifact`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// `registry/repository@sha256:...`.
    pub image: String,
    /// `/plugins/<file>`.
    pub path: String,
    /// The file's sha256, hex.
    pub sha256: String,
}

/// Sets `spec.artifact.image`, `.path` and `.sha256` in the YAML text of one FluentBitPlugin,
/// replacing those lines in place (or adding them at the end of the `artifact:` block) so
/// comments and everything else stay as they were. The result is parsed back and checked.
pub fn patch(text: &str, artifact: &Artifact, file: &str) -> Result<String> {
    let fail = |why: String| Error::Cr(format!("{file}: {why}"));
    let parsed: Value = serde_norway::from_str(text).map_err(|e| fail(format!("not YAML: {e}")))?;
    if parsed["kind"] != "FluentBitPlugin" {
        return Err(fail(
            "not a FluentBitPlugin (kind: FluentBitPlugin, one document)".into(),
        ));
    }
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let content = |l: &str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    let spec = lines
        .iter()
        .position(|l| l.trim_end() == "spec:" && indent(l) == 0)
        .ok_or_else(|| fail("no top-level `spec:` line".into()))?;
    let block_end = |start: usize, level: usize| {
        (start + 1..lines.len())
            .find(|&i| content(lines[i]) && indent(lines[i]) <= level)
            .unwrap_or(lines.len())
    };
    let spec_end = block_end(spec, 0);
    let artifact_line = (spec + 1..spec_end)
        .find(|&i| lines[i].trim_end().trim_start() == "artifact:")
        .ok_or_else(|| {
            fail("spec has no `artifact:` block (write it as a block, not inline)".into())
        })?;
    let level = indent(lines[artifact_line]);
    let end = block_end(artifact_line, level);
    let child = (artifact_line + 1..end)
        .find(|&i| content(lines[i]))
        .map_or(level + 2, |i| indent(lines[i]));
    let value = |key: &str| -> String {
        match key {
            "image" => artifact.image.clone(),
            "path" => artifact.path.clone(),
            _ => artifact.sha256.clone(),
        }
    };
    let mut out: Vec<String> = Vec::new();
    let mut done = [false; 3];
    let keys = ["image", "path", "sha256"];
    for (i, line) in lines.iter().enumerate() {
        if i > artifact_line
            && i < end
            && indent(line) == child
            && let Some(k) = keys
                .iter()
                .position(|k| line.trim_start().starts_with(&format!("{k}:")))
        {
            out.push(format!(
                "{}{}: {}",
                " ".repeat(child),
                keys[k],
                value(keys[k])
            ));
            done[k] = true;
            continue;
        }
        if i == end {
            add_missing(&mut out, &mut done, child, &value);
        }
        out.push((*line).to_owned());
    }
    if end == lines.len() {
        add_missing(&mut out, &mut done, child, &value);
    }
    let mut patched = out.join("\n");
    patched.push('\n');
    let check: Value = serde_norway::from_str(&patched)
        .map_err(|e| fail(format!("patching broke the YAML: {e}")))?;
    let got = &check["spec"]["artifact"];
    if got["image"] != artifact.image.as_str()
        || got["path"] != artifact.path.as_str()
        || got["sha256"] != artifact.sha256.as_str()
    {
        return Err(fail(format!(
            "could not set spec.artifact in place (got {got}); set image: {}, path: {}, sha256: {} by hand",
            artifact.image, artifact.path, artifact.sha256
        )));
    }
    Ok(patched)
}

fn add_missing(
    out: &mut Vec<String>,
    done: &mut [bool; 3],
    child: usize,
    value: &dyn Fn(&str) -> String,
) {
    // Insert after the block's last content line, before trailing blank or comment lines.
    let at = out
        .iter()
        .rposition(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map_or(out.len(), |i| i + 1);
    let mut extra = Vec::new();
    for (k, key) in ["image", "path", "sha256"].iter().enumerate() {
        if !done[k] {
            extra.push(format!("{}{key}: {}", " ".repeat(child), value(key)));
            done[k] = true;
        }
    }
    out.splice(at..at, extra);
}

/// What a new FluentBitPlugin needs besides the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPlugin {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `spec.type`: input, output, custom or filter.
    pub plugin_type: String,
    /// `spec.pluginName` (Go-proxy plugins) or `spec.wasm.functionName` (WASM filters).
    pub registered_name: String,
    /// `spec.target.daemonSet`.
    pub daemonset: String,
    /// `spec.instances[0].match` (outputs and filters).
    pub match_pattern: String,
}

/// A complete FluentBitPlugin for `artifact`.
pub fn generate(plugin: &NewPlugin, artifact: &Artifact, wasm: bool) -> String {
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    let mut out = format!(
        "apiVersion: fbplugin.dev/v1alpha1\nkind: FluentBitPlugin\nmetadata:\n  name: {}\n  namespace: {}\nspec:\n  type: {}\n",
        plugin.name, plugin.namespace, plugin.plugin_type
    );
    if !wasm {
        out.push_str(&format!("  pluginName: {}\n", plugin.registered_name));
    }
    out.push_str(&format!(
        "  artifact:\n    image: {}\n    path: {}\n    sha256: {}\n",
        artifact.image, artifact.path, artifact.sha256
    ));
    if wasm {
        out.push_str(&format!(
            "  wasm:\n    functionName: {}\n",
            plugin.registered_name
        ));
    }
    if plugin.plugin_type == "input" {
        out.push_str("  instances:\n    - {}\n");
    } else {
        out.push_str(&format!(
            "  instances:\n    - match: {}\n",
            quote(&plugin.match_pattern)
        ));
    }
    out.push_str(&format!("  target:\n    daemonSet: {}\n", plugin.daemonset));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact() -> Artifact {
        Artifact {
            image: format!("127.0.0.1:5000/x@sha256:{}", "a".repeat(64)),
            path: "/plugins/libx.so".into(),
            sha256: "b".repeat(64),
        }
    }

    #[test]
    fn replaces_in_place_and_adds_sha256_keeping_comments() {
        let text = "# a comment\napiVersion: fbplugin.dev/v1alpha1\nkind: FluentBitPlugin\nmetadata:\n  name: x\nspec:\n  type: output\n  artifact:\n    image: ghcr.io/old@sha256:00\n    path: /plugins/old.so\n    imagePullPolicy: IfNotPresent\n  # instances below\n  instances:\n    - match: \"*\"\n";
        let out = patch(text, &artifact(), "x.yaml").expect("patch");
        assert!(out.starts_with("# a comment\n"));
        assert!(out.contains(&format!("    image: {}\n    path: /plugins/libx.so\n    imagePullPolicy: IfNotPresent\n    sha256: {}\n  # instances below\n", artifact().image, "b".repeat(64))), "{out}");
        // Idempotent.
        assert_eq!(patch(&out, &artifact(), "x.yaml").expect("again"), out);
    }

    #[test]
    fn artifact_block_at_the_end_of_the_file() {
        let text = "kind: FluentBitPlugin\nspec:\n  artifact:\n    image: a@sha256:00\n";
        let out = patch(text, &artifact(), "x.yaml").expect("patch");
        assert!(
            out.ends_with(&format!("    sha256: {}\n", "b".repeat(64))),
            "{out}"
        );
    }

    #[test]
    fn refuses_other_kinds_and_inline_artifacts() {
        assert!(patch("kind: Pod\n", &artifact(), "x").is_err());
        assert!(
            patch(
                "kind: FluentBitPlugin\nspec:\n  artifact: {image: x}\n",
                &artifact(),
                "x"
            )
            .is_err()
        );
    }
}
