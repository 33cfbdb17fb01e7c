//! One rule per domain value, wherever it is read: the same Firebase project ids are accepted or
//! refused alike by the environment file (the deployer), `noteapp local` (its flag), the deployed
//! functions' configuration (their variables) and the stack's parameter (its `AllowedPattern`).

use std::collections::HashMap;
use std::process::{Command, Stdio};

use noteapp_runtime::settings::{Environment, FirebaseProjectId, LogLevel};

/// Each id, and whether Google Cloud's rule accepts it.
const PROJECT_IDS: &[(&str, bool)] = &[
    ("my-notes-app", true),
    ("next-fastapi-note-app", true),
    ("abcdef", true),
    ("a00000", true),
    ("abcdefghijklmnopqrstuvwxyz0123", true),   // 30
    ("abcde", false),                           // 5
    ("abcdefghijklmnopqrstuvwxyz01234", false), // 31
    ("1notes", false),
    ("-notes", false),
    ("notes-", false),
    ("My-notes", false),
    ("my_notes", false),
    ("my.notes", false),
    ("my notes", false),
    ("", false),
];

fn environment_file(project: &str) -> String {
    let staging = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../environments/staging.yaml"
    ))
    .unwrap();
    let line = "firebase_project_id: next-fastapi-note-app";
    assert!(staging.contains(line), "environments/staging.yaml changed");
    staging.replace(line, &format!("firebase_project_id: {project:?}"))
}

fn deployer_accepts(project: &str) -> bool {
    noteapp::config::parse("staging", &environment_file(project)).is_ok()
}

fn local_flag_accepts(project: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_noteapp"))
        .args([
            "local",
            "token",
            "--uid",
            "alice",
            "--firebase-project",
            project,
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    match status.code() {
        Some(0) => true,
        Some(2) => false,
        other => panic!("noteapp local token --firebase-project {project:?}: exit {other:?}"),
    }
}

fn deployed_config_accepts(project: &str) -> bool {
    let vars: HashMap<String, String> = [
        ("ENVIRONMENT", "staging"),
        ("FIREBASE_PROJECT_ID", project),
        ("NOTES_TABLE", "notes"),
        ("USERS_TABLE", "users"),
        ("COMMENTS_TABLE", "comments"),
        ("CONTROL_TABLE", "control"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    noteapp_runtime::config::map_vars(vars).api().is_ok()
}

fn template_parameter_pattern() -> String {
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../templates/noteapp.yaml"
    ))
    .unwrap();
    let after = template
        .split("\n  FirebaseProjectId:\n")
        .nth(1)
        .expect("the FirebaseProjectId parameter");
    let line = after
        .lines()
        .find_map(|l| l.trim().strip_prefix("AllowedPattern: "))
        .expect("its AllowedPattern");
    line.trim_matches('"').to_owned()
}

#[test]
fn a_project_id_is_accepted_or_refused_alike_by_every_reader() {
    let pattern = template_parameter_pattern();
    assert_eq!(pattern, FirebaseProjectId::PATTERN);
    let allowed = regex_lite::Regex::new(&pattern).unwrap();
    for &(project, valid) in PROJECT_IDS {
        let readers = [
            ("the rule", FirebaseProjectId::parse(project).is_ok()),
            ("the environment file", deployer_accepts(project)),
            (
                "noteapp local --firebase-project",
                local_flag_accepts(project),
            ),
            (
                "the deployed functions' FIREBASE_PROJECT_ID",
                deployed_config_accepts(project),
            ),
            (
                "the stack parameter's AllowedPattern",
                allowed.is_match(project),
            ),
        ];
        for (reader, accepted) in readers {
            assert_eq!(accepted, valid, "{reader} on {project:?}");
        }
    }
}

#[test]
fn environments_and_log_levels_are_read_alike_by_the_deployer_and_the_functions() {
    for name in [
        "development",
        "staging",
        "production",
        "prod",
        "Staging",
        "",
    ] {
        let parsed = Environment::parse(name);
        let vars: HashMap<String, String> = [("ENVIRONMENT".to_owned(), name.to_owned())].into();
        let deployed = noteapp_runtime::config::map_vars(vars).common();
        assert_eq!(deployed.is_ok(), parsed.is_ok(), "ENVIRONMENT={name:?}");
        if let (Ok(deployed), Ok(parsed)) = (deployed, parsed) {
            assert_eq!(deployed.environment, parsed, "ENVIRONMENT={name:?}");
        }
    }
    for level in [
        "error", "warn", "info", "debug", "trace", "verbose", "INFO", "",
    ] {
        let parsed = LogLevel::parse(level);
        let vars: HashMap<String, String> = [
            ("ENVIRONMENT".to_owned(), "staging".to_owned()),
            ("LOG_LEVEL".to_owned(), level.to_owned()),
        ]
        .into();
        let deployed = noteapp_runtime::config::map_vars(vars).common();
        if level.is_empty() {
            // An empty variable counts as unset: the default level.
            assert_eq!(deployed.unwrap().log_level, LogLevel::Info);
        } else {
            assert_eq!(deployed.is_ok(), parsed.is_ok(), "LOG_LEVEL={level:?}");
        }
        // The environment file takes the same names (trace needs its own consent in staging).
        let file = environment_file("next-fastapi-note-app")
            .replace("log_level: debug", &format!("log_level: {level:?}"));
        let from_file = noteapp::config::parse("staging", &file);
        if level != "trace" {
            assert_eq!(from_file.is_ok(), parsed.is_ok(), "log_level: {level:?}");
        }
    }
}
