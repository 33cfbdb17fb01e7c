//! Releases, history, rollback and `--continue` against replayed CloudFormation, STS and ECR
//! answers (real response shapes; the ECR ones are the JSON 1.1 bodies ECR sends), every call
//! held against the deploy policy.

use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_smithy_mocks::{Rule, RuleMode, mock};
use serde_json::json;

use super::*;
use crate::aws::{Waits, replay};
use crate::commands::history;
use crate::flow::deploy::{DeployReport, DeployResult};
use crate::flow::recording as releases;
use crate::flow::{deploy, rollout};
use crate::progress::Captured;
use noteapp_test_support::kit::SignedServices;
use noteapp_test_support::kit::services::Objects;

const TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../templates/noteapp.yaml"
));
const REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/noteapp";
/// The digest `describe_stacks.xml` says the stack runs: release 3's.
const RUNNING: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn config() -> EnvironmentConfig {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../environments/staging.yaml"
    ));
    crate::config::parse("staging", &text.replace("ap-northeast-1", "eu-west-1")).unwrap()
}

fn digest(sequence: u64) -> String {
    match sequence {
        3 => RUNNING.to_owned(),
        n => format!("sha256:{n:0>64}"),
    }
}

/// Release `sequence` as a deploy recorded it; each ran its own log level.
fn recorded(sequence: u64) -> Release {
    let uri = format!("{REGISTRY}@{}", digest(sequence));
    let mut plan = template::plan(&config(), TEMPLATE, &uri).unwrap();
    let level = match sequence {
        1 => "info",
        2 => "warn",
        3 => "debug",
        _ => "error",
    };
    plan.set_parameter("LogLevel", level);
    Release {
        sequence,
        commit: Some(format!("{sequence}aa1c0ffee")),
        dirty: false,
        image_uri: uri,
        image_digest: digest(sequence),
        template_sha256: release::sha256(TEMPLATE),
        parameters: plan.parameters.into_iter().collect(),
        time: format!("2026-11-0{sequence}T10:00:00Z"),
        deployed_by: "arn:aws:sts::123456789012:assumed-role/ci/run-7".into(),
        result: "deployed".into(),
        rollback_of: None,
        versions: None,
    }
}

/// The live template holding releases `sequences`, newest first.
fn live(sequences: &[u64]) -> String {
    let releases: Vec<Release> = sequences.iter().map(|s| recorded(*s)).collect();
    release::write(TEMPLATE, &releases[0], &releases[1..], 5)
}

fn get_template(sequences: &'static [u64]) -> Rule {
    mock!(Client::get_template).then_http_response(move || replay::template(&live(sequences)))
}

fn describe(statuses: &'static [&'static str]) -> Rule {
    statuses
        .iter()
        .fold(mock!(Client::describe_stacks).sequence(), |seq, status| {
            seq.http_response(move || replay::stack(status))
        })
        .repeatedly()
        .build()
}

fn events(fixtures: &'static [&'static str]) -> Rule {
    fixtures
        .iter()
        .fold(mock!(Client::describe_stack_events).sequence(), |seq, f| {
            seq.http_response(move || replay::events(f))
        })
        .repeatedly()
        .build()
}

/// DescribeImages: the release tags of `sequences` (and a build tag) on their digests.
fn images(sequences: &'static [u64]) -> Rule {
    mock!(aws_sdk_ecr::Client::describe_images).then_http_response(move || {
        let details: Vec<_> = sequences
            .iter()
            .map(|s| {
                json!({
                    "registryId": "123456789012",
                    "repositoryName": "noteapp",
                    "imageDigest": digest(*s),
                    "imageTags": [release::tag("staging", *s), format!("build-{s:0>16}")],
                    "imageSizeInBytes": 9_512_337,
                    "imagePushedAt": 1.762_074_871E9,
                    "imageManifestMediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "artifactMediaType": "application/vnd.docker.container.image.v1+json",
                })
            })
            .collect();
        replay::ecr_json(200, json!({ "imageDetails": details }))
    })
}

/// BatchGetImage of `digest`: the manifest, or ECR's "not found" failure.
fn manifest(digest: String, present: bool) -> Rule {
    let wanted = digest.clone();
    mock!(aws_sdk_ecr::Client::batch_get_image)
        .match_requests(move |r| r.image_ids().iter().any(|i| i.image_digest() == Some(&wanted)))
        .then_http_response(move || {
            let id = json!({"imageDigest": digest});
            let body = if present {
                json!({"images": [{
                    "registryId": "123456789012",
                    "repositoryName": "noteapp",
                    "imageId": id,
                    "imageManifest": "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":1470,\"digest\":\"sha256:5e3b\"},\"layers\":[]}",
                    "imageManifestMediaType": "application/vnd.docker.distribution.manifest.v2+json",
                }], "failures": []})
            } else {
                json!({"images": [], "failures": [{
                    "imageId": id,
                    "failureCode": "ImageNotFound",
                    "failureReason": "Requested image not found",
                }]})
            };
            replay::ecr_json(200, body)
        })
}

/// PutImage under `tag`.
fn put_tag(tag: &'static str) -> Rule {
    mock!(aws_sdk_ecr::Client::put_image)
        .match_requests(move |r| r.image_tag() == Some(tag))
        .then_http_response(move || {
            replay::ecr_json(
                200,
                json!({"image": {"registryId": "123456789012", "repositoryName": "noteapp",
                    "imageId": {"imageTag": tag}, "imageManifest": "{}"}}),
            )
        })
}

fn untagged() -> Rule {
    mock!(aws_sdk_ecr::Client::batch_delete_image)
        .then_http_response(|| replay::ecr_json(200, json!({"imageIds": [], "failures": []})))
}

fn stack_policy() -> Rule {
    mock!(Client::get_stack_policy).then_http_response(|| {
        let stateful = template::plan(&config(), TEMPLATE, &format!("{REGISTRY}@{RUNNING}"))
            .unwrap()
            .stateful_resources;
        replay::stack_policy(Some(&template::stack_policy(&stateful)))
    })
}

/// The signed services a test's deploy keeps its templates in (S3, decided by the kit).
fn services() -> SignedServices {
    let services = SignedServices::start_on_thread(replay::kit());
    // The account has its CloudWatch role for API Gateway: the stack uses it.
    services.set_log_role("arn:aws:iam::123456789012:role/apigw-logs");
    services
}

fn clients(cfn: &[&Rule], ecr: &[&Rule], services: &SignedServices) -> Clients {
    let sts = mock!(aws_sdk_sts::Client::get_caller_identity)
        .then_http_response(|| replay::caller_identity("123456789012"));
    let mut clients = replay::clients(
        replay::cloudformation(RuleMode::MatchAny, cfn),
        replay::sts(&sts),
    )
    .with_signed_endpoint(replay::signer(replay::DEPLOYER), services.url());
    clients.ecr = replay::ecr(RuleMode::MatchAny, ecr);
    clients
}

fn options() -> DeployOptions {
    DeployOptions {
        yes: true,
        allow_replacement: false,
        new_tables: false,
        waits: Waits::every(Duration::from_millis(1)),
    }
}

/// An update change set whose parameters say `image` and `log_level` and whose template's
/// newest release record holds `history_starts`.
fn change_set_for(
    image: String,
    log_level: &'static str,
    history_starts: &'static str,
    objects: Objects,
) -> Rule {
    mock!(Client::create_change_set)
        .match_requests(move |r| {
            let param = |key: &str| {
                r.parameters()
                    .iter()
                    .find(|p| p.parameter_key() == Some(key))
                    .and_then(|p| p.parameter_value())
                    .map(str::to_owned)
            };
            param("ImageUri").as_deref() == Some(image.as_str())
                && param("LogLevel").as_deref() == Some(log_level)
                && replay::sent_template(r, &objects).is_some_and(|t| {
                    release::read(&t)
                        .live()
                        .is_some_and(|l| serde_json::to_string(l).unwrap().contains(history_starts))
                })
        })
        .then_http_response(replay::change_set_created)
}

fn update_flow() -> (Rule, Rule, Rule, Rule) {
    (
        describe(&[
            "UPDATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_IN_PROGRESS",
            "UPDATE_COMPLETE",
        ]),
        mock!(Client::describe_change_set)
            .sequence()
            .http_response(|| replay::change_set("CREATE_PENDING", "", ""))
            .http_response(|| {
                replay::change_set("CREATE_COMPLETE", "", replay::CHANGES_IMAGE_UPDATE)
            })
            .build(),
        mock!(Client::execute_change_set).then_http_response(replay::executed),
        events(&["before_update", "update_in_progress", "update_complete"]),
    )
}

async fn run_rollback(
    clients: &Clients,
    to: Option<u64>,
) -> (Result<(DeployReport, Recording), Error>, Captured) {
    let (progress, lines) = Progress::captured();
    let result = async {
        let (plan, recording) = prepare(clients, &config(), to, "noteapp", &progress).await?;
        let pending = crate::flow::change_set::Pending::default();
        let report = deploy::deploy(
            clients,
            &plan,
            &options(),
            &Prompt::Closed,
            &progress,
            &pending,
        )
        .await?;
        releases::finish(clients, "staging", "noteapp-staging", &recording, &progress).await;
        Ok((report, recording))
    }
    .await;
    (result, lines)
}

/// A rollback of the stack `template` holds (release 3 live over 2 and 1) to release `to`,
/// recorded as release 4: the change set `create` accepts, the update, and the image tags.
struct RollbackOf3 {
    create: Rule,
    execute: Rule,
    /// `deployed-staging-current`, `deployed-staging-previous`, `release-staging-4`.
    tags: [Rule; 3],
    clients: Clients,
}

fn rolling_back(template: Rule, create: Rule, to: u64, services: &SignedServices) -> RollbackOf3 {
    let (describe, computed, execute, events) = update_flow();
    let policy = stack_policy();
    let cfn = [
        &template, &describe, &create, &computed, &execute, &events, &policy,
    ];
    let (images, target, running) = (
        images(&[1, 2, 3]),
        manifest(digest(to), true),
        manifest(digest(3), true),
    );
    let tags = [
        put_tag("deployed-staging-current"),
        put_tag("deployed-staging-previous"),
        put_tag("release-staging-4"),
    ];
    let ecr = [&images, &target, &running, &tags[0], &tags[1], &tags[2]];
    let clients = clients(&cfn, &ecr, services);
    RollbackOf3 {
        create,
        execute,
        tags,
        clients,
    }
}

#[tokio::test]
async fn a_deploy_records_its_release_in_the_template_and_tags_its_image() {
    let services = services();
    let image = format!("{REGISTRY}@{}", digest(4));
    let (describe, computed, execute, events) = update_flow();
    let template = get_template(&[3, 2, 1]);
    let create = change_set_for(image.clone(), "debug", "\"sequence\":4", services.objects());
    let policy = stack_policy();
    let cfn = [
        &template, &describe, &create, &computed, &execute, &events, &policy,
    ];
    let (tags, get, put) = (
        images(&[1, 2, 3]),
        manifest(digest(4), true),
        put_tag("release-staging-4"),
    );
    let untag = untagged();
    let clients = clients(&cfn, &[&tags, &get, &put, &untag], &services);
    let mut plan = template::plan(&config(), TEMPLATE, &image).unwrap();
    let provenance = Provenance {
        commit: Some("4bb2d0e".into()),
        dirty: true,
        rollback_of: None,
        live_versions: None,
    };
    let recording = releases::record(&clients, &mut plan, Some("noteapp"), 5, provenance)
        .await
        .unwrap();
    let release = &recording.release;
    assert_eq!(release.sequence, 4);
    assert_eq!(release.image_digest, digest(4));
    assert_eq!(release.commit.as_deref(), Some("4bb2d0e"));
    assert!(release.dirty);
    assert_eq!(release.template_sha256, release::sha256(TEMPLATE));
    assert_eq!(release.parameters["ImageUri"], image);
    assert!(release.deployed_by.starts_with("arn:aws:"), "{release:?}");
    let sent = release::read(&plan.template_body);
    let order: Vec<u64> = sent.releases.iter().map(|r| r.sequence).collect();
    assert_eq!(order, [4, 3, 2, 1]);
    let (progress, lines) = Progress::captured();
    let pending = crate::flow::change_set::Pending::default();
    let report = deploy::deploy(
        &clients,
        &plan,
        &options(),
        &Prompt::Closed,
        &progress,
        &pending,
    )
    .await
    .unwrap();
    assert_eq!(report.result, DeployResult::Updated);
    assert_eq!(create.num_calls(), 1);
    releases::finish(
        &clients,
        "staging",
        "noteapp-staging",
        &recording,
        &progress,
    )
    .await;
    assert_eq!(put.num_calls(), 1, "{}", lines.text());
    assert_eq!(
        untag.num_calls(),
        0,
        "four releases are within the five kept"
    );
    assert!(
        lines
            .text()
            .contains("release 4 recorded (release-staging-4)"),
        "{}",
        lines.text()
    );
}

#[tokio::test]
async fn history_lists_releases_newest_first_marking_the_live_one_and_gone_images() {
    let services = services();
    let template = get_template(&[3, 2, 1]);
    let tags = images(&[3, 2]);
    let clients = clients(&[&template], &[&tags], &services);
    let report = history::history(&clients, "staging", "noteapp-staging", "noteapp")
        .await
        .unwrap();
    assert_eq!(report.live, Some(3));
    let text = report.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("newest first"), "{text}");
    assert!(
        lines[1].starts_with("*    3") && lines[1].contains("(live)"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("     2") && !lines[2].contains("live"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("     1") && lines[3].contains("image gone"),
        "{text}"
    );
    assert!(
        lines[1].contains("3aa1c0ffee") && lines[1].contains("sha256:9f86d0818"),
        "{text}"
    );
    let json = serde_json::to_value(&report).unwrap();
    let sequences: Vec<u64> = json["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(sequences, [3, 2, 1]);
    assert_eq!(json["releases"][0]["live"], true);
    assert_eq!(json["releases"][1]["live"], false);
    assert_eq!(json["releases"][2]["image_present"], false);
    assert_eq!(json["releases"][0]["parameters"]["LogLevel"], "debug");
    assert_eq!(
        json["releases"][0]["deployed_by"],
        "arn:aws:sts::123456789012:assumed-role/ci/run-7"
    );
}

#[tokio::test]
async fn rollback_redeploys_the_previous_release_with_its_digest_and_parameters() {
    let services = services();
    // Release 2 ran log level "warn"; the rollback is recorded as release 4.
    let create = change_set_for(
        format!("{REGISTRY}@{}", digest(2)),
        "warn",
        "\"sequence\":4",
        services.objects(),
    );
    let rollback = rolling_back(get_template(&[3, 2, 1]), create, 2, &services);
    let (result, lines) = run_rollback(&rollback.clients, None).await;
    let (report, recording) = result.unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    assert_eq!(report.result, DeployResult::Updated);
    assert_eq!(rollback.create.num_calls(), 1);
    assert_eq!(rollback.execute.num_calls(), 1);
    assert_eq!(recording.release.rollback_of, Some(2));
    assert_eq!(recording.release.result, "rolled back to 2");
    assert_eq!(recording.release.image_digest, digest(2));
    let tagged = rollback.tags.each_ref().map(Rule::num_calls);
    assert_eq!(tagged, [1, 1, 1], "current, previous, release-staging-4");
    let text = lines.text();
    assert!(
        text.contains("rolling stack noteapp-staging back to release 2"),
        "{text}"
    );
    assert!(text.contains("~ ApiFunction"), "the diff is shown: {text}");
}

#[tokio::test]
async fn rollback_to_release_n_uses_that_releases_digest_and_parameters() {
    let services = services();
    let create = change_set_for(
        format!("{REGISTRY}@{}", digest(1)),
        "info",
        "\"rollback_of\":1",
        services.objects(),
    );
    let rollback = rolling_back(get_template(&[3, 2, 1]), create, 1, &services);
    let (result, lines) = run_rollback(&rollback.clients, Some(1)).await;
    let (_, recording) = result.unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    assert_eq!(rollback.create.num_calls(), 1, "{}", lines.text());
    assert_eq!(recording.release.rollback_of, Some(1));
    assert_eq!(recording.release.parameters["LogLevel"], "info");
}

#[tokio::test]
async fn rollback_refuses_when_the_releases_image_is_gone_and_changes_nothing() {
    let services = services();
    let template = get_template(&[3, 2, 1]);
    let create = mock!(Client::create_change_set).then_http_response(replay::change_set_created);
    let gone = manifest(digest(2), false);
    let put = mock!(aws_sdk_ecr::Client::put_image)
        .then_http_response(|| replay::ecr_json(200, json!({})));
    let clients = clients(&[&template, &create], &[&gone, &put], &services);
    let (result, _) = run_rollback(&clients, None).await;
    let err = result.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "release 2's image noteapp@{} is gone from ECR",
            digest(2)
        )),
        "{text}"
    );
    assert!(text.contains("nothing was changed"), "{text}");
    assert_eq!(err.exit_code(), crate::EXIT_FAILURE);
    assert_eq!(create.num_calls(), 0);
    assert_eq!(put.num_calls(), 0, "no tag moved");
}

#[tokio::test]
async fn rollback_refuses_a_release_not_in_the_history_or_already_live() {
    let history = release::read(&live(&[3, 2, 1]));
    let err = target(&history, Some(9), "noteapp-staging").unwrap_err();
    assert!(
        err.to_string().contains("release 9 is not in the history"),
        "{err}"
    );
    assert!(err.to_string().contains("kept: 3, 2, 1"), "{err}");
    let err = target(&history, Some(3), "noteapp-staging").unwrap_err();
    assert!(err.to_string().contains("is the live release"), "{err}");
    assert_eq!(
        target(&history, None, "noteapp-staging").unwrap().sequence,
        2
    );
}

#[tokio::test]
async fn continue_from_update_rollback_failed_names_the_skipped_resource_and_asks_first() {
    let services = services();
    let describe = describe(&[
        // Once for the declined run, once for the confirmed one.
        "UPDATE_ROLLBACK_FAILED",
        "UPDATE_ROLLBACK_FAILED",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE",
    ]);
    let events = events(&[
        "update_rollback_failed",
        "update_rollback_failed",
        "update_rollback_failed",
        "recovered",
    ]);
    let resume = mock!(Client::continue_update_rollback)
        .match_requests(|r| {
            r.resources_to_skip() == ["ApiFunction"] && r.client_request_token().is_some()
        })
        .then_http_response(replay::update_rollback_continued);
    let clients = clients(&[&describe, &events, &resume], &[], &services);
    let (progress, lines) = Progress::captured();
    let options = DeployOptions {
        yes: false,
        ..options()
    };
    let declined = recover(
        &clients,
        &config(),
        &options,
        &Prompt::answers(&["n"]),
        &progress,
    )
    .await;
    assert_eq!(declined.unwrap_err().exit_code(), crate::EXIT_REFUSED);
    assert_eq!(resume.num_calls(), 0);
    let report = recover(
        &clients,
        &config(),
        &options,
        &Prompt::answers(&["y"]),
        &progress,
    )
    .await
    .unwrap();
    assert_eq!(resume.num_calls(), 1);
    assert_eq!(report.action, "ContinueUpdateRollback");
    assert_eq!(report.skipped, ["ApiFunction"]);
    assert_eq!(report.stack_status, "UPDATE_ROLLBACK_COMPLETE");
    assert!(report.check().is_ok());
    let text = lines.text();
    assert!(
        text.contains("would be skipped") && text.contains("ApiFunction"),
        "{text}"
    );
    assert!(text.contains("skipping ApiFunction? [y/N]"), "{text}");
}

#[tokio::test]
async fn continue_from_update_failed_rolls_the_stack_back() {
    let services = services();
    let describe = describe(&[
        "UPDATE_FAILED",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE",
    ]);
    let events = events(&["update_rollback_failed", "recovered"]);
    let rollback = mock!(Client::rollback_stack)
        .match_requests(|r| r.client_request_token().is_some())
        .then_http_response(replay::stack_rolled_back);
    let clients = clients(&[&describe, &events, &rollback], &[], &services);
    let (progress, _) = Progress::captured();
    let report = recover(&clients, &config(), &options(), &Prompt::Closed, &progress)
        .await
        .unwrap();
    assert_eq!(rollback.num_calls(), 1);
    assert_eq!(
        (report.from.as_str(), report.action),
        ("UPDATE_FAILED", "RollbackStack")
    );
    assert!(
        report
            .to_string()
            .contains("the stack is now UPDATE_ROLLBACK_COMPLETE"),
        "{report}"
    );
}

#[tokio::test]
async fn releases_past_the_last_n_lose_their_tags_so_the_lifecycle_keeps_exactly_n() {
    let services = services();
    let put = put_tag("release-staging-7");
    let get = manifest(digest(7), true);
    let untag = mock!(aws_sdk_ecr::Client::batch_delete_image)
        .match_requests(|r| {
            let tags: Vec<_> = r.image_ids().iter().filter_map(|i| i.image_tag()).collect();
            tags == ["release-staging-1", "release-staging-2"]
        })
        .then_http_response(|| replay::ecr_json(200, json!({"imageIds": [], "failures": []})));
    let clients = clients(&[], &[&get, &put, &untag], &services);
    let mut release = recorded(7);
    release.image_digest = digest(7);
    let recording = Recording {
        release,
        repository: Some("noteapp".into()),
        kept: 5,
        tagged: (1..=6).map(|s| (s, digest(s))).collect(),
        previous: Some(6),
        templates: None,
        earlier: (2..=6).rev().collect(),
        history: Vec::new(),
    };
    let (progress, lines) = Progress::captured();
    releases::finish(
        &clients,
        "staging",
        "noteapp-staging",
        &recording,
        &progress,
    )
    .await;
    assert_eq!(put.num_calls(), 1);
    assert_eq!(untag.num_calls(), 1, "{}", lines.text());
    assert!(
        lines
            .text()
            .contains("releases past the last 5 untagged: release-staging-1, release-staging-2"),
        "{}",
        lines.text()
    );
    // The lifecycle policy never expires a release-tagged image: the last 5 stay.
    let policy: serde_json::Value = serde_json::from_str(ecr::LIFECYCLE_POLICY).unwrap();
    let rule = &policy["rules"][1];
    assert_eq!(rule["selection"]["tagPrefixList"], json!(["release-"]));
    assert_eq!(rule["selection"]["countNumber"], 10000);
}

#[tokio::test]
async fn a_failed_smoke_check_with_rollback_on_failure_rolls_back_to_the_release_before() {
    let services = services();
    let (describe, computed, execute, events) = update_flow();
    // Release 4 went live and failed its smoke check; release 3 was live before it.
    let template = get_template(&[4, 3, 2]);
    let create = change_set_for(
        format!("{REGISTRY}@{}", digest(3)),
        "debug",
        "\"rollback_of\":3",
        services.objects(),
    );
    let policy = stack_policy();
    let cfn = [
        &template, &describe, &create, &computed, &execute, &events, &policy,
    ];
    let (tags, target) = (images(&[2, 3, 4]), manifest(digest(3), true));
    let (current, previous, release) = (
        put_tag("deployed-staging-current"),
        put_tag("deployed-staging-previous"),
        put_tag("release-staging-5"),
    );
    let clients = clients(
        &cfn,
        &[&tags, &target, &current, &previous, &release],
        &services,
    );
    let stand_ins =
        crate::smoke::stand_in::StandIns::start((503, "{}"), crate::smoke::stand_in::Stage::Echo)
            .await;
    let smoke = crate::smoke::run_checks(
        &stand_ins.endpoints,
        &noteapp_runtime::aws_http::https_client(Duration::from_secs(30)).unwrap(),
        None,
        Duration::from_secs(2),
    )
    .await;
    let mut report = DeployReport {
        environment: "staging".into(),
        stack_name: "noteapp-staging".into(),
        result: DeployResult::Updated,
        change_set: None,
        changes: Vec::new(),
        stack_status: Some("UPDATE_COMPLETE".into()),
        outputs: stand_ins.outputs(),
        failures: Vec::new(),
        imported_tables: Vec::new(),
        release: Some(recorded(4)),
        smoke: Some(smoke),
        rollback: None,
        canary: None,
    };
    let (progress, lines) = Progress::captured();
    let (root, config, build) = (
        noteapp_test_support::workspace(),
        config(),
        crate::image::ship::BuildOptions {
            base: "scratch".into(),
            registry_endpoint: None,
            repository: "noteapp".into(),
            bootstrap: None,
        },
    );
    let request = rollout::DeployRequest {
        root: &root,
        config: &config,
        image_uri: None,
        image_from: None,
        build: &build,
        options: options(),
        finish: deploy::Finish {
            smoke_timeout: Some(Duration::from_secs_f64(0.2)),
        },
        rollback_on_failure: true,
        canary: Default::default(),
    };
    rollout::roll_back_on_failure(
        &clients,
        &config,
        &mut report,
        &request,
        "noteapp",
        &progress,
    )
    .await;
    let back = report.rollback.clone().unwrap();
    assert_eq!(back.error, None, "{}", lines.text());
    assert_eq!((back.to, back.release), (Some(3), Some(5)));
    assert_eq!(back.result, DeployResult::Updated);
    assert_eq!(create.num_calls(), 1);
    assert_eq!(release.num_calls(), 1);
    assert!(
        lines
            .text()
            .contains("rolling back to the release before it (--rollback-on-failure)"),
        "{}",
        lines.text()
    );
    let text = report.to_string();
    assert!(
        text.contains("rolled back to release 3 (--rollback-on-failure)"),
        "{text}"
    );
    assert_eq!(
        report.check().unwrap_err().exit_code(),
        crate::EXIT_FAILURE,
        "the deploy still fails"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["rollback"]["to"], 3);
    assert_eq!(json["smoke"]["passed"], false);
}

#[tokio::test]
async fn a_first_release_that_fails_its_smoke_check_stays_live_and_says_so() {
    use aws_sdk_cloudformation::types::ChangeSetType;
    let services = services();
    // A new stack: nothing recorded before, so nothing to roll back to.
    let describe = mock!(Client::describe_stacks)
        .sequence()
        // Before the change set: the image's protection, the log role's and the reserved
        // concurrency's decisions, and the stack's state.
        .http_response(replay::stack_missing)
        .times(4)
        .http_response(|| replay::stack("CREATE_IN_PROGRESS"))
        .http_response(|| replay::stack("CREATE_COMPLETE"))
        .repeatedly()
        .build();
    let no_template = mock!(Client::get_template).then_http_response(replay::stack_missing);
    let create = mock!(Client::create_change_set)
        .match_requests(|r| r.change_set_type() == Some(&ChangeSetType::Create))
        .then_http_response(replay::change_set_created);
    let computed = mock!(Client::describe_change_set)
        .then_http_response(|| replay::change_set("CREATE_COMPLETE", "", replay::CHANGES_CREATE));
    let execute = mock!(Client::execute_change_set).then_http_response(replay::executed);
    let events = events(&["before_create", "create_complete"]);
    let set_policy = mock!(Client::set_stack_policy).then_http_response(replay::stack_policy_set);
    let no_policy =
        mock!(Client::get_stack_policy).then_http_response(|| replay::stack_policy(None));
    let cfn = [
        &describe,
        &no_template,
        &create,
        &computed,
        &execute,
        &events,
        &set_policy,
        &no_policy,
    ];
    let repository_policy =
        mock!(aws_sdk_ecr::Client::get_repository_policy).then_http_response(|| {
            replay::ecr_json(
                400,
                json!({"__type": "RepositoryPolicyNotFoundException", "message": "no policy"}),
            )
        });
    let set_repository_policy = mock!(aws_sdk_ecr::Client::set_repository_policy)
        .then_http_response(|| replay::ecr_json(200, json!({"registryId": "123456789012", "repositoryName": "noteapp", "policyText": "{}"})));
    let no_tags = images(&[]);
    let (current, release) = (
        put_tag("deployed-staging-current"),
        put_tag("release-staging-1"),
    );
    let manifest = manifest(digest(1), true);
    let ecr = [
        &repository_policy,
        &set_repository_policy,
        &no_tags,
        &current,
        &release,
        &manifest,
    ];
    let no_tables = mock!(aws_sdk_dynamodb::Client::list_tables)
        .then_http_response(|| replay::table_names(&[]));
    let clients = clients(&cfn, &ecr, &services)
        .with_dynamodb(replay::dynamodb(RuleMode::MatchAny, &[&no_tables]));
    let (root, config) = (noteapp_test_support::workspace(), config());
    let build = crate::image::ship::BuildOptions {
        base: "scratch".into(),
        registry_endpoint: None,
        repository: "noteapp".into(),
        bootstrap: None,
    };
    let image = format!("{REGISTRY}@{}", digest(1));
    let request = rollout::DeployRequest {
        root: &root,
        config: &config,
        image_uri: Some(&image),
        image_from: None,
        build: &build,
        options: options(),
        finish: deploy::Finish {
            smoke_timeout: Some(Duration::from_secs_f64(0.2)),
        },
        rollback_on_failure: true,
        canary: Default::default(),
    };
    let (progress, lines) = Progress::captured();
    let report = rollout::deploy_environment(&clients, &request, &progress)
        .await
        .unwrap();
    assert_eq!(report.result, DeployResult::Created, "{}", lines.text());
    assert!(
        report.smoke.as_ref().is_some_and(|s| !s.passed),
        "the stack's endpoints are not reachable here"
    );
    let back = report.rollback.clone().expect("a rollback outcome");
    let why = back.not_attempted.clone().expect("not attempted, and why");
    assert!(
        why.contains("release 1 is the first this stack recorded")
            && why.contains("stays live")
            && why.contains("noteapp destroy staging"),
        "{why}"
    );
    assert_eq!((back.to, back.release, back.error), (None, None, None));
    assert_eq!(create.num_calls(), 1, "no second change set");
    let text = report.to_string();
    assert!(
        text.contains("nothing was rolled back: release 1 is the first"),
        "{text}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert!(
        json["rollback"]["not_attempted"]
            .as_str()
            .unwrap()
            .contains("stays live")
    );
    assert_eq!(
        report.check().unwrap_err().exit_code(),
        crate::EXIT_FAILURE,
        "the deploy still fails"
    );
}

/// Release 2's template: another than the stack runs now (release 3's), as a fix in the
/// template would make it.
fn release_2_template() -> String {
    TEMPLATE.replacen(
        "Description:",
        "# release 2: the template before the change release 3 made\nDescription:",
        1,
    )
}

/// The stack's template holding releases 3, 2, 1, release 2 having run [`release_2_template`].
fn get_template_with_release_2_apart() -> Rule {
    mock!(Client::get_template).then_http_response(|| {
        let mut second = recorded(2);
        second.template_sha256 = release::sha256(&release_2_template());
        let live = release::write(TEMPLATE, &recorded(3), &[second, recorded(1)], 5);
        replay::template(&live)
    })
}

/// The rollback to release 2 against the replayed stack and `services` (S3, signed, decided by
/// the kit): its change set only if its template is release 2's and its image and parameters
/// release 2's.
async fn roll_back_to_2(
    services: &noteapp_test_support::kit::SignedServices,
) -> (Result<(DeployReport, Recording), Error>, Captured, Rule) {
    let image = format!("{REGISTRY}@{}", digest(2));
    let objects = services.objects();
    let create = mock!(Client::create_change_set)
        .match_requests(move |r| {
            let param = |key: &str| {
                r.parameters()
                    .iter()
                    .find(|p| p.parameter_key() == Some(key))
                    .and_then(|p| p.parameter_value())
            };
            param("ImageUri") == Some(image.as_str())
                && param("LogLevel") == Some("warn")
                && replay::sent_template(r, &objects)
                    .is_some_and(|t| release::strip(&t) == release_2_template())
        })
        .then_http_response(replay::change_set_created);
    let rollback = rolling_back(get_template_with_release_2_apart(), create, 2, services);
    let (result, lines) = run_rollback(&rollback.clients, Some(2)).await;
    (result, lines, rollback.create)
}

const BUCKET: &str = "noteapp-releases-123456789012-eu-west-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_releases_template_with_its_image_and_parameters() {
    use noteapp_test_support::kit::SignedServices;
    let services = SignedServices::start(replay::kit()).await;
    // Release 2's deploy kept its template, as every deploy does.
    services.put_object(
        BUCKET,
        "noteapp-staging/releases/2.yaml",
        &release_2_template(),
    );
    let (result, lines, create) = roll_back_to_2(&services).await;
    let (report, recording) = result.unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    assert_eq!(report.result, DeployResult::Updated);
    assert_eq!(create.num_calls(), 1, "{}", lines.text());
    assert!(
        lines
            .text()
            .contains("release 2's template, parameters and image are restored together"),
        "{}",
        lines.text()
    );
    // The rollback is release 4, and its template is kept like any release's.
    assert_eq!(recording.release.sequence, 4);
    assert_eq!(
        recording.release.template_sha256,
        release::sha256(&release_2_template())
    );
    let kept = services
        .object(BUCKET, "noteapp-staging/releases/4.yaml")
        .expect("release 4's template is kept");
    assert_eq!(release::strip(&kept), release_2_template());
    assert_eq!(release::read(&kept).live().map(|r| r.sequence), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_template_that_is_not_the_recorded_one_is_refused_and_nothing_changes() {
    use noteapp_test_support::kit::SignedServices;
    let services = SignedServices::start(replay::kit()).await;
    services.put_object(
        BUCKET,
        "noteapp-staging/releases/2.yaml",
        &format!("{}\n# edited\n", release_2_template()),
    );
    let (result, lines, create) = roll_back_to_2(&services).await;
    let error = result.map(|_| ()).expect_err("refused").to_string();
    assert!(error.contains("the template kept for release 2"), "{error}");
    assert!(
        error.contains(
            "s3://noteapp-releases-123456789012-eu-west-1/noteapp-staging/releases/2.yaml"
        ),
        "{error}"
    );
    assert_eq!(create.num_calls(), 0, "{}", lines.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_recorded_before_templates_were_kept_comes_back_on_the_current_template_and_says_so()
 {
    let services = noteapp_test_support::kit::SignedServices::start(replay::kit()).await;
    let create = change_set_for(
        format!("{REGISTRY}@{}", digest(2)),
        "warn",
        "\"sequence\":4",
        services.objects(),
    );
    let rollback = rolling_back(get_template_with_release_2_apart(), create, 2, &services);
    let (result, lines) = run_rollback(&rollback.clients, Some(2)).await;
    result.unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    assert_eq!(rollback.create.num_calls(), 1);
    assert!(
        lines.text().contains("that template was not kept"),
        "{}",
        lines.text()
    );
}
