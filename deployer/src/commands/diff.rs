//! `noteapp diff ENV --image-uri URI`: what a deploy would change, without changing it.
//!
//! It runs the first half of a deploy (account and stack checks, a change set computed by
//! CloudFormation), prints the diff and deletes the change set again; a stack that only this
//! change set had created is deleted with it, so a diff leaves nothing behind.

use crate::aws::resource_changes::ResourceChange;
use crate::aws::resource_changes::blocked_replacements;
use crate::aws::{Clients, Waits};
use crate::commands::args::{Loaded, StackArgs};
use crate::error::Error;
use crate::flow::change_set::{self, Computed, Intent, Pending};
use crate::flow::recording;
use crate::interrupt::ctrl_c;
use crate::output;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::template;
use serde::Serialize;
use std::fmt;

/// `noteapp diff ENV --image-uri URI [--json]`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The environment, and how CloudFormation is polled.
    #[command(flatten)]
    pub stack: StackArgs,
    /// The image the deploy would use (REGISTRY/REPO@sha256:DIGEST).
    #[arg(long, value_name = "URI")]
    pub image_uri: String,
    /// Print the diff as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `noteapp diff`; on Ctrl-C the change set (and a stack only it created) is deleted, and
/// the exit is 130.
pub async fn run(args: DiffArgs) -> Result<(), Error> {
    let Loaded { root, config } = args.stack.env.load_deployable()?;
    let plan = template::load_plan(&root, &config, &args.image_uri)?;
    let progress = Progress::stderr();
    let clients = Clients::load(&plan.region).await;
    let pending = Pending::default();
    let report = tokio::select! {
        report = diff(&clients, &plan, args.stack.waits(), &progress, &pending) => report,
        () = ctrl_c() => Err(change_set::interrupted(&clients, &pending, plan.environment.as_str(), &progress).await),
    };
    progress.clear();
    output::emit(&report?, args.json)
}

/// Computes the change set, reads it and deletes it.
pub async fn diff(
    clients: &Clients,
    plan: &Plan,
    waits: Waits,
    progress: &Progress,
    pending: &Pending,
) -> Result<DiffReport, Error> {
    let mut plan = plan.clone();
    let staged = recording::stage(clients, &mut plan).await?;
    let computed =
        change_set::prepare(clients, &plan, waits, progress, pending, Intent::Diff).await;
    if let Some(staged) = staged {
        staged.remove(clients, progress).await;
    }
    let mut report = DiffReport {
        environment: plan.environment.to_string(),
        stack_name: plan.stack_name.clone(),
        action: "none",
        changes: Vec::new(),
        blocked: Vec::new(),
        stateful: plan.stateful_resources.clone(),
        imported_tables: Vec::new(),
    };
    if let Computed::Changes(prepared) = computed? {
        change_set::discard(clients, &prepared.change_set, progress, pending).await;
        report.action = if prepared.create { "create" } else { "update" };
        report.blocked = blocked_replacements(&prepared.info.changes, &plan.stateful_resources);
        report.changes = prepared.info.changes;
        report.imported_tables = prepared.imported.into_iter().map(|t| t.name).collect();
    }
    Ok(report)
}

/// What `noteapp diff` found.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// The environment.
    pub environment: String,
    /// Its stack.
    pub stack_name: String,
    /// `create`, `update` or `none`.
    pub action: &'static str,
    /// What the change set would do to each resource (empty for `none`).
    pub changes: Vec<ResourceChange>,
    /// The logical ids of the tables it would replace or remove: a deploy refuses them without
    /// `--allow-replacement`.
    pub blocked: Vec<String>,
    /// The logical ids of the plan's stateful resources, to mark them in the printed diff.
    #[serde(skip)]
    pub stateful: Vec<String>,
    /// Tables a deleted stack kept, which the deploy would import back first.
    pub imported_tables: Vec<String>,
}

impl fmt::Display for DiffReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.action == "none" {
            return writeln!(
                f,
                "stack {} is up to date: nothing would change",
                self.stack_name
            );
        }
        let verb = if self.action == "create" {
            "create"
        } else {
            "update"
        };
        if !self.imported_tables.is_empty() {
            writeln!(
                f,
                "a deploy would first bring back the tables a deleted {} kept: {}",
                self.stack_name,
                self.imported_tables.join(", ")
            )?;
        }
        writeln!(f, "a deploy would {verb} stack {}:", self.stack_name)?;
        let diff = crate::aws::resource_changes::Diff {
            changes: &self.changes,
            stateful: &self.stateful,
        };
        write!(f, "{diff}")?;
        if !self.blocked.is_empty() {
            writeln!(
                f,
                "deploy refuses to replace or remove {} without --allow-replacement",
                self.blocked.join(", ")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudformation::Client;
    use aws_smithy_mocks::{RuleMode, mock};

    use super::*;
    use crate::aws::replay;

    #[tokio::test]
    async fn a_diff_prints_the_changes_and_deletes_its_change_set() {
        let identity = mock!(aws_sdk_sts::Client::get_caller_identity)
            .then_http_response(|| replay::caller_identity("123456789012"));
        let describe =
            mock!(Client::describe_stacks).then_http_response(|| replay::stack("UPDATE_COMPLETE"));
        let create =
            mock!(Client::create_change_set).then_http_response(replay::change_set_created);
        let computed = mock!(Client::describe_change_set).then_http_response(|| {
            replay::change_set("CREATE_COMPLETE", "", replay::CHANGES_TABLE_REPLACEMENT)
        });
        let delete =
            mock!(Client::delete_change_set).then_http_response(replay::change_set_deleted);
        let clients = replay::clients(
            replay::cloudformation(
                RuleMode::Sequential,
                &[&describe, &create, &computed, &delete],
            ),
            replay::sts(&identity),
        );
        let (progress, _) = Progress::captured();
        let plan = replay::plan("staging");
        let report = diff(
            &clients,
            &plan,
            Waits::every(Default::default()),
            &progress,
            &Pending::default(),
        )
        .await
        .unwrap();
        assert_eq!(delete.num_calls(), 1);
        assert_eq!(report.action, "update");
        assert_eq!(report.blocked, vec!["NotesTable"]);
        let text = report.to_string();
        assert!(text.contains("! NotesTable"), "{text}");
        assert!(
            text.contains(
                "deploy refuses to replace or remove NotesTable without --allow-replacement"
            ),
            "{text}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["changes"][0]["replacement"], "True");
        assert_eq!(json["changes"][1]["logical_id"], "ApiFunction");
    }
}
