//! What `noteapp migrate` did: `Serialize` for `--json`, `Display` for people, printed once on
//! stdout at the end (progress went to stderr meanwhile). Also the cutover steps, a pure
//! function of where the data came from and where it went.
//!
//! JSON: `{"environment", "dry_run", "result": "planned"|"migrated"|"differences", "source":
//! {"stack": string|null, "region", "tables": [{"role", "table", "items_estimate",
//! "deletion_protection": "off"|"turned_on"|"already_on", "point_in_time_recovery"}]},
//! "target": {"tables", "api_url", "websocket_url"}, "plan": {"notes": Counts, "users": Counts, "owners", "issues": [{"table", "key",
//! "attribute", "problem", "action": "skipped"|"adjusted"|"kept", "done"}]}, "mapping":
//! [{"seed", "noteapp"}], "copy": Pass|null, "catch_up": Pass|null, "counters": <data
//! repair's report>|null, "verification": {"notes_checked", "users_checked",
//! "owners_checked", "public_notes", "differences": [{"table", "key", "problem"}]}|null,
//! "cutover": [string]}`, where Counts is `{"items", "public_or_regular",
//! "private_or_anonymous", "skipped"}` and Pass is `{"notes": Stats, "users": Stats}` with
//! Stats `{"scanned", "created", "updated", "unchanged", "kept_newer", "skipped", "seconds",
//! "items_per_second"}`.

use std::fmt;

use noteapp_runtime::store::dynamodb::counts::CountReport;
use serde::Serialize;

use super::passes::{PassReport, PassStats, Plan, Verification};
use super::source::{self, Protection};
use super::transform::{Action, MAPPING};
use crate::aws::stack::StackResource;

/// How the migration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrateResult {
    /// `--dry-run`: the plan only.
    Planned,
    /// Copied and verified: every item agrees.
    Migrated,
    /// Copied, but the verification found differences (exit 4).
    Differences,
}

/// Where the data came from.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// The seed's stack (`--from-stack`); `None` (JSON `null`) when the tables were named with
    /// `--from-tables`.
    pub stack: Option<String>,
    /// The source tables' region.
    pub region: String,
    /// The notes and users tables, and what protects each.
    pub tables: Vec<Protection>,
    /// Every resource of the seed's stack (what remains of it afterwards).
    #[serde(skip)]
    pub resources: Vec<StackResource>,
}

/// Where the data went, and where the front end finds it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    /// Which tables: `stack S's tables`, or `tables P-* at URL` for a local DynamoDB API.
    pub tables: String,
    /// The API's URL for the front end: the stack's `FunctionUrlEndpoint` output, or the local
    /// server's.
    pub api_url: String,
    /// The WebSocket URL for the front end: the stack's `WebSocketURL` output, or the local
    /// server's.
    pub websocket_url: String,
}

/// What `noteapp migrate` did.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    /// The environment migrated into.
    pub environment: String,
    /// `--dry-run`: the plan only, nothing written.
    pub dry_run: bool,
    /// How it ended: `planned`, `migrated` or `differences`.
    pub result: MigrateResult,
    /// Where the data came from.
    pub source: SourceReport,
    /// Where the data went.
    pub target: TargetReport,
    /// What the seed holds and how it maps.
    pub plan: Plan,
    /// Where each of the seed's attributes goes in noteapp.
    pub mapping: Vec<MappingRow>,
    /// The copy pass; `None` (JSON `null`) in a dry run.
    pub copy: Option<PassReport>,
    /// The catch-up pass; `None` (JSON `null`) in a dry run or with `--no-catch-up`.
    pub catch_up: Option<PassReport>,
    /// The counters recomputed from the tables after the copy; `None` (JSON `null`) in a dry
    /// run.
    pub counters: Option<CountReport>,
    /// What the verification compared and found; `None` (JSON `null`) in a dry run.
    pub verification: Option<Verification>,
    /// The steps after the migration, in order; empty in a dry run.
    pub cutover: Vec<String>,
}

/// One line of [`MAPPING`].
#[derive(Debug, Clone, Serialize)]
pub struct MappingRow {
    /// The seed's attribute (or table).
    pub seed: &'static str,
    /// Where it goes in noteapp, or why it does not.
    pub noteapp: &'static str,
}

/// [`MAPPING`], for the report.
pub fn mapping() -> Vec<MappingRow> {
    MAPPING
        .iter()
        .map(|(seed, noteapp)| MappingRow { seed, noteapp })
        .collect()
}

/// The steps after the copy: close the gap, switch the front end, and what is left of the seed.
pub fn cutover(source: &SourceReport, target: &TargetReport, environment: &str) -> Vec<String> {
    let region = &source.region;
    let mut steps = Vec::new();
    match &source.stack {
        Some(stack) => steps.push(format!(
            "pause writes on the seed: `aws lambda put-function-concurrency --region {region} \
             --function-name {stack}-api --reserved-concurrent-executions 0` (its API then \
             answers 429 until `aws lambda delete-function-concurrency --region {region} \
             --function-name {stack}-api`)"
        )),
        None => steps.push(
            "pause whatever writes to the source tables (the seed's API function)".to_owned(),
        ),
    }
    steps.push(format!(
        "run this `noteapp migrate {environment} …` again: it copies only what changed since, \
         and verifies (exit 0 when every item agrees)"
    ));
    steps.push(format!(
        "point the front end at noteapp and redeploy it: NEXT_PUBLIC_API_BASE_URL={} and \
         NEXT_PUBLIC_WEBSOCKET_URL={} (`noteapp outputs {environment}`: FunctionUrlEndpoint, \
         WebSocketURL)",
        target.api_url, target.websocket_url
    ));
    let tables: Vec<String> = source
        .tables
        .iter()
        .map(|t| format!("{} ({})", t.table, t.role))
        .collect();
    let remains = match &source.stack {
        Some(stack) => {
            let mut kinds: Vec<String> = source
                .resources
                .iter()
                .map(|r| format!("{} {}", r.resource_type, r.logical_id))
                .collect();
            kinds.sort();
            format!(
                "the seed's stack {stack} is left as it is, with its {} resources ({}), and its \
                 tables {} keep their data with deletion protection on; noteapp never deletes \
                 any of it. Once you no longer need it, `aws cloudformation delete-stack \
                 --stack-name {stack}` stops at the protected tables (DELETE_FAILED) and a second \
                 `delete-stack --retain-resources {} {}` removes the rest and keeps them",
                kinds.len(),
                kinds.join(", "),
                tables.join(", "),
                source::NOTES_LOGICAL_ID,
                source::USERS_LOGICAL_ID,
            )
        }
        None => format!(
            "the source tables {} are left as they are, with deletion protection on; noteapp \
             never deletes them",
            tables.join(", ")
        ),
    };
    steps.push(remains);
    steps
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, u) = (&self.notes, &self.users);
        writeln!(
            f,
            "plan: {} notes ({} public, {} private, {} skipped) of {} owners; {} users ({} \
             regular, {} anonymous, {} skipped)",
            n.items,
            n.public_or_regular,
            n.private_or_anonymous,
            n.skipped,
            self.owners,
            u.items,
            u.public_or_regular,
            u.private_or_anonymous,
            u.skipped
        )?;
        if self.issues.is_empty() {
            return writeln!(f, "  every item is in the seed's exact shape");
        }
        writeln!(
            f,
            "  {} things are not in the seed's exact shape:",
            self.issues.len()
        )?;
        for issue in &self.issues {
            let action = match issue.action {
                Action::Skipped => "skipped",
                Action::Adjusted => "adjusted",
                Action::Kept => "kept",
            };
            writeln!(
                f,
                "    {} {}: {} {} → {action}: {}",
                issue.table, issue.key, issue.attribute, issue.problem, issue.done
            )?;
        }
        Ok(())
    }
}

fn stats_line(f: &mut fmt::Formatter<'_>, table: &str, s: &PassStats) -> fmt::Result {
    writeln!(
        f,
        "    {table}: {} read, {} created, {} updated, {} unchanged, {} newer in noteapp (kept), \
         {} skipped, in {:.1} s ({:.0} items/s)",
        s.scanned,
        s.created,
        s.updated,
        s.unchanged,
        s.kept_newer,
        s.skipped,
        s.seconds,
        s.items_per_second
    )
}

impl fmt::Display for MigrateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = match &self.source.stack {
            Some(stack) => format!("stack {stack}"),
            None => "tables".to_owned(),
        };
        writeln!(f, "source: {from} ({})", self.source.region)?;
        for t in &self.source.tables {
            let protection = match t.deletion_protection {
                source::TURNED_ON => "deletion protection turned on",
                source::ALREADY_ON => "deletion protection already on",
                _ => "deletion protection off (the migration turns it on)",
            };
            writeln!(
                f,
                "  {} {} (about {} items): {protection}",
                t.role, t.table, t.items_estimate
            )?;
            if !t.point_in_time_recovery {
                writeln!(
                    f,
                    "    point-in-time recovery is off; turn it on with `{}`",
                    source::pitr_command(&t.table, &self.source.region)
                )?;
            }
        }
        writeln!(f, "target: {}", self.target.tables)?;
        write!(f, "{}", self.plan)?;
        if self.dry_run {
            writeln!(f, "mapping (seed → noteapp):")?;
            for (seed, noteapp) in MAPPING {
                writeln!(f, "  {seed} → {noteapp}")?;
            }
            return writeln!(f, "dry run: nothing was written");
        }
        for (name, pass) in [("copy", &self.copy), ("catch-up", &self.catch_up)] {
            if let Some(pass) = pass {
                writeln!(f, "{name}:")?;
                stats_line(f, "notes", &pass.notes)?;
                stats_line(f, "users", &pass.users)?;
            }
        }
        if let Some(counters) = &self.counters {
            writeln!(
                f,
                "counters: recomputed from {} notes ({} counters written)",
                counters.notes_scanned,
                counters.drifts.len()
            )?;
        }
        if let Some(v) = &self.verification {
            write!(
                f,
                "verify: {} notes, {} users, {} owners' note counts and the counters",
                v.notes_checked, v.users_checked, v.owners_checked
            )?;
            if v.differences.is_empty() {
                writeln!(f, ": all agree")?;
            } else {
                writeln!(f, ": {} differences", v.differences.len())?;
                for d in &v.differences {
                    writeln!(f, "  {} {}: {}", d.table, d.key, d.problem)?;
                }
            }
        }
        writeln!(f, "cutover:")?;
        for (n, step) in self.cutover.iter().enumerate() {
            writeln!(f, "  {}. {step}", n + 1)?;
        }
        Ok(())
    }
}
