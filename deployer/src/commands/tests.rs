//! The release commands run from their command lines, as `noteapp` runs them
//! ([`crate::cli::Command::run`]): the environment file read from a root, the account checked,
//! the flow, the report printed. Each runs on the replayed stack (`aws::replay::releases`),
//! given the clients its one [`Clients::load`] returns, so every request it makes is decided by
//! the test kit for the deployer holding the deploy policy.

use std::collections::BTreeMap;
use std::path::Path;

use clap::Parser;
use noteapp_runtime::functions::Function;

use crate::aws::Clients;
use crate::aws::replay::releases::{STACK, World, image, release_id, with_versions};
use crate::cli::Cli;
use crate::error::Error;

/// A checkout holding the template and staging's environment file as the replayed stack has
/// it: in eu-west-1, released as a 10 % canary for 5 minutes.
pub(crate) fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let workspace = noteapp_test_support::workspace();
    for folder in ["templates", "environments"] {
        std::fs::create_dir(dir.path().join(folder)).unwrap();
    }
    let template = crate::template::TEMPLATE_PATH;
    std::fs::copy(workspace.join(template), dir.path().join(template)).unwrap();
    let staging = std::fs::read_to_string(workspace.join("environments/staging.yaml")).unwrap();
    assert!(staging.contains("strategy: all_at_once"), "{staging}");
    let staging = staging.replace("ap-northeast-1", "eu-west-1").replace(
        "strategy: all_at_once",
        "strategy: canary\n  share: 10\n  minutes: 5",
    );
    std::fs::write(dir.path().join("environments/staging.yaml"), staging).unwrap();
    dir
}

/// `noteapp ARGS --root ROOT`, its clients `clients`.
pub(crate) async fn noteapp_given(
    clients: Clients,
    root: &Path,
    args: &[&str],
) -> Result<(), Error> {
    let line = ["noteapp"]
        .iter()
        .chain(args)
        .map(|arg| arg.to_string())
        .chain(["--root".to_owned(), root.display().to_string()]);
    let cli = Cli::try_parse_from(line).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    Clients::given(clients, cli.command.run()).await
}

/// `noteapp ARGS --root ROOT` against `world`.
async fn noteapp(world: &World, root: &Path, args: &[&str]) -> Result<(), Error> {
    noteapp_given(world.clients(), root, args).await
}

/// Every function's live alias serves `version` alone, noted as `release`'s.
fn serves(world: &World, version: &str, release: u64) {
    for function in Function::ALL {
        let alias = world.alias(function);
        assert_eq!(
            alias.shares(),
            BTreeMap::from([(version.to_owned(), 1.0)]),
            "{function:?}"
        );
        assert_eq!(
            alias.description,
            format!("noteapp live release={}", release_id(release)),
            "{function:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_deploy_status_outputs_and_rollback_run_from_their_command_lines() {
    // Releases 1 to 3 published versions 1 to 3; the aliases serve 3.
    let world = World::new(vec![
        with_versions(3, "3"),
        with_versions(2, "2"),
        with_versions(1, "1"),
    ]);
    let checkout = checkout();
    let root = checkout.path();
    serves(&world, "3", 3);

    noteapp(&world, root, &["history", "staging"])
        .await
        .unwrap();
    noteapp(&world, root, &["diff", "staging", "--image-uri", &image(4)])
        .await
        .unwrap();
    assert_eq!(
        world.cfn_calls()["ExecuteChangeSet"],
        0,
        "diff executes nothing"
    );
    // The template is over CloudFormation's inline limit: the diff's change set read it from the
    // releases bucket, where it is gone once the change set was computed.
    let staged = crate::release::diff_template_key(STACK);
    let put = world
        .services
        .server
        .requests()
        .iter()
        .filter(|r| r.method == http::Method::PUT && r.path().ends_with(&staged))
        .count();
    assert_eq!(put, 1, "the diff's template was put once");
    let bucket = crate::release::bucket_name("123456789012", "eu-west-1");
    assert_eq!(world.services.object(&bucket, &staged), None);

    let new = image(4);
    let deploy = [
        "deploy",
        "staging",
        "--image-uri",
        &new,
        "--yes",
        "--no-smoke",
        "--no-canary",
        "--poll-interval",
        "0",
    ];
    noteapp(&world, root, &deploy).await.unwrap();
    // The stack's update published version 4 of every function and pointed the aliases at it.
    assert_eq!(world.cfn_calls()["ExecuteChangeSet"], 1);
    assert_eq!(world.created().last().unwrap().0["ImageUri"], new);
    let deployed = world.stack.lock().unwrap().versions.clone();
    for (function, (_, version)) in &deployed {
        assert_eq!(version, "4", "{function}");
    }

    noteapp(&world, root, &["status", "staging"]).await.unwrap();
    noteapp(&world, root, &["outputs", "staging"])
        .await
        .unwrap();
    noteapp(&world, root, &["history", "staging", "--json"])
        .await
        .unwrap();

    // Release 3 has this template and parameters and its versions are kept: the rollback moves
    // the aliases back, with no stack operation.
    let executed = world.cfn_calls()["ExecuteChangeSet"];
    noteapp(
        &world,
        root,
        &[
            "rollback",
            "staging",
            "--yes",
            "--no-smoke",
            "--poll-interval",
            "0",
        ],
    )
    .await
    .unwrap();
    serves(&world, "3", 3);
    assert_eq!(world.cfn_calls()["ExecuteChangeSet"], executed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_line_for_another_account_or_a_local_environment_changes_nothing() {
    // Releases 2 and 3 published versions 1 and 2; the aliases serve 2.
    let world = World::new(vec![with_versions(3, "2"), with_versions(2, "1")]);
    let checkout = checkout();
    let root = checkout.path();
    let staging = root.join("environments/staging.yaml");
    let text = std::fs::read_to_string(&staging).unwrap();
    std::fs::write(
        &staging,
        text.replace("\"123456789012\"", "\"210987654321\""),
    )
    .unwrap();
    let refused = noteapp(
        &world,
        root,
        &["deploy", "staging", "--image-uri", &image(4), "--yes"],
    )
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("210987654321"), "{refused}");
    let development = "environments/development.yaml";
    std::fs::copy(
        noteapp_test_support::workspace().join(development),
        root.join(development),
    )
    .unwrap();
    let refused = noteapp(&world, root, &["status", "development"])
        .await
        .unwrap_err();
    assert_eq!(refused.exit_code(), crate::EXIT_USAGE, "{refused}");
    assert!(world.cfn_calls().values().all(|n| *n == 0));
    serves(&world, "2", 3);
}
