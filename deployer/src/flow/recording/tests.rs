//! Each release's template kept in the releases bucket, against a signed S3 stand-in deciding
//! every request by the deploy policy: sent by URL when too large to send inline (which the
//! kit refuses, as CloudFormation does), the largest environment at the largest history within
//! CloudFormation's limits, and the templates of releases past the kept ones deleted.

use aws_sdk_cloudformation::Client;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use noteapp_test_support::kit::{Kit, SignedServices};

use super::*;
use crate::aws::replay;
use crate::aws::stack::{ChangeSetKind, create_change_set};
use crate::config::{EnvironmentConfig, MAX_RELEASES_KEPT};
use crate::template;

const TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../templates/noteapp.yaml"
));

/// CloudFormation's limit on a template read from S3 (`TemplateURL`).
const URL_TEMPLATE_LIMIT: usize = 1_048_576;

fn environment(name: &str) -> EnvironmentConfig {
    let path = noteapp_test_support::workspace().join(format!("environments/{name}.yaml"));
    let text = std::fs::read_to_string(path).unwrap();
    crate::config::parse(name, &text).unwrap()
}

/// A deployer of `config`'s stack in a kit of its own, holding the deploy policy as rendered.
struct Account {
    kit: Kit,
    config: EnvironmentConfig,
}

impl Account {
    fn of(config: EnvironmentConfig) -> Self {
        Self::holding(config, |_| {})
    }

    /// The deployer holding the deploy policy as `alter` leaves it (a test taking an action out
    /// of it, to show the refusal).
    fn holding(config: EnvironmentConfig, alter: impl FnOnce(&mut serde_json::Value)) -> Self {
        let kit = Kit::strict(&config.account_id, &config.region);
        let scope = crate::policy::Scope {
            region: config.region.clone(),
            account: config.account_id.clone(),
            stack: config.stack_name.clone(),
            repository: crate::aws::ecr::DEFAULT_REPOSITORY.into(),
        };
        let mut policy = crate::policy::deploy_policy(&scope);
        alter(&mut policy);
        let principal = format!(
            "arn:aws:sts::{}:assumed-role/noteapp-operators/alice",
            config.account_id
        );
        let unaltered = policy == crate::policy::deploy_policy(&scope);
        if unaltered {
            kit.identity("deployer", &principal, vec![policy]);
        } else {
            kit.altered_identity("deployer", &principal, vec![policy]);
        }
        Self { kit, config }
    }

    /// Clients whose CloudFormation answers `rules` and whose signed calls go to `services`.
    fn clients(&self, rules: &[&Rule], services: &SignedServices) -> Clients {
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            rules.iter().copied(),
            |c| c
                .retry_config(aws_sdk_cloudformation::config::retry::RetryConfig::disabled())
                .interceptor(self.kit.checker("deployer"))
        );
        let account = self.config.account_id.clone();
        let identity = mock!(aws_sdk_sts::Client::get_caller_identity)
            .then_http_response(move || replay::caller_identity(&account));
        let provider = aws_credential_types::provider::SharedCredentialsProvider::new(
            self.kit.get("deployer").credentials(),
        );
        let signer = noteapp_runtime::aws_http::Signer::new(provider, &self.config.region);
        replay::clients(cfn, replay::sts(&identity)).with_signed_endpoint(signer, services.url())
    }
}

/// Release `sequence` of `plan` as long as a record gets: a rollback, from a dirty checkout, by
/// a long role session name.
fn longest_record(plan: &Plan, sequence: u64) -> Release {
    Release {
        sequence,
        commit: Some("f".repeat(40)),
        dirty: true,
        image_uri: plan.parameter("ImageUri").unwrap().to_owned(),
        image_digest: format!("sha256:{}", "e".repeat(64)),
        template_sha256: release::sha256(&plan.template_body),
        parameters: plan.parameters.iter().cloned().collect(),
        time: "2026-12-07T10:00:00Z".into(),
        deployed_by: format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            plan.account_id,
            "r".repeat(64),
            "s".repeat(64)
        ),
        result: format!("rolled back to {}", 9_999_999),
        rollback_of: Some(9_999_999),
        versions: None,
    }
}

fn get_template(body: String) -> Rule {
    mock!(Client::get_template).then_http_response(move || replay::template(&body))
}

fn change_set_created() -> Rule {
    mock!(Client::create_change_set).then_http_response(replay::change_set_created)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_environment_at_the_largest_history_stays_within_cloudformations_limits() {
    let mut config = environment("production");
    config.releases_kept = MAX_RELEASES_KEPT;
    let account = Account::of(config);
    let image = template::placeholder_image_uri(&account.config)
        .replace("000000000000", &account.config.account_id);
    let mut plan = template::plan(&account.config, TEMPLATE, &image).unwrap();
    // The stack already holds the largest history: the deploy adds one and keeps the limit.
    let history: Vec<Release> = (1..=u64::from(MAX_RELEASES_KEPT))
        .rev()
        .map(|s| longest_record(&plan, s))
        .collect();
    let live = release::write(
        TEMPLATE,
        &history[0],
        &history[1..],
        MAX_RELEASES_KEPT as usize,
    );
    let services = SignedServices::start(account.kit.clone()).await;
    let (template, create) = (get_template(live), change_set_created());
    let clients = account.clients(&[&template, &create], &services);
    let provenance = Provenance {
        commit: Some("f".repeat(40)),
        dirty: true,
        rollback_of: None,
        live_versions: None,
    };
    let recording = record(&clients, &mut plan, None, MAX_RELEASES_KEPT, provenance)
        .await
        .unwrap();
    let records = release::read(&plan.template_body).releases.len();
    assert_eq!(records, MAX_RELEASES_KEPT as usize);
    let size = plan.template_body.len();
    println!(
        "production's template at {records} releases: {size} bytes (inline limit {}, by URL \
         {URL_TEMPLATE_LIMIT}): sent {}",
        s3::INLINE_TEMPLATE_LIMIT,
        if plan.template_url.is_some() {
            "by URL"
        } else {
            "inline"
        }
    );
    assert!(size <= URL_TEMPLATE_LIMIT, "{size} bytes");
    assert_eq!(
        plan.template_url.is_some(),
        size > s3::INLINE_TEMPLATE_LIMIT
    );
    let bucket = format!(
        "noteapp-releases-{}-{}",
        account.config.account_id, account.config.region
    );
    let key = format!(
        "noteapp-production/releases/{}.yaml",
        recording.release.sequence
    );
    assert_eq!(
        services.object(&bucket, &key).as_deref(),
        Some(plan.template_body.as_str())
    );
    create_change_set(
        &clients.cloudformation,
        &plan,
        "noteapp-1",
        &ChangeSetKind::Update,
    )
    .await
    .unwrap();
    assert_eq!(create.num_calls(), 1);
}

/// The staging plan with its template padded past CloudFormation's inline limit.
fn oversized_plan() -> Plan {
    let config = environment("staging");
    let padding = format!("# {}\n", "x".repeat(s3::INLINE_TEMPLATE_LIMIT));
    let image = format!(
        "{}.dkr.ecr.{}.amazonaws.com/noteapp@sha256:{}",
        config.account_id,
        config.region,
        "a".repeat(64)
    );
    template::plan(&config, &format!("{padding}{TEMPLATE}"), &image).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_over_the_inline_limit_goes_by_url_and_inline_it_is_refused_as_cloudformation_does()
 {
    let account = Account::of(environment("staging"));
    let services = SignedServices::start(account.kit.clone()).await;
    let (template, create) = (get_template(String::new()), change_set_created());
    let clients = account.clients(&[&template, &create], &services);
    let mut plan = oversized_plan();
    record(&clients, &mut plan, None, 5, Provenance::default())
        .await
        .unwrap();
    let url = plan.template_url.clone().expect("sent by URL");
    assert_eq!(
        url,
        format!(
            "{}/noteapp-releases-{}-{}/noteapp-staging/releases/1.yaml",
            services.url(),
            account.config.account_id,
            account.config.region
        )
    );
    // The bucket was made private, encrypted and TLS-only before anything went in.
    let bucket = format!(
        "noteapp-releases-{}-{}",
        account.config.account_id, account.config.region
    );
    assert_eq!(
        services.configured(),
        ["publicAccessBlock", "encryption", "policy"].map(|s| format!("{bucket}?{s}"))
    );
    create_change_set(
        &clients.cloudformation,
        &plan,
        "noteapp-1",
        &ChangeSetKind::Update,
    )
    .await
    .unwrap();
    plan.template_url = None;
    let refused = create_change_set(
        &clients.cloudformation,
        &plan,
        "noteapp-2",
        &ChangeSetKind::Update,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(refused.contains("less than or equal to 51200"), "{refused}");
}

#[tokio::test]
async fn without_credentials_to_sign_with_a_template_over_the_limit_is_refused_naming_its_size() {
    let template = get_template(String::new());
    let identity = mock!(aws_sdk_sts::Client::get_caller_identity)
        .then_http_response(|| replay::caller_identity("123456789012"));
    let clients = replay::clients(
        replay::cloudformation(RuleMode::MatchAny, &[&template]),
        replay::sts(&identity),
    );
    let mut plan = oversized_plan();
    let error = record(&clients, &mut plan, None, 5, Provenance::default())
        .await
        .unwrap_err()
        .to_string();
    let size = plan.template_body.len();
    assert!(
        error.contains(&format!("the template is {size} bytes")),
        "{error}"
    );
    assert!(error.contains("51200-byte limit"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_templates_of_releases_past_the_kept_ones_are_deleted() {
    let account = Account::of(environment("staging"));
    let services = SignedServices::start(account.kit.clone()).await;
    let clients = account.clients(&[], &services);
    let bucket = Bucket::releases(
        &account.config.account_id,
        &account.config.region,
        Some(services.url().to_owned()),
    );
    for sequence in 2..=7 {
        services.put_object(
            &bucket.name,
            &s3::release_key("noteapp-staging", sequence),
            "{}",
        );
    }
    let plan = oversized_plan();
    let recording = Recording {
        release: longest_record(&plan, 7),
        repository: None,
        kept: 5,
        tagged: Vec::new(),
        previous: Some(6),
        templates: Some(bucket.clone()),
        earlier: vec![6, 5, 4, 3, 2],
        history: Vec::new(),
    };
    let (progress, lines) = Progress::captured();
    finish(
        &clients,
        "staging",
        "noteapp-staging",
        &recording,
        &progress,
    )
    .await;
    let keys = services.keys(&bucket.name).unwrap();
    let expected: Vec<String> = (3..=7)
        .map(|s| s3::release_key("noteapp-staging", s))
        .collect();
    assert_eq!(keys, expected, "{}", lines.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployer_without_an_action_the_deploy_needs_is_refused_naming_it_and_nothing_is_sent() {
    // The deploy policy without s3:PutObject: the release's template cannot be kept.
    let account = Account::holding(environment("staging"), |policy| {
        for statement in policy["Statement"].as_array_mut().unwrap() {
            if let Some(actions) = statement["Action"].as_array_mut() {
                actions.retain(|a| a != "s3:PutObject");
            }
        }
    });
    let services = SignedServices::start(account.kit.clone()).await;
    let (template, create) = (get_template(String::new()), change_set_created());
    let clients = account.clients(&[&template, &create], &services);
    let mut plan = oversized_plan();
    let error = record(&clients, &mut plan, None, 5, Provenance::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("s3:PutObject"), "{error}");
    assert!(error.contains("noteapp-staging/releases/1.yaml"), "{error}");
    assert_eq!(create.num_calls(), 0);
    assert_eq!(account.kit.take_denials().len(), 1);
}
