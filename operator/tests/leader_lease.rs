//! Leader election against a scripted API server: the Lease requests a candidate sends and
//! what it concludes (`operator::leader`).

mod api_mock;

use std::time::Duration;

use api_mock::{Cluster, Step, mock};
use http::Method;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use operator::leader::{Elector, Timing};
use serde_json::{Value, json};

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases";
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases/fbplugin-operator";

fn lease(holder: Option<&str>, renewed_ago: i64) -> Value {
    let renewed = Timestamp::now() - SignedDuration::from_secs(renewed_ago);
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
           "metadata": {"name": "fbplugin-operator", "namespace": "ops", "resourceVersion": "7"},
           "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "leaseTransitions": 2,
                    "renewTime": renewed.to_string(), "acquireTime": renewed.to_string()}})
}

/// One attempt by `me` against `cluster`, expecting `steps`.
async fn attempt(
    cluster: Cluster,
    me: &str,
    steps: Vec<Step>,
) -> (Result<bool, kube::Error>, Cluster) {
    let (client, server) = mock(cluster);
    let elector = Elector::new(client, "ops", "fbplugin-operator", me, Timing::default());
    let script = tokio::spawn(server.run(steps));
    let result = tokio::time::timeout(Duration::from_secs(5), elector.try_acquire_or_renew())
        .await
        .expect("attempt finishes");
    drop(elector);
    let (server, _) = script.await.expect("every step ran");
    let cluster = server.cluster.lock().unwrap().clone();
    server.assert_done().await;
    (result, cluster)
}

fn holder(cluster: &Cluster) -> &str {
    cluster.objects[LEASE]["spec"]["holderIdentity"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn first_candidate_creates_the_lease() {
    let steps = vec![
        Step::get(LEASE),
        Step::new(Method::POST, LEASES).body(|l| assert_eq!(l["spec"]["leaseTransitions"], 0)),
    ];
    let (won, cluster) = attempt(Cluster::default(), "a", steps).await;
    assert!(won.expect("created"));
    assert_eq!(holder(&cluster), "a");
}

#[tokio::test]
async fn a_live_lease_of_another_is_left_alone() {
    let mut c = Cluster::default();
    c.put(LEASE, lease(Some("b"), 3));
    let (won, cluster) = attempt(c, "a", vec![Step::get(LEASE)]).await;
    assert!(!won.expect("no error"));
    assert_eq!(holder(&cluster), "b");
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_with_the_version_read() {
    let mut c = Cluster::default();
    c.put(LEASE, lease(Some("b"), 30));
    let steps = vec![
        Step::get(LEASE),
        Step::new(Method::PUT, LEASE).body(|l| {
            assert_eq!(
                l["metadata"]["resourceVersion"], "7",
                "optimistic concurrency"
            );
            assert_eq!(l["spec"]["leaseTransitions"], 3);
        }),
    ];
    let (won, cluster) = attempt(c, "a", steps).await;
    assert!(won.expect("taken over"));
    assert_eq!(holder(&cluster), "a");
}

#[tokio::test]
async fn losing_the_race_for_an_expired_lease_is_a_conflict() {
    let mut c = Cluster::default();
    c.put(LEASE, lease(Some("b"), 30));
    let steps = vec![Step::get(LEASE), Step::new(Method::PUT, LEASE).fail(409)];
    let (won, _) = attempt(c, "a", steps).await;
    assert!(matches!(won, Err(kube::Error::Api(s)) if s.code == 409));
}

#[tokio::test]
async fn the_holder_renews_and_releases_on_shutdown() {
    let mut c = Cluster::default();
    c.put(LEASE, lease(Some("a"), 2));
    let renew =
        Step::new(Method::PUT, LEASE).body(|l| assert_eq!(l["spec"]["leaseTransitions"], 2));
    let (won, c) = attempt(c, "a", vec![Step::get(LEASE), renew]).await;
    assert!(won.expect("renewed"));

    let (client, server) = mock(c);
    let elector = Elector::new(client, "ops", "fbplugin-operator", "a", Timing::default());
    let script = tokio::spawn(server.run(vec![Step::get(LEASE), Step::new(Method::PUT, LEASE)]));
    elector.release().await.expect("released");
    drop(elector);
    let (server, _) = script.await.expect("every step ran");
    let cluster = server.cluster.lock().unwrap().clone();
    assert_eq!(holder(&cluster), "", "a successor need not wait for expiry");
}
