//! The rollback flow (`noteapp rollback ENV [--to N] [--continue]`): the previous release (or
//! release N) deployed again — its template (kept in the releases bucket), its parameters and its
//! image digest together — through the deploy's own change-set flow: diff, the table guard
//! (`--allow-replacement`), the confirmation, progress, outputs, the smoke check. Nothing is
//! built or pushed. It is recorded as a new release (`rolled back to N`). A release recorded
//! before templates were kept comes back on the template the stack runs now, and says so.
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
use super::deploy::{DeployOptions, DeployReport, Finish, conclude, deploy_until};
use super::recording::{self, Provenance, Recording};
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

#[cfg(test)]
mod tests;

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
    progress.status(format!("reading the release history of stack {stack}"));
    let live = stack::template(&clients.cloudformation, stack)
        .await?
        .ok_or_else(|| {
            Error::StackState(format!(
                "stack {stack} does not exist: there is nothing to roll back"
            ))
        })?;
    let history = release::read(&live);
    let target = target(&history, to, stack)?;
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
    let kept_template = recording::kept_template(clients, &config.region, stack, &target).await?;
    let mut plan = match kept_template {
        Some(body) => {
            progress.line(format!(
                "release {}'s template, parameters and image are restored together",
                target.sequence
            ));
            let parameters = target.parameters.clone().into_iter().collect();
            template::plan_with(config, &body, parameters)?
        }
        None => {
            let body = release::strip(&live);
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
    };
    let kept = config.releases_kept;
    let recording =
        recording::record(clients, &mut plan, Some(&repository), kept, provenance).await?;
    Ok((plan, recording))
}

/// The rollback to release `to` (or the one before the live release): [`prepare`], then the
/// deploy flow, its release tagged and its stack smoke checked as a deploy's.
pub async fn roll_back(
    clients: &Clients,
    config: &EnvironmentConfig,
    to: Option<u64>,
    repository: &str,
    options: &DeployOptions,
    finish: &Finish,
    progress: &Progress,
) -> Result<DeployReport, Error> {
    let (plan, recording) = prepare(clients, config, to, repository, progress).await?;
    let report = deploy_until(
        ctrl_c(),
        clients,
        &plan,
        options,
        &Prompt::stdin(),
        progress,
    )
    .await;
    conclude(clients, report, &recording, finish, progress).await
}

/// What `rollback --continue` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoverReport {
    pub environment: String,
    pub stack_name: String,
    /// The state the stack was found in.
    pub from: String,
    /// `ContinueUpdateRollback` or `RollbackStack`.
    pub action: &'static str,
    /// Resources left as they were (ContinueUpdateRollback's ResourcesToSkip).
    pub skipped: Vec<String>,
    pub stack_status: String,
}

impl RecoverReport {
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
