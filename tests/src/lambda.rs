//! A stand-in for the Lambda Runtime API on loopback, and the real `bootstrap` run against it.
//!
//! [`RuntimeApi`] hands out the events it was given, one per `GET …/invocation/next` (with the
//! request id, deadline and function ARN headers Lambda sends), records every
//! `POST …/invocation/{id}/response` and `…/error`, and parks the next poll once its events are
//! used up. [`run_bootstrap`] starts `bootstrap <handler>` with the variables a function gets
//! inside Lambda, waits until every event is answered and returns the answers with everything
//! the process wrote.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Method;
use noteapp_test_support::loopback::{Reply, Request, Server};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::local::binary;

/// The function ARN handed out with every event.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:noteapp-staging";

/// How the handler answered one event.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The event's request id; `init` for an init failure, `exit` when `bootstrap` exited
    /// before answering.
    pub request_id: String,
    /// `true` for `…/error`, `false` for `…/response`.
    pub error: bool,
    /// What the handler posted, as JSON, or as a JSON string when it was not JSON.
    pub body: Value,
}

struct Shared {
    events: Mutex<VecDeque<(String, Value)>>,
    answers: mpsc::UnboundedSender<Answer>,
}

/// A running stand-in; stops when dropped.
pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    answers: mpsc::UnboundedReceiver<Answer>,
    _server: Server,
}

impl RuntimeApi {
    /// Serves `events` in order, with request ids `req-1`, `req-2`, ….
    pub async fn start(events: Vec<Value>) -> Self {
        let (tx, answers) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(
                events
                    .into_iter()
                    .enumerate()
                    .map(|(i, event)| (format!("req-{}", i + 1), event))
                    .collect(),
            ),
            answers: tx,
        });
        let server = Server::start(move |request| answer(shared.clone(), request)).await;
        Self {
            address: server.url.trim_start_matches("http://").to_owned(),
            answers,
            _server: server,
        }
    }

    /// The next `count` answers, in the order they came, or those that came within `wait`.
    /// An init failure (`…/init/error`) ends the wait as an answer with request id `init`.
    pub async fn answers(
        &mut self,
        count: usize,
        wait: Duration,
    ) -> Result<Vec<Answer>, Vec<Answer>> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while out.len() < count {
            match tokio::time::timeout_at(deadline, self.answers.recv()).await {
                Ok(Some(answer)) if answer.request_id == "init" => {
                    out.push(answer);
                    return Err(out);
                }
                Ok(Some(answer)) => out.push(answer),
                _ => return Err(out),
            }
        }
        Ok(out)
    }
}

async fn answer(shared: Arc<Shared>, request: Request) -> Reply {
    let not_found = Reply::json(404, "");
    let path = request.path().to_owned();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return not_found;
    };
    if request.method == Method::GET && rest == "invocation/next" {
        let next = shared.events.lock().expect("events").pop_front();
        let Some((id, event)) = next else {
            // Every event is used: park the poll until the process is stopped.
            return std::future::pending().await;
        };
        let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
        return Reply::json(200, event.to_string())
            .header("lambda-runtime-aws-request-id", &id)
            .header("lambda-runtime-deadline-ms", &deadline.to_string())
            .header("lambda-runtime-invoked-function-arn", FUNCTION_ARN)
            .header(
                "lambda-runtime-trace-id",
                "Root=1-6750a1c0-1a2b3c4d5e6f7a8b9c0d1e2f;Parent=53995c3f42cd8ad8;Sampled=0",
            );
    }
    let kind = rest
        .strip_prefix("invocation/")
        .and_then(|tail| tail.rsplit_once('/'));
    let answered = match (&request.method, kind) {
        (&Method::POST, Some((id, outcome @ ("response" | "error")))) => {
            Some((id.to_owned(), outcome == "error"))
        }
        (&Method::POST, _) if rest == "init/error" => Some(("init".to_owned(), true)),
        _ => None,
    };
    match answered {
        Some((request_id, error)) => {
            let body = serde_json::from_slice(&request.body)
                .unwrap_or_else(|_| Value::String(request.text()));
            let _ = shared.answers.send(Answer {
                request_id,
                error,
                body,
            });
            Reply::json(202, r#"{"status":"OK"}"#)
        }
        None => not_found,
    }
}

/// What one `bootstrap` run produced.
#[derive(Debug)]
pub struct BootstrapRun {
    /// One per event, in the order they came.
    pub answers: Vec<Answer>,
    /// Everything the process wrote to stdout, then everything it wrote to stderr.
    pub output: String,
}

/// The variables Lambda sets in every function (credentials included), for `handler`'s
/// function, pointed at `runtime_api`.
pub fn lambda_vars(runtime_api: &str, handler: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", handler),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/12/01/[$LATEST]0123456789abcdef",
        ),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/noteapp-staging"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Runs `bootstrap <handler>` with only `env` (on top of [`lambda_vars`]) until it has
/// answered every one of `events`, then stops it.
pub async fn run_bootstrap(
    handler: &str,
    env: &[(String, String)],
    events: Vec<Value>,
) -> BootstrapRun {
    use tokio::io::AsyncReadExt;
    let count = events.len();
    let mut api = RuntimeApi::start(events).await;
    let mut child = tokio::process::Command::new(binary("bootstrap"))
        .arg(handler)
        .env_clear()
        .envs(lambda_vars(&api.address, handler))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn bootstrap");
    let read = |pipe: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>| {
        tokio::spawn(async move {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text).await;
            }
            text
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let answers = tokio::select! {
        answers = api.answers(count, Duration::from_secs(60)) => answers,
        status = child.wait() => Err(vec![Answer {
            request_id: "exit".into(),
            error: true,
            body: Value::String(format!("bootstrap exited early: {status:?}")),
        }]),
    };
    let _ = child.kill().await;
    let mut text = String::from_utf8_lossy(&stdout.await.unwrap_or_default()).into_owned();
    text.push_str(&String::from_utf8_lossy(&stderr.await.unwrap_or_default()));
    let answers = answers.unwrap_or_else(|some| {
        panic!(
            "bootstrap {handler} did not answer all {count} events ({some:?}); it wrote:\n{text}"
        )
    });
    BootstrapRun {
        answers,
        output: text,
    }
}
