//! Benchmark: `noteapp deploy staging` twice with nothing changed; the second run must make no
//! ExecuteChangeSet call and finish in under 2 s against a local endpoint.
//!
//! moto's CloudFormation cannot hold the noteapp template (it skips ApiGatewayV2 and
//! Lambda::Url, and a GetAtt on them in Outputs fails), so this serves a small stateful
//! CloudFormation + STS stand-in on loopback that answers the query protocol with the real
//! response shapes kept in `deployer/tests/data/`: it remembers the template, parameters and tags
//! a change set was executed with, and answers a change set that repeats them the way
//! CloudFormation does, FAILED with "The submitted information didn't contain changes…"; it
//! keeps the stack policy and answers API Gateway's `GET /account`. ECR (the image the deploy
//! names, its repository policy and tags) and DynamoDB (the search for kept tables) are a real
//! `moto_server`. The real `noteapp` binary runs against them twice; the bench prints both wall
//! times and their ratio, and exits 1 if the second run executed anything or took 2 s or more.
//!
//! Rerun: `cargo bench -p noteapp --bench no_change` (release build of the binary).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use noteapp_test_support::loopback::{Reply, Request, Server};

const STACK_ID: &str = "arn:aws:cloudformation:eu-west-1:123456789012:stack/noteapp-staging/4c1f8b70-6a3e-11f0-9b1a-0a1b2c3d4e5f";
const NO_CHANGES: &str = "The submitted information didn't contain changes. Submit different information to create a change set.";

macro_rules! data {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/", $name))
    };
}

/// The template, parameters and tags a change set carries, as sent.
type Inputs = Vec<(String, String)>;

/// What the stand-in remembers between calls.
#[derive(Default)]
struct StandIn {
    account: String,
    /// Stack status and the inputs it was last executed with.
    stack: Option<(String, Inputs)>,
    /// Change set name → (CREATE or UPDATE, inputs, status).
    change_sets: BTreeMap<String, (bool, Inputs, &'static str)>,
    /// Stack events, oldest first.
    events: Vec<String>,
    executions: usize,
    calls: usize,
    policy: Option<String>,
}

fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_owned(), |text, (k, v)| {
        text.replace(&format!("{{{{{k}}}}}"), v)
    })
}

fn error(code: &str, message: &str) -> (u16, String) {
    let body = format!(
        "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><Error>\
         <Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>00000000-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
    );
    (400, body)
}

fn event(n: usize, status: &str) -> String {
    format!(
        "<member><EventId>standin-{n:06}</EventId><StackName>noteapp-staging</StackName>\
         <StackId>{STACK_ID}</StackId><LogicalResourceId>noteapp-staging</LogicalResourceId>\
         <PhysicalResourceId>{STACK_ID}</PhysicalResourceId>\
         <ResourceType>AWS::CloudFormation::Stack</ResourceType>\
         <Timestamp>2026-11-04T10:02:{:02}.000Z</Timestamp><ResourceStatus>{status}</ResourceStatus>\
         </member>",
        n % 60
    )
}

impl StandIn {
    fn handle(&mut self, form: &[(String, String)]) -> (u16, String) {
        self.calls += 1;
        let get = |key: &str| {
            form.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let change_set = get("ChangeSetName")
            .rsplit('/')
            .nth(1)
            .map_or(get("ChangeSetName"), |n| n)
            .to_owned();
        match get("Action") {
            "GetCallerIdentity" => (
                200,
                fill(
                    data!("get_caller_identity.xml"),
                    &[("ACCOUNT", &self.account)],
                ),
            ),
            "DescribeStacks" => match &self.stack {
                None => error(
                    "ValidationError",
                    "Stack with id noteapp-staging does not exist",
                ),
                Some((status, _)) => (
                    200,
                    fill(
                        data!("describe_stacks.xml"),
                        &[("STATUS", status), ("REASON", ""), ("PROTECTION", "false")],
                    ),
                ),
            },
            "GetStackPolicy" => {
                let body = self
                    .policy
                    .as_ref()
                    .map(|p| format!("<StackPolicyBody>{p}</StackPolicyBody>"))
                    .unwrap_or_default();
                (200, fill(data!("get_stack_policy.xml"), &[("BODY", &body)]))
            }
            "SetStackPolicy" => {
                self.policy = Some(get("StackPolicyBody").to_owned());
                (200, data!("set_stack_policy.xml").to_owned())
            }
            "CreateChangeSet" => {
                let inputs: Inputs = form
                    .iter()
                    .filter(|(k, _)| {
                        k == "TemplateBody"
                            || k.starts_with("Parameters.")
                            || k.starts_with("Tags.")
                    })
                    .cloned()
                    .collect();
                let create = get("ChangeSetType") == "CREATE";
                let status = match &self.stack {
                    Some((_, current)) if !create && *current == inputs => "FAILED",
                    _ => "CREATE_COMPLETE",
                };
                if self.stack.is_none() {
                    self.stack = Some(("REVIEW_IN_PROGRESS".into(), Vec::new()));
                    self.events
                        .push(event(self.events.len(), "REVIEW_IN_PROGRESS"));
                }
                self.change_sets
                    .insert(change_set.clone(), (create, inputs, status));
                (
                    200,
                    fill(
                        data!("create_change_set.xml"),
                        &[("CHANGE_SET", &change_set)],
                    ),
                )
            }
            "DescribeChangeSet" => match self.change_sets.get(&change_set) {
                None => error("ChangeSetNotFound", "ChangeSet does not exist"),
                Some((create, _, status)) => {
                    let (reason, changes, execution) = match *status {
                        "FAILED" => (NO_CHANGES, "", "UNAVAILABLE"),
                        _ if *create => ("", data!("changes_create.xml"), "AVAILABLE"),
                        _ => ("", data!("changes_image_update.xml"), "AVAILABLE"),
                    };
                    let values = [
                        ("CHANGE_SET", change_set.as_str()),
                        ("STATUS", status),
                        ("EXECUTION_STATUS", execution),
                        ("REASON", reason),
                        ("CHANGES", changes),
                    ];
                    (200, fill(data!("describe_change_set.xml"), &values))
                }
            },
            "DeleteChangeSet" => {
                self.change_sets.remove(&change_set);
                (200, data!("delete_change_set.xml").to_owned())
            }
            "ExecuteChangeSet" => {
                let Some((create, inputs, _)) = self.change_sets.remove(&change_set) else {
                    return error("ChangeSetNotFound", "ChangeSet does not exist");
                };
                self.executions += 1;
                let (running, done) = if create {
                    ("CREATE_IN_PROGRESS", "CREATE_COMPLETE")
                } else {
                    ("UPDATE_IN_PROGRESS", "UPDATE_COMPLETE")
                };
                self.events.push(event(self.events.len(), running));
                self.events.push(event(self.events.len(), done));
                self.stack = Some((done.to_owned(), inputs));
                (200, data!("execute_change_set.xml").to_owned())
            }
            "DescribeStackEvents" => {
                let members: String = self.events.iter().rev().map(String::as_str).collect();
                let body = format!(
                    "<DescribeStackEventsResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
                     <DescribeStackEventsResult><StackEvents>{members}</StackEvents></DescribeStackEventsResult>\
                     <ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000001</RequestId></ResponseMetadata>\
                     </DescribeStackEventsResponse>"
                );
                (200, body)
            }
            other => error(
                "InvalidAction",
                &format!("the stand-in does not answer {other}"),
            ),
        }
    }
}

/// The stand-in's answer to one request: API Gateway's account settings (the account has a
/// CloudWatch role), or CloudFormation's and STS's query-protocol calls.
fn answer(state: &Mutex<StandIn>, request: &Request) -> Reply {
    if request.path() == "/account" {
        let body = r#"{"cloudwatchRoleArn":"arn:aws:iam::123456789012:role/apigateway-logs"}"#;
        return Reply::json(200, body);
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&request.body).into_owned().collect();
    let (status, xml) = state.lock().expect("state").handle(&form);
    Reply::with_type(status, "text/xml", xml)
}

/// Runs `noteapp deploy staging --image-uri image` once; returns its wall time and stdout.
fn deploy(endpoint: &str, moto: &str, root: &str, image: &str) -> (Duration, String) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_noteapp"))
        .args([
            "deploy",
            "staging",
            "--image-uri",
            image,
            "--yes",
            "--json",
            // The stand-in's outputs name endpoints that do not exist (see `smoke_rollback`).
            "--no-smoke",
            "--root",
            root,
        ])
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ENDPOINT_URL_ECR", moto)
        .env("AWS_ENDPOINT_URL_DYNAMODB", moto)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run the noteapp binary");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        panic!("noteapp deploy exited with {}: {stdout}", output.status);
    }
    (elapsed, stdout)
}

/// A repository `noteapp` on moto's ECR with one image; its URI by digest.
async fn push_image(moto: &str) -> String {
    let ecr = aws_sdk_ecr::Client::new(&noteapp_runtime::aws_http::loopback_config(
        moto,
        "ap-northeast-1",
    ));
    ecr.create_repository()
        .repository_name("noteapp")
        .send()
        .await
        .expect("create the repository");
    let put = ecr
        .put_image()
        .repository_name("noteapp")
        .image_manifest(noteapp_test_support::moto::test_manifest(1))
        .image_tag("ci-1")
        .send()
        .await
        .expect("put an image");
    let digest = put
        .image()
        .and_then(|i| i.image_id())
        .and_then(|i| i.image_digest())
        .expect("a digest")
        .to_owned();
    format!("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/noteapp@{digest}")
}

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let env_file = std::fs::read_to_string(format!("{root}/environments/staging.yaml"))
        .expect("environments/staging.yaml");
    let account = env_file
        .lines()
        .find_map(|l| l.trim().strip_prefix("account_id:"))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .expect("account_id in environments/staging.yaml");
    let state = Arc::new(Mutex::new(StandIn {
        account,
        ..StandIn::default()
    }));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let served = state.clone();
    let stand_in = Server::start_on_thread(move |request| answer(&served, request));
    let endpoint = stand_in.url.clone();
    let moto = noteapp_test_support::moto::MotoServer::start(
        &noteapp_test_support::moto::MotoServer::executable(),
    );
    let image = runtime.block_on(push_image(moto.endpoint()));

    let (first, first_out) = deploy(&endpoint, moto.endpoint(), root, &image);
    let (executions_after_first, calls_after_first) = {
        let state = state.lock().expect("state");
        (state.executions, state.calls)
    };
    let (second, second_out) = deploy(&endpoint, moto.endpoint(), root, &image);
    let state = state.lock().expect("state");
    let second_executions = state.executions - executions_after_first;
    let second_calls = state.calls - calls_after_first;

    println!(
        "no_change: first deploy (creates the stack) {:>8.3} s",
        first.as_secs_f64()
    );
    println!(
        "no_change: second deploy (nothing changed)   {:>8.3} s",
        second.as_secs_f64()
    );
    println!(
        "no_change: ratio second/first                {:>8.3}",
        second.as_secs_f64() / first.as_secs_f64()
    );
    println!(
        "no_change: stand-in calls: first run {calls_after_first}, second run {second_calls}; \
         ExecuteChangeSet in the second run: {second_executions}; change sets left: {}",
        state.change_sets.len()
    );
    let first_ok = first_out.contains("\"result\": \"created\"");
    let second_ok = second_out.contains("\"result\": \"unchanged\"");
    if !(first_ok
        && second_ok
        && second_executions == 0
        && state.change_sets.is_empty()
        && second < Duration::from_secs(2))
    {
        eprintln!("no_change: FAILED\nfirst: {first_out}\nsecond: {second_out}");
        std::process::exit(1);
    }
    println!("no_change: ok (second run under 2 s, nothing executed, no change set left behind)");
}
