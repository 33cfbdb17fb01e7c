//! The kit on a real SDK client and on a hand-signed request: what the identity may do passes,
//! anything else is refused as AWS refuses it, naming the identity, the action and the resource.

use aws_credential_types::Credentials;
use serde_json::json;

use super::*;
use crate::loopback::{Reply, Server};

fn policy(actions: &[&str], resource: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Given", "Effect": "Allow", "Action": actions, "Resource": resource}
    ]})
}

async fn dynamodb(
    kit: &Kit,
    identity: &str,
    credentials: Credentials,
    endpoint: &str,
) -> aws_sdk_dynamodb::Client {
    let sdk = noteapp_runtime::aws_http::loopback_config(endpoint, "eu-west-1");
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .credentials_provider(credentials)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .interceptor(kit.checker(identity))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sdk_client_may_do_what_its_identity_holds_and_nothing_else() {
    let kit = Kit::new("123456789012", "eu-west-1");
    let table = "arn:aws:dynamodb:eu-west-1:123456789012:table/notes";
    let credentials = kit.identity(
        "function:api",
        "arn:aws:sts::123456789012:assumed-role/noteapp-staging-ApiRole-X/noteapp-staging-api",
        vec![policy(&["dynamodb:GetItem"], table)],
    );
    let server =
        Server::answering(|_| Reply::with_type(200, "application/x-amz-json-1.0", "{}")).await;
    let client = dynamodb(&kit, "function:api", credentials, &server.url).await;
    client
        .get_item()
        .table_name("notes")
        .key("id", aws_sdk_dynamodb::types::AttributeValue::S("a".into()))
        .send()
        .await
        .unwrap();
    let refused = client
        .delete_item()
        .table_name("notes")
        .key("id", aws_sdk_dynamodb::types::AttributeValue::S("a".into()))
        .send()
        .await
        .unwrap_err();
    let text = format!("{:?}", refused);
    assert!(text.contains("not authorized to perform: dynamodb:DeleteItem on resource: arn:aws:dynamodb:eu-west-1:123456789012:table/notes"), "{text}");
    assert_eq!(
        server.requests().len(),
        1,
        "the refused request never reached the service"
    );
    let denials = kit.take_denials();
    assert_eq!(denials.len(), 1);
    assert!(
        denials[0].identity.starts_with("function:api"),
        "{}",
        denials[0]
    );
}

fn signed(credentials: &Credentials, url: &str, body: &str) -> http::Request<String> {
    let mut request = http::Request::builder()
        .method("POST")
        .uri(url)
        .header(
            "host",
            url.trim_start_matches("http://").split('/').next().unwrap(),
        )
        .body(body.to_owned())
        .unwrap();
    let now = std::time::SystemTime::now();
    let region = "eu-west-1";
    crate::sigv4::sign_as_the_sdk(
        &mut request,
        body.as_bytes(),
        credentials,
        region,
        "execute-api",
        now,
    );
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_signed_request_is_admitted_only_for_an_identity_allowed_to_invoke_the_route() {
    let kit = Kit::new("123456789012", "eu-west-1");
    let route = "arn:aws:execute-api:eu-west-1:123456789012:api1/$default/POST/websocket/broadcast";
    let operator = kit.identity(
        "deployer",
        "arn:aws:sts::123456789012:assumed-role/deployer/me",
        vec![policy(&["execute-api:Invoke"], route)],
    );
    let stranger = kit.identity(
        "ci",
        "arn:aws:sts::123456789012:assumed-role/ci/gh",
        vec![policy(&["cloudformation:DescribeStacks"], "*")],
    );
    let admitting = kit.clone();
    let endpoint = Endpoint::ExecuteApi {
        api: "api1",
        stage: "$default",
    };
    let server = Server::answering(move |request| match admitting.admit(request, endpoint) {
        Ok(who) => Reply::json(200, format!("{{\"who\":\"{who}\"}}")),
        Err(refusal) => refusal,
    })
    .await;
    let client = reqwest_less_post;
    let url = format!("{}/websocket/broadcast", server.url);
    assert_eq!(
        client(signed(&operator, &url, "{}")).await,
        (200, "{\"who\":\"deployer\"}".into())
    );
    let (status, body) = client(signed(&stranger, &url, "{}")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("execute-api:Invoke"), "{body}");
    let mut unsigned = signed(&operator, &url, "{}");
    unsigned.headers_mut().remove("authorization");
    assert_eq!(client(unsigned).await.0, 403);
    let mut tampered = signed(&operator, &url, "{}");
    *tampered.body_mut() = "{\"more\":1}".into();
    let (status, body) = client(tampered).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("signature we calculated does not match"),
        "{body}"
    );
    assert_eq!(kit.take_denials().len(), 3);
}

/// Sends `request` over a plain HTTP/1.1 connection: (status, body).
async fn reqwest_less_post(request: http::Request<String>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = request.headers()["host"].to_str().unwrap().to_owned();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method(), request.uri().path());
    for (name, value) in request.headers() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        request.body().len()
    ));
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(request.body().as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn a_role_session_is_its_role_for_aws_principal_arn() {
    assert_eq!(
        role_arn(
            "arn:aws:sts::123456789012:assumed-role/noteapp-staging-ApiRole-X/noteapp-staging-api"
        ),
        "arn:aws:iam::123456789012:role/noteapp-staging-ApiRole-X"
    );
    assert_eq!(
        role_arn("arn:aws:iam::123456789012:user/alice"),
        "arn:aws:iam::123456789012:user/alice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stand_in_keeps_aliases_and_alarms_as_lambda_and_cloudwatch_answer() {
    use noteapp_runtime::guard::calls::{self, Alarms, AliasUpdate};
    let kit = Kit::new("123456789012", "eu-west-1");
    let functions = "arn:aws:lambda:eu-west-1:123456789012:function:noteapp-staging-*";
    let credentials = kit.identity(
        "deployer",
        "arn:aws:sts::123456789012:assumed-role/noteapp-operators/alice",
        vec![
            policy(&["lambda:GetAlias", "lambda:UpdateAlias"], functions),
            policy(&["cloudwatch:DescribeAlarms"], "*"),
        ],
    );
    let services = services::SignedServices::start(kit.clone()).await;
    let lambda = services.lambda();
    let (old, new) = (
        lambda.publish("noteapp-staging-api", "noteapp release a"),
        lambda.publish("noteapp-staging-api", "noteapp release b"),
    );
    lambda.point("noteapp-staging-api", &new, &[(old.as_str(), 0.9)], "shift");
    services.set_alarm("noteapp-staging-release-health", true, "ALARM", "api 5xx");
    services.set_alarm(
        "noteapp-staging-api-5xx-rate",
        false,
        "ALARM",
        "Threshold Crossed",
    );
    let provider = aws_credential_types::provider::SharedCredentialsProvider::new(credentials);
    let signer = noteapp_runtime::aws_http::Signer::new(provider, "eu-west-1");
    let http = noteapp_runtime::aws_http::https_client(std::time::Duration::from_secs(5)).unwrap();
    let url = services.url().to_owned();
    let alias = calls::get_alias(&http, &signer, &url, "noteapp-staging-api", "live")
        .await
        .unwrap();
    assert_eq!(
        (alias.version.as_str(), alias.weights.clone()),
        ("2", vec![("1".to_owned(), 0.9)])
    );
    let mut update = AliasUpdate {
        function: "noteapp-staging-api",
        alias: "live",
        version: "1",
        description: "rolled back",
        revision: Some("stale"),
    };
    let stale = calls::update_alias(&http, &signer, &url, &update)
        .await
        .unwrap_err();
    assert!(calls::is_stale_revision(&stale), "{stale}");
    update.revision = alias.revision.as_deref();
    let moved = calls::update_alias(&http, &signer, &url, &update)
        .await
        .unwrap();
    assert!(!moved.is_shifting());
    assert_eq!(lambda.alias("noteapp-staging-api").unwrap().version, "1");
    let changes = lambda.changes();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1].by, "deployer");
    let missing = calls::get_alias(&http, &signer, &url, "noteapp-staging-ws-connect", "live")
        .await
        .unwrap_err();
    assert!(matches!(
        missing,
        noteapp_runtime::aws_http::SignedError::Status { status: 404, .. }
    ));
    let names = ["noteapp-staging-release-health"];
    let health = calls::describe_alarms(&http, &signer, &url, Alarms::Named(&names))
        .await
        .unwrap();
    assert_eq!(health.len(), 1);
    assert!(health[0].composite && health[0].is_alarm());
    let all = calls::describe_alarms(&http, &signer, &url, Alarms::Prefix("noteapp-staging-"))
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(services.alarm_reads(), 2);
    // Another stack's function is refused, as IAM would.
    let refused = calls::get_alias(&http, &signer, &url, "other-api", "live").await;
    assert!(refused.is_err());
    assert_eq!(kit.take_denials().len(), 1);
}
