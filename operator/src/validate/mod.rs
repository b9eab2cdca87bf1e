//! Spec → problems. Pure: the same rules as the CRD's CEL, plus what CEL cannot see.
//!
//! [`validate`] checks one object; [`conflicts`] checks the plugins of one DaemonSet against
//! each other ([`conflicts`]). Every [`Problem`] names the field, a stable [`Reason`] and what to do.

mod conflicts;
mod filter;
mod instance;

pub use conflicts::conflicts;
pub(crate) use conflicts::object_key;

use fbplugin_crds::rules::{self, Applies, PathError};
use fbplugin_crds::{
    ConditionUpdate, FluentBitPlugin, FluentBitPluginSpec, PluginType, StatusProblem, status,
};

use crate::layout::COPY_MOUNT;

/// Where a problem is, why, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field path, e.g. `spec.instances[0].properties[2].name`.
    pub field: String,
    /// A stable CamelCase reason.
    pub reason: Reason,
    /// What is wrong and what to do, for humans.
    pub message: String,
    /// False for a problem reported for information only (the plugin still renders), e.g. on
    /// the older of two conflicting plugins.
    pub blocking: bool,
}

impl Problem {
    pub(crate) fn new(
        field: impl Into<String>,
        reason: Reason,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            field: field.into(),
            reason,
            message: message.into(),
            blocking: true,
        }
    }

    /// The problem as shown on `status.problems`.
    pub fn to_status(&self) -> StatusProblem {
        StatusProblem {
            field: self.field.clone(),
            reason: self.reason.as_str().to_string(),
            message: self.message.clone(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} ({})",
            self.field,
            self.message,
            self.reason.as_str()
        )
    }
}

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Why a spec is refused. The names are stable: tools may match on them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Reason { $($(#[$doc])* $name,)* }
        impl Reason {
            /// The CamelCase name.
            pub fn as_str(self) -> &'static str {
                match self { $(Reason::$name => stringify!($name),)* }
            }
        }
    };
}

reasons! {
    /// `metadata.name` too long or with dots.
    InvalidName,
    /// `spec.type` is a kind this operator does not know.
    UnsupportedType,
    /// `spec.artifact.image` is not pinned by digest.
    ImageNotPinned,
    /// `spec.artifact.sha256` is not 64 lowercase hex.
    InvalidSha256,
    /// `spec.artifact.path` is not absolute, has unsafe characters or segments.
    InvalidPath,
    /// `spec.artifact.path`'s file name starts with `flb-`.
    NativePluginName,
    /// `spec.pluginName` is not a usable plugin name.
    InvalidPluginName,
    /// No instances, or too many.
    InvalidInstances,
    /// A property key Fluent Bit consumes itself.
    ReservedKey,
    /// A property key that would break the config syntax.
    InvalidKey,
    /// A value that would break the config syntax.
    InvalidValue,
    /// `${` without `allowEnvExpansion`.
    EnvExpansionNotAllowed,
    /// Too many properties.
    TooManyProperties,
    /// `tag` on an output/custom, `match` on an input/custom.
    RoutingNotAllowed,
    /// An output instance without `match` or `matchRegex`.
    MissingMatch,
    /// Both `match` and `matchRegex`.
    ConflictingMatch,
    /// An engine setting that does not apply to this plugin type.
    FieldNotAllowed,
    /// A malformed alias.
    InvalidAlias,
    /// A malformed size (`5M`).
    InvalidSize,
    /// A retry limit below 1 or an unknown keyword.
    InvalidRetryLimit,
    /// `spec.artifact.path` does not fit the type: a filter needs a `.wasm` module, the other
    /// kinds must not name one.
    ArtifactTypeMismatch,
    /// A filter without `spec.wasm`.
    MissingWasm,
    /// `spec.wasm.functionName` is not a C identifier.
    InvalidFunctionName,
    /// `spec.wasm.eventFormat` is not `json` or `msgpack`.
    InvalidEventFormat,
    /// A `spec.wasm` size out of range.
    InvalidWasmSize,
    /// `properties` on a filter, which Fluent Bit never passes to a WASM function.
    PropertiesNotAllowed,
    /// A malformed `spec.target`.
    InvalidTarget,
    /// `spec.pluginName` is the name of one of Fluent Bit's own plugins of that type.
    BuiltinPluginName,
    /// Too many `spec.artifact.imagePullSecrets`, or one that is not a Secret name.
    InvalidPullSecret,
    /// Another plugin on the DaemonSet registers the same name.
    DuplicatePluginName,
    /// Another instance on the DaemonSet uses the same alias.
    DuplicateAlias,
    /// Plugins of one DaemonSet disagree on its container or config path.
    TargetMismatch,
    /// The DaemonSet's own config already sets `Plugins_File`.
    BaseConfigSetsPluginsFile,
    /// The DaemonSet's own config does not include the operator's pipeline file.
    PipelineNotIncluded,
    /// `workers` of a plugin output left out because the DaemonSet's config enables hot reload
    /// (a Fluent Bit 5.1.1 bug; a note, not a refusal).
    WorkersWithHotReload,
    /// The object name starts with the reserved prefix `verify-`.
    ReservedName,
    /// The image's repository is not in the operator's allow-list (the gate's).
    ImageNotAllowed,
    /// The DaemonSet's owner lets plugins use another container or config path.
    TargetNotAllowed,
    /// The DaemonSet's owner did not list this pull secret.
    PullSecretNotAllowed,
}

/// Checks one object (`metadata.name` and the spec).
pub fn validate(plugin: &FluentBitPlugin) -> Vec<Problem> {
    let mut problems = Vec::new();
    let name = plugin.metadata.name.as_deref().unwrap_or_default();
    if !rules::is_dns_subdomain(name) {
        problems.push(Problem::new(
            "metadata.name",
            Reason::InvalidName,
            format!(
                "name {name:?} is not a Kubernetes object name: a lowercase DNS subdomain (a-z, \
                 0-9, -), as the API server requires"
            ),
        ));
    } else if name.len() > rules::MAX_OBJECT_NAME_LEN || name.contains('.') {
        problems.push(Problem::new(
            "metadata.name",
            Reason::InvalidName,
            format!(
                "name {name:?} must be 1-{} characters without dots: the plugin's init \
                 containers are fbplugin-<name> and fbplugin-verify-<name>-<hash> (63 at most); \
                 recreate the object with a shorter name",
                rules::MAX_OBJECT_NAME_LEN
            ),
        ));
    } else if name.starts_with(rules::RESERVED_NAME_PREFIX) {
        problems.push(Problem::new(
            "metadata.name",
            Reason::ReservedName,
            format!(
                "names starting with {:?} are reserved (the verify step of a plugin x is the \
                 init container fbplugin-verify-x-<hash>): recreate the object under another name",
                rules::RESERVED_NAME_PREFIX
            ),
        ));
    }
    problems.extend(validate_spec(&plugin.spec));
    problems
}

/// Checks a spec on its own.
pub fn validate_spec(spec: &FluentBitPluginSpec) -> Vec<Problem> {
    let mut out = Vec::new();
    if spec.plugin_type == PluginType::Unsupported {
        out.push(Problem::new(
            "spec.type",
            Reason::UnsupportedType,
            "this operator version supports type input, output, custom or filter; upgrade the \
             operator or change spec.type",
        ));
    }
    check_artifact(spec, &mut out);
    filter::check(spec, &mut out);
    if rules::type_field("pluginName").applies(spec.plugin_type) == Applies::Refused {
        if spec.plugin_name.is_some() {
            out.push(Problem::new(
                "spec.pluginName",
                Reason::FieldNotAllowed,
                "a filter's sections are always `Name wasm` (Fluent Bit's WASM filter); \
                 pluginName does not apply: remove it and name the exported function in \
                 spec.wasm.functionName",
            ));
        }
    } else if !rules::is_plugin_name(spec.plugin_name()) {
        out.push(Problem::new(
            "spec.pluginName",
            Reason::InvalidPluginName,
            format!(
                "pluginName {:?} must be the name the plugin registers: 1-63 of A-Z a-z 0-9 _ -, \
                 starting with a letter or digit",
                spec.plugin_name()
            ),
        ));
    } else if rules::is_builtin_name(spec.plugin_type, spec.plugin_name()) {
        out.push(Problem::new(
            "spec.pluginName",
            Reason::BuiltinPluginName,
            format!(
                "pluginName {:?} is the name of Fluent Bit's own {} plugin: Fluent Bit finds its \
                 built-in first (names compare case-insensitively), so this plugin would never \
                 run; register the plugin under another name",
                spec.plugin_name(),
                spec.plugin_type.as_str()
            ),
        ));
    }
    if spec.instances.is_empty() || spec.instances.len() > rules::MAX_INSTANCES {
        out.push(Problem::new(
            "spec.instances",
            Reason::InvalidInstances,
            format!(
                "declare 1 to {} instances (one config section each); found {}",
                rules::MAX_INSTANCES,
                spec.instances.len()
            ),
        ));
    }
    for (i, instance) in spec.instances.iter().enumerate() {
        instance::check(spec.plugin_type, i, instance, &mut out);
    }
    check_target(spec, &mut out);
    out
}

fn check_artifact(spec: &FluentBitPluginSpec, out: &mut Vec<Problem>) {
    let artifact = &spec.artifact;
    if !rules::is_digest_reference(&artifact.image) {
        out.push(Problem::new(
            "spec.artifact.image",
            Reason::ImageNotPinned,
            format!(
                "image {:?} must be an image reference of at most {} characters pinned by digest \
                 ([registry[:port]/]path[:tag]@sha256:<64 lowercase hex>, lowercase path \
                 components) so every node runs the same file; find the digest with `crane \
                 digest <image>` or `docker buildx imagetools inspect <image>`",
                artifact.image,
                rules::MAX_IMAGE_LEN
            ),
        ));
    }
    if artifact.image_pull_secrets.len() > rules::MAX_PULL_SECRETS {
        out.push(Problem::new(
            "spec.artifact.imagePullSecrets",
            Reason::InvalidPullSecret,
            format!(
                "at most {} pull secrets; found {}",
                rules::MAX_PULL_SECRETS,
                artifact.image_pull_secrets.len()
            ),
        ));
    }
    for (i, secret) in artifact.image_pull_secrets.iter().enumerate() {
        if !rules::is_dns_subdomain(&secret.name) {
            out.push(Problem::new(
                format!("spec.artifact.imagePullSecrets[{i}].name"),
                Reason::InvalidPullSecret,
                format!(
                    "{:?} is not a Secret name (a lowercase DNS subdomain of at most 253 \
                     characters)",
                    secret.name
                ),
            ));
        }
    }
    if let Some(sha) = &artifact.sha256
        && !rules::is_sha256_hex(sha)
    {
        out.push(Problem::new(
            "spec.artifact.sha256",
            Reason::InvalidSha256,
            "sha256 must be 64 lowercase hexadecimal characters, as printed by `sha256sum <file>`",
        ));
    }
    let field = "spec.artifact.path";
    let path = &artifact.path;
    match rules::path_error(path) {
        Some(PathError::NativePrefix) => out.push(Problem::new(
            field,
            Reason::NativePluginName,
            format!(
                "file name {:?} starts with `flb-`, so Fluent Bit would load it with its native C \
                 loader instead of the proxy; rename the file in the image",
                rules::file_name(path)
            ),
        )),
        Some(err) => {
            let why = match err {
                PathError::NotAbsolute => "must be absolute (start with /)",
                PathError::UnsafeCharacters => "may only contain A-Z a-z 0-9 . _ - /",
                _ => "must not have empty, `.` or `..` segments or a trailing /",
            };
            out.push(Problem::new(
                field,
                Reason::InvalidPath,
                format!("path {path:?} {why}"),
            ));
        }
        None if path == COPY_MOUNT || path.starts_with(&format!("{COPY_MOUNT}/")) => {
            out.push(Problem::new(
                field,
                Reason::InvalidPath,
                format!(
                    "path {path:?} is under {COPY_MOUNT}, where the init container mounts the \
                     shared volume (hiding the image's file); move the file in the image"
                ),
            ))
        }
        None => {}
    }
}

fn check_target(spec: &FluentBitPluginSpec, out: &mut Vec<Problem>) {
    let target = &spec.target;
    if !rules::is_dns_subdomain(&target.daemon_set) {
        out.push(Problem::new(
            "spec.target.daemonSet",
            Reason::InvalidTarget,
            format!(
                "{:?} is not a DaemonSet name (lowercase DNS subdomain)",
                target.daemon_set
            ),
        ));
    } else if target.daemon_set.len() > rules::MAX_DAEMONSET_NAME_LEN {
        out.push(Problem::new(
            "spec.target.daemonSet",
            Reason::InvalidTarget,
            format!(
                "the DaemonSet name is too long for the operator's ConfigMap <name>-fbplugin (253 \
                 characters at most, so {} for the DaemonSet): rename the DaemonSet",
                rules::MAX_DAEMONSET_NAME_LEN
            ),
        ));
    }
    if !rules::is_dns_label(target.container_name()) {
        out.push(Problem::new(
            "spec.target.container",
            Reason::InvalidTarget,
            format!(
                "{:?} is not a container name (lowercase DNS label)",
                target.container_name()
            ),
        ));
    }
    let path = target.config_path();
    if rules::path_error(path).is_some_and(|e| e != PathError::NativePrefix) {
        out.push(Problem::new(
            "spec.target.configPath",
            Reason::InvalidTarget,
            format!("configPath {path:?} must be an absolute path of A-Z a-z 0-9 . _ - /"),
        ));
    } else if path.starts_with(crate::layout::CONFIG_DIR)
        || path.starts_with(crate::layout::PLUGIN_DIR)
    {
        out.push(Problem::new(
            "spec.target.configPath",
            Reason::InvalidTarget,
            format!("configPath {path:?} is inside a directory the operator mounts; use the main config's own path"),
        ));
    }
}

/// The `Accepted` condition for a plugin's problems.
pub fn accepted_condition(problems: &[Problem]) -> ConditionUpdate {
    let blocking: Vec<&Problem> = problems.iter().filter(|p| p.blocking).collect();
    let conflict = blocking.iter().all(|p| is_conflict(p.reason));
    let not_allowed = blocking.iter().all(|p| is_gate_reason(p.reason));
    match blocking.first() {
        None => ConditionUpdate {
            type_: status::condition::ACCEPTED,
            status: true,
            reason: status::reason::VALID,
            message: match problems.first() {
                None => "the spec is valid".into(),
                Some(p) => format!("the spec is valid; note: {p}"),
            },
        },
        Some(first) => ConditionUpdate {
            type_: status::condition::ACCEPTED,
            status: false,
            reason: if conflict {
                status::reason::CONFLICT
            } else if not_allowed {
                status::reason::NOT_ALLOWED
            } else {
                status::reason::INVALID
            },
            message: if blocking.len() == 1 {
                first.to_string()
            } else {
                format!(
                    "{first} (and {} more in status.problems)",
                    blocking.len() - 1
                )
            },
        },
    }
}

fn is_conflict(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::DuplicatePluginName | Reason::DuplicateAlias | Reason::TargetMismatch
    )
}

/// Whether a problem is the gate's (the spec is valid but not allowed here): the reasons the
/// gate gives.
pub fn is_gate_reason(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::ReservedName
            | Reason::ImageNotAllowed
            | Reason::TargetNotAllowed
            | Reason::PullSecretNotAllowed
    )
}

/// The types that may set a row's fields, for messages: `outputs`, `outputs and filters`.
fn types_setting(row: &rules::TypeField) -> String {
    let types: Vec<String> = row
        .accepting_types()
        .iter()
        .map(|t| format!("{}s", t.as_str()))
        .collect();
    match types.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => types.concat(),
    }
}
