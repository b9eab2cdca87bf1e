//! The `FluentBitPlugin` API, group `fbplugin.dev`, version `v1alpha1` (short name `fbp`).
//!
//! One `FluentBitPlugin` is one plugin file (a `.so` built with plugin-runtime, or a `.wasm`
//! filter built with plugin-runtime's `export_filter!`) inside an OCI image pinned by digest, how Fluent Bit runs it (one config section per instance), and the
//! Fluent Bit DaemonSet in the same namespace that loads it.
//!
//! ```yaml
//! apiVersion: fbplugin.dev/v1alpha1
//! kind: FluentBitPlugin
//! metadata:
//!   name: out-jsonl
//!   namespace: logging
//! spec:
//!   type: output
//!   pluginName: jsonl_file
//!   artifact:
//!     image: ghcr.io/fbplugin/out-jsonl@sha256:<64 hex>
//!     path: /plugins/libout_jsonl.so
//!     sha256: <64 hex of the .so>           # optional, checked before the copy
//!     imagePullPolicy: IfNotPresent          # optional
//!     imagePullSecrets: [{name: regcred}]    # optional
//!   instances:
//!     - match: "app.*"                       # outputs: match or matchRegex
//!       alias: jsonl_app
//!       workers: 1
//!       retryLimit: no_limits                # or a count >= 1, or no_retries
//!       logLevel: info
//!       properties:                          # ordered, repeated names allowed
//!         - {name: path, value: /var/log/out/app.jsonl}
//!         - {name: format, value: jsonl}
//!   target:
//!     daemonSet: fluent-bit
//!     container: fluent-bit                  # default
//!     configPath: /fluent-bit/etc/conf/fluent-bit.conf   # default
//! ```
//!
//! Which fields apply to which type ([`rules::FIELDS_BY_TYPE`], the table the CEL rules and the
//! operator's validation are built from; fields not listed apply to every type, `no`: refused):
//!
//! | field | input | output | custom | filter |
//! |---|---|---|---|---|
//! | `pluginName` | required | required | required | no |
//! | `wasm` | no | no | no | required |
//! | `artifact.path` ends in `.wasm` | no | no | no | required |
//! | `instances[].tag` | allowed | no | no | no |
//! | `instances[].match` / `instances[].matchRegex` (required: one of them) | no | required | no | required |
//! | `instances[].workers` / `instances[].retryLimit` / `instances[].storageTotalLimitSize` | no | allowed | no | no |
//! | `instances[].memBufLimit` / `instances[].storageType` | allowed | no | no | no |
//! | `instances[].properties` | allowed | allowed | allowed | no |
//!
//! So inputs set `tag` instead of `match`; customs set neither, only `alias` and `logLevel`
//! besides their properties. Values may contain `${VAR}` only with `allowEnvExpansion: true` on
//! the instance.
//!
//! A WASM filter (`type: filter`) has no `pluginName` (every section is `Name wasm`), a
//! `.wasm` artifact, instances routed like outputs, and a `wasm` section ([`WasmFilter`]):
//!
//! ```yaml
//! spec:
//!   type: filter
//!   artifact:
//!     image: ghcr.io/fbplugin/filter-redact@sha256:<64 hex>
//!     path: /plugins/filter_redact.wasm      # must end in .wasm (and only filters may)
//!   wasm:
//!     functionName: redact_filter            # the export: a C identifier
//!     eventFormat: json                      # default; or msgpack
//!     maxRecordSize: 65536                   # bytes of the largest record's JSON text (required)
//!     maxTagSize: 256                        # default
//!     stackSize: 65536                       # default
//!   instances:
//!     - match: "app.*"                       # or matchRegex; alias and logLevel allowed
//!   target: {daemonSet: fluent-bit}
//! ```
//!
//! Filters take no `properties`: Fluent Bit's `wasm` filter hands the function only the tag,
//! the time and the record, so a config key could never reach it; settings belong in the
//! module.
//!
//! Validation happens twice: the CRD's OpenAPI bounds and CEL rules ([`cel`]) refuse bad objects
//! at `kubectl apply` time on clusters with CEL, and the operator applies the same rules
//! ([`rules`]) on every reconcile, because CEL can be missing (Kubernetes 1.20, or the CRD
//! installed without rules via [`crd_yaml`] with [`Cel::Strip`]). The two agree: the e2e crate
//! sends the operator's validation table and about 9,000 hostile objects to the CRD API server of
//! Kubernetes 1.36 and to the operator, and every verdict must match. The CRD itself is created
//! there from the exact file the chart ships, so it installs on current clusters (the CEL cost
//! estimator is what bounds the lists and strings below).
//!
//! # Limits
//!
//! Lengths count characters, as the API server does.
//!
//! | field | limit | why |
//! |---|---|---|
//! | `metadata.name` | DNS subdomain, 40, no dots, not `verify-...` | the init containers are `fbplugin-<name>` and `fbplugin-verify-<name>-<6 hex>` (63-character labels) |
//! | `spec.pluginName` | 1-63 of `A-Z a-z 0-9 _ -`, not built in | Fluent Bit finds its own plugins first ([`rules::BUILTIN_OUTPUTS`], ...) |
//! | `spec.instances` | 1-16 | CEL cost |
//! | `instances[].properties` | 32; name 1-128, value 1-4096 | CEL cost: 64 properties of 4096 characters exceed a 1.36 server's per-rule budget |
//! | `tag`, `match`, `matchRegex` | 1-256 | CEL cost |
//! | `workers` | 0-64 | |
//! | `retryLimit` | 1-999999999 or a keyword, at most 16 characters | read with `atoi`; an unbounded int-or-string exceeds the CEL budget |
//! | sizes | [`rules::SIZE_PATTERN`] | larger values make `flb_utils_size_to_bytes` fail and Fluent Bit refuse to start |
//! | `artifact.image` | 512, [`rules::IMAGE_PATTERN`] | an OCI reference pinned by digest |
//! | `artifact.path`, `target.configPath` | 2-1024 | |
//! | `artifact.imagePullSecrets` | 8, DNS subdomains | |
//! | `target.daemonSet` | DNS subdomain, 244 | the ConfigMap is `<name>-fbplugin` (253) |
//! | `target.container` | DNS label | |
//!
//! Optional fields are not `nullable` (see [`crd`]), and YAML 1.1 booleans such as the
//! `logLevel` value `off` are quoted in the generated YAML (see [`crd_yaml`]).
//!
//! Status conditions and their reasons are documented in [`status`].
//!
//! Kinds are added as a new [`PluginType`] value plus an optional, type-specific spec section
//! (as `filter` added `wasm`); existing objects stay valid and older operators report the
//! unknown kind as invalid instead of failing to decode it.

pub mod cel;
pub mod layout;
pub mod rules;
mod spec;
pub mod status;
mod wasm;

pub use spec::{
    Artifact, DEFAULT_CONFIG_PATH, DEFAULT_CONTAINER, FluentBitPlugin, FluentBitPluginSpec,
    Instance, LogLevel, PluginType, Property, PullPolicy, RetryLimit, RollbackPolicy,
    SecretReference, StorageType, Target,
};
pub use status::{Condition, ConditionUpdate, FluentBitPluginStatus, RolloutCounts, StatusProblem};
pub use wasm::{EventFormat, WasmFilter};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray,
};
use kube::CustomResourceExt;

/// File name of the generated CRD, committed in `crds/`.
pub const CRD_FILE_NAME: &str = "fluentbitplugins.fbplugin.dev.yaml";

/// Whether the generated CRD keeps its CEL rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cel {
    /// Keep `x-kubernetes-validations` (Kubernetes 1.25+).
    Keep,
    /// Remove them, for clusters without CEL (Kubernetes 1.20-1.24); the operator still
    /// validates every object.
    Strip,
}

/// The CustomResourceDefinition, with CEL rules.
///
/// Optional fields are not marked `nullable`: the operator never writes `null`, a server prunes
/// a `null` sent for a non-nullable field, and the OpenAPI v2 a cluster publishes drops the type
/// of every nullable field (`kubectl explain` then shows `<>`).
pub fn crd() -> CustomResourceDefinition {
    let mut crd = FluentBitPlugin::crd();
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            drop_nullable(schema);
        }
    }
    crd
}

fn drop_nullable(schema: &mut JSONSchemaProps) {
    schema.nullable = None;
    for child in schema.properties.iter_mut().flat_map(|p| p.values_mut()) {
        drop_nullable(child);
    }
    match schema.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(item)) => drop_nullable(item),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => items.iter_mut().for_each(drop_nullable),
        None => {}
    }
}

/// The CRD as YAML, with a header saying how it was made.
///
/// kubectl and Helm read manifests with YAML 1.1 rules, where an unquoted `off`, `on`, `yes`,
/// `no`, `y` or `n` is a boolean: such strings are written quoted (`- 'off'` in the `logLevel`
/// enum), so the server receives the strings the types declare.
pub fn crd_yaml(cel: Cel) -> Result<String, serde_norway::Error> {
    let mut value =
        serde_json::to_value(crd()).map_err(<serde_norway::Error as serde::ser::Error>::custom)?;
    if cel == Cel::Strip {
        strip_cel(&mut value);
    }
    let body = quote_yaml11_scalars(&serde_norway::to_string(&value)?);
    Ok(format!(
        "# Generated from the fbplugin-crds types by `cargo run -p fbplugin-crds --bin crdgen`.\n\
         # Do not edit by hand.\n{body}"
    ))
}

/// Quotes plain scalars that YAML 1.1 (the YAML of kubectl and Helm) would read as booleans,
/// in block sequences (`- off`) and mappings (`key: off`). serde_norway writes YAML 1.2, where
/// they are strings, and quotes only what YAML 1.2 would misread.
fn quote_yaml11_scalars(yaml: &str) -> String {
    const YAML11_BOOLS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF",
    ];
    let mut out = String::with_capacity(yaml.len() + 16);
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let rest = &line[indent..];
        let (prefix, scalar) = match rest.strip_prefix("- ") {
            Some(item) => ("- ".to_string(), item),
            None => match rest.split_once(": ") {
                Some((key, v)) if !key.contains(' ') => (format!("{key}: "), v),
                _ => (String::new(), ""),
            },
        };
        if YAML11_BOOLS.contains(&scalar) {
            out.push_str(&line[..indent]);
            out.push_str(&prefix);
            out.push('\'');
            out.push_str(scalar);
            out.push('\'');
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Removes every `x-kubernetes-validations` entry from a schema, recursively.
pub fn strip_cel(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("x-kubernetes-validations");
            map.values_mut().for_each(strip_cel);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_cel),
        _ => {}
    }
}
