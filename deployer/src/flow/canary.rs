//! The canary (`release: {strategy: canary, share, minutes}`, production's default): every
//! function shifts to the new release together, as one release, while release health is
//! watched.
//!
//! 1. Before anything changes (`traffic::before`, then [`start`]): each function's `live` alias is read (the version
//!    it serves is the last good release's), and the stack's `<stack>-release-health` alarm.
//!    An alarm already in ALARM refuses the deploy (exit 3), naming it, its reason and the
//!    alarms in ALARM under it; `--no-canary` deploys all at once on purpose. A stack with no
//!    alias to shift from (a new one, or its first release with aliases) and a deploy of the
//!    release the aliases already serve go all at once, and say so.
//! 2. Update 1 ([`shift_plan`]): the change set sets each `<Prefix>PreviousVersion` to the last
//!    good version and `ShiftDeadline` to the start + `minutes` + [`SHIFT_MARGIN`] (UTC): the
//!    new versions are published and take `share` % of the traffic. The template it sends
//!    carries the release apart from the history (`release::write_pending`): only a finished
//!    release is live there.
//! 3. The watch ([`watch`]): the alarm is read every `--canary-interval` seconds for `minutes`.
//! 4. Healthy: Update 2 ([`finish_release`]) sends the plan as rendered (no previous version,
//!    no deadline): every alias serves the new release alone, which is recorded as any
//!    deploy's, tagged and smoke checked.
//! 5. In ALARM: every alias goes back to its last good version at once ([`restore`]: one
//!    `UpdateAlias` each, all together, conditional on the revision read after update 1),
//!    noted `noteapp rolled-back … cause=alarm`; the report names the signal; the stack is then
//!    brought back to the last good release through CloudFormation (`rollback::reconcile`),
//!    and the deploy exits 1. From the alarm turning red to the weights back takes at most one
//!    poll interval and one `UpdateAlias` round.
//!
//! Ctrl-C during the watch leaves the shift to the guard (back at the deadline, or at once on
//! the alarm) and says how to finish or undo it now: `noteapp release finish ENV`
//! ([`finish_pending`]) or `noteapp release undo ENV` ([`undo_pending`]).

#[cfg(test)]
pub(crate) mod tests;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use noteapp_runtime::functions::Function;
use noteapp_runtime::release_shift::{AliasNote, Cause, format_time};
use serde::Serialize;

use super::deploy::{
    CanaryReport, DeployOptions, DeployReport, DeployResult, Finish, Outcome, Returned,
    deploy_recorded, deploy_until,
};
use super::recording::{self, Recording};
use super::traffic::Traffic;
use crate::aws::aliases::{Move, OnChanged};
use crate::aws::live::{FunctionAlias, LiveCalls, ReleaseHealth};
use crate::aws::{Clients, ecr, stack};
pub use crate::clock::Clock;
use crate::config::{EnvironmentConfig, ReleaseStrategy};
use crate::error::Error;
use crate::interrupt::ctrl_c;
use crate::plan::Plan;
use crate::progress::{Progress, Prompt};
use crate::release;
use crate::template;

/// Room past the watch in a shift's deadline, for the two CloudFormation updates around it:
/// the guard never ends a canary the CLI is still running.
pub const SHIFT_MARGIN: Duration = Duration::from_secs(15 * 60);

/// How often release health is read during a canary unless `--canary-interval` says otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// Reads of the alarm that may fail in a row before the canary is returned (it cannot vouch
/// for a release whose health it cannot see).
const READ_FAILURES: u32 = 3;

/// How a deploy runs its canary.
#[derive(Debug, Clone)]
pub struct CanarySettings {
    /// `false` with `--no-canary`: all at once, on purpose.
    pub enabled: bool,
    /// Between two reads of release health.
    pub interval: Duration,
    /// The clock the watch reads and sleeps on (a skipping one in tests).
    pub clock: Clock,
}

impl Default for CanarySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: DEFAULT_INTERVAL,
            clock: Clock::system(),
        }
    }
}

/// A canary about to start: the last good version of every function.
#[derive(Debug, Clone)]
pub struct Canary {
    /// Percent of the traffic the new versions take during the watch.
    pub share: u32,
    /// How long release health is watched before the release takes all the traffic.
    pub minutes: u32,
    /// (function, its `<stack>-<function>` name, the version it serves now).
    pub previous: Vec<(Function, String, String)>,
}

/// How the release goes live.
#[derive(Debug, Clone)]
pub enum Start {
    /// Every alias moves to the new release in one update, release health not watched.
    AllAtOnce,
    /// The new release takes a share of the traffic while release health is watched.
    Canary(Canary),
}

/// Decides how the plan's release goes live (see the module doc, step 1).
pub async fn start(
    clients: &Clients,
    config: &EnvironmentConfig,
    plan: &Plan,
    before: Option<&super::traffic::Before>,
    settings: &CanarySettings,
    progress: &Progress,
) -> Result<Start, Error> {
    let ReleaseStrategy::Canary { share, minutes } = config.release else {
        return Ok(Start::AllAtOnce);
    };
    let (stack, env) = (&plan.stack_name, config.name());
    if !settings.enabled {
        progress.line(format!(
            "--no-canary: the release takes all of {env}'s traffic at once, release health not \
             watched"
        ));
        return Ok(Start::AllAtOnce);
    }
    let (Some(before), Some(calls)) = (before, LiveCalls::of(clients, &config.region)?) else {
        return Err(Error::Refused(format!(
            "{env} releases by canary, which reads the functions' live aliases and the \
             release-health alarm with signed requests, and these credentials cannot sign \
             them; nothing was changed; rerun with --no-canary to deploy all at once"
        )));
    };
    let previous: Option<Vec<(Function, String, String)>> = before
        .aliases
        .iter()
        .map(|a| {
            Some((
                a.function,
                a.name.clone(),
                a.alias.as_ref()?.version.clone(),
            ))
        })
        .collect();
    let Some(previous) = previous else {
        progress.line(format!(
            "stack {stack} has no live alias to shift from yet (a new stack, or its first \
             release behind aliases): this release takes all the traffic at once, with no canary"
        ));
        return Ok(Start::AllAtOnce);
    };
    let serving = Traffic::steady_versions(&before.aliases).map(|(release, _)| release);
    if serving.is_some() && serving.as_deref() == plan.parameter(template::RELEASE_ID) {
        progress.line(format!(
            "the live aliases already serve release {}: nothing new to shift",
            serving.unwrap_or_default()
        ));
        return Ok(Start::AllAtOnce);
    }
    progress.status(format!("reading release health of stack {stack}"));
    let health = calls.release_health(stack).await?;
    if health.state.is_none() {
        return Err(Error::Refused(format!(
            "the canary watches the alarm {}, and stack {stack} has none (it was deployed \
             before noteapp made it): nothing was changed; rerun with --no-canary to deploy all \
             at once (that deploy makes the alarm, and the next one runs a canary)",
            health.alarm
        )));
    }
    if health.is_alarm() {
        return Err(Error::Refused(format!(
            "release health is in ALARM, so the canary cannot start: {}. Nothing was changed. \
             Find out why (`noteapp status {env}`, `noteapp logs {env}`), fix it or wait for \
             the alarm to return to OK, then deploy again; to deploy all at once anyway, on \
             purpose (the fix for what the alarm reports, say), rerun with --no-canary",
            health.signal()
        )));
    }
    Ok(Start::Canary(Canary {
        share,
        minutes,
        previous,
    }))
}

/// The shift's deadline for a canary of `minutes` starting at `now`, to the next whole second
/// (as the alias note writes it).
pub fn deadline(now: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
    let watch = chrono::Duration::minutes(i64::from(minutes));
    let margin = chrono::Duration::from_std(SHIFT_MARGIN).unwrap_or_default();
    let at = now + watch + margin;
    let second = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
    DateTime::from_timestamp(second, 0).unwrap_or(at)
}

/// Update 1: `plan` (the release as it finishes) with each function's previous version and the
/// deadline set, its template carrying the release apart from the history. Pure.
pub fn shift_plan(
    plan: &Plan,
    recording: &Recording,
    previous: &[(Function, String, String)],
    deadline: DateTime<Utc>,
) -> Plan {
    let mut first = plan.clone();
    let body = release::strip(&plan.template_body);
    first.template_body = release::write_pending(&body, &recording.history, &recording.release);
    first.template_url = None;
    for (function, _, version) in previous {
        first.set_parameter(&template::previous_version_parameter(*function), version);
    }
    first.set_parameter("ShiftDeadline", &format_time(deadline));
    first
}

/// What the watch saw.
#[derive(Debug, Clone)]
pub enum Watched {
    /// Release health stayed OK for the whole watch.
    Healthy {
        /// Reads of release health.
        polls: u32,
    },
    /// Release health turned bad (in ALARM, the alarm gone, or unreadable three times in a
    /// row).
    Bad {
        /// Reads of release health, the bad one included.
        polls: u32,
        /// What was seen, in words: the alarm's state, its reason and the alarms in ALARM under
        /// it, or why release health could not be read.
        signal: String,
        /// The release health read that was bad (`None`: it could not be read).
        health: Option<ReleaseHealth>,
        /// When the read that saw it began.
        seen: DateTime<Utc>,
    },
    /// `interrupt` resolved (Ctrl-C) before the watch was over; the shift is left to the guard.
    Interrupted {
        /// Reads of release health before the interrupt.
        polls: u32,
    },
}

/// Reads release health every `interval` for `minutes`, until it is bad or `interrupt`
/// resolves. Three failed reads in a row are a bad signal.
pub async fn watch(
    calls: &LiveCalls<'_>,
    stack: &str,
    clock: &Clock,
    minutes: u32,
    interval: Duration,
    interrupt: impl Future<Output = ()>,
    progress: &Progress,
) -> Watched {
    let end = clock.now() + chrono::Duration::minutes(i64::from(minutes));
    let (mut polls, mut failures) = (0, 0);
    tokio::pin!(interrupt);
    loop {
        let seen = clock.now();
        polls += 1;
        match calls.release_health(stack).await {
            Ok(health) if health.is_alarm() || health.state.is_none() => {
                return Watched::Bad {
                    polls,
                    signal: health.signal(),
                    health: Some(health),
                    seen,
                };
            }
            Ok(_) => failures = 0,
            Err(e) => {
                failures += 1;
                progress.line(format!("warning: {e}"));
                if failures >= READ_FAILURES {
                    return Watched::Bad {
                        polls,
                        signal: format!(
                            "release health could not be read {READ_FAILURES} times in a row \
                             ({e})"
                        ),
                        health: None,
                        seen,
                    };
                }
            }
        }
        let now = clock.now();
        if now >= end {
            return Watched::Healthy { polls };
        }
        let left = (end - now).to_std().unwrap_or_default();
        progress.status(format!(
            "canary: release health OK ({polls} reads), {}s to go",
            left.as_secs()
        ));
        tokio::select! {
            () = clock.sleep(interval.min(left)) => {}
            () = &mut interrupt => return Watched::Interrupted { polls },
        }
    }
}

/// The moves that return every shifting alias to its last good version.
pub fn return_moves(
    aliases: &[FunctionAlias],
    release: &str,
    cause: Cause,
    at: DateTime<Utc>,
) -> Vec<Move> {
    aliases
        .iter()
        .filter_map(|read| {
            let alias = read.alias.as_ref().filter(|a| a.is_shifting())?;
            let good = alias
                .weights
                .iter()
                .filter(|(_, w)| *w > 0.0)
                .max_by(|a, b| a.1.total_cmp(&b.1))?
                .0
                .clone();
            let note = AliasNote::RolledBack {
                release: release.to_owned(),
                good: good.parse().ok()?,
                at,
                cause,
            };
            Some(Move {
                function: read.name.clone(),
                to: good,
                note: note.to_string(),
                revision: alias.revision.clone(),
            })
        })
        .collect()
}

/// Moves every alias of `moves` back at once (read again where one changed since); what moved
/// and what could not, and when the last one was done.
pub async fn restore(
    calls: &LiveCalls<'_>,
    moves: &[Move],
    from: &[FunctionAlias],
    clock: &Clock,
) -> (Vec<String>, Vec<String>, DateTime<Utc>) {
    let pointed = calls.point_all(moves, from, OnChanged::ReadAgain).await;
    (pointed.moved, pointed.errors, clock.now())
}

/// Runs the canary of `plan`'s release (recorded in `recording`, its template kept), decided
/// by [`start`]: update 1, the watch, then update 2 or the return to the last good release.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    clients: &Clients,
    config: &EnvironmentConfig,
    plan: &Plan,
    recording: &Recording,
    canary: Canary,
    settings: &CanarySettings,
    options: &DeployOptions,
    finish: &Finish,
    progress: &Progress,
) -> Result<DeployReport, Error> {
    let (stack, env) = (&plan.stack_name, config.name());
    let calls = LiveCalls::required(clients, &plan.region)?;
    let clock = &settings.clock;
    let deadline = deadline(clock.now(), canary.minutes);
    let mut first = shift_plan(plan, recording, &canary.previous, deadline);
    recording::keep(clients, &mut first, recording.release.sequence).await?;
    let sequence = recording.release.sequence;
    progress.line(format!(
        "canary: release {sequence} takes {}% of the traffic for {} minutes while {} is \
         watched; the guard returns it to the last good release at {} if this command is gone",
        canary.share,
        canary.minutes,
        crate::aws::live::release_health_alarm(stack),
        format_time(deadline)
    ));
    let mut report = CanaryReport {
        share: canary.share,
        minutes: canary.minutes,
        interval_seconds: settings.interval.as_secs_f64(),
        deadline: format_time(deadline),
        watched_from: None,
        polls: 0,
        previous: canary
            .previous
            .iter()
            .map(|(f, _, v)| (f.name().to_owned(), v.clone()))
            .collect(),
        outcome: Outcome::NotStarted,
    };
    let shifted = deploy_until(
        ctrl_c(),
        clients,
        &first,
        options,
        &Prompt::stdin(),
        progress,
    )
    .await?;
    if shifted.result != DeployResult::Updated {
        let mut shifted = shifted;
        shifted.canary = Some(report);
        return Ok(shifted);
    }
    let aliases = calls.aliases(stack).await?;
    report.watched_from = Some(format_time(clock.now()));
    let watched = watch(
        &calls,
        stack,
        clock,
        canary.minutes,
        settings.interval,
        ctrl_c(),
        progress,
    )
    .await;
    let release_id = plan.parameter(template::RELEASE_ID).unwrap_or_default();
    let (signal, health, seen, moves) = match watched {
        Watched::Interrupted { .. } => {
            return Err(Error::Interrupted(format!(
                "release {sequence} is shifting ({}% on the new versions) until {}: the guard \
                 returns all the traffic to the last good release then, or at once if release \
                 health turns bad; `noteapp release finish {env}` gives it all the traffic now, \
                 `noteapp release undo {env}` returns it to the last good release now",
                canary.share,
                format_time(deadline)
            )));
        }
        Watched::Healthy { polls } => {
            report.polls = polls;
            let now = calls.aliases(stack).await?;
            let traffic = Traffic::read(&now, None);
            if traffic.is_shifting() {
                progress.line(format!(
                    "canary: release health stayed OK for {} minutes: every alias moves to \
                     release {sequence}",
                    canary.minutes
                ));
                let mut done = finish_release(
                    clients,
                    plan,
                    recording,
                    options,
                    &Prompt::Closed,
                    finish,
                    progress,
                )
                .await?;
                report.outcome = match done.result {
                    DeployResult::Updated => Outcome::Finished,
                    _ => Outcome::NotStarted,
                };
                done.canary = Some(report);
                return Ok(done);
            }
            // The shift ended without this command: the guard did it (a deadline passed
            // during a long first update, or an alarm between two reads).
            let signal = format!("the guard had already ended the shift ({traffic})");
            (signal, None, clock.now(), Vec::new())
        }
        Watched::Bad {
            polls,
            signal,
            health,
            seen,
        } => {
            report.polls = polls;
            let moves = return_moves(&aliases, release_id, Cause::Alarm, clock.now());
            (signal, health, seen, moves)
        }
    };
    progress.line(format!(
        "canary: {signal}: every alias goes back to the last good release"
    ));
    let (moved, errors, done) = restore(&calls, &moves, &aliases, clock).await;
    let mut returned = Returned {
        by: if moves.is_empty() { "guard" } else { "deploy" }.to_owned(),
        signal,
        in_alarm: health
            .map(|h| h.in_alarm.into_iter().map(|a| a.name).collect())
            .unwrap_or_default(),
        restored_after_seconds: (!moves.is_empty())
            .then(|| (done - seen).to_std().unwrap_or_default().as_secs_f64()),
        moved,
        errors,
        reconciled: None,
        reconcile_error: None,
    };
    let back = DeployOptions {
        yes: true,
        ..*options
    };
    let reconciled =
        super::rollback::reconcile(clients, config, &back, &Prompt::Closed, finish, progress).await;
    let mut out = match reconciled {
        Ok(stack_back) => {
            returned.reconciled = stack_back.stack_status.clone();
            stack_back
        }
        Err(e) => {
            returned.reconcile_error = Some(e.to_string());
            shifted
        }
    };
    report.outcome = Outcome::Returned(returned);
    out.canary = Some(report);
    Ok(out)
}

/// Update 2: `plan`, the release as recorded (its template kept again as the release's), sent
/// through the change-set flow; the release tagged and smoke checked as any deploy's.
pub async fn finish_release(
    clients: &Clients,
    plan: &Plan,
    recording: &Recording,
    options: &DeployOptions,
    prompt: &Prompt,
    finish: &Finish,
    progress: &Progress,
) -> Result<DeployReport, Error> {
    let mut last = plan.clone();
    recording::keep(clients, &mut last, recording.release.sequence).await?;
    let options = DeployOptions {
        yes: options.yes || matches!(prompt, Prompt::Closed),
        ..*options
    };
    deploy_recorded(
        clients, &last, recording, &options, prompt, finish, progress,
    )
    .await
}

/// The canary a stack's template carries, with its traffic, for `release finish` and `undo`.
async fn pending(
    clients: &Clients,
    config: &EnvironmentConfig,
) -> Result<(String, Option<release::Release>, Vec<FunctionAlias>), Error> {
    let stack = &config.stack_name;
    clients
        .ensure_account(config.name(), &config.account_id)
        .await?;
    let template = stack::template(&clients.cloudformation, stack)
        .await?
        .ok_or_else(|| {
            Error::StackState(format!("stack {stack} does not exist: there is no canary"))
        })?;
    let calls = LiveCalls::required(clients, &config.region)?;
    let aliases = calls.aliases(stack).await?;
    let pending = release::pending(&template);
    Ok((template, pending, aliases))
}

/// `noteapp release finish ENV`: the canary the stack holds (shifting, or returned by the
/// guard) gets all the traffic now through update 2, and is recorded; refused while release
/// health is in ALARM.
pub async fn finish_pending(
    clients: &Clients,
    config: &EnvironmentConfig,
    repository: &str,
    options: &DeployOptions,
    finish: &Finish,
    progress: &Progress,
) -> Result<DeployReport, Error> {
    let (stack, env) = (&config.stack_name, config.name());
    let (template, pending, aliases) = pending(clients, config).await?;
    let Some(pending) = pending else {
        return Err(Error::StackState(format!(
            "stack {stack} holds no canary to finish (its template carries none): see \
             `noteapp status {env}`"
        )));
    };
    let traffic = Traffic::read(&aliases, pending.parameter(template::RELEASE_ID));
    if let Some(advice) = traffic.advice(env) {
        progress.line(advice);
    }
    let body = release::strip(&template);
    if release::sha256(&body) != pending.template_sha256 {
        return Err(Error::StackState(format!(
            "stack {stack}'s template is not the one canary release {} was made with (it \
             changed since): nothing was changed; `noteapp release undo {env}` or deploy again",
            pending.sequence
        )));
    }
    let calls = LiveCalls::required(clients, &config.region)?;
    let health = calls.release_health(stack).await?;
    if health.is_alarm() {
        return Err(Error::Refused(format!(
            "release health is in ALARM ({}): release {} is not given all the traffic; \
             nothing was changed; `noteapp release undo {env}` returns to the last good release",
            health.signal(),
            pending.sequence
        )));
    }
    let parameters = pending.parameters.clone().into_iter().collect();
    let mut plan = template::plan_with(config, &body, parameters)?;
    let repository = ecr::EcrImage::parse(&pending.image_uri)
        .map(|image| image.repository)
        .unwrap_or_else(|_| repository.to_owned());
    let kept = config.releases_kept;
    let recording =
        recording::record_pending(clients, &mut plan, pending, Some(&repository), kept).await?;
    progress.line(format!(
        "finishing the canary: release {} takes all the traffic",
        recording.release.sequence
    ));
    finish_release(
        clients,
        &plan,
        &recording,
        options,
        &Prompt::stdin(),
        finish,
        progress,
    )
    .await
}

/// What `noteapp release undo` did: the aliases it moved back, and the stack brought back to
/// the last good release.
#[derive(Debug, Clone, Serialize)]
pub struct UndoReport {
    /// The aliases moved back (`by`: `operator`), and the stack's status once brought back.
    pub returned: Returned,
    /// The deploy that brought the stack back to the last good release.
    pub stack: DeployReport,
}

impl UndoReport {
    /// The error the command exits with, after the report.
    pub fn check(&self) -> Result<(), Error> {
        self.stack.check()
    }
}

impl fmt::Display for UndoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.returned.moved.len() {
            0 => writeln!(
                f,
                "no alias was shifting: the traffic was on the last good release"
            )?,
            n => writeln!(f, "{n} aliases back on their last good versions:")?,
        }
        for moved in &self.returned.moved {
            writeln!(f, "  {moved}")?;
        }
        for error in &self.returned.errors {
            writeln!(f, "  not moved: {error}")?;
        }
        write!(f, "{}", self.stack)
    }
}

/// `noteapp release undo ENV`: a shifting canary's aliases go back to their last good versions
/// at once (noted `cause=operator`), and the stack is brought back to the last good release
/// through CloudFormation.
pub async fn undo_pending(
    clients: &Clients,
    config: &EnvironmentConfig,
    options: &DeployOptions,
    finish: &Finish,
    progress: &Progress,
) -> Result<UndoReport, Error> {
    let (stack, env) = (&config.stack_name, config.name());
    let (_, pending, aliases) = pending(clients, config).await?;
    let traffic = Traffic::read(&aliases, None);
    if pending.is_none() && !traffic.is_shifting() {
        return Err(Error::StackState(format!(
            "stack {stack} holds no canary to undo: see `noteapp status {env}`; `noteapp \
             rollback {env}` goes back to an earlier release"
        )));
    }
    let release = match (&traffic, &pending) {
        (
            Traffic::Shifting {
                release: Some(id), ..
            },
            _,
        ) => id.clone(),
        (_, Some(pending)) => pending
            .parameter(template::RELEASE_ID)
            .unwrap_or("unknown")
            .to_owned(),
        _ => "unknown".to_owned(),
    };
    let clock = Clock::system();
    let mut returned = Returned {
        by: "operator".into(),
        signal: format!("`noteapp release undo {env}`"),
        in_alarm: Vec::new(),
        restored_after_seconds: None,
        moved: Vec::new(),
        errors: Vec::new(),
        reconciled: None,
        reconcile_error: None,
    };
    if traffic.is_shifting() {
        let calls = LiveCalls::required(clients, &config.region)?;
        let started = clock.now();
        let moves = return_moves(&aliases, &release, Cause::Operator, started);
        let (moved, errors, done) = restore(&calls, &moves, &aliases, &clock).await;
        progress.line(format!(
            "every shifting alias is back on its last good version ({} moved)",
            moved.len()
        ));
        returned.moved = moved;
        returned.errors = errors;
        let took = (done - started).to_std().unwrap_or_default();
        returned.restored_after_seconds = Some(took.as_secs_f64());
    } else {
        progress.line(format!(
            "the traffic is on the last good release already ({traffic})"
        ));
    }
    let stack_back =
        super::rollback::reconcile(clients, config, options, &Prompt::stdin(), finish, progress)
            .await?;
    returned.reconciled = stack_back.stack_status.clone();
    Ok(UndoReport {
        returned,
        stack: stack_back,
    })
}
