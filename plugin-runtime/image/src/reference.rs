//! `registry/repository[:tag]` as given to `--push`.

use crate::{Error, Result};

/// Where to push: a registry host and a repository in it, with an optional tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`.
    pub registry: String,
    /// The repository path inside the registry (`fbplugin/out-jsonl`).
    pub repository: String,
    /// A tag to push the manifest under as well as its digest.
    pub tag: Option<String>,
}

impl Reference {
    /// Parses `host[:port]/path[:tag]`. The registry host is required (no implicit Docker Hub):
    /// the first segment must hold a `.` or a `:` or be `localhost`. Path segments follow the
    /// CRD's image grammar (lowercase `a-z0-9` runs joined by `.`, `_`, `__` or dashes).
    pub fn parse(text: &str) -> Result<Reference> {
        let bad = |why: &str| {
            Error::Reference(format!(
                "--push {text:?}: {why}; expected <registry host[:port]>/<repository>[:<tag>], e.g. 127.0.0.1:5000/fbplugin/out-jsonl or ghcr.io/me/out-jsonl:0.1.0"
            ))
        };
        if text.contains('@') {
            return Err(bad(
                "give a repository, not a digest: the digest is what this tool computes",
            ));
        }
        let (registry, rest) = text
            .split_once('/')
            .ok_or_else(|| bad("no repository after the registry host"))?;
        if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
            return Err(bad(
                "the first segment must be a registry host (with a '.' or a ':port', or localhost)",
            ));
        }
        if !registry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        {
            return Err(bad("the registry host holds unexpected characters"));
        }
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((repo, tag)) => (repo, Some(tag)),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && !tag.starts_with(['.', '-'])
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !ok {
                return Err(bad(
                    "the tag may hold A-Z a-z 0-9 _ . - (at most 128, not starting with . or -)",
                ));
            }
        }
        if repository.is_empty() || !repository.split('/').all(path_component) {
            return Err(bad(
                "each repository segment is lowercase a-z 0-9 runs joined by '.', '_', '__' or dashes",
            ));
        }
        Ok(Reference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
        })
    }

    /// True when plain HTTP is allowed without `--insecure`: the registry is on loopback.
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => self.registry.as_str(),
        };
        matches!(host, "localhost" | "127.0.0.1" | "[::1]")
    }

    /// `registry/repository@<digest>`: what `spec.artifact.image` takes.
    pub fn with_digest(&self, digest: &str) -> String {
        format!("{}/{}@{digest}", self.registry, self.repository)
    }
}

fn path_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    if bytes.is_empty()
        || !bytes[0].is_ascii_alphanumeric()
        || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
    {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            i += 1;
            continue;
        }
        // A separator: '.', '_', '__' or one or more '-'.
        let start = i;
        while i < bytes.len() && matches!(bytes[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &c[start..i];
        if sep.is_empty() {
            // Neither a lowercase letter, a digit nor a separator.
            return false;
        }
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_repositories_and_tags() {
        let r = Reference::parse("127.0.0.1:5000/fbplugin/out-jsonl").expect("parse");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "fbplugin/out-jsonl", None)
        );
        assert!(r.is_loopback());
        let r = Reference::parse("ghcr.io/me/out_jsonl:0.1.0").expect("parse");
        assert_eq!(r.tag.as_deref(), Some("0.1.0"));
        assert!(!r.is_loopback());
        assert!(
            Reference::parse("localhost/x")
                .expect("parse")
                .is_loopback()
        );
        assert_eq!(r.with_digest("sha256:ab"), "ghcr.io/me/out_jsonl@sha256:ab");
    }

    #[test]
    fn refuses_what_the_crd_would_refuse() {
        for bad in [
            "out-jsonl",
            "fbplugin/out-jsonl",
            "ghcr.io/",
            "ghcr.io/Me/x",
            "ghcr.io/x_.y",
            "ghcr.io/x:-tag",
            "ghcr.io/x@sha256:00",
            "ghcr.io/x y",
            "ghcr.io//x",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
