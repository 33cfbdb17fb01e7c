//! `ci bootstrap` against replayed CloudFormation answers: the CI stack created (with its own
//! provider) and updated (on the account's provider) through the deploy's change-set flow, every
//! call held against the bootstrap policy.

use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Capability, ChangeSetType};
use aws_smithy_mocks::{Rule, RuleMode, mock};

use super::*;
use crate::aws::{Waits, replay};

const ACCOUNT_PROVIDER: &str =
    "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";

fn staging() -> crate::config::EnvironmentConfig {
    let mut config = crate::config::load(&noteapp_test_support::workspace(), "staging").unwrap();
    config.region = "eu-west-1".into();
    config
}

fn scope() -> Scope {
    Scope {
        region: "eu-west-1".into(),
        account: "123456789012".into(),
        stack: "noteapp-staging".into(),
        repository: "noteapp".into(),
    }
}

fn options() -> DeployOptions {
    DeployOptions {
        yes: true,
        allow_replacement: false,
        new_tables: false,
        waits: Waits::every(Duration::from_millis(1)),
    }
}

fn create_change_set(kind: ChangeSetType, provider: &'static str) -> Rule {
    mock!(Client::create_change_set)
        .match_requests(move |r| {
            r.stack_name() == Some("noteapp-staging-ci")
                && r.change_set_type() == Some(&kind)
                && r.capabilities().contains(&Capability::CapabilityNamedIam)
                && r.parameters().iter().any(|p| {
                    p.parameter_key() == Some(PROVIDER_PARAMETER)
                        && p.parameter_value() == Some(provider)
                })
                && r.template_body().is_some_and(|t| {
                    t.contains("sts:AssumeRoleWithWebIdentity")
                        && t.contains("repo:octo-org/noteapp:ref:refs/heads/main")
                })
        })
        .then_http_response(replay::ci_change_set_created)
}

fn computed(changes: &'static str) -> Rule {
    mock!(Client::describe_change_set)
        .sequence()
        .http_response(|| replay::change_set("CREATE_PENDING", "", ""))
        .http_response(move || replay::change_set("CREATE_COMPLETE", "", changes))
        .build()
}

async fn run(
    rules: &[&Rule],
    provider: &str,
) -> (Result<BootstrapReport, Error>, crate::progress::Captured) {
    let sts = mock!(aws_sdk_sts::Client::get_caller_identity)
        .then_http_response(|| replay::caller_identity("123456789012"));
    let clients = replay::clients(
        replay::cloudformation_bootstrap(RuleMode::MatchAny, rules),
        replay::sts(&sts),
    );
    let subject = Subject::Branch("main".into());
    let body = ci::template(&scope(), "octo-org/noteapp", &subject);
    let plan = ci::plan(&staging(), body, provider);
    let (progress, lines) = Progress::captured();
    let report = bootstrap(
        &clients,
        &plan,
        &options(),
        "octo-org/noteapp",
        &subject,
        &progress,
    )
    .await;
    (report, lines)
}

#[tokio::test]
async fn a_first_bootstrap_creates_the_ci_stack_through_the_deploy_flow_and_prints_the_role() {
    let describe = mock!(Client::describe_stacks)
        .match_requests(|r| {
            r.stack_name()
                .is_some_and(|s| s.contains("noteapp-staging-ci"))
        })
        .sequence()
        .http_response(replay::stack_missing)
        .http_response(|| replay::ci_stack("CREATE_IN_PROGRESS", "create"))
        .http_response(|| replay::ci_stack("CREATE_COMPLETE", "create"))
        .build();
    let create = create_change_set(ChangeSetType::Create, "create");
    let computed = computed(replay::CHANGES_CI_CREATE);
    let execute = mock!(Client::execute_change_set).then_http_response(replay::executed);
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .http_response(|| replay::ci_events("before_create"))
        .http_response(|| replay::ci_events("create_complete"))
        .repeatedly()
        .build();
    let policy = mock!(Client::get_stack_policy).then_http_response(|| replay::stack_policy(None));
    let (report, lines) = run(
        &[&describe, &create, &computed, &execute, &events, &policy],
        "create",
    )
    .await;
    let report = report.unwrap();
    assert_eq!(
        report.deploy.result,
        crate::flow::deploy::DeployResult::Created
    );
    assert_eq!(report.role_arn, replay::CI_ROLE_ARN);
    assert_eq!(report.subject, "repo:octo-org/noteapp:ref:refs/heads/main");
    assert_eq!((create.num_calls(), execute.num_calls()), (1, 1));
    assert_eq!(
        policy.num_calls(),
        0,
        "a stack without tables gets no table policy"
    );
    let text = lines.text();
    assert!(text.contains("+ GitHubActionsProvider"), "{text}");
    assert!(text.contains("+ DeployRole"), "{text}");
    assert!(
        text.contains("CREATE_COMPLETE") && text.contains("DeployRole (AWS::IAM::Role)"),
        "{text}"
    );
    let printed = report.to_string();
    assert!(
        printed.contains(&format!("deploy role: {}", replay::CI_ROLE_ARN)),
        "{printed}"
    );
    assert!(report.deploy.check().is_ok());
}

#[test]
fn the_role_arn_is_known_before_the_stack_says_it() {
    assert_eq!(
        crate::policy::ci::role_arn("eu-west-1", "123456789012", "noteapp-staging"),
        replay::CI_ROLE_ARN
    );
}

#[tokio::test]
async fn a_second_bootstrap_updates_the_role_on_the_accounts_provider() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .http_response(|| replay::ci_stack("CREATE_COMPLETE", ACCOUNT_PROVIDER))
        .http_response(|| replay::ci_stack("UPDATE_IN_PROGRESS", ACCOUNT_PROVIDER))
        .http_response(|| replay::ci_stack("UPDATE_COMPLETE", ACCOUNT_PROVIDER))
        .build();
    let create = create_change_set(ChangeSetType::Update, ACCOUNT_PROVIDER);
    let computed = computed(replay::CHANGES_CI_TRUST);
    let execute = mock!(Client::execute_change_set).then_http_response(replay::executed);
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .http_response(|| replay::ci_events("before_update"))
        .http_response(|| replay::ci_events("update_complete"))
        .repeatedly()
        .build();
    let (report, lines) = run(
        &[&describe, &create, &computed, &execute, &events],
        ACCOUNT_PROVIDER,
    )
    .await;
    let report = report.unwrap();
    assert_eq!(
        report.deploy.result,
        crate::flow::deploy::DeployResult::Updated
    );
    assert_eq!(report.provider, ACCOUNT_PROVIDER);
    assert_eq!(report.role_arn, replay::CI_ROLE_ARN);
    let text = lines.text();
    assert!(text.contains("~ DeployRole"), "{text}");
    assert!(
        !text.contains("CREATE_COMPLETE"),
        "old events stay out: {text}"
    );
}

#[tokio::test]
async fn nothing_to_change_leaves_the_ci_stack_as_it_is() {
    let describe = mock!(Client::describe_stacks)
        .then_http_response(|| replay::ci_stack("UPDATE_COMPLETE", "create"));
    let create = create_change_set(ChangeSetType::Update, "create");
    let computed = mock!(Client::describe_change_set).then_http_response(replay::no_changes);
    let delete = mock!(Client::delete_change_set).then_http_response(replay::change_set_deleted);
    let execute = mock!(Client::execute_change_set).then_http_response(replay::executed);
    let (report, _) = run(
        &[&describe, &create, &computed, &delete, &execute],
        "create",
    )
    .await;
    let report = report.unwrap();
    assert_eq!(
        report.deploy.result,
        crate::flow::deploy::DeployResult::Unchanged
    );
    assert_eq!(report.role_arn, replay::CI_ROLE_ARN);
    assert_eq!((delete.num_calls(), execute.num_calls()), (1, 0));
}
