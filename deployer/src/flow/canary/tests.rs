//! The canary against a replayed stack that does to the functions what CloudFormation does
//! (each change set's versions published and aliases pointed, in the signed-services
//! stand-in), the aliases and alarms answered by that stand-in, every request decided by the
//! kit, and a virtual clock: five minutes of watching run in milliseconds.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use noteapp_runtime::functions::Function;
use serde_json::json;

use super::*;
use crate::aws::replay;
use crate::aws::replay::releases::{
    API_5XX, HEALTH, STACK, World, config, image, recorded, release_id,
};
use crate::flow::replayed::{Image, deploy_image, finish, options};
use crate::flow::traffic::before;
use crate::progress::Captured;

const INTERVAL: Duration = Duration::from_secs(5);

/// The canary's settings on `world`'s virtual clock, release health read every [`INTERVAL`].
pub(crate) fn settings(world: &World) -> CanarySettings {
    CanarySettings {
        enabled: true,
        interval: INTERVAL,
        clock: world.clock.clone(),
    }
}

/// `noteapp deploy staging --image-uri <release 4's>` with the canary's `settings`.
pub(crate) async fn deploy(
    world: &World,
    config: &EnvironmentConfig,
    settings: CanarySettings,
) -> (Result<DeployReport, Error>, Captured) {
    deploy_image(&world.clients(), config, Image::Uri(&image(4)), settings).await
}

fn seconds_between(a: std::time::SystemTime, b: std::time::SystemTime) -> f64 {
    b.duration_since(a).unwrap_or_default().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_shifts_its_share_watches_its_minutes_then_moves_every_alias_to_the_release() {
    let world = World::new(vec![recorded(3), recorded(2), recorded(1)]);
    let started = world.clock.now();
    let (report, lines) = deploy(&world, &config(), settings(&world)).await;
    let report = report.unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    assert_eq!(report.result, DeployResult::Updated, "{}", lines.text());
    let canary = report.canary.clone().expect("a canary");
    assert_eq!(canary.outcome, Outcome::Finished, "{}", lines.text());
    // Five minutes, read every five seconds: at 0, 5, …, 300.
    assert_eq!(canary.polls, 61, "{}", lines.text());
    report.check().unwrap();

    // The weights over time, per function: the old release alone, 90/10, the new one alone.
    for function in Function::ALL {
        let changes = world.changes(function);
        let shares: Vec<BTreeMap<String, f64>> = changes.iter().map(|c| c.alias.shares()).collect();
        assert_eq!(
            shares,
            [
                BTreeMap::from([("3".to_owned(), 1.0)]),
                BTreeMap::from([("3".to_owned(), 0.9), ("4".to_owned(), 0.1)]),
                BTreeMap::from([("4".to_owned(), 1.0)]),
            ],
            "{function}"
        );
        let watched = seconds_between(changes[1].at, changes[2].at);
        assert!((300.0..330.0).contains(&watched), "{function}: {watched}s");
        assert!(changes[1].alias.description.starts_with(&format!(
            "noteapp shift release={} good=3 deadline=",
            release_id(4)
        )));
        assert_eq!(
            changes[2].alias.description,
            format!("noteapp live release={}", release_id(4))
        );
    }

    // Update 1 shifted with the deadline; the release was not in its history, only apart.
    let created = world.created();
    assert_eq!(created.len(), 2);
    let (first, first_template) = &created[0];
    assert_eq!(first["CanaryShare"], "10");
    assert_eq!(first["PreviousWeight"], "0.9");
    assert_eq!(first["ApiPreviousVersion"], "3");
    let deadline = DateTime::parse_from_rfc3339(&first["ShiftDeadline"]).unwrap();
    let margin = (deadline.with_timezone(&Utc) - started).num_seconds();
    assert!(
        (1200..1230).contains(&margin),
        "5 minutes and 15 of margin: {margin}s"
    );
    assert_eq!(canary.deadline, first["ShiftDeadline"]);
    assert_eq!(release::read(first_template).live().unwrap().sequence, 3);
    assert_eq!(release::pending(first_template).unwrap().sequence, 4);
    // Update 2: no shift; release 4 live in the history, release 3's versions recorded.
    let (second, second_template) = &created[1];
    assert_eq!(second["ShiftDeadline"], "");
    assert_eq!(second["ApiPreviousVersion"], "");
    let history = release::read(second_template);
    assert_eq!(history.live().unwrap().sequence, 4);
    assert_eq!(release::pending(second_template), None);
    let three = history.find(3).unwrap();
    assert_eq!(three.versions.as_ref().unwrap()["api"], "3");
    assert_eq!(three.versions.as_ref().unwrap().len(), Function::ALL.len());
    assert!(
        world
            .stack
            .lock()
            .unwrap()
            .tags
            .contains(&"release-staging-4".to_owned())
    );
    let text = report.to_string();
    assert!(
        text.contains("canary finished: every alias on the new release"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_turning_bad_returns_every_alias_within_a_poll_and_one_update_round() {
    let world = World::new(vec![recorded(3), recorded(2), recorded(1)]);
    // Two minutes into the watch (which starts once update 1 completes, within a second).
    let bad_at = world.clock.now() + chrono::Duration::seconds(122);
    world.health_turns_bad_at(bad_at);
    let (report, lines) = deploy(&world, &config(), settings(&world)).await;
    let report = report.unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    let canary = report.canary.clone().unwrap();
    let Outcome::Returned(returned) = &canary.outcome else {
        panic!("not returned: {canary:?}\n{}", lines.text());
    };
    assert_eq!(returned.by, "deploy");
    assert!(returned.signal.contains(HEALTH), "{}", returned.signal);
    assert!(returned.signal.contains("is ALARM"), "{}", returned.signal);
    assert_eq!(returned.in_alarm, [API_5XX]);
    assert_eq!(returned.moved.len(), Function::ALL.len());
    assert!(returned.errors.is_empty(), "{:?}", returned.errors);
    // The bound: the read that saw it at most one interval after it turned, then one round of
    // UpdateAlias (all together).
    let bad = std::time::SystemTime::from(bad_at);
    for function in Function::ALL {
        let back = world
            .changes(function)
            .into_iter()
            .find(|c| c.by == replay::DEPLOYER)
            .expect("moved back by the deploy");
        assert_eq!(back.alias.shares(), BTreeMap::from([("3".to_owned(), 1.0)]));
        assert!(
            back.alias.description.ends_with("cause=alarm"),
            "{}",
            back.alias.description
        );
        let after = seconds_between(bad, back.at);
        assert!(
            after <= INTERVAL.as_secs_f64() + 1.0,
            "{function}: back {after}s after"
        );
    }
    assert!(returned.restored_after_seconds.unwrap() < 1.0);
    // Then the stack went back to release 3 through CloudFormation: its image and parameters,
    // the history as it was, no canary left in the template.
    let created = world.created();
    assert_eq!(created.len(), 2, "update 1, then the stack back");
    let (back, template_back) = &created[1];
    assert_eq!(back["ImageUri"], image(3));
    assert_eq!(back["ShiftDeadline"], "");
    assert_eq!(release::read(template_back).live().unwrap().sequence, 3);
    assert_eq!(release::pending(template_back), None);
    assert_eq!(returned.reconciled.as_deref(), Some("UPDATE_COMPLETE"));
    // Every alias serves release 3 (a version published again from the same image and
    // configuration) and says so; release 4 was never recorded or tagged.
    let api = world.alias(Function::Api);
    assert_eq!(
        api.description,
        format!("noteapp live release={}", release_id(3))
    );
    assert!(api.weights.is_empty());
    assert!(
        !world
            .stack
            .lock()
            .unwrap()
            .tags
            .contains(&"release-staging-4".to_owned())
    );
    let error = report.check().unwrap_err();
    assert_eq!(error.exit_code(), crate::EXIT_FAILURE);
    assert!(error.to_string().contains(HEALTH), "{error}");
    let text = report.to_string();
    assert!(
        text.contains("canary returned to the last good release (deploy)"),
        "{text}"
    );
    assert!(
        text.contains("in ALARM: noteapp-staging-api-5xx-rate"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_already_red_refuses_the_canary_and_changes_nothing() {
    let world = World::new(vec![recorded(3), recorded(2), recorded(1)]);
    world.health_turns_bad_at(world.clock.now() - chrono::Duration::minutes(3));
    let (report, lines) = deploy(&world, &config(), settings(&world)).await;
    let error = report.map(|_| ()).expect_err("refused");
    assert_eq!(error.exit_code(), crate::EXIT_REFUSED);
    let text = error.to_string();
    for part in [
        "release health is in ALARM, so the canary cannot start",
        HEALTH,
        "noteapp-staging-api-5xx-rate is in ALARM",
        "in ALARM: noteapp-staging-api-5xx-rate",
        "Nothing was changed",
        "--no-canary",
    ] {
        assert!(
            text.contains(part),
            "{part:?} not in {text}\n{}",
            lines.text()
        );
    }
    assert_eq!(world.cfn_calls()["CreateChangeSet"], 0);
    assert_eq!(world.changes(Function::Api).len(), 1, "no alias moved");

    // `--no-canary` deploys all at once, on purpose, and says so.
    let settings = CanarySettings {
        enabled: false,
        ..settings(&world)
    };
    let (report, lines) = deploy(&world, &config(), settings).await;
    let report = report.unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    assert_eq!(report.canary, None);
    assert!(
        lines.text().contains("--no-canary: the release takes all"),
        "{}",
        lines.text()
    );
    let created = world.created();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].0["ShiftDeadline"], "");
    assert_eq!(
        world.alias(Function::Api).shares(),
        BTreeMap::from([("4".to_owned(), 1.0)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_of_the_release_the_aliases_serve_has_nothing_to_shift() {
    let world = World::new(vec![recorded(3), recorded(2), recorded(1)]);
    let (clients, uri) = (world.clients(), image(3));
    let (report, lines) =
        deploy_image(&clients, &config(), Image::Uri(&uri), settings(&world)).await;
    let report = report.unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    assert_eq!(report.canary, None);
    assert!(
        lines
            .text()
            .contains("the live aliases already serve release"),
        "{}",
        lines.text()
    );
    assert!(
        world
            .created()
            .iter()
            .all(|(p, _)| p["ShiftDeadline"].is_empty())
    );
}

/// Update 1 of a canary run by a deploy that is then killed (as a closed laptop or a
/// cancelled CI job would): the aliases are left shifting.
async fn killed_mid_shift(world: &World) {
    let settings = CanarySettings {
        clock: Clock::system(),
        ..settings(world)
    };
    let (clients, config) = (world.clients(), config());
    let task = tokio::spawn(async move {
        let _ = deploy_image(&clients, &config, Image::Uri(&image(4)), settings).await;
    });
    for _ in 0..2000 {
        if !world.alias(Function::Api).weights.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    let _ = task.await;
    assert!(
        !world.alias(Function::Api).weights.is_empty(),
        "the deploy shifted"
    );
}

/// The real guard of the stack (its role's policies, decided by the kit), run at `now`.
async fn guard_run(world: &World, now: DateTime<Utc>) -> serde_json::Value {
    use noteapp_runtime::config::{CommonConfig, GuardConfig};
    use noteapp_runtime::guard::{Endpoints, Guard};
    use noteapp_runtime::settings::{Environment, LogLevel};
    let guard = Guard {
        http: noteapp_runtime::aws_http::https_client(Duration::from_secs(5)).unwrap(),
        signer: replay::signer(replay::GUARD),
        endpoints: Endpoints::all_at(world.services.url()),
        config: GuardConfig {
            common: CommonConfig {
                environment: Environment::Staging,
                log_level: LogLevel::Info,
                in_lambda: true,
                release: None,
            },
            functions: Function::ALL
                .iter()
                .map(|f| format!("{STACK}-{}", f.name()))
                .collect(),
            health_alarm: HEALTH.into(),
            operators_topic: Some(
                "arn:aws:sns:eu-west-1:123456789012:noteapp-staging-operators".into(),
            ),
        },
    };
    let schedule = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    guard.run(&schedule, now).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_shift_is_caught_by_the_guard_and_undone_by_the_next_command() {
    let world = World::new(vec![recorded(3), recorded(2), recorded(1)]);
    killed_mid_shift(&world).await;
    let clients = world.clients();
    let (progress, lines) = Progress::captured();
    // The next deploy says what is going on and refuses to start another release.
    let refused = before(&clients, &config(), &progress).await.unwrap_err();
    let text = refused.to_string();
    assert!(
        text.contains("is shifting") && text.contains("release undo staging"),
        "{text}"
    );
    // The guard, past the deadline, returns every alias to the last good release.
    let deadline = world.created()[0].0["ShiftDeadline"].clone();
    let past = DateTime::parse_from_rfc3339(&deadline)
        .unwrap()
        .with_timezone(&Utc)
        + chrono::Duration::seconds(30);
    let summary = guard_run(&world, past).await;
    assert_eq!(summary["action"], "rolled back", "{summary}");
    assert_eq!(summary["cause"], "deadline");
    assert_eq!(
        world.services.published().len(),
        1,
        "the operators are told"
    );
    assert!(
        world
            .alias(Function::Api)
            .description
            .contains("cause=deadline")
    );
    // status (and any command) says what happened and what to do.
    let aliases = LiveCalls::of(&clients, "eu-west-1")
        .unwrap()
        .unwrap()
        .aliases(STACK)
        .await
        .unwrap();
    let traffic = Traffic::read(&aliases, None);
    let advice = traffic.advice("staging").unwrap();
    assert!(advice.contains("the shift's deadline passed"), "{advice}");
    assert!(
        advice.contains("`noteapp release undo staging`"),
        "{advice}"
    );
    let noted = before(&clients, &config(), &progress).await.unwrap();
    assert!(noted.is_some());
    assert!(
        lines.text().contains("note: the canary of release"),
        "{}",
        lines.text()
    );
    // `noteapp release undo staging`: the stack back on release 3, the canary gone from it.
    let finish = finish();
    let undone = undo_pending(&clients, &config(), &options(), &finish, &progress)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    assert!(undone.returned.moved.is_empty(), "the guard had moved them");
    assert_eq!(
        undone.returned.reconciled.as_deref(),
        Some("UPDATE_COMPLETE")
    );
    undone.check().unwrap();
    let created = world.created();
    let (back, template_back) = created.last().unwrap();
    assert_eq!(back["ImageUri"], image(3));
    assert_eq!(release::pending(template_back), None);
    assert_eq!(
        world.alias(Function::Api).description,
        format!("noteapp live release={}", release_id(3))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_shift_is_finished_by_release_finish_and_recorded_as_it_was_made() {
    let world = World::new(vec![recorded(3), recorded(2), recorded(1)]);
    killed_mid_shift(&world).await;
    let clients = world.clients();
    let (progress, lines) = Progress::captured();
    let finish = finish();
    let report = finish_pending(
        &clients,
        &config(),
        "noteapp",
        &options(),
        &finish,
        &progress,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    assert_eq!(report.result, DeployResult::Updated, "{}", lines.text());
    let recorded_4 = report.release.clone().unwrap();
    assert_eq!(recorded_4.sequence, 4);
    let (commit, _) = recording::git_state(&noteapp_test_support::workspace());
    assert_eq!(recorded_4.commit, commit, "as the deploy made it");
    let api = world.alias(Function::Api);
    assert_eq!(api.shares(), BTreeMap::from([("4".to_owned(), 1.0)]));
    let (last, template_last) = world.created().last().cloned().unwrap();
    assert_eq!(last["ShiftDeadline"], "");
    assert_eq!(release::read(&template_last).live().unwrap().sequence, 4);
    assert!(
        world
            .stack
            .lock()
            .unwrap()
            .tags
            .contains(&"release-staging-4".to_owned())
    );
    // Nothing is left to finish.
    let again = finish_pending(
        &clients,
        &config(),
        "noteapp",
        &options(),
        &finish,
        &progress,
    )
    .await
    .unwrap_err();
    assert!(
        again.to_string().contains("holds no canary to finish"),
        "{again}"
    );
}
