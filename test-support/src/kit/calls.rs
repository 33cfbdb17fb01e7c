//! What IAM checks for a request: each API call mapped to the action(s), resource ARN(s) and
//! condition keys the Service Authorization Reference defines for it.
//!
//! A call the kit cannot map is an error, never a pass: a test that makes a new kind of AWS call
//! fails until its authorization is written here, so no call goes unchecked. Where one request
//! is several authorizations, each is listed (a DynamoDB transaction is authorized item by item
//! as the item's own action on the item's table; a batch, per table; Live Tail, per log group).
//!
//! Sources: the Service Authorization Reference pages "Actions, resources, and condition keys
//! for" AWS CloudFormation, Amazon DynamoDB ("…TransactWriteItems: the permissions for each
//! action in the transaction"), Amazon ECR, CloudWatch Logs, Amazon SQS, AWS Identity and Access
//! Management, Amazon API Gateway (`apigateway:GET` on `arn:aws:apigateway:region::/account`;
//! `execute-api:Invoke` on `arn:aws:execute-api:region:account:api-id/stage/METHOD/path`,
//! `execute-api:ManageConnections` on `…/stage/POST/@connections/{id}`), AWS Lambda, and AWS
//! STS (`GetCallerIdentity` needs no permission).

use serde_json::Value;

use crate::iam::Context;

/// One authorization IAM makes for a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `service:Action`.
    pub action: String,
    /// The resource ARN, or `*` for actions without a resource.
    pub resource: String,
    /// Condition keys the request carries besides the global ones.
    pub context: Context,
}

impl Call {
    /// `action` on `resource`, with no condition keys of its own.
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
            context: Context::new(),
        }
    }
}

/// Where the requests go: the account and region resources live in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The ARN partition (`aws`, `aws-cn`, `aws-us-gov`).
    pub partition: String,
    /// The region (`eu-west-1`).
    pub region: String,
    /// The 12-digit account ID.
    pub account: String,
}

#[cfg(test)]
impl Place {
    /// The place the kit's own tests use: aws, eu-west-1, account 123456789012.
    pub(crate) fn example() -> Self {
        Self {
            partition: "aws".into(),
            region: "eu-west-1".into(),
            account: "123456789012".into(),
        }
    }
}

impl Place {
    /// `arn:<partition>:<service>:<region>:<account>:<rest>`.
    pub fn arn(&self, service: &str, rest: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{rest}",
            self.partition, self.region, self.account
        )
    }
}

/// The authorizations of an SDK request: `service` and `operation` as the SDK names them
/// (`Metadata`), `path` and `body` as sent. `Ok(vec![])` for calls no permission governs.
pub fn sdk(
    place: &Place,
    service: &str,
    operation: &str,
    path: &str,
    body: &[u8],
) -> Result<Vec<Call>, String> {
    let text = String::from_utf8_lossy(body);
    let form: Vec<(String, String)> = text
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let string = |name: &str| json[name].as_str().map(str::to_owned);
    let unknown = || {
        Err(format!(
            "the test kit does not know what IAM checks for {service} {operation}: add it to \
             test-support/src/kit/calls.rs (from the Service Authorization Reference)"
        ))
    };
    match service {
        "STS" => match operation {
            "GetCallerIdentity" => Ok(Vec::new()),
            _ => unknown(),
        },
        "CloudFormation" => {
            let mut calls =
                cloudformation(place, operation, field("StackName")).map_or_else(unknown, Ok)?;
            // CloudFormation reads a template given by URL with the caller's permissions.
            if let Some(url) = field("TemplateURL") {
                let Some(object) = s3_object_arn(place, &url) else {
                    return Err(format!("TemplateURL {url} is not an S3 object's URL"));
                };
                calls.push(Call::new("s3:GetObject", object));
            }
            Ok(calls)
        }
        "ECR" => {
            let resource = match operation {
                "GetAuthorizationToken" => "*".to_owned(),
                _ => match string("repositoryName")
                    .or_else(|| json["repositoryNames"][0].as_str().map(str::to_owned))
                {
                    Some(name) => place.arn("ecr", &format!("repository/{name}")),
                    None => return unknown(),
                },
            };
            Ok(vec![Call::new(format!("ecr:{operation}"), resource)])
        }
        "DynamoDB" => dynamodb(place, operation, &json).map_or_else(unknown, Ok),
        "CloudWatch Logs" => {
            let group = |name: &str| place.arn("logs", &format!("log-group:{name}:*"));
            let calls = match operation {
                "DescribeLogGroups" => vec![Call::new("logs:DescribeLogGroups", "*")],
                "StartLiveTail" => json["logGroupIdentifiers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|arn| {
                        let arn = arn.trim_end_matches(":*");
                        Call::new("logs:StartLiveTail", format!("{arn}:*"))
                    })
                    .collect(),
                _ => match string("logGroupName") {
                    Some(name) => vec![Call::new(format!("logs:{operation}"), group(&name))],
                    None => return unknown(),
                },
            };
            Ok(calls)
        }
        "Lambda" => lambda(place, operation, path).map_or_else(unknown, Ok),
        _ => unknown(),
    }
}

fn cloudformation(place: &Place, operation: &str, stack: Option<String>) -> Option<Vec<Call>> {
    let action = format!("cloudformation:{operation}");
    let resource = match operation {
        // Resource-less actions, and DescribeStacks without a name (every stack).
        "DescribeStackDriftDetectionStatus" | "ValidateTemplate" | "ListStacks" => "*".to_owned(),
        _ => match stack {
            Some(arn) if arn.starts_with("arn:") => arn,
            // A stack named, not yet known by id: IAM matches `stack/<name>/*`.
            Some(name) => place.arn(
                "cloudformation",
                &format!("stack/{name}/00000000-0000-0000-0000-000000000000"),
            ),
            None if operation == "DescribeStacks" => "*".to_owned(),
            None => return None,
        },
    };
    Some(vec![Call::new(action, resource)])
}

/// A DynamoDB request's authorizations: the table (or its index) it names; a transaction item
/// by item, as the item's own action; a batch per table.
fn dynamodb(place: &Place, operation: &str, json: &Value) -> Option<Vec<Call>> {
    let table = |name: &str| place.arn("dynamodb", &format!("table/{name}"));
    let single = |action: &str, name: &str| Call::new(format!("dynamodb:{action}"), table(name));
    let calls = match operation {
        "ListTables" => vec![Call::new("dynamodb:ListTables", "*")],
        "TransactWriteItems" | "TransactGetItems" => json["TransactItems"]
            .as_array()?
            .iter()
            .filter_map(|item| {
                let (kind, body) = item.as_object()?.iter().next()?;
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    "Get" => "GetItem",
                    _ => return None,
                };
                Some(single(action, body["TableName"].as_str()?))
            })
            .collect(),
        "BatchWriteItem" | "BatchGetItem" => json["RequestItems"]
            .as_object()?
            .keys()
            .map(|name| single(operation, name))
            .collect(),
        "ListTagsOfResource" | "TagResource" | "UntagResource" => vec![Call::new(
            format!("dynamodb:{operation}"),
            json["ResourceArn"].as_str()?,
        )],
        _ => {
            let name = json["TableName"].as_str()?;
            let resource = match json["IndexName"].as_str() {
                Some(index) => format!("{}/index/{index}", table(name)),
                None => table(name),
            };
            vec![Call::new(format!("dynamodb:{operation}"), resource)]
        }
    };
    Some(calls)
}

/// Lambda's REST paths: `/2015-03-31/functions/{name}/…`, the name possibly qualified
/// (`name:live`) or an ARN.
fn lambda(place: &Place, operation: &str, path: &str) -> Option<Vec<Call>> {
    if operation == "GetAccountSettings" {
        return Some(vec![Call::new("lambda:GetAccountSettings", "*")]);
    }
    let rest = path.split("/functions/").nth(1)?;
    let name = decode(rest.split('/').next()?);
    let resource = if name.starts_with("arn:") {
        name
    } else {
        place.arn("lambda", &format!("function:{name}"))
    };
    Some(vec![Call::new(format!("lambda:{operation}"), resource)])
}

/// An endpoint that takes hand-signed requests, as a stand-in plays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// A stage of an API Gateway API: its routes (`execute-api:Invoke`) and, for a WebSocket
    /// API, its management API (`/@connections/{id}`: `execute-api:ManageConnections`).
    ExecuteApi {
        /// The API's id.
        api: &'a str,
        /// The stage (`$default` for an HTTP API's default stage).
        stage: &'a str,
    },
    /// API Gateway's own management API (`GET /account`).
    ApiGateway,
    /// Amazon SQS (JSON protocol).
    Sqs,
    /// IAM (query protocol).
    Iam,
    /// AWS Lambda's REST API: invokes, the account's settings, a function's `live` alias
    /// (`GetAlias`, `UpdateAlias`), a version's configuration and the version list.
    Lambda,
    /// Amazon S3, path-style (`/bucket/key`).
    S3,
    /// Amazon CloudWatch (`DescribeAlarms`, JSON 1.0 or query).
    CloudWatch,
    /// Amazon SNS (query protocol: `Publish`).
    Sns,
}

impl Endpoint<'_> {
    /// The region requests to the endpoint are signed for: IAM is global, signed for its
    /// partition's region; the others for the region they are in.
    pub fn signing_region(&self, place: &Place) -> String {
        match (self, place.partition.as_str()) {
            (Endpoint::Iam, "aws-cn") => "cn-north-1".into(),
            (Endpoint::Iam, "aws-us-gov") => "us-gov-west-1".into(),
            (Endpoint::Iam, _) => "us-east-1".into(),
            _ => place.region.clone(),
        }
    }

    /// The SigV4 signing name of the endpoint.
    pub fn signing_name(&self) -> &'static str {
        match self {
            Endpoint::ExecuteApi { .. } => "execute-api",
            Endpoint::ApiGateway => "apigateway",
            Endpoint::Sqs => "sqs",
            Endpoint::Iam => "iam",
            Endpoint::Lambda => "lambda",
            Endpoint::S3 => "s3",
            Endpoint::CloudWatch => "monitoring",
            Endpoint::Sns => "sns",
        }
    }
}

/// The authorization of a hand-signed HTTP request to `endpoint` (`path` and `query` as sent,
/// `target` its `x-amz-target` header), or `None` when the kit does not know the request.
pub fn http(
    place: &Place,
    endpoint: Endpoint<'_>,
    method: &str,
    (path, query): (&str, &str),
    target: Option<&str>,
    body: &[u8],
) -> Option<Call> {
    match endpoint {
        Endpoint::S3 => s3(place, method, path, query),
        Endpoint::ApiGateway => Some(Call::new(
            format!("apigateway:{method}"),
            format!(
                "arn:{}:apigateway:{}::{path}",
                place.partition, place.region
            ),
        )),
        Endpoint::ExecuteApi { api, stage } => {
            // A named stage's path starts with it; the `$default` stage's does not.
            let route = path.strip_prefix(&format!("/{stage}")).unwrap_or(path);
            let route = decode(route);
            let resource = place.arn("execute-api", &format!("{api}/{stage}/{method}{route}"));
            let action = if route.starts_with("/@connections/") {
                "execute-api:ManageConnections"
            } else {
                "execute-api:Invoke"
            };
            Some(Call::new(action, resource))
        }
        Endpoint::Sqs => {
            let json: Value = serde_json::from_slice(body).ok()?;
            let name = json["QueueUrl"].as_str()?.rsplit('/').next()?.to_owned();
            json.get("AttributeNames")?;
            Some(Call::new("sqs:GetQueueAttributes", place.arn("sqs", &name)))
        }
        Endpoint::Iam => {
            let text = String::from_utf8_lossy(body);
            let action = text.split('&').find_map(|p| p.strip_prefix("Action="))?;
            Some(Call::new(format!("iam:{action}"), "*"))
        }
        Endpoint::Lambda => lambda_rest(place, method, path, query),
        Endpoint::CloudWatch => {
            let operation = match target {
                Some(target) => target.rsplit_once('.')?.1.to_owned(),
                None => form_field(body, "Action")?,
            };
            // DescribeAlarms takes no resource (and a composite alarm is described only to
            // a DescribeAlarms allowed on "*").
            (operation == "DescribeAlarms").then(|| Call::new("cloudwatch:DescribeAlarms", "*"))
        }
        Endpoint::Sns => {
            let action = form_field(body, "Action")?;
            let topic = form_field(body, "TopicArn")?;
            (action == "Publish").then(|| Call::new("sns:Publish", topic))
        }
    }
}

/// A field of a form-encoded body, decoded.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| decode(k) == name)
        .map(|(_, v)| decode(v))
}

/// Lambda's REST requests noteapp signs by hand: the account's settings, an invoke, a
/// function's alias (read and update, authorized on the function), one version's
/// configuration (`?Qualifier=N`, on the version's ARN) and the list of its versions.
fn lambda_rest(place: &Place, method: &str, path: &str, query: &str) -> Option<Call> {
    if path.ends_with("/account-settings/") || path.ends_with("/account-settings") {
        return Some(Call::new("lambda:GetAccountSettings", "*"));
    }
    let rest = path.split("/functions/").nth(1)?;
    let mut parts = rest.split('/');
    let name = decode(parts.next()?);
    let tail: Vec<&str> = parts.collect();
    let qualifier = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("Qualifier="))
        .map(decode);
    let function = if name.starts_with("arn:") {
        name
    } else {
        place.arn("lambda", &format!("function:{name}"))
    };
    let qualified = match &qualifier {
        Some(q) => format!("{function}:{q}"),
        None => function.clone(),
    };
    let (action, resource) = match (method, tail.as_slice()) {
        ("POST", ["invocations"]) => ("InvokeFunction", qualified),
        ("GET", ["aliases", _]) => ("GetAlias", function),
        ("PUT", ["aliases", _]) => ("UpdateAlias", function),
        ("GET", ["configuration"]) => ("GetFunctionConfiguration", qualified),
        ("GET", ["versions"]) => ("ListVersionsByFunction", function),
        _ => return None,
    };
    Some(Call::new(format!("lambda:{action}"), resource))
}

/// S3's actions for the requests noteapp makes: the bucket's (`HEAD` is `s3:ListBucket`, the
/// configuration subresources their own `Put…`) and its objects'.
fn s3(place: &Place, method: &str, path: &str, query: &str) -> Option<Call> {
    let (bucket, key) = match path.trim_start_matches('/').split_once('/') {
        Some((bucket, key)) if !key.is_empty() => (bucket, Some(decode(key))),
        Some((bucket, _)) => (bucket, None),
        None => (path.trim_start_matches('/'), None),
    };
    if bucket.is_empty() {
        return None;
    }
    let subresource = query.split('&').next().unwrap_or_default();
    let subresource = subresource.split('=').next().unwrap_or_default();
    let action = match (&key, method, subresource) {
        (None, "HEAD", "") | (None, "GET", "" | "list-type") => "ListBucket",
        (None, "PUT", "") => "CreateBucket",
        (None, "PUT", "publicAccessBlock") => "PutBucketPublicAccessBlock",
        (None, "PUT", "encryption") => "PutEncryptionConfiguration",
        (None, "PUT", "policy") => "PutBucketPolicy",
        (Some(_), "GET" | "HEAD", "") => "GetObject",
        (Some(_), "PUT", "") => "PutObject",
        (Some(_), "DELETE", "") => "DeleteObject",
        _ => return None,
    };
    let resource = match key {
        Some(key) => format!("arn:{}:s3:::{bucket}/{key}", place.partition),
        None => format!("arn:{}:s3:::{bucket}", place.partition),
    };
    Some(Call::new(format!("s3:{action}"), resource))
}

/// The object a template URL names, as its S3 ARN: `https://B.s3.R.amazonaws.com/K`,
/// `https://s3.R.amazonaws.com/B/K`, or path-style at a custom endpoint.
pub fn s3_object_arn(place: &Place, url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let (host, path) = rest.split_once('/')?;
    let (bucket, key) = match host.split_once(".s3.") {
        Some((bucket, _)) if !bucket.is_empty() => (bucket.to_owned(), path.to_owned()),
        _ => {
            let (bucket, key) = path.split_once('/')?;
            (bucket.to_owned(), key.to_owned())
        }
    };
    Some(format!(
        "arn:{}:s3:::{bucket}/{}",
        place.partition,
        decode(&key)
    ))
}

/// What AWS refuses in a request before any IAM decision, as its error message: CloudFormation
/// takes a template inline up to 51,200 bytes ("Member must have length less than or equal to
/// 51200"; a larger one goes by `TemplateURL`).
pub fn invalid(service: &str, operation: &str, body: &[u8]) -> Option<String> {
    if service != "CloudFormation" {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    let template = text
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "TemplateBody")
        .map(|(_, v)| decode(v))?;
    (template.len() > TEMPLATE_BODY_LIMIT).then(|| {
        format!(
            "ValidationError: 1 validation error detected: Value at 'templateBody' failed to \
             satisfy constraint: Member must have length less than or equal to \
             {TEMPLATE_BODY_LIMIT} ({operation} sent {} bytes)",
            template.len()
        )
    })
}

/// CloudFormation's limit on a template sent inline (`TemplateBody`), in bytes.
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;

/// Percent-decodes `text` (`+` is a space in a form).
pub(crate) fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn place() -> Place {
        Place::example()
    }

    fn actions(calls: &[Call]) -> Vec<(&str, &str)> {
        calls
            .iter()
            .map(|c| (c.action.as_str(), c.resource.as_str()))
            .collect()
    }

    #[test]
    fn a_transaction_is_authorized_item_by_item_on_each_items_table() {
        let body = json!({"TransactItems": [
            {"Update": {"TableName": "t-comments", "Key": {}}},
            {"Put": {"TableName": "t-comments", "Item": {}}},
            {"ConditionCheck": {"TableName": "t-notes", "Key": {}}},
        ]});
        let calls = sdk(
            &place(),
            "DynamoDB",
            "TransactWriteItems",
            "/",
            body.to_string().as_bytes(),
        )
        .unwrap();
        let table = |t: &str| format!("arn:aws:dynamodb:eu-west-1:123456789012:table/{t}");
        assert_eq!(
            actions(&calls),
            [
                ("dynamodb:UpdateItem", table("t-comments").as_str()),
                ("dynamodb:PutItem", table("t-comments").as_str()),
                ("dynamodb:ConditionCheckItem", table("t-notes").as_str()),
            ]
        );
    }

    #[test]
    fn a_query_on_an_index_is_authorized_on_the_index() {
        let body = json!({"TableName": "t-notes", "IndexName": "OwnerNotesIndex"});
        let calls = sdk(
            &place(),
            "DynamoDB",
            "Query",
            "/",
            body.to_string().as_bytes(),
        )
        .unwrap();
        assert_eq!(
            actions(&calls),
            [(
                "dynamodb:Query",
                "arn:aws:dynamodb:eu-west-1:123456789012:table/t-notes/index/OwnerNotesIndex"
            )]
        );
    }

    #[test]
    fn stacks_named_or_by_arn_and_unknown_calls_are_refused() {
        let calls = sdk(
            &place(),
            "CloudFormation",
            "DescribeStacks",
            "/",
            b"Action=DescribeStacks&StackName=noteapp-staging",
        )
        .unwrap();
        assert!(
            calls[0].resource.starts_with(
                "arn:aws:cloudformation:eu-west-1:123456789012:stack/noteapp-staging/"
            )
        );
        let by_arn = b"Action=DescribeStackEvents&StackName=arn%3Aaws%3Acloudformation%3Aeu-west-1%3A123456789012%3Astack%2Fnoteapp-staging%2F4c1f";
        let calls = sdk(
            &place(),
            "CloudFormation",
            "DescribeStackEvents",
            "/",
            by_arn,
        )
        .unwrap();
        assert_eq!(
            calls[0].resource,
            "arn:aws:cloudformation:eu-west-1:123456789012:stack/noteapp-staging/4c1f"
        );
        assert!(
            sdk(&place(), "STS", "GetCallerIdentity", "/", b"")
                .unwrap()
                .is_empty()
        );
        let refused = sdk(&place(), "Kinesis", "PutRecord", "/", b"{}").unwrap_err();
        assert!(refused.contains("Kinesis PutRecord"), "{refused}");
    }

    #[test]
    fn hand_signed_calls_map_to_their_routes() {
        let p = place();
        let default = Endpoint::ExecuteApi {
            api: "a1b2c3",
            stage: "$default",
        };
        let invoke = http(
            &p,
            default,
            "POST",
            ("/websocket/broadcast", ""),
            None,
            b"{}",
        )
        .unwrap();
        assert_eq!(
            (invoke.action.as_str(), invoke.resource.as_str()),
            (
                "execute-api:Invoke",
                "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/$default/POST/websocket/broadcast"
            )
        );
        let staging = Endpoint::ExecuteApi {
            api: "a1b2c3",
            stage: "staging",
        };
        let manage = http(
            &p,
            staging,
            "POST",
            ("/staging/@connections/Zx%3D", ""),
            None,
            b"{}",
        )
        .unwrap();
        assert_eq!(manage.action, "execute-api:ManageConnections");
        assert!(manage.resource.ends_with("/staging/POST/@connections/Zx="));
        let account = http(&p, Endpoint::ApiGateway, "GET", ("/account", ""), None, b"").unwrap();
        assert_eq!(account.resource, "arn:aws:apigateway:eu-west-1::/account");
    }

    #[test]
    fn lambda_alias_and_version_reads_alarms_and_topics_map_to_their_actions() {
        let p = place();
        let lambda = |method: &str, path: &str, query: &str| {
            http(&p, Endpoint::Lambda, method, (path, query), None, b"")
                .map(|c| (c.action, c.resource))
        };
        let function = "arn:aws:lambda:eu-west-1:123456789012:function:noteapp-staging-api";
        let alias = "/2015-03-31/functions/noteapp-staging-api/aliases/live";
        assert_eq!(
            lambda("GET", alias, ""),
            Some(("lambda:GetAlias".into(), function.into()))
        );
        assert_eq!(
            lambda("PUT", alias, ""),
            Some(("lambda:UpdateAlias".into(), function.into()))
        );
        assert_eq!(
            lambda(
                "GET",
                "/2015-03-31/functions/noteapp-staging-api/configuration",
                "Qualifier=7"
            ),
            Some((
                "lambda:GetFunctionConfiguration".into(),
                format!("{function}:7")
            ))
        );
        assert_eq!(
            lambda("POST", "/2015-03-31/functions/f/invocations", "")
                .unwrap()
                .0,
            "lambda:InvokeFunction"
        );
        assert_eq!(
            lambda("GET", "/2016-08-19/account-settings/", "")
                .unwrap()
                .0,
            "lambda:GetAccountSettings"
        );
        assert_eq!(lambda("DELETE", alias, ""), None, "an unknown request");
        let describe = http(
            &p,
            Endpoint::CloudWatch,
            "POST",
            ("/", ""),
            Some("GraniteServiceVersion20100801.DescribeAlarms"),
            b"{}",
        )
        .unwrap();
        assert_eq!(
            (describe.action.as_str(), describe.resource.as_str()),
            ("cloudwatch:DescribeAlarms", "*")
        );
        let topic = "arn:aws:sns:eu-west-1:123456789012:noteapp-staging-operators";
        let body = format!(
            "Action=Publish&TopicArn={}&Message=hi",
            topic.replace(':', "%3A")
        );
        let publish = http(&p, Endpoint::Sns, "POST", ("/", ""), None, body.as_bytes()).unwrap();
        assert_eq!(
            (publish.action.as_str(), publish.resource.as_str()),
            ("sns:Publish", topic)
        );
    }

    #[test]
    fn s3_requests_map_to_the_bucket_or_the_object() {
        let p = place();
        let call = |method: &str, path: &str, query: &str| {
            http(&p, Endpoint::S3, method, (path, query), None, b"")
                .map(|c| (c.action, c.resource))
                .unwrap()
        };
        let bucket = "arn:aws:s3:::noteapp-releases-123456789012-eu-west-1".to_owned();
        let path = "/noteapp-releases-123456789012-eu-west-1";
        assert_eq!(
            call("HEAD", path, ""),
            ("s3:ListBucket".into(), bucket.clone())
        );
        assert_eq!(
            call("PUT", path, ""),
            ("s3:CreateBucket".into(), bucket.clone())
        );
        assert_eq!(
            call("PUT", path, "policy"),
            ("s3:PutBucketPolicy".into(), bucket.clone())
        );
        let object = format!("{path}/noteapp-staging/releases/3.yaml");
        assert_eq!(
            call("PUT", &object, ""),
            (
                "s3:PutObject".into(),
                format!("{bucket}/noteapp-staging/releases/3.yaml")
            )
        );
        assert_eq!(call("DELETE", &object, "").0, "s3:DeleteObject");
        assert_eq!(call("GET", &object, "").0, "s3:GetObject");
        assert!(http(&p, Endpoint::S3, "PUT", (path, "acl"), None, b"").is_none());
    }

    #[test]
    fn a_template_by_url_is_read_with_the_callers_permission_and_a_large_body_is_invalid() {
        let p = place();
        let url =
            "https://noteapp-releases-1-eu-west-1.s3.eu-west-1.amazonaws.com/s/releases/2.yaml";
        let body = format!("Action=CreateChangeSet&StackName=s&TemplateURL={url}");
        let calls = sdk(
            &p,
            "CloudFormation",
            "CreateChangeSet",
            "/",
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(calls[1].action, "s3:GetObject");
        assert_eq!(
            calls[1].resource,
            "arn:aws:s3:::noteapp-releases-1-eu-west-1/s/releases/2.yaml"
        );
        let path_style = "http://127.0.0.1:4566/bucket/s/releases/2.yaml";
        assert_eq!(
            s3_object_arn(&p, path_style).unwrap(),
            "arn:aws:s3:::bucket/s/releases/2.yaml"
        );
        let at_limit = format!("TemplateBody={}", "a".repeat(TEMPLATE_BODY_LIMIT));
        assert_eq!(
            invalid("CloudFormation", "CreateChangeSet", at_limit.as_bytes()),
            None
        );
        let over = format!("TemplateBody={}", "a".repeat(TEMPLATE_BODY_LIMIT + 1));
        let refusal = invalid("CloudFormation", "CreateChangeSet", over.as_bytes()).unwrap();
        assert!(refusal.contains("less than or equal to 51200"), "{refusal}");
    }
}
