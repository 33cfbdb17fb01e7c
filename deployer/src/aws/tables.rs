//! Tables a deleted stack kept: found before a stack is created, so that a deploy after
//! `destroy` brings the data back instead of starting on empty tables.
//!
//! The template tags every table `noteapp:stack=<stack>` and `noteapp:table=<logical id>`, and
//! CloudFormation names a table `<stack>-<logical id>-<suffix>`. The search lists the account's
//! tables (ListTables, 100 names a page) for that prefix, reads the tags of each match
//! (ListTagsOfResource) and checks the key schema of each claimant (DescribeTable): one page per
//! 100 tables in the region plus two calls per table of this stack, and only when a stack is
//! about to be created.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::Client;
use noteapp_runtime::aws_http::Partition;
use noteapp_runtime::store::schema::ALL_TABLES;

use crate::aws::aws_error;
use crate::error::Error;

/// The tag naming the stack a table was made by.
pub const STACK_TAG: &str = "noteapp:stack";
/// The tag naming the table's logical id in the template.
pub const TABLE_TAG: &str = "noteapp:table";

/// A table a deleted stack left, and where it goes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedTable {
    pub logical_id: String,
    pub name: String,
}

/// What the search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retained {
    /// Nothing (or nothing of this stack): a plain create.
    None,
    /// Tables to import, one per logical id.
    Importable(Vec<RetainedTable>),
    /// Tables of this stack that cannot go back in as they are.
    Conflicting { tables: Vec<String>, reason: String },
}

/// Searches the account for the tables stack `stack` kept when it was deleted.
pub async fn find(
    client: &Client,
    stack: &str,
    region: &str,
    account: &str,
) -> Result<Retained, Error> {
    let prefix = format!("{stack}-");
    let mut names = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let page = client
            .list_tables()
            .set_exclusive_start_table_name(start.take())
            .send()
            .await
            .map_err(|e| aws_error("failed to list the DynamoDB tables", &e))?;
        names.extend(
            page.table_names()
                .iter()
                .filter(|n| n.starts_with(&prefix))
                .cloned(),
        );
        match page.last_evaluated_table_name {
            Some(last) => start = Some(last),
            None => break,
        }
    }
    let partition = Partition::of(region).name;
    let mut claims: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in names {
        let arn = format!("arn:{partition}:dynamodb:{region}:{account}:table/{name}");
        let tags = client
            .list_tags_of_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| aws_error(format!("failed to read the tags of table {name}"), &e))?;
        let tag = |key: &str| {
            tags.tags()
                .iter()
                .find(|t| t.key() == key)
                .map(|t| t.value().to_owned())
        };
        if tag(STACK_TAG).as_deref() != Some(stack) {
            continue;
        }
        if let Some(logical_id) = tag(TABLE_TAG) {
            claims.entry(logical_id).or_default().push(name);
        }
    }
    if claims.is_empty() {
        return Ok(Retained::None);
    }
    if let Some((logical_id, names)) = claims.iter().find(|(_, names)| names.len() > 1) {
        return Ok(Retained::Conflicting {
            tables: names.clone(),
            reason: format!("more than one kept table was {logical_id} of stack {stack}"),
        });
    }
    let mut found = Vec::new();
    for (logical_id, names) in claims {
        let name = names.into_iter().next().expect("one claimant");
        let Some(def) = ALL_TABLES.iter().find(|t| t.logical_id == logical_id) else {
            // A table the template no longer has: nothing to bring back.
            continue;
        };
        let described = client
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .map_err(|e| aws_error(format!("failed to describe table {name}"), &e))?;
        let table = described.table();
        let key = |kind: &str| {
            table
                .map(|t| t.key_schema())
                .unwrap_or_default()
                .iter()
                .find(|k| k.key_type().as_str() == kind)
                .map(|k| k.attribute_name().to_owned())
        };
        let wanted = (
            Some(def.hash_key.to_owned()),
            def.range_key.map(str::to_owned),
        );
        if (key("HASH"), key("RANGE")) != wanted {
            return Ok(Retained::Conflicting {
                tables: vec![name],
                reason: format!(
                    "its key schema is not the one {logical_id} has in this version of the template"
                ),
            });
        }
        let status = table
            .and_then(|t| t.table_status())
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        if status != "ACTIVE" {
            return Ok(Retained::Conflicting {
                tables: vec![name],
                reason: format!("it is {status}, not ACTIVE"),
            });
        }
        found.push(RetainedTable { logical_id, name });
    }
    Ok(if found.is_empty() {
        Retained::None
    } else {
        Retained::Importable(found)
    })
}
