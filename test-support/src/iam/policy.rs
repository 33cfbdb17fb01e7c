//! Reading a policy document: what AWS would refuse is refused here with the statement and the
//! element at fault ("IAM JSON policy element reference"), and what it accepts is kept in a form
//! [`super::evaluate_policies`] can match quickly.
//!
//! An identity policy's statements name no principal and must name resources; a resource
//! policy's statements must name a principal and may leave the resource out (it is then the
//! resource the policy is attached to, as in ECR repository policies).

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

use super::condition::Condition;
use super::matching::Template;
use super::principal::Principals;

/// Which side of a request a policy sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to the identity making the request (a role's or user's permissions policy).
    Identity,
    /// Attached to the resource requested (a bucket, repository, function or key policy, or a
    /// role's trust policy).
    Resource,
}

/// A parsed, valid policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    kind: PolicyKind,
    pub(crate) statements: Vec<Statement>,
}

/// Which statement of a policy: its index in the `Statement` array (0 for a lone statement
/// object) and its `Sid`, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementId {
    /// Its index in the `Statement` array, from 0.
    pub index: usize,
    /// Its `Sid`; `None` when it has none.
    pub sid: Option<String>,
}

impl fmt::Display for StatementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "statement [{}]", self.index)?;
        match &self.sid {
            Some(sid) => write!(f, " {sid:?}"),
            None => Ok(()),
        }
    }
}

/// Why a policy document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// The document as a whole: not an object, no `Statement`, an unknown `Version` or element.
    Document(String),
    /// One statement: which one, the element at fault, and what is wrong with it.
    Statement {
        /// The statement at fault.
        statement: StatementId,
        /// The element at fault, as the policy grammar names it (`Sid`, `Action`, `Condition`).
        element: &'static str,
        /// What is wrong with it, as a sentence.
        problem: String,
    },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Document(problem) => write!(f, "policy document: {problem}"),
            PolicyError::Statement {
                statement,
                element,
                problem,
            } => write!(f, "{statement}: {element}: {problem}"),
        }
    }
}

impl std::error::Error for PolicyError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// `Action` or `NotAction`: the patterns, and whether they are the exceptions.
#[derive(Debug, Clone)]
pub(crate) struct Actions {
    pub(crate) patterns: Vec<String>,
    pub(crate) not: bool,
}

/// `Resource` or `NotResource`.
#[derive(Debug, Clone)]
pub(crate) struct Resources {
    pub(crate) patterns: Vec<Template>,
    pub(crate) not: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) id: StatementId,
    pub(crate) effect: Effect,
    pub(crate) principals: Option<Principals>,
    pub(crate) actions: Actions,
    /// `None` only in a resource policy statement that names no resource.
    pub(crate) resources: Option<Resources>,
    pub(crate) conditions: Vec<Condition>,
}

const DOCUMENT_ELEMENTS: [&str; 3] = ["Version", "Id", "Statement"];
const STATEMENT_ELEMENTS: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

impl Policy {
    /// Reads an identity policy (a user's or role's permissions).
    pub fn identity(document: &Value) -> Result<Self, PolicyError> {
        Self::parse(PolicyKind::Identity, document)
    }

    /// Reads a resource policy (bucket, repository, function, queue or key policy, or a role's
    /// trust policy).
    pub fn resource(document: &Value) -> Result<Self, PolicyError> {
        Self::parse(PolicyKind::Resource, document)
    }

    /// Which side of a request the policy sits on.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The statements' ids, in order.
    pub fn statement_ids(&self) -> impl Iterator<Item = &StatementId> {
        self.statements.iter().map(|s| &s.id)
    }

    /// Reads `document` as a policy of `kind`.
    pub fn parse(kind: PolicyKind, document: &Value) -> Result<Self, PolicyError> {
        let document_error = |problem: String| PolicyError::Document(problem);
        let object = document
            .as_object()
            .ok_or_else(|| document_error("is not a JSON object".into()))?;
        if let Some(unknown) = object
            .keys()
            .find(|k| !DOCUMENT_ELEMENTS.contains(&k.as_str()))
        {
            return Err(document_error(format!("unknown element {unknown:?}")));
        }
        let variables = match object.get("Version") {
            None => false,
            Some(Value::String(v)) if v == "2012-10-17" => true,
            Some(Value::String(v)) if v == "2008-10-17" => false,
            Some(other) => {
                return Err(document_error(format!(
                    "Version {other} is neither \"2012-10-17\" nor \"2008-10-17\""
                )));
            }
        };
        if object.get("Id").is_some_and(|id| !id.is_string()) {
            return Err(document_error("Id is not a string".into()));
        }
        let statements = match object.get("Statement") {
            Some(Value::Array(statements)) => statements.iter().collect(),
            Some(statement @ Value::Object(_)) => vec![statement],
            Some(_) => {
                return Err(document_error(
                    "Statement is neither a statement object nor an array of them".into(),
                ));
            }
            None => return Err(document_error("has no Statement".into())),
        };
        let mut sids = BTreeSet::new();
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(index, statement)| {
                let statement = Statement::parse(kind, index, statement, variables)?;
                if kind == PolicyKind::Identity
                    && let Some(sid) = &statement.id.sid
                    && !sids.insert(sid.clone())
                {
                    // "IAM JSON policy elements: Sid": in IAM, the Sid must be unique.
                    return Err(PolicyError::Statement {
                        statement: statement.id,
                        element: "Sid",
                        problem: "another statement has the same Sid".into(),
                    });
                }
                Ok(statement)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { kind, statements })
    }
}

impl Statement {
    fn parse(
        kind: PolicyKind,
        index: usize,
        value: &Value,
        variables: bool,
    ) -> Result<Self, PolicyError> {
        let mut id = StatementId { index, sid: None };
        let error =
            |id: &StatementId, element: &'static str, problem: String| PolicyError::Statement {
                statement: id.clone(),
                element,
                problem,
            };
        let Some(object) = value.as_object() else {
            return Err(error(&id, "Statement", "is not a JSON object".into()));
        };
        match object.get("Sid") {
            None => {}
            Some(Value::String(sid)) => id.sid = Some(sid.clone()),
            Some(other) => return Err(error(&id, "Sid", format!("{other} is not a string"))),
        }
        if let Some(unknown) = object
            .keys()
            .find(|k| !STATEMENT_ELEMENTS.contains(&k.as_str()))
        {
            let problem = format!("unknown element {unknown:?}");
            return Err(error(&id, "Statement", problem));
        }
        if kind == PolicyKind::Identity
            && let Some(sid) = &id.sid
            && !sid.chars().all(|c| c.is_ascii_alphanumeric())
        {
            // "IAM JSON policy elements: Sid": ASCII letters and digits only.
            let problem = format!("{sid:?} holds more than ASCII letters and digits");
            return Err(error(&id, "Sid", problem));
        }
        let effect = match object.get("Effect") {
            Some(Value::String(e)) if e == "Allow" => Effect::Allow,
            Some(Value::String(e)) if e == "Deny" => Effect::Deny,
            Some(other) => {
                // "IAM JSON policy elements: Effect": Allow or Deny, case-sensitive.
                let problem = format!("{other} is neither \"Allow\" nor \"Deny\"");
                return Err(error(&id, "Effect", problem));
            }
            None => return Err(error(&id, "Effect", "is missing".into())),
        };

        let (element, patterns) = one_of(object, "Action", "NotAction")
            .map_err(|problem| error(&id, "Action", problem))?
            .ok_or_else(|| {
                error(
                    &id,
                    "Action",
                    "neither Action nor NotAction is given".into(),
                )
            })?;
        let patterns = strings(patterns).map_err(|problem| error(&id, element, problem))?;
        for action in &patterns {
            check_action(action).map_err(|problem| error(&id, element, problem))?;
        }
        let actions = Actions {
            patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
            not: element == "NotAction",
        };

        let resources = match one_of(object, "Resource", "NotResource")
            .map_err(|problem| error(&id, "Resource", problem))?
        {
            Some((element, patterns)) => {
                let patterns = strings(patterns).map_err(|problem| error(&id, element, problem))?;
                if let Some(bad) = patterns
                    .iter()
                    .find(|r| **r != "*" && !r.starts_with("arn:"))
                {
                    let problem = format!("{bad:?} is neither \"*\" nor an ARN");
                    return Err(error(&id, element, problem));
                }
                Some(Resources {
                    patterns: patterns
                        .iter()
                        .map(|p| Template::parse(p, variables))
                        .collect(),
                    not: element == "NotResource",
                })
            }
            None if kind == PolicyKind::Identity => {
                let problem = "neither Resource nor NotResource is given".into();
                return Err(error(&id, "Resource", problem));
            }
            None => None,
        };

        let principals = match one_of(object, "Principal", "NotPrincipal")
            .map_err(|problem| error(&id, "Principal", problem))?
        {
            Some((element, _)) if kind == PolicyKind::Identity => {
                // "IAM JSON policy elements: Principal": not in an identity-based policy.
                let problem = "an identity policy cannot name a principal".into();
                return Err(error(&id, element, problem));
            }
            Some((element, value)) => Some(
                Principals::parse(value, element == "NotPrincipal")
                    .map_err(|problem| error(&id, element, problem))?,
            ),
            None if kind == PolicyKind::Resource => {
                let problem = "a resource policy statement must name a principal".into();
                return Err(error(&id, "Principal", problem));
            }
            None => None,
        };

        let conditions = match object.get("Condition") {
            None => Vec::new(),
            Some(Value::Object(operators)) => conditions(operators, variables)
                .map_err(|problem| error(&id, "Condition", problem))?,
            Some(other) => {
                let problem = format!("{other} is not an object of condition operators");
                return Err(error(&id, "Condition", problem));
            }
        };

        Ok(Self {
            id,
            effect,
            principals,
            actions,
            resources,
            conditions,
        })
    }
}

/// The one of `element` and `not_element` the statement gives, if any; both is an error.
fn one_of<'a>(
    object: &'a Map<String, Value>,
    element: &'static str,
    not_element: &'static str,
) -> Result<Option<(&'static str, &'a Value)>, String> {
    match (object.get(element), object.get(not_element)) {
        (Some(_), Some(_)) => Err(format!("both {element} and {not_element} are given")),
        (Some(value), None) => Ok(Some((element, value))),
        (None, Some(value)) => Ok(Some((not_element, value))),
        (None, None) => Ok(None),
    }
}

/// A string, or a non-empty array of strings.
pub(crate) fn strings(value: &Value) -> Result<Vec<&str>, String> {
    let problem = || format!("{value} is neither a string nor a non-empty array of strings");
    match value {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().ok_or_else(problem))
            .collect(),
        _ => Err(problem()),
    }
}

/// `*` or `service:pattern`, the service without wildcards.
fn check_action(action: &str) -> Result<(), String> {
    if action == "*" {
        return Ok(());
    }
    match action.split_once(':') {
        Some((vendor, name)) if !vendor.is_empty() && !name.is_empty() => {
            if vendor
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                Ok(())
            } else {
                Err(format!(
                    "{action:?}: a service prefix holds only letters, digits and hyphens"
                ))
            }
        }
        _ => Err(format!("{action:?} has no service prefix")),
    }
}

/// The `{operator: {key: value-or-values}}` object of a `Condition` element.
fn conditions(operators: &Map<String, Value>, variables: bool) -> Result<Vec<Condition>, String> {
    let mut parsed = Vec::new();
    for (operator, keys) in operators {
        let Value::Object(keys) = keys else {
            return Err(format!(
                "{operator}: {keys} is not an object of condition keys"
            ));
        };
        for (key, values) in keys {
            let scalar = |value: &Value| match value {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            let values: Option<Vec<String>> = match values {
                Value::Array(items) if !items.is_empty() => items.iter().map(scalar).collect(),
                Value::Array(_) => None,
                value => scalar(value).map(|v| vec![v]),
            };
            let values = values.ok_or_else(|| {
                format!("{operator} {key}: not a value or a non-empty array of values")
            })?;
            parsed.push(Condition::parse(operator, key, &values, variables)?);
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn identity_error(document: Value) -> String {
        Policy::identity(&document).unwrap_err().to_string()
    }

    fn resource_error(document: Value) -> String {
        Policy::resource(&document).unwrap_err().to_string()
    }

    fn statement(statement: Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": [statement]})
    }

    #[test]
    fn a_statement_may_be_an_object_and_elements_strings_or_arrays() {
        let policy = Policy::identity(&json!({
            "Version": "2012-10-17",
            "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
        }))
        .unwrap();
        assert_eq!(policy.statements.len(), 1);
        assert_eq!(policy.kind(), PolicyKind::Identity);
        let policy = Policy::resource(&statement(json!({
            "Sid": "Pull",
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com"], "AWS": ["123456789012", "*"]},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Condition": {"StringLike": {"aws:sourceArn": ["arn:aws:lambda:*"]}, "Bool": {"aws:SecureTransport": true}}
        })))
        .unwrap();
        let ids: Vec<_> = policy.statement_ids().cloned().collect();
        assert_eq!(
            ids,
            [StatementId {
                index: 0,
                sid: Some("Pull".into())
            }]
        );
        let principals = policy.statements[0].principals.as_ref().unwrap();
        assert_eq!(principals.named.len(), 3);
        assert_eq!(policy.statements[0].conditions.len(), 2);
        assert!(policy.statements[0].resources.is_none());
    }

    #[test]
    fn an_effect_other_than_allow_or_deny_is_refused() {
        // "IAM JSON policy elements: Effect": the value is case sensitive.
        assert_eq!(
            identity_error(statement(
                json!({"Sid": "Lower", "Effect": "allow", "Action": "s3:*", "Resource": "*"})
            )),
            "statement [0] \"Lower\": Effect: \"allow\" is neither \"Allow\" nor \"Deny\""
        );
        assert_eq!(
            identity_error(statement(json!({"Action": "s3:*", "Resource": "*"}))),
            "statement [0]: Effect: is missing"
        );
    }

    #[test]
    fn action_and_not_action_together_or_neither_are_refused() {
        assert_eq!(
            identity_error(statement(json!({
                "Effect": "Allow", "Action": "s3:*", "NotAction": "iam:*", "Resource": "*"
            }))),
            "statement [0]: Action: both Action and NotAction are given"
        );
        assert_eq!(
            identity_error(statement(json!({"Effect": "Allow", "Resource": "*"}))),
            "statement [0]: Action: neither Action nor NotAction is given"
        );
        assert_eq!(
            identity_error(statement(
                json!({"Effect": "Allow", "NotAction": [], "Resource": "*"})
            )),
            "statement [0]: NotAction: [] is neither a string nor a non-empty array of strings"
        );
    }

    #[test]
    fn actions_need_a_service_prefix_without_wildcards() {
        let error = |action: &str| {
            identity_error(statement(
                json!({"Effect": "Allow", "Action": action, "Resource": "*"}),
            ))
        };
        assert_eq!(
            error("GetObject"),
            "statement [0]: Action: \"GetObject\" has no service prefix"
        );
        assert_eq!(
            error("s3*:GetObject"),
            "statement [0]: Action: \"s3*:GetObject\": a service prefix holds only letters, \
             digits and hyphens"
        );
        assert_eq!(
            error("s3:"),
            "statement [0]: Action: \"s3:\" has no service prefix"
        );
    }

    #[test]
    fn an_identity_statement_without_resource_or_with_a_principal_is_refused() {
        assert_eq!(
            identity_error(statement(json!({"Effect": "Allow", "Action": "s3:*"}))),
            "statement [0]: Resource: neither Resource nor NotResource is given"
        );
        assert_eq!(
            identity_error(statement(json!({
                "Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"
            }))),
            "statement [0]: Principal: an identity policy cannot name a principal"
        );
        assert_eq!(
            identity_error(statement(json!({
                "Effect": "Allow", "Action": "s3:*", "Resource": "*", "NotResource": "*"
            }))),
            "statement [0]: Resource: both Resource and NotResource are given"
        );
        assert_eq!(
            identity_error(statement(
                json!({"Effect": "Allow", "Action": "s3:*", "Resource": "bucket"})
            )),
            "statement [0]: Resource: \"bucket\" is neither \"*\" nor an ARN"
        );
    }

    #[test]
    fn a_resource_statement_must_name_a_principal_and_only_whole_wildcards() {
        assert_eq!(
            resource_error(statement(json!({"Effect": "Allow", "Action": "s3:*"}))),
            "statement [0]: Principal: a resource policy statement must name a principal"
        );
        assert_eq!(
            resource_error(statement(json!({
                "Effect": "Allow", "Action": "s3:*", "Principal": {"AWS": "arn:aws:iam::123456789012:role/*"}
            }))),
            "statement [0]: Principal: AWS \"arn:aws:iam::123456789012:role/*\": only \"*\" or \
             {\"AWS\": \"*\"} can stand for principals"
        );
        assert_eq!(
            resource_error(statement(json!({
                "Effect": "Allow", "Action": "s3:*", "Principal": {"Service": "*"}
            }))),
            "statement [0]: Principal: Service \"*\": only \"*\" or {\"AWS\": \"*\"} can stand \
             for principals"
        );
        assert_eq!(
            resource_error(statement(json!({
                "Effect": "Allow", "Action": "s3:*", "NotPrincipal": {"AWS": "bob"}
            }))),
            "statement [0]: NotPrincipal: AWS \"bob\" is neither an account ID, an ARN nor \"*\""
        );
        assert_eq!(
            resource_error(statement(json!({
                "Effect": "Allow", "Action": "s3:*", "Principal": {"Group": "admins"}
            }))),
            "statement [0]: Principal: unknown principal type \"Group\""
        );
        assert_eq!(
            resource_error(statement(json!({
                "Effect": "Allow", "Action": "s3:*", "Principal": "someone"
            }))),
            "statement [0]: Principal: \"someone\" is neither \"*\" nor an object of AWS, \
             Service, Federated or CanonicalUser principals"
        );
    }

    #[test]
    fn an_unknown_condition_operator_or_a_bad_value_is_refused() {
        assert_eq!(
            identity_error(statement(json!({
                "Sid": "Tls", "Effect": "Deny", "Action": "s3:*", "Resource": "*",
                "Condition": {"Boolean": {"aws:SecureTransport": "false"}}
            }))),
            "statement [0] \"Tls\": Condition: unknown condition operator \"Boolean\""
        );
        assert_eq!(
            identity_error(statement(json!({
                "Effect": "Deny", "Action": "s3:*", "Resource": "*",
                "Condition": {"StringEquals": {"aws:username": []}}
            }))),
            "statement [0]: Condition: StringEquals aws:username: not a value or a non-empty \
             array of values"
        );
        assert_eq!(
            identity_error(statement(json!({
                "Effect": "Deny", "Action": "s3:*", "Resource": "*",
                "Condition": {"StringEquals": "aws:username"}
            }))),
            "statement [0]: Condition: StringEquals: \"aws:username\" is not an object of \
             condition keys"
        );
        assert_eq!(
            identity_error(statement(json!({
                "Effect": "Deny", "Action": "s3:*", "Resource": "*",
                "Condition": {"NullIfExists": {"aws:TokenIssueTime": "true"}}
            }))),
            "statement [0]: Condition: \"NullIfExists\": Null takes no IfExists"
        );
    }

    #[test]
    fn sids_in_an_identity_policy_are_alphanumeric_and_unique() {
        let allow =
            |sid: &str| json!({"Sid": sid, "Effect": "Allow", "Action": "s3:*", "Resource": "*"});
        assert_eq!(
            identity_error(statement(allow("read only"))),
            "statement [0] \"read only\": Sid: \"read only\" holds more than ASCII letters and \
             digits"
        );
        assert_eq!(
            identity_error(json!({"Version": "2012-10-17", "Statement": [allow("A"), allow("A")]})),
            "statement [1] \"A\": Sid: another statement has the same Sid"
        );
        // Resource policies follow their service's rules (Lambda permissions use hyphens).
        let permission = json!({
            "Sid": "noteapp-api-url", "Effect": "Allow", "Principal": "*",
            "Action": "lambda:InvokeFunctionUrl", "Resource": "arn:aws:lambda:eu-west-1:123456789012:function:f"
        });
        assert!(Policy::resource(&statement(permission)).is_ok());
    }

    #[test]
    fn the_document_needs_a_known_version_a_statement_and_known_elements() {
        let allow = json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"});
        assert_eq!(
            identity_error(json!({"Version": "2012-10-18", "Statement": [allow]})),
            "policy document: Version \"2012-10-18\" is neither \"2012-10-17\" nor \"2008-10-17\""
        );
        assert_eq!(
            identity_error(json!({"Version": "2012-10-17"})),
            "policy document: has no Statement"
        );
        assert_eq!(
            identity_error(
                json!({"Version": "2012-10-17", "Statement": [allow], "Statements": []})
            ),
            "policy document: unknown element \"Statements\""
        );
        assert_eq!(
            identity_error(json!([allow])),
            "policy document: is not a JSON object"
        );
        assert_eq!(
            identity_error(
                json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Conditions": {}}]})
            ),
            "statement [0]: Statement: unknown element \"Conditions\""
        );
        assert_eq!(
            identity_error(json!({"Statement": "allow everything"})),
            "policy document: Statement is neither a statement object nor an array of them"
        );
        assert!(Policy::identity(&json!({"Version": "2008-10-17", "Statement": []})).is_ok());
    }
}
