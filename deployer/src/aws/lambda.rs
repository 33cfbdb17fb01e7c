//! Lambda's account settings, one call: how much concurrency the account has, so a deploy never
//! asks for reservations it cannot hold. A signed `GET /2016-08-19/account-settings/` rather than
//! an SDK crate: one call does not pay for a crate's compile time.
//!
//! The rule ([`check_reservations`]): the functions' reservations together must fit in what is
//! unreserved in the account now, plus what this stack reserves now (it gives that back), minus
//! the 100 executions AWS always keeps unreserved. A deploy that asks for more is refused before
//! any change set exists, naming the account's limit and what is free.

use noteapp_runtime::aws_http::Signer;
use noteapp_runtime::functions::Function;

use crate::error::Error;
use crate::plan::Plan;
use crate::template::RESERVED_CONCURRENCY;

/// The concurrent executions AWS keeps unreserved in every account and region.
pub const MIN_UNRESERVED: u64 = 100;

/// An account's concurrency in one region (Lambda's `AccountLimit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountConcurrency {
    /// `ConcurrentExecutions`: the account's limit.
    pub limit: u64,
    /// `UnreservedConcurrentExecutions`: what no function has reserved.
    pub unreserved: u64,
}

/// The account's concurrency, read with a signed `GetAccountSettings`.
pub async fn account_concurrency(
    http: &reqwest::Client,
    signer: &Signer,
    endpoint: &str,
) -> Result<AccountConcurrency, Error> {
    let request = http::Request::get(format!("{endpoint}/2016-08-19/account-settings/"))
        .header("accept", "application/json")
        .body(bytes::Bytes::new())
        .map_err(|e| Error::Usage(e.to_string()))?;
    let action = || {
        format!(
            "failed to read Lambda's account settings in {} (the deploy role needs \
             lambda:GetAccountSettings)",
            signer.region()
        )
    };
    let answer = crate::aws::signed_json(http, signer, "lambda", request, &action).await?;
    let field = |name: &str| {
        answer
            .pointer(&format!("/AccountLimit/{name}"))
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| Error::Aws {
                action: action(),
                reason: format!("the answer holds no AccountLimit.{name}"),
            })
    };
    Ok(AccountConcurrency {
        limit: field("ConcurrentExecutions")?,
        unreserved: field("UnreservedConcurrentExecutions")?,
    })
}

/// Each function's reservation in `parameters` (the stack's parameters, or a plan's); `-1` or
/// missing is none.
pub fn reservations<'a>(parameters: impl Fn(&str) -> Option<&'a str>) -> Vec<(Function, u64)> {
    Function::ALL
        .into_iter()
        .filter_map(|function| {
            let key = format!("{}{RESERVED_CONCURRENCY}", function.logical_prefix());
            let value = parameters(&key)?.parse::<i64>().ok()?;
            Some((function, u64::try_from(value).ok()?))
        })
        .collect()
}

/// Refuses `wanted` unless it fits in `account` once this stack's `current` reservations are
/// given back; the message names the account's limit, what is free and the file to change.
pub fn check_reservations(
    wanted: &[(Function, u64)],
    current: &[(Function, u64)],
    account: AccountConcurrency,
    environment: &str,
    region: &str,
) -> Result<(), String> {
    let asked: u64 = wanted.iter().map(|(_, n)| n).sum();
    let held: u64 = current.iter().map(|(_, n)| n).sum();
    let room = (account.unreserved + held).saturating_sub(MIN_UNRESERVED);
    if asked <= room {
        return Ok(());
    }
    let each: Vec<String> = wanted.iter().map(|(f, n)| format!("{f} {n}")).collect();
    Err(format!(
        "the functions reserve {asked} concurrent executions ({}), but the account's Lambda \
         limit in {region} is {} concurrent executions, of which {} are unreserved{} and AWS \
         keeps {MIN_UNRESERVED} unreserved: at most {room} can be reserved; lower \
         functions.*.reserved_concurrency in environments/{environment}.yaml, or ask AWS for a \
         higher limit (Service Quotas, \"Concurrent executions\"); nothing was changed",
        each.join(", "),
        account.limit,
        account.unreserved,
        if held > 0 {
            format!(" (besides the {held} this stack reserves now)")
        } else {
            String::new()
        },
    ))
}

/// Checks the plan's reservations against the account before a change set is made; without
/// reservations, or without a signer (replayed clients), there is nothing to ask.
pub async fn ensure_reservations_fit(
    clients: &crate::aws::Clients,
    plan: &Plan,
) -> Result<(), Error> {
    let wanted = reservations(|key| plan.parameter(key));
    if wanted.is_empty() {
        return Ok(());
    }
    let Some(signer) = &clients.signer else {
        return Ok(());
    };
    let endpoint = clients.endpoint("LAMBDA", "lambda", &plan.region);
    let account = account_concurrency(clients.https()?, signer, &endpoint).await?;
    let stack =
        crate::aws::stack::describe_stack(&clients.cloudformation, &plan.stack_name).await?;
    let current = stack
        .as_ref()
        .map(|s| reservations(|key| s.parameters.get(key).map(String::as_str)))
        .unwrap_or_default();
    check_reservations(
        &wanted,
        &current,
        account,
        plan.environment.as_str(),
        &plan.region,
    )
    .map_err(Error::Usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: AccountConcurrency = AccountConcurrency {
        limit: 1000,
        unreserved: 900,
    };

    #[test]
    fn reservations_fit_in_what_is_unreserved_plus_what_the_stack_gives_back_less_100() {
        let wanted = [(Function::Api, 700), (Function::WsConnect, 100)];
        assert!(check_reservations(&wanted, &[], ACCOUNT, "staging", "eu-west-1").is_ok());
        let more = [(Function::Api, 701), (Function::WsConnect, 100)];
        let message = check_reservations(&more, &[], ACCOUNT, "staging", "eu-west-1").unwrap_err();
        for fragment in [
            "reserve 801",
            "api 701, ws-connect 100",
            "limit in eu-west-1 is 1000",
            "900 are unreserved",
            "at most 800",
            "environments/staging.yaml",
        ] {
            assert!(message.contains(fragment), "{fragment:?} in {message}");
        }
        // What the stack holds now comes back when the deploy replaces it.
        let held = [(Function::Api, 50)];
        assert!(check_reservations(&more, &held, ACCOUNT, "staging", "eu-west-1").is_ok());
    }

    #[test]
    fn reservations_are_read_from_parameters_and_minus_one_is_none() {
        let parameters = [
            ("ApiReservedConcurrency", "300"),
            ("WsConnectReservedConcurrency", "-1"),
            ("CleanupReservedConcurrency", "5"),
        ];
        let found = reservations(|key| parameters.iter().find(|(k, _)| *k == key).map(|(_, v)| *v));
        assert_eq!(found, [(Function::Api, 300), (Function::Cleanup, 5)]);
    }

    #[tokio::test]
    async fn the_account_settings_are_read_with_a_signed_get_the_deployer_may_make() {
        use noteapp_test_support::loopback::{Reply, Server};
        let kit = crate::aws::replay::kit();
        let server = Server::answering(move |request| {
            if let Err(refusal) = kit.admit(request, noteapp_test_support::kit::Endpoint::Lambda) {
                return refusal;
            }
            Reply::json(
                200,
                r#"{"AccountLimit":{"TotalCodeSize":80530636800,"CodeSizeUnzipped":262144000,"CodeSizeZipped":52428800,"ConcurrentExecutions":1000,"UnreservedConcurrentExecutions":900},"AccountUsage":{"TotalCodeSize":0,"FunctionCount":6}}"#,
            )
        })
        .await;
        let signer = crate::aws::replay::signer(crate::aws::replay::DEPLOYER);
        let http =
            noteapp_runtime::aws_http::https_client(std::time::Duration::from_secs(5)).unwrap();
        let account = account_concurrency(&http, &signer, &server.url)
            .await
            .unwrap();
        assert_eq!(account, ACCOUNT);
        let request = &server.requests()[0];
        assert_eq!(
            (request.method.as_str(), request.path()),
            ("GET", "/2016-08-19/account-settings/")
        );
        let authorization = request.header("authorization").unwrap_or_default();
        assert!(
            authorization.contains("/eu-west-1/lambda/aws4_request"),
            "{authorization}"
        );
    }
}
