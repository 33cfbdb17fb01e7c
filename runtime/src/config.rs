//! Init-time configuration from environment variables, validated before the first invocation.
//!
//! A missing or malformed variable stops init with a message naming it, so a misconfigured
//! function fails at deploy time instead of answering 500 to users later.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::store::schema;

/// A configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

/// The deployment environment a function runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Staging,
    Production,
}

impl Environment {
    /// Whether this is a deployed (AWS) environment, where only Google's keys are trusted.
    pub fn is_deployed(self) -> bool {
        !matches!(self, Environment::Development)
    }
}

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
    pub environment: Environment,
    pub log_level: String,
}

/// `bootstrap api`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    pub common: CommonConfig,
    pub firebase_project_id: String,
    pub keys: KeysSetting,
    pub notes_table: String,
    pub users_table: String,
    pub comments_table: String,
    /// The function the API invokes asynchronously to deliver comments in real time.
    pub broadcast_function: Option<String>,
    /// `FIREBASE_AUTH_EMULATOR_HOST` is set (development only): accept emulator tokens.
    pub auth_emulator: bool,
}

/// `bootstrap ws-*`: the WebSocket handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsConfig {
    pub common: CommonConfig,
    pub connections_table: String,
    /// `ws-connect` only: verifies `?token=`.
    pub firebase_project_id: Option<String>,
    /// The management API endpoint, for handlers that post to connections.
    pub websocket_endpoint: Option<String>,
}

/// Which WebSocket handler a config is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsHandler {
    Connect,
    Disconnect,
    Default,
    Broadcast,
}

/// Reads variables through `lookup` (the process environment in production, a map in tests).
pub struct Vars<F>(pub F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// A required, non-empty variable.
    pub fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        match (self.0)(var) {
            Some(value) if !value.trim().is_empty() => Ok(value),
            _ => Err(ConfigError::Missing(var)),
        }
    }

    /// An optional variable; empty counts as absent.
    pub fn optional(&self, var: &'static str) -> Option<String> {
        (self.0)(var).filter(|v| !v.trim().is_empty())
    }

    pub fn common(&self) -> Result<CommonConfig, ConfigError> {
        let environment = match self.required("ENVIRONMENT")?.as_str() {
            "development" => Environment::Development,
            "staging" => Environment::Staging,
            "production" => Environment::Production,
            other => {
                return Err(ConfigError::Invalid {
                    var: "ENVIRONMENT",
                    reason: format!("{other:?} is not development, staging or production"),
                });
            }
        };
        let log_level = self.optional("LOG_LEVEL").unwrap_or_else(|| "info".into());
        let log_level = log_level.to_ascii_lowercase();
        if !["error", "warn", "info", "debug", "trace"].contains(&log_level.as_str()) {
            return Err(ConfigError::Invalid {
                var: "LOG_LEVEL",
                reason: format!("{log_level:?} is not one of error, warn, info, debug, trace"),
            });
        }
        Ok(CommonConfig {
            environment,
            log_level,
        })
    }

    fn firebase_project_id(&self) -> Result<String, ConfigError> {
        let id = self.required("FIREBASE_PROJECT_ID")?;
        if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ConfigError::Invalid {
                var: "FIREBASE_PROJECT_ID",
                reason: "a Firebase project id has only letters, digits and '-'".into(),
            });
        }
        Ok(id)
    }

    /// The emulator variable must never reach a deployed function: refuse to start with it.
    fn no_emulator(&self, common: &CommonConfig) -> Result<(), ConfigError> {
        if common.environment.is_deployed()
            && self.optional("FIREBASE_AUTH_EMULATOR_HOST").is_some()
        {
            return Err(ConfigError::Invalid {
                var: "FIREBASE_AUTH_EMULATOR_HOST",
                reason: "it disables token signatures and is refused outside development".into(),
            });
        }
        Ok(())
    }

    pub fn ws(&self, handler: WsHandler) -> Result<WsConfig, ConfigError> {
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
                    return Err(ConfigError::Invalid {
                        var: "WEBSOCKET_ENDPOINT",
                        reason: "expected the management API URL, https://{api-id}.execute-api.{region}.amazonaws.com/{stage}".into(),
                    });
                }
                Some(url)
            }
            _ => None,
        };
        Ok(WsConfig {
            connections_table: self.required(schema::CONNECTIONS.env_var)?,
            common,
            firebase_project_id,
            websocket_endpoint,
        })
    }

    pub fn api(&self) -> Result<ApiConfig, ConfigError> {
        let common = self.common()?;
        self.no_emulator(&common)?;
        let firebase_project_id = self.firebase_project_id()?;
        let keys = match self.optional("AUTH_KEYS").as_deref() {
            None | Some("google") => KeysSetting::Google,
            Some(other) => match other.strip_prefix("file:") {
                Some(path) if !common.environment.is_deployed() => {
                    KeysSetting::File(PathBuf::from(path))
                }
                Some(_) => {
                    return Err(ConfigError::Invalid {
                        var: "AUTH_KEYS",
                        reason: "a deployed environment only trusts Google's keys".into(),
                    });
                }
                None => {
                    return Err(ConfigError::Invalid {
                        var: "AUTH_KEYS",
                        reason: format!("{other:?} is neither \"google\" nor \"file:PATH\""),
                    });
                }
            },
        };
        Ok(ApiConfig {
            common,
            firebase_project_id,
            keys,
            notes_table: self.required(schema::NOTES.env_var)?,
            users_table: self.required(schema::USERS.env_var)?,
            comments_table: self.required(schema::COMMENTS.env_var)?,
            broadcast_function: self.optional("BROADCAST_FUNCTION_NAME"),
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
    ];

    #[test]
    fn a_complete_environment_parses() {
        let config = vars(FULL).api().unwrap();
        assert_eq!(config.keys, KeysSetting::Google);
        assert_eq!(config.common.log_level, "info");
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
            assert_eq!(err, ConfigError::Missing(missing), "{err}");
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
    fn each_websocket_handler_needs_its_own_variables() {
        let base = [("ENVIRONMENT", "production"), ("CONNECTIONS_TABLE", "c")];
        assert!(vars(&base).ws(WsHandler::Disconnect).is_ok());
        assert_eq!(
            vars(&base).ws(WsHandler::Default).unwrap_err(),
            ConfigError::Missing("WEBSOCKET_ENDPOINT")
        );
        assert_eq!(
            vars(&base).ws(WsHandler::Connect).unwrap_err(),
            ConfigError::Missing("FIREBASE_PROJECT_ID")
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
