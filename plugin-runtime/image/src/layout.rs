//! Writing an image as an OCI image layout: a directory, or a tar of one (what `ctr images
//! import` and `skopeo copy oci-archive:` read).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use crate::image::{Image, MANIFEST_MEDIA_TYPE};
use crate::tarball::{Entry, archive};
use crate::{Error, Result, canonical_json};

/// The files of the layout, path → bytes, in a fixed order: `oci-layout`, `index.json` and
/// `blobs/sha256/<hex>`. `name` (a full reference such as `127.0.0.1:5000/out-jsonl:0.1.0`)
/// goes in the index annotations `org.opencontainers.image.ref.name` and
/// `io.containerd.image.name`.
pub fn files(image: &Image, name: Option<&str>) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut descriptor = json!({
        "mediaType": MANIFEST_MEDIA_TYPE,
        "digest": image.digest(),
        "size": image.manifest.bytes.len(),
        "platform": { "architecture": "amd64", "os": "linux" },
    });
    if let Some(name) = name {
        let tag = name
            .rsplit_once(':')
            .filter(|(_, t)| !t.contains('/'))
            .map_or("latest", |(_, t)| t);
        descriptor["annotations"] = json!({
            "io.containerd.image.name": name,
            "org.opencontainers.image.ref.name": tag,
        });
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [descriptor],
    });
    let json_failed = |e: serde_json::Error| Error::Layout(format!("index.json: {e}"));
    let mut out = BTreeMap::new();
    out.insert(
        "oci-layout".to_owned(),
        canonical_json(&json!({ "imageLayoutVersion": "1.0.0" })).map_err(json_failed)?,
    );
    out.insert(
        "index.json".to_owned(),
        canonical_json(&index).map_err(json_failed)?,
    );
    for blob in image.blobs().chain(std::iter::once(&image.manifest)) {
        let hex = blob.digest.trim_start_matches("sha256:");
        out.insert(format!("blobs/sha256/{hex}"), blob.bytes.clone());
    }
    Ok(out)
}

/// Writes the layout into directory `dir` (created if missing; existing blobs are kept, the
/// index is replaced).
pub fn write_dir(image: &Image, name: Option<&str>, dir: &Path) -> Result<()> {
    for (path, bytes) in files(image, name)? {
        let dest = dir.join(&path);
        let failed = |e: std::io::Error| Error::Layout(format!("writing {}: {e}", dest.display()));
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        let temp = dest.with_extension("tmp");
        std::fs::write(&temp, &bytes).map_err(failed)?;
        std::fs::rename(&temp, &dest).map_err(failed)?;
    }
    Ok(())
}

/// The layout as one tar archive (deterministic like the layers).
pub fn archive_bytes(image: &Image, name: Option<&str>) -> Result<Vec<u8>> {
    let files = files(image, name)?;
    let mut entries = vec![
        Entry::Dir {
            path: "blobs",
            mode: 0o755,
        },
        Entry::Dir {
            path: "blobs/sha256",
            mode: 0o755,
        },
    ];
    for (path, bytes) in &files {
        entries.push(Entry::File {
            path,
            mode: 0o644,
            bytes,
        });
    }
    archive(&entries).map_err(|e| Error::Layout(format!("writing the archive: {e}")))
}
