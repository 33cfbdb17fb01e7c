//! `noteapp rollback` in seconds: when the release to go back to ran the template and the
//! parameters the stack runs now (only its image differs), and each of its versions is still
//! there and is the release's, every `live` alias is moved back to that release's version with
//! `UpdateAlias` (conditional on the revision read), with no stack operation: one read of the
//! stack's template (the history lives there) and the Lambda calls. A version is immutable
//! (image and configuration), so moving the alias brings back exactly what that release ran.
//!
//! The stack's template still says the newer release afterwards (`noteapp status` shows the
//! aliases serving the older one): the next deploy of a new release publishes new versions and
//! points the aliases at them; `noteapp rollback ENV --to N --full` makes the stack say N too.
//! Anything else takes the full path (`super::prepare`), and says why.

use std::time::Instant;

use noteapp_runtime::functions::Function;
use noteapp_runtime::release_shift::AliasNote;
use serde::Serialize;

use crate::aws::aliases::{Move, OnChanged, Pointed};
use crate::aws::live::{FunctionAlias, LiveCalls};
use crate::error::Error;
use crate::release::Release;
use crate::template::{RELEASE_ID, SHIFT_PARAMETERS};

/// What the rollback by alias did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AliasRollback {
    /// The environment's name (`staging`).
    pub environment: String,
    /// The stack whose aliases were moved (`noteapp-staging`).
    pub stack_name: String,
    /// The release whose versions the aliases serve now.
    pub to: u64,
    /// The release the stack's template still says (its live release).
    pub stack_release: u64,
    /// `function: version A -> B`.
    pub moved: Vec<String>,
    /// From the first alias read to the last alias moved.
    pub seconds: f64,
}

/// The parameters that may differ between the two releases: the image, the release's own id
/// and the canary's.
fn may_differ(key: &str) -> bool {
    key == "ImageUri"
        || key == RELEASE_ID
        || SHIFT_PARAMETERS.contains(&key)
        || key.ends_with("PreviousVersion")
}

/// The moves that put `target`'s versions back behind the aliases of a stack whose live
/// release is `live`, or why they cannot (then the full path runs). Pure.
pub fn plan(
    live: &Release,
    target: &Release,
    aliases: &[FunctionAlias],
) -> Result<Vec<Move>, String> {
    let n = target.sequence;
    let versions = target.versions.as_ref().ok_or_else(|| {
        format!(
            "release {n}'s versions were not recorded (it went live before noteapp recorded \
             them, or its aliases could not be read then)"
        )
    })?;
    if target.template_sha256 != live.template_sha256 {
        return Err(format!(
            "release {n} ran another template than the stack runs (release {}'s)",
            live.sequence
        ));
    }
    let changed: Vec<String> = live
        .parameters
        .iter()
        .filter(|(key, value)| !may_differ(key) && target.parameter(key) != Some(value.as_str()))
        .map(|(key, value)| {
            format!(
                "{key} ({} then, {value} now)",
                target.parameter(key).unwrap_or("unset")
            )
        })
        .collect();
    if !changed.is_empty() {
        return Err(format!(
            "release {n} ran other parameters than the stack runs: {}",
            changed.join(", ")
        ));
    }
    let release_id = target.parameter(RELEASE_ID).unwrap_or_default();
    let note = AliasNote::Live {
        release: release_id.to_owned(),
    }
    .to_string();
    let mut moves = Vec::new();
    for function in Function::ALL {
        let read = aliases.iter().find(|a| a.function == function);
        let alias = read
            .and_then(|a| a.alias.as_ref())
            .ok_or_else(|| format!("function {function} has no live alias to move"))?;
        let version = versions
            .get(function.name())
            .ok_or_else(|| format!("release {n} recorded no version of function {function}"))?;
        moves.push(Move {
            function: read.map(|a| a.name.clone()).unwrap_or_default(),
            to: version.clone(),
            note: note.clone(),
            revision: alias.revision.clone(),
        });
    }
    Ok(moves)
}

/// Checks every version `moves` go to is still there and described as release `release_id`'s
/// (`noteapp release <id>`), all at once; why not, if one is not.
pub async fn check_versions(
    calls: &LiveCalls<'_>,
    moves: &[Move],
    release_id: &str,
) -> Result<Result<(), String>, Error> {
    let reads = moves
        .iter()
        .map(|m| calls.version_description(&m.function, &m.to));
    let expected = format!("noteapp release {release_id}");
    for (step, read) in moves
        .iter()
        .zip(futures_util::future::join_all(reads).await)
    {
        match read? {
            None => {
                return Ok(Err(format!(
                    "version {} of {} is gone",
                    step.to, step.function
                )));
            }
            Some(description) if description != expected => {
                return Ok(Err(format!(
                    "version {} of {} is not that release's (it says {description:?})",
                    step.to, step.function
                )));
            }
            Some(_) => {}
        }
    }
    Ok(Ok(()))
}

/// `release` with the versions published for it (the newest of each function described
/// `noteapp release <id>`): the stack's own release, whose record the next deploy fills, when
/// the aliases serve an older one; why not, when a function has none.
pub async fn with_published_versions(
    calls: &LiveCalls<'_>,
    stack: &str,
    release: &Release,
) -> Result<Result<Release, String>, Error> {
    let id = release.parameter(RELEASE_ID).unwrap_or_default();
    let reads = Function::ALL.map(|function| async move {
        let name = format!("{stack}-{}", function.name());
        (function, calls.release_version(&name, id).await)
    });
    let mut versions = crate::release::Versions::new();
    for (function, read) in futures_util::future::join_all(reads).await {
        match read? {
            Some(version) => versions.insert(function.name().to_owned(), version),
            None => {
                return Ok(Err(format!(
                    "function {function} has no version of release {}",
                    release.sequence
                )));
            }
        };
    }
    let mut with = release.clone();
    with.versions = Some(versions);
    Ok(Ok(with))
}

/// Moves every alias (none is overwritten if it changed since it was read); what moved, or
/// the error naming what did not.
pub async fn move_back(
    calls: &LiveCalls<'_>,
    moves: &[Move],
    aliases: &[FunctionAlias],
) -> Result<Vec<String>, Error> {
    let Pointed {
        moved,
        errors: failed,
    } = calls.point_all(moves, aliases, OnChanged::Refuse).await;
    if failed.is_empty() {
        Ok(moved)
    } else {
        Err(Error::StackState(format!(
            "{} of {} aliases moved back ({}); not moved: {}; run the rollback again (the moved \
             ones stay where they are)",
            moved.len(),
            moves.len(),
            moved.join(", "),
            failed.join("; ")
        )))
    }
}

/// Times a rollback by alias from its first read.
pub fn seconds_since(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
}

impl std::fmt::Display for AliasRollback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.moved.is_empty() {
            writeln!(
                f,
                "the live aliases of stack {} already serve release {}: nothing moved",
                self.stack_name, self.to
            )?;
        } else {
            writeln!(
                f,
                "rolled back to release {} by moving the live aliases, in {:.2}s, with no stack \
                 update:",
                self.to, self.seconds
            )?;
            for moved in &self.moved {
                writeln!(f, "  {moved}")?;
            }
        }
        if self.to == self.stack_release {
            return writeln!(
                f,
                "the live aliases serve release {}, the one stack {}'s template says",
                self.to, self.stack_name
            );
        }
        writeln!(
            f,
            "stack {}'s template still says release {}: the next deploy of a new release \
             publishes new versions and points the aliases at them; `noteapp rollback {} --to {} \
             --full` makes the stack say release {} too, and `noteapp rollback {} --to {}` moves \
             the aliases back to release {}",
            self.stack_name,
            self.stack_release,
            self.environment,
            self.to,
            self.to,
            self.environment,
            self.stack_release,
            self.stack_release
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::aws::replay::releases::{World, config, image, recorded, release_id, with_versions};
    use crate::flow::replayed::{finish, options, roll_back_before};
    use crate::flow::rollback::Rolled;
    use crate::flow::traffic::Traffic;
    use crate::release;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rollback_moves_every_alias_back_with_no_stack_operation() {
        // Releases 2, 3, 4 published versions 1, 2, 3; release 3's were recorded.
        let world = World::new(vec![recorded(4), with_versions(3, "2"), recorded(2)]);
        let clients = world.clients();
        let (rolled, lines) = roll_back_before(&clients, &config(), false).await;
        let rolled = rolled.unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
        let Rolled::Aliases(report) = &rolled else {
            panic!("the full path ran:\n{}", lines.text());
        };
        assert_eq!((report.to, report.stack_release), (3, 4));
        assert_eq!(report.moved.len(), Function::ALL.len());
        assert!(
            report.moved[0].ends_with("version 3 -> 2"),
            "{:?}",
            report.moved
        );
        for function in Function::ALL {
            let alias = world.alias(function);
            assert_eq!(alias.shares(), BTreeMap::from([("2".to_owned(), 1.0)]));
            assert_eq!(
                alias.description,
                format!("noteapp live release={}", release_id(3))
            );
        }
        // One read of the stack's template (the history lives there), no stack operation.
        let calls = world.cfn_calls();
        assert_eq!(calls["GetTemplate"], 1, "{calls:?}");
        let others: usize = calls
            .iter()
            .filter(|(k, _)| **k != "GetTemplate")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(others, 0, "no other CloudFormation call: {calls:?}");
        rolled.check().unwrap();
        let text = rolled.to_string();
        assert!(
            text.contains("rolled back to release 3 by moving the live aliases"),
            "{text}"
        );
        assert!(text.contains("still says release 4"), "{text}");
        // Status then shows the aliases on release 3 and the stack on 4.
        let aliases = LiveCalls::of(&clients, "eu-west-1")
            .unwrap()
            .unwrap()
            .aliases("noteapp-staging")
            .await
            .unwrap();
        let traffic = Traffic::read(&aliases, Some(&release_id(4)));
        assert_eq!(
            traffic,
            Traffic::Moved {
                serving: release_id(3),
                stack: release_id(4)
            }
        );
        let json = serde_json::to_value(&rolled).unwrap();
        assert_eq!(json["path"], "aliases");
        // And forward again, to the release the stack says, the same way.
        let (options, finish) = (options(), finish());
        let (progress, lines) = crate::progress::Progress::captured();
        let forward = crate::flow::rollback::roll_back(
            &clients,
            &config(),
            Some(4),
            false,
            "noteapp",
            &options,
            &finish,
            &progress,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
        let Rolled::Aliases(report) = &forward else {
            panic!("the full path ran:\n{}", lines.text());
        };
        assert_eq!((report.to, report.stack_release), (4, 4));
        assert_eq!(world.alias(Function::Api).version, "3");
        assert!(
            forward
                .to_string()
                .contains("the one stack noteapp-staging's template says")
        );
        assert_eq!(world.cfn_calls()["CreateChangeSet"], 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_release_whose_version_is_gone_takes_the_full_path_and_says_why() {
        let world = World::new(vec![recorded(4), with_versions(3, "2"), recorded(2)]);
        world.lambda.delete_version("noteapp-staging-api", "2");
        let clients = world.clients();
        let (rolled, lines) = roll_back_before(&clients, &config(), false).await;
        let rolled = rolled.unwrap_or_else(|e| panic!("{e}\n{}", lines.text()));
        assert!(matches!(rolled, Rolled::Stack(_)));
        let text = lines.text();
        assert!(
            text.contains(
                "version 2 of noteapp-staging-api is gone: rolling back through CloudFormation"
            ),
            "{text}"
        );
        let created = world.created();
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].0["ImageUri"], image(3));
        assert_eq!(world.cfn_calls()["ExecuteChangeSet"], 1);
    }

    #[test]
    fn only_a_release_of_the_same_template_and_parameters_with_versions_moves_by_alias() {
        let live = recorded(4);
        let aliases: Vec<FunctionAlias> = Vec::new();
        let unknown = plan(&live, &recorded(3), &aliases).unwrap_err();
        assert!(
            unknown.contains("release 3's versions were not recorded"),
            "{unknown}"
        );
        let mut other_template = with_versions(3, "2");
        other_template.template_sha256 = release::sha256("another template");
        let why = plan(&live, &other_template, &aliases).unwrap_err();
        assert!(why.contains("another template"), "{why}");
        let mut other_level = with_versions(3, "2");
        other_level
            .parameters
            .insert("LogLevel".into(), "trace".into());
        let why = plan(&live, &other_level, &aliases).unwrap_err();
        assert!(why.contains("LogLevel (trace then, debug now)"), "{why}");
        let why = plan(&live, &with_versions(3, "2"), &aliases).unwrap_err();
        assert!(why.contains("has no live alias"), "{why}");
    }
}
