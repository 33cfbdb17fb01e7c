//! `noteapp drift` against replayed CloudFormation answers: in sync, drifted (each resource and
//! property listed, exit 4) and a failed detection (exit 1), every call held against the deploy
//! policy.

use aws_sdk_cloudformation::types::StackResourceDriftStatus;
use aws_smithy_mocks::{Rule, RuleMode, mock};

use super::*;
use crate::aws::replay;

fn polling() -> WaitLimit {
    WaitLimit {
        interval: Duration::from_millis(1),
        max_wait: Duration::from_secs(5),
    }
}

fn started() -> Rule {
    mock!(Client::detect_stack_drift)
        .match_requests(|r| r.stack_name() == Some("noteapp-staging"))
        .then_http_response(replay::drift_detection_started)
}

fn detection(last: fn() -> aws_smithy_runtime_api::client::orchestrator::HttpResponse) -> Rule {
    mock!(Client::describe_stack_drift_detection_status)
        .match_requests(|r| {
            r.stack_drift_detection_id() == Some("b78ac9b0-dec1-11e7-a451-503a3e7b0bd6")
        })
        .sequence()
        .http_response(|| replay::drift_detection("DETECTION_IN_PROGRESS", None, None, None))
        .times(2)
        .http_response(last)
        .build()
}

fn resource_drifts(drifted: bool) -> Rule {
    mock!(Client::describe_stack_resource_drifts)
        .match_requests(|r| {
            let filters = r.stack_resource_drift_status_filters();
            r.stack_name() == Some("noteapp-staging")
                && filters.contains(&StackResourceDriftStatus::Modified)
                && filters.contains(&StackResourceDriftStatus::Deleted)
        })
        .then_http_response(move || replay::resource_drifts(drifted))
}

async fn run_detection(rules: &[&Rule]) -> (Result<DriftReport, Error>, String) {
    let client = replay::cloudformation(RuleMode::Sequential, rules);
    let (progress, lines) = Progress::captured();
    let report = detect(&client, "staging", "noteapp-staging", polling(), &progress).await;
    (report, lines.text())
}

#[tokio::test]
async fn a_stack_in_sync_exits_0_after_waiting_for_the_detection() {
    let (start, detection) = (
        started(),
        detection(|| replay::drift_detection("DETECTION_COMPLETE", Some("IN_SYNC"), None, Some(0))),
    );
    let drifts = resource_drifts(false);
    let (report, progress) = run_detection(&[&start, &detection, &drifts]).await;
    let report = report.unwrap();
    assert_eq!(detection.num_calls(), 3);
    assert_eq!(drifts.num_calls(), 0, "nothing to list for a stack in sync");
    assert!(
        progress.contains("detecting drift on stack noteapp-staging"),
        "{progress}"
    );
    assert!(report.check().is_ok());
    assert_eq!(
        report.to_string(),
        "stack noteapp-staging is in sync with its template\n"
    );
    assert_eq!(serde_json::to_value(&report).unwrap()["status"], "IN_SYNC");
}

#[tokio::test]
async fn a_drifted_stack_lists_each_resource_and_property_and_exits_4() {
    let (start, detection) = (
        started(),
        detection(|| replay::drift_detection("DETECTION_COMPLETE", Some("DRIFTED"), None, Some(3))),
    );
    let drifts = resource_drifts(true);
    let (report, _) = run_detection(&[&start, &detection, &drifts]).await;
    let report = report.unwrap();
    let text = report.to_string();
    assert!(
        text.contains("stack noteapp-staging has drifted (DRIFTED): 3 resources differ"),
        "{text}"
    );
    assert!(
        text.contains("  ApiFunction (AWS::Lambda::Function, noteapp-staging-api): MODIFIED\n    /MemorySize (NOT_EQUAL): expected 512, actual 1024\n    /Environment/Variables/LOG_LEVEL (NOT_EQUAL): expected info, actual debug\n"),
        "{text}"
    );
    assert!(
        text.contains("/PointInTimeRecoverySpecification/PointInTimeRecoveryEnabled (NOT_EQUAL): expected true, actual false"),
        "{text}"
    );
    assert!(
        text.contains(r#"/Tags/0 (ADD): expected (none), actual {"Key":"owner","Value":"ops"}"#),
        "{text}"
    );
    assert!(
        text.contains("CleanupSchedule (AWS::Events::Rule, noteapp-staging-CleanupSchedule-1RT0X2Y3Z4A5B): DELETED"),
        "{text}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["status"], "DRIFTED");
    assert_eq!(
        json["resources"][0]["differences"][0]["path"],
        "/MemorySize"
    );
    assert_eq!(json["resources"][0]["differences"][0]["actual"], "1024");
    assert_eq!(json["resources"][2]["drift"], "DELETED");
    let err = report.check().unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_DIFFERENCES);
    assert!(err.to_string().contains("3 resources differ"), "{err}");
}

#[tokio::test]
async fn a_failed_detection_exits_1_with_its_reason() {
    let (start, detection) = (
        started(),
        detection(|| {
            replay::drift_detection(
                "DETECTION_FAILED",
                None,
                Some(
                    "Failed to detect drift on resource [ApiFunction]: User is not authorized to perform lambda:GetFunction",
                ),
                None,
            )
        }),
    );
    let drifts = resource_drifts(true);
    let (report, _) = run_detection(&[&start, &detection, &drifts]).await;
    let err = report.unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_FAILURE);
    let text = err.to_string();
    assert!(
        text.contains("drift detection on stack noteapp-staging failed (DETECTION_FAILED): Failed to detect drift on resource [ApiFunction]"),
        "{text}"
    );
    assert_eq!(drifts.num_calls(), 0);
}

#[tokio::test]
async fn drift_of_a_missing_stack_exits_1_naming_the_deploy_command() {
    let start = mock!(Client::detect_stack_drift).then_http_response(replay::stack_missing);
    let (report, _) = run_detection(&[&start]).await;
    let err = report.unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_FAILURE);
    assert!(
        err.to_string().contains("`noteapp deploy staging`"),
        "{err}"
    );
}

#[tokio::test]
async fn drift_from_its_command_line_exits_4_drifted_and_0_in_sync() {
    let checkout = crate::commands::tests::checkout();
    let sts = || {
        replay::sts(
            &mock!(aws_sdk_sts::Client::get_caller_identity)
                .then_http_response(|| replay::caller_identity("123456789012")),
        )
    };
    let drift = ["drift", "staging", "--poll-interval", "0"];

    let (start, polled) = (
        started(),
        detection(|| replay::drift_detection("DETECTION_COMPLETE", Some("DRIFTED"), None, Some(3))),
    );
    let drifts = resource_drifts(true);
    let cloudformation = replay::cloudformation(RuleMode::Sequential, &[&start, &polled, &drifts]);
    let clients = replay::clients(cloudformation, sts());
    let err = crate::commands::tests::noteapp_given(clients, checkout.path(), &drift)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_DIFFERENCES, "{err}");
    assert_eq!(drifts.num_calls(), 1);

    let (start, polled) = (
        started(),
        detection(|| replay::drift_detection("DETECTION_COMPLETE", Some("IN_SYNC"), None, Some(0))),
    );
    let cloudformation = replay::cloudformation(RuleMode::Sequential, &[&start, &polled]);
    let clients = replay::clients(cloudformation, sts());
    crate::commands::tests::noteapp_given(clients, checkout.path(), &drift)
        .await
        .unwrap();
    assert_eq!(polled.num_calls(), 3);
}
