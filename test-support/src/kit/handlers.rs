//! The IAM permissions CloudFormation's resource handlers need, per resource type and handler,
//! as the types' resource provider schemas list them (`handlers.<h>.permissions`).
//!
//! Sources: two stored copies of the CloudFormation registry's schemas, cited per constant as
//! - awscc: `hashicorp/terraform-provider-awscc` at f995d4f4139602dbb9044f3108702f2a1837a872
//!   (2026-08-07), `internal/service/cloudformation/schemas/AWS_<Service>_<Type>.json`: the
//!   `Schema` of `aws cloudformation describe-type` in us-east-1, refreshed weekly;
//! - pulumi: `pulumi/pulumi-aws-native` at 43eed3b017fff3b41e0ceeae37ee943afce53275 (2026-08-07),
//!   `aws-cloudformation-schema/aws-<service>-<type>.json`: `CloudformationSchema.zip`, fetched for
//!   us-east-1 and then us-west-2 into one folder (us-west-2's copy wins).
//!
//! They agree, list for list and in order, on every type here but `AWS::Lambda::Function` and
//! `AWS::Logs::LogGroup`, where this file takes the larger, newer pulumi copy. Not used: the
//! `aws-cloudformation-resource-providers-*` repos, whose copies lag (the `-logs` repo still
//! lists `logs:TagLogGroup`/`logs:ListTagsLogGroup` where the registry has `logs:TagResource`/
//! `logs:ListTagsForResource`). Schemas change and differ by region: re-check an absence.
//!
//! `list` is left out. Long lists are grouped under a comment naming the property they seem to
//! serve; the schema does not say which call serves what, so those comments are a reading.
//!
//! When `read` runs: the CloudFormation CLI guide says CloudFormation invokes it "as part of a
//! stack update operation when detailed information about the resource's current state is
//! required"; drift detection, import and Cloud Control `GetResource` call it too. Most create
//! and update handlers read back the resource themselves and list those calls, but not all do
//! (see `read` against `create`), so a deployer should be allowed `read` as well.

use serde_json::Value;

use super::cfn::{Stack, resolve};
use super::{Call, Place};
use crate::iam::Context;

/// Handler permissions noteapp's templates never need: (resource type, permission, the property
/// it serves that they do not set, or why it is no IAM action at all). Matched with `*`
/// wildcards.
pub const NOT_USED: &[(&str, &str, &str)] = &[
    (
        "*",
        "s3:GetObject",
        "a source in S3 (Code.S3Bucket, BodyS3Location, ImportSourceSpecification)",
    ),
    ("*", "s3:getObject", "BodyS3Location"),
    ("*", "s3:GetObjectVersion", "Code.S3ObjectVersion"),
    ("*", "s3:GetObjectMetadata", "ImportSourceSpecification"),
    ("*", "s3:ListBucket", "ImportSourceSpecification"),
    ("*", "dynamodb:ImportTable", "ImportSourceSpecification"),
    ("*", "dynamodb:DescribeImport", "ImportSourceSpecification"),
    (
        "*",
        "dynamodb:BatchWriteItem",
        "ImportSourceSpecification's load",
    ),
    (
        "*",
        "logs:CreateLogStream",
        "ImportSourceSpecification's import log",
    ),
    (
        "*",
        "logs:PutLogEvents",
        "ImportSourceSpecification's import log",
    ),
    (
        "*",
        "logs:DescribeLogStreams",
        "ImportSourceSpecification's import log",
    ),
    (
        "*",
        "kms:*",
        "a customer managed key (KmsKeyArn, SSESpecification.KMSMasterKeyId, KmsKeyId)",
    ),
    ("*", "kinesis:*", "KinesisStreamSpecification"),
    (
        "*",
        "dynamodb:*KinesisStreamingDestination",
        "KinesisStreamSpecification",
    ),
    (
        "*",
        "dynamodb:CreateTableReplica",
        "replicas (AWS::DynamoDB::GlobalTable's)",
    ),
    (
        "*",
        "dynamodb:AssociateTableReplica",
        "replicas (AWS::DynamoDB::GlobalTable's)",
    ),
    (
        "*",
        "iam:CreateServiceLinkedRole",
        "replicas' and contributor insights' service role",
    ),
    ("*", "dynamodb:*ResourcePolicy", "ResourcePolicy"),
    (
        "*",
        "dynamodb:*ContributorInsights",
        "ContributorInsightsSpecification",
    ),
    (
        "*",
        "dynamodb:PutItem",
        "items: the app's, never the deployer's",
    ),
    (
        "*",
        "dynamodb:GetItem",
        "items: the app's, never the deployer's",
    ),
    (
        "*",
        "dynamodb:UpdateItem",
        "items: the app's, never the deployer's",
    ),
    (
        "*",
        "dynamodb:DeleteItem",
        "items: the app's, never the deployer's",
    ),
    (
        "*",
        "dynamodb:Query",
        "items: the app's, never the deployer's",
    ),
    (
        "*",
        "dynamodb:Scan",
        "items: the app's, never the deployer's",
    ),
    ("*", "ec2:*", "VpcConfig"),
    ("*", "elasticfilesystem:*", "FileSystemConfigs"),
    ("*", "s3files:*", "FileSystemConfigs"),
    ("*", "lambda:*CodeSigningConfig", "CodeSigningConfigArn"),
    ("*", "lambda:GetLayerVersion", "Layers"),
    ("*", "lambda:PassCapacityProvider", "CapacityProviderConfig"),
    (
        "*",
        "lambda:*FunctionScalingConfig",
        "CapacityProviderConfig",
    ),
    (
        "*",
        "lambda:*RuntimeManagementConfig",
        "RuntimeManagementConfig (an image function has none)",
    ),
    ("*", "lambda:*FunctionRecursionConfig", "RecursiveLoop"),
    ("*", "iam:*RolePermissionsBoundary", "PermissionsBoundary"),
    ("*", "firehose:*", "log delivery to Firehose"),
    ("*", "logs:*KmsKey", "KmsKeyId"),
    ("*", "logs:*DataProtectionPolicy", "DataProtectionPolicy"),
    ("*", "logs:*IndexPolicy", "FieldIndexPolicies"),
    ("*", "logs:DescribeIndexPolicies", "FieldIndexPolicies"),
    (
        "*",
        "logs:PutBearerTokenAuthentication",
        "BearerTokenAuthenticationEnabled",
    ),
    (
        "*",
        "logs:PutLogGroupDeletionProtection",
        "DeletionProtectionEnabled",
    ),
    ("*", "logs:DeleteResourcePolicy", "ResourcePolicyDocument"),
    (
        "*",
        "logs:DeleteRetentionPolicy",
        "RetentionInDays removed (always set here)",
    ),
    (
        "*",
        "apigateway:*TagResource",
        "not IAM actions (cfn-lint W3037): API Gateway authorizes tagging as PUT and DELETE on \
         /tags/*",
    ),
    (
        "*",
        "s3:REST.PUT.OBJECT",
        "not an IAM action: the log group's schema lists an S3 access-log operation name",
    ),
    (
        "*",
        "iam:DeleteOpenIDConnectProvider",
        "deleting the provider: the CI stack retains it (DeletionPolicy: Retain)",
    ),
    (
        "AWS::DynamoDB::Table",
        "logs:*",
        "ImportSourceSpecification's import log",
    ),
    (
        "AWS::Lambda::Alias",
        "codedeploy:*",
        "UpdatePolicy.CodeDeployLambdaAliasUpdate (noteapp shifts an alias's traffic itself)",
    ),
    (
        "AWS::Lambda::*",
        "lambda:PutProvisionedConcurrencyConfig",
        "ProvisionedConcurrencyConfig",
    ),
    (
        "AWS::Lambda::*",
        "lambda:DeleteProvisionedConcurrencyConfig",
        "ProvisionedConcurrencyConfig",
    ),
    (
        "AWS::SNS::*",
        "iam:GetRole",
        "delivery status logging roles, SubscriptionRoleArn",
    ),
    (
        "AWS::SNS::Topic",
        "sns:PutDataProtectionPolicy",
        "DataProtectionPolicy",
    ),
];

/// Actions IAM authorizes on no resource (`*`).
const RESOURCELESS: &[&str] = &[
    "logs:DescribeLogGroups",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "iam:ListOpenIDConnectProviders",
    "lambda:GetAccountSettings",
];

/// Whether `pattern` (`*` anywhere) matches `text`, ignoring case as IAM compares actions.
pub fn like(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.to_ascii_lowercase(), text.to_ascii_lowercase());
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len()).any(|i| like(tail, &text[head.len() + i..]))
        }
    }
}

/// Whether the templates never need `permission` for a resource of `resource_type`
/// ([`NOT_USED`]).
pub fn not_used(resource_type: &str, permission: &str) -> bool {
    NOT_USED
        .iter()
        .any(|(kind, p, _)| like(kind, resource_type) && like(p, permission))
}

/// One authorization a resource handler needs: for resource `logical_id` of `resource_type`.
#[derive(Debug, Clone)]
pub struct HandlerCall {
    /// The resource's logical ID in the template.
    pub logical_id: String,
    /// Its type, such as `AWS::Lambda::Function`.
    pub resource_type: String,
    /// The permission, on the resource it acts on, made with the deployer's credentials.
    pub call: Call,
}

/// Every authorization CloudFormation's handlers need, with the deployer's credentials, to
/// create, read, update and delete each resource of `template` (CloudFormation's JSON form)
/// deployed as `stack` in `place`: each permission of [`handlers`] but the [`NOT_USED`] ones,
/// on the resource it acts on. A resource type without known handlers is an error.
pub fn authorizations(
    template: &Value,
    stack: &Stack,
    place: &Place,
) -> Result<Vec<HandlerCall>, String> {
    let resources = template["Resources"]
        .as_object()
        .ok_or("the template has no Resources")?;
    let mut out = Vec::new();
    for (id, resource) in resources {
        let kind = resource["Type"].as_str().unwrap_or_default();
        let handler = handlers(kind).ok_or_else(|| {
            format!(
                "{kind} ({id}) is not in test-support/src/kit/handlers.rs: add its handlers' \
                 permissions from its registry schema"
            )
        })?;
        let property = |name: &str| -> Result<Option<String>, String> {
            match resource["Properties"].get(name) {
                Some(value) => Ok(resolve(value, template, stack, place)?
                    .as_str()
                    .map(str::to_owned)),
                None => Ok(None),
            }
        };
        let attribute = |name: &str| {
            stack
                .attributes
                .get(&(id.clone(), name.to_owned()))
                .cloned()
        };
        let reference = stack.refs.get(id).cloned().unwrap_or_default();
        let function = |name: Option<String>| -> Option<String> {
            let name = name?;
            Some(if name.starts_with("arn:") {
                name
            } else {
                place.arn("lambda", &format!("function:{name}"))
            })
        };
        let apigateway = |path: String| {
            format!(
                "arn:{}:apigateway:{}::{path}",
                place.partition, place.region
            )
        };
        let api_child = |kind: &str| -> Result<Option<String>, String> {
            Ok(property("ApiId")?.map(|api| apigateway(format!("/apis/{api}/{kind}/{id}"))))
        };
        // The resource itself, and the role it hands to a service (iam:PassRole), if any.
        let (home, passed): (Option<String>, Option<(String, &str)>) = match kind {
            "AWS::DynamoDB::Table"
            | "AWS::Logs::LogGroup"
            | "AWS::IAM::Role"
            | "AWS::Events::Rule"
            | "AWS::SQS::Queue" => (attribute("Arn"), None),
            "AWS::Lambda::Function" => (
                attribute("Arn"),
                property("Role")?.map(|r| (r, "lambda.amazonaws.com")),
            ),
            "AWS::Lambda::Permission"
            | "AWS::Lambda::EventInvokeConfig"
            | "AWS::Lambda::Alias"
            | "AWS::Lambda::Version" => (function(property("FunctionName")?), None),
            "AWS::Lambda::Url" => (function(property("TargetFunctionArn")?), None),
            "AWS::ApiGatewayV2::Api" => (Some(apigateway(format!("/apis/{reference}"))), None),
            "AWS::ApiGatewayV2::Integration" => (
                api_child("integrations")?,
                property("CredentialsArn")?.map(|r| (r, "apigateway.amazonaws.com")),
            ),
            "AWS::ApiGatewayV2::Route" => (api_child("routes")?, None),
            "AWS::ApiGatewayV2::Stage" => (api_child("stages")?, None),
            "AWS::ApiGateway::Account" => (
                Some(apigateway("/account".into())),
                property("CloudWatchRoleArn")?.map(|r| (r, "apigateway.amazonaws.com")),
            ),
            "AWS::SNS::Topic" => (
                Some(if reference.starts_with("arn:") {
                    reference.clone()
                } else {
                    place.arn("sns", &reference)
                }),
                None,
            ),
            "AWS::SNS::Subscription" => (property("TopicArn")?, None),
            "AWS::CloudWatch::Alarm" | "AWS::CloudWatch::CompositeAlarm" => {
                let name = property("AlarmName")?.unwrap_or(reference.clone());
                (
                    Some(place.arn("cloudwatch", &format!("alarm:{name}"))),
                    None,
                )
            }
            "AWS::IAM::OIDCProvider" => {
                let url = property("Url")?.unwrap_or_default();
                let host = url.trim_start_matches("https://");
                let arn = format!(
                    "arn:{}:iam::{}:oidc-provider/{host}",
                    place.partition, place.account
                );
                (Some(arn), None)
            }
            "AWS::CloudFormation::WaitConditionHandle" => (None, None),
            other => {
                return Err(format!(
                    "the kit does not know the resources of {other} ({id})"
                ));
            }
        };
        let home_service = kind
            .split("::")
            .nth(1)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let permissions = [handler.create, handler.read, handler.update, handler.delete].concat();
        let mut seen = Vec::new();
        for permission in permissions {
            if not_used(kind, permission) || seen.contains(&permission) {
                continue;
            }
            seen.push(permission);
            let service = permission.split(':').next().unwrap_or_default();
            let call = if RESOURCELESS
                .iter()
                .any(|a| a.eq_ignore_ascii_case(permission))
            {
                Call::new(permission, "*")
            } else if permission.eq_ignore_ascii_case("iam:PassRole") {
                // Only with a role to pass; then as the role, for its service.
                let Some((role, to)) = &passed else { continue };
                let mut call = Call::new(permission, role.clone());
                call.context = Context::new().with("iam:PassedToService", *to);
                call
            } else if permission.eq_ignore_ascii_case("iam:GetRole")
                && passed.is_some()
                && kind != "AWS::IAM::Role"
            {
                Call::new(
                    permission,
                    passed.as_ref().map(|(r, _)| r.clone()).unwrap_or_default(),
                )
            } else {
                let same_service = service == home_service
                    || (service == "apigateway" && home_service.starts_with("apigateway"))
                    || (service == "cloudwatch" && home_service == "cloudwatch");
                match (&home, same_service) {
                    (Some(home), true) => Call::new(permission, home.clone()),
                    _ => {
                        return Err(format!(
                            "the kit does not know which resource {kind}'s handlers act on with \
                         {permission}: add it to handlers::authorizations or NOT_USED"
                        ));
                    }
                }
            };
            out.push(HandlerCall {
                logical_id: id.clone(),
                resource_type: kind.to_owned(),
                call,
            });
        }
    }
    Ok(out)
}

/// One handler's permissions.
pub struct Handler {
    /// The permissions (`service:Action`) of the `create` handler.
    pub create: &'static [&'static str],
    /// Those of the `read` handler (see the module doc for when it runs).
    pub read: &'static [&'static str],
    /// Those of the `update` handler.
    pub update: &'static [&'static str],
    /// Those of the `delete` handler.
    pub delete: &'static [&'static str],
}

/// Every resource type [`handlers`] knows, in the order of the constants below.
pub const TYPES: &[&str] = &[
    "AWS::ApiGateway::Account",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Stage",
    "AWS::CloudFormation::WaitConditionHandle",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::CompositeAlarm",
    "AWS::DynamoDB::Table",
    "AWS::Events::Rule",
    "AWS::IAM::OIDCProvider",
    "AWS::IAM::Role",
    "AWS::Lambda::Alias",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::Function",
    "AWS::Lambda::Permission",
    "AWS::Lambda::Url",
    "AWS::Lambda::Version",
    "AWS::Logs::LogGroup",
    "AWS::Scheduler::Schedule",
    "AWS::SNS::Subscription",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
];

/// The handlers of `resource_type`, if known.
pub fn handlers(resource_type: &str) -> Option<&'static Handler> {
    match resource_type {
        "AWS::ApiGateway::Account" => Some(&APIGATEWAY_ACCOUNT),
        "AWS::ApiGatewayV2::Api" => Some(&APIGATEWAYV2_API),
        "AWS::ApiGatewayV2::Integration" => Some(&APIGATEWAYV2_INTEGRATION),
        "AWS::ApiGatewayV2::Route" => Some(&APIGATEWAYV2_ROUTE),
        "AWS::ApiGatewayV2::Stage" => Some(&APIGATEWAYV2_STAGE),
        "AWS::CloudFormation::WaitConditionHandle" => Some(&CLOUDFORMATION_WAITCONDITIONHANDLE),
        "AWS::CloudWatch::Alarm" => Some(&CLOUDWATCH_ALARM),
        "AWS::CloudWatch::CompositeAlarm" => Some(&CLOUDWATCH_COMPOSITEALARM),
        "AWS::DynamoDB::Table" => Some(&DYNAMODB_TABLE),
        "AWS::Events::Rule" => Some(&EVENTS_RULE),
        "AWS::IAM::OIDCProvider" => Some(&IAM_OIDCPROVIDER),
        "AWS::IAM::Role" => Some(&IAM_ROLE),
        "AWS::Lambda::Alias" => Some(&LAMBDA_ALIAS),
        "AWS::Lambda::EventInvokeConfig" => Some(&LAMBDA_EVENTINVOKECONFIG),
        "AWS::Lambda::Function" => Some(&LAMBDA_FUNCTION),
        "AWS::Lambda::Permission" => Some(&LAMBDA_PERMISSION),
        "AWS::Lambda::Url" => Some(&LAMBDA_URL),
        "AWS::Lambda::Version" => Some(&LAMBDA_VERSION),
        "AWS::Logs::LogGroup" => Some(&LOGS_LOGGROUP),
        "AWS::Scheduler::Schedule" => Some(&SCHEDULER_SCHEDULE),
        "AWS::SNS::Subscription" => Some(&SNS_SUBSCRIPTION),
        "AWS::SNS::Topic" => Some(&SNS_TOPIC),
        "AWS::SQS::Queue" => Some(&SQS_QUEUE),
        _ => None,
    }
}

// `typeName` AWS::ApiGateway::Account: awscc `AWS_ApiGateway_Account.json`,
// last changed in 8489577fc261624d53246cc031b4922dbcaeb309; the same lists in pulumi.
// `iam:GetRole` and `iam:PassRole` are for `CloudWatchRoleArn`. Delete only PATCHes the account
// setting (this stack keeps the resource: `DeletionPolicy: Retain`).
#[rustfmt::skip]
const APIGATEWAY_ACCOUNT: Handler = Handler {
    create: &["apigateway:PATCH", "iam:GetRole", "iam:PassRole"],
    read: &["apigateway:GET"],
    update: &["apigateway:PATCH", "iam:GetRole", "iam:PassRole"],
    delete: &["apigateway:PATCH"],
};

// `typeName` AWS::ApiGatewayV2::Api: awscc `AWS_ApiGatewayV2_Api.json`,
// last changed in 9965232222197def1b7beced4104641d0b576292; the same lists in pulumi.
// `s3:getObject` (sic, lowercase g) is for `BodyS3Location`. Create lists no `apigateway:GET`,
// though read needs it.
#[rustfmt::skip]
const APIGATEWAYV2_API: Handler = Handler {
    create: &["apigateway:POST", "apigateway:PUT", "s3:getObject"],
    read: &["apigateway:GET", "s3:getObject"],
    update: &[
        "apigateway:PATCH", "apigateway:GET", "apigateway:PUT", "apigateway:POST",
        "apigateway:DELETE", "s3:getObject",
    ],
    delete: &["apigateway:GET", "apigateway:DELETE", "s3:getObject"],
};

// `typeName` AWS::ApiGatewayV2::Integration: awscc `AWS_ApiGatewayV2_Integration.json`,
// last changed in 4c0afd54707b0d5cd5b408148118f662c328581f; the same lists in pulumi.
// `iam:PassRole` is for `CredentialsArn`.
#[rustfmt::skip]
const APIGATEWAYV2_INTEGRATION: Handler = Handler {
    create: &["apigateway:POST", "iam:PassRole"],
    read: &["apigateway:GET"],
    update: &["apigateway:PATCH", "apigateway:GET", "apigateway:PUT", "iam:PassRole"],
    delete: &["apigateway:GET", "apigateway:DELETE"],
};

// `typeName` AWS::ApiGatewayV2::Route: awscc `AWS_ApiGatewayV2_Route.json`,
// last changed in 5647b075ed21cb7667f292fb092d73ac1f10c573; the same lists in pulumi.
#[rustfmt::skip]
const APIGATEWAYV2_ROUTE: Handler = Handler {
    create: &["apigateway:POST"],
    read: &["apigateway:GET"],
    update: &["apigateway:PATCH", "apigateway:GET", "apigateway:PUT"],
    delete: &["apigateway:GET", "apigateway:DELETE"],
};

// `typeName` AWS::ApiGatewayV2::Stage: awscc `AWS_ApiGatewayV2_Stage.json`,
// last changed in 9965232222197def1b7beced4104641d0b576292; the same lists in pulumi.
// No `logs:*` here, yet API Gateway's own docs (developerguide/http-api-logging.html) say the
// caller needs logs:CreateLogDelivery, PutResourcePolicy, UpdateLogDelivery, DeleteLogDelivery,
// CreateLogGroup, DescribeResourcePolicies, GetLogDelivery, ListLogDeliveries to turn on access
// logs for an HTTP API stage; a WebSocket stage's access logs instead need the account's
// CloudWatch role (AWS::ApiGateway::Account). Create and update do not list `apigateway:GET`.
#[rustfmt::skip]
const APIGATEWAYV2_STAGE: Handler = Handler {
    create: &["apigateway:POST", "apigateway:TagResource"],
    read: &["apigateway:GET"],
    update: &[
        "apigateway:PATCH", "apigateway:POST", "apigateway:DELETE", "apigateway:TagResource",
        "apigateway:UntagResource",
    ],
    delete: &["apigateway:DELETE"],
};

// `typeName` AWS::CloudFormation::WaitConditionHandle: nothing to source. Its pulumi schema,
// `aws-cloudformation-waitconditionhandle.json`, last changed in
// 8666c61cdf5257ce9abcbcaf0bbe28f84e1d9e4f, has no `handlers`, and
// awscc has none (Cloud Control cannot manage the type): CloudFormation
// implements it itself. Inferred: it makes no AWS call with the caller's credentials (the
// handle is a presigned URL CloudFormation signs), so every list is empty.
const CLOUDFORMATION_WAITCONDITIONHANDLE: Handler = Handler {
    create: &[],
    read: &[],
    update: &[],
    delete: &[],
};

// `typeName` AWS::CloudWatch::Alarm: awscc `AWS_CloudWatch_Alarm.json`,
// last changed in d3c4c26779126990ad51a17356bd855fa93b2d80; the same lists in pulumi.
#[rustfmt::skip]
const CLOUDWATCH_ALARM: Handler = Handler {
    create: &["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:TagResource"],
    read: &["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"],
    update: &[
        "cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:TagResource",
        "cloudwatch:UntagResource",
    ],
    delete: &["cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms"],
};

// `typeName` AWS::CloudWatch::CompositeAlarm: awscc `AWS_CloudWatch_CompositeAlarm.json`,
// last changed in faaf1bdd31a3b909ccc43dfcb414d5937389f64f; the same lists in pulumi.
#[rustfmt::skip]
const CLOUDWATCH_COMPOSITEALARM: Handler = Handler {
    create: &[
        "cloudwatch:DescribeAlarms", "cloudwatch:PutCompositeAlarm", "cloudwatch:TagResource",
    ],
    read: &["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"],
    update: &[
        "cloudwatch:DescribeAlarms", "cloudwatch:PutCompositeAlarm", "cloudwatch:TagResource",
        "cloudwatch:UntagResource",
    ],
    delete: &["cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
};

// `typeName` AWS::DynamoDB::Table: awscc `AWS_DynamoDB_Table.json`,
// last changed in 2304a95cb59114181d8cf1610627f303d3942557; the same lists in pulumi.
// Create and update run up to 720 minutes (`timeoutInMinutes`).
#[rustfmt::skip]
const DYNAMODB_TABLE: Handler = Handler {
    create: &[
        // the table, its settings and tags
        "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable",
        "dynamodb:TagResource", "dynamodb:ListTagsOfResource", "dynamodb:DescribeTimeToLive",
        "dynamodb:UpdateTimeToLive", "dynamodb:DescribeContinuousBackups",
        "dynamodb:UpdateContinuousBackups", "dynamodb:DescribeContributorInsights",
        "dynamodb:UpdateContributorInsights", "dynamodb:GetResourcePolicy",
        "dynamodb:PutResourcePolicy",
        // ImportSourceSpecification (import from S3, with its CloudWatch Logs)
        "dynamodb:ImportTable", "dynamodb:DescribeImport", "s3:GetObject", "s3:GetObjectMetadata",
        "s3:ListBucket", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups",
        "logs:DescribeLogStreams", "logs:PutLogEvents", "logs:PutRetentionPolicy",
        // KinesisStreamSpecification
        "dynamodb:EnableKinesisStreamingDestination", "dynamodb:DisableKinesisStreamingDestination",
        "dynamodb:DescribeKinesisStreamingDestination", "kinesis:DescribeStream",
        "kinesis:PutRecords",
        // replicas (global tables)
        "dynamodb:CreateTableReplica", "dynamodb:AssociateTableReplica", "dynamodb:Scan",
        "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:GetItem",
        "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "iam:CreateServiceLinkedRole",
        // SSESpecification with a KMS key
        "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:ListAliases", "kms:Encrypt",
        "kms:RevokeGrant",
    ],
    read: &[
        "dynamodb:DescribeTable", "dynamodb:DescribeContinuousBackups",
        "dynamodb:DescribeContributorInsights", "dynamodb:DescribeKinesisStreamingDestination",
        "dynamodb:ListTagsOfResource", "dynamodb:GetResourcePolicy", "dynamodb:DescribeTimeToLive",
    ],
    update: &[
        // the table, its settings and tags
        "dynamodb:UpdateTable", "dynamodb:DescribeTable", "dynamodb:TagResource",
        "dynamodb:UntagResource", "dynamodb:ListTagsOfResource", "dynamodb:DescribeTimeToLive",
        "dynamodb:UpdateTimeToLive", "dynamodb:DescribeContinuousBackups",
        "dynamodb:UpdateContinuousBackups", "dynamodb:DescribeContributorInsights",
        "dynamodb:UpdateContributorInsights", "dynamodb:GetResourcePolicy",
        "dynamodb:PutResourcePolicy", "dynamodb:DeleteResourcePolicy", "dynamodb:CreateTable",
        // KinesisStreamSpecification
        "dynamodb:EnableKinesisStreamingDestination", "dynamodb:DisableKinesisStreamingDestination",
        "dynamodb:UpdateKinesisStreamingDestination",
        "dynamodb:DescribeKinesisStreamingDestination", "kinesis:DescribeStream",
        "kinesis:PutRecords",
        // replicas (global tables)
        "dynamodb:CreateTableReplica", "dynamodb:AssociateTableReplica", "dynamodb:Scan",
        "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:GetItem",
        "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "iam:CreateServiceLinkedRole",
        // SSESpecification with a KMS key
        "kms:CreateGrant", "kms:DescribeKey", "kms:ListAliases", "kms:RevokeGrant",
    ],
    delete: &["dynamodb:DeleteTable", "dynamodb:DescribeTable"],
};

// `typeName` AWS::Events::Rule: awscc `AWS_Events_Rule.json`,
// last changed in b3bc230bf17404b5c5c64305728cb969b1919126; the same lists in pulumi.
// `iam:PassRole` (for a target's or the rule's `RoleArn`) is listed in every handler, read and
// delete included.
#[rustfmt::skip]
const EVENTS_RULE: Handler = Handler {
    create: &[
        "iam:PassRole", "events:DescribeRule", "events:PutRule", "events:PutTargets",
        "events:TagResource",
    ],
    read: &[
        "iam:PassRole", "events:DescribeRule", "events:ListTargetsByRule",
        "events:ListTagsForResource",
    ],
    update: &[
        "iam:PassRole", "events:DescribeRule", "events:PutRule", "events:RemoveTargets",
        "events:PutTargets", "events:UntagResource", "events:TagResource",
    ],
    delete: &[
        "iam:PassRole", "events:DescribeRule", "events:DeleteRule", "events:RemoveTargets",
        "events:ListTargetsByRule",
    ],
};

// `typeName` AWS::IAM::OIDCProvider: awscc `AWS_IAM_OIDCProvider.json`,
// last changed in fe5484dd5fe51b0c52bf6e4ca49160f7b32a6c00; the same lists in pulumi.
#[rustfmt::skip]
const IAM_OIDCPROVIDER: Handler = Handler {
    create: &[
        "iam:CreateOpenIDConnectProvider", "iam:TagOpenIDConnectProvider",
        "iam:GetOpenIDConnectProvider",
    ],
    read: &["iam:GetOpenIDConnectProvider"],
    update: &[
        "iam:UpdateOpenIDConnectProviderThumbprint", "iam:RemoveClientIDFromOpenIDConnectProvider",
        "iam:AddClientIDToOpenIDConnectProvider", "iam:GetOpenIDConnectProvider",
        "iam:TagOpenIDConnectProvider", "iam:UntagOpenIDConnectProvider",
        "iam:ListOpenIDConnectProviderTags",
    ],
    delete: &["iam:DeleteOpenIDConnectProvider"],
};

// `typeName` AWS::IAM::Role: awscc `AWS_IAM_Role.json`,
// last changed in 6fea30c6b7a111cd90694e6b8cc67bf9d468145d; the same lists in pulumi.
// The schema's `tagging.permissions` also name `iam:ListRoleTags`, which no handler lists.
#[rustfmt::skip]
const IAM_ROLE: Handler = Handler {
    create: &[
        "iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:GetRolePolicy",
        "iam:TagRole", "iam:UntagRole", "iam:GetRole",
    ],
    read: &[
        "iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:GetRolePolicy",
    ],
    update: &[
        "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy",
        "iam:DetachRolePolicy", "iam:AttachRolePolicy", "iam:DeleteRolePermissionsBoundary",
        "iam:PutRolePermissionsBoundary", "iam:DeleteRolePolicy", "iam:PutRolePolicy",
        "iam:TagRole", "iam:UntagRole",
    ],
    delete: &[
        "iam:DeleteRole", "iam:DetachRolePolicy", "iam:DeleteRolePolicy", "iam:GetRole",
        "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:TagRole", "iam:UntagRole",
    ],
};

// `typeName` AWS::Lambda::Alias: awscc `AWS_Lambda_Alias.json`,
// last changed in b3bc230bf17404b5c5c64305728cb969b1919126; the same lists in pulumi.
// The `codedeploy:*` calls in update serve a CodeDeploy traffic shift (an `UpdatePolicy`).
#[rustfmt::skip]
const LAMBDA_ALIAS: Handler = Handler {
    create: &[
        "lambda:CreateAlias", "lambda:PutProvisionedConcurrencyConfig",
        "lambda:GetProvisionedConcurrencyConfig",
    ],
    read: &["lambda:GetAlias", "lambda:GetProvisionedConcurrencyConfig"],
    update: &[
        "lambda:UpdateAlias", "lambda:GetAlias", "lambda:PutProvisionedConcurrencyConfig",
        "lambda:DeleteProvisionedConcurrencyConfig", "lambda:GetProvisionedConcurrencyConfig",
        "codedeploy:CreateDeployment", "codedeploy:GetDeployment", "codedeploy:GetDeploymentGroup",
        "codedeploy:GetDeploymentConfig", "codedeploy:StopDeployment",
    ],
    delete: &["lambda:DeleteAlias", "lambda:GetAlias"],
};

// `typeName` AWS::Lambda::EventInvokeConfig: awscc `AWS_Lambda_EventInvokeConfig.json`,
// last changed in f6b79b69d6b810106c1702d55c285938f4a4e922; the same lists in pulumi.
#[rustfmt::skip]
const LAMBDA_EVENTINVOKECONFIG: Handler = Handler {
    create: &["lambda:PutFunctionEventInvokeConfig"],
    read: &["lambda:GetFunctionEventInvokeConfig"],
    update: &["lambda:UpdateFunctionEventInvokeConfig"],
    delete: &["lambda:DeleteFunctionEventInvokeConfig"],
};

// `typeName` AWS::Lambda::Function: pulumi `aws-lambda-function.json`, last changed in
// 7c5820010ff519447133c14290c8a9bb0aa78782.
// awscc's us-east-1 copy (last changed in 8b039225c60f953b359bbf0bdad94f1f16d148a8) is the
// same but for `kms:DescribeKey` in create and update (added 2026-06-17, dropped 2026-07-01).
// Not listed, though an image function (PackageType: Image) needs them: ECR pulls. Inferred
// from re:Post knowledge-center/lambda-ecr-image: in one account the repository policy must
// grant `lambda.amazonaws.com` `ecr:BatchGetImage` and `ecr:GetDownloadUrlForLayer`; across
// accounts the caller needs them too. When the policy lacks them Lambda writes it itself
// (seen in aws/aws-parallelcluster-ui PR #373), which reportedly takes the caller's
// `ecr:GetRepositoryPolicy` and `ecr:SetRepositoryPolicy` (not confirmed in AWS docs here).
// Nor any `logs:*` for LoggingConfig.
#[rustfmt::skip]
const LAMBDA_FUNCTION: Handler = Handler {
    create: &[
        // the function, its concurrency and tags
        "lambda:CreateFunction", "lambda:GetFunction", "lambda:PutFunctionConcurrency",
        "lambda:TagResource",
        // the execution role
        "iam:PassRole",
        // Code.S3Bucket/S3Key (.zip from S3)
        "s3:GetObject", "s3:GetObjectVersion",
        // VpcConfig
        "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs",
        // FileSystemConfigs (EFS, S3 Files)
        "elasticfilesystem:DescribeMountTargets", "s3files:ListMountTargets",
        // KmsKeyArn
        "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey",
        // CodeSigningConfigArn, Layers
        "lambda:GetCodeSigningConfig", "lambda:GetFunctionCodeSigningConfig",
        "lambda:GetLayerVersion",
        // RuntimeManagementConfig, RecursiveLoop
        "lambda:GetRuntimeManagementConfig", "lambda:PutRuntimeManagementConfig",
        "lambda:PutFunctionRecursionConfig", "lambda:GetFunctionRecursionConfig",
        // FunctionScalingConfig, CapacityProviderConfig
        "lambda:PutFunctionScalingConfig", "lambda:PassCapacityProvider",
    ],
    read: &[
        "lambda:GetFunction", "kms:Decrypt", "lambda:GetFunctionCodeSigningConfig",
        "lambda:GetFunctionRecursionConfig", "lambda:GetRuntimeManagementConfig",
        "lambda:GetFunctionScalingConfig",
    ],
    update: &[
        // the function, its concurrency and tags
        "lambda:UpdateFunctionConfiguration", "lambda:UpdateFunctionCode", "lambda:GetFunction",
        "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency", "lambda:TagResource",
        "lambda:UntagResource",
        // the execution role
        "iam:PassRole",
        // Code.S3Bucket/S3Key (.zip from S3)
        "s3:GetObject", "s3:GetObjectVersion",
        // VpcConfig
        "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs",
        // FileSystemConfigs (EFS, S3 Files)
        "elasticfilesystem:DescribeMountTargets", "s3files:ListMountTargets",
        // KmsKeyArn
        "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey",
        // CodeSigningConfigArn
        "lambda:PutFunctionCodeSigningConfig", "lambda:DeleteFunctionCodeSigningConfig",
        "lambda:GetCodeSigningConfig", "lambda:GetFunctionCodeSigningConfig",
        // RuntimeManagementConfig, RecursiveLoop
        "lambda:GetRuntimeManagementConfig", "lambda:PutRuntimeManagementConfig",
        "lambda:PutFunctionRecursionConfig", "lambda:GetFunctionRecursionConfig",
        // FunctionScalingConfig, CapacityProviderConfig, PublishToLatestPublished
        "lambda:PutFunctionScalingConfig", "lambda:PublishVersion", "lambda:PassCapacityProvider",
    ],
    delete: &["lambda:DeleteFunction", "lambda:GetFunction", "ec2:DescribeNetworkInterfaces"],
};

// `typeName` AWS::Lambda::Permission: awscc `AWS_Lambda_Permission.json`,
// last changed in d3c4c26779126990ad51a17356bd855fa93b2d80; the same lists in pulumi.
// The schema has no update handler (every property is create-only, so a change replaces the
// permission: create the new one, then delete the old), hence the empty `update`.
#[rustfmt::skip]
const LAMBDA_PERMISSION: Handler = Handler {
    create: &["lambda:AddPermission"],
    read: &["lambda:GetPolicy"],
    update: &[],
    delete: &["lambda:RemovePermission"],
};

// `typeName` AWS::Lambda::Url: awscc `AWS_Lambda_Url.json`,
// last changed in 23377ba0313cf99cdfd0f14dc870ef73d15b2d2c; the same lists in pulumi.
#[rustfmt::skip]
const LAMBDA_URL: Handler = Handler {
    create: &["lambda:CreateFunctionUrlConfig"],
    read: &["lambda:GetFunctionUrlConfig"],
    update: &["lambda:UpdateFunctionUrlConfig"],
    delete: &["lambda:DeleteFunctionUrlConfig"],
};

// `typeName` AWS::Lambda::Version: awscc `AWS_Lambda_Version.json`,
// last changed in 5eed2741b6a82f4dc3d38f4ae430e4e5a0af7883; the same lists in pulumi.
// Delete removes the version with `lambda:DeleteFunction` (qualified).
#[rustfmt::skip]
const LAMBDA_VERSION: Handler = Handler {
    create: &[
        "lambda:PublishVersion", "lambda:GetFunctionConfiguration",
        "lambda:PutProvisionedConcurrencyConfig", "lambda:GetProvisionedConcurrencyConfig",
        "lambda:PutRuntimeManagementConfig", "lambda:GetRuntimeManagementConfig",
        "lambda:PutFunctionScalingConfig", "lambda:ListVersionsByFunction",
    ],
    read: &[
        "lambda:GetFunctionConfiguration", "lambda:GetProvisionedConcurrencyConfig",
        "lambda:GetRuntimeManagementConfig", "lambda:GetFunctionScalingConfig",
    ],
    update: &["lambda:GetFunctionConfiguration", "lambda:PutFunctionScalingConfig"],
    delete: &["lambda:GetFunctionConfiguration", "lambda:DeleteFunction"],
};

// `typeName` AWS::Logs::LogGroup: pulumi `aws-logs-loggroup.json`, last changed in
// 8adb9c3620f080b60b2423e67fadf55ebda1b64b.
// awscc's copy (last changed in 59dc56c5f39db5891ec7d9a35e11c52cf5f503da, 2024-04-04) is an
// older schema without FieldIndexPolicies, ResourcePolicyDocument, DeletionProtectionEnabled
// and BearerTokenAuthenticationEnabled, and without their calls.
#[rustfmt::skip]
const LOGS_LOGGROUP: Handler = Handler {
    create: &[
        // the group, its retention and tags
        "logs:DescribeLogGroups", "logs:CreateLogGroup", "logs:PutRetentionPolicy",
        "logs:TagResource",
        // DataProtectionPolicy and its findings' destinations (`s3:REST.PUT.OBJECT` is not IAM)
        "logs:GetDataProtectionPolicy", "logs:PutDataProtectionPolicy", "logs:CreateLogDelivery",
        "s3:REST.PUT.OBJECT", "firehose:TagDeliveryStream",
        // ResourcePolicyDocument
        "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
        // FieldIndexPolicies, BearerTokenAuthenticationEnabled
        "logs:PutIndexPolicy", "logs:DescribeIndexPolicies", "logs:PutBearerTokenAuthentication",
    ],
    read: &[
        "logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:GetDataProtectionPolicy",
        "logs:DescribeIndexPolicies", "logs:DescribeResourcePolicies",
    ],
    update: &[
        // the group, its key, retention and tags
        "logs:DescribeLogGroups", "logs:AssociateKmsKey", "logs:DisassociateKmsKey",
        "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy", "logs:TagResource",
        "logs:UntagResource", "logs:ListTagsForResource",
        // DataProtectionPolicy (as in create)
        "logs:GetDataProtectionPolicy", "logs:PutDataProtectionPolicy", "logs:CreateLogDelivery",
        "s3:REST.PUT.OBJECT", "firehose:TagDeliveryStream",
        // ResourcePolicyDocument
        "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DeleteResourcePolicy",
        // FieldIndexPolicies, DeletionProtectionEnabled, BearerTokenAuthenticationEnabled
        "logs:PutIndexPolicy", "logs:DeleteIndexPolicy", "logs:PutLogGroupDeletionProtection",
        "logs:PutBearerTokenAuthentication",
    ],
    delete: &["logs:DescribeLogGroups", "logs:DeleteLogGroup", "logs:DeleteDataProtectionPolicy"],
};

// `typeName` AWS::Scheduler::Schedule: awscc `AWS_Scheduler_Schedule.json`,
// last changed in e1c3ea6770101b20833c49c791c30c0ebfb43cb8; the same lists in pulumi.
// `iam:PassRole` is for the target's `RoleArn`.
#[rustfmt::skip]
const SCHEDULER_SCHEDULE: Handler = Handler {
    create: &["scheduler:CreateSchedule", "scheduler:GetSchedule", "iam:PassRole"],
    read: &["scheduler:GetSchedule"],
    update: &["scheduler:UpdateSchedule", "scheduler:GetSchedule", "iam:PassRole"],
    delete: &["scheduler:DeleteSchedule", "scheduler:GetSchedule"],
};

// `typeName` AWS::SNS::Subscription: awscc `AWS_SNS_Subscription.json`,
// last changed in a106a40feb8d0c53fbd710938f6fad202fce0bb5; the same lists in pulumi.
// `iam:GetRole`/`iam:PassRole` are for `SubscriptionRoleArn` (Firehose endpoints).
#[rustfmt::skip]
const SNS_SUBSCRIPTION: Handler = Handler {
    create: &["iam:GetRole", "iam:PassRole", "sns:Subscribe"],
    read: &["sns:GetSubscriptionAttributes"],
    update: &["iam:GetRole", "iam:PassRole", "sns:SetSubscriptionAttributes"],
    delete: &["sns:Unsubscribe", "sns:GetSubscriptionAttributes"],
};

// `typeName` AWS::SNS::Topic: awscc `AWS_SNS_Topic.json`,
// last changed in d3c4c26779126990ad51a17356bd855fa93b2d80; the same lists in pulumi.
// `sns:Subscribe` is for inline `Subscription`; `iam:GetRole`/`iam:PassRole` for the delivery
// status logging roles.
#[rustfmt::skip]
const SNS_TOPIC: Handler = Handler {
    create: &[
        "sns:CreateTopic", "sns:TagResource", "sns:Subscribe", "sns:GetTopicAttributes",
        "sns:PutDataProtectionPolicy", "iam:GetRole", "iam:PassRole",
    ],
    read: &[
        "sns:GetTopicAttributes", "sns:ListTagsForResource", "sns:ListSubscriptionsByTopic",
        "sns:GetDataProtectionPolicy",
    ],
    update: &[
        "sns:SetTopicAttributes", "sns:TagResource", "sns:UntagResource", "sns:Subscribe",
        "sns:Unsubscribe", "sns:GetTopicAttributes", "sns:ListTagsForResource",
        "sns:ListSubscriptionsByTopic", "sns:GetDataProtectionPolicy",
        "sns:PutDataProtectionPolicy", "iam:GetRole", "iam:PassRole",
    ],
    delete: &["sns:GetTopicAttributes", "sns:DeleteTopic"],
};

// `typeName` AWS::SQS::Queue: awscc `AWS_SQS_Queue.json`,
// last changed in 8581774de34fd9b8358dd8c93be433856b007fe4; the same lists in pulumi.
#[rustfmt::skip]
const SQS_QUEUE: Handler = Handler {
    create: &[
        "sqs:CreateQueue", "sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ListQueueTags",
        "sqs:TagQueue",
    ],
    read: &["sqs:GetQueueAttributes", "sqs:ListQueueTags"],
    update: &[
        "sqs:SetQueueAttributes", "sqs:GetQueueAttributes", "sqs:ListQueueTags", "sqs:TagQueue",
        "sqs:UntagQueue",
    ],
    delete: &["sqs:DeleteQueue", "sqs:GetQueueAttributes"],
};
