//! `noteapp drift ENV [--json]`: whether the environment's stack still matches its template.
//!
//! CloudFormation's drift detection is started on the stack and waited for on the usual bounded
//! poll (its status on stderr), then every resource modified or deleted outside CloudFormation is
//! listed with each property that differs, expected (the template) against actual. Exit 0: in
//! sync; 4: drifted (the report says where); 1: the detection failed or could not run.

use std::time::Duration;

use aws_sdk_cloudformation::Client;
use tokio::time::{Instant, sleep};

use crate::aws::drift::ResourceDrift;
use crate::aws::{WaitLimit, drift};
use crate::commands::args::StackArgs;
use crate::error::Error;
use crate::output;
use crate::progress::Progress;
use serde::Serialize;
use std::fmt;

/// Longest wait for a detection (a few seconds to a minute in practice).
const MAX_WAIT: Duration = Duration::from_secs(10 * 60);

/// `noteapp drift ENV [--json]`.
#[derive(Debug, clap::Args)]
pub struct DriftArgs {
    /// The environment, and how often to poll the detection (`--poll-interval`).
    #[command(flatten)]
    pub stack: StackArgs,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `noteapp drift`: the report on stdout, then exit 4 ([`Error::Differences`]) when the
/// stack drifted.
pub async fn run(args: DriftArgs) -> Result<(), Error> {
    let loaded = args.stack.env.load_deployable()?;
    let progress = Progress::stderr();
    let clients = loaded.connect(&progress).await;
    let polling = WaitLimit {
        interval: args.stack.waits().operation.interval,
        max_wait: MAX_WAIT,
    };
    let config = &loaded.config;
    let report = match clients {
        Ok(clients) => {
            detect(
                &clients.cloudformation,
                config.name(),
                &config.stack_name,
                polling,
                &progress,
            )
            .await
        }
        Err(e) => Err(e),
    };
    progress.clear();
    let report = report?;
    output::emit(&report, args.json)?;
    report.check()
}

/// Runs a detection on `stack`, waits for it, and reads what drifted.
pub async fn detect(
    client: &Client,
    environment: &str,
    stack: &str,
    polling: WaitLimit,
    progress: &Progress,
) -> Result<DriftReport, Error> {
    progress.status(format!("starting drift detection on stack {stack}"));
    let id = drift::detect(client, stack, environment).await?;
    let started = Instant::now();
    let detection = loop {
        let detection = drift::status(client, stack, &id).await?;
        if detection.status != "DETECTION_IN_PROGRESS" {
            break detection;
        }
        if started.elapsed() >= polling.max_wait {
            return Err(Error::StackState(format!(
                "drift detection {id} on stack {stack} is still running after {} minutes; run \
                 `noteapp drift {environment}` again later",
                polling.max_wait.as_secs().div_ceil(60)
            )));
        }
        progress.status(format!(
            "detecting drift on stack {stack} ({} s)",
            started.elapsed().as_secs()
        ));
        sleep(polling.interval).await;
    };
    if detection.status != "DETECTION_COMPLETE" {
        return Err(Error::StackState(format!(
            "drift detection on stack {stack} failed ({}): {}",
            detection.status,
            detection
                .reason
                .as_deref()
                .unwrap_or("CloudFormation gave no reason")
        )));
    }
    let drift_status = detection.drift_status.unwrap_or_default();
    let resources = if drift_status == "IN_SYNC" {
        Vec::new()
    } else {
        drift::drifted_resources(client, stack).await?
    };
    Ok(DriftReport {
        environment: environment.to_owned(),
        stack_name: stack.to_owned(),
        status: drift_status,
        resources,
    })
}

/// What `noteapp drift` found.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    /// The environment.
    pub environment: String,
    /// Its stack.
    pub stack_name: String,
    /// `IN_SYNC` or `DRIFTED`.
    pub status: String,
    /// The resources modified or deleted outside CloudFormation.
    pub resources: Vec<ResourceDrift>,
}

impl DriftReport {
    /// Exit 4 ([`Error::Differences`]) once a drifted stack's report was printed.
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

#[cfg(test)]
mod tests;
