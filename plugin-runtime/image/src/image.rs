//! The image: two layers, a config and a manifest, all built in memory.

use std::collections::HashMap;

use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, HistoryBuilder, ImageConfiguration,
    ImageConfigurationBuilder, ImageManifestBuilder, MediaType, Os, RootFsBuilder,
};

use crate::plugin::PluginFile;
use crate::tarball::{Entry, archive};
use crate::{Error, Result, canonical_json, digest_of};

/// The static copy program every image carries at [`COPY_PATH`] (x86_64 musl, built by
/// `build.rs` from `plugin-runtime/copy`).
pub const COPY_PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/copy"));
/// Where the copy program is in the image.
pub const COPY_PATH: &str = "/fbplugin/copy";
/// The directory holding the plugin file in the image.
pub const PLUGIN_DIR: &str = "/plugins";
/// The user (and group) the image runs as.
pub const USER: &str = "65532:65532";
/// Label naming the plugin file's path in the image.
pub const PATH_LABEL: &str = "dev.fbplugin.plugin.path";
/// Label carrying the plugin file's sha256.
pub const SHA256_LABEL: &str = "dev.fbplugin.plugin.sha256";
/// Media type of the (uncompressed) layers.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
/// Media type of the manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// A content-addressed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Blob {
    fn new(media_type: &str, bytes: Vec<u8>) -> Blob {
        Blob {
            digest: digest_of(&bytes),
            media_type: media_type.to_owned(),
            bytes,
        }
    }
}

/// A built image.
#[derive(Debug, Clone)]
pub struct Image {
    /// The layers, bottom first: the copy program, then the plugin file.
    pub layers: Vec<Blob>,
    /// The config blob.
    pub config: Blob,
    /// The manifest; its digest is the image digest.
    pub manifest: Blob,
    /// The plugin's path in the image (`/plugins/<file>`).
    pub plugin_path: String,
    /// The plugin file's sha256 (hex).
    pub plugin_sha256: String,
}

fn oci(e: oci_spec::OciSpecError) -> Error {
    Error::Layout(format!("building the OCI documents failed: {e}"))
}

fn descriptor(blob: &Blob, media_type: MediaType) -> Result<Descriptor> {
    DescriptorBuilder::default()
        .media_type(media_type)
        .digest(
            blob.digest
                .parse::<oci_spec::image::Digest>()
                .map_err(oci)?,
        )
        .size(blob.bytes.len() as u64)
        .build()
        .map_err(oci)
}

impl Image {
    /// Builds the image of `plugin` with the embedded copy program.
    pub fn build(plugin: &PluginFile) -> Result<Image> {
        Image::build_with(plugin, COPY_PROGRAM)
    }

    /// Builds the image of `plugin` carrying `copy_program` at [`COPY_PATH`].
    pub fn build_with(plugin: &PluginFile, copy_program: &[u8]) -> Result<Image> {
        let tar_failed = |e: std::io::Error| Error::Layout(format!("writing a layer failed: {e}"));
        let copy_layer = archive(&[
            Entry::Dir {
                path: "fbplugin",
                mode: 0o755,
            },
            Entry::File {
                path: "fbplugin/copy",
                mode: 0o555,
                bytes: copy_program,
            },
        ])
        .map_err(tar_failed)?;
        let plugin_file = format!("plugins/{}", plugin.name);
        let plugin_layer = archive(&[
            Entry::Dir {
                path: "plugins",
                mode: 0o755,
            },
            Entry::File {
                path: &plugin_file,
                mode: 0o444,
                bytes: &plugin.bytes,
            },
        ])
        .map_err(tar_failed)?;
        let layers = vec![
            Blob::new(LAYER_MEDIA_TYPE, copy_layer),
            Blob::new(LAYER_MEDIA_TYPE, plugin_layer),
        ];
        let plugin_path = plugin.image_path();

        let labels = HashMap::from([
            (
                "org.opencontainers.image.title".to_owned(),
                plugin.name.clone(),
            ),
            (
                "org.opencontainers.image.description".to_owned(),
                format!("Fluent Bit plugin {plugin_path} for the fbplugin operator"),
            ),
            (PATH_LABEL.to_owned(), plugin_path.clone()),
            (SHA256_LABEL.to_owned(), plugin.sha256.clone()),
        ]);
        let run = ConfigBuilder::default()
            .user(USER.to_owned())
            .entrypoint(vec![COPY_PATH.to_owned()])
            .working_dir("/".to_owned())
            .labels(labels)
            .build()
            .map_err(oci)?;
        // Uncompressed layers: the diff_id is the layer digest.
        let rootfs = RootFsBuilder::default()
            .typ("layers".to_owned())
            .diff_ids(layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>())
            .build()
            .map_err(oci)?;
        let history = vec![
            HistoryBuilder::default()
                .created_by(format!(
                    "fbplugin-image {}: the copy program at {COPY_PATH}",
                    env!("CARGO_PKG_VERSION")
                ))
                .build()
                .map_err(oci)?,
            HistoryBuilder::default()
                .created_by(format!(
                    "fbplugin-image {}: {plugin_path} (sha256 {})",
                    env!("CARGO_PKG_VERSION"),
                    plugin.sha256
                ))
                .build()
                .map_err(oci)?,
        ];
        let config = ImageConfigurationBuilder::default()
            .architecture(Arch::Amd64)
            .os(Os::Linux)
            .config(run)
            .rootfs(rootfs)
            .history(history)
            .build()
            .map_err(oci)?;
        Image::assemble(layers, &config, plugin_path, plugin.sha256.clone())
    }

    /// Builds a one-layer image of arbitrary files (not a plugin image): the harness's pause
    /// and stand-in Fluent Bit images. `files` are `(path without leading /, mode, bytes)`;
    /// their parent directories are added (0755). Same reproducibility rules as [`Image::build`]
    /// (uid 0, mtime 0, sorted JSON); [`Image::plugin_path`] and [`Image::plugin_sha256`] are
    /// empty.
    pub fn from_files(
        title: &str,
        files: &[(String, u32, Vec<u8>)],
        entrypoint: Vec<String>,
        user: &str,
    ) -> Result<Image> {
        let mut dirs: Vec<String> = Vec::new();
        for (path, _, _) in files {
            let mut parent = std::path::Path::new(path).parent();
            let mut chain = Vec::new();
            while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
                chain.push(dir.to_string_lossy().into_owned());
                parent = dir.parent();
            }
            for dir in chain.into_iter().rev() {
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
        let mut entries: Vec<Entry<'_>> = dirs
            .iter()
            .map(|d| Entry::Dir {
                path: d,
                mode: 0o755,
            })
            .collect();
        entries.extend(files.iter().map(|(path, mode, bytes)| Entry::File {
            path,
            mode: *mode,
            bytes,
        }));
        let layer =
            archive(&entries).map_err(|e| Error::Layout(format!("writing a layer failed: {e}")))?;
        let layers = vec![Blob::new(LAYER_MEDIA_TYPE, layer)];
        let labels = HashMap::from([(
            "org.opencontainers.image.title".to_owned(),
            title.to_owned(),
        )]);
        let run = ConfigBuilder::default()
            .user(user.to_owned())
            .entrypoint(entrypoint)
            .working_dir("/".to_owned())
            .labels(labels)
            .build()
            .map_err(oci)?;
        let rootfs = RootFsBuilder::default()
            .typ("layers".to_owned())
            .diff_ids(layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>())
            .build()
            .map_err(oci)?;
        let config = ImageConfigurationBuilder::default()
            .architecture(Arch::Amd64)
            .os(Os::Linux)
            .config(run)
            .rootfs(rootfs)
            .build()
            .map_err(oci)?;
        Image::assemble(layers, &config, String::new(), String::new())
    }

    /// The config blob and the manifest over `layers`, as canonical JSON (so the same inputs
    /// give the same digest).
    fn assemble(
        layers: Vec<Blob>,
        config: &ImageConfiguration,
        plugin_path: String,
        plugin_sha256: String,
    ) -> Result<Image> {
        let config = Blob::new(
            "application/vnd.oci.image.config.v1+json",
            canonical_json(config).map_err(|e| Error::Layout(format!("config JSON: {e}")))?,
        );
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(descriptor(&config, MediaType::ImageConfig)?)
            .layers(
                layers
                    .iter()
                    .map(|l| descriptor(l, MediaType::ImageLayer))
                    .collect::<Result<Vec<_>>>()?,
            )
            .build()
            .map_err(oci)?;
        let manifest = Blob::new(
            MANIFEST_MEDIA_TYPE,
            canonical_json(&manifest).map_err(|e| Error::Layout(format!("manifest JSON: {e}")))?,
        );
        Ok(Image {
            layers,
            config,
            manifest,
            plugin_path,
            plugin_sha256,
        })
    }

    /// The image digest (`sha256:<hex>` of the manifest).
    pub fn digest(&self) -> &str {
        &self.manifest.digest
    }

    /// Every blob a registry needs before the manifest: the layers and the config.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        self.layers.iter().chain(std::iter::once(&self.config))
    }

    /// Bytes of the manifest, config and layers together (what a pull transfers).
    pub fn size(&self) -> u64 {
        self.blobs()
            .chain(std::iter::once(&self.manifest))
            .map(|b| b.bytes.len() as u64)
            .sum()
    }
}
