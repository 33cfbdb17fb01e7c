//! `noteapp smoke ENV [--json]`: the live stack of ENV checked from outside (see `smoke`), on
//! its own; `deploy` and `rollback` end with the same check. Exit 0 when every check passed, 1
//! when one failed (the report names it), 2 when the stack has no endpoints to check.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::aws::{Clients, stack};
use crate::commands::env::EnvArgs;
use crate::error::Error;
use crate::output::{self, DeployReport, DeployResult};
use crate::progress::Progress;
use crate::smoke::{self, Endpoints, SmokeReport};

#[derive(Debug, clap::Args)]
pub struct SmokeArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    #[command(flatten)]
    pub smoke: SmokeOptions,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// How the smoke check runs.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct SmokeOptions {
    /// Seconds each smoke check may take before it fails.
    #[arg(
        long = "smoke-timeout",
        env = "NOTEAPP_SMOKE_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = smoke::DEFAULT_TIMEOUT.as_secs_f64()
    )]
    pub timeout: f64,
}

impl SmokeOptions {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout.clamp(0.1, 600.0))
    }
}

pub async fn run(args: SmokeArgs) -> Result<(), Error> {
    let loaded = args.env.load_deployable()?;
    let progress = Progress::stderr();
    let clients = loaded.connect(&progress).await;
    let config = &loaded.config;
    let report = async {
        let clients = clients?;
        let stack = &config.stack_name;
        let info = stack::describe_stack(&clients.cloudformation, stack)
            .await?
            .ok_or_else(|| {
                Error::StackState(format!(
                    "stack {stack} does not exist: `noteapp deploy {}` first",
                    config.name()
                ))
            })?;
        check(&clients, stack, &info.outputs, &args.smoke, &progress).await
    }
    .await;
    progress.clear();
    let report = report?;
    output::emit(&report, args.json)?;
    report.check(config.name())
}

/// The smoke check of `stack`, its endpoints read from `outputs`.
pub async fn check(
    clients: &Clients,
    stack: &str,
    outputs: &BTreeMap<String, String>,
    options: &SmokeOptions,
    progress: &Progress,
) -> Result<SmokeReport, Error> {
    let endpoints = Endpoints::from_outputs(stack, outputs)?;
    progress.status(format!(
        "smoke check: {}, {}, {}",
        endpoints.health, endpoints.websocket, endpoints.broadcast
    ));
    let report = smoke::run_checks(&endpoints, clients.signer.as_ref(), options.timeout()).await;
    progress.line(format!(
        "smoke check {} in {} ms",
        if report.passed { "passed" } else { "failed" },
        report.millis
    ));
    Ok(report)
}

/// Ends a deploy: a stack that was created or updated is smoke checked, and the result goes
/// into the report (a stack without the outputs fails the check, naming them).
pub async fn after_deploy(
    clients: &Clients,
    report: &mut DeployReport,
    options: &SmokeOptions,
    progress: &Progress,
) {
    if !matches!(report.result, DeployResult::Created | DeployResult::Updated) {
        return;
    }
    let checked = check(
        clients,
        &report.stack_name,
        &report.outputs,
        options,
        progress,
    )
    .await;
    report.smoke = Some(match checked {
        Ok(smoke) => smoke,
        Err(e) => SmokeReport {
            passed: false,
            checks: vec![smoke::Check {
                name: "outputs",
                url: String::new(),
                passed: false,
                status: None,
                detail: e.to_string(),
                millis: 0,
            }],
            millis: 0,
        },
    });
}
