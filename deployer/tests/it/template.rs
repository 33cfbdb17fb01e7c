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

/// What each function reads besides ENVIRONMENT, LOG_LEVEL, NOTEAPP_RELEASE and its tables' names, and the
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
        RuntimeFunction::Guard => (
            &[
                "GUARDED_FUNCTIONS",
                "RELEASE_HEALTH_ALARM",
                "OPERATORS_TOPIC_ARN",
            ],
            &[],
        ),
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
        let mut expected: BTreeSet<&str> = ["ENVIRONMENT", "LOG_LEVEL", "NOTEAPP_RELEASE"]
            .into_iter()
            .collect();
        assert_eq!(
            intrinsic(&vars["NOTEAPP_RELEASE"], "Ref").map(str_of),
            Some("ReleaseId"),
            "{}",
            f.id
        );
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

/// The variables the template gives function `id`, with the values the runtime checks.
fn runtime_vars(template: &Value, id: &str) -> std::collections::HashMap<String, String> {
    let vars = resource(template, id)["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap();
    vars.keys()
        .map(str_of)
        .map(|name| {
            let value = match name {
                "ENVIRONMENT" => "staging",
                "LOG_LEVEL" => "info",
                "FIREBASE_PROJECT_ID" => "notes-123",
                "NOTEAPP_RELEASE" => "12-3f9c2e1a0b4d-5e6f7a8b9c0d",
                "GUARDED_FUNCTIONS" => "noteapp-staging-api,noteapp-staging-guard",
                "RATE_LIMITS" => "comments=20/min",
                _ => "from-the-template",
            };
            (name.to_owned(), value.to_owned())
        })
        .collect()
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
fn the_api_and_guard_variables_satisfy_the_runtime_config() {
    let template = template();
    noteapp_runtime::config::map_vars(runtime_vars(&template, "ApiFunction"))
        .api()
        .unwrap();
    let guard = noteapp_runtime::config::map_vars(runtime_vars(&template, "GuardFunction"))
        .guard()
        .unwrap();
    assert!(guard.operators_topic.is_some());
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
        let actions: Vec<&str> = as_list(&statement["Action"])
            .into_iter()
            .map(str_of)
            .collect();
        for action in &actions {
            assert!(
                *action != "*" && !action.ends_with(":*"),
                "{role}: action {action}"
            );
        }
        // CloudWatch describes a composite alarm only to a DescribeAlarms allowed on "*", a
        // read of alarm states and nothing else.
        if actions == ["cloudwatch:DescribeAlarms"] {
            continue;
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
                        "WsBroadcastLiveAlias".to_owned(),
                        "CleanupLiveAlias".to_owned()
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
        BTreeSet::from([
            "stack_name",
            "region",
            "template",
            "parameters",
            "tags",
            "alarms"
        ])
    );
    assert_eq!(json["stack_name"], "noteapp-production");
    assert_eq!(json["template"].as_str(), Some(body().as_str()));
    assert_eq!(json["parameters"]["ImageUri"], IMAGE);
    assert_eq!(json["parameters"]["LogRetentionDays"], "30");
    assert_eq!(json["tags"]["Environment"], "production");
    assert_eq!(json["tags"]["Project"], "noteapp");
    assert_eq!(json["parameters"]["CanaryShare"], "10");
    assert_eq!(json["parameters"]["PreviousWeight"], "0.9");
    let alarms = &json["alarms"];
    assert!(alarms["count"].as_u64().unwrap() > 30, "{alarms}");
    assert!(alarms["monthly_usd"].as_f64().unwrap() > 3.0, "{alarms}");
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

// ---------------------------------------------------------------- releases, alarms, the guard

/// Every function's logical prefix (`Api`, `WsConnect`, …, `Guard`).
fn prefixes() -> impl Iterator<Item = &'static str> {
    RuntimeFunction::ALL
        .into_iter()
        .map(RuntimeFunction::logical_prefix)
}

/// The resources of type `kind`, by logical id.
fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(id, r)| (str_of(id), r))
        .collect()
}

/// `!Ref X` → `X`.
fn ref_of(value: &Value) -> &str {
    intrinsic(value, "Ref")
        .map(str_of)
        .unwrap_or_else(|| panic!("not a !Ref: {value:?}"))
}

/// A `!Sub` string with `${name}` replaced by each value.
fn substitute(value: &Value, values: &[(&str, &str)]) -> String {
    let mut text = str_of(intrinsic(value, "Sub").expect("a !Sub")).to_owned();
    for (name, value) in values {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    text
}

#[test]
fn each_function_publishes_a_kept_version_per_release_behind_its_live_alias() {
    use noteapp_runtime::release_shift::AliasNote;
    let template = template();
    let release = "12-3f9c2e1a0b4d-5e6f7a8b9c0d";
    for prefix in prefixes() {
        let version = resource(&template, &format!("{prefix}Version"));
        assert_eq!(version["Type"].as_str(), Some("AWS::Lambda::Version"));
        // Earlier versions stay invocable for rollbacks.
        assert_eq!(version["DeletionPolicy"].as_str(), Some("Retain"));
        assert_eq!(version["UpdateReplacePolicy"].as_str(), Some("Retain"));
        let props = &version["Properties"];
        assert_eq!(ref_of(&props["FunctionName"]), format!("{prefix}Function"));
        // A new release id replaces the version, which publishes a new one.
        assert_eq!(
            substitute(&props["Description"], &[("ReleaseId", release)]),
            format!("noteapp release {release}")
        );

        let alias = resource(&template, &format!("{prefix}LiveAlias"));
        assert_eq!(alias["Type"].as_str(), Some("AWS::Lambda::Alias"));
        let props = &alias["Properties"];
        assert_eq!(ref_of(&props["FunctionName"]), format!("{prefix}Function"));
        assert_eq!(
            props["Name"].as_str(),
            Some(noteapp_runtime::functions::LIVE_ALIAS)
        );
        assert_eq!(
            intrinsic(&props["FunctionVersion"], "GetAtt").map(str_of),
            Some(format!("{prefix}Version.Version").as_str())
        );
        // The description is a note the guard reads: a shift with its deadline, or live.
        let description = as_list(intrinsic(&props["Description"], "If").unwrap());
        let shifting = format!("{prefix}Shifting");
        assert_eq!(str_of(description[0]), shifting);
        let values = [
            ("ReleaseId", release),
            (&format!("{prefix}PreviousVersion"), "7"),
            ("ShiftDeadline", "2026-12-07T10:00:00Z"),
        ];
        let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (&**k, *v)).collect();
        let Some(AliasNote::Shift(shift)) = AliasNote::parse(&substitute(description[1], &values))
        else {
            panic!("{prefix}: the shifting description is no shift note");
        };
        assert_eq!((shift.release.as_str(), shift.good), (release, 7));
        assert_eq!(
            AliasNote::parse(&substitute(description[2], &values)),
            Some(AliasNote::Live {
                release: release.into()
            })
        );
        // During a canary the previous version keeps PreviousWeight of the traffic.
        let weights =
            as_list(intrinsic(&props["RoutingConfig"]["AdditionalVersionWeights"], "If").unwrap());
        assert_eq!(str_of(weights[0]), shifting);
        let routed = as_list(weights[1]);
        assert_eq!(routed.len(), 1);
        assert_eq!(
            ref_of(&routed[0]["FunctionVersion"]),
            format!("{prefix}PreviousVersion")
        );
        assert_eq!(ref_of(&routed[0]["FunctionWeight"]), "PreviousWeight");
        assert!(as_list(weights[2]).is_empty() || weights[2].as_sequence().unwrap().is_empty());
        // A shift needs a previous version, a share under 100 and a deadline.
        let condition =
            serde_norway::to_string(&template["Conditions"][shifting.as_str()]).unwrap();
        for needed in [
            format!("{prefix}PreviousVersion"),
            "CanaryShare".into(),
            "ShiftDeadline".into(),
        ] {
            assert!(condition.contains(&needed), "{shifting}: {condition}");
        }
    }
}

/// Every `!GetAtt X.Y` in `value`, as `X.Y`.
fn get_atts(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => {
            out.push(str_of(&tagged.value).to_owned())
        }
        Value::Tagged(tagged) => get_atts(&tagged.value, out),
        Value::Sequence(items) => items.iter().for_each(|i| get_atts(i, out)),
        Value::Mapping(map) => map.values().for_each(|v| get_atts(v, out)),
        _ => {}
    }
}

#[test]
fn everything_that_invokes_a_function_goes_through_its_live_alias() {
    let template = template();
    let aliases: BTreeSet<String> = prefixes().map(|p| format!("{p}LiveAlias")).collect();
    // The Function URL, and its two statements (the URL itself, and the invoke it makes).
    let url = &resource(&template, "ApiFunctionUrl")["Properties"];
    assert_eq!(ref_of(&url["TargetFunctionArn"]), "ApiLiveAlias");
    assert_eq!(url["AuthType"].as_str(), Some("NONE"));
    let url_permission = &resource(&template, "ApiFunctionUrlPermission")["Properties"];
    assert_eq!(
        url_permission["Action"].as_str(),
        Some("lambda:InvokeFunctionUrl")
    );
    assert_eq!(url_permission["FunctionUrlAuthType"].as_str(), Some("NONE"));
    let invoke_permission = &resource(&template, "ApiFunctionUrlInvokePermission")["Properties"];
    assert_eq!(
        invoke_permission["Action"].as_str(),
        Some("lambda:InvokeFunction")
    );
    assert_eq!(
        invoke_permission["InvokedViaFunctionUrl"].as_bool(),
        Some(true)
    );
    // Every permission is on an alias: per alias, the invokers it has.
    let mut on: std::collections::BTreeMap<String, usize> = Default::default();
    for (id, permission) in of_type(&template, "AWS::Lambda::Permission") {
        let target = ref_of(&permission["Properties"]["FunctionName"]);
        assert!(aliases.contains(target), "{id} is on {target}");
        *on.entry(target.to_owned()).or_default() += 1;
    }
    let expected = [
        ("ApiLiveAlias", 2),
        ("WsConnectLiveAlias", 1),
        ("WsDisconnectLiveAlias", 1),
        ("WsDefaultLiveAlias", 1),
        ("WsBroadcastLiveAlias", 1),
        ("CleanupLiveAlias", 1),
        ("GuardLiveAlias", 2),
    ];
    let expected: std::collections::BTreeMap<String, usize> = expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect();
    assert_eq!(on, expected);
    // Every WebSocket route's integration and the broadcast route's.
    for (id, integration) in of_type(&template, "AWS::ApiGatewayV2::Integration") {
        let uri = &integration["Properties"]["IntegrationUri"];
        let named = named_resources(uri);
        assert_eq!(named.len(), 1, "{id}");
        assert!(aliases.contains(&named[0]), "{id} invokes {}", named[0]);
    }
    // The schedules and the alarm rule.
    for (id, rule) in of_type(&template, "AWS::Events::Rule") {
        for target in as_list(&rule["Properties"]["Targets"]) {
            assert!(aliases.contains(ref_of(&target["Arn"])), "{id}");
        }
    }
    // The broadcast's retries and on-failure destination.
    let invoke_config = resource(&template, "WsBroadcastInvokeConfig");
    assert_eq!(
        invoke_config["Properties"]["Qualifier"].as_str(),
        Some(noteapp_runtime::functions::LIVE_ALIAS)
    );
    assert_eq!(
        invoke_config["DependsOn"].as_str(),
        Some("WsBroadcastLiveAlias")
    );
    // The API's asynchronous invokes.
    let vars = &resource(&template, "ApiFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(
        ref_of(&vars["BROADCAST_FUNCTION_NAME"]),
        "WsBroadcastLiveAlias"
    );
    assert_eq!(ref_of(&vars["CLEANUP_FUNCTION_NAME"]), "CleanupLiveAlias");
    // Nothing but a role, a version or an alias names a function's unqualified ARN.
    for (id, resource) in template["Resources"].as_mapping().unwrap() {
        let kind = resource["Type"].as_str().unwrap();
        let mut names = Vec::new();
        get_atts(resource, &mut names);
        for name in names {
            assert!(
                !name.ends_with("Function.Arn") || kind == "AWS::IAM::Role",
                "{} ({kind}) names {name}",
                str_of(id)
            );
        }
    }
}

/// The alarms of a function with logical prefix `prefix`.
fn function_alarms(prefix: &str) -> [String; 4] {
    ["Errors", "Throttles", "Duration", "Concurrency"].map(|kind| format!("{prefix}{kind}Alarm"))
}

#[test]
fn the_alarms_notify_the_operators_and_release_health_watches_the_canary_signals() {
    let template = template();
    // The topic, and one email subscription per place the environment file has.
    assert_eq!(of_type(&template, "AWS::SNS::Topic").len(), 1);
    let subscriptions = of_type(&template, "AWS::SNS::Subscription");
    assert_eq!(subscriptions.len(), noteapp::config::MAX_OPERATOR_EMAILS);
    for (i, (id, subscription)) in subscriptions.iter().enumerate() {
        let props = &subscription["Properties"];
        assert_eq!(ref_of(&props["TopicArn"]), "OperatorsTopic", "{id}");
        assert_eq!(props["Protocol"].as_str(), Some("email"));
        assert_eq!(
            ref_of(&props["Endpoint"]),
            format!("OperatorEmail{}", i + 1)
        );
        assert_eq!(
            subscription["Condition"].as_str(),
            Some(format!("OperatorEmail{}Given", i + 1).as_str())
        );
    }
    // Every alarm, each telling the topic when it fires and when it recovers.
    let mut expected: BTreeSet<String> = [
        "Api5xxRateAlarm",
        "ApiLatencyAlarm",
        "WebSocketIntegrationErrorsAlarm",
        "BroadcastFailuresAlarm",
        "ReleaseHealthAlarm",
    ]
    .map(str::to_owned)
    .into();
    for prefix in prefixes() {
        expected.extend(function_alarms(prefix));
    }
    for table in ["Notes", "Users", "Comments", "Connections"] {
        expected.insert(format!("{table}HotKeyThrottlesAlarm"));
        expected.insert(format!("{table}AccountLimitThrottlesAlarm"));
    }
    let mut alarms = of_type(&template, "AWS::CloudWatch::Alarm");
    alarms.extend(of_type(&template, "AWS::CloudWatch::CompositeAlarm"));
    let ids: BTreeSet<String> = alarms.iter().map(|(id, _)| (*id).to_owned()).collect();
    assert_eq!(ids, expected);
    let mut names = BTreeSet::new();
    for (id, alarm) in &alarms {
        let props = &alarm["Properties"];
        for actions in ["AlarmActions", "OKActions"] {
            let topics: Vec<&str> = as_list(&props[actions]).into_iter().map(ref_of).collect();
            assert_eq!(topics, ["OperatorsTopic"], "{id} {actions}");
        }
        let name = str_of(intrinsic(&props["AlarmName"], "Sub").unwrap());
        assert!(name.starts_with("${AWS::StackName}-"), "{id}: {name}");
        assert!(names.insert(name), "{id}: {name} twice");
    }
    // A concurrency alarm only where the function has reserved concurrency.
    for prefix in prefixes() {
        let alarm = resource(&template, &format!("{prefix}ConcurrencyAlarm"));
        assert_eq!(
            alarm["Condition"].as_str(),
            Some(format!("{prefix}Reserved").as_str())
        );
        // The duration alarm compares with this function's own timeout.
        let duration = serde_norway::to_string(
            &resource(&template, &format!("{prefix}DurationAlarm"))["Properties"]["Metrics"],
        )
        .unwrap();
        assert!(
            duration.contains(&format!("${{{prefix}Timeout}}")),
            "{duration}"
        );
    }
    // The API's alarms read the runtime's own metrics (runtime/src/metrics.rs).
    let rate =
        serde_norway::to_string(&resource(&template, "Api5xxRateAlarm")["Properties"]).unwrap();
    for needed in [
        format!("Namespace: {}", noteapp_runtime::metrics::NAMESPACE),
        "MetricName: Errors5xx".into(),
        "MetricName: Requests".into(),
        "Name: Function".into(),
    ] {
        assert!(rate.contains(&needed), "{needed} not in {rate}");
    }
    let latency = &resource(&template, "ApiLatencyAlarm")["Properties"];
    assert_eq!(latency["ExtendedStatistic"].as_str(), Some("p99"));
    assert_eq!(
        latency["Namespace"].as_str(),
        Some(noteapp_runtime::metrics::NAMESPACE)
    );
    // WebSocket integration errors on the stage (ApiId and Stage).
    let ws = &resource(&template, "WebSocketIntegrationErrorsAlarm")["Properties"];
    let dimensions: Vec<&str> = as_list(&ws["Dimensions"])
        .into_iter()
        .map(|d| str_of(&d["Name"]))
        .collect();
    assert_eq!(dimensions, ["ApiId", "Stage"]);
    // The composite: the API's 5xx rate and latency, the app's function errors, the WebSocket
    // integration errors; not the queue's backlog nor the guard's own errors.
    let rule = str_of(
        intrinsic(
            &resource(&template, "ReleaseHealthAlarm")["Properties"]["AlarmRule"],
            "Sub",
        )
        .unwrap(),
    );
    let mut watched = vec![
        "Api5xxRateAlarm".to_owned(),
        "ApiLatencyAlarm".to_owned(),
        "WebSocketIntegrationErrorsAlarm".to_owned(),
    ];
    watched.extend(
        prefixes()
            .filter(|p| *p != "Guard")
            .map(|p| format!("{p}ErrorsAlarm")),
    );
    for alarm in &watched {
        assert!(
            rule.contains(&format!("ALARM(\"${{{alarm}}}\")")),
            "{alarm}: {rule}"
        );
    }
    assert_eq!(rule.matches("ALARM(").count(), watched.len(), "{rule}");
    assert_eq!(rule.matches(" OR ").count(), watched.len() - 1, "{rule}");
}

#[test]
fn the_guard_runs_every_minute_and_when_release_health_goes_to_alarm() {
    let template = template();
    let schedule = &resource(&template, "GuardSchedule")["Properties"];
    assert_eq!(
        schedule["ScheduleExpression"].as_str(),
        Some("rate(1 minute)")
    );
    let rule = &resource(&template, "GuardAlarmRule")["Properties"];
    let pattern = &rule["EventPattern"];
    assert_eq!(str_of(as_list(&pattern["source"])[0]), "aws.cloudwatch");
    assert_eq!(
        str_of(as_list(&pattern["detail-type"])[0]),
        "CloudWatch Alarm State Change"
    );
    assert_eq!(
        intrinsic(as_list(&pattern["resources"])[0], "GetAtt").map(str_of),
        Some("ReleaseHealthAlarm.Arn")
    );
    assert_eq!(
        str_of(as_list(&pattern["detail"]["state"]["value"])[0]),
        "ALARM"
    );
    for trigger in [schedule, rule] {
        let target = as_list(&trigger["Targets"])[0];
        assert_eq!(ref_of(&target["Arn"]), "GuardLiveAlias");
    }
    // It watches every function by name, and the alarm by the name the alarm has.
    let vars = &resource(&template, "GuardFunction")["Properties"]["Environment"]["Variables"];
    let guarded = str_of(intrinsic(&vars["GUARDED_FUNCTIONS"], "Sub").unwrap());
    for prefix in prefixes().filter(|p| *p != "Guard") {
        assert!(
            guarded.contains(&format!("${{{prefix}Function}}")),
            "{guarded}"
        );
    }
    assert!(guarded.ends_with(",${AWS::StackName}-guard"), "{guarded}");
    let guard_name = intrinsic(
        &resource(&template, "GuardFunction")["Properties"]["FunctionName"],
        "Sub",
    )
    .map(str_of);
    assert_eq!(guard_name, Some("${AWS::StackName}-guard"));
    assert_eq!(
        intrinsic(&vars["RELEASE_HEALTH_ALARM"], "Sub").map(str_of),
        intrinsic(
            &resource(&template, "ReleaseHealthAlarm")["Properties"]["AlarmName"],
            "Sub"
        )
        .map(str_of)
    );
    assert_eq!(ref_of(&vars["OPERATORS_TOPIC_ARN"]), "OperatorsTopic");
    // Its role: the stack's live aliases, the alarm's state, the operators' topic.
    let mine: Vec<&Value> = statements(&template)
        .into_iter()
        .filter(|(role, _)| *role == "GuardRole")
        .map(|(_, s)| s)
        .collect();
    let find = |action: &str| {
        mine.iter()
            .find(|s| as_list(&s["Action"]).iter().any(|a| str_of(a) == action))
            .unwrap_or_else(|| panic!("the guard may not {action}"))
    };
    let aliases: Vec<&str> = as_list(&find("lambda:UpdateAlias")["Resource"])
        .into_iter()
        .map(|r| str_of(intrinsic(r, "Sub").unwrap()))
        .collect();
    assert_eq!(
        aliases,
        [
            "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-*",
            "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-*:live",
        ]
    );
    assert!(
        as_list(&find("lambda:GetAlias")["Action"])
            .iter()
            .any(|a| str_of(a) == "lambda:UpdateAlias")
    );
    assert_eq!(
        find("cloudwatch:DescribeAlarms")["Resource"].as_str(),
        Some("*")
    );
    assert_eq!(ref_of(&find("sns:Publish")["Resource"]), "OperatorsTopic");
}
