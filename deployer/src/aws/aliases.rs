//! Moving `live` aliases by hand, without CloudFormation: the canary's return to the last good
//! release when its health turns bad, `noteapp release undo`, and `noteapp rollback` to a
//! release the stack's template still matches. Each move is an `UpdateAlias` (the guard's own
//! signed call) conditional on the revision read, so a change made since is never overwritten
//! blindly; the moves of a release run at once. A version's description is read with
//! `GetFunctionConfiguration` (`?Qualifier=N`), to check a version is there and is the
//! release's before anything moves.

use noteapp_runtime::aws_http::SignedError;
use noteapp_runtime::functions::LIVE_ALIAS;
use noteapp_runtime::guard::calls::{self, Alias, AliasUpdate};

use super::live::{FunctionAlias, LiveCalls};
use crate::error::Error;

/// One alias pointed at one version alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// The function (`<stack>-api`).
    pub function: String,
    /// The version it goes to.
    pub to: String,
    /// Its new description (a `release_shift::AliasNote`).
    pub note: String,
    /// The revision it was read at.
    pub revision: Option<String>,
}

/// What a move does when the alias changed since it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnChanged {
    /// Read it again: done if it is already where it should go, else moved from the new
    /// revision (a return to the good release: whatever changed it, it must go back).
    ReadAgain,
    /// Refuse (a rollback does not overwrite a change it did not see).
    Refuse,
}

/// What a set of moves did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pointed {
    /// `function: version A -> B`, for each alias moved.
    pub moved: Vec<String>,
    /// Why each of the others was not.
    pub errors: Vec<String>,
}

impl LiveCalls<'_> {
    async fn update(&self, step: &Move) -> Result<Alias, SignedError> {
        let update = AliasUpdate {
            function: &step.function,
            alias: LIVE_ALIAS,
            version: &step.to,
            description: &step.note,
            revision: step.revision.as_deref(),
        };
        calls::update_alias(self.http, self.signer, &self.lambda, &update).await
    }

    /// Points one alias at its version alone.
    pub async fn point(&self, step: &Move, on_changed: OnChanged) -> Result<Alias, Error> {
        let failed = |e: SignedError| Error::Aws {
            action: format!(
                "failed to point {}'s {LIVE_ALIAS} alias at version {}",
                step.function, step.to
            ),
            reason: e.to_string(),
        };
        match self.update(step).await {
            Ok(alias) => Ok(alias),
            Err(e) if calls::is_stale_revision(&e) && on_changed == OnChanged::ReadAgain => {
                let fresh = calls::get_alias(
                    self.http,
                    self.signer,
                    &self.lambda,
                    &step.function,
                    LIVE_ALIAS,
                )
                .await
                .map_err(failed)?;
                if fresh.version == step.to && !fresh.is_shifting() {
                    return Ok(fresh);
                }
                let again = Move {
                    revision: fresh.revision.clone(),
                    ..step.clone()
                };
                self.update(&again).await.map_err(failed)
            }
            Err(e) if calls::is_stale_revision(&e) => Err(Error::StackState(format!(
                "{}'s {LIVE_ALIAS} alias changed since it was read (someone or the guard moved \
                 it): it was left as it is; see `noteapp status`",
                step.function
            ))),
            Err(e) => Err(failed(e)),
        }
    }

    /// Every move at once, `from` the aliases as read: each one done, or why not.
    pub async fn point_all(
        &self,
        moves: &[Move],
        from: &[FunctionAlias],
        on_changed: OnChanged,
    ) -> Pointed {
        let outcomes =
            futures_util::future::join_all(moves.iter().map(|m| self.point(m, on_changed))).await;
        let mut pointed = Pointed::default();
        for (step, outcome) in moves.iter().zip(outcomes) {
            let was = from
                .iter()
                .find(|a| a.name == step.function)
                .and_then(|a| a.alias.as_ref())
                .map_or("?".to_owned(), |a| a.version.clone());
            match outcome {
                Ok(_) => pointed
                    .moved
                    .push(format!("{}: version {was} -> {}", step.function, step.to)),
                Err(e) => pointed.errors.push(e.to_string()),
            }
        }
        pointed
    }

    /// The newest version of `function` published for release `release_id` (described
    /// `noteapp release <id>`), if any.
    pub async fn release_version(
        &self,
        function: &str,
        release_id: &str,
    ) -> Result<Option<String>, Error> {
        let versions = calls::list_versions(self.http, self.signer, &self.lambda, function)
            .await
            .map_err(|e| Error::Aws {
                action: format!("failed to list the versions of {function}"),
                reason: e.to_string(),
            })?;
        let described = format!("noteapp release {release_id}");
        Ok(versions
            .into_iter()
            .filter(|(_, description)| *description == described)
            .filter_map(|(version, _)| version.parse::<u64>().ok())
            .max()
            .map(|v| v.to_string()))
    }

    /// The description of version `version` of `function` (`noteapp release <id>`), `None`
    /// when there is no such version (deleted, or never published).
    pub async fn version_description(
        &self,
        function: &str,
        version: &str,
    ) -> Result<Option<String>, Error> {
        calls::version_description(self.http, self.signer, &self.lambda, function, version)
            .await
            .map_err(|e| Error::Aws {
                action: format!("failed to read version {version} of {function}"),
                reason: e.to_string(),
            })
    }
}
