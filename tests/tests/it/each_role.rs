//! Each function's role, as the rendered template gives it, on the paths the other tests do not
//! take under it: what Lambda does with the role (write the function's logs, deliver a failed
//! broadcast to the on-failure queue), the API's async invokes of the broadcast and cleanup
//! `live` aliases, the rate-limit counters and broadcast progress in the Control table, a user's
//! open connections, and the guard's reads and moves of the aliases, alarm states and message to
//! the operators. Every request is decided by the kit as IAM would decide it for the role.

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use noteapp_runtime::aws_http::{Signer, https_client};
use noteapp_runtime::functions::Function;
use noteapp_runtime::guard::calls::{self, Alarms, AliasUpdate};
use noteapp_runtime::store::connections::ConnectionStore;
use noteapp_runtime::store::control::{BroadcastProgress, ControlStore};
use noteapp_runtime::store::dynamodb::{DynamoConnections, DynamoControl, TableNames};
use noteapp_test_support::kit::{Call, Endpoint};
use noteapp_test_support::loopback::{Reply, Server};
use noteapp_test_support::sigv4;
use noteapp_tests::dynamodb;
use noteapp_tests::roles::{self, REGION, roles};

fn signer(credentials: &Credentials) -> Signer {
    Signer::new(SharedCredentialsProvider::new(credentials.clone()), REGION)
}

/// No request of these credentials was refused.
fn assert_allowed(credentials: &[Credentials]) {
    let denials = roles().kit().take_denials_of(credentials);
    assert!(denials.is_empty(), "refused: {denials:#?}");
}

#[test]
fn lambda_writes_each_functions_logs_and_delivers_a_failed_broadcast_with_the_functions_role() {
    let tables = TableNames::with_prefix("noteapp-staging-roles");
    let stack = roles().stack(&tables);
    let kit = roles().kit();
    let mut used = Vec::new();
    for function in Function::ALL {
        let credentials = roles().credentials(function, &tables);
        let group = format!("{}LogGroup", function.logical_prefix());
        let arn = &stack.attributes[&(group.clone(), "Arn".to_owned())];
        let stream = arn.replace(":*", ":log-stream:2026/12/07/[$LATEST]0f1e2d3c");
        for action in ["logs:CreateLogStream", "logs:PutLogEvents"] {
            let call = Call::new(action, stream.clone());
            kit.decide(credentials.access_key_id(), &call)
                .unwrap_or_else(|d| panic!("{}: {d}", function.name()));
        }
        // Another function's group is not its own.
        let other = arn.replace(function.name(), "elsewhere");
        let call = Call::new("logs:PutLogEvents", other.replace(":*", ":log-stream:s"));
        assert!(kit.decide(credentials.access_key_id(), &call).is_err());
        used.push(credentials);
    }
    kit.take_denials_of(&used);
    // The broadcast's on-failure destination: Lambda sends the event with the function's role.
    let broadcast = roles().credentials(Function::WsBroadcast, &tables);
    let queue = &stack.attributes[&("BroadcastFailuresQueue".to_owned(), "Arn".to_owned())];
    let send = Call::new("sqs:SendMessage", queue.clone());
    kit.decide(broadcast.access_key_id(), &send).unwrap();
    let api = roles().credentials(Function::Api, &tables);
    assert!(
        kit.decide(api.access_key_id(), &send).is_err(),
        "only ws-broadcast's"
    );
    kit.take_denials_of(&[api]);
}

#[tokio::test]
async fn the_api_invokes_the_broadcast_and_cleanup_aliases_and_nothing_else() {
    let tables = TableNames::with_prefix("noteapp-staging-invokes");
    let credentials = roles().credentials(Function::Api, &tables);
    let kit = roles().kit().clone();
    let lambda = Server::answering(move |request| match kit.admit(request, Endpoint::Lambda) {
        Ok(_) => Reply::json(202, ""),
        Err(refusal) => refusal,
    })
    .await;
    let http = https_client(std::time::Duration::from_secs(5)).unwrap();
    let signer = signer(&credentials);
    for alias in ["WsBroadcastLiveAlias", "CleanupLiveAlias"] {
        let function = roles().reference(alias, &tables);
        assert!(function.ends_with(":live"), "{function}");
        noteapp_runtime::aws_http::invoke_async(
            &http,
            &signer,
            &lambda.url,
            &function,
            bytes::Bytes::from_static(b"{}"),
        )
        .await
        .unwrap_or_else(|e| panic!("{alias}: {e}"));
    }
    // The unqualified function (any version) is not the API's to invoke.
    let unqualified = roles().reference("WsBroadcastFunction", &tables);
    let refused = noteapp_runtime::aws_http::invoke_async(
        &http,
        &signer,
        &lambda.url,
        &unqualified,
        bytes::Bytes::from_static(b"{}"),
    )
    .await
    .unwrap_err();
    assert!(
        refused.to_string().contains("lambda:InvokeFunction"),
        "{refused}"
    );
    roles()
        .kit()
        .take_denials_of(std::slice::from_ref(&credentials));
}

#[tokio::test]
async fn the_control_table_and_a_users_connections_are_used_as_each_functions_role() {
    let Some(server) = dynamodb::shared() else {
        return;
    };
    let (_, tables) = dynamodb::tables_on(server).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // The API's and ws-connect's rate limits: one counter write each.
    for function in [Function::Api, Function::WsConnect] {
        let control =
            DynamoControl::new(roles::client_as(server, function, &tables), &tables.control);
        let key = format!("rl#test#{}#{now}", function.name());
        assert_eq!(control.add(&key, 1, now + 120).await.unwrap(), 1);
    }
    // ws-connect counts the user's open connections on the user index.
    let connections = DynamoConnections::new(
        roles::client_as(server, Function::WsConnect, &tables),
        &tables.connections,
    );
    assert!(
        connections
            .user_connections("u1", now)
            .await
            .unwrap()
            .is_empty()
    );
    // ws-broadcast: the send budget, and a broadcast's progress written and read back.
    let control = DynamoControl::new(
        roles::client_as(server, Function::WsBroadcast, &tables),
        &tables.control,
    );
    noteapp_runtime::store::control::take_budget(&control, now, 10, 500)
        .await
        .unwrap();
    let progress = BroadcastProgress {
        event_id: "e1".into(),
        failed: vec!["c1".into()],
        segments: Vec::new(),
        expires_at: now + 600,
    };
    control.put_broadcast_progress(&progress).await.unwrap();
    let read = control.broadcast_progress("e1", now).await.unwrap();
    assert_eq!(read.map(|p| p.failed), Some(vec!["c1".to_owned()]));
    let used: Vec<Credentials> = [Function::Api, Function::WsConnect, Function::WsBroadcast]
        .into_iter()
        .map(|f| roles().credentials(f, &tables))
        .collect();
    assert_allowed(&used);
}

const SHIFTING: &str = r#"{"AliasArn":"arn:aws:lambda:us-east-1:123456789012:function:noteapp-staging-api:live","Description":"noteapp shift release=12-3f9c2e1a0b4d-5e6f7a8b9c0d good=7 deadline=2026-12-07T10:00:00Z","FunctionVersion":"8","Name":"live","RevisionId":"rev-1","RoutingConfig":{"AdditionalVersionWeights":{"7":0.9}}}"#;

#[tokio::test]
async fn the_guard_reads_and_moves_the_live_aliases_reads_release_health_and_tells_the_operators() {
    let tables = TableNames::with_prefix("noteapp-staging-guard");
    let credentials = roles().credentials(Function::Guard, &tables);
    let kit = roles().kit().clone();
    let aws = Server::answering(move |request| {
        let service = request.header("authorization").and_then(sigv4::service_of);
        let endpoint = match service.as_deref().unwrap_or_default() {
            "lambda" => Endpoint::Lambda,
            "monitoring" => Endpoint::CloudWatch,
            "sns" => Endpoint::Sns,
            other => return Reply::json(400, format!("{{\"message\":\"{other}\"}}")),
        };
        if let Err(refusal) = kit.admit(request, endpoint) {
            return refusal;
        }
        match endpoint {
            Endpoint::Lambda => Reply::json(200, SHIFTING),
            Endpoint::CloudWatch => Reply::with_type(
                200,
                "application/x-amz-json-1.0",
                r#"{"CompositeAlarms":[{"AlarmName":"noteapp-staging-release-health","StateValue":"ALARM","StateReason":"api-5xx-rate"}],"MetricAlarms":[]}"#,
            ),
            _ => Reply::with_type(
                200,
                "text/xml",
                "<PublishResponse><PublishResult><MessageId>m1</MessageId></PublishResult></PublishResponse>",
            ),
        }
    })
    .await;
    let http = https_client(std::time::Duration::from_secs(5)).unwrap();
    let signer = signer(&credentials);
    let function = roles().reference("ApiFunction", &tables);
    let alias = calls::get_alias(&http, &signer, &aws.url, &function, "live")
        .await
        .unwrap();
    assert!(alias.is_shifting());
    let update = AliasUpdate {
        function: &function,
        alias: "live",
        version: "7",
        description: "noteapp rolled-back release=12-3f9c2e1a0b4d-5e6f7a8b9c0d good=7",
        revision: Some("rev-1"),
    };
    calls::update_alias(&http, &signer, &aws.url, &update)
        .await
        .unwrap();
    let health = ["noteapp-staging-release-health"];
    let alarms = calls::describe_alarms(&http, &signer, &aws.url, Alarms::Named(&health))
        .await
        .unwrap();
    assert!(alarms[0].is_alarm());
    let topic = roles().reference("OperatorsTopic", &tables);
    calls::publish(&http, &signer, &aws.url, &topic, "rolled back", "why")
        .await
        .unwrap();
    // Another stack's function and another topic are not the guard's.
    let other = calls::get_alias(&http, &signer, &aws.url, "other-api", "live").await;
    assert!(other.is_err());
    let stranger = topic.replace("noteapp-staging", "other");
    assert!(
        calls::publish(&http, &signer, &aws.url, &stranger, "s", "m")
            .await
            .is_err()
    );
    let denials = roles()
        .kit()
        .take_denials_of(std::slice::from_ref(&credentials));
    assert_eq!(denials.len(), 2, "{denials:#?}");
}
