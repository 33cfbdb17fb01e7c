//! The deploy flow's refusals against replayed answers: states that must be cleared first, a
//! wait that runs out, a table replacement, the wrong account, `development`, production without
//! a confirmation, a change set CloudFormation rejects, and Ctrl-C — each leaving nothing the next
//! run trips on.

use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::ChangeSetType;
use aws_smithy_mocks::{RuleMode, mock};

use super::tests::{
    clients, computed, create_change_set, delete_change_set, describe, events, execute, identity,
    options, run_flow,
};
use super::*;
use crate::aws::replay;

#[tokio::test]
async fn a_stack_left_in_rollback_complete_is_deleted_then_created_again() {
    let sts = identity("123456789012");
    let describe = describe(&[
        "ROLLBACK_COMPLETE",
        "DELETE_COMPLETE",
        "CREATE_IN_PROGRESS",
        "CREATE_COMPLETE",
    ]);
    let delete = mock!(Client::delete_stack).then_http_response(replay::stack_deleted);
    let (create, computed, execute) = (
        create_change_set(ChangeSetType::Create),
        computed(replay::CHANGES_CREATE),
        execute(),
    );
    let events = events(&[
        "before_update",
        "delete_complete",
        "before_create",
        "create_complete",
    ]);
    let clients = clients(
        &sts,
        RuleMode::MatchAny,
        &[&describe, &delete, &create, &computed, &execute, &events],
    );
    let (result, lines) = run_flow(
        &clients,
        &replay::plan("staging"),
        options(),
        Prompt::Closed,
    )
    .await;
    assert_eq!(result.unwrap().result, DeployResult::Created);
    assert_eq!((delete.num_calls(), create.num_calls()), (1, 1));
    assert!(
        lines
            .text()
            .contains("is ROLLBACK_COMPLETE from a failed first create and holds nothing"),
        "{}",
        lines.text()
    );
}

#[tokio::test]
async fn a_diff_of_a_rollback_complete_stack_says_the_deploy_clears_it() {
    let sts = identity("123456789012");
    let describe =
        mock!(Client::describe_stacks).then_http_response(|| replay::stack("ROLLBACK_COMPLETE"));
    let delete = mock!(Client::delete_stack).then_http_response(replay::stack_deleted);
    let clients = clients(&sts, RuleMode::MatchAny, &[&describe, &delete]);
    let (progress, _) = Progress::captured();
    let err = crate::commands::diff::diff(
        &clients,
        &replay::plan("staging"),
        options().waits,
        &progress,
        &Pending::default(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("`noteapp deploy staging` deletes it and creates the stack again"),
        "{err}"
    );
    assert_eq!(delete.num_calls(), 0, "a diff changes nothing");
}

#[tokio::test]
async fn a_table_replacement_is_blocked_and_its_change_set_deleted() {
    let sts = identity("123456789012");
    let describe =
        mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
    let (create, computed) = (
        create_change_set(ChangeSetType::Update),
        computed(replay::CHANGES_TABLE_REPLACEMENT),
    );
    let (delete, execute) = (delete_change_set(), execute());
    let clients = clients(
        &sts,
        RuleMode::MatchAny,
        &[&describe, &create, &computed, &delete, &execute],
    );
    let (result, lines) = run_flow(
        &clients,
        &replay::plan("staging"),
        options(),
        Prompt::Closed,
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_REFUSED);
    assert!(
        err.to_string().contains("would replace NotesTable"),
        "{err}"
    );
    assert!(err.to_string().contains("--allow-replacement"), "{err}");
    assert_eq!((delete.num_calls(), execute.num_calls()), (1, 0));
    assert!(lines.text().contains("! NotesTable"), "{}", lines.text());
}

#[tokio::test]
async fn credentials_for_another_account_are_refused_before_any_stack_call() {
    let sts = identity("999999999999");
    let describe =
        mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
    let clients = clients(&sts, RuleMode::MatchAny, &[&describe]);
    let (result, _) = run_flow(
        &clients,
        &replay::plan("staging"),
        options(),
        Prompt::Closed,
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_USAGE);
    assert!(
        err.to_string().contains("belong to account 999999999999"),
        "{err}"
    );
    assert!(
        err.to_string().contains("lives in account 123456789012"),
        "{err}"
    );
    assert_eq!(describe.num_calls(), 0);
}

#[tokio::test]
async fn development_is_refused_before_any_aws_call() {
    let sts = identity("123456789012");
    let describe =
        mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
    let clients = clients(&sts, RuleMode::MatchAny, &[&describe]);
    let (result, _) = run_flow(
        &clients,
        &replay::plan("development"),
        options(),
        Prompt::Closed,
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_USAGE);
    assert!(
        err.to_string().contains("development is local only"),
        "{err}"
    );
    assert_eq!((sts.num_calls(), describe.num_calls()), (0, 0));
}

#[tokio::test]
async fn production_without_yes_and_without_a_terminal_is_refused_and_changes_nothing() {
    let sts = identity("123456789012");
    let describe =
        mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
    let (create, computed) = (
        create_change_set(ChangeSetType::Update),
        computed(replay::CHANGES_IMAGE_UPDATE),
    );
    let (delete, execute) = (delete_change_set(), execute());
    let clients = clients(
        &sts,
        RuleMode::MatchAny,
        &[&describe, &create, &computed, &delete, &execute],
    );
    let (result, lines) = run_flow(
        &clients,
        &replay::plan("production"),
        options(),
        Prompt::Closed,
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_REFUSED);
    assert!(err.to_string().contains("rerun with --yes"), "{err}");
    assert_eq!((delete.num_calls(), execute.num_calls()), (1, 0));
    assert!(
        lines.text().contains("~ ApiFunction"),
        "the diff is shown first: {}",
        lines.text()
    );
}

#[tokio::test]
async fn production_executes_once_a_person_confirms() {
    let sts = identity("123456789012");
    let describe = describe(&["UPDATE_COMPLETE", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"]);
    let (create, computed, execute) = (
        create_change_set(ChangeSetType::Update),
        computed(replay::CHANGES_IMAGE_UPDATE),
        execute(),
    );
    let events = events(&["before_update", "update_complete"]);
    let protect = mock!(Client::update_termination_protection)
        .match_requests(|r| r.enable_termination_protection() == Some(true))
        .then_http_response(replay::termination_protection_set);
    let clients = clients(
        &sts,
        RuleMode::MatchAny,
        &[&describe, &create, &computed, &execute, &events, &protect],
    );
    let (result, lines) = run_flow(
        &clients,
        &replay::plan("production"),
        options(),
        Prompt::answers(&["y"]),
    )
    .await;
    assert_eq!(result.unwrap().result, DeployResult::Updated);
    assert_eq!(
        protect.num_calls(),
        1,
        "production gets termination protection"
    );
    assert!(
        lines
            .text()
            .contains("termination protection of noteapp-staging is on"),
        "{}",
        lines.text()
    );
    assert!(
        lines.text().contains("execute change set noteapp-"),
        "{}",
        lines.text()
    );
}

#[tokio::test]
async fn a_failed_change_set_is_deleted_and_its_reason_given() {
    let sts = identity("123456789012");
    let describe =
        mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
    let create = create_change_set(ChangeSetType::Update);
    let computed = mock!(Client::describe_change_set).then_http_response(|| {
        replay::change_set(
            "FAILED",
            "Template error: instance of Fn::GetAtt references undefined resource ApiFunctionUrl",
            "",
        )
    });
    let (delete, execute) = (delete_change_set(), execute());
    let clients = clients(
        &sts,
        RuleMode::MatchAny,
        &[&describe, &create, &computed, &delete, &execute],
    );
    let (result, _) = run_flow(
        &clients,
        &replay::plan("staging"),
        options(),
        Prompt::Closed,
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_FAILURE);
    assert!(
        err.to_string()
            .contains("failed: Template error: instance of Fn::GetAtt"),
        "{err}"
    );
    assert_eq!((delete.num_calls(), execute.num_calls()), (1, 0));
}

/// A staging deploy on `clients` that Ctrl-C interrupts once `reached` says the flow got where
/// the test wants it (checked every millisecond, so a slow machine does not interrupt too soon);
/// its error, checked to be the interruption.
async fn interrupted_when(clients: &Clients, reached: impl Fn() -> bool) -> Error {
    let (progress, _) = Progress::captured();
    let ctrl_c = async {
        while !reached() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let plan = replay::plan("staging");
    let err = deploy_until(
        ctrl_c,
        clients,
        &plan,
        &options(),
        &Prompt::Closed,
        &progress,
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_INTERRUPTED, "{err}");
    err
}

#[tokio::test]
async fn interrupting_before_execution_deletes_the_change_set() {
    let sts = identity("123456789012");
    let describe =
        mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
    let create = create_change_set(ChangeSetType::Update);
    let computing = mock!(Client::describe_change_set)
        .then_http_response(|| replay::change_set("CREATE_IN_PROGRESS", "", ""));
    let (delete, execute) = (delete_change_set(), execute());
    let clients = clients(
        &sts,
        RuleMode::MatchAny,
        &[&describe, &create, &computing, &delete, &execute],
    );
    let err = interrupted_when(&clients, || computing.num_calls() >= 2).await;
    assert!(
        err.to_string().contains("was deleted; nothing was changed"),
        "{err}"
    );
    assert_eq!((delete.num_calls(), execute.num_calls()), (1, 0));
}

#[tokio::test]
async fn interrupting_during_execution_leaves_the_operation_for_the_next_run_to_wait_out() {
    let sts = identity("123456789012");
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .http_response(|| replay::stack("UPDATE_COMPLETE"))
        .http_response(|| replay::stack("UPDATE_IN_PROGRESS"))
        .repeatedly()
        .build();
    let (create, computed, execute) = (
        create_change_set(ChangeSetType::Update),
        computed(replay::CHANGES_IMAGE_UPDATE),
        execute(),
    );
    let delete = delete_change_set();
    let events = events(&["before_update", "update_in_progress"]);
    let clients = clients(
        &sts,
        RuleMode::MatchAny,
        &[&describe, &create, &computed, &execute, &delete, &events],
    );
    let err = interrupted_when(&clients, || {
        execute.num_calls() == 1 && events.num_calls() >= 3
    })
    .await;
    assert!(
        err.to_string()
            .contains("CloudFormation goes on with stack noteapp-staging"),
        "{err}"
    );
    assert!(
        err.to_string().contains("the next deploy waits for it"),
        "{err}"
    );
    assert_eq!((execute.num_calls(), delete.num_calls()), (1, 0));
}

#[tokio::test]
async fn an_operation_that_outlasts_the_wait_says_how_to_follow_it() {
    let sts = identity("123456789012");
    let describe = mock!(Client::describe_stacks)
        .then_http_response(|| replay::stack("UPDATE_ROLLBACK_IN_PROGRESS"));
    let create = create_change_set(ChangeSetType::Update);
    let clients = clients(&sts, RuleMode::MatchAny, &[&describe, &create]);
    let mut options = options();
    options.waits.operation.max_wait = Duration::from_millis(20);
    let (result, _) = run_flow(&clients, &replay::plan("staging"), options, Prompt::Closed).await;
    let err = result.unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_FAILURE);
    assert!(
        err.to_string()
            .contains("still UPDATE_ROLLBACK_IN_PROGRESS"),
        "{err}"
    );
    assert!(
        err.to_string().contains("`noteapp status staging`"),
        "{err}"
    );
    assert_eq!(create.num_calls(), 0);
}

#[tokio::test]
async fn reserved_concurrency_the_account_cannot_hold_is_refused_before_any_change_set() {
    use noteapp_test_support::loopback::{Reply, Server};
    let sts = identity("123456789012");
    let describe =
        mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
    let create = create_change_set(ChangeSetType::Update);
    // An account at a new account's limits: 400 in all, 150 of them unreserved; the request
    // signed by the deployer and decided by the kit.
    let kit = replay::kit();
    let lambda = Server::answering(move |request| {
        if let Err(refusal) = kit.admit(request, noteapp_test_support::kit::Endpoint::Lambda) {
            return refusal;
        }
        Reply::json(
            200,
            r#"{"AccountLimit":{"ConcurrentExecutions":400,"UnreservedConcurrentExecutions":150},"AccountUsage":{"FunctionCount":9}}"#,
        )
    })
    .await;
    let clients = clients(&sts, RuleMode::MatchAny, &[&describe, &create])
        .with_signed_endpoint(replay::signer(replay::DEPLOYER), &lambda.url);
    let mut plan = replay::plan("staging");
    for (key, value) in [
        ("ApiReservedConcurrency", "40"),
        ("WsConnectReservedConcurrency", "20"),
        ("CleanupReservedConcurrency", "-1"),
    ] {
        plan.parameters.push((key.to_owned(), value.to_owned()));
    }
    let (result, _) = run_flow(&clients, &plan, options(), Prompt::Closed).await;
    let message = result.unwrap_err().to_string();
    for fragment in [
        "reserve 60 concurrent executions (api 40, ws-connect 20)",
        "limit in eu-west-1 is 400",
        "150 are unreserved",
        "at most 50 can be reserved",
        "environments/staging.yaml",
        "nothing was changed",
    ] {
        assert!(message.contains(fragment), "{fragment:?} in {message}");
    }
    assert_eq!(create.num_calls(), 0, "no change set was made");
    assert_eq!(lambda.requests().len(), 1);
}
