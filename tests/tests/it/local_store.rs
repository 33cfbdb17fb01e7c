//! The data directory of `noteapp local`, end to end: one server at a time, and no acknowledged
//! write lost to a second server, to `kill -9` in the middle of concurrent writes, or to a write
//! the file-size limit cuts short; an empty operator-token file is replaced.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use noteapp_tests::local::LocalServer;
use serde_json::{Value, json};

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The ids of the notes the server acknowledged (201), written by `writers` tasks until `stop`.
async fn write_until(
    url: String,
    token: String,
    writers: usize,
    content_chars: usize,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (url, token, stop) = (url.clone(), token.clone(), stop.clone());
            tokio::spawn(async move {
                let client = noteapp_tests::http_client();
                let mut acked = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let body =
                        json!({"title": format!("w{w}-{n}"), "content": "c".repeat(content_chars)});
                    let sent = client
                        .post(format!("{url}/me/notes"))
                        .bearer_auth(&token)
                        .timeout(Duration::from_secs(5))
                        .body(body.to_string())
                        .send()
                        .await;
                    let Ok(response) = sent else { break };
                    if response.status().as_u16() != 201 {
                        continue;
                    }
                    // Acknowledged only once the whole answer is read.
                    let Ok(text) = response.text().await else {
                        break;
                    };
                    let body: Value = serde_json::from_str(&text).expect("JSON answer");
                    acked.push(body["data"]["id"].as_str().expect("id").to_owned());
                }
                acked
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("writer"));
    }
    all
}

/// Asserts every note in `ids` is readable by its owner on `server`.
async fn assert_all_there(server: &LocalServer, token: &str, ids: &[String]) {
    let client = noteapp_tests::http_client();
    for id in ids {
        let response = client
            .get(format!("{}/me/notes/{id}", server.url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            200,
            "acknowledged note {id} is lost"
        );
    }
    let list: Value = client
        .get(format!("{}/me/notes?limit=1", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|text| json_of(&text))
        .unwrap();
    let total = list["data"]["pagination"]["total"].as_u64().unwrap();
    assert!(total >= ids.len() as u64, "{total} < {}", ids.len());
}

#[tokio::test]
async fn a_second_server_on_the_data_directory_is_refused_naming_it_and_the_first_ones_pid() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = LocalServer::start(dir.path(), &[]);
    let token = first.token(&["--uid", "alice"]);
    let stop = Arc::new(AtomicBool::new(false));
    let writes = tokio::spawn(write_until(
        first.url(),
        token.clone(),
        4,
        200,
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let path = dir.path().to_path_buf();
    let (status, output) = tokio::task::spawn_blocking(move || {
        LocalServer::run_to_exit(&path, &[], Duration::from_secs(20))
    })
    .await
    .unwrap();
    let status = status.unwrap_or_else(|| panic!("the second server kept running:\n{output}"));
    assert!(!status.success(), "{output}");
    assert!(
        output.contains(&dir.path().display().to_string()),
        "the refusal does not name the directory:\n{output}"
    );
    assert!(
        output.contains(&format!("pid {}", first.pid())),
        "the refusal does not name the first server's pid {}:\n{output}",
        first.pid()
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let acked = writes.await.unwrap();
    assert!(acked.len() > 10, "only {} writes", acked.len());
    assert_all_there(&first, &token, &acked).await;
    first.stop();
    let again = LocalServer::start(dir.path(), &[]);
    assert_all_there(&again, &token, &acked).await;
}

#[tokio::test]
async fn every_acknowledged_write_survives_kill_9_in_the_middle_of_concurrent_writes() {
    for sync in ["never", "always"] {
        let dir = tempfile::tempdir().unwrap();
        let mut server = LocalServer::start(dir.path(), &["--sync", sync]);
        let token = server.token(&["--uid", "bob"]);
        let stop = Arc::new(AtomicBool::new(false));
        let writes = tokio::spawn(write_until(
            server.url(),
            token.clone(),
            8,
            2_000,
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        // SIGKILL while the writers are mid-flight; they stop at the first refused connection.
        server.stop();
        stop.store(true, Ordering::Relaxed);
        let acked = writes.await.unwrap();
        assert!(
            acked.len() > 10,
            "--sync {sync}: only {} writes",
            acked.len()
        );
        let server = LocalServer::start(dir.path(), &["--sync", sync]);
        assert_all_there(&server, &token, &acked).await;
    }
}

fn set_file_size_limit(pid: u32, limit: &str) {
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--fsize={limit}:")])
        .status()
        .expect("run prlimit (util-linux)");
    assert!(status.success(), "prlimit --fsize={limit}: failed");
}

#[tokio::test]
async fn a_write_cut_short_by_the_file_size_limit_leaves_a_log_that_reopens_with_every_acknowledged_write()
 {
    let dir = tempfile::tempdir().unwrap();
    // The limit covers every file the server writes, so its stderr goes to a small file of its
    // own rather than to the test's output (which may already be past the limit).
    let logs = tempfile::tempdir().unwrap();
    let mut server = LocalServer::start_logging_to(dir.path(), &[], &logs.path().join("stderr"));
    let token = server.token(&["--uid", "carol"]);
    let client = noteapp_tests::http_client();
    let post = |content: String| {
        let request = client
            .post(format!("{}/me/notes", server.url()))
            .bearer_auth(&token)
            .body(json!({"title": "t", "content": content}).to_string());
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, json_of(&response.text().await.unwrap()))
        }
    };
    let mut acked = Vec::new();
    for i in 0..3 {
        let (status, body) = post(format!("before {i}")).await;
        assert_eq!(status, 201, "{body}");
        acked.push(body["data"]["id"].as_str().unwrap().to_owned());
    }

    // Room for about half of the next large record: the kernel writes that half, then refuses.
    let log = dir.path().join("store").join("store.jsonl");
    let size = std::fs::metadata(&log).unwrap().len();
    set_file_size_limit(server.pid(), &(size + 2_000).to_string());
    for _ in 0..2 {
        let (status, body) = post("x".repeat(4_000)).await;
        assert_eq!(status, 500, "{body}");
        assert_eq!(body["status"], "error", "{body}");
        assert_eq!(
            std::fs::metadata(&log).unwrap().len(),
            size,
            "the torn record was not cut back"
        );
    }
    // A small record still fits: the log ends where its last whole record ends.
    let (status, body) = post("small".into()).await;
    assert_eq!(status, 201, "{body}");
    acked.push(body["data"]["id"].as_str().unwrap().to_owned());

    set_file_size_limit(server.pid(), "unlimited");
    for i in 0..3 {
        let (status, body) = post(format!("after {i} {}", "y".repeat(4_000))).await;
        assert_eq!(status, 201, "{body}");
        acked.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    server.stop();

    let server = LocalServer::start(dir.path(), &[]);
    assert_all_there(&server, &token, &acked).await;
    let list: Value = client
        .get(format!("{}/me/notes?limit=100", server.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|text| json_of(&text))
        .unwrap();
    assert_eq!(
        list["data"]["pagination"]["total"],
        acked.len(),
        "a refused write came back"
    );
}

#[tokio::test]
async fn an_empty_operator_token_file_is_rewritten_and_broadcasts_work_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("local-operator-token");
    std::fs::write(&path, "").unwrap();
    let server = LocalServer::start(dir.path(), &[]);
    let operator = server.token(&["--operator"]);
    assert_eq!(operator.len(), 64, "{operator:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), operator);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let client = noteapp_tests::http_client();
    let broadcast = |token: Option<String>| {
        let mut request = client
            .post(format!("{}/websocket/broadcast", server.ws_http_url()))
            .body(json!({"type": "test", "data": {"message": "hello"}}).to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(broadcast(Some(operator)).await, 200);
    // An empty credential is not the operator's.
    assert_eq!(broadcast(Some(String::new())).await, 403);
    assert_eq!(broadcast(None).await, 403);
}
