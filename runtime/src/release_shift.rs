//! What a release is called, and what a `live` alias says about the traffic it carries: the
//! formats the template, the guard and `noteapp status` share, so each reads what another wrote.
//!
//! - [`ReleaseId`]: `<sequence>-<image>-<config>`, e.g. `12-3f9c2e1a0b4d-5e6f7a8b9c0d`: the
//!   release's sequence (0 until the deploy records it), the first 12 hex digits of its image
//!   digest and of a hash of its template and parameters. The template puts it in every
//!   version's description and every function's `NOTEAPP_RELEASE`, so each new id publishes a
//!   new version of every function. No spaces: it sits inside the alias notes below.
//! - [`AliasNote`]: the `live` alias's `Description` (at most 256 characters), one of
//!   - `noteapp live release=<id>`: one version takes all the traffic;
//!   - `noteapp shift release=<id> good=<version> deadline=<UTC time>`: a canary: the new version
//!     takes part of the traffic, `good` (the version before it) the rest, until the deadline;
//!   - `noteapp rolled-back release=<id> good=<version> at=<UTC time> cause=<cause>`: the guard,
//!     the deploy watching the canary (`alarm`) or an operator (`operator`: `noteapp release
//!     undo`) returned all the traffic to `good`.
//!
//! Pure: text in, values out, and back.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

/// The longest description Lambda keeps on an alias or a version.
pub const MAX_DESCRIPTION: usize = 256;

/// A release as the stack names it: `<sequence>-<image>-<config>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseId {
    /// The release's sequence number (`noteapp history`); 0 until the deploy records it.
    pub sequence: u64,
    /// The first 12 hex digits of the image digest.
    pub image: String,
    /// The first 12 hex digits of the hash of the template and the parameters.
    pub config: String,
}

/// How many hex digits of each hash a [`ReleaseId`] keeps.
pub const HASH_DIGITS: usize = 12;

impl ReleaseId {
    /// The id of release `sequence` of the image whose digest (or hash) is `image_hex` with a
    /// configuration hashing to `config_hex` (both hex; only their first 12 digits are kept).
    pub fn new(sequence: u64, image_hex: &str, config_hex: &str) -> Self {
        let short = |hex: &str| hex.chars().take(HASH_DIGITS).collect::<String>();
        Self {
            sequence,
            image: short(image_hex),
            config: short(config_hex),
        }
    }

    /// Reads `<sequence>-<image>-<config>`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('-');
        let (sequence, image, config) = (parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str| {
            s.len() == HASH_DIGITS && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        if parts.next().is_some() || !hex(image) || !hex(config) {
            return None;
        }
        Some(Self {
            sequence: sequence.parse().ok()?,
            image: image.to_owned(),
            config: config.to_owned(),
        })
    }

    /// The same image and configuration, as release `sequence`.
    pub fn with_sequence(&self, sequence: u64) -> Self {
        Self {
            sequence,
            ..self.clone()
        }
    }
}

impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.sequence, self.image, self.config)
    }
}

/// A canary in progress, as its alias says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    /// The release being shifted to (a [`ReleaseId`], as written).
    pub release: String,
    /// The version that served all the traffic before: where a rollback goes.
    pub good: u64,
    /// When the shift must be over: past it, the guard rolls it back.
    pub deadline: DateTime<Utc>,
}

/// Why the guard returned the traffic to the good version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The release-health alarm was in ALARM.
    Alarm,
    /// The shift's deadline passed.
    Deadline,
    /// The alias was shifting without a readable deadline (nothing would ever end it).
    NoDeadline,
    /// An operator undid the shift (`noteapp release undo`).
    Operator,
}

impl Cause {
    /// The word in the alias note.
    pub const fn as_str(self) -> &'static str {
        match self {
            Cause::Alarm => "alarm",
            Cause::Deadline => "deadline",
            Cause::NoDeadline => "no-deadline",
            Cause::Operator => "operator",
        }
    }

    /// Reads the word of the alias note.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Cause::Alarm,
            Cause::Deadline,
            Cause::NoDeadline,
            Cause::Operator,
        ]
        .into_iter()
        .find(|c| c.as_str() == text)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `live` alias's description, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasNote {
    /// `noteapp live release=<id>`.
    Live {
        /// The release serving all the traffic.
        release: String,
    },
    /// `noteapp shift release=<id> good=<version> deadline=<time>`.
    Shift(Shift),
    /// `noteapp rolled-back release=<id> good=<version> at=<time> cause=<cause>`.
    RolledBack {
        /// The release that was rolled back.
        release: String,
        /// The version the traffic went back to.
        good: u64,
        /// When the guard did it.
        at: DateTime<Utc>,
        /// Why.
        cause: Cause,
    },
}

/// A time as the notes write it: RFC 3339 UTC to the second (`2026-12-07T10:00:00Z`).
pub fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl AliasNote {
    /// Reads a description; `None` for one noteapp did not write (or cannot read).
    pub fn parse(text: &str) -> Option<Self> {
        let mut words = text.split_ascii_whitespace();
        if words.next()? != "noteapp" {
            return None;
        }
        let kind = words.next()?;
        let mut fields = std::collections::BTreeMap::new();
        for word in words {
            let (key, value) = word.split_once('=')?;
            if fields.insert(key, value).is_some() {
                return None;
            }
        }
        let mut take = |key: &str| fields.remove(key).filter(|v| !v.is_empty());
        let release = take("release")?.to_owned();
        let note = match kind {
            "live" => AliasNote::Live { release },
            "shift" => AliasNote::Shift(Shift {
                release,
                good: take("good")?.parse().ok()?,
                deadline: parse_time(take("deadline")?)?,
            }),
            "rolled-back" => AliasNote::RolledBack {
                release,
                good: take("good")?.parse().ok()?,
                at: parse_time(take("at")?)?,
                cause: Cause::parse(take("cause")?)?,
            },
            _ => return None,
        };
        fields.is_empty().then_some(note)
    }

    /// The release the alias serves, or served before a rollback.
    pub fn release(&self) -> &str {
        match self {
            AliasNote::Live { release }
            | AliasNote::Shift(Shift { release, .. })
            | AliasNote::RolledBack { release, .. } => release,
        }
    }
}

impl fmt::Display for AliasNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AliasNote::Live { release } => write!(f, "noteapp live release={release}"),
            AliasNote::Shift(shift) => write!(
                f,
                "noteapp shift release={} good={} deadline={}",
                shift.release,
                shift.good,
                format_time(shift.deadline)
            ),
            AliasNote::RolledBack {
                release,
                good,
                at,
                cause,
            } => write!(
                f,
                "noteapp rolled-back release={release} good={good} at={} cause={cause}",
                format_time(*at)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        parse_time(text).unwrap()
    }

    #[test]
    fn a_release_id_is_sequence_image_and_config() {
        let id = ReleaseId::new(12, &"3f9c2e1a0b4d".repeat(5), "5e6f7a8b9c0d1e2f");
        assert_eq!(id.to_string(), "12-3f9c2e1a0b4d-5e6f7a8b9c0d");
        assert_eq!(ReleaseId::parse(&id.to_string()), Some(id.clone()));
        assert_eq!(
            id.with_sequence(0).to_string(),
            "0-3f9c2e1a0b4d-5e6f7a8b9c0d"
        );
        for bad in [
            "12-3f9c2e1a0b4d",
            "12-3f9c2e1a0b4d-5e6f7a8b9c0d-1",
            "x-3f9c2e1a0b4d-5e6f7a8b9c0d",
            "12-3F9C2E1A0B4D-5e6f7a8b9c0d",
            "12-3f9c2e1a0b-5e6f7a8b9c0d",
            "release 12 sha256:abc",
        ] {
            assert_eq!(ReleaseId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_note_reads_back_as_written() {
        let notes = [
            AliasNote::Live {
                release: "12-3f9c2e1a0b4d-5e6f7a8b9c0d".into(),
            },
            AliasNote::Shift(Shift {
                release: "12-3f9c2e1a0b4d-5e6f7a8b9c0d".into(),
                good: 7,
                deadline: at("2026-12-07T10:00:00Z"),
            }),
            AliasNote::RolledBack {
                release: "12-3f9c2e1a0b4d-5e6f7a8b9c0d".into(),
                good: 7,
                at: at("2026-12-07T09:58:12Z"),
                cause: Cause::NoDeadline,
            },
        ];
        for note in notes {
            let text = note.to_string();
            assert!(text.len() <= MAX_DESCRIPTION, "{text}");
            assert_eq!(AliasNote::parse(&text), Some(note), "{text}");
        }
    }

    #[test]
    fn a_shift_note_is_the_documented_line() {
        let note = AliasNote::parse(
            "noteapp shift release=12-3f9c2e1a0b4d-5e6f7a8b9c0d good=7 deadline=2026-12-07T10:00:00Z",
        )
        .unwrap();
        let AliasNote::Shift(shift) = &note else {
            panic!("{note:?}")
        };
        assert_eq!(shift.good, 7);
        assert_eq!(format_time(shift.deadline), "2026-12-07T10:00:00Z");
        assert_eq!(note.release(), "12-3f9c2e1a0b4d-5e6f7a8b9c0d");
    }

    #[test]
    fn what_noteapp_did_not_write_is_not_read() {
        for text in [
            "",
            "live",
            "noteapp",
            "noteapp live",
            "noteapp live release=",
            "noteapp live release=1 extra=2",
            "noteapp live release=1 release=2",
            "noteapp shift release=1 good=7",
            "noteapp shift release=1 good=7 deadline=",
            "noteapp shift release=1 good=seven deadline=2026-12-07T10:00:00Z",
            "noteapp shift release=1 good=7 deadline=tomorrow",
            "noteapp rolled-back release=1 good=7 at=2026-12-07T10:00:00Z cause=boredom",
            "noteapp paused release=1",
            "someone else's alias",
        ] {
            assert_eq!(AliasNote::parse(text), None, "{text:?}");
        }
    }
}
