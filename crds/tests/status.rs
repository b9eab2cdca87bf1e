//! Conditions keep their transition time while their status holds.

use fbplugin_crds::status::{condition, reason};
use fbplugin_crds::{ConditionUpdate, FluentBitPluginStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

fn at(s: &str) -> Time {
    Time(s.parse().expect("timestamp"))
}

fn ready(status: bool, message: &str) -> ConditionUpdate {
    ConditionUpdate {
        type_: condition::READY,
        status,
        reason: if status {
            reason::ROLLOUT_COMPLETE
        } else {
            reason::ROLLOUT_IN_PROGRESS
        },
        message: message.into(),
    }
}

#[test]
fn transition_time_moves_only_when_the_status_changes() {
    let mut status = FluentBitPluginStatus::default();
    status.set_condition(ready(false, "1/3"), Some(1), &at("2026-11-21T06:00:00Z"));
    status.set_condition(ready(false, "2/3"), Some(1), &at("2026-11-21T06:01:00Z"));
    let c = status.condition(condition::READY).expect("set");
    assert_eq!(c.last_transition_time, at("2026-11-21T06:00:00Z"));
    assert_eq!(c.message, "2/3");
    status.set_condition(ready(true, "3/3"), Some(2), &at("2026-11-21T06:02:00Z"));
    let c = status.condition(condition::READY).expect("set");
    assert_eq!(c.last_transition_time, at("2026-11-21T06:02:00Z"));
    assert_eq!(
        (c.status.as_str(), c.reason.as_str(), c.observed_generation),
        ("True", "RolloutComplete", Some(2))
    );
    assert_eq!(status.conditions.len(), 1);
    let json = serde_json::to_value(&status).expect("json");
    assert_eq!(
        json["conditions"][0]["lastTransitionTime"],
        "2026-11-21T06:02:00Z"
    );
}
