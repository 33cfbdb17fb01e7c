//! A replayed stack that does to its functions what CloudFormation does: each change set's
//! `ReleaseId` publishes a version of every function in the signed-services stand-in, and each
//! `live` alias points at it — the previous version on `PreviousWeight` while the parameters ask
//! for a shift, as the template's conditions say — and the template sent becomes the stack's.
//! With the stand-in's alarms scripted on a clock ([`World::health_turns_bad_at`]), the canary,
//! `release finish|undo` and the rollback by alias run against it; the stand-in decides every
//! signed request by the kit, the replay clients check every SDK call against the deploy policy.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudformation::Client;
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock};
use chrono::{DateTime, Utc};
use noteapp_runtime::functions::Function;
use noteapp_test_support::kit::SignedServices;
use noteapp_test_support::kit::services::{AliasChange, AliasState, Lambda};
use serde_json::json;

use crate::aws::Clients;
use crate::clock::Clock;
use crate::config::{EnvironmentConfig, ReleaseStrategy};
use crate::release::{self, Release};
use crate::template;

/// The app's template, `templates/noteapp.yaml`, as every replayed release deploys it.
pub const TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../templates/noteapp.yaml"
));
/// The image repository the releases' images are in (`image` adds the digest).
pub const REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/noteapp";
/// The replayed stack's name; its functions are `<STACK>-<function>`.
pub const STACK: &str = "noteapp-staging";
/// The stack's release-health alarm in the stand-in (composite; `OK` until scripted otherwise).
pub const HEALTH: &str = "noteapp-staging-release-health";
/// The API's 5xx-rate alarm in the stand-in, the one under `HEALTH` that turns it bad.
pub const API_5XX: &str = "noteapp-staging-api-5xx-rate";

/// `environments/staging.yaml`, moved to eu-west-1 and released as a canary: 10% for 5
/// minutes.
pub fn config() -> EnvironmentConfig {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../environments/staging.yaml"
    ));
    let mut config =
        crate::config::parse("staging", &text.replace("ap-northeast-1", "eu-west-1")).unwrap();
    config.release = ReleaseStrategy::Canary {
        share: 10,
        minutes: 5,
    };
    config
}

/// Release `n`'s image digest (3: the one `describe_stacks.xml` says the stack runs).
pub fn digest(n: u64) -> String {
    match n {
        3 => "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        n => format!("sha256:{n:0>64}"),
    }
}

/// Release `n`'s image URI: `REGISTRY@<digest>`.
pub fn image(n: u64) -> String {
    format!("{REGISTRY}@{}", digest(n))
}

/// Release `n` as a deploy of this template recorded it (only the image differs).
pub fn recorded(n: u64) -> Release {
    let plan = template::plan(&config(), TEMPLATE, &image(n)).unwrap();
    Release {
        sequence: n,
        commit: Some(format!("{n}aa1c0ffee")),
        dirty: false,
        image_uri: image(n),
        image_digest: digest(n),
        template_sha256: release::sha256(TEMPLATE),
        parameters: plan.parameters.into_iter().collect(),
        time: format!("2026-12-0{n}T10:00:00Z"),
        deployed_by: "arn:aws:sts::123456789012:assumed-role/ci/run-7".into(),
        result: "deployed".into(),
        rollback_of: None,
        versions: None,
    }
}

/// Release `n`, recorded with every function on version `version`.
pub fn with_versions(n: u64, version: &str) -> Release {
    let mut release = recorded(n);
    let versions = Function::ALL
        .iter()
        .map(|f| (f.name().to_owned(), version.to_owned()))
        .collect();
    release.versions = Some(versions);
    release
}

/// The release id of release `n`.
pub fn release_id(n: u64) -> String {
    recorded(n).parameters[template::RELEASE_ID].clone()
}

/// What the replayed stack holds: its template (as last sent) and the parameters and templates
/// of every change set, with each function's current `AWS::Lambda::Version` (its release id
/// and number).
#[derive(Default)]
pub struct StackState {
    /// The stack's template: the live release's with its history at first, then the template
    /// the last executed change set sent.
    pub template: String,
    /// Each CreateChangeSet's parameters and the template it sent, oldest first.
    pub created: Vec<(BTreeMap<String, String>, String)>,
    /// The parameters of each change set executed, oldest first.
    pub executed: Vec<BTreeMap<String, String>>,
    /// Each function's current version, by its name (`<STACK>-<function>`): the release id
    /// that published it and the version's number.
    pub versions: BTreeMap<String, (String, String)>,
    /// The image tags PutImage added, in order (`release-<env>-<sequence>`,
    /// `deployed-<env>-current`, …).
    pub tags: Vec<String>,
}

/// A stack whose functions serve release `live.first()` and whose history is `live`
/// (sequences, newest first), with the stand-in's functions and alarms.
pub struct World {
    /// The signed-services stand-in answering the hand-signed calls (Lambda, CloudWatch, S3,
    /// API Gateway), each decided by the kit.
    pub services: SignedServices,
    /// The stand-in's Lambda: the functions' versions and `live` aliases.
    pub lambda: Lambda,
    /// What the replayed CloudFormation stack holds, shared with its rules.
    pub stack: Arc<Mutex<StackState>>,
    /// The skipping clock the stand-in's Lambda stamps changes with and the alarms are
    /// scripted on; give it to the flow under test.
    pub clock: Clock,
    cfn: Vec<Rule>,
    ecr: Vec<Rule>,
}

impl World {
    /// The world of `history` (newest first, the first live): every release published a
    /// version of each function, oldest first, and the aliases serve the live one's; the
    /// alarms are `OK`. Panics on an empty `history`.
    pub fn new(history: Vec<Release>) -> Self {
        let services = SignedServices::start_on_thread(super::kit());
        services.set_log_role("arn:aws:iam::123456789012:role/apigw-logs");
        let clock = Clock::skipping();
        let lambda = services.lambda();
        let stamp = clock.clone();
        lambda.set_clock(move || stamp.system_time());
        // Each release of the history published a version of every function, oldest first
        // (release 1 is version 1, and so on); the aliases serve the live one's.
        let live = &history[0];
        let id = live.parameters[template::RELEASE_ID].clone();
        let mut versions = BTreeMap::new();
        for function in Function::ALL {
            let name = format!("{STACK}-{}", function.name());
            let mut version = String::new();
            for release in history.iter().rev() {
                let published = &release.parameters[template::RELEASE_ID];
                version = lambda.publish(&name, &format!("noteapp release {published}"));
            }
            lambda.point(&name, &version, &[], &format!("noteapp live release={id}"));
            versions.insert(name, (id.clone(), version));
        }
        services.set_alarm(HEALTH, true, "OK", "no child alarm in ALARM");
        services.set_alarm(API_5XX, false, "OK", "Threshold not crossed");
        let state = StackState {
            template: release::write(TEMPLATE, live, &history[1..], 5),
            versions,
            ..StackState::default()
        };
        let stack = Arc::new(Mutex::new(state));
        let cfn = cloudformation_rules(&stack, &lambda, &services);
        let ecr = ecr_rules(&stack);
        Self {
            services,
            lambda,
            stack,
            clock,
            cfn,
            ecr,
        }
    }

    /// The release-health alarm (and the API's 5xx alarm under it) in ALARM from `at` on.
    pub fn health_turns_bad_at(&self, at: DateTime<Utc>) {
        let clock = self.clock.clone();
        self.services
            .script_alarm(HEALTH, true, move || match clock.now() >= at {
                true => ("ALARM".into(), format!("{API_5XX} is in ALARM")),
                false => ("OK".into(), "no child alarm in ALARM".into()),
            });
        let clock = self.clock.clone();
        self.services
            .script_alarm(API_5XX, false, move || match clock.now() >= at {
                true => (
                    "ALARM".into(),
                    "Threshold Crossed: 2 out of the last 3 datapoints".into(),
                ),
                false => ("OK".into(), "Threshold not crossed".into()),
            });
    }

    /// Clients for a command run against this world: STS, CloudFormation, ECR and DynamoDB
    /// (no tables) replayed and held against the deploy policy, the hand-signed calls signed as
    /// `DEPLOYER` and sent to the stand-in.
    pub fn clients(&self) -> Clients {
        let sts = mock!(aws_sdk_sts::Client::get_caller_identity)
            .then_http_response(|| super::caller_identity("123456789012"));
        let cfn: Vec<&Rule> = self.cfn.iter().collect();
        let ecr: Vec<&Rule> = self.ecr.iter().collect();
        let no_tables = mock!(aws_sdk_dynamodb::Client::list_tables)
            .then_http_response(|| super::table_names(&[]));
        let mut clients = super::clients(
            super::cloudformation(RuleMode::MatchAny, &cfn),
            super::sts(&sts),
        )
        .with_signed_endpoint(super::signer(super::DEPLOYER), self.services.url())
        .with_dynamodb(super::dynamodb(RuleMode::MatchAny, &[&no_tables]));
        clients.ecr = super::ecr(RuleMode::MatchAny, &ecr);
        clients
    }

    /// CloudFormation calls made, by operation.
    pub fn cfn_calls(&self) -> BTreeMap<&'static str, usize> {
        let names = [
            "GetTemplate",
            "DescribeStacks",
            "CreateChangeSet",
            "DescribeChangeSet",
            "ExecuteChangeSet",
            "DescribeStackEvents",
            "GetStackPolicy",
            "DeleteChangeSet",
        ];
        names
            .into_iter()
            .zip(&self.cfn)
            .map(|(name, rule)| (name, rule.num_calls()))
            .collect()
    }

    /// `function`'s `live` alias in the stand-in now. Panics if it has none.
    pub fn alias(&self, function: Function) -> AliasState {
        self.lambda
            .alias(&format!("{STACK}-{}", function.name()))
            .unwrap()
    }

    /// The changes of `function`'s alias, oldest first.
    pub fn changes(&self, function: Function) -> Vec<AliasChange> {
        let name = format!("{STACK}-{}", function.name());
        self.lambda
            .changes()
            .into_iter()
            .filter(|c| c.function == name)
            .collect()
    }

    /// Each CreateChangeSet's parameters and the template it sent, oldest first.
    pub fn created(&self) -> Vec<(BTreeMap<String, String>, String)> {
        self.stack.lock().unwrap().created.clone()
    }

    /// ECR calls made.
    pub fn ecr_calls(&self) -> usize {
        self.ecr.iter().map(Rule::num_calls).sum()
    }

    /// The hand-signed requests the stand-in answered, by the service they were signed for
    /// (`lambda`, `monitoring`, `s3`, `apigateway`).
    pub fn signed_calls(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for request in self.services.server.requests() {
            let service = request
                .header("authorization")
                .and_then(noteapp_test_support::sigv4::service_of)
                .unwrap_or_else(|| "unsigned".to_owned());
            *out.entry(service).or_default() += 1;
        }
        out
    }
}

/// What CloudFormation does to the functions when a change set with `parameters` runs: a new
/// `ReleaseId` publishes a version of each; each alias points at it, the previous version on
/// `PreviousWeight` while a shift is asked for, as the template's conditions say.
fn apply(stack: &mut StackState, lambda: &Lambda, parameters: &BTreeMap<String, String>) {
    let id = parameters[template::RELEASE_ID].clone();
    let deadline = parameters["ShiftDeadline"].clone();
    let share = parameters["CanaryShare"].clone();
    let weight: f64 = parameters["PreviousWeight"].parse().unwrap();
    for function in Function::ALL {
        let name = format!("{STACK}-{}", function.name());
        let current = stack.versions[&name].clone();
        let version = if current.0 == id {
            current.1
        } else {
            lambda.publish(&name, &format!("noteapp release {id}"))
        };
        stack
            .versions
            .insert(name.clone(), (id.clone(), version.clone()));
        let previous = &parameters[&template::previous_version_parameter(function)];
        let shifting = !previous.is_empty() && share != "100" && !deadline.is_empty();
        if shifting {
            let note = format!("noteapp shift release={id} good={previous} deadline={deadline}");
            lambda.point(&name, &version, &[(previous.as_str(), weight)], &note);
        } else {
            lambda.point(&name, &version, &[], &format!("noteapp live release={id}"));
        }
    }
}

fn cloudformation_rules(
    stack: &Arc<Mutex<StackState>>,
    lambda: &Lambda,
    services: &SignedServices,
) -> Vec<Rule> {
    let (read, create, execute) = (stack.clone(), stack.clone(), stack.clone());
    let (objects, lambda) = (services.objects(), lambda.clone());
    vec![
        mock!(Client::get_template).then_compute_response(move |_| {
            let body = read.lock().unwrap().template.clone();
            MockResponse::Http(super::template(&body))
        }),
        mock!(Client::describe_stacks).then_http_response(|| super::stack("UPDATE_COMPLETE")),
        mock!(Client::create_change_set)
            .match_requests(move |r| {
                let parameters = crate::aws::stack::parameter_map(r.parameters());
                let sent = super::sent_template(r, &objects).unwrap_or_default();
                create.lock().unwrap().created.push((parameters, sent));
                true
            })
            .then_http_response(super::change_set_created),
        mock!(Client::describe_change_set).then_http_response(|| {
            super::change_set("CREATE_COMPLETE", "", super::CHANGES_IMAGE_UPDATE)
        }),
        mock!(Client::execute_change_set)
            .match_requests(move |_| {
                let mut state = execute.lock().unwrap();
                let (parameters, sent) = state.created.last().cloned().unwrap();
                apply(&mut state, &lambda, &parameters);
                state.template = sent;
                state.executed.push(parameters);
                true
            })
            .then_http_response(super::executed),
        mock!(Client::describe_stack_events)
            .then_http_response(|| super::events("update_complete")),
        mock!(Client::get_stack_policy).then_http_response(|| {
            let plan = template::plan(&config(), TEMPLATE, &image(3)).unwrap();
            super::stack_policy(Some(&template::stack_policy(&plan.stateful_resources)))
        }),
        mock!(Client::delete_change_set).then_http_response(super::change_set_deleted),
    ]
}

fn ecr_rules(stack: &Arc<Mutex<StackState>>) -> Vec<Rule> {
    let tags = stack.clone();
    vec![
        mock!(aws_sdk_ecr::Client::get_repository_policy).then_http_response(|| {
            super::ecr_json(
                400,
                json!({"__type": "RepositoryPolicyNotFoundException", "message": "no policy"}),
            )
        }),
        mock!(aws_sdk_ecr::Client::set_repository_policy).then_http_response(|| {
            super::ecr_json(
                200,
                json!({"registryId": "123456789012", "repositoryName": "noteapp", "policyText": "{}"}),
            )
        }),
        mock!(aws_sdk_ecr::Client::describe_images).then_http_response(|| {
            let details: Vec<_> = [1u64, 2, 3]
                .iter()
                .map(|s| {
                    json!({
                        "registryId": "123456789012",
                        "repositoryName": "noteapp",
                        "imageDigest": digest(*s),
                        "imageTags": [release::tag("staging", *s)],
                    })
                })
                .collect();
            super::ecr_json(200, json!({ "imageDetails": details }))
        }),
        mock!(aws_sdk_ecr::Client::batch_get_image).then_compute_response(|r| {
            let digest = r.image_ids()[0].image_digest().unwrap_or_default().to_owned();
            MockResponse::Http(super::ecr_json(
                200,
                json!({"images": [{
                    "registryId": "123456789012",
                    "repositoryName": "noteapp",
                    "imageId": {"imageDigest": digest},
                    "imageManifest": "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":1470,\"digest\":\"sha256:5e3b\"},\"layers\":[]}",
                    "imageManifestMediaType": "application/vnd.docker.distribution.manifest.v2+json",
                }], "failures": []}),
            ))
        }),
        mock!(aws_sdk_ecr::Client::put_image).then_compute_response(move |r| {
            let tag = r.image_tag().unwrap_or_default().to_owned();
            tags.lock().unwrap().tags.push(tag.clone());
            MockResponse::Http(super::ecr_json(
                200,
                json!({"image": {"registryId": "123456789012", "repositoryName": "noteapp",
                    "imageId": {"imageTag": tag}, "imageManifest": "{}"}}),
            ))
        }),
        mock!(aws_sdk_ecr::Client::batch_delete_image).then_http_response(|| {
            super::ecr_json(200, json!({"imageIds": [], "failures": []}))
        }),
    ]
}
