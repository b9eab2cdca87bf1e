//! `fbplugin-image`: a built Fluent Bit plugin (`.so` or `.wasm`) in, a reproducible OCI image
//! out, written as an OCI image layout (directory or tar archive) and/or pushed to a registry by
//! the OCI distribution API; what `ko` is for Go binaries.
//!
//! # The image
//!
//! | layer | content (uid 0, gid 0, mtime 0) |
//! |---|---|
//! | 1 | `fbplugin/` (0755), `fbplugin/copy` (0555): the static copy program ([`COPY_PROGRAM`]) |
//! | 2 | `plugins/` (0755), `plugins/<file>` (0444): the plugin file, byte for byte |
//!
//! The config runs as user `65532:65532` with entrypoint `/fbplugin/copy`; there is no shell
//! and no other file. The labels `dev.fbplugin.plugin.path` and `dev.fbplugin.plugin.sha256`
//! name the file and its digest. Layers are uncompressed tars
//! (`application/vnd.oci.image.layer.v1.tar`): gzip output depends on the compressor's
//! version and on the feature set cargo unifies for a build, and the image digest must not.
//!
//! # Reproducible
//!
//! The same plugin bytes and the same build of this tool give the same image digest, on any
//! machine, at any time: no timestamps (tar mtimes are 0, the config has no `created`), fixed
//! owners and modes, entries in a fixed order, and every JSON document serialized with sorted
//! keys and no whitespace. The copy program is built with fixed settings and source paths
//! remapped (see `build.rs`), so it depends only on the toolchain and the lock file.

pub mod cr;
pub mod image;
pub mod layout;
pub mod plugin;
pub mod reference;
pub mod registry;
mod tarball;

pub use image::{COPY_PATH, COPY_PROGRAM, Image, PLUGIN_DIR};
pub use plugin::{PluginFile, PluginKind};
pub use reference::Reference;

/// Everything that can go wrong, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The plugin file is missing, unreadable or not a plugin.
    #[error("{0}")]
    Plugin(String),
    /// A repository reference given on the command line is malformed.
    #[error("{0}")]
    Reference(String),
    /// Writing the image layout failed.
    #[error("{0}")]
    Layout(String),
    /// The registry refused or could not be reached.
    #[error("{0}")]
    Registry(String),
    /// The FluentBitPlugin file could not be read or patched.
    #[error("{0}")]
    Cr(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `value` as compact JSON with every object's keys sorted: the same value always gives the
/// same bytes (oci-spec keeps labels and annotations in `HashMap`s).
pub fn canonical_json(value: &impl serde::Serialize) -> Result<Vec<u8>, serde_json::Error> {
    fn sort(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sort(v))).collect())
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(sort).collect())
            }
            other => other,
        }
    }
    serde_json::to_vec(&sort(serde_json::to_value(value)?))
}
