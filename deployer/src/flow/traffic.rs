//! Where a stack's traffic stands, read from its `live` aliases (their routing and notes,
//! `release_shift::AliasNote`) and the release its template says it runs: steady, a canary
//! shifting, a canary the guard (or an operator, or the deploy watching it) returned to the last
//! good release, or the aliases moved back by `noteapp rollback` while the template still says
//! the newer release. `status`, `deploy`, `rollback` and `release` read it the same way and say
//! what happened and what to do next. [`Traffic::read`] is pure: aliases in, a [`Traffic`]
//! out; [`before`] reads them for a command about to change the stack.

use std::fmt;

use chrono::{DateTime, Utc};
use noteapp_runtime::release_shift::{AliasNote, Cause, format_time};
use serde::Serialize;

use crate::aws::Clients;
use crate::aws::live::{FunctionAlias, LiveCalls};
use crate::config::{EnvironmentConfig, ReleaseStrategy};
use crate::error::Error;
use crate::progress::Progress;
use crate::release::Versions;

/// One function's part in a shift or a return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Part {
    /// The function's name (`api`, `ws-connect`, …).
    pub function: String,
    /// The version the alias points at (the canary's, during a shift).
    pub version: String,
    /// The last good version (the rest of the traffic during a shift; where a return went).
    pub good: Option<String>,
}

/// Where the traffic stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Traffic {
    /// No function has a `live` alias (no stack, or one deployed before releases had them).
    NoAliases,
    /// Every alias serves one release alone, the one the stack says.
    Steady {
        /// The release id the aliases' notes name (`None`: notes noteapp did not write).
        release: Option<String>,
    },
    /// A canary: the new versions take `share` of the traffic, the last good ones the rest,
    /// until `deadline`.
    Shifting {
        /// The release the shifting alias's note names (`None`: no note noteapp wrote).
        release: Option<String>,
        /// Percent of the traffic on the new versions.
        share: f64,
        /// When the guard returns the traffic to the last good release (UTC, RFC 3339); `None`
        /// when the alias's note gives no deadline.
        deadline: Option<String>,
        /// Each shifting alias, with the canary's version and the last good one.
        parts: Vec<Part>,
    },
    /// A canary's traffic went back to the last good release outside CloudFormation (the
    /// guard, the deploy that watched it, or `release undo`): the stack's template still holds
    /// the canary until a deploy, `release undo` or `release finish` runs.
    ReturnedToGood {
        /// The release whose canary was returned.
        release: String,
        /// `alarm`, `deadline`, `no-deadline` or `operator`.
        cause: String,
        /// When the aliases went back (UTC, RFC 3339).
        at: String,
        /// Each alias moved back, with the version it serves now.
        parts: Vec<Part>,
    },
    /// The aliases serve `serving` alone while the stack's template says `stack` (`noteapp
    /// rollback` moved them without CloudFormation).
    Moved {
        /// The release the aliases serve, as their notes name it.
        serving: String,
        /// The release the stack's template says it runs (its `ReleaseId`).
        stack: String,
    },
}

impl Traffic {
    /// Reads the aliases of a stack whose template says it runs `stack_release` (its
    /// `ReleaseId`, if known).
    pub fn read(aliases: &[FunctionAlias], stack_release: Option<&str>) -> Self {
        let present: Vec<(&FunctionAlias, &noteapp_runtime::guard::calls::Alias)> = aliases
            .iter()
            .filter_map(|a| Some((a, a.alias.as_ref()?)))
            .collect();
        if present.is_empty() {
            return Traffic::NoAliases;
        }
        let notes: Vec<Option<AliasNote>> = present
            .iter()
            .map(|(_, a)| AliasNote::parse(&a.description))
            .collect();
        let shifting: Vec<usize> = (0..present.len())
            .filter(|i| present[*i].1.is_shifting())
            .collect();
        if let Some(first) = shifting.first() {
            let alias = present[*first].1;
            let routed: f64 = alias.weights.iter().map(|(_, w)| w).sum();
            let (release, deadline) = match &notes[*first] {
                Some(AliasNote::Shift(shift)) => (
                    Some(shift.release.clone()),
                    Some(format_time(shift.deadline)),
                ),
                other => (other.as_ref().map(|n| n.release().to_owned()), None),
            };
            let parts = shifting
                .iter()
                .map(|i| Part {
                    function: present[*i].0.function.name().to_owned(),
                    version: present[*i].1.version.clone(),
                    good: present[*i]
                        .1
                        .weights
                        .iter()
                        .filter(|(_, w)| *w > 0.0)
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                        .map(|(v, _)| v.clone()),
                })
                .collect();
            return Traffic::Shifting {
                release,
                share: ((1.0 - routed) * 1000.0).round() / 10.0,
                deadline,
                parts,
            };
        }
        let returned: Vec<(usize, String, Cause, DateTime<Utc>)> = notes
            .iter()
            .enumerate()
            .filter_map(|(i, note)| match note {
                Some(AliasNote::RolledBack {
                    release, cause, at, ..
                }) => Some((i, release.clone(), *cause, *at)),
                _ => None,
            })
            .collect();
        if let Some((_, release, cause, at)) = returned.first() {
            let parts = returned
                .iter()
                .map(|(i, ..)| Part {
                    function: present[*i].0.function.name().to_owned(),
                    version: present[*i].1.version.clone(),
                    good: Some(present[*i].1.version.clone()),
                })
                .collect();
            return Traffic::ReturnedToGood {
                release: release.clone(),
                cause: cause.as_str().to_owned(),
                at: format_time(*at),
                parts,
            };
        }
        let serving = notes
            .iter()
            .flatten()
            .map(|n| n.release().to_owned())
            .next();
        match (serving, stack_release) {
            (Some(serving), Some(stack)) if serving != stack => Traffic::Moved {
                serving,
                stack: stack.to_owned(),
            },
            (serving, _) => Traffic::Steady { release: serving },
        }
    }

    /// Whether a canary is shifting now (no other release may start until it is finished or
    /// undone).
    pub fn is_shifting(&self) -> bool {
        matches!(self, Traffic::Shifting { .. })
    }

    /// What to tell a person about it, naming the commands for `environment`; `None` when
    /// there is nothing to say (steady, or no aliases).
    pub fn advice(&self, environment: &str) -> Option<String> {
        let finish = format!("`noteapp release finish {environment}`");
        let undo = format!("`noteapp release undo {environment}`");
        match self {
            Traffic::NoAliases | Traffic::Steady { .. } => None,
            Traffic::Shifting {
                release, deadline, ..
            } => Some(format!(
                "release {} is shifting ({self}): the guard returns all the traffic to the last \
                 good release {} or at once if release health turns bad; {finish} gives it all \
                 the traffic now, {undo} returns it to the last good release now",
                release.as_deref().unwrap_or("unknown"),
                deadline
                    .as_deref()
                    .map_or("now (it has no deadline)".to_owned(), |d| format!("at {d}")),
            )),
            Traffic::ReturnedToGood { release, .. } => Some(format!(
                "the canary of release {release} was returned to the last good release ({self}); \
                 the stack's template still holds the canary: {undo} brings the stack back to \
                 the last good release (no traffic moves), {finish} gives release {release} all \
                 the traffic after all, and a deploy replaces it"
            )),
            Traffic::Moved { serving, stack } => Some(format!(
                "the live aliases serve release {serving} (`noteapp rollback` moved them back \
                 without CloudFormation) while the stack's template says {stack}: the next \
                 deploy of a new release publishes new versions and points the aliases at them; \
                 `noteapp rollback {environment} --to N --full` makes the stack say release N \
                 too, and `noteapp rollback {environment} --to N` with N the stack's release \
                 (`noteapp history {environment}`) moves the aliases back to it"
            )),
        }
    }

    /// The versions every alias serves alone, with the release their notes name: what the
    /// stack's live release runs, when nothing shifts and every function has its alias.
    pub fn steady_versions(aliases: &[FunctionAlias]) -> Option<(String, Versions)> {
        let mut release = None;
        let mut versions = Versions::new();
        for read in aliases {
            let alias = read.alias.as_ref()?;
            if alias.is_shifting() {
                return None;
            }
            let Some(AliasNote::Live { release: named }) = AliasNote::parse(&alias.description)
            else {
                return None;
            };
            if release.get_or_insert_with(|| named.clone()) != &named {
                return None;
            }
            versions.insert(read.function.name().to_owned(), alias.version.clone());
        }
        Some((release?, versions))
    }
}

impl fmt::Display for Traffic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = |parts: &[Part]| -> String {
            parts
                .iter()
                .map(|p| match &p.good {
                    Some(good) if *good != p.version => {
                        format!("{} {} (good {good})", p.function, p.version)
                    }
                    _ => format!("{} {}", p.function, p.version),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Traffic::NoAliases => write!(f, "no live aliases"),
            Traffic::Steady { release } => write!(
                f,
                "steady on release {}",
                release.as_deref().unwrap_or("unknown")
            ),
            Traffic::Shifting {
                share,
                deadline,
                parts: p,
                ..
            } => write!(
                f,
                "{share}% on the new versions until {}: {}",
                deadline.as_deref().unwrap_or("no deadline"),
                parts(p)
            ),
            Traffic::ReturnedToGood {
                cause,
                at,
                parts: p,
                ..
            } => {
                let why = match Cause::parse(cause) {
                    Some(Cause::Alarm) => "release health was in ALARM",
                    Some(Cause::Deadline) => "the shift's deadline passed",
                    Some(Cause::NoDeadline) => "the shift had no deadline",
                    Some(Cause::Operator) => "an operator undid it",
                    None => "cause unknown",
                };
                write!(f, "at {at}, because {why}; now serving {}", parts(p))
            }
            Traffic::Moved { serving, stack } => {
                write!(f, "aliases on release {serving}, stack on {stack}")
            }
        }
    }
}

/// The live aliases a deploy read before its change set.
#[derive(Debug, Clone)]
pub struct Before {
    /// Every function's `live` alias as read (`alias` is `None` where a function has none).
    pub aliases: Vec<FunctionAlias>,
    /// Where the traffic stood (read without the stack's release, so never `Moved`).
    pub traffic: Traffic,
}

/// Reads the live aliases before a deploy; refuses while a canary shifts. A failed read stops
/// a canary deploy (it cannot start without them) and is a warning otherwise (the live
/// release's versions go unrecorded).
pub async fn before(
    clients: &Clients,
    config: &EnvironmentConfig,
    progress: &Progress,
) -> Result<Option<Before>, Error> {
    let canary = matches!(config.release, ReleaseStrategy::Canary { .. });
    let Some(calls) = LiveCalls::of(clients, &config.region)? else {
        return Ok(None);
    };
    let aliases = match calls.aliases(&config.stack_name).await {
        Ok(aliases) => aliases,
        Err(e) if !canary => {
            progress.line(format!(
                "warning: {e}; the live release's versions are not recorded, so a rollback to it \
                 goes through CloudFormation"
            ));
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let traffic = Traffic::read(&aliases, None);
    if let Some(advice) = traffic.advice(config.name()) {
        if traffic.is_shifting() {
            return Err(Error::StackState(format!(
                "{advice}; nothing was changed: finish or undo it before another release"
            )));
        }
        progress.line(format!("note: {advice}"));
    }
    Ok(Some(Before { aliases, traffic }))
}

#[cfg(test)]
mod tests {
    use noteapp_runtime::functions::Function;
    use noteapp_runtime::guard::calls::Alias;

    use super::*;

    const NEW: &str = "0-bbbbbbbbbbbb-cccccccccccc";
    const OLD: &str = "0-aaaaaaaaaaaa-cccccccccccc";

    fn alias(
        function: Function,
        version: &str,
        weights: &[(&str, f64)],
        note: &str,
    ) -> FunctionAlias {
        FunctionAlias {
            function,
            name: format!("noteapp-production-{}", function.name()),
            alias: Some(Alias {
                function: format!("noteapp-production-{}", function.name()),
                version: version.into(),
                weights: weights.iter().map(|(v, w)| ((*v).into(), *w)).collect(),
                description: note.into(),
                revision: Some("r".into()),
            }),
        }
    }

    fn all(make: impl Fn(Function) -> FunctionAlias) -> Vec<FunctionAlias> {
        Function::ALL.into_iter().map(make).collect()
    }

    #[test]
    fn a_shift_in_progress_names_its_share_deadline_and_what_to_do() {
        let note = format!("noteapp shift release={NEW} good=7 deadline=2026-12-07T10:20:00Z");
        let aliases = all(|f| alias(f, "8", &[("7", 0.9)], &note));
        let traffic = Traffic::read(&aliases, Some(NEW));
        assert!(traffic.is_shifting());
        let advice = traffic.advice("production").unwrap();
        for part in [
            "release 0-bbbbbbbbbbbb-cccccccccccc is shifting",
            "10% on the new versions until 2026-12-07T10:20:00Z",
            "api 8 (good 7)",
            "at 2026-12-07T10:20:00Z",
            "`noteapp release finish production`",
            "`noteapp release undo production`",
        ] {
            assert!(advice.contains(part), "{part:?} not in {advice}");
        }
        assert_eq!(Traffic::steady_versions(&aliases), None);
    }

    #[test]
    fn a_return_to_good_names_its_cause_and_a_moved_alias_the_two_releases() {
        let note = format!(
            "noteapp rolled-back release={NEW} good=7 at=2026-12-07T10:21:00Z cause=deadline"
        );
        let traffic = Traffic::read(&all(|f| alias(f, "7", &[], &note)), Some(NEW));
        let text = traffic.advice("production").unwrap();
        assert!(text.contains("the shift's deadline passed"), "{text}");
        assert!(
            text.contains("the stack's template still holds the canary"),
            "{text}"
        );
        let live = all(|f| alias(f, "7", &[], &format!("noteapp live release={OLD}")));
        let moved = Traffic::read(&live, Some(NEW));
        assert_eq!(
            moved,
            Traffic::Moved {
                serving: OLD.into(),
                stack: NEW.into()
            }
        );
        assert!(moved.advice("staging").unwrap().contains("--full"));
        let steady = Traffic::read(&live, Some(OLD));
        assert_eq!(steady.advice("staging"), None);
        let (release, versions) = Traffic::steady_versions(&live).unwrap();
        assert_eq!(release, OLD);
        assert_eq!(versions.len(), Function::ALL.len());
        assert_eq!(versions["api"], "7");
    }

    #[test]
    fn functions_without_an_alias_have_no_traffic_to_read() {
        let none: Vec<FunctionAlias> = Function::ALL
            .into_iter()
            .map(|function| FunctionAlias {
                function,
                name: function.name().into(),
                alias: None,
            })
            .collect();
        assert_eq!(Traffic::read(&none, None), Traffic::NoAliases);
        assert_eq!(Traffic::steady_versions(&none), None);
    }
}
