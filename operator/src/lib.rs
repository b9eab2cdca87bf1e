//! The fbplugin operator: turns `FluentBitPlugin` resources (API in [`fbplugin_crds`], with a
//! full example CR there) into config and init containers on Fluent Bit DaemonSets.
//!
//! # Pure modules
//!
//! In the order one reconcile uses them:
//! - [`validate`]: spec → [`validate::Problem`]s (field, stable [`validate::Reason`], advice);
//!   the same rules as the CRD's CEL, checked again because CEL can be missing.
//! - [`render`]: the plugins of one DaemonSet + its own config text → `plugins.conf`,
//!   `fluent-bit.conf`, hash; invalid plugins are left out and reported, the others render.
//! - [`workload`]: included plugins + hash → server-side-apply intents (DaemonSet, ConfigMap)
//!   holding only the fields the operator sets; also finds where the base config lives.
//! - [`rollout`]: DaemonSet status + its pods → Progressing / Ready / Degraded.
//! - [`status`]: all of the above for one plugin → its complete status.
//!
//! [`offline`] chains them for `operator render` (no cluster); the tests render the examples
//! through it.
//!
//! # Reconciling one DaemonSet (for the controller)
//!
//! Reconcile per target DaemonSet (namespace + `spec.target.daemonSet`, see
//! [`render::by_daemonset`]), since every plugin of a DaemonSet shares one ConfigMap and one
//! template:
//!
//! 1. Get the DaemonSet. Missing → [`status::ApplyState::DaemonSetNotFound`] for every plugin;
//!    apply nothing.
//! 2. [`workload::base_config_source`]`(ds, container, configPath)` (from the first plugin's
//!    `spec.target`) → ConfigMap name and key; read that key as `base_config`. An error →
//!    `ApplyState::ContainerNotFound` / `BaseConfigInvalid` with the error's text.
//! 3. [`render::render_daemonset`]`(base_config, &plugins)` → `outcomes[i]` per plugin
//!    (problems, included) and `rendered` (or `None`).
//! 4. If `rendered` is `Some(r)`: apply [`workload::configmap_intent`] (owner = DaemonSet name
//!    and uid), then [`workload::daemonset_intent`]`(ds, ns, &result.included(&plugins),
//!    &r.hash)`, both with field manager [`workload::FIELD_MANAGER`] and `force`.
//!    If `None` (no plugin left, or none valid): apply [`workload::empty_daemonset_intent`]
//!    (gives the DaemonSet back its own config) and delete the ConfigMap
//!    ([`workload::configmap_name`]). Finalizer cleanup of the last plugin is the same path.
//!    An API error → `ApplyState::ApplyFailed(message)`, otherwise `ApplyState::Applied`.
//! 5. List the DaemonSet's pods (its selector); for each plugin
//!    [`rollout::template_check`]`(ds, plugin, hash)` then [`rollout::assess`].
//! 6. [`status::plugin_status`]`(previous, Facts { .. }, now)` builds each plugin's whole
//!    status (conditions keep `lastTransitionTime` while their status holds), so "patch only
//!    when changed" is `new != previous`.
//!
//! # Conditions
//!
//! The full table of condition types and reasons is in [`fbplugin_crds::status`]; the
//! per-field validation reasons are [`validate::Reason`].
//!
//! # How Fluent Bit is pointed at the rendered config
//!
//! See [`workload`]: the rendered `fluent-bit.conf` (the DaemonSet's own config + an appended
//! `[SERVICE] Plugins_File` + the plugin sections) is mounted with `subPath` over the main
//! config path the container already reads (default `/fluent-bit/etc/conf/fluent-bit.conf`,
//! the official Helm chart's), `plugins.conf` under `/fluent-bit/etc/fbplugin/`, the plugin
//! files under `/fluent-bit/plugins/<object name>/`. No command or args change, a DaemonSet
//! without plugins runs its own config, and deleting the last plugin restores it.

pub mod controller;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod offline;
pub mod render;
pub mod rollout;
pub mod status;
pub mod telemetry;
pub mod validate;
pub mod workload;
