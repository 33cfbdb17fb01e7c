//! The guard against a loopback stand-in of Lambda's alias API, CloudWatch's `DescribeAlarms`
//! and SNS's `Publish`, keeping the aliases' state as Lambda would (revisions included).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use noteapp_test_support::loopback::{Reply, Request, Server};
use serde_json::{Value, json};

use super::*;
use crate::config::CommonConfig;
use crate::settings::{Environment, LogLevel};

const RELEASE: &str = "12-3f9c2e1a0b4d-5e6f7a8b9c0d";
const ALARM: &str = "noteapp-staging-release-health";
const TOPIC: &str = "arn:aws:sns:ap-northeast-1:123456789012:noteapp-staging-operators";

#[derive(Debug, Clone)]
struct Stored {
    version: String,
    weights: BTreeMap<String, f64>,
    description: String,
    revision: u32,
}

#[derive(Default)]
struct Aws {
    aliases: BTreeMap<String, Stored>,
    alarm_state: String,
    /// Revisions bumped behind the guard's back, once, at its first update of the function.
    changed_meanwhile: Vec<String>,
    published: Vec<BTreeMap<String, String>>,
    updates: Vec<(String, Value)>,
    describes: usize,
}

fn alias_json(stored: &Stored) -> String {
    json!({
        "FunctionVersion": stored.version,
        "Description": stored.description,
        "RevisionId": format!("rev-{}", stored.revision),
        "RoutingConfig": {"AdditionalVersionWeights": stored.weights},
    })
    .to_string()
}

fn answer(aws: &Mutex<Aws>, request: &Request) -> Reply {
    let mut aws = aws.lock().unwrap();
    let path = request.path().to_owned();
    if let Some(rest) = path.strip_prefix("/2015-03-31/functions/") {
        let function = rest.trim_end_matches("/aliases/live").to_owned();
        if request.method == http::Method::PUT && aws.changed_meanwhile.contains(&function) {
            aws.changed_meanwhile.retain(|f| *f != function);
            aws.aliases.get_mut(&function).unwrap().revision += 1;
        }
        let Some(stored) = aws.aliases.get(&function).cloned() else {
            return Reply::json(404, r#"{"Type":"User","Message":"Function not found"}"#);
        };
        if request.method == http::Method::GET {
            return Reply::json(200, alias_json(&stored));
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        aws.updates.push((function.clone(), body.clone()));
        if body["RevisionId"] != format!("rev-{}", stored.revision) {
            return Reply::json(
                412,
                r#"{"Type":"User","message":"The Revision Id provided does not match the latest Revision Id."}"#,
            );
        }
        let updated = Stored {
            version: body["FunctionVersion"].as_str().unwrap().to_owned(),
            weights: BTreeMap::new(),
            description: body["Description"].as_str().unwrap().to_owned(),
            revision: stored.revision + 1,
        };
        aws.aliases.insert(function, updated.clone());
        return Reply::json(200, alias_json(&updated));
    }
    if request.operation() == "DescribeAlarms" {
        aws.describes += 1;
        let state = aws.alarm_state.clone();
        return Reply::json(
            200,
            json!({"CompositeAlarms": [{"AlarmName": ALARM, "StateValue": state, "StateReason": "r"}], "MetricAlarms": []})
                .to_string(),
        );
    }
    let form: BTreeMap<String, String> =
        form_urlencoded::parse(&request.body).into_owned().collect();
    if form.get("Action").map(String::as_str) == Some("Publish") {
        aws.published.push(form);
        return Reply::with_type(200, "text/xml", "<PublishResponse/>");
    }
    Reply::json(400, "{}")
}

struct World {
    aws: Arc<Mutex<Aws>>,
    server: Server,
}

impl World {
    async fn start(aliases: &[(&str, Stored)], alarm_state: &str) -> Self {
        let aws = Arc::new(Mutex::new(Aws {
            aliases: aliases
                .iter()
                .map(|(f, s)| ((*f).to_owned(), s.clone()))
                .collect(),
            alarm_state: alarm_state.to_owned(),
            ..Aws::default()
        }));
        let shared = aws.clone();
        let server = Server::answering(move |request| answer(&shared, request)).await;
        Self { aws, server }
    }

    /// The api function shifting from 7 to 8 until `deadline`, the alarm in `state`.
    async fn one_shifting(deadline: &str, state: &str) -> Self {
        Self::start(
            &[("noteapp-staging-api", shifting("8", "7", deadline))],
            state,
        )
        .await
    }

    fn guard(&self) -> Guard {
        Guard {
            http: crate::aws_http::https_client(Duration::from_secs(5)).unwrap(),
            signer: Signer::with_keys("AKIDTEST", "secret", "ap-northeast-1"),
            endpoints: Endpoints::all_at(&self.server.url),
            config: GuardConfig {
                common: CommonConfig {
                    environment: Environment::Staging,
                    log_level: LogLevel::Info,
                    in_lambda: true,
                    release: None,
                },
                functions: self.aws.lock().unwrap().aliases.keys().cloned().collect(),
                health_alarm: ALARM.into(),
                operators_topic: Some(TOPIC.into()),
            },
        }
    }

    /// A run of the guard on `event` that succeeds: its summary.
    async fn run(&self, event: &Value) -> Value {
        self.guard().run(event, now()).await.unwrap()
    }

    fn alias(&self, function: &str) -> Stored {
        self.aws.lock().unwrap().aliases[function].clone()
    }
}

fn live(version: &str) -> Stored {
    Stored {
        version: version.into(),
        weights: BTreeMap::new(),
        description: format!("noteapp live release={RELEASE}"),
        revision: 1,
    }
}

fn shifting(version: &str, good: &str, deadline: &str) -> Stored {
    Stored {
        weights: BTreeMap::from([(good.to_owned(), 0.9)]),
        description: format!("noteapp shift release={RELEASE} good={good} deadline={deadline}"),
        ..live(version)
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
        .unwrap()
        .into()
}

fn schedule() -> Value {
    json!({
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-07T10:00:00Z", "region": "ap-northeast-1",
        "resources": ["arn:aws:events:ap-northeast-1:123456789012:rule/noteapp-staging-GuardSchedule-1"],
        "detail": {}
    })
}

fn alarm_event(state: &str) -> Value {
    json!({
        "version": "0", "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": "123456789012", "time": "2026-12-07T10:00:00Z", "region": "ap-northeast-1",
        "resources": [format!("arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:{ALARM}")],
        "detail": {
            "alarmName": ALARM,
            "state": {"value": state, "reason": "noteapp-staging-api-5xx-rate is in ALARM", "timestamp": "2026-12-07T10:00:00.000+0000"},
            "previousState": {"value": "OK", "reason": "", "timestamp": "2026-12-07T09:00:00.000+0000"},
            "configuration": {"alarmRule": "ALARM(\"noteapp-staging-api-5xx-rate\")"}
        }
    })
}

#[tokio::test]
async fn an_alarm_moves_every_shifting_alias_back_and_tells_the_operators() {
    let world = World::start(
        &[
            (
                "noteapp-staging-api",
                shifting("8", "7", "2026-12-07T10:05:00Z"),
            ),
            ("noteapp-staging-cleanup", live("3")),
            (
                "noteapp-staging-ws-connect",
                shifting("5", "4", "2026-12-07T10:05:00Z"),
            ),
        ],
        "ALARM",
    )
    .await;
    let summary = world.run(&alarm_event("ALARM")).await;
    assert_eq!(summary["action"], "rolled back");
    assert_eq!(summary["cause"], "alarm");
    let api = world.alias("noteapp-staging-api");
    assert_eq!((api.version.as_str(), api.weights.len()), ("7", 0));
    assert_eq!(
        api.description,
        format!("noteapp rolled-back release={RELEASE} good=7 at=2026-12-07T10:00:00Z cause=alarm")
    );
    assert_eq!(world.alias("noteapp-staging-ws-connect").version, "4");
    let aws = world.aws.lock().unwrap();
    // The event said ALARM: no need to ask CloudWatch; the live alias was left alone.
    assert_eq!(aws.describes, 0);
    let updated: Vec<&str> = aws.updates.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        updated,
        ["noteapp-staging-api", "noteapp-staging-ws-connect"]
    );
    assert_eq!(aws.updates[0].1["RevisionId"], "rev-1");
    assert_eq!(aws.published.len(), 1);
    let message = &aws.published[0];
    assert_eq!(message["TopicArn"], TOPIC);
    assert!(
        message["Message"].contains("noteapp-staging-api: version 8 -> 7"),
        "{message:?}"
    );
    assert!(message["Message"].contains(ALARM), "{message:?}");
}

#[tokio::test]
async fn on_schedule_a_healthy_canary_within_its_deadline_is_left_running() {
    let world = World::one_shifting("2026-12-07T10:05:00Z", "OK").await;
    let summary = world.run(&schedule()).await;
    assert_eq!(summary["action"], "none");
    assert_eq!(summary["deadline"], "2026-12-07T10:05:00Z");
    assert_eq!(world.alias("noteapp-staging-api").version, "8");
    let aws = world.aws.lock().unwrap();
    assert_eq!(aws.describes, 1);
    assert!(aws.updates.is_empty() && aws.published.is_empty());
}

#[tokio::test]
async fn on_schedule_the_alarm_in_alarm_or_a_passed_deadline_rolls_back() {
    for (deadline, state, cause, told) in [
        ("2026-12-07T10:05:00Z", "ALARM", "alarm", "is in ALARM"),
        ("2026-12-07T09:55:00Z", "OK", "deadline", "deadline passed"),
    ] {
        let world = World::one_shifting(deadline, state).await;
        let summary = world.run(&schedule()).await;
        assert_eq!(summary["cause"], cause);
        assert_eq!(world.alias("noteapp-staging-api").version, "7");
        let aws = world.aws.lock().unwrap();
        assert!(
            aws.published[0]["Message"].contains(told),
            "{:?}",
            aws.published
        );
    }
}

#[tokio::test]
async fn without_a_shift_only_the_aliases_are_read() {
    let world = World::start(
        &[
            ("noteapp-staging-api", live("8")),
            ("noteapp-staging-guard", live("2")),
        ],
        "ALARM",
    )
    .await;
    let summary = world.run(&alarm_event("ALARM")).await;
    assert_eq!(
        summary,
        json!({"aliases": 2, "shifting": 0, "action": "none"})
    );
    let aws = world.aws.lock().unwrap();
    assert_eq!(aws.describes, 0);
    assert!(aws.updates.is_empty() && aws.published.is_empty());
    let requests = world.server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.method == http::Method::GET));
}

#[tokio::test]
async fn an_alias_changed_since_it_was_read_is_read_again_before_it_is_moved() {
    let world = World::one_shifting("2026-12-07T10:05:00Z", "ALARM").await;
    world.aws.lock().unwrap().changed_meanwhile = vec!["noteapp-staging-api".into()];
    world.run(&alarm_event("ALARM")).await;
    let aws = world.aws.lock().unwrap();
    let revisions: Vec<&Value> = aws.updates.iter().map(|(_, b)| &b["RevisionId"]).collect();
    assert_eq!(revisions, [&json!("rev-1"), &json!("rev-2")]);
    assert_eq!(aws.aliases["noteapp-staging-api"].version, "7");
}

#[tokio::test]
async fn an_unreadable_alias_fails_the_run_after_the_rest_is_done() {
    let world = World::one_shifting("2026-12-07T09:55:00Z", "OK").await;
    let mut guard = world.guard();
    guard.config.functions.push("noteapp-staging-gone".into());
    let err = guard.run(&schedule(), now()).await.unwrap_err().to_string();
    assert!(err.contains("noteapp-staging-gone"), "{err}");
    assert_eq!(world.alias("noteapp-staging-api").version, "7");
}

#[test]
fn only_the_release_health_alarm_going_to_alarm_is_bad_health() {
    assert_eq!(
        event_health(&alarm_event("ALARM"), ALARM),
        Some(Health::Alarm)
    );
    assert_eq!(event_health(&alarm_event("OK"), ALARM), None);
    assert_eq!(event_health(&alarm_event("ALARM"), "another-alarm"), None);
    assert_eq!(event_health(&schedule(), ALARM), None);
}
