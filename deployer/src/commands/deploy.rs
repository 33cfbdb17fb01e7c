//! `noteapp deploy ENV [--image-uri URI]`: the environment's stack brought to the rendered template
//! through a CloudFormation change set.
//!
//! Steps: refuse `development`; without `--image-uri`, build and push the image (or reuse it when
//! its inputs did not change) and tag the stack's current and new images against the ECR lifecycle
//! policy (`image::ship`); check the credentials' account against the environment file;
//! wait out an operation already running; create a change set and print its diff; refuse a
//! replacement of a table unless `--allow-replacement`; ask where the environment wants a
//! confirmation (`--yes` skips it; with no terminal to ask on, refuse); execute; print the stack
//! events as they come; report the outputs, or every failed resource with its reason. Nothing to
//! change: the empty change set is deleted and the command exits 0 at once. Ctrl-C deletes an
//! unexecuted change set; an operation already started carries on in CloudFormation and the next
//! run waits it out, so re-running after any failure is safe.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use crate::aws::change_set::{self, Computed, Pending, Prepared};
use crate::aws::changes::{Diff, blocked_replacements};
use crate::aws::{Clients, PollSettings, stack, wait};
use crate::config::{self, EnvironmentConfig};
use crate::error::Error;
use crate::image::engine::Engine;
use crate::image::ship::{ImageArgs, protect, ship};
use crate::output::{self, DeployReport, DeployResult};
use crate::plan::Plan;
use crate::progress::{Progress, Prompt};
use crate::template;

/// The environment a stack command works on, and how it polls.
#[derive(Debug, clap::Args)]
pub struct StackArgs {
    /// The environment: staging or production (development is local only).
    pub env: String,
    /// The repository root (default: the nearest directory at or above the current one that
    /// holds environments/).
    #[arg(long, env = "NOTEAPP_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Seconds between two polls of CloudFormation.
    #[arg(
        long,
        env = "NOTEAPP_POLL_INTERVAL",
        value_name = "SECONDS",
        default_value_t = 2.0
    )]
    pub poll_interval: f64,
    /// Longest wait for a stack operation, in minutes, before saying how to follow it instead.
    #[arg(
        long,
        env = "NOTEAPP_MAX_WAIT",
        value_name = "MINUTES",
        default_value_t = 120
    )]
    pub max_wait: u64,
}

impl StackArgs {
    pub(crate) fn polling(&self) -> PollSettings {
        let mut polling = PollSettings::every(Duration::from_secs_f64(
            self.poll_interval.clamp(0.0, 600.0),
        ));
        polling.operation.max_wait = Duration::from_secs(self.max_wait.saturating_mul(60));
        polling
    }

    /// The repository root and the environment's configuration.
    pub(crate) fn load(&self) -> Result<(PathBuf, EnvironmentConfig), Error> {
        let cwd = std::env::current_dir()?;
        let root = config::locate_root(self.root.as_deref(), &cwd)?;
        let config = config::load(&root, &self.env)?;
        Ok((root, config))
    }
}

#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// The image every function runs (REGISTRY/REPO@sha256:DIGEST). Without it the deploy builds
    /// and pushes the image itself (reusing it when nothing changed): see `noteapp image`.
    #[arg(long, value_name = "URI")]
    pub image_uri: Option<String>,
    #[command(flatten)]
    pub image: ImageArgs,
    /// Execute without asking, also where the environment asks for confirmation (CI).
    #[arg(long)]
    pub yes: bool,
    /// Print the result as JSON on stdout (progress stays on stderr).
    #[arg(long)]
    pub json: bool,
    /// Let the change set replace a table (its data stays in the old, retained table).
    #[arg(long)]
    pub allow_replacement: bool,
}

/// What the person allowed up front.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeployOptions {
    pub(crate) yes: bool,
    pub(crate) allow_replacement: bool,
    pub(crate) polling: PollSettings,
}

/// The refusal of a local-only environment.
pub(crate) fn local_only(env: &str) -> Error {
    Error::Usage(format!(
        "{env} is local only and is never deployed: run `noteapp local`, or use staging or production"
    ))
}

/// Resolves once Ctrl-C is pressed (never, if the signal cannot be watched).
pub(crate) async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

pub async fn run(args: DeployArgs) -> Result<(), Error> {
    let (root, config) = args.stack.load()?;
    if config.is_local_only() {
        return Err(local_only(&config.name));
    }
    let progress = Progress::stderr();
    let built = match &args.image_uri {
        Some(_) => None,
        None => match ship(&root, &config, &args.image, &Engine::default(), &progress).await {
            Ok(built) => Some(built),
            Err(e) => {
                progress.clear();
                return Err(e);
            }
        },
    };
    let image_uri = built
        .as_ref()
        .map(|(image, _)| image.uri.clone())
        .or_else(|| args.image_uri.clone())
        .unwrap_or_default();
    let plan = template::load_plan(&root, &args.stack.env, &image_uri)?;
    let clients = Clients::load(&plan.region).await;
    if let Some((image, ecr)) = &built {
        let (stack, env) = (&plan.stack_name, &plan.environment);
        let repository = &args.image.repository;
        let cfn = &clients.cloudformation;
        protect(ecr, cfn, stack, env, repository, image, &progress).await?;
    }
    let options = DeployOptions {
        yes: args.yes,
        allow_replacement: args.allow_replacement,
        polling: args.stack.polling(),
    };
    let report = deploy_until(
        ctrl_c(),
        &clients,
        &plan,
        &options,
        &Prompt::stdin(),
        &progress,
    )
    .await;
    progress.clear();
    let report = report?;
    output::emit(&report, args.json)?;
    report.check()
}

/// [`deploy`], cut short by `interrupt` with nothing left behind that the next run cannot handle.
pub(crate) async fn deploy_until(
    interrupt: impl Future<Output = ()>,
    clients: &Clients,
    plan: &Plan,
    options: &DeployOptions,
    prompt: &Prompt,
    progress: &Progress,
) -> Result<DeployReport, Error> {
    let pending = Pending::default();
    tokio::select! {
        result = deploy(clients, plan, options, prompt, progress, &pending) => result,
        () = interrupt => Err(change_set::interrupted(clients, &pending, &plan.environment, progress).await),
    }
}

/// The whole flow; stack failures are a report with `result: failed`, refusals are errors.
pub(crate) async fn deploy(
    clients: &Clients,
    plan: &Plan,
    options: &DeployOptions,
    prompt: &Prompt,
    progress: &Progress,
    pending: &Pending,
) -> Result<DeployReport, Error> {
    let mut report = DeployReport {
        environment: plan.environment.clone(),
        stack_name: plan.stack_name.clone(),
        result: DeployResult::Unchanged,
        change_set: None,
        changes: Vec::new(),
        stack_status: None,
        outputs: Default::default(),
        failures: Vec::new(),
    };
    let prepared =
        match change_set::prepare(clients, plan, options.polling, progress, pending).await? {
            Computed::Changes(prepared) => prepared,
            Computed::Unchanged(current) => {
                progress.line(format!(
                    "no changes: stack {} already matches this deploy",
                    plan.stack_name
                ));
                if let Some(current) = current {
                    report.stack_status = Some(current.status);
                    report.outputs = current.outputs;
                }
                return Ok(report);
            }
        };
    let Prepared {
        change_set,
        create,
        info,
    } = prepared;
    let marker = match approve_and_execute(
        clients,
        plan,
        options,
        prompt,
        progress,
        &change_set.name,
        &info.changes,
    )
    .await
    {
        Ok(marker) => marker,
        Err(e) => {
            change_set::discard(clients, &change_set, progress, pending).await;
            return Err(e);
        }
    };
    pending.operation_started(&plan.stack_name);
    let cfn = &clients.cloudformation;
    let (stack, env) = (&plan.stack_name, &plan.environment);
    let finished = wait::follow_operation(
        cfn,
        stack,
        stack,
        env,
        marker,
        options.polling.operation,
        progress,
    )
    .await?;
    pending.clear();
    report.result = match (wait::is_success(&finished.status), create) {
        (false, _) => DeployResult::Failed,
        (true, true) => DeployResult::Created,
        (true, false) => DeployResult::Updated,
    };
    report.change_set = Some(change_set.name);
    report.changes = info.changes;
    report.stack_status = Some(finished.status);
    report.outputs = finished.stack.map(|s| s.outputs).unwrap_or_default();
    report.failures = finished.failures;
    Ok(report)
}

/// Shows the diff, applies the replacement rule and the confirmation, then executes; returns the
/// event marker the operation is followed from. Any error leaves the change set to discard.
async fn approve_and_execute(
    clients: &Clients,
    plan: &Plan,
    options: &DeployOptions,
    prompt: &Prompt,
    progress: &Progress,
    name: &str,
    changes: &[crate::aws::changes::ResourceChange],
) -> Result<Option<String>, Error> {
    let (stack, env) = (&plan.stack_name, &plan.environment);
    progress.line(format!("change set {name} for stack {stack}:"));
    progress.line(Diff {
        changes,
        stateful: &plan.stateful_resources,
    });
    let blocked = blocked_replacements(changes, &plan.stateful_resources);
    if !blocked.is_empty() && !options.allow_replacement {
        return Err(Error::Refused(format!(
            "the change set would replace {}: a new, empty table takes its place (the old one is \
             retained with the data); nothing was changed; rerun with --allow-replacement if that \
             is what you want",
            blocked.join(", ")
        )));
    }
    if !blocked.is_empty() {
        progress.line(format!(
            "warning: replacing {} (--allow-replacement)",
            blocked.join(", ")
        ));
    }
    if plan.confirm && !options.yes {
        let question = format!("execute change set {name} on stack {stack} ({env})? [y/N]");
        match prompt.ask(progress, &question).await? {
            None => {
                return Err(Error::Refused(format!(
                    "{env} asks for confirmation before a change set runs and stdin is not a \
                     terminal: rerun with --yes to execute it; nothing was changed"
                )));
            }
            Some(answer) if matches!(answer.to_lowercase().as_str(), "y" | "yes") => {}
            Some(_) => return Err(Error::Refused("not confirmed; nothing was changed".into())),
        }
    }
    let cfn = &clients.cloudformation;
    let marker = wait::event_marker(cfn, stack).await?;
    progress.status(format!("executing change set {name} on stack {stack}"));
    stack::execute_change_set(cfn, stack, name, name).await?;
    Ok(marker)
}

#[cfg(test)]
mod refusals;
#[cfg(test)]
mod tests;
