//! The deploy's report: what a deploy (or a rollback, or the CI bootstrap's deploy) did, as
//! `noteapp deploy --json` prints it and as people read it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::aws::resource_changes::ResourceChange;
use crate::aws::stack::StackEvent;
use crate::error::Error;
use crate::flow::canary::CanaryReport;
use crate::output::write_map;
use crate::release::Release;
use crate::smoke::SmokeReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployResult {
    Created,
    Updated,
    Unchanged,
    Failed,
}

/// What `noteapp deploy` did.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    pub environment: String,
    pub stack_name: String,
    pub result: DeployResult,
    pub change_set: Option<String>,
    pub changes: Vec<ResourceChange>,
    pub stack_status: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub failures: Vec<StackEvent>,
    /// Tables a deleted stack kept, brought back into this one before the change set.
    pub imported_tables: Vec<String>,
    /// The release this deploy recorded (`None`: nothing went live).
    pub release: Option<Release>,
    /// The smoke check run after the stack was created or updated (`None`: not run).
    pub smoke: Option<SmokeReport>,
    /// What `--rollback-on-failure` did after a failed smoke check.
    pub rollback: Option<RollbackOutcome>,
    /// The canary the release went live through (`None`: all at once).
    pub canary: Option<CanaryReport>,
}

/// The rollback a failed smoke check set off (`deploy --rollback-on-failure`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollbackOutcome {
    /// The release rolled back to.
    pub to: Option<u64>,
    /// The release the rollback recorded.
    pub release: Option<u64>,
    pub result: DeployResult,
    pub stack_status: Option<String>,
    /// Whether the rolled-back stack passed its own smoke check.
    pub smoke_passed: Option<bool>,
    /// Why the rollback could not run.
    pub error: Option<String>,
    /// Why no rollback was attempted (the failed release was the first the stack recorded):
    /// it stays live.
    pub not_attempted: Option<String>,
}

impl DeployReport {
    /// The error a failed deploy exits with, after the report was printed.
    pub fn check(&self) -> Result<(), Error> {
        if let Some(canary) = &self.canary {
            canary.check()?;
        }
        match self.result {
            DeployResult::Failed => Err(Error::StackFailed {
                stack: self.stack_name.clone(),
                status: self.stack_status.clone().unwrap_or_default(),
            }),
            _ => match &self.smoke {
                Some(smoke) => smoke.check(&self.environment),
                None => Ok(()),
            },
        }
    }
}

impl fmt::Display for DeployReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stack = &self.stack_name;
        let status = self.stack_status.as_deref().unwrap_or("unknown");
        match self.result {
            DeployResult::Unchanged => {
                return writeln!(f, "stack {stack} is up to date: nothing changed ({status})");
            }
            DeployResult::Created | DeployResult::Updated => {
                let count = self.changes.len();
                writeln!(
                    f,
                    "stack {stack} is {status} ({count} resource changes applied)"
                )?;
            }
            DeployResult::Failed => {
                writeln!(
                    f,
                    "deploy of stack {stack} failed; the stack is now {status}"
                )?;
                if self.failures.is_empty() {
                    writeln!(f, "CloudFormation reported no failed resource")?;
                } else {
                    writeln!(f, "failed resources:")?;
                    for e in &self.failures {
                        let reason = e.reason.as_deref().unwrap_or("no reason given");
                        writeln!(
                            f,
                            "  {} ({}) {}: {reason}",
                            e.logical_id, e.resource_type, e.status
                        )?;
                    }
                }
                if status == "DELETE_COMPLETE" {
                    writeln!(
                        f,
                        "the stack's first create failed and CloudFormation deleted it with \
                         everything it had made: fix the cause above and run `noteapp deploy {}` \
                         again",
                        self.environment
                    )?;
                }
            }
        }
        if !self.imported_tables.is_empty() {
            writeln!(
                f,
                "tables brought back from the deleted stack: {}",
                self.imported_tables.join(", ")
            )?;
        }
        if !self.outputs.is_empty() {
            writeln!(f, "outputs:")?;
            write_map(f, &self.outputs)?;
        }
        if let Some(release) = &self.release {
            writeln!(
                f,
                "release {}: {} ({})",
                release.sequence,
                release.image_digest,
                release.commit.as_deref().unwrap_or("no commit")
            )?;
        }
        if let Some(canary) = &self.canary {
            write!(f, "{canary}")?;
        }
        if let Some(smoke) = &self.smoke {
            write!(f, "{smoke}")?;
        }
        match &self.rollback {
            Some(RollbackOutcome {
                not_attempted: Some(why),
                ..
            }) => writeln!(
                f,
                "the smoke check failed and nothing was rolled back: {why}"
            )?,
            Some(RollbackOutcome { error: Some(e), .. }) => writeln!(
                f,
                "the smoke check failed and the rollback to the previous release could not \
                 run: {e}"
            )?,
            Some(back) => writeln!(
                f,
                "the smoke check failed, so the stack was rolled back to release {} (--rollback-on-failure): \
                 recorded as release {}, stack {}, smoke check {}",
                back.to.map_or("?".into(), |n| n.to_string()),
                back.release.map_or("?".into(), |n| n.to_string()),
                back.stack_status.as_deref().unwrap_or("unknown"),
                match back.smoke_passed {
                    Some(true) => "passed",
                    Some(false) => "failed",
                    None => "not run",
                }
            )?,
            None => {}
        }
        Ok(())
    }
}
