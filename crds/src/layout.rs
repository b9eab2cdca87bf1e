//! Paths the operator mounts into the Fluent Bit pods. They live beside the API because the
//! CRD's rules keep user paths out of them (an artifact under the copy mount would be hidden by
//! the volume; a config path inside a mounted directory would be shadowed).

/// Where the Fluent Bit container sees the plugin files (read-only).
pub const PLUGIN_DIR: &str = "/fluent-bit/plugins";
/// Where the Fluent Bit container sees the rendered ConfigMap (read-only).
pub const CONFIG_DIR: &str = "/fluent-bit/etc/fbplugin";
/// The init containers' mount of the plugin volume; an artifact path under it would be hidden
/// by the volume.
pub const COPY_MOUNT: &str = "/fbplugin-out";
/// The verify-and-copy program every plugin image carries (crate `fbplugin-copy`): the init
/// containers' command. The images have no shell.
pub const COPY_PROGRAM: &str = "/fbplugin/copy";
