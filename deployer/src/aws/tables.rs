//! Tables a deleted stack kept: found before a stack is created, so that a deploy after
//! `destroy` brings the data back instead of starting on empty tables.
//!
//! The template tags every table `noteapp:stack=<stack>` and `noteapp:table=<logical id>`, and
//! CloudFormation names a table `<stack>-<logical id>-<suffix>`. The search lists the account's
//! tables (ListTables, 100 names a page) for that prefix and reads the tags of each match
//! (ListTagsOfResource). A table tagged for this stack is claimed by its `noteapp:table` tag; a
//! table without noteapp's tags (they were removed, or it predates them) by its name, when the
//! name is `<stack>-<logical id>-<suffix>` for a table of the template; a table tagged for
//! another stack is never claimed. Each claimant's shape is then checked against the template
//! (DescribeTable): its key schema and key attribute types, and every global secondary index —
//! name, keys and projection — since an import that brought a table back with other indexes
//! would have its next update drop or rebuild them. One page per 100 tables in the region plus
//! two calls per table of this stack, and only when a stack is about to be created.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::Client;
use noteapp_runtime::aws_http::Partition;
use noteapp_runtime::store::schema::{ALL_TABLES, Projection, TableDef};

use crate::aws::aws_error;
use crate::error::Error;

/// The tag naming the stack a table was made by.
pub const STACK_TAG: &str = "noteapp:stack";
/// The tag naming the table's logical id in the template.
pub const TABLE_TAG: &str = "noteapp:table";

/// A table a deleted stack left, and where it goes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedTable {
    /// The table's logical id in the template: where it goes back.
    pub logical_id: String,
    /// The kept table's name (`<stack>-<logical id>-<suffix>`).
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
    Conflicting {
        /// The names of the tables at fault.
        tables: Vec<String>,
        /// Why they cannot go back: several claim one logical id, a shape differs from the
        /// template's, or a table is not `ACTIVE`.
        reason: String,
    },
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
        let claimed = match (tag(STACK_TAG), tag(TABLE_TAG)) {
            (Some(owner), Some(logical_id)) if owner == stack => Some(logical_id),
            (Some(_), _) => None,
            // No noteapp tags: claimed by its name, if it is one CloudFormation would give a
            // table of this template in this stack.
            (None, _) => logical_id_in_name(&name, stack),
        };
        if let Some(logical_id) = claimed {
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
        if let Some(difference) = table.and_then(|t| shape_difference(t, def)) {
            return Ok(Retained::Conflicting {
                tables: vec![name],
                reason: format!(
                    "{difference}, not what {logical_id} has in this version of the template"
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

/// The logical id a table name `<stack>-<logical id>-<suffix>` gives, if it is one of the
/// template's tables.
fn logical_id_in_name(name: &str, stack: &str) -> Option<String> {
    let rest = name.strip_prefix(stack)?.strip_prefix('-')?;
    let (logical_id, suffix) = rest.rsplit_once('-')?;
    let known = ALL_TABLES.iter().any(|t| t.logical_id == logical_id);
    (known && !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| logical_id.to_owned())
}

/// How a kept table's shape differs from `def`'s, if it does: its keys, their types, or its
/// global secondary indexes (names, keys, projections).
fn shape_difference(
    table: &aws_sdk_dynamodb::types::TableDescription,
    def: &TableDef,
) -> Option<String> {
    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
        let find = |kind: &str| {
            schema
                .iter()
                .find(|k| k.key_type().as_str() == kind)
                .map(|k| k.attribute_name().to_owned())
        };
        (find("HASH"), find("RANGE"))
    };
    let wanted = (
        Some(def.hash_key.to_owned()),
        def.range_key.map(str::to_owned),
    );
    if keys(table.key_schema()) != wanted {
        return Some("its key schema differs".to_owned());
    }
    for definition in table.attribute_definitions() {
        let name = definition.attribute_name();
        let wanted = def.key_attributes.iter().find(|(n, _)| *n == name);
        let given = definition.attribute_type().as_str();
        if let Some((_, kind)) = wanted
            && given != format!("{kind:?}")
        {
            return Some(format!("its key attribute {name} is of type {given}"));
        }
    }
    let projection = |p: Option<&aws_sdk_dynamodb::types::Projection>| {
        let kind = p
            .and_then(|p| p.projection_type())
            .map_or("ALL", |t| t.as_str())
            .to_owned();
        let mut extra: Vec<String> = p
            .map(|p| p.non_key_attributes().to_vec())
            .unwrap_or_default();
        extra.sort();
        (kind, extra)
    };
    let given: BTreeMap<String, _> = table
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            let name = i.index_name().unwrap_or_default().to_owned();
            (name, (keys(i.key_schema()), projection(i.projection())))
        })
        .collect();
    let wanted: BTreeMap<String, _> = def
        .indexes
        .iter()
        .map(|i| {
            let (kind, mut extra) = match i.projection {
                Projection::KeysOnly => ("KEYS_ONLY".to_owned(), Vec::new()),
                Projection::Include(attributes) => (
                    "INCLUDE".to_owned(),
                    attributes.iter().map(|a| (*a).to_owned()).collect(),
                ),
            };
            extra.sort();
            let keys = (Some(i.hash_key.to_owned()), i.range_key.map(str::to_owned));
            (i.name.to_owned(), (keys, (kind, extra)))
        })
        .collect();
    for (name, shape) in &wanted {
        match given.get(name) {
            None => return Some(format!("it has no index {name}")),
            Some(found) if found.0 != shape.0 => {
                return Some(format!("its index {name} has other keys"));
            }
            Some(found) if found.1 != shape.1 => {
                return Some(format!(
                    "its index {name} projects {} {:?}",
                    found.1.0, found.1.1
                ));
            }
            Some(_) => {}
        }
    }
    given
        .keys()
        .find(|name| !wanted.contains_key(*name))
        .map(|extra| format!("it has an index {extra} the template does not"))
}

#[cfg(test)]
mod tests {
    use aws_smithy_mocks::{RuleMode, mock};
    use noteapp_runtime::store::schema::{COMMENTS, CONNECTIONS, NOTES};

    use super::*;
    use crate::aws::replay;

    const KEPT: &str = "noteapp-staging-NotesTable-1Q2W3E4R5T6Y";

    #[test]
    fn a_table_is_claimed_by_name_only_for_a_table_of_the_template_in_this_stack() {
        let claim = |name: &str| logical_id_in_name(name, "noteapp-staging");
        assert_eq!(claim(KEPT).as_deref(), Some("NotesTable"));
        assert_eq!(
            claim("noteapp-staging-ConnectionsTable-AB12").as_deref(),
            Some("ConnectionsTable")
        );
        assert_eq!(
            claim("noteapp-staging-ci-NotesTable-AB12"),
            None,
            "another stack's"
        );
        assert_eq!(
            claim("noteapp-staging-OrdersTable-AB12"),
            None,
            "not the template's"
        );
        assert_eq!(claim("noteapp-staging-NotesTable-"), None);
        assert_eq!(claim("noteapp-staging-scratch"), None);
    }

    #[test]
    fn a_kept_tables_keys_types_and_indexes_are_compared_with_the_template() {
        let shape = |def: &TableDef, change: &dyn Fn(&mut serde_json::Value)| {
            let mut table = replay::table_description(KEPT, def);
            change(&mut table);
            let described: aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput =
                aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput::builder()
                    .table(serde_json_table(&table))
                    .build();
            shape_difference(described.table().unwrap(), def)
        };
        for def in [&NOTES, &COMMENTS, &CONNECTIONS] {
            assert_eq!(shape(def, &|_| {}), None, "{}", def.logical_id);
        }
        let no_index = shape(&NOTES, &|t| {
            t["GlobalSecondaryIndexes"]
                .as_array_mut()
                .unwrap()
                .remove(1);
        });
        assert_eq!(no_index.as_deref(), Some("it has no index PublicFeedIndex"));
        let all = shape(&NOTES, &|t| {
            t["GlobalSecondaryIndexes"][0]["Projection"] =
                serde_json::json!({"ProjectionType": "ALL"});
        });
        assert!(all.unwrap().contains("OwnerNotesIndex projects ALL"));
        let extra = shape(&COMMENTS, &|t| {
            let mut index = t["GlobalSecondaryIndexes"][0].clone();
            index["IndexName"] = "ByAuthor".into();
            t["GlobalSecondaryIndexes"]
                .as_array_mut()
                .unwrap()
                .push(index);
        });
        assert_eq!(
            extra.as_deref(),
            Some("it has an index ByAuthor the template does not")
        );
        let number = shape(&NOTES, &|t| {
            t["AttributeDefinitions"][0]["AttributeType"] = "N".into()
        });
        assert_eq!(number.as_deref(), Some("its key attribute id is of type N"));
    }

    /// A `TableDescription` from its JSON form.
    fn serde_json_table(table: &serde_json::Value) -> aws_sdk_dynamodb::types::TableDescription {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, GlobalSecondaryIndexDescription, KeySchemaElement, KeyType,
            Projection as SdkProjection, ProjectionType, ScalarAttributeType, TableDescription,
        };
        let keys = |keys: &serde_json::Value| -> Vec<KeySchemaElement> {
            keys.as_array()
                .unwrap()
                .iter()
                .map(|k| {
                    KeySchemaElement::builder()
                        .attribute_name(k["AttributeName"].as_str().unwrap())
                        .key_type(KeyType::from(k["KeyType"].as_str().unwrap()))
                        .build()
                        .unwrap()
                })
                .collect()
        };
        let mut builder = TableDescription::builder()
            .table_name(table["TableName"].as_str().unwrap())
            .set_key_schema(Some(keys(&table["KeySchema"])));
        for a in table["AttributeDefinitions"].as_array().unwrap() {
            builder = builder.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(a["AttributeName"].as_str().unwrap())
                    .attribute_type(ScalarAttributeType::from(
                        a["AttributeType"].as_str().unwrap(),
                    ))
                    .build()
                    .unwrap(),
            );
        }
        for i in table["GlobalSecondaryIndexes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let p = &i["Projection"];
            let projection = SdkProjection::builder()
                .projection_type(ProjectionType::from(p["ProjectionType"].as_str().unwrap()))
                .set_non_key_attributes(
                    p["NonKeyAttributes"]
                        .as_array()
                        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect()),
                )
                .build();
            builder = builder.global_secondary_indexes(
                GlobalSecondaryIndexDescription::builder()
                    .index_name(i["IndexName"].as_str().unwrap())
                    .set_key_schema(Some(keys(&i["KeySchema"])))
                    .projection(projection)
                    .build(),
            );
        }
        builder.build()
    }

    #[tokio::test]
    async fn a_kept_table_that_lost_its_tags_is_found_by_its_name() {
        let list = mock!(aws_sdk_dynamodb::Client::list_tables)
            .then_http_response(|| replay::table_names(&[KEPT, "noteapp-staging-scratch"]));
        let untagged = mock!(aws_sdk_dynamodb::Client::list_tags_of_resource)
            .then_http_response(|| replay::json(200, serde_json::json!({"Tags": []})));
        let describe = mock!(aws_sdk_dynamodb::Client::describe_table)
            .then_http_response(|| replay::table(KEPT, &NOTES));
        let client = replay::dynamodb(RuleMode::MatchAny, &[&list, &untagged, &describe]);
        let found = find(&client, "noteapp-staging", "eu-west-1", "123456789012")
            .await
            .unwrap();
        assert_eq!(
            found,
            Retained::Importable(vec![RetainedTable {
                logical_id: "NotesTable".into(),
                name: KEPT.into(),
            }])
        );
    }
}
