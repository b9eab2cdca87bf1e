//! The fbplugin operator: turns `FluentBitPlugin` resources (API in [`fbplugin_crds`], with a
//! full example CR there) into config and init containers on Fluent Bit DaemonSets.
//!
//! # Pure modules
//!
//! In the order one reconcile uses them:
//! - [`layout`]: the paths and names the others share (mount paths, file names, ConfigMap,
//!   volume and init container names, labels, annotations, field manager).
//! - [`validate`]: spec → [`validate::Problem`]s (field, stable [`validate::Reason`], advice);
//!   the same rules as the CRD's CEL, checked again because CEL can be missing.
//! - [`gate`]: who may put which code where: the DaemonSet owner's opt-in (label
//!   `fbplugin.dev/accept-plugins: "true"`, annotations `fbplugin.dev/container`,
//!   `fbplugin.dev/config-path`, optional `fbplugin.dev/pull-secrets`), the admin's image
//!   repository allow-list (`--allowed-image-repository`; empty refuses every image), reserved
//!   names. A refused plugin is left out like an invalid one (`Accepted=False`, `NotAllowed`).
//! - [`render`]: the plugins of one DaemonSet + its own config text → `plugins.conf`,
//!   `fluent-bit.conf`, hash; invalid plugins are left out and reported, the others render
//!   (WASM filter sections in [`render::filter`]).
//! - [`workload`]: included plugins + hash → server-side-apply intents (DaemonSet, ConfigMap)
//!   holding only the fields the operator sets; also finds where the base config lives.
//! - [`rollout`]: DaemonSet status + its pods → Progressing / Ready / Degraded.
//! - [`status`]: all of the above for one plugin → its complete status.
//!
//! [`offline`] chains them for `operator render` (no cluster); the tests render the examples
//! through it.
//!
//! # Layers
//!
//! The pure modules form layers: each names (in code and in its docs) only modules before it
//! in this order, so none imports another in a circle:
//!
//! [`layout`] → [`validate`] → [`gate`] → [`render`] → [`workload`] → [`drift`] →
//! [`rollout`] → [`rollback`] → [`status`] → [`transitions`] → [`plan`] → [`offline`]
//!
//! `operator/tests/layers.rs` reads this order from here and fails when a module names one
//! after it. A name several layers need (a path, a label) goes into [`layout`]; a rule the
//! lower layer needs moves down (the gate's reasons are [`validate::is_gate_reason`], the YAML
//! nesting bound is [`render::yaml::MAX_DEPTH`]). The I/O shell ([`controller`] and the
//! modules it runs) may use every pure module, but no pure module uses it.
//!
//! # WASM filters
//!
//! A `FluentBitPlugin` of `type: filter` ships a `.wasm` module built with plugin-runtime's
//! `export_filter!` (see [`fbplugin_crds::WasmFilter`] for `spec.wasm`). It goes through the same
//! steps as a `.so` plugin: the same validation and status, the same init containers and copy
//! program (sha256 checked, copied into the shared volume at
//! `/fluent-bit/plugins/<object name>/<file>.wasm`), the same hash-driven rollout. What differs:
//! - **Rendered** ([`render::filter`]): one `[FILTER]` per instance with `Name wasm`, `Match` or
//!   `Match_Regex`, `Alias` and `Log_Level` when set, `WASM_Path` (absolute: Fluent Bit resolves
//!   a relative path against its working directory), `Function_Name`, `Event_Format`,
//!   `WASM_Heap_Size` and `WASM_Stack_Size` (default 65536), sizes as plain bytes (Fluent Bit's
//!   `K`/`M` are decimal). The module is not listed in `plugins.conf` (only `.so` files are
//!   `dlopen`ed), and `Plugins_File` is appended only when a `.so` plugin is included.
//! - **Heap size.** Fluent Bit copies the tag and the record's JSON text into WAMR's app heap
//!   before every call and drops a record that does not fit (8 KiB by default). The operator
//!   writes `max(8192, blk(R) + blk(T) + 1024)` with `blk(n) = max(16, ceil((n + 5) / 8) * 8)`,
//!   R = `maxRecordSize`, T = `maxTagSize` (default 256): the SDK's
//!   `plugin_runtime::filter::heap_size_for`, which a test checks the operator agrees with.
//! - **Order.** Filters run in config order: after the DaemonSet's own filters, then by the
//!   plugins' (namespace, name), each plugin's instances in spec order.
//! - **No `properties`, no `pluginName`.** Fluent Bit's `wasm` filter passes the function only
//!   the tag, the time and the record; a config key could never reach the module, so properties
//!   are refused (reason `PropertiesNotAllowed`) instead of being silently ignored. Every section
//!   is `Name wasm`, so `pluginName` is refused too, and two filters never conflict by name.
//! - **Artifact suffix.** A filter's `artifact.path` must end in `.wasm`, and the other kinds'
//!   must not (`ArtifactTypeMismatch`), so a module is never `dlopen`ed or a `.so` handed to WAMR.
//!
//! These per-type rules (and those of inputs, outputs and customs) are rows of one table,
//! [`fbplugin_crds::rules::FIELDS_BY_TYPE`], which the CRD's CEL rules and [`validate`] both
//! read.
//!
//! # The controller ([`controller`])
//!
//! The only module that talks to the API server. `operator run` starts it ([`controller::run`]).
//!
//! **Two controllers** ([`controller::run`]). The unit of work is a DaemonSet, since all its
//! plugins share one ConfigMap and one pod template:
//!
//! - **DaemonSets** ([`controller::reconcile_daemonset`], keyed by DaemonSet) are triggered by
//!   the DaemonSet, by any plugin that targets it or that its template still carries, and by
//!   ConfigMaps: its own `<ds>-fbplugin`, any ConfigMap of that name, and the ConfigMap it reads
//!   its own config from. The plugins come from a watch's store, not a list per reconcile. A
//!   change of any number of plugins of one DaemonSet is one reconcile of that DaemonSet.
//! - **Plugins** ([`controller::reconcile`], keyed by plugin) are triggered by the plugin and
//!   by the deletion of its DaemonSet. They keep the finalizer `fbplugin.dev/cleanup` (the first
//!   reconcile only adds it), the `DaemonSetNotFound` status, and the release: a deleted
//!   plugin's finalizer goes once no DaemonSet's template carries its init container.
//!
//! A settled DaemonSet is looked at again every 5 minutes, a rolling one every 15 s (pod
//! failures do not always change the DaemonSet's status). Every mapping from a watch event to a
//! key is computed from what the watches hold now.
//!
//! **One reconcile of a DaemonSet** (observe, [`plan::plan`], execute, [`plan::report`]):
//!
//! 1. Take the plugins of its namespace that target it from the store; note whether one being
//!    deleted is still in it. A DaemonSet with none, that never opted in and carries nothing
//!    of the operator's, costs no API call.
//! 2. Get the DaemonSet, the ConfigMap key it reads its own config from
//!    ([`plan::base_config_source`]: the container and config path its owner's annotations
//!    name) and `<ds>-fbplugin`.
//! 3. [`plan::plan`]: [`gate::opt_in`] (without the owner's opt-in → `DaemonSetNotOptedIn`,
//!    nothing is added and what the operator added earlier is removed); a missing container or
//!    config → `ContainerNotFound` / `BaseConfigInvalid`, nothing written (unless a plugin is
//!    being deleted: then the operator's fields come out);
//!    [`render::render_daemonset_admitted`] with [`gate::admit`] (invalid, refused and
//!    conflicting plugins are left out and reported); a `<ds>-fbplugin` ConfigMap without the
//!    operator's labels is somebody else's: `ConfigMapNotOwned`, nothing written, never
//!    deleted.
//! 4. Execute: apply [`workload::configmap_intent`] (owner: the DaemonSet), then
//!    [`workload::daemonset_intent`] (or [`workload::empty_daemonset_intent`], then delete
//!    `<ds>-fbplugin`). Every write is a server-side apply with the one field manager
//!    [`layout::FIELD_MANAGER`] and `force` (the operator is the only writer of these fields;
//!    force takes them back from a `kubectl edit`). A refusal (4xx other than 409/429) becomes
//!    `ApplyFailed` with the server's message and a backoff requeue; 409, 429, 5xx and
//!    transport errors are returned and retried with per-object exponential backoff (1 s
//!    doubling to 5 min).
//! 5. List the DaemonSet's pods by its selector.
//! 6. [`plan::report`]: each plugin's status ([`rollout::template_check`] +
//!    [`rollout::assess`], [`status::plugin_status`]) and the Events of its change. The status
//!    subresource is applied (same field manager, force) only for the plugins whose status
//!    changed; then their Events.
//!
//! So one change costs one ConfigMap apply, one DaemonSet apply and one status patch per
//! plugin whose status changed; a steady state costs reads only.
//!
//! **No-write rule.** Before each apply the live object is compared with the intent
//! (`controller::contains` / `controller::daemonset_current`): every field of the intent must
//! already be there with the same value (lists matched by `mountPath` or `name`), and the
//! operator's marks in the template (hash annotation, `fbplugin-*` init containers, the two
//! volumes and their mounts) must be exactly those of the intent. A steady state therefore
//! costs reads only (checked against a real 1.20 API server: a restart over an applied state
//! writes nothing).
//!
//! **Ownership.** The operator owns only the fields in its intents (see [`workload`]): pod
//! template annotation, init containers, volumes, volume mounts and pull secrets it adds, and
//! the `<ds>-fbplugin` ConfigMap (garbage-collected with its DaemonSet). It never touches the
//! selector, images, command or args of others.
//!
//! **Events** (`events.k8s.io/v1`, reported by `fbplugin-operator`), on transitions only
//! (table in [`transitions`]): Warning `Rejected` (the note names each field),
//! Warning `DaemonSetNotFound` / `ContainerNotFound` / `BaseConfigInvalid` / `ApplyFailed`,
//! Normal `Applied` (new config hash), Normal `Ready`, Warning `CrashLoopBackOff` /
//! `ImagePullFailed` / `InitContainerFailed`.
//!
//! # RBAC
//!
//! Exactly the verbs the operator uses; a ClusterRole for all namespaces, or a Role in the
//! `--namespace` it watches:
//!
//! | apiGroups | resources | verbs | why |
//! |---|---|---|---|
//! | `fbplugin.dev` | `fluentbitplugins` | `list`, `watch`, `patch` | the two watches; finalizer (JSON patch) |
//! | `fbplugin.dev` | `fluentbitplugins/status` | `patch` | status (server-side apply) |
//! | `apps` | `daemonsets` | `get`, `list`, `watch`, `patch` | read, the watches, find the DaemonSets still carrying a deleted plugin, apply the intent |
//! | `""` | `configmaps` | `get`, `list`, `watch`, `create`, `patch`, `delete` | base config and rendered ConfigMap; an apply that creates an object also needs `create` (verified: without it the first apply is 403) |
//! | `""` | `pods` | `list` | rollout assessment |
//! | `events.k8s.io` | `events` | `create`, `patch` | Events (a repeat within minutes patches the series) |
//!
//! With `--leader-elect`, a Role in the Lease's namespace: `coordination.k8s.io` `leases`
//! `get`, `create`, `update`. These rules were checked by running the operator as a
//! ServiceAccount bound to exactly them against a 1.20 API server (apply, invalid, missing
//! DaemonSet, delete, lease).
//!
//! # Running it (`operator run`)
//!
//! In cluster (ServiceAccount) or from `KUBECONFIG`; `--namespace` or all namespaces;
//! `--leader-elect` ([`leader`]: a `coordination.k8s.io/v1` Lease, 15 s lease, 10 s renew
//! deadline, 2 s retry, released on shutdown); SIGTERM/SIGINT stop the controller after
//! running reconciles finish. [`http`] serves `/healthz`, `/readyz` (watches synced; a standby
//! replica is ready too) and `/metrics` ([`metrics`]). Logs: [`telemetry`], `--log-format
//! text|json`, level from `RUST_LOG`.
//!
//! # Conditions
//!
//! The full table of condition types and reasons is in [`fbplugin_crds::status`]; the
//! per-field validation reasons are [`validate::Reason`].
//!
//! # How Fluent Bit reads the plugins
//!
//! See [`workload`]: the DaemonSet's own main config includes the operator's pipeline file
//! (`@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf`, or a YAML `includes:` entry for
//! `pipeline.yaml`; [`layout::include_path`]), which the operator mounts with `plugins.conf`
//! from its ConfigMap as a directory at `/fluent-bit/etc/fbplugin/`, empty until a plugin comes.
//! The plugin files land under `/fluent-bit/plugins/<object name>/`, placed by two init
//! containers per plugin that run the copy program `/fbplugin/copy` of the plugin's own image
//! with argv only (no shell: the images have none): the copy step (`--from
//! <spec.artifact.path> --into /fbplugin-out --as <file> [--sha256 <hex>]`, writing only the
//! plugin's own `subPath` of the plugins volume), then, after every copy step, the read-only
//! verify step (`--check /fbplugin-out/<file>` with `--sha256 <hex>`, or `--same-as
//! <spec.artifact.path>` without one). No command, args or config of the Fluent Bit container
//! change.

pub mod controller;
pub mod drift;
pub mod gate;
pub mod http;
pub mod layout;
pub mod leader;
pub mod metrics;
pub mod offline;
pub mod plan;
pub mod render;
pub mod rollback;
pub mod rollout;
pub mod status;
pub mod telemetry;
pub mod transitions;
pub mod validate;
pub mod workload;
