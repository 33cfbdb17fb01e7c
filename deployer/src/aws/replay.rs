//! Test support: real CloudFormation and STS responses (query-protocol XML kept under
//! `deployer/tests/data/`) replayed through `aws-smithy-mocks`, so every test goes through the
//! SDK's own deserializers, plus the plan and clients the flow tests share.

use aws_sdk_cloudformation::config::retry::RetryConfig;
use aws_smithy_mocks::{Rule, RuleMode, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use noteapp_test_support::kit::Kit;

use crate::plan::Plan;

pub mod releases;

macro_rules! data {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/", $name))
    };
}

/// The changes of a deploy of a new image (`<member>` elements for `change_set`): `ApiFunction`
/// and `WsConnectFunction` modified in place through the `ImageUri` parameter.
pub const CHANGES_IMAGE_UPDATE: &str = data!("changes_image_update.xml");
/// Changes that replace a table (`<member>` elements for `change_set`): `NotesTable` replaced
/// for a new key schema, and `ApiFunction`, which refers to it, modified.
pub const CHANGES_TABLE_REPLACEMENT: &str = data!("changes_table_replacement.xml");
/// The changes of a first deploy (`<member>` elements for `change_set`): `NotesTable`,
/// `ApiFunction` and `ApiFunctionUrl` added.
pub const CHANGES_CREATE: &str = data!("changes_create.xml");
/// The changes of an import change set (`<member>` elements for `change_set`): the existing
/// `NotesTable` and `CommentsTable` imported.
pub const CHANGES_IMPORT: &str = data!("changes_import.xml");
/// The status reason CloudFormation gives a change set that failed for holding no changes (as
/// `no_changes` answers).
pub const NO_CHANGES_REASON: &str = "The submitted information didn't contain changes. \
     Submit different information to create a change set.";

/// An XML response with `status`.
pub fn xml(status: u16, body: impl Into<String>) -> HttpResponse {
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).expect("valid status"),
        SdkBody::from(body.into()),
    );
    response.headers_mut().insert("content-type", "text/xml");
    response
}

fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_owned(), |text, (key, value)| {
            text.replace(&format!("{{{{{key}}}}}"), value)
        })
}

/// DescribeStacks for `noteapp-staging` in `status` (with outputs).
pub fn stack(status: &str) -> HttpResponse {
    stack_with_reason(status, "")
}

/// DescribeStacks for `noteapp-staging` in `status` with `reason` as its status reason (with
/// outputs).
pub fn stack_with_reason(status: &str, reason: &str) -> HttpResponse {
    let body = fill(
        data!("describe_stacks.xml"),
        &[
            ("STATUS", status),
            ("REASON", reason),
            ("PROTECTION", "false"),
        ],
    );
    xml(200, body)
}

/// DescribeStacks for `noteapp-staging` in `status`, with termination protection on.
pub fn stack_protected(status: &str) -> HttpResponse {
    let body = fill(
        data!("describe_stacks.xml"),
        &[("STATUS", status), ("REASON", ""), ("PROTECTION", "true")],
    );
    xml(200, body)
}

/// DescribeStacks for a stack that does not exist: a 400 ValidationError.
pub fn stack_missing() -> HttpResponse {
    xml(400, data!("describe_stacks_missing.xml"))
}

/// CreateChangeSet's answer (any change set name; the id is what matters).
pub fn change_set_created() -> HttpResponse {
    xml(
        200,
        fill(
            data!("create_change_set.xml"),
            &[("CHANGE_SET", "noteapp-1767520951")],
        ),
    )
}

/// DescribeChangeSet in `status`, with `changes` (`<member>` elements) inside `<Changes>`.
pub fn change_set(status: &str, reason: &str, changes: &str) -> HttpResponse {
    let execution = match status {
        "CREATE_COMPLETE" => "AVAILABLE",
        _ => "UNAVAILABLE",
    };
    let body = fill(
        data!("describe_change_set.xml"),
        &[
            ("CHANGE_SET", "noteapp-1767520951"),
            ("STATUS", status),
            ("EXECUTION_STATUS", execution),
            ("REASON", reason),
            ("CHANGES", changes),
        ],
    );
    xml(200, body)
}

/// DescribeChangeSet for a change set with nothing in it.
pub fn no_changes() -> HttpResponse {
    change_set("FAILED", NO_CHANGES_REASON, "")
}

/// ExecuteChangeSet's answer.
pub fn executed() -> HttpResponse {
    xml(200, data!("execute_change_set.xml"))
}

/// DeleteChangeSet's answer.
pub fn change_set_deleted() -> HttpResponse {
    xml(200, data!("delete_change_set.xml"))
}

/// DeleteStack's answer.
pub fn stack_deleted() -> HttpResponse {
    xml(200, data!("delete_stack.xml"))
}

/// ListStackResources for `noteapp-staging`: `ApiFunction`, `CommentsTable` and `NotesTable`.
pub fn stack_resources() -> HttpResponse {
    xml(200, data!("list_stack_resources.xml"))
}

/// DescribeStackEvents, newest first, from the named fixture.
pub fn events(name: &str) -> HttpResponse {
    let body = match name {
        "before_update" => data!("events_before_update.xml"),
        "update_in_progress" => data!("events_update_in_progress.xml"),
        "update_complete" => data!("events_update_complete.xml"),
        "update_rollback" => data!("events_update_rollback.xml"),
        "before_create" => data!("events_before_create.xml"),
        "create_complete" => data!("events_create_complete.xml"),
        "create_rollback" => data!("events_create_rollback.xml"),
        "delete_in_progress" => data!("events_delete_in_progress.xml"),
        "delete_complete" => data!("events_delete_complete.xml"),
        "create_deleted" => data!("events_create_deleted.xml"),
        "import_complete" => data!("events_import_complete.xml"),
        "update_rollback_failed" => data!("events_update_rollback_failed.xml"),
        "recovered" => data!("events_recovered.xml"),
        "update_denied_by_stack_policy" => data!("events_update_denied_by_stack_policy.xml"),
        other => panic!("no events fixture {other}"),
    };
    xml(200, body)
}

/// GetTemplate: the stack's template `body`, as it was sent.
pub fn template(body: &str) -> HttpResponse {
    let escaped = body
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    xml(200, fill(data!("get_template.xml"), &[("BODY", &escaped)]))
}

/// ContinueUpdateRollback's answer.
pub fn update_rollback_continued() -> HttpResponse {
    xml(200, data!("continue_update_rollback.xml"))
}

/// RollbackStack's answer (the stack's id).
pub fn stack_rolled_back() -> HttpResponse {
    xml(200, data!("rollback_stack.xml"))
}

/// An ECR (JSON 1.1 protocol) answer.
pub fn ecr_json(status: u16, body: serde_json::Value) -> HttpResponse {
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).expect("valid status"),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.1");
    response
}

/// An ECR client answering from `rules`, retries off, every call held against the deploy
/// policy.
pub fn ecr(mode: RuleMode, rules: &[&Rule]) -> aws_sdk_ecr::Client {
    mock_client!(aws_sdk_ecr, mode, rules.iter().copied(), |c| c
        .retry_config(aws_sdk_ecr::config::retry::RetryConfig::disabled())
        .interceptor(policy_checker()))
}

/// GetStackPolicy: the stack's policy body, or none.
pub fn stack_policy(body: Option<&str>) -> HttpResponse {
    let element = body
        .map(|b| format!("<StackPolicyBody>{b}</StackPolicyBody>"))
        .unwrap_or_default();
    xml(
        200,
        fill(data!("get_stack_policy.xml"), &[("BODY", &element)]),
    )
}

/// SetStackPolicy's answer.
pub fn stack_policy_set() -> HttpResponse {
    xml(200, data!("set_stack_policy.xml"))
}

/// UpdateTerminationProtection's answer.
pub fn termination_protection_set() -> HttpResponse {
    xml(200, data!("update_termination_protection.xml"))
}

/// DetectStackDrift's answer: the detection's id.
pub fn drift_detection_started() -> HttpResponse {
    xml(200, data!("detect_stack_drift.xml"))
}

/// DescribeStackDriftDetectionStatus in `detection` (`DETECTION_IN_PROGRESS`, …), with the
/// stack's drift status, the reason and the count of drifted resources where given.
pub fn drift_detection(
    detection: &str,
    drift: Option<&str>,
    reason: Option<&str>,
    drifted: Option<u32>,
) -> HttpResponse {
    let element = |name: &str, value: Option<String>| {
        value
            .map(|v| format!("<{name}>{v}</{name}>"))
            .unwrap_or_default()
    };
    let body = fill(
        data!("describe_stack_drift_detection_status.xml"),
        &[
            ("DETECTION_STATUS", detection),
            (
                "DRIFT_STATUS",
                &element("StackDriftStatus", drift.map(str::to_owned)),
            ),
            (
                "REASON",
                &element("DetectionStatusReason", reason.map(str::to_owned)),
            ),
            (
                "COUNT",
                &element("DriftedStackResourceCount", drifted.map(|n| n.to_string())),
            ),
        ],
    );
    xml(200, body)
}

/// DescribeStackResourceDrifts: two modified resources and a deleted one (`drifted`), or none.
pub fn resource_drifts(drifted: bool) -> HttpResponse {
    match drifted {
        true => xml(200, data!("describe_stack_resource_drifts.xml")),
        false => xml(200, data!("describe_stack_resource_drifts_none.xml")),
    }
}

/// The CI stack's changes when it is first made (`<member>` elements for `change_set`): the
/// GitHub Actions OIDC provider and the deploy role added.
pub const CHANGES_CI_CREATE: &str = data!("changes_ci_create.xml");
/// The CI stack's changes when the deploy role's trust changes (`<member>` elements for
/// `change_set`): `DeployRole`'s `AssumeRolePolicyDocument` modified in place.
pub const CHANGES_CI_TRUST: &str = data!("changes_ci_trust.xml");
/// The deploy role `ci bootstrap` makes for `noteapp-staging`.
pub const CI_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/noteapp-ci/noteapp-staging-deploy";

/// DescribeStacks for `noteapp-staging-ci` in `status`, made with `provider`; the role's ARN
/// among its outputs once an operation completed.
pub fn ci_stack(status: &str, provider: &str) -> HttpResponse {
    let outputs = if status.ends_with("_COMPLETE") {
        format!(
            "<Outputs><member><OutputKey>DeployRoleArn</OutputKey><OutputValue>{CI_ROLE_ARN}</OutputValue></member></Outputs>"
        )
    } else {
        String::new()
    };
    let body = fill(
        data!("describe_stacks_ci.xml"),
        &[
            ("STATUS", status),
            ("PROVIDER", provider),
            ("OUTPUTS", &outputs),
        ],
    );
    xml(200, body)
}

/// CreateChangeSet's answer for the CI stack (its own stack id).
pub fn ci_change_set_created() -> HttpResponse {
    let body = fill(
        data!("create_change_set.xml"),
        &[("CHANGE_SET", "noteapp-1767520951")],
    )
    .replace(
        "stack/noteapp-staging/4c1f8b70-6a3e-11f0-9b1a-0a1b2c3d4e5f",
        "stack/noteapp-staging-ci/7d2e9a40-b1c3-11f1-8a6e-0e5f4d3c2b1a",
    );
    xml(200, body)
}

/// DescribeStackEvents of `noteapp-staging-ci`, newest first, from the named fixture.
pub fn ci_events(name: &str) -> HttpResponse {
    let body = match name {
        "before_create" => data!("events_ci_before_create.xml"),
        "create_complete" => data!("events_ci_create_complete.xml"),
        "before_update" => data!("events_ci_before_update.xml"),
        "update_complete" => data!("events_ci_update_complete.xml"),
        other => panic!("no CI events fixture {other}"),
    };
    xml(200, body)
}

/// A CloudFormation client answering from `rules`, retries off, every call held against what
/// `ci bootstrap` is allowed (`policy::bootstrap_policy`, identity `ci-bootstrap`), not the
/// deploy policy.
pub fn cloudformation_bootstrap(mode: RuleMode, rules: &[&Rule]) -> aws_sdk_cloudformation::Client {
    mock_client!(aws_sdk_cloudformation, mode, rules.iter().copied(), |c| c
        .retry_config(RetryConfig::disabled())
        .interceptor(kit().checker(CI_BOOTSTRAP)))
}

/// A DynamoDB (JSON 1.0 protocol) answer.
pub fn json(status: u16, body: serde_json::Value) -> HttpResponse {
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).expect("valid status"),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
}

/// ListTables, one page.
pub fn table_names(names: &[&str]) -> HttpResponse {
    json(200, serde_json::json!({ "TableNames": names }))
}

/// ListTagsOfResource with the two tags the template gives a table.
pub fn table_tags(stack: &str, logical_id: &str) -> HttpResponse {
    json(
        200,
        serde_json::json!({"Tags": [
            {"Key": "noteapp:stack", "Value": stack},
            {"Key": "noteapp:table", "Value": logical_id},
            {"Key": "Project", "Value": "noteapp"},
        ]}),
    )
}

/// DescribeTable of an ACTIVE table `name` shaped as `def` says (keys, key attribute types,
/// global secondary indexes), as a stack made it.
pub fn table(name: &str, def: &noteapp_runtime::store::schema::TableDef) -> HttpResponse {
    json(
        200,
        serde_json::json!({ "Table": table_description(name, def) }),
    )
}

/// The `Table` of [`table`], to change before answering with [`json`].
pub fn table_description(
    name: &str,
    def: &noteapp_runtime::store::schema::TableDef,
) -> serde_json::Value {
    use noteapp_runtime::store::schema::Projection;
    let keys = |hash: &str, range: Option<&str>| {
        let mut keys = vec![serde_json::json!({"AttributeName": hash, "KeyType": "HASH"})];
        if let Some(range) = range {
            keys.push(serde_json::json!({"AttributeName": range, "KeyType": "RANGE"}));
        }
        keys
    };
    let attributes: Vec<serde_json::Value> = def
        .key_attributes
        .iter()
        .map(|(n, kind)| serde_json::json!({"AttributeName": n, "AttributeType": format!("{kind:?}")}))
        .collect();
    let indexes: Vec<serde_json::Value> = def
        .indexes
        .iter()
        .map(|i| {
            let projection = match i.projection {
                Projection::KeysOnly => serde_json::json!({"ProjectionType": "KEYS_ONLY"}),
                Projection::Include(extra) => {
                    serde_json::json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": extra})
                }
            };
            serde_json::json!({
                "IndexName": i.name,
                "KeySchema": keys(i.hash_key, i.range_key),
                "Projection": projection,
                "IndexStatus": "ACTIVE",
            })
        })
        .collect();
    let mut table = serde_json::json!({
        "TableName": name,
        "TableArn": format!("arn:aws:dynamodb:eu-west-1:123456789012:table/{name}"),
        "TableStatus": "ACTIVE",
        "KeySchema": keys(def.hash_key, def.range_key),
        "AttributeDefinitions": attributes,
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "ItemCount": 1204,
        "CreationDateTime": 1.762074871E9,
        "DeletionProtectionEnabled": false,
    });
    if !indexes.is_empty() {
        table["GlobalSecondaryIndexes"] = serde_json::Value::Array(indexes);
    }
    table
}

/// A DynamoDB client answering from `rules`, retries off, every call held against the deploy
/// policy.
pub fn dynamodb(mode: RuleMode, rules: &[&Rule]) -> aws_sdk_dynamodb::Client {
    mock_client!(aws_sdk_dynamodb, mode, rules.iter().copied(), |c| c
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .interceptor(policy_checker()))
}

/// STS GetCallerIdentity for `account`.
pub fn caller_identity(account: &str) -> HttpResponse {
    xml(
        200,
        fill(data!("get_caller_identity.xml"), &[("ACCOUNT", account)]),
    )
}

/// The identity of a person deploying with the deploy policy of the plan below ([`plan`]):
/// `noteapp render staging --deploy-policy` for account 123456789012 in eu-west-1.
pub const DEPLOYER: &str = "deployer";
/// An administrator running `noteapp ci bootstrap` (`policy::bootstrap_policy`).
pub const CI_BOOTSTRAP: &str = "ci-bootstrap";
/// The role `ci bootstrap` makes for GitHub Actions, holding the deploy policy.
pub const CI_ROLE: &str = "ci-role";
/// The guard function's role in the staging stack of [`scope`], its policies as the rendered
/// template gives them.
pub const GUARD: &str = "function:guard";

/// The scope of the replay tests' policies: the plan below.
pub fn scope() -> crate::policy::Scope {
    crate::policy::Scope {
        region: "eu-west-1".into(),
        account: "123456789012".into(),
        stack: "noteapp-staging".into(),
        repository: crate::aws::ecr::DEFAULT_REPOSITORY.into(),
    }
}

/// The test kit every replayed call goes through (strict: a refused call panics where it is
/// made), with the identities of a deploy: [`DEPLOYER`], [`CI_BOOTSTRAP`] and [`CI_ROLE`].
pub fn kit() -> Kit {
    static KIT: std::sync::OnceLock<Kit> = std::sync::OnceLock::new();
    KIT.get_or_init(|| {
        let kit = Kit::strict("123456789012", "eu-west-1");
        register(&kit);
        kit
    })
    .clone()
}

/// Registers the deploy's identities in `kit`, holding the policies as rendered for
/// [`scope`].
pub fn register(kit: &Kit) {
    let scope = scope();
    let deploy = crate::policy::deploy_policy(&scope);
    kit.identity(
        DEPLOYER,
        "arn:aws:sts::123456789012:assumed-role/noteapp-operators/alice",
        vec![deploy.clone()],
    );
    kit.identity(
        CI_BOOTSTRAP,
        "arn:aws:sts::123456789012:assumed-role/Administrator/bob",
        vec![crate::policy::bootstrap_policy(&scope)],
    );
    let role = crate::policy::ci::role_name(&scope.stack);
    kit.identity(
        CI_ROLE,
        &format!("arn:aws:sts::123456789012:assumed-role/{role}/GitHubActions"),
        vec![deploy],
    );
    kit.identity(
        GUARD,
        "arn:aws:sts::123456789012:assumed-role/noteapp-staging-GuardRole-KIT/noteapp-staging-guard",
        guard_policies(kit),
    );
}

/// The guard's role policies in the staging stack of [`scope`], resolved from the rendered
/// template.
fn guard_policies(kit: &Kit) -> Vec<serde_json::Value> {
    use noteapp_test_support::kit::cfn;
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../environments/staging.yaml"
    ));
    let config = crate::config::parse("staging", &text.replace("ap-northeast-1", "eu-west-1"))
        .expect("environments/staging.yaml");
    let body = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../templates/noteapp.yaml"
    ));
    let image = crate::template::placeholder_image_uri(&config);
    let plan = crate::template::plan(&config, body, &image).expect("the staging plan");
    let template = crate::template::cloudformation_json(&plan.template_body).expect("JSON");
    let parameters = plan.parameters.iter().cloned().collect();
    let stack = cfn::Stack::from_template(
        &template,
        &scope().stack,
        kit.place(),
        parameters,
        &Default::default(),
    )
    .expect("the staging stack");
    cfn::role_policies(&template, "GuardRole", &stack, kit.place()).expect("GuardRole")
}

/// Credentials of `identity` in the replay kit ([`kit`]).
pub fn credentials(identity: &str) -> aws_credential_types::Credentials {
    kit().get(identity).credentials()
}

/// A signer for `identity`'s credentials in the replay tests' region.
pub fn signer(identity: &str) -> noteapp_runtime::aws_http::Signer {
    let provider =
        aws_credential_types::provider::SharedCredentialsProvider::new(credentials(identity));
    noteapp_runtime::aws_http::Signer::new(provider, "eu-west-1")
}

/// The checker of [`DEPLOYER`] in the replay kit.
pub fn policy_checker() -> noteapp_test_support::kit::Checker {
    kit().checker(DEPLOYER)
}

/// A CloudFormation client answering from `rules`, retries off, every call held against the
/// deploy policy.
pub fn cloudformation(mode: RuleMode, rules: &[&Rule]) -> aws_sdk_cloudformation::Client {
    mock_client!(aws_sdk_cloudformation, mode, rules.iter().copied(), |c| c
        .retry_config(RetryConfig::disabled())
        .interceptor(policy_checker()))
}

/// An STS client whose caller is `account`.
pub fn sts(rule: &Rule) -> aws_sdk_sts::Client {
    mock_client!(aws_sdk_sts, RuleMode::Sequential, [rule], |c| c
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled()))
}

/// An ECR client that answers nothing: for flows that must not touch ECR.
pub fn ecr_unused() -> aws_sdk_ecr::Client {
    mock_client!(aws_sdk_ecr, RuleMode::MatchAny, [], |c| c
        .retry_config(aws_sdk_ecr::config::retry::RetryConfig::disabled()))
}

/// Stack-command clients: CloudFormation and STS replayed, ECR unused.
pub fn clients(
    cloudformation: aws_sdk_cloudformation::Client,
    sts: aws_sdk_sts::Client,
) -> crate::aws::Clients {
    crate::aws::Clients::new(cloudformation, sts, ecr_unused())
}

/// The staging plan the flow tests deploy: account 123456789012, tables stateful.
pub fn plan(environment: &str) -> Plan {
    Plan {
        environment: crate::config::Environment::parse(environment).expect("an environment"),
        local_only: environment == "development",
        stack_name: "noteapp-staging".to_owned(),
        region: "eu-west-1".to_owned(),
        account_id: "123456789012".to_owned(),
        template_body: "AWSTemplateFormatVersion: '2010-09-09'\nResources: {}\n".to_owned(),
        template_url: None,
        parameters: vec![(
            "ImageUri".to_owned(),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/noteapp@sha256:9f86".to_owned(),
        )],
        tags: vec![("app".to_owned(), "noteapp".to_owned())],
        confirm: environment == "production",
        stateful_resources: vec![
            "NotesTable".to_owned(),
            "UsersTable".to_owned(),
            "CommentsTable".to_owned(),
            "ConnectionsTable".to_owned(),
        ],
        protected: environment == "production",
    }
}

/// A stack whose policy is kept as CloudFormation keeps it: `SetStackPolicy` changes it,
/// `GetStackPolicy` reads it, and executing an update decides each of the update's actions
/// against it ([`noteapp_test_support::kit::stack_policy`]); the stack then reports the
/// update complete, or rolled back with the denied resource's event, as CloudFormation does.
#[derive(Clone, Default)]
pub struct PolicedStack {
    state: std::sync::Arc<std::sync::Mutex<PolicedState>>,
}

#[derive(Default)]
struct PolicedState {
    policy: Option<String>,
    /// `None` before the update runs; then whether the policy denied it.
    denied: Option<bool>,
}

impl PolicedStack {
    /// The stack, holding `policy`.
    pub fn holding(policy: &str) -> Self {
        let stack = Self::default();
        stack.state.lock().expect("state").policy = Some(policy.to_owned());
        stack
    }

    /// The stack's policy now.
    pub fn policy(&self) -> Option<String> {
        self.state.lock().expect("state").policy.clone()
    }

    /// GetStackPolicy and SetStackPolicy on the kept policy.
    pub fn policy_rules(&self) -> [Rule; 2] {
        let (get, set) = (self.state.clone(), self.state.clone());
        [
            aws_smithy_mocks::mock!(aws_sdk_cloudformation::Client::get_stack_policy)
                .then_http_response(move || {
                    stack_policy(get.lock().expect("state").policy.as_deref())
                }),
            aws_smithy_mocks::mock!(aws_sdk_cloudformation::Client::set_stack_policy)
                .match_requests(move |r| {
                    set.lock().expect("state").policy = r.stack_policy_body().map(str::to_owned);
                    true
                })
                .then_http_response(stack_policy_set),
        ]
    }

    /// ExecuteChangeSet of an update making `actions` (logical id, resource type,
    /// `Update:Modify|Replace|Delete`), decided against the policy held at that moment.
    pub fn execute(&self, actions: &'static [(&'static str, &'static str, &'static str)]) -> Rule {
        let state = self.state.clone();
        aws_smithy_mocks::mock!(aws_sdk_cloudformation::Client::execute_change_set)
            .match_requests(move |_| {
                let mut state = state.lock().expect("state");
                let denied = state.policy.as_deref().is_some_and(|policy| {
                    actions.iter().any(|(id, kind, action)| {
                        noteapp_test_support::kit::stack_policy::denies(policy, action, id, kind)
                            .unwrap_or_else(|e| panic!("{e}"))
                            .is_some()
                    })
                });
                state.denied = Some(denied);
                true
            })
            .then_http_response(executed)
    }

    /// DescribeStacks: complete before the update, then its outcome.
    pub fn describe(&self) -> Rule {
        let state = self.state.clone();
        aws_smithy_mocks::mock!(aws_sdk_cloudformation::Client::describe_stacks).then_http_response(
            move || match state.lock().expect("state").denied {
                Some(true) => stack("UPDATE_ROLLBACK_COMPLETE"),
                _ => stack("UPDATE_COMPLETE"),
            },
        )
    }

    /// DescribeStackEvents: the events before the update, then the update's.
    pub fn events(&self) -> Rule {
        let state = self.state.clone();
        aws_smithy_mocks::mock!(aws_sdk_cloudformation::Client::describe_stack_events)
            .then_http_response(move || match state.lock().expect("state").denied {
                None => events("before_update"),
                Some(false) => events("update_complete"),
                Some(true) => events("update_denied_by_stack_policy"),
            })
    }
}

/// The template a replayed CreateChangeSet sent: its body, or the object its URL names in
/// `objects` (the signed-services stand-in the deploy kept it in).
pub fn sent_template(
    input: &aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetInput,
    objects: &noteapp_test_support::kit::services::Objects,
) -> Option<String> {
    match (input.template_body(), input.template_url()) {
        (Some(body), _) => Some(body.to_owned()),
        (None, Some(url)) => objects.at_url(url),
        (None, None) => None,
    }
}

/// The URL a deploy of `plan` would send its template by once kept as release `sequence`.
pub fn template_url(plan: &Plan, sequence: u64) -> String {
    format!(
        "https://{}.s3.{}.amazonaws.com/{}",
        crate::release::bucket_name(&plan.account_id, &plan.region),
        plan.region,
        crate::release::template_key(&plan.stack_name, sequence)
    )
}

/// A loopback SQS answering `GetQueueAttributes` with `depth` messages waiting, each request
/// decided by the kit (the deployer may read its stack's queue, not another's).
pub async fn sqs_queue(depth: u32) -> noteapp_test_support::loopback::Server {
    use noteapp_test_support::kit::Endpoint;
    use noteapp_test_support::loopback::{Reply, Server};
    let kit = kit();
    let body = format!(r#"{{"Attributes":{{"ApproximateNumberOfMessages":"{depth}"}}}}"#);
    Server::answering(move |request| match kit.admit(request, Endpoint::Sqs) {
        Ok(_) => Reply::with_type(200, "application/x-amz-json-1.0", body.clone()),
        Err(refusal) => refusal,
    })
    .await
}
