//! The destroy flow (`noteapp destroy ENV [--yes] [--i-mean-production]`): the environment's
//! stack deleted.
//!
//! The tables are kept: the template gives every table `DeletionPolicy: RetainExceptOnCreate`, so
//! they stay, with their data, outside any stack, and the next `noteapp deploy` of the
//! environment imports them back into the new stack; the command lists them before and after.
//! Any environment asks first (`--yes` skips it); one that asks for confirmation of its change
//! sets (production) wants the stack name typed, or `--yes --i-mean-production`; with no terminal
//! to ask on, it refuses. Termination protection (production) is lifted only after that
//! confirmation. It also clears a stack that a failed first create left in `ROLLBACK_COMPLETE`.

use std::fmt;

use serde::Serialize;

use super::change_set::{self, Pending};
use crate::aws::wait::Operation;
use crate::aws::{Clients, Waits, stack, wait};
use crate::error::Error;
use crate::interrupt::ctrl_c;
use crate::progress::{Progress, Prompt};

/// The stack to delete and how carefully.
#[derive(Debug, Clone)]
pub struct Target {
    /// The environment's name (`staging`).
    pub environment: String,
    /// The stack to delete (`noteapp-staging`).
    pub stack_name: String,
    /// The account the environment file names; the credentials' account must be it.
    pub account_id: String,
    /// Production-like: the name must be typed, or `--yes --i-mean-production` given.
    pub protected: bool,
}

/// [`destroy`], cut short by Ctrl-C with nothing left that the next run cannot handle.
pub async fn destroy_until_interrupted(
    clients: &Clients,
    target: &Target,
    flags: (bool, bool),
    waits: Waits,
    prompt: &Prompt,
    progress: &Progress,
) -> Result<DestroyReport, Error> {
    let pending = Pending::default();
    let environment = &target.environment;
    tokio::select! {
        report = destroy(clients, target, flags, waits, prompt, progress, &pending) => report,
        () = ctrl_c() => Err(change_set::interrupted(clients, &pending, environment, progress).await),
    }
}

/// Asks as the target requires; `Err(Refused)` unless the deletion may go ahead.
async fn confirm(
    target: &Target,
    (yes, i_mean_it): (bool, bool),
    prompt: &Prompt,
    progress: &Progress,
) -> Result<(), Error> {
    let stack = &target.stack_name;
    if target.protected {
        if yes && i_mean_it {
            return Ok(());
        }
        let question = format!(
            "this deletes the {} stack; type its name ({stack}) to go on:",
            target.environment
        );
        return match prompt.ask(progress, &question).await? {
            Some(answer) if answer == *stack => Ok(()),
            Some(_) => Err(Error::Refused(format!(
                "the name typed is not {stack}; nothing was deleted"
            ))),
            None => Err(Error::Refused(format!(
                "deleting {} needs its stack name typed at a terminal, or --yes --i-mean-production; \
                 nothing was deleted",
                target.environment
            ))),
        };
    }
    if yes {
        return Ok(());
    }
    match prompt
        .ask(progress, &format!("delete stack {stack}? [y/N]"))
        .await?
    {
        Some(answer) if matches!(answer.to_lowercase().as_str(), "y" | "yes") => Ok(()),
        Some(_) => Err(Error::Refused("not confirmed; nothing was deleted".into())),
        None => Err(Error::Refused(format!(
            "stdin is not a terminal to confirm on: rerun with --yes to delete {stack}"
        ))),
    }
}

/// Deletes the stack (after any running operation), following its events to the end.
pub async fn destroy(
    clients: &Clients,
    target: &Target,
    flags: (bool, bool),
    waits: Waits,
    prompt: &Prompt,
    progress: &Progress,
    pending: &Pending,
) -> Result<DestroyReport, Error> {
    let (env, name) = (&target.environment, &target.stack_name);
    let mut report = DestroyReport {
        environment: env.clone(),
        stack_name: name.clone(),
        result: "absent",
        retained_tables: Vec::new(),
    };
    clients.ensure_account(env, &target.account_id).await?;
    let cfn = &clients.cloudformation;
    let Some(info) = wait::settled_stack(cfn, name, env, waits.operation, progress).await? else {
        return Ok(report);
    };
    report.retained_tables = stack::list_tables(cfn, &info.id).await?;
    progress.line(format!("stack {name} ({}) will be deleted", info.status));
    if !report.retained_tables.is_empty() {
        progress.line(format!(
            "its tables are kept with their data: {}; `noteapp deploy {env}` brings them back \
             into the new stack",
            report.retained_tables.join(", ")
        ));
    }
    confirm(target, flags, prompt, progress).await?;
    if info.termination_protection {
        progress.line(format!("lifting termination protection of {name}"));
        stack::set_termination_protection(cfn, &info.id, false).await?;
    }
    let marker = wait::event_marker(cfn, &info.id).await?;
    let token = change_set::change_set_name().replace("noteapp-", "noteapp-destroy-");
    stack::delete_stack(cfn, &info.id, &token).await?;
    pending.operation_started(name);
    let operation = Operation {
        stack_id: &info.id,
        stack_name: name,
        environment: env,
    };
    let finished =
        wait::follow_operation(cfn, &operation, marker, waits.operation, progress).await?;
    pending.clear();
    if finished.status != "DELETE_COMPLETE" {
        return Err(Error::StackState(finished.explain(
            &format!("failed to delete stack {name}: it is {}", finished.status),
            &format!("fix the cause and run `noteapp destroy {env}` again"),
        )));
    }
    report.result = "deleted";
    Ok(report)
}

/// What `noteapp destroy` did.
#[derive(Debug, Clone, Serialize)]
pub struct DestroyReport {
    /// The environment's name (`staging`).
    pub environment: String,
    /// The stack's name (`noteapp-staging`).
    pub stack_name: String,
    /// `deleted` or `absent`.
    pub result: &'static str,
    /// The physical names of the stack's tables, kept with their data outside any stack (empty:
    /// no stack, or a stack without tables).
    pub retained_tables: Vec<String>,
}

impl fmt::Display for DestroyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.result == "absent" {
            return writeln!(
                f,
                "stack {} does not exist: nothing to destroy",
                self.stack_name
            );
        }
        writeln!(f, "stack {} is deleted", self.stack_name)?;
        if !self.retained_tables.is_empty() {
            writeln!(
                f,
                "tables kept with their data: {}\n`noteapp deploy {}` brings them back into the new stack (`--new-tables` starts on empty ones instead)",
                self.retained_tables.join(", "),
                self.environment
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudformation::Client;
    use aws_smithy_mocks::{Rule, RuleMode, mock};

    use super::*;
    use crate::aws::replay;

    fn target(protected: bool) -> Target {
        Target {
            environment: if protected { "production" } else { "staging" }.into(),
            stack_name: "noteapp-staging".into(),
            account_id: "123456789012".into(),
            protected,
        }
    }

    fn fast() -> Waits {
        Waits::every(std::time::Duration::from_millis(1))
    }

    /// A stack CloudFormation deletes, its tables kept: the rules, and clients answering by them.
    struct Deletion {
        identity: Rule,
        delete: Rule,
        clients: Clients,
    }

    fn deletion() -> Deletion {
        let identity = mock!(aws_sdk_sts::Client::get_caller_identity)
            .then_http_response(|| replay::caller_identity("123456789012"));
        let describe = mock!(Client::describe_stacks)
            .sequence()
            .http_response(|| replay::stack("UPDATE_COMPLETE"))
            .http_response(|| replay::stack("DELETE_IN_PROGRESS"))
            .http_response(|| replay::stack("DELETE_COMPLETE"))
            .build();
        let resources =
            mock!(Client::list_stack_resources).then_http_response(replay::stack_resources);
        let events = mock!(Client::describe_stack_events)
            .sequence()
            .http_response(|| replay::events("before_update"))
            .http_response(|| replay::events("delete_in_progress"))
            .http_response(|| replay::events("delete_complete"))
            .build();
        let delete = mock!(Client::delete_stack).then_http_response(replay::stack_deleted);
        let clients = replay::clients(
            replay::cloudformation(
                RuleMode::MatchAny,
                &[&describe, &resources, &events, &delete],
            ),
            replay::sts(&identity),
        );
        Deletion {
            identity,
            delete,
            clients,
        }
    }

    #[tokio::test]
    async fn destroy_deletes_the_stack_and_names_the_tables_it_keeps() {
        let Deletion {
            delete, clients, ..
        } = deletion();
        let (progress, lines) = Progress::captured();
        let prompt = Prompt::answers(&["y"]);
        let report = destroy(
            &clients,
            &target(false),
            (false, false),
            fast(),
            &prompt,
            &progress,
            &Pending::default(),
        )
        .await
        .unwrap();
        assert_eq!(delete.num_calls(), 1);
        assert_eq!(report.result, "deleted");
        assert_eq!(
            report.retained_tables,
            vec!["noteapp-staging-comments", "noteapp-staging-notes"]
        );
        let text = lines.text();
        assert!(
            text.contains("kept with their data: noteapp-staging-comments, noteapp-staging-notes; `noteapp deploy staging` brings them back"),
            "{text}"
        );
        assert!(text.contains("DELETE_SKIPPED"), "{text}");
    }

    #[tokio::test]
    async fn destroy_from_its_command_line_deletes_the_stack_and_keeps_the_tables() {
        let Deletion {
            identity,
            delete,
            clients,
        } = deletion();
        let checkout = crate::commands::tests::checkout();
        let destroy = [
            "destroy",
            "staging",
            "--yes",
            "--json",
            "--poll-interval",
            "0",
        ];
        crate::commands::tests::noteapp_given(clients, checkout.path(), &destroy)
            .await
            .unwrap();
        assert_eq!(delete.num_calls(), 1);
        assert_eq!(identity.num_calls(), 1, "the account is checked first");
    }

    #[tokio::test]
    async fn production_is_not_destroyed_without_a_terminal_or_both_flags() {
        let identity = mock!(aws_sdk_sts::Client::get_caller_identity)
            .then_http_response(|| replay::caller_identity("123456789012"));
        let describe =
            mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
        let resources =
            mock!(Client::list_stack_resources).then_http_response(replay::stack_resources);
        let delete = mock!(Client::delete_stack).then_http_response(replay::stack_deleted);
        let clients = replay::clients(
            replay::cloudformation(RuleMode::MatchAny, &[&describe, &resources, &delete]),
            replay::sts(&identity),
        );
        let (progress, _) = Progress::captured();
        let err = destroy(
            &clients,
            &target(true),
            (true, false),
            fast(),
            &Prompt::Closed,
            &progress,
            &Pending::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.exit_code(), crate::EXIT_REFUSED);
        assert!(
            err.to_string().contains("--yes --i-mean-production"),
            "{err}"
        );
        assert_eq!(delete.num_calls(), 0);
    }

    #[tokio::test]
    async fn termination_protection_is_lifted_only_after_the_name_is_typed() {
        let run = |answer: &'static str| async move {
            let identity = mock!(aws_sdk_sts::Client::get_caller_identity)
                .then_http_response(|| replay::caller_identity("123456789012"));
            let describe = mock!(Client::describe_stacks)
                .sequence()
                .http_response(|| replay::stack_protected("UPDATE_COMPLETE"))
                .http_response(|| replay::stack("DELETE_COMPLETE"))
                .build();
            let resources =
                mock!(Client::list_stack_resources).then_http_response(replay::stack_resources);
            let events = mock!(Client::describe_stack_events)
                .sequence()
                .http_response(|| replay::events("before_update"))
                .http_response(|| replay::events("delete_complete"))
                .build();
            let lift = mock!(Client::update_termination_protection)
                .match_requests(|r| r.enable_termination_protection() == Some(false))
                .then_http_response(replay::termination_protection_set);
            let delete = mock!(Client::delete_stack).then_http_response(replay::stack_deleted);
            let clients = replay::clients(
                replay::cloudformation(
                    RuleMode::MatchAny,
                    &[&describe, &resources, &events, &lift, &delete],
                ),
                replay::sts(&identity),
            );
            let (progress, lines) = Progress::captured();
            let result = destroy(
                &clients,
                &target(true),
                (false, false),
                fast(),
                &Prompt::answers(&[answer]),
                &progress,
                &Pending::default(),
            )
            .await;
            (result, lift.num_calls(), delete.num_calls(), lines.text())
        };
        let (result, lifted, deleted, _) = run("noteapp-production").await;
        assert!(result.is_err());
        assert_eq!((lifted, deleted), (0, 0), "a mistyped name lifts nothing");
        let (result, lifted, deleted, text) = run("noteapp-staging").await;
        assert_eq!(result.unwrap().result, "deleted");
        assert_eq!((lifted, deleted), (1, 1));
        let lift_line = text
            .find("lifting termination protection")
            .expect("said so");
        let ask_line = text.find("type its name").expect("asked first");
        assert!(ask_line < lift_line, "{text}");
    }

    #[tokio::test]
    async fn a_mistyped_production_stack_name_deletes_nothing() {
        let (progress, _) = Progress::captured();
        let prompt = Prompt::answers(&["noteapp-production"]);
        let err = confirm(&target(true), (false, false), &prompt, &progress)
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("the name typed is not noteapp-staging"),
            "{err}"
        );
    }
}
