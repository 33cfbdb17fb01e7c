//! What CloudFormation's resource handlers call with the deployer's credentials, held against
//! the deploy policy: for every resource type the rendered templates hold, each permission its
//! handlers list (create, read, update, delete; the kit's `handlers` table, from the types'
//! registry schemas) is in the policy, or is named here with the property it serves that the
//! template does not use. A type the table does not know fails, so a new resource type cannot
//! arrive without its permissions being looked at.

use std::collections::BTreeSet;

use noteapp_test_support::kit::handlers;
use serde_json::Value;

use super::{Scope, bootstrap_policy, deploy_policy};

/// Handler permissions the templates never need, each with the property they serve.
const UNUSED: &[(&str, &str)] = &[
    (
        "s3:GetObject",
        "a source in S3 (Code.S3Bucket, BodyS3Location, ImportSourceSpecification)",
    ),
    ("s3:GetObjectVersion", "Code.S3ObjectVersion"),
    ("s3:GetObjectMetadata", "ImportSourceSpecification"),
    ("s3:ListBucket", "ImportSourceSpecification"),
    ("dynamodb:ImportTable", "ImportSourceSpecification"),
    ("dynamodb:DescribeImport", "ImportSourceSpecification"),
    (
        "logs:CreateLogStream",
        "ImportSourceSpecification's import log",
    ),
    (
        "logs:PutLogEvents",
        "ImportSourceSpecification's import log",
    ),
    (
        "logs:DescribeLogStreams",
        "ImportSourceSpecification's import log",
    ),
    (
        "kms:*",
        "a customer managed key (KmsKeyArn, SSESpecification.KMSMasterKeyId): none is used",
    ),
    ("kinesis:*", "KinesisStreamSpecification"),
    (
        "dynamodb:*KinesisStreamingDestination",
        "KinesisStreamSpecification",
    ),
    (
        "dynamodb:CreateTableReplica",
        "replicas (AWS::DynamoDB::GlobalTable's)",
    ),
    (
        "dynamodb:AssociateTableReplica",
        "replicas (AWS::DynamoDB::GlobalTable's)",
    ),
    (
        "iam:CreateServiceLinkedRole",
        "replicas and contributor insights' service role",
    ),
    ("dynamodb:*ResourcePolicy", "ResourcePolicy"),
    (
        "dynamodb:*ContributorInsights",
        "ContributorInsightsSpecification",
    ),
    (
        "dynamodb:BatchWriteItem",
        "ImportSourceSpecification's load (items are written by the app)",
    ),
    (
        "dynamodb:PutItem",
        "items are the app's, never the deployer's",
    ),
    (
        "dynamodb:GetItem",
        "items are the app's, never the deployer's",
    ),
    (
        "dynamodb:UpdateItem",
        "items are the app's, never the deployer's",
    ),
    (
        "dynamodb:DeleteItem",
        "items are the app's, never the deployer's",
    ),
    (
        "dynamodb:Query",
        "items are the app's, never the deployer's",
    ),
    ("dynamodb:Scan", "items are the app's, never the deployer's"),
    ("ec2:*", "VpcConfig"),
    ("elasticfilesystem:*", "FileSystemConfigs"),
    ("s3files:*", "FileSystemConfigs"),
    ("lambda:*CodeSigningConfig", "CodeSigningConfigArn"),
    ("lambda:GetLayerVersion", "Layers"),
    ("lambda:PassCapacityProvider", "CapacityProviderConfig"),
    ("lambda:*FunctionScalingConfig", "CapacityProviderConfig"),
    (
        "lambda:*RuntimeManagementConfig",
        "RuntimeManagementConfig (an image function has none)",
    ),
    ("lambda:*FunctionRecursionConfig", "RecursiveLoop"),
    ("iam:*RolePermissionsBoundary", "PermissionsBoundary"),
    ("firehose:*", "log delivery to Firehose"),
    ("logs:*KmsKey", "KmsKeyId"),
    ("logs:*DataProtectionPolicy", "DataProtectionPolicy"),
    ("logs:*IndexPolicy", "FieldIndexPolicies"),
    ("logs:DescribeIndexPolicies", "FieldIndexPolicies"),
    (
        "logs:PutBearerTokenAuthentication",
        "BearerTokenAuthenticationEnabled",
    ),
    (
        "logs:PutLogGroupDeletionProtection",
        "DeletionProtectionEnabled",
    ),
    ("logs:DeleteResourcePolicy", "ResourcePolicyDocument"),
    (
        "logs:DeleteRetentionPolicy",
        "RetentionInDays removed (always set here)",
    ),
    ("s3:getObject", "BodyS3Location"),
    (
        "s3:REST.PUT.OBJECT",
        "not an IAM action: the log group's schema lists an S3 access-log operation name",
    ),
    (
        "iam:DeleteOpenIDConnectProvider",
        "deleting the provider: the CI stack retains it (DeletionPolicy: Retain)",
    ),
];

/// Whether `pattern` (`*` anywhere) matches `text`, ignoring case as IAM compares actions.
fn like(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.to_ascii_lowercase(), text.to_ascii_lowercase());
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len()).any(|i| like(tail, &text[head.len() + i..]))
        }
    }
}

/// The actions a policy allows (as written, wildcards kept).
fn allowed_actions(policy: &Value) -> Vec<String> {
    policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| match &s["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(list) => list
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Of the handler permissions of `types`, those `policy` does not allow and [`UNUSED`] does not
/// name: (type, permission).
pub(crate) fn missing(
    types: &BTreeSet<String>,
    policy: &Value,
) -> Result<Vec<(String, String)>, String> {
    let allowed = allowed_actions(policy);
    let mut out = Vec::new();
    for kind in types {
        let handler = handlers::handlers(kind).ok_or_else(|| {
            format!(
                "{kind} is not in test-support/src/kit/handlers.rs: add its handlers' \
                 permissions from its registry schema"
            )
        })?;
        let all = [handler.create, handler.read, handler.update, handler.delete].concat();
        for permission in all {
            let covered = allowed.iter().any(|a| like(a, permission))
                || UNUSED.iter().any(|(p, _)| like(p, permission));
            let entry = (kind.clone(), permission.to_owned());
            if !covered && !out.contains(&entry) {
                out.push(entry);
            }
        }
    }
    Ok(out)
}

/// The resource types of a template: JSON, or YAML with one `Type: AWS::…` line per resource.
pub(crate) fn resource_types(template: &str) -> BTreeSet<String> {
    match serde_json::from_str::<Value>(template) {
        Ok(value) => value["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, r)| r["Type"].as_str().map(str::to_owned))
            .collect(),
        Err(_) => template
            .lines()
            .filter_map(|line| line.trim().strip_prefix("Type: "))
            .filter(|kind| kind.starts_with("AWS::"))
            .map(|kind| kind.trim().to_owned())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(stack: &str) -> Scope {
        Scope {
            region: "eu-west-1".into(),
            account: "123456789012".into(),
            stack: stack.into(),
            repository: "noteapp".into(),
        }
    }

    #[test]
    fn every_handler_permission_the_stack_needs_is_in_the_deploy_policy_or_named_unused() {
        let root = noteapp_test_support::workspace();
        let template = crate::template::read_template(&root).unwrap();
        let types = resource_types(&template);
        assert!(types.len() >= 10, "{types:?}");
        let missing = missing(&types, &deploy_policy(&scope("noteapp-staging"))).unwrap();
        assert!(
            missing.is_empty(),
            "the deploy policy lacks what CloudFormation's handlers call: {missing:#?}"
        );
    }

    #[test]
    fn every_handler_permission_the_ci_stack_needs_is_in_the_bootstrap_policy() {
        let s = scope("noteapp-staging");
        let subject = crate::template::ci::Subject::Branch("main".into());
        let template = crate::template::ci::template(&s, "octo/notes", &subject);
        let types = resource_types(&template);
        assert!(types.contains("AWS::IAM::OIDCProvider"), "{types:?}");
        let missing = missing(&types, &bootstrap_policy(&s)).unwrap();
        assert!(missing.is_empty(), "{missing:#?}");
    }

    #[test]
    fn a_type_without_known_handlers_or_a_permission_taken_out_is_named() {
        let types: BTreeSet<String> = ["AWS::Lambda::Url".to_owned()].into();
        let mut policy = deploy_policy(&scope("s"));
        for statement in policy["Statement"].as_array_mut().unwrap() {
            if let Some(actions) = statement["Action"].as_array_mut() {
                actions.retain(|a| a != "lambda:GetFunctionUrlConfig");
            }
        }
        assert_eq!(
            missing(&types, &policy).unwrap(),
            [(
                "AWS::Lambda::Url".to_owned(),
                "lambda:GetFunctionUrlConfig".to_owned()
            )]
        );
        let unknown: BTreeSet<String> = ["AWS::EC2::Instance".to_owned()].into();
        assert!(
            missing(&unknown, &policy)
                .unwrap_err()
                .contains("AWS::EC2::Instance")
        );
    }
}
