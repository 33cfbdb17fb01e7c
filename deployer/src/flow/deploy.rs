//! The deploy flow (`noteapp deploy ENV [--image-uri URI | --image-from ENV|URI]`, and under
//! rollback and the CI bootstrap): the environment's stack brought to the rendered template
//! through a CloudFormation change set, and the report of what happened.
//!
//! Steps: refuse `development`; with `--image-from`, take the digest another environment runs
//! from this one's repository (`promote`); without an image, build and push one (or reuse it
//! when its inputs did not change) and tag the stack's current and new images against the ECR
//! lifecycle policy (`image::ship`); read the live aliases (refused while a canary shifts) and,
//! where the environment releases by canary, release health (`canary`: refused while it is in
//! ALARM); check the credentials' account against the environment file;
//! refuse reserved concurrency the account cannot hold (`aws::lambda`);
//! wait out an operation already running; for a new stack, bring back the tables a deleted one
//! kept (`change_set`); create a change set and print its diff; refuse replacing or removing a
//! table unless `--allow-replacement`; ask where the environment wants a confirmation (`--yes`
//! skips it; with no terminal to ask on, refuse); execute; print the stack events as they come;
//! put the table policy (and production's termination protection) on the stack (a canary: the
//! shift, the watch, then the second update or the return to the last good release); report the
//! outputs, or every failed resource with its reason; smoke check the stack it created or
//! updated (`smoke`; `--no-smoke` skips it), whose failure exits 1. A failed first create
//! leaves no stack and no table. Nothing to change: the empty change set is deleted and the command exits 0 at once.
//! Ctrl-C deletes an unexecuted change set; an operation already started carries on in
//! CloudFormation and the next run waits it out, so re-running after any failure is safe.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use super::canary::{self, CanarySettings, Start};
use super::change_set::{self, Computed, Intent, Pending, Prepared};
use super::promote::{self, Source};
use super::recording::{self, Provenance, Recording};
use super::traffic::Traffic;
use crate::aws::resource_changes::{Diff, blocked_replacements, blocked_summary};
use crate::aws::wait::Operation;
use crate::aws::{Clients, Waits, apigateway, ecr, lambda, protection, stack, wait};
use crate::config::EnvironmentConfig;
use crate::error::Error;
use crate::image::engine::Engine;
use crate::image::ship::{BuildOptions, DeployedImage, adopt, protect, ship};
use crate::interrupt::ctrl_c;
use crate::plan::Plan;
use crate::progress::{Progress, Prompt};
use crate::smoke::{self, SmokeReport};
use crate::template;

/// What the person allowed up front.
#[derive(Debug, Clone, Copy)]
pub struct DeployOptions {
    pub yes: bool,
    pub allow_replacement: bool,
    pub new_tables: bool,
    pub waits: Waits,
}

/// What a deploy of an environment is asked to do.
#[derive(Debug, Clone)]
pub struct DeployRequest<'a> {
    /// The repository (the template, Cargo.toml, Dockerfile.lambda).
    pub root: &'a Path,
    pub config: &'a EnvironmentConfig,
    /// The image to run (`--image-uri`); without it (or `image_from`) the deploy builds and
    /// pushes one.
    pub image_uri: Option<&'a str>,
    /// Where to take the image's digest from instead (`--image-from`): another environment's
    /// stack, or an image it ran.
    pub image_from: Option<Source>,
    pub build: &'a BuildOptions,
    pub options: DeployOptions,
    pub finish: Finish,
    /// Roll back to the release before at once when the smoke check fails.
    pub rollback_on_failure: bool,
    /// How a canary runs (where the environment releases by canary).
    pub canary: CanarySettings,
}

/// How a deploy (or a rollback) ends once its change set ran.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finish {
    /// Each smoke check's time limit; `None` skips the smoke check (`--no-smoke`).
    pub smoke_timeout: Option<Duration>,
}

/// The whole deploy of an environment: the image built and pushed (or `--image-uri` adopted)
/// and protected from the lifecycle policy, the plan rendered with the API Gateway log role
/// decided, the release recorded, the change set computed, shown, confirmed and executed, then
/// the release tagged, the stack smoke checked and, if asked, rolled back when that fails.
pub async fn deploy_environment(
    clients: &Clients,
    request: &DeployRequest<'_>,
    progress: &Progress,
) -> Result<DeployReport, Error> {
    let (root, config) = (request.root, request.config);
    let template_body = template::read_template(root)?;
    let given = match &request.image_from {
        Some(source) => {
            let repository = &request.build.repository;
            let uri = promote::promoted_image(clients, root, config, source, repository, progress);
            Some(uri.await?)
        }
        None => request.image_uri.map(str::to_owned),
    };
    let built = match given {
        Some(_) => None,
        None => {
            let engine = Engine::default();
            Some(ship(root, config, request.build, &clients.ecr, &engine, progress).await?)
        }
    };
    let image_uri = built
        .as_ref()
        .map(|image| image.uri.clone())
        .or(given)
        .unwrap_or_default();
    let mut plan = template::plan(config, &template_body, &image_uri)?;
    apigateway::decide_log_role(&mut plan, clients, progress).await?;
    let (stack, env) = (&plan.stack_name, plan.environment.as_str());
    let (ecr, cfn) = (&clients.ecr, &clients.cloudformation);
    let repository = &request.build.repository;
    match &built {
        Some(image) if image.in_ecr => {
            let deployed = DeployedImage {
                repository,
                name: &image.name,
                digest: &image.digest,
            };
            protect(ecr, cfn, stack, env, deployed, progress).await?;
        }
        // Pushed to another registry (`--registry-endpoint`): no lifecycle policy there.
        Some(_) => {}
        None => adopt(ecr, cfn, config, &image_uri, progress).await?,
    }
    let repository = match &built {
        Some(image) if image.in_ecr => Some(repository.clone()),
        Some(_) => None,
        None => ecr::EcrImage::parse(&image_uri).ok().map(|i| i.repository),
    };
    let before = canary::before(clients, config, progress).await?;
    let start = canary::start(
        clients,
        config,
        &plan,
        before.as_ref(),
        &request.canary,
        progress,
    )
    .await?;
    let (commit, dirty) = recording::git_state(root);
    let provenance = Provenance {
        commit,
        dirty,
        rollback_of: None,
        live_versions: before
            .as_ref()
            .and_then(|b| Traffic::steady_versions(&b.aliases)),
    };
    let kept = config.releases_kept;
    let recording =
        recording::record(clients, &mut plan, repository.as_deref(), kept, provenance).await?;
    let options = &request.options;
    let mut report = match start {
        Start::AllAtOnce => {
            let report = deploy_until(
                ctrl_c(),
                clients,
                &plan,
                options,
                &Prompt::stdin(),
                progress,
            )
            .await;
            conclude(clients, report, &recording, &request.finish, progress).await?
        }
        Start::Canary(shift) => {
            let settings = &request.canary;
            let finish = &request.finish;
            canary::run(
                clients, config, &plan, &recording, shift, settings, options, finish, progress,
            )
            .await?
        }
    };
    if request.rollback_on_failure && report.smoke.as_ref().is_some_and(|s| !s.passed) {
        match recording.previous {
            Some(_) => {
                let repository = repository.as_deref().unwrap_or(&request.build.repository);
                roll_back_on_failure(clients, config, &mut report, request, repository, progress)
                    .await;
            }
            None => {
                let why = first_release_stays(&report, config.name());
                progress.line(format!("the smoke check failed: {why}"));
                report.rollback = Some(RollbackOutcome {
                    to: None,
                    release: None,
                    result: DeployResult::Unchanged,
                    stack_status: report.stack_status.clone(),
                    smoke_passed: None,
                    error: None,
                    not_attempted: Some(why),
                });
            }
        }
    }
    Ok(report)
}

/// What `--rollback-on-failure` says when the release that failed its smoke check is the first
/// the stack recorded: there is no earlier release, so it stays live, and how to go on.
fn first_release_stays(report: &DeployReport, environment: &str) -> String {
    let sequence = report.release.as_ref().map_or(1, |r| r.sequence);
    let what = if report.result == DeployResult::Created {
        format!(
            "the stack was just created; `noteapp destroy {environment}` removes it (its tables \
             are kept)"
        )
    } else {
        "the stack ran no release noteapp recorded before it".to_owned()
    };
    format!(
        "release {sequence} is the first this stack recorded, so there is no earlier release to \
         roll back to and it stays live ({what}); fix the cause and deploy again"
    )
}

/// `--rollback-on-failure`: the deploy's smoke check failed, so the release before it is
/// deployed again (as `noteapp rollback` does, confirmed by the flag itself) and smoke checked;
/// what happened goes into the report. The deploy still exits 1.
pub async fn roll_back_on_failure(
    clients: &Clients,
    config: &EnvironmentConfig,
    report: &mut DeployReport,
    request: &DeployRequest<'_>,
    repository: &str,
    progress: &Progress,
) {
    let Some(failed) = report.release.as_ref().map(|r| r.sequence) else {
        return;
    };
    progress.line(format!(
        "the smoke check of release {failed} failed: rolling back to the release before it \
         (--rollback-on-failure)"
    ));
    let options = DeployOptions {
        yes: true,
        ..request.options
    };
    let rolled = async {
        let (plan, recording) =
            super::rollback::prepare(clients, config, None, repository, progress).await?;
        let back = deploy_until(
            ctrl_c(),
            clients,
            &plan,
            &options,
            &Prompt::Closed,
            progress,
        );
        conclude(clients, back.await, &recording, &request.finish, progress).await
    };
    report.rollback = Some(match rolled.await {
        Ok(back) => RollbackOutcome {
            to: back.release.as_ref().and_then(|r| r.rollback_of),
            release: back.release.as_ref().map(|r| r.sequence),
            result: back.result,
            stack_status: back.stack_status,
            smoke_passed: back.smoke.as_ref().map(|s| s.passed),
            error: None,
            not_attempted: None,
        },
        Err(e) => RollbackOutcome {
            to: None,
            release: None,
            result: DeployResult::Failed,
            stack_status: None,
            smoke_passed: None,
            error: Some(e.to_string()),
            not_attempted: None,
        },
    });
}

/// A stack that was created or updated gets its release tagged and is smoke checked.
pub async fn conclude(
    clients: &Clients,
    report: Result<DeployReport, Error>,
    recording: &Recording,
    finish: &Finish,
    progress: &Progress,
) -> Result<DeployReport, Error> {
    let mut report = report?;
    if matches!(report.result, DeployResult::Created | DeployResult::Updated) {
        recording::finish(
            clients,
            &report.environment,
            &report.stack_name,
            recording,
            progress,
        )
        .await;
        report.release = Some(recording.release.clone());
    }
    if let Some(timeout) = finish.smoke_timeout {
        smoke_check(clients, &mut report, timeout, progress).await;
    }
    Ok(report)
}

/// Ends a deploy: a stack that was created or updated is smoke checked, and the result goes
/// into the report (a stack without the outputs fails the check, naming them).
pub async fn smoke_check(
    clients: &Clients,
    report: &mut DeployReport,
    timeout: Duration,
    progress: &Progress,
) {
    if !matches!(report.result, DeployResult::Created | DeployResult::Updated) {
        return;
    }
    let checked = smoke::check(
        clients,
        &report.stack_name,
        &report.outputs,
        timeout,
        progress,
    )
    .await;
    report.smoke = Some(match checked {
        Ok(smoke) => smoke,
        Err(e) => SmokeReport::unchecked("outputs", e.to_string()),
    });
}

/// [`deploy`], cut short by `interrupt` with nothing left behind that the next run cannot handle.
pub async fn deploy_until(
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
        () = interrupt => Err(change_set::interrupted(clients, &pending, plan.environment.as_str(), progress).await),
    }
}

/// The whole flow; stack failures are a report with `result: failed`, refusals are errors.
pub async fn deploy(
    clients: &Clients,
    plan: &Plan,
    options: &DeployOptions,
    prompt: &Prompt,
    progress: &Progress,
    pending: &Pending,
) -> Result<DeployReport, Error> {
    let mut report = DeployReport {
        environment: plan.environment.to_string(),
        stack_name: plan.stack_name.clone(),
        result: DeployResult::Unchanged,
        change_set: None,
        changes: Vec::new(),
        stack_status: None,
        outputs: Default::default(),
        failures: Vec::new(),
        imported_tables: Vec::new(),
        release: None,
        rollback: None,
        canary: None,
        smoke: None,
    };
    let intent = Intent::Deploy {
        new_tables: options.new_tables,
    };
    // Reservations the account cannot hold would fail the update halfway: refuse them first.
    lambda::ensure_reservations_fit(clients, plan).await?;
    let prepared =
        match change_set::prepare(clients, plan, options.waits, progress, pending, intent).await? {
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
    let marker =
        match approve_and_execute(clients, plan, options, prompt, progress, &prepared).await {
            Ok(marker) => marker,
            Err(e) => {
                change_set::discard(clients, &prepared.change_set, progress, pending).await;
                return Err(e);
            }
        };
    let Prepared {
        change_set,
        create,
        info,
        stack_id,
        imported,
        protect_after_create,
    } = prepared;
    report.imported_tables = imported.into_iter().map(|t| t.name).collect();
    pending.operation_started(&plan.stack_name);
    let cfn = &clients.cloudformation;
    let (stack, env) = (&plan.stack_name, plan.environment.as_str());
    let operation = Operation {
        stack_id: &stack_id,
        stack_name: stack,
        environment: env,
    };
    let finished =
        wait::follow_operation(cfn, &operation, marker, options.waits.operation, progress).await?;
    pending.clear();
    let wanted = if create {
        "CREATE_COMPLETE"
    } else {
        "UPDATE_COMPLETE"
    };
    report.result = match (finished.status == wanted, create) {
        (false, _) => DeployResult::Failed,
        (true, true) => DeployResult::Created,
        (true, false) => DeployResult::Updated,
    };
    let gone = finished.stack.is_none() || finished.status == "DELETE_COMPLETE";
    match &finished.stack {
        Some(info) if !gone => {
            if let Err(e) = protection::after_operation(cfn, plan, info, progress).await {
                progress.line(format!(
                    "warning: {e}; the next deploy puts the stack's protection in place"
                ));
            }
        }
        _ if create => progress.line(format!(
            "the create failed, so CloudFormation deleted stack {stack} and everything it had \
             made: no table or other resource is left; fix the cause and deploy again"
        )),
        _ => {}
    }
    report.change_set = Some(change_set.name);
    report.changes = info.changes;
    report.stack_status = Some(finished.status);
    report.outputs = finished.stack.map(|s| s.outputs).unwrap_or_default();
    report.failures = finished.failures;
    if protect_after_create && report.result == DeployResult::Created {
        turn_on_deletion_protection(clients, plan, options, progress, pending, &mut report).await?;
    }
    Ok(report)
}

/// After a first create that left the tables unprotected ([`Prepared::protect_after_create`]):
/// the update that turns their deletion protection on, run without asking again (the create
/// was confirmed). Should it fail, the stack runs unprotected tables, which the report and the
/// next deploy (whose plan asks for protection again) put right.
async fn turn_on_deletion_protection(
    clients: &Clients,
    plan: &Plan,
    options: &DeployOptions,
    progress: &Progress,
    pending: &Pending,
    report: &mut DeployReport,
) -> Result<(), Error> {
    let stack = &plan.stack_name;
    progress.line(format!(
        "the create succeeded: turning on the deletion protection of stack {stack}'s tables"
    ));
    let intent = Intent::Deploy { new_tables: false };
    let prepared =
        match change_set::prepare(clients, plan, options.waits, progress, pending, intent).await? {
            Computed::Changes(prepared) => prepared,
            Computed::Unchanged(_) => return Ok(()),
        };
    let cfn = &clients.cloudformation;
    let marker = wait::event_marker(cfn, stack).await?;
    let name = &prepared.change_set.name;
    stack::execute_change_set(cfn, stack, name, name).await?;
    pending.operation_started(stack);
    let operation = Operation {
        stack_id: &prepared.stack_id,
        stack_name: stack,
        environment: plan.environment.as_str(),
    };
    let finished =
        wait::follow_operation(cfn, &operation, marker, options.waits.operation, progress).await?;
    pending.clear();
    if finished.status != "UPDATE_COMPLETE" {
        progress.line(format!(
            "warning: turning on the tables' deletion protection ended {}: the tables are not \
             protected yet; `noteapp deploy {}` turns it on",
            finished.status,
            plan.environment.as_str()
        ));
    }
    report.stack_status = Some(finished.status);
    if let Some(info) = finished.stack {
        report.outputs = info.outputs;
    }
    Ok(())
}

/// Shows the diff, applies the replacement rule and the confirmation, then executes; returns the
/// event marker the operation is followed from. Any error leaves the change set to discard.
async fn approve_and_execute(
    clients: &Clients,
    plan: &Plan,
    options: &DeployOptions,
    prompt: &Prompt,
    progress: &Progress,
    prepared: &Prepared,
) -> Result<Option<String>, Error> {
    let (name, changes, create) = (
        prepared.change_set.name.as_str(),
        prepared.info.changes.as_slice(),
        prepared.create,
    );
    let (stack, env) = (&plan.stack_name, plan.environment.as_str());
    progress.line(format!("change set {name} for stack {stack}:"));
    progress.line(Diff {
        changes,
        stateful: &plan.stateful_resources,
    });
    let blocked = blocked_replacements(changes, &plan.stateful_resources);
    let summary = blocked_summary(changes, &plan.stateful_resources);
    if !blocked.is_empty() && !options.allow_replacement {
        return Err(Error::Refused(format!(
            "the change set would {summary}: the table leaves the stack with the data (it is \
             retained, detached) and the app starts on an empty one; a logical id renamed in \
             the template does this too; nothing was changed; rerun with --allow-replacement if \
             that is what you want"
        )));
    }
    if !blocked.is_empty() {
        progress.line(format!("warning: about to {summary} (--allow-replacement)"));
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
    if !create {
        protection::before_update(cfn, plan, !blocked.is_empty(), progress).await?;
    }
    let marker = wait::event_marker(cfn, stack).await?;
    progress.status(format!("executing change set {name} on stack {stack}"));
    stack::execute_change_set(cfn, stack, name, name).await?;
    Ok(marker)
}

mod report;

pub use report::{DeployReport, DeployResult, RollbackOutcome};

#[cfg(test)]
mod refusals;
#[cfg(test)]
mod tables;
#[cfg(test)]
mod tests;
