//! What a deploy does with the tables, against replayed CloudFormation and DynamoDB answers:
//! tables a deleted stack kept are imported back before anything else, tables that cannot be
//! are refused by name, a renamed table is blocked, and the table policy is lifted around an
//! `--allow-replacement` update only.

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::ChangeSetType;
use aws_smithy_mocks::{Rule, RuleMode, mock};

use super::tests::{
    computed, create_change_set, delete_change_set, events, execute, identity, options, run_flow,
};
use super::*;
use crate::progress::Captured;
use noteapp_runtime::store::schema;

use crate::aws::replay;

const NOTES: &str = "noteapp-staging-NotesTable-1Q2W3E4R5T6Y";
const COMMENTS: &str = "noteapp-staging-CommentsTable-7U8I9O0P1A2S";

/// The account's tables: two kept by a deleted `noteapp-staging`, one of another app, and one
/// whose name matches but whose tags say it belongs to another stack.
fn account_tables(extra_notes: Option<&'static str>) -> Vec<Rule> {
    let mut names = vec![NOTES, COMMENTS, "orders", "noteapp-staging-scratch"];
    names.extend(extra_notes);
    let list = mock!(aws_sdk_dynamodb::Client::list_tables)
        .then_http_response(move || replay::table_names(&names));
    let arn = |name: &str| format!("arn:aws:dynamodb:eu-west-1:123456789012:table/{name}");
    let mut rules = vec![list];
    let tagged = [(NOTES, "NotesTable"), (COMMENTS, "CommentsTable")]
        .into_iter()
        .chain(extra_notes.map(|n| (n, "NotesTable")));
    for (name, logical) in tagged {
        let wanted = arn(name);
        rules.push(
            mock!(aws_sdk_dynamodb::Client::list_tags_of_resource)
                .match_requests(move |r| r.resource_arn() == Some(wanted.as_str()))
                .then_http_response(move || replay::table_tags("noteapp-staging", logical)),
        );
    }
    let scratch = arn("noteapp-staging-scratch");
    rules.push(
        mock!(aws_sdk_dynamodb::Client::list_tags_of_resource)
            .match_requests(move |r| r.resource_arn() == Some(scratch.as_str()))
            .then_http_response(|| replay::table_tags("noteapp-staging-old", "NotesTable")),
    );
    rules.push(
        mock!(aws_sdk_dynamodb::Client::describe_table)
            .match_requests(|r| r.table_name() == Some(NOTES))
            .then_http_response(|| replay::table(NOTES, &schema::NOTES)),
    );
    rules.push(
        mock!(aws_sdk_dynamodb::Client::describe_table)
            .match_requests(|r| r.table_name() == Some(COMMENTS))
            .then_http_response(|| replay::table(COMMENTS, &schema::COMMENTS)),
    );
    rules
}

fn dynamodb(rules: &[Rule]) -> aws_sdk_dynamodb::Client {
    let refs: Vec<&Rule> = rules.iter().collect();
    replay::dynamodb(RuleMode::MatchAny, &refs)
}

#[tokio::test]
async fn tables_a_deleted_stack_kept_are_imported_back_before_the_rest_is_created() {
    let sts = identity("123456789012");
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .http_response(replay::stack_missing)
        .http_response(|| replay::stack("IMPORT_IN_PROGRESS"))
        .http_response(|| replay::stack("IMPORT_COMPLETE"))
        .http_response(|| replay::stack("IMPORT_COMPLETE"))
        .http_response(|| replay::stack("UPDATE_IN_PROGRESS"))
        .http_response(|| replay::stack("UPDATE_COMPLETE"))
        .build();
    let import = mock!(Client::create_change_set)
        .match_requests(|r| {
            let template: serde_json::Value =
                serde_json::from_str(r.template_body().unwrap_or_default()).unwrap_or_default();
            let resources = template["Resources"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let imports: Vec<(&str, &str)> = r
                .resources_to_import()
                .iter()
                .map(|i| {
                    (
                        i.logical_resource_id().unwrap_or_default(),
                        i.resource_identifier()
                            .and_then(|id| id.get("TableName"))
                            .map(String::as_str)
                            .unwrap_or_default(),
                    )
                })
                .collect();
            r.change_set_type() == Some(&ChangeSetType::Import)
                && imports == [("CommentsTable", COMMENTS), ("NotesTable", NOTES)]
                && resources.len() == 2
                && resources["NotesTable"]["DeletionPolicy"] == "Retain"
                && r.parameters().iter().all(|p| {
                    matches!(
                        p.parameter_key(),
                        Some("DeletionProtection" | "PointInTimeRecovery")
                    )
                })
        })
        .then_http_response(replay::change_set_created);
    let update = create_change_set(ChangeSetType::Update);
    let computed = mock!(Client::describe_change_set)
        .sequence()
        .http_response(|| replay::change_set("CREATE_COMPLETE", "", replay::CHANGES_IMPORT))
        .http_response(|| replay::change_set("CREATE_COMPLETE", "", replay::CHANGES_CREATE))
        .build();
    let execute = execute();
    let events = events(&[
        "before_create",
        "import_complete",
        "import_complete",
        "before_update",
        "update_in_progress",
        "update_complete",
    ]);
    let no_policy = mock!(Client::get_stack_policy)
        .sequence()
        .http_response(|| replay::stack_policy(None))
        .build();
    let set_policy = mock!(Client::set_stack_policy)
        .match_requests(|r| {
            r.stack_policy_body()
                .is_some_and(|b| b.contains("LogicalResourceId/NotesTable"))
        })
        .then_http_response(replay::stack_policy_set);
    let clients = super::tests::clients(
        &sts,
        RuleMode::MatchAny,
        &[
            &describe,
            &import,
            &update,
            &computed,
            &execute,
            &events,
            &no_policy,
            &set_policy,
        ],
    )
    .with_dynamodb(dynamodb(&account_tables(None)));
    let mut plan = replay::plan("staging");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    plan.template_body = crate::template::read_template(root).unwrap();
    // Too large to send inline: the deploy kept it as the release's and sends its URL.
    plan.template_url = Some(replay::template_url(&plan, 1));
    let (result, lines) = run_flow(&clients, &plan, options(), Prompt::Closed).await;
    let report = result.unwrap();
    assert_eq!((import.num_calls(), update.num_calls()), (1, 1));
    assert_eq!(execute.num_calls(), 2);
    assert_eq!(
        set_policy.num_calls(),
        1,
        "the tables are protected right after the import"
    );
    assert_eq!(report.result, DeployResult::Updated);
    assert_eq!(report.imported_tables, vec![COMMENTS, NOTES]);
    let text = lines.text();
    assert!(
        text.contains(&format!(
            "re-attaching {NOTES} (kept by a deleted noteapp-staging) as NotesTable"
        )),
        "{text}"
    );
    assert!(!text.contains("noteapp-staging-scratch"), "{text}");
    assert!(
        report
            .to_string()
            .contains("tables brought back from the deleted stack"),
        "{report}"
    );
}

#[tokio::test]
async fn kept_tables_that_cannot_be_imported_are_refused_by_name_unless_new_tables() {
    let sts = identity("123456789012");
    let second = "noteapp-staging-NotesTable-9Z8X7C6V5B4N";
    let describe = mock!(Client::describe_stacks).then_http_response(replay::stack_missing);
    let create = create_change_set(ChangeSetType::Create);
    let clients = super::tests::clients(&sts, RuleMode::MatchAny, &[&describe, &create])
        .with_dynamodb(dynamodb(&account_tables(Some(second))));
    let (result, _) = run_flow(
        &clients,
        &replay::plan("staging"),
        options(),
        Prompt::Closed,
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_REFUSED);
    let message = err.to_string();
    assert!(
        message.contains(NOTES) && message.contains(second),
        "{message}"
    );
    assert!(message.contains("--new-tables"), "{message}");
    assert_eq!(create.num_calls(), 0, "nothing was changed");

    // With --new-tables, the stack is created on new tables and the kept ones stay.
    let sts = identity("123456789012");
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .http_response(replay::stack_missing)
        .http_response(|| replay::stack("CREATE_IN_PROGRESS"))
        .http_response(|| replay::stack("CREATE_COMPLETE"))
        .build();
    let (computed, execute) = (computed(replay::CHANGES_CREATE), execute());
    let events = events(&["before_create", "create_complete"]);
    let clients = super::tests::clients(
        &sts,
        RuleMode::MatchAny,
        &[&describe, &create, &computed, &execute, &events],
    )
    .with_dynamodb(dynamodb(&account_tables(None)));
    let options = DeployOptions {
        new_tables: true,
        ..options()
    };
    let (result, lines) =
        run_flow(&clients, &replay::plan("staging"), options, Prompt::Closed).await;
    assert_eq!(result.unwrap().result, DeployResult::Created);
    assert!(
        lines.text().contains("(--new-tables): ") && lines.text().contains(NOTES),
        "{}",
        lines.text()
    );
}

/// A template in which NotesTable was renamed NotesTableV2.
const CHANGES_RENAMED_TABLE: &str = r#"<member>
  <Type>Resource</Type>
  <ResourceChange>
    <Action>Remove</Action>
    <LogicalResourceId>NotesTable</LogicalResourceId>
    <PhysicalResourceId>noteapp-staging-NotesTable-1Q2W3E4R5T6Y</PhysicalResourceId>
    <ResourceType>AWS::DynamoDB::Table</ResourceType>
    <PolicyAction>Retain</PolicyAction>
    <Scope/>
    <Details/>
  </ResourceChange>
</member>
<member>
  <Type>Resource</Type>
  <ResourceChange>
    <Action>Add</Action>
    <LogicalResourceId>NotesTableV2</LogicalResourceId>
    <ResourceType>AWS::DynamoDB::Table</ResourceType>
    <Scope/>
    <Details/>
  </ResourceChange>
</member>"#;

#[tokio::test]
async fn renaming_a_tables_logical_id_is_blocked_and_names_the_table() {
    let sts = identity("123456789012");
    let describe =
        mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
    let (create, computed) = (
        create_change_set(ChangeSetType::Update),
        computed(CHANGES_RENAMED_TABLE),
    );
    let (delete, execute) = (delete_change_set(), execute());
    let clients = super::tests::clients(
        &sts,
        RuleMode::MatchAny,
        &[&describe, &create, &computed, &delete, &execute],
    );
    let mut plan = replay::plan("staging");
    plan.stateful_resources[0] = "NotesTableV2".into();
    let (result, lines) = run_flow(&clients, &plan, options(), Prompt::Closed).await;
    let err = result.unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_REFUSED);
    assert!(
        err.to_string()
            .contains("would remove NotesTable (noteapp-staging-NotesTable-1Q2W3E4R5T6Y)"),
        "{err}"
    );
    assert!(err.to_string().contains("--allow-replacement"), "{err}");
    assert_eq!((delete.num_calls(), execute.num_calls()), (1, 0));
    assert!(
        lines.text().contains("- NotesTable") && lines.text().contains("[stateful: blocked"),
        "{}",
        lines.text()
    );
}

/// The replacement `CHANGES_TABLE_REPLACEMENT` makes, as the stack policy sees it.
const REPLACES_NOTES_TABLE: &[(&str, &str, &str)] = &[
    ("NotesTable", "AWS::DynamoDB::Table", "Update:Replace"),
    ("ApiFunction", "AWS::Lambda::Function", "Update:Modify"),
];

/// A deploy of the table replacement against a stack holding the table policy, which
/// CloudFormation enforces when the update runs.
async fn replace_notes_table(
    allow_replacement: bool,
) -> (Result<DeployReport, Error>, Captured, replay::PolicedStack) {
    let sts = identity("123456789012");
    let stack = replay::PolicedStack::holding(&crate::template::stack_policy(
        &replay::plan("staging").stateful_resources,
    ));
    let (create, computed) = (
        create_change_set(ChangeSetType::Update),
        computed(replay::CHANGES_TABLE_REPLACEMENT),
    );
    let (describe, execute, events) = (
        stack.describe(),
        stack.execute(REPLACES_NOTES_TABLE),
        stack.events(),
    );
    let [get_policy, set_policy] = stack.policy_rules();
    let clients = super::tests::clients(
        &sts,
        RuleMode::MatchAny,
        &[
            &describe,
            &create,
            &computed,
            &execute,
            &events,
            &get_policy,
            &set_policy,
        ],
    );
    let options = DeployOptions {
        allow_replacement,
        ..options()
    };
    let (result, lines) =
        run_flow(&clients, &replay::plan("staging"), options, Prompt::Closed).await;
    (result, lines, stack)
}

#[tokio::test]
async fn allow_replacement_lifts_the_table_policy_for_that_update_and_puts_it_back() {
    let (result, lines, stack) = replace_notes_table(true).await;
    let text = lines.text();
    assert_eq!(
        result.unwrap_or_else(|e| panic!("{e}\n{text}")).result,
        DeployResult::Updated,
        "the stack policy let the replacement through: {text}"
    );
    assert!(
        text.contains("lifting stack noteapp-staging's table policy"),
        "{text}"
    );
    assert!(
        text.contains("replacing or deleting a table is denied"),
        "{text}"
    );
    assert_eq!(
        stack.policy(),
        Some(crate::template::stack_policy(
            &replay::plan("staging").stateful_resources
        )),
        "the table policy is back"
    );
}

#[tokio::test]
async fn the_table_policy_stops_a_replacement_cloudformation_runs_and_the_deploy_names_it() {
    // What the policy is for: an update that replaces a table anyway (here: the replay runs
    // the update as if the deploy's own check had let it through) is stopped by CloudFormation.
    let stack = replay::PolicedStack::holding(&crate::template::stack_policy(
        &replay::plan("staging").stateful_resources,
    ));
    let execute = stack.execute(REPLACES_NOTES_TABLE);
    let (describe, events) = (stack.describe(), stack.events());
    let client = replay::cloudformation(RuleMode::MatchAny, &[&execute, &describe, &events]);
    let marker = crate::aws::wait::event_marker(&client, "noteapp-staging")
        .await
        .unwrap();
    client
        .execute_change_set()
        .stack_name("noteapp-staging")
        .change_set_name("noteapp-1")
        .send()
        .await
        .unwrap();
    let finished = crate::aws::wait::follow_operation(
        &client,
        &crate::aws::wait::Operation {
            stack_id: "noteapp-staging",
            stack_name: "noteapp-staging",
            environment: "staging",
        },
        marker,
        Waits::every(Duration::from_millis(1)).operation,
        &Progress::captured().0,
    )
    .await
    .unwrap();
    assert_eq!(finished.status, "UPDATE_ROLLBACK_COMPLETE");
    let explained = finished.explain("the update failed", "fix it");
    assert!(explained.contains("NotesTable"), "{explained}");
    assert!(
        explained.contains("Action denied by stack policy"),
        "{explained}"
    );
}
