//! Releases in AWS (see `release`): the history read from the stack's template, the release
//! tags read from ECR, a new release written into the plan's template before its change set and
//! that template kept in the releases bucket (`aws::s3`), and, once its operation completed, its
//! image tagged and the releases past `releases_kept` untagged, their templates deleted.

use std::path::Path;

use crate::aws::s3::{self, Bucket};
use crate::aws::{Clients, ecr, stack};
use crate::error::Error;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::release::{self, History, Release, Versions};

/// A release written into a plan, to tag once its operation completed.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The release written into the plan's template, the newest of its history.
    pub release: Release,
    /// The ECR repository holding its image (`None`: another registry, nothing to tag).
    pub repository: Option<String>,
    /// How many releases are kept (`releases_kept`): the history's length, and the releases
    /// whose image tags and templates survive.
    pub kept: u32,
    /// The environment's release tags found before the deploy: (sequence, digest).
    pub tagged: Vec<(u64, String)>,
    /// The release the stack ran before this deploy (`None`: it has recorded none).
    pub previous: Option<u64>,
    /// The releases bucket holding its template (`None`: the command cannot sign requests).
    pub templates: Option<Bucket>,
    /// The sequences of the stack's history before this deploy.
    pub earlier: Vec<u64>,
    /// The stack's history before this deploy, as this release writes it (the live release's
    /// versions filled in).
    pub history: Vec<Release>,
}

/// The stack's release history (none without a stack or a history line): one GetTemplate.
pub async fn history(
    client: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<History, Error> {
    let template = stack::template(client, stack).await?;
    Ok(template
        .map(|t| release::read(&t))
        .unwrap_or(History { releases: vec![] }))
}

/// The release tags of `environment` in `repository`: (sequence, digest), oldest first.
pub async fn tagged(
    client: &aws_sdk_ecr::Client,
    repository: &str,
    environment: &str,
) -> Result<Vec<(u64, String)>, Error> {
    let mut out: Vec<(u64, String)> = ecr::tags(client, repository)
        .await?
        .into_iter()
        .filter_map(|(tag, digest)| Some((release::tag_sequence(environment, &tag)?, digest)))
        .collect();
    out.sort();
    Ok(out)
}

/// The git commit of `root` and whether its tree has uncommitted changes (`None` and `false`
/// outside a git checkout, or without git).
pub fn git_state(root: &Path) -> (Option<String>, bool) {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(commit) if !commit.is_empty() => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            (Some(commit), dirty)
        }
        _ => (None, false),
    }
}

/// What a release is, besides the plan.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// The git commit the deploy runs from (`None` outside a git checkout).
    pub commit: Option<String>,
    /// The checkout has uncommitted changes.
    pub dirty: bool,
    /// The release a rollback returns to.
    pub rollback_of: Option<u64>,
    /// The versions the stack's live release runs, as its `live` aliases say (read before the
    /// change set), with the release id their notes name: written into that release's record
    /// if it has none and its `ReleaseId` is that one.
    pub live_versions: Option<(String, Versions)>,
}

/// Writes the next release into `plan`'s template (the history the stack has now follows it,
/// `kept` in all) and returns it, to be tagged by [`finish`] once the stack runs it.
pub async fn record(
    clients: &Clients,
    plan: &mut Plan,
    repository: Option<&str>,
    kept: u32,
    provenance: Provenance,
) -> Result<Recording, Error> {
    if release::has_own_metadata(&plan.template_body) {
        return Err(Error::Template(crate::template::TemplateError::Shape(
            "the template has a top-level Metadata section, where the deploy keeps the release \
             history (`noteapp:releases`): move its content into the resources' Metadata"
                .into(),
        )));
    }
    let env = plan.environment.as_str();
    let history = history(&clients.cloudformation, &plan.stack_name).await?;
    let tagged = match repository {
        Some(repository) => tagged(&clients.ecr, repository, env).await?,
        None => Vec::new(),
    };
    let sequences: Vec<u64> = tagged.iter().map(|(s, _)| *s).collect();
    let caller = clients.caller().await?;
    let image_uri = plan.parameter("ImageUri").unwrap_or_default().to_owned();
    let template = release::strip(&plan.template_body);
    let release = Release {
        sequence: history.next_sequence(&sequences),
        commit: provenance.commit,
        dirty: provenance.dirty,
        image_digest: image_uri
            .split_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_default(),
        image_uri,
        template_sha256: release::sha256(&template),
        parameters: plan.parameters.iter().cloned().collect(),
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        deployed_by: caller.arn.clone(),
        result: match provenance.rollback_of {
            Some(n) => format!("rolled back to {n}"),
            None => "deployed".to_owned(),
        },
        rollback_of: provenance.rollback_of,
        versions: None,
    };
    let written = Written {
        history,
        tagged,
        repository,
        kept,
        live_versions: provenance.live_versions,
    };
    write(clients, plan, release, written).await
}

/// Records `pending`, a canary's release as its first update carried it
/// (`release::pending`), as `plan`'s release, once `noteapp release finish` finishes it.
pub async fn record_pending(
    clients: &Clients,
    plan: &mut Plan,
    pending: Release,
    repository: Option<&str>,
    kept: u32,
) -> Result<Recording, Error> {
    let env = plan.environment.as_str();
    let history = history(&clients.cloudformation, &plan.stack_name).await?;
    let tagged = match repository {
        Some(repository) => tagged(&clients.ecr, repository, env).await?,
        None => Vec::new(),
    };
    let written = Written {
        history,
        tagged,
        repository,
        kept,
        live_versions: None,
    };
    write(clients, plan, pending, written).await
}

/// What a release is written over.
struct Written<'a> {
    history: History,
    tagged: Vec<(u64, String)>,
    repository: Option<&'a str>,
    kept: u32,
    live_versions: Option<(String, Versions)>,
}

async fn write(
    clients: &Clients,
    plan: &mut Plan,
    release: Release,
    written: Written<'_>,
) -> Result<Recording, Error> {
    let Written {
        history,
        tagged,
        repository,
        kept,
        live_versions,
    } = written;
    let mut earlier = history.releases.clone();
    if let (Some(live), Some((id, versions))) = (earlier.first_mut(), live_versions)
        && live.parameter(crate::template::RELEASE_ID) == Some(id.as_str())
    {
        live.versions.get_or_insert(versions);
    }
    let template = release::strip(&plan.template_body);
    plan.template_body = release::write(&template, &release, &earlier, kept as usize);
    let account = clients.caller().await?.account.clone();
    let templates = keep_template(clients, plan, release.sequence, &account).await?;
    Ok(Recording {
        release,
        repository: repository.map(str::to_owned),
        kept,
        tagged,
        previous: history.live().map(|live| live.sequence),
        templates,
        earlier: history.releases.iter().map(|r| r.sequence).collect(),
        history: earlier,
    })
}

/// Keeps `plan`'s template as release `sequence`'s in the releases bucket again (a canary's
/// first update sends another history line than the release's own), and sends it by URL when
/// it is over the inline limit.
pub async fn keep(clients: &Clients, plan: &mut Plan, sequence: u64) -> Result<(), Error> {
    let account = clients.caller().await?.account.clone();
    keep_template(clients, plan, sequence, &account).await?;
    Ok(())
}

/// Keeps the plan's template (with its history) as release `sequence`'s in the account's
/// releases bucket (see [`store_template`]).
async fn keep_template(
    clients: &Clients,
    plan: &mut Plan,
    sequence: u64,
    account: &str,
) -> Result<Option<Bucket>, Error> {
    let key = s3::release_key(&plan.stack_name, sequence);
    store_template(clients, plan, &key, account).await
}

/// A template `noteapp diff` sent by URL: where it is, to delete once its change set is computed.
#[derive(Debug)]
pub struct Staged {
    bucket: Bucket,
    key: String,
}

/// For a change set that is only computed (`noteapp diff`): a template over CloudFormation's
/// inline limit is put in the releases bucket (made on first use) under
/// [`s3::diff_key`] and sent by URL; `None` for one sent inline.
pub async fn stage(clients: &Clients, plan: &mut Plan) -> Result<Option<Staged>, Error> {
    if plan.template_body.len() <= s3::INLINE_TEMPLATE_LIMIT {
        return Ok(None);
    }
    let account = clients.caller().await?.account.clone();
    let key = s3::diff_key(&plan.stack_name);
    let bucket = store_template(clients, plan, &key, &account).await?;
    Ok(bucket.map(|bucket| Staged { bucket, key }))
}

impl Staged {
    /// Deletes the staged template; a failure is a warning (the next diff overwrites it).
    pub async fn remove(self, clients: &Clients, progress: &Progress) {
        let (Some(signer), Ok(http)) = (&clients.signer, clients.https()) else {
            return;
        };
        if let Err(e) = s3::delete(http, signer, &self.bucket, &self.key).await {
            progress.line(format!("warning: {e}"));
        }
    }
}

/// Stores the plan's template under `key` in the account's releases bucket, made on first use,
/// and sends the change set that copy by URL when the body is over CloudFormation's inline
/// limit. Without credentials to sign with, nothing is kept and a template over the limit is
/// refused here, naming its size.
async fn store_template(
    clients: &Clients,
    plan: &mut Plan,
    key: &str,
    account: &str,
) -> Result<Option<Bucket>, Error> {
    let size = plan.template_body.len();
    let Some(signer) = &clients.signer else {
        if size > s3::INLINE_TEMPLATE_LIMIT {
            return Err(Error::Template(crate::template::TemplateError::Shape(
                format!(
                    "the template is {size} bytes, over CloudFormation's {}-byte limit for a \
                 template sent inline, and without AWS credentials to sign with it cannot go \
                 through the releases bucket",
                    s3::INLINE_TEMPLATE_LIMIT
                ),
            )));
        }
        return Ok(None);
    };
    let http = clients.https()?;
    let bucket = Bucket::releases(account, &plan.region, clients.custom_endpoint("S3"));
    s3::ensure_bucket(http, signer, &bucket).await?;
    s3::put(http, signer, &bucket, key, &plan.template_body).await?;
    if size > s3::INLINE_TEMPLATE_LIMIT {
        plan.template_url = Some(bucket.url(key));
    }
    Ok(Some(bucket))
}

/// Release `sequence`'s template of `stack` as kept in the releases bucket, checked against the
/// release's record (`template_sha256`), without its history line; `None` when none was kept
/// (a release recorded before noteapp kept templates, or a command that cannot sign requests).
pub async fn kept_template(
    clients: &Clients,
    region: &str,
    stack: &str,
    release: &Release,
) -> Result<Option<String>, Error> {
    let Some(signer) = &clients.signer else {
        return Ok(None);
    };
    let account = &clients.caller().await?.account;
    let bucket = Bucket::releases(account, region, clients.custom_endpoint("S3"));
    let key = s3::release_key(stack, release.sequence);
    let Some(body) = s3::get(clients.https()?, signer, &bucket, &key).await? else {
        return Ok(None);
    };
    let template = release::strip(&body);
    if release::sha256(&template) != release.template_sha256 {
        return Err(Error::StackState(format!(
            "the template kept for release {} (s3://{}/{key}) is not the one it recorded \
             (SHA-256 {}): it was changed after the deploy; nothing was changed",
            release.sequence, bucket.name, release.template_sha256
        )));
    }
    Ok(Some(template))
}

/// Deletes the kept templates of the releases that fell out of the history (a failure is a
/// warning: the next deploy tries again only for its own, so say which to delete).
async fn forget_templates(
    clients: &Clients,
    stack: &str,
    recording: &Recording,
    progress: &Progress,
) {
    let (Some(bucket), Some(signer)) = (&recording.templates, &clients.signer) else {
        return;
    };
    let newest = recording.release.sequence;
    let expired = release::expired(&recording.earlier, newest, u64::from(recording.kept));
    for sequence in expired {
        let key = s3::release_key(stack, sequence);
        let deleted = match clients.https() {
            Ok(http) => s3::delete(http, signer, bucket, &key).await,
            Err(e) => Err(e),
        };
        if let Err(e) = deleted {
            progress.line(format!(
                "warning: the template of release {sequence}, past the last {}, is still kept \
                 (delete s3://{}/{key} by hand): {e}",
                recording.kept, bucket.name
            ));
        }
    }
}

/// The stack runs `recording`'s release now: its image gets `release-<env>-<n>`, and releases
/// older than the last `kept` lose theirs. A failure here is a warning: the stack is deployed
/// and its history recorded; the next deploy tags again.
pub async fn finish(
    clients: &Clients,
    environment: &str,
    stack: &str,
    recording: &Recording,
    progress: &Progress,
) {
    forget_templates(clients, stack, recording, progress).await;
    let client = &clients.ecr;
    let Some(repository) = &recording.repository else {
        return;
    };
    let release = &recording.release;
    let tag = release::tag(environment, release.sequence);
    let tagged = async {
        ecr::tag_digest(client, repository, &release.image_digest, &tag).await?;
        let sequences: Vec<u64> = recording.tagged.iter().map(|(s, _)| *s).collect();
        let expired: Vec<String> =
            release::expired(&sequences, release.sequence, u64::from(recording.kept))
                .into_iter()
                .map(|s| release::tag(environment, s))
                .collect();
        ecr::untag(client, repository, &expired).await?;
        Ok::<_, Error>(expired)
    };
    match tagged.await {
        Ok(expired) if expired.is_empty() => {
            progress.line(format!("release {} recorded ({tag})", release.sequence))
        }
        Ok(expired) => progress.line(format!(
            "release {} recorded ({tag}); releases past the last {} untagged: {}",
            release.sequence,
            recording.kept,
            expired.join(", ")
        )),
        Err(e) => progress.line(format!(
            "warning: release {} is live and in the stack's history, but its image could not \
             be tagged {tag}: {e}",
            release.sequence
        )),
    }
}

#[cfg(test)]
mod tests;
