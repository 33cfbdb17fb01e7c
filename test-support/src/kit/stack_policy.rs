//! A CloudFormation stack policy, decided as CloudFormation decides it during a stack update:
//! once a stack has a policy, an update action on a resource needs an `Allow` that matches it,
//! and any matching `Deny` wins ("Prevent updates to stack resources": "After you set a stack
//! policy, all of the resources in the stack are protected by default"). Actions are
//! `Update:Modify`, `Update:Replace`, `Update:Delete` (and `Update:*`); resources
//! `LogicalResourceId/<id>`, wildcards allowed; `NotAction`, `NotResource` and a `Condition` on
//! `ResourceType` (`StringEquals`, `StringLike`) are honoured. An element the kit does not know
//! is an error, never a pass.

use serde_json::Value;

use crate::iam::matching::{glob, tokens};

/// Why an update action is refused: the message CloudFormation gives the resource's failed
/// event, or the statement the kit could not read.
pub fn denies(
    policy: &str,
    action: &str,
    logical_id: &str,
    resource_type: &str,
) -> Result<Option<String>, String> {
    let policy: Value =
        serde_json::from_str(policy).map_err(|e| format!("stack policy is not JSON: {e}"))?;
    let statements = match &policy["Statement"] {
        Value::Array(list) => list.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => return Err("stack policy has no Statement".into()),
    };
    let resource = format!("LogicalResourceId/{logical_id}");
    let mut allowed = false;
    for (index, statement) in statements.iter().enumerate() {
        if !applies(statement, action, &resource, resource_type)? {
            continue;
        }
        match statement["Effect"].as_str() {
            Some("Deny") => {
                return Ok(Some(format!(
                    "Action denied by stack policy: Statement [#{}] has a Deny effect for \
                     [{action}] on resource [{resource}]",
                    index + 1
                )));
            }
            Some("Allow") => allowed = true,
            other => return Err(format!("statement {index} has Effect {other:?}")),
        }
    }
    Ok((!allowed).then(|| {
        format!(
            "Action denied by stack policy: no statement allows [{action}] on resource [{resource}]"
        )
    }))
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(list) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn any_matches(patterns: &[String], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    patterns.iter().any(|p| glob(&tokens(p, true), &text))
}

fn applies(
    statement: &Value,
    action: &str,
    resource: &str,
    resource_type: &str,
) -> Result<bool, String> {
    for key in statement.as_object().into_iter().flat_map(|o| o.keys()) {
        if !matches!(
            key.as_str(),
            "Effect"
                | "Action"
                | "NotAction"
                | "Principal"
                | "Resource"
                | "NotResource"
                | "Condition"
                | "Sid"
        ) {
            return Err(format!(
                "stack policy element {key} is not known to the kit"
            ));
        }
    }
    let action_ok = match (statement.get("Action"), statement.get("NotAction")) {
        (Some(a), None) => any_matches(&strings(a), action),
        (None, Some(n)) => !any_matches(&strings(n), action),
        _ => return Err("a statement needs exactly one of Action and NotAction".into()),
    };
    let resource_ok = match (statement.get("Resource"), statement.get("NotResource")) {
        (Some(r), None) => any_matches(&strings(r), resource),
        (None, Some(n)) => !any_matches(&strings(n), resource),
        _ => return Err("a statement needs exactly one of Resource and NotResource".into()),
    };
    let condition_ok = match statement.get("Condition") {
        None => true,
        Some(Value::Object(operators)) => {
            let mut all = true;
            for (operator, keys) in operators {
                let values = strings(&keys["ResourceType"]);
                if keys.as_object().is_none_or(|k| k.len() != 1) || values.is_empty() {
                    return Err(format!("condition {operator} must test ResourceType only"));
                }
                all &= match operator.as_str() {
                    "StringEquals" => values.iter().any(|v| v == resource_type),
                    "StringLike" => any_matches(&values, resource_type),
                    other => {
                        return Err(format!(
                            "condition operator {other} is not known to the kit"
                        ));
                    }
                };
            }
            all
        }
        Some(_) => return Err("Condition must be an object".into()),
    };
    Ok(action_ok && resource_ok && condition_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLES: &str = r#"{"Statement":[
        {"Effect":"Allow","Action":"Update:*","Principal":"*","Resource":"*"},
        {"Effect":"Deny","Action":["Update:Replace","Update:Delete"],"Principal":"*",
         "Resource":["LogicalResourceId/NotesTable"]}]}"#;

    #[test]
    fn a_deny_wins_over_an_allow_and_nothing_allowed_is_denied() {
        let t = "AWS::DynamoDB::Table";
        assert!(
            denies(TABLES, "Update:Replace", "NotesTable", t)
                .unwrap()
                .is_some()
        );
        assert_eq!(
            denies(TABLES, "Update:Modify", "NotesTable", t).unwrap(),
            None
        );
        assert_eq!(
            denies(
                TABLES,
                "Update:Replace",
                "ApiFunction",
                "AWS::Lambda::Function"
            )
            .unwrap(),
            None
        );
        let only_functions = r#"{"Statement":{"Effect":"Allow","Action":"Update:*","Principal":"*",
            "Resource":"LogicalResourceId/*Function"}}"#;
        let refused = denies(only_functions, "Update:Modify", "NotesTable", t)
            .unwrap()
            .unwrap();
        assert!(refused.contains("no statement allows"), "{refused}");
    }

    #[test]
    fn a_condition_on_the_resource_type_is_honoured_and_an_unknown_element_is_an_error() {
        let by_type = r#"{"Statement":[
            {"Effect":"Allow","Action":"Update:*","Principal":"*","Resource":"*"},
            {"Effect":"Deny","Action":"Update:Replace","Principal":"*","Resource":"*",
             "Condition":{"StringEquals":{"ResourceType":["AWS::DynamoDB::Table"]}}}]}"#;
        assert!(
            denies(by_type, "Update:Replace", "T", "AWS::DynamoDB::Table")
                .unwrap()
                .is_some()
        );
        assert_eq!(
            denies(by_type, "Update:Replace", "F", "AWS::Lambda::Function").unwrap(),
            None
        );
        let unknown = r#"{"Statement":[{"Effect":"Allow","Action":"Update:*","Principal":"*","Resource":"*","Extra":1}]}"#;
        assert!(denies(unknown, "Update:Modify", "T", "x").is_err());
    }
}
