//! Whether AWS would allow a request, decided from the policies on both sides of it, so every
//! test can hold each AWS call the project makes (SDK or hand-signed) to the policies the
//! project renders: the caller turns a call into a [`Request`] (principal, action, resource ARN
//! and condition context) and a denied one fails the test with the [`Evaluation`]'s reason.
//!
//! This module owns the decision and the reading of policy documents, and nothing else: no I/O,
//! no knowledge of which action an API call needs. It follows AWS's IAM User Guide ("Policy
//! evaluation logic", "Cross-account policy evaluation logic", the "IAM JSON policy element
//! reference"); where the guide leaves a case open, the code says which reading it takes, and
//! where the guide says AWS "might" deny (`NotPrincipal`), it denies, so a test fails rather
//! than passes on a policy AWS might refuse. Permissions boundaries, session policies,
//! SCPs/RCPs and VPC endpoint policies are not modelled.
//!
//! The rules ([`evaluate_policies`]):
//! * An explicit `Deny` that applies, in any policy, wins.
//! * Within one account, an `Allow` in an identity policy, or in the resource policy for the
//!   principal itself, allows. A resource policy that names only the principal's account
//!   delegates to it: the identity policy must allow too.
//! * Across accounts (the principal's account is not the resource's, read from the resource
//!   ARN or given with [`Request::in_account`]), both the identity policies and the resource
//!   policy must allow.
//! * A role's trust policy and a KMS key policy must allow the principal even within its
//!   account ("IAM role trust policies and KMS key policies are exceptions").
//! * Service, federated and anonymous principals have no identity policies: only the resource
//!   policy can allow them.
//! * The root user of the resource's account needs no allow ("all requests are implicitly
//!   denied with the exception of the AWS account root user").

mod condition;
pub(crate) mod matching;
mod policy;
mod principal;
mod request;
#[cfg(test)]
mod tests;
mod values;

use std::fmt;

use serde_json::Value;

use matching::{action_matches, arn_like};
use policy::{Effect, Statement};
pub use policy::{Policy, PolicyError, PolicyKind, StatementId};
use principal::PrincipalMatch;
pub use request::{Context, Principal, Request};

/// What AWS would decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` applies and no `Deny` does (or the root user of the resource's account asks).
    Allow,
    /// Nothing allows it.
    ImplicitDeny,
    /// A `Deny` statement applies; `sid` is its `Sid`.
    ExplicitDeny {
        /// The `Sid` of the first deciding `Deny`; `None` when it has none.
        sid: Option<String>,
    },
}

/// Which policy a statement belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyRef {
    /// The identity policy at this index of those given.
    Identity(usize),
    /// The resource policy (a bucket, repository, function or key policy, or a trust policy).
    Resource,
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyRef::Identity(index) => write!(f, "identity policy [{index}]"),
            PolicyRef::Resource => f.write_str("resource policy"),
        }
    }
}

/// One statement of one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRef {
    /// The policy it is in.
    pub policy: PolicyRef,
    /// Its place in that policy, and its `Sid`.
    pub statement: StatementId,
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", self.policy, self.statement)
    }
}

/// A decision and what it rests on; its `Display` is a sentence naming the deciding
/// statements, or why nothing allowed the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// Allowed, or denied explicitly or implicitly.
    pub decision: Decision,
    /// The statements that decided: every applicable `Deny` for an explicit deny, the `Allow`s
    /// relied on for an allow, nothing for an implicit deny.
    pub statements: Vec<StatementRef>,
    reason: String,
}

impl Evaluation {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        self.decision == Decision::Allow
    }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Reads the policies and decides `request` (see [`evaluate_policies`]); a policy AWS would
/// refuse is an error naming it.
pub fn evaluate(
    identity_policies: &[&Value],
    resource_policy: Option<&Value>,
    request: &Request,
) -> Result<Evaluation, EvaluateError> {
    let identity = identity_policies
        .iter()
        .enumerate()
        .map(|(index, document)| {
            Policy::identity(document).map_err(|error| EvaluateError {
                policy: PolicyRef::Identity(index),
                error,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let resource = resource_policy
        .map(|document| {
            Policy::resource(document).map_err(|error| EvaluateError {
                policy: PolicyRef::Resource,
                error,
            })
        })
        .transpose()?;
    Ok(evaluate_policies(&identity, resource.as_ref(), request))
}

/// Whether identity policy `policy` allows `action` on `resource` for a role session of the
/// resource's account (123456789012 when the ARN names none), as IAM decides without context:
/// a shorthand for the tests of the policies a project ships. Panics on a policy IAM would
/// refuse.
pub fn allows(policy: &Value, action: &str, resource: &str) -> bool {
    let account = resource
        .split(':')
        .nth(4)
        .filter(|a| !a.is_empty())
        .unwrap_or("123456789012");
    let principal = Principal::Aws(format!(
        "arn:aws:sts::{account}:assumed-role/tester/session"
    ));
    let request = Request::new(principal, action, resource);
    evaluate(&[policy], None, &request)
        .unwrap_or_else(|e| panic!("IAM would refuse the policy: {e}"))
        .is_allowed()
}

/// A policy given to [`evaluate`] that AWS would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluateError {
    /// The policy refused, as given to [`evaluate`].
    pub policy: PolicyRef,
    /// What is wrong with it.
    pub error: PolicyError,
}

impl fmt::Display for EvaluateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.policy, self.error)
    }
}

impl std::error::Error for EvaluateError {}

/// Decides `request` against the identity policies of its principal and the resource policy of
/// its resource, as the module documentation describes. Identity policies are ignored for
/// service, federated and anonymous principals.
pub fn evaluate_policies(
    identity_policies: &[Policy],
    resource_policy: Option<&Policy>,
    request: &Request,
) -> Evaluation {
    let has_identity = matches!(request.principal, Principal::Aws(_));
    let mut denies = Vec::new();
    let mut identity_allow = None;
    let (mut resource_direct, mut resource_account) = (None, None);

    let identity = identity_policies
        .iter()
        .enumerate()
        .filter(|_| has_identity)
        .map(|(index, policy)| (PolicyRef::Identity(index), policy));
    for (policy_ref, policy) in identity.chain(resource_policy.map(|p| (PolicyRef::Resource, p))) {
        for statement in &policy.statements {
            let matched = applies(statement, request);
            if matched == PrincipalMatch::No {
                continue;
            }
            let found = StatementRef {
                policy: policy_ref,
                statement: statement.id.clone(),
            };
            match (statement.effect, policy_ref, matched) {
                (Effect::Deny, _, _) => denies.push(found),
                (Effect::Allow, PolicyRef::Identity(_), _) => {
                    identity_allow.get_or_insert(found);
                }
                (Effect::Allow, PolicyRef::Resource, PrincipalMatch::Direct) => {
                    resource_direct.get_or_insert(found);
                }
                (Effect::Allow, PolicyRef::Resource, _) => {
                    resource_account.get_or_insert(found);
                }
            }
        }
    }

    if let Some(first) = denies.first() {
        let reason = format!(
            "explicitly denied by {}",
            denies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" and by ")
        );
        return Evaluation {
            decision: Decision::ExplicitDeny {
                sid: first.statement.sid.clone(),
            },
            statements: denies,
            reason,
        };
    }

    let allow = |statements: Vec<StatementRef>, reason: String| Evaluation {
        decision: Decision::Allow,
        statements,
        reason,
    };
    let deny = |reason: String| Evaluation {
        decision: Decision::ImplicitDeny,
        statements: Vec::new(),
        reason: format!("implicitly denied: {reason}"),
    };
    let by = |found: &StatementRef| format!("allowed by {found}");
    let resource_says = match (resource_policy, &resource_direct, &resource_account) {
        (None, _, _) => "there is no resource policy".to_owned(),
        (Some(_), Some(_), _) => "the resource policy allows it".to_owned(),
        (Some(_), None, Some(found)) => format!(
            "the resource policy names only the principal's account ({found}), which leaves it to \
             the identity policies"
        ),
        (Some(_), None, None) => "no resource policy statement allows it".to_owned(),
    };
    let identity_says = match &identity_allow {
        Some(found) => format!("{found} allows it"),
        None => "no identity policy statement allows it".to_owned(),
    };

    if !has_identity {
        return match resource_direct {
            Some(found) => allow(vec![found.clone()], by(&found)),
            None => deny(format!(
                "{} has no identity policies, so only a resource policy can allow it, and {}",
                request.principal, resource_says
            )),
        };
    }
    if request.needs_resource_policy() {
        // Within the account a trust or key policy naming the principal is enough; naming its
        // account, or across accounts, the identity policies must allow too.
        let cross = request.cross_account();
        return match (resource_direct, resource_account, identity_allow) {
            (Some(found), _, _) if !cross => allow(vec![found.clone()], by(&found)),
            (Some(resource), _, Some(identity)) | (None, Some(resource), Some(identity)) => {
                let reason = format!("{} and by {identity}", by(&resource));
                allow(vec![resource, identity], reason)
            }
            _ => deny(format!(
                "a role's trust policy or a KMS key policy must allow the principal (or its \
                 account, with an identity policy allowing too, as across accounts), and \
                 {resource_says}; {identity_says}"
            )),
        };
    }
    if !request.cross_account() {
        if request.principal.is_root() {
            return allow(
                Vec::new(),
                format!(
                    "allowed: {} is the root user of the resource's account",
                    request.principal
                ),
            );
        }
        return match (identity_allow, resource_direct) {
            (Some(found), _) | (None, Some(found)) => allow(vec![found.clone()], by(&found)),
            (None, None) => deny(format!("{identity_says}, and {resource_says}")),
        };
    }
    let accounts = format!(
        "across accounts (principal in {}, resource in {})",
        request.principal.account().unwrap_or("no account"),
        request.resource_account().unwrap_or("no account"),
    );
    match (identity_allow, resource_direct.or(resource_account)) {
        (Some(identity), Some(resource)) => {
            let reason = format!("allowed {accounts} by {identity} and by {resource}");
            allow(vec![identity, resource], reason)
        }
        _ => deny(format!(
            "{accounts} both sides must allow: {identity_says}, and {resource_says}"
        )),
    }
}

/// How the statement's principal element names the requester, or `No` when the statement does
/// not apply to the request (action, resource or conditions).
fn applies(statement: &Statement, request: &Request) -> PrincipalMatch {
    let principal = match &statement.principals {
        Some(principals) => principals.matches(&request.principal, statement.effect),
        None => PrincipalMatch::Direct,
    };
    let actions = &statement.actions;
    let action_listed = actions
        .patterns
        .iter()
        .any(|pattern| action_matches(pattern, &request.action));
    let resource_applies = statement.resources.as_ref().is_none_or(|resources| {
        let listed = resources.patterns.iter().any(|pattern| {
            pattern
                .resolve(&request.context, true)
                .is_some_and(|pattern| arn_like(&pattern, &request.resource))
        });
        listed != resources.not
    });
    let applies = principal != PrincipalMatch::No
        && action_listed != actions.not
        && resource_applies
        && statement
            .conditions
            .iter()
            .all(|condition| condition.holds(&request.context));
    if applies {
        principal
    } else {
        PrincipalMatch::No
    }
}
