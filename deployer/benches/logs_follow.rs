//! Benchmark: how long after an event is written `noteapp logs --follow` shows it.
//!
//! Two paths, each through the library code the command runs (`commands::logs::follow_events`):
//! - the polling fallback on a real `moto_server` (whose CloudWatch Logs has no Live Tail
//!   stream): every function's log group polled with FilterLogEvents at the CLI's default
//!   interval (2 s) and at 0.5 s; latency is from PutLogEvents returning to the event reaching
//!   the printer, sampled at spread phases of the poll cycle;
//! - Live Tail on a replayed stream: StartLiveTail answered (through `aws-smithy-mocks`) with an
//!   event-stream body the bench writes frames into as it goes, decoded by the SDK as a real
//!   session's would be; latency is from the frame being written to the event reaching the
//!   printer. This is the client's share only: CloudWatch's own delay between ingestion and the
//!   push (AWS documents Live Tail as near real time, about a second) is not in it.
//!
//! Prints min, median, p90 and max for each, and the time one poll takes (every group read once,
//! moto answering one request at a time), and exits 1 if a polled event took more than two
//! intervals plus four polls, or a streamed one more than 100 ms.
//!
//! Rerun: `cargo bench -p noteapp --bench logs_follow` (needs `.venv/bin/moto_server`, or
//! `NOTEAPP_MOTO_SERVER`).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use noteapp::aws::logs::{self, LogEvent};
use noteapp::commands::logs::{Query, follow_events};
use noteapp::progress::Progress;
use tokio::sync::mpsc;

const STACK: &str = "noteapp-bench";
const REGION: &str = "ap-northeast-1";
const POLLED_EVENTS: usize = 12;
const STREAMED_EVENTS: usize = 200;

fn query() -> Query {
    Query {
        sources: logs::sources(STACK, REGION, "123456789012", &[]),
        start: chrono::Utc::now().timestamp_millis() - 60_000,
        filter: None,
        request_id: None,
    }
}

fn moto_client(endpoint: &str) -> Client {
    Client::new(&noteapp_runtime::aws_http::loopback_config(
        endpoint, REGION,
    ))
}

/// Runs `follow_events` until `writer` is done; `writer` gets what the printer receives, with
/// the moment it did.
async fn measure<W, F>(client: &Client, interval: Duration, writer: W) -> Vec<Duration>
where
    W: FnOnce(mpsc::UnboundedReceiver<(String, Instant)>) -> F,
    F: std::future::Future<Output = Vec<Duration>>,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let mut show = move |batch: Vec<LogEvent>| {
        let now = Instant::now();
        batch.into_iter().all(|e| tx.send((e.message, now)).is_ok())
    };
    let (progress, _) = Progress::captured();
    let query = query();
    let follow = follow_events(client, &query, &[], interval, &progress, &mut show);
    tokio::select! {
        result = follow => panic!("follow ended early: {result:?}"),
        latencies = writer(rx) => latencies,
    }
}

async fn wait_for(rx: &mut mpsc::UnboundedReceiver<(String, Instant)>, message: &str) -> Instant {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some((m, at))) if m == message => return at,
            Ok(Some(_)) => continue,
            _ => panic!("{message} was never shown"),
        }
    }
}

async fn polling(endpoint: &str, interval: Duration) -> Vec<Duration> {
    let client = moto_client(endpoint);
    let group = format!("/aws/lambda/{STACK}-api");
    let stream = format!("bench-{}", interval.as_millis());
    let _ = client
        .create_log_group()
        .log_group_name(&group)
        .send()
        .await;
    client
        .create_log_stream()
        .log_group_name(&group)
        .log_stream_name(&stream)
        .send()
        .await
        .expect("a log stream");
    let writer = |mut rx: mpsc::UnboundedReceiver<(String, Instant)>| {
        let client = client.clone();
        async move {
            let mut latencies = Vec::new();
            for i in 0..POLLED_EVENTS {
                // Spread the writes over the poll cycle (a golden-ratio walk).
                let phase = (i as f64 * 0.618_034).fract();
                tokio::time::sleep(interval.mul_f64(phase)).await;
                let message = format!("polled event {i} at {}", interval.as_millis());
                client
                    .put_log_events()
                    .log_group_name(&group)
                    .log_stream_name(&stream)
                    .log_events(
                        InputLogEvent::builder()
                            .timestamp(chrono::Utc::now().timestamp_millis())
                            .message(&message)
                            .build()
                            .expect("an event"),
                    )
                    .send()
                    .await
                    .expect("PutLogEvents");
                let written = Instant::now();
                let shown = wait_for(&mut rx, &message).await;
                latencies.push(shown.saturating_duration_since(written));
            }
            latencies
        }
    };
    measure(&client, interval, writer).await
}

fn frame(event_type: &str, payload: serde_json::Value) -> Bytes {
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
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out).expect("a frame");
    Bytes::from(out)
}

async fn live_tail() -> Vec<Duration> {
    let (frames, body) = mpsc::unbounded_channel::<Bytes>();
    let body = Arc::new(Mutex::new(Some(body)));
    let tail = mock!(Client::start_live_tail).then_http_response(move || {
        let body = body.lock().expect("body").take().expect("one session");
        let stream = futures_util::stream::unfold(body, |mut body| async move {
            let bytes = body.recv().await?;
            Some((Ok::<_, Infallible>(hyper::body::Frame::data(bytes)), body))
        });
        let mut response = HttpResponse::new(
            StatusCode::try_from(200).expect("200"),
            SdkBody::from_body_1_x(http_body_util::StreamBody::new(stream)),
        );
        response
            .headers_mut()
            .insert("content-type", "application/vnd.amazon.eventstream");
        response
    });
    // The catch-up read when the session starts: nothing was written before it.
    let caught_up = mock!(Client::filter_log_events).then_output(|| {
        aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput::builder()
            .build()
    });
    let client = mock_client!(
        aws_sdk_cloudwatchlogs,
        RuleMode::MatchAny,
        [&tail, &caught_up],
        |c| c.retry_config(aws_sdk_cloudwatchlogs::config::retry::RetryConfig::disabled())
    );
    let arn =
        format!("arn:aws:logs:{REGION}:123456789012:log-group:/aws/lambda/{STACK}-ws-default");
    let writer = |mut rx: mpsc::UnboundedReceiver<(String, Instant)>| async move {
        frames
            .send(frame(
                "sessionStart",
                serde_json::json!({"sessionId": "bench", "logGroupIdentifiers": [arn]}),
            ))
            .expect("the session");
        let mut latencies = Vec::new();
        for i in 0..STREAMED_EVENTS {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let message = format!("streamed event {i}");
            let update = frame(
                "sessionUpdate",
                serde_json::json!({
                    "sessionMetadata": {"sampled": false},
                    "sessionResults": [{
                        "logStreamName": "2026/11/05/[$LATEST]bench",
                        "logGroupIdentifier": arn,
                        "message": message,
                        "timestamp": chrono::Utc::now().timestamp_millis(),
                        "ingestionTime": chrono::Utc::now().timestamp_millis(),
                    }],
                }),
            );
            let written = Instant::now();
            frames.send(update).expect("an update");
            let shown = wait_for(&mut rx, &message).await;
            latencies.push(shown.saturating_duration_since(written));
        }
        latencies
    };
    measure(&client, Duration::from_secs(1), writer).await
}

fn summary(name: &str, mut latencies: Vec<Duration>) -> Duration {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "logs_follow: {name:<36} n={:<4} min {:>8.1} ms  median {:>8.1} ms  p90 {:>8.1} ms  max {:>8.1} ms",
        latencies.len(),
        ms(at(0.0)),
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(1.0)),
    );
    at(1.0)
}

/// The slowest of five polls: every group read once.
async fn poll_round(endpoint: &str) -> Duration {
    let client = moto_client(endpoint);
    let query = query();
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        logs::history(&client, &query.sources, query.start, None)
            .await
            .expect("the groups are read");
        slowest = slowest.max(started.elapsed());
    }
    slowest
}

fn main() {
    let moto = noteapp_test_support::moto::MotoServer::start(
        &noteapp_test_support::moto::MotoServer::executable(),
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut ok = true;
    for interval in [Duration::from_secs(2), Duration::from_millis(500)] {
        let latencies = runtime.block_on(polling(moto.endpoint(), interval));
        let round = runtime.block_on(poll_round(moto.endpoint()));
        let name = format!(
            "polling on moto, every {:.1} s (6 groups)",
            interval.as_secs_f64()
        );
        let max = summary(&name, latencies);
        println!(
            "logs_follow:   one poll of the 6 groups took at most {:.1} ms",
            round.as_secs_f64() * 1000.0
        );
        ok &= max <= interval * 2 + round * 4;
    }
    let max = summary(
        "Live Tail, replayed event stream",
        runtime.block_on(live_tail()),
    );
    ok &= max <= Duration::from_millis(100);
    if !ok {
        eprintln!("logs_follow: FAILED (an event took longer than its bound)");
        std::process::exit(1);
    }
    println!("logs_follow: ok");
}
