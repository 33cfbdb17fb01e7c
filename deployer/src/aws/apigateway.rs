//! API Gateway's account settings, one call: whether the account already names the CloudWatch
//! role API Gateway writes access logs with. The WebSocket stage's access logs need one, and it
//! is one per account and region, so the stack creates it only where there is none (or where it
//! made it before): the `ApiGatewayLogRole` parameter. A signed `GET /account` rather than an
//! SDK crate: one call does not pay for a crate's compile time.

use noteapp_runtime::aws_http::Signer;

use crate::error::Error;
use crate::template::API_GATEWAY_LOG_ROLE;

/// The account's CloudWatch role for API Gateway, if it has one.
pub async fn account_log_role(
    http: &reqwest::Client,
    signer: &Signer,
    endpoint: &str,
) -> Result<Option<String>, Error> {
    let request = http::Request::get(format!("{endpoint}/account"))
        .header("accept", "application/json")
        .body(bytes::Bytes::new())
        .map_err(|e| Error::Usage(e.to_string()))?;
    let action = || {
        format!(
            "failed to read API Gateway's account settings in {} (the deploy role needs \
             apigateway:GET on the account)",
            signer.region()
        )
    };
    let answer = crate::aws::signed_json(http, signer, "apigateway", request, &action).await?;
    Ok(answer
        .get("cloudwatchRoleArn")
        .and_then(serde_json::Value::as_str)
        .filter(|arn| !arn.is_empty())
        .map(str::to_owned))
}

/// `create` or `existing`: a stack that created the role keeps it; otherwise the account's is
/// used when it has one.
pub fn log_role_choice(stack_has: Option<&str>, account_role: Option<&str>) -> &'static str {
    match (stack_has, account_role) {
        (Some("create"), _) => "create",
        (_, Some(_)) => "existing",
        (_, None) => "create",
    }
}

/// Decides the plan's `ApiGatewayLogRole` against the account and the stack as it is.
pub async fn decide_log_role(
    plan: &mut crate::plan::Plan,
    clients: &crate::aws::Clients,
    progress: &crate::progress::Progress,
) -> Result<(), Error> {
    let Some(signer) = &clients.signer else {
        return Ok(());
    };
    let http = clients.https()?;
    let endpoint = clients.endpoint("API_GATEWAY", "apigateway", &plan.region);
    let stack =
        crate::aws::stack::describe_stack(&clients.cloudformation, &plan.stack_name).await?;
    let stack_has = stack
        .as_ref()
        .and_then(|s| s.parameters.get(API_GATEWAY_LOG_ROLE))
        .map(String::as_str);
    let account = account_log_role(http, signer, &endpoint).await?;
    let choice = log_role_choice(stack_has, account.as_deref());
    if choice == "create" && stack_has != Some("create") {
        progress.line(format!(
            "the account has no CloudWatch role for API Gateway in {}: the stack sets one up \
             for the WebSocket stage's access logs",
            plan.region
        ));
    }
    plan.set_parameter(API_GATEWAY_LOG_ROLE, choice);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_keeps_a_role_it_made_and_otherwise_uses_the_accounts() {
        let arn = Some("arn:aws:iam::123456789012:role/apigw-logs");
        assert_eq!(log_role_choice(Some("create"), arn), "create");
        assert_eq!(log_role_choice(Some("existing"), arn), "existing");
        assert_eq!(log_role_choice(None, arn), "existing");
        assert_eq!(log_role_choice(None, None), "create");
        assert_eq!(log_role_choice(Some("existing"), None), "create");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_account_settings_are_read_with_a_signed_get_the_deployer_may_make() {
        use noteapp_test_support::kit::Endpoint;
        use noteapp_test_support::loopback::{Reply, Server};
        use std::sync::atomic::{AtomicUsize, Ordering};

        use crate::aws::replay;
        let answers = [
            r#"{"cloudwatchRoleArn":"arn:aws:iam::123456789012:role/apigw-logs","throttleSettings":{"burstLimit":5000,"rateLimit":10000.0}}"#,
            r#"{"throttleSettings":{"burstLimit":5000,"rateLimit":10000.0},"features":["UsagePlans"],"apiKeyVersion":"4"}"#,
        ];
        let served = AtomicUsize::new(0);
        let kit = replay::kit();
        let server = Server::answering(move |request| {
            if let Err(refusal) = kit.admit(request, Endpoint::ApiGateway) {
                return refusal;
            }
            Reply::json(200, answers[served.fetch_add(1, Ordering::SeqCst).min(1)])
        })
        .await;
        let signer = replay::signer(replay::DEPLOYER);
        let http =
            noteapp_runtime::aws_http::https_client(std::time::Duration::from_secs(5)).unwrap();
        let first = account_log_role(&http, &signer, &server.url).await.unwrap();
        assert_eq!(
            first.as_deref(),
            Some("arn:aws:iam::123456789012:role/apigw-logs")
        );
        let second = account_log_role(&http, &signer, &server.url).await.unwrap();
        assert_eq!(second, None);
        assert_eq!(server.requests().len(), 2);
    }
}
