//! The AWS test kit: every request a test makes to AWS, through an SDK client or signed by hand,
//! decided as AWS would decide it, for the identity that makes it.
//!
//! A [`Kit`] knows the identities of a test (a person deploying, the CI role, each function's
//! execution role: a principal ARN, the policies it holds, and credentials of its own) and the
//! resource policies on the other side (an ECR repository's, a function's). Each request is
//! turned into what IAM checks ([`calls`]) and evaluated with [`crate::iam`]:
//! - an SDK client gets a [`Checker`] for its identity ([`Kit::checker`]), an interceptor that
//!   refuses what the identity may not do with the error AWS would give (`AccessDenied … is not
//!   authorized to perform …`), so the flow fails as it would on AWS;
//! - a stand-in endpoint receiving a hand-signed request calls [`Kit::admit`]: the signature is
//!   verified with the secret of the access key it names ([`crate::sigv4`]), then the identity
//!   owning that key is held to its policies; the answer on refusal is AWS's 403.
//!
//! A denied request also fails the test that made it, naming the identity, the action and the
//! resource: the last [`Kit`] handle dropped panics while any denial is unacknowledged (a test
//! that means to be refused takes them with [`Kit::take_denials`]). Every decision is written
//! to the coverage log ([`coverage`]), from which `iam-coverage` reports the (identity,
//! action) pairs exercised and the statements no test exercised.

pub mod calls;
pub mod cfn;
mod checker;
pub mod coverage;
mod guard;
pub mod handlers;
pub mod services;
pub mod stack_policy;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use serde_json::Value;

pub use calls::{Call, Endpoint, Place};

/// The most characters (whitespace aside) a role's inline policies may have together (IAM
/// quotas: "Role policy size … 10,240 characters").
pub const INLINE_POLICIES_LIMIT: usize = 10_240;
pub use checker::Checker;
pub use guard::guard;
pub use services::SignedServices;

use crate::iam::{self, Context, Policy, Principal, Request};
use crate::loopback;
use crate::sigv4;

/// One identity requests are made as.
#[derive(Debug, Clone)]
pub struct Identity {
    /// How reports and failures name it (`deployer`, `function:api`).
    pub name: String,
    /// The principal's ARN (a role session: `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`).
    pub principal: String,
    /// The policies it holds, as documents.
    pub policies: Vec<Value>,
    access_key: String,
    secret: String,
}

impl Identity {
    /// The identity's credentials.
    pub fn credentials(&self) -> Credentials {
        Credentials::new(
            self.access_key.clone(),
            self.secret.clone(),
            None,
            None,
            "noteapp-test-kit",
        )
    }
}

/// A request AWS would refuse.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    /// The access key of the identity refused (empty for an unverified caller).
    pub access_key: String,
    /// Who was refused, for people: `name (principal ARN)`, or `an unverified caller`.
    pub identity: String,
    /// The `service:Action` refused; for a bad signature, the service, method and path.
    pub action: String,
    /// The resource ARN (`*` for actions without one); for a bad signature, the URI.
    pub resource: String,
    /// The evaluation's reason, or the signature's refusal.
    pub reason: String,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AccessDenied: {} is not authorized to perform: {} on resource: {} ({})",
            self.identity, self.action, self.resource, self.reason
        )
    }
}

struct Inner {
    place: Place,
    /// A refused SDK request panics at once (a kit shared by many tests, which no single test's
    /// end could check).
    strict: bool,
    /// Every identity, in the order registered (several may share a name: a role per test's
    /// tables).
    identities: Mutex<Vec<Identity>>,
    /// Resource policies by the exact resource ARN they are attached to.
    resource_policies: Mutex<BTreeMap<String, Value>>,
    denials: Mutex<Vec<Denial>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let denials = self
            .denials
            .get_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        if !denials.is_empty() && !std::thread::panicking() {
            let lines: Vec<String> = denials.iter().map(|d| format!("  {d}")).collect();
            panic!(
                "AWS would have refused {} request(s) this test made:\n{}",
                denials.len(),
                lines.join("\n")
            );
        }
    }
}

/// The kit of one test (cheap to clone; every clone is the same kit).
#[derive(Clone)]
pub struct Kit {
    inner: Arc<Inner>,
}

impl Kit {
    /// A kit for resources in `account` and `region`.
    pub fn new(account: &str, region: &str) -> Self {
        Self::build(account, region, false)
    }

    /// As [`Kit::new`], but a refused SDK request panics where it is made, naming the identity,
    /// the action and the resource: for a kit many tests share.
    pub fn strict(account: &str, region: &str) -> Self {
        Self::build(account, region, true)
    }

    fn build(account: &str, region: &str, strict: bool) -> Self {
        let partition = if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        };
        Self {
            inner: Arc::new(Inner {
                place: Place {
                    partition: partition.into(),
                    region: region.into(),
                    account: account.into(),
                },
                strict,
                identities: Mutex::default(),
                resource_policies: Mutex::default(),
                denials: Mutex::default(),
            }),
        }
    }

    /// The account and region resources live in.
    pub fn place(&self) -> &Place {
        &self.inner.place
    }

    /// Registers identity `name` as `principal` holding `policies` (each checked to be one AWS
    /// would accept); its credentials, a key pair of its own.
    pub fn identity(&self, name: &str, principal: &str, policies: Vec<Value>) -> Credentials {
        self.register(name, principal, policies, true)
    }

    /// As [`Kit::identity`], for a policy a test altered (a statement taken out, to show the
    /// refusal that follows): not one the project ships, so the coverage report leaves its
    /// statements out.
    pub fn altered_identity(
        &self,
        name: &str,
        principal: &str,
        policies: Vec<Value>,
    ) -> Credentials {
        self.register(name, principal, policies, false)
    }

    fn register(
        &self,
        name: &str,
        principal: &str,
        policies: Vec<Value>,
        shipped: bool,
    ) -> Credentials {
        for (index, policy) in policies.iter().enumerate() {
            if let Err(e) = Policy::identity(policy) {
                panic!("{name}'s policy [{index}] would be refused by IAM: {e}");
            }
        }
        let size: usize = policies
            .iter()
            .map(|p| p.to_string().chars().filter(|c| !c.is_whitespace()).count())
            .sum();
        assert!(
            size <= INLINE_POLICIES_LIMIT,
            "{name}'s policies are {size} characters (whitespace aside): IAM refuses a role's \
             inline policies over {INLINE_POLICIES_LIMIT} in all (PutRolePolicy: \
             LimitExceeded)"
        );
        let mut identities = self.inner.identities.lock().expect("identities");
        let n = identities.len();
        let access_key = format!("AKIAKIT{n:09}");
        let secret = format!("kit-secret-{n}-{name}");
        let identity = Identity {
            name: name.to_owned(),
            principal: principal.to_owned(),
            policies,
            access_key: access_key.clone(),
            secret: secret.clone(),
        };
        if shipped {
            coverage::declare(&identity);
        }
        identities.push(identity);
        Credentials::new(access_key, secret, None, None, "noteapp-test-kit")
    }

    /// Attaches `policy` (a resource policy: an ECR repository's, a function's) to `resource`.
    pub fn resource_policy(&self, resource: &str, policy: Value) {
        if let Err(e) = Policy::resource(&policy) {
            panic!("the resource policy of {resource} would be refused by IAM: {e}");
        }
        self.inner
            .resource_policies
            .lock()
            .expect("resource policies")
            .insert(resource.to_owned(), policy);
    }

    /// The identity `name` (the first registered under it).
    pub fn get(&self, name: &str) -> Identity {
        self.inner
            .identities
            .lock()
            .expect("identities")
            .iter()
            .find(|i| i.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no identity {name} in this kit"))
    }

    /// The identity owning `access_key`, if any.
    pub fn by_key(&self, access_key: &str) -> Option<Identity> {
        self.inner
            .identities
            .lock()
            .expect("identities")
            .iter()
            .find(|i| i.access_key == access_key)
            .cloned()
    }

    /// An SDK interceptor holding every request of a client to what identity `name` may do.
    pub fn checker(&self, name: &str) -> Checker {
        Checker::new(self.clone(), &self.get(name).access_key)
    }

    /// As [`Kit::checker`], for the identity `credentials` belong to.
    pub fn checker_for(&self, credentials: &Credentials) -> Checker {
        let key = credentials.access_key_id();
        assert!(self.by_key(key).is_some(), "no identity with key {key}");
        Checker::new(self.clone(), key)
    }

    /// Decides `call` for the identity owning `access_key` (with any resource policy on its
    /// resource); records the decision, and the denial if refused.
    pub fn decide(&self, access_key: &str, call: &Call) -> Result<(), Denial> {
        let identity = self
            .by_key(access_key)
            .unwrap_or_else(|| panic!("no identity with key {access_key}"));
        let name = identity.name.clone();
        let resource_policy = self
            .inner
            .resource_policies
            .lock()
            .expect("resource policies")
            .get(&call.resource)
            .cloned();
        let request = self.request(&identity, call);
        let policies: Vec<&Value> = identity.policies.iter().collect();
        let evaluation = iam::evaluate(&policies, resource_policy.as_ref(), &request)
            .unwrap_or_else(|e| panic!("a policy of {name} would be refused by IAM: {e}"));
        coverage::decided(&identity, call, &evaluation, &policies, &request);
        if evaluation.is_allowed() {
            return Ok(());
        }
        let denial = Denial {
            access_key: identity.access_key.clone(),
            identity: format!("{name} ({})", identity.principal),
            action: call.action.clone(),
            resource: call.resource.clone(),
            reason: evaluation.to_string(),
        };
        self.inner
            .denials
            .lock()
            .expect("denials")
            .push(denial.clone());
        Err(denial)
    }

    fn request(&self, identity: &Identity, call: &Call) -> Request {
        let place = &self.inner.place;
        let mut context = Context::new()
            .with("aws:PrincipalArn", role_arn(&identity.principal))
            .with("aws:PrincipalAccount", place.account.clone())
            .with("aws:SecureTransport", "true")
            .with("aws:RequestedRegion", place.region.clone());
        for (key, values) in call.context.iter() {
            context.insert_values(key, values.iter().cloned());
        }
        Request::new(
            Principal::Aws(identity.principal.clone()),
            call.action.clone(),
            call.resource.clone(),
        )
        .with_context(context)
    }

    /// Admits a hand-signed `request` to `endpoint` in this kit's region, as AWS would: the
    /// signature verified, then the call decided for the identity owning the access key. On
    /// refusal, the 403 AWS answers.
    pub fn admit(
        &self,
        request: &loopback::Request,
        endpoint: Endpoint<'_>,
    ) -> Result<String, loopback::Reply> {
        let service = endpoint.signing_name();
        let region = endpoint.signing_region(&self.inner.place);
        let forbidden = |message: String| {
            loopback::Reply::json(403, serde_json::json!({ "message": message }).to_string())
                .header("x-amzn-errortype", "AccessDeniedException")
        };
        let signed = match self.verify(request, &region, service) {
            Ok(signed) => signed,
            Err(refusal) => {
                let denial = Denial {
                    access_key: String::new(),
                    identity: "an unverified caller".into(),
                    action: format!("{service} {} {}", request.method, request.uri.path()),
                    resource: request.uri.to_string(),
                    reason: refusal.to_string(),
                };
                self.inner.denials.lock().expect("denials").push(denial);
                return Err(forbidden(refusal.to_string()));
            }
        };
        let name = self
            .by_key(&signed.access_key)
            .map(|i| i.name)
            .expect("a verified key belongs to an identity");
        let method = request.method.as_str();
        let path = request.uri.path();
        let query = request.uri.query().unwrap_or_default();
        let target = (path, query);
        let amz_target = request.header("x-amz-target");
        let place = &self.inner.place;
        let Some(call) = calls::http(place, endpoint, method, target, amz_target, &request.body)
        else {
            panic!(
                "the test kit does not know what IAM checks for {service} {method} {}: add it \
                 to test-support/src/kit/calls.rs",
                request.uri
            );
        };
        match self.decide(&signed.access_key, &call) {
            Ok(()) => Ok(name),
            Err(denial) => Err(forbidden(denial.to_string())),
        }
    }

    /// Verifies `request`'s SigV4 signature, now, as an endpoint of `service` in `region` that
    /// knows the secrets of the kit's identities.
    pub fn verify(
        &self,
        request: &loopback::Request,
        region: &str,
        service: &str,
    ) -> Result<sigv4::Signed, sigv4::Refusal> {
        let secret = |key: &str| self.by_key(key).map(|i| i.secret);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64;
        let received = sigv4::Received {
            method: request.method.as_str(),
            path: request.uri.path(),
            query: request.uri.query().unwrap_or_default(),
            headers: &request.headers,
            body: &request.body,
        };
        let expect = sigv4::Expect {
            region,
            service,
            secret: &secret,
            now,
        };
        sigv4::verify(&received, &expect)
    }

    /// Whether a refused SDK request panics where it is made.
    pub fn is_strict(&self) -> bool {
        self.inner.strict
    }

    /// The denials so far, acknowledged: a test that means to be refused takes them.
    pub fn take_denials(&self) -> Vec<Denial> {
        std::mem::take(&mut *self.inner.denials.lock().expect("denials"))
    }

    /// The denials so far of the identities `credentials` belong to, acknowledged (a kit that
    /// tests share: each takes its own).
    pub fn take_denials_of(&self, credentials: &[Credentials]) -> Vec<Denial> {
        let keys: Vec<&str> = credentials.iter().map(|c| c.access_key_id()).collect();
        let mut denials = self.inner.denials.lock().expect("denials");
        let (mine, others) = denials
            .drain(..)
            .partition(|d| keys.contains(&d.access_key.as_str()));
        *denials = others;
        mine
    }
}

/// The role ARN of a role session (`arn:aws:sts::A:assumed-role/R/S` → `arn:aws:iam::A:role/R`):
/// `aws:PrincipalArn` names the role, not the session.
fn role_arn(principal: &str) -> String {
    match principal.split_once(":assumed-role/") {
        Some((head, rest)) => {
            let role = rest.split('/').next().unwrap_or(rest);
            format!("{}:role/{role}", head.replacen(":sts:", ":iam:", 1))
        }
        None => principal.to_owned(),
    }
}

#[cfg(test)]
mod tests;
