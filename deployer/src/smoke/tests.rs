//! The smoke check against loopback stand-ins of the live endpoints (`stand_in`).

use tokio::net::TcpListener;

use super::stand_in::{HEALTHY, Stage, StandIns, signer};
use super::*;

fn failed<'a>(report: &'a SmokeReport, name: &str) -> &'a Check {
    let check = report.checks.iter().find(|c| c.name == name).unwrap();
    assert!(!check.passed, "{report}");
    check
}

/// The failure's exit code is 1 and its message names the URL.
fn assert_fails_naming(report: &SmokeReport, url: &str, words: &str) {
    assert!(!report.passed, "{report}");
    let err = report.check("staging").unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_FAILURE);
    let text = err.to_string();
    assert!(text.contains(url) && text.contains(words), "{text}");
    assert!(text.contains(" ms)"), "the time taken is named: {text}");
}

#[tokio::test]
async fn a_healthy_stack_passes_every_check_with_a_signed_broadcast() {
    let stand_ins = StandIns::start(HEALTHY, Stage::Echo).await;
    let endpoints = Endpoints::from_outputs("noteapp-staging", &stand_ins.outputs()).unwrap();
    assert_eq!(endpoints, stand_ins.endpoints);
    let signer = signer();
    let report = run_checks(
        &endpoints,
        &noteapp_runtime::aws_http::https_client(Duration::from_secs(30)).unwrap(),
        Some(&signer),
        Duration::from_secs(5),
    )
    .await;
    assert!(report.passed, "{report}");
    assert!(report.check("staging").is_ok());
    let statuses: Vec<_> = report.checks.iter().map(|c| (c.name, c.status)).collect();
    assert_eq!(
        statuses,
        [
            ("healthz", Some(200)),
            ("websocket", Some(101)),
            ("broadcast", Some(200))
        ]
    );
    let signatures = stand_ins.signatures.lock().unwrap().clone();
    assert_eq!(signatures.len(), 1);
    assert!(
        signatures[0].contains("/eu-west-1/execute-api/aws4_request"),
        "{signatures:?}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["passed"], true);
    assert_eq!(json["checks"][0]["url"], endpoints.health.as_str());
    assert!(
        report.to_string().contains("smoke check passed"),
        "{report}"
    );
}

#[tokio::test]
async fn a_5xx_from_healthz_fails_naming_the_url_and_status() {
    let stand_ins =
        StandIns::start((502, r#"{"message":"Internal Server Error"}"#), Stage::Echo).await;
    let report = run_checks(
        &stand_ins.endpoints,
        &noteapp_runtime::aws_http::https_client(Duration::from_secs(30)).unwrap(),
        Some(&signer()),
        Duration::from_secs(5),
    )
    .await;
    let check = failed(&report, "healthz");
    assert_eq!(check.status, Some(502));
    assert_fails_naming(
        &report,
        &stand_ins.endpoints.health,
        "Internal Server Error",
    );
    assert!(report.to_string().contains("HTTP 502"), "{report}");
}

#[tokio::test]
async fn a_refused_connection_fails_every_check_naming_its_url() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let endpoints = Endpoints {
        health: format!("http://{addr}/healthz"),
        websocket: format!("ws://{addr}/staging"),
        broadcast: format!("http://{addr}/websocket/broadcast"),
    };
    let report = run_checks(
        &endpoints,
        &noteapp_runtime::aws_http::https_client(Duration::from_secs(30)).unwrap(),
        Some(&signer()),
        Duration::from_secs(5),
    )
    .await;
    for check in &report.checks {
        assert!(!check.passed && check.status.is_none(), "{report}");
        assert!(
            check.detail.to_lowercase().contains("connection refused"),
            "{report}"
        );
    }
    assert_fails_naming(&report, &endpoints.health, "refused");
    assert_fails_naming(&report, &endpoints.websocket, "cannot connect");
}

#[tokio::test]
async fn a_websocket_refusing_the_upgrade_fails_naming_the_url_and_status() {
    let stand_ins = StandIns::start(HEALTHY, Stage::Refuse).await;
    let report = run_checks(
        &stand_ins.endpoints,
        &noteapp_runtime::aws_http::https_client(Duration::from_secs(30)).unwrap(),
        Some(&signer()),
        Duration::from_secs(5),
    )
    .await;
    let check = failed(&report, "websocket");
    assert_eq!(check.status, Some(403));
    assert!(check.detail.contains("the upgrade was refused"), "{report}");
    assert!(report.checks.iter().filter(|c| c.passed).count() == 2);
    assert_fails_naming(&report, &stand_ins.endpoints.websocket, "refused");
}

#[tokio::test]
async fn an_echo_that_never_arrives_fails_within_the_timeout() {
    let stand_ins = StandIns::start(HEALTHY, Stage::Silent).await;
    let timeout = Duration::from_millis(400);
    let started = Instant::now();
    let report = run_checks(
        &stand_ins.endpoints,
        &noteapp_runtime::aws_http::https_client(Duration::from_secs(30)).unwrap(),
        Some(&signer()),
        timeout,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let check = failed(&report, "websocket");
    assert_eq!(check.detail, "connected, but no echo within 0.4 s");
    assert!(check.millis >= 400, "{report}");
    assert_fails_naming(&report, &stand_ins.endpoints.websocket, "no echo");
}

#[tokio::test]
async fn a_broadcast_without_credentials_or_refused_unsigned_fails() {
    let stand_ins = StandIns::start(HEALTHY, Stage::Echo).await;
    let report = run_checks(
        &stand_ins.endpoints,
        &noteapp_runtime::aws_http::https_client(Duration::from_secs(30)).unwrap(),
        None,
        Duration::from_secs(5),
    )
    .await;
    let check = failed(&report, "broadcast");
    assert!(check.detail.contains("no AWS credentials"), "{report}");
    assert_fails_naming(&report, &stand_ins.endpoints.broadcast, "credentials");
}

#[test]
fn a_missing_output_is_named() {
    let mut outputs = BTreeMap::from([(
        HEALTH_OUTPUT.to_owned(),
        "https://x.lambda-url.eu-west-1.on.aws/".to_owned(),
    )]);
    let err = Endpoints::from_outputs("noteapp-staging", &outputs).unwrap_err();
    assert!(err.to_string().contains("no WebSocketURL output"), "{err}");
    outputs.insert(WEBSOCKET_OUTPUT.into(), "wss://y/staging".into());
    outputs.insert(
        BROADCAST_OUTPUT.into(),
        "https://z/websocket/broadcast".into(),
    );
    let endpoints = Endpoints::from_outputs("noteapp-staging", &outputs).unwrap();
    assert_eq!(
        endpoints.health,
        "https://x.lambda-url.eu-west-1.on.aws/healthz"
    );
}

#[tokio::test]
async fn the_ci_role_passes_the_broadcast_check_and_the_policy_without_its_statement_is_refused() {
    use aws_credential_types::provider::SharedCredentialsProvider;

    use crate::aws::replay;
    let stand_ins = StandIns::start(HEALTHY, Stage::Echo).await;
    let http = noteapp_runtime::aws_http::https_client(Duration::from_secs(30)).unwrap();
    // The role `ci bootstrap` makes, holding the deploy policy as rendered.
    let ci = replay::signer(replay::CI_ROLE);
    let report = run_checks(
        &stand_ins.endpoints,
        &http,
        Some(&ci),
        Duration::from_secs(5),
    )
    .await;
    assert!(report.passed, "{report}");
    // The deploy policy as it was shipped before: no `execute-api:Invoke` on the route.
    let kit = replay::kit();
    let mut policy = crate::policy::deploy_policy(&replay::scope());
    let statements = policy["Statement"].as_array_mut().unwrap();
    statements.retain(|s| s["Sid"] != "SmokeCheckBroadcast");
    let before = kit.altered_identity(
        "deployer-without-the-smoke-statement",
        "arn:aws:sts::123456789012:assumed-role/noteapp-operators/carol",
        vec![policy],
    );
    let signer = noteapp_runtime::aws_http::Signer::new(
        SharedCredentialsProvider::new(before.clone()),
        "eu-west-1",
    );
    let report = run_checks(
        &stand_ins.endpoints,
        &http,
        Some(&signer),
        Duration::from_secs(5),
    )
    .await;
    let check = failed(&report, "broadcast");
    assert_eq!(check.status, Some(403), "{report}");
    assert!(check.detail.contains("execute-api:Invoke"), "{report}");
    assert_eq!(kit.take_denials_of(&[before]).len(), 1);
}
