//! The deploy flow against replayed CloudFormation and STS answers (`aws::replay`): create,
//! update, nothing to change, an operation to wait out, and failures that roll back; the
//! shared replay rules live here too. Refusals and interruptions are in `refusals.rs`.

use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Capability, ChangeSetType, OnStackFailure};
use aws_smithy_mocks::{Rule, RuleMode, mock};

use super::*;
use crate::aws::replay;
use crate::progress::Captured;

pub(super) fn identity(account: &'static str) -> Rule {
    mock!(aws_sdk_sts::Client::get_caller_identity)
        .then_http_response(move || replay::caller_identity(account))
}

/// Clients answering from `rules`, then (for calls those leave unanswered) from defaults: the
/// stack already has the table policy, and the account has no kept table.
pub(super) fn clients(identity: &Rule, mode: RuleMode, rules: &[&Rule]) -> Clients {
    let policy = mock!(Client::get_stack_policy).then_http_response(|| {
        let stateful = replay::plan("staging").stateful_resources;
        replay::stack_policy(Some(&crate::template::stack_policy(&stateful)))
    });
    let mut all = rules.to_vec();
    all.push(&policy);
    let no_tables = mock!(aws_sdk_dynamodb::Client::list_tables)
        .then_http_response(|| replay::table_names(&[]));
    replay::clients(replay::cloudformation(mode, &all), replay::sts(identity))
        .with_dynamodb(replay::dynamodb(RuleMode::MatchAny, &[&no_tables]))
}

pub(super) fn options() -> DeployOptions {
    DeployOptions {
        yes: false,
        allow_replacement: false,
        new_tables: false,
        waits: Waits::every(Duration::from_millis(1)),
    }
}

pub(super) async fn run_flow(
    clients: &Clients,
    plan: &Plan,
    options: DeployOptions,
    prompt: Prompt,
) -> (Result<DeployReport, Error>, Captured) {
    let (progress, lines) = Progress::captured();
    let result = deploy_until(
        std::future::pending(),
        clients,
        plan,
        &options,
        &prompt,
        &progress,
    )
    .await;
    (result, lines)
}

pub(super) fn describe(statuses: &'static [&'static str]) -> Rule {
    statuses
        .iter()
        .fold(mock!(Client::describe_stacks).sequence(), |seq, status| {
            seq.http_response(move || replay::stack(status))
        })
        .build()
}

pub(super) fn events(fixtures: &'static [&'static str]) -> Rule {
    let seq = fixtures.iter().fold(
        mock!(Client::describe_stack_events).sequence(),
        |seq, name| seq.http_response(move || replay::events(name)),
    );
    seq.repeatedly().build()
}

pub(super) fn computed(changes: &'static str) -> Rule {
    mock!(Client::describe_change_set)
        .sequence()
        .http_response(|| replay::change_set("CREATE_PENDING", "", ""))
        .http_response(move || replay::change_set("CREATE_COMPLETE", "", changes))
        .build()
}

pub(super) fn create_change_set(kind: ChangeSetType) -> Rule {
    mock!(Client::create_change_set)
        .match_requests(move |r| {
            // A new stack is deleted with everything it made should its create fail.
            let on_failure = match kind {
                ChangeSetType::Create => Some(&OnStackFailure::Delete),
                _ => None,
            };
            r.change_set_type() == Some(&kind)
                && r.on_stack_failure() == on_failure
                && r.change_set_name()
                    .is_some_and(|n| n.starts_with("noteapp-"))
                && r.capabilities().contains(&Capability::CapabilityNamedIam)
                && r.capabilities().contains(&Capability::CapabilityIam)
                && r.parameters()
                    .iter()
                    .any(|p| p.parameter_key() == Some("ImageUri"))
                && r.tags().iter().any(|t| t.key() == Some("app"))
        })
        .then_http_response(replay::change_set_created)
}

pub(super) fn execute() -> Rule {
    mock!(Client::execute_change_set)
        .match_requests(|r| r.client_request_token().is_some())
        .then_http_response(replay::executed)
}

pub(super) fn delete_change_set() -> Rule {
    mock!(Client::delete_change_set).then_http_response(replay::change_set_deleted)
}

#[tokio::test]
async fn a_stack_that_does_not_exist_is_created_and_its_events_printed_once_oldest_first() {
    let sts = identity("123456789012");
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .http_response(replay::stack_missing)
        .http_response(|| replay::stack("CREATE_IN_PROGRESS"))
        .http_response(|| replay::stack("CREATE_COMPLETE"))
        .build();
    let (create, computed, execute) = (
        create_change_set(ChangeSetType::Create),
        computed(replay::CHANGES_CREATE),
        execute(),
    );
    let events = events(&["before_create", "create_complete"]);
    let clients = clients(
        &sts,
        RuleMode::MatchAny,
        &[&describe, &create, &computed, &execute, &events],
    );
    let (result, lines) = run_flow(
        &clients,
        &replay::plan("staging"),
        options(),
        Prompt::Closed,
    )
    .await;
    let report = result.unwrap();
    assert_eq!(report.result, DeployResult::Created);
    assert_eq!(execute.num_calls(), 1);
    assert!(report.check().is_ok());
    assert_eq!(
        report.outputs["FunctionUrlEndpoint"],
        "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/"
    );
    let text = lines.text();
    assert!(text.contains("+ NotesTable"), "{text}");
    assert_eq!(
        text.matches("NotesTable (AWS::DynamoDB::Table)").count(),
        3,
        "{text}"
    );
    assert!(
        !text.contains("REVIEW_IN_PROGRESS"),
        "events before the execution are not printed: {text}"
    );
    let line_of = |status: &str| {
        text.lines()
            .position(|l| {
                l.contains(status) && l.contains("noteapp-staging (AWS::CloudFormation::Stack)")
            })
            .unwrap_or_else(|| panic!("no {status} line: {text}"))
    };
    assert!(
        line_of("CREATE_IN_PROGRESS") < line_of("CREATE_COMPLETE"),
        "{text}"
    );
}

#[tokio::test]
async fn a_stack_holding_only_a_change_set_is_created_not_updated() {
    let sts = identity("123456789012");
    let describe = describe(&[
        "REVIEW_IN_PROGRESS",
        "CREATE_IN_PROGRESS",
        "CREATE_COMPLETE",
    ]);
    let (create, computed, execute) = (
        create_change_set(ChangeSetType::Create),
        computed(replay::CHANGES_CREATE),
        execute(),
    );
    let events = events(&["before_create", "create_complete"]);
    let clients = clients(
        &sts,
        RuleMode::MatchAny,
        &[&describe, &create, &computed, &execute, &events],
    );
    let (result, _) = run_flow(
        &clients,
        &replay::plan("staging"),
        options(),
        Prompt::Closed,
    )
    .await;
    assert_eq!(result.unwrap().result, DeployResult::Created);
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn an_existing_stack_is_updated_and_old_events_are_not_replayed() {
    let sts = identity("123456789012");
    let describe = describe(&["UPDATE_COMPLETE", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"]);
    let (create, computed, execute) = (
        create_change_set(ChangeSetType::Update),
        computed(replay::CHANGES_IMAGE_UPDATE),
        execute(),
    );
    let events = events(&["before_update", "update_in_progress", "update_complete"]);
    let clients = clients(
        &sts,
        RuleMode::MatchAny,
        &[&describe, &create, &computed, &execute, &events],
    );
    let (result, lines) = run_flow(
        &clients,
        &replay::plan("staging"),
        options(),
        Prompt::Closed,
    )
    .await;
    let report = result.unwrap();
    assert_eq!(report.result, DeployResult::Updated);
    assert_eq!(report.stack_status.as_deref(), Some("UPDATE_COMPLETE"));
    assert_eq!(report.changes.len(), 2);
    let text = lines.text();
    assert!(text.contains("~ ApiFunction"), "{text}");
    assert_eq!(
        text.matches("ApiFunction (AWS::Lambda::Function)").count(),
        2,
        "{text}"
    );
    assert!(
        !text.contains("16:43:12"),
        "the previous deploy's events stay out: {text}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["result"], "updated");
    assert_eq!(json["changes"][0]["properties"][0], "Code");
}

#[tokio::test]
async fn nothing_to_change_deletes_the_change_set_and_never_executes() {
    let sts = identity("123456789012");
    let describe =
        mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
    let create = create_change_set(ChangeSetType::Update);
    let computed = mock!(Client::describe_change_set).then_http_response(replay::no_changes);
    let (delete, execute) = (delete_change_set(), execute());
    let clients = clients(
        &sts,
        RuleMode::Sequential,
        &[&describe, &create, &computed, &delete, &execute],
    );
    let started = std::time::Instant::now();
    let options = DeployOptions {
        waits: Waits::default(),
        ..options()
    };
    let (result, lines) =
        run_flow(&clients, &replay::plan("staging"), options, Prompt::Closed).await;
    let report = result.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no poll interval is slept: {:?}",
        started.elapsed()
    );
    assert_eq!(report.result, DeployResult::Unchanged);
    assert!(report.check().is_ok());
    assert_eq!(delete.num_calls(), 1);
    assert_eq!(execute.num_calls(), 0);
    assert!(lines.text().contains("no changes"), "{}", lines.text());
    assert!(report.to_string().contains("nothing changed"), "{report}");
    assert_eq!(report.outputs["NotesTableName"], "noteapp-staging-notes");
}

#[tokio::test]
async fn an_operation_already_in_progress_is_waited_out_first() {
    let sts = identity("123456789012");
    let describe = describe(&[
        "UPDATE_IN_PROGRESS",
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_COMPLETE",
    ]);
    let create = create_change_set(ChangeSetType::Update);
    let computed = mock!(Client::describe_change_set).then_http_response(replay::no_changes);
    let delete = delete_change_set();
    let clients = clients(
        &sts,
        RuleMode::Sequential,
        &[&describe, &create, &computed, &delete],
    );
    let (result, lines) = run_flow(
        &clients,
        &replay::plan("staging"),
        options(),
        Prompt::Closed,
    )
    .await;
    assert_eq!(result.unwrap().result, DeployResult::Unchanged);
    assert_eq!(describe.num_calls(), 3);
    assert!(
        lines
            .text()
            .contains("is UPDATE_IN_PROGRESS: waiting for that operation to finish"),
        "{}",
        lines.text()
    );
}

#[tokio::test]
async fn a_failed_update_rolls_back_and_every_failed_resource_is_reported() {
    let sts = identity("123456789012");
    let describe = describe(&[
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE",
    ]);
    let (create, computed, execute) = (
        create_change_set(ChangeSetType::Update),
        computed(replay::CHANGES_IMAGE_UPDATE),
        execute(),
    );
    let events = events(&["before_update", "update_in_progress", "update_rollback"]);
    let clients = clients(
        &sts,
        RuleMode::MatchAny,
        &[&describe, &create, &computed, &execute, &events],
    );
    let (result, _) = run_flow(
        &clients,
        &replay::plan("staging"),
        options(),
        Prompt::Closed,
    )
    .await;
    let report = result.unwrap();
    assert_eq!(report.result, DeployResult::Failed);
    let failed: Vec<_> = report
        .failures
        .iter()
        .map(|e| (e.logical_id.as_str(), e.status.as_str()))
        .collect();
    assert_eq!(
        failed,
        vec![
            ("ApiFunction", "UPDATE_FAILED"),
            ("WsConnectFunction", "UPDATE_FAILED")
        ]
    );
    let text = report.to_string();
    assert!(
        text.contains("the stack is now UPDATE_ROLLBACK_COMPLETE"),
        "{text}"
    );
    assert!(text.contains("ApiFunction (AWS::Lambda::Function) UPDATE_FAILED: Resource handler returned message: \"Source image"), "{text}");
    assert!(
        text.contains(
            "WsConnectFunction (AWS::Lambda::Function) UPDATE_FAILED: Resource update cancelled"
        ),
        "{text}"
    );
    let err = report.check().unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_FAILURE);
    assert!(
        err.to_string().contains("UPDATE_ROLLBACK_COMPLETE"),
        "{err}"
    );
}

#[tokio::test]
async fn a_failed_first_create_leaves_no_stack_and_no_table() {
    let sts = identity("123456789012");
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .http_response(replay::stack_missing)
        .http_response(|| replay::stack("CREATE_IN_PROGRESS"))
        .http_response(|| replay::stack("DELETE_IN_PROGRESS"))
        .http_response(|| replay::stack("DELETE_COMPLETE"))
        .build();
    let (create, computed, execute) = (
        create_change_set(ChangeSetType::Create),
        computed(replay::CHANGES_CREATE),
        execute(),
    );
    let events = events(&["before_create", "create_deleted"]);
    let policy = mock!(Client::get_stack_policy).then_http_response(|| replay::stack_policy(None));
    let clients = clients(
        &sts,
        RuleMode::MatchAny,
        &[&describe, &create, &computed, &execute, &events, &policy],
    );
    let (result, lines) = run_flow(
        &clients,
        &replay::plan("staging"),
        options(),
        Prompt::Closed,
    )
    .await;
    let report = result.unwrap();
    assert_eq!(report.result, DeployResult::Failed);
    assert_eq!(report.stack_status.as_deref(), Some("DELETE_COMPLETE"));
    let text = report.to_string();
    assert!(
        text.contains("ApiFunction (AWS::Lambda::Function) CREATE_FAILED: Resource handler returned message: \"Lambda does not have permission to access the ECR image"),
        "{text}"
    );
    assert!(
        text.contains("CloudFormation deleted it with everything it had made"),
        "{text}"
    );
    assert!(text.contains("`noteapp deploy staging` again"), "{text}");
    let progress = lines.text();
    assert!(
        progress
            .lines()
            .any(|l| l.contains("DELETE_COMPLETE")
                && l.contains("NotesTable (AWS::DynamoDB::Table)")),
        "the table it made is deleted too: {progress}"
    );
    assert!(
        progress.contains("no table or other resource is left"),
        "{progress}"
    );
    assert_eq!(
        policy.num_calls(),
        0,
        "nothing to protect on a deleted stack"
    );
    assert_eq!(report.check().unwrap_err().exit_code(), crate::EXIT_FAILURE);
}

/// The production plan, as rendered: its tables' deletion protection is on.
fn production_plan() -> Plan {
    let mut plan = replay::plan("production");
    plan.parameters.push((
        change_set::PROTECTION_PARAMETER.to_owned(),
        "true".to_owned(),
    ));
    plan
}

/// CreateChangeSet of `kind`, noting the deletion protection it asks for in `asked`.
fn create_noting_protection(
    kind: ChangeSetType,
    asked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) -> Rule {
    mock!(Client::create_change_set)
        .match_requests(move |r| {
            let protection = r
                .parameters()
                .iter()
                .find(|p| p.parameter_key() == Some(change_set::PROTECTION_PARAMETER))
                .and_then(|p| p.parameter_value())
                .unwrap_or_default()
                .to_owned();
            if r.change_set_type() == Some(&kind) {
                asked.lock().unwrap().push(protection);
                true
            } else {
                false
            }
        })
        .then_http_response(replay::change_set_created)
}

#[tokio::test]
async fn a_failed_first_create_in_production_deletes_its_tables_because_they_are_not_protected_yet()
{
    let sts = identity("123456789012");
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let create = create_noting_protection(ChangeSetType::Create, asked.clone());
    // CloudFormation as it behaves: the delete after a failed create cannot remove a table
    // whose deletion protection is on, and the stack ends DELETE_FAILED.
    let protected = asked.clone();
    let end = move || {
        let on = protected
            .lock()
            .unwrap()
            .last()
            .is_some_and(|p| p == "true");
        replay::stack(if on {
            "DELETE_FAILED"
        } else {
            "DELETE_COMPLETE"
        })
    };
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .http_response(replay::stack_missing)
        .http_response(|| replay::stack("CREATE_IN_PROGRESS"))
        .http_response(|| replay::stack("DELETE_IN_PROGRESS"))
        .http_response(end)
        .build();
    let (computed, execute) = (computed(replay::CHANGES_CREATE), execute());
    let events = events(&["before_create", "create_deleted"]);
    let clients = clients(
        &sts,
        RuleMode::MatchAny,
        &[&describe, &create, &computed, &execute, &events],
    );
    let mut options = options();
    options.yes = true;
    let (result, lines) = run_flow(&clients, &production_plan(), options, Prompt::Closed).await;
    let report = result.unwrap();
    assert_eq!(
        *asked.lock().unwrap(),
        ["false"],
        "the create leaves protection off"
    );
    assert_eq!(
        report.stack_status.as_deref(),
        Some("DELETE_COMPLETE"),
        "nothing is left to block the next deploy: {}",
        lines.text()
    );
    assert!(lines.text().contains("no table or other resource is left"));
}

#[tokio::test]
async fn a_first_create_in_production_turns_deletion_protection_on_once_it_succeeded() {
    let sts = identity("123456789012");
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let create = create_noting_protection(ChangeSetType::Create, asked.clone());
    let update = create_noting_protection(ChangeSetType::Update, asked.clone());
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .http_response(replay::stack_missing)
        .http_response(|| replay::stack("CREATE_IN_PROGRESS"))
        .http_response(|| replay::stack("CREATE_COMPLETE"))
        .http_response(|| replay::stack("CREATE_COMPLETE"))
        .http_response(|| replay::stack("UPDATE_IN_PROGRESS"))
        .http_response(|| replay::stack("UPDATE_COMPLETE"))
        .build();
    let computed = mock!(Client::describe_change_set)
        .sequence()
        .http_response(|| replay::change_set("CREATE_COMPLETE", "", replay::CHANGES_CREATE))
        .http_response(|| replay::change_set("CREATE_COMPLETE", "", replay::CHANGES_IMAGE_UPDATE))
        .build();
    let execute = execute();
    let events = events(&[
        "before_create",
        "create_complete",
        "before_update",
        "update_in_progress",
        "update_complete",
    ]);
    let protect = mock!(Client::update_termination_protection)
        .then_http_response(replay::termination_protection_set);
    let no_policy =
        mock!(Client::get_stack_policy).then_http_response(|| replay::stack_policy(None));
    let set_policy = mock!(Client::set_stack_policy).then_http_response(replay::stack_policy_set);
    let clients = clients(
        &sts,
        RuleMode::MatchAny,
        &[
            &describe,
            &create,
            &update,
            &computed,
            &execute,
            &events,
            &protect,
            &no_policy,
            &set_policy,
        ],
    );
    let mut options = options();
    options.yes = true;
    let (result, lines) = run_flow(&clients, &production_plan(), options, Prompt::Closed).await;
    let report = result.unwrap();
    assert_eq!(report.result, DeployResult::Created, "{}", lines.text());
    assert_eq!(*asked.lock().unwrap(), ["false", "true"]);
    assert_eq!(execute.num_calls(), 2);
    assert_eq!(report.stack_status.as_deref(), Some("UPDATE_COMPLETE"));
    assert!(
        lines.text().contains("turning on the deletion protection"),
        "{}",
        lines.text()
    );
}
