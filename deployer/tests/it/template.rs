//! The template checked against the runtime it deploys: every table against
//! `noteapp_runtime::store::schema`, every function's handler and variables against what the
//! runtime reads, IAM statements against least privilege, and the `noteapp render` command end to
//! end. Reads `templates/noteapp.yaml` directly, so it needs no access to the binary's internals.

use noteapp_runtime::functions::Function as RuntimeFunction;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use noteapp_runtime::store::schema::{self, ALL_TABLES, KeyType, Projection, TableDef};
use serde_norway::Value;

const STATEFUL_TYPE: &str = "AWS::DynamoDB::Table";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn body() -> String {
    std::fs::read_to_string(root().join("templates/noteapp.yaml")).unwrap()
}

fn template() -> Value {
    serde_norway::from_str(&body()).unwrap()
}

fn resource<'a>(template: &'a Value, id: &str) -> &'a Value {
    template["Resources"]
        .get(id)
        .unwrap_or_else(|| panic!("no resource {id}"))
}

/// The argument of an intrinsic such as `!Ref X` (`tag` = "Ref"), if `value` is one.
fn intrinsic<'a>(value: &'a Value, tag: &str) -> Option<&'a Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag == tag => Some(&tagged.value),
        _ => None,
    }
}

fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Sequence(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn str_of(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value:?}"))
}

/// What each function reads besides ENVIRONMENT, LOG_LEVEL and its tables' names, and the
/// tables it uses (the list of functions itself is `noteapp_runtime::functions::Function::ALL`).
fn needs(function: RuntimeFunction) -> (&'static [&'static str], &'static [TableDef]) {
    match function {
        RuntimeFunction::Api => (
            &[
                "FIREBASE_PROJECT_ID",
                "RATE_LIMITS",
                "BROADCAST_FUNCTION_NAME",
                "CLEANUP_FUNCTION_NAME",
            ],
            &[
                schema::NOTES,
                schema::USERS,
                schema::COMMENTS,
                schema::CONTROL,
            ],
        ),
        RuntimeFunction::WsConnect => (
            &["FIREBASE_PROJECT_ID", "RATE_LIMITS"],
            &[schema::CONNECTIONS, schema::CONTROL],
        ),
        RuntimeFunction::WsDisconnect => (&[], &[schema::CONNECTIONS]),
        RuntimeFunction::WsDefault => (&["WEBSOCKET_ENDPOINT"], &[schema::CONNECTIONS]),
        RuntimeFunction::WsBroadcast => (
            &[
                "WEBSOCKET_ENDPOINT",
                "RATE_LIMITS",
                "BROADCAST_SEND_RATE",
                "BROADCAST_SCAN_SEGMENTS",
            ],
            &[schema::CONNECTIONS, schema::CONTROL],
        ),
        RuntimeFunction::Cleanup => (&[], &[schema::COMMENTS]),
    }
}

/// One function as the runtime expects it.
struct Function {
    id: String,
    command: &'static str,
    role: String,
    log_group: String,
    extra_env: &'static [&'static str],
    tables: &'static [TableDef],
}

fn functions() -> impl Iterator<Item = Function> {
    RuntimeFunction::ALL.into_iter().map(|function| {
        let prefix = function.logical_prefix();
        let (extra_env, tables) = needs(function);
        Function {
            id: format!("{prefix}Function"),
            command: function.name(),
            role: format!("{prefix}Role"),
            log_group: format!("{prefix}LogGroup"),
            extra_env,
            tables,
        }
    })
}

#[test]
fn the_template_is_plain_cloudformation() {
    let template = template();
    assert!(
        template.get("Transform").is_none(),
        "no SAM or other transform"
    );
    for output in [
        "ECRRepositoryURI",
        "FunctionUrlEndpoint",
        "WebSocketURL",
        "WebSocketBroadcastEndpoint",
        "WebSocketApiId",
        "NotesTableName",
        "UsersTableName",
        "CommentsTableName",
        "ConnectionsTableName",
        "ControlTableName",
    ] {
        let export = &template["Outputs"][output]["Export"]["Name"];
        let name = intrinsic(export, "Sub").map(str_of);
        assert_eq!(
            name,
            Some(format!("${{AWS::StackName}}-{output}").as_str()),
            "{output}"
        );
    }
}

#[test]
fn every_table_matches_the_runtime_schema() {
    let template = template();
    let in_template: BTreeSet<&str> = template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(STATEFUL_TYPE))
        .map(|(id, _)| str_of(id))
        .collect();
    let in_schema: BTreeSet<&str> = ALL_TABLES.iter().map(|t| t.logical_id).collect();
    assert_eq!(in_template, in_schema);
    for def in ALL_TABLES {
        let table = resource(&template, def.logical_id);
        // Kept when the stack goes, deleted when the create that made it fails.
        assert_eq!(
            table["DeletionPolicy"].as_str(),
            Some("RetainExceptOnCreate"),
            "{}",
            def.logical_id
        );
        let tags: Vec<(&str, &Value)> = as_list(&props_of(table)["Tags"])
            .into_iter()
            .map(|t| (str_of(&t["Key"]), &t["Value"]))
            .collect();
        assert_eq!(tags.len(), 2, "{} tags", def.logical_id);
        assert_eq!(tags[0].0, "noteapp:stack");
        assert_eq!(
            intrinsic(tags[0].1, "Ref").map(str_of),
            Some("AWS::StackName")
        );
        assert_eq!(
            (tags[1].0, str_of(tags[1].1)),
            ("noteapp:table", def.logical_id)
        );
        assert_eq!(
            table["UpdateReplacePolicy"].as_str(),
            Some("Retain"),
            "{}",
            def.logical_id
        );
        let props = &table["Properties"];
        assert_eq!(props["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
        assert_eq!(
            props["SSESpecification"]["SSEEnabled"].as_bool(),
            Some(true)
        );
        let attributes: BTreeSet<(&str, &str)> = as_list(&props["AttributeDefinitions"])
            .into_iter()
            .map(|a| (str_of(&a["AttributeName"]), str_of(&a["AttributeType"])))
            .collect();
        let expected: BTreeSet<(&str, &str)> = def
            .key_attributes
            .iter()
            .map(|(name, kind)| (*name, if *kind == KeyType::S { "S" } else { "N" }))
            .collect();
        assert_eq!(attributes, expected, "{} attributes", def.logical_id);
        assert_eq!(
            key_schema(&props["KeySchema"]),
            (def.hash_key, def.range_key),
            "{}",
            def.logical_id
        );
        let indexes = props
            .get("GlobalSecondaryIndexes")
            .map(as_list)
            .unwrap_or_default();
        assert_eq!(
            indexes.len(),
            def.indexes.len(),
            "{} indexes",
            def.logical_id
        );
        for (index, want) in indexes.iter().zip(def.indexes) {
            assert_eq!(index["IndexName"].as_str(), Some(want.name));
            assert_eq!(
                key_schema(&index["KeySchema"]),
                (want.hash_key, want.range_key)
            );
            let projection = &index["Projection"];
            match want.projection {
                Projection::KeysOnly => {
                    assert_eq!(projection["ProjectionType"].as_str(), Some("KEYS_ONLY"))
                }
                Projection::Include(attributes) => {
                    assert_eq!(projection["ProjectionType"].as_str(), Some("INCLUDE"));
                    let listed: Vec<&str> = as_list(&projection["NonKeyAttributes"])
                        .into_iter()
                        .map(str_of)
                        .collect();
                    assert_eq!(listed, attributes);
                }
            }
        }
        let ttl = props.get("TimeToLiveSpecification");
        assert_eq!(
            ttl.and_then(|t| t["AttributeName"].as_str()),
            def.ttl_attribute,
            "{} ttl",
            def.logical_id
        );
        assert!(ttl.is_none_or(|t| t["Enabled"].as_bool() == Some(true)));
    }
}

fn props_of(resource: &Value) -> &Value {
    &resource["Properties"]
}

fn key_schema(keys: &Value) -> (&str, Option<&str>) {
    let of = |kind: &str| {
        as_list(keys)
            .into_iter()
            .find(|k| k["KeyType"].as_str() == Some(kind))
            .map(|k| str_of(&k["AttributeName"]))
    };
    (of("HASH").expect("a HASH key"), of("RANGE"))
}

#[test]
fn each_function_runs_its_handler_with_exactly_the_variables_it_reads() {
    let template = template();
    for f in functions() {
        let props = &resource(&template, &f.id)["Properties"];
        assert_eq!(props["PackageType"].as_str(), Some("Image"), "{}", f.id);
        assert_eq!(
            intrinsic(&props["Code"]["ImageUri"], "Ref").map(str_of),
            Some("ImageUri")
        );
        assert_eq!(
            as_list(&props["ImageConfig"]["Command"])
                .iter()
                .map(|c| str_of(c))
                .collect::<Vec<_>>(),
            [f.command]
        );
        assert_eq!(
            intrinsic(&props["Role"], "GetAtt").map(str_of),
            Some(format!("{}.Arn", f.role).as_str())
        );
        assert_eq!(
            intrinsic(&props["LoggingConfig"]["LogGroup"], "Ref").map(str_of),
            Some(f.log_group.as_str())
        );
        let vars = props["Environment"]["Variables"].as_mapping().unwrap();
        let names: BTreeSet<&str> = vars.keys().map(str_of).collect();
        let mut expected: BTreeSet<&str> = ["ENVIRONMENT", "LOG_LEVEL"].into_iter().collect();
        expected.extend(f.extra_env);
        for table in f.tables {
            expected.insert(table.env_var);
            let value = intrinsic(&vars[table.env_var], "Ref").map(str_of);
            assert_eq!(value, Some(table.logical_id), "{} {}", f.id, table.env_var);
        }
        assert_eq!(names, expected, "{} variables", f.id);
        let log_name = intrinsic(
            &resource(&template, &f.log_group)["Properties"]["LogGroupName"],
            "Sub",
        )
        .map(str_of);
        let function_name = intrinsic(&props["FunctionName"], "Sub")
            .map(str_of)
            .unwrap();
        assert_eq!(
            log_name,
            Some(format!("/aws/lambda/{function_name}").as_str())
        );
    }
}

#[test]
fn each_function_reserves_the_concurrency_its_environment_file_sets() {
    let template = template();
    for function in RuntimeFunction::ALL {
        let prefix = function.logical_prefix();
        let props = &resource(&template, &format!("{prefix}Function"))["Properties"];
        let reserved = intrinsic(&props["ReservedConcurrentExecutions"], "If")
            .map(as_list)
            .unwrap_or_else(|| panic!("{prefix}: ReservedConcurrentExecutions is an !If"));
        assert_eq!(str_of(reserved[0]), format!("{prefix}Reserved"));
        assert_eq!(
            intrinsic(reserved[1], "Ref").map(str_of),
            Some(format!("{prefix}ReservedConcurrency").as_str())
        );
        assert_eq!(
            intrinsic(reserved[2], "Ref").map(str_of),
            Some("AWS::NoValue")
        );
        let parameter = &template["Parameters"][format!("{prefix}ReservedConcurrency").as_str()];
        assert_eq!(parameter["MinValue"].as_i64(), Some(-1), "{prefix}");
    }
    // The staging file sizes every function; its render passes them through.
    let out = noteapp(&["render", "staging", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["parameters"]["ApiReservedConcurrency"], "50");
    assert_eq!(json["parameters"]["WsBroadcastReservedConcurrency"], "10");
    let limits = json["parameters"]["RateLimits"].as_str().unwrap();
    assert!(limits.starts_with("comments=20/min,"), "{limits}");
}

#[test]
fn the_api_variables_satisfy_the_runtime_config() {
    let template = template();
    let vars = resource(&template, "ApiFunction")["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap();
    let values = vars.keys().map(str_of).map(|name| {
        let value = match name {
            "ENVIRONMENT" => "staging",
            "LOG_LEVEL" => "info",
            "FIREBASE_PROJECT_ID" => "notes-123",
            "RATE_LIMITS" => "comments=20/min",
            _ => "from-the-template",
        };
        (name.to_owned(), value.to_owned())
    });
    noteapp_runtime::config::map_vars(values.collect())
        .api()
        .unwrap();
}

#[test]
fn no_function_sets_a_local_only_variable() {
    let body = body();
    for forbidden in ["FIREBASE_AUTH_EMULATOR_HOST", "AUTH_KEYS"] {
        assert!(
            !body.contains(forbidden),
            "{forbidden} must never reach a deployed function"
        );
    }
}

/// Every statement of every role's inline policies, with the role's logical id.
fn statements(template: &Value) -> Vec<(&str, &Value)> {
    let resources = template["Resources"].as_mapping().unwrap();
    let mut out = Vec::new();
    for (id, role) in resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::IAM::Role"))
    {
        // A role with managed policies only (the API Gateway logging role) has none here.
        let Some(policies) = role["Properties"].get("Policies") else {
            continue;
        };
        for policy in as_list(policies) {
            for statement in as_list(&policy["PolicyDocument"]["Statement"]) {
                out.push((str_of(id), statement));
            }
        }
    }
    out
}

/// The logical ids a resource entry names (`!GetAtt X.Arn`, `!Sub "${X.Arn}/index/*"`, `!Ref X`).
fn named_resources(resource: &Value) -> Vec<String> {
    if let Some(target) = intrinsic(resource, "GetAtt").or_else(|| intrinsic(resource, "Ref")) {
        return vec![str_of(target).split('.').next().unwrap().to_owned()];
    }
    let text = intrinsic(resource, "Sub")
        .map(str_of)
        .unwrap_or_else(|| str_of(resource));
    text.split("${")
        .skip(1)
        .filter_map(|s| s.split(['}', '.']).next())
        .filter(|s| !s.starts_with("AWS::"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn no_statement_grants_everything() {
    let template = template();
    let all = statements(&template);
    assert!(!all.is_empty());
    for (role, statement) in all {
        for action in as_list(&statement["Action"]) {
            let action = str_of(action);
            assert!(
                action != "*" && !action.ends_with(":*"),
                "{role}: action {action}"
            );
        }
        for resource in as_list(&statement["Resource"]) {
            assert_ne!(resource.as_str(), Some("*"), "{role}: resource *");
        }
    }
}

#[test]
fn each_role_reaches_only_its_own_tables_logs_and_connections() {
    let template = template();
    let all = statements(&template);
    for f in functions() {
        let mine: Vec<&Value> = all
            .iter()
            .filter(|(role, _)| *role == f.role)
            .map(|(_, s)| *s)
            .collect();
        let mut tables = BTreeSet::new();
        for statement in &mine {
            let actions: Vec<&str> = as_list(&statement["Action"])
                .into_iter()
                .map(str_of)
                .collect();
            let named: BTreeSet<String> = as_list(&statement["Resource"])
                .into_iter()
                .flat_map(named_resources)
                .collect();
            if actions.iter().any(|a| a.starts_with("logs:")) {
                assert_eq!(
                    named,
                    BTreeSet::from([f.log_group.clone()]),
                    "{} logs",
                    f.role
                );
            }
            if actions.iter().any(|a| a.starts_with("dynamodb:")) {
                tables.extend(named.clone());
            }
            if actions.contains(&"execute-api:ManageConnections") {
                assert!(
                    matches!(f.command, "ws-default" | "ws-broadcast"),
                    "{}",
                    f.role
                );
                let arn = intrinsic(&statement["Resource"], "Sub")
                    .map(str_of)
                    .unwrap();
                assert!(
                    arn.ends_with(":${WebSocketApi}/${Environment}/POST/@connections/*"),
                    "{arn}"
                );
            }
            if actions.contains(&"lambda:InvokeFunction") {
                assert_eq!(f.command, "api");
                assert_eq!(
                    named,
                    BTreeSet::from([
                        "WsBroadcastFunction".to_owned(),
                        "CleanupFunction".to_owned()
                    ])
                );
            }
        }
        let expected: BTreeSet<String> = f.tables.iter().map(|t| t.logical_id.to_owned()).collect();
        assert_eq!(tables, expected, "{} tables", f.role);
    }
}

/// Runs the built `noteapp` from inside the repository (it finds the root by walking up).
fn noteapp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_noteapp"))
        .args(args)
        .current_dir(root().join("deployer"))
        .env_remove("NOTEAPP_ROOT")
        .output()
        .unwrap()
}

const IMAGE: &str = "210987654321.dkr.ecr.ap-northeast-1.amazonaws.com/noteapp@sha256:abababababababababababababababababababababababababababababababab";

#[test]
fn render_template_only_prints_the_template_verbatim() {
    let out = noteapp(&["render", "staging", "--template-only"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), body());
}

#[test]
fn render_json_has_the_documented_shape() {
    let out = noteapp(&["render", "production", "--json", "--image-uri", IMAGE]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: BTreeSet<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["stack_name", "region", "template", "parameters", "tags"])
    );
    assert_eq!(json["stack_name"], "noteapp-production");
    assert_eq!(json["template"].as_str(), Some(body().as_str()));
    assert_eq!(json["parameters"]["ImageUri"], IMAGE);
    assert_eq!(json["parameters"]["LogRetentionDays"], "30");
    assert_eq!(json["tags"]["Environment"], "production");
    assert_eq!(json["tags"]["Project"], "noteapp");
}

#[test]
fn render_refuses_bad_input_with_exit_code_2() {
    for args in [
        &["render", "qa"][..],
        &["render", "staging", "--image-uri", "noteapp:latest"][..],
    ] {
        let out = noteapp(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn render_deploy_policy_scopes_the_policy_to_the_environment() {
    let out = noteapp(&["render", "production", "--deploy-policy"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let policy: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(policy["Version"], "2012-10-17");
    let resources: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Resource"].as_array().unwrap())
        .filter_map(serde_json::Value::as_str)
        .collect();
    assert!(
        resources.contains(
            &"arn:aws:cloudformation:ap-northeast-1:210987654321:stack/noteapp-production/*"
        ),
        "{resources:?}"
    );
    assert!(resources.contains(&"arn:aws:ecr:ap-northeast-1:210987654321:repository/noteapp"));
    assert!(resources.contains(&"arn:aws:iam::210987654321:role/noteapp-production-*"));
    for resource in &resources {
        assert!(
            *resource == "*"
                || resource.contains("210987654321")
                || resource.starts_with("arn:aws:apigateway:ap-northeast-1::"),
            "{resource} is outside production's account and region"
        );
    }
    // Development is never deployed, so it has no deploy policy.
    let out = noteapp(&["render", "development", "--deploy-policy"]);
    assert_eq!(out.status.code(), Some(2));
}
