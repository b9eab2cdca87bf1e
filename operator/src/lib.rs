//! The fbplugin operator: turns `FluentBitPlugin` resources into config and init containers on
//! Fluent Bit DaemonSets.
//!
//! Pure modules, in the order a reconcile uses them:
//! - [`validate`]: spec → problems (field, reason, message);
//! - [`render`]: the plugins of one DaemonSet → `plugins.conf`, `fluent-bit.conf`, hash;
//! - [`workload`]: plugins + hash → server-side-apply intents for the DaemonSet and ConfigMap;
//! - [`rollout`]: DaemonSet status + pods → Progressing / Ready / Degraded.
//!
//! [`offline`] chains them for `operator render` (no cluster needed).
pub mod offline;
pub mod render;
pub mod rollout;
pub mod validate;
pub mod workload;
