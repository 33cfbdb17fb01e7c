//! Init-time configuration from environment variables, validated before the first invocation.
//!
//! A missing or malformed variable stops init with a message naming it, so a misconfigured
//! function fails at deploy time instead of answering 500 to users later. The values are the
//! shared types of [`crate::settings`], parsed by the same rules the deployer renders them with.
//!
//! Local-only trust (the Auth emulator's unsigned tokens, a key file) is refused in a deployed
//! environment, and also whenever the process runs inside Lambda (`AWS_LAMBDA_RUNTIME_API` is
//! set), whatever `ENVIRONMENT` says: a wrong variable cannot open a deployed function.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::domain::limits::{RateLimits, parse_limits};
use crate::settings::{FirebaseProjectId, LogLevel};
use crate::store::schema;

pub use crate::functions::WsHandler;
pub use crate::settings::Environment;

/// A problem with the function's environment variables, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvVarError {
    /// The variable is unset or empty.
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    /// The variable is set to a value that is refused.
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What is wrong with its value, and what is expected.
        reason: String,
    },
}

/// The variable the Lambda runtime sets in every function: its presence means "inside Lambda".
pub const LAMBDA_RUNTIME_API_VAR: &str = "AWS_LAMBDA_RUNTIME_API";

/// The release a deployed function belongs to ([`crate::release_shift::ReleaseId`]), set by the
/// template; optional (a function run by hand has none).
pub const RELEASE_VAR: &str = "NOTEAPP_RELEASE";

/// Where token signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeysSetting {
    /// Google's published Firebase signing keys (the only choice in AWS).
    Google,
    /// A JWKS file (local development only).
    File(PathBuf),
}

/// What every handler needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonConfig {
    /// `ENVIRONMENT` (required).
    pub environment: Environment,
    /// `LOG_LEVEL` (default `info`).
    pub log_level: LogLevel,
    /// Running inside Lambda (`AWS_LAMBDA_RUNTIME_API` is set).
    pub in_lambda: bool,
    /// `NOTEAPP_RELEASE`: the release this function's version was published for.
    pub release: Option<crate::release_shift::ReleaseId>,
}

impl CommonConfig {
    /// Whether only deployed-grade trust is allowed: a deployed environment, or inside Lambda.
    pub fn deployed_trust_only(&self) -> bool {
        self.environment.is_deployed() || self.in_lambda
    }
}

/// `bootstrap api`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// What every handler reads.
    pub common: CommonConfig,
    /// `FIREBASE_PROJECT_ID`: the project whose tokens are accepted.
    pub firebase_project_id: FirebaseProjectId,
    /// `AUTH_KEYS`: `google` (the default) or, outside deployed environments, `file:PATH`.
    pub keys: KeysSetting,
    /// The Notes table's name.
    pub notes_table: String,
    /// The Users table's name.
    pub users_table: String,
    /// The Comments table's name.
    pub comments_table: String,
    /// The Control table's name (rate-limit counters).
    pub control_table: String,
    /// `RATE_LIMITS`: the limits on writes (`key=rate,…` over the defaults; `off`, development
    /// only, for none).
    pub limits: Option<RateLimits>,
    /// The function the API invokes asynchronously to deliver comments in real time.
    pub broadcast_function: Option<String>,
    /// The function the API invokes asynchronously to purge a deleted note's comments.
    pub cleanup_function: Option<String>,
    /// `FIREBASE_AUTH_EMULATOR_HOST` is set (development only): accept emulator tokens.
    pub auth_emulator: bool,
}

/// `bootstrap ws-*`: the WebSocket handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsConfig {
    /// What every handler reads.
    pub common: CommonConfig,
    /// The Connections table's name.
    pub connections_table: String,
    /// `ws-connect` and `ws-broadcast`: the Control table's name (rate-limit counters, the send
    /// budget, broadcast progress).
    pub control_table: Option<String>,
    /// `ws-connect` and `ws-broadcast`: `RATE_LIMITS`, as for the API.
    pub limits: Option<RateLimits>,
    /// `ws-connect` only: verifies `?token=`.
    pub firebase_project_id: Option<FirebaseProjectId>,
    /// The management API endpoint, for handlers that post to connections.
    pub websocket_endpoint: Option<String>,
    /// `ws-broadcast` only: posts per second at most (`BROADCAST_SEND_RATE`; unset: unpaced).
    pub send_rate: Option<u32>,
    /// `ws-broadcast` only: parallel scan segments (`BROADCAST_SCAN_SEGMENTS`, default 4).
    pub scan_segments: u32,
}

/// `bootstrap cleanup`: purges the comments of deleted notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupConfig {
    /// What every handler reads.
    pub common: CommonConfig,
    /// The Comments table's name.
    pub comments_table: String,
}

/// `bootstrap guard`: watches the canaries of the stack's `live` aliases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    /// What every handler reads.
    pub common: CommonConfig,
    /// `GUARDED_FUNCTIONS`: the names of the functions whose `live` alias it watches
    /// (comma-separated; every function of the stack, the guard included).
    pub functions: Vec<String>,
    /// `RELEASE_HEALTH_ALARM`: the composite alarm whose ALARM state rolls a canary back.
    pub health_alarm: String,
    /// `OPERATORS_TOPIC_ARN`: the SNS topic told of every rollback (optional).
    pub operators_topic: Option<String>,
}

/// Reads variables through `lookup` (the process environment in production, a map in tests).
pub struct Vars<F>(pub F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// A required, non-empty variable.
    pub fn required(&self, var: &'static str) -> Result<String, EnvVarError> {
        match (self.0)(var) {
            Some(value) if !value.trim().is_empty() => Ok(value),
            _ => Err(EnvVarError::Missing(var)),
        }
    }

    /// An optional variable; empty counts as absent.
    pub fn optional(&self, var: &'static str) -> Option<String> {
        (self.0)(var).filter(|v| !v.trim().is_empty())
    }

    /// What every handler reads: `ENVIRONMENT`, `LOG_LEVEL`, and whether it runs inside Lambda.
    pub fn common(&self) -> Result<CommonConfig, EnvVarError> {
        let environment = Environment::parse(&self.required("ENVIRONMENT")?).map_err(|reason| {
            EnvVarError::Invalid {
                var: "ENVIRONMENT",
                reason,
            }
        })?;
        let log_level = match self.optional("LOG_LEVEL") {
            None => LogLevel::Info,
            Some(level) => LogLevel::parse(&level).map_err(|reason| EnvVarError::Invalid {
                var: "LOG_LEVEL",
                reason,
            })?,
        };
        let release =
            match self.optional(RELEASE_VAR) {
                None => None,
                Some(text) => Some(crate::release_shift::ReleaseId::parse(&text).ok_or_else(
                    || EnvVarError::Invalid {
                        var: RELEASE_VAR,
                        reason: format!(
                            "{text:?} is not a release id such as 12-3f9c2e1a0b4d-5e6f7a8b9c0d"
                        ),
                    },
                )?),
            };
        Ok(CommonConfig {
            environment,
            log_level,
            in_lambda: self.optional(LAMBDA_RUNTIME_API_VAR).is_some(),
            release,
        })
    }

    fn firebase_project_id(&self) -> Result<FirebaseProjectId, EnvVarError> {
        FirebaseProjectId::parse(&self.required("FIREBASE_PROJECT_ID")?).map_err(|reason| {
            EnvVarError::Invalid {
                var: "FIREBASE_PROJECT_ID",
                reason,
            }
        })
    }

    /// `RATE_LIMITS` (the defaults when unset); `off` is refused where only deployed-grade
    /// trust is allowed.
    fn limits(&self, common: &CommonConfig) -> Result<Option<RateLimits>, EnvVarError> {
        let invalid = |reason: String| EnvVarError::Invalid {
            var: "RATE_LIMITS",
            reason,
        };
        let limits =
            parse_limits(&self.optional("RATE_LIMITS").unwrap_or_default()).map_err(invalid)?;
        if limits.is_none() && common.deployed_trust_only() {
            return Err(invalid(
                "`off` is for local development; a deployed function is always limited".into(),
            ));
        }
        Ok(limits)
    }

    /// The emulator variable must never reach a deployed function: refuse to start with it.
    fn no_emulator(&self, common: &CommonConfig) -> Result<(), EnvVarError> {
        if common.deployed_trust_only() && self.optional("FIREBASE_AUTH_EMULATOR_HOST").is_some() {
            return Err(EnvVarError::Invalid {
                var: "FIREBASE_AUTH_EMULATOR_HOST",
                reason: "it disables token signatures and is refused outside development and \
                         inside Lambda"
                    .into(),
            });
        }
        Ok(())
    }

    /// The configuration of the WebSocket function running `handler`: each reads the
    /// variables it uses (`ws-connect` the project id, `ws-default` and `ws-broadcast` the
    /// management endpoint, `ws-broadcast` its pacing). The Auth emulator is refused in all.
    pub fn ws(&self, handler: WsHandler) -> Result<WsConfig, EnvVarError> {
        let common = self.common()?;
        self.no_emulator(&common)?;
        let firebase_project_id = match handler {
            WsHandler::Connect => Some(self.firebase_project_id()?),
            _ => None,
        };
        let websocket_endpoint = match handler {
            WsHandler::Default | WsHandler::Broadcast => {
                let url = self.required("WEBSOCKET_ENDPOINT")?;
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(EnvVarError::Invalid {
                        var: "WEBSOCKET_ENDPOINT",
                        reason: "expected the management API URL, https://{api-id}.execute-api.{region}.amazonaws.com/{stage}".into(),
                    });
                }
                Some(url)
            }
            _ => None,
        };
        let number = |var: &'static str, range: std::ops::RangeInclusive<u32>| {
            self.optional(var)
                .map(|text| match text.trim().parse::<u32>() {
                    Ok(n) if range.contains(&n) => Ok(n),
                    _ => Err(EnvVarError::Invalid {
                        var,
                        reason: format!(
                            "{text:?} is not a whole number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    }),
                })
                .transpose()
        };
        let broadcast = handler == WsHandler::Broadcast;
        let limited = matches!(handler, WsHandler::Connect | WsHandler::Broadcast);
        Ok(WsConfig {
            connections_table: self.required(schema::CONNECTIONS.env_var)?,
            control_table: if limited {
                Some(self.required(schema::CONTROL.env_var)?)
            } else {
                None
            },
            limits: if limited { self.limits(&common)? } else { None },
            common,
            firebase_project_id,
            websocket_endpoint,
            send_rate: if broadcast {
                number("BROADCAST_SEND_RATE", 1..=100_000)?
            } else {
                None
            },
            scan_segments: if broadcast {
                number("BROADCAST_SCAN_SEGMENTS", 1..=64)?.unwrap_or(4)
            } else {
                1
            },
        })
    }

    /// The configuration of `bootstrap cleanup`.
    pub fn cleanup(&self) -> Result<CleanupConfig, EnvVarError> {
        Ok(CleanupConfig {
            common: self.common()?,
            comments_table: self.required(schema::COMMENTS.env_var)?,
        })
    }

    /// The configuration of `bootstrap guard`.
    pub fn guard(&self) -> Result<GuardConfig, EnvVarError> {
        let common = self.common()?;
        let list = self.required("GUARDED_FUNCTIONS")?;
        let functions: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        let well_formed = |name: &String| {
            name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if let Some(bad) = functions.iter().find(|name| !well_formed(name)) {
            return Err(EnvVarError::Invalid {
                var: "GUARDED_FUNCTIONS",
                reason: format!("{bad:?} is not a function name (letters, digits, '-', '_')"),
            });
        }
        Ok(GuardConfig {
            common,
            functions,
            health_alarm: self.required("RELEASE_HEALTH_ALARM")?,
            operators_topic: self.optional("OPERATORS_TOPIC_ARN"),
        })
    }

    /// The configuration of `bootstrap api`; local-only trust (a key file, the Auth emulator)
    /// is refused in a deployed environment and inside Lambda.
    pub fn api(&self) -> Result<ApiConfig, EnvVarError> {
        let common = self.common()?;
        self.no_emulator(&common)?;
        let firebase_project_id = self.firebase_project_id()?;
        let keys = match self.optional("AUTH_KEYS").as_deref() {
            None | Some("google") => KeysSetting::Google,
            Some(other) => match other.strip_prefix("file:") {
                Some(path) if !common.deployed_trust_only() => {
                    KeysSetting::File(PathBuf::from(path))
                }
                Some(_) => {
                    return Err(EnvVarError::Invalid {
                        var: "AUTH_KEYS",
                        reason: "a deployed environment, and any function inside Lambda, only \
                                 trusts Google's keys"
                            .into(),
                    });
                }
                None => {
                    return Err(EnvVarError::Invalid {
                        var: "AUTH_KEYS",
                        reason: format!("{other:?} is neither \"google\" nor \"file:PATH\""),
                    });
                }
            },
        };
        let limits = self.limits(&common)?;
        Ok(ApiConfig {
            common,
            firebase_project_id,
            keys,
            notes_table: self.required(schema::NOTES.env_var)?,
            users_table: self.required(schema::USERS.env_var)?,
            comments_table: self.required(schema::COMMENTS.env_var)?,
            control_table: self.required(schema::CONTROL.env_var)?,
            limits,
            broadcast_function: self.optional("BROADCAST_FUNCTION_NAME"),
            cleanup_function: self.optional("CLEANUP_FUNCTION_NAME"),
            auth_emulator: self.optional("FIREBASE_AUTH_EMULATOR_HOST").is_some(),
        })
    }
}

/// Variables from the process environment.
pub fn process_vars() -> Vars<impl Fn(&str) -> Option<String>> {
    Vars(|name: &str| std::env::var(name).ok())
}

/// Variables from a map (tests).
pub fn map_vars(map: HashMap<String, String>) -> Vars<impl Fn(&str) -> Option<String>> {
    Vars(move |name: &str| map.get(name).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars<impl Fn(&str) -> Option<String>> {
        map_vars(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    const FULL: &[(&str, &str)] = &[
        ("ENVIRONMENT", "staging"),
        ("FIREBASE_PROJECT_ID", "notes-123"),
        ("NOTES_TABLE", "n"),
        ("USERS_TABLE", "u"),
        ("COMMENTS_TABLE", "c"),
        ("CONTROL_TABLE", "k"),
    ];

    #[test]
    fn a_complete_environment_parses() {
        let config = vars(FULL).api().unwrap();
        assert_eq!(config.keys, KeysSetting::Google);
        assert_eq!(config.common.log_level, LogLevel::Info);
    }

    #[test]
    fn each_missing_variable_is_named() {
        for (skip, (missing, _)) in FULL.iter().enumerate() {
            let partial: Vec<_> = FULL
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, kv)| *kv)
                .collect();
            let err = vars(&partial).api().unwrap_err();
            assert_eq!(err, EnvVarError::Missing(missing), "{err}");
        }
    }

    #[test]
    fn deployed_environments_refuse_local_keys() {
        let mut pairs = FULL.to_vec();
        pairs.push(("AUTH_KEYS", "file:/tmp/keys.json"));
        let err = vars(&pairs).api().unwrap_err().to_string();
        assert!(err.contains("AUTH_KEYS"), "{err}");
        pairs[0] = ("ENVIRONMENT", "development");
        assert!(matches!(
            vars(&pairs).api().unwrap().keys,
            KeysSetting::File(_)
        ));
    }

    #[test]
    fn deployed_environments_refuse_the_auth_emulator() {
        let mut pairs = FULL.to_vec();
        pairs.push(("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099"));
        let err = vars(&pairs).api().unwrap_err().to_string();
        assert!(err.contains("FIREBASE_AUTH_EMULATOR_HOST"), "{err}");
        pairs[0] = ("ENVIRONMENT", "development");
        assert!(vars(&pairs).api().is_ok());
    }

    #[test]
    fn inside_lambda_local_trust_is_refused_whatever_environment_says() {
        let mut pairs = FULL.to_vec();
        pairs[0] = ("ENVIRONMENT", "development");
        pairs.push((LAMBDA_RUNTIME_API_VAR, "127.0.0.1:9001"));
        let mut emulator = pairs.clone();
        emulator.push(("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099"));
        let err = vars(&emulator).api().unwrap_err().to_string();
        assert!(err.contains("FIREBASE_AUTH_EMULATOR_HOST"), "{err}");
        let connect = [
            ("ENVIRONMENT", "development"),
            ("CONNECTIONS_TABLE", "c"),
            ("FIREBASE_PROJECT_ID", "notes-123"),
            (LAMBDA_RUNTIME_API_VAR, "127.0.0.1:9001"),
            ("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099"),
        ];
        assert!(vars(&connect).ws(WsHandler::Connect).is_err());
        pairs.push(("AUTH_KEYS", "file:/tmp/keys.json"));
        let err = vars(&pairs).api().unwrap_err().to_string();
        assert!(err.contains("AUTH_KEYS"), "{err}");
    }

    #[test]
    fn each_websocket_handler_needs_its_own_variables() {
        let base = [("ENVIRONMENT", "production"), ("CONNECTIONS_TABLE", "c")];
        assert!(vars(&base).ws(WsHandler::Disconnect).is_ok());
        assert_eq!(
            vars(&base).ws(WsHandler::Default).unwrap_err(),
            EnvVarError::Missing("WEBSOCKET_ENDPOINT")
        );
        assert_eq!(
            vars(&base).ws(WsHandler::Connect).unwrap_err(),
            EnvVarError::Missing("FIREBASE_PROJECT_ID")
        );
        let mut bad = base.to_vec();
        bad.push(("WEBSOCKET_ENDPOINT", "wss://x"));
        assert!(
            vars(&bad)
                .ws(WsHandler::Broadcast)
                .unwrap_err()
                .to_string()
                .contains("WEBSOCKET_ENDPOINT")
        );
    }

    #[test]
    fn the_release_is_read_when_set_and_refused_when_malformed() {
        let mut pairs = FULL.to_vec();
        assert_eq!(vars(&pairs).api().unwrap().common.release, None);
        pairs.push((RELEASE_VAR, "12-3f9c2e1a0b4d-5e6f7a8b9c0d"));
        let release = vars(&pairs).api().unwrap().common.release.unwrap();
        assert_eq!(release.sequence, 12);
        pairs.pop();
        pairs.push((RELEASE_VAR, "release 12"));
        let err = vars(&pairs).api().unwrap_err().to_string();
        assert!(err.contains(RELEASE_VAR), "{err}");
    }

    #[test]
    fn the_guard_reads_its_functions_alarm_and_topic() {
        let base = [
            ("ENVIRONMENT", "production"),
            (
                "GUARDED_FUNCTIONS",
                "noteapp-production-api, noteapp-production-guard",
            ),
            ("RELEASE_HEALTH_ALARM", "noteapp-production-release-health"),
        ];
        let config = vars(&base).guard().unwrap();
        assert_eq!(
            config.functions,
            ["noteapp-production-api", "noteapp-production-guard"]
        );
        assert_eq!(config.operators_topic, None);
        assert_eq!(
            vars(&base[..2]).guard().unwrap_err(),
            EnvVarError::Missing("RELEASE_HEALTH_ALARM")
        );
        let mut bad = base.to_vec();
        bad[1] = ("GUARDED_FUNCTIONS", "noteapp-production-api:live");
        let err = vars(&bad).guard().unwrap_err().to_string();
        assert!(err.contains("GUARDED_FUNCTIONS"), "{err}");
    }

    #[test]
    fn rate_limits_default_parse_and_are_never_off_when_deployed() {
        assert_eq!(vars(FULL).api().unwrap().limits, Some(RateLimits::DEFAULT));
        let mut pairs = FULL.to_vec();
        pairs.push(("RATE_LIMITS", "comments=3/min"));
        let limits = vars(&pairs).api().unwrap().limits.unwrap();
        assert_eq!(limits.comments.max, 3);
        pairs.pop();
        pairs.push(("RATE_LIMITS", "off"));
        let err = vars(&pairs).api().unwrap_err().to_string();
        assert!(err.contains("RATE_LIMITS"), "{err}");
        pairs[0] = ("ENVIRONMENT", "development");
        assert_eq!(vars(&pairs).api().unwrap().limits, None);
        pairs.pop();
        pairs.push(("RATE_LIMITS", "comments=lots"));
        assert!(
            vars(&pairs)
                .api()
                .unwrap_err()
                .to_string()
                .contains("RATE_LIMITS")
        );
        let connect = [
            ("ENVIRONMENT", "production"),
            ("CONNECTIONS_TABLE", "c"),
            ("FIREBASE_PROJECT_ID", "notes-123"),
        ];
        assert_eq!(
            vars(&connect).ws(WsHandler::Connect).unwrap_err(),
            EnvVarError::Missing("CONTROL_TABLE")
        );
    }

    #[test]
    fn malformed_values_are_named() {
        let mut pairs = FULL.to_vec();
        pairs.push(("LOG_LEVEL", "loud"));
        assert!(
            vars(&pairs)
                .api()
                .unwrap_err()
                .to_string()
                .contains("LOG_LEVEL")
        );
        pairs[0] = ("ENVIRONMENT", "prod");
        assert!(
            vars(&pairs)
                .api()
                .unwrap_err()
                .to_string()
                .contains("ENVIRONMENT")
        );
    }
}
