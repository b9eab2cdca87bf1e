//! Suite 9: scale as a benchmark. 1,000 plugins over 50 DaemonSets (20 each) on the real
//! control plane, the test playing the kubelet, converge to Ready. The suite reports the time
//! from applying the plugins to all Ready, the API writes the operator made (and per plugin),
//! the operator's CPU time and its peak memory; it asserts convergence and that the writes grow
//! linearly (see [`WriteBudget`]).
//!
//! Knobs: `E2E_SCALE_DAEMONSETS` (50), `E2E_SCALE_PLUGINS_PER_DAEMONSET` (20),
//! `E2E_SCALE_WAIT_SECS` (the limit for all Ready, 900 s: minutes, so a busy 2-core machine
//! cannot fire it), `E2E_OPERATOR_PROFILE=release` (measure a release build of the operator,
//! built first when missing or stale). `docs/testing.md` has the commands and the figures.
//!
//! How writes are counted: kube-apiserver 1.20's `apiserver_request_total` has no label naming
//! the client, so the suite counts, between applying the plugins and the operator falling quiet
//! after all Ready, the write requests to what only the operator writes in this cluster: the
//! `status` subresource of `fluentbitplugins`, the main `fluentbitplugins` resource minus the
//! test's own applies (one each: what is left is the finalizer), and the main `configmaps` and
//! `daemonsets` resources (the test applied its DaemonSets before the window; the DaemonSet
//! controller writes only `daemonsets/status`; the controller-manager runs without leader
//! election). Accepted (2xx) writes are budgeted; refused attempts (409, 422) are reported
//! beside them. Events are reported, not counted: the scheduler also writes `events.k8s.io`
//! Events (one per pod bound) and the metric cannot tell them apart.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::apiserver_metrics::RequestCounts;
use e2e::{Error, HELM_MANAGER, Installed, Result, apply_values, condition, example_plugin};
use fbplugin_crds::FluentBitPlugin;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

const GROUP: &str = "fbplugin.dev";
/// Plugin applies in flight at once: the plugins arrive as a burst (as from `kubectl apply -f
/// dir/`), not paced by the test's round trips.
const CONCURRENT_APPLIES: usize = 8;
/// Attempts per plugin apply when the server answers 429 or 5xx.
const APPLY_ATTEMPTS: u32 = 5;

/// A size from the environment, or `default`; a value that is not a positive integer is an
/// error (a typo must not silently measure the default).
fn size(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| Error::Invalid(format!("{name}={v:?} is not a positive integer"))),
    }
}

fn daemonset(chart_ds: &Value, index: usize) -> Value {
    let mut ds = chart_ds.clone();
    let name = format!("fluent-bit-{index}");
    ds["metadata"]["name"] = json!(name);
    let instance = format!("scale-{index}");
    ds["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] = json!(instance);
    ds["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"] = json!(instance);
    ds
}

fn plugin(example: &Value, ds: usize, index: usize) -> Value {
    let mut plugin = example.clone();
    let name = format!("jsonl-{ds}-{index}");
    plugin["metadata"]["name"] = json!(name);
    // Each plugin on one DaemonSet must register its own name and alias.
    plugin["spec"]["pluginName"] = json!(format!("jsonl_{index}"));
    plugin["spec"]["instances"][0]["alias"] = json!(format!("jsonl_{ds}_{index}"));
    plugin["spec"]["target"]["daemonSet"] = json!(format!("fluent-bit-{ds}"));
    plugin
}

/// The operator's peak resident memory so far (VmHWM), in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time the process has used (user + system, all threads), in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the state (field 3).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) as f64 / ticks as f64)
}

/// The operator's writes in a window, by what they wrote: the ones the server accepted, and
/// beside them the ones it refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct OperatorWrites {
    /// Accepted writes to `fluentbitplugins/status`.
    status: u64,
    /// Accepted writes to `fluentbitplugins` other than the test's applies (the finalizer).
    plugin_metadata: u64,
    /// Accepted writes to ConfigMaps.
    configmaps: u64,
    /// Accepted writes to DaemonSets (not their status).
    daemonsets: u64,
    /// Writes to any of them the server refused (409 conflicts; 422 when the finalizer patch
    /// tests a stale cached list): attempts, retried later, not changes.
    refused: u64,
}

impl OperatorWrites {
    fn from_counts(delta: &RequestCounts, test_plugin_applies: u64) -> Self {
        let targets = [
            (GROUP, "fluentbitplugins", "status"),
            (GROUP, "fluentbitplugins", ""),
            ("", "configmaps", ""),
            ("apps", "daemonsets", ""),
        ];
        let accepted =
            |(g, r, s): (&str, &str, &str)| delta.writes(g, r, s) - delta.refused_writes(g, r, s);
        OperatorWrites {
            status: accepted(targets[0]),
            plugin_metadata: accepted(targets[1]).saturating_sub(test_plugin_applies),
            configmaps: accepted(targets[2]),
            daemonsets: accepted(targets[3]),
            refused: targets
                .iter()
                .map(|&(g, r, s)| delta.refused_writes(g, r, s))
                .sum(),
        }
    }

    /// Accepted writes in all.
    fn total(&self) -> u64 {
        self.status + self.plugin_metadata + self.configmaps + self.daemonsets
    }
}

/// What a linear operator may write to bring `plugins` new plugins over `daemonsets`
/// DaemonSets to Ready; every term is a constant per plugin or per DaemonSet.
///
/// Refused attempts (409, 422) are reported, not budgeted: how many there are depends on how
/// far the operator's cache lags under load, not on what it has to change.
///
/// - Finalizer: 1 patch per plugin, plus 1 spare: 2.
/// - Status: a plugin's status carries its DaemonSet's rendered hash and rollout counts, so it
///   changes with its own state (accepted, applied, rolling out, Ready) and with each state of
///   its DaemonSet it sees while the burst settles and the pod rolls: 8, a constant.
/// - ConfigMap and DaemonSet: one write each per change of a DaemonSet's plugin set, at most one
///   change per arriving plugin, plus 4 per DaemonSet (the rollout, a retry).
///
/// A fan-out that rewrites every plugin of a DaemonSet (or the DaemonSet itself) for each of its
/// `n` arriving plugins makes `n (n + 1) / 2` writes per DaemonSet in that category, `(n + 1) / 2`
/// per plugin: 10.5 at the default 20 per DaemonSet, above 8 (status) and 2 (applies). The
/// margin grows with `E2E_SCALE_PLUGINS_PER_DAEMONSET`.
#[derive(Debug, Clone, Copy)]
struct WriteBudget {
    status: u64,
    plugin_metadata: u64,
    configmaps_and_daemonsets: u64,
}

impl WriteBudget {
    const STATUS_PER_PLUGIN: u64 = 8;
    const FINALIZER_PER_PLUGIN: u64 = 2;
    const APPLIES_PER_PLUGIN: u64 = 2;
    const APPLIES_PER_DAEMONSET: u64 = 4;

    fn new(plugins: usize, daemonsets: usize) -> Self {
        let (p, d) = (plugins as u64, daemonsets as u64);
        WriteBudget {
            status: Self::STATUS_PER_PLUGIN * p,
            plugin_metadata: Self::FINALIZER_PER_PLUGIN * p,
            configmaps_and_daemonsets: Self::APPLIES_PER_PLUGIN * p
                + Self::APPLIES_PER_DAEMONSET * d,
        }
    }

    /// What is over budget, one line each (empty when within).
    fn excess(&self, writes: &OperatorWrites) -> Vec<String> {
        let mut over = Vec::new();
        if writes.status > self.status {
            over.push(format!(
                "{} accepted status writes > {} ({} per plugin)",
                writes.status,
                self.status,
                Self::STATUS_PER_PLUGIN
            ));
        }
        if writes.plugin_metadata > self.plugin_metadata {
            over.push(format!(
                "{} accepted finalizer/metadata writes > {} ({} per plugin)",
                writes.plugin_metadata,
                self.plugin_metadata,
                Self::FINALIZER_PER_PLUGIN
            ));
        }
        let applies = writes.configmaps + writes.daemonsets;
        if applies > self.configmaps_and_daemonsets {
            over.push(format!(
                "{applies} accepted ConfigMap + DaemonSet writes > {} ({} per plugin + {} per DaemonSet)",
                self.configmaps_and_daemonsets,
                Self::APPLIES_PER_PLUGIN,
                Self::APPLIES_PER_DAEMONSET
            ));
        }
        over
    }
}

/// One round of the played kubelet for the whole namespace (one pod list, not one per
/// DaemonSet): force-deletes terminating pods and makes the others Ready. Returns how many pods
/// there were, and how many of them were not Ready yet.
async fn play_kubelet(
    pods: &Api<Pod>,
    players: &HashMap<String, e2e::KubeletPlayer>,
) -> Result<(usize, usize)> {
    let list = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::Invalid(format!("listing pods: {e}")))?;
    let listed = list.items.len();
    let mut pending = 0;
    for pod in list.items {
        let name = pod.name_any();
        if pod.metadata.deletion_timestamp.is_some() {
            pending += 1;
            let force = DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            };
            match pods.delete(&name, &force).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(Error::Invalid(format!("force-deleting pod {name}: {e}"))),
            }
            continue;
        }
        let ready = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if ready {
            continue;
        }
        pending += 1;
        let owner = pod
            .owner_references()
            .iter()
            .find(|o| o.kind == "DaemonSet")
            .and_then(|o| players.get(&o.name));
        if let Some(player) = owner {
            match player.set_pod(&name, &e2e::PodState::Ready).await {
                Err(e) if !e.is_status(404) => return Err(e),
                _ => {}
            }
        }
    }
    Ok((listed, pending))
}

/// Server-side applies `plugins` as `kubectl`, [`CONCURRENT_APPLIES`] at a time, one request
/// each (no discovery): what the operator sees is a burst, whatever the test's own speed. An
/// overloaded server's 429 and 5xx answers (504, "resource quota evaluation timed out") are
/// retried up to [`APPLY_ATTEMPTS`] times, as a user would; returns how many were retried.
async fn apply_plugins(api: &Api<FluentBitPlugin>, plugins: Vec<Value>) -> Result<u64> {
    let queue = Arc::new(Mutex::new(VecDeque::from(plugins)));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENT_APPLIES {
        let (api, queue) = (api.clone(), Arc::clone(&queue));
        workers.spawn(async move {
            let mut retried = 0;
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let Some(plugin) = next else {
                    return Ok(retried);
                };
                let name = plugin["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let mut attempt = 1;
                loop {
                    let params = PatchParams::apply("kubectl").force();
                    match api.patch(&name, &params, &Patch::Apply(&plugin)).await {
                        Ok(_) => break,
                        Err(kube::Error::Api(status))
                            if (status.code == 429 || status.code >= 500)
                                && attempt < APPLY_ATTEMPTS =>
                        {
                            attempt += 1;
                            retried += 1;
                            tokio::time::sleep(Duration::from_secs(2)).await;
                        }
                        Err(e) => {
                            return Err(Error::Invalid(format!(
                                "applying FluentBitPlugin {name} (attempt {attempt} of \
                                 {APPLY_ATTEMPTS}): {e}"
                            )));
                        }
                    }
                }
            }
        });
    }
    let mut retried = 0;
    while let Some(done) = workers.join_next().await {
        retried +=
            done.map_err(|e| Error::Invalid(format!("a plugin apply task failed: {e}")))??;
    }
    Ok(retried)
}

/// Reads the API server's request counts and the operator writes since `before`.
async fn writes_since(
    client: &Client,
    before: &RequestCounts,
    test_plugin_applies: u64,
) -> Result<(RequestCounts, OperatorWrites)> {
    let delta = RequestCounts::read(client).await?.since(before);
    let writes = OperatorWrites::from_counts(&delta, test_plugin_applies);
    Ok((delta, writes))
}

#[tokio::test]
async fn a_thousand_plugins_over_fifty_daemonsets_converge_with_linear_writes() -> Result<()> {
    let daemonsets = size("E2E_SCALE_DAEMONSETS", 50)?;
    let per_daemonset = size("E2E_SCALE_PLUGINS_PER_DAEMONSET", 20)?;
    let total = daemonsets * per_daemonset;
    let wait = Duration::from_secs(size("E2E_SCALE_WAIT_SECS", 900)? as u64);
    let binary = e2e::operator_binary()?;
    let profile = binary
        .parent()
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    let cluster = e2e::cluster_or_skip!();
    let installed = Installed::new(&cluster, "scale").await?;
    let ns = installed.namespace.clone();
    let client = installed.client();
    cluster.create_ready_node("node-a").await?;
    let chart_ds = installed
        .chart
        .iter()
        .find(|o| o["kind"] == "DaemonSet")
        .cloned()
        .ok_or_else(|| Error::Invalid("the chart renders no DaemonSet".into()))?;
    let mut objects: Vec<Value> = installed
        .chart
        .iter()
        .filter(|o| o["metadata"]["name"] == "fluent-bit" && o["kind"] != "DaemonSet")
        .cloned()
        .collect();
    objects.extend((0..daemonsets).map(|i| daemonset(&chart_ds, i)));
    apply_values(
        &client,
        &objects.iter().collect::<Vec<_>>(),
        HELM_MANAGER,
        &ns,
    )
    .await?;
    let players: HashMap<String, e2e::KubeletPlayer> = (0..daemonsets)
        .map(|d| {
            let name = format!("fluent-bit-{d}");
            let player = cluster.kubelet(&ns, &name);
            (name, player)
        })
        .collect();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    // The DaemonSets' pods Ready and the operator quiet (it gives opted-in DaemonSets an empty
    // pipeline) before the window opens, so the window holds the plugins' work only.
    let settle = Instant::now();
    let mut last = RequestCounts::read(&client).await?;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (listed, pending) = play_kubelet(&pods, &players).await?;
        let now = RequestCounts::read(&client).await?;
        let writing = OperatorWrites::from_counts(&now.since(&last), 0);
        last = now;
        if listed >= daemonsets && pending == 0 && writing.total() == 0 {
            break;
        }
        if settle.elapsed() > Duration::from_secs(300) {
            return Err(installed.explain(Error::Invalid(format!(
                "before any plugin, {daemonsets} DaemonSets did not settle within 300 s: \
                 {listed} pods, {pending} of them not Ready; operator writes in the last 2 s: {writing:?}"
            ))));
        }
    }

    let pid = installed
        .operator_pid()
        .ok_or_else(|| Error::Invalid("the operator is not running".into()))?;
    let cpu_before =
        cpu_seconds(pid).ok_or_else(|| Error::Invalid(format!("reading /proc/{pid}/stat")))?;
    let before = last;
    let example = example_plugin("out-jsonl", &ns)?;
    let started = Instant::now();
    let plugins: Vec<Value> = (0..daemonsets)
        .flat_map(|d| (0..per_daemonset).map(move |i| (d, i)))
        .map(|(d, i)| plugin(&example, d, i))
        .collect();
    let api = installed.plugins();
    let apply_retries = apply_plugins(&api, plugins).await?;
    let applied = started.elapsed();
    // The test's accepted applies: one per plugin (its refused attempts are `apply_retries`).
    let test_applies = total as u64;

    let converged = loop {
        play_kubelet(&pods, &players).await?;
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::Invalid(format!("listing plugins: {e}")))?;
        let not_ready: Vec<_> = list
            .items
            .iter()
            .filter(|p| condition(p, "Ready").is_none_or(|c| c.status != "True"))
            .collect();
        if not_ready.is_empty() && list.items.len() == total {
            break started.elapsed();
        }
        if started.elapsed() > wait {
            let mut by_daemonset: BTreeMap<String, usize> = BTreeMap::new();
            for p in &not_ready {
                *by_daemonset
                    .entry(p.spec.target.daemon_set.clone())
                    .or_default() += 1;
            }
            let names: Vec<String> = not_ready.iter().take(20).map(|p| p.name_any()).collect();
            let first = e2e::observed_yaml(&not_ready.first().map(|p| (*p).clone()));
            let (_, writes) = writes_since(&client, &before, test_applies).await?;
            return Err(installed.explain(Error::Invalid(format!(
                "{} of {total} plugins ({} listed) Ready after {:?} (limit E2E_SCALE_WAIT_SECS={}); \
                 not Ready by DaemonSet: {by_daemonset:?}; the first {}: {names:?}; operator writes so far: \
                 {writes:?}; the first not Ready:\n{first}",
                list.items.len() - not_ready.len(),
                list.items.len(),
                started.elapsed(),
                wait.as_secs(),
                names.len(),
            ))));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let cpu_converged = cpu_seconds(pid).unwrap_or(cpu_before) - cpu_before;

    // Writes still under way when the last plugin turned Ready belong to the work: count until
    // two readings 5 s apart agree (at most a minute; the report says if it never fell quiet).
    let (mut delta, mut writes) = writes_since(&client, &before, test_applies).await?;
    let mut quiet = false;
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        play_kubelet(&pods, &players).await?;
        let (next_delta, next) = writes_since(&client, &before, test_applies).await?;
        quiet = next == writes;
        (delta, writes) = (next_delta, next);
        if quiet {
            break;
        }
    }
    let cpu = cpu_seconds(pid).unwrap_or(cpu_before) - cpu_before;
    let peak = vm_hwm_kib(pid).unwrap_or(0);
    // The operator records `events.k8s.io` Events; so does the scheduler (one per pod bound),
    // while the DaemonSet controller records core Events.
    let new_events = delta.sum(|s| s.is_write() && s.group == "events.k8s.io");
    let core_events = delta.sum(|s| s.is_write() && s.group.is_empty() && s.resource == "events");
    let bindings = delta.writes("", "pods", "binding");
    let per_plugin = |n: u64| n as f64 / total as f64;
    eprintln!(
        "scale: {total} plugins over {daemonsets} DaemonSets, operator {profile} build ({})\n\
         scale:   applied in {applied:.1?} ({apply_retries} applies retried after 429/5xx); all Ready {converged:.1?} after the first apply\n\
         scale:   operator writes accepted {} ({:.2} per plugin{}): status {} ({:.2}/plugin), finalizer {} \
         ({:.2}/plugin), ConfigMaps {}, DaemonSets {} ({:.2} per DaemonSet); \
         besides, refused attempts {}\n\
         scale:   Events (not counted above): events.k8s.io {new_events} (the operator's, and the \
         scheduler's one per pod bound: {bindings} bound, so about {} the operator's), core {core_events} \
         (the DaemonSet controller's)\n\
         scale:   operator CPU {cpu_converged:.1} s to all Ready, {cpu:.1} s to quiet; peak RSS (VmHWM) {:.1} MiB\n\
         scale:   API server label names: {:?}",
        binary.display(),
        writes.total(),
        per_plugin(writes.total()),
        if quiet {
            ""
        } else {
            ", still writing a minute after all Ready"
        },
        writes.status,
        per_plugin(writes.status),
        writes.plugin_metadata,
        per_plugin(writes.plugin_metadata),
        writes.configmaps,
        writes.daemonsets,
        (writes.configmaps + writes.daemonsets) as f64 / daemonsets as f64,
        writes.refused.saturating_sub(apply_retries),
        new_events.saturating_sub(bindings),
        peak as f64 / 1024.0,
        delta.label_names(),
    );
    if std::env::var_os("E2E_SCALE_PRINT_REQUESTS").is_some() {
        for (series, n) in delta.iter().filter(|(s, _)| s.is_write()) {
            eprintln!("scale:   {n:>7} {series:?}");
        }
    }

    assert!(peak > 0, "the operator's VmHWM was read");
    assert!(
        writes.status > 0 && writes.configmaps + writes.daemonsets > 0,
        "the operator's writes were counted: {writes:?}"
    );
    let over = WriteBudget::new(total, daemonsets).excess(&writes);
    assert!(
        over.is_empty(),
        "the operator's writes are not linear in the plugins: {over:?} ({writes:?} for {total} \
         plugins over {daemonsets} DaemonSets)"
    );
    Ok(())
}
