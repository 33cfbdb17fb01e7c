//! Build once, deploy many: `noteapp deploy production --image-from staging` deploys exactly
//! the image digest staging's stack runs (its `ImageUri` parameter), from this environment's own
//! ECR repository, and builds nothing.
//!
//! The source is an environment (its stack is read with the command's credentials, so it must
//! live in the same account and region as the target; across accounts, pass what the source
//! runs instead, as the shipped workflow does) or an image URI pinned by digest (as `noteapp
//! history staging --json` prints `.releases[0].image_uri`). Either way only the digest is
//! taken: the target's functions run `<account>.dkr.ecr.<region>.amazonaws.com/<repository>@
//! <digest>`, and the deploy refuses, changing nothing, when that repository does not hold the
//! digest (across accounts, ECR replication from the source's registry puts it there).

use std::path::Path;

use crate::aws::{Clients, ecr, stack};
use crate::config::{self, EnvironmentConfig};
use crate::error::Error;
use crate::progress::Progress;

/// Where `--image-from` takes the digest from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An environment: the `ImageUri` its stack runs.
    Environment(String),
    /// An image pinned by digest.
    Image(String),
}

impl Source {
    /// An image URI (it holds `@sha256:`), else an environment's name.
    pub fn parse(text: &str) -> Self {
        if text.contains("@sha256:") {
            Source::Image(text.to_owned())
        } else {
            Source::Environment(text.to_owned())
        }
    }
}

/// The digest `source` runs, as the image this environment's functions run from `repository`;
/// refused when the repository does not hold it.
pub async fn promoted_image(
    clients: &Clients,
    root: &Path,
    config: &EnvironmentConfig,
    source: &Source,
    repository: &str,
    progress: &Progress,
) -> Result<String, Error> {
    let env = config.name();
    let (from, image) = match source {
        Source::Image(uri) => ("the image given".to_owned(), uri.clone()),
        Source::Environment(name) => {
            let image = running_image(clients, root, config, name, progress).await?;
            (format!("{name}'s stack"), image)
        }
    };
    let digest = image
        .split_once('@')
        .map(|(_, digest)| digest.to_owned())
        .filter(|digest| ecr::is_digest(digest))
        .ok_or_else(|| {
            Error::Usage(format!(
                "--image-from: {from} runs {image}, which is not pinned by digest \
                 (REPOSITORY@sha256:…): nothing to promote"
            ))
        })?;
    let target = ecr::EcrImage {
        account: config.account_id.clone(),
        region: config.region.clone(),
        repository: repository.to_owned(),
        digest: digest.clone(),
    };
    progress.status(format!(
        "looking for {digest} in ECR repository {repository} of account {}",
        config.account_id
    ));
    if !ecr::has_digest(&clients.ecr, repository, &digest).await? {
        return Err(Error::StackState(format!(
            "--image-from: {from} runs {digest}, which ECR repository {repository} of {env}'s \
             account {} ({}) does not hold: nothing was changed and nothing was built; push \
             that image there (ECR replication from the source's registry does it for every \
             push) or deploy {env} from source",
            config.account_id, config.region
        )));
    }
    let uri = format!("{}@{digest}", target.name());
    progress.line(format!("promoting {digest} from {from}: {uri}"));
    Ok(uri)
}

/// The `ImageUri` the stack of environment `name` runs, read with the command's credentials.
async fn running_image(
    clients: &Clients,
    root: &Path,
    config: &EnvironmentConfig,
    name: &str,
    progress: &Progress,
) -> Result<String, Error> {
    let source = config::load(root, name)?;
    let (env, stack) = (config.name(), &source.stack_name);
    if source.account_id != config.account_id || source.region != config.region {
        return Err(Error::Usage(format!(
            "--image-from {name}: {name} lives in account {} ({}) and {env} in {} ({}), so \
             {env}'s credentials cannot read stack {stack}; pass the image {name} runs instead, \
             read with its credentials: `--image-from \"$(noteapp history {name} --json | jq -r \
             '.releases[0].image_uri')\"` (the shipped workflow passes it from the {name} job)",
            source.account_id, source.region, config.account_id, config.region
        )));
    }
    progress.status(format!("reading the image stack {stack} runs"));
    let info = stack::describe_stack(&clients.cloudformation, stack)
        .await?
        .ok_or_else(|| {
            Error::StackState(format!(
                "--image-from {name}: stack {stack} does not exist, so {name} runs no image to \
                 promote; deploy {name} first"
            ))
        })?;
    info.parameters.get("ImageUri").cloned().ok_or_else(|| {
        Error::StackState(format!(
            "--image-from {name}: stack {stack} has no ImageUri parameter (not a noteapp stack?)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use aws_smithy_mocks::{MockResponse, RuleMode, mock};
    use serde_json::json;

    use super::*;
    use crate::aws::replay;
    use crate::aws::replay::releases::{World, config as canary_config, digest, image, recorded};
    use crate::flow::replayed::{Image, deploy_image};

    const STAGING_RUNS: &str =
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    /// A repository root whose staging and production live in account 123456789012, eu-west-1.
    fn root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let environments = dir.path().join("environments");
        std::fs::create_dir(&environments).unwrap();
        let workspace = noteapp_test_support::workspace().join("environments");
        for name in ["staging", "production"] {
            let text = std::fs::read_to_string(workspace.join(format!("{name}.yaml"))).unwrap();
            let text = text
                .replace("ap-northeast-1", "eu-west-1")
                .replace("210987654321", "123456789012");
            std::fs::write(environments.join(format!("{name}.yaml")), text).unwrap();
        }
        dir
    }

    /// Clients whose stack runs [`STAGING_RUNS`] and whose repository holds `held`.
    fn clients(held: &'static [&'static str]) -> Clients {
        let describe = mock!(aws_sdk_cloudformation::Client::describe_stacks)
            .then_http_response(|| replay::stack("UPDATE_COMPLETE"));
        let lookup = mock!(aws_sdk_ecr::Client::batch_get_image).then_compute_response(move |r| {
            let wanted = r.image_ids()[0]
                .image_digest()
                .unwrap_or_default()
                .to_owned();
            let id = json!({"imageDigest": wanted});
            let body = if held.contains(&wanted.as_str()) {
                json!({"images": [{"registryId": "123456789012", "repositoryName": "noteapp",
                    "imageId": id, "imageManifest": "{}"}], "failures": []})
            } else {
                json!({"images": [], "failures": [{"imageId": id, "failureCode": "ImageNotFound",
                    "failureReason": "Requested image not found"}]})
            };
            MockResponse::Http(replay::ecr_json(200, body))
        });
        let sts = mock!(aws_sdk_sts::Client::get_caller_identity)
            .then_http_response(|| replay::caller_identity("123456789012"));
        let mut clients = replay::clients(
            replay::cloudformation(RuleMode::MatchAny, &[&describe]),
            replay::sts(&sts),
        );
        clients.ecr = replay::ecr(RuleMode::MatchAny, &[&lookup]);
        clients
    }

    /// `--image-from source` for `target`, from a repository holding `held`.
    async fn promote(
        held: &'static [&'static str],
        target: &EnvironmentConfig,
        source: &str,
    ) -> Result<String, Error> {
        let root = root();
        let (progress, _) = Progress::captured();
        let source = Source::parse(source);
        let clients = clients(held);
        promoted_image(&clients, root.path(), target, &source, "noteapp", &progress).await
    }

    fn production() -> EnvironmentConfig {
        config::load(root().path(), "production").unwrap()
    }

    #[tokio::test]
    async fn the_digest_staging_runs_is_promoted_from_this_environments_repository() {
        let uri = promote(&[STAGING_RUNS], &production(), "staging")
            .await
            .unwrap();
        assert_eq!(
            uri,
            format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/noteapp@{STAGING_RUNS}")
        );
        // An image staging ran, named from its own account: only its digest is taken.
        let elsewhere =
            format!("210987654321.dkr.ecr.eu-west-1.amazonaws.com/noteapp@{STAGING_RUNS}");
        let uri = promote(&[STAGING_RUNS], &production(), &elsewhere)
            .await
            .unwrap();
        assert!(uri.starts_with("123456789012.dkr.ecr.eu-west-1.amazonaws.com/noteapp@"));
    }

    #[tokio::test]
    async fn a_digest_missing_from_the_repository_is_refused_and_nothing_changes() {
        let error = promote(&[], &production(), "staging").await.unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains(&format!("staging's stack runs {STAGING_RUNS}")),
            "{text}"
        );
        assert!(
            text.contains("ECR repository noteapp of production's account"),
            "{text}"
        );
        assert!(
            text.contains("nothing was changed and nothing was built"),
            "{text}"
        );
        assert_eq!(error.exit_code(), crate::EXIT_FAILURE);
        // Another account's environment cannot be read with these credentials: say what to do.
        let mut other = production();
        other.account_id = "210987654321".into();
        let error = promote(&[], &other, "staging").await.unwrap_err();
        let text = error.to_string();
        assert!(text.contains("noteapp history staging --json"), "{text}");
        assert_eq!(error.exit_code(), crate::EXIT_USAGE);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_promoting_deploy_sends_exactly_that_digest_and_builds_nothing() {
        let world = World::new(vec![recorded(3), recorded(2)]);
        let from = format!(
            "210987654321.dkr.ecr.eu-west-1.amazonaws.com/noteapp@{}",
            digest(4)
        );
        // Nothing is built: a build would fail (no Docker engine, no registry there).
        let image_from = Image::From(Source::parse(&from));
        let settings = crate::flow::canary::tests::settings(&world);
        let (report, lines) =
            deploy_image(&world.clients(), &canary_config(), image_from, settings).await;
        let report = report.unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
        report.check().unwrap();
        let created = world.created();
        assert!(!created.is_empty());
        assert!(
            created.iter().all(|(p, _)| p["ImageUri"] == image(4)),
            "{created:?}"
        );
        assert!(
            lines.text().contains(&format!("promoting {}", digest(4))),
            "{}",
            lines.text()
        );
    }
}
