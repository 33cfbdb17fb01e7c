//! Environment files: `environments/<name>.yaml`, parsed into a typed [`EnvironmentConfig`].
//!
//! Every key is declared here with `deny_unknown_fields`, and every value is checked as it is
//! parsed (see `fields`), so a typo'd key, a wrong type, a missing key or a bad value is one
//! error naming the file, the line and the key. Checks that need two values at once (production
//! refuses `*` CORS and unconfirmed change sets) run right after parsing and point at the line
//! of the offending key. Nothing here talks to AWS.

mod fields;
mod release;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use noteapp_runtime::functions::Function;
use serde::Deserialize;

use fields::{
    AccountId, LogLevelField, MemoryMb, Origin, ProjectField, Region, ReservedConcurrency,
    RetentionDays, SendRate, StackName, TimeoutSeconds, check_tag,
};
pub use noteapp_runtime::domain::limits::RateLimits;
pub use noteapp_runtime::settings::{Environment, FirebaseProjectId, LogLevel};
pub use release::{
    AlarmSettings, DEFAULT_ALARMS, DEFAULT_CANARY_MINUTES, DEFAULT_CANARY_SHARE,
    MAX_OPERATOR_EMAILS, ReleaseStrategy,
};

/// A problem with an environment file, or with finding one.
#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    /// A name that is not `development`, `staging` or `production`.
    #[error("unknown environment {name:?}: choose one of development, staging, production")]
    UnknownEnvironment {
        /// The name given.
        name: String,
    },
    /// The environment's file cannot be read (most often: it does not exist).
    #[error("cannot read {}: {source} (each environment has a file environments/<name>.yaml)", path.display())]
    Read {
        /// The file tried: `<root>/environments/<name>.yaml`.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// A bad key or value; `line` is 1-based.
    #[error("{file}, line {line}: {message}")]
    Invalid {
        /// The file, as messages name it (`environments/staging.yaml`).
        file: String,
        /// The line of the offending key or value (1 when it cannot be found).
        line: usize,
        /// What is wrong, and with which key (`rate_limits.comments: …`).
        message: String,
    },
    /// A problem the parser could not place on a line (an empty file, say).
    #[error("{file}: {message}")]
    Unplaced {
        /// The file, as messages name it.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// No directory holding `environments/` was found: the command was not run in a checkout.
    #[error(
        "cannot find the noteapp repository (a directory holding environments/) from {}: run inside it, or pass --root DIR or set NOTEAPP_ROOT",
        start.display()
    )]
    RootNotFound {
        /// Where the search began: the current directory, or the root given (`--root`,
        /// `NOTEAPP_ROOT`), which must itself hold `environments/`.
        start: PathBuf,
    },
}

/// The instruction set the functions run on; the image must be built for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Architecture {
    /// `x86_64`: Intel and AMD (`x86_64-unknown-linux-gnu`).
    #[serde(rename = "x86_64")]
    X86_64,
    /// `arm64`: Graviton (`aarch64-unknown-linux-gnu`).
    #[serde(rename = "arm64")]
    Arm64,
}

impl Architecture {
    /// The name the environment files and Lambda's `Architectures` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

/// Memory, timeout and reserved concurrency of one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionSettings {
    /// Memory in MB (128 to 10,240); CPU grows with it.
    pub memory_mb: u32,
    /// The longest one invocation may run, in seconds (1 to 900).
    pub timeout_seconds: u32,
    /// Concurrent executions reserved for the function, which are also the most it may run
    /// (`ReservedConcurrentExecutions`); `None` reserves none.
    pub reserved_concurrency: Option<u32>,
}

/// The settings of every function (`noteapp_runtime::functions::Function::ALL`), each resolved
/// from `functions.defaults` and its override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Functions(Vec<(Function, FunctionSettings)>);

impl Functions {
    /// Every function with its settings, in the template's order.
    pub fn each(&self) -> impl Iterator<Item = (Function, FunctionSettings)> + '_ {
        self.0.iter().copied()
    }

    /// The settings of `function`.
    pub fn get(&self, function: Function) -> FunctionSettings {
        self.0
            .iter()
            .find(|(f, _)| *f == function)
            .map(|(_, settings)| *settings)
            .expect("every function is resolved")
    }
}

/// A function's key under `functions:` in an environment file (`ws_connect`).
pub fn file_key(function: Function) -> String {
    function.name().replace('-', "_")
}

/// What protects the tables' data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSettings {
    /// Point-in-time recovery: a table can be restored (to a new one) as it was at any second of
    /// the last 35 days.
    pub point_in_time_recovery: bool,
    /// DynamoDB refuses every `DeleteTable` of the tables, by anyone, until this is turned off.
    pub deletion_protection: bool,
}

/// One environment, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentConfig {
    /// Which environment this is (the file's name).
    pub environment: Environment,
    /// The CloudFormation stack's name; its functions are named `<stack>-<function>`.
    pub stack_name: String,
    /// The AWS region the stack lives in (`ap-northeast-1`).
    pub region: String,
    /// The 12-digit account the stack belongs to.
    pub account_id: String,
    /// The functions' `LOG_LEVEL`.
    pub log_level: LogLevel,
    /// How long the functions' log groups keep events, in days (one of CloudWatch's values).
    pub log_retention_days: u32,
    /// CORS origins of the Function URL (`*` never in production).
    pub allowed_origins: Vec<String>,
    /// The Firebase project whose ID tokens the API accepts.
    pub firebase_project_id: FirebaseProjectId,
    /// What the functions run on, and so what the image is built for.
    pub architecture: Architecture,
    /// Memory, timeout and reserved concurrency of every function.
    pub functions: Functions,
    /// Extra stack tags from the file, sorted by key.
    pub tags: BTreeMap<String, String>,
    /// Whether a change set waits for confirmation before it runs.
    pub confirm_changes: bool,
    /// What protects the tables' data.
    pub tables: TableSettings,
    /// Posts per second one broadcast sends at most.
    pub broadcast_send_rate: u32,
    /// How many releases the stack's history and the registry keep (`release`).
    pub releases_kept: u32,
    /// How a deploy moves traffic to a new release (`release:`).
    pub release: ReleaseStrategy,
    /// When the alarms fire and whom they email (`alarms:`).
    pub alarms: AlarmSettings,
    /// The limits on writes, `$connect` and public fan-outs: the runtime's defaults with the
    /// file's `rate_limits` applied.
    pub rate_limits: RateLimits,
    local_only: bool,
}

impl EnvironmentConfig {
    /// `development`, `staging` or `production`: the file's name, the stage name.
    pub fn name(&self) -> &'static str {
        self.environment.as_str()
    }

    /// Whether this environment only ever runs on a laptop (`noteapp deploy` refuses it): the
    /// file says `local_only: true`, or it is `development`, which is never deployed.
    pub fn is_local_only(&self) -> bool {
        self.local_only || !self.environment.is_deployed()
    }
}

/// The file as written: every key, with its type; unknown keys are errors.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvironmentFile {
    #[serde(default)]
    local_only: bool,
    stack_name: StackName,
    region: Region,
    account_id: AccountId,
    log_level: LogLevelField,
    log_retention_days: RetentionDays,
    allowed_origins: Vec<Origin>,
    firebase_project_id: ProjectField,
    architecture: Architecture,
    confirm_changes: bool,
    tables: TableSettings,
    functions: FunctionsFile,
    tags: BTreeMap<String, String>,
    #[serde(default = "default_send_rate")]
    broadcast_send_rate: SendRate,
    #[serde(default = "default_releases_kept")]
    releases_kept: u32,
    /// `key: rate` over the runtime's defaults (`noteapp_runtime::domain::limits`).
    #[serde(default)]
    rate_limits: BTreeMap<String, serde_norway::Value>,
    /// `log_level: trace` logs whole events; staging and production need this to say so.
    #[serde(default)]
    accept_trace_logs: bool,
    /// Optional: production defaults to a canary, every other environment to all at once.
    #[serde(default)]
    release: Option<release::ReleaseFile>,
    /// Optional: every threshold has a default (`release::DEFAULT_ALARMS`).
    #[serde(default)]
    alarms: release::AlarmsFile,
}

fn default_releases_kept() -> u32 {
    DEFAULT_RELEASES_KEPT
}

/// Releases kept unless the file says otherwise.
pub const DEFAULT_RELEASES_KEPT: u32 = 5;
/// The most releases kept: each is a record in the template, whose body CloudFormation takes up
/// to 51,200 bytes.
pub const MAX_RELEASES_KEPT: u32 = 10;

fn default_send_rate() -> SendRate {
    SendRate(DEFAULT_SEND_RATE)
}

/// Posts per second a broadcast sends unless the file says otherwise: a tenth of API Gateway's
/// shared account quota of 10,000 requests a second.
pub const DEFAULT_SEND_RATE: u32 = 1000;

/// `functions:` as written: `defaults`, and an override per function under its [`file_key`];
/// any other key is refused, naming the keys there are.
struct FunctionsFile {
    defaults: FunctionDefaults,
    overrides: Vec<(Function, FunctionOverride)>,
}

impl<'de> Deserialize<'de> for FunctionsFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = FunctionsFile;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`defaults` and an override per function")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<FunctionsFile, A::Error> {
                let mut defaults = None;
                let mut overrides = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "defaults" {
                        defaults = Some(map.next_value()?);
                        continue;
                    }
                    let function = Function::ALL.into_iter().find(|&f| file_key(f) == key);
                    let Some(function) = function else {
                        let expected: Vec<String> = Function::ALL
                            .iter()
                            .map(|&f| format!("`{}`", file_key(f)))
                            .collect();
                        return Err(serde::de::Error::custom(format!(
                            "unknown field `{key}`, expected `defaults` or one of {}",
                            expected.join(", ")
                        )));
                    };
                    overrides.push((function, map.next_value()?));
                }
                let defaults =
                    defaults.ok_or_else(|| serde::de::Error::missing_field("defaults"))?;
                Ok(FunctionsFile {
                    defaults,
                    overrides,
                })
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionDefaults {
    memory_mb: MemoryMb,
    timeout_seconds: TimeoutSeconds,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionOverride {
    memory_mb: Option<MemoryMb>,
    timeout_seconds: Option<TimeoutSeconds>,
    /// Per function only: a reservation is a share of the account's concurrency.
    reserved_concurrency: Option<ReservedConcurrency>,
}

impl FunctionOverride {
    fn resolve(&self, defaults: &FunctionDefaults) -> FunctionSettings {
        FunctionSettings {
            memory_mb: self.memory_mb.unwrap_or(defaults.memory_mb).0,
            timeout_seconds: self.timeout_seconds.unwrap_or(defaults.timeout_seconds).0,
            reserved_concurrency: self.reserved_concurrency.map(|r| r.0),
        }
    }
}

/// The path of an environment's file relative to the repository root, as errors name it.
pub fn file_label(name: &str) -> String {
    format!("environments/{name}.yaml")
}

/// Reads and checks `<root>/environments/<name>.yaml`.
pub fn load(root: &Path, name: &str) -> Result<EnvironmentConfig, EnvFileError> {
    check_name(name)?;
    let path = root.join(file_label(name));
    let text =
        std::fs::read_to_string(&path).map_err(|source| EnvFileError::Read { path, source })?;
    parse(name, &text)
}

/// The environment called `name`, or the error listing the ones there are.
pub fn check_name(name: &str) -> Result<Environment, EnvFileError> {
    Environment::parse(name).map_err(|_| EnvFileError::UnknownEnvironment {
        name: name.to_owned(),
    })
}

/// Parses and checks the text of environment `name`'s file. Pure: no file system access.
pub fn parse(name: &str, text: &str) -> Result<EnvironmentConfig, EnvFileError> {
    let environment = check_name(name)?;
    let file = file_label(name);
    let raw: EnvironmentFile = serde_norway::from_str(text).map_err(|e| yaml_error(&file, &e))?;
    let (release, alarms) = check_together(environment, &raw, text)?;
    let rate_limits = rate_limits(environment, &raw, text)?;
    let defaults = &raw.functions.defaults;
    let functions = Functions(
        Function::ALL
            .iter()
            .map(|&f| {
                let over = raw.functions.overrides.iter().find(|(g, _)| *g == f);
                let settings = match over {
                    Some((_, over)) => over.resolve(defaults),
                    None => FunctionOverride::default().resolve(defaults),
                };
                (f, settings)
            })
            .collect(),
    );
    Ok(EnvironmentConfig {
        environment,
        stack_name: raw.stack_name.0,
        region: raw.region.0,
        account_id: raw.account_id.0,
        log_level: raw.log_level.0,
        log_retention_days: raw.log_retention_days.0,
        allowed_origins: raw.allowed_origins.into_iter().map(|o| o.0).collect(),
        firebase_project_id: raw.firebase_project_id.0,
        architecture: raw.architecture,
        functions,
        tags: raw.tags,
        confirm_changes: raw.confirm_changes,
        tables: raw.tables,
        broadcast_send_rate: raw.broadcast_send_rate.0,
        releases_kept: raw.releases_kept,
        release,
        alarms,
        rate_limits,
        local_only: raw.local_only,
    })
}

/// The file's `rate_limits` over the runtime's defaults; an unknown key or a bad value is an
/// error at its line, in the runtime's own words.
fn rate_limits(
    environment: Environment,
    raw: &EnvironmentFile,
    text: &str,
) -> Result<RateLimits, EnvFileError> {
    let mut limits = RateLimits::DEFAULT;
    for (key, value) in &raw.rate_limits {
        let at = |message: String| EnvFileError::Invalid {
            file: file_label(environment.as_str()),
            line: path_line(text, &["rate_limits", key]).unwrap_or(1),
            message: format!("rate_limits.{key}: {message}"),
        };
        let value = match value {
            serde_norway::Value::String(s) => s.clone(),
            serde_norway::Value::Number(n) => n.to_string(),
            _ => return Err(at("write a rate such as 20/min (or a number)".into())),
        };
        limits = limits
            .with_key(key, &value)
            .map_err(|e| at(e.trim_start_matches(&format!("{key}: ")).to_owned()))?;
    }
    Ok(limits)
}

/// The checks that involve more than one value, or the environment's name; the release
/// strategy and the alarm settings they resolve.
fn check_together(
    environment: Environment,
    raw: &EnvironmentFile,
    text: &str,
) -> Result<(ReleaseStrategy, AlarmSettings), EnvFileError> {
    let name = environment.as_str();
    let production = environment == Environment::Production;
    let at = |path: &[&str], message: &str| EnvFileError::Invalid {
        file: file_label(name),
        line: path_line(text, path).unwrap_or(1),
        message: format!("{}: {message}", path.join(".")),
    };
    let origins = &raw.allowed_origins;
    if origins.is_empty() {
        return Err(at(&["allowed_origins"], "list at least one origin"));
    }
    if origins.iter().any(Origin::is_any) {
        if production {
            return Err(EnvFileError::Invalid {
                file: file_label(name),
                line: any_origin_line(text).unwrap_or(1),
                message: "allowed_origins: `*` is refused for production; list the front end's origins, e.g. https://app.example.com".into(),
            });
        }
        if origins.len() > 1 {
            let message = "`*` already allows every origin; list it alone or drop it";
            return Err(at(&["allowed_origins"], message));
        }
    }
    if environment.is_deployed() && raw.log_level.0 == LogLevel::Trace && !raw.accept_trace_logs {
        let message = "trace logs whole requests and events (tokens included, in the SDKs' \
                       and the Lambda runtime's own lines); use debug, or add \
                       `accept_trace_logs: true` to accept that in this environment";
        return Err(at(&["log_level"], message));
    }
    if production && !raw.confirm_changes {
        let message = "production must confirm change sets; set it to true (CI passes --yes)";
        return Err(at(&["confirm_changes"], message));
    }
    for (key, value) in &raw.tags {
        check_tag(key, value).map_err(|m| at(&["tags", key], &m))?;
    }
    if !(1..=MAX_RELEASES_KEPT).contains(&raw.releases_kept) {
        let message = format!(
            "keep 1 to {MAX_RELEASES_KEPT} releases (each is a record in the stack's template)"
        );
        return Err(at(&["releases_kept"], &message));
    }
    let release = match &raw.release {
        None => ReleaseStrategy::default_for(environment),
        Some(file) => file
            .resolve()
            .map_err(|(key, message)| at(&["release", key], message))?,
    };
    let alarms = raw
        .alarms
        .resolve()
        .map_err(|message| at(&["alarms", "email"], &message))?;
    Ok((release, alarms))
}

/// Turns a parser error into "FILE, line N: PATH: MESSAGE" (the parser's own "at line N column
/// M" suffix is dropped; the line moves to the front).
fn yaml_error(file: &str, err: &serde_norway::Error) -> EnvFileError {
    let text = err.to_string();
    let mut message = match text.rfind(" at line ") {
        Some(i) if err.location().is_some() => text[..i].to_owned(),
        _ => text,
    };
    if message.contains("missing field") {
        message.push_str("; add it");
    }
    match err.location() {
        Some(location) => EnvFileError::Invalid {
            file: file.to_owned(),
            line: location.line(),
            message,
        },
        None => EnvFileError::Unplaced {
            file: file.to_owned(),
            message,
        },
    }
}

/// The 1-based line of the key at `path` (`["tags", "Owner"]`) in block-style YAML `text`, or of
/// the deepest ancestor found (for flow style), or `None` when not even the first key is there.
fn path_line(text: &str, path: &[&str]) -> Option<usize> {
    let mut found = None;
    let mut parent_indent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let Some(key) = path.get(found.map_or(0, |(_, depth)| depth)) else {
            break;
        };
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        match parent_indent {
            Some(parent) if indent <= parent => break,
            None if indent > 0 => continue,
            _ => {}
        }
        if trimmed
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
        {
            found = Some((i + 1, found.map_or(1, |(_, depth)| depth + 1)));
            parent_indent = Some(indent);
        }
    }
    found.map(|(line, _)| line)
}

/// The 1-based line of the `*` entry of `allowed_origins` (or of the key, for a flow list).
fn any_origin_line(text: &str) -> Option<usize> {
    let start = path_line(text, &["allowed_origins"])?;
    let is_any = |item: &str| matches!(item.trim(), "'*'" | "\"*\"" | "*");
    for (offset, line) in text.lines().skip(start).enumerate() {
        let trimmed = line.trim_start();
        if !(line.starts_with([' ', '-']) || trimmed.is_empty() || trimmed.starts_with('#')) {
            break;
        }
        if trimmed.strip_prefix('-').is_some_and(is_any) {
            return Some(start + offset + 1);
        }
    }
    Some(start)
}

/// The repository root: `explicit` (from `--root` or `NOTEAPP_ROOT`) if given, else the first
/// directory at or above `start` that holds `environments/`.
pub fn locate_root(explicit: Option<&Path>, start: &Path) -> Result<PathBuf, EnvFileError> {
    if let Some(root) = explicit {
        return if root.join("environments").is_dir() {
            Ok(root.to_path_buf())
        } else {
            Err(EnvFileError::RootNotFound {
                start: root.to_path_buf(),
            })
        };
    }
    start
        .ancestors()
        .find(|dir| dir.join("environments").is_dir())
        .map(Path::to_path_buf)
        .ok_or_else(|| EnvFileError::RootNotFound {
            start: start.to_path_buf(),
        })
}
