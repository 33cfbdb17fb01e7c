//! Releases: what each successful deploy put live, kept with the stack and the registry so any
//! machine reads the same history (no local state file).
//!
//! - The stack: every deploy sends its template with one extra top-level line,
//!   `Metadata: {"noteapp:releases": [Release, …]}`, the newest release first — the one this
//!   deploy makes, then the live template's, up to `releases_kept`. `GetTemplate` of the stack
//!   gives the history back, its first record the live release. A failed update rolls the stack
//!   back to the previous template, so a release that never went live never shows. CloudFormation
//!   does not update Metadata by itself: a deploy that changes nothing else stays "no changes"
//!   and records nothing.
//! - The registry: once its operation completed, a release's image gets the ECR tag
//!   `release-<env>-<sequence>`; the lifecycle policy never expires a `release-` tagged image,
//!   and the deploy removes the tags of releases older than the last `releases_kept`, so exactly
//!   their images are kept (`aws::ecr`).
//!
//! A canary's release is not in the history while it shifts (only a finished release is
//! live there): the template its first update sends carries it apart, as the line's
//! `noteapp:pending` record, so `noteapp release finish` can record it as it was made.
//!
//! This module is pure: records in, template text out, and back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The Metadata key holding the history.
pub const METADATA_KEY: &str = "noteapp:releases";
/// The key of the line holding a canary's release until it is finished.
pub const PENDING_KEY: &str = "noteapp:pending";

/// Each function's version a release ran, by the function's name (`api` → `8`).
pub type Versions = BTreeMap<String, String>;
const LINE_PREFIX: &str = "Metadata: ";

/// One release, as recorded in the stack's template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// 1, 2, 3, … per environment.
    pub sequence: u64,
    /// The git commit the deploy ran from (`None` outside a git checkout).
    pub commit: Option<String>,
    /// The checkout had uncommitted changes.
    pub dirty: bool,
    /// `REGISTRY/REPO@sha256:…`, as the stack's `ImageUri` parameter.
    pub image_uri: String,
    /// `sha256:…`.
    pub image_digest: String,
    /// The rendered template's SHA-256 (without this history), hex.
    pub template_sha256: String,
    /// Every stack parameter the release ran with.
    pub parameters: BTreeMap<String, String>,
    /// When it was deployed, RFC 3339 UTC.
    pub time: String,
    /// The caller's ARN.
    pub deployed_by: String,
    /// `deployed`, or `rolled back to N` for a rollback.
    pub result: String,
    /// The release a rollback went back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<u64>,
    /// Each function's version the release ran, read from the `live` aliases by the next deploy
    /// (or rollback), before it changes them: what `noteapp rollback` can move the aliases back
    /// to without CloudFormation. `None`: not known (a record made before noteapp read them, or
    /// the aliases could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Versions>,
}

impl Release {
    /// The value of parameter `key` the release ran with.
    pub fn parameter(&self, key: &str) -> Option<&str> {
        self.parameters.get(key).map(String::as_str)
    }
}

/// Where the template stands on releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// Newest first; the first is the live one.
    pub releases: Vec<Release>,
}

/// The releases bucket of `account` in `region`, which keeps each release's template
/// (`aws::s3`).
pub fn bucket_name(account: &str, region: &str) -> String {
    format!("noteapp-releases-{account}-{region}")
}

/// The key of release `sequence`'s template of `stack` in the releases bucket.
pub fn template_key(stack: &str, sequence: u64) -> String {
    format!("{stack}/releases/{sequence}.yaml")
}

/// The key under which `noteapp diff` puts a template of `stack` too large to send inline,
/// beside the releases' (within what the deploy policy may write), until its change set is
/// computed.
pub fn diff_template_key(stack: &str) -> String {
    format!("{stack}/releases/diff.yaml")
}

/// The hex SHA-256 of `text`.
pub fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The template without the history line (what a release's `template_sha256` hashes).
pub fn strip(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    for line in template.split_inclusive('\n') {
        if !is_history_line(line) {
            out.push_str(line);
        }
    }
    out
}

fn is_history_line(line: &str) -> bool {
    line.strip_prefix(LINE_PREFIX).is_some_and(|rest| {
        rest.trim_start()
            .starts_with(&format!("{{\"{METADATA_KEY}\""))
    })
}

/// Whether the template already has a top-level `Metadata` section of its own (which the
/// history line would collide with).
pub fn has_own_metadata(template: &str) -> bool {
    template
        .lines()
        .any(|l| l.starts_with("Metadata:") && !is_history_line(l))
}

/// The history a (live) template carries; none for a template without one.
pub fn read(template: &str) -> History {
    let releases = template
        .lines()
        .find(|l| is_history_line(l))
        .and_then(|l| {
            let value: serde_json::Value = serde_json::from_str(&l[LINE_PREFIX.len()..]).ok()?;
            serde_json::from_value(value[METADATA_KEY].clone()).ok()
        })
        .unwrap_or_default();
    History { releases }
}

/// `template` (any history line dropped) with `release` and then `earlier`, newest first, `kept`
/// records in all, as its history line.
pub fn write(template: &str, release: &Release, earlier: &[Release], kept: usize) -> String {
    let mut records = vec![release.clone()];
    records.extend(
        earlier
            .iter()
            .filter(|r| r.sequence != release.sequence)
            .take(kept.saturating_sub(1))
            .cloned(),
    );
    with_line(template, &records, None)
}

/// `template` (any history line dropped) with the history `releases` as it is, and `pending`
/// (a canary's release, shifting) apart from it: what a canary's first update sends.
pub fn write_pending(template: &str, releases: &[Release], pending: &Release) -> String {
    with_line(template, releases, Some(pending))
}

fn with_line(template: &str, records: &[Release], pending: Option<&Release>) -> String {
    let json = |value: serde_json::Value| value.to_string();
    // The history key comes first: it is what marks the line as noteapp's.
    let mut line = format!("{{\"{METADATA_KEY}\":{}", json(serde_json::json!(records)));
    if let Some(pending) = pending {
        line.push_str(&format!(
            ",\"{PENDING_KEY}\":{}",
            json(serde_json::json!(pending))
        ));
    }
    line.push('}');
    let mut out = strip(template);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(LINE_PREFIX);
    out.push_str(&line);
    out.push('\n');
    out
}

/// The canary's release a template's history line carries apart (see [`write_pending`]).
pub fn pending(template: &str) -> Option<Release> {
    let line = template.lines().find(|l| is_history_line(l))?;
    let value: serde_json::Value = serde_json::from_str(&line[LINE_PREFIX.len()..]).ok()?;
    serde_json::from_value(value.get(PENDING_KEY)?.clone()).ok()
}

impl History {
    /// The live release: the newest record (`None` when the template carries no history).
    pub fn live(&self) -> Option<&Release> {
        self.releases.first()
    }

    /// The sequence the next release gets: one past the highest seen here or in `tagged`
    /// (the sequences of the registry's release tags, which outlive a deleted stack).
    pub fn next_sequence(&self, tagged: &[u64]) -> u64 {
        let here = self.releases.iter().map(|r| r.sequence);
        here.chain(tagged.iter().copied()).max().unwrap_or(0) + 1
    }

    /// The release numbered `sequence`, if the history still holds it.
    pub fn find(&self, sequence: u64) -> Option<&Release> {
        self.releases.iter().find(|r| r.sequence == sequence)
    }

    /// The release before the live one.
    pub fn previous(&self) -> Option<&Release> {
        self.releases.get(1)
    }
}

/// The ECR tag of release `sequence` of `environment`.
pub fn tag(environment: &str, sequence: u64) -> String {
    format!("release-{environment}-{sequence}")
}

/// The release sequence a tag names, for `environment`.
pub fn tag_sequence(environment: &str, tag: &str) -> Option<u64> {
    tag.strip_prefix(&format!("release-{environment}-"))?
        .parse()
        .ok()
}

/// Of `tagged` release sequences, those older than the newest `kept` counted back from
/// `newest`: their tags come off, so the lifecycle policy keeps exactly the last `kept`.
pub fn expired(tagged: &[u64], newest: u64, kept: u64) -> Vec<u64> {
    let oldest_kept = newest.saturating_sub(kept.saturating_sub(1));
    let mut out: Vec<u64> = tagged
        .iter()
        .copied()
        .filter(|s| *s < oldest_kept)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn release(sequence: u64, digest: &str) -> Release {
        Release {
            sequence,
            commit: Some("3f9c2e1".into()),
            dirty: false,
            image_uri: format!(
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/noteapp@sha256:{digest}"
            ),
            image_digest: format!("sha256:{digest}"),
            template_sha256: "ab".repeat(32),
            parameters: BTreeMap::from([("LogLevel".into(), "debug".into())]),
            time: "2026-11-03T16:41:55Z".into(),
            deployed_by: "arn:aws:iam::123456789012:user/ci".into(),
            result: "deployed".into(),
            rollback_of: None,
            versions: None,
        }
    }

    const TEMPLATE: &str = "AWSTemplateFormatVersion: '2010-09-09'\nResources: {}\n";

    #[test]
    fn the_history_goes_into_the_template_newest_first_and_comes_back() {
        let earlier = [release(2, "bb"), release(1, "aa")];
        let body = write(TEMPLATE, &release(3, "cc"), &earlier, 5);
        assert!(body.starts_with(TEMPLATE));
        assert_eq!(strip(&body), TEMPLATE);
        let history = read(&body);
        let sequences: Vec<u64> = history.releases.iter().map(|r| r.sequence).collect();
        assert_eq!(sequences, [3, 2, 1]);
        assert_eq!(history.live().unwrap().image_digest, "sha256:cc");
        assert_eq!(history.previous().unwrap().sequence, 2);
        // A second write replaces the line, keeping at most `kept`.
        let again = write(&body, &release(4, "dd"), &history.releases, 2);
        assert_eq!(again.matches("Metadata: ").count(), 1);
        let sequences: Vec<u64> = read(&again).releases.iter().map(|r| r.sequence).collect();
        assert_eq!(sequences, [4, 3]);
        assert!(!has_own_metadata(&again));
        assert!(has_own_metadata("Metadata:\n  Foo: 1\n"));
        assert_eq!(read(TEMPLATE).releases, []);
    }

    #[test]
    fn a_pending_release_rides_apart_from_the_history_and_older_records_read_without_versions() {
        let earlier = [release(2, "bb"), release(1, "aa")];
        let mut pending_release = release(3, "cc");
        pending_release.result = "canary".into();
        let body = write_pending(TEMPLATE, &earlier, &pending_release);
        assert_eq!(strip(&body), TEMPLATE);
        let history = read(&body);
        assert_eq!(
            history.live().map(|r| r.sequence),
            Some(2),
            "only finished releases"
        );
        assert_eq!(pending(&body), Some(pending_release.clone()));
        assert_eq!(
            pending(&write(TEMPLATE, &pending_release, &earlier, 5)),
            None
        );
        // A record written before releases kept their versions reads with none.
        let old = r#"Metadata: {"noteapp:releases": [{"sequence": 1, "commit": null, "dirty": false, "image_uri": "u", "image_digest": "d", "template_sha256": "t", "parameters": {}, "time": "x", "deployed_by": "y", "result": "deployed"}]}"#;
        let history = read(old);
        assert_eq!(history.live().unwrap().versions, None);
        let mut with_versions = release(4, "dd");
        with_versions.versions = Some(Versions::from([("api".into(), "8".into())]));
        let body = write(TEMPLATE, &with_versions, &[], 5);
        assert_eq!(read(&body).live().unwrap().versions, with_versions.versions);
    }

    #[test]
    fn the_next_sequence_follows_the_template_and_the_registry() {
        let history = History {
            releases: vec![release(3, "cc"), release(2, "bb")],
        };
        assert_eq!(history.next_sequence(&[]), 4);
        assert_eq!(history.next_sequence(&[7, 2]), 8);
        assert_eq!(History { releases: vec![] }.next_sequence(&[]), 1);
    }

    #[test]
    fn release_tags_name_their_environment_and_sequence() {
        assert_eq!(tag("staging", 12), "release-staging-12");
        assert_eq!(tag_sequence("staging", "release-staging-12"), Some(12));
        assert_eq!(tag_sequence("staging", "release-production-12"), None);
        assert_eq!(tag_sequence("staging", "deployed-staging-current"), None);
    }

    #[test]
    fn only_releases_older_than_the_last_n_lose_their_tags() {
        assert_eq!(expired(&[1, 2, 3, 4, 5, 6, 7], 7, 5), [1, 2]);
        assert_eq!(expired(&[3, 4, 5, 6, 7], 7, 5), Vec::<u64>::new());
        assert_eq!(expired(&[7], 7, 1), Vec::<u64>::new());
        assert_eq!(expired(&[5, 6, 7], 7, 1), [5, 6]);
    }
}
