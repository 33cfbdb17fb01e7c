//! An environment's release settings: how a deploy moves traffic to a new release
//! (`release:`) and when the alarms fire and whom they email (`alarms:`). Each default has one
//! owner here, named in the files and the README.
//!
//! ```yaml
//! release:
//!   strategy: canary        # or all_at_once
//!   share: 10               # canary only: percent of the traffic on the new release first
//!   minutes: 5              # canary only: how long before it takes all of it
//! alarms:
//!   email: [oncall@example.com]   # up to five addresses; each confirms SNS's first email
//!   api_5xx_percent: 1
//!   # … every threshold, each optional (defaults below)
//! ```

use serde::{Deserialize, Serialize};

use super::Environment;
use super::fields::{CanaryMinutes, CanaryShare, Email, LatencyMs, PerMinute, Percent};

/// A canary's share unless the file says otherwise (percent of the traffic).
pub const DEFAULT_CANARY_SHARE: u32 = 10;
/// A canary's minutes unless the file says otherwise.
pub const DEFAULT_CANARY_MINUTES: u32 = 5;
/// The most addresses the alarms email (the template has one subscription per place).
pub const MAX_OPERATOR_EMAILS: usize = 5;

/// How a deploy moves traffic to a new release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "strategy", rename_all = "snake_case")]
pub enum ReleaseStrategy {
    /// Every function's `live` alias moves to the new version at once.
    AllAtOnce,
    /// The new versions take `share` percent of the traffic for `minutes`, then all of it,
    /// while the release-health alarm is watched.
    Canary {
        /// The percent of the traffic the new versions take first, 1 to 99 (`share:`, default
        /// `DEFAULT_CANARY_SHARE`).
        share: u32,
        /// How long the canary runs before the new versions take all the traffic, in minutes,
        /// 1 to 60 (`minutes:`, default `DEFAULT_CANARY_MINUTES`).
        minutes: u32,
    },
}

impl ReleaseStrategy {
    /// Unless the file says otherwise: production a canary of [`DEFAULT_CANARY_SHARE`] percent
    /// for [`DEFAULT_CANARY_MINUTES`] minutes, every other environment all at once.
    pub fn default_for(environment: Environment) -> Self {
        match environment {
            Environment::Production => ReleaseStrategy::Canary {
                share: DEFAULT_CANARY_SHARE,
                minutes: DEFAULT_CANARY_MINUTES,
            },
            _ => ReleaseStrategy::AllAtOnce,
        }
    }

    /// The percent of the traffic a new release takes first (100: all of it).
    pub fn share(self) -> u32 {
        match self {
            ReleaseStrategy::AllAtOnce => 100,
            ReleaseStrategy::Canary { share, .. } => share,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum StrategyName {
    AllAtOnce,
    Canary,
}

/// `release:` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReleaseFile {
    strategy: StrategyName,
    #[serde(default)]
    share: Option<CanaryShare>,
    #[serde(default)]
    minutes: Option<CanaryMinutes>,
}

impl ReleaseFile {
    /// The strategy, or the key (under `release`) that does not belong and why.
    pub(super) fn resolve(&self) -> Result<ReleaseStrategy, (&'static str, &'static str)> {
        match self.strategy {
            StrategyName::AllAtOnce => {
                for (key, given) in [
                    ("share", self.share.is_some()),
                    ("minutes", self.minutes.is_some()),
                ] {
                    if given {
                        return Err((
                            key,
                            "applies to `strategy: canary` only; remove it, or choose canary",
                        ));
                    }
                }
                Ok(ReleaseStrategy::AllAtOnce)
            }
            StrategyName::Canary => Ok(ReleaseStrategy::Canary {
                share: self.share.map_or(DEFAULT_CANARY_SHARE, |s| s.0),
                minutes: self.minutes.map_or(DEFAULT_CANARY_MINUTES, |m| m.0),
            }),
        }
    }
}

/// When the alarms fire, and whom they email. Counts are per minute; each alarm fires when 2
/// of its last 3 minutes cross its threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmSettings {
    /// Who gets every alarm and its recovery (SNS email subscriptions).
    pub email: Vec<String>,
    /// The API's 5xx answers, in percent of its requests.
    pub api_5xx_percent: u32,
    /// The API's p99 latency, in milliseconds.
    pub api_p99_latency_ms: u32,
    /// A function's failed invocations.
    pub function_errors_per_minute: u32,
    /// A function's throttled invocations.
    pub function_throttles_per_minute: u32,
    /// A function's p99 duration, in percent of its timeout.
    pub duration_percent_of_timeout: u32,
    /// WebSocket messages whose function failed.
    pub websocket_integration_errors_per_minute: u32,
    /// A table's throttled reads and writes, per cause (a hot key, the account's limit).
    pub dynamodb_throttles_per_minute: u32,
    /// A function's concurrent executions, in percent of its reserved concurrency.
    pub concurrency_percent_of_reserved: u32,
}

/// The defaults of every threshold.
pub const DEFAULT_ALARMS: AlarmSettings = AlarmSettings {
    email: Vec::new(),
    api_5xx_percent: 1,
    api_p99_latency_ms: 2000,
    function_errors_per_minute: 1,
    function_throttles_per_minute: 1,
    duration_percent_of_timeout: 80,
    websocket_integration_errors_per_minute: 1,
    dynamodb_throttles_per_minute: 5,
    concurrency_percent_of_reserved: 80,
};

/// `alarms:` as written: every key optional.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlarmsFile {
    #[serde(default)]
    email: Vec<Email>,
    api_5xx_percent: Option<Percent>,
    api_p99_latency_ms: Option<LatencyMs>,
    function_errors_per_minute: Option<PerMinute>,
    function_throttles_per_minute: Option<PerMinute>,
    duration_percent_of_timeout: Option<Percent>,
    websocket_integration_errors_per_minute: Option<PerMinute>,
    dynamodb_throttles_per_minute: Option<PerMinute>,
    concurrency_percent_of_reserved: Option<Percent>,
}

impl AlarmsFile {
    /// The settings, or why the email list is refused.
    pub(super) fn resolve(&self) -> Result<AlarmSettings, String> {
        if self.email.len() > MAX_OPERATOR_EMAILS {
            return Err(format!(
                "at most {MAX_OPERATOR_EMAILS} addresses; for more, list a distribution list's"
            ));
        }
        let mut email: Vec<String> = Vec::new();
        for address in &self.email {
            if email.contains(&address.0) {
                return Err(format!("{:?} is listed twice", address.0));
            }
            email.push(address.0.clone());
        }
        // Each threshold: the file's, else its default.
        macro_rules! or_default {
            ($($field:ident),* $(,)?) => {
                AlarmSettings {
                    email,
                    $($field: self.$field.map_or(DEFAULT_ALARMS.$field, |v| v.0),)*
                }
            };
        }
        Ok(or_default!(
            api_5xx_percent,
            api_p99_latency_ms,
            function_errors_per_minute,
            function_throttles_per_minute,
            duration_percent_of_timeout,
            websocket_integration_errors_per_minute,
            dynamodb_throttles_per_minute,
            concurrency_percent_of_reserved,
        ))
    }
}
