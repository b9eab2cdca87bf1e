//! Problems between the plugins of one DaemonSet.

use std::collections::BTreeMap;

use fbplugin_crds::{FluentBitPlugin, PluginType};

use super::{Problem, Reason};

/// Checks the plugins of one DaemonSet against each other: the same registered name, the same
/// alias, or different container/config path. Returns problems index-aligned with `plugins`.
///
/// Both sides get a problem. The one created first (then the smaller namespace/name) keeps
/// rendering (its problem is not [`Problem::blocking`]) so a newcomer cannot take down a
/// working plugin; the later one is left out.
pub fn conflicts(plugins: &[&FluentBitPlugin]) -> Vec<Vec<Problem>> {
    let mut out = vec![Vec::new(); plugins.len()];
    let mut order: Vec<usize> = (0..plugins.len()).collect();
    order.sort_by_key(|&i| seniority(plugins[i]));
    let mut seen_names: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen_aliases: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let Some(&first) = order.first() else {
        return out;
    };
    for &idx in &order {
        let plugin = plugins[idx];
        let spec = &plugin.spec;
        let key = spec.plugin_name().to_ascii_lowercase();
        // Filters register no name (every one is `Name wasm`).
        let registers = spec.plugin_type != PluginType::Filter;
        if let Some(&winner) = seen_names.get(&key).filter(|_| registers) {
            report_pair(
                &mut out,
                (winner, "spec.pluginName".into()),
                (idx, "spec.pluginName".into()),
                plugins,
                Reason::DuplicatePluginName,
                &format!("registers plugin name {:?}", spec.plugin_name()),
            );
        } else if registers {
            seen_names.insert(key, idx);
        }
        for (i, inst) in spec.instances.iter().enumerate() {
            let Some(alias) = &inst.alias else { continue };
            let field = format!("spec.instances[{i}].alias");
            match seen_aliases.get(&alias.to_ascii_lowercase()) {
                Some(&(w, wi)) => report_pair(
                    &mut out,
                    (w, format!("spec.instances[{wi}].alias")),
                    (idx, field),
                    plugins,
                    Reason::DuplicateAlias,
                    &format!("uses alias {alias:?}"),
                ),
                None => {
                    seen_aliases.insert(alias.to_ascii_lowercase(), (idx, i));
                }
            }
        }
        let (t, ft) = (&spec.target, &plugins[first].spec.target);
        if idx != first
            && (t.container_name() != ft.container_name() || t.config_path() != ft.config_path())
        {
            report_pair(
                &mut out,
                (first, "spec.target".into()),
                (idx, "spec.target".into()),
                plugins,
                Reason::TargetMismatch,
                &format!(
                    "targets container {:?} with config {:?} on the same DaemonSet",
                    ft.container_name(),
                    ft.config_path()
                ),
            );
        }
    }
    out
}

fn seniority(p: &FluentBitPlugin) -> (bool, Option<String>, String, String) {
    let created = p
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.to_string());
    (
        created.is_none(),
        created,
        p.metadata.namespace.clone().unwrap_or_default(),
        p.metadata.name.clone().unwrap_or_default(),
    )
}

fn report_pair(
    out: &mut [Vec<Problem>],
    (winner, winner_field): (usize, String),
    (loser, loser_field): (usize, String),
    plugins: &[&FluentBitPlugin],
    reason: Reason,
    what: &str,
) {
    let w = object_key(plugins[winner]);
    let l = object_key(plugins[loser]);
    out[loser].push(Problem::new(
        loser_field,
        reason,
        format!(
            "FluentBitPlugin {w} on the same DaemonSet already {what}; this plugin is left out \
             until one of them changes"
        ),
    ));
    out[winner].push(Problem {
        blocking: false,
        ..Problem::new(
            winner_field,
            reason,
            format!(
                "FluentBitPlugin {l} (newer) also {what}; it is left out, this one keeps running"
            ),
        )
    });
}

/// `namespace/name` of a plugin, for messages.
pub(crate) fn object_key(p: &FluentBitPlugin) -> String {
    format!(
        "{}/{}",
        p.metadata.namespace.as_deref().unwrap_or("default"),
        p.metadata.name.as_deref().unwrap_or_default()
    )
}
