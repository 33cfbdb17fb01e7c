//! `noteapp logs` against moto's CloudWatch Logs, end to end through the binary: log groups named
//! as the template names them, with events from several functions — Lambda's platform lines and
//! the runtime's JSON lines — read back interleaved by time, narrowed by `--function`,
//! `--filter`, `--request-id` and `--since`, printed as JSON with `--json`, and followed with
//! `--follow` (moto has no Live Tail stream to give, so this is the polling fallback). Each test
//! uses a stack name of its own on the shared emulator; one reads through the library with every
//! call held against the deploy policy.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use noteapp_test_support::moto::{self, MotoServer};

const NOTEAPP: &str = env!("CARGO_BIN_EXE_noteapp");
const REQUEST: &str = "8f5e2c1a-9b7d-4e3f-a2c1-0d9e8f7a6b5c";
const OTHER_REQUEST: &str = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn runtime_line(level: &str, message: &str, request: &str, field: &str) -> String {
    format!(
        r#"{{"timestamp":"2026-11-05T09:14:02.511873Z","level":"{level}","fields":{{"message":"{message}",{field}}},"target":"noteapp_runtime::api","span":{{"requestId":"{request}","name":"Lambda runtime invoke"}}}}"#
    )
}

/// Writes `events` (function, milliseconds before now, message) into the stack's groups.
async fn write(moto: &MotoServer, stack: &str, events: &[(&str, i64, String)]) {
    let client = common::logs_client(moto);
    let now = now_ms();
    for function in ["api", "ws-connect", "ws-default", "ws-broadcast"] {
        let group = format!("/aws/lambda/{stack}-{function}");
        let _ = client
            .create_log_group()
            .log_group_name(&group)
            .send()
            .await;
        let _ = client
            .create_log_stream()
            .log_group_name(&group)
            .log_stream_name("2026/11/05/[$LATEST]4f1c")
            .send()
            .await;
        let mut mine: Vec<_> = events.iter().filter(|(f, _, _)| *f == function).collect();
        if mine.is_empty() {
            continue;
        }
        mine.sort_by_key(|(_, ago, _)| -ago);
        client
            .put_log_events()
            .log_group_name(&group)
            .log_stream_name("2026/11/05/[$LATEST]4f1c")
            .set_log_events(Some(
                mine.iter()
                    .map(|(_, ago, message)| {
                        InputLogEvent::builder()
                            .timestamp(now - ago)
                            .message(message)
                            .build()
                            .unwrap()
                    })
                    .collect(),
            ))
            .send()
            .await
            .unwrap();
    }
}

/// A stack of its own with two invocations of the API, one WebSocket message, one broadcast.
async fn seeded(moto: &MotoServer) -> (String, tempfile::TempDir) {
    let stack = noteapp_test_support::unique("logs");
    let root = common::root_with_stack(&stack);
    let start = format!("START RequestId: {REQUEST} Version: $LATEST");
    let report = format!(
        "REPORT RequestId: {REQUEST}\tDuration: 14.21 ms\tBilled Duration: 15 ms\tMemory Size: 512 MB\tMax Memory Used: 38 MB\t"
    );
    write(
        moto,
        &stack,
        &[
            ("api", 600_000, start),
            (
                "api",
                599_000,
                runtime_line("INFO", "note created", REQUEST, r#""note_id":"n-1""#),
            ),
            ("api", 598_000, report),
            (
                "ws-default",
                300_000,
                runtime_line(
                    "INFO",
                    "message relayed",
                    OTHER_REQUEST,
                    r#""connection":"c-1""#,
                ),
            ),
            (
                "api",
                200_000,
                runtime_line("WARN", "note too long", OTHER_REQUEST, r#""note_id":"n-2""#),
            ),
            (
                "ws-broadcast",
                100_000,
                runtime_line("ERROR", "post failed", OTHER_REQUEST, r#""gone":1"#),
            ),
        ],
    )
    .await;
    (stack, root)
}

fn noteapp(moto: &MotoServer, root: &tempfile::TempDir, args: &[&str]) -> Output {
    let output = Command::new(NOTEAPP)
        .args(["logs", "staging", "--root"])
        .arg(root.path())
        .args(args)
        .envs(moto::aws_env(moto, common::REGION))
        .env_remove("NO_COLOR")
        .output()
        .expect("noteapp runs");
    assert!(
        output.status.success(),
        "noteapp logs {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_functions_logs_come_interleaved_by_time_with_platform_lines_kept() {
    let Some(moto) = moto::shared() else { return };
    let (_, root) = seeded(moto).await;
    let out = lines(&noteapp(moto, &root, &["--since", "1h"]));
    let messages: Vec<String> = out
        .iter()
        .map(|l| l.split_whitespace().skip(5).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        messages,
        [
            "START Version: $LATEST",
            "note created note_id=n-1",
            "REPORT Duration: 14.21 ms, Billed Duration: 15 ms, Memory Size: 512 MB, Max Memory Used: 38 MB",
            "message relayed connection=c-1",
            "note too long note_id=n-2",
            "post failed gone=1",
        ],
        "{out:#?}"
    );
    let functions: Vec<&str> = out
        .iter()
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(
        functions,
        ["api", "api", "api", "ws-default", "api", "ws-broadcast"]
    );
    assert!(
        out[1].contains(&format!(" INFO  {REQUEST} note created")),
        "{}",
        out[1]
    );
    assert!(
        out[0].contains(&format!(" -     {REQUEST} START")),
        "{}",
        out[0]
    );
    assert!(
        !out.iter().any(|l| l.contains('\x1b')),
        "no colour off a terminal"
    );
}

#[tokio::test]
async fn function_filter_request_id_and_since_narrow_what_is_shown() {
    let Some(moto) = moto::shared() else { return };
    let (_, root) = seeded(moto).await;
    let api = lines(&noteapp(
        moto,
        &root,
        &["--since", "1h", "--function", "api"],
    ));
    assert_eq!(api.len(), 4, "{api:#?}");
    assert!(
        api.iter()
            .all(|l| l.split_whitespace().nth(2) == Some("api"))
    );
    let two = lines(&noteapp(
        moto,
        &root,
        &[
            "--since",
            "1h",
            "--function",
            "ws-default",
            "--function",
            "ws-broadcast",
        ],
    ));
    assert_eq!(two.len(), 2, "{two:#?}");
    let filtered = lines(&noteapp(
        moto,
        &root,
        &["--since", "1h", "--filter", "note "],
    ));
    assert_eq!(filtered.len(), 2, "{filtered:#?}");
    assert!(filtered[0].contains("note created") && filtered[1].contains("note too long"));
    let request = lines(&noteapp(
        moto,
        &root,
        &["--since", "1h", "--request-id", REQUEST],
    ));
    assert_eq!(request.len(), 3, "START, the line, REPORT: {request:#?}");
    let both = lines(&noteapp(
        moto,
        &root,
        &[
            "--since",
            "1h",
            "--request-id",
            OTHER_REQUEST,
            "--filter",
            "failed",
        ],
    ));
    assert_eq!(both.len(), 1, "{both:#?}");
    assert!(both[0].contains("post failed"));
    let recent = lines(&noteapp(moto, &root, &["--since", "4m"]));
    assert_eq!(recent.len(), 2, "the last 4 minutes only: {recent:#?}");
    let since = chrono::Utc::now() - chrono::Duration::seconds(250);
    let at = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(lines(&noteapp(moto, &root, &["--since", &at])).len(), 2);
}

#[tokio::test]
async fn json_prints_one_object_per_event() {
    let Some(moto) = moto::shared() else { return };
    let (stack, root) = seeded(moto).await;
    let out = lines(&noteapp(moto, &root, &["--since", "1h", "--json"]));
    assert_eq!(out.len(), 6);
    let events: Vec<serde_json::Value> = out
        .iter()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(events[1]["message"], "note created");
    assert_eq!(events[1]["level"], "INFO");
    assert_eq!(events[1]["request_id"], REQUEST);
    assert_eq!(events[1]["fields"]["note_id"], "n-1");
    assert_eq!(events[1]["log_group"], format!("/aws/lambda/{stack}-api"));
    assert_eq!(events[2]["platform"], "REPORT");
    assert_eq!(events[5]["function"], "ws-broadcast");
    assert_eq!(events[5]["level"], "ERROR");
}

#[tokio::test]
async fn follow_polls_where_live_tail_is_not_available_and_shows_new_events() {
    let Some(moto) = moto::shared() else { return };
    let (stack, root) = seeded(moto).await;
    let mut child = Command::new(NOTEAPP)
        .args([
            "logs",
            "staging",
            "--follow",
            "--poll-interval",
            "0.2",
            "--since",
            "1h",
            "--root",
        ])
        .arg(root.path())
        .envs(moto::aws_env(moto, common::REGION))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("noteapp runs");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next = |timeout: Duration| rx.recv_timeout(timeout).ok();
    for _ in 0..6 {
        next(Duration::from_secs(20)).expect("the history first");
    }
    write(
        moto,
        &stack,
        &[(
            "ws-connect",
            0,
            runtime_line("INFO", "connected", "r-3", r#""user":"u-1""#),
        )],
    )
    .await;
    let written = Instant::now();
    let line = next(Duration::from_secs(20)).expect("the new event is followed");
    assert!(
        line.contains("ws-connect") && line.contains("connected user=u-1"),
        "{line}"
    );
    assert!(written.elapsed() < Duration::from_secs(10));
    assert!(
        next(Duration::from_millis(800)).is_none(),
        "each event once"
    );
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Live Tail is not available"), "{stderr}");
    assert!(
        stderr.contains("polling the log groups every 0.2 s"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_library_reads_history_within_the_deploy_policy() {
    let Some(moto) = moto::shared() else { return };
    write(
        moto,
        "noteapp-staging",
        &[("api", 1_000, "END RequestId: 42".to_owned())],
    )
    .await;
    let config = common::logs_client(moto)
        .config()
        .to_builder()
        .interceptor(common::policy_checker("noteapp"))
        .build();
    let client = aws_sdk_cloudwatchlogs::Client::from_conf(config);
    let sources =
        noteapp::aws::logs::sources("noteapp-staging", common::REGION, "123456789012", &[]);
    let events = noteapp::aws::logs::history(&client, &sources, now_ms() - 60_000, Some("\"42\""))
        .await
        .unwrap();
    assert!(
        events.iter().any(|e| e.message == "END RequestId: 42"),
        "{events:?}"
    );
}
