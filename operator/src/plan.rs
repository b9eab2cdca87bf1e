//! What the operator will write for one DaemonSet, and when. Pure.
//!
//! [`plan`] takes what was observed for one DaemonSet ([`Observed`]: the DaemonSet or its
//! absence, the text of its own config, every plugin targeting it, the `<ds>-fbplugin`
//! ConfigMap as it is today) and returns every write ([`Plan`]): the ConfigMap step (apply,
//! delete or leave), the DaemonSet apply intent (or none), and each plugin's outcome. The
//! controller observes, calls [`plan`] and executes the writes; `operator render` calls the
//! same function on files. The branches, in order:
//!
//! | observed | ConfigMap | DaemonSet | apply state |
//! |---|---|---|---|
//! | DaemonSet gone | leave | none | `DaemonSetNotFound` |
//! | not opted in | delete (own) | empty intent | `NotOptedIn` |
//! | container / base config missing, operator's mount would not fit | leave | none | `ContainerNotFound` / `BaseConfigInvalid` |
//! | the same, while a plugin is being deleted | delete (own) | empty intent | the same |
//! | `<ds>-fbplugin` not the operator's | leave | none | `ConfigMapNotOwned` |
//! | opted in (any number of valid plugins, none too) | apply (if it differs) | intent (if it differs) | `Applied` |
//!
//! An opted-in DaemonSet always carries the operator's mount, also with no plugin (then the
//! pipeline file is empty), because its own config includes the pipeline file and Fluent Bit
//! does not start when an included file is missing ([`crate::workload`]). A plugin is left out
//! (`PipelineNotIncluded`) while the DaemonSet's config does not include the file.
//!
//! Once the live DaemonSet runs the current render on every scheduled pod, all ready
//! ([`rollback::rolled_out`]), the ConfigMap intent also holds the last known good state
//! ([`LastKnownGood`]: the hash and each plugin's spec), kept until the next one; a stuck
//! rollout goes back to it ([`rollback::decide`], the controller's part).
//!
//! A write is planned only when the live object does not already carry the intent
//! ([`crate::drift`]): a steady state plans no write at all. The ConfigMap is deleted only
//! after the DaemonSet stopped mounting it, so the executor applies the DaemonSet first.

use fbplugin_crds::{FluentBitPlugin, FluentBitPluginStatus};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use crate::drift;
use crate::gate::{self, ImagePolicy};
use crate::render::{self, DaemonSetRender, PluginOutcome, Rendered, render_daemonset_admitted};
use crate::rollback::{self, LAST_KNOWN_GOOD_KEY, LastKnownGood};
use crate::rollout;
use crate::status::{ApplyState, Facts, plugin_status};
use crate::transitions::{Note, transitions};
use crate::workload::{self, BaseConfigSource, FIELD_MANAGER, Owner, TargetError};

/// The target DaemonSet as observed.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// It exists.
    Present(&'a DaemonSet),
    /// The API server says it does not exist.
    Absent,
    /// Offline, no DaemonSet given: render as if its owner opted in with the plugins' own
    /// `spec.target` container and config path.
    Unknown,
}

/// Everything observed for one DaemonSet.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The DaemonSet's namespace.
    pub namespace: &'a str,
    /// The DaemonSet's name.
    pub name: &'a str,
    /// The DaemonSet, or its absence.
    pub daemonset: Target<'a>,
    /// The text of the DaemonSet's own config (the key [`base_config_source`] names), `None`
    /// when that ConfigMap or key does not exist.
    pub base_config: Option<&'a str>,
    /// The `<ds>-fbplugin` ConfigMap as it is now.
    pub configmap: Option<&'a ConfigMap>,
    /// Every plugin targeting the DaemonSet that is not being deleted.
    pub plugins: &'a [&'a FluentBitPlugin],
    /// The image repositories an admin allowed; `None` skips that check (offline).
    pub images: Option<&'a ImagePolicy>,
    /// A plugin is being deleted: when the target cannot take plugins, still take the
    /// operator's fields out, so a deleted plugin never stays in the template.
    pub release_unusable: bool,
    /// Rendering offline: a missing [`Observed::base_config`] is not an error, only unknown
    /// (the include of the pipeline file is not checked).
    pub offline: bool,
}

/// A plugin that passed validation, the gate and the conflict check. Only [`plan`] makes one,
/// so the workload intent is built from validated plugins only.
#[derive(Debug, Clone, Copy)]
pub struct Validated<'a>(&'a FluentBitPlugin);

impl<'a> Validated<'a> {
    /// The plugin.
    pub fn plugin(&self) -> &'a FluentBitPlugin {
        self.0
    }
}

/// What to do with the `<ds>-fbplugin` ConfigMap.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigMapStep {
    /// Nothing.
    Leave,
    /// Server-side apply this intent.
    Apply(Value),
    /// Delete it, with this uid as precondition (the very object that was observed).
    Delete {
        /// The observed object's uid.
        uid: Option<String>,
    },
}

/// Every write for one DaemonSet, and what each plugin's status will say.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// Outcomes (index-aligned with [`Observed::plugins`]) and the rendered files.
    pub render: DaemonSetRender,
    /// The plugins in the rendered files, sorted by (namespace, name).
    pub included: Vec<Validated<'a>>,
    /// The ConfigMap step (after the DaemonSet apply when it is a delete).
    pub configmap: ConfigMapStep,
    /// The DaemonSet apply intent (the operator's fields; the empty intent releases them),
    /// `None` when nothing may be written.
    pub intent: Option<Value>,
    /// The live DaemonSet carries [`Plan::intent`] already: no apply.
    pub daemonset_current: bool,
    /// What the plugins' status will say about the apply, when every write succeeds.
    pub apply: ApplyState,
}

impl Plan<'_> {
    /// The rendered hash, when something was rendered.
    pub fn hash(&self) -> Option<&str> {
        self.render.rendered.as_ref().map(|r| r.hash.as_str())
    }

    /// How many API writes the plan makes (the ConfigMap step and the DaemonSet apply).
    pub fn writes(&self) -> usize {
        usize::from(self.configmap != ConfigMapStep::Leave)
            + usize::from(self.daemonset_write().is_some())
    }

    /// The DaemonSet apply to make: the intent, unless the live DaemonSet carries it already.
    pub fn daemonset_write(&self) -> Option<&Value> {
        self.intent.as_ref().filter(|_| !self.daemonset_current)
    }
}

/// What executing a [`Plan`] left behind, and what the controller decided about the rollout:
/// the input of [`report`].
#[derive(Debug, Clone, Copy)]
pub struct Executed<'a> {
    /// The DaemonSet as the apply returned it (or as read, when nothing was written); `None`
    /// when it does not exist.
    pub daemonset: Option<&'a DaemonSet>,
    /// The DaemonSet's pods (by its selector).
    pub pods: &'a [Pod],
    /// [`Plan::apply`], or [`ApplyState::ApplyFailed`] with the server's answer when a write
    /// was refused.
    pub apply: &'a ApplyState,
    /// Index-aligned with the plugins: this generation is held back after a rollback (the
    /// plan rendered its last known good spec, or left it out).
    pub held: &'a [bool],
    /// The rollback decided in this reconcile, if any ([`rollback::decide`]).
    pub rollback: Option<&'a rollback::Rollback>,
}

/// One plugin's status after a reconcile of its DaemonSet, and the Events its change publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    /// The status the plugin has now.
    pub status: FluentBitPluginStatus,
    /// It differs from the previous one: the status subresource is written.
    pub changed: bool,
    /// The Events of the change (none when nothing changed).
    pub events: Vec<Note>,
}

/// Every plugin's status and Events once the plan was executed, index-aligned with `plugins`
/// (the plugins as they are, not as held back); `previous` is each plugin's status before and
/// `outcomes` its render outcome (both aligned too), `hash` the rendered hash. Pure: the
/// controller writes the statuses that [`StatusUpdate::changed`] and publishes the Events.
///
/// This is the second half of the plan: what the statuses say depends on whether the writes
/// succeeded, on the DaemonSet the apply returned and on its pods, so it is computed after them.
pub fn report(
    plugins: &[&FluentBitPlugin],
    previous: &[Option<&FluentBitPluginStatus>],
    outcomes: &[PluginOutcome],
    hash: Option<&str>,
    executed: &Executed<'_>,
    now: &Time,
) -> Vec<StatusUpdate> {
    plugins
        .iter()
        .zip(outcomes)
        .enumerate()
        .map(|(i, (plugin, outcome))| {
            let before = previous.get(i).copied().flatten();
            let rollout = executed.daemonset.map(|ds| {
                let check = rollout::template_check(ds, plugin, hash.unwrap_or_default());
                rollout::assess(ds, executed.pods, check)
            });
            let mut status = plugin_status(
                before,
                Facts {
                    generation: plugin.metadata.generation,
                    outcome,
                    apply: executed.apply,
                    hash,
                    rollout: rollout.as_ref(),
                },
                now,
            );
            let name = plugin.metadata.name.as_deref().unwrap_or_default();
            let culprit = executed
                .rollback
                .filter(|r| r.culprits.iter().any(|c| c == name));
            rolled_back(
                &mut status,
                plugin.metadata.generation,
                executed.held.get(i).copied().unwrap_or(false) || culprit.is_some(),
                culprit.map(|r| r.message(name)),
                now,
            );
            let changed = before != Some(&status);
            let events = if changed {
                transitions(before, &status)
            } else {
                Vec::new()
            };
            StatusUpdate {
                status,
                changed,
                events,
            }
        })
        .collect()
}

/// The rollback's part of a status: a new rollback sets `RolledBack`; a held-back generation
/// is not applied, progressing or ready; a `RolledBack` of an older generation goes (the spec
/// changed, so the operator applies it again).
fn rolled_back(
    status: &mut FluentBitPluginStatus,
    generation: Option<i64>,
    held: bool,
    message: Option<String>,
    now: &Time,
) {
    use fbplugin_crds::ConditionUpdate;
    use fbplugin_crds::status::{condition, reason};
    if let Some(message) = message {
        status.set_condition(
            ConditionUpdate {
                type_: condition::ROLLED_BACK,
                status: true,
                reason: reason::ROLLOUT_STUCK,
                message,
            },
            generation,
            now,
        );
    }
    if held {
        let why = status
            .condition(condition::ROLLED_BACK)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        for type_ in [condition::APPLIED, condition::PROGRESSING, condition::READY] {
            status.set_condition(
                ConditionUpdate {
                    type_,
                    status: false,
                    reason: reason::ROLLED_BACK,
                    message: format!("held back: {why}"),
                },
                generation,
                now,
            );
        }
        status.rendered_hash = None;
        status.rollout = None;
        status.progress = None;
    } else {
        status
            .conditions
            .retain(|c| c.type_ != condition::ROLLED_BACK || c.observed_generation == generation);
    }
}

/// The ConfigMap key holding the DaemonSet's own config (at the container and config path its
/// owner named): what the controller reads before [`plan`]. `None` when the DaemonSet has not
/// opted in or its container or config mount is missing ([`plan`] says which).
pub fn base_config_source(ds: &DaemonSet) -> Option<BaseConfigSource> {
    let opt_in = gate::opt_in(ds).ok()?;
    workload::base_config_source(ds, &opt_in.container, &opt_in.config_path).ok()
}

/// Everything to write for one DaemonSet. See the module docs for the branches.
pub fn plan<'a>(observed: &Observed<'a>) -> Plan<'a> {
    let plugins = observed.plugins;
    let no_images = ImagePolicy::default();
    let images = observed.images.unwrap_or(&no_images);
    let ds = match observed.daemonset {
        Target::Present(ds) => Some(ds),
        Target::Absent => {
            let render = render_daemonset_admitted("", plugins, |p| {
                admit(p, None, images, observed.images.is_some())
            });
            return nothing(render, ApplyState::DaemonSetNotFound);
        }
        Target::Unknown => None,
    };
    let opt_in = ds.map(gate::opt_in).transpose();
    let gate_of = opt_in.as_ref().ok().and_then(Option::as_ref);
    let admit = |p: &FluentBitPlugin| admit(p, gate_of, images, observed.images.is_some());
    let base = match (ds, &opt_in) {
        (_, Err(e)) => Err(ApplyState::NotOptedIn(e.to_string())),
        (Some(ds), Ok(Some(o))) => base_text(observed, ds, o),
        _ => Ok(observed.base_config.unwrap_or_default()),
    };
    let container = gate_of
        .map(|o| o.container.as_str())
        .or_else(|| Some(plugins.first()?.spec.target.container_name()))
        .unwrap_or(fbplugin_crds::DEFAULT_CONTAINER);
    let mut render = match &base {
        Ok(text) => {
            let base = render::BaseConfig {
                text,
                hot_reload_flag: ds.and_then(|d| workload::hot_reload_flag(d, container)),
                yaml: gate_of.map(|o| render::yaml::is_yaml_path(&o.config_path)),
                known: observed.base_config.is_some(),
            };
            render_daemonset_admitted(base, plugins, admit)
        }
        Err(_) => render_daemonset_admitted("", plugins, admit),
    };
    let unusable = match base {
        Ok(_) => None,
        // Without the opt-in the operator's fields go whatever the reason of the sync.
        Err(state) if observed.release_unusable || matches!(state, ApplyState::NotOptedIn(_)) => {
            render.rendered = None;
            Some(state)
        }
        Err(state) => return nothing(render, state),
    };
    let included = included(&render, plugins);
    let foreign = observed
        .configmap
        .filter(|cm| !workload::is_own_configmap(&cm.metadata, observed.name));
    let (configmap, intent) = match (&render.rendered, foreign) {
        (Some(_), Some(_)) => {
            return nothing(render, ApplyState::ConfigMapNotOwned(not_owned(observed)));
        }
        (Some(rendered), None) => (
            configmap_step(observed, ds, rendered, &included),
            workload::daemonset_intent(
                observed.name,
                observed.namespace,
                container,
                &included.iter().map(Validated::plugin).collect::<Vec<_>>(),
                rendered,
            ),
        ),
        (None, _) => (
            match (foreign, observed.configmap) {
                (None, Some(cm)) => ConfigMapStep::Delete {
                    uid: cm.metadata.uid.clone(),
                },
                _ => ConfigMapStep::Leave,
            },
            workload::empty_daemonset_intent(observed.name, observed.namespace),
        ),
    };
    let current = ds.is_some_and(|ds| drift::daemonset_current(&to_value(ds), &intent));
    Plan {
        render,
        included,
        configmap,
        intent: Some(intent),
        daemonset_current: current,
        apply: unusable.unwrap_or(ApplyState::Applied),
    }
}

fn nothing<'a>(render: DaemonSetRender, apply: ApplyState) -> Plan<'a> {
    Plan {
        render,
        included: Vec::new(),
        configmap: ConfigMapStep::Leave,
        intent: None,
        daemonset_current: false,
        apply,
    }
}

fn admit(
    plugin: &FluentBitPlugin,
    opt_in: Option<&gate::OptIn>,
    images: &ImagePolicy,
    check_images: bool,
) -> Vec<crate::validate::Problem> {
    let mut problems = gate::admit(plugin, opt_in, images);
    if !check_images {
        problems.retain(|p| p.reason != crate::validate::Reason::ImageNotAllowed);
    }
    problems
}

fn included<'a>(render: &DaemonSetRender, plugins: &[&'a FluentBitPlugin]) -> Vec<Validated<'a>> {
    render
        .included(plugins)
        .into_iter()
        .map(Validated)
        .collect()
}

/// The base config text of an opted-in DaemonSet, or why there is none.
fn base_text<'a>(
    observed: &Observed<'a>,
    ds: &DaemonSet,
    opt_in: &gate::OptIn,
) -> Result<&'a str, ApplyState> {
    let config_path = opt_in.config_path.as_str();
    if let Some(conflict) = workload::mount_conflict(ds, &opt_in.container) {
        return Err(ApplyState::BaseConfigInvalid(conflict));
    }
    let source = match workload::base_config_source(ds, &opt_in.container, config_path) {
        Ok(source) => source,
        Err(e @ TargetError::ContainerNotFound { .. }) => {
            return Err(ApplyState::ContainerNotFound(e.to_string()));
        }
        Err(e @ TargetError::ConfigNotFound { .. }) => {
            return Err(ApplyState::BaseConfigInvalid(e.to_string()));
        }
    };
    if observed.offline && observed.base_config.is_none() {
        return Ok("");
    }
    observed.base_config.ok_or_else(|| {
        ApplyState::BaseConfigInvalid(format!(
            "the DaemonSet reads {config_path} from key {:?} of ConfigMap {}, which does not \
             exist; create it, or fix the DaemonSet's {} annotation",
            source.key,
            source.configmap,
            gate::CONFIG_PATH_ANNOTATION
        ))
    })
}

fn configmap_step(
    observed: &Observed<'_>,
    ds: Option<&DaemonSet>,
    rendered: &Rendered,
    included: &[Validated<'_>],
) -> ConfigMapStep {
    // Offline DaemonSets may have no uid: then the ConfigMap has no owner reference.
    let owner = ds.and_then(|ds| {
        Some(Owner {
            name: observed.name.to_string(),
            uid: ds.metadata.uid.clone()?,
        })
    });
    // The files the live pod template's pods read stay until a new template replaces them.
    let live = observed.configmap.and_then(|cm| cm.data.as_ref());
    let mut retained: std::collections::BTreeMap<String, String> = ds
        .map(workload::template_keys)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|key| Some((key.clone(), live?.get(&key)?.clone())))
        .collect();
    // The last known good state: this render once every pod runs it and is ready, else the
    // one stored before.
    let good = ds
        .filter(|ds| rollback::rolled_out(ds, &rendered.hash))
        .map(|_| {
            let plugins: Vec<&FluentBitPlugin> = included.iter().map(Validated::plugin).collect();
            LastKnownGood::of(&rendered.hash, &plugins).to_text()
        })
        .or_else(|| live?.get(LAST_KNOWN_GOOD_KEY).cloned());
    if let Some(good) = good {
        retained.insert(LAST_KNOWN_GOOD_KEY.to_string(), good);
    }
    let intent = workload::configmap_intent(
        observed.name,
        observed.namespace,
        owner.as_ref(),
        rendered,
        &retained,
    );
    let current = observed
        .configmap
        .is_some_and(|cm| drift::contains(&to_value(cm), &intent));
    if current {
        ConfigMapStep::Leave
    } else {
        ConfigMapStep::Apply(intent)
    }
}

fn not_owned(observed: &Observed<'_>) -> String {
    let (namespace, name) = (observed.namespace, observed.name);
    format!(
        "ConfigMap {namespace}/{} exists but the operator did not create it (it lacks the \
         labels {}={FIELD_MANAGER} and {}={name}): the operator neither adopts nor deletes it. \
         Rename or remove that ConfigMap (its owner decides), then the plugins are applied",
        workload::configmap_name(name),
        workload::MANAGED_BY_LABEL,
        workload::DAEMONSET_LABEL
    )
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
