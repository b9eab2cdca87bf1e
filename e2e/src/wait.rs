//! Polling for a condition with a failure message that says what was expected and what was seen.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Event;
use kube::api::ListParams;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Polls `check` every `poll` until it returns `Ok(Ok(value))`, for at most `timeout`.
///
/// `check` returns `Ok(Err(observed))` while the condition does not hold, where `observed`
/// describes what it saw (for example [`observed_yaml`] of the object); an `Err` stops the wait
/// at once. On timeout the error names `expected` and carries the last `observed`.
pub async fn wait_for<T, F, Fut>(
    expected: &str,
    timeout: Duration,
    poll: Duration,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Result<T, String>>>,
{
    let started = Instant::now();
    loop {
        let observed = match check().await? {
            Ok(value) => return Ok(value),
            Err(observed) => observed,
        };
        if started.elapsed() >= timeout {
            return Err(Error::Timeout {
                expected: expected.to_owned(),
                waited: started.elapsed(),
                observed,
            });
        }
        tokio::time::sleep(poll).await;
    }
}

/// Waits until object `name` exists and satisfies `condition`, and returns it. On timeout the
/// error shows the object's last YAML (without managedFields) and its Events.
pub async fn wait_for_object<K, F>(
    api: &Api<K>,
    name: &str,
    expected: &str,
    timeout: Duration,
    mut condition: F,
) -> Result<K>
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
    K::DynamicType: Default,
    F: FnMut(&K) -> bool,
{
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let started = Instant::now();
    loop {
        let object = api
            .get_opt(name)
            .await
            .map_err(Error::kube(format!("reading {kind} {name}")))?;
        match object {
            Some(object) if condition(&object) => return Ok(object),
            _ if started.elapsed() < timeout => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            object => {
                let events = match &object {
                    Some(found) => match events_for(&api.clone().into_client(), found).await {
                        Ok(events) => describe_events(&events),
                        Err(e) => format!("  (events unavailable: {e})"),
                    },
                    None => "  (none: no object)".to_owned(),
                };
                return Err(Error::Timeout {
                    expected: format!("{kind} {name}: {expected}"),
                    waited: started.elapsed(),
                    observed: format!("{}\nEvents:\n{events}", observed_yaml(&object)),
                });
            }
        }
    }
}

/// The object as YAML for a failure message, without `managedFields` (noise for a reader), or
/// a note that it does not exist.
pub fn observed_yaml<T: Serialize>(object: &Option<T>) -> String {
    let Some(object) = object else {
        return "last observed: the object does not exist".to_owned();
    };
    let mut value = match serde_json::to_value(object) {
        Ok(value) => value,
        Err(e) => return format!("last observed: (cannot serialize: {e})"),
    };
    if let Some(metadata) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        metadata.remove("managedFields");
    }
    match serde_norway::to_string(&value) {
        Ok(yaml) => format!("last observed:\n{yaml}"),
        Err(e) => format!("last observed: (cannot render YAML: {e})"),
    }
}

/// Events whose `involvedObject` is `object` (matched by uid), oldest first.
pub async fn events_for<K: Resource>(client: &Client, object: &K) -> Result<Vec<Event>> {
    let uid = object.meta().uid.clone().unwrap_or_default();
    let name = object.name_any();
    let api: Api<Event> = match object.namespace() {
        Some(ns) => Api::namespaced(client.clone(), &ns),
        None => Api::all(client.clone()),
    };
    let mut events = api
        .list(&ListParams::default().fields(&format!("involvedObject.uid={uid}")))
        .await
        .map_err(Error::kube(format!("listing events of {name}")))?
        .items;
    events.sort_by_key(event_time);
    Ok(events)
}

fn event_time(event: &Event) -> Option<k8s_openapi::jiff::Timestamp> {
    let last = event.last_timestamp.as_ref().map(|t| t.0);
    last.or_else(|| event.event_time.as_ref().map(|t| t.0))
}

/// One line per event: `type reason: message (xN)`.
pub fn describe_events(events: &[Event]) -> String {
    if events.is_empty() {
        return "  (none)".to_owned();
    }
    events
        .iter()
        .map(|e| {
            format!(
                "  {} {}: {} (x{})",
                e.type_.as_deref().unwrap_or("?"),
                e.reason.as_deref().unwrap_or("?"),
                e.message.as_deref().unwrap_or(""),
                e.count.unwrap_or(1)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
