//! ECR: the image repository, its scanning and lifecycle policy, the registry login, the tags.
//!
//! One repository per account (`noteapp` by default) holds the images of every environment in
//! that account: the image does not depend on the environment, so staging's image is reused as
//! is by a production deploy in the same account.
//!
//! # Tags, and why the lifecycle policy can never delete an image a stack needs
//! - Every pushed image is tagged `build-<content hash>` (the hash of the binary, the Dockerfile
//!   and the base: see `image::context`). A tag that exists means "these inputs were built and
//!   pushed already": the pipeline reuses its digest instead of building.
//! - Before a change set runs, the deploy tags the digest the stack references *now* (its
//!   `ImageUri` parameter: what a rollback returns to) `deployed-<env>-previous`, and the digest
//!   it is about to deploy `deployed-<env>-current`. Both tags come from the stack itself, so a
//!   deploy that fails and rolls back leaves the running image still tagged: the next deploy reads
//!   the stack again and re-tags what it actually runs.
//! - The lifecycle policy ([`LIFECYCLE_POLICY`]): rule 1 selects images with a `deployed-` tag
//!   and a count (10 000) never reached, so it never expires one — and ECR never lets a
//!   lower-priority rule expire an image a higher-priority rule selected. Rule 2 does the same
//!   for `release-<env>-<n>` tags, the images of the releases kept (`release`): each deploy
//!   untags the releases older than the environment's `releases_kept`, so exactly the last N
//!   stay. Rule 3 expires `build-` images beyond the newest 30; rule 4 expires untagged images
//!   after 14 days (an image only loses its tags when they move to another digest or its
//!   release ages out, which the rules above never allow for a deployed one). ECR reads tags,
//!   never stacks: these tags are the stacks' word to it.
//!
//! The repository is created with `scanOnPush` and mutable tags (the `deployed-` tags move).
//! Calls are small and idempotent: [`ensure_repository`] changes only what differs and reports
//! what it changed, so a second run changes nothing.

use aws_sdk_ecr::Client;
use aws_sdk_ecr::error::ProvideErrorMetadata;
use aws_sdk_ecr::types::{ImageIdentifier, ImageScanningConfiguration, ImageTagMutability};
use base64::Engine as _;
use serde::Serialize;

use noteapp_runtime::aws_http::Partition;

use crate::aws::aws_error;
use crate::error::Error;

/// The repository noteapp pushes to unless told otherwise.
pub const DEFAULT_REPOSITORY: &str = "noteapp";

/// The lifecycle policy every noteapp repository gets (see the module doc), kept as data in
/// `ecr_lifecycle_policy.json` beside this file.
pub const LIFECYCLE_POLICY: &str = include_str!("ecr_lifecycle_policy.json");

/// What [`ensure_repository`] found and changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepositorySetup {
    /// The repository's name (`noteapp` unless told otherwise).
    pub name: String,
    /// `ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME`.
    pub uri: String,
    /// The repository did not exist and was created.
    pub created: bool,
    /// Scan-on-push was off and was turned on.
    pub scanning_changed: bool,
    /// The lifecycle policy was set or replaced.
    pub policy_changed: bool,
    /// The repository policy gained (or had corrected) this stack's pull statement.
    pub pull_policy_changed: bool,
}

impl RepositorySetup {
    /// Whether anything was created or changed (a second run reports `false`).
    pub fn changed(&self) -> bool {
        self.created || self.scanning_changed || self.policy_changed || self.pull_policy_changed
    }
}

/// Whose functions may pull from a repository: one stack's, in one account and region.
///
/// Lambda pulls an image function's image with its own service principal; it adds a repository
/// policy statement by itself only when the deploying principal may read and set repository
/// policies, which a least-privilege deploy role may not. So noteapp sets the statement, scoped
/// by `aws:sourceArn` to this stack's functions (`<stack>-*`), one statement per stack (its
/// `Sid` names the stack), next to whatever else the policy holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaPuller {
    /// The stack whose functions (`<stack>-*`) may pull; its name is in the statement's `Sid`.
    pub stack: String,
    /// The region of those functions.
    pub region: String,
    /// The account of those functions.
    pub account: String,
}

impl LambdaPuller {
    /// The statement's id: `NoteappLambdaPull` and the stack name's letters and digits.
    pub fn sid(&self) -> String {
        let name: String = self
            .stack
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect();
        format!("NoteappLambdaPull{name}")
    }

    /// The ARNs of the stack's functions, as `aws:sourceArn` sees them.
    pub fn function_arns(&self) -> String {
        let partition = Partition::of(&self.region).name;
        format!(
            "arn:{partition}:lambda:{}:{}:function:{}-*",
            self.region, self.account, self.stack
        )
    }

    /// The repository policy statement that lets the stack's functions pull.
    pub fn statement(&self) -> serde_json::Value {
        serde_json::json!({
            "Sid": self.sid(),
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Condition": {"StringLike": {"aws:sourceArn": self.function_arns()}},
        })
    }
}

/// `current` (a repository policy, if any) with `puller`'s statement added or replaced by `Sid`;
/// `None` when it already holds exactly that statement.
pub fn merged_pull_policy(current: Option<&str>, puller: &LambdaPuller) -> Option<String> {
    let statement = puller.statement();
    let mut policy: serde_json::Value = current
        .and_then(|text| serde_json::from_str(text).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({"Version": "2012-10-17", "Statement": []}));
    if !policy["Statement"].is_array() {
        // A lone statement object is valid IAM JSON: keep it in a list.
        let lone = policy["Statement"].take();
        policy["Statement"] = serde_json::json!(if lone.is_null() { vec![] } else { vec![lone] });
    }
    let statements = policy["Statement"]
        .as_array_mut()
        .expect("made a list above");
    let sid = serde_json::Value::String(puller.sid());
    match statements.iter_mut().find(|s| s.get("Sid") == Some(&sid)) {
        Some(existing) if *existing == statement => return None,
        Some(existing) => *existing = statement,
        None => statements.push(statement),
    }
    Some(policy.to_string())
}

/// Adds `puller`'s statement to the repository policy of `name` unless it is there already;
/// returns whether the policy changed.
pub async fn ensure_pull_policy(
    client: &Client,
    name: &str,
    puller: &LambdaPuller,
) -> Result<bool, Error> {
    let current = match client
        .get_repository_policy()
        .repository_name(name)
        .send()
        .await
    {
        Ok(answer) => answer.policy_text().map(str::to_owned),
        Err(e) if e.code() == Some("RepositoryPolicyNotFoundException") => None,
        Err(e) => {
            return Err(aws_error(
                format!("failed to read the repository policy of {name}"),
                &e,
            ));
        }
    };
    let Some(merged) = merged_pull_policy(current.as_deref(), puller) else {
        return Ok(false);
    };
    client
        .set_repository_policy()
        .repository_name(name)
        .policy_text(merged)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("failed to set the repository policy of {name} (Lambda pulls with it)"),
                &e,
            )
        })?;
    Ok(true)
}

/// An image in ECR, pinned by digest: `ACCOUNT.dkr.ecr.REGION.SUFFIX/REPOSITORY@sha256:…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImage {
    /// The registry's account (12 digits).
    pub account: String,
    /// The registry's region.
    pub region: String,
    /// The repository's name, after the host.
    pub repository: String,
    /// `sha256:` and 64 lowercase hex digits.
    pub digest: String,
}

impl EcrImage {
    /// Parses an image URI, or says why Lambda could not run it.
    pub fn parse(uri: &str) -> Result<Self, String> {
        let (name, digest) = uri.split_once('@').ok_or_else(|| {
            "has no digest: a tag can move, so the stack would not know what it runs; pin it \
             as REPOSITORY@sha256:… (`noteapp image ENV` prints one)"
                .to_owned()
        })?;
        let (host, repository) = name
            .split_once('/')
            .ok_or_else(|| "names no registry".to_owned())?;
        let mut parts = host.splitn(5, '.');
        let (account, dkr, ecr, region, suffix) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let is_ecr = account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && dkr == "dkr"
            && ecr == "ecr"
            && !region.is_empty()
            && suffix == Partition::of(region).dns_suffix;
        if !is_ecr {
            return Err(format!(
                "is not in Amazon ECR ({host} is not ACCOUNT.dkr.ecr.REGION.amazonaws.com)"
            ));
        }
        if !is_digest(digest) {
            return Err("has a malformed digest (sha256: and 64 lowercase hex digits)".into());
        }
        Ok(Self {
            account: account.to_owned(),
            region: region.to_owned(),
            repository: repository.to_owned(),
            digest: digest.to_owned(),
        })
    }

    /// `REGISTRY/REPOSITORY`, the URI without the digest.
    pub fn name(&self) -> String {
        format!(
            "{}.dkr.ecr.{}.{}/{}",
            self.account,
            self.region,
            Partition::of(&self.region).dns_suffix,
            self.repository
        )
    }
}

/// The image `--image-uri` names, checked to be one this environment's functions can run: in
/// ECR, in the environment's own account and region, pinned by digest.
pub fn deployable_image(uri: &str, account: &str, region: &str) -> Result<EcrImage, Error> {
    let refuse = |why: String| {
        Error::Usage(format!(
            "--image-uri {uri} {why}; Lambda runs an image function only from an ECR repository \
             in the function's own account and region ({account}, {region}): push it there \
             (`noteapp image ENV` builds and pushes one and prints its pinned URI)"
        ))
    };
    let image = EcrImage::parse(uri).map_err(refuse)?;
    if image.account != account || image.region != region {
        return Err(refuse(format!(
            "is in account {}, region {}",
            image.account, image.region
        )));
    }
    Ok(image)
}

/// Registry credentials from an ECR authorization token.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryLogin {
    /// The user the token names (`AWS`).
    pub username: String,
    /// The token's secret; kept out of `Debug`.
    pub password: String,
    /// The registry host ECR names (`ACCOUNT.dkr.ecr.REGION.amazonaws.com`), no scheme.
    pub registry: String,
}

impl std::fmt::Debug for RegistryLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryLogin")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("registry", &self.registry)
            .finish()
    }
}

/// Creates `name` if missing; turns on scan-on-push, sets [`LIFECYCLE_POLICY`] and `puller`'s
/// statement in the repository policy where they differ. Idempotent.
pub async fn ensure_repository(
    client: &Client,
    name: &str,
    puller: Option<&LambdaPuller>,
) -> Result<RepositorySetup, Error> {
    let found = match client
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
    {
        Ok(answer) => answer.repositories().first().cloned(),
        Err(e) if e.code() == Some("RepositoryNotFoundException") => None,
        Err(e) => {
            return Err(aws_error(
                format!("failed to describe ECR repository {name}"),
                &e,
            ));
        }
    };
    let (repository, created) = match found {
        Some(repository) => (repository, false),
        None => {
            let scanning = ImageScanningConfiguration::builder()
                .scan_on_push(true)
                .build();
            let answer = client
                .create_repository()
                .repository_name(name)
                .image_scanning_configuration(scanning)
                .image_tag_mutability(ImageTagMutability::Mutable)
                .send()
                .await
                .map_err(|e| aws_error(format!("failed to create ECR repository {name}"), &e))?;
            let repository = answer.repository().cloned().ok_or_else(|| Error::Aws {
                action: format!("failed to create ECR repository {name}"),
                reason: "the answer holds no repository".into(),
            })?;
            (repository, true)
        }
    };
    let scanning = repository
        .image_scanning_configuration()
        .is_some_and(|c| c.scan_on_push());
    if !scanning {
        let config = ImageScanningConfiguration::builder()
            .scan_on_push(true)
            .build();
        client
            .put_image_scanning_configuration()
            .repository_name(name)
            .image_scanning_configuration(config)
            .send()
            .await
            .map_err(|e| aws_error(format!("failed to turn on scan-on-push for {name}"), &e))?;
    }
    let current = match client
        .get_lifecycle_policy()
        .repository_name(name)
        .send()
        .await
    {
        Ok(answer) => answer.lifecycle_policy_text().map(str::to_owned),
        Err(e) if e.code() == Some("LifecyclePolicyNotFoundException") => None,
        Err(e) => {
            return Err(aws_error(
                format!("failed to read the lifecycle policy of {name}"),
                &e,
            ));
        }
    };
    let policy_changed = !current.as_deref().is_some_and(same_policy);
    if policy_changed {
        client
            .put_lifecycle_policy()
            .repository_name(name)
            .lifecycle_policy_text(LIFECYCLE_POLICY)
            .send()
            .await
            .map_err(|e| aws_error(format!("failed to set the lifecycle policy of {name}"), &e))?;
    }
    let pull_policy_changed = match puller {
        Some(puller) => ensure_pull_policy(client, name, puller).await?,
        None => false,
    };
    Ok(RepositorySetup {
        name: name.to_owned(),
        uri: repository.repository_uri().unwrap_or_default().to_owned(),
        created,
        scanning_changed: !scanning,
        policy_changed,
        pull_policy_changed,
    })
}

/// Whether `text` is [`LIFECYCLE_POLICY`], compared as JSON (ECR may reformat it).
fn same_policy(text: &str) -> bool {
    let ours: serde_json::Value = serde_json::from_str(LIFECYCLE_POLICY).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(text).is_ok_and(|theirs| theirs == ours)
}

/// The registry login for the caller's account: the token decoded into user and password.
pub async fn login(client: &Client) -> Result<RegistryLogin, Error> {
    let action = "failed to get an ECR authorization token";
    let answer = client
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| aws_error(action, &e))?;
    let data = answer.authorization_data().first();
    let (token, endpoint) = data
        .and_then(|d| Some((d.authorization_token()?, d.proxy_endpoint()?)))
        .ok_or_else(|| Error::Aws {
            action: action.into(),
            reason: "the answer holds no token or endpoint".into(),
        })?;
    decode_login(token, endpoint).ok_or_else(|| Error::Aws {
        action: action.into(),
        reason: "the token is not base64 of user:password".into(),
    })
}

/// `base64("user:password")` and `https://host` → the login.
fn decode_login(token: &str, endpoint: &str) -> Option<RegistryLogin> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (username, password) = text.split_once(':')?;
    let registry = endpoint
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    Some(RegistryLogin {
        username: username.to_owned(),
        password: password.to_owned(),
        registry: registry.trim_end_matches('/').to_owned(),
    })
}

/// The digest tagged `tag` in `repository`, or `None` when no image has that tag.
pub async fn find_tag(
    client: &Client,
    repository: &str,
    tag: &str,
) -> Result<Option<String>, Error> {
    let id = ImageIdentifier::builder().image_tag(tag).build();
    match client
        .describe_images()
        .repository_name(repository)
        .image_ids(id)
        .send()
        .await
    {
        Ok(answer) => Ok(answer
            .image_details()
            .first()
            .and_then(|d| d.image_digest().map(str::to_owned))),
        Err(e) if e.code() == Some("ImageNotFoundException") => Ok(None),
        Err(e) => Err(aws_error(
            format!("failed to look up tag {tag} in ECR repository {repository}"),
            &e,
        )),
    }
}

/// Puts `tag` on the image `digest` (moving it from any other image): the manifest is read
/// and put back under the tag, as ECR retags without pulling. A tag already there is fine.
pub async fn tag_digest(
    client: &Client,
    repository: &str,
    digest: &str,
    tag: &str,
) -> Result<(), Error> {
    let action = || format!("failed to tag {repository}@{digest} as {tag}");
    let id = ImageIdentifier::builder().image_digest(digest).build();
    let answer = client
        .batch_get_image()
        .repository_name(repository)
        .image_ids(id)
        .send()
        .await
        .map_err(|e| aws_error(action(), &e))?;
    let image = answer.images().first().ok_or_else(|| Error::Aws {
        action: action(),
        reason: "ECR does not hold that digest (was it pushed to another registry?)".into(),
    })?;
    let manifest = image.image_manifest().unwrap_or_default();
    let mut put = client
        .put_image()
        .repository_name(repository)
        .image_manifest(manifest)
        .image_tag(tag)
        .image_digest(digest);
    if let Some(media_type) = image.image_manifest_media_type() {
        put = put.image_manifest_media_type(media_type);
    }
    match put.send().await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("ImageAlreadyExistsException") => Ok(()),
        Err(e) => Err(aws_error(action(), &e)),
    }
}

/// Every tag in `repository` with the digest it is on (DescribeImages, all pages).
pub async fn tags(client: &Client, repository: &str) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    let filter = aws_sdk_ecr::types::DescribeImagesFilter::builder()
        .tag_status(aws_sdk_ecr::types::TagStatus::Tagged)
        .build();
    let mut pages = client
        .describe_images()
        .repository_name(repository)
        .filter(filter)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            aws_error(
                format!("failed to list the images of ECR repository {repository}"),
                &e,
            )
        })?;
        for image in page.image_details() {
            let digest = image.image_digest().unwrap_or_default();
            for tag in image.image_tags() {
                out.push((tag.clone(), digest.to_owned()));
            }
        }
    }
    Ok(out)
}

/// Whether `repository` still holds the image `digest` (an expired or deleted one is gone).
pub async fn has_digest(client: &Client, repository: &str, digest: &str) -> Result<bool, Error> {
    let id = ImageIdentifier::builder().image_digest(digest).build();
    match client
        .batch_get_image()
        .repository_name(repository)
        .image_ids(id)
        .send()
        .await
    {
        Ok(answer) => Ok(answer
            .images()
            .iter()
            .any(|i| i.image_id().and_then(|id| id.image_digest()) == Some(digest))),
        Err(e) if e.code() == Some("ImageNotFoundException") => Ok(false),
        Err(e) => Err(aws_error(
            format!("failed to look up {repository}@{digest} in ECR"),
            &e,
        )),
    }
}

/// Takes `tags` off their images (BatchDeleteImage by tag: an image keeps its other tags, and
/// one left with none is the lifecycle policy's to expire).
pub async fn untag(client: &Client, repository: &str, tags: &[String]) -> Result<(), Error> {
    if tags.is_empty() {
        return Ok(());
    }
    let ids = tags
        .iter()
        .map(|t| ImageIdentifier::builder().image_tag(t).build());
    client
        .batch_delete_image()
        .repository_name(repository)
        .set_image_ids(Some(ids.collect()))
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!(
                    "failed to untag {} in ECR repository {repository}",
                    tags.join(", ")
                ),
                &e,
            )
        })?;
    Ok(())
}

/// The tags that protect a stack's images: `deployed-<env>-current` and `-previous`.
pub fn deployed_tags(environment: &str) -> (String, String) {
    (
        format!("deployed-{environment}-current"),
        format!("deployed-{environment}-previous"),
    )
}

/// Tags `previous` (what the stack runs now, if anything) and `current` (what it is about to
/// run) so the lifecycle policy keeps both (see the module doc).
pub async fn protect_deployed(
    client: &Client,
    repository: &str,
    environment: &str,
    previous: Option<&str>,
    current: &str,
) -> Result<(), Error> {
    let (current_tag, previous_tag) = deployed_tags(environment);
    if let Some(previous) = previous {
        tag_digest(client, repository, previous, &previous_tag).await?;
    }
    tag_digest(client, repository, current, &current_tag).await
}

/// `sha256:` and 64 lowercase hex digits: an image digest as ECR and registries give it.
pub fn is_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ecr_token_decodes_to_user_password_and_registry_host() {
        let login = decode_login(
            "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu",
            "https://123456789012.dkr.ecr.ap-northeast-1.amazonaws.com",
        )
        .unwrap();
        assert_eq!(login.username, "AWS");
        assert_eq!(login.password, "123456789012-auth-token");
        assert_eq!(
            login.registry,
            "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com"
        );
        assert!(!format!("{login:?}").contains("auth-token"));
        assert!(decode_login("not base64!", "https://x").is_none());
    }

    fn puller(stack: &str) -> LambdaPuller {
        LambdaPuller {
            stack: stack.into(),
            region: "ap-northeast-1".into(),
            account: "123456789012".into(),
        }
    }

    #[test]
    fn the_pull_statement_is_merged_by_its_sid_and_keeps_everything_else() {
        let staging = puller("noteapp-staging");
        assert_eq!(staging.sid(), "NoteappLambdaPullNoteappStaging");
        assert_eq!(
            staging.function_arns(),
            "arn:aws:lambda:ap-northeast-1:123456789012:function:noteapp-staging-*"
        );
        let first = merged_pull_policy(None, &staging).unwrap();
        assert!(
            merged_pull_policy(Some(&first), &staging).is_none(),
            "idempotent"
        );
        let other = r#"{"Version":"2012-10-17","Statement":[{"Sid":"CiPush","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"ecr:*"}]}"#;
        let merged: serde_json::Value =
            serde_json::from_str(&merged_pull_policy(Some(other), &staging).unwrap()).unwrap();
        let sids: Vec<&str> = merged["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids, ["CiPush", "NoteappLambdaPullNoteappStaging"]);
        let both = merged_pull_policy(Some(&merged.to_string()), &puller("noteapp-production"));
        let both: serde_json::Value = serde_json::from_str(&both.unwrap()).unwrap();
        assert_eq!(both["Statement"].as_array().unwrap().len(), 3);
        let china = LambdaPuller {
            region: "cn-north-1".into(),
            ..staging
        };
        assert!(
            china
                .function_arns()
                .starts_with("arn:aws-cn:lambda:cn-north-1:")
        );
    }

    #[test]
    fn only_images_in_this_accounts_ecr_pinned_by_digest_are_deployable() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let ok = format!("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/noteapp@{digest}");
        let image = deployable_image(&ok, "123456789012", "ap-northeast-1").unwrap();
        assert_eq!(image.repository, "noteapp");
        assert_eq!(image.name() + "@" + &image.digest, ok);
        for (uri, why) in [
            (
                "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/noteapp:latest".to_owned(),
                "has no digest",
            ),
            (
                format!("999999999999.dkr.ecr.ap-northeast-1.amazonaws.com/noteapp@{digest}"),
                "is in account 999999999999",
            ),
            (
                format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/noteapp@{digest}"),
                "region eu-west-1",
            ),
            (
                format!("ghcr.io/someone/noteapp@{digest}"),
                "is not in Amazon ECR",
            ),
        ] {
            let err = deployable_image(&uri, "123456789012", "ap-northeast-1").unwrap_err();
            assert_eq!(err.exit_code(), crate::EXIT_USAGE);
            let text = err.to_string();
            assert!(
                text.contains(why) && text.contains("Lambda runs an image function only from"),
                "{text}"
            );
        }
        let cn = format!("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/noteapp@{digest}");
        assert!(deployable_image(&cn, "123456789012", "cn-north-1").is_ok());
    }

    #[test]
    fn the_lifecycle_policy_protects_deployed_tags_before_anything_expires() {
        let policy: serde_json::Value = serde_json::from_str(LIFECYCLE_POLICY).unwrap();
        let rules = policy["rules"].as_array().unwrap();
        assert_eq!(rules[0]["rulePriority"], 1);
        assert_eq!(rules[0]["selection"]["tagPrefixList"][0], "deployed-");
        assert_eq!(rules[0]["selection"]["countNumber"], 10000);
        assert_eq!(rules[1]["selection"]["tagPrefixList"][0], "release-");
        assert_eq!(rules[1]["selection"]["countNumber"], 10000);
        for rule in &rules[2..] {
            let prefixes = rule["selection"]["tagPrefixList"].as_array();
            assert!(prefixes.is_none_or(|p| {
                p.iter().all(|p| {
                    let p = p.as_str().unwrap();
                    !p.starts_with("deployed") && !p.starts_with("release")
                })
            }));
        }
        assert!(same_policy(&serde_json::to_string_pretty(&policy).unwrap()));
        assert!(!same_policy("{\"rules\":[]}"));
        assert_eq!(
            deployed_tags("staging"),
            (
                "deployed-staging-current".into(),
                "deployed-staging-previous".into()
            )
        );
    }
}
