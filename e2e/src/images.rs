//! Images for the real node, built with the image tool (`fbplugin-image`) and pushed to the
//! node's registry, so containerd pulls them by digest like from any registry.

use std::path::PathBuf;

use fbplugin_image::registry::Client;
use fbplugin_image::{Image, PluginFile, Reference};

use crate::error::{Error, Result};

/// A plugin image pushed to a registry: what a `FluentBitPlugin`'s `spec.artifact` needs.
#[derive(Debug, Clone)]
pub struct PushedPlugin {
    /// `<registry>/<repository>@sha256:<digest>`.
    pub image: String,
    /// The file's path in the image (`/plugins/<file>`).
    pub path: String,
    /// The file's sha256 (hex).
    pub sha256: String,
}

/// A plugin file the test binary's cargo build produced: `target/<profile>/deps/<file>` (the
/// examples are dev-dependencies, so cargo builds their cdylibs before the tests).
pub fn built_plugin(file: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(Error::io("finding the running executable"))?;
    let deps = exe
        .parent()
        .ok_or_else(|| Error::Invalid(format!("{} has no parent", exe.display())))?;
    let deps = if deps.ends_with("deps") {
        deps.to_owned()
    } else {
        deps.join("deps")
    };
    let path = deps.join(file);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Invalid(format!(
            "{} is missing: build the example (its crate is a dev-dependency of e2e)",
            path.display()
        )))
    }
}

/// Pushes `image` to `<registry>/<repository>` (plain HTTP: the registry is on loopback) and
/// returns the reference by digest.
pub fn push_image(registry: &str, repository: &str, image: &Image) -> Result<String> {
    let reference = Reference::parse(&format!("{registry}/{repository}:e2e"))
        .map_err(|e| Error::Invalid(format!("{registry}/{repository}: {e}")))?;
    let mut client = Client::new(&reference, false, None);
    client
        .push(image, reference.tag.as_deref())
        .map_err(|e| Error::Invalid(format!("pushing {registry}/{repository}: {e}")))?;
    Ok(reference.with_digest(image.digest()))
}

/// Builds the plugin image of `file` with the image tool and pushes it.
pub fn push_plugin(
    registry: &str,
    repository: &str,
    file: &std::path::Path,
) -> Result<PushedPlugin> {
    let plugin = PluginFile::read(file)
        .map_err(|e| Error::Invalid(format!("reading {}: {e}", file.display())))?;
    let image = Image::build(&plugin)
        .map_err(|e| Error::Invalid(format!("building the image of {}: {e}", file.display())))?;
    Ok(PushedPlugin {
        image: push_image(registry, repository, &image)?,
        path: image.plugin_path.clone(),
        sha256: image.plugin_sha256.clone(),
    })
}

/// The example `example`'s CR (`examples/<example>/deploy`, moved into `namespace`) with
/// `spec.artifact` filled from the image of `built` (its `.so` or `.wasm`) that the image tool
/// built and pushed to `registry`: what `fbplugin-image build --push --cr` does.
pub fn example_on_registry(
    registry: &str,
    namespace: &str,
    example: &str,
    built: &std::path::Path,
) -> Result<serde_json::Value> {
    let pushed = push_plugin(registry, &format!("fbplugin/{example}"), built)?;
    let mut plugin = crate::plugins::example_plugin(example, namespace)?;
    plugin["spec"]["artifact"]["image"] = serde_json::json!(pushed.image);
    plugin["spec"]["artifact"]["path"] = serde_json::json!(pushed.path);
    plugin["spec"]["artifact"]["sha256"] = serde_json::json!(pushed.sha256);
    Ok(plugin)
}
