//! Rendering: the plan's parameters, tags and stateful resources, image references, and
//! snapshots of what `noteapp render` prints for staging and production.

use std::path::Path;

use noteapp_runtime::functions::Function;
use noteapp_runtime::store::schema::ALL_TABLES;

use super::*;
use crate::commands::render::human;
use crate::config;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn body() -> String {
    read_template(root()).unwrap()
}

fn staging_plan() -> Plan {
    let config = config::load(root(), "staging").unwrap();
    plan(&config, &body(), &placeholder_image_uri(&config)).unwrap()
}

/// `human` with the plan's own alarm cost, as `noteapp render` prints it.
fn rendered(plan: &Plan) -> String {
    let cost = alarms::alarm_cost(&plan.template_body, &plan.parameters).unwrap();
    human(plan, &cost)
}

/// What `noteapp render staging` prints, with the placeholder image.
#[test]
fn staging_render_snapshot() {
    insta::assert_snapshot!("staging", rendered(&staging_plan()));
}

/// What `noteapp render production --image-uri …` prints.
#[test]
fn production_render_snapshot() {
    let config = config::load(root(), "production").unwrap();
    let image = format!(
        "210987654321.dkr.ecr.ap-northeast-1.amazonaws.com/noteapp@sha256:{}",
        "ab".repeat(32)
    );
    insta::assert_snapshot!(
        "production",
        rendered(&plan(&config, &body(), &image).unwrap())
    );
}

#[test]
fn rendering_is_deterministic_and_complete() {
    let plan = staging_plan();
    assert_eq!(plan, staging_plan());
    let get = |k: &str| {
        plan.parameters
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("Environment"), Some("staging"));
    assert_eq!(get("LogRetentionDays"), Some("7"));
    assert_eq!(get("ApiMemorySize"), Some("512"));
    assert_eq!(get("WsBroadcastTimeout"), Some("900"));
    assert_eq!(
        get("AllowedOrigins"),
        Some("https://staging.noteapp.example,http://localhost:3000")
    );
    assert!(plan.tags.contains(&("Project".into(), "noteapp".into())));
    assert!(
        plan.tags
            .contains(&("Environment".into(), "staging".into()))
    );
    let tables: Vec<&str> = ALL_TABLES.iter().map(|t| t.logical_id).collect();
    assert_eq!(plan.stateful_resources, tables);
}

#[test]
fn a_parameter_the_template_lacks_is_refused() {
    let config = config::load(root(), "staging").unwrap();
    let body = body().replace("  LogLevel:\n", "  LogVerbosity:\n");
    let message = plan(&config, &body, &placeholder_image_uri(&config))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("LogVerbosity") && message.contains("LogLevel"),
        "{message}"
    );
}

#[test]
fn image_references_are_checked() {
    let digest = "0123456789abcdef".repeat(4);
    for good in [
        format!("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/noteapp@sha256:{digest}"),
        "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/team/noteapp:v1.2".to_owned(),
        "127.0.0.1:5000/noteapp:latest".to_owned(),
    ] {
        assert!(check_image_uri(&good).is_ok(), "{good}");
    }
    for (bad, why) in [
        ("noteapp@sha256:abc", "digest"),
        ("noteapp:latest", "registry"),
        ("registry.example.com/noteapp", "neither"),
        ("registry.example.com/NoteApp:1", "repository"),
        ("registry.example.com/noteapp@sha256:ABCDEF", "digest"),
    ] {
        let message = check_image_uri(bad).unwrap_err().to_string();
        assert!(
            message.contains(why) && message.contains("--image-uri"),
            "{bad}: {message}"
        );
    }
}

#[test]
fn the_import_template_holds_the_tables_alone_in_long_form_and_kept_whatever_happens() {
    let ids: Vec<&str> = ALL_TABLES.iter().map(|t| t.logical_id).collect();
    let (import, parameters) = import_template(&body(), &ids).unwrap();
    assert_eq!(
        parameters,
        vec!["DeletionProtection", "PointInTimeRecovery"]
    );
    let template: serde_json::Value = serde_json::from_str(&import).unwrap();
    let resources = template["Resources"].as_object().unwrap();
    assert_eq!(resources.len(), ALL_TABLES.len());
    for id in &ids {
        let table = &resources[*id];
        assert_eq!(table["Type"], "AWS::DynamoDB::Table");
        assert_eq!(table["DeletionPolicy"], "Retain");
        assert_eq!(table["UpdateReplacePolicy"], "Retain");
        assert_eq!(
            table["Properties"]["Tags"][0],
            serde_json::json!({"Key": "noteapp:stack", "Value": {"Ref": "AWS::StackName"}})
        );
        assert_eq!(
            table["Properties"]["DeletionProtectionEnabled"],
            serde_json::json!({"Fn::If": ["DeletionProtectionOn", true, false]})
        );
    }
    assert_eq!(
        template["Conditions"]["PointInTimeRecoveryOn"],
        serde_json::json!({"Fn::Equals": [{"Ref": "PointInTimeRecovery"}, "true"]})
    );
    assert!(template["Parameters"]["DeletionProtection"].is_object());
    assert!(template["Parameters"].get("ImageUri").is_none());
    assert!(
        template["Conditions"]
            .get("CreateApiGatewayLogRole")
            .is_none()
    );
    assert!(template.get("Outputs").is_none());
    assert!(!import.contains("\"!"), "no short form left: {import}");
    assert!(import_template(&body(), &["NoSuchTable"]).is_err());
    // cfn-lint agrees it is a valid template, where the test command installed it.
    let lint = root().join(".venv/bin/cfn-lint");
    if lint.is_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("import.json");
        std::fs::write(&path, &import).unwrap();
        let out = std::process::Command::new(lint)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cfn-lint: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_stack_policy_denies_replacing_or_deleting_each_table_and_nothing_else() {
    let policy: serde_json::Value =
        serde_json::from_str(&stack_policy(&staging_plan().stateful_resources)).unwrap();
    let deny = &policy["Statement"][1];
    assert_eq!(deny["Effect"], "Deny");
    assert_eq!(
        deny["Action"],
        serde_json::json!(["Update:Replace", "Update:Delete"])
    );
    assert_eq!(
        deny["Resource"],
        serde_json::json!([
            "LogicalResourceId/NotesTable",
            "LogicalResourceId/UsersTable",
            "LogicalResourceId/CommentsTable",
            "LogicalResourceId/ConnectionsTable",
            "LogicalResourceId/ControlTable"
        ])
    );
    assert_eq!(policy["Statement"][0]["Action"], "Update:*");
}

/// `plan`'s parameter `key`.
fn parameter<'a>(plan: &'a Plan, key: &str) -> &'a str {
    plan.parameter(key)
        .unwrap_or_else(|| panic!("no parameter {key}"))
}

#[test]
fn the_alarms_and_their_monthly_cost_are_rendered() {
    let mut plan = staging_plan();
    let cost = alarms::alarm_cost(&plan.template_body, &plan.parameters).unwrap();
    // API 5xx rate (2 metrics) and p99 latency; per function (7) errors, throttles and
    // duration; WebSocket integration errors; the on-failure queue; per table (4) and cause
    // (2) a throttle alarm of 2 metrics; per function with reserved concurrency (staging
    // reserves for all 7) its concurrency; the composite.
    assert_eq!(
        cost,
        alarms::AlarmCost {
            count: 41,
            metric_alarms: 40,
            composite_alarms: 1,
            alarm_metrics: 49,
            monthly_usd: 5.40,
        }
    );
    // A function without reserved concurrency has no concurrency alarm.
    plan.set_parameter("ApiReservedConcurrency", "-1");
    let cost = alarms::alarm_cost(&plan.template_body, &plan.parameters).unwrap();
    assert_eq!((cost.count, cost.alarm_metrics), (40, 48));
    assert_eq!(cost.monthly_usd, 5.30);
    let text = rendered(&staging_plan());
    assert!(text.contains("\nalarms:\n  count: 41\n"), "{text}");
    assert!(text.contains("\n  monthly_usd: 5.4\n"), "{text}");
}

#[test]
fn the_release_strategy_renders_the_share_and_the_previous_weight_with_no_shift() {
    let staging = staging_plan();
    assert_eq!(parameter(&staging, "CanaryShare"), "100");
    assert_eq!(parameter(&staging, "PreviousWeight"), "0");
    let config = config::load(root(), "production").unwrap();
    let production = plan(&config, &body(), &placeholder_image_uri(&config)).unwrap();
    assert_eq!(parameter(&production, "CanaryShare"), "10");
    assert_eq!(parameter(&production, "PreviousWeight"), "0.9");
    for plan in [&staging, &production] {
        assert_eq!(parameter(plan, "ShiftDeadline"), "");
        for function in Function::ALL {
            assert_eq!(parameter(plan, &previous_version_parameter(function)), "");
        }
    }
    assert_eq!(previous_weight(25), "0.75");
    assert_eq!(previous_weight(1), "0.99");
    assert_eq!(previous_weight(50), "0.5");
}

#[test]
fn the_release_id_follows_the_image_and_the_configuration_but_not_a_shift() {
    let config = config::load(root(), "staging").unwrap();
    let image = |digest: &str| {
        format!("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/noteapp@sha256:{digest}")
    };
    let id = |plan: &Plan| ReleaseId::parse(parameter(plan, RELEASE_ID)).unwrap();
    let first = plan(&config, &body(), &image(&"ab".repeat(32))).unwrap();
    assert_eq!(id(&first).sequence, 0);
    assert_eq!(id(&first).image, "abababababab");
    let other_image = plan(&config, &body(), &image(&"cd".repeat(32))).unwrap();
    assert_eq!(id(&other_image).image, "cdcdcdcdcdcd");
    assert_eq!(id(&other_image).config, id(&first).config);
    // Another log level is a new configuration, so a new release of every function.
    let mut louder = config.clone();
    louder.log_level = config::LogLevel::Trace;
    let louder = plan(&louder, &body(), &image(&"ab".repeat(32))).unwrap();
    assert_ne!(id(&louder).config, id(&first).config);
    // Starting or ending a canary is not.
    let mut shifted = first.parameters.clone();
    for (key, value) in shifted.iter_mut() {
        if key.ends_with("PreviousVersion") {
            *value = "7".into();
        }
        if key == "ShiftDeadline" {
            *value = "2026-12-07T10:00:00Z".into();
        }
    }
    assert_eq!(
        release_id(&first.template_body, &image(&"ab".repeat(32)), &shifted),
        id(&first)
    );
    // An image named by tag has its name hashed instead.
    let tagged = release_id(&first.template_body, "127.0.0.1:5000/noteapp:v1", &shifted);
    assert_eq!(tagged.image.len(), 12);
}

#[test]
fn operator_emails_fill_their_places_in_order() {
    let mut config = config::load(root(), "staging").unwrap();
    config.alarms.email = vec!["oncall@example.com".into(), "lead@example.com".into()];
    let plan = plan(&config, &body(), &placeholder_image_uri(&config)).unwrap();
    assert_eq!(parameter(&plan, "OperatorEmail1"), "oncall@example.com");
    assert_eq!(parameter(&plan, "OperatorEmail2"), "lead@example.com");
    assert_eq!(parameter(&plan, "OperatorEmail3"), "");
    assert_eq!(parameter(&plan, "AlarmApi5xxPercent"), "1");
}
