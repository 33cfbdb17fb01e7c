//! The deploy policy: everything a deploy of one environment calls, and what CloudFormation's
//! resource handlers call for it with the caller's credentials, scoped to this stack, this
//! repository, this region and this account. The release resources: each function's versions
//! and `live` alias, the stack's alarms (`alarm:<stack>-*`) and its operators' SNS topic
//! (`<stack>-operators`) with its subscriptions; the guard's rules are `rule/<stack>-*` like
//! the cleanup schedule.

use serde_json::{Value, json};

use super::{ROLE_UPKEEP, Scope, statement};

/// The policy document for `scope`.
pub fn deploy_policy(scope: &Scope) -> Value {
    let p = scope.partition();
    let (region, account, stack) = (&scope.region, &scope.account, &scope.stack);
    let stack_arn = scope.arn("cloudformation", &format!("stack/{stack}/*"));
    let roles = format!("arn:{p}:iam::{account}:role/{stack}-*");
    let functions = scope.arn("lambda", &format!("function:{stack}-*"));
    let tables = scope.arn("dynamodb", &format!("table/{stack}-*"));
    let log_groups = [
        format!("/aws/lambda/{stack}-*"),
        format!("/aws/apigateway/{stack}-*"),
    ];
    let bucket = crate::release::bucket_name(account, region);
    let apigateway = |path: &str| format!("arn:{p}:apigateway:{region}::{path}");
    let mut pass_role = statement("PassTheStacksRoles", &["iam:PassRole"], vec![roles.clone()]);
    pass_role["Condition"] = json!({
        "StringEquals": {"iam:PassedToService": ["lambda.amazonaws.com", "apigateway.amazonaws.com"]}
    });
    json!({
        "Version": "2012-10-17",
        "Statement": [
            statement(
                "TheStack",
                &[
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackEvents",
                    "cloudformation:DescribeStackResources",
                    "cloudformation:ListStackResources",
                    "cloudformation:CreateChangeSet",
                    "cloudformation:DescribeChangeSet",
                    "cloudformation:ExecuteChangeSet",
                    "cloudformation:DeleteChangeSet",
                    "cloudformation:ListChangeSets",
                    "cloudformation:DeleteStack",
                    "cloudformation:GetTemplate",
                    "cloudformation:GetStackPolicy",
                    "cloudformation:SetStackPolicy",
                    "cloudformation:UpdateTerminationProtection",
                    "cloudformation:TagResource",
                    "cloudformation:UntagResource",
                    "cloudformation:DetectStackDrift",
                    "cloudformation:DetectStackResourceDrift",
                    "cloudformation:DescribeStackResourceDrifts",
                    "cloudformation:ContinueUpdateRollback",
                    "cloudformation:RollbackStack",
                ],
                vec![stack_arn],
            ),
            statement(
                "DriftDetectionStatus",
                &["cloudformation:DescribeStackDriftDetectionStatus"],
                vec!["*".into()],
            ),
            statement("EcrSignIn", &["ecr:GetAuthorizationToken"], vec!["*".into()]),
            statement(
                "TheRepository",
                &[
                    "ecr:DescribeRepositories",
                    "ecr:CreateRepository",
                    "ecr:PutImageScanningConfiguration",
                    "ecr:GetLifecyclePolicy",
                    "ecr:PutLifecyclePolicy",
                    "ecr:GetRepositoryPolicy",
                    "ecr:SetRepositoryPolicy",
                    "ecr:DescribeImages",
                    "ecr:BatchGetImage",
                    "ecr:PutImage",
                    "ecr:BatchDeleteImage",
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:InitiateLayerUpload",
                    "ecr:UploadLayerPart",
                    "ecr:CompleteLayerUpload",
                    "ecr:GetDownloadUrlForLayer",
                ],
                vec![scope.arn("ecr", &format!("repository/{}", scope.repository))],
            ),
            statement(
                "TheStacksRoles",
                &[
                    ROLE_UPKEEP.as_slice(),
                    &[
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:ListRoleTags",
                    ],
                ]
                .concat(),
                vec![roles],
            ),
            pass_role,
            statement(
                "TheStacksFunctions",
                &[
                    "lambda:CreateFunction",
                    "lambda:DeleteFunction",
                    "lambda:GetFunction",
                    "lambda:GetFunctionConfiguration",
                    "lambda:UpdateFunctionCode",
                    "lambda:UpdateFunctionConfiguration",
                    "lambda:PublishVersion",
                    "lambda:ListTags",
                    "lambda:TagResource",
                    "lambda:UntagResource",
                    "lambda:AddPermission",
                    "lambda:RemovePermission",
                    "lambda:GetPolicy",
                    "lambda:CreateFunctionUrlConfig",
                    "lambda:GetFunctionUrlConfig",
                    "lambda:UpdateFunctionUrlConfig",
                    "lambda:DeleteFunctionUrlConfig",
                    "lambda:PutFunctionEventInvokeConfig",
                    "lambda:GetFunctionEventInvokeConfig",
                    "lambda:UpdateFunctionEventInvokeConfig",
                    "lambda:DeleteFunctionEventInvokeConfig",
                    "lambda:PutFunctionConcurrency",
                    "lambda:DeleteFunctionConcurrency",
                    "lambda:GetRuntimeManagementConfig",
                    "lambda:PutRuntimeManagementConfig",
                    "lambda:GetFunctionCodeSigningConfig",
                    "lambda:GetFunctionRecursionConfig",
                    "lambda:PutFunctionRecursionConfig",
                    // A version per release and the live alias (`noteapp status` reads it).
                    "lambda:ListVersionsByFunction",
                    "lambda:GetProvisionedConcurrencyConfig",
                    "lambda:CreateAlias",
                    "lambda:GetAlias",
                    "lambda:UpdateAlias",
                    "lambda:DeleteAlias",
                    "lambda:ListAliases",
                ],
                vec![functions.clone(), format!("{functions}:*")],
            ),
            statement(
                "AccountConcurrency",
                &["lambda:GetAccountSettings"],
                vec!["*".into()],
            ),
            statement(
                "TheStacksTables",
                &[
                    "dynamodb:CreateTable",
                    "dynamodb:DeleteTable",
                    "dynamodb:DescribeTable",
                    "dynamodb:UpdateTable",
                    "dynamodb:DescribeTimeToLive",
                    "dynamodb:UpdateTimeToLive",
                    "dynamodb:DescribeContinuousBackups",
                    "dynamodb:UpdateContinuousBackups",
                    "dynamodb:DescribeContributorInsights",
                    "dynamodb:DescribeKinesisStreamingDestination",
                    "dynamodb:GetResourcePolicy",
                    "dynamodb:ListTagsOfResource",
                    "dynamodb:TagResource",
                    "dynamodb:UntagResource",
                ],
                vec![tables.clone(), format!("{tables}/index/*")],
            ),
            statement("FindKeptTables", &["dynamodb:ListTables"], vec!["*".into()]),
            statement(
                "TheStacksLogGroups",
                &[
                    "logs:CreateLogGroup",
                    "logs:DeleteLogGroup",
                    "logs:PutRetentionPolicy",
                    "logs:DeleteRetentionPolicy",
                    "logs:TagLogGroup",
                    "logs:UntagLogGroup",
                    "logs:ListTagsLogGroup",
                    "logs:TagResource",
                    "logs:UntagResource",
                    "logs:ListTagsForResource",
                    "logs:GetDataProtectionPolicy",
                    "logs:FilterLogEvents",
                    "logs:StartLiveTail",
                ],
                log_groups
                    .iter()
                    .flat_map(|g| {
                        let arn = scope.arn("logs", &format!("log-group:{g}"));
                        [arn.clone(), format!("{arn}:*")]
                    })
                    .collect(),
            ),
            statement(
                "LogGroupsAndAccessLogDeliveries",
                &[
                    "logs:DescribeLogGroups",
                    "logs:CreateLogDelivery",
                    "logs:GetLogDelivery",
                    "logs:UpdateLogDelivery",
                    "logs:DeleteLogDelivery",
                    "logs:ListLogDeliveries",
                    "logs:PutResourcePolicy",
                    "logs:DescribeResourcePolicies",
                ],
                vec!["*".into()],
            ),
            statement(
                "TheStacksApis",
                &[
                    "apigateway:GET",
                    "apigateway:POST",
                    "apigateway:PUT",
                    "apigateway:PATCH",
                    "apigateway:DELETE",
                ],
                vec![apigateway("/apis"), apigateway("/apis/*"), apigateway("/tags/*")],
            ),
            statement(
                "ApiGatewayLogRoleSetting",
                &["apigateway:GET", "apigateway:PATCH"],
                vec![apigateway("/account")],
            ),
            // The smoke check's broadcast (addressed to nobody) through the IAM-authorized
            // route. API Gateway names an API by an id it picks at creation, which no policy
            // written beforehand can know: the route, method and stage are what scope it.
            statement(
                "SmokeCheckBroadcast",
                &["execute-api:Invoke"],
                vec![scope.arn("execute-api", "*/$default/POST/websocket/broadcast")],
            ),
            // Each release's template, kept for rollbacks and read by CloudFormation when it
            // is too large to send inline (`aws::s3`); the bucket is the account's, made by
            // the first deploy.
            statement(
                "TheReleasesBucket",
                &[
                    "s3:ListBucket",
                    "s3:CreateBucket",
                    "s3:PutBucketPublicAccessBlock",
                    "s3:PutEncryptionConfiguration",
                    "s3:PutBucketPolicy",
                ],
                vec![format!("arn:{p}:s3:::{bucket}")],
            ),
            statement(
                "TheStacksReleaseTemplates",
                &["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                vec![format!("arn:{p}:s3:::{bucket}/{stack}/releases/*")],
            ),
            statement(
                "TheFailedBroadcastsQueue",
                &[
                    "sqs:CreateQueue",
                    "sqs:DeleteQueue",
                    "sqs:GetQueueUrl",
                    "sqs:GetQueueAttributes",
                    "sqs:SetQueueAttributes",
                    "sqs:ListQueueTags",
                    "sqs:TagQueue",
                    "sqs:UntagQueue",
                ],
                vec![scope.arn("sqs", &format!("{stack}-*"))],
            ),
            statement(
                "TheStacksAlarms",
                &[
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:PutCompositeAlarm",
                    "cloudwatch:DeleteAlarms",
                    "cloudwatch:TagResource",
                    "cloudwatch:UntagResource",
                    "cloudwatch:ListTagsForResource",
                ],
                vec![scope.arn("cloudwatch", &format!("alarm:{stack}-*"))],
            ),
            // CloudWatch describes a composite alarm only to a DescribeAlarms allowed on "*"
            // (CloudFormation's handler and `noteapp status` read the alarms' states).
            statement("AlarmStates", &["cloudwatch:DescribeAlarms"], vec!["*".into()]),
            statement(
                "TheOperatorsTopic",
                &[
                    "sns:CreateTopic",
                    "sns:DeleteTopic",
                    "sns:GetTopicAttributes",
                    "sns:SetTopicAttributes",
                    "sns:Subscribe",
                    "sns:Unsubscribe",
                    "sns:GetSubscriptionAttributes",
                    "sns:SetSubscriptionAttributes",
                    "sns:ListSubscriptionsByTopic",
                    "sns:GetDataProtectionPolicy",
                    "sns:TagResource",
                    "sns:UntagResource",
                    "sns:ListTagsForResource",
                ],
                vec![scope.arn("sns", &format!("{stack}-*"))],
            ),
            statement(
                "TheCleanupSchedule",
                &[
                    "events:PutRule",
                    "events:DeleteRule",
                    "events:DescribeRule",
                    "events:PutTargets",
                    "events:RemoveTargets",
                    "events:ListTargetsByRule",
                    "events:TagResource",
                    "events:UntagResource",
                    "events:ListTagsForResource",
                ],
                vec![scope.arn("events", &format!("rule/{stack}-*"))],
            ),
        ]
    })
}
