//! Benchmarks of the notes API, each printed next to a baseline measured in the same run.
//!
//! Run: `cargo build --release --workspace --bins && cargo bench -p noteapp-tests --bench api`
//!
//! 1. Cold start of `bootstrap api`: from exec to the first answered invocation, against a local
//!    stand-in for the Lambda Runtime API, and the process's peak RSS. Baseline: exec of `true`.
//!    Targets: ≤ 15 ms, ≤ 20 MiB.
//! 2. `noteapp local` under 64 concurrent keep-alive connections: `GET /notes` (target ≥ 20,000
//!    req/s, p99 ≤ 5 ms) and `POST /me/notes` (target ≥ 5,000 req/s). Baseline: a bare hyper
//!    server answering the same bytes, in its own process, loaded by the same generator.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use noteapp_tests::load::{self, LoadReport, Template};
use noteapp_tests::local::{LocalServer, binary, free_port, wait_for_port};
use serde_json::json;
use tokio::net::TcpListener;

const BASELINE_ENV: &str = "NOTEAPP_BENCH_BASELINE";
const COLD_STARTS: usize = 20;
const CONNECTIONS: usize = 64;
const LOAD_SECONDS: u64 = 5;

fn main() {
    // Re-executed as the baseline server: `NOTEAPP_BENCH_BASELINE=PORT:BODYFILE`.
    if let Ok(spec) = std::env::var(BASELINE_ENV) {
        baseline_server(&spec);
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "noteapp API benchmarks (rerun: cargo build --release --workspace --bins && cargo bench -p noteapp-tests --bench api)"
    );
    runtime.block_on(cold_start());
    runtime.block_on(throughput());
}

// ---------------------------------------------------------------------------------------------
// 1. Cold start

/// The stand-in Runtime API: hands out one Function URL event for `GET /healthz` and reports
/// when its response arrives.
async fn runtime_api(listener: TcpListener, answered: tokio::sync::mpsc::UnboundedSender<Instant>) {
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/healthz", "rawQueryString": "",
        "headers": {"host": "bench.lambda-url.us-east-1.on.aws"},
        "requestContext": {
            "accountId": "anonymous", "apiId": "bench", "domainName": "bench.lambda-url.us-east-1.on.aws",
            "domainPrefix": "bench", "http": {"method": "GET", "path": "/healthz", "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1", "userAgent": "bench"}, "requestId": "r1", "routeKey": "$default",
            "stage": "$default", "time": "25/Nov/2026:00:00:00 +0000", "timeEpoch": 0
        },
        "isBase64Encoded": false
    })
    .to_string();
    let handed_out = Arc::new(Mutex::new(false));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let event = event.clone();
        let answered = answered.clone();
        let handed_out = handed_out.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let event = event.clone();
                let answered = answered.clone();
                let handed_out = handed_out.clone();
                async move {
                    let path = request.uri().path().to_string();
                    if request.method() == Method::GET && path.ends_with("/invocation/next") {
                        let first = !std::mem::replace(&mut *handed_out.lock().unwrap(), true);
                        if !first {
                            // Park the runtime's next poll: one invocation per process.
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
                        return Ok::<_, Infallible>(
                            Response::builder()
                                .header("lambda-runtime-aws-request-id", "r1")
                                .header("lambda-runtime-deadline-ms", deadline.to_string())
                                .header(
                                    "lambda-runtime-invoked-function-arn",
                                    "arn:aws:lambda:us-east-1:123456789012:function:bench",
                                )
                                .header(
                                    "lambda-runtime-trace-id",
                                    "Root=1-00000000-000000000000000000000000",
                                )
                                .body(Full::new(Bytes::from(event)))
                                .unwrap(),
                        );
                    }
                    if path.ends_with("/response") {
                        let now = Instant::now();
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        // The Function URL response carries the handler's JSON body as a string.
                        if String::from_utf8_lossy(&body).contains("statusCode") {
                            let _ = answered.send(now);
                        }
                    }
                    Ok(Response::builder()
                        .status(202)
                        .body(Full::new(Bytes::new()))
                        .unwrap())
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

async fn cold_start() {
    let bootstrap = binary("bootstrap");
    let mut starts = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..COLD_STARTS {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let server = tokio::spawn(runtime_api(listener, tx));
        let spawned = Instant::now();
        let mut child = Command::new(&bootstrap)
            .arg("api")
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("ENVIRONMENT", "staging")
            .env("LOG_LEVEL", "warn")
            .env("FIREBASE_PROJECT_ID", "bench-project")
            .env("NOTES_TABLE", "notes")
            .env("USERS_TABLE", "users")
            .env("COMMENTS_TABLE", "comments")
            .env("CONNECTIONS_TABLE", "connections")
            .env("CONTROL_TABLE", "control")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn bootstrap");
        let answered = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("bootstrap answered within 10 s")
            .expect("answer");
        starts.push(answered.duration_since(spawned).as_secs_f64() * 1000.0);
        rss.push(peak_rss_kib(child.id()).unwrap_or(0) as f64 / 1024.0);
        let _ = child.kill();
        let _ = child.wait();
        server.abort();
    }
    let mut floor = Vec::new();
    for _ in 0..COLD_STARTS {
        let t = Instant::now();
        let _ = Command::new("true").status();
        floor.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let start_ms = median(&mut starts);
    let floor_ms = median(&mut floor);
    let rss_mib = median(&mut rss);
    println!("\n## cold start of `bootstrap api` ({COLD_STARTS} runs, medians)");
    println!("exec to first answered invocation: {start_ms:.2} ms (target ≤ 15 ms)");
    println!(
        "baseline, exec of `true`:          {floor_ms:.2} ms  → ratio {:.1}×",
        start_ms / floor_ms
    );
    println!("peak RSS (VmHWM):                  {rss_mib:.1} MiB (target ≤ 20 MiB)");
}

// ---------------------------------------------------------------------------------------------
// 2. Throughput of `noteapp local`

fn baseline_server(spec: &str) {
    let (port, body_file) = spec.split_once(':').expect("PORT:BODYFILE");
    let body = Bytes::from(std::fs::read(body_file).expect("baseline body"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port.parse::<u16>().unwrap()))
            .await
            .unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).ok();
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let body = body.clone();
                    async move {
                        let _ = request.into_body().collect().await;
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(body))
                                .unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

fn print_load(label: &str, report: &LoadReport, baseline: &LoadReport, target: &str) {
    println!(
        "{label}: {:>8.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors ({target})",
        report.per_second(),
        report.quantile_ms(0.5),
        report.quantile_ms(0.99),
        report.errors
    );
    println!(
        "  baseline (bare hyper, same bytes): {:>8.0} req/s, p99 {:.2} ms → noteapp at {:.0}% of baseline",
        baseline.per_second(),
        baseline.quantile_ms(0.99),
        100.0 * report.per_second() / baseline.per_second()
    );
}

async fn throughput() {
    let dir = tempfile::tempdir().unwrap();
    // One user writing thousands of notes a second: the limits would refuse all but the first
    // few. This measures the HTTP and store path; `--bench limits` measures the limiter's cost.
    let server = LocalServer::start(dir.path(), &["--rate-limits", "off"]);
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let token = server.token(&["--uid", "bench-user", "--name", "Bench"]);
    let client = noteapp_tests::http_client();
    for i in 0..100 {
        let created: serde_json::Value = client
            .post(format!("{}/me/notes", server.url()))
            .bearer_auth(&token)
            .body(
                json!({"title": format!("Note {i}"), "content": "A benchmark note. ".repeat(20)})
                    .to_string(),
            )
            .send()
            .await
            .unwrap()
            .json_text()
            .await;
        let id = created["data"]["id"].as_str().unwrap().to_string();
        client
            .post(format!("{}/me/notes/{id}/publish", server.url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
    }
    let list_body = client
        .get(format!("{}/notes", server.url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let create_body = client
        .post(format!("{}/me/notes", server.url()))
        .bearer_auth(&token)
        .body(r#"{"title":"Load","content":"Created under load."}"#)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    let duration = Duration::from_secs(LOAD_SECONDS);
    let get = Template {
        method: Method::GET,
        path: "/notes".into(),
        headers: vec![],
        body: Bytes::new(),
        expect: 200,
    };
    let post = Template {
        method: Method::POST,
        path: "/me/notes".into(),
        headers: vec![
            ("authorization".into(), format!("Bearer {token}")),
            ("content-type".into(), "application/json".into()),
        ],
        body: Bytes::from_static(br#"{"title":"Load","content":"Created under load."}"#),
        expect: 201,
    };
    // Warm up, then measure.
    load::run(addr, get.clone(), CONNECTIONS, Duration::from_millis(500)).await;
    let get_report = load::run(addr, get.clone(), CONNECTIONS, duration).await;
    let post_report = load::run(addr, post.clone(), CONNECTIONS, duration).await;
    drop(server);

    let get_baseline = with_baseline(&list_body, |addr| {
        load::run(
            addr,
            Template {
                expect: 200,
                ..get.clone()
            },
            CONNECTIONS,
            duration,
        )
    })
    .await;
    let post_baseline = with_baseline(&create_body, |addr| {
        load::run(
            addr,
            Template {
                expect: 200,
                ..post.clone()
            },
            CONNECTIONS,
            duration,
        )
    })
    .await;

    println!(
        "\n## `noteapp local`, {CONNECTIONS} connections, {LOAD_SECONDS} s each, generator on the same machine"
    );
    print_load(
        "GET /notes   ",
        &get_report,
        &get_baseline,
        "target ≥ 20,000 req/s, p99 ≤ 5 ms",
    );
    print_load(
        "POST /me/notes",
        &post_report,
        &post_baseline,
        "target ≥ 5,000 req/s",
    );
}

async fn with_baseline<F, Fut>(body: &[u8], run: F) -> LoadReport
where
    F: FnOnce(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = LoadReport>,
{
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), body).unwrap();
    let port = free_port();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .env(BASELINE_ENV, format!("{port}:{}", file.path().display()))
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn baseline server");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert!(
        wait_for_port(addr, Duration::from_secs(10)),
        "baseline server did not start"
    );
    let report = run(addr).await;
    let _ = child.kill();
    let _ = child.wait();
    report
}

trait JsonText {
    async fn json_text(self) -> serde_json::Value;
}

impl JsonText for reqwest::Response {
    async fn json_text(self) -> serde_json::Value {
        serde_json::from_str(&self.text().await.unwrap()).unwrap()
    }
}
