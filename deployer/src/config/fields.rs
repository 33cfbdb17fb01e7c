//! The checked values of an environment file: one type per kind of value, each with a pure
//! `parse` function that says what is wrong and what a valid value looks like.
//!
//! The types deserialize through their `parse`, called from inside the YAML parser, so a bad value
//! is reported with the file's line and the key's path exactly like an unknown key or a wrong
//! type is.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// CloudWatch Logs accepts only these retention periods (days).
pub const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// A Lambda function's memory range (MB).
pub const MEMORY_MB: (u32, u32) = (128, 10240);
/// A Lambda function's timeout range (seconds).
pub const TIMEOUT_SECONDS: (u32, u32) = (1, 900);
/// The longest stack name whose function names (`<stack>-ws-disconnect`) fit Lambda's 64.
pub const STACK_NAME_MAX: usize = 64 - "-ws-disconnect".len();

// A number checked to lie in a range: the type, and its `parse` naming the range and the unit
// when the value is outside it.
macro_rules! ranged {
    ($(#[$doc:meta])* $name:ident: $range:expr, $unit:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub u32);

        impl $name {
            /// The value, when it is in range; else what the range is.
            pub fn parse(value: u32) -> Result<Self, String> {
                in_range(value, $range, $unit).map(Self)
            }
        }
    };
}

/// A 12-digit AWS account id (kept as text: account ids may start with 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountId(pub String);

impl AccountId {
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(value.to_owned()))
        } else {
            Err(format!(
                "{value:?} is not an AWS account id: it must be exactly 12 digits, quoted, e.g. \"123456789012\""
            ))
        }
    }
}

/// A CloudFormation stack name short enough for the function names derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackName(pub String);

impl StackName {
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut chars = value.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        if !starts_with_letter || !chars.all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!(
                "{value:?} is not a stack name: use a letter, then letters, digits and '-'"
            ));
        }
        if value.len() > STACK_NAME_MAX {
            return Err(format!(
                "{value:?} is too long: at most {STACK_NAME_MAX} characters, so `<stack>-ws-disconnect` fits Lambda's 64"
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

/// An AWS region name such as `ap-northeast-1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region(pub String);

impl Region {
    pub fn parse(value: &str) -> Result<Self, String> {
        let parts: Vec<&str> = value.split('-').collect();
        let ok = parts.len() >= 3
            && parts[0].len() == 2
            && parts.iter().all(|p| !p.is_empty())
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
            && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(format!(
                "{value:?} is not an AWS region name such as \"ap-northeast-1\""
            ))
        }
    }
}

/// The file's `firebase_project_id`, checked by the runtime's own rule (one rule for the
/// deployer, the deployed functions and `noteapp local`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectField(pub noteapp_runtime::settings::FirebaseProjectId);

impl ProjectField {
    pub fn parse(value: &str) -> Result<Self, String> {
        noteapp_runtime::settings::FirebaseProjectId::parse(value).map(Self)
    }
}

/// The file's `log_level`, read by the runtime's own rule (`LOG_LEVEL` takes the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLevelField(pub noteapp_runtime::settings::LogLevel);

impl LogLevelField {
    pub fn parse(value: &str) -> Result<Self, String> {
        noteapp_runtime::settings::LogLevel::parse(value).map(Self)
    }
}

/// One CORS origin: `scheme://host[:port]` with scheme http or https, or `*` (any origin, which
/// only non-production environments may use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(pub String);

impl Origin {
    pub fn is_any(&self) -> bool {
        self.0 == "*"
    }

    pub fn parse(value: &str) -> Result<Self, String> {
        if value == "*" {
            return Ok(Self(value.to_owned()));
        }
        let rest = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"))
            .ok_or_else(|| {
                format!("{value:?} is not an origin: it must start with https:// or http://")
            })?;
        if rest.contains(['/', '?', '#']) {
            return Err(format!(
                "{value:?} is not an origin: drop the path (an origin is scheme://host[:port])"
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
        if host_ok && port_ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(format!(
                "{value:?} is not an origin such as \"https://app.example.com\""
            ))
        }
    }
}

/// A log retention CloudWatch accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionDays(pub u32);

impl RetentionDays {
    pub fn parse(days: u32) -> Result<Self, String> {
        if LOG_RETENTION_DAYS.contains(&days) {
            Ok(Self(days))
        } else {
            Err(format!(
                "{days} days is not a retention CloudWatch accepts; use one of {}",
                join(&LOG_RETENTION_DAYS)
            ))
        }
    }
}

ranged! {
    /// A broadcast's send rate, in posts per second.
    SendRate: (1, 100_000), "posts per second"
}

ranged! {
    /// Concurrent executions reserved for a function: at least 1 (a reservation of 0 stops the
    /// function; `aws lambda put-function-concurrency` does that, deliberately, outside a deploy).
    ReservedConcurrency: RESERVED_CONCURRENCY, "concurrent executions"
}

/// The reserved concurrency a file may ask for: at least 1, at most what Lambda lets an account
/// raise its limit to without a conversation (the deploy checks the account's own limit).
pub const RESERVED_CONCURRENCY: (u32, u32) = (1, 100_000);

ranged! {
    /// A function's memory in MB.
    MemoryMb: MEMORY_MB, "MB of memory"
}

ranged! {
    /// A function's timeout in seconds.
    TimeoutSeconds: TIMEOUT_SECONDS, "seconds of timeout"
}

/// The share of traffic a canary gives the new release first, in percent (under 100: 100 is
/// all at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanaryShare(pub u32);

impl CanaryShare {
    pub fn parse(percent: u32) -> Result<Self, String> {
        if percent == 100 {
            return Err("100 percent is all at once: use `strategy: all_at_once`".into());
        }
        in_range(percent, (1, 99), "percent of the traffic").map(Self)
    }
}

ranged! {
    /// How long a canary keeps its share before taking all the traffic, in minutes.
    CanaryMinutes: (1, 60), "minutes"
}

ranged! {
    /// A percentage, 1 to 100.
    Percent: (1, 100), "percent"
}

ranged! {
    /// A count per minute an alarm fires at, 1 or more.
    PerMinute: (1, 1_000_000), "per minute"
}

ranged! {
    /// A latency in milliseconds, up to Lambda's longest timeout.
    LatencyMs: (1, 900_000), "milliseconds"
}

/// An email address the alarms are sent to (SNS asks it to confirm the subscription first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(pub String);

impl Email {
    pub fn parse(value: &str) -> Result<Self, String> {
        let ok = value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        }) && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            && value.len() <= 254;
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(format!(
                "{value:?} is not an email address such as \"oncall@example.com\""
            ))
        }
    }
}

/// Stack tags from the file; `Project` and `Environment` are noteapp's own and may not be set.
pub const RESERVED_TAGS: [&str; 2] = ["Project", "Environment"];

/// Checks one tag as CloudFormation and noteapp accept it.
pub fn check_tag(key: &str, value: &str) -> Result<(), String> {
    if RESERVED_TAGS.contains(&key) {
        return Err(format!(
            "tag {key:?} is set by noteapp itself; remove it from `tags`"
        ));
    }
    if key.is_empty() || key.len() > 128 || key.starts_with("aws:") {
        return Err(format!(
            "tag key {key:?} must be 1 to 128 characters and not start with \"aws:\""
        ));
    }
    if value.len() > 256 {
        return Err(format!(
            "tag {key:?} has a value longer than 256 characters"
        ));
    }
    Ok(())
}

fn in_range(value: u32, (min, max): (u32, u32), what: &str) -> Result<u32, String> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{value} is out of range: use {min} to {max} {what}"
        ))
    }
}

fn join(values: &[u32]) -> String {
    values
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

// Each type deserializes by checking the scalar inside the parser's visitor, so an error carries
// the value's line and key path like any type error does (a `try_from` conversion would run after
// the parser returned and lose both). `checked!` writes the visitor around the `visit_*`
// methods each kind of scalar needs.
macro_rules! checked {
    ($ty:ident, $expecting:literal, $deserialize:ident, $($visit:item)*) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Checked;
                impl Visitor<'_> for Checked {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    $($visit)*
                }
                deserializer.$deserialize(Checked)
            }
        }
    };
}

macro_rules! deserialize_text {
    ($($ty:ident: $expecting:literal),* $(,)?) => {$(
        checked!($ty, $expecting, deserialize_str,
            fn visit_str<E: de::Error>(self, value: &str) -> Result<$ty, E> {
                $ty::parse(value).map_err(E::custom)
            }
        );
    )*};
}

deserialize_text!(
    AccountId: "a quoted 12-digit account id",
    StackName: "a stack name",
    Region: "an AWS region name",
    ProjectField: "a Firebase project id",
    LogLevelField: "a log level: error, warn, info, debug or trace",
    Origin: "an origin such as https://app.example.com",
    Email: "an email address",
);

macro_rules! deserialize_number {
    ($($ty:ident: $expecting:literal),* $(,)?) => {$(
        checked!($ty, $expecting, deserialize_u32,
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<$ty, E> {
                let value = u32::try_from(value)
                    .map_err(|_| E::custom(format!("{value} is far too large")))?;
                $ty::parse(value).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<$ty, E> {
                match u64::try_from(value) {
                    Ok(value) => self.visit_u64(value),
                    Err(_) => Err(E::custom(format!("{value} is negative"))),
                }
            }
        );
    )*};
}

deserialize_number!(
    SendRate: "a number of posts per second",
    ReservedConcurrency: "a number of concurrent executions",
    RetentionDays: "a number of days",
    MemoryMb: "a number of MB",
    TimeoutSeconds: "a number of seconds",
    CanaryShare: "a percentage of the traffic",
    CanaryMinutes: "a number of minutes",
    Percent: "a percentage",
    PerMinute: "a count per minute",
    LatencyMs: "a number of milliseconds",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(AccountId::parse("012345678901").is_ok());
        for bad in ["12345678901", "1234567890123", "12345678901a", ""] {
            let err = AccountId::parse(bad).unwrap_err();
            assert!(err.contains("12 digits"), "{err}");
        }
    }

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for good in ["https://app.example.com", "http://localhost:3000", "*"] {
            assert!(Origin::parse(good).is_ok(), "{good}");
        }
        assert!(
            Origin::parse("https://app.example.com/")
                .unwrap_err()
                .contains("drop the path")
        );
        assert!(Origin::parse("ftp://x").unwrap_err().contains("https://"));
        assert!(Origin::parse("https://").is_err());
        assert!(Origin::parse("http://localhost:0").is_err());
        assert!(Origin::parse("http://localhost:99999").is_err());
    }

    #[test]
    fn retention_is_one_cloudwatch_accepts() {
        assert!(RetentionDays::parse(7).is_ok());
        assert!(RetentionDays::parse(30).is_ok());
        let err = RetentionDays::parse(10).unwrap_err();
        assert!(err.contains("1, 3, 5, 7, 14, 30"), "{err}");
    }

    #[test]
    fn memory_and_timeout_are_in_lambda_range() {
        assert!(MemoryMb::parse(128).is_ok() && MemoryMb::parse(10240).is_ok());
        assert!(MemoryMb::parse(127).unwrap_err().contains("128 to 10240"));
        assert!(TimeoutSeconds::parse(0).is_err() && TimeoutSeconds::parse(901).is_err());
    }

    #[test]
    fn names_regions_and_projects() {
        assert!(StackName::parse("noteapp-staging").is_ok());
        assert!(StackName::parse("1stack").is_err());
        assert!(
            StackName::parse(&"a".repeat(STACK_NAME_MAX + 1))
                .unwrap_err()
                .contains("too long")
        );
        assert!(Region::parse("ap-northeast-1").is_ok() && Region::parse("us-gov-west-1").is_ok());
        assert!(Region::parse("tokyo").is_err());
        assert!(ProjectField::parse("next-fastapi-note-app").is_ok());
        assert!(ProjectField::parse("Bad_Project").is_err());
    }

    #[test]
    fn canary_and_alarm_values_are_in_range() {
        assert!(CanaryShare::parse(10).is_ok() && CanaryShare::parse(99).is_ok());
        assert!(CanaryShare::parse(0).is_err());
        assert!(CanaryShare::parse(100).unwrap_err().contains("all_at_once"));
        assert!(CanaryMinutes::parse(61).unwrap_err().contains("1 to 60"));
        assert!(Percent::parse(101).is_err() && Percent::parse(80).is_ok());
        assert!(PerMinute::parse(0).is_err());
        assert!(LatencyMs::parse(2000).is_ok());
        assert!(Email::parse("oncall@example.com").is_ok());
        for bad in [
            "oncall",
            "@example.com",
            "oncall@example",
            "on call@example.com",
            "a@b@c.d",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reserved_and_malformed_tags_are_refused() {
        assert!(check_tag("Owner", "team").is_ok());
        assert!(
            check_tag("Environment", "x")
                .unwrap_err()
                .contains("set by noteapp")
        );
        assert!(check_tag("aws:foo", "x").is_err());
    }
}
