//! The paths and names the operator writes, in one place: where Fluent Bit sees the files, the
//! ConfigMap, volume and init container names, the labels and annotations, the field manager.
//!
//! The bottom layer of the pure modules (see the crate docs): it imports none of them, so
//! validation, the gate, the renderer, the workload intents and the rollout probe all read the
//! same names without importing each other. The paths the CRD's rules also need (a user path
//! must stay out of them) live in [`fbplugin_crds::layout`] and are re-exported here.

use fbplugin_crds::FluentBitPlugin;

pub use fbplugin_crds::layout::{CONFIG_DIR, COPY_MOUNT, COPY_PROGRAM, PLUGIN_DIR};

/// File name (in [`CONFIG_DIR`]) of the rendered plugin list of a classic config.
pub const PLUGINS_CONF: &str = "plugins.conf";
/// File name (in [`CONFIG_DIR`]) of the pipeline a classic config includes.
pub const PIPELINE_CONF: &str = "pipeline.conf";
/// File name (in [`CONFIG_DIR`]) of the pipeline a YAML config includes.
pub const PIPELINE_YAML: &str = "pipeline.yaml";

/// The path the DaemonSet's own config must include: [`PIPELINE_YAML`] for a YAML config
/// (`includes:`), else [`PIPELINE_CONF`] (`@INCLUDE`), in [`CONFIG_DIR`].
pub fn include_path(yaml: bool) -> String {
    let file = if yaml { PIPELINE_YAML } else { PIPELINE_CONF };
    format!("{CONFIG_DIR}/{file}")
}

/// Where Fluent Bit loads a plugin's file from: `<PLUGIN_DIR>/<object name>/<file name>`.
/// The directory keeps two plugins with the same file name apart.
pub fn plugin_file_path(plugin: &FluentBitPlugin) -> String {
    format!(
        "{PLUGIN_DIR}/{}/{}",
        plugin.metadata.name.as_deref().unwrap_or_default(),
        fbplugin_crds::rules::file_name(&plugin.spec.artifact.path)
    )
}

/// The server-side-apply field manager.
pub const FIELD_MANAGER: &str = "fbplugin-operator";
/// Pod-template annotation carrying the rendered files' hash.
pub const HASH_ANNOTATION: &str = "fbplugin.dev/config-hash";
/// The emptyDir holding the plugin files.
pub const PLUGINS_VOLUME: &str = "fbplugin-plugins";
/// The volume of the rendered ConfigMap.
pub const CONFIG_VOLUME: &str = "fbplugin-config";
/// Label on the ConfigMap naming its DaemonSet.
pub const DAEMONSET_LABEL: &str = "fbplugin.dev/daemonset";
/// Label (with [`FIELD_MANAGER`] as value) on everything the operator creates; with
/// [`DAEMONSET_LABEL`] it is how the operator recognizes its own ConfigMap.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// Prefix of the init container names (`fbplugin-<object name>`).
pub const INIT_PREFIX: &str = "fbplugin-";
/// Prefix of the verify steps' names (`fbplugin-verify-<object name>-<hash>`): [`INIT_PREFIX`]
/// then [`fbplugin_crds::rules::RESERVED_NAME_PREFIX`], which no object name may start with.
pub const VERIFY_INIT_PREFIX: &str = "fbplugin-verify-";
/// How many hex digits of the rendered hash end a verify step's name.
pub const VERIFY_HASH_LEN: usize = 6;

/// Label a DaemonSet's owner sets to `"true"` to let the operator add plugins to it.
pub const OPT_IN_LABEL: &str = "fbplugin.dev/accept-plugins";
/// Annotation naming the container plugins may use.
pub const CONTAINER_ANNOTATION: &str = "fbplugin.dev/container";
/// Annotation naming the main config file Fluent Bit reads (it includes the operator's pipeline).
pub const CONFIG_PATH_ANNOTATION: &str = "fbplugin.dev/config-path";
/// Annotation listing (comma-separated) the Secrets plugins may add as image pull secrets.
pub const PULL_SECRETS_ANNOTATION: &str = "fbplugin.dev/pull-secrets";
/// The DaemonSet annotation by which its owner turns automatic rollback off for every plugin
/// (`Never`).
pub const ROLLBACK_ANNOTATION: &str = "fbplugin.dev/rollback";
/// The key of the operator's ConfigMap that stores the last known good state (not a file
/// Fluent Bit reads: the volume's `items` project only the pipeline files).
pub const LAST_KNOWN_GOOD_KEY: &str = "last-known-good.json";

/// The ConfigMap holding the rendered files: `<daemonset>-fbplugin`.
pub fn configmap_name(daemonset: &str) -> String {
    format!("{daemonset}-fbplugin")
}

/// The init container name of a plugin (its copy step).
pub fn init_container_name(plugin: &FluentBitPlugin) -> String {
    format!(
        "{INIT_PREFIX}{}",
        plugin.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The verify step's name: `fbplugin-verify-<object name>-<first 6 hex digits of the rendered
/// hash>`.
///
/// The hash in the name keeps every verify step after every copy step. Server-side apply
/// keeps the live order of list items it already has and appends new ones, so a plugin added
/// later would get its copy step after the older verify steps; with the hash in their names
/// every change replaces all verify steps, which are then appended after the copy steps.
pub fn verify_container_name(plugin: &FluentBitPlugin, hash: &str) -> String {
    format!(
        "{VERIFY_INIT_PREFIX}{}-{}",
        plugin.metadata.name.as_deref().unwrap_or_default(),
        hash.get(..VERIFY_HASH_LEN).unwrap_or(hash)
    )
}

#[cfg(test)]
mod tests {
    use fbplugin_crds::rules::{MAX_OBJECT_NAME_LEN, RESERVED_NAME_PREFIX};

    use super::*;

    #[test]
    fn verify_steps_are_the_reserved_prefix_after_the_init_prefix() {
        assert_eq!(
            VERIFY_INIT_PREFIX,
            format!("{INIT_PREFIX}{RESERVED_NAME_PREFIX}")
        );
    }

    #[test]
    fn the_longest_verify_step_name_is_a_container_name() {
        // Container names are DNS labels: at most 63 characters.
        assert!(VERIFY_INIT_PREFIX.len() + MAX_OBJECT_NAME_LEN + 1 + VERIFY_HASH_LEN <= 63);
    }

    #[test]
    fn the_include_paths_are_in_the_config_dir() {
        assert_eq!(
            include_path(false),
            "/fluent-bit/etc/fbplugin/pipeline.conf"
        );
        assert_eq!(include_path(true), "/fluent-bit/etc/fbplugin/pipeline.yaml");
    }
}
