//! Plugins + rendered files → server-side-apply intents for the DaemonSet and its ConfigMap.
//!
//! # How Fluent Bit reads the operator's files
//!
//! The DaemonSet's own main config (at the path its owner named in
//! [`crate::layout::CONFIG_PATH_ANNOTATION`]) includes the operator's pipeline file by its
//! absolute path ([`crate::layout::include_path`]), and the operator mounts its ConfigMap as a
//! directory at [`CONFIG_DIR`] (never a `subPath` file over the user's config: runc cannot mount
//! a file inside a ConfigMap directory mount, kubernetes/kubernetes#61545). So:
//! - the container's command, args and own config are never changed;
//! - an opted-in DaemonSet always carries the mount, with an empty pipeline when no plugin
//!   targets it, because Fluent Bit fails to start when an included file is missing;
//! - the official chart's DaemonSet works with one added line in its config.
//!
//! Every revision has its own ConfigMap keys ([`Rendered::key`]), projected to the fixed file
//! names by the volume's `items`: pods of the previous pod template keep reading their own
//! files (the kubelet updates a ConfigMap directory mount in place) until the rollout replaces
//! them, and a container restart in such a pod never picks up plugins its init containers did
//! not copy. The ConfigMap keeps the keys of the live template's revision beside the new ones.
//!
//! # What the intents contain
//!
//! Only the fields the operator sets (never a whole `k8s-openapi` object: Kubernetes 1.20
//! rejects unknown fields in apply patches): `metadata.name/namespace`, and in
//! `spec.template`: the hash annotation, two init containers per plugin (all copy steps,
//! then all verify steps; each runs the copy program [`COPY_PROGRAM`] of the plugin's own
//! image with its inputs as argv, no shell; each sees only the plugin's own directory of the
//! plugins volume, `subPath: <object name>`, the verify steps read-only), the volumes
//! `fbplugin-plugins` (emptyDir) and `fbplugin-config` (the ConfigMap, with `items`), two
//! volume mounts on the Fluent Bit container, and the plugins' pull secrets. List items are
//! keyed by `name` (containers, initContainers, volumes, imagePullSecrets) or `mountPath`
//! (volumeMounts), so server-side apply merges them with what Helm owns. The selector, images
//! and args are never in an intent. Apply with field manager [`FIELD_MANAGER`].

use std::collections::BTreeMap;

use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;
use serde_json::{Value, json};

use crate::layout::{CONFIG_DIR, COPY_MOUNT, PLUGIN_DIR, plugin_file_path};
use crate::render::Rendered;

/// The names the intents use, re-exported from their home [`crate::layout`].
pub use crate::layout::{
    CONFIG_VOLUME, COPY_PROGRAM, DAEMONSET_LABEL, FIELD_MANAGER, HASH_ANNOTATION, INIT_PREFIX,
    MANAGED_BY_LABEL, PLUGINS_VOLUME, VERIFY_HASH_LEN, VERIFY_INIT_PREFIX, configmap_name,
    init_container_name, verify_container_name,
};

/// Whether a ConfigMap (its metadata) is the one the operator created for `daemonset`: it
/// carries both of the operator's labels. Anything else named `<daemonset>-fbplugin` is
/// somebody else's and is neither adopted nor deleted.
pub fn is_own_configmap(
    metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    daemonset: &str,
) -> bool {
    let labels = metadata.labels.as_ref();
    let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
    label(MANAGED_BY_LABEL) == Some(FIELD_MANAGER) && label(DAEMONSET_LABEL) == Some(daemonset)
}

/// Whether the DaemonSet's pod template carries the plugin's init container (the plugin is in
/// it, whether or not it targets that DaemonSet today).
pub fn carries(ds: &DaemonSet, plugin: &FluentBitPlugin) -> bool {
    let name = init_container_name(plugin);
    ds.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.init_containers.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.name == name))
}

/// The DaemonSet a ConfigMap belongs to (for its ownerReference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// DaemonSet name.
    pub name: String,
    /// DaemonSet uid.
    pub uid: String,
}

/// The ConfigMap intent: the rendered files under their revision keys ([`Rendered::key`]),
/// plus `retained` (keys of the live pod template's revision, see [`template_keys`]). `owner`
/// (the DaemonSet, with its uid) makes Kubernetes delete the ConfigMap with the DaemonSet;
/// `None` only for offline rendering.
pub fn configmap_intent(
    daemonset: &str,
    namespace: &str,
    owner: Option<&Owner>,
    rendered: &Rendered,
    retained: &BTreeMap<String, String>,
) -> Value {
    let mut metadata = json!({
        "name": configmap_name(daemonset),
        "namespace": namespace,
        "labels": {
            MANAGED_BY_LABEL: FIELD_MANAGER,
            DAEMONSET_LABEL: daemonset,
        },
        "annotations": { HASH_ANNOTATION: rendered.hash },
    });
    if let Some(owner) = owner {
        metadata["ownerReferences"] = json!([{
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "name": owner.name,
            "uid": owner.uid,
        }]);
    }
    let mut data = serde_json::Map::new();
    for (key, value) in retained {
        data.insert(key.clone(), json!(value));
    }
    for (file, content) in rendered.files() {
        data.insert(rendered.key(file), json!(content));
    }
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": data,
    })
}

/// The ConfigMap keys the DaemonSet's live pod template reads (its `fbplugin-config` volume's
/// `items`): the files its pods run, to keep while a new revision rolls out.
pub fn template_keys(ds: &DaemonSet) -> Vec<String> {
    let pod = ds.spec.as_ref().and_then(|s| s.template.spec.as_ref());
    pod.and_then(|p| p.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter(|v| v.name == CONFIG_VOLUME)
        .filter_map(|v| v.config_map.as_ref()?.items.as_ref())
        .flatten()
        .map(|item| item.key.clone())
        .collect()
}

/// The intent that releases every field the operator owns on the DaemonSet.
pub fn empty_daemonset_intent(daemonset: &str, namespace: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": { "name": daemonset, "namespace": namespace },
    })
}

/// The DaemonSet intent for the included plugins (init containers in (namespace, name)
/// order, none when there is no plugin), the Fluent Bit `container`, and the rendered files:
/// the ConfigMap mounted as a directory at [`CONFIG_DIR`] with this revision's keys.
pub fn daemonset_intent(
    daemonset: &str,
    namespace: &str,
    container: &str,
    plugins: &[&FluentBitPlugin],
    rendered: &Rendered,
) -> Value {
    let hash = rendered.hash.as_str();
    let mut plugins = plugins.to_vec();
    plugins.sort_by_key(|p| (p.metadata.namespace.clone(), p.metadata.name.clone()));
    // Every copy step first, then every verify step: the verify steps see the files as Fluent
    // Bit will, after the last copy.
    let init_containers: Vec<Value> = plugins
        .iter()
        .map(|p| init_container(p))
        .chain(plugins.iter().map(|p| verify_container(p, hash)))
        .collect();
    let mut secrets: Vec<&str> = plugins
        .iter()
        .flat_map(|p| {
            p.spec
                .artifact
                .image_pull_secrets
                .iter()
                .map(|s| s.name.as_str())
        })
        .collect();
    secrets.sort_unstable();
    secrets.dedup();
    let items: Vec<Value> = rendered
        .files()
        .into_iter()
        .map(|(file, _)| json!({ "key": rendered.key(file), "path": file }))
        .collect();
    let mut pod_spec = json!({
        "containers": [{
            "name": container,
            "volumeMounts": [
                { "name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": true },
                { "name": PLUGINS_VOLUME, "mountPath": PLUGIN_DIR, "readOnly": true },
            ],
        }],
        "volumes": [
            {
                "name": CONFIG_VOLUME,
                "configMap": { "name": configmap_name(daemonset), "items": items },
            },
            { "name": PLUGINS_VOLUME, "emptyDir": {} },
        ],
    });
    if !init_containers.is_empty() {
        pod_spec["initContainers"] = json!(init_containers);
    }
    if !secrets.is_empty() {
        pod_spec["imagePullSecrets"] = secrets.iter().map(|s| json!({ "name": s })).collect();
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": { "name": daemonset, "namespace": namespace },
        "spec": {
            "template": {
                "metadata": { "annotations": { HASH_ANNOTATION: hash } },
                "spec": pod_spec,
            },
        },
    })
}

/// The plugin's own directory in the plugins volume (its `subPath`): the object name.
fn plugin_subpath(plugin: &FluentBitPlugin) -> &str {
    plugin.metadata.name.as_deref().unwrap_or_default()
}

/// Where a copy or verify step sees the plugin file: its directory is mounted at
/// [`COPY_MOUNT`].
fn file_in_step(plugin: &FluentBitPlugin) -> String {
    format!(
        "{COPY_MOUNT}/{}",
        fbplugin_crds::rules::file_name(&plugin.spec.artifact.path)
    )
}

/// The copy step: `/fbplugin/copy --from <spec.artifact.path> --into /fbplugin-out --as <file>
/// [--sha256 <hex>]`. `/fbplugin-out` is the plugin's own directory of the plugins volume (a
/// `subPath` mount): the step cannot see, let alone change, another plugin's file.
fn init_container(plugin: &FluentBitPlugin) -> Value {
    let artifact = &plugin.spec.artifact;
    debug_assert!(plugin_file_path(plugin).starts_with(PLUGIN_DIR));
    let mut command = vec![
        COPY_PROGRAM.to_owned(),
        "--from".into(),
        artifact.path.clone(),
        "--into".into(),
        COPY_MOUNT.into(),
        "--as".into(),
        fbplugin_crds::rules::file_name(&artifact.path).to_owned(),
    ];
    if let Some(sha) = &artifact.sha256 {
        command.extend(["--sha256".to_owned(), sha.clone()]);
    }
    step(plugin, init_container_name(plugin), command, false)
}

/// The verify step, after every copy step, on a read-only mount of the plugin's directory:
/// `/fbplugin/copy --check /fbplugin-out/<file> --sha256 <hex>`, or without a spec sha256
/// `--same-as <spec.artifact.path>`: the file must equal the one in the plugin's own image
/// (pinned by digest, read-only), which nothing in the pod can write.
fn verify_container(plugin: &FluentBitPlugin, hash: &str) -> Value {
    let artifact = &plugin.spec.artifact;
    let mut command = vec![
        COPY_PROGRAM.to_owned(),
        "--check".into(),
        file_in_step(plugin),
    ];
    match &artifact.sha256 {
        Some(sha) => command.extend(["--sha256".to_owned(), sha.clone()]),
        None => command.extend(["--same-as".to_owned(), artifact.path.clone()]),
    }
    step(plugin, verify_container_name(plugin, hash), command, true)
}

/// One init container running `command` (the copy program) from the plugin's image, with only
/// the plugin's own directory of the plugins volume mounted (read-only for the verify step).
fn step(plugin: &FluentBitPlugin, name: String, command: Vec<String>, read_only: bool) -> Value {
    let artifact = &plugin.spec.artifact;
    let mut mount = json!({
        "name": PLUGINS_VOLUME,
        "mountPath": COPY_MOUNT,
        "subPath": plugin_subpath(plugin),
    });
    if read_only {
        mount["readOnly"] = json!(true);
    }
    json!({
        "name": name,
        "image": artifact.image,
        "imagePullPolicy": artifact.pull_policy().as_str(),
        "command": command,
        "volumeMounts": [mount],
        // The program's last words become the termination message, so a sha256 mismatch
        // shows up in the pod status (and in the plugin's Degraded condition).
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "readOnlyRootFilesystem": true,
            "allowPrivilegeEscalation": false,
            "capabilities": { "drop": ["ALL"] },
            "seccompProfile": { "type": "RuntimeDefault" },
        },
        "resources": {
            "requests": { "cpu": "10m", "memory": "16Mi" },
            "limits": { "cpu": "100m", "memory": "64Mi" },
        },
    })
}

/// Why the DaemonSet cannot take the plugins.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// No container of that name in the pod template.
    #[error(
        "DaemonSet {daemonset} has no container {container:?} (it has {found:?}): set \
         spec.target.container to the Fluent Bit container"
    )]
    ContainerNotFound {
        /// DaemonSet name.
        daemonset: String,
        /// The container asked for.
        container: String,
        /// The containers present.
        found: Vec<String>,
    },
    /// The main config path is not mounted from a ConfigMap the operator can read.
    #[error(
        "container {container:?} of DaemonSet {daemonset} does not mount {config_path} from a \
         ConfigMap: set spec.target.configPath to the main config file it reads"
    )]
    ConfigNotFound {
        /// DaemonSet name.
        daemonset: String,
        /// The container.
        container: String,
        /// The config path asked for.
        config_path: String,
    },
}

/// Why the operator's directories cannot be mounted into `container`: another mount of it is
/// at [`CONFIG_DIR`] or [`PLUGIN_DIR`] (a duplicate mount path), or above one of them from a
/// ConfigMap, Secret, projected or downward API volume (the runtime cannot create the mount
/// point inside such a read-only volume, and the kubelet rewrites it). `None` when they fit.
pub fn mount_conflict(ds: &DaemonSet, container: &str) -> Option<String> {
    let pod = ds.spec.as_ref()?.template.spec.as_ref()?;
    let c = pod.containers.iter().find(|c| c.name == container)?;
    let volumes = pod.volumes.as_deref().unwrap_or_default();
    for mount in c.volume_mounts.iter().flatten() {
        if mount.name == CONFIG_VOLUME || mount.name == PLUGINS_VOLUME {
            continue;
        }
        let at = mount.mount_path.trim_end_matches('/');
        for dir in [CONFIG_DIR, PLUGIN_DIR] {
            let above = dir
                .strip_prefix(at)
                .is_some_and(|rest| rest.starts_with('/'));
            let volume = volumes.iter().find(|v| v.name == mount.name);
            let atomic = volume.is_some_and(|v| {
                v.config_map.is_some()
                    || v.secret.is_some()
                    || v.projected.is_some()
                    || v.downward_api.is_some()
            });
            if at == dir || (above && atomic) {
                return Some(format!(
                    "container {container:?} mounts volume {:?} at {}, where the operator must \
                     mount its directory {dir}: mount that volume elsewhere (the official chart \
                     mounts its config at /fluent-bit/etc/conf)",
                    mount.name, mount.mount_path
                ));
            }
        }
    }
    None
}

/// Where the DaemonSet's own main config text lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseConfigSource {
    /// ConfigMap name (same namespace).
    pub configmap: String,
    /// Key of the file in the ConfigMap.
    pub key: String,
}

/// The argument of `container` that turns Fluent Bit's hot reload on: `-Y` or
/// `--enable-hot-reload` in its command or args, read the way Fluent Bit 5.1.1's
/// `getopt_long` reads them (see [`hot_reload_arg`]).
pub fn hot_reload_flag<'a>(ds: &'a DaemonSet, container: &str) -> Option<&'a str> {
    let pod = ds.spec.as_ref()?.template.spec.as_ref()?;
    let c = pod.containers.iter().find(|c| c.name == container)?;
    // With a command, its first word is argv[0], which getopt skips; without one the image's
    // entrypoint is argv[0] and every arg is an option candidate.
    let command = c.command.iter().flatten().skip(1);
    hot_reload_arg(command.chain(c.args.iter().flatten()).map(String::as_str))
}

/// Fluent Bit 5.1.1's short options (`src/fluent-bit.c`): a letter followed by `:` takes an
/// argument.
const SHORT_OPTIONS: &str = "b:c:dDf:C:i:m:M:o:R:r:F:p:e:t:T:l:vw:qVhJL:HP:s:SWYZ";

/// Fluent Bit 5.1.1's long options on Linux, and whether each takes an argument.
const LONG_OPTIONS: &[(&str, bool)] = &[
    ("storage_path", true),
    ("config", true),
    ("daemon", false),
    ("dry-run", false),
    ("flush", true),
    ("http", false),
    ("supervisor", false),
    ("log_file", true),
    ("port", true),
    ("custom", true),
    ("input", true),
    ("processor", true),
    ("filter", true),
    ("output", true),
    ("match", true),
    ("parser", true),
    ("prop", true),
    ("plugin", true),
    ("tag", true),
    ("sp-task", true),
    ("version", false),
    ("verbose", false),
    ("workdir", true),
    ("quiet", false),
    ("help", false),
    ("help-json", false),
    ("coro_stack_size", true),
    ("sosreport", false),
    ("http_server", false),
    ("http_listen", true),
    ("http_port", true),
    ("enable-hot-reload", false),
    ("enable-fips", false),
    ("enable-chunk-trace", false),
    ("trace", true),
    ("trace-input", true),
    ("trace-output", true),
    ("trace-output-property", true),
    ("disable-thread-safety-on-hot-reload", false),
];

/// The argument among `args` (argv without `argv[0]`) that turns hot reload on, as glibc's
/// `getopt_long` reads Fluent Bit's options: bundled short options (`-qY`), option arguments
/// (the `-Y` in `-c -Y` is a file name), unambiguous abbreviations (`--enable-hot`), operands
/// anywhere (glibc permutes) and `--` ending the options.
pub fn hot_reload_arg<'a>(args: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            return None;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let name = long.split_once('=').map_or(long, |(n, _)| n);
            let exact = LONG_OPTIONS.iter().find(|(n, _)| *n == name);
            let mut prefixed = LONG_OPTIONS.iter().filter(|(n, _)| n.starts_with(name));
            let option = match (exact, prefixed.next(), prefixed.next()) {
                (Some(o), _, _) => o,
                (None, Some(o), None) => o,
                // Unknown or ambiguous: Fluent Bit stops with a usage error.
                _ => continue,
            };
            match option {
                ("enable-hot-reload", _) => return Some(arg),
                (_, true) if !long.contains('=') => {
                    args.next();
                }
                _ => {}
            }
        } else if let Some(bundle) = arg.strip_prefix('-').filter(|b| !b.is_empty()) {
            for (i, letter) in bundle.char_indices() {
                if letter == 'Y' {
                    return Some(arg);
                }
                let Some(at) = SHORT_OPTIONS.find(letter).filter(|_| letter != ':') else {
                    continue;
                };
                if SHORT_OPTIONS[at + 1..].starts_with(':') {
                    // The rest of the word, or the next word, is this option's argument.
                    if i + letter.len_utf8() == bundle.len() {
                        args.next();
                    }
                    break;
                }
            }
        }
    }
    None
}

/// Finds the ConfigMap key the container reads `config_path` from, ignoring the operator's
/// own mounts. The controller reads that key as the base config.
pub fn base_config_source(
    ds: &DaemonSet,
    container: &str,
    config_path: &str,
) -> Result<BaseConfigSource, TargetError> {
    let daemonset = ds.metadata.name.clone().unwrap_or_default();
    let pod = ds.spec.as_ref().and_then(|s| s.template.spec.as_ref());
    let containers = pod.map(|p| p.containers.as_slice()).unwrap_or_default();
    let Some(c) = containers.iter().find(|c| c.name == container) else {
        return Err(TargetError::ContainerNotFound {
            daemonset,
            container: container.into(),
            found: containers.iter().map(|c| c.name.clone()).collect(),
        });
    };
    let not_found = || TargetError::ConfigNotFound {
        daemonset: daemonset.clone(),
        container: container.into(),
        config_path: config_path.into(),
    };
    let volumes = pod.and_then(|p| p.volumes.as_ref());
    for mount in c.volume_mounts.iter().flatten() {
        if mount.name == CONFIG_VOLUME || mount.name == PLUGINS_VOLUME {
            continue;
        }
        let key = match mount.sub_path.as_deref() {
            Some(sub) if mount.mount_path == config_path => sub.to_string(),
            None => match config_path.strip_prefix(mount.mount_path.trim_end_matches('/')) {
                Some(rest) if rest.starts_with('/') && !rest[1..].contains('/') => {
                    rest[1..].to_string()
                }
                _ => continue,
            },
            Some(_) => continue,
        };
        let volume = volumes.and_then(|v| v.iter().find(|v| v.name == mount.name));
        let Some(cm) = volume.and_then(|v| v.config_map.as_ref()) else {
            return Err(not_found());
        };
        // A projected `items` list may rename the key.
        let key = cm
            .items
            .iter()
            .flatten()
            .find(|item| item.path == key)
            .map(|item| item.key.clone())
            .unwrap_or(key);
        return Ok(BaseConfigSource {
            configmap: cm.name.clone(),
            key,
        });
    }
    Err(not_found())
}

#[cfg(test)]
mod tests {
    use super::hot_reload_arg;

    #[test]
    fn hot_reload_is_found_the_way_getopt_long_reads_fluent_bits_flags() {
        let rows: &[(&[&str], Option<&str>)] = &[
            (&["-c", "/fluent-bit/etc/fluent-bit.conf"], None),
            (&["-Y"], Some("-Y")),
            (&["--enable-hot-reload"], Some("--enable-hot-reload")),
            (&["-qY"], Some("-qY")),
            (&["-vqY", "-c", "/f.conf"], Some("-vqY")),
            (&["--enable-hot"], Some("--enable-hot")),
            // `--enable` could be three options: getopt refuses it.
            (&["--enable"], None),
            // The word after an option that takes an argument is that argument.
            (&["-c", "-Y"], None),
            (&["--config", "-Y"], None),
            (&["--config=/f.conf", "-Y"], Some("-Y")),
            // An attached argument ends the bundle: `-cY` reads the config file `Y`.
            (&["-cY"], None),
            (&["-qc", "-Y"], None),
            // glibc permutes operands, so options after one still count; `--` ends them.
            (&["operand", "-Y"], Some("-Y")),
            (&["--", "-Y"], None),
            (&["-"], None),
            (&["--disable-thread-safety-on-hot-reload"], None),
        ];
        for (args, want) in rows {
            assert_eq!(hot_reload_arg(args.iter().copied()), *want, "args {args:?}");
        }
    }
}
