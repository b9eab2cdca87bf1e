//! `FluentBitPlugin.spec`: what to load, how to run it, and where.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::FluentBitPluginStatus;
use crate::wasm::WasmFilter;

/// A Fluent Bit plugin shipped as a file inside an OCI image, loaded into the Fluent Bit
/// DaemonSet named in `target`, and run as one config section per instance.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "fbplugin.dev",
    version = "v1alpha1",
    kind = "FluentBitPlugin",
    plural = "fluentbitplugins",
    shortname = "fbp",
    category = "fbplugin",
    namespaced,
    status = "FluentBitPluginStatus",
    validation = crate::cel::object_name(),
    doc = "A Fluent Bit plugin (a file in an OCI image) loaded into a Fluent Bit DaemonSet of the same namespace.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "DaemonSet", type_ = "string", json_path = ".spec.target.daemonSet"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Rollout", type_ = "string", json_path = ".status.progress", description = "pods updated / pods desired"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(validation = crate::cel::spec_output_needs_match())]
#[x_kube(validation = crate::cel::spec_tag_only_on_inputs())]
#[x_kube(validation = crate::cel::spec_match_only_on_outputs())]
#[x_kube(validation = crate::cel::spec_output_only_fields())]
#[x_kube(validation = crate::cel::spec_input_only_fields())]
#[x_kube(validation = crate::cel::spec_plugin_name_by_type())]
#[x_kube(validation = crate::cel::spec_filter_needs_wasm())]
#[x_kube(validation = crate::cel::spec_wasm_only_on_filters())]
#[x_kube(validation = crate::cel::spec_artifact_suffix_by_type())]
#[x_kube(validation = crate::cel::spec_filter_no_properties())]
#[x_kube(validation = crate::cel::spec_input_keys_not_reserved())]
#[x_kube(validation = crate::cel::spec_output_keys_not_reserved())]
#[x_kube(validation = crate::cel::spec_plugin_name_not_builtin())]
#[serde(rename_all = "camelCase")]
pub struct FluentBitPluginSpec {
    /// The kind of plugin: `input`, `output` or `custom` (a shared object built with
    /// plugin-runtime, loaded through Fluent Bit's proxy), or `filter` (a `.wasm` module run by
    /// Fluent Bit's `wasm` filter, configured in `wasm`). Decides the section written
    /// (`[INPUT]`, `[OUTPUT]`, `[CUSTOM]`, `[FILTER]`) and which instance fields apply.
    #[serde(rename = "type")]
    pub plugin_type: PluginType,

    /// Where the plugin file comes from.
    pub artifact: Artifact,

    /// The name the plugin registers with Fluent Bit: the value written after `Name` in each
    /// section. 1-63 characters of A-Z a-z 0-9 _ -, starting with a letter or digit, and not
    /// the name of one of Fluent Bit's own plugins of this type (Fluent Bit would run its
    /// built-in instead). Required for input, output and custom; not set for a filter, whose
    /// sections are always `Name wasm` (the module's export is `wasm.functionName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::rules::PLUGIN_NAME_PATTERN))]
    pub plugin_name: Option<String>,

    /// Filters only (and required for them): how Fluent Bit's `wasm` filter runs the module.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm: Option<WasmFilter>,

    /// One config section per instance, rendered in this order. 1 to 16.
    #[schemars(length(min = 1, max = crate::rules::MAX_INSTANCES))]
    pub instances: Vec<Instance>,

    /// The Fluent Bit DaemonSet (in this namespace) that loads the plugin.
    pub target: Target,

    /// What the operator does when a change of this plugin makes the DaemonSet's new pods
    /// fail in a way that will not heal (CrashLoopBackOff, a failed init container, an image
    /// that cannot be pulled): `Automatic` (the default) goes back to the last state that was
    /// Ready on every node and holds this generation back until the spec changes; `Never`
    /// only reports it (Degraded). The DaemonSet's owner can turn it off for every plugin with
    /// the annotation `fbplugin.dev/rollback: Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackPolicy>,
}

/// Whether a rollout this plugin broke is rolled back.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RollbackPolicy {
    /// Roll back to the last known good state and hold this generation back.
    #[default]
    Automatic,
    /// Report only.
    Never,
}

/// The kind of plugin. New kinds (such as a WASM `filter`) are added as new values with their
/// own optional spec section, so existing objects stay valid.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum PluginType {
    /// Produces records: rendered as `[INPUT]`, routed by `tag`.
    Input,
    /// Consumes records: rendered as `[OUTPUT]`, routed by `match` or `matchRegex`.
    Output,
    /// Runs beside the pipeline without records: rendered as `[CUSTOM]`.
    Custom,
    /// Keeps, modifies or drops records between inputs and outputs: a `.wasm` module (built
    /// with plugin-runtime's `export_filter!`) rendered as `[FILTER]` with `Name wasm`, routed
    /// by `match` or `matchRegex`, configured by `spec.wasm`.
    Filter,
    /// A kind this operator version does not know (written by a newer API version). Refused by
    /// validation instead of failing to decode the whole object.
    #[serde(other)]
    #[schemars(skip)]
    Unsupported,
}

impl PluginType {
    /// The value as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginType::Input => "input",
            PluginType::Output => "output",
            PluginType::Custom => "custom",
            PluginType::Filter => "filter",
            PluginType::Unsupported => "unsupported",
        }
    }
}

/// The plugin file inside an OCI image. The image is run as two init containers, as user
/// 65532 with no shell: `/fbplugin/copy --from <path> ...` checks and copies the file, then
/// `/fbplugin/copy --check ...` re-checks the copy. So the image must carry the project's copy
/// program at `/fbplugin/copy` (what `fbplugin-image build` and the examples' Dockerfiles put
/// there; nothing else, no shell, is needed) and the file must be readable by any user.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// The image, pinned by digest: `registry/repository@sha256:<64 lowercase hex>`
    /// (`repository:tag@sha256:...` is accepted; the digest wins). A tag alone is refused.
    /// Path components are lowercase, as in any OCI image reference. At most 512 characters.
    #[schemars(length(max = crate::rules::MAX_IMAGE_LEN))]
    #[x_kube(validation = crate::cel::image_digest())]
    pub image: String,

    /// Absolute path of the plugin file inside the image, e.g. `/plugins/libout_jsonl.so`, or
    /// the `.wasm` module of a filter (only filters may name a `.wasm`). Only A-Z a-z 0-9 . _ -
    /// /, at most 1024 characters; the file name must not start with `flb-`, and the path must
    /// not be under `/fbplugin-out` (where the init container mounts the plugin volume).
    #[schemars(length(min = 2, max = crate::rules::MAX_PATH_LEN))]
    #[x_kube(validation = crate::cel::path_safe())]
    #[x_kube(validation = crate::cel::path_not_native())]
    #[x_kube(validation = crate::cel::path_not_copy_mount())]
    pub path: String,

    /// Optional sha256 of the file (64 lowercase hex, as printed by `sha256sum`). When set, the
    /// init container refuses to copy a file with another digest and the pod does not start;
    /// without it the verify step only checks that the copy equals the file in the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = crate::cel::sha256_hex())]
    pub sha256: Option<String>,

    /// Pull policy of the init container. Default `IfNotPresent` (the image is pinned by
    /// digest, so a cached copy is the same image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,

    /// Secrets (in this namespace) for pulling the image; added to the DaemonSet's pod
    /// template next to any it already has. At most 8. Only Secrets the DaemonSet's owner
    /// lists in its `fbplugin.dev/pull-secrets` annotation are accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = crate::rules::MAX_PULL_SECRETS))]
    pub image_pull_secrets: Vec<SecretReference>,
}

/// When the kubelet pulls the image.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull on every pod start.
    Always,
    /// Pull only when the node does not have the image.
    #[default]
    IfNotPresent,
    /// Never pull; the image must be on the node.
    Never,
}

impl PullPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// A Secret in the plugin's namespace.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
pub struct SecretReference {
    /// Name of the Secret (a DNS subdomain of at most 253 characters).
    #[schemars(length(min = 1, max = 253), regex(pattern = crate::rules::DNS_SUBDOMAIN_PATTERN))]
    pub name: String,
}

/// One config section running the plugin.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = crate::cel::instance_env_expansion())]
#[x_kube(validation = crate::cel::instance_one_match())]
pub struct Instance {
    /// Inputs only: the tag given to the records this instance produces (`Tag`). 1-256
    /// characters on one line, without surrounding whitespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = crate::rules::MAX_ROUTE_LEN))]
    #[x_kube(validation = crate::cel::value_one_line("self"))]
    #[x_kube(validation = crate::cel::value_trimmed("self"))]
    pub tag: Option<String>,

    /// Outputs and filters: the tag pattern (with `*` wildcards) this instance receives
    /// (`Match`). 1-256 characters on one line.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = crate::rules::MAX_ROUTE_LEN))]
    #[x_kube(validation = crate::cel::value_one_line("self"))]
    #[x_kube(validation = crate::cel::value_trimmed("self"))]
    pub match_: Option<String>,

    /// Outputs and filters: a regular expression over tags (`Match_Regex`); exclusive with
    /// `match`. 1-256 characters on one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = crate::rules::MAX_ROUTE_LEN))]
    #[x_kube(validation = crate::cel::value_one_line("self"))]
    #[x_kube(validation = crate::cel::value_trimmed("self"))]
    pub match_regex: Option<String>,

    /// A stable instance name for metrics and logs (`Alias`); 1-63 of A-Z a-z 0-9 _ . -,
    /// unique among all plugins of the DaemonSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"))]
    pub alias: Option<String>,

    /// Outputs only: worker threads flushing this instance (`Workers`), 0 to 64. The plugin's
    /// flush callback must be safe to run concurrently when this is above 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = crate::rules::MAX_WORKERS))]
    pub workers: Option<u32>,

    /// Outputs only: how often a failed flush is retried (`Retry_Limit`): a count from 1 to
    /// 999999999, `no_limits` (retry forever) or `no_retries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = crate::cel::retry_limit())]
    pub retry_limit: Option<RetryLimit>,

    /// Inputs only: where chunks are buffered (`storage.type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<StorageType>,

    /// Outputs only: cap on the filesystem chunks queued for this output
    /// (`storage.total_limit_size`), e.g. `500M`. A number with an optional fraction and an
    /// optional K, M or G suffix (optionally followed by B), within what Fluent Bit parses: at
    /// most 18 whole digits bare, 15 with K, 12 with M, 9 with G.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = crate::rules::MAX_SIZE_LEN), regex(pattern = crate::rules::SIZE_PATTERN))]
    pub storage_total_limit_size: Option<String>,

    /// Inputs only: pause the input when its memory buffer exceeds this (`Mem_Buf_Limit`),
    /// e.g. `5M`. The same form and bounds as `storageTotalLimitSize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = crate::rules::MAX_SIZE_LEN), regex(pattern = crate::rules::SIZE_PATTERN))]
    pub mem_buf_limit: Option<String>,

    /// Log level of this instance (`Log_Level`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,

    /// The plugin's own settings, written in this order as `name value` lines; at most 32.
    /// Repeated names are allowed (some plugins read a key several times). Keys Fluent Bit
    /// consumes itself for this type of plugin are refused (for every type: alias, log_level,
    /// name, net.*; for inputs also tag, mem_buf_limit, host, port, tls*, ...; for outputs
    /// also match, workers, retry_limit, host, port, tls*, ...): use the typed fields above,
    /// or a different key in the plugin. Not for filters: a WASM filter function receives only
    /// the tag, time and record, never config keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = crate::rules::MAX_PROPERTIES))]
    #[x_kube(merge_strategy = ListMerge::Atomic)]
    pub properties: Vec<Property>,

    /// Let values contain `${VAR}` references that Fluent Bit expands from its environment
    /// when it loads the config. Off by default: an unset variable silently becomes empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_env_expansion: bool,
}

/// One `name value` line of a plugin section.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(validation = crate::cel::property_not_reserved())]
#[x_kube(validation = crate::cel::property_key_no_whitespace())]
#[x_kube(validation = crate::cel::property_key_no_marker())]
#[x_kube(validation = crate::cel::value_one_line("self.value"))]
#[x_kube(validation = crate::cel::value_trimmed("self.value"))]
pub struct Property {
    /// The key, as the plugin reads it (matched case-insensitively by Fluent Bit). 1-128
    /// characters, no whitespace; must not start with `[`, `#` or `@`.
    #[schemars(length(min = 1, max = crate::rules::MAX_KEY_LEN))]
    pub name: String,
    /// The value: one line of 1-4096 characters, no leading or trailing whitespace, no `${`
    /// unless the instance sets `allowEnvExpansion`.
    #[schemars(length(min = 1, max = crate::rules::MAX_VALUE_LEN))]
    pub value: String,
}

/// `Retry_Limit`: a count of at least 1, `no_limits` (retry forever) or `no_retries`.
/// Serialized as an int-or-string. Decoding accepts any integer or string so that a bad value
/// is reported on the status (by the operator's validation) instead of failing to decode the
/// whole object on clusters without CEL.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(untagged)]
pub enum RetryLimit {
    /// Retry at most this many times (valid when at least 1).
    Count(i64),
    /// Valid when `no_limits`, `no_retries` or a count written as a string.
    Keyword(String),
}

impl JsonSchema for RetryLimit {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RetryLimit".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "x-kubernetes-int-or-string": true,
            "maxLength": crate::rules::MAX_RETRY_LIMIT_LEN,
        })
    }
}

/// `storage.type` of an input.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    /// Chunks in memory only.
    Memory,
    /// Chunks also written to the filesystem (needs `storage.path` in `[SERVICE]`).
    Filesystem,
    /// Memory ring buffer that drops the oldest chunks when full.
    Memrb,
}

/// `Log_Level` of an instance.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// No logs.
    Off,
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// The default.
    Info,
    /// Verbose.
    Debug,
    /// Very verbose (needs a Fluent Bit built with trace).
    Trace,
}

/// The Fluent Bit DaemonSet that loads the plugin.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Name of the DaemonSet, in the plugin's namespace: a DNS subdomain of at most 244
    /// characters (the operator's ConfigMap is `<daemonSet>-fbplugin`).
    #[schemars(
        length(min = 1, max = crate::rules::MAX_DAEMONSET_NAME_LEN),
        regex(pattern = crate::rules::DNS_SUBDOMAIN_PATTERN)
    )]
    pub daemon_set: String,

    /// The Fluent Bit container in its pod template (a DNS label). Default `fluent-bit`. All
    /// plugins of one DaemonSet must agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::rules::DNS_LABEL_PATTERN))]
    pub container: Option<String>,

    /// The main config file Fluent Bit reads in that container; it must include the
    /// operator's pipeline (`@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf`, in YAML an
    /// `includes:` entry `/fluent-bit/etc/fbplugin/pipeline.yaml`), and the operator reads it
    /// to check that, never writing it. Default `/fluent-bit/etc/conf/fluent-bit.conf` (the
    /// official fluent-bit Helm chart). Ending in `.yaml` or `.yml` (any case), it is read as
    /// Fluent Bit's YAML format and rendered as YAML; any other path as classic. Absolute, of
    /// A-Z a-z 0-9 . _ - /, outside the directories the operator mounts
    /// (`/fluent-bit/etc/fbplugin`, `/fluent-bit/plugins`). All plugins of one DaemonSet must
    /// agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = crate::rules::MAX_PATH_LEN))]
    #[x_kube(validation = crate::cel::config_path())]
    pub config_path: Option<String>,
}

/// Default Fluent Bit container name.
pub const DEFAULT_CONTAINER: &str = "fluent-bit";
/// Default main config path (where the official fluent-bit Helm chart mounts it).
pub const DEFAULT_CONFIG_PATH: &str = "/fluent-bit/etc/conf/fluent-bit.conf";

impl Target {
    /// The container name, defaulted.
    pub fn container_name(&self) -> &str {
        self.container.as_deref().unwrap_or(DEFAULT_CONTAINER)
    }

    /// The main config path, defaulted.
    pub fn config_path(&self) -> &str {
        self.config_path.as_deref().unwrap_or(DEFAULT_CONFIG_PATH)
    }
}

impl FluentBitPluginSpec {
    /// `pluginName`, empty when not set (filters).
    pub fn plugin_name(&self) -> &str {
        self.plugin_name.as_deref().unwrap_or_default()
    }
}

impl Artifact {
    /// The pull policy, defaulted.
    pub fn pull_policy(&self) -> PullPolicy {
        self.image_pull_policy.unwrap_or_default()
    }
}
