//! Moving a seed deployment's data (the SAM stack `next-fastapi-note-app-<env>`) into noteapp's
//! tables: `noteapp migrate ENV --from-stack NAME`.
//!
//! The steps, each its own module:
//! 1. protect the source ([`source`]): deletion protection on, point-in-time recovery read;
//! 2. plan ([`passes::Passes::plan`], mapping each item with [`transform`]): counts, and every
//!    item not in the seed's exact shape, named by key, with what is done with it. `--dry-run`
//!    stops here, having written nothing anywhere (not even the protection, which it reports);
//! 3. copy ([`passes::Passes::copy`]): parallel scan segments paced to `--rate` items a second
//!    ([`scan`]), each item written as noteapp's own API writes it, on a condition that makes a
//!    rerun harmless; counters recomputed from the tables afterwards (`counts::repair`);
//! 4. catch up: a second copy pass, which writes what the seed wrote or edited during the
//!    first; the last gap is closed by pausing writes on the seed and running the command again;
//! 5. verify ([`passes::Passes::verify`]): item by item, per owner, and the counters;
//! 6. the cutover steps ([`report::cutover`]).
//!
//! It asks before its first write (the protection included) unless `--yes`.
//!
//! Resumable without a checkpoint: every write compares with what the target holds and is
//! conditional on it, so a run killed at any point and started again ends with the same
//! tables. A note deleted on the seed after it was copied is not deleted from noteapp: the
//! verification names it (it could as well be a note made in noteapp), exit 4.
//!
//! Test hook: with `NOTEAPP_MIGRATE_PAUSE_FILE=PATH` set, the command writes `PATH` once the
//! copy pass is done and waits (up to ten minutes) until the file is removed before it starts
//! the catch-up, so a test can write to the seed between the two passes.

pub mod passes;

pub mod report;
pub mod scan;
pub mod source;
pub mod transform;

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use noteapp_runtime::store::dynamodb::counts;
use noteapp_runtime::store::dynamodb::{DynamoStore, TableNames, create_tables};

use crate::error::Error;
use crate::progress::{Progress, Prompt};
use passes::{Passes, store_error};
use report::{MigrateReport, MigrateResult, SourceReport, TargetReport};
use scan::{Pacer, ScanOptions};
use source::Source;

/// The test hook's variable (see the module doc).
pub const PAUSE_FILE_VAR: &str = "NOTEAPP_MIGRATE_PAUSE_FILE";

/// Where the data goes.
pub struct Target {
    /// The store over the target's tables.
    pub store: DynamoStore,
    /// The target as the report names it, with the front end's URLs.
    pub report: TargetReport,
    /// Tables to create first when missing (a local DynamoDB API's).
    pub create: Option<TableNames>,
}

/// What the person asked for.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// `--dry-run`: plan only; protect nothing and write nothing.
    pub dry_run: bool,
    /// `--yes`: do not ask before the first write.
    pub yes: bool,
    /// Source items read a second, over every segment (0: no limit).
    pub rate: u32,
    /// Parallel scan segments of each source table.
    pub segments: u32,
    /// Whether a second copy pass follows the first (off with `--no-catch-up`).
    pub catch_up: bool,
}

/// One migration, resolved: source, target, options.
pub struct Migration<'a> {
    /// The environment migrated into (named in the report and the cutover steps).
    pub environment: String,
    /// The source's region.
    pub region: String,
    /// DynamoDB in the source's account and region.
    pub source_client: &'a Client,
    /// The seed's tables.
    pub source: Source,
    /// Where the data goes.
    pub target: Target,
    /// What the person asked for.
    pub options: Options,
    /// Where progress is shown while the migration runs.
    pub progress: &'a Progress,
    /// Where the confirmation before the first write is asked.
    pub prompt: &'a Prompt,
}

/// Runs the migration; the report says what was done (differences included: the caller turns
/// them into exit 4).
pub async fn migrate(m: Migration<'_>) -> Result<MigrateReport, Error> {
    let (source, target, options, progress) = (&m.source, &m.target, m.options, m.progress);
    let store = &target.store;
    if [&source.notes, &source.users].contains(&&store.tables().notes)
        || [&source.notes, &source.users].contains(&&store.tables().users)
    {
        return Err(Error::Usage(format!(
            "the source and the target are the same tables ({}, {}): name the seed's with \
             --from-stack or --from-tables",
            source.notes, source.users
        )));
    }
    let client = m.source_client;
    progress.status("reading the source tables");
    let mut tables = vec![
        source::inspect(client, "notes", &source.notes, "id").await?,
        source::inspect(client, "users", &source.users, "uid").await?,
    ];
    let estimate = |i: usize| u64::try_from(tables[i].items_estimate).ok();
    let pacer = Pacer::new(options.rate);
    let passes = Passes {
        source: client,
        notes_table: &source.notes,
        users_table: &source.users,
        store,
        options: ScanOptions::paced(options.segments, options.rate),
        pacer: &pacer,
        progress,
        estimates: (estimate(0), estimate(1)),
    };
    let plan = passes.plan().await?;
    let mut report = MigrateReport {
        environment: m.environment.clone(),
        dry_run: options.dry_run,
        result: MigrateResult::Planned,
        source: SourceReport {
            stack: source.stack.as_ref().map(|(name, _)| name.clone()),
            region: m.region.clone(),
            tables: Vec::new(),
            resources: source
                .stack
                .as_ref()
                .map(|(_, r)| r.clone())
                .unwrap_or_default(),
        },
        target: target.report.clone(),
        plan,
        mapping: report::mapping(),
        copy: None,
        catch_up: None,
        counters: None,
        verification: None,
        cutover: Vec::new(),
    };
    if options.dry_run {
        report.source.tables = tables;
        return Ok(report);
    }
    progress.line(&report.plan);
    confirm(&report, options.yes, m.prompt, progress).await?;

    for table in &mut tables {
        source::turn_on(client, table).await?;
        if table.deletion_protection == source::TURNED_ON {
            progress.line(format!(
                "deletion protection turned on for source table {} (the seed's stack template \
                 is unchanged)",
                table.table
            ));
        }
    }
    report.source.tables = tables;
    if let Some(names) = &target.create {
        progress.status("creating the target tables where missing");
        create_tables(store.client(), names)
            .await
            .map_err(store_error("failed to create the target tables"))?;
    }
    report.copy = Some(passes.copy("copying").await?);
    pause_for_tests(progress).await?;
    if options.catch_up {
        report.catch_up = Some(passes.copy("catching up").await?);
    }
    progress.status("recomputing the counters from the tables");
    report.counters = Some(
        counts::repair(store)
            .await
            .map_err(store_error("failed to recompute the counters"))?,
    );
    let verification = passes.verify().await?;
    report.result = if verification.differences.is_empty() {
        MigrateResult::Migrated
    } else {
        MigrateResult::Differences
    };
    report.verification = Some(verification);
    report.cutover = report::cutover(&report.source, &report.target, &m.environment);
    Ok(report)
}

/// Asks before the first write unless `yes`; refuses when nobody can answer.
async fn confirm(
    report: &MigrateReport,
    yes: bool,
    prompt: &Prompt,
    progress: &Progress,
) -> Result<(), Error> {
    if yes {
        return Ok(());
    }
    let question = format!(
        "protect the source tables and copy {} notes and {} users into {}? [y/N]",
        report.plan.notes.items - report.plan.notes.skipped,
        report.plan.users.items - report.plan.users.skipped,
        report.target.tables
    );
    match prompt.ask(progress, &question).await? {
        Some(answer) if matches!(answer.to_lowercase().as_str(), "y" | "yes") => Ok(()),
        Some(_) => Err(Error::Refused("not confirmed; nothing was written".into())),
        None => Err(Error::Refused(
            "migrate asks before it writes and stdin is not a terminal: rerun with --yes (or \
             --dry-run for the plan); nothing was written"
                .into(),
        )),
    }
}

/// The test hook between the copy and the catch-up (see the module doc).
async fn pause_for_tests(progress: &Progress) -> Result<(), Error> {
    let Some(path) = std::env::var_os(PAUSE_FILE_VAR) else {
        return Ok(());
    };
    std::fs::write(&path, "copied\n")?;
    progress.status(format!(
        "paused after the copy until {} is removed ({PAUSE_FILE_VAR})",
        std::path::Path::new(&path).display()
    ));
    for _ in 0..12_000 {
        if !std::path::Path::new(&path).exists() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(Error::Usage(format!(
        "{PAUSE_FILE_VAR}: the file was not removed within ten minutes"
    )))
}
