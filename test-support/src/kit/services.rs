//! A loopback stand-in for the AWS services noteapp calls with hand-signed requests rather than
//! an SDK: each request's signature is verified and its IAM decision made by the kit
//! ([`Kit::admit`]), and the request is then answered by the service its signature names.
//!
//! - S3 (path-style): buckets and objects kept in memory. A bucket must exist before its
//!   objects (`NoSuchBucket`), a missing object is `NoSuchKey`, creating a bucket twice is
//!   `BucketAlreadyOwnedByYou`, `HEAD` of a missing bucket is a bare 404, as S3 answers.
//! - API Gateway: `GET /account`, the account's settings (no CloudWatch role unless set).
//! - Lambda: `GET /2016-08-19/account-settings/`, a new account's concurrency (1,000 in all,
//!   900 unreserved) unless set; the functions' versions and `live` aliases ([`aliases`]).
//! - CloudWatch: `DescribeAlarms` of alarms whose states the test sets or scripts, and SNS
//!   `Publish`, recorded ([`alarms`]).
//!
//! A request for any other service is answered 400, naming it: the stand-in is extended, never
//! bypassed.

pub mod alarms;
pub mod aliases;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{Endpoint, Kit};
use crate::loopback::{Reply, Request, Server};
use crate::sigv4;
pub use aliases::{AliasChange, AliasState};

#[derive(Default)]
struct State {
    /// Bucket name → (key → body).
    buckets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// The bucket configurations set (`bucket?publicAccessBlock`, …).
    configured: Vec<String>,
    /// `GET /account`'s `cloudwatchRoleArn`.
    log_role: Option<String>,
    /// Lambda's account concurrency: (limit, unreserved).
    concurrency: Option<(u32, u32)>,
    /// Lambda's functions, versions and aliases.
    functions: aliases::Functions,
    /// CloudWatch's alarms and SNS's messages.
    alarms: alarms::Alarms,
}

/// The stand-in (see the module doc); `url` goes in `AWS_ENDPOINT_URL` of the caller.
pub struct SignedServices {
    /// The loopback server answering; the stand-in stops when it is dropped.
    pub server: Server,
    state: Arc<Mutex<State>>,
}

impl SignedServices {
    /// Starts the stand-in, deciding every request with `kit`.
    pub async fn start(kit: Kit) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = Server::answering(move |request| answer(&kit, &shared, request)).await;
        Self { server, state }
    }

    /// As [`SignedServices::start`], on a thread of its own: for synchronous set-ups.
    pub fn start_on_thread(kit: Kit) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = Server::start_on_thread(move |request| answer(&kit, &shared, request));
        Self { server, state }
    }

    /// A handle on the objects, for code that outlives a borrow (a replayed rule's matcher).
    pub fn objects(&self) -> Objects {
        Objects(self.state.clone())
    }

    /// Where to send the requests.
    pub fn url(&self) -> &str {
        &self.server.url
    }

    /// The object `key` of `bucket`, as text.
    pub fn object(&self, bucket: &str, key: &str) -> Option<String> {
        let state = self.state.lock().expect("state");
        let body = state.buckets.get(bucket)?.get(key)?;
        Some(String::from_utf8_lossy(body).into_owned())
    }

    /// The keys in `bucket`, sorted (`None`: no such bucket).
    pub fn keys(&self, bucket: &str) -> Option<Vec<String>> {
        let state = self.state.lock().expect("state");
        Some(state.buckets.get(bucket)?.keys().cloned().collect())
    }

    /// Stores `body` under `key` of `bucket` as someone else would (no check), making the bucket.
    pub fn put_object(&self, bucket: &str, key: &str, body: &str) {
        let mut state = self.state.lock().expect("state");
        let objects = state.buckets.entry(bucket.to_owned()).or_default();
        objects.insert(key.to_owned(), body.as_bytes().to_vec());
    }

    /// The bucket configurations set so far, as `bucket?subresource`.
    pub fn configured(&self) -> Vec<String> {
        self.state.lock().expect("state").configured.clone()
    }

    /// Sets Lambda's account concurrency: `limit` in all, `unreserved` of it unreserved.
    pub fn set_concurrency(&self, limit: u32, unreserved: u32) {
        self.state.lock().expect("state").concurrency = Some((limit, unreserved));
    }

    /// Sets the account's CloudWatch role for API Gateway.
    pub fn set_log_role(&self, arn: &str) {
        self.state.lock().expect("state").log_role = Some(arn.to_owned());
    }

    /// A handle on the functions, for code that outlives a borrow (a replayed change set
    /// standing in for CloudFormation).
    pub fn lambda(&self) -> Lambda {
        Lambda(self.state.clone())
    }

    /// Sets alarm `name` (composite or not) to `state` with `reason`.
    pub fn set_alarm(&self, name: &str, composite: bool, state: &str, reason: &str) {
        let (state, reason) = (state.to_owned(), reason.to_owned());
        self.script_alarm(name, composite, move || (state.clone(), reason.clone()));
    }

    /// Sets alarm `name` to answer whatever `state` gives each time it is described (state,
    /// reason): an alarm that follows the test's clock.
    pub fn script_alarm(
        &self,
        name: &str,
        composite: bool,
        state: impl Fn() -> (String, String) + Send + Sync + 'static,
    ) {
        let mut shared = self.state.lock().expect("state");
        shared.alarms.set(name, composite, Arc::new(state));
    }

    /// How many `DescribeAlarms` requests were answered.
    pub fn alarm_reads(&self) -> usize {
        self.state.lock().expect("state").alarms.describes()
    }

    /// The SNS messages published (each as its form).
    pub fn published(&self) -> Vec<BTreeMap<String, String>> {
        self.state.lock().expect("state").alarms.published()
    }
}

/// The stand-in's functions (see [`SignedServices::lambda`]).
#[derive(Clone)]
pub struct Lambda(Arc<Mutex<State>>);

impl Lambda {
    fn with<T>(&self, f: impl FnOnce(&mut aliases::Functions) -> T) -> T {
        f(&mut self.0.lock().expect("state").functions)
    }

    /// Stamps alias changes with `clock` (a test's virtual clock).
    pub fn set_clock(&self, clock: impl Fn() -> std::time::SystemTime + Send + Sync + 'static) {
        self.with(|f| f.set_clock(Arc::new(clock)));
    }

    /// Publishes a version of `function` described `description`, as CloudFormation's
    /// `AWS::Lambda::Version` does; returns its number.
    pub fn publish(&self, function: &str, description: &str) -> String {
        self.with(|f| f.publish(function, description))
    }

    /// Points `function`'s `live` alias at `version`, `weights` going to others, as
    /// CloudFormation's `AWS::Lambda::Alias` does.
    pub fn point(&self, function: &str, version: &str, weights: &[(&str, f64)], description: &str) {
        self.with(|f| f.point(function, version, weights, description, "cloudformation"));
    }

    /// Deletes a version (nothing can invoke it any more).
    pub fn delete_version(&self, function: &str, version: &str) {
        self.with(|f| f.delete_version(function, version));
    }

    /// `function`'s alias now.
    pub fn alias(&self, function: &str) -> Option<AliasState> {
        self.with(|f| f.alias(function))
    }

    /// Every alias change so far, oldest first.
    pub fn changes(&self) -> Vec<AliasChange> {
        self.with(|f| f.changes())
    }
}

/// The stand-in's objects (see [`SignedServices::objects`]).
#[derive(Clone)]
pub struct Objects(Arc<Mutex<State>>);

impl Objects {
    /// The object a path-style URL names (`http://host/bucket/key`), as text.
    pub fn at_url(&self, url: &str) -> Option<String> {
        let path = url.split_once("://")?.1.split_once('/')?.1;
        let (bucket, key) = path.split_once('/')?;
        let state = self.0.lock().expect("state");
        let body = state.buckets.get(bucket)?.get(key)?;
        Some(String::from_utf8_lossy(body).into_owned())
    }
}

fn answer(kit: &Kit, state: &Mutex<State>, request: &Request) -> Reply {
    match request
        .header("authorization")
        .and_then(sigv4::service_of)
        .as_deref()
    {
        Some("s3") => match kit.admit(request, Endpoint::S3) {
            Ok(_) => s3(&mut state.lock().expect("state"), request),
            Err(refusal) => refusal,
        },
        Some("apigateway") if request.path() == "/account" => {
            match kit.admit(request, Endpoint::ApiGateway) {
                Ok(_) => {
                    let state = state.lock().expect("state");
                    let mut body = serde_json::json!({
                        "throttleSettings": {"burstLimit": 5000, "rateLimit": 10000.0}
                    });
                    if let Some(arn) = &state.log_role {
                        body["cloudwatchRoleArn"] = arn.clone().into();
                    }
                    Reply::json(200, body.to_string())
                }
                Err(refusal) => refusal,
            }
        }
        Some("lambda") if request.path().starts_with("/2016-08-19/account-settings") => {
            match kit.admit(request, Endpoint::Lambda) {
                Ok(_) => {
                    let (limit, unreserved) = state
                        .lock()
                        .expect("state")
                        .concurrency
                        .unwrap_or((1000, 900));
                    let body = serde_json::json!({
                        "AccountLimit": {
                            "TotalCodeSize": 80_530_636_800_u64,
                            "CodeSizeUnzipped": 262_144_000,
                            "CodeSizeZipped": 52_428_800,
                            "ConcurrentExecutions": limit,
                            "UnreservedConcurrentExecutions": unreserved,
                        },
                        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 7},
                    });
                    Reply::json(200, body.to_string())
                }
                Err(refusal) => refusal,
            }
        }
        Some("lambda") => match kit.admit(request, Endpoint::Lambda) {
            Ok(by) => state.lock().expect("state").functions.answer(request, &by),
            Err(refusal) => refusal,
        },
        Some("monitoring") => match kit.admit(request, Endpoint::CloudWatch) {
            Ok(_) => state.lock().expect("state").alarms.describe(request),
            Err(refusal) => refusal,
        },
        Some("sns") => match kit.admit(request, Endpoint::Sns) {
            Ok(_) => state.lock().expect("state").alarms.publish(request),
            Err(refusal) => refusal,
        },
        other => Reply::json(
            400,
            format!(
                "{{\"message\":\"the signed-services stand-in does not answer {} {} signed for \
                 {other:?}: add it to test-support/src/kit/services.rs\"}}",
                request.method, request.uri
            ),
        ),
    }
}

fn s3_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::with_type(
        status,
        "application/xml",
        format!("<Error><Code>{code}</Code><Message>{message}</Message></Error>"),
    )
}

fn s3(state: &mut State, request: &Request) -> Reply {
    let path = request.path().trim_start_matches('/');
    let (bucket, key) = match path.split_once('/') {
        Some((bucket, key)) => (bucket.to_owned(), key.to_owned()),
        None => (path.to_owned(), String::new()),
    };
    let query = request.uri.query().unwrap_or_default();
    let method = request.method.as_str();
    if key.is_empty() {
        return match (method, query) {
            ("HEAD", "") if state.buckets.contains_key(&bucket) => Reply::json(200, ""),
            ("HEAD", "") => Reply::json(404, ""),
            ("PUT", "") if state.buckets.contains_key(&bucket) => s3_error(
                409,
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already own it.",
            ),
            ("PUT", "") => {
                state.buckets.insert(bucket, BTreeMap::new());
                Reply::json(200, "")
            }
            ("PUT", subresource) if state.buckets.contains_key(&bucket) => {
                state.configured.push(format!("{bucket}?{subresource}"));
                Reply::json(200, "")
            }
            _ => s3_error(404, "NoSuchBucket", "The specified bucket does not exist"),
        };
    }
    let Some(objects) = state.buckets.get_mut(&bucket) else {
        return s3_error(404, "NoSuchBucket", "The specified bucket does not exist");
    };
    match method {
        "PUT" => {
            objects.insert(key, request.body.to_vec());
            Reply::json(200, "")
        }
        "GET" => match objects.get(&key) {
            Some(body) => Reply::with_type(
                200,
                "application/octet-stream",
                String::from_utf8_lossy(body).into_owned(),
            ),
            None => s3_error(404, "NoSuchKey", "The specified key does not exist."),
        },
        "DELETE" => {
            objects.remove(&key);
            Reply::json(204, "")
        }
        _ => s3_error(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed",
        ),
    }
}
