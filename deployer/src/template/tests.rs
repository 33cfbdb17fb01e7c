//! Rendering: the plan's parameters, tags and stateful resources, image references, and
//! snapshots of what `noteapp render` prints for staging and production.

use std::path::Path;

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

/// What `noteapp render staging` prints, with the placeholder image.
#[test]
fn staging_render_snapshot() {
    insta::assert_snapshot!("staging", human(&staging_plan()));
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
        human(&plan(&config, &body(), &image).unwrap())
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
