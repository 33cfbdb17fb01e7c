//! `noteapp data check|repair ENV`: the counters behind every list's `total`, compared with what
//! the tables hold (one scan of the Notes table and one of the Comments table), and repaired.
//!
//! The counters move in the same transaction as the writes they count, so they drift only when
//! something writes around the API: an import, a hand-made fix, data from before the counters.
//! `check` changes nothing and exits 4 when something disagrees (0 when all is exact); `repair`
//! writes the counts it found and queues the comments of notes that are gone for purging. Run
//! `repair` when the tables are quiet: a write during its scan may move a counter it then
//! overwrites (a second `check` says so). The tables are the stack's (from its outputs), or with
//! `--dynamodb-endpoint` a local DynamoDB API's (`noteapp local --dynamodb-endpoint`).

use std::fmt;

use noteapp_runtime::store::dynamodb::counts::{self, CountReport};
use noteapp_runtime::store::dynamodb::{DynamoStore, StoreTables, TableNames};
use serde::Serialize;

use crate::aws::{Clients, stack};
use crate::commands::args::EnvArgs;
use crate::error::Error;
use crate::output;
use crate::progress::Progress;

/// `noteapp data check|repair ENV`.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// Check the counters, or repair them.
    #[command(subcommand)]
    pub command: DataCommand,
}

/// The subcommands of `noteapp data`.
#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Compare every counter with the tables (one scan of each); exit 4 if any disagrees.
    Check(DataTarget),
    /// Write the counts the tables hold into the counters (run when the tables are quiet).
    Repair(DataTarget),
}

/// The tables a data command (and `noteapp migrate`) works on: the stack's, or with
/// `--dynamodb-endpoint` a local DynamoDB API's.
#[derive(Debug, clap::Args)]
pub struct DataTarget {
    /// The environment; its stack's tables, unless `--dynamodb-endpoint` names others.
    #[command(flatten)]
    pub env: EnvArgs,
    /// Use the tables at this DynamoDB API instead of the stack's (`noteapp local`'s).
    #[arg(long, value_name = "URL")]
    pub dynamodb_endpoint: Option<String>,
    /// With --dynamodb-endpoint: the table name prefix.
    #[arg(
        long,
        default_value = noteapp_runtime::settings::LocalSettings::DEFAULT_TABLE_PREFIX,
        requires = "dynamodb_endpoint"
    )]
    pub table_prefix: String,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// What `noteapp data` found (and did).
#[derive(Debug, Serialize)]
pub struct DataReport {
    /// The environment, as given (the report's `repair` command names it).
    pub environment: String,
    /// Which tables: `stack S's tables` or `tables P-* at URL`.
    pub tables: String,
    /// What the scan found and, for `repair`, what it wrote.
    #[serde(flatten)]
    pub counts: CountReport,
}

impl fmt::Display for DataReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        write!(
            f,
            "{}: scanned {} notes and {} comments",
            self.tables, c.notes_scanned, c.comments_scanned
        )?;
        if c.drifts.is_empty() && c.notes_fixed == 0 && c.orphaned_comment_notes == 0 {
            return writeln!(f, ": every counter is exact");
        }
        writeln!(f)?;
        for drift in &c.drifts {
            writeln!(
                f,
                "  {}: counted {}, the tables hold {}",
                drift.what, drift.stored, drift.actual
            )?;
        }
        if c.notes_fixed > 0 {
            writeln!(
                f,
                "  {} notes lack or disagree with their comment gate",
                c.notes_fixed
            )?;
        }
        if c.orphaned_comment_notes > 0 {
            writeln!(
                f,
                "  {} deleted notes still have comments",
                c.orphaned_comment_notes
            )?;
        }
        if c.repaired {
            writeln!(
                f,
                "repaired: the counters now hold these counts; orphaned comments are queued for the next purge"
            )
        } else {
            writeln!(
                f,
                "run `noteapp data repair {}` to fix them",
                self.environment
            )
        }
    }
}

/// The tables a data command works on, and where they are.
pub struct DataTables {
    /// The store over those tables.
    pub store: DynamoStore,
    /// `stack S's tables` or `tables P-* at URL`.
    pub description: String,
    /// The stack and the clients that found it (`None` with `--dynamodb-endpoint`).
    pub stack: Option<(stack::StackInfo, Clients)>,
}

/// The tables `target` names: the stack's (from its outputs), or a local DynamoDB API's.
pub async fn target_tables(target: &DataTarget, progress: &Progress) -> Result<DataTables, Error> {
    Ok(match &target.dynamodb_endpoint {
        Some(endpoint) => {
            let client = crate::aws::local_dynamodb(endpoint);
            let names = TableNames::with_prefix(&target.table_prefix);
            DataTables {
                store: DynamoStore::new(client, names.store_tables()),
                description: format!("tables {}-* at {endpoint}", target.table_prefix),
                stack: None,
            }
        }
        None => {
            let loaded = target.env.load_deployable()?;
            let clients = loaded.connect(progress).await;
            progress.clear();
            let clients = clients?;
            let stack_name = &loaded.config.stack_name;
            let info = stack::describe_stack(&clients.cloudformation, stack_name)
                .await?
                .ok_or_else(|| {
                    Error::StackState(format!(
                        "stack {stack_name} does not exist, so it has no tables to check"
                    ))
                })?;
            let output = |key: &str| {
                info.outputs.get(key).cloned().ok_or_else(|| {
                    Error::StackState(format!("stack {stack_name} has no output {key}"))
                })
            };
            let tables = StoreTables {
                notes: output("NotesTableName")?,
                users: output("UsersTableName")?,
                comments: output("CommentsTableName")?,
            };
            DataTables {
                store: DynamoStore::new(clients.dynamodb.clone(), tables),
                description: format!("stack {stack_name}'s tables"),
                stack: Some((info, clients)),
            }
        }
    })
}

/// Runs `noteapp data`: the report on stdout; exit 4 ([`Error::Differences`]) when `check` finds
/// a counter or a comment gate that disagrees with the tables.
pub async fn run(args: DataArgs) -> Result<(), Error> {
    let (target, repair) = match &args.command {
        DataCommand::Check(target) => (target, false),
        DataCommand::Repair(target) => (target, true),
    };
    let progress = Progress::stderr();
    let DataTables {
        store,
        description: tables,
        ..
    } = target_tables(target, &progress).await?;
    progress.status(format!("scanning {tables}"));
    let counts = if repair {
        counts::repair(&store).await
    } else {
        counts::check(&store).await
    };
    progress.clear();
    let counts = counts.map_err(|e| Error::Aws {
        action: format!("failed to scan {tables}"),
        reason: e.to_string(),
    })?;
    let drifted = !repair
        && (!counts.drifts.is_empty()
            || counts.notes_fixed > 0
            || counts.orphaned_comment_notes > 0);
    let report = DataReport {
        environment: target.env.env.clone(),
        tables,
        counts,
    };
    output::emit(&report, target.json)?;
    if drifted {
        return Err(Error::Differences(format!(
            "counters disagree with the tables; `noteapp data repair {}` fixes them",
            report.environment
        )));
    }
    Ok(())
}
