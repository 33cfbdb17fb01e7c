//! Release health, measured where it happens: one line of CloudWatch's embedded metric format
//! (EMF) per event, printed to stdout, which Lambda sends to the function's log group, where
//! CloudWatch turns it into metrics. No API call, no client, nothing added to a request's time.
//!
//! Namespace `noteapp`; every line carries the dimensions `Function` (the Lambda function's name,
//! `<stack>-api`) and `Version` (the version serving it, `AWS_LAMBDA_FUNCTION_VERSION`), and the
//! property `Release` (`NOTEAPP_RELEASE`). The signals:
//!
//! | event | metrics (unit) | dimension sets |
//! |---|---|---|
//! | an API request | `Requests` (Count), `Errors5xx` (Count), `Latency` (Milliseconds) | `Function, Version, Route`; `Function, Version`; `Function` |
//! | a cold start | `ColdStart` (Count) | `Function, Version`; `Function` |
//! | a broadcast | `Sent`, `Gone`, `Throttled`, `Failed` (Count) | `Function, Version`; `Function` |
//!
//! `Route` is the route's template (`GET /notes/{id}`, never the path a client sent), so there
//! are as many values as routes; the API line also carries the status class (`2xx`) as a
//! property. The `Function` set is what the alarms watch; the `Version` sets compare a canary with
//! the release before it. No line holds anything from a request besides its route and status.
//!
//! Lines are written only inside Lambda ([`init_in_lambda`]); `noteapp local` and the tests'
//! in-process handlers write none. They go straight to stdout, not through `tracing`, so
//! `LOG_LEVEL` never hides them.

use std::io::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Serialize;

/// The CloudWatch namespace of every metric noteapp writes.
pub const NAMESPACE: &str = "noteapp";

/// Who writes a line: the function, its version and release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The Lambda function's name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub function: String,
    /// The version running (`AWS_LAMBDA_FUNCTION_VERSION`: a number, or `$LATEST`).
    pub version: String,
    /// The release id (`NOTEAPP_RELEASE`), when the template sets it.
    pub release: Option<String>,
}

/// What one broadcast did, as counted for its metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BroadcastCounts {
    /// Connections the message reached.
    pub sent: u64,
    /// Connections found gone (410) and removed.
    pub gone: u64,
    /// Posts the management API throttled (each retried, or failed once out of tries).
    pub throttled: u64,
    /// Connections the message could not reach.
    pub failed: u64,
}

const API_DIMENSIONS: &[&[&str]] = &[
    &["Function", "Version", "Route"],
    &["Function", "Version"],
    &["Function"],
];
const FUNCTION_DIMENSIONS: &[&[&str]] = &[&["Function", "Version"], &["Function"]];

#[derive(Serialize)]
struct Line<'a, V: Serialize> {
    #[serde(rename = "_aws")]
    aws: Metadata<'a>,
    #[serde(rename = "Function")]
    function: &'a str,
    #[serde(rename = "Version")]
    version: &'a str,
    #[serde(rename = "Release", skip_serializing_if = "Option::is_none")]
    release: Option<&'a str>,
    #[serde(flatten)]
    values: V,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Metadata<'a> {
    timestamp: i64,
    #[serde(rename = "CloudWatchMetrics")]
    directives: [Directive<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Directive<'a> {
    namespace: &'static str,
    dimensions: &'a [&'a [&'a str]],
    metrics: Vec<Definition>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Definition {
    name: &'static str,
    unit: &'static str,
}

fn line<V: Serialize>(
    source: &Source,
    timestamp_ms: i64,
    dimensions: &[&[&str]],
    metrics: &[(&'static str, &'static str)],
    values: V,
) -> String {
    let line = Line {
        aws: Metadata {
            timestamp: timestamp_ms,
            directives: [Directive {
                namespace: NAMESPACE,
                dimensions,
                metrics: metrics
                    .iter()
                    .map(|&(name, unit)| Definition { name, unit })
                    .collect(),
            }],
        },
        function: &source.function,
        version: &source.version,
        release: source.release.as_deref(),
        values,
    };
    // Strings and numbers always serialize.
    serde_json::to_string(&line).unwrap_or_default()
}

/// The line for one API request on `route` (a template such as `GET /notes/{id}`) answered
/// with `status` after `latency_ms`.
pub fn api_request_line(
    source: &Source,
    timestamp_ms: i64,
    route: &str,
    status: u16,
    latency_ms: f64,
) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Values<'a> {
        route: &'a str,
        status_class: String,
        requests: u8,
        errors5xx: u8,
        latency: f64,
    }
    line(
        source,
        timestamp_ms,
        API_DIMENSIONS,
        &[
            ("Requests", "Count"),
            ("Errors5xx", "Count"),
            ("Latency", "Milliseconds"),
        ],
        Values {
            route,
            status_class: format!("{}xx", status / 100),
            requests: 1,
            errors5xx: u8::from((500..600).contains(&status)),
            latency: (latency_ms * 1000.0).round() / 1000.0,
        },
    )
}

/// The line for a cold start: the first thing an instance writes.
pub fn cold_start_line(source: &Source, timestamp_ms: i64) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Values {
        cold_start: u8,
    }
    line(
        source,
        timestamp_ms,
        FUNCTION_DIMENSIONS,
        &[("ColdStart", "Count")],
        Values { cold_start: 1 },
    )
}

/// The line for one broadcast's fan-out.
pub fn broadcast_line(source: &Source, timestamp_ms: i64, counts: &BroadcastCounts) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Values {
        sent: u64,
        gone: u64,
        throttled: u64,
        failed: u64,
    }
    line(
        source,
        timestamp_ms,
        FUNCTION_DIMENSIONS,
        &[
            ("Sent", "Count"),
            ("Gone", "Count"),
            ("Throttled", "Count"),
            ("Failed", "Count"),
        ],
        Values {
            sent: counts.sent,
            gone: counts.gone,
            throttled: counts.throttled,
            failed: counts.failed,
        },
    )
}

/// This process's source, once [`init_in_lambda`] found it runs inside Lambda.
static SOURCE: OnceLock<Source> = OnceLock::new();

/// Turns the metrics on when the process runs inside Lambda (`AWS_LAMBDA_RUNTIME_API` is set)
/// and writes the cold start; elsewhere nothing is ever written. `vars` reads the environment.
/// Returns whether it turned them on.
pub fn init_in_lambda(vars: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| vars(name).filter(|v| !v.trim().is_empty());
    if set(crate::config::LAMBDA_RUNTIME_API_VAR).is_none() {
        return false;
    }
    let source = Source {
        function: set("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "unknown".to_owned()),
        version: set("AWS_LAMBDA_FUNCTION_VERSION").unwrap_or_else(|| "$LATEST".to_owned()),
        release: set(crate::config::RELEASE_VAR),
    };
    if SOURCE.set(source).is_ok() {
        emit(cold_start_line);
    }
    true
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Writes the line `build` makes, when metrics are on.
fn emit(build: impl FnOnce(&Source, i64) -> String) {
    if let Some(source) = SOURCE.get() {
        let mut text = build(source, now_ms());
        text.push('\n');
        // One write of the whole line, so concurrent lines never interleave; a closed stdout
        // loses the metric, never the request.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
}

/// Records an API request on `route` answered with `status` after `latency`.
pub fn api_request(route: &str, status: u16, latency: Duration) {
    emit(|source, now| {
        api_request_line(source, now, route, status, latency.as_secs_f64() * 1000.0)
    });
}

/// Records one broadcast's fan-out.
pub fn broadcast(counts: &BroadcastCounts) {
    emit(|source, now| broadcast_line(source, now, counts));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Source {
        Source {
            function: "noteapp-staging-api".into(),
            version: "7".into(),
            release: Some("12-3f9c2e1a0b4d-5e6f7a8b9c0d".into()),
        }
    }

    const AT: i64 = 1_796_637_600_000;

    #[test]
    fn an_api_request_is_one_line_per_route_and_version() {
        let line = api_request_line(&source(), AT, "GET /notes/{id}", 200, 12.3456);
        assert_eq!(
            line,
            r#"{"_aws":{"Timestamp":1796637600000,"CloudWatchMetrics":[{"Namespace":"noteapp","Dimensions":[["Function","Version","Route"],["Function","Version"],["Function"]],"Metrics":[{"Name":"Requests","Unit":"Count"},{"Name":"Errors5xx","Unit":"Count"},{"Name":"Latency","Unit":"Milliseconds"}]}]},"Function":"noteapp-staging-api","Version":"7","Release":"12-3f9c2e1a0b4d-5e6f7a8b9c0d","Route":"GET /notes/{id}","StatusClass":"2xx","Requests":1,"Errors5xx":0,"Latency":12.346}"#
        );
    }

    #[test]
    fn a_server_error_counts_as_a_5xx_and_a_client_error_does_not() {
        let value = |status| {
            let line = api_request_line(&source(), AT, "POST /me/notes", status, 3.0);
            serde_json::from_str::<serde_json::Value>(&line).unwrap()
        };
        assert_eq!(value(503)["Errors5xx"], 1);
        assert_eq!(value(503)["StatusClass"], "5xx");
        assert_eq!(value(404)["Errors5xx"], 0);
        assert_eq!(value(404)["StatusClass"], "4xx");
        assert_eq!(value(500)["Requests"], 1);
    }

    #[test]
    fn a_cold_start_is_counted_per_function_and_version() {
        let line = cold_start_line(&source(), AT);
        assert_eq!(
            line,
            r#"{"_aws":{"Timestamp":1796637600000,"CloudWatchMetrics":[{"Namespace":"noteapp","Dimensions":[["Function","Version"],["Function"]],"Metrics":[{"Name":"ColdStart","Unit":"Count"}]}]},"Function":"noteapp-staging-api","Version":"7","Release":"12-3f9c2e1a0b4d-5e6f7a8b9c0d","ColdStart":1}"#
        );
    }

    #[test]
    fn a_broadcast_counts_sent_gone_throttled_and_failed() {
        let source = Source {
            function: "noteapp-staging-ws-broadcast".into(),
            version: "$LATEST".into(),
            release: None,
        };
        let counts = BroadcastCounts {
            sent: 120,
            gone: 3,
            throttled: 7,
            failed: 1,
        };
        assert_eq!(
            broadcast_line(&source, AT, &counts),
            r#"{"_aws":{"Timestamp":1796637600000,"CloudWatchMetrics":[{"Namespace":"noteapp","Dimensions":[["Function","Version"],["Function"]],"Metrics":[{"Name":"Sent","Unit":"Count"},{"Name":"Gone","Unit":"Count"},{"Name":"Throttled","Unit":"Count"},{"Name":"Failed","Unit":"Count"}]}]},"Function":"noteapp-staging-ws-broadcast","Version":"$LATEST","Sent":120,"Gone":3,"Throttled":7,"Failed":1}"#
        );
    }

    #[test]
    fn every_declared_dimension_and_metric_has_a_value_on_its_line() {
        let lines = [
            api_request_line(&source(), AT, "GET /healthz", 200, 1.0),
            cold_start_line(&source(), AT),
            broadcast_line(&source(), AT, &BroadcastCounts::default()),
        ];
        for line in lines {
            let value: serde_json::Value = serde_json::from_str(&line).unwrap();
            let directive = &value["_aws"]["CloudWatchMetrics"][0];
            for set in directive["Dimensions"].as_array().unwrap() {
                for name in set.as_array().unwrap() {
                    let name = name.as_str().unwrap();
                    assert!(value[name].is_string(), "{name} in {line}");
                }
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(value[name].is_number(), "{name} in {line}");
            }
        }
    }

    #[test]
    fn outside_lambda_nothing_is_turned_on() {
        assert!(!init_in_lambda(|_| None));
        assert!(!init_in_lambda(
            |name| (name == "AWS_LAMBDA_FUNCTION_NAME").then(|| "noteapp-staging-api".to_owned())
        ));
    }
}
