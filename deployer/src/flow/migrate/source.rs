//! The seed's tables: found in its stack (or named), checked to be the seed's, and protected.
//!
//! `--from-stack NAME` reads the stack's resources (ListStackResources) for the logical ids the
//! seed's template gives its tables, `NotesTable` and `UsersTable`; `--from-tables
//! notes=T,users=T` names them (a restored copy, a table outside any stack). Each is described
//! (its key must be the seed's: `id`, `uid`), then protected: deletion protection is turned on
//! with DynamoDB's UpdateTable, which leaves the stack's template as it is, so deleting the SAM
//! stack can no longer delete the data (CloudFormation's delete fails on the table instead).
//! Point-in-time recovery is read (DescribeContinuousBackups) and, when it is off, reported
//! with the command that turns it on: it is billed, so it is the owner's call.

use aws_sdk_cloudformation::Client as CfnClient;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{KeyType, PointInTimeRecoveryStatus};
use serde::Serialize;

use crate::aws::aws_error;
use crate::aws::stack::{self, StackResource};
use crate::error::Error;

/// The seed template's logical id of its notes table.
pub const NOTES_LOGICAL_ID: &str = "NotesTable";
/// The seed template's logical id of its users table.
pub const USERS_LOGICAL_ID: &str = "UsersTable";

/// Where the seed's data is.
#[derive(Debug, Clone)]
pub struct Source {
    /// The notes table's name.
    pub notes: String,
    /// The users table's name.
    pub users: String,
    /// The stack it was found in, with every resource of it.
    pub stack: Option<(String, Vec<StackResource>)>,
}

/// `notes=T,users=T` (either order).
pub fn parse_tables(spec: &str) -> Result<(String, String), Error> {
    let mut notes = None;
    let mut users = None;
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some(("notes", table)) if !table.is_empty() => notes = Some(table.to_owned()),
            Some(("users", table)) if !table.is_empty() => users = Some(table.to_owned()),
            _ => {
                return Err(Error::Usage(format!(
                    "--from-tables: {part:?} is not notes=TABLE or users=TABLE"
                )));
            }
        }
    }
    match (notes, users) {
        (Some(notes), Some(users)) => Ok((notes, users)),
        _ => Err(Error::Usage(
            "--from-tables needs both tables: notes=TABLE,users=TABLE".into(),
        )),
    }
}

/// The seed's tables in stack `name`.
pub async fn from_stack(client: &CfnClient, name: &str) -> Result<Source, Error> {
    let resources = stack::resources(client, name).await?;
    let table = |logical_id: &str| {
        resources
            .iter()
            .find(|r| r.logical_id == logical_id && r.resource_type == "AWS::DynamoDB::Table")
            .and_then(|r| r.physical_id.clone())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "stack {name} has no table {logical_id}: is it the seed's SAM stack? \
                     (--from-tables notes=T,users=T names the tables instead)"
                ))
            })
    };
    Ok(Source {
        notes: table(NOTES_LOGICAL_ID)?,
        users: table(USERS_LOGICAL_ID)?,
        stack: Some((name.to_owned(), resources)),
    })
}

/// Deletion protection found off (and left so: a dry run).
pub const OFF: &str = "off";
/// Deletion protection turned on by this run.
pub const TURNED_ON: &str = "turned_on";
/// Deletion protection found on.
pub const ALREADY_ON: &str = "already_on";

/// What protects one source table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Protection {
    /// `notes` or `users`.
    pub role: &'static str,
    /// The table's name.
    pub table: String,
    /// DynamoDB's estimate (refreshed about every six hours).
    pub items_estimate: i64,
    /// [`OFF`] (a dry run leaves it so), [`TURNED_ON`] or [`ALREADY_ON`].
    pub deletion_protection: &'static str,
    /// Whether point-in-time recovery is on (read, never changed: it is billed).
    pub point_in_time_recovery: bool,
}

/// Checks that `table` is keyed on `key` as the seed's is, and reads its item estimate and
/// whether deletion protection is on.
async fn describe(client: &Client, table: &str, key: &str) -> Result<(i64, bool), Error> {
    let out = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| aws_error(format!("failed to describe source table {table}"), &e))?;
    let description = out.table();
    let hash = description
        .map(|t| t.key_schema())
        .unwrap_or_default()
        .iter()
        .find(|k| k.key_type() == &KeyType::Hash)
        .map(|k| k.attribute_name().to_owned());
    if hash.as_deref() != Some(key) {
        return Err(Error::Usage(format!(
            "source table {table} is keyed on {}, not on `{key}` as the seed's is",
            hash.unwrap_or_else(|| "nothing".into())
        )));
    }
    Ok((
        description.and_then(|t| t.item_count()).unwrap_or(0),
        description
            .and_then(|t| t.deletion_protection_enabled())
            .unwrap_or(false),
    ))
}

/// Reads what protects `table` (changing nothing): whether deletion protection is on, and its
/// point-in-time recovery status.
pub async fn inspect(
    client: &Client,
    role: &'static str,
    table: &str,
    key: &str,
) -> Result<Protection, Error> {
    let (items_estimate, protected) = describe(client, table, key).await?;
    let backups = client
        .describe_continuous_backups()
        .table_name(table)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("failed to read the point-in-time recovery of source table {table}"),
                &e,
            )
        })?;
    let point_in_time_recovery = backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status())
        == Some(&PointInTimeRecoveryStatus::Enabled);
    Ok(Protection {
        role,
        table: table.to_owned(),
        items_estimate,
        deletion_protection: if protected { ALREADY_ON } else { OFF },
        point_in_time_recovery,
    })
}

/// Turns deletion protection on for the table `protection` describes, unless it is on.
pub async fn turn_on(client: &Client, protection: &mut Protection) -> Result<(), Error> {
    if protection.deletion_protection != OFF {
        return Ok(());
    }
    let table = &protection.table;
    client
        .update_table()
        .table_name(table)
        .deletion_protection_enabled(true)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("failed to turn on deletion protection for source table {table}"),
                &e,
            )
        })?;
    protection.deletion_protection = TURNED_ON;
    Ok(())
}

/// The command that turns point-in-time recovery on for `table`.
pub fn pitr_command(table: &str, region: &str) -> String {
    format!(
        "aws dynamodb update-continuous-backups --region {region} --table-name {table} \
         --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_tables_takes_both_tables_in_any_order() {
        assert_eq!(
            parse_tables("users=U, notes=N").unwrap(),
            ("N".to_owned(), "U".to_owned())
        );
        for bad in ["notes=N", "notes=N,users=", "notes=N,users=U,x=1", "N,U"] {
            let err = parse_tables(bad).unwrap_err();
            assert!(err.to_string().contains("--from-tables"), "{bad}: {err}");
        }
    }
}
