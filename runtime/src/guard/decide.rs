//! The guard's decision: the `live` aliases and the release's health in, what to do out. Pure.
//!
//! A canary in progress is an alias with routing: its version takes part of the traffic, the
//! version in its routing (the release before) the rest. Nothing is done while no alias shifts.
//! Once one does, every shifting alias goes back to its good version, all of them together,
//! when the release-health alarm is in ALARM, when a shift's deadline has passed (the CLI that
//! started it should have finished it by then), or when a shift has no deadline the guard can
//! read (nothing would ever end it). A half-shifted release never stays.

use chrono::{DateTime, Utc};

use super::calls::Alias;
use crate::release_shift::{AliasNote, Cause, Shift};

/// What the guard knows of the release's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The release-health alarm is in ALARM.
    Alarm,
    /// It is not (OK, or not enough data).
    Fine,
    /// It could not be read: only the deadlines decide.
    Unknown,
}

/// One alias moved back to its good version.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    /// The function whose `live` alias moves.
    pub function: String,
    /// The version it pointed at (the canary).
    pub from: String,
    /// The good version it goes back to.
    pub to: String,
    /// The alias's revision when read.
    pub revision: Option<String>,
    /// Its new description.
    pub note: AliasNote,
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// No alias is shifting.
    Idle,
    /// Shifts are in progress, healthy and within their deadlines.
    Watch {
        /// The functions whose alias shifts.
        shifting: Vec<String>,
        /// The earliest deadline among them.
        deadline: DateTime<Utc>,
    },
    /// Every shifting alias goes back to its good version.
    RollBack {
        /// Why: the alarm, a passed deadline, or a shift without one.
        cause: Cause,
        /// One per shifting alias, all made together.
        moves: Vec<Move>,
    },
}

/// The good version of a shifting alias: the version its note names when the routing has it,
/// else the routing's version with the largest share. `None` when the routing names no version.
fn good_version(alias: &Alias, note: Option<&AliasNote>) -> Option<u64> {
    let routed: Vec<(u64, f64)> = alias
        .weights
        .iter()
        .filter(|(_, weight)| *weight > 0.0)
        .filter_map(|(version, weight)| Some((version.parse().ok()?, *weight)))
        .collect();
    if let Some(AliasNote::Shift(Shift { good, .. })) = note
        && routed.iter().any(|(version, _)| version == good)
    {
        return Some(*good);
    }
    routed
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(version, _)| version)
}

/// Decides from the aliases as read, the health and the time.
pub fn decide(aliases: &[Alias], health: Health, now: DateTime<Utc>) -> Decision {
    let shifting: Vec<(&Alias, Option<AliasNote>)> = aliases
        .iter()
        .filter(|alias| alias.is_shifting())
        .map(|alias| (alias, AliasNote::parse(&alias.description)))
        .collect();
    if shifting.is_empty() {
        return Decision::Idle;
    }
    let deadlines: Vec<Option<DateTime<Utc>>> = shifting
        .iter()
        .map(|(_, note)| match note {
            Some(AliasNote::Shift(shift)) => Some(shift.deadline),
            _ => None,
        })
        .collect();
    let cause = if health == Health::Alarm {
        Some(Cause::Alarm)
    } else if deadlines.iter().any(Option::is_none) {
        Some(Cause::NoDeadline)
    } else if deadlines.iter().flatten().any(|deadline| *deadline <= now) {
        Some(Cause::Deadline)
    } else {
        None
    };
    let Some(cause) = cause else {
        return Decision::Watch {
            shifting: shifting.iter().map(|(a, _)| a.function.clone()).collect(),
            deadline: deadlines.into_iter().flatten().min().unwrap_or(now),
        };
    };
    let moves = shifting
        .iter()
        .filter_map(|(alias, note)| {
            let good = good_version(alias, note.as_ref())?;
            Some(Move {
                function: alias.function.clone(),
                from: alias.version.clone(),
                to: good.to_string(),
                revision: alias.revision.clone(),
                note: AliasNote::RolledBack {
                    release: note
                        .as_ref()
                        .map_or("unknown", AliasNote::release)
                        .to_owned(),
                    good,
                    at: now,
                    cause,
                },
            })
        })
        .collect();
    Decision::RollBack { cause, moves }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release_shift::format_time;

    const RELEASE: &str = "12-3f9c2e1a0b4d-5e6f7a8b9c0d";

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().into()
    }

    fn live(function: &str, version: &str) -> Alias {
        Alias {
            function: function.into(),
            version: version.into(),
            weights: vec![],
            description: format!("noteapp live release={RELEASE}"),
            revision: Some(format!("{function}-rev")),
        }
    }

    /// `function` on `version`, the rest of the traffic on `good`, until `deadline`.
    fn shifting(function: &str, version: &str, good: &str, deadline: &str) -> Alias {
        Alias {
            weights: vec![(good.into(), 0.9)],
            description: format!("noteapp shift release={RELEASE} good={good} deadline={deadline}"),
            ..live(function, version)
        }
    }

    const NOW: &str = "2026-12-07T10:00:00Z";

    #[test]
    fn nothing_is_done_while_no_alias_shifts_whatever_the_health() {
        let aliases = [live("api", "8"), live("ws-connect", "5")];
        for health in [Health::Alarm, Health::Fine, Health::Unknown] {
            assert_eq!(decide(&aliases, health, at(NOW)), Decision::Idle);
        }
    }

    #[test]
    fn a_healthy_shift_within_its_deadline_is_watched() {
        let aliases = [
            shifting("api", "8", "7", "2026-12-07T10:05:00Z"),
            shifting("ws-connect", "5", "4", "2026-12-07T10:04:00Z"),
            live("cleanup", "3"),
        ];
        for health in [Health::Fine, Health::Unknown] {
            assert_eq!(
                decide(&aliases, health, at(NOW)),
                Decision::Watch {
                    shifting: vec!["api".into(), "ws-connect".into()],
                    deadline: at("2026-12-07T10:04:00Z"),
                }
            );
        }
    }

    #[test]
    fn an_alarm_rolls_every_shifting_alias_back_to_its_good_version() {
        let aliases = [
            shifting("api", "8", "7", "2026-12-07T10:05:00Z"),
            live("cleanup", "3"),
            shifting("ws-connect", "5", "4", "2026-12-07T10:05:00Z"),
        ];
        let Decision::RollBack { cause, moves } = decide(&aliases, Health::Alarm, at(NOW)) else {
            panic!("no rollback");
        };
        assert_eq!(cause, Cause::Alarm);
        let moved: Vec<(&str, &str, &str, Option<&str>)> = moves
            .iter()
            .map(|m| {
                (
                    m.function.as_str(),
                    m.from.as_str(),
                    m.to.as_str(),
                    m.revision.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            moved,
            [
                ("api", "8", "7", Some("api-rev")),
                ("ws-connect", "5", "4", Some("ws-connect-rev"))
            ]
        );
        assert_eq!(
            moves[0].note.to_string(),
            format!("noteapp rolled-back release={RELEASE} good=7 at={NOW} cause=alarm")
        );
    }

    #[test]
    fn a_passed_deadline_rolls_back_even_when_healthy() {
        let aliases = [shifting("api", "8", "7", "2026-12-07T09:59:59Z")];
        let Decision::RollBack { cause, moves } = decide(&aliases, Health::Fine, at(NOW)) else {
            panic!("no rollback");
        };
        assert_eq!(cause, Cause::Deadline);
        assert_eq!(moves[0].to, "7");
        // At the deadline itself, too.
        let aliases = [shifting("api", "8", "7", NOW)];
        assert!(matches!(
            decide(&aliases, Health::Unknown, at(NOW)),
            Decision::RollBack {
                cause: Cause::Deadline,
                ..
            }
        ));
    }

    #[test]
    fn a_shift_without_a_readable_deadline_is_rolled_back_to_its_routed_version() {
        let mut alias = shifting("api", "8", "7", NOW);
        alias.description = "set by hand".into();
        let Decision::RollBack { cause, moves } = decide(&[alias], Health::Fine, at(NOW)) else {
            panic!("no rollback");
        };
        assert_eq!(cause, Cause::NoDeadline);
        assert_eq!(moves[0].to, "7");
        assert_eq!(
            moves[0].note.to_string(),
            format!("noteapp rolled-back release=unknown good=7 at={NOW} cause=no-deadline")
        );
    }

    #[test]
    fn the_good_version_is_the_notes_when_routed_else_the_largest_share() {
        let mut alias = shifting("api", "9", "7", "2026-12-07T10:05:00Z");
        alias.weights = vec![("6".into(), 0.2), ("7".into(), 0.1)];
        assert_eq!(
            good_version(&alias, AliasNote::parse(&alias.description).as_ref()),
            Some(7)
        );
        alias.description = format!(
            "noteapp shift release={RELEASE} good=5 deadline={}",
            format_time(at(NOW))
        );
        assert_eq!(
            good_version(&alias, AliasNote::parse(&alias.description).as_ref()),
            Some(6)
        );
        alias.weights = vec![("7".into(), 0.0)];
        assert!(!alias.is_shifting());
        assert_eq!(good_version(&alias, None), None);
    }
}
