//! `noteapp status ENV [--json]`: where the environment's stack stands — its status and reason,
//! when it was created and last updated, and every failure of its most recent operation, read
//! from the stack events back to the event that started that operation, and how many broadcasts
//! failed for good (after Lambda's retries) and wait in the stack's on-failure queue. It exits 0
//! whatever the stack's state; the state is the answer.

use aws_sdk_cloudformation::Client;

use crate::aws::{sqs, stack};
use crate::commands::env::StackArgs;
use crate::error::Error;
use crate::output::{self, StatusReport};
use crate::progress::Progress;

/// The stack output naming the queue of broadcasts that failed after Lambda's retries.
pub const FAILURES_OUTPUT: &str = "BroadcastFailuresQueueUrl";

/// Events read back at most (one page) when looking for the last operation's failures.
const EVENT_PAGES: usize = 1;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Print the status as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: StatusArgs) -> Result<(), Error> {
    let loaded = args.stack.env.load_deployable()?;
    let progress = Progress::stderr();
    let clients = loaded.connect(&progress).await;
    progress.clear();
    let (clients, config) = (clients?, &loaded.config);
    let mut report = status(&clients.cloudformation, config.name(), &config.stack_name).await?;
    if let (Some(url), Some(signer)) = (report.outputs.get(FAILURES_OUTPUT), &clients.signer) {
        let http = noteapp_runtime::aws_http::https_client(std::time::Duration::from_secs(10))
            .map_err(|e| Error::Usage(format!("cannot build an HTTPS client: {e}")))?;
        report.failed_broadcasts = Some(sqs::queue_depth(&http, signer, url).await?);
    }
    output::emit(&report, args.json)
}

/// The stack's status and the failures of its last operation (oldest first).
pub async fn status(
    client: &Client,
    environment: &str,
    stack_name: &str,
) -> Result<StatusReport, Error> {
    let mut report = StatusReport {
        environment: environment.to_owned(),
        stack_name: stack_name.to_owned(),
        exists: false,
        status: None,
        status_reason: None,
        created: None,
        last_updated: None,
        recent_failures: Vec::new(),
        failed_broadcasts: None,
        outputs: Default::default(),
    };
    let Some(info) = stack::describe_stack(client, stack_name).await? else {
        return Ok(report);
    };
    let events = stack::events_since(client, &info.id, |_| false, EVENT_PAGES).await?;
    for event in events {
        if event.is_failure() {
            report.recent_failures.push(event.clone());
        }
        if event.is_stack_event() && event.reason.as_deref() == Some("User Initiated") {
            break;
        }
    }
    report.recent_failures.reverse();
    report.exists = true;
    report.status = Some(info.status);
    report.status_reason = info.reason;
    report.created = info.created;
    report.last_updated = info.last_updated;
    report.outputs = info.outputs;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use aws_smithy_mocks::{RuleMode, mock};

    use super::*;
    use crate::aws::replay;

    #[tokio::test]
    async fn status_of_a_failed_first_create_lists_its_failures_oldest_first() {
        let describe = mock!(Client::describe_stacks).then_http_response(|| {
            replay::stack_with_reason("ROLLBACK_COMPLETE", "The following resource(s) failed to create: [NotesTable, ApiFunction]. Rollback requested by user.")
        });
        let events = mock!(Client::describe_stack_events)
            .then_http_response(|| replay::events("create_rollback"));
        let client = replay::cloudformation(RuleMode::Sequential, &[&describe, &events]);
        let report = status(&client, "staging", "noteapp-staging").await.unwrap();
        assert_eq!(report.status.as_deref(), Some("ROLLBACK_COMPLETE"));
        let failed: Vec<_> = report
            .recent_failures
            .iter()
            .map(|e| e.logical_id.as_str())
            .collect();
        assert_eq!(failed, vec!["NotesTable", "ApiFunction"]);
        let text = report.to_string();
        assert!(
            text.contains("Table already exists: noteapp-staging-notes"),
            "{text}"
        );
        assert!(
            text.contains("last updated: 2026-11-03T16:41:55.203Z"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn status_of_a_missing_stack_says_it_is_not_deployed() {
        let describe = mock!(Client::describe_stacks).then_http_response(replay::stack_missing);
        let client = replay::cloudformation(RuleMode::Sequential, &[&describe]);
        let report = status(&client, "staging", "noteapp-staging").await.unwrap();
        assert!(!report.exists);
        assert_eq!(
            serde_json::to_value(&report).unwrap()["status"],
            serde_json::Value::Null
        );
        assert!(
            report
                .to_string()
                .contains("does not exist (staging is not deployed)")
        );
    }
}
