//! What a request is, as the policies see it: who makes it ([`Principal`]), the action, the
//! resource and the condition keys ([`Context`]).

use std::collections::BTreeMap;
use std::fmt;

use super::matching::Arn;
use super::principal::is_account_id;

/// Who makes a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An IAM identity: a user or role ARN, an assumed-role session ARN
    /// (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`), a federated-user ARN, or an account
    /// (`arn:aws:iam::ACCOUNT:root` or the bare account ID), meaning its root user.
    Aws(String),
    /// An AWS service acting itself, such as `lambda.amazonaws.com` pulling a function's image.
    Service(String),
    /// A web identity or SAML provider, as a role trust policy names it (calling
    /// `sts:AssumeRoleWithWebIdentity`).
    Federated(String),
    /// An unauthenticated caller.
    Anonymous,
}

impl Principal {
    /// The account of an [`Principal::Aws`] principal.
    pub fn account(&self) -> Option<&str> {
        match self {
            Principal::Aws(id) if is_account_id(id) => Some(id),
            Principal::Aws(id) => Arn::parse(id)
                .map(|arn| arn.account)
                .filter(|account| !account.is_empty()),
            _ => None,
        }
    }

    /// Whether this is an account's root user.
    pub fn is_root(&self) -> bool {
        match self {
            Principal::Aws(id) => {
                is_account_id(id)
                    || Arn::parse(id).is_some_and(|a| a.service == "iam" && a.resource == "root")
            }
            _ => false,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Aws(id) => f.write_str(id),
            Principal::Service(service) => write!(f, "service {service}"),
            Principal::Federated(provider) => write!(f, "federated {provider}"),
            Principal::Anonymous => f.write_str("anonymous"),
        }
    }
}

/// The condition keys of a request and their values. Keys compare ignoring case; a key may
/// hold several values (`aws:TagKeys`), and a key with no values counts as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// Lowercased keys.
    values: BTreeMap<String, Vec<String>>,
}

impl Context {
    /// No keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// With `key` set to the single `value`.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    /// With `key` set to `values` (a multivalued key).
    pub fn with_values<V: Into<String>>(
        mut self,
        key: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        self.insert_values(key, values);
        self
    }

    /// Sets `key` to the single `value`.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_lowercase(), vec![value.into()]);
    }

    /// Sets `key` to `values`.
    pub fn insert_values<V: Into<String>>(
        &mut self,
        key: &str,
        values: impl IntoIterator<Item = V>,
    ) {
        let values = values.into_iter().map(Into::into).collect();
        self.values.insert(key.to_lowercase(), values);
    }

    /// Removes `key`, returning its values.
    pub fn remove(&mut self, key: &str) -> Option<Vec<String>> {
        self.values.remove(&key.to_lowercase())
    }

    /// Every key (lowercased) with its values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The values of `key`.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values.get(&key.to_lowercase()).map(Vec::as_slice)
    }
}

/// One request to AWS, as the policies see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Who makes the request.
    pub principal: Principal,
    /// `service:Action`, such as `ecr:BatchGetImage`.
    pub action: String,
    /// The resource's ARN, or `*` for an action that names none.
    pub resource: String,
    /// The condition keys the request carries, global (`aws:PrincipalArn`) and the action's own.
    pub context: Context,
    /// The account owning the resource when its ARN does not say (S3 buckets); `None` takes the
    /// ARN's account field, and with none there, the principal's account.
    pub resource_account: Option<String>,
}

impl Request {
    /// `principal` calling `action` on `resource`, with an empty context.
    pub fn new(
        principal: Principal,
        action: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        Self {
            principal,
            action: action.into(),
            resource: resource.into(),
            context: Context::new(),
            resource_account: None,
        }
    }

    /// With `context` as the condition keys.
    pub fn with_context(mut self, context: Context) -> Self {
        self.context = context;
        self
    }

    /// With the resource owned by `account` (for ARNs without an account field).
    pub fn in_account(mut self, account: impl Into<String>) -> Self {
        self.resource_account = Some(account.into());
        self
    }

    /// The account owning the resource, if known.
    pub fn resource_account(&self) -> Option<&str> {
        self.resource_account.as_deref().or_else(|| {
            Arn::parse(&self.resource)
                .map(|arn| arn.account)
                .filter(|account| !account.is_empty())
        })
    }

    /// Whether the principal's account differs from the resource's.
    pub(crate) fn cross_account(&self) -> bool {
        match (self.principal.account(), self.resource_account()) {
            (Some(principal), Some(resource)) => principal != resource,
            (_, None) => false,
            (None, Some(_)) => true,
        }
    }

    /// A role's trust policy (`sts:*` on a role) and a KMS key policy must allow the principal
    /// themselves, even within the account.
    pub(crate) fn needs_resource_policy(&self) -> bool {
        let service = self.action.split(':').next().unwrap_or_default();
        Arn::parse(&self.resource).is_some_and(|arn| {
            (arn.service == "iam"
                && arn.resource.starts_with("role/")
                && service.eq_ignore_ascii_case("sts"))
                || (arn.service == "kms" && service.eq_ignore_ascii_case("kms"))
        })
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} calling {} on {}",
            self.principal, self.action, self.resource
        )
    }
}
