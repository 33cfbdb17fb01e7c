//! The deploy flow's change set (`noteapp deploy`, and under the rollback, `release
//! finish|undo` and the CI bootstrap): a stack brought to a plan through a CloudFormation change
//! set, and the report of what happened. The whole deploy of an environment around it (image,
//! release strategy, recording) is `rollout`.
//!
//! Steps: check the credentials' account against the environment file;
//! refuse reserved concurrency the account cannot hold (`aws::lambda`);
//! wait out an operation already running; for a new stack, bring back the tables a deleted one
//! kept (`change_set`); create a change set and print its diff; refuse replacing or removing a
//! table unless `--allow-replacement`; ask where the environment wants a confirmation (`--yes`
//! skips it; with no terminal to ask on, refuse); execute; print the stack events as they come;
//! put the table policy (and production's termination protection) on the stack; report the
//! outputs, or every failed resource with its reason; smoke check the stack it created or
//! updated (`smoke`; `--no-smoke` skips it), whose failure exits 1. A failed first create
//! leaves no stack and no table. Nothing to change: the empty change set is deleted and the command exits 0 at once.
//! Ctrl-C deletes an unexecuted change set; an operation already started carries on in
//! CloudFormation and the next run waits it out, so re-running after any failure is safe.

use std::future::Future;
use std::time::Duration;

use super::change_set::{self, Computed, Intent, Pending, Prepared};
use super::recording::{self, Recording};
use crate::aws::resource_changes::{Diff, blocked_replacements, blocked_summary};
use crate::aws::wait::Operation;
use crate::aws::{Clients, Waits, lambda, protection, stack, wait};
use crate::error::Error;
use crate::interrupt::ctrl_c;
use crate::plan::Plan;
use crate::progress::{Progress, Prompt};
use crate::smoke::{self, SmokeReport};

/// What the person allowed up front.
#[derive(Debug, Clone, Copy)]
pub struct DeployOptions {
    /// Execute without asking, also where the environment asks for confirmation (`--yes`).
    pub yes: bool,
    /// Let the change set replace or remove a table (`--allow-replacement`).
    pub allow_replacement: bool,
    /// Creating the stack: leave the tables a deleted stack kept where they are and start on
    /// new ones instead of importing them (`--new-tables`).
    pub new_tables: bool,
    /// How to poll CloudFormation for the change set and the stack operation.
    pub waits: Waits,
}

/// How a deploy (or a rollback) ends once its change set ran.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finish {
    /// Each smoke check's time limit; `None` skips the smoke check (`--no-smoke`).
    pub smoke_timeout: Option<Duration>,
}

/// The change set of `plan` run ([`deploy_until`] Ctrl-C, asking on `prompt`), then
/// [`conclude`]d: `recording`'s release tagged, the stack smoke checked.
pub async fn deploy_recorded(
    clients: &Clients,
    plan: &Plan,
    recording: &Recording,
    options: &DeployOptions,
    prompt: &Prompt,
    finish: &Finish,
    progress: &Progress,
) -> Result<DeployReport, Error> {
    let report = deploy_until(ctrl_c(), clients, plan, options, prompt, progress).await;
    conclude(clients, report, recording, finish, progress).await
}

/// A stack that was created or updated gets its release tagged and is smoke checked.
pub async fn conclude(
    clients: &Clients,
    report: Result<DeployReport, Error>,
    recording: &Recording,
    finish: &Finish,
    progress: &Progress,
) -> Result<DeployReport, Error> {
    let mut report = report?;
    if matches!(report.result, DeployResult::Created | DeployResult::Updated) {
        recording::finish(
            clients,
            &report.environment,
            &report.stack_name,
            recording,
            progress,
        )
        .await;
        report.release = Some(recording.release.clone());
    }
    if let Some(timeout) = finish.smoke_timeout {
        smoke_check(clients, &mut report, timeout, progress).await;
    }
    Ok(report)
}

/// Ends a deploy: a stack that was created or updated is smoke checked, and the result goes
/// into the report (a stack without the outputs fails the check, naming them).
pub async fn smoke_check(
    clients: &Clients,
    report: &mut DeployReport,
    timeout: Duration,
    progress: &Progress,
) {
    if !matches!(report.result, DeployResult::Created | DeployResult::Updated) {
        return;
    }
    let checked = smoke::check(
        clients,
        &report.stack_name,
        &report.outputs,
        timeout,
        progress,
    )
    .await;
    report.smoke = Some(match checked {
        Ok(smoke) => smoke,
        Err(e) => SmokeReport::unchecked("outputs", e.to_string()),
    });
}

/// [`deploy`], cut short by `interrupt` with nothing left behind that the next run cannot handle.
pub async fn deploy_until(
    interrupt: impl Future<Output = ()>,
    clients: &Clients,
    plan: &Plan,
    options: &DeployOptions,
    prompt: &Prompt,
    progress: &Progress,
) -> Result<DeployReport, Error> {
    let pending = Pending::default();
    tokio::select! {
        result = deploy(clients, plan, options, prompt, progress, &pending) => result,
        () = interrupt => Err(change_set::interrupted(clients, &pending, plan.environment.as_str(), progress).await),
    }
}

/// The whole flow; stack failures are a report with `result: failed`, refusals are errors.
pub async fn deploy(
    clients: &Clients,
    plan: &Plan,
    options: &DeployOptions,
    prompt: &Prompt,
    progress: &Progress,
    pending: &Pending,
) -> Result<DeployReport, Error> {
    let mut report = DeployReport {
        environment: plan.environment.to_string(),
        stack_name: plan.stack_name.clone(),
        result: DeployResult::Unchanged,
        change_set: None,
        changes: Vec::new(),
        stack_status: None,
        outputs: Default::default(),
        failures: Vec::new(),
        imported_tables: Vec::new(),
        release: None,
        rollback: None,
        canary: None,
        smoke: None,
    };
    let intent = Intent::Deploy {
        new_tables: options.new_tables,
    };
    // Reservations the account cannot hold would fail the update halfway: refuse them first.
    lambda::ensure_reservations_fit(clients, plan).await?;
    let prepared =
        match change_set::prepare(clients, plan, options.waits, progress, pending, intent).await? {
            Computed::Changes(prepared) => prepared,
            Computed::Unchanged(current) => {
                progress.line(format!(
                    "no changes: stack {} already matches this deploy",
                    plan.stack_name
                ));
                if let Some(current) = current {
                    report.stack_status = Some(current.status);
                    report.outputs = current.outputs;
                }
                return Ok(report);
            }
        };
    let marker =
        match approve_and_execute(clients, plan, options, prompt, progress, &prepared).await {
            Ok(marker) => marker,
            Err(e) => {
                change_set::discard(clients, &prepared.change_set, progress, pending).await;
                return Err(e);
            }
        };
    let Prepared {
        change_set,
        create,
        info,
        stack_id,
        imported,
        protect_after_create,
    } = prepared;
    report.imported_tables = imported.into_iter().map(|t| t.name).collect();
    pending.operation_started(&plan.stack_name);
    let cfn = &clients.cloudformation;
    let (stack, env) = (&plan.stack_name, plan.environment.as_str());
    let operation = Operation {
        stack_id: &stack_id,
        stack_name: stack,
        environment: env,
    };
    let finished =
        wait::follow_operation(cfn, &operation, marker, options.waits.operation, progress).await?;
    pending.clear();
    let wanted = if create {
        "CREATE_COMPLETE"
    } else {
        "UPDATE_COMPLETE"
    };
    report.result = match (finished.status == wanted, create) {
        (false, _) => DeployResult::Failed,
        (true, true) => DeployResult::Created,
        (true, false) => DeployResult::Updated,
    };
    let gone = finished.stack.is_none() || finished.status == "DELETE_COMPLETE";
    match &finished.stack {
        Some(info) if !gone => {
            if let Err(e) = protection::after_operation(cfn, plan, info, progress).await {
                progress.line(format!(
                    "warning: {e}; the next deploy puts the stack's protection in place"
                ));
            }
        }
        _ if create => progress.line(format!(
            "the create failed, so CloudFormation deleted stack {stack} and everything it had \
             made: no table or other resource is left; fix the cause and deploy again"
        )),
        _ => {}
    }
    report.change_set = Some(change_set.name);
    report.changes = info.changes;
    report.stack_status = Some(finished.status);
    report.outputs = finished.stack.map(|s| s.outputs).unwrap_or_default();
    report.failures = finished.failures;
    if protect_after_create && report.result == DeployResult::Created {
        turn_on_deletion_protection(clients, plan, options, progress, pending, &mut report).await?;
    }
    Ok(report)
}

/// After a first create that left the tables unprotected ([`Prepared::protect_after_create`]):
/// the update that turns their deletion protection on, run without asking again (the create
/// was confirmed). Should it fail, the stack runs unprotected tables, which the report and the
/// next deploy (whose plan asks for protection again) put right.
async fn turn_on_deletion_protection(
    clients: &Clients,
    plan: &Plan,
    options: &DeployOptions,
    progress: &Progress,
    pending: &Pending,
    report: &mut DeployReport,
) -> Result<(), Error> {
    let stack = &plan.stack_name;
    progress.line(format!(
        "the create succeeded: turning on the deletion protection of stack {stack}'s tables"
    ));
    let intent = Intent::Deploy { new_tables: false };
    let prepared =
        match change_set::prepare(clients, plan, options.waits, progress, pending, intent).await? {
            Computed::Changes(prepared) => prepared,
            Computed::Unchanged(_) => return Ok(()),
        };
    let cfn = &clients.cloudformation;
    let marker = wait::event_marker(cfn, stack).await?;
    let name = &prepared.change_set.name;
    stack::execute_change_set(cfn, stack, name, name).await?;
    pending.operation_started(stack);
    let operation = Operation {
        stack_id: &prepared.stack_id,
        stack_name: stack,
        environment: plan.environment.as_str(),
    };
    let finished =
        wait::follow_operation(cfn, &operation, marker, options.waits.operation, progress).await?;
    pending.clear();
    if finished.status != "UPDATE_COMPLETE" {
        progress.line(format!(
            "warning: turning on the tables' deletion protection ended {}: the tables are not \
             protected yet; `noteapp deploy {}` turns it on",
            finished.status,
            plan.environment.as_str()
        ));
    }
    report.stack_status = Some(finished.status);
    if let Some(info) = finished.stack {
        report.outputs = info.outputs;
    }
    Ok(())
}

/// Shows the diff, applies the replacement rule and the confirmation, then executes; returns the
/// event marker the operation is followed from. Any error leaves the change set to discard.
async fn approve_and_execute(
    clients: &Clients,
    plan: &Plan,
    options: &DeployOptions,
    prompt: &Prompt,
    progress: &Progress,
    prepared: &Prepared,
) -> Result<Option<String>, Error> {
    let (name, changes, create) = (
        prepared.change_set.name.as_str(),
        prepared.info.changes.as_slice(),
        prepared.create,
    );
    let (stack, env) = (&plan.stack_name, plan.environment.as_str());
    progress.line(format!("change set {name} for stack {stack}:"));
    progress.line(Diff {
        changes,
        stateful: &plan.stateful_resources,
    });
    let blocked = blocked_replacements(changes, &plan.stateful_resources);
    let summary = blocked_summary(changes, &plan.stateful_resources);
    if !blocked.is_empty() && !options.allow_replacement {
        return Err(Error::Refused(format!(
            "the change set would {summary}: the table leaves the stack with the data (it is \
             retained, detached) and the app starts on an empty one; a logical id renamed in \
             the template does this too; nothing was changed; rerun with --allow-replacement if \
             that is what you want"
        )));
    }
    if !blocked.is_empty() {
        progress.line(format!("warning: about to {summary} (--allow-replacement)"));
    }
    if plan.confirm && !options.yes {
        let question = format!("execute change set {name} on stack {stack} ({env})? [y/N]");
        match prompt.ask(progress, &question).await? {
            None => {
                return Err(Error::Refused(format!(
                    "{env} asks for confirmation before a change set runs and stdin is not a \
                     terminal: rerun with --yes to execute it; nothing was changed"
                )));
            }
            Some(answer) if matches!(answer.to_lowercase().as_str(), "y" | "yes") => {}
            Some(_) => return Err(Error::Refused("not confirmed; nothing was changed".into())),
        }
    }
    let cfn = &clients.cloudformation;
    if !create {
        protection::before_update(cfn, plan, !blocked.is_empty(), progress).await?;
    }
    let marker = wait::event_marker(cfn, stack).await?;
    progress.status(format!("executing change set {name} on stack {stack}"));
    stack::execute_change_set(cfn, stack, name, name).await?;
    Ok(marker)
}

mod report;

pub use report::{CanaryReport, DeployReport, DeployResult, Outcome, Returned, RollbackOutcome};

#[cfg(test)]
mod refusals;
#[cfg(test)]
mod tables;
#[cfg(test)]
mod tests;
