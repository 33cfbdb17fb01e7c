//! The first half of a deploy, shared with `noteapp diff`: check the account and the stack's
//! state, create a change set and wait until CloudFormation has computed it; and the way back out
//! (`discard`), used on "no changes", a refusal, a failure or Ctrl-C, so that no run leaves a
//! state the next one cannot handle.
//!
//! Stack states: none (or `REVIEW_IN_PROGRESS`, a stack holding only change sets) → a CREATE
//! change set, which CloudFormation deletes again with everything it made should the create fail
//! (`OnStackFailure=DELETE`); but first, tables a deleted stack of this name kept are imported
//! back (an IMPORT change set, so the new stack starts on the old data) or, when they cannot be,
//! the deploy refuses unless `--new-tables`. An operation in progress → waited out.
//! `ROLLBACK_COMPLETE` (a failed first create from before `OnStackFailure`; it holds nothing) →
//! deleted by a deploy, then created again. `ROLLBACK_FAILED`, `DELETE_FAILED` and
//! `UPDATE_ROLLBACK_FAILED` → refused with the command that clears them. Anything else → an
//! UPDATE change set.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::aws::stack::{self, ChangeSetInfo, ChangeSetKind, StackInfo};
use crate::aws::tables::{self, Retained, RetainedTable};
use crate::aws::wait::Operation;
use crate::aws::{Clients, Waits, is_no_changes, protection, wait};
use crate::error::Error;
use crate::plan::Plan;
use crate::progress::Progress;

/// A change set that exists in CloudFormation and has not been executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetRef {
    /// The stack's name.
    pub stack: String,
    /// The change set's name (`noteapp-<unix milliseconds>`).
    pub name: String,
    /// The stack did not exist before this change set made it (it is `REVIEW_IN_PROGRESS`
    /// and holds nothing), so discarding the change set deletes the empty stack too.
    pub fresh_stack: bool,
}

/// A computed change set with changes in it.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The change set, unexecuted.
    pub change_set: ChangeSetRef,
    /// CREATE (a new stack) rather than UPDATE.
    pub create: bool,
    /// The computed change set as CloudFormation describes it: its status and every resource
    /// change.
    pub info: ChangeSetInfo,
    /// The stack's id (its name when CloudFormation gave none): what its operation is followed
    /// by, since a stack deleted by a failed create answers to its id only.
    pub stack_id: String,
    /// Tables brought back into the stack before this change set (a deploy), or that a deploy
    /// would bring back (a diff).
    pub imported: Vec<RetainedTable>,
    /// The create leaves the tables' deletion protection off, to be turned on by an update
    /// once the create succeeded ([`PROTECTION_PARAMETER`]): a failed first create must be
    /// able to delete what it made.
    pub protect_after_create: bool,
}

/// The parameter that turns the tables' deletion protection on.
pub const PROTECTION_PARAMETER: &str = "DeletionProtection";

/// What the change set is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// A deploy: it may delete a dead stack and import kept tables; `new_tables` leaves kept
    /// tables where they are and starts on new ones.
    Deploy {
        /// Leave the tables a deleted stack kept where they are and start on new ones
        /// (`--new-tables`), instead of importing them back.
        new_tables: bool,
    },
    /// A diff: it changes nothing.
    Diff,
}

/// What creating a change set came to.
#[derive(Debug)]
pub enum Computed {
    /// The change set has changes and waits, unexecuted, to be shown and run (or discarded).
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

    /// Nothing is in flight any more: the operation finished, or the change set was deleted.
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
    waits: Waits,
    progress: &Progress,
    pending: &Pending,
    intent: Intent,
) -> Result<Computed, Error> {
    // The commands refuse a local-only environment as they load it; a plan made otherwise
    // meets the same refusal here, before any AWS call.
    if plan.local_only {
        return Err(Error::local_only(plan.environment.as_str()));
    }
    let (stack, env) = (&plan.stack_name, plan.environment.as_str());
    clients.ensure_account(env, &plan.account_id).await?;
    let cfn = &clients.cloudformation;
    let mut current = wait::settled_stack(cfn, stack, env, waits.operation, progress).await?;
    let status = current.as_ref().map(|s| s.status.clone());
    let mut create = match status.as_deref() {
        None | Some("REVIEW_IN_PROGRESS" | "DELETE_COMPLETE") => true,
        Some("ROLLBACK_COMPLETE") => {
            let dead = current.take().expect("a stack");
            if intent == Intent::Diff {
                return Err(Error::StackState(format!(
                    "stack {stack} is ROLLBACK_COMPLETE: its first create failed and it holds \
                     nothing; `noteapp deploy {env}` deletes it and creates the stack again"
                )));
            }
            delete_dead_stack(clients, plan, &dead, waits, progress, pending).await?;
            true
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
                 then finish the rollback with `noteapp rollback {env} --continue` and deploy \
                 again"
            )));
        }
        Some(_) => false,
    };
    let mut imported = Vec::new();
    // A template without tables (the CI stack) has none to bring back.
    if create && !plan.stateful_resources.is_empty() {
        match retained_tables(clients, plan, intent, progress).await? {
            Some(found) if intent == Intent::Diff => imported = found,
            Some(found) => {
                import_tables(clients, plan, &found, waits, progress, pending).await?;
                current = stack::describe_stack(cfn, stack).await?;
                create = false;
                imported = found;
            }
            None => {}
        }
    }
    let change_set = ChangeSetRef {
        stack: stack.clone(),
        name: change_set_name(),
        fresh_stack: current.is_none(),
    };
    progress.status(format!(
        "creating change set {} for stack {stack}",
        change_set.name
    ));
    let kind = if create {
        ChangeSetKind::Create
    } else {
        ChangeSetKind::Update
    };
    // A new stack's tables are created without deletion protection: should the create fail,
    // CloudFormation deletes what it made (`OnStackFailure=DELETE`), and a protected table
    // would stop that delete (DELETE_FAILED). The deploy turns protection on right after.
    let protect_after_create = create
        && matches!(intent, Intent::Deploy { .. })
        && plan.parameter(PROTECTION_PARAMETER) == Some("true");
    let unprotected;
    let sent = if protect_after_create {
        let mut first = plan.clone();
        first.set_parameter(PROTECTION_PARAMETER, "false");
        unprotected = first;
        &unprotected
    } else {
        plan
    };
    let (info, stack_id) =
        compute(clients, sent, &change_set, &kind, waits, progress, pending).await?;
    if info.status == "CREATE_COMPLETE" && info.execution_status == "AVAILABLE" {
        return Ok(Computed::Changes(Prepared {
            change_set,
            create,
            info,
            stack_id: stack_id.unwrap_or_else(|| stack.clone()),
            imported,
            protect_after_create,
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

/// Creates change set `change_set` of `kind` and waits until it is computed (discarding it if
/// that fails); with the stack's id.
async fn compute(
    clients: &Clients,
    plan: &Plan,
    change_set: &ChangeSetRef,
    kind: &ChangeSetKind,
    waits: Waits,
    progress: &Progress,
    pending: &Pending,
) -> Result<(ChangeSetInfo, Option<String>), Error> {
    let cfn = &clients.cloudformation;
    let stack_id = stack::create_change_set(cfn, plan, &change_set.name, kind).await?;
    pending.set(InFlight::ChangeSet(change_set.clone()));
    let computed = wait::computed_change_set(
        cfn,
        &change_set.stack,
        &change_set.name,
        waits.change_set,
        progress,
    )
    .await;
    match computed {
        Ok(info) => Ok((info, stack_id)),
        Err(e) => {
            discard(clients, change_set, progress, pending).await;
            Err(e)
        }
    }
}

/// Deletes a stack a failed first create left in `ROLLBACK_COMPLETE` (it holds no resource).
async fn delete_dead_stack(
    clients: &Clients,
    plan: &Plan,
    dead: &StackInfo,
    waits: Waits,
    progress: &Progress,
    pending: &Pending,
) -> Result<(), Error> {
    let (stack, env) = (&plan.stack_name, plan.environment.as_str());
    let cfn = &clients.cloudformation;
    progress.line(format!(
        "stack {stack} is ROLLBACK_COMPLETE from a failed first create and holds nothing: \
         deleting it before creating it again"
    ));
    let marker = wait::event_marker(cfn, &dead.id).await?;
    let token = change_set_name().replace("noteapp-", "noteapp-clear-");
    stack::delete_stack(cfn, &dead.id, &token).await?;
    pending.operation_started(stack);
    let operation = Operation {
        stack_id: &dead.id,
        stack_name: stack,
        environment: env,
    };
    let finished =
        wait::follow_operation(cfn, &operation, marker, waits.operation, progress).await?;
    pending.clear();
    if finished.status != "DELETE_COMPLETE" {
        return Err(Error::StackState(format!(
            "stack {stack} could not be deleted ({}): {}; see `noteapp status {env}`",
            finished.status,
            finished
                .reason
                .as_deref()
                .unwrap_or("CloudFormation gave no reason")
        )));
    }
    Ok(())
}

/// The tables a deleted stack of this name kept, to bring back: `None` when there are none or
/// `--new-tables` leaves them; a refusal when some cannot be brought back.
async fn retained_tables(
    clients: &Clients,
    plan: &Plan,
    intent: Intent,
    progress: &Progress,
) -> Result<Option<Vec<RetainedTable>>, Error> {
    let (stack, env) = (&plan.stack_name, plan.environment.as_str());
    progress.status(format!("looking for tables a deleted {stack} kept"));
    let found = tables::find(&clients.dynamodb, stack, &plan.region, &plan.account_id).await?;
    let new_tables = matches!(intent, Intent::Deploy { new_tables: true });
    match found {
        Retained::None => Ok(None),
        Retained::Importable(found) if new_tables => {
            let names: Vec<&str> = found.iter().map(|t| t.name.as_str()).collect();
            progress.line(format!(
                "leaving the tables a deleted {stack} kept where they are (--new-tables): {}; \
                 the new stack starts on new, empty tables",
                names.join(", ")
            ));
            Ok(None)
        }
        Retained::Importable(found) => Ok(Some(found)),
        Retained::Conflicting { .. } if new_tables => Ok(None),
        Retained::Conflicting { tables, reason } => Err(Error::Refused(format!(
            "a deleted {stack} kept tables that cannot be brought back into the new stack ({}: \
             {reason}); nothing was changed; move their data yourself, or rerun `noteapp deploy \
             {env} --new-tables` to start on new, empty tables and leave these where they are",
            tables.join(", ")
        ))),
    }
}

/// Brings `tables` into a new stack with an IMPORT change set, waits for `IMPORT_COMPLETE` and
/// puts the table policy on the stack at once.
async fn import_tables(
    clients: &Clients,
    plan: &Plan,
    tables: &[RetainedTable],
    waits: Waits,
    progress: &Progress,
    pending: &Pending,
) -> Result<(), Error> {
    let (stack, env) = (&plan.stack_name, plan.environment.as_str());
    let cfn = &clients.cloudformation;
    for table in tables {
        progress.line(format!(
            "re-attaching {} (kept by a deleted {stack}) as {}",
            table.name, table.logical_id
        ));
    }
    let ids: Vec<&str> = tables.iter().map(|t| t.logical_id.as_str()).collect();
    let (template_body, parameters) = crate::template::import_template(&plan.template_body, &ids)?;
    let kind = ChangeSetKind::Import {
        template_body,
        parameters,
        tables: tables
            .iter()
            .map(|t| (t.logical_id.clone(), t.name.clone()))
            .collect(),
    };
    let change_set = ChangeSetRef {
        stack: stack.clone(),
        name: change_set_name(),
        fresh_stack: true,
    };
    progress.status(format!("creating import change set {}", change_set.name));
    let (info, stack_id) =
        compute(clients, plan, &change_set, &kind, waits, progress, pending).await?;
    let stack_id = stack_id.unwrap_or_else(|| stack.clone());
    if info.status != "CREATE_COMPLETE" || info.execution_status != "AVAILABLE" {
        discard(clients, &change_set, progress, pending).await;
        return Err(Error::StackState(format!(
            "the import of {} into stack {stack} cannot run: {}; the tables are untouched; run \
             the deploy again, or with --new-tables to leave them",
            ids.join(", "),
            info.reason.as_deref().unwrap_or(&info.status)
        )));
    }
    let marker = wait::event_marker(cfn, &stack_id).await?;
    progress.status(format!("importing {} into stack {stack}", ids.join(", ")));
    stack::execute_change_set(cfn, stack, &change_set.name, &change_set.name).await?;
    pending.operation_started(stack);
    let operation = Operation {
        stack_id: &stack_id,
        stack_name: stack,
        environment: env,
    };
    let finished =
        wait::follow_operation(cfn, &operation, marker, waits.operation, progress).await?;
    pending.clear();
    if finished.status != "IMPORT_COMPLETE" {
        return Err(Error::StackState(finished.explain(
            &format!(
                "the import into stack {stack} ended {}; the tables are untouched",
                finished.status
            ),
            &format!("fix the cause and run `noteapp deploy {env}` again"),
        )));
    }
    let policy = crate::template::stack_policy(&plan.stateful_resources);
    protection::ensure_policy(cfn, stack, &policy).await?;
    Ok(())
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
