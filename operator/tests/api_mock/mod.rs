//! A scripted API server for controller scenarios, over `tower-test`.
//!
//! A scenario lists the exact requests the controller must send, in order ([`Step`]: method,
//! path, checks on query and body). Replies come from a small in-memory [`Cluster`] that the
//! requests also change (an apply merges into the stored object, a status patch sets the
//! status, a delete removes it), so later reads see earlier writes, as on a real server. A step
//! can instead fail with an HTTP status (409, 500) to exercise the error paths.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Method, Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

pub const NS: &str = "logging";
pub const PLUGINS: &str = "/apis/fbplugin.dev/v1alpha1/namespaces/logging/fluentbitplugins";
pub const DAEMONSETS: &str = "/apis/apps/v1/namespaces/logging/daemonsets";
pub const DAEMONSET: &str = "/apis/apps/v1/namespaces/logging/daemonsets/fluent-bit";
pub const PODS: &str = "/api/v1/namespaces/logging/pods";
pub const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/logging/events";

pub fn configmap(name: &str) -> String {
    format!("/api/v1/namespaces/logging/configmaps/{name}")
}

pub fn plugin_path(name: &str) -> String {
    format!("{PLUGINS}/{name}")
}

/// Objects by API path, plus the pods of the namespace.
#[derive(Default, Clone)]
pub struct Cluster {
    pub objects: BTreeMap<String, Value>,
    pub pods: Vec<Value>,
}

impl Cluster {
    pub fn put(&mut self, path: impl Into<String>, object: Value) -> &mut Self {
        self.objects.insert(path.into(), object);
        self
    }

    fn list(&self, prefix: &str, api_version: &str, kind: &str) -> Value {
        let items: Vec<&Value> = self
            .objects
            .iter()
            .filter(|(p, _)| {
                p.strip_prefix(prefix)
                    .is_some_and(|r| r.starts_with('/') && !r[1..].contains('/'))
            })
            .map(|(_, v)| v)
            .collect();
        json!({"apiVersion": api_version, "kind": kind, "metadata": {"resourceVersion": "1"}, "items": items})
    }
}

/// A check on a request's query string and JSON body.
type Check = Box<dyn Fn(&str, &Value) + Send>;

/// One expected request.
pub struct Step {
    pub method: Method,
    pub path: String,
    checks: Vec<Check>,
    fail: Option<u16>,
}

impl Step {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Step {
            method,
            path: path.into(),
            checks: Vec::new(),
            fail: None,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// A server-side apply by the operator's field manager, with force.
    pub fn apply(path: impl Into<String>) -> Self {
        Self::new(Method::PATCH, path)
            .query("fieldManager=fbplugin-operator")
            .query("force=true")
    }

    pub fn query(mut self, part: &'static str) -> Self {
        self.checks.push(Box::new(move |query, _| {
            assert!(query.contains(part), "query {query:?} lacks {part:?}")
        }));
        self
    }

    pub fn body(mut self, check: impl Fn(&Value) + Send + 'static) -> Self {
        self.checks.push(Box::new(move |_, body| check(body)));
        self
    }

    /// Replies with this HTTP status instead of serving the request.
    pub fn fail(mut self, code: u16) -> Self {
        self.fail = Some(code);
        self
    }
}

/// A request the controller sent.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub body: Value,
    pub at: Instant,
}

pub fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

/// Serves `request` from the cluster state, changing it as the real server would.
fn serve(
    cluster: &mut Cluster,
    method: &Method,
    path: &str,
    content_type: &str,
    body: &Value,
) -> (u16, Value) {
    let not_found = || {
        (
            404,
            status_body(404, "NotFound", &format!("{path} not found")),
        )
    };
    match *method {
        Method::GET if path == PLUGINS => (
            200,
            cluster.list(PLUGINS, "fbplugin.dev/v1alpha1", "FluentBitPluginList"),
        ),
        Method::GET if path == DAEMONSETS => {
            (200, cluster.list(DAEMONSETS, "apps/v1", "DaemonSetList"))
        }
        Method::GET if path == PODS => (
            200,
            json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": cluster.pods}),
        ),
        Method::GET => cluster
            .objects
            .get(path)
            .map(|o| (200, o.clone()))
            .unwrap_or_else(not_found),
        Method::POST if path == EVENTS => (201, body.clone()),
        Method::POST => {
            let name = body["metadata"]["name"].as_str().unwrap_or_default();
            let at = format!("{path}/{name}");
            if cluster.objects.contains_key(&at) {
                return (
                    409,
                    status_body(409, "AlreadyExists", &format!("{at} exists")),
                );
            }
            let mut object = body.clone();
            object["metadata"]["resourceVersion"] = json!("1");
            cluster.objects.insert(at, object.clone());
            (201, object)
        }
        Method::PUT => {
            let Some(live) = cluster.objects.get_mut(path) else {
                return not_found();
            };
            let version = live["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("0")
                .to_string();
            if body["metadata"]["resourceVersion"].as_str() != Some(version.as_str()) {
                return (
                    409,
                    status_body(409, "Conflict", "the object has been modified"),
                );
            }
            let next: u64 = version.parse().unwrap_or(0) + 1;
            *live = body.clone();
            live["metadata"]["resourceVersion"] = json!(next.to_string());
            (200, live.clone())
        }
        Method::DELETE => match cluster.objects.remove(path) {
            Some(_) => (
                200,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
            ),
            None => not_found(),
        },
        Method::PATCH if path.ends_with("/status") => {
            let object_path = path.trim_end_matches("/status");
            let Some(object) = cluster.objects.get_mut(object_path) else {
                return not_found();
            };
            object["status"] = body["status"].clone();
            (200, object.clone())
        }
        Method::PATCH if content_type.contains("json-patch") => {
            let Some(object) = cluster.objects.get_mut(path) else {
                return not_found();
            };
            for op in body.as_array().into_iter().flatten() {
                let target = op["path"].as_str().unwrap_or_default();
                match (op["op"].as_str(), target) {
                    (Some("add"), "/metadata/finalizers") => {
                        object["metadata"]["finalizers"] = op["value"].clone()
                    }
                    (Some("remove"), t) if t.starts_with("/metadata/finalizers/") => {
                        let i: usize = t
                            .rsplit('/')
                            .next()
                            .and_then(|i| i.parse().ok())
                            .unwrap_or(0);
                        if let Some(list) = object["metadata"]["finalizers"].as_array_mut() {
                            list.remove(i);
                        }
                    }
                    _ => {}
                }
            }
            (200, object.clone())
        }
        Method::PATCH => {
            let object = cluster
                .objects
                .entry(path.to_string())
                .or_insert_with(|| json!({}));
            let spec_before = object["spec"].clone();
            merge(object, body);
            // Like the API server: a spec change bumps the generation.
            if object["spec"] != spec_before
                && let Some(g) = object["metadata"]["generation"].as_i64()
            {
                object["metadata"]["generation"] = json!(g + 1);
            }
            (200, object.clone())
        }
        _ => (
            405,
            status_body(405, "MethodNotAllowed", "unexpected method"),
        ),
    }
}

/// Server-side-apply-like merge: objects merge, list items with a `mountPath` or `name` merge
/// by it, everything else is replaced.
pub fn merge(live: &mut Value, intent: &Value) {
    match (live, intent) {
        (Value::Object(live), Value::Object(intent)) => {
            for (k, v) in intent {
                merge(live.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (Value::Array(live), Value::Array(intent)) if intent.iter().all(|i| key(i).is_some()) => {
            for item in intent {
                match live.iter_mut().find(|l| key(l) == key(item)) {
                    Some(l) => merge(l, item),
                    None => live.push(item.clone()),
                }
            }
        }
        (live, intent) => *live = intent.clone(),
    }
}

fn key(v: &Value) -> Option<&str> {
    v.get("mountPath")
        .or_else(|| v.get("name"))
        .and_then(Value::as_str)
}

/// A kube `Client` whose requests go to the script.
pub struct ApiServer {
    pub cluster: Arc<Mutex<Cluster>>,
    handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
}

pub fn mock(cluster: Cluster) -> (Client, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NS);
    (
        client,
        ApiServer {
            cluster: Arc::new(Mutex::new(cluster)),
            handle,
        },
    )
}

impl ApiServer {
    /// Answers the steps in order, asserting each request; returns what was seen.
    pub async fn run(mut self, steps: Vec<Step>) -> (Self, Vec<Seen>) {
        let mut seen = Vec::new();
        for (i, step) in steps.into_iter().enumerate() {
            // Generous: a loaded CI machine can stall the controller's task for seconds.
            let next =
                tokio::time::timeout(Duration::from_secs(30), self.handle.next_request()).await;
            let Ok(Some((request, send))) = next else {
                panic!(
                    "step {i}: expected {} {}, but the controller sent nothing more",
                    step.method, step.path
                )
            };
            let at = Instant::now();
            let method = request.method().clone();
            let path = request.uri().path().to_string();
            let query = request.uri().query().unwrap_or_default().to_string();
            let content_type = request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let bytes = request
                .into_body()
                .collect_bytes()
                .await
                .expect("request body");
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).expect("JSON body")
            };
            assert_eq!(
                (&method, path.as_str()),
                (&step.method, step.path.as_str()),
                "step {i}: request {method} {path}?{query}"
            );
            for check in &step.checks {
                check(&query, &body);
            }
            let (code, reply) = match step.fail {
                Some(code) => (
                    code,
                    status_body(
                        code,
                        if code == 409 {
                            "Conflict"
                        } else {
                            "InternalError"
                        },
                        "injected by the scenario",
                    ),
                ),
                None => serve(
                    &mut self.cluster.lock().unwrap(),
                    &method,
                    &path,
                    &content_type,
                    &body,
                ),
            };
            let response = Response::builder()
                .status(code)
                .body(Body::from(serde_json::to_vec(&reply).expect("reply")))
                .expect("response");
            send.send_response(response);
            seen.push(Seen {
                method,
                path,
                body,
                at,
            });
        }
        (self, seen)
    }

    /// Asserts the controller sent nothing beyond the script (call after dropping every
    /// client clone, e.g. the `Context`).
    pub async fn assert_done(mut self) {
        let next = tokio::time::timeout(Duration::from_secs(5), self.handle.next_request()).await;
        if let Ok(Some((request, _))) = next {
            panic!("unexpected request {} {}", request.method(), request.uri());
        }
    }
}
