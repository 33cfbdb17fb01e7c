//! The `Principal` and `NotPrincipal` elements of resource policies: which principals they
//! name, and how well they name the one making a request ("AWS JSON policy elements:
//! Principal", "NotPrincipal").
//!
//! * `"*"` and `{"AWS": "*"}` name everyone, anonymous callers and services included; no other
//!   wildcard may stand in a principal.
//! * An account (`123456789012` or `arn:aws:iam::123456789012:root`) names every identity of the
//!   account, but only as the account: an allow delegates to its identity policies.
//! * A role ARN names the role's sessions (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`,
//!   whose ARN drops the role's path); a session ARN names that session alone.

use serde_json::Value;

use super::Principal;
use super::matching::Arn;
use super::policy::{Effect, strings};

/// `Principal` or `NotPrincipal`.
#[derive(Debug, Clone)]
pub(crate) struct Principals {
    pub(crate) named: Vec<Named>,
    pub(crate) not: bool,
}

impl Principals {
    /// Reads the value of a `Principal` (or, with `not`, `NotPrincipal`) element.
    pub(crate) fn parse(value: &Value, not: bool) -> Result<Self, String> {
        Ok(Self {
            named: principals(value)?,
            not,
        })
    }
}

/// One principal a `Principal` element names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Named {
    /// `"*"` or `{"AWS": "*"}`: every principal, anonymous ones included.
    Everyone,
    /// `{"AWS": "123456789012"}` or `{"AWS": "arn:aws:iam::123456789012:root"}`.
    Account(String),
    /// A user, role, assumed-role session or federated-user ARN.
    Arn(String),
    Service(String),
    Federated(String),
    CanonicalUser(String),
}

/// How well a `Principal` element names the requester.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PrincipalMatch {
    No,
    /// Only through its account: an allow delegates to the account, whose identity policies
    /// must allow too.
    Account,
    /// The requester itself (its ARN, its role for a role session, its service, or everyone).
    Direct,
}

/// The principals a `Principal` or `NotPrincipal` element names.
fn principals(value: &Value) -> Result<Vec<Named>, String> {
    let object = match value {
        Value::String(s) if s == "*" => return Ok(vec![Named::Everyone]),
        Value::Object(object) if !object.is_empty() => object,
        other => {
            return Err(format!(
                "{other} is neither \"*\" nor an object of AWS, Service, Federated or \
                 CanonicalUser principals"
            ));
        }
    };
    let mut named = Vec::new();
    for (kind, names) in object {
        for name in strings(names)? {
            let partial_wildcard = name != "*" && name.contains(['*', '?']);
            if partial_wildcard || (name == "*" && kind != "AWS") {
                // "IAM JSON policy elements: Principal": you cannot use a wildcard to match part
                // of a principal name or ARN.
                return Err(format!(
                    "{kind} {name:?}: only \"*\" or {{\"AWS\": \"*\"}} can stand for principals"
                ));
            }
            named.push(match kind.as_str() {
                "AWS" if name == "*" => Named::Everyone,
                "AWS" if is_account_id(name) => Named::Account(name.to_owned()),
                "AWS" => match Arn::parse(name) {
                    Some(arn) if arn.service == "iam" && arn.resource == "root" => {
                        Named::Account(arn.account.to_owned())
                    }
                    Some(_) => Named::Arn(name.to_owned()),
                    None => {
                        return Err(format!(
                            "AWS {name:?} is neither an account ID, an ARN nor \"*\""
                        ));
                    }
                },
                "Service" => Named::Service(name.to_owned()),
                "Federated" => Named::Federated(name.to_owned()),
                "CanonicalUser" => Named::CanonicalUser(name.to_owned()),
                other => return Err(format!("unknown principal type {other:?}")),
            });
        }
    }
    Ok(named)
}

pub(crate) fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The levels at which AWS may check a principal against a `NotPrincipal` of a `Deny` (account,
/// then role, then session: "IAM JSON policy elements: NotPrincipal").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level<'a> {
    Account(&'a str),
    /// A role session's role: its account and name.
    Role(&'a str, &'a str),
    Exact(&'a str),
    Service(&'a str),
    Federated(&'a str),
    Anonymous,
}

impl Named {
    /// Whether this entry names the requester at `level`.
    fn names(&self, level: Level<'_>) -> bool {
        match (self, level) {
            (Named::Everyone, _) => true,
            (Named::Account(account), Level::Account(of)) => account == of,
            (Named::Arn(arn), Level::Exact(of)) => arn == of,
            (Named::Arn(arn), Level::Role(account, name)) => role_of(arn) == Some((account, name)),
            (Named::Service(service), Level::Service(of)) => service == of,
            (Named::Federated(provider), Level::Federated(of)) => provider == of,
            _ => false,
        }
    }

    /// How well this entry names `principal`.
    fn matches(&self, principal: &Principal) -> PrincipalMatch {
        let levels = levels(principal);
        match self {
            Named::Everyone => PrincipalMatch::Direct,
            Named::Account(account) => match levels.as_slice() {
                // The account's root user is the account itself.
                [Level::Account(of)] if of == account => PrincipalMatch::Direct,
                [Level::Account(of), ..] if of == account => PrincipalMatch::Account,
                _ => PrincipalMatch::No,
            },
            // The requester's own ARN, service or provider, or a session's role.
            _ if levels.iter().any(|level| self.names(*level)) => PrincipalMatch::Direct,
            _ => PrincipalMatch::No,
        }
    }
}

/// `(account, role name)` of a role ARN (`arn:aws:iam::ACCOUNT:role/PATH/NAME`).
fn role_of(arn: &str) -> Option<(&str, &str)> {
    let arn = Arn::parse(arn)?;
    let path = arn.resource.strip_prefix("role/")?;
    (arn.service == "iam").then(|| (arn.account, path.rsplit('/').next().unwrap_or(path)))
}

/// The levels of `principal`, its account first.
fn levels(principal: &Principal) -> Vec<Level<'_>> {
    match principal {
        Principal::Aws(id) if is_account_id(id) => vec![Level::Account(id)],
        Principal::Aws(id) => match Arn::parse(id) {
            Some(arn) if arn.service == "iam" && arn.resource == "root" => {
                vec![Level::Account(arn.account)]
            }
            Some(arn) if arn.service == "sts" => match arn.resource.strip_prefix("assumed-role/") {
                Some(role_session) => {
                    let role = role_session.split('/').next().unwrap_or(role_session);
                    vec![
                        Level::Account(arn.account),
                        Level::Role(arn.account, role),
                        Level::Exact(id),
                    ]
                }
                None => vec![Level::Account(arn.account), Level::Exact(id)],
            },
            Some(arn) => vec![Level::Account(arn.account), Level::Exact(id)],
            None => vec![Level::Exact(id)],
        },
        Principal::Service(service) => vec![Level::Service(service)],
        Principal::Federated(provider) => vec![Level::Federated(provider)],
        Principal::Anonymous => vec![Level::Anonymous],
    }
}

impl Principals {
    /// How well the element names `principal`, for a statement of `effect`.
    ///
    /// `Principal`: the best match among its entries. `NotPrincipal` with `Allow`: it names
    /// everyone that no entry names at all. `NotPrincipal` with `Deny`: it spares only a principal
    /// named at every level AWS may check (its account, a session's role, itself), as the
    /// NotPrincipal page asks of such policies; anyone else is denied.
    pub(crate) fn matches(&self, principal: &Principal, effect: Effect) -> PrincipalMatch {
        let best = || {
            self.named
                .iter()
                .map(|named| named.matches(principal))
                .max()
                .unwrap_or(PrincipalMatch::No)
        };
        if !self.not {
            return best();
        }
        let excluded = match effect {
            Effect::Allow => best() != PrincipalMatch::No,
            Effect::Deny => levels(principal)
                .into_iter()
                .all(|level| self.named.iter().any(|named| named.names(level))),
        };
        if excluded {
            PrincipalMatch::No
        } else {
            PrincipalMatch::Direct
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn named(principal: Value) -> Principals {
        Principals::parse(&principal, false).unwrap()
    }

    fn aws(arn: &str) -> Principal {
        Principal::Aws(arn.into())
    }

    #[test]
    fn an_account_principal_names_every_identity_of_the_account_through_the_account() {
        // "IAM JSON policy elements: Principal", "AWS account principals": the ID and the root
        // ARN behave the same.
        for entry in ["123456789012", "arn:aws:iam::123456789012:root"] {
            let p = named(json!({"AWS": entry}));
            let m = |principal: &Principal| p.matches(principal, Effect::Allow);
            assert_eq!(
                m(&aws("arn:aws:iam::123456789012:user/carlos")),
                PrincipalMatch::Account
            );
            assert_eq!(
                m(&aws("arn:aws:sts::123456789012:assumed-role/Deploy/ci")),
                PrincipalMatch::Account
            );
            assert_eq!(
                m(&aws("arn:aws:iam::123456789012:root")),
                PrincipalMatch::Direct
            );
            assert_eq!(
                m(&aws("arn:aws:iam::210987654321:user/carlos")),
                PrincipalMatch::No
            );
            assert_eq!(
                m(&Principal::Service("lambda.amazonaws.com".into())),
                PrincipalMatch::No
            );
        }
    }

    #[test]
    fn a_role_arn_names_the_sessions_of_that_role_and_a_session_arn_only_itself() {
        let role = named(json!({"AWS": "arn:aws:iam::123456789012:role/ci/Deploy"}));
        let m = |p: &Principals, principal: &str| p.matches(&aws(principal), Effect::Allow);
        assert_eq!(
            m(&role, "arn:aws:sts::123456789012:assumed-role/Deploy/run-1"),
            PrincipalMatch::Direct
        );
        assert_eq!(
            m(&role, "arn:aws:iam::123456789012:role/ci/Deploy"),
            PrincipalMatch::Direct
        );
        assert_eq!(
            m(&role, "arn:aws:sts::123456789012:assumed-role/Other/run-1"),
            PrincipalMatch::No
        );
        assert_eq!(
            m(&role, "arn:aws:sts::210987654321:assumed-role/Deploy/run-1"),
            PrincipalMatch::No
        );
        let session = named(json!({"AWS": "arn:aws:sts::123456789012:assumed-role/Deploy/run-1"}));
        assert_eq!(
            m(
                &session,
                "arn:aws:sts::123456789012:assumed-role/Deploy/run-1"
            ),
            PrincipalMatch::Direct
        );
        assert_eq!(
            m(
                &session,
                "arn:aws:sts::123456789012:assumed-role/Deploy/run-2"
            ),
            PrincipalMatch::No
        );
        // User names in a Principal are case sensitive.
        let user = named(json!({"AWS": "arn:aws:iam::123456789012:user/Bob"}));
        assert_eq!(
            m(&user, "arn:aws:iam::123456789012:user/bob"),
            PrincipalMatch::No
        );
    }

    #[test]
    fn everyone_services_and_providers_are_named_as_written() {
        for everyone in [json!("*"), json!({"AWS": "*"})] {
            let p = named(everyone);
            for principal in [
                aws("arn:aws:iam::123456789012:user/carlos"),
                Principal::Service("apigateway.amazonaws.com".into()),
                Principal::Anonymous,
            ] {
                assert_eq!(p.matches(&principal, Effect::Allow), PrincipalMatch::Direct);
            }
        }
        let p = named(json!({"Service": "lambda.amazonaws.com"}));
        let service = |s: &str| Principal::Service(s.into());
        assert_eq!(
            p.matches(&service("lambda.amazonaws.com"), Effect::Allow),
            PrincipalMatch::Direct
        );
        assert_eq!(
            p.matches(&service("apigateway.amazonaws.com"), Effect::Allow),
            PrincipalMatch::No
        );
        assert_eq!(
            p.matches(&Principal::Anonymous, Effect::Allow),
            PrincipalMatch::No
        );
        let provider =
            "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
        let p = named(json!({"Federated": provider}));
        assert_eq!(
            p.matches(&Principal::Federated(provider.into()), Effect::Allow),
            PrincipalMatch::Direct
        );
        assert_eq!(
            p.matches(&aws("arn:aws:iam::123456789012:root"), Effect::Allow),
            PrincipalMatch::No
        );
    }
}
