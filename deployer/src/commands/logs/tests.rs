//! Reading and rendering log lines, the flags' meaning, and `--follow` on a replayed Live Tail
//! event stream (the frames CloudWatch Logs sends, through the SDK's own decoder) and on a
//! Live Tail that is not available (the fallback to polling). The moto tests in
//! `deployer/tests/logs.rs` run the command end to end.

use std::sync::{Arc, Mutex};

use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use chrono::TimeZone;

use super::*;
use noteapp_runtime::functions::Function;

const RUNTIME_LINE: &str = r#"{"timestamp":"2026-11-05T09:14:02.511873Z","level":"INFO","fields":{"message":"note created","note_id":"n-42","elapsed_ms":12},"target":"noteapp_runtime::api::notes","span":{"requestId":"8f5e2c1a-9b7d-4e3f-a2c1-0d9e8f7a6b5c","xrayTraceId":"Root=1-6729e0aa-1b2c3d4e5f6a7b8c9d0e1f2a","name":"Lambda runtime invoke"}}"#;
const REPORT_LINE: &str = "REPORT RequestId: 8f5e2c1a-9b7d-4e3f-a2c1-0d9e8f7a6b5c\tDuration: 14.21 ms\tBilled Duration: 15 ms\tMemory Size: 512 MB\tMax Memory Used: 38 MB\t\n";

fn event(function: &str, timestamp: i64, message: &str) -> LogEvent {
    LogEvent {
        function: function.into(),
        log_group: format!("/aws/lambda/noteapp-staging-{function}"),
        log_stream: "2026/11/05/[$LATEST]4f1c".into(),
        timestamp,
        message: message.into(),
        event_id: None,
    }
}

fn query() -> Query {
    Query {
        sources: logs::sources("noteapp-staging", "eu-west-1", "123456789012", &[]),
        start: 0,
        filter: None,
        request_id: None,
    }
}

#[test]
fn a_runtime_json_line_is_rendered_time_function_level_request_id_message_fields() {
    let entry = parse(&event("api", 1_762_334_042_511, RUNTIME_LINE));
    assert_eq!(entry.level.as_deref(), Some("INFO"));
    assert_eq!(
        entry.request_id.as_deref(),
        Some("8f5e2c1a-9b7d-4e3f-a2c1-0d9e8f7a6b5c")
    );
    assert_eq!(entry.message, "note created");
    assert_eq!(
        render(&entry, false),
        "2025-11-05 09:14:02.511 api           INFO  8f5e2c1a-9b7d-4e3f-a2c1-0d9e8f7a6b5c note created elapsed_ms=12 note_id=n-42"
    );
    let coloured = render(&entry, true);
    assert!(coloured.contains("\x1b[32mINFO \x1b[0m"), "{coloured:?}");
}

#[test]
fn platform_lines_keep_their_word_and_details_with_the_request_id_in_its_column() {
    let report = parse(&event("ws-default", 0, REPORT_LINE));
    assert_eq!(report.platform.as_deref(), Some("REPORT"));
    assert_eq!(
        report.request_id.as_deref(),
        Some("8f5e2c1a-9b7d-4e3f-a2c1-0d9e8f7a6b5c")
    );
    assert_eq!(
        report.message,
        "REPORT Duration: 14.21 ms, Billed Duration: 15 ms, Memory Size: 512 MB, Max Memory Used: 38 MB"
    );
    let start = parse(&event(
        "api",
        0,
        "START RequestId: 8f5e2c1a-9b7d-4e3f-a2c1-0d9e8f7a6b5c Version: $LATEST\n",
    ));
    assert_eq!(start.message, "START Version: $LATEST");
    let end = parse(&event(
        "api",
        0,
        "END RequestId: 8f5e2c1a-9b7d-4e3f-a2c1-0d9e8f7a6b5c\n",
    ));
    assert_eq!(
        render(&end, false),
        "1970-01-01 00:00:00.000 api           -     8f5e2c1a-9b7d-4e3f-a2c1-0d9e8f7a6b5c END"
    );
    let plain = parse(&event(
        "cleanup",
        0,
        "thread 'main' panicked at src/main.rs:3:5",
    ));
    assert_eq!(plain.platform, None);
    assert_eq!(plain.message, "thread 'main' panicked at src/main.rs:3:5");
}

#[test]
fn json_output_is_one_object_per_event() {
    let printer = Printer {
        json: true,
        colour: false,
        query: query(),
    };
    let lines = printer.lines(&[
        event("api", 1_000, RUNTIME_LINE),
        event("api", 2_000, REPORT_LINE),
    ]);
    assert_eq!(lines.len(), 2);
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["function"], "api");
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["message"], "note created");
    assert_eq!(first["fields"]["note_id"], "n-42");
    assert_eq!(first["timestamp"], "1970-01-01T00:00:01.000Z");
    let second: Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(second["platform"], "REPORT");
    assert_eq!(second["level"], Value::Null);
}

#[test]
fn since_takes_a_duration_back_or_a_time() {
    let now = Utc.with_ymd_and_hms(2026, 11, 5, 10, 0, 0).unwrap();
    let at = |text: &str| parse_since(text, now).unwrap();
    assert_eq!(at("10m"), now.timestamp_millis() - 600_000);
    assert_eq!(at("1h"), now.timestamp_millis() - 3_600_000);
    assert_eq!(at("45s"), now.timestamp_millis() - 45_000);
    assert_eq!(at("2d"), now.timestamp_millis() - 172_800_000);
    let nine = Utc.with_ymd_and_hms(2026, 11, 5, 9, 0, 0).unwrap();
    assert_eq!(at("2026-11-05T09:00:00Z"), nine.timestamp_millis());
    assert_eq!(at("2026-11-05T10:00:00+01:00"), nine.timestamp_millis());
    assert_eq!(at("2026-11-05T09:00:00"), nine.timestamp_millis());
    let err = parse_since("yesterday", now).unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_USAGE);
    assert!(err.to_string().contains("--since yesterday"), "{err}");
}

#[test]
fn filter_and_request_id_are_exact_matches_sent_as_one_quoted_term() {
    let mut q = query();
    assert_eq!(q.pattern(), None);
    q.request_id = Some("8f5e2c1a".into());
    assert_eq!(q.pattern().as_deref(), Some("\"8f5e2c1a\""));
    q.filter = Some("say \"hi\"".into());
    assert_eq!(q.pattern().as_deref(), Some(r#""say \"hi\"""#));
    assert!(!q.keeps(&event("api", 0, "say \"hi\" to 1234")));
    assert!(q.keeps(&event("api", 0, "8f5e2c1a: say \"hi\"")));
}

/// One event-stream frame as CloudWatch Logs writes it.
fn frame(event_type: &str, payload: serde_json::Value) -> Vec<u8> {
    let message = Message::new(payload.to_string().into_bytes())
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String("event".into()),
        ))
        .add_header(Header::new(
            ":event-type",
            HeaderValue::String(event_type.to_owned().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ));
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out).unwrap();
    out
}

fn arn(function: &str) -> String {
    format!("arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/noteapp-staging-{function}")
}

/// StartLiveTail's answer: a session start, then two updates with events of two functions.
fn live_tail_stream() -> HttpResponse {
    let result = |function: &str, t: i64, message: &str| {
        serde_json::json!({
            "logStreamName": "2026/11/05/[$LATEST]4f1c",
            "logGroupIdentifier": arn(function),
            "message": message,
            "timestamp": t,
            "ingestionTime": t + 180,
        })
    };
    let mut body = frame(
        "sessionStart",
        serde_json::json!({
            "requestId": "d1c8a0f2-7a55-4c10-9d2b-3e4f5a6b7c8d",
            "sessionId": "a7e4c2b1-0f3d-4e6a-8b9c-1d2e3f4a5b6c",
            "logGroupIdentifiers": [arn("api"), arn("ws-default")],
        }),
    );
    body.extend(frame(
        "sessionUpdate",
        serde_json::json!({
            "sessionMetadata": {"sampled": false},
            "sessionResults": [
                result("ws-default", 2_000, "START RequestId: 11111111-2222-4333-8444-555555555555 Version: $LATEST\n"),
                result("api", 1_000, RUNTIME_LINE),
            ],
        }),
    ));
    body.extend(frame(
        "sessionUpdate",
        serde_json::json!({
            "sessionMetadata": {"sampled": false},
            "sessionResults": [result("api", 3_000, REPORT_LINE)],
        }),
    ));
    let mut response = HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::from(body));
    response
        .headers_mut()
        .insert("content-type", "application/vnd.amazon.eventstream");
    response
}

fn logs_client(rules: &[&aws_smithy_mocks::Rule]) -> Client {
    mock_client!(
        aws_sdk_cloudwatchlogs,
        RuleMode::MatchAny,
        rules.iter().copied(),
        |c| c
            .retry_config(aws_sdk_cloudwatchlogs::config::retry::RetryConfig::disabled())
            .interceptor(crate::aws::replay::policy_checker())
    )
}

fn filtered(
    events: Vec<(i64, &'static str, &'static str)>,
) -> aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput {
    let mut out =
        aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput::builder();
    for (timestamp, message, id) in events {
        out = out.events(
            aws_sdk_cloudwatchlogs::types::FilteredLogEvent::builder()
                .log_stream_name("2026/11/05/[$LATEST]4f1c")
                .timestamp(timestamp)
                .message(message)
                .event_id(id)
                .build(),
        );
    }
    out.build()
}

#[tokio::test]
async fn follow_shows_a_replayed_live_tail_stream_in_time_order_after_catching_up() {
    let tail = mock!(Client::start_live_tail)
        .match_requests(|r| {
            r.log_group_identifiers().len() == Function::ALL.len()
                && r.log_group_identifiers()[0] == arn("api")
        })
        .then_http_response(live_tail_stream);
    // Written after the history was read and before the session started; the second is in the
    // session's first update too.
    let caught_up = mock!(Client::filter_log_events)
        .match_requests(|r| r.log_group_name() == Some("/aws/lambda/noteapp-staging-api"))
        .then_output(|| {
            filtered(vec![
                (500, "caught up", "e-1"),
                (1_000, RUNTIME_LINE, "e-2"),
            ])
        });
    let others = mock!(Client::filter_log_events).then_output(|| filtered(Vec::new()));
    let client = logs_client(&[&tail, &caught_up, &others]);
    let shown = Arc::new(Mutex::new(Vec::new()));
    let mut show = {
        let shown = shown.clone();
        move |batch: Vec<LogEvent>| {
            let mut shown = shown.lock().unwrap();
            shown.extend(batch);
            shown.len() < 4
        }
    };
    let (progress, lines) = Progress::captured();
    follow_events(
        &client,
        &query(),
        &[],
        Duration::from_millis(1),
        &progress,
        &mut show,
    )
    .await
    .unwrap();
    let shown = shown.lock().unwrap();
    let order: Vec<(&str, i64)> = shown
        .iter()
        .map(|e| (e.function.as_str(), e.timestamp))
        .collect();
    assert_eq!(
        order,
        [
            ("api", 500),
            ("api", 1_000),
            ("ws-default", 2_000),
            ("api", 3_000)
        ],
        "the event in both the catch-up and the stream shows once"
    );
    assert_eq!(shown[2].log_group, "/aws/lambda/noteapp-staging-ws-default");
    assert_eq!(caught_up.num_calls(), 1);
    assert!(lines.text().is_empty(), "no fallback: {}", lines.text());
    assert_eq!(tail.num_calls(), 1);
}

#[tokio::test]
async fn follow_falls_back_to_polling_where_live_tail_is_not_available() {
    let tail = mock!(Client::start_live_tail).then_http_response(|| {
        let mut response = HttpResponse::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(
                r#"{"__type":"InvalidOperationException","message":"Live Tail is not supported in this region"}"#,
            ),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.1");
        response
    });
    let polled = mock!(Client::filter_log_events)
        .match_requests(|r| r.log_group_name() == Some("/aws/lambda/noteapp-staging-api"))
        .then_output(|| {
            aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput::builder()
                .events(
                    aws_sdk_cloudwatchlogs::types::FilteredLogEvent::builder()
                        .log_stream_name("s")
                        .timestamp(5_000)
                        .message("new")
                        .event_id("e-1")
                        .build(),
                )
                .build()
        });
    let others = mock!(Client::filter_log_events).then_output(|| {
        aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput::builder()
            .build()
    });
    let client = logs_client(&[&tail, &polled, &others]);
    let shown = Arc::new(Mutex::new(Vec::new()));
    let mut show = {
        let shown = shown.clone();
        move |batch: Vec<LogEvent>| {
            shown.lock().unwrap().extend(batch);
            false
        }
    };
    let (progress, lines) = Progress::captured();
    follow_events(
        &client,
        &query(),
        &[],
        Duration::from_millis(1),
        &progress,
        &mut show,
    )
    .await
    .unwrap();
    let shown = shown.lock().unwrap();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].message, "new");
    let text = lines.text();
    assert!(
        text.contains("Live Tail is not available (Live Tail is not supported in this region (InvalidOperationException)); polling"),
        "{text}"
    );
}
