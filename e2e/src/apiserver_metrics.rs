//! Counting API requests from kube-apiserver's own `/metrics` (`apiserver_request_total`), so a
//! suite can say how many writes were made while something happened: take a [`RequestCounts`]
//! before, one after, and [`RequestCounts::since`] gives the difference.
//!
//! On 1.20 the series carry `verb`, `group`, `version`, `resource`, `subresource`, `scope`,
//! `component`, `contentType`, `dry_run` and `code`; there is no label naming the client (the
//! old `client` label went with `apiserver_request_count`), and `component` is the serving
//! component (`apiserver`), not the caller. So writes cannot be attributed to a client by
//! metrics alone: a suite counts writes to resources only the component it measures writes.
//! Server-side apply shows as verb `APPLY`, other patches as `PATCH`.

use std::collections::BTreeMap;

use kube::Client;

use crate::error::{Error, Result};

/// The verbs `apiserver_request_total` reports for requests that change state.
pub const WRITE_VERBS: [&str; 6] = [
    "POST",
    "PUT",
    "PATCH",
    "APPLY",
    "DELETE",
    "DELETECOLLECTION",
];

/// One `apiserver_request_total` series: the labels that tell requests apart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestSeries {
    /// `POST`, `PUT`, `PATCH`, `APPLY`, `DELETE`, `GET`, `LIST`, `WATCH`, ...
    pub verb: String,
    /// The API group (`""` for the core group).
    pub group: String,
    /// The resource (plural), e.g. `configmaps`.
    pub resource: String,
    /// The subresource (`""` for the main resource), e.g. `status`.
    pub subresource: String,
    /// The HTTP status code of the response, as reported (e.g. `200`, `409`, `422`).
    pub code: String,
}

impl RequestSeries {
    /// Whether the verb changes state ([`WRITE_VERBS`]).
    pub fn is_write(&self) -> bool {
        WRITE_VERBS.contains(&self.verb.as_str())
    }

    /// Whether the server answered with a 2xx code.
    pub fn succeeded(&self) -> bool {
        self.code.starts_with('2')
    }
}

/// Request counts by series, as read from `/metrics` at one moment (or the difference of two
/// readings, [`Self::since`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestCounts {
    counts: BTreeMap<RequestSeries, u64>,
    labels: Vec<String>,
}

impl RequestCounts {
    /// Reads the API server's `/metrics` with `client` (which needs `get` on the non-resource
    /// URL `/metrics`, as an admin has).
    pub async fn read(client: &Client) -> Result<Self> {
        let request = http::Request::get("/metrics")
            .body(Vec::new())
            .map_err(|e| Error::Invalid(format!("building GET /metrics: {e}")))?;
        let text = client
            .request_text(request)
            .await
            .map_err(Error::kube("reading the API server's /metrics"))?;
        Self::parse(&text)
    }

    /// Parses Prometheus text exposition, keeping the `apiserver_request_total` samples.
    pub fn parse(text: &str) -> Result<Self> {
        let mut counts = BTreeMap::new();
        let mut labels = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
                continue;
            };
            let (pairs, value) = parse_labels(rest)
                .ok_or_else(|| Error::Invalid(format!("unreadable metrics line: {line}")))?;
            let value: f64 = value
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Error::Invalid(format!("no value on metrics line: {line}")))?;
            if labels.is_empty() {
                labels = pairs.iter().map(|(k, _)| k.clone()).collect();
            }
            let get = |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let series = RequestSeries {
                verb: get("verb"),
                group: get("group"),
                resource: get("resource"),
                subresource: get("subresource"),
                code: get("code"),
            };
            // Counters are integral; series differing only in labels dropped here add up.
            *counts.entry(series).or_insert(0) += value as u64;
        }
        if counts.is_empty() {
            return Err(Error::Invalid(
                "the API server's /metrics holds no apiserver_request_total samples".into(),
            ));
        }
        Ok(RequestCounts { counts, labels })
    }

    /// The requests counted in `self` but not yet in `before` (series missing from `before`
    /// count from zero; counters only grow while the server runs).
    pub fn since(&self, before: &RequestCounts) -> RequestCounts {
        let counts = self
            .counts
            .iter()
            .map(|(series, n)| {
                let earlier = before.counts.get(series).copied().unwrap_or(0);
                (series.clone(), n.saturating_sub(earlier))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        RequestCounts {
            counts,
            labels: self.labels.clone(),
        }
    }

    /// The label names the server's series carry (to check, for example, that there is no
    /// label naming the client).
    pub fn label_names(&self) -> &[String] {
        &self.labels
    }

    /// Every series with a non-zero count.
    pub fn iter(&self) -> impl Iterator<Item = (&RequestSeries, u64)> {
        self.counts.iter().map(|(s, n)| (s, *n))
    }

    /// Write requests (any code) to `resource` of `group` with `subresource` (`""` for the main
    /// resource).
    pub fn writes(&self, group: &str, resource: &str, subresource: &str) -> u64 {
        self.sum(|s| {
            s.is_write()
                && s.group == group
                && s.resource == resource
                && s.subresource == subresource
        })
    }

    /// Write requests to that resource that the server refused (codes other than 2xx: 409
    /// conflicts, 422 invalid patches, ...).
    pub fn refused_writes(&self, group: &str, resource: &str, subresource: &str) -> u64 {
        self.sum(|s| {
            s.is_write()
                && !s.succeeded()
                && s.group == group
                && s.resource == resource
                && s.subresource == subresource
        })
    }

    /// The sum over the series `keep` selects.
    pub fn sum(&self, keep: impl Fn(&RequestSeries) -> bool) -> u64 {
        self.counts
            .iter()
            .filter(|(s, _)| keep(s))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Splits `k="v",k2="v2"} value` (the part after `{`) into label pairs and the rest.
fn parse_labels(text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut pairs = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(',');
        if let Some(after) = rest.strip_prefix('}') {
            return Some((pairs, after));
        }
        let (name, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        pairs.push((name.trim().to_owned(), value));
        rest = &after[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",contentType="application/json",dry_run="",group="fbplugin.dev",resource="fluentbitplugins",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 7
apiserver_request_total{code="409",component="apiserver",contentType="application/json",dry_run="",group="fbplugin.dev",resource="fluentbitplugins",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 2
apiserver_request_total{code="200",component="apiserver",contentType="application/json",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="APPLY",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",contentType="application/vnd.kubernetes.protobuf",dry_run="",group="",resource="configmaps",scope="namespace",subresource="",verb="LIST",version="v1"} 40
apiserver_request_total{code="201",component="apiserver",contentType="application/json",dry_run="",group="",resource="a\"b\\c",scope="resource",subresource="",verb="POST",version="v1"} 1.0
apiserver_request_duration_seconds_bucket{verb="GET",le="0.1"} 5
"#;

    #[test]
    fn parses_counts_by_verb_resource_subresource_and_code() {
        let counts = RequestCounts::parse(SAMPLE).unwrap();
        assert_eq!(
            counts.writes("fbplugin.dev", "fluentbitplugins", "status"),
            9
        );
        assert_eq!(
            counts.refused_writes("fbplugin.dev", "fluentbitplugins", "status"),
            2
        );
        assert_eq!(counts.writes("", "configmaps", ""), 3, "LIST is no write");
        assert_eq!(counts.writes("", "a\"b\\c", ""), 1, "escapes are read");
        assert!(counts.label_names().iter().any(|l| l == "component"));
        assert!(!counts.label_names().iter().any(|l| l == "client"));
    }

    #[test]
    fn since_subtracts_an_earlier_reading() {
        let before = RequestCounts::parse(SAMPLE).unwrap();
        let later = SAMPLE.replace(
            "verb=\"APPLY\",version=\"v1\"} 3",
            "verb=\"APPLY\",version=\"v1\"} 10",
        );
        let after = RequestCounts::parse(&later).unwrap();
        let delta = after.since(&before);
        assert_eq!(delta.writes("", "configmaps", ""), 7);
        assert_eq!(
            delta.writes("fbplugin.dev", "fluentbitplugins", "status"),
            0
        );
        assert_eq!(delta.iter().count(), 1);
    }

    #[test]
    fn a_text_without_request_counts_is_an_error() {
        assert!(RequestCounts::parse("# nothing here\n").is_err());
        assert!(RequestCounts::parse("apiserver_request_total{verb=\"GET\" 1\n").is_err());
    }
}
