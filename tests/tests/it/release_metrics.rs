//! Release health out of the real `bootstrap`: run against the stand-in Lambda Runtime API, the
//! API writes its embedded-metric-format lines (a cold start, then one per request with its
//! route template and version) to stdout, and the guard, on a loopback stand-in of Lambda's
//! alias API, CloudWatch and SNS, rolls back a canary whose deadline passed.

use std::sync::{Arc, Mutex};

use noteapp_test_support::loopback::{Reply, Server};
use noteapp_tests::lambda::run_bootstrap;
use serde_json::{Value, json};

const RELEASE: &str = "12-3f9c2e1a0b4d-5e6f7a8b9c0d";

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A Function URL event (payload 2.0) for `method path`, from AWS's own shape.
fn request(method: &str, path: &str) -> Value {
    let path_to = format!(
        "{}/../runtime/tests/data/function_url_request.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(&path_to).unwrap()).unwrap();
    event["rawPath"] = path.into();
    event["rawQueryString"] = "".into();
    event["queryStringParameters"] = json!({});
    event["requestContext"]["http"]["method"] = method.into();
    event["requestContext"]["http"]["path"] = path.into();
    if let Some(headers) = event["headers"].as_object_mut() {
        headers.remove("authorization");
    }
    event["body"] = Value::Null;
    event
}

/// Every embedded-metric-format line the process wrote.
fn metric_lines(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter(|line| line.starts_with("{\"_aws\""))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn metric_names(line: &Value) -> Vec<&str> {
    line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_real_api_writes_a_cold_start_and_one_line_per_request_with_its_route() {
    let vars = env(&[
        ("ENVIRONMENT", "staging"),
        ("LOG_LEVEL", "error"),
        ("NOTEAPP_RELEASE", RELEASE),
        ("FIREBASE_PROJECT_ID", "notes-metrics"),
        ("NOTES_TABLE", "n"),
        ("USERS_TABLE", "u"),
        ("COMMENTS_TABLE", "c"),
        ("CONTROL_TABLE", "ctl"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ]);
    let run = run_bootstrap(
        "api",
        &vars,
        vec![
            request("GET", "/healthz"),
            request("GET", "/wp-login.php"),
            request("POST", "/me/notes"),
        ],
    )
    .await;
    let lines = metric_lines(&run.output);
    assert_eq!(lines.len(), 4, "{}", run.output);
    // LOG_LEVEL=error hides every log line, never a metric.
    let cold = &lines[0];
    assert_eq!(metric_names(cold), ["ColdStart"]);
    assert_eq!(cold["ColdStart"], 1);
    for line in &lines {
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "noteapp");
        assert_eq!(line["Function"], "api");
        assert_eq!(line["Version"], "$LATEST");
        assert_eq!(line["Release"], RELEASE);
    }
    let requests: Vec<(&str, &str, i64)> = lines[1..]
        .iter()
        .map(|l| {
            assert_eq!(metric_names(l), ["Requests", "Errors5xx", "Latency"]);
            assert_eq!(
                l["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                json!([
                    ["Function", "Version", "Route"],
                    ["Function", "Version"],
                    ["Function"]
                ])
            );
            assert!(l["Latency"].as_f64().unwrap() >= 0.0);
            (
                l["Route"].as_str().unwrap(),
                l["StatusClass"].as_str().unwrap(),
                l["Errors5xx"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        requests,
        [
            ("GET /healthz", "2xx", 0),
            ("other", "4xx", 0),
            ("POST /me/notes", "4xx", 0)
        ]
    );
}

#[tokio::test]
async fn the_real_guard_moves_a_canary_past_its_deadline_back_to_the_good_version() {
    let updates: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = updates.clone();
    let aws = Server::answering(move |request| {
        let alias = |version: &str, weights: Value, description: &str| {
            json!({"FunctionVersion": version, "Description": description,
                   "RevisionId": "rev-1", "RoutingConfig": {"AdditionalVersionWeights": weights}})
            .to_string()
        };
        match (request.method.as_str(), request.path()) {
            ("GET", "/2015-03-31/functions/noteapp-staging-api/aliases/live") => Reply::json(
                200,
                alias(
                    "8",
                    json!({"7": 0.9}),
                    &format!("noteapp shift release={RELEASE} good=7 deadline=2026-01-01T00:00:00Z"),
                ),
            ),
            ("PUT", "/2015-03-31/functions/noteapp-staging-api/aliases/live") => {
                let body: Value = serde_json::from_slice(&request.body).unwrap();
                seen.lock().unwrap().push(body.clone());
                Reply::json(200, alias("7", json!({}), body["Description"].as_str().unwrap()))
            }
            ("POST", "/") if request.operation() == "DescribeAlarms" => Reply::json(
                200,
                r#"{"CompositeAlarms":[{"AlarmName":"noteapp-staging-release-health","StateValue":"OK"}],"MetricAlarms":[]}"#,
            ),
            ("POST", "/") => Reply::with_type(200, "text/xml", "<PublishResponse/>"),
            _ => Reply::json(404, "{}"),
        }
    })
    .await;
    let vars = env(&[
        ("ENVIRONMENT", "staging"),
        ("NOTEAPP_RELEASE", RELEASE),
        ("GUARDED_FUNCTIONS", "noteapp-staging-api"),
        ("RELEASE_HEALTH_ALARM", "noteapp-staging-release-health"),
        (
            "OPERATORS_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:noteapp-staging-operators",
        ),
        ("AWS_ENDPOINT_URL", &aws.url),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ]);
    let schedule = json!({
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-07T10:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {}
    });
    let run = run_bootstrap("guard", &vars, vec![schedule]).await;
    let answer = &run.answers[0];
    assert!(!answer.error, "{answer:?}\n{}", run.output);
    assert_eq!(answer.body["action"], "rolled back", "{answer:?}");
    assert_eq!(answer.body["cause"], "deadline");
    let updates = updates.lock().unwrap();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["FunctionVersion"], "7");
    assert_eq!(updates[0]["RevisionId"], "rev-1");
    let operations: Vec<String> = aws
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.operation()))
        .collect();
    assert!(
        operations.contains(&"POST DescribeAlarms".to_owned()),
        "{operations:?}"
    );
    let cold = metric_lines(&run.output);
    assert_eq!(cold.len(), 1, "{}", run.output);
    assert_eq!(cold[0]["Function"], "guard");
}
