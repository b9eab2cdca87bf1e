//! Leader election with a `coordination.k8s.io/v1` Lease, the way client-go does it.
//!
//! The holder renews `spec.renewTime` every [`Timing::retry`]; others take the Lease over
//! once `renewTime + leaseDurationSeconds` has passed. Every write is a `replace` carrying the
//! `resourceVersion` that was read, so two candidates racing for an expired Lease cannot both
//! win (the loser gets 409 and reads again). A leader that cannot renew within
//! [`Timing::renew_deadline`] steps down, well before others may take over (`lease`), so two
//! leaders never act at once as long as clocks agree within the difference. On shutdown the
//! leader releases the Lease (empty holder) so a successor need not wait for it to expire.
//!
//! [`decide`] is the pure state machine; [`Elector`] does the I/O.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tracing::{info, warn};

/// Durations of the election.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long a Lease is valid after its last renewal.
    pub lease: Duration,
    /// How long a leader keeps leading while renewals fail.
    pub renew_deadline: Duration,
    /// Time between attempts (renewals, or campaigns while following).
    pub retry: Duration,
}

impl Default for Timing {
    /// client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry.
    fn default() -> Self {
        Timing {
            lease: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry: Duration::from_secs(2),
        }
    }
}

/// What a candidate should do with the Lease it just read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// We hold it: write a new renewTime.
    Renew,
    /// It is free or expired: write ourselves as holder.
    Acquire,
    /// Someone else holds a live Lease.
    Follow {
        /// The current holder.
        holder: String,
    },
}

/// Decides from the Lease's spec (`None`: no Lease yet) what `me` should do at `now`.
pub fn decide(spec: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else {
        return Decision::Acquire;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() {
        return Decision::Acquire;
    }
    if holder == me {
        return Decision::Renew;
    }
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    match renewed {
        Some(at) if at + duration > now => Decision::Follow {
            holder: holder.to_string(),
        },
        _ => Decision::Acquire,
    }
}

/// The spec to write after `decision` (`Follow` writes nothing).
pub fn next_spec(
    previous: Option<&LeaseSpec>,
    decision: &Decision,
    me: &str,
    timing: Timing,
    now: Timestamp,
) -> Option<LeaseSpec> {
    let mut spec = previous.cloned().unwrap_or_default();
    match decision {
        Decision::Follow { .. } => return None,
        Decision::Renew => {}
        Decision::Acquire => {
            let changed_hands = previous.is_some();
            spec.holder_identity = Some(me.to_string());
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions =
                Some(spec.lease_transitions.unwrap_or(0) + i32::from(changed_hands));
        }
    }
    spec.lease_duration_seconds = Some(timing.lease.as_secs().try_into().unwrap_or(i32::MAX));
    spec.renew_time = Some(MicroTime(now));
    Some(spec)
}

/// Campaigns for and holds one Lease.
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: Timing,
}

impl Elector {
    /// An elector for Lease `namespace/name`, as `identity` (unique per replica: the pod name).
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timing: Timing,
    ) -> Self {
        Elector {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity: identity.into(),
            timing,
        }
    }

    /// One attempt: read the Lease, decide, write. `Ok(true)` when we hold it afterwards,
    /// `Ok(false)` when another replica holds it, 409 when another candidate wrote first.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let lease = self.api.get_opt(&self.name).await?;
        let spec = lease.as_ref().and_then(|l| l.spec.as_ref());
        let decision = decide(spec, &self.identity, now);
        let Some(new_spec) = next_spec(spec, &decision, &self.identity, self.timing, now) else {
            return Ok(false);
        };
        let result = match lease {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..Default::default()
                    },
                    spec: Some(new_spec),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            Some(mut lease) => {
                lease.spec = Some(new_spec);
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match result {
            Ok(_) => {
                if decision == Decision::Acquire {
                    info!(lease = %self.name, identity = %self.identity, "acquired the lease");
                }
                Ok(true)
            }
            // A 409 (someone wrote first) is returned too: a follower just lost this round,
            // a leader keeps leading until its renew deadline passes.
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up if we hold it, so a successor takes over at once.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await?;
        info!(lease = %self.name, "released the lease");
        Ok(())
    }

    /// Campaigns and renews until `shutdown`, publishing whether we lead on `leading`; releases
    /// the Lease on shutdown.
    pub async fn run(self, leading: watch::Sender<bool>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_renewal: Option<Instant> = None;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    last_renewal = Some(Instant::now());
                    leading.send_if_modified(|l| !std::mem::replace(l, true));
                }
                Ok(false) => {
                    last_renewal = None;
                    if leading.send_if_modified(|l| std::mem::replace(l, false)) {
                        warn!(lease = %self.name, "another replica holds the lease; stepping down");
                    }
                }
                Err(e) => {
                    if !matches!(&e, kube::Error::Api(s) if s.code == 409) {
                        warn!(lease = %self.name, error = %e, "lease read or write failed");
                    }
                    if last_renewal.is_some_and(|t| t.elapsed() > self.timing.renew_deadline) {
                        last_renewal = None;
                        leading.send_replace(false);
                        warn!(lease = %self.name, "could not renew the lease in time; stepping down");
                    }
                }
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(self.timing.retry) => {}
            }
        }
        leading.send_replace(false);
        if let Err(e) = self.release().await {
            warn!(lease = %self.name, error = %e, "cannot release the lease; it expires on its own");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn lease(holder: &str, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(at(renewed))),
            acquire_time: Some(MicroTime(at(0))),
            lease_transitions: Some(3),
            ..Default::default()
        }
    }

    #[test]
    fn no_lease_or_empty_holder_is_acquired() {
        assert_eq!(decide(None, "a", at(0)), Decision::Acquire);
        let released = LeaseSpec {
            holder_identity: None,
            ..lease("x", 0)
        };
        assert_eq!(decide(Some(&released), "a", at(1)), Decision::Acquire);
    }

    #[test]
    fn live_lease_of_another_is_followed_until_it_expires() {
        let l = lease("b", 100);
        assert_eq!(
            decide(Some(&l), "a", at(114)),
            Decision::Follow { holder: "b".into() }
        );
        assert_eq!(decide(Some(&l), "a", at(115)), Decision::Acquire);
        assert_eq!(
            decide(Some(&l), "b", at(500)),
            Decision::Renew,
            "the holder renews, even late"
        );
    }

    #[test]
    fn acquire_counts_a_transition_and_renew_keeps_acquire_time() {
        let t = Timing::default();
        let l = lease("b", 100);
        let taken = next_spec(Some(&l), &Decision::Acquire, "a", t, at(200)).unwrap();
        assert_eq!(taken.holder_identity.as_deref(), Some("a"));
        assert_eq!(taken.lease_transitions, Some(4));
        assert_eq!(taken.acquire_time, Some(MicroTime(at(200))));
        assert_eq!(taken.lease_duration_seconds, Some(15));
        let renewed = next_spec(Some(&taken), &Decision::Renew, "a", t, at(202)).unwrap();
        assert_eq!(renewed.acquire_time, Some(MicroTime(at(200))));
        assert_eq!(renewed.renew_time, Some(MicroTime(at(202))));
        assert_eq!(renewed.lease_transitions, Some(4));
        let first = next_spec(None, &Decision::Acquire, "a", t, at(0)).unwrap();
        assert_eq!(first.lease_transitions, Some(0));
        assert_eq!(
            next_spec(
                Some(&l),
                &Decision::Follow { holder: "b".into() },
                "a",
                t,
                at(1)
            ),
            None
        );
    }

    #[test]
    fn a_leader_steps_down_before_others_may_take_over() {
        let t = Timing::default();
        assert!(t.renew_deadline < t.lease && t.retry < t.renew_deadline);
    }
}
