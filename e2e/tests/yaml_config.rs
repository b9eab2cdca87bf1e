//! A Fluent Bit DaemonSet configured in YAML (the chart's prepared DaemonSet rendered with
//! `fluentBit.configFileFormat=yaml`, as the official chart's YAML mode runs it) against the
//! real API server: the chart's `fluent-bit.yaml` lists the operator's `pipeline.yaml` last in
//! its `includes`, the operator mounts that file (empty until a plugin comes), the plugin lands
//! in it, the DaemonSet rolls, and deleting the plugin gives back the template it had before.
//! The same on real pods, with the stand-in Fluent Bit reading the YAML, is in `real_pods.rs`.

use std::time::Duration;

use e2e::{Error, HELM_MANAGER, Installed, Result, apply_values, example_plugin, wait_for_plugin};
use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::DeleteParams;
use operator::layout::HASH_ANNOTATION;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
/// Where the chart's DaemonSet mounts its config with `fluentBit.configFileFormat=yaml`.
const CONFIG_PATH: &str = "/fluent-bit/etc/conf/fluent-bit.yaml";

/// The chart's ServiceAccount, ConfigMap and DaemonSet `fluent-bit` in YAML mode.
fn yaml_daemonset_objects(installed: &Installed<'_>) -> Result<Vec<Value>> {
    let chart = e2e::chart_objects(&installed.namespace, &["fluentBit.configFileFormat=yaml"])?;
    Ok(chart
        .into_iter()
        .filter(|o| o["metadata"]["name"] == "fluent-bit")
        .collect())
}

/// The `fluent-bit.yaml` the chart rendered into its ConfigMap: the user's own document.
fn user_config(objects: &[Value]) -> Result<String> {
    objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .and_then(|o| o["data"]["fluent-bit.yaml"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| Error::Invalid("the chart rendered no fluent-bit.yaml in YAML mode".into()))
}

fn template(ds: &DaemonSet) -> Value {
    serde_json::to_value(ds.spec.as_ref().map(|s| &s.template)).unwrap_or(Value::Null)
}

async fn rolled_out(installed: &Installed<'_>) -> Result<DaemonSet> {
    installed
        .cluster()
        .kubelet(&installed.namespace, "fluent-bit")
        .play_until_rolled_out(WAIT)
        .await
        .map_err(|e| installed.explain(e))?;
    Api::<DaemonSet>::namespaced(installed.client(), &installed.namespace)
        .get("fluent-bit")
        .await
        .map_err(|e| {
            installed.explain(Error::Invalid(format!("reading DaemonSet fluent-bit: {e}")))
        })
}

#[tokio::test]
async fn a_yaml_configured_daemonset_gets_the_plugin_rolls_and_restores_on_delete() -> Result<()> {
    let cluster = e2e::cluster_or_skip!();
    let installed = Installed::new(&cluster, "yaml").await?;
    installed.cluster().create_ready_node("node-a").await?;
    let objects = yaml_daemonset_objects(&installed)?;
    let user = user_config(&objects)?;
    assert!(
        user.contains("includes:") && user.contains("/fluent-bit/etc/fbplugin/pipeline.yaml"),
        "the chart's YAML config includes the operator's pipeline:\n{user}"
    );
    let refs: Vec<&Value> = objects.iter().collect();
    apply_values(
        &installed.client(),
        &refs,
        HELM_MANAGER,
        &installed.namespace,
    )
    .await?;
    // Opted in: the operator mounts its (empty) pipeline before any plugin.
    e2e::wait_for_object(
        &Api::<DaemonSet>::namespaced(installed.client(), &installed.namespace),
        "fluent-bit",
        "the operator's empty pipeline mounted",
        WAIT,
        |d| template(d)["metadata"]["annotations"][HASH_ANNOTATION].is_string(),
    )
    .await
    .map_err(|e| installed.explain(e))?;
    let before = rolled_out(&installed).await?;

    let mut plugin = example_plugin("out-jsonl", &installed.namespace)?;
    plugin["spec"]["target"]["configPath"] = json!(CONFIG_PATH);
    apply_values(
        &installed.client(),
        &[&plugin],
        "kubectl-client-side-apply",
        &installed.namespace,
    )
    .await?;
    let plugins: Api<FluentBitPlugin> = installed.plugins();
    wait_for_plugin(&plugins, "out-jsonl", "Applied", "True", None, WAIT)
        .await
        .map_err(|e| installed.explain(e))?;
    let after = rolled_out(&installed).await?;
    wait_for_plugin(&plugins, "out-jsonl", "Ready", "True", None, WAIT)
        .await
        .map_err(|e| installed.explain(e))?;

    // The user's ConfigMap is untouched; the operator's pipeline.yaml holds the plugin.
    let configmaps: Api<ConfigMap> = Api::namespaced(installed.client(), &installed.namespace);
    let own = configmaps
        .get("fluent-bit")
        .await
        .map_err(|e| installed.explain(Error::Invalid(e.to_string())))?;
    assert_eq!(
        own.data
            .unwrap_or_default()
            .get("fluent-bit.yaml")
            .map(String::as_str),
        Some(user.as_str()),
        "the user's fluent-bit.yaml is never rewritten"
    );
    let rendered = configmaps
        .get("fluent-bit-fbplugin")
        .await
        .map_err(|e| installed.explain(Error::Invalid(e.to_string())))?;
    let hash = template(&after)["metadata"]["annotations"][HASH_ANNOTATION]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let key = operator::render::revision_key("pipeline.yaml", &hash);
    let pipeline = rendered
        .data
        .unwrap_or_default()
        .remove(&key)
        .unwrap_or_else(|| panic!("the current revision's {key}"));
    assert!(
        pipeline.contains("libout_jsonl.so") && pipeline.contains("\"name\": \"jsonl_file\""),
        "the plugin and its output section:\n{pipeline}"
    );
    let spec = &template(&after)["spec"];
    let volume = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == operator::layout::CONFIG_VOLUME)
        .unwrap_or_else(|| panic!("the operator's volume: {spec}"));
    assert_eq!(
        volume["configMap"]["items"],
        json!([{ "key": key, "path": "pipeline.yaml" }]),
        "projected to the name the user's config includes"
    );
    assert_ne!(
        template(&after)["metadata"]["annotations"][HASH_ANNOTATION],
        template(&before)["metadata"]["annotations"][HASH_ANNOTATION],
        "the template rolled"
    );

    // Deleting the plugin gives the DaemonSet back the template it had before the plugin.
    plugins
        .delete("out-jsonl", &DeleteParams::default())
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
    e2e::wait_for(
        "the DaemonSet's template to be back to the user's",
        WAIT,
        Duration::from_millis(200),
        || {
            let daemonsets = Api::<DaemonSet>::namespaced(installed.client(), &installed.namespace);
            let want = template(&before);
            async move {
                let ds = daemonsets
                    .get("fluent-bit")
                    .await
                    .map_err(|e| Error::Invalid(e.to_string()))?;
                let got = template(&ds);
                Ok(if got == want {
                    Ok(())
                } else {
                    Err(got.to_string())
                })
            }
        },
    )
    .await
    .map_err(|e| installed.explain(e))?;
    Ok(())
}
