//! Environment files, good and bad: each bad file is one error naming the file, line and key.

use std::path::Path;

use super::*;

/// A complete staging file; line numbers below refer to it.
const STAGING: &str = "\
stack_name: noteapp-staging
region: ap-northeast-1
account_id: \"123456789012\"
log_level: info
log_retention_days: 7
allowed_origins:
  - https://staging.example.com
firebase_project_id: notes-staging
architecture: x86_64
confirm_changes: false
tables:
  point_in_time_recovery: true
  deletion_protection: false
functions:
  defaults:
    memory_mb: 256
    timeout_seconds: 10
  api:
    memory_mb: 512
tags:
  Owner: team
";

fn error(name: &str, text: &str) -> String {
    parse(name, text).unwrap_err().to_string()
}

/// Asserts the message names the file, the line and every fragment.
fn assert_names(message: &str, file: &str, line: usize, fragments: &[&str]) {
    let place = format!("{file}, line {line}: ");
    assert!(
        message.starts_with(&place),
        "expected {place:?} at the start of: {message}"
    );
    for fragment in fragments {
        assert!(
            message.contains(fragment),
            "expected {fragment:?} in: {message}"
        );
    }
}

#[test]
fn a_complete_file_parses_with_defaults_applied() {
    let config = parse("staging", STAGING).unwrap();
    assert_eq!(config.stack_name, "noteapp-staging");
    assert_eq!(config.log_retention_days, 7);
    assert_eq!(
        config.functions.get(Function::Api),
        FunctionSettings {
            memory_mb: 512,
            timeout_seconds: 10,
            reserved_concurrency: None,
        }
    );
    assert_eq!(
        config.functions.get(Function::WsBroadcast),
        FunctionSettings {
            memory_mb: 256,
            timeout_seconds: 10,
            reserved_concurrency: None,
        }
    );
    assert_eq!(config.tags.get("Owner").map(String::as_str), Some("team"));
    assert!(!config.is_local_only());
}

#[test]
fn reserved_concurrency_and_rate_limits_are_read_per_function_and_per_key() {
    let text = STAGING.replace(
        "    memory_mb: 512\n",
        "    memory_mb: 512\n    reserved_concurrency: 50\n",
    ) + "rate_limits:\n  comments: 5/min\n  ws_connections_per_user: 3\n";
    let config = parse("staging", &text).unwrap();
    assert_eq!(
        config.functions.get(Function::Api).reserved_concurrency,
        Some(50)
    );
    assert_eq!(
        config
            .functions
            .get(Function::WsConnect)
            .reserved_concurrency,
        None
    );
    assert_eq!(config.rate_limits.comments.to_string(), "5/min");
    assert_eq!(config.rate_limits.ws_connections_per_user, 3);
    assert_eq!(
        config.rate_limits.comments_anonymous,
        RateLimits::DEFAULT.comments_anonymous
    );
    // Without the key, the runtime's defaults.
    assert_eq!(
        parse("staging", STAGING).unwrap().rate_limits,
        RateLimits::DEFAULT
    );

    let bad = format!("{STAGING}rate_limits:\n  comments: lots\n");
    assert_names(
        &error("staging", &bad),
        "environments/staging.yaml",
        23,
        &["rate_limits.comments", "N/min"],
    );
    let unknown = format!("{STAGING}rate_limits:\n  coments: 5/min\n");
    assert_names(
        &error("staging", &unknown),
        "environments/staging.yaml",
        23,
        &["rate_limits.coments", "comments_anonymous"],
    );
    let zero = STAGING.replace(
        "    memory_mb: 512\n",
        "    memory_mb: 512\n    reserved_concurrency: 0\n",
    );
    assert_names(
        &error("staging", &zero),
        "environments/staging.yaml",
        20,
        &["functions.api.reserved_concurrency", "1 to 100000"],
    );
    let in_defaults = STAGING.replace(
        "    timeout_seconds: 10\n",
        "    timeout_seconds: 10\n    reserved_concurrency: 5\n",
    );
    assert!(error("staging", &in_defaults).contains("unknown field `reserved_concurrency`"));
}

#[test]
fn a_typo_in_a_key_names_file_line_and_key() {
    let text = STAGING.replace("    memory_mb: 512", "    memroy_mb: 512");
    let message = error("staging", &text);
    assert_names(
        &message,
        "environments/staging.yaml",
        19,
        &["functions.api", "unknown field `memroy_mb`", "memory_mb"],
    );
    let text = STAGING.replace("  api:\n", "  apis:\n");
    let message = error("staging", &text);
    assert!(
        message.starts_with("environments/staging.yaml, line ")
            && message.contains("unknown field `apis`")
            && message.contains("`api`, `ws_connect`"),
        "{message}"
    );
    let text = STAGING.replace("log_level: info", "log_levle: info");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        4,
        &["unknown field `log_levle`", "log_level"],
    );
}

#[test]
fn a_wrong_type_names_file_line_and_key() {
    let text = STAGING.replace("log_retention_days: 7", "log_retention_days: seven");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        5,
        &["log_retention_days", "invalid type"],
    );
    let text = STAGING.replace("confirm_changes: false", "confirm_changes: maybe");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        10,
        &["confirm_changes"],
    );
}

#[test]
fn a_value_out_of_its_type_or_range_names_file_line_key_and_what_it_takes() {
    for (value, fragment) in [
        ("-1", "integer `-1`, expected a number of MB"),
        ("5000000000", "5000000000 is far too large"),
        ("64", "64 is out of range: use 128 to 10240 MB of memory"),
    ] {
        let text = STAGING.replace("    memory_mb: 256", &format!("    memory_mb: {value}"));
        assert_names(
            &error("staging", &text),
            "environments/staging.yaml",
            16,
            &["functions.defaults.memory_mb", fragment],
        );
    }
    let text = STAGING.replace("region: ap-northeast-1", "region: [ap-northeast-1]");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        2,
        &[
            "region",
            "invalid type: sequence, expected an AWS region name",
        ],
    );
}

#[test]
fn a_missing_value_names_the_key() {
    // A missing key is reported at the start of the mapping that lacks it.
    let text = STAGING.replace("region: ap-northeast-1\n", "");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        1,
        &["missing field `region`", "add it"],
    );
    let text = STAGING.replace("    timeout_seconds: 10\n", "");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        16,
        &["functions.defaults", "missing field `timeout_seconds`"],
    );
    let text = STAGING.replace("  deletion_protection: false\n", "");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        12,
        &["tables", "missing field `deletion_protection`"],
    );
}

#[test]
fn any_origin_is_refused_for_production_only() {
    let text = STAGING
        .replace("  - https://staging.example.com", "  - '*'")
        .replace("confirm_changes: false", "confirm_changes: true");
    assert_eq!(parse("staging", &text).unwrap().allowed_origins, ["*"]);
    let message = error("production", &text);
    assert_names(
        &message,
        "environments/production.yaml",
        7,
        &["allowed_origins", "`*` is refused for production"],
    );
    let flow = text.replace("allowed_origins:\n  - '*'", "allowed_origins: [\"*\"]");
    assert_names(
        &error("production", &flow),
        "environments/production.yaml",
        6,
        &["allowed_origins"],
    );
}

#[test]
fn an_origin_with_a_path_is_refused() {
    let text = STAGING.replace(
        "https://staging.example.com",
        "https://staging.example.com/app",
    );
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        7,
        &["allowed_origins", "drop the path"],
    );
}

#[test]
fn a_bad_account_id_names_file_line_and_key() {
    let text = STAGING.replace("\"123456789012\"", "\"12345\"");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        3,
        &["account_id", "12 digits"],
    );
    let unquoted = STAGING.replace("\"123456789012\"", "012345678901");
    assert_eq!(
        parse("staging", &unquoted).unwrap().account_id,
        "012345678901"
    );
}

#[test]
fn a_bad_retention_names_file_line_and_key() {
    let text = STAGING.replace("log_retention_days: 7", "log_retention_days: 10");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        5,
        &["log_retention_days", "1, 3, 5, 7, 14"],
    );
}

#[test]
fn bad_levels_sizes_and_tags_are_named() {
    let text = STAGING.replace("log_level: info", "log_level: loud");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        4,
        &[
            "log_level",
            "\"loud\" is not one of error, warn, info, debug, trace",
        ],
    );
    let text = STAGING.replace("memory_mb: 512", "memory_mb: 64");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        19,
        &["functions.api.memory_mb", "128 to 10240"],
    );
    let text = STAGING.replace("  Owner: team", "  Environment: prod");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        21,
        &["tags.Environment", "set by noteapp"],
    );
}

#[test]
fn production_must_confirm_change_sets() {
    let message = error("production", STAGING);
    assert_names(
        &message,
        "environments/production.yaml",
        10,
        &["confirm_changes", "set it to true"],
    );
}

#[test]
fn unknown_environments_list_the_choices() {
    let message = error("prod", STAGING);
    assert!(
        message.contains("\"prod\"") && message.contains("development, staging, production"),
        "{message}"
    );
}

#[test]
fn development_is_local_only() {
    let config = parse("development", STAGING).unwrap();
    assert!(config.is_local_only());
    let text = format!("local_only: true\n{STAGING}");
    assert!(parse("staging", &text).unwrap().is_local_only());
}

#[test]
fn an_empty_file_is_an_error_naming_the_file() {
    let message = error("staging", "");
    assert!(
        message.starts_with("environments/staging.yaml"),
        "{message}"
    );
}

#[test]
fn the_repository_files_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for name in Environment::ALL.map(Environment::as_str) {
        let config = load(root, name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.name(), name);
    }
    assert_eq!(load(root, "staging").unwrap().log_retention_days, 7);
    let production = load(root, "production").unwrap();
    assert_eq!(production.log_retention_days, 30);
    assert!(production.confirm_changes && production.tables.deletion_protection);
    assert!(load(root, "development").unwrap().is_local_only());
}

#[test]
fn the_root_is_found_from_below_and_a_wrong_root_is_named() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let below = root.join("deployer").join("src");
    assert_eq!(locate_root(None, &below).unwrap(), root);
    let message = locate_root(Some(&below), root).unwrap_err().to_string();
    assert!(
        message.contains("--root") && message.contains("NOTEAPP_ROOT"),
        "{message}"
    );
}

#[test]
fn the_release_strategy_defaults_per_environment() {
    assert_eq!(
        parse("staging", STAGING).unwrap().release,
        ReleaseStrategy::AllAtOnce
    );
    let confirmed = STAGING.replace("confirm_changes: false", "confirm_changes: true");
    assert_eq!(
        parse("production", &confirmed).unwrap().release,
        ReleaseStrategy::Canary {
            share: DEFAULT_CANARY_SHARE,
            minutes: DEFAULT_CANARY_MINUTES
        }
    );
    let canary = format!("{STAGING}release:\n  strategy: canary\n  share: 25\n");
    assert_eq!(
        parse("staging", &canary).unwrap().release,
        ReleaseStrategy::Canary {
            share: 25,
            minutes: DEFAULT_CANARY_MINUTES
        }
    );
    let all = format!("{confirmed}release:\n  strategy: all_at_once\n");
    assert_eq!(
        parse("production", &all).unwrap().release,
        ReleaseStrategy::AllAtOnce
    );
}

#[test]
fn a_bad_release_setting_names_file_line_and_key() {
    // Lines 22-24: release, strategy, share.
    let text = format!("{STAGING}release:\n  strategy: all_at_once\n  share: 10\n");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        24,
        &["release.share", "canary"],
    );
    let text = format!("{STAGING}release:\n  strategy: canary\n  share: 100\n");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        24,
        &["release.share", "all_at_once"],
    );
    let text = format!("{STAGING}release:\n  strategy: canary\n  minutes: 0\n");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        24,
        &["release.minutes", "1 to 60"],
    );
    let text = format!("{STAGING}release:\n  strategy: blue_green\n");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        23,
        &["release.strategy", "all_at_once", "canary"],
    );
}

#[test]
fn alarm_thresholds_default_and_read_the_file() {
    assert_eq!(parse("staging", STAGING).unwrap().alarms, DEFAULT_ALARMS);
    let text = format!(
        "{STAGING}alarms:\n  email: [oncall@example.com, lead@example.com]\n  api_5xx_percent: 5\n"
    );
    let alarms = parse("staging", &text).unwrap().alarms;
    assert_eq!(alarms.email, ["oncall@example.com", "lead@example.com"]);
    assert_eq!(alarms.api_5xx_percent, 5);
    assert_eq!(alarms.api_p99_latency_ms, DEFAULT_ALARMS.api_p99_latency_ms);
}

#[test]
fn a_bad_alarm_setting_names_file_line_and_key() {
    // Lines 22-24: alarms, then the key.
    let text = format!("{STAGING}alarms:\n  email: [oncall]\n");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        23,
        &["alarms.email", "oncall@example.com"],
    );
    let six: Vec<String> = (1..=6).map(|i| format!("o{i}@example.com")).collect();
    let text = format!("{STAGING}alarms:\n  email: [{}]\n", six.join(", "));
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        23,
        &["alarms.email", "at most 5"],
    );
    let text = format!("{STAGING}alarms:\n  duration_percent_of_timeout: 150\n");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        23,
        &["alarms.duration_percent_of_timeout", "1 to 100"],
    );
    let text = format!("{STAGING}alarms:\n  api_5xx_rate: 5\n");
    assert_names(
        &error("staging", &text),
        "environments/staging.yaml",
        23,
        &["unknown field `api_5xx_rate`", "api_5xx_percent"],
    );
}

#[test]
fn the_repository_files_state_their_release_and_alarms() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let production = load(root, "production").unwrap();
    assert_eq!(
        production.release,
        ReleaseStrategy::Canary {
            share: 10,
            minutes: 5
        }
    );
    let staging = load(root, "staging").unwrap();
    assert_eq!(staging.release, ReleaseStrategy::AllAtOnce);
    for config in [&production, &staging] {
        // The files state the defaults as they are.
        assert_eq!(config.alarms, DEFAULT_ALARMS, "{}", config.name());
        assert_eq!(
            config.release,
            ReleaseStrategy::default_for(config.environment)
        );
    }
}
