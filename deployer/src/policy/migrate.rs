//! The least-privilege IAM policy a migration needs (`noteapp migrate ENV --from-stack NAME
//! --print-policy`): kept apart from the deploy policy, which a migration does not widen.
//!
//! Source: the seed stack's resource list, and on its tables (CloudFormation names them
//! `<seed stack>-<logical id>-<suffix>`, or the tables `--from-tables` names) the reads of a
//! scan, their description and backups status, and UpdateTable for deletion protection. Target:
//! the noteapp stack's outputs, and on its tables (`<stack>-*`) the reads and conditional writes
//! of the copy, the counters and the verification.

use noteapp_runtime::aws_http::Partition;
use serde_json::{Value, json};

/// What the policy is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateScope {
    /// The environment's account, the seed's tables' too (a migration stays in one account).
    pub account: String,
    /// The seed's region (`--from-region`, else the environment's).
    pub source_region: String,
    /// `--from-stack`.
    pub seed_stack: Option<String>,
    /// `--from-tables`: the notes and users tables.
    pub source_tables: Vec<String>,
    /// The environment's region.
    pub target_region: String,
    /// The environment's stack, whose tables (`<stack>-*`) receive the items.
    pub target_stack: String,
}

fn arn(region: &str, account: &str, service: &str, rest: &str) -> String {
    let partition = Partition::of(region).name;
    format!("arn:{partition}:{service}:{region}:{account}:{rest}")
}

/// The policy document for `scope`.
pub fn migrate_policy(scope: &MigrateScope) -> Value {
    let (source, target, account) = (
        scope.source_region.as_str(),
        scope.target_region.as_str(),
        scope.account.as_str(),
    );
    let mut statements = Vec::new();
    let mut source_tables: Vec<String> = scope
        .source_tables
        .iter()
        .map(|t| arn(source, account, "dynamodb", &format!("table/{t}")))
        .collect();
    if let Some(seed) = &scope.seed_stack {
        statements.push(json!({
            "Sid": "SeedStackResources", "Effect": "Allow",
            "Action": ["cloudformation:ListStackResources"],
            "Resource": [arn(source, account, "cloudformation", &format!("stack/{seed}/*"))],
        }));
        source_tables.push(arn(source, account, "dynamodb", &format!("table/{seed}-*")));
    }
    statements.push(json!({
        "Sid": "SeedTables", "Effect": "Allow",
        "Action": [
            "dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:UpdateTable",
            "dynamodb:DescribeContinuousBackups",
        ],
        "Resource": source_tables,
    }));
    let stack = &scope.target_stack;
    statements.push(json!({
        "Sid": "NoteappStackOutputs", "Effect": "Allow",
        "Action": ["cloudformation:DescribeStacks"],
        "Resource": [arn(target, account, "cloudformation", &format!("stack/{stack}/*"))],
    }));
    statements.push(json!({
        "Sid": "NoteappTables", "Effect": "Allow",
        "Action": [
            "dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem",
            "dynamodb:UpdateItem", "dynamodb:Scan", "dynamodb:Query",
        ],
        "Resource": [
            arn(target, account, "dynamodb", &format!("table/{stack}-*")),
            arn(target, account, "dynamodb", &format!("table/{stack}-*/index/*")),
        ],
    }));
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[cfg(test)]
mod tests {
    use super::*;
    use noteapp_test_support::iam::allows;

    fn scope() -> MigrateScope {
        MigrateScope {
            account: "123456789012".into(),
            source_region: "ap-northeast-1".into(),
            seed_stack: Some("next-fastapi-note-app-staging".into()),
            source_tables: Vec::new(),
            target_region: "ap-northeast-1".into(),
            target_stack: "noteapp-staging".into(),
        }
    }

    #[test]
    fn the_policy_allows_every_call_of_a_migration_on_its_own_tables_only() {
        let policy = migrate_policy(&scope());
        let table =
            |name: &str| format!("arn:aws:dynamodb:ap-northeast-1:123456789012:table/{name}");
        let seed_notes = table("next-fastapi-note-app-staging-NotesTable-ABC123");
        for action in [
            "dynamodb:DescribeTable",
            "dynamodb:Scan",
            "dynamodb:UpdateTable",
            "dynamodb:DescribeContinuousBackups",
        ] {
            assert!(allows(&policy, action, &seed_notes), "{action}");
        }
        assert!(allows(
            &policy,
            "cloudformation:ListStackResources",
            "arn:aws:cloudformation:ap-northeast-1:123456789012:stack/next-fastapi-note-app-staging/1"
        ));
        let ours = table("noteapp-staging-NotesTable-XYZ");
        for action in [
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:BatchGetItem",
        ] {
            assert!(allows(&policy, action, &ours), "{action}");
            assert!(
                !allows(&policy, action, &seed_notes),
                "{action} on the seed"
            );
        }
        assert!(allows(
            &policy,
            "dynamodb:Query",
            &format!("{ours}/index/PublicFeedIndex")
        ));
        for denied in ["dynamodb:DeleteTable", "dynamodb:DeleteItem"] {
            assert!(!allows(&policy, denied, &seed_notes), "{denied}");
            assert!(!allows(&policy, denied, &ours), "{denied}");
        }
    }

    #[test]
    fn named_source_tables_are_named_in_the_policy() {
        let mut scope = scope();
        scope.seed_stack = None;
        scope.source_tables = vec!["restored-notes".into(), "restored-users".into()];
        let policy = migrate_policy(&scope);
        let arn = "arn:aws:dynamodb:ap-northeast-1:123456789012:table/restored-users";
        assert!(allows(&policy, "dynamodb:Scan", arn));
        assert!(!policy.to_string().contains("ListStackResources"));
    }
}
