//! Benchmark: the smoke check's wall time, and a rollback that has nothing to rebuild.
//!
//! - Smoke: `smoke::run_checks` against the loopback stand-ins the smoke tests use
//!   (`smoke::stand_in`, healthy: 200 on `/healthz`, an echoing WebSocket stage, a broadcast route
//!   wanting a signature), against a bare `GET /healthz` round trip to the same stand-in with the
//!   same HTTP client. The three checks run at once, so the check should cost little more than
//!   its slowest part (the WebSocket connect and echo).
//! - Rollback: `rollback::prepare` (history from GetTemplate, the target's image looked up in ECR,
//!   the deployed tags moved, the release recorded) then the change-set flow (create, compute,
//!   execute, follow the events) and the release tag, through replay clients answering with the
//!   real response shapes in `deployer/tests/data/`: no image is built or pushed. Against it, a
//!   deploy with nothing to change through the same clients (the release recorded, a change set
//!   computed with no changes and deleted). Both poll every millisecond, so the figures are what
//!   noteapp itself spends; on AWS, CloudFormation's update time comes on top.
//!
//! Each figure is the median of `RUNS` runs. Rerun: `cargo bench -p noteapp --bench smoke`
//! (`--profile dev` builds faster; the README says which profile its figures came from).

use std::time::{Duration, Instant};

use aws_sdk_cloudformation::Client;
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use noteapp::aws::replay::releases::{digest, recorded};
use noteapp::aws::{Clients, Waits};
use noteapp::flow::change_set::Pending;
use noteapp::flow::deploy::DeployResult;
use noteapp::flow::deploy::{self, DeployOptions};
use noteapp::flow::recording as releases;
use noteapp::flow::rollback;
use noteapp::progress::{Progress, Prompt};
use noteapp::release;
use noteapp::smoke::{self, stand_in};
use serde_json::json;

const RUNS: usize = 25;
const TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../templates/noteapp.yaml"
));
const REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/noteapp";
/// The digest `describe_stacks.xml` says the stack runs: release 3's.
const RUNNING: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

macro_rules! data {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/", $name))
    };
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---- the smoke check -------------------------------------------------------------------------

async fn smoke_figures() -> (Duration, Duration) {
    let stand_ins = stand_in::StandIns::start(stand_in::HEALTHY, stand_in::Stage::Echo).await;
    let endpoints = &stand_ins.endpoints;
    let signer = stand_in::signer();
    let timeout = smoke::DEFAULT_TIMEOUT;
    let http = noteapp_runtime::aws_http::https_client(timeout).expect("an HTTP client");
    let (mut bare, mut checks) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let started = Instant::now();
        let response = http.get(&endpoints.health).send().await.expect("healthz");
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("a body");
        bare.push(started.elapsed());

        let started = Instant::now();
        let report = smoke::run_checks(
            endpoints,
            &noteapp_runtime::aws_http::https_client(Duration::from_secs(30)).unwrap(),
            Some(&signer),
            timeout,
        )
        .await;
        checks.push(started.elapsed());
        assert!(report.passed, "{report}");
    }
    (median(bare), median(checks))
}

// ---- replayed AWS answers --------------------------------------------------------------------

fn xml(body: String) -> HttpResponse {
    let mut response = HttpResponse::new(StatusCode::try_from(200).expect("200"), body.into());
    response.headers_mut().insert("content-type", "text/xml");
    response
}

fn ecr_json(body: serde_json::Value) -> HttpResponse {
    let mut response = HttpResponse::new(
        StatusCode::try_from(200).expect("200"),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.1");
    response
}

fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_owned(), |text, (k, v)| {
        text.replace(&format!("{{{{{k}}}}}"), v)
    })
}

fn config() -> noteapp::config::EnvironmentConfig {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../environments/staging.yaml"
    ));
    noteapp::config::parse("staging", &text.replace("ap-northeast-1", "eu-west-1"))
        .expect("environments/staging.yaml")
}

/// GetTemplate of a stack whose history holds releases 3, 2, 1 (3 live).
fn get_template() -> Rule {
    let (earlier, live) = ([recorded(2), recorded(1)], recorded(3));
    let body = release::write(TEMPLATE, &live, &earlier, 5)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    mock!(Client::get_template)
        .then_http_response(move || xml(fill(data!("get_template.xml"), &[("BODY", &body)])))
}

fn describe(statuses: &'static [&'static str]) -> Rule {
    statuses
        .iter()
        .fold(mock!(Client::describe_stacks).sequence(), |seq, status| {
            seq.http_response(move || {
                let values = [("STATUS", *status), ("REASON", ""), ("PROTECTION", "false")];
                xml(fill(data!("describe_stacks.xml"), &values))
            })
        })
        .repeatedly()
        .build()
}

fn change_set(status: &'static str, reason: &'static str, changes: &'static str) -> HttpResponse {
    let execution = if status == "CREATE_COMPLETE" {
        "AVAILABLE"
    } else {
        "UNAVAILABLE"
    };
    let values = [
        ("CHANGE_SET", "noteapp-1767520951"),
        ("STATUS", status),
        ("EXECUTION_STATUS", execution),
        ("REASON", reason),
        ("CHANGES", changes),
    ];
    xml(fill(data!("describe_change_set.xml"), &values))
}

fn events(fixtures: [&'static str; 3]) -> Rule {
    fixtures
        .into_iter()
        .fold(mock!(Client::describe_stack_events).sequence(), |seq, f| {
            seq.http_response(move || {
                xml(match f {
                    "before_update" => data!("events_before_update.xml"),
                    "update_in_progress" => data!("events_update_in_progress.xml"),
                    _ => data!("events_update_complete.xml"),
                }
                .to_owned())
            })
        })
        .repeatedly()
        .build()
}

/// The rules every flow here answers from: CloudFormation, then ECR.
fn rules(changes: bool) -> (Vec<Rule>, Vec<Rule>) {
    let created = mock!(Client::create_change_set).then_http_response(|| {
        let values = [("CHANGE_SET", "noteapp-1767520951")];
        xml(fill(data!("create_change_set.xml"), &values))
    });
    let computed = mock!(Client::describe_change_set)
        .sequence()
        .http_response(|| change_set("CREATE_PENDING", "", ""))
        .http_response(move || match changes {
            true => change_set("CREATE_COMPLETE", "", data!("changes_image_update.xml")),
            false => change_set(
                "FAILED",
                "The submitted information didn't contain changes. Submit different \
                 information to create a change set.",
                "",
            ),
        })
        .build();
    let policy = mock!(Client::get_stack_policy).then_http_response(|| {
        let plan = noteapp::template::plan(&config(), TEMPLATE, &format!("{REGISTRY}@{RUNNING}"))
            .expect("a plan");
        let body = noteapp::template::stack_policy(&plan.stateful_resources);
        let element = format!("<StackPolicyBody>{body}</StackPolicyBody>");
        xml(fill(data!("get_stack_policy.xml"), &[("BODY", &element)]))
    });
    let statuses: &'static [&'static str] = if changes {
        &[
            "UPDATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_IN_PROGRESS",
            "UPDATE_COMPLETE",
        ]
    } else {
        &["UPDATE_COMPLETE"]
    };
    let cfn = vec![
        get_template(),
        describe(statuses),
        created,
        computed,
        mock!(Client::execute_change_set)
            .then_http_response(|| xml(data!("execute_change_set.xml").to_owned())),
        mock!(Client::delete_change_set)
            .then_http_response(|| xml(data!("delete_change_set.xml").to_owned())),
        events(["before_update", "update_in_progress", "update_complete"]),
        policy,
    ];
    let images = mock!(aws_sdk_ecr::Client::describe_images).then_http_response(|| {
        let details: Vec<_> = [1u64, 2, 3]
            .iter()
            .map(|s| {
                json!({
                    "registryId": "123456789012",
                    "repositoryName": "noteapp",
                    "imageDigest": digest(*s),
                    "imageTags": [release::tag("staging", *s)],
                    "imageSizeInBytes": 9_512_337,
                    "imagePushedAt": 1.762_074_871E9,
                    "imageManifestMediaType": "application/vnd.docker.distribution.manifest.v2+json",
                })
            })
            .collect();
        ecr_json(json!({ "imageDetails": details }))
    });
    let manifest = mock!(aws_sdk_ecr::Client::batch_get_image).then_compute_response(|r| {
        let digest = r.image_ids()[0].image_digest().unwrap_or_default().to_owned();
        let body = json!({"images": [{
            "registryId": "123456789012",
            "repositoryName": "noteapp",
            "imageId": {"imageDigest": digest},
            "imageManifest": "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":1470,\"digest\":\"sha256:5e3b\"},\"layers\":[]}",
            "imageManifestMediaType": "application/vnd.docker.distribution.manifest.v2+json",
        }], "failures": []});
        MockResponse::Http(ecr_json(body))
    });
    let tagged = mock!(aws_sdk_ecr::Client::put_image).then_compute_response(|r| {
        let tag = r.image_tag().unwrap_or_default().to_owned();
        MockResponse::Http(ecr_json(
            json!({"image": {"registryId": "123456789012", "repositoryName": "noteapp",
            "imageId": {"imageTag": tag}, "imageManifest": "{}"}}),
        ))
    });
    let untagged = mock!(aws_sdk_ecr::Client::batch_delete_image)
        .then_http_response(|| ecr_json(json!({"imageIds": [], "failures": []})));
    (cfn, vec![images, manifest, tagged, untagged])
}

fn clients(changes: bool) -> Clients {
    let (cfn, ecr) = rules(changes);
    let identity = mock!(aws_sdk_sts::Client::get_caller_identity).then_http_response(|| {
        xml(fill(
            data!("get_caller_identity.xml"),
            &[("ACCOUNT", "123456789012")],
        ))
    });
    let cloudformation = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &cfn, |c| c
        .retry_config(aws_sdk_cloudformation::config::retry::RetryConfig::disabled()));
    let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&identity], |c| c
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled()));
    let ecr = mock_client!(aws_sdk_ecr, RuleMode::MatchAny, &ecr, |c| c
        .retry_config(aws_sdk_ecr::config::retry::RetryConfig::disabled()));
    Clients::new(cloudformation, sts, ecr)
}

fn options() -> DeployOptions {
    DeployOptions {
        yes: true,
        allow_replacement: false,
        new_tables: false,
        waits: Waits::every(Duration::from_millis(1)),
    }
}

/// `noteapp rollback staging` without its printing: back to release 2.
async fn roll_back(clients: &Clients) -> Duration {
    let (progress, lines) = Progress::captured();
    let started = Instant::now();
    let (plan, recording) = rollback::prepare(clients, &config(), None, "noteapp", &progress)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    let report = deploy::deploy(
        clients,
        &plan,
        &options(),
        &Prompt::Closed,
        &progress,
        &Pending::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    releases::finish(clients, "staging", "noteapp-staging", &recording, &progress).await;
    let elapsed = started.elapsed();
    assert_eq!(report.result, DeployResult::Updated, "{}", lines.text());
    assert_eq!(recording.release.rollback_of, Some(2));
    elapsed
}

/// `noteapp deploy staging --image-uri` of the live image without its printing: nothing changes.
async fn deploy_unchanged(clients: &Clients) -> Duration {
    let (progress, lines) = Progress::captured();
    let started = Instant::now();
    let mut plan = noteapp::template::plan(&config(), TEMPLATE, &format!("{REGISTRY}@{RUNNING}"))
        .expect("a plan");
    let provenance = releases::Provenance::default();
    releases::record(clients, &mut plan, Some("noteapp"), 5, provenance)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    let report = deploy::deploy(
        clients,
        &plan,
        &options(),
        &Prompt::Closed,
        &progress,
        &Pending::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    let elapsed = started.elapsed();
    assert_eq!(report.result, DeployResult::Unchanged, "{}", lines.text());
    elapsed
}

async fn rollback_figures() -> (Duration, Duration) {
    let (mut unchanged, mut back) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        unchanged.push(deploy_unchanged(&clients(false)).await);
        back.push(roll_back(&clients(true)).await);
    }
    (median(unchanged), median(back))
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (bare, checks) = runtime.block_on(smoke_figures());
    let (unchanged, back) = runtime.block_on(rollback_figures());
    let line = |label: &str, time: Duration, baseline: Option<Duration>| {
        let ratio = baseline
            .map(|b| {
                format!(
                    "  ({:.1}x the baseline)",
                    time.as_secs_f64() / b.as_secs_f64()
                )
            })
            .unwrap_or_default();
        println!("smoke: {label:<46} {:>8.2} ms{ratio}", ms(time));
    };
    line("GET /healthz alone (baseline)", bare, None);
    line(
        "the smoke check (healthz, ws echo, signed)",
        checks,
        Some(bare),
    );
    line("deploy with nothing to change (baseline)", unchanged, None);
    line("rollback, nothing built or pushed", back, Some(unchanged));
    println!("smoke: medians of {RUNS} runs each; replayed AWS answers, polled every 1 ms");
}
