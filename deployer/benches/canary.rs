//! Benchmark: how fast a canary returns to the last good release, and a rollback by moving the
//! aliases next to a rollback through CloudFormation.
//!
//! Both run against the replayed stack of `aws::replay::releases` (CloudFormation answered with
//! real response shapes, polled every millisecond; each change set publishes versions and points
//! the aliases in a loopback stand-in of Lambda, CloudWatch and S3, every request decided by the
//! test kit) on a virtual clock: every sleep returns at once and moves the clock by its length,
//! so a five-minute canary runs in milliseconds while the figures stay in the canary's own time.
//!
//! - Bad signal to weights back: `noteapp deploy` of a canary (10 % for 5 minutes, release health
//!   read every 5 s) whose release-health alarm turns to ALARM at a moment spread over the poll
//!   interval from run to run; the figure is, per run, the latest of the seven aliases' returns
//!   (as the stand-in stamps them) minus the moment the alarm turned. Against it, the stated
//!   bound: one poll interval plus one round of `UpdateAlias` (the round's own time is measured
//!   too, from the read that saw the alarm to the last alias moved).
//! - Rollback: `noteapp rollback` to the release before (same template and parameters, its
//!   versions recorded), by moving the aliases, against `--full` (the release's template,
//!   parameters and image through a change set) on the same stack: AWS calls by service and
//!   wall time. CloudFormation's own update time (minutes on AWS) comes on top of the full one.
//!
//! Medians of `RUNS` runs. Rerun: `cargo bench -p noteapp --bench canary` (`--profile dev`
//! builds faster).

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use noteapp::aws::replay::releases::{World, config, image, recorded, with_versions};
use noteapp::flow::canary::CanarySettings;
use noteapp::flow::deploy::Outcome;
use noteapp::flow::replayed::{Image, deploy_image, roll_back_before};
use noteapp::flow::rollback::Rolled;
use noteapp_runtime::functions::Function;

const RUNS: usize = 15;
const INTERVAL: Duration = Duration::from_secs(5);

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One canary whose health turns bad `offset` into its third minute: seconds from the alarm
/// turning to the last alias back, and the `UpdateAlias` round's own seconds.
async fn canary_returned(offset: Duration) -> (f64, f64) {
    let world = World::new(vec![recorded(3), recorded(2), recorded(1)]);
    let bad_at = world.clock.now()
        + chrono::Duration::seconds(120)
        + chrono::Duration::from_std(offset).unwrap();
    world.health_turns_bad_at(bad_at);
    let settings = CanarySettings {
        enabled: true,
        interval: INTERVAL,
        clock: world.clock.clone(),
    };
    let uri = image(4);
    let (report, lines) =
        deploy_image(&world.clients(), &config(), Image::Uri(&uri), settings).await;
    let report = report.unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    let Some(Outcome::Returned(returned)) = report.canary.map(|c| c.outcome) else {
        panic!("the canary was not returned:\n{}", lines.text());
    };
    let bad = SystemTime::from(bad_at);
    let back = Function::ALL
        .iter()
        .map(|f| {
            let change = world
                .changes(*f)
                .into_iter()
                .find(|c| c.alias.description.contains("cause=alarm"))
                .expect("returned");
            change
                .at
                .duration_since(bad)
                .unwrap_or_default()
                .as_secs_f64()
        })
        .fold(0.0, f64::max);
    (back, returned.restored_after_seconds.unwrap_or_default())
}

/// `noteapp rollback staging` (or `--full`): wall seconds, and the AWS calls by service.
async fn rolled_back(full: bool) -> (f64, BTreeMap<String, usize>) {
    let world = World::new(vec![recorded(4), with_versions(3, "2"), recorded(2)]);
    let clients = world.clients();
    let started = Instant::now();
    let (rolled, lines) = roll_back_before(&clients, &config(), full).await;
    let rolled = rolled.unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(
        matches!(rolled, Rolled::Aliases(_)),
        !full,
        "{}",
        lines.text()
    );
    let mut calls = world.signed_calls();
    let cfn: usize = world.cfn_calls().values().sum();
    calls.insert("cloudformation".into(), cfn);
    calls.insert("ecr".into(), world.ecr_calls());
    calls.insert("sts".into(), 1);
    calls.retain(|_, n| *n > 0);
    (seconds, calls)
}

fn calls_line(calls: &BTreeMap<String, usize>) -> String {
    let total: usize = calls.values().sum();
    let each: Vec<String> = calls.iter().map(|(s, n)| format!("{s} {n}")).collect();
    format!("{total} calls ({})", each.join(", "))
}

async fn figures() {
    let (mut back, mut round) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        let offset = INTERVAL.mul_f64(run as f64 / RUNS as f64);
        let (b, r) = canary_returned(offset).await;
        back.push(b);
        round.push(r);
    }
    let max = back.iter().copied().fold(0.0, f64::max);
    let round_median = median(round.clone());
    let bound = INTERVAL.as_secs_f64() + round.iter().copied().fold(0.0, f64::max);
    println!(
        "canary: bad signal -> weights back (7 aliases)   median {:>7.3} s, max {:>7.3} s",
        median(back),
        max
    );
    println!(
        "canary: the UpdateAlias round alone              median {:>7.3} s ({:.1} ms)",
        round_median,
        round_median * 1000.0
    );
    println!(
        "canary: stated bound (5 s interval + the round)         {bound:>7.3} s  (max is {:.0}% of it)",
        100.0 * max / bound
    );
    let (mut alias_times, mut full_times) = (Vec::new(), Vec::new());
    let (mut alias_calls, mut full_calls) = (BTreeMap::new(), BTreeMap::new());
    for _ in 0..RUNS {
        let (t, c) = rolled_back(false).await;
        alias_times.push(t);
        alias_calls = c;
        let (t, c) = rolled_back(true).await;
        full_times.push(t);
        full_calls = c;
    }
    let (alias, full) = (median(alias_times), median(full_times));
    println!(
        "rollback: by moving the aliases                  {:>8.2} ms  {}",
        alias * 1000.0,
        calls_line(&alias_calls)
    );
    println!(
        "rollback: through CloudFormation (--full)        {:>8.2} ms  {}  ({:.1}x the alias rollback's time)",
        full * 1000.0,
        calls_line(&full_calls),
        full / alias
    );
    println!(
        "canary: medians of {RUNS} runs; replayed CloudFormation polled every 1 ms, its update time \
         on AWS not included"
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(figures());
}
