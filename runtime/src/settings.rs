//! The settings the runtime and the deployer must agree on, each defined once: the
//! environments, the log levels, the Firebase project id, and the settings of `noteapp local`
//! together with the variables that carry them from the CLI into its container mode.
//!
//! The deployer parses environment files into these types and renders them into the template's
//! parameters; the runtime reads the same values back from its environment variables at init.
//! One parser each, so a value the deployer accepts is one the deployed function accepts, and
//! `noteapp local` accepts it too.

use std::fmt;
use std::path::PathBuf;

pub use crate::domain::limits::RateLimits;
pub use crate::store::embedded::SyncMode;

/// Where a stack runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Environment {
    /// On a laptop only (`noteapp local`); never deployed.
    Development,
    /// The deployed environment changes reach first, before production.
    Staging,
    /// The deployed environment people use.
    Production,
}

impl Environment {
    /// Every environment, in the order they are listed to people.
    pub const ALL: [Environment; 3] = [
        Environment::Development,
        Environment::Staging,
        Environment::Production,
    ];

    /// The name used in file names, stage names and `ENVIRONMENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }

    /// The environment called `name`, or why there is none.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "{name:?} is not an environment: choose one of development, staging, production"
                )
            })
    }

    /// Whether this environment runs in AWS (staging, production), where only Google's keys are
    /// trusted and nothing local-only is allowed.
    pub fn is_deployed(self) -> bool {
        !matches!(self, Environment::Development)
    }
}

impl serde::Serialize for Environment {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A log level, as `LOG_LEVEL` and the environment files spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Failures, and what may become one.
    Warn,
    /// What the process does (the default).
    Info,
    /// Detail for finding a problem (this workspace's; other crates stay at `info`).
    Debug,
    /// Everything this workspace logs (other crates stay at `info`).
    Trace,
}

impl LogLevel {
    /// Every level, from the fewest lines to the most.
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Trace,
    ];

    /// The name `LOG_LEVEL` and the environment files use.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }

    /// The level called `name` (any case), or why there is none.
    pub fn parse(name: &str) -> Result<Self, String> {
        let lower = name.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == lower)
            .ok_or_else(|| format!("{name:?} is not one of error, warn, info, debug, trace"))
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Firebase (Google Cloud) project id: 6 to 30 characters of lowercase letters, digits and
/// '-', starting with a letter and not ending with '-'. Tokens must name it in `aud` and in
/// `iss` (`https://securetoken.google.com/<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FirebaseProjectId(String);

impl FirebaseProjectId {
    /// The length limits Google Cloud sets on project ids.
    pub const LENGTH: (usize, usize) = (6, 30);
    /// The same rule as a regular expression: the template's `AllowedPattern` for the stack's
    /// FirebaseProjectId parameter, so CloudFormation refuses exactly what [`Self::parse`] does.
    pub const PATTERN: &'static str = "^[a-z][a-z0-9-]{4,28}[a-z0-9]$";

    /// `value` as a project id, or why it is not one.
    pub fn parse(value: &str) -> Result<Self, String> {
        let (min, max) = Self::LENGTH;
        let bytes = value.as_bytes();
        let ok = (min..=max).contains(&value.len())
            && bytes[0].is_ascii_lowercase()
            && bytes[bytes.len() - 1] != b'-'
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(format!(
                "{value:?} is not a Firebase project id: {min} to {max} lowercase letters, digits \
                 and '-', starting with a letter and not ending with '-' (e.g. \"my-notes-app\")"
            ))
        }
    }

    /// The id, as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FirebaseProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The Firebase project local tokens are issued for and checked against.
pub const LOCAL_PROJECT: &str = "noteapp-local";

/// The settings of a local stack (`noteapp local`, its `--docker` mode and `bootstrap local`),
/// with their defaults, and the variables that carry them: `noteapp local` reads its flags'
/// fallbacks from them, and hands them to the container, where `bootstrap local` reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSettings {
    /// The address both listeners bind.
    pub host: String,
    /// The notes API's port.
    pub port: u16,
    /// The WebSocket gateway's port.
    pub ws_port: u16,
    /// Where the store, the signing key and the operator token are kept.
    pub data_dir: PathBuf,
    /// The origins the notes API answers CORS requests from.
    pub cors_origins: Vec<String>,
    /// The Firebase project tokens must be for ([`LOCAL_PROJECT`] by default).
    pub firebase_project: String,
    /// The Firebase Auth emulator's `host:port`, whose unsigned tokens are then accepted too.
    pub auth_emulator: Option<String>,
    /// When the embedded store's writes reach the disk.
    pub sync: SyncMode,
    /// The rate limits (`None`: off, for benchmarks).
    pub rate_limits: Option<RateLimits>,
}

impl LocalSettings {
    /// Loopback only.
    pub const DEFAULT_HOST: &'static str = "127.0.0.1";
    /// The front end's `NEXT_PUBLIC_API_BASE_URL` default.
    pub const DEFAULT_PORT: u16 = 8000;
    /// The front end's `NEXT_PUBLIC_WEBSOCKET_URL` default.
    pub const DEFAULT_WS_PORT: u16 = 3001;
    /// The data directory on the host, relative to where `noteapp local` runs.
    pub const DEFAULT_DATA_DIR: &'static str = ".noteapp/local";
    /// Where the container mode mounts the data directory.
    pub const CONTAINER_DATA_DIR: &'static str = "/data";
    /// The front end's development origins.
    pub const DEFAULT_CORS_ORIGINS: [&'static str; 2] =
        ["http://localhost:3000", "http://127.0.0.1:3000"];
    /// The table-name prefix of a local stack on a DynamoDB API (`--dynamodb-endpoint`).
    pub const DEFAULT_TABLE_PREFIX: &'static str = "noteapp-development";

    /// Carries [`LocalSettings::host`].
    pub const HOST_VAR: &'static str = "NOTEAPP_HOST";
    /// Carries [`LocalSettings::port`].
    pub const PORT_VAR: &'static str = "NOTEAPP_PORT";
    /// Carries [`LocalSettings::ws_port`].
    pub const WS_PORT_VAR: &'static str = "NOTEAPP_WS_PORT";
    /// Carries [`LocalSettings::data_dir`].
    pub const DATA_DIR_VAR: &'static str = "NOTEAPP_DATA_DIR";
    /// Carries [`LocalSettings::cors_origins`], comma-separated.
    pub const CORS_VAR: &'static str = "NOTEAPP_CORS_ORIGINS";
    /// Carries [`LocalSettings::firebase_project`].
    pub const PROJECT_VAR: &'static str = "FIREBASE_PROJECT_ID";
    /// Carries [`LocalSettings::auth_emulator`], as the Firebase SDKs read it.
    pub const EMULATOR_VAR: &'static str = "FIREBASE_AUTH_EMULATOR_HOST";
    /// Carries [`LocalSettings::sync`] (`never` or `always`).
    pub const SYNC_VAR: &'static str = "NOTEAPP_SYNC";
    /// Carries [`LocalSettings::rate_limits`]: `key=rate,…` over the defaults, or `off`.
    pub const RATE_LIMITS_VAR: &'static str = "NOTEAPP_RATE_LIMITS";

    /// The settings `vars` describe, every missing one at its default (with `data_dir` given
    /// by the caller: the host's `.noteapp/local`, or the container's `/data`).
    pub fn from_vars(
        vars: impl Fn(&str) -> Option<String>,
        default_data_dir: &str,
    ) -> Result<Self, String> {
        let get = |name: &str| vars(name).filter(|v| !v.trim().is_empty());
        let port = |name: &'static str, default: u16| match get(name) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse::<u16>()
                .map_err(|_| format!("{name}={text:?} is not a port number")),
        };
        let settings = Self {
            host: get(Self::HOST_VAR).unwrap_or_else(|| Self::DEFAULT_HOST.to_owned()),
            port: port(Self::PORT_VAR, Self::DEFAULT_PORT)?,
            ws_port: port(Self::WS_PORT_VAR, Self::DEFAULT_WS_PORT)?,
            data_dir: PathBuf::from(
                get(Self::DATA_DIR_VAR).unwrap_or_else(|| default_data_dir.to_owned()),
            ),
            cors_origins: match get(Self::CORS_VAR) {
                Some(list) => list.split(',').map(|o| o.trim().to_owned()).collect(),
                None => Self::DEFAULT_CORS_ORIGINS.map(str::to_owned).to_vec(),
            },
            firebase_project: get(Self::PROJECT_VAR).unwrap_or_else(|| LOCAL_PROJECT.to_owned()),
            auth_emulator: get(Self::EMULATOR_VAR),
            sync: match get(Self::SYNC_VAR) {
                None => SyncMode::default(),
                Some(text) => {
                    SyncMode::parse(&text).map_err(|e| format!("{}: {e}", Self::SYNC_VAR))?
                }
            },
            rate_limits: crate::domain::limits::parse_limits(
                &get(Self::RATE_LIMITS_VAR).unwrap_or_default(),
            )
            .map_err(|e| format!("{}: {e}", Self::RATE_LIMITS_VAR))?,
        };
        FirebaseProjectId::parse(&settings.firebase_project)
            .map_err(|e| format!("{}: {e}", Self::PROJECT_VAR))?;
        Ok(settings)
    }

    /// The variables that make `bootstrap local` in a container serve these settings, with the
    /// data directory at [`Self::CONTAINER_DATA_DIR`].
    pub fn container_vars(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            (Self::HOST_VAR, self.host.clone()),
            (Self::PORT_VAR, self.port.to_string()),
            (Self::WS_PORT_VAR, self.ws_port.to_string()),
            (Self::DATA_DIR_VAR, Self::CONTAINER_DATA_DIR.to_owned()),
            (Self::CORS_VAR, self.cors_origins.join(",")),
            (Self::PROJECT_VAR, self.firebase_project.clone()),
            (Self::SYNC_VAR, self.sync.to_string()),
            (
                Self::RATE_LIMITS_VAR,
                self.rate_limits
                    .map_or_else(|| "off".to_owned(), |l| l.to_string()),
            ),
        ];
        if let Some(host) = &self.auth_emulator {
            vars.push((Self::EMULATOR_VAR, host.clone()));
        }
        vars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_and_levels_round_trip_through_their_names() {
        for env in Environment::ALL {
            assert_eq!(Environment::parse(env.as_str()), Ok(env));
        }
        assert!(Environment::parse("prod").unwrap_err().contains("staging"));
        assert!(!Environment::Development.is_deployed());
        assert!(Environment::Production.is_deployed());
        for level in LogLevel::ALL {
            assert_eq!(LogLevel::parse(level.as_str()), Ok(level));
        }
        assert_eq!(LogLevel::parse("DEBUG"), Ok(LogLevel::Debug));
        assert!(LogLevel::parse("loud").is_err());
    }

    #[test]
    fn project_ids_follow_google_clouds_rules() {
        for good in [
            "noteapp-local",
            "next-fastapi-note-app",
            "demo-noteapp",
            "abc123",
        ] {
            assert!(FirebaseProjectId::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "abc",
            "Bad_Project",
            "1notes",
            "notes-",
            "a/b",
            " demo",
            "proj ect",
            "notes.app",
            &"a".repeat(31),
        ] {
            assert!(FirebaseProjectId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn local_settings_default_and_survive_the_container_round_trip() {
        let defaults = LocalSettings::from_vars(|_| None, LocalSettings::DEFAULT_DATA_DIR).unwrap();
        assert_eq!(defaults.port, 8000);
        assert_eq!(defaults.ws_port, 3001);
        assert_eq!(defaults.cors_origins.len(), 2);
        assert_eq!(defaults.firebase_project, LOCAL_PROJECT);
        let settings = LocalSettings {
            port: 18000,
            auth_emulator: Some("127.0.0.1:9099".into()),
            cors_origins: vec!["http://a.test:3000".into()],
            sync: SyncMode::Always,
            rate_limits: Some(RateLimits::DEFAULT.with("comments=2/s").unwrap()),
            ..defaults
        };
        let vars = settings.container_vars();
        let inside = LocalSettings::from_vars(
            |name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            },
            "/unused",
        )
        .unwrap();
        assert_eq!(
            inside,
            LocalSettings {
                data_dir: PathBuf::from(LocalSettings::CONTAINER_DATA_DIR),
                ..settings
            }
        );
        let bad = LocalSettings::from_vars(
            |name| (name == LocalSettings::PORT_VAR).then(|| "http".to_owned()),
            "/d",
        );
        assert!(bad.unwrap_err().contains("NOTEAPP_PORT"));
        let bad = LocalSettings::from_vars(
            |name| (name == LocalSettings::SYNC_VAR).then(|| "sometimes".to_owned()),
            "/d",
        );
        assert!(bad.unwrap_err().contains("NOTEAPP_SYNC"));
    }
}
