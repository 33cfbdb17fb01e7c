//! The whole deploy of an environment (`noteapp deploy ENV [--image-uri URI | --image-from
//! ENV|URI]`): the image, the plan, the release strategy, the record, and what follows a failed
//! smoke check.
//!
//! Steps: refuse `development`; with `--image-from`, take the digest another environment runs
//! from this one's repository (`promote`); without an image, build and push one (or reuse it
//! when its inputs did not change) and tag the stack's current and new images against the ECR
//! lifecycle policy (`image::ship`); render the plan with the API Gateway log role decided;
//! read the live aliases (refused while a canary shifts: `traffic`) and, where the environment
//! releases by canary, release health (`canary`: refused while it is in ALARM); record the
//! release (`recording`); then the change set (`deploy`), all at once or through the canary's
//! two updates and its watch; with `--rollback-on-failure`, a failed smoke check rolls back to
//! the release before (`rollback`).

use std::path::Path;

use super::canary::{self, CanarySettings, Start};
use super::deploy::{
    DeployOptions, DeployReport, DeployResult, Finish, RollbackOutcome, deploy_recorded,
};
use super::promote::{self, Source};
use super::recording::{self, Provenance};
use super::traffic::{self, Traffic};
use crate::aws::{Clients, apigateway, ecr};
use crate::config::EnvironmentConfig;
use crate::error::Error;
use crate::image::engine::Engine;
use crate::image::ship::{BuildOptions, DeployedImage, adopt, protect, ship};
use crate::plan::Plan;
use crate::progress::{Progress, Prompt};
use crate::template;

/// What a deploy of an environment is asked to do.
#[derive(Debug, Clone)]
pub struct DeployRequest<'a> {
    /// The repository (the template, Cargo.toml, Dockerfile.lambda).
    pub root: &'a Path,
    /// The environment deployed, as its file says.
    pub config: &'a EnvironmentConfig,
    /// The image to run (`--image-uri`); without it (or `image_from`) the deploy builds and
    /// pushes one.
    pub image_uri: Option<&'a str>,
    /// Where to take the image's digest from instead (`--image-from`): another environment's
    /// stack, or an image it ran.
    pub image_from: Option<Source>,
    /// How the image is built and pushed when the deploy builds it; its `repository` is also
    /// where `--image-from` looks for the digest.
    pub build: &'a BuildOptions,
    /// What the person allowed up front (`--yes`, `--allow-replacement`, `--new-tables`) and
    /// the polling.
    pub options: DeployOptions,
    /// How the deploy ends once its change set ran (the smoke check).
    pub finish: Finish,
    /// Roll back to the release before at once when the smoke check fails.
    pub rollback_on_failure: bool,
    /// How a canary runs (where the environment releases by canary).
    pub canary: CanarySettings,
}

/// The whole deploy of an environment: the image built and pushed (or `--image-uri` adopted,
/// or `--image-from` promoted) and protected from the lifecycle policy, the plan rendered with
/// the API Gateway log role decided, the release recorded, the change set computed, shown,
/// confirmed and executed (all at once, or through the canary), then the release tagged, the
/// stack smoke checked and, if asked, rolled back when that fails.
pub async fn deploy_environment(
    clients: &Clients,
    request: &DeployRequest<'_>,
    progress: &Progress,
) -> Result<DeployReport, Error> {
    let config = request.config;
    let (mut plan, repository) = image_and_plan(clients, request, progress).await?;
    let before = traffic::before(clients, config, progress).await?;
    let settings = &request.canary;
    let start = canary::start(clients, config, &plan, before.as_ref(), settings, progress).await?;
    let (commit, dirty) = recording::git_state(request.root);
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
    let (options, finish) = (&request.options, &request.finish);
    let mut report = match start {
        Start::AllAtOnce => {
            let prompt = &Prompt::stdin();
            deploy_recorded(
                clients, &plan, &recording, options, prompt, finish, progress,
            )
            .await?
        }
        Start::Canary(shift) => {
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

/// The image the deploy runs — promoted (`--image-from`), given (`--image-uri`), or built and
/// pushed — tagged against the lifecycle policy, and the plan rendered for it; with the ECR
/// repository holding it (`None`: another registry).
async fn image_and_plan(
    clients: &Clients,
    request: &DeployRequest<'_>,
    progress: &Progress,
) -> Result<(Plan, Option<String>), Error> {
    let (root, config) = (request.root, request.config);
    let template_body = template::read_template(root)?;
    let repository = &request.build.repository;
    let given = match &request.image_from {
        Some(source) => {
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
    Ok((plan, repository))
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
        let (prompt, finish) = (&Prompt::Closed, &request.finish);
        deploy_recorded(
            clients, &plan, &recording, &options, prompt, finish, progress,
        )
        .await
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
