//! `noteapp history ENV [--json]`: the releases of ENV's stack, newest first, the live one
//! marked, read from the stack's template and the registry (`release`), so any machine sees the
//! same list. A release whose image ECR no longer holds is marked: it cannot be rolled back to.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::aws::{Clients, ecr};
use crate::commands::args::EnvArgs;
use crate::error::Error;
use crate::flow::recording as releases;
use crate::output;
use crate::progress::Progress;
use crate::release::Release;

/// `noteapp history ENV [--repository NAME] [--json]`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The environment whose stack's releases are listed.
    #[command(flatten)]
    pub env: EnvArgs,
    /// The ECR repository holding the releases' images.
    #[arg(long, env = "NOTEAPP_REPOSITORY", value_name = "NAME", default_value = ecr::DEFAULT_REPOSITORY)]
    pub repository: String,
    /// Print the history as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// One release as `history` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The release as the stack's template records it.
    #[serde(flatten)]
    pub release: Release,
    /// It is the one the stack runs now (the newest recorded).
    pub live: bool,
    /// Whether ECR still holds its image (`None`: not asked).
    pub image_present: Option<bool>,
}

/// `noteapp history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryReport {
    /// The environment.
    pub environment: String,
    /// Its stack.
    pub stack_name: String,
    /// The live release's sequence; `None` when no release is recorded.
    pub live: Option<u64>,
    /// Every release kept, newest first.
    pub releases: Vec<Entry>,
}

impl fmt::Display for HistoryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.releases.is_empty() {
            return writeln!(
                f,
                "stack {} has no release recorded: `noteapp deploy {}` records one",
                self.stack_name, self.environment
            );
        }
        writeln!(f, "releases of {} (newest first):", self.stack_name)?;
        for e in &self.releases {
            let r = &e.release;
            let mark = if e.live { "*" } else { " " };
            let commit = r
                .commit
                .as_deref()
                .map(|c| c.get(..12).unwrap_or(c))
                .unwrap_or("no commit");
            let dirty = if r.dirty { "+dirty" } else { "" };
            let digest = r.image_digest.get(..19).unwrap_or(&r.image_digest);
            write!(
                f,
                "{mark} {:>4}  {}  {commit}{dirty}  {digest}  {}  by {}",
                r.sequence, r.time, r.result, r.deployed_by
            )?;
            if e.live {
                write!(f, "  (live)")?;
            }
            if e.image_present == Some(false) {
                write!(f, "  (image gone: cannot be rolled back to)")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Runs `noteapp history`.
pub async fn run(args: HistoryArgs) -> Result<(), Error> {
    let loaded = args.env.load_deployable()?;
    let progress = Progress::stderr();
    let clients = loaded.connect(&progress).await;
    let config = &loaded.config;
    let report = async {
        history(
            &clients?,
            config.name(),
            &config.stack_name,
            &args.repository,
        )
        .await
    }
    .await;
    progress.clear();
    output::emit(&report?, args.json)
}

/// The stack's history, each release's image looked up in `repository`.
pub async fn history(
    clients: &Clients,
    environment: &str,
    stack: &str,
    repository: &str,
) -> Result<HistoryReport, Error> {
    let history = releases::history(&clients.cloudformation, stack).await?;
    let present: Option<BTreeSet<String>> = if history.releases.is_empty() {
        None
    } else {
        let tags = ecr::tags(&clients.ecr, repository).await?;
        Some(tags.into_iter().map(|(_, digest)| digest).collect())
    };
    let releases = history
        .releases
        .iter()
        .enumerate()
        .map(|(i, r)| Entry {
            release: r.clone(),
            live: i == 0,
            image_present: present.as_ref().map(|p| p.contains(&r.image_digest)),
        })
        .collect();
    Ok(HistoryReport {
        environment: environment.to_owned(),
        stack_name: stack.to_owned(),
        live: history.live().map(|r| r.sequence),
        releases,
    })
}
