//! The rollback flow (`noteapp rollback ENV [--to N] [--full] [--continue]`): the previous
//! release (or release N) brought back. When it ran the template and parameters the stack runs
//! now and its versions are still there, the `live` aliases move back to them in seconds, with
//! no stack operation ([`alias`]). Otherwise (or with `--full`) it is deployed again — its
//! template (kept in the releases bucket), its parameters and its image digest together —
//! through the deploy's own change-set flow: diff, the table guard (`--allow-replacement`), the
//! confirmation, progress, outputs, the smoke check. Nothing is built or pushed. It is recorded
//! as a new release (`rolled back to N`). A release recorded before templates were kept comes
//! back on the template the stack runs now, and says so. A canary shifting refuses either
//! (`noteapp release finish|undo` first).
//!
//! [`reconcile`] brings the stack back to its live release after a canary's traffic went back to
//! it outside CloudFormation (the canary's abort, `release undo`).
//!
//! It refuses, changing nothing, when that release's image is gone from ECR: CloudFormation
//! would fail on "Source image … does not exist" and could leave the stack in
//! `UPDATE_ROLLBACK_FAILED`.
//!
//! `--continue` recovers a stuck stack instead: `UPDATE_ROLLBACK_FAILED` with
//! ContinueUpdateRollback, skipping the resources whose rollback failed (named first, and asked
//! about), and `UPDATE_FAILED` (an update that was not rolled back) with RollbackStack.

use std::fmt;

use serde::Serialize;

use super::change_set::change_set_name;
use super::deploy::{
    DeployOptions, DeployReport, Finish, deploy_recorded, deploy_until, smoke_check,
};
use super::recording::{self, Provenance, Recording};
use super::traffic::{Before, Traffic};
use crate::aws::live::LiveCalls;
use crate::aws::wait::Operation;
use crate::aws::{Clients, ecr, stack, wait};
use crate::config::EnvironmentConfig;
use crate::error::Error;
use crate::image::ship::{DeployedImage, protect};
use crate::interrupt::ctrl_c;
use crate::plan::Plan;
use crate::progress::{Progress, Prompt};
use crate::release::{self, Release};
use crate::template;

pub mod alias;
#[cfg(test)]
mod tests;

pub use alias::AliasRollback;

/// The release to go back to: `to`, or the one before the live release.
pub fn target(history: &release::History, to: Option<u64>, stack: &str) -> Result<Release, Error> {
    let live = history.live().ok_or_else(|| {
        Error::StackState(format!(
            "stack {stack} has no release history to roll back through: deploy it once with \
             this noteapp, which records releases"
        ))
    })?;
    let kept = || {
        let list: Vec<String> = history
            .releases
            .iter()
            .map(|r| r.sequence.to_string())
            .collect();
        list.join(", ")
    };
    let target = match to {
        Some(n) => history.find(n).ok_or_else(|| {
            Error::Usage(format!(
                "release {n} is not in the history of stack {stack} (kept: {}): see `noteapp \
                 history`",
                kept()
            ))
        })?,
        None => history.previous().ok_or_else(|| {
            Error::StackState(format!(
                "stack {stack} has one release only ({}): there is nothing before it to roll \
                 back to",
                live.sequence
            ))
        })?,
    };
    if target.sequence == live.sequence {
        return Err(Error::Usage(format!(
            "release {} is the live release of stack {stack}: nothing to roll back",
            target.sequence
        )));
    }
    Ok(target.clone())
}

/// The rollback's plan: the stack's live template, the target release's image and parameters,
/// its images tagged against the lifecycle policy, and the new release written in.
pub async fn prepare(
    clients: &Clients,
    config: &EnvironmentConfig,
    to: Option<u64>,
    repository: &str,
    progress: &Progress,
) -> Result<(Plan, Recording), Error> {
    let stack = &config.stack_name;
    let env = config.name();
    clients.ensure_account(env, &config.account_id).await?;
    let live = live_template(clients, stack, progress).await?;
    let history = release::read(&live);
    let target = target(&history, to, stack)?;
    let (mut plan, image, repository) =
        restore_plan(clients, config, &target, &live, repository, progress).await?;
    progress.line(format!(
        "rolling stack {stack} back to release {} ({}, commit {})",
        target.sequence,
        target.image_digest,
        target.commit.as_deref().unwrap_or("unknown")
    ));
    let name = image.name();
    let deployed = DeployedImage {
        repository: &repository,
        name: &name,
        digest: &target.image_digest,
    };
    protect(
        &clients.ecr,
        &clients.cloudformation,
        stack,
        env,
        deployed,
        progress,
    )
    .await?;
    let provenance = Provenance {
        commit: target.commit.clone(),
        dirty: target.dirty,
        rollback_of: Some(target.sequence),
        live_versions: None,
    };
    let kept = config.releases_kept;
    let recording =
        recording::record(clients, &mut plan, Some(&repository), kept, provenance).await?;
    Ok((plan, recording))
}

/// The stack's template, with its history (refused when there is no stack).
async fn live_template(
    clients: &Clients,
    stack: &str,
    progress: &Progress,
) -> Result<String, Error> {
    progress.status(format!("reading the release history of stack {stack}"));
    stack::template(&clients.cloudformation, stack)
        .await?
        .ok_or_else(|| {
            Error::StackState(format!(
                "stack {stack} does not exist: there is nothing to roll back"
            ))
        })
}

/// The plan that runs `target` again: its kept template (or, for a release recorded before
/// templates were kept, the stack's `live` one), its parameters and its image, which must still
/// be in ECR. Returns the plan (no history written yet), the image and its repository.
async fn restore_plan(
    clients: &Clients,
    config: &EnvironmentConfig,
    target: &Release,
    live: &str,
    repository: &str,
    progress: &Progress,
) -> Result<(Plan, ecr::EcrImage, String), Error> {
    let (stack, env) = (&config.stack_name, config.name());
    let image = ecr::EcrImage::parse(&target.image_uri).map_err(|reason| {
        Error::StackState(format!(
            "release {} ran {} ({reason}): noteapp rolls back only to images in this \
             account's ECR",
            target.sequence, target.image_uri
        ))
    })?;
    let repository = if image.repository.is_empty() {
        repository.to_owned()
    } else {
        image.repository.clone()
    };
    progress.status(format!(
        "looking for release {}'s image {repository}@{} in ECR",
        target.sequence, target.image_digest
    ));
    if !ecr::has_digest(&clients.ecr, &repository, &target.image_digest).await? {
        return Err(Error::StackState(format!(
            "release {}'s image {repository}@{} is gone from ECR (expired or deleted), so it \
             cannot be rolled back to: CloudFormation would fail on \"Source image … does not \
             exist\" and could leave the stack UPDATE_ROLLBACK_FAILED; nothing was changed; pick \
             a release whose image is kept (`noteapp history {env}`) or deploy its commit ({}) \
             again",
            target.sequence,
            target.image_digest,
            target.commit.as_deref().unwrap_or("unknown")
        )));
    }
    let kept_template = recording::kept_template(clients, &config.region, stack, target).await?;
    let plan = match kept_template {
        Some(body) => {
            progress.line(format!(
                "release {}'s template, parameters and image are restored together",
                target.sequence
            ));
            let parameters = target.parameters.clone().into_iter().collect();
            template::plan_with(config, &body, parameters)?
        }
        None => {
            let body = release::strip(live);
            let mut plan = template::plan(config, &body, &target.image_uri)?;
            for (key, value) in &target.parameters {
                plan.set_parameter(key, value);
            }
            if release::sha256(&body) != target.template_sha256 {
                progress.line(format!(
                    "note: release {} ran another template than the stack runs now, and that \
                     template was not kept (it was recorded before noteapp kept each release's \
                     template in the releases bucket): the rollback brings back its image and \
                     parameters on the current template",
                    target.sequence
                ));
            }
            plan
        }
    };
    Ok((plan, image, repository))
}

/// The stack brought back to its live release (the last good one: a canary is not in the
/// history until finished) after a canary's traffic went back to it outside CloudFormation:
/// that release's kept template and parameters sent again, with the history as it is, through
/// the change-set flow, then smoke checked. Nothing new is recorded: the stack runs exactly
/// what it ran before the canary.
pub async fn reconcile(
    clients: &Clients,
    config: &EnvironmentConfig,
    options: &DeployOptions,
    prompt: &Prompt,
    finish: &Finish,
    progress: &Progress,
) -> Result<DeployReport, Error> {
    let (stack, env) = (&config.stack_name, config.name());
    clients.ensure_account(env, &config.account_id).await?;
    let live = live_template(clients, stack, progress).await?;
    let history = release::read(&live);
    let Some(target) = history.live().cloned() else {
        return Err(Error::StackState(format!(
            "stack {stack} records no release to go back to: deploy {env} again"
        )));
    };
    progress.line(format!(
        "bringing stack {stack} back to release {}, the last good one",
        target.sequence
    ));
    let repository = crate::aws::ecr::DEFAULT_REPOSITORY;
    let (mut plan, _, _) =
        restore_plan(clients, config, &target, &live, repository, progress).await?;
    let body = release::strip(&plan.template_body);
    let kept = config.releases_kept as usize;
    plan.template_body = release::write(&body, &target, &history.releases[1..], kept);
    recording::keep(clients, &mut plan, target.sequence).await?;
    let mut report = deploy_until(ctrl_c(), clients, &plan, options, prompt, progress).await?;
    if let Some(timeout) = finish.smoke_timeout {
        smoke_check(clients, &mut report, timeout, progress).await;
    }
    Ok(report)
}

/// What a rollback did: the aliases moved back, or the stack deployed again.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "path", rename_all = "snake_case")]
pub enum Rolled {
    /// The `live` aliases moved back to the release's versions, no stack operation.
    Aliases(AliasRollback),
    /// The release's template, parameters and image deployed again.
    Stack(Box<DeployReport>),
}

impl Rolled {
    /// The error the command exits with, after the report.
    pub fn check(&self) -> Result<(), Error> {
        match self {
            Rolled::Aliases(_) => Ok(()),
            Rolled::Stack(report) => report.check(),
        }
    }
}

impl fmt::Display for Rolled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rolled::Aliases(report) => write!(f, "{report}"),
            Rolled::Stack(report) => write!(f, "{report}"),
        }
    }
}

/// The rollback to release `to` (or the one before the live release): by moving the aliases
/// when that release's template and parameters are the stack's and its versions are there
/// (unless `full`), else [`prepare`] and the deploy flow, its release tagged and its stack
/// smoke checked as a deploy's. Refused while a canary shifts.
#[allow(clippy::too_many_arguments)]
pub async fn roll_back(
    clients: &Clients,
    config: &EnvironmentConfig,
    to: Option<u64>,
    full: bool,
    repository: &str,
    options: &DeployOptions,
    finish: &Finish,
    progress: &Progress,
) -> Result<Rolled, Error> {
    clients
        .ensure_account(config.name(), &config.account_id)
        .await?;
    let before = super::traffic::before(clients, config, progress).await?;
    if !full && let Some(before) = &before {
        match by_alias(clients, config, to, before, progress).await? {
            Ok(done) => return Ok(Rolled::Aliases(done)),
            Err(why) => progress.line(format!(
                "{why}: rolling back through CloudFormation instead (the release's template, \
                 parameters and image together)"
            )),
        }
    }
    let (plan, recording) = prepare(clients, config, to, repository, progress).await?;
    let prompt = &Prompt::stdin();
    let report = deploy_recorded(
        clients, &plan, &recording, options, prompt, finish, progress,
    )
    .await?;
    Ok(Rolled::Stack(Box::new(report)))
}

/// The rollback by moving the aliases (see `alias`), or why it does not apply.
async fn by_alias(
    clients: &Clients,
    config: &EnvironmentConfig,
    to: Option<u64>,
    before: &Before,
    progress: &Progress,
) -> Result<Result<AliasRollback, String>, Error> {
    let started = std::time::Instant::now();
    let (stack, aliases) = (&config.stack_name, before.aliases.as_slice());
    let Some(calls) = LiveCalls::of(clients, &config.region)? else {
        return Ok(Err("these credentials cannot sign Lambda's requests".into()));
    };
    let history = release::read(&live_template(clients, stack, progress).await?);
    let live = history.live().cloned();
    // Aliases moved back by an earlier rollback return to the release the stack says the same
    // way: its versions are the newest published for it.
    let stack_release = live
        .as_ref()
        .and_then(|r| r.parameter(template::RELEASE_ID));
    let forward = matches!(Traffic::read(aliases, stack_release), Traffic::Moved { .. })
        && to.is_some()
        && to == live.as_ref().map(|r| r.sequence);
    let target = match (forward, &live) {
        (true, Some(live)) => match alias::with_published_versions(&calls, stack, live).await? {
            Ok(live) => live,
            Err(why) => return Ok(Err(why)),
        },
        _ => target(&history, to, stack)?,
    };
    let live = live.unwrap_or_else(|| target.clone());
    let moves = match alias::plan(&live, &target, aliases) {
        Ok(moves) => moves,
        Err(why) => return Ok(Err(why)),
    };
    let release_id = target.parameter(template::RELEASE_ID).unwrap_or_default();
    if let Err(why) = alias::check_versions(&calls, &moves, release_id).await? {
        return Ok(Err(why));
    }
    let already = moves.iter().all(|m| {
        aliases.iter().any(|a| {
            a.name == m.function
                && a.alias
                    .as_ref()
                    .is_some_and(|al| al.version == m.to && !al.is_shifting())
        })
    });
    progress.status(format!(
        "moving stack {stack}'s live aliases back to release {}",
        target.sequence
    ));
    let moved = match already {
        true => Vec::new(),
        false => alias::move_back(&calls, &moves, aliases).await?,
    };
    Ok(Ok(AliasRollback {
        environment: config.name().to_owned(),
        stack_name: stack.clone(),
        to: target.sequence,
        stack_release: live.sequence,
        moved,
        seconds: alias::seconds_since(started),
    }))
}

/// What `rollback --continue` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoverReport {
    /// The environment's name (`staging`).
    pub environment: String,
    /// The stack recovered (`noteapp-staging`).
    pub stack_name: String,
    /// The state the stack was found in.
    pub from: String,
    /// `ContinueUpdateRollback` or `RollbackStack`.
    pub action: &'static str,
    /// Resources left as they were (ContinueUpdateRollback's ResourcesToSkip).
    pub skipped: Vec<String>,
    /// The stack's status once the operation ended (`UPDATE_ROLLBACK_COMPLETE` when it
    /// recovered).
    pub stack_status: String,
}

impl RecoverReport {
    /// The error the command exits with, after the report: `StackFailed` unless the stack
    /// ended `UPDATE_ROLLBACK_COMPLETE`.
    pub fn check(&self) -> Result<(), Error> {
        if self.stack_status == "UPDATE_ROLLBACK_COMPLETE" {
            Ok(())
        } else {
            Err(Error::StackFailed {
                stack: self.stack_name.clone(),
                status: self.stack_status.clone(),
            })
        }
    }
}

impl fmt::Display for RecoverReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "stack {} was {}: {} ran; the stack is now {}",
            self.stack_name, self.from, self.action, self.stack_status
        )?;
        if !self.skipped.is_empty() {
            writeln!(
                f,
                "left as they were (check them against the template): {}",
                self.skipped.join(", ")
            )?;
        }
        Ok(())
    }
}

/// The resources whose rollback failed in the operation that left the stack
/// `UPDATE_ROLLBACK_FAILED`: what ContinueUpdateRollback has to skip.
pub async fn failed_rollbacks(clients: &Clients, stack: &str) -> Result<Vec<String>, Error> {
    let events = stack::events_since(&clients.cloudformation, stack, |_| false, 1).await?;
    let mut skip = Vec::new();
    for event in events {
        if event.is_stack_event() && event.status == "UPDATE_ROLLBACK_IN_PROGRESS" {
            break;
        }
        if !event.is_stack_event()
            && event.status == "UPDATE_FAILED"
            && !skip.contains(&event.logical_id)
        {
            skip.push(event.logical_id);
        }
    }
    skip.reverse();
    Ok(skip)
}

/// `--continue`: brings a stuck stack back to `UPDATE_ROLLBACK_COMPLETE`, asking first.
pub async fn recover(
    clients: &Clients,
    config: &EnvironmentConfig,
    options: &DeployOptions,
    prompt: &Prompt,
    progress: &Progress,
) -> Result<RecoverReport, Error> {
    let (stack, env) = (&config.stack_name, config.name());
    clients.ensure_account(env, &config.account_id).await?;
    let cfn = &clients.cloudformation;
    let info = stack::describe_stack(cfn, stack)
        .await?
        .ok_or_else(|| Error::StackState(format!("stack {stack} does not exist")))?;
    let (action, skipped, question) = match info.status.as_str() {
        "UPDATE_ROLLBACK_FAILED" => {
            let skip = failed_rollbacks(clients, &info.id).await?;
            let question = if skip.is_empty() {
                format!("continue the rollback of stack {stack}? [y/N]")
            } else {
                progress.line(format!(
                    "these resources failed to roll back and would be skipped, left as they are \
                     now (fix them by hand if they must match the old template): {}",
                    skip.join(", ")
                ));
                format!(
                    "continue the rollback of stack {stack}, skipping {}? [y/N]",
                    skip.join(", ")
                )
            };
            ("ContinueUpdateRollback", skip, question)
        }
        "UPDATE_FAILED" => (
            "RollbackStack",
            Vec::new(),
            format!("roll stack {stack} back to its last stable template? [y/N]"),
        ),
        other => {
            return Err(Error::StackState(format!(
                "stack {stack} is {other}: --continue recovers only UPDATE_ROLLBACK_FAILED or \
                 UPDATE_FAILED; see `noteapp status {env}`"
            )));
        }
    };
    if !options.yes {
        match prompt.ask(progress, &question).await? {
            Some(answer) if matches!(answer.to_lowercase().as_str(), "y" | "yes") => {}
            None => {
                return Err(Error::Refused(format!(
                    "{action} on stack {stack} needs a confirmation and stdin is not a \
                     terminal: rerun with --yes; nothing was changed"
                )));
            }
            Some(_) => return Err(Error::Refused("not confirmed; nothing was changed".into())),
        }
    }
    let marker = wait::event_marker(cfn, &info.id).await?;
    let token = change_set_name().replace("noteapp-", "noteapp-recover-");
    progress.status(format!("{action} on stack {stack}"));
    if action == "RollbackStack" {
        stack::rollback_stack(cfn, stack, &token).await?;
    } else {
        stack::continue_update_rollback(cfn, stack, &skipped, &token).await?;
    }
    let operation = Operation {
        stack_id: &info.id,
        stack_name: stack,
        environment: env,
    };
    let finished =
        wait::follow_operation(cfn, &operation, marker, options.waits.operation, progress).await?;
    Ok(RecoverReport {
        environment: env.to_owned(),
        stack_name: stack.clone(),
        from: info.status,
        action,
        skipped,
        stack_status: finished.status,
    })
}
