//! The results of the stack commands: each is `Serialize` for `--json` and `Display` for people,
//! and is printed once, on stdout, when the command ends (progress went to stderr meanwhile).
//!
//! JSON shapes (stable; fields are only ever added):
//! - `deploy`: `{"environment", "stack_name", "result": "created"|"updated"|"unchanged"|"failed",
//!   "change_set": string|null, "changes": [Change], "stack_status": string|null,
//!   "outputs": {key: value}, "failures": [Event], "imported_tables": [table name],
//!   "release": Release|null, "smoke": Smoke|null, "rollback": {"to", "release", "result",
//!   "stack_status", "smoke_passed", "error"}|null}`
//! - `history`: `{"environment", "stack_name", "live": number|null, "releases": [Release and
//!   "live": bool, "image_present": bool|null]}`, newest first
//! - `smoke`: Smoke, that is `{"passed", "millis", "checks": [{"name": "healthz"|"websocket"|
//!   "broadcast", "url", "passed", "status": number|null, "detail", "millis"}]}`
//! - `diff`: `{"environment", "stack_name", "action": "create"|"update"|"none", "changes": [Change],
//!   "blocked": [logical id]}`
//! - `outputs`: `{key: value}`, the stack outputs as one flat object (`jq -r .WebSocketURL`).
//! - `status`: `{"environment", "stack_name", "exists", "status": string|null,
//!   "status_reason": string|null, "created": string|null, "last_updated": string|null,
//!   "recent_failures": [Event], "failed_broadcasts": number|null}`
//! - `destroy`: `{"environment", "stack_name", "result": "deleted"|"absent",
//!   "retained_tables": [table name]}`
//! - `ci bootstrap`: `{"role_arn", "subject", "provider", "deploy": <deploy>}`
//! - `drift`: `{"environment", "stack_name", "status": "IN_SYNC"|"DRIFTED", "resources":
//!   [{"logical_id", "physical_id": string|null, "resource_type", "drift": "MODIFIED"|"DELETED",
//!   "differences": [{"path", "expected", "actual", "kind": "ADD"|"REMOVE"|"NOT_EQUAL"}]}]}`
//!
//! where `Release` is `{"sequence", "commit": string|null, "dirty", "image_uri", "image_digest",
//! "template_sha256", "parameters": {key: value}, "time", "deployed_by", "result",
//! "rollback_of"?: number}`, `Change` is `{"action", "logical_id", "physical_id": string|null, "resource_type",
//! "replacement": "True"|"False"|"Conditional"|null, "properties": [name]}` and `Event` is
//! `{"timestamp", "logical_id", "resource_type", "status", "reason": string|null}`; times are
//! RFC 3339 UTC.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;

use serde::Serialize;

use crate::aws::changes::ResourceChange;
use crate::aws::drift::ResourceDrift;
use crate::aws::stack::StackEvent;
use crate::error::Error;
use crate::release::Release;
use crate::smoke::SmokeReport;

/// Prints a result on stdout, as JSON or as text; a closed pipe is not an error.
pub fn emit<T: Serialize + fmt::Display>(result: &T, json: bool) -> Result<(), Error> {
    let text = if json {
        serde_json::to_string_pretty(result).map_err(std::io::Error::other)? + "\n"
    } else {
        result.to_string()
    };
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

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
}

impl DeployReport {
    /// The error a failed deploy exits with, after the report was printed.
    pub fn check(&self) -> Result<(), Error> {
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

fn write_outputs(f: &mut fmt::Formatter<'_>, outputs: &BTreeMap<String, String>) -> fmt::Result {
    let width = outputs.keys().map(String::len).max().unwrap_or(0);
    for (key, value) in outputs {
        writeln!(f, "  {key:width$}  {value}")?;
    }
    Ok(())
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
            write_outputs(f, &self.outputs)?;
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
        if let Some(smoke) = &self.smoke {
            write!(f, "{smoke}")?;
        }
        match &self.rollback {
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

/// What `noteapp diff` found.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub environment: String,
    pub stack_name: String,
    /// `create`, `update` or `none`.
    pub action: &'static str,
    pub changes: Vec<ResourceChange>,
    pub blocked: Vec<String>,
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
        let diff = crate::aws::changes::Diff {
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

/// `noteapp outputs`: the stack outputs, a flat map in JSON.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct OutputsReport(pub BTreeMap<String, String>);

impl fmt::Display for OutputsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_outputs(f, &self.0)
    }
}

/// `noteapp status`: where the stack stands and what failed last.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub environment: String,
    pub stack_name: String,
    pub exists: bool,
    pub status: Option<String>,
    pub status_reason: Option<String>,
    pub created: Option<String>,
    pub last_updated: Option<String>,
    pub recent_failures: Vec<StackEvent>,
    /// Broadcasts that failed after Lambda's retries, waiting in the on-failure queue.
    pub failed_broadcasts: Option<u64>,
    /// The release the stack runs: the first of its template's history (`None`: none recorded).
    pub live_release: Option<Release>,
    #[serde(skip)]
    pub outputs: BTreeMap<String, String>,
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stack = &self.stack_name;
        let Some(status) = &self.status else {
            return writeln!(
                f,
                "stack {stack} does not exist ({} is not deployed)",
                self.environment
            );
        };
        writeln!(f, "stack {stack}: {status}")?;
        if let Some(reason) = &self.status_reason {
            writeln!(f, "  reason: {reason}")?;
        }
        if let Some(t) = &self.created {
            writeln!(f, "  created: {t}")?;
        }
        if let Some(t) = &self.last_updated {
            writeln!(f, "  last updated: {t}")?;
        }
        match &self.live_release {
            Some(r) => {
                writeln!(
                    f,
                    "  live release: {}, {} at {} by {}",
                    r.sequence, r.result, r.time, r.deployed_by
                )?;
                let commit = r
                    .commit
                    .as_deref()
                    .unwrap_or("none (not deployed from git)");
                let dirty = if r.dirty {
                    " (with uncommitted changes)"
                } else {
                    ""
                };
                writeln!(f, "    commit: {commit}{dirty}")?;
                writeln!(f, "    image: {}", r.image_digest)?;
            }
            None => writeln!(
                f,
                "  live release: none recorded (`noteapp deploy {}` records one)",
                self.environment
            )?,
        }
        match (
            self.failed_broadcasts,
            self.outputs.get("BroadcastFailuresQueueUrl"),
        ) {
            (Some(0), _) => writeln!(f, "  failed broadcasts: none")?,
            (Some(n), Some(url)) => writeln!(
                f,
                "  failed broadcasts: {n} waiting in {url} (read them with `aws sqs receive-message --queue-url {url}`)"
            )?,
            _ => {}
        }
        if !self.recent_failures.is_empty() {
            writeln!(f, "failures in the last operation:")?;
            for e in &self.recent_failures {
                let reason = e.reason.as_deref().unwrap_or("no reason given");
                writeln!(
                    f,
                    "  {} {} ({}) {}: {reason}",
                    e.timestamp, e.logical_id, e.resource_type, e.status
                )?;
            }
        }
        Ok(())
    }
}

/// What `noteapp destroy` did.
#[derive(Debug, Clone, Serialize)]
pub struct DestroyReport {
    pub environment: String,
    pub stack_name: String,
    /// `deleted` or `absent`.
    pub result: &'static str,
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

/// What `noteapp drift` found.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    pub environment: String,
    pub stack_name: String,
    /// `IN_SYNC` or `DRIFTED`.
    pub status: String,
    /// The resources modified or deleted outside CloudFormation.
    pub resources: Vec<ResourceDrift>,
}

impl DriftReport {
    /// Exit 2 once a drifted stack's report was printed.
    pub fn check(&self) -> Result<(), Error> {
        if self.status == "IN_SYNC" {
            return Ok(());
        }
        Err(Error::Differences(format!(
            "stack {} has drifted from its template: {} resources differ (listed above)",
            self.stack_name,
            self.resources.len()
        )))
    }
}

impl fmt::Display for DriftReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stack = &self.stack_name;
        if self.status == "IN_SYNC" {
            return writeln!(f, "stack {stack} is in sync with its template");
        }
        writeln!(
            f,
            "stack {stack} has drifted ({}): {} resources differ from the template",
            self.status,
            self.resources.len()
        )?;
        for r in &self.resources {
            let physical = r.physical_id.as_deref().unwrap_or("no physical id");
            writeln!(
                f,
                "  {} ({}, {physical}): {}",
                r.logical_id, r.resource_type, r.drift
            )?;
            for d in &r.differences {
                let shown = |v: &str| {
                    if v.is_empty() {
                        "(none)".to_owned()
                    } else {
                        v.to_owned()
                    }
                };
                writeln!(
                    f,
                    "    {} ({}): expected {}, actual {}",
                    d.path,
                    d.kind,
                    shown(&d.expected),
                    shown(&d.actual)
                )?;
            }
        }
        Ok(())
    }
}

/// What `noteapp ci bootstrap` did.
#[derive(Debug, Clone, Serialize)]
pub struct BootstrapReport {
    /// The role GitHub Actions assumes (`role-to-assume`).
    pub role_arn: String,
    /// The `sub` claim the role trusts.
    pub subject: String,
    /// `create` (the stack's own provider) or the ARN of the account's.
    pub provider: String,
    /// The CI stack's deploy, as `noteapp deploy` reports it.
    pub deploy: DeployReport,
}

impl fmt::Display for BootstrapReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.deploy)?;
        if self.deploy.result == DeployResult::Failed {
            return Ok(());
        }
        writeln!(f, "deploy role: {}", self.role_arn)?;
        writeln!(
            f,
            "  trusted: {} (audience sts.amazonaws.com)",
            self.subject
        )?;
        writeln!(
            f,
            "  use it as role-to-assume of aws-actions/configure-aws-credentials"
        )
    }
}
