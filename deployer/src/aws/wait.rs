//! Bounded polling: wait out an operation someone else started, wait for a change set to be
//! computed, and follow our own operation to its end while printing its stack events.
//!
//! Events come newest first from CloudFormation; they are printed oldest first, each once (by
//! `EventId`), starting after the newest event that existed before the operation began (a marker
//! read just before it starts, which needs no clock agreement with AWS). Every wait has a maximum
//! and ends with a message saying what to do next.

use std::collections::HashSet;

use aws_sdk_cloudformation::Client;
use tokio::time::{Instant, sleep};

use crate::aws::WaitLimit;
use crate::aws::stack::{self, ChangeSetInfo, StackEvent, StackInfo};
use crate::error::Error;
use crate::progress::Progress;

/// Pages of events read per poll at most (100 events a page).
const MAX_EVENT_PAGES: usize = 10;
/// Polls that may show a finished status with no new event of ours before it is believed
/// (CloudFormation can report the previous operation's status for a moment after starting one).
const QUIET_POLLS: usize = 3;

/// An operation is running (`REVIEW_IN_PROGRESS` is not one: such a stack waits for a change set
/// forever).
pub fn is_in_progress(status: &str) -> bool {
    status.ends_with("_IN_PROGRESS") && status != "REVIEW_IN_PROGRESS"
}

/// The statuses a create, update or delete ends in when it worked.
pub fn is_success(status: &str) -> bool {
    matches!(
        status,
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE" | "DELETE_COMPLETE"
    )
}

fn minutes(polling: WaitLimit) -> u64 {
    polling.max_wait.as_secs().div_ceil(60)
}

/// Describes the stack, waiting while another operation runs on it; `None` if it does not exist.
pub async fn settled_stack(
    client: &Client,
    stack: &str,
    environment: &str,
    polling: WaitLimit,
    progress: &Progress,
) -> Result<Option<StackInfo>, Error> {
    let started = Instant::now();
    loop {
        let info = stack::describe_stack(client, stack).await?;
        let Some(status) = info
            .as_ref()
            .map(|i| i.status.as_str())
            .filter(|s| is_in_progress(s))
        else {
            return Ok(info);
        };
        if started.elapsed() >= polling.max_wait {
            progress.clear();
            return Err(Error::StackState(format!(
                "stack {stack} is still {status} after {} minutes; CloudFormation goes on with it: \
                 follow it with `noteapp status {environment}` and run this command again when it \
                 has finished",
                minutes(polling)
            )));
        }
        progress.status(format!(
            "stack {stack} is {status}: waiting for that operation to finish (up to {} minutes)",
            minutes(polling)
        ));
        sleep(polling.interval).await;
    }
}

/// Polls the change set until CloudFormation has computed it (CREATE_COMPLETE) or given up
/// (FAILED, which includes "no changes").
pub async fn computed_change_set(
    client: &Client,
    stack: &str,
    name: &str,
    polling: WaitLimit,
    progress: &Progress,
) -> Result<ChangeSetInfo, Error> {
    let started = Instant::now();
    loop {
        let info = stack::describe_change_set(client, stack, name).await?;
        let computed = match info.status.as_str() {
            "CREATE_COMPLETE" => info.execution_status != "UNAVAILABLE",
            "FAILED" | "DELETE_COMPLETE" | "DELETE_FAILED" => true,
            _ => false,
        };
        if computed {
            return Ok(info);
        }
        if started.elapsed() >= polling.max_wait {
            return Err(Error::StackState(format!(
                "change set {name} of stack {stack} is still {} after {} minutes",
                info.status,
                minutes(polling)
            )));
        }
        progress.status(format!("computing change set {name} ({})", info.status));
        sleep(polling.interval).await;
    }
}

/// The newest event of the stack before an operation starts: where following it begins.
pub async fn event_marker(client: &Client, stack: &str) -> Result<Option<String>, Error> {
    let first = stack::events_since(client, stack, |_| false, 1).await?;
    Ok(first.into_iter().next().map(|e| e.event_id))
}

/// A stack operation that was started and is followed to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation<'a> {
    /// The stack's id (or name): a stack a failed create deleted answers to its id only.
    pub stack_id: &'a str,
    /// The stack's name, as messages show it.
    pub stack_name: &'a str,
    /// The environment, for the command a message suggests (`noteapp status ENV`).
    pub environment: &'a str,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The stack's status at the end (`DELETE_COMPLETE` once the stack is gone).
    pub status: String,
    /// CloudFormation's reason for that status, when it gives one.
    pub reason: Option<String>,
    /// The stack afterwards (`None` once deleted).
    pub stack: Option<StackInfo>,
    /// Every `*_FAILED` event of the operation, oldest first.
    pub failures: Vec<StackEvent>,
}

impl Finished {
    /// `message`, then each failed resource on a line of its own (`  Logical (Type) STATUS:
    /// reason`), then the next step: what a failed operation's error says.
    pub fn explain(&self, message: &str, next_step: &str) -> String {
        let mut text = message.to_owned();
        for e in &self.failures {
            let reason = e.reason.as_deref().unwrap_or("no reason given");
            text.push_str(&format!(
                "\n  {} ({}) {}: {reason}",
                e.logical_id, e.resource_type, e.status
            ));
        }
        text.push('\n');
        text.push_str(next_step);
        text
    }
}

/// Follows `operation`, just started, until its stack leaves `*_IN_PROGRESS`, printing its
/// events from after `marker`.
pub async fn follow_operation(
    client: &Client,
    operation: &Operation<'_>,
    marker: Option<String>,
    polling: WaitLimit,
    progress: &Progress,
) -> Result<Finished, Error> {
    let (stack, display_name) = (operation.stack_id, operation.stack_name);
    let environment = operation.environment;
    let started = Instant::now();
    let mut seen: HashSet<String> = marker.into_iter().collect();
    let mut failures = Vec::new();
    let mut stack_statuses: HashSet<String> = HashSet::new();
    let mut quiet_polls = 0;
    loop {
        let info = stack::describe_stack(client, stack).await?;
        let status = info
            .as_ref()
            .map_or("DELETE_COMPLETE", |i| i.status.as_str())
            .to_owned();
        let mut events =
            stack::events_since(client, stack, |id| seen.contains(id), MAX_EVENT_PAGES)
                .await
                .or_else(|e| {
                    if info.is_none() {
                        Ok(Vec::new())
                    } else {
                        Err(e)
                    }
                })?;
        events.reverse();
        for event in events {
            seen.insert(event.event_id.clone());
            if event.is_stack_event() {
                stack_statuses.insert(event.status.clone());
            }
            if event.is_failure() {
                failures.push(event.clone());
            }
            progress.line(&event);
        }
        if !is_in_progress(&status) && status != "REVIEW_IN_PROGRESS" {
            quiet_polls += 1;
            if stack_statuses.contains(&status) || quiet_polls >= QUIET_POLLS || info.is_none() {
                progress.clear();
                return Ok(Finished {
                    status,
                    reason: info.as_ref().and_then(|i| i.reason.clone()),
                    stack: info,
                    failures,
                });
            }
        }
        if started.elapsed() >= polling.max_wait {
            progress.clear();
            return Err(Error::StackState(format!(
                "stack {display_name} is still {status} after {} minutes; CloudFormation goes on \
                 with it: follow it with `noteapp status {environment}`",
                minutes(polling)
            )));
        }
        progress.status(format!("stack {display_name}: {status}"));
        sleep(polling.interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_in_progress_is_not_an_operation_to_wait_for() {
        assert!(is_in_progress("UPDATE_IN_PROGRESS"));
        assert!(is_in_progress("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"));
        assert!(is_in_progress("UPDATE_ROLLBACK_IN_PROGRESS"));
        assert!(!is_in_progress("REVIEW_IN_PROGRESS"));
        assert!(!is_in_progress("UPDATE_ROLLBACK_COMPLETE"));
    }

    #[test]
    fn a_rolled_back_update_is_not_a_success() {
        assert!(is_success("UPDATE_COMPLETE"));
        assert!(!is_success("UPDATE_ROLLBACK_COMPLETE"));
        assert!(!is_success("ROLLBACK_COMPLETE"));
    }
}
