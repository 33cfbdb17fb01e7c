//! Whole decisions: identity and resource policies together, on the cases of AWS's IAM User
//! Guide (each names its page) and on the policies noteapp renders.

use serde_json::{Value, json};

use super::*;

const ACCOUNT: &str = "123456789012";
const OTHER: &str = "210987654321";

fn policy(statements: Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

fn user(name: &str) -> Principal {
    Principal::Aws(format!("arn:aws:iam::{ACCOUNT}:user/{name}"))
}

fn session(role: &str, name: &str) -> Principal {
    Principal::Aws(format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{name}"))
}

fn decide(identity: &[&Value], resource: Option<&Value>, request: &Request) -> Evaluation {
    evaluate(identity, resource, request).unwrap()
}

fn decision(identity: &[&Value], resource: Option<&Value>, request: &Request) -> Decision {
    decide(identity, resource, request).decision
}

fn explicit(sid: &str) -> Decision {
    Decision::ExplicitDeny {
        sid: Some(sid.into()),
    }
}

#[test]
fn an_identity_policy_alone_allows_a_request_in_its_account() {
    let table = format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/notes");
    let read = policy(json!([{
        "Sid": "ReadNotes", "Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": table
    }]));
    let request = Request::new(user("carlos"), "dynamodb:GetItem", &table);
    let evaluation = decide(&[&read], None, &request);
    assert_eq!(evaluation.decision, Decision::Allow);
    assert_eq!(
        evaluation.to_string(),
        "allowed by identity policy [0], statement [0] \"ReadNotes\""
    );
    let write = Request::new(user("carlos"), "dynamodb:PutItem", &table);
    let evaluation = decide(&[&read], None, &write);
    assert_eq!(evaluation.decision, Decision::ImplicitDeny);
    assert_eq!(
        evaluation.to_string(),
        "implicitly denied: no identity policy statement allows it, and there is no resource \
         policy"
    );
    assert_eq!(decision(&[], None, &write), Decision::ImplicitDeny);
}

#[test]
fn an_explicit_deny_overrides_any_allow() {
    // "Policy evaluation logic": an explicit deny in any policy overrides any allows.
    let bucket = "arn:aws:s3:::notes-logs";
    let identity = policy(json!([
        {"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Sid": "NoLogs", "Effect": "Deny", "Action": "s3:*", "Resource": ["arn:aws:s3:::*log*", "arn:aws:s3:::*log*/*"]}
    ]));
    let request = Request::new(user("carlos"), "s3:GetObject", format!("{bucket}/today"));
    let evaluation = decide(&[&identity], None, &request);
    assert_eq!(evaluation.decision, explicit("NoLogs"));
    assert_eq!(
        evaluation.to_string(),
        "explicitly denied by identity policy [0], statement [1] \"NoLogs\""
    );
    // A deny in the resource policy beats an allow in an identity policy, and the other way.
    let bucket_policy = policy(json!([
        {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::notes/*"},
        {"Sid": "NotCarlos", "Effect": "Deny", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/carlos")}, "Action": "s3:*", "Resource": "arn:aws:s3:::notes/*"}
    ]));
    let notes = Request::new(user("carlos"), "s3:GetObject", "arn:aws:s3:::notes/a");
    assert_eq!(
        decision(&[&identity], Some(&bucket_policy), &notes),
        explicit("NotCarlos")
    );
    let deny_all =
        policy(json!([{"Sid": "Nothing", "Effect": "Deny", "Action": "*", "Resource": "*"}]));
    let dana = Request::new(user("dana"), "s3:GetObject", "arn:aws:s3:::notes/a");
    assert_eq!(decision(&[], Some(&bucket_policy), &dana), Decision::Allow);
    assert_eq!(
        decision(&[&deny_all], Some(&bucket_policy), &dana),
        explicit("Nothing")
    );
}

#[test]
fn a_resource_policy_alone_allows_a_principal_it_names_in_the_same_account() {
    // "Policy evaluation for requests within a single account": if either the identity-based
    // policy or the resource-based policy allows the request, it is allowed.
    let queue = format!("arn:aws:sqs:eu-west-1:{ACCOUNT}:broadcast-failures");
    let queue_policy = policy(json!([{
        "Sid": "Status", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/carlos")},
        "Action": "sqs:GetQueueAttributes", "Resource": queue
    }]));
    let request = Request::new(user("carlos"), "sqs:GetQueueAttributes", &queue);
    let evaluation = decide(&[], Some(&queue_policy), &request);
    assert_eq!(evaluation.decision, Decision::Allow);
    assert_eq!(
        evaluation.to_string(),
        "allowed by resource policy, statement [0] \"Status\""
    );
    let other = Request::new(user("dana"), "sqs:GetQueueAttributes", &queue);
    assert_eq!(
        decision(&[], Some(&queue_policy), &other),
        Decision::ImplicitDeny
    );
}

#[test]
fn a_resource_policy_naming_only_the_account_leaves_the_decision_to_identity_policies() {
    // "IAM JSON policy elements: Principal", "AWS account principals": naming the account
    // delegates to it; its administrator must grant access to an identity.
    let key = format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let key_policy = policy(json!([{
        "Sid": "EnableIamPolicies", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"
    }]));
    let decrypt = Request::new(session("Api", "i-1"), "kms:Decrypt", &key);
    let evaluation = decide(&[], Some(&key_policy), &decrypt);
    assert_eq!(evaluation.decision, Decision::ImplicitDeny);
    assert!(
        evaluation
            .to_string()
            .contains("names only the principal's account (resource policy, statement [0] \"EnableIamPolicies\")"),
        "{evaluation}"
    );
    let role_policy =
        policy(json!([{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": &key}]));
    assert_eq!(
        decision(&[&role_policy], Some(&key_policy), &decrypt),
        Decision::Allow
    );
    // A key policy must allow even in the account: an identity policy alone is not enough.
    assert_eq!(
        decision(&[&role_policy], None, &decrypt),
        Decision::ImplicitDeny
    );
    // And the same holds for a bucket in the account.
    let bucket_policy = policy(json!([{
        "Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::notes/*"
    }]));
    let get = Request::new(user("carlos"), "s3:GetObject", "arn:aws:s3:::notes/a");
    assert_eq!(
        decision(&[], Some(&bucket_policy), &get),
        Decision::ImplicitDeny
    );
}

/// "Cross-account policy evaluation logic", "Example cross-account policy evaluation": Carlos
/// (account 111111111111) saves a file to a bucket of account 222222222222.
#[test]
fn a_cross_account_request_needs_both_the_identity_and_the_resource_policy() {
    let carlos = Principal::Aws("arn:aws:iam::111111111111:user/carlossalazar".into());
    let identity = policy(json!([
        {"Sid": "AllowS3ListRead", "Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
        {"Sid": "AllowS3ProductionObjectActions", "Effect": "Allow", "Action": "s3:*Object*", "Resource": "arn:aws:s3:::Production/*"},
        {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": ["arn:aws:s3:::*log*", "arn:aws:s3:::*log*/*"]}
    ]));
    let bucket_policy = policy(json!([{
        "Effect": "Allow",
        "Action": ["s3:GetObject*", "s3:PutObject*", "s3:ReplicateObject", "s3:RestoreObject"],
        "Principal": {"AWS": "arn:aws:iam::111111111111:user/carlossalazar"},
        "Resource": "arn:aws:s3:::Production/*"
    }]));
    let put = |object: &str| {
        Request::new(
            carlos.clone(),
            "s3:PutObject",
            format!("arn:aws:s3:::{object}"),
        )
        .in_account("222222222222")
    };
    assert_eq!(
        decision(&[&identity], None, &put("Production-logs/file.txt")),
        explicit("DenyS3Logs")
    );
    let evaluation = decide(
        &[&identity],
        Some(&bucket_policy),
        &put("Production/file.txt"),
    );
    assert_eq!(evaluation.decision, Decision::Allow);
    assert_eq!(
        evaluation.to_string(),
        "allowed across accounts (principal in 111111111111, resource in 222222222222) by \
         identity policy [0], statement [1] \"AllowS3ProductionObjectActions\" and by resource \
         policy, statement [0]"
    );
    assert_eq!(evaluation.statements.len(), 2);
    // Either side alone is not enough.
    let evaluation = decide(&[&identity], None, &put("Production/file.txt"));
    assert_eq!(evaluation.decision, Decision::ImplicitDeny);
    assert_eq!(
        evaluation.to_string(),
        "implicitly denied: across accounts (principal in 111111111111, resource in \
         222222222222) both sides must allow: identity policy [0], statement [1] \
         \"AllowS3ProductionObjectActions\" allows it, and there is no resource policy"
    );
    assert_eq!(
        decision(&[], Some(&bucket_policy), &put("Production/file.txt")),
        Decision::ImplicitDeny
    );
    // Without `in_account`, an S3 ARN names no account: the request counts as same-account.
    let same = Request::new(carlos, "s3:PutObject", "arn:aws:s3:::Production/file.txt");
    assert_eq!(decision(&[], Some(&bucket_policy), &same), Decision::Allow);
}

#[test]
fn across_accounts_a_resource_policy_naming_the_account_suffices_with_an_identity_allow() {
    let repository = format!("arn:aws:ecr:eu-west-1:{OTHER}:repository/noteapp");
    let repository_policy = policy(json!([{
        "Sid": "CiPush", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "ecr:*"
    }]));
    let push =
        policy(json!([{"Effect": "Allow", "Action": "ecr:PutImage", "Resource": &repository}]));
    let request = Request::new(session("Deploy", "ci"), "ecr:PutImage", &repository);
    assert!(request.cross_account());
    assert_eq!(
        decision(&[&push], Some(&repository_policy), &request),
        Decision::Allow
    );
    assert_eq!(
        decision(&[], Some(&repository_policy), &request),
        Decision::ImplicitDeny
    );
}

#[test]
fn a_service_principal_is_allowed_only_by_the_resource_policy() {
    // The repository policy statement noteapp sets so Lambda can pull a stack's image.
    let repository = format!("arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/noteapp");
    let pull = policy(json!([{
        "Sid": "NoteappLambdaPullNoteappStaging",
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        "Condition": {"StringLike": {"aws:sourceArn": format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:noteapp-staging-*")}}
    }]));
    let lambda = Principal::Service("lambda.amazonaws.com".into());
    let from = |function: &str| {
        Request::new(lambda.clone(), "ecr:BatchGetImage", &repository).with_context(
            Context::new().with(
                "aws:SourceArn",
                format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{function}"),
            ),
        )
    };
    assert_eq!(
        decision(&[], Some(&pull), &from("noteapp-staging-Api")),
        Decision::Allow
    );
    assert_eq!(
        decision(&[], Some(&pull), &from("noteapp-production-Api")),
        Decision::ImplicitDeny
    );
    let no_source = Request::new(lambda.clone(), "ecr:BatchGetImage", &repository);
    assert_eq!(
        decision(&[], Some(&pull), &no_source),
        Decision::ImplicitDeny
    );
    // Identity policies play no part for a service.
    let everything = policy(json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}]));
    let evaluation = decide(&[&everything], None, &from("noteapp-staging-Api"));
    assert_eq!(evaluation.decision, Decision::ImplicitDeny);
    assert_eq!(
        evaluation.to_string(),
        "implicitly denied: service lambda.amazonaws.com has no identity policies, so only a \
         resource policy can allow it, and there is no resource policy"
    );
    let other_service = Request::new(
        Principal::Service("ecs.amazonaws.com".into()),
        "ecr:BatchGetImage",
        &repository,
    );
    assert_eq!(
        decision(&[], Some(&pull), &other_service),
        Decision::ImplicitDeny
    );
}

#[test]
fn api_gateway_invoking_a_function_is_allowed_by_an_arn_like_source_with_a_wildcard() {
    // A function policy as `lambda add-permission --source-arn` writes it, for any route of one
    // API: a `*` within the last segment, which ArnLike lets span slashes but not accounts.
    let function = format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:noteapp-staging-WsConnect");
    let function_policy = policy(json!([{
        "Sid": "ApiInvoke", "Effect": "Allow",
        "Principal": {"Service": "apigateway.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": &function,
        "Condition": {"ArnLike": {"AWS:SourceArn": format!("arn:aws:execute-api:eu-west-1:{ACCOUNT}:a1b2c3/*")}}
    }]));
    let invoke = |source: &str| {
        Request::new(
            Principal::Service("apigateway.amazonaws.com".into()),
            "lambda:InvokeFunction",
            &function,
        )
        .with_context(Context::new().with("aws:SourceArn", source))
    };
    let route = format!("arn:aws:execute-api:eu-west-1:{ACCOUNT}:a1b2c3/production/$connect");
    assert_eq!(
        decision(&[], Some(&function_policy), &invoke(&route)),
        Decision::Allow
    );
    let other_api = format!("arn:aws:execute-api:eu-west-1:{ACCOUNT}:zzzzzz/production/$connect");
    assert_eq!(
        decision(&[], Some(&function_policy), &invoke(&other_api)),
        Decision::ImplicitDeny
    );
    let other_account = format!("arn:aws:execute-api:eu-west-1:{OTHER}:a1b2c3/production/$connect");
    assert_eq!(
        decision(&[], Some(&function_policy), &invoke(&other_account)),
        Decision::ImplicitDeny
    );
    // A `*` in the function name segment of an ArnLike on aws:SourceArn: any function of the
    // stack, and not one of another stack or account.
    let statement = |pattern: String| {
        policy(json!([{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "ecr:BatchGetImage",
            "Condition": {"ArnLike": {"aws:SourceArn": pattern}}
        }]))
    };
    let pull = statement(format!(
        "arn:aws:lambda:eu-west-1:{ACCOUNT}:function:noteapp-staging-*"
    ));
    let from = |source: String| {
        Request::new(
            Principal::Service("lambda.amazonaws.com".into()),
            "ecr:BatchGetImage",
            format!("arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/noteapp"),
        )
        .with_context(Context::new().with("aws:SourceArn", source))
    };
    let api = format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:noteapp-staging-Api");
    assert_eq!(decision(&[], Some(&pull), &from(api)), Decision::Allow);
    let aliased = format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:noteapp-staging-Api:live");
    assert_eq!(decision(&[], Some(&pull), &from(aliased)), Decision::Allow);
    let production = format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:noteapp-production-Api");
    assert_eq!(
        decision(&[], Some(&pull), &from(production)),
        Decision::ImplicitDeny
    );
    let elsewhere = format!("arn:aws:lambda:eu-west-1:{OTHER}:function:noteapp-staging-Api");
    assert_eq!(
        decision(&[], Some(&pull), &from(elsewhere)),
        Decision::ImplicitDeny
    );
}

#[test]
fn a_resource_policy_naming_a_role_allows_its_sessions() {
    // "Policy evaluation logic", resource-based policies: a policy granting a role ARN grants
    // its sessions (limited only by boundaries and session policies, which are not modelled);
    // "Principal", "Role session principals": a session ARN names that session alone.
    let table = format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/notes");
    let for_role = policy(json!([{
        "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/service/Api")},
        "Action": "dynamodb:GetItem", "Resource": &table
    }]));
    let get = |principal: Principal| Request::new(principal, "dynamodb:GetItem", &table);
    assert_eq!(
        decision(&[], Some(&for_role), &get(session("Api", "i-1"))),
        Decision::Allow
    );
    assert_eq!(
        decision(&[], Some(&for_role), &get(session("Api", "i-2"))),
        Decision::Allow
    );
    assert_eq!(
        decision(&[], Some(&for_role), &get(session("Cleanup", "i-1"))),
        Decision::ImplicitDeny
    );
    let for_session = policy(json!([{
        "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:sts::{ACCOUNT}:assumed-role/Api/i-1")},
        "Action": "dynamodb:GetItem", "Resource": &table
    }]));
    assert_eq!(
        decision(&[], Some(&for_session), &get(session("Api", "i-1"))),
        Decision::Allow
    );
    assert_eq!(
        decision(&[], Some(&for_session), &get(session("Api", "i-2"))),
        Decision::ImplicitDeny
    );
}

#[test]
fn every_principal_and_anonymous_callers_are_named_by_a_star() {
    // The Function URL permissions of noteapp's template: `Principal: "*"`, limited to URL
    // calls by the conditions Lambda adds.
    let function = format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:noteapp-staging-Api");
    let function_policy = policy(json!([
        {"Sid": "Url", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl", "Resource": &function,
         "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}},
        {"Sid": "ViaUrl", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "lambda:InvokeFunction", "Resource": &function,
         "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}}
    ]));
    let url = Request::new(Principal::Anonymous, "lambda:InvokeFunctionUrl", &function)
        .with_context(Context::new().with("lambda:FunctionUrlAuthType", "NONE"));
    assert_eq!(decision(&[], Some(&function_policy), &url), Decision::Allow);
    let invoke = |via_url: &str| {
        Request::new(Principal::Anonymous, "lambda:InvokeFunction", &function)
            .with_context(Context::new().with("lambda:InvokedViaFunctionUrl", via_url))
    };
    assert_eq!(
        decision(&[], Some(&function_policy), &invoke("true")),
        Decision::Allow
    );
    assert_eq!(
        decision(&[], Some(&function_policy), &invoke("false")),
        Decision::ImplicitDeny
    );
    // Someone in another account still needs their own identity policy to allow it.
    let outsider = Request::new(
        Principal::Aws(format!("arn:aws:iam::{OTHER}:user/mallory")),
        "lambda:InvokeFunctionUrl",
        &function,
    )
    .with_context(Context::new().with("lambda:FunctionUrlAuthType", "NONE"));
    assert_eq!(
        decision(&[], Some(&function_policy), &outsider),
        Decision::ImplicitDeny
    );
    let invoke_anything =
        policy(json!([{"Effect": "Allow", "Action": "lambda:Invoke*", "Resource": "*"}]));
    assert_eq!(
        decision(&[&invoke_anything], Some(&function_policy), &outsider),
        Decision::Allow
    );
}

/// "IAM JSON policy elements: NotPrincipal", "NotPrincipal With Deny": both examples, and what
/// happens when a level is left out.
#[test]
fn not_principal_with_deny_spares_only_principals_named_at_every_level() {
    let bucket = "arn:aws:s3:::BUCKETNAME";
    let allow_all = json!({"Sid": "Read", "Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": [bucket, format!("{bucket}/*")]});
    let deny_except = |spared: Value| {
        policy(json!([allow_all, {
            "Sid": "OnlyThem", "Effect": "Deny", "NotPrincipal": {"AWS": spared},
            "Action": "s3:*", "Resource": [bucket, format!("{bucket}/*")]
        }]))
    };
    let get = |principal: &str| {
        Request::new(
            Principal::Aws(principal.into()),
            "s3:GetObject",
            format!("{bucket}/a"),
        )
        .in_account("999999999999")
    };
    let reader = policy(json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]));
    let bob = "arn:aws:iam::444455556666:user/Bob";
    let alice = "arn:aws:iam::444455556666:user/Alice";
    let with_account = deny_except(json!([bob, "arn:aws:iam::444455556666:root"]));
    assert_eq!(
        decision(&[&reader], Some(&with_account), &get(bob)),
        Decision::Allow
    );
    assert_eq!(
        decision(&[&reader], Some(&with_account), &get(alice)),
        explicit("OnlyThem")
    );
    // Without the account's ARN, AWS "might deny access to the entire account": so does this.
    let without_account = deny_except(json!(bob));
    assert_eq!(
        decision(&[&reader], Some(&without_account), &get(bob)),
        explicit("OnlyThem")
    );

    let audit = "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/cross-account-audit-app";
    let role = "arn:aws:iam::444455556666:role/cross-account-read-only-role";
    let all_three = deny_except(json!([audit, role, "arn:aws:iam::444455556666:root"]));
    assert_eq!(
        decision(&[&reader], Some(&all_three), &get(audit)),
        Decision::Allow
    );
    let other_session = "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/other";
    assert_eq!(
        decision(&[&reader], Some(&all_three), &get(other_session)),
        explicit("OnlyThem")
    );
    // Missing the role's ARN, "the effect of the policy might be to explicitly deny access to
    // the role".
    let no_role = deny_except(json!([audit, "arn:aws:iam::444455556666:root"]));
    assert_eq!(
        decision(&[&reader], Some(&no_role), &get(audit)),
        explicit("OnlyThem")
    );
    // Services and anonymous callers are denied unless named.
    let lambda = Request::new(
        Principal::Service("lambda.amazonaws.com".into()),
        "s3:GetObject",
        format!("{bucket}/a"),
    );
    assert_eq!(
        decision(&[], Some(&all_three), &lambda),
        explicit("OnlyThem")
    );
}

#[test]
fn not_principal_with_allow_grants_everyone_it_does_not_name() {
    let topic = format!("arn:aws:sns:eu-west-1:{ACCOUNT}:alerts");
    let topic_policy = policy(json!([{
        "Effect": "Allow", "NotPrincipal": {"AWS": OTHER}, "Action": "sns:Publish", "Resource": &topic
    }]));
    let publish = |principal: Principal| Request::new(principal, "sns:Publish", &topic);
    assert_eq!(
        decision(&[], Some(&topic_policy), &publish(user("carlos"))),
        Decision::Allow
    );
    let outsider = Principal::Aws(format!("arn:aws:iam::{OTHER}:user/mallory"));
    let anything = policy(json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}]));
    assert_eq!(
        decision(&[&anything], Some(&topic_policy), &publish(outsider)),
        Decision::ImplicitDeny
    );
}

#[test]
fn not_action_with_allow_allows_every_action_but_those_listed() {
    // "IAM JSON policy elements: NotAction", "NotAction with Allow".
    let everything_but_iam =
        policy(json!([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]));
    let request = |action: &str, resource: &str| Request::new(user("carlos"), action, resource);
    let table = format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/notes");
    let role = format!("arn:aws:iam::{ACCOUNT}:role/Admin");
    assert_eq!(
        decision(
            &[&everything_but_iam],
            None,
            &request("dynamodb:DeleteTable", &table)
        ),
        Decision::Allow
    );
    assert_eq!(
        decision(
            &[&everything_but_iam],
            None,
            &request("iam:CreateRole", &role)
        ),
        Decision::ImplicitDeny
    );
    // With a Resource scoping it: every S3 action on S3 resources but DeleteBucket.
    let s3_but_delete = policy(
        json!([{"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "arn:aws:s3:::*"}]),
    );
    assert_eq!(
        decision(
            &[&s3_but_delete],
            None,
            &request("s3:PutObject", "arn:aws:s3:::notes/a")
        ),
        Decision::Allow
    );
    assert_eq!(
        decision(
            &[&s3_but_delete],
            None,
            &request("s3:DeleteBucket", "arn:aws:s3:::notes")
        ),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decision(
            &[&s3_but_delete],
            None,
            &request("s3:ListAllMyBuckets", "*")
        ),
        Decision::ImplicitDeny
    );
    // "NotAction with Deny": everything but IAM is denied without MFA.
    let mfa = policy(json!([
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "DenyAllUsersNotUsingMFA", "Effect": "Deny", "NotAction": "iam:*", "Resource": "*",
         "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}
    ]));
    assert_eq!(
        decision(&[&mfa], None, &request("dynamodb:DeleteTable", &table)),
        explicit("DenyAllUsersNotUsingMFA")
    );
    assert_eq!(
        decision(&[&mfa], None, &request("iam:CreateRole", &role)),
        Decision::Allow
    );
    let with_mfa = request("dynamodb:DeleteTable", &table)
        .with_context(Context::new().with("aws:MultiFactorAuthPresent", "true"));
    assert_eq!(decision(&[&mfa], None, &with_mfa), Decision::Allow);
}

#[test]
fn not_resource_with_deny_denies_every_resource_but_those_listed() {
    // "IAM JSON policy elements: NotResource": HRPayroll may touch only the Payroll folder.
    let hr = policy(json!([
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Sid": "OnlyPayroll", "Effect": "Deny", "Action": "s3:*",
         "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]}
    ]));
    let get =
        |object: &str| Request::new(user("hr"), "s3:GetObject", format!("arn:aws:s3:::{object}"));
    assert_eq!(
        decision(&[&hr], None, &get("HRBucket/Payroll/2024.csv")),
        Decision::Allow
    );
    assert_eq!(
        decision(&[&hr], None, &get("HRBucket/Reviews/2024.csv")),
        explicit("OnlyPayroll")
    );
    assert_eq!(
        decision(&[&hr], None, &get("Other/x")),
        explicit("OnlyPayroll")
    );
    // The deny touches only S3 actions: another service's are not denied (nor, here, allowed).
    let table = format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/notes");
    let scan = Request::new(user("hr"), "dynamodb:Scan", &table);
    assert_eq!(decision(&[&hr], None, &scan), Decision::ImplicitDeny);
}

#[test]
fn action_matching_ignores_case_but_resource_matching_does_not() {
    let object = "arn:aws:s3:::Notes/today.txt";
    let get = |action: &str, resource: &str| Request::new(user("carlos"), action, resource);
    let lower = policy(
        json!([{"Effect": "Allow", "Action": "s3:get*", "Resource": "arn:aws:s3:::Notes/*"}]),
    );
    let upper = policy(
        json!([{"Effect": "Allow", "Action": "S3:Get*", "Resource": "arn:aws:s3:::Notes/*"}]),
    );
    for allowing in [&lower, &upper] {
        assert_eq!(
            decision(&[allowing], None, &get("s3:GetObject", object)),
            Decision::Allow
        );
        assert_eq!(
            decision(&[allowing], None, &get("s3:getobjecttagging", object)),
            Decision::Allow
        );
        assert_eq!(
            decision(&[allowing], None, &get("s3:PutObject", object)),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decision(
                &[allowing],
                None,
                &get("s3:GetObject", "arn:aws:s3:::notes/today.txt")
            ),
            Decision::ImplicitDeny
        );
    }
    // `?` is exactly one character; `*` spans slashes but not the colons between segments.
    let versions = policy(
        json!([{"Effect": "Allow", "Action": "lambda:GetFunction", "Resource": format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:api-v?")}]),
    );
    let function = |name: &str| format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{name}");
    assert_eq!(
        decision(
            &[&versions],
            None,
            &get("lambda:GetFunction", &function("api-v2"))
        ),
        Decision::Allow
    );
    assert_eq!(
        decision(
            &[&versions],
            None,
            &get("lambda:GetFunction", &function("api-v10"))
        ),
        Decision::ImplicitDeny
    );
    let any_account =
        policy(json!([{"Effect": "Allow", "Action": "sqs:*", "Resource": "arn:aws:sqs:*:notes"}]));
    assert_eq!(
        decision(
            &[&any_account],
            None,
            &get(
                "sqs:SendMessage",
                &format!("arn:aws:sqs:eu-west-1:{ACCOUNT}:notes")
            )
        ),
        Decision::ImplicitDeny,
        "the `*` is the region segment alone; the account segment does not match `notes`"
    );
}

#[test]
fn pass_role_is_limited_to_the_services_named_by_iam_passed_to_service() {
    // The deploy policy's PassTheStacksRoles statement.
    let deploy = policy(json!([{
        "Sid": "PassTheStacksRoles", "Effect": "Allow", "Action": ["iam:PassRole"],
        "Resource": [format!("arn:aws:iam::{ACCOUNT}:role/noteapp-staging-*")],
        "Condition": {"StringEquals": {"iam:PassedToService": ["lambda.amazonaws.com", "apigateway.amazonaws.com"]}}
    }]));
    let pass = |role: &str, service: Option<&str>| {
        let context = match service {
            Some(service) => Context::new().with("iam:PassedToService", service),
            None => Context::new(),
        };
        Request::new(
            session("Deploy", "ci"),
            "iam:PassRole",
            format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
        )
        .with_context(context)
    };
    assert_eq!(
        decision(
            &[&deploy],
            None,
            &pass("noteapp-staging-ApiRole-1", Some("lambda.amazonaws.com"))
        ),
        Decision::Allow
    );
    assert_eq!(
        decision(
            &[&deploy],
            None,
            &pass(
                "noteapp-staging-ApiRole-1",
                Some("apigateway.amazonaws.com")
            )
        ),
        Decision::Allow
    );
    assert_eq!(
        decision(
            &[&deploy],
            None,
            &pass("noteapp-staging-ApiRole-1", Some("ec2.amazonaws.com"))
        ),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decision(
            &[&deploy],
            None,
            &pass("noteapp-staging-ApiRole-1", Some("Lambda.amazonaws.com"))
        ),
        Decision::ImplicitDeny,
        "StringEquals is case-sensitive"
    );
    assert_eq!(
        decision(&[&deploy], None, &pass("noteapp-staging-ApiRole-1", None)),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decision(
            &[&deploy],
            None,
            &pass("noteapp-production-ApiRole-1", Some("lambda.amazonaws.com"))
        ),
        Decision::ImplicitDeny
    );
}

#[test]
fn requests_not_over_tls_are_denied_by_a_secure_transport_condition() {
    // "IAM JSON policy elements: Condition operators", "Boolean condition operators".
    let bucket_policy = policy(json!([
        {"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/carlos")},
         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"},
        {"Sid": "BooleanExample", "Action": "s3:*", "Effect": "Deny", "Principal": "*",
         "Resource": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET", "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    ]));
    let get = |secure: &str| {
        Request::new(
            user("carlos"),
            "s3:GetObject",
            "arn:aws:s3:::DOC-EXAMPLE-BUCKET/a",
        )
        .with_context(Context::new().with("aws:SecureTransport", secure))
    };
    assert_eq!(
        decision(&[], Some(&bucket_policy), &get("true")),
        Decision::Allow
    );
    assert_eq!(
        decision(&[], Some(&bucket_policy), &get("false")),
        explicit("BooleanExample")
    );
}

#[test]
fn a_role_trust_policy_must_allow_the_caller_even_in_its_account() {
    // "Policy evaluation logic": role trust policies and KMS key policies must explicitly allow
    // access for principals.
    let role = format!("arn:aws:iam::{ACCOUNT}:role/Cleanup");
    let may_assume =
        policy(json!([{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": &role}]));
    let assume = Request::new(user("carlos"), "sts:AssumeRole", &role);
    let evaluation = decide(&[&may_assume], None, &assume);
    assert_eq!(evaluation.decision, Decision::ImplicitDeny);
    assert!(
        evaluation
            .to_string()
            .starts_with("implicitly denied: a role's trust policy"),
        "{evaluation}"
    );
    let trusts_carlos = policy(json!([{
        "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/carlos")}, "Action": "sts:AssumeRole"
    }]));
    assert_eq!(
        decision(&[], Some(&trusts_carlos), &assume),
        Decision::Allow
    );
    let trusts_account = policy(json!([{
        "Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"
    }]));
    assert_eq!(
        decision(&[], Some(&trusts_account), &assume),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decision(&[&may_assume], Some(&trusts_account), &assume),
        Decision::Allow
    );
    // Across accounts the caller's identity policy must allow it too, even when the trust
    // policy names the caller ("Cross-account policy evaluation logic").
    let outsider = Principal::Aws(format!("arn:aws:iam::{OTHER}:role/Auditor"));
    let trusts_outsider = policy(json!([{
        "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{OTHER}:role/Auditor")}, "Action": "sts:AssumeRole"
    }]));
    let assume_from_outside = Request::new(outsider, "sts:AssumeRole", &role);
    assert_eq!(
        decision(&[], Some(&trusts_outsider), &assume_from_outside),
        Decision::ImplicitDeny
    );
    let outsider_may_assume =
        policy(json!([{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]));
    assert_eq!(
        decision(
            &[&outsider_may_assume],
            Some(&trusts_outsider),
            &assume_from_outside
        ),
        Decision::Allow
    );
    // Lambda assuming a function's execution role.
    let lambda_trust = policy(json!([{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"
    }]));
    let lambda = Request::new(
        Principal::Service("lambda.amazonaws.com".into()),
        "sts:AssumeRole",
        &role,
    );
    assert_eq!(decision(&[], Some(&lambda_trust), &lambda), Decision::Allow);
    assert_eq!(
        decision(&[], Some(&lambda_trust), &assume),
        Decision::ImplicitDeny
    );
}

#[test]
fn a_web_identity_is_allowed_by_the_trust_policy_of_the_ci_deploy_role() {
    // The shape of noteapp's CI deploy role trust policy: GitHub's OIDC provider, its audience
    // and the repository's subject.
    let provider =
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com");
    let trust = policy(json!([{
        "Effect": "Allow", "Principal": {"Federated": &provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:octo/noteapp:environment:staging"
        }}
    }]));
    let role = format!("arn:aws:iam::{ACCOUNT}:role/noteapp/noteapp-staging-deploy");
    let assume = |sub: &str| {
        Request::new(
            Principal::Federated(provider.clone()),
            "sts:AssumeRoleWithWebIdentity",
            &role,
        )
        .with_context(
            Context::new()
                .with(
                    "token.actions.githubusercontent.com:aud",
                    "sts.amazonaws.com",
                )
                .with("token.actions.githubusercontent.com:sub", sub),
        )
    };
    assert_eq!(
        decision(
            &[],
            Some(&trust),
            &assume("repo:octo/noteapp:environment:staging")
        ),
        Decision::Allow
    );
    assert_eq!(
        decision(
            &[],
            Some(&trust),
            &assume("repo:octo/noteapp:environment:production")
        ),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decision(
            &[],
            Some(&trust),
            &assume("repo:mallory/noteapp:environment:staging")
        ),
        Decision::ImplicitDeny
    );
    let other_provider = Request::new(
        Principal::Federated("accounts.google.com".into()),
        "sts:AssumeRoleWithWebIdentity",
        &role,
    );
    assert_eq!(
        decision(&[], Some(&trust), &other_provider),
        Decision::ImplicitDeny
    );
}

#[test]
fn the_root_user_of_the_resources_account_needs_no_allow_but_an_explicit_deny_binds_it() {
    // "How AWS enforcement code logic evaluates requests": all requests are implicitly denied
    // with the exception of the AWS account root user.
    let root = Principal::Aws(format!("arn:aws:iam::{ACCOUNT}:root"));
    let table = format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/notes");
    let delete = Request::new(root.clone(), "dynamodb:DeleteTable", &table);
    let evaluation = decide(&[], None, &delete);
    assert_eq!(evaluation.decision, Decision::Allow);
    assert_eq!(
        evaluation.to_string(),
        format!("allowed: arn:aws:iam::{ACCOUNT}:root is the root user of the resource's account")
    );
    let protect = policy(json!([{
        "Sid": "KeepNotes", "Effect": "Deny", "Principal": "*", "Action": "dynamodb:DeleteTable", "Resource": &table
    }]));
    assert_eq!(
        decision(&[], Some(&protect), &delete),
        explicit("KeepNotes")
    );
    let elsewhere = Request::new(Principal::Aws(OTHER.into()), "dynamodb:DeleteTable", &table);
    assert_eq!(decision(&[], None, &elsewhere), Decision::ImplicitDeny);
}

/// "IAM policy elements: Variables and tags" and "Condition operators" (string operators with
/// a variable): each user's home directory in one bucket.
#[test]
fn policy_variables_take_the_values_of_the_request_context() {
    let home = policy(json!([
        {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "s3:GetBucketLocation"], "Resource": "arn:aws:s3:::*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::BUCKET-NAME",
         "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/"]}}},
        {"Effect": "Allow", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::BUCKET-NAME/home/${aws:username}", "arn:aws:s3:::BUCKET-NAME/home/${aws:username}/*"]}
    ]));
    let as_david = |action: &str, resource: &str, context: Context| {
        Request::new(user("David"), action, resource)
            .with_context(context.with("aws:username", "David"))
    };
    let list = |prefix: &str| {
        as_david(
            "s3:ListBucket",
            "arn:aws:s3:::BUCKET-NAME",
            Context::new().with("s3:prefix", prefix),
        )
    };
    assert_eq!(decision(&[&home], None, &list("")), Decision::Allow);
    assert_eq!(decision(&[&home], None, &list("home/")), Decision::Allow);
    assert_eq!(
        decision(&[&home], None, &list("home/David/")),
        Decision::Allow
    );
    assert_eq!(
        decision(&[&home], None, &list("home/Adele/")),
        Decision::ImplicitDeny
    );
    let put = |key: &str| {
        as_david(
            "s3:PutObject",
            &format!("arn:aws:s3:::BUCKET-NAME/{key}"),
            Context::new(),
        )
    };
    assert_eq!(
        decision(&[&home], None, &put("home/David/notes.txt")),
        Decision::Allow
    );
    assert_eq!(
        decision(&[&home], None, &put("home/Adele/notes.txt")),
        Decision::ImplicitDeny
    );
    // Without aws:username in the context the resource matches nothing.
    let anonymous_put = Request::new(
        user("David"),
        "s3:PutObject",
        "arn:aws:s3:::BUCKET-NAME/home/David/x",
    );
    assert_eq!(
        decision(&[&home], None, &anonymous_put),
        Decision::ImplicitDeny
    );

    // A default value, and the 2008 version that reads variables as text.
    let team = |version: &str| {
        json!({"Version": version, "Statement": [{
            "Effect": "Allow", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET-${aws:PrincipalTag/team, 'company-wide'}/*"
        }]})
    };
    let get = |bucket: &str, context: Context| {
        Request::new(
            user("carlos"),
            "s3:GetObject",
            format!("arn:aws:s3:::{bucket}/a"),
        )
        .with_context(context)
    };
    let yellow = Context::new().with("aws:PrincipalTag/team", "yellow");
    assert_eq!(
        decision(
            &[&team("2012-10-17")],
            None,
            &get("DOC-EXAMPLE-BUCKET-yellow", yellow.clone())
        ),
        Decision::Allow
    );
    assert_eq!(
        decision(
            &[&team("2012-10-17")],
            None,
            &get("DOC-EXAMPLE-BUCKET-company-wide", yellow.clone())
        ),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decision(
            &[&team("2012-10-17")],
            None,
            &get("DOC-EXAMPLE-BUCKET-company-wide", Context::new())
        ),
        Decision::Allow
    );
    assert_eq!(
        decision(
            &[&team("2008-10-17")],
            None,
            &get("DOC-EXAMPLE-BUCKET-yellow", yellow)
        ),
        Decision::ImplicitDeny
    );
}

#[test]
fn an_unresolved_variable_in_not_resource_excludes_nothing() {
    // "Variables and tags", "Policy variables with no value": the resource with a variable of
    // no value matches no resource, so here it spares none.
    let fence = policy(json!([
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Sid": "OwnBucketOnly", "Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::home-${aws:username}/*"}
    ]));
    let put = |context: Context| {
        Request::new(user("carlos"), "s3:PutObject", "arn:aws:s3:::home-carlos/a")
            .with_context(context)
    };
    assert_eq!(
        decision(
            &[&fence],
            None,
            &put(Context::new().with("aws:username", "carlos"))
        ),
        Decision::Allow
    );
    assert_eq!(
        decision(&[&fence], None, &put(Context::new())),
        explicit("OwnBucketOnly")
    );
}

#[test]
fn for_any_value_and_for_all_values_decide_on_a_multivalued_key() {
    // "Creating a condition with multiple keys or values": the Thread table.
    let thread = format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/Thread");
    let policies = [
        policy(
            json!([{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "arn:aws:dynamodb:*:*:table/Thread",
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["ID", "Message", "Tags"]}}}]),
        ),
        policy(json!([
            {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "*"},
            {"Sid": "NoKeyUpdates", "Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": "arn:aws:dynamodb:*:*:table/Thread",
             "Condition": {"ForAnyValue:StringEquals": {"dynamodb:Attributes": ["ID", "PostDateTime"]}}}
        ])),
    ];
    let request = |action: &str, attributes: Option<&[&str]>| {
        let context = match attributes {
            Some(attributes) => {
                Context::new().with_values("dynamodb:Attributes", attributes.iter().copied())
            }
            None => Context::new(),
        };
        Request::new(user("carlos"), action, &thread).with_context(context)
    };
    let get = |attributes| {
        decision(
            &[&policies[0], &policies[1]],
            None,
            &request("dynamodb:GetItem", attributes),
        )
    };
    assert_eq!(get(Some(&["ID", "Message", "Tags"])), Decision::Allow);
    assert_eq!(get(Some(&["ID", "UserName"])), Decision::ImplicitDeny);
    assert_eq!(
        get(None),
        Decision::Allow,
        "ForAllValues holds for a missing key"
    );
    let put = |attributes| {
        decision(
            &[&policies[0], &policies[1]],
            None,
            &request("dynamodb:PutItem", attributes),
        )
    };
    assert_eq!(get(Some(&[])), Decision::Allow);
    assert_eq!(
        put(Some(&["PostDateTime", "Message"])),
        explicit("NoKeyUpdates")
    );
    assert_eq!(put(Some(&["UserName"])), Decision::Allow);
    assert_eq!(
        put(None),
        Decision::Allow,
        "ForAnyValue fails for a missing key"
    );
}

#[test]
fn null_and_if_exists_test_whether_a_key_is_present() {
    // "Condition operator to check existence of condition keys": no temporary credentials.
    let long_term_only = policy(
        json!([{"Effect": "Allow", "Action": "ec2:*", "Resource": "*",
        "Condition": {"Null": {"aws:TokenIssueTime": "true"}}}]),
    );
    let instance = format!("arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-1");
    let run = Request::new(user("carlos"), "ec2:StartInstances", &instance);
    assert_eq!(decision(&[&long_term_only], None, &run), Decision::Allow);
    let temporary = run
        .clone()
        .with_context(Context::new().with("aws:TokenIssueTime", "2024-05-01T10:00:00Z"));
    assert_eq!(
        decision(&[&long_term_only], None, &temporary),
        Decision::ImplicitDeny
    );
    // "…IfExists condition operators": instance types checked only where the key exists.
    let launch = policy(
        json!([{"Sid": "RunInstance", "Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*",
        "Condition": {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}}]),
    );
    let image = "arn:aws:ec2:eu-west-1::image/ami-1";
    let on = |resource: &str, context: Context| {
        Request::new(user("carlos"), "ec2:RunInstances", resource).with_context(context)
    };
    assert_eq!(
        decision(&[&launch], None, &on(image, Context::new())),
        Decision::Allow
    );
    let small = Context::new().with("ec2:InstanceType", "t2.micro");
    let large = Context::new().with("ec2:InstanceType", "c5.24xlarge");
    assert_eq!(
        decision(&[&launch], None, &on(&instance, small)),
        Decision::Allow
    );
    assert_eq!(
        decision(&[&launch], None, &on(&instance, large)),
        Decision::ImplicitDeny
    );
}

#[test]
fn a_resource_policy_statement_without_resource_applies_to_its_resource() {
    let repository = format!("arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/noteapp");
    let repository_policy = policy(json!([{
        "Sid": "CiRead", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/Ci")},
        "Action": ["ecr:BatchGetImage", "ecr:DescribeImages"]
    }]));
    let describe = Request::new(session("Ci", "run"), "ecr:DescribeImages", &repository);
    assert_eq!(
        decision(&[], Some(&repository_policy), &describe),
        Decision::Allow
    );
}

#[test]
fn several_identity_policies_are_read_together() {
    let table = format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/notes");
    let read =
        policy(json!([{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": &table}]));
    let write = policy(
        json!([{"Sid": "Write", "Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": &table}]),
    );
    let put = Request::new(session("Api", "i-1"), "dynamodb:PutItem", &table);
    let evaluation = decide(&[&read, &write], None, &put);
    assert_eq!(
        evaluation.statements,
        [StatementRef {
            policy: PolicyRef::Identity(1),
            statement: StatementId {
                index: 0,
                sid: Some("Write".into())
            }
        }]
    );
    assert!(evaluation.is_allowed());
}

#[test]
fn a_policy_aws_would_refuse_is_an_error_naming_the_policy_and_statement() {
    let fine = policy(json!([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]));
    let broken = policy(json!([
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Sid": "Oops", "Effect": "Allow", "Action": "s3:GetObject"}
    ]));
    let request = Request::new(user("carlos"), "s3:GetObject", "arn:aws:s3:::notes/a");
    let error = evaluate(&[&fine, &broken], None, &request).unwrap_err();
    assert_eq!(error.policy, PolicyRef::Identity(1));
    assert_eq!(
        error.to_string(),
        "identity policy [1]: statement [1] \"Oops\": Resource: neither Resource nor NotResource \
         is given"
    );
    let no_principal = policy(json!([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]));
    let error = evaluate(&[], Some(&no_principal), &request).unwrap_err();
    assert_eq!(
        error.to_string(),
        "resource policy: statement [0]: Principal: a resource policy statement must name a \
         principal"
    );
}

#[test]
fn principals_and_requests_describe_themselves() {
    let request = Request::new(
        session("Deploy", "ci"),
        "ecr:PutImage",
        "arn:aws:ecr:eu-west-1:1:repository/r",
    );
    assert_eq!(
        request.to_string(),
        format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/ci calling ecr:PutImage on arn:aws:ecr:eu-west-1:1:repository/r"
        )
    );
    assert_eq!(session("Deploy", "ci").account(), Some(ACCOUNT));
    assert_eq!(Principal::Aws(ACCOUNT.into()).account(), Some(ACCOUNT));
    assert!(Principal::Aws(ACCOUNT.into()).is_root());
    assert!(!user("carlos").is_root());
    assert_eq!(
        Principal::Service("lambda.amazonaws.com".into()).account(),
        None
    );
    assert_eq!(
        Principal::Service("lambda.amazonaws.com".into()).to_string(),
        "service lambda.amazonaws.com"
    );
    assert_eq!(Principal::Anonymous.to_string(), "anonymous");
    let mut context = Context::new().with("AWS:SourceArn", "x");
    assert_eq!(context.get("aws:sourcearn"), Some(&["x".to_owned()][..]));
    assert_eq!(context.remove("aws:SOURCEARN"), Some(vec!["x".to_owned()]));
    assert_eq!(context.get("aws:sourcearn"), None);
}
