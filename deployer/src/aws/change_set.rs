//! The first half of a deploy, shared with `noteapp diff`: check the account and the stack's
//! state, create a change set and wait until CloudFormation has computed it; and the way back out
//! (`discard`), used on "no changes", a refusal, a failure or Ctrl-C, so that no run leaves a
//! state the next one cannot handle.
//!
//! Stack states: none (or `REVIEW_IN_PROGRESS`, a stack holding only change sets) → a CREATE
//! change set; an operation in progress → waited out; `ROLLBACK_COMPLETE` (a failed first
//! create), `ROLLBACK_FAILED`, `DELETE_FAILED` and `UPDATE_ROLLBACK_FAILED` → refused with the
//! command that clears them; anything else → an UPDATE change set.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::aws::stack::{self, ChangeSetInfo, StackInfo};
use crate::aws::{Clients, Waits, is_no_changes, wait};
use crate::commands::env::local_only;
use crate::error::Error;
use crate::plan::Plan;
use crate::progress::Progress;

/// A change set that exists in CloudFormation and has not been executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetRef {
    pub stack: String,
    pub name: String,
    /// The stack did not exist before this change set made it (it is `REVIEW_IN_PROGRESS`
    /// and holds nothing), so discarding the change set deletes the empty stack too.
    pub fresh_stack: bool,
}

/// A computed change set with changes in it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub change_set: ChangeSetRef,
    /// CREATE (a new stack) rather than UPDATE.
    pub create: bool,
    pub info: ChangeSetInfo,
}

/// What creating a change set came to.
#[derive(Debug)]
pub enum Computed {
    Changes(Prepared),
    /// Nothing would change; the empty change set is already deleted. Holds the stack as it is.
    Unchanged(Option<StackInfo>),
}

/// What a stack command has in flight, for the Ctrl-C path.
#[derive(Debug, Default)]
pub struct Pending(Mutex<InFlight>);

#[derive(Debug, Default, Clone)]
enum InFlight {
    #[default]
    Nothing,
    ChangeSet(ChangeSetRef),
    Operation(String),
}

impl Pending {
    fn set(&self, state: InFlight) {
        *self.0.lock().expect("pending") = state;
    }

    /// The operation on `stack` was started; CloudFormation carries it on regardless of us.
    pub fn operation_started(&self, stack: &str) {
        self.set(InFlight::Operation(stack.to_owned()));
    }

    pub fn clear(&self) {
        self.set(InFlight::Nothing);
    }
}

/// A change set name unique per run: `noteapp-<unix milliseconds>`.
pub fn change_set_name() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("noteapp-{}", now.as_millis())
}

/// Checks, then creates and computes a change set for the plan.
pub async fn prepare(
    clients: &Clients,
    plan: &Plan,
    polling: Waits,
    progress: &Progress,
    pending: &Pending,
) -> Result<Computed, Error> {
    if !plan.environment.is_deployed() {
        return Err(local_only(plan.environment.as_str()));
    }
    let (stack, env) = (&plan.stack_name, plan.environment.as_str());
    clients.ensure_account(env, &plan.account_id).await?;
    let cfn = &clients.cloudformation;
    let current = wait::settled_stack(cfn, stack, env, polling.operation, progress).await?;
    let status = current.as_ref().map(|s| s.status.as_str());
    let create = match status {
        None | Some("REVIEW_IN_PROGRESS" | "DELETE_COMPLETE") => true,
        Some("ROLLBACK_COMPLETE") => {
            return Err(Error::StackState(format!(
                "stack {stack} is ROLLBACK_COMPLETE: its first create failed and CloudFormation \
                 cannot update it; see why with `noteapp status {env}`, delete it with `noteapp \
                 destroy {env}` (tables are kept), then deploy again"
            )));
        }
        Some(s @ ("ROLLBACK_FAILED" | "DELETE_FAILED")) => {
            return Err(Error::StackState(format!(
                "stack {stack} is {s} and cannot be updated; see why with `noteapp status {env}`, \
                 delete it with `noteapp destroy {env}`, then deploy again"
            )));
        }
        Some("UPDATE_ROLLBACK_FAILED") => {
            return Err(Error::StackState(format!(
                "stack {stack} is UPDATE_ROLLBACK_FAILED: fix what `noteapp status {env}` reports, \
                 then finish the rollback with `aws cloudformation continue-update-rollback \
                 --stack-name {stack} --region {}` and deploy again",
                plan.region
            )));
        }
        Some(_) => false,
    };
    let change_set = ChangeSetRef {
        stack: stack.clone(),
        name: change_set_name(),
        fresh_stack: current.is_none(),
    };
    progress.status(format!(
        "creating change set {} for stack {stack}",
        change_set.name
    ));
    stack::create_change_set(cfn, plan, &change_set.name, create).await?;
    pending.set(InFlight::ChangeSet(change_set.clone()));
    let computed =
        wait::computed_change_set(cfn, stack, &change_set.name, polling.change_set, progress).await;
    let info = match computed {
        Ok(info) => info,
        Err(e) => {
            discard(clients, &change_set, progress, pending).await;
            return Err(e);
        }
    };
    if info.status == "CREATE_COMPLETE" && info.execution_status == "AVAILABLE" {
        return Ok(Computed::Changes(Prepared {
            change_set,
            create,
            info,
        }));
    }
    if info.status == "CREATE_COMPLETE" {
        discard(clients, &change_set, progress, pending).await;
        return Err(Error::StackState(format!(
            "change set {} cannot be executed ({}): the stack changed while it was computed; \
             run this command again",
            change_set.name, info.execution_status
        )));
    }
    discard(clients, &change_set, progress, pending).await;
    if is_no_changes(info.reason.as_deref()) {
        return Ok(Computed::Unchanged(current));
    }
    Err(Error::StackState(format!(
        "change set {} for stack {stack} failed: {}",
        change_set.name,
        info.reason
            .as_deref()
            .unwrap_or("CloudFormation gave no reason")
    )))
}

/// Deletes an unexecuted change set (and the empty stack a fresh one made), best effort: a
/// failure is reported, never raised, since this runs on the way out of another error.
pub async fn discard(
    clients: &Clients,
    change_set: &ChangeSetRef,
    progress: &Progress,
    pending: &Pending,
) {
    let cfn = &clients.cloudformation;
    if let Err(e) = stack::delete_change_set(cfn, &change_set.stack, &change_set.name).await {
        progress.line(format!(
            "warning: {e}; delete it in the CloudFormation console"
        ));
    }
    if change_set.fresh_stack
        && let Err(e) = stack::delete_stack(cfn, &change_set.stack, &change_set.name).await
    {
        progress.line(format!("warning: {e} (it holds no resources)"));
    }
    pending.clear();
}

/// What Ctrl-C leaves behind, made safe: an unexecuted change set is deleted; a started
/// operation carries on in CloudFormation and the next run waits it out.
pub async fn interrupted(
    clients: &Clients,
    pending: &Pending,
    environment: &str,
    progress: &Progress,
) -> Error {
    progress.clear();
    let state = pending.0.lock().expect("pending").clone();
    let message = match state {
        InFlight::Nothing => "nothing was changed".to_owned(),
        InFlight::ChangeSet(change_set) => {
            discard(clients, &change_set, progress, pending).await;
            format!(
                "change set {} was deleted; nothing was changed",
                change_set.name
            )
        }
        InFlight::Operation(stack) => format!(
            "CloudFormation goes on with stack {stack}: follow it with `noteapp status \
             {environment}`; the next deploy waits for it to finish"
        ),
    };
    Error::Interrupted(message)
}
