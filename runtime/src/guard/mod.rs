//! `bootstrap guard`: the release guard on AWS's side. A canary never stays half-shifted, even
//! when the CLI that started it dies.
//!
//! It runs when the release-health alarm goes to ALARM (an EventBridge rule on the alarm's
//! state change) and every minute (a schedule). Each run reads every function's `live` alias
//! (`GetAlias`). While none shifts, that is all. When one does, it takes the health from the
//! event (an ALARM state change) or asks CloudWatch for the alarm's state (`DescribeAlarms`),
//! and [`decide::decide`]s: when the alarm is in ALARM, or a shift's deadline has passed (or it
//! has none), every shifting alias goes back to its good version alone (`UpdateAlias` with the
//! revision it read, so a change made since is never overwritten: it is read again and judged
//! once more), its description saying so (`release_shift::AliasNote::RolledBack`), and the
//! operators' topic is told (SNS `Publish`). A call that fails makes the run fail, so the
//! guard's own error alarm fires; the next minute's run tries again.

pub mod calls;
pub mod decide;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::aws_http::{SignedError, Signer};
use crate::config::GuardConfig;
use crate::functions::LIVE_ALIAS;
use calls::{Alarms, Alias, AliasUpdate};
use decide::{Decision, Health, Move};

/// Where the guard's calls go.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Lambda's base URL, for the `live` aliases (`GetAlias`, `UpdateAlias`).
    pub lambda: String,
    /// CloudWatch's base URL, for the release-health alarm's state (`DescribeAlarms`).
    pub cloudwatch: String,
    /// SNS's base URL, for telling the operators' topic of a rollback (`Publish`).
    pub sns: String,
}

impl Endpoints {
    /// Each service's endpoint in `region`, honouring `AWS_ENDPOINT_URL[_<SERVICE>]` read through
    /// `vars`.
    pub fn for_region(vars: impl Fn(&str) -> Option<String>, region: &str) -> Self {
        use crate::aws_http::service_endpoint;
        Self {
            lambda: service_endpoint(&vars, "LAMBDA", "lambda", region),
            cloudwatch: service_endpoint(&vars, "CLOUDWATCH", "monitoring", region),
            sns: service_endpoint(&vars, "SNS", "sns", region),
        }
    }

    /// All three at `url` (a test's stand-in).
    pub fn all_at(url: &str) -> Self {
        Self {
            lambda: url.to_owned(),
            cloudwatch: url.to_owned(),
            sns: url.to_owned(),
        }
    }
}

/// What one run of the guard needs, built once per instance.
pub struct Guard {
    /// The HTTPS client every call goes through (`aws_http::https_client`).
    pub http: reqwest::Client,
    /// Signs each call with the function's credentials, for its region.
    pub signer: Signer,
    /// Where each service's calls go.
    pub endpoints: Endpoints,
    /// The functions to watch, the release-health alarm and the operators' topic.
    pub config: GuardConfig,
}

/// Why a run did not finish its work.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// Calls failed; whatever else could be done was done.
    #[error("{}", .0.join("; "))]
    Calls(Vec<String>),
}

/// The health an event brings: ALARM for the release-health alarm's state change to ALARM,
/// nothing for anything else (the schedule's event).
pub fn event_health(event: &Value, alarm: &str) -> Option<Health> {
    let change = event["detail-type"].as_str() == Some("CloudWatch Alarm State Change");
    let ours = event.pointer("/detail/alarmName").and_then(Value::as_str) == Some(alarm);
    let alarming = event.pointer("/detail/state/value").and_then(Value::as_str) == Some("ALARM");
    (change && ours && alarming).then_some(Health::Alarm)
}

impl Guard {
    async fn alias(&self, function: &str) -> Result<Alias, SignedError> {
        calls::get_alias(
            &self.http,
            &self.signer,
            &self.endpoints.lambda,
            function,
            LIVE_ALIAS,
        )
        .await
    }

    async fn health(&self, errors: &mut Vec<String>) -> Health {
        let alarm = self.config.health_alarm.as_str();
        let names = [alarm];
        match calls::describe_alarms(
            &self.http,
            &self.signer,
            &self.endpoints.cloudwatch,
            Alarms::Named(&names),
        )
        .await
        {
            Ok(alarms) => match alarms.iter().find(|a| a.name == alarm) {
                Some(state) if state.is_alarm() => Health::Alarm,
                Some(_) => Health::Fine,
                None => {
                    errors.push(format!("the alarm {alarm} does not exist"));
                    Health::Unknown
                }
            },
            Err(e) => {
                errors.push(format!("cannot read the alarm {alarm}: {e}"));
                Health::Unknown
            }
        }
    }

    /// Points `function`'s alias at its good version, reading it again once if it changed
    /// since it was read. Returns what was done (`None`: it no longer shifts).
    async fn roll_back(&self, planned: &Move, now: DateTime<Utc>) -> Result<Option<Move>, String> {
        let mut step = planned.clone();
        for attempt in 0..2 {
            let description = step.note.to_string();
            let update = AliasUpdate {
                function: &step.function,
                alias: LIVE_ALIAS,
                version: &step.to,
                description: &description,
                revision: step.revision.as_deref(),
            };
            match calls::update_alias(&self.http, &self.signer, &self.endpoints.lambda, &update)
                .await
            {
                Ok(_) => return Ok(Some(step)),
                Err(e) if attempt == 0 && calls::is_stale_revision(&e) => {
                    let fresh = self
                        .alias(&step.function)
                        .await
                        .map_err(|e| format!("cannot read {}'s alias again: {e}", step.function))?;
                    let cause = match &planned.note {
                        crate::release_shift::AliasNote::RolledBack { cause, .. } => *cause,
                        _ => crate::release_shift::Cause::Alarm,
                    };
                    // Judged again with the same cause: the alarm or deadline still stands.
                    let health = if cause == crate::release_shift::Cause::Alarm {
                        Health::Alarm
                    } else {
                        Health::Fine
                    };
                    match decide::decide(std::slice::from_ref(&fresh), health, now) {
                        Decision::RollBack { mut moves, .. } if !moves.is_empty() => {
                            step = moves.remove(0);
                        }
                        _ => return Ok(None),
                    }
                }
                Err(e) => {
                    return Err(format!(
                        "cannot move {}'s alias back to version {}: {e}",
                        step.function, step.to
                    ));
                }
            }
        }
        Err(format!(
            "{}'s alias kept changing; it was left as it is",
            planned.function
        ))
    }

    async fn tell_operators(&self, subject: &str, message: &str) -> Result<(), String> {
        let Some(topic) = &self.config.operators_topic else {
            return Ok(());
        };
        calls::publish(
            &self.http,
            &self.signer,
            &self.endpoints.sns,
            topic,
            subject,
            message,
        )
        .await
        .map_err(|e| format!("cannot tell the operators ({topic}): {e}"))
    }

    /// One run, for `event` at `now`: the summary of what it found and did, or the calls that
    /// failed (after doing everything else it could).
    pub async fn run(&self, event: &Value, now: DateTime<Utc>) -> Result<Value, GuardError> {
        let mut errors = Vec::new();
        let reads =
            futures_util::future::join_all(self.config.functions.iter().map(|f| self.alias(f)))
                .await;
        let mut aliases = Vec::new();
        for (function, read) in self.config.functions.iter().zip(reads) {
            match read {
                Ok(alias) => aliases.push(alias),
                Err(e) => errors.push(format!("cannot read {function}'s {LIVE_ALIAS} alias: {e}")),
            }
        }
        let mut summary = json!({"aliases": aliases.len(), "shifting": 0, "action": "none"});
        let shifting = aliases.iter().filter(|a| a.is_shifting()).count();
        summary["shifting"] = shifting.into();
        if shifting > 0 {
            let health = match event_health(event, &self.config.health_alarm) {
                Some(health) => health,
                None => self.health(&mut errors).await,
            };
            match decide::decide(&aliases, health, now) {
                Decision::Idle => {}
                Decision::Watch { shifting, deadline } => {
                    tracing::info!(?shifting, deadline = %deadline, "canary in progress, healthy");
                    summary["deadline"] = crate::release_shift::format_time(deadline).into();
                }
                Decision::RollBack { cause, moves } => {
                    let mut done = Vec::new();
                    for planned in &moves {
                        match self.roll_back(planned, now).await {
                            Ok(Some(step)) => done.push(step),
                            Ok(None) => {}
                            Err(e) => errors.push(e),
                        }
                    }
                    let lines: Vec<String> = done
                        .iter()
                        .map(|m| format!("{}: version {} -> {}", m.function, m.from, m.to))
                        .collect();
                    tracing::warn!(%cause, moved = ?lines, "canary rolled back");
                    summary["action"] = "rolled back".into();
                    summary["cause"] = cause.as_str().into();
                    summary["moved"] = json!(lines);
                    if !done.is_empty() {
                        let subject = format!("noteapp: canary rolled back ({cause})");
                        let message = format!(
                            "The release guard returned all traffic to the last good release \
                             ({}):\n{}\n",
                            match cause {
                                crate::release_shift::Cause::Alarm =>
                                    format!("the alarm {} is in ALARM", self.config.health_alarm),
                                crate::release_shift::Cause::Deadline =>
                                    "the shift's deadline passed".to_owned(),
                                crate::release_shift::Cause::NoDeadline =>
                                    "a shift had no deadline".to_owned(),
                                crate::release_shift::Cause::Operator =>
                                    "an operator undid the shift".to_owned(),
                            },
                            lines.join("\n")
                        );
                        if let Err(e) = self.tell_operators(&subject, &message).await {
                            errors.push(e);
                        }
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(summary)
        } else {
            tracing::error!(errors = ?errors, summary = %summary, "guard run incomplete");
            Err(GuardError::Calls(errors))
        }
    }
}

#[cfg(test)]
mod tests;
