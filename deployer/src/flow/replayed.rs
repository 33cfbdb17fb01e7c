//! The release commands as they run, on a replayed stack (`aws::replay::releases`), for the
//! tests and the benchmarks: `deploy` of an image (or `--image-from`) and `rollback` of
//! staging, their progress captured, polling every millisecond.

use std::time::Duration;

use super::canary::CanarySettings;
use super::deploy::{DeployOptions, DeployReport, Finish};
use super::promote::Source;
use super::rollback::{Rolled, roll_back};
use super::rollout::{DeployRequest, deploy_environment};
use crate::aws::{Clients, Waits};
use crate::config::EnvironmentConfig;
use crate::error::Error;
use crate::image::ship::BuildOptions;
use crate::progress::{Captured, Progress};

/// `--yes`, no table replacement, every poll a millisecond apart.
pub fn options() -> DeployOptions {
    DeployOptions {
        yes: true,
        allow_replacement: false,
        new_tables: false,
        waits: Waits::every(Duration::from_millis(1)),
    }
}

/// No smoke check (the replayed stack has no endpoints).
pub fn finish() -> Finish {
    Finish {
        smoke_timeout: None,
    }
}

/// What `noteapp deploy` takes from: an image by URI, or another environment's digest.
pub enum Image<'a> {
    /// This image (`--image-uri`).
    Uri(&'a str),
    /// The digest of another environment's stack, or of an image URI (`--image-from`).
    From(Source),
}

/// `noteapp deploy ENV` of `image`, with the canary's `settings`; nothing is ever built (a
/// build would fail: the registry endpoint is unreachable).
pub async fn deploy_image(
    clients: &Clients,
    config: &EnvironmentConfig,
    image: Image<'_>,
    settings: CanarySettings,
) -> (Result<DeployReport, Error>, Captured) {
    let root = noteapp_test_support::workspace();
    let build = BuildOptions {
        base: "scratch".into(),
        registry_endpoint: Some("127.0.0.1:1".into()),
        repository: "noteapp".into(),
        bootstrap: None,
    };
    let (image_uri, image_from) = match image {
        Image::Uri(uri) => (Some(uri), None),
        Image::From(source) => (None, Some(source)),
    };
    let request = DeployRequest {
        root: &root,
        config,
        image_uri,
        image_from,
        build: &build,
        options: options(),
        finish: finish(),
        rollback_on_failure: false,
        canary: settings,
    };
    let (progress, lines) = Progress::captured();
    let report = deploy_environment(clients, &request, &progress).await;
    (report, lines)
}

/// `noteapp rollback ENV [--full]` to the release before the live one.
pub async fn roll_back_before(
    clients: &Clients,
    config: &EnvironmentConfig,
    full: bool,
) -> (Result<Rolled, Error>, Captured) {
    let (progress, lines) = Progress::captured();
    let (options, finish) = (options(), finish());
    let rolled = roll_back(
        clients, config, None, full, "noteapp", &options, &finish, &progress,
    )
    .await;
    (rolled, lines)
}
