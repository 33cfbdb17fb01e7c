//! The deploy's report: what a deploy (or a rollback, or the CI bootstrap's deploy) did, as
//! `noteapp deploy --json` prints it and as people read it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::aws::resource_changes::ResourceChange;
use crate::aws::stack::StackEvent;
use crate::error::Error;
use crate::output::write_map;
use crate::release::Release;
use crate::smoke::SmokeReport;

/// How a deploy's stack operation ended (JSON: `created`, `updated`, `unchanged`, `failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployResult {
    /// The stack was created (`CREATE_COMPLETE`).
    Created,
    /// The stack was updated (`UPDATE_COMPLETE`).
    Updated,
    /// Nothing to change: no change set was executed.
    Unchanged,
    /// The operation ended in any other status: rolled back, failed, or the stack deleted (a
    /// failed first create).
    Failed,
}

/// What `noteapp deploy` did.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    /// The environment deployed.
    pub environment: String,
    /// Its stack's name.
    pub stack_name: String,
    /// How the stack operation ended.
    pub result: DeployResult,
    /// The name of the change set executed (`None`: none was).
    pub change_set: Option<String>,
    /// The executed change set's resource changes; empty when nothing changed.
    pub changes: Vec<ResourceChange>,
    /// The stack's status at the end (`DELETE_COMPLETE` once a failed create deleted it;
    /// `None`: not read).
    pub stack_status: Option<String>,
    /// The stack's outputs at the end, by key; empty when it is gone or was not read.
    pub outputs: BTreeMap<String, String>,
    /// Every `*_FAILED` event of the operation, oldest first.
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
    /// How the rollback's deploy ended (`failed` when it could not run, `unchanged` when not
    /// attempted).
    pub result: DeployResult,
    /// The stack's status after the rollback, or as the failed deploy left it when none was
    /// attempted (`None`: the rollback could not run).
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

/// What a canary did, in the deploy's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanaryReport {
    /// Percent of the traffic the new release took.
    pub share: u32,
    /// Minutes release health was to be watched.
    pub minutes: u32,
    /// Seconds between two reads of release health.
    pub interval_seconds: f64,
    /// The guard's deadline (UTC).
    pub deadline: String,
    /// When the watch began (update 1 complete).
    pub watched_from: Option<String>,
    /// Reads of release health.
    pub polls: u32,
    /// Each function's last good version.
    pub previous: Vec<(String, String)>,
    /// How the canary ended: JSON `{"result": "finished"|"not_started"|"returned", …}`, with the
    /// `Returned` fields alongside `returned`.
    pub outcome: Outcome,
}

/// How a canary ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Healthy for its minutes: every alias on the new release.
    Finished,
    /// Update 1 did not complete: nothing shifted (CloudFormation rolled it back).
    NotStarted,
    /// Returned to the last good release.
    Returned(Returned),
}

/// A canary returned to the last good release.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Returned {
    /// `deploy` (the deploy saw the signal and moved the aliases), `guard` (it found the guard
    /// had done it), `operator` (`release undo`).
    pub by: String,
    /// What was seen: the alarm, its reason and the alarms in ALARM under it.
    pub signal: String,
    /// The alarms in ALARM under the release-health alarm.
    pub in_alarm: Vec<String>,
    /// Seconds from the read that saw the signal to the last alias moved back.
    pub restored_after_seconds: Option<f64>,
    /// `function: from -> to`.
    pub moved: Vec<String>,
    /// Aliases that could not be moved, and why (the guard still will).
    pub errors: Vec<String>,
    /// The stack's status after it was brought back to the last good release.
    pub reconciled: Option<String>,
    /// Why the stack could not be brought back to the last good release (`None`: it was).
    pub reconcile_error: Option<String>,
}

impl CanaryReport {
    /// The error a deploy whose canary was returned exits with (1), after its report.
    pub fn check(&self) -> Result<(), Error> {
        match &self.outcome {
            Outcome::Returned(returned) => Err(Error::Canary(format!(
                "the canary was returned to the last good release: {}",
                returned.signal
            ))),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for CanaryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let previous: Vec<String> = self
            .previous
            .iter()
            .map(|(function, version)| format!("{function} {version}"))
            .collect();
        writeln!(
            f,
            "canary: {}% of the traffic for {} minutes, release health read every {}s ({} \
             reads), deadline {}; last good versions: {}",
            self.share,
            self.minutes,
            self.interval_seconds,
            self.polls,
            self.deadline,
            previous.join(", ")
        )?;
        match &self.outcome {
            Outcome::Finished => writeln!(f, "canary finished: every alias on the new release"),
            Outcome::NotStarted => writeln!(f, "canary not started: the first update failed"),
            Outcome::Returned(r) => {
                writeln!(
                    f,
                    "canary returned to the last good release ({}): {}",
                    r.by, r.signal
                )?;
                if let Some(seconds) = r.restored_after_seconds {
                    writeln!(f, "  weights back {seconds:.2}s after the signal was read")?;
                }
                for moved in &r.moved {
                    writeln!(f, "  {moved}")?;
                }
                for error in &r.errors {
                    writeln!(f, "  not moved: {error}")?;
                }
                match (&r.reconciled, &r.reconcile_error) {
                    (Some(status), _) => {
                        writeln!(f, "  the stack is back on the last good release ({status})")
                    }
                    (None, Some(e)) => writeln!(
                        f,
                        "  the stack still holds the canary's template ({e}); `noteapp release \
                         undo` brings it back"
                    ),
                    (None, None) => Ok(()),
                }
            }
        }
    }
}
