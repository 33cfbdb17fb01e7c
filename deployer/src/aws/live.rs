//! What serves traffic, read from AWS for `noteapp status`: each function's `live` alias (its
//! version, and during a canary the previous version's share) and the stack's alarms with their
//! states. The calls are the guard's own signed requests (`noteapp_runtime::guard::calls`),
//! wrapped here with what was being read.

use std::collections::BTreeMap;

use noteapp_runtime::aws_http::{SignedError, Signer};
use noteapp_runtime::functions::{Function, LIVE_ALIAS};
use noteapp_runtime::guard::calls::{self, Alarms};
use noteapp_runtime::release_shift::AliasNote;
use serde::Serialize;

use crate::error::Error;

/// One function's `live` alias.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveAlias {
    /// The function's name in the template (`api`).
    pub function: String,
    /// The version taking the traffic the others do not (`None`: the function has no `live`
    /// alias yet, deployed before releases had one).
    pub version: Option<String>,
    /// Each version's share of the traffic, 0 to 1 (one entry, 1.0, when nothing shifts).
    pub weights: BTreeMap<String, f64>,
    /// The alias's note, as written (`noteapp live release=…`, a shift with its deadline, …).
    pub note: String,
}

impl LiveAlias {
    /// The release the note names, if it is noteapp's.
    pub fn release(&self) -> Option<String> {
        AliasNote::parse(&self.note).map(|n| n.release().to_owned())
    }
}

/// One alarm's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmStatus {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub reason: String,
    pub composite: bool,
}

fn failed(what: String, e: SignedError) -> Error {
    Error::Aws {
        action: what,
        reason: e.to_string(),
    }
}

/// The `live` alias of every function of `stack`.
pub async fn live_aliases(
    http: &reqwest::Client,
    signer: &Signer,
    endpoint: &str,
    stack: &str,
) -> Result<Vec<LiveAlias>, Error> {
    let reads = Function::ALL.map(|function| async move {
        let name = format!("{stack}-{}", function.name());
        let read = calls::get_alias(http, signer, endpoint, &name, LIVE_ALIAS).await;
        (function, name, read)
    });
    let mut out = Vec::new();
    for (function, name, read) in futures_util::future::join_all(reads).await {
        let alias = match read {
            Ok(alias) => alias,
            Err(SignedError::Status { status: 404, .. }) => {
                out.push(LiveAlias {
                    function: function.name().to_owned(),
                    version: None,
                    weights: BTreeMap::new(),
                    note: String::new(),
                });
                continue;
            }
            Err(e) => {
                return Err(failed(
                    format!("failed to read {name}'s {LIVE_ALIAS} alias"),
                    e,
                ));
            }
        };
        let mut weights: BTreeMap<String, f64> = alias
            .weights
            .iter()
            .filter(|(_, w)| *w > 0.0)
            .cloned()
            .collect();
        let rest: f64 = weights.values().sum();
        weights.insert(
            alias.version.clone(),
            ((1.0 - rest) * 1000.0).round() / 1000.0,
        );
        out.push(LiveAlias {
            function: function.name().to_owned(),
            version: Some(alias.version),
            weights,
            note: alias.description,
        });
    }
    Ok(out)
}

/// Every alarm of `stack` (named `<stack>-…`), with its state.
pub async fn alarm_states(
    http: &reqwest::Client,
    signer: &Signer,
    endpoint: &str,
    stack: &str,
) -> Result<Vec<AlarmStatus>, Error> {
    let prefix = format!("{stack}-");
    let alarms = calls::describe_alarms(http, signer, endpoint, Alarms::Prefix(&prefix))
        .await
        .map_err(|e| failed(format!("failed to read the alarms of stack {stack}"), e))?;
    Ok(alarms
        .into_iter()
        .map(|a| AlarmStatus {
            name: a.name,
            state: a.state,
            reason: a.reason,
            composite: a.composite,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use noteapp_test_support::loopback::{Reply, Server};

    use super::*;

    fn signer() -> Signer {
        Signer::with_keys("AKIDTEST", "secret", "eu-west-1")
    }

    fn http() -> reqwest::Client {
        noteapp_runtime::aws_http::https_client(std::time::Duration::from_secs(5)).unwrap()
    }

    #[tokio::test]
    async fn each_functions_live_version_and_weights_are_read() {
        let server = Server::answering(|request| {
            let path = request.path();
            if path.contains("noteapp-staging-api/") {
                Reply::json(
                    200,
                    r#"{"FunctionVersion":"8","Description":"noteapp shift release=12-3f9c2e1a0b4d-5e6f7a8b9c0d good=7 deadline=2026-12-07T10:00:00Z","RoutingConfig":{"AdditionalVersionWeights":{"7":0.9}}}"#,
                )
            } else if path.contains("noteapp-staging-guard/") {
                Reply::json(404, r#"{"Type":"User","Message":"Alias not found"}"#)
            } else {
                Reply::json(
                    200,
                    r#"{"FunctionVersion":"3","Description":"noteapp live release=12-3f9c2e1a0b4d-5e6f7a8b9c0d"}"#,
                )
            }
        })
        .await;
        let aliases = live_aliases(&http(), &signer(), &server.url, "noteapp-staging")
            .await
            .unwrap();
        assert_eq!(aliases.len(), Function::ALL.len());
        let api = &aliases[0];
        assert_eq!(api.function, "api");
        assert_eq!(api.version.as_deref(), Some("8"));
        assert_eq!(
            api.weights,
            BTreeMap::from([("7".to_owned(), 0.9), ("8".to_owned(), 0.1)])
        );
        assert_eq!(
            api.release().as_deref(),
            Some("12-3f9c2e1a0b4d-5e6f7a8b9c0d")
        );
        assert_eq!(aliases[1].weights, BTreeMap::from([("3".to_owned(), 1.0)]));
        let guard = aliases.iter().find(|a| a.function == "guard").unwrap();
        assert_eq!(guard.version, None);
        let mut paths: Vec<String> = server
            .requests()
            .iter()
            .map(|r| r.path().to_owned())
            .collect();
        paths.sort();
        assert!(
            paths.contains(
                &"/2015-03-31/functions/noteapp-staging-ws-connect/aliases/live".to_owned()
            )
        );
    }

    #[tokio::test]
    async fn the_stacks_alarms_are_read_by_its_name_prefix() {
        let server = Server::answering(|_| {
            Reply::json(
                200,
                r#"{"CompositeAlarms":[{"AlarmName":"noteapp-staging-release-health","StateValue":"OK","StateReason":"r"}],"MetricAlarms":[{"AlarmName":"noteapp-staging-api-errors","StateValue":"ALARM","StateReason":"Threshold Crossed"}]}"#,
            )
        })
        .await;
        let alarms = alarm_states(&http(), &signer(), &server.url, "noteapp-staging")
            .await
            .unwrap();
        assert_eq!(alarms.len(), 2);
        assert_eq!(alarms[0].name, "noteapp-staging-api-errors");
        assert_eq!(alarms[0].state, "ALARM");
        assert!(alarms[1].composite);
        let body: serde_json::Value = serde_json::from_slice(&server.requests()[0].body).unwrap();
        assert_eq!(body["AlarmNamePrefix"], "noteapp-staging-");
    }

    #[tokio::test]
    async fn a_refused_read_names_what_was_read() {
        let server =
            Server::answering(|_| Reply::json(403, r#"{"Message":"not authorized"}"#)).await;
        let err = alarm_states(&http(), &signer(), &server.url, "noteapp-staging")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("alarms of stack noteapp-staging"), "{err}");
        assert!(err.contains("403"), "{err}");
    }
}
