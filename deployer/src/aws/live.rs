//! What serves traffic, read from AWS: each function's `live` alias (its version, during a
//! canary the previous version's share, its note and revision) and the stack's alarms with
//! their states, the release-health alarm first among them. The calls are the guard's own
//! signed requests (`noteapp_runtime::guard::calls`), wrapped here with what was being read;
//! `noteapp status`, the deploy's canary and `noteapp rollback` read through them.

use std::collections::BTreeMap;

use noteapp_runtime::aws_http::{SignedError, Signer};
use noteapp_runtime::functions::{Function, LIVE_ALIAS};
use noteapp_runtime::guard::calls::{self, Alarms, Alias};
use noteapp_runtime::release_shift::AliasNote;
use serde::Serialize;

use super::Clients;
use crate::error::Error;

/// What the alias and alarm calls need: the command's HTTPS client and signer, and the Lambda
/// and CloudWatch endpoints of the stack's region.
#[derive(Debug, Clone)]
pub struct LiveCalls<'a> {
    /// The command's HTTPS client, sending every call.
    pub http: &'a reqwest::Client,
    /// Signs every call with the command's credentials.
    pub signer: &'a Signer,
    /// The Lambda endpoint the alias calls go to (`AWS_ENDPOINT_URL_LAMBDA`,
    /// `AWS_ENDPOINT_URL`, or AWS's for the region).
    pub lambda: String,
    /// The CloudWatch endpoint the alarm calls go to (`AWS_ENDPOINT_URL_CLOUDWATCH`,
    /// `AWS_ENDPOINT_URL`, or AWS's for the region).
    pub cloudwatch: String,
}

impl<'a> LiveCalls<'a> {
    /// The calls of `clients` in `region`; `None` for a command without credentials to sign
    /// with.
    pub fn of(clients: &'a Clients, region: &str) -> Result<Option<Self>, Error> {
        let Some(signer) = &clients.signer else {
            return Ok(None);
        };
        Ok(Some(Self {
            http: clients.https()?,
            signer,
            lambda: clients.endpoint("LAMBDA", "lambda", region),
            cloudwatch: clients.endpoint("CLOUDWATCH", "monitoring", region),
        }))
    }
}

impl<'a> LiveCalls<'a> {
    /// As [`LiveCalls::of`], refused without credentials to sign with.
    pub fn required(clients: &'a Clients, region: &str) -> Result<Self, Error> {
        Self::of(clients, region)?.ok_or_else(|| {
            Error::Refused(
                "the live aliases and the release-health alarm are read (and the aliases moved) \
                 with signed requests, and these credentials cannot sign them: sign in with \
                 credentials that can (`noteapp status` says who this is)"
                    .into(),
            )
        })
    }
}

/// One function's `live` alias as Lambda describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionAlias {
    /// The function whose alias it is.
    pub function: Function,
    /// `<stack>-<function>`.
    pub name: String,
    /// `None`: the function has no `live` alias (deployed before releases had one).
    pub alias: Option<Alias>,
}

/// One function's `live` alias, as `noteapp status` shows it.
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

    /// The alias as read, for people.
    pub fn of(read: &FunctionAlias) -> Self {
        let function = read.function.name().to_owned();
        let Some(alias) = &read.alias else {
            return LiveAlias {
                function,
                version: None,
                weights: BTreeMap::new(),
                note: String::new(),
            };
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
        LiveAlias {
            function,
            version: Some(alias.version.clone()),
            weights,
            note: alias.description.clone(),
        }
    }
}

/// One alarm's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmStatus {
    /// The alarm's name (`<stack>-…`).
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// Why it is in that state, in CloudWatch's words (empty when CloudWatch gives none).
    pub reason: String,
    /// Whether it is a composite alarm (its state follows other alarms').
    pub composite: bool,
}

impl AlarmStatus {
    fn of(alarm: calls::AlarmState) -> Self {
        AlarmStatus {
            name: alarm.name,
            state: alarm.state,
            reason: alarm.reason,
            composite: alarm.composite,
        }
    }

    /// Whether it is in ALARM.
    pub fn is_alarm(&self) -> bool {
        self.state == "ALARM"
    }
}

/// The release-health alarm of a stack (what a canary and the guard watch), and when it is in
/// ALARM the stack's other alarms in ALARM: the signal, named.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseHealth {
    /// `<stack>-release-health`.
    pub alarm: String,
    /// Its state (`None`: the stack has no such alarm).
    pub state: Option<AlarmStatus>,
    /// The stack's other alarms in ALARM (read only when the release-health alarm is).
    pub in_alarm: Vec<AlarmStatus>,
}

impl ReleaseHealth {
    /// Whether the release-health alarm is in ALARM.
    pub fn is_alarm(&self) -> bool {
        self.state.as_ref().is_some_and(AlarmStatus::is_alarm)
    }

    /// `alarm <name> is in ALARM (<reason>); in ALARM: a, b`, for a report.
    pub fn signal(&self) -> String {
        let reason = self
            .state
            .as_ref()
            .map(|s| s.reason.as_str())
            .filter(|r| !r.is_empty())
            .unwrap_or("no reason given");
        let state = self.state.as_ref().map_or("missing", |s| s.state.as_str());
        let mut text = format!("alarm {} is {state} ({reason})", self.alarm);
        if !self.in_alarm.is_empty() {
            let names: Vec<&str> = self.in_alarm.iter().map(|a| a.name.as_str()).collect();
            text.push_str(&format!("; in ALARM: {}", names.join(", ")));
        }
        text
    }
}

/// The name of a stack's release-health alarm.
pub fn release_health_alarm(stack: &str) -> String {
    format!("{stack}-release-health")
}

fn failed(what: String, e: SignedError) -> Error {
    Error::Aws {
        action: what,
        reason: e.to_string(),
    }
}

impl LiveCalls<'_> {
    /// `function`'s `live` alias (`<stack>-<function>`), `None` when it has none.
    pub async fn alias(&self, stack: &str, function: Function) -> Result<FunctionAlias, Error> {
        let name = format!("{stack}-{}", function.name());
        let read = calls::get_alias(self.http, self.signer, &self.lambda, &name, LIVE_ALIAS).await;
        let alias = match read {
            Ok(alias) => Some(alias),
            Err(SignedError::Status { status: 404, .. }) => None,
            Err(e) => {
                return Err(failed(
                    format!("failed to read {name}'s {LIVE_ALIAS} alias"),
                    e,
                ));
            }
        };
        Ok(FunctionAlias {
            function,
            name,
            alias,
        })
    }

    /// The `live` alias of every function of `stack`, in the template's order, read at once.
    pub async fn aliases(&self, stack: &str) -> Result<Vec<FunctionAlias>, Error> {
        let reads = Function::ALL.map(|function| self.alias(stack, function));
        futures_util::future::join_all(reads)
            .await
            .into_iter()
            .collect()
    }

    /// The `live` alias of every function of `stack`, as status shows them.
    pub async fn live_aliases(&self, stack: &str) -> Result<Vec<LiveAlias>, Error> {
        Ok(self
            .aliases(stack)
            .await?
            .iter()
            .map(LiveAlias::of)
            .collect())
    }

    /// Every alarm of `stack` (named `<stack>-…`), with its state.
    pub async fn alarm_states(&self, stack: &str) -> Result<Vec<AlarmStatus>, Error> {
        let prefix = format!("{stack}-");
        let alarms = calls::describe_alarms(
            self.http,
            self.signer,
            &self.cloudwatch,
            Alarms::Prefix(&prefix),
        )
        .await
        .map_err(|e| failed(format!("failed to read the alarms of stack {stack}"), e))?;
        Ok(alarms.into_iter().map(AlarmStatus::of).collect())
    }

    /// The release-health alarm of `stack` (one `DescribeAlarms`), and when it is in ALARM the
    /// stack's other alarms in ALARM (a second).
    pub async fn release_health(&self, stack: &str) -> Result<ReleaseHealth, Error> {
        let alarm = release_health_alarm(stack);
        let names = [alarm.as_str()];
        let read = calls::describe_alarms(
            self.http,
            self.signer,
            &self.cloudwatch,
            Alarms::Named(&names),
        )
        .await
        .map_err(|e| failed(format!("failed to read the alarm {alarm}"), e))?;
        let state = read
            .into_iter()
            .find(|a| a.name == alarm)
            .map(AlarmStatus::of);
        let mut health = ReleaseHealth {
            alarm,
            state,
            in_alarm: Vec::new(),
        };
        if health.is_alarm() {
            health.in_alarm = self
                .alarm_states(stack)
                .await?
                .into_iter()
                .filter(|a| a.is_alarm() && !a.composite)
                .collect();
        }
        Ok(health)
    }
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

    fn calls<'a>(http: &'a reqwest::Client, signer: &'a Signer, url: &str) -> LiveCalls<'a> {
        LiveCalls {
            http,
            signer,
            lambda: url.to_owned(),
            cloudwatch: url.to_owned(),
        }
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
        let (http, signer) = (http(), signer());
        let aliases = calls(&http, &signer, &server.url)
            .live_aliases("noteapp-staging")
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
        let (http, signer) = (http(), signer());
        let alarms = calls(&http, &signer, &server.url)
            .alarm_states("noteapp-staging")
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
        let (http, signer) = (http(), signer());
        let err = calls(&http, &signer, &server.url)
            .alarm_states("noteapp-staging")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("alarms of stack noteapp-staging"), "{err}");
        assert!(err.contains("403"), "{err}");
    }
}
