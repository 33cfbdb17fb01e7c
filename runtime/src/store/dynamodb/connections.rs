//! The connections table on DynamoDB: [`ConnectionStore`] for [`DynamoConnections`].
//!
//! Rows: `connectionId` (key), `uid` (when signed in; the key of the user index), `connectedAt`
//! (epoch ms), `ttl` (epoch s, the table's TTL attribute), `subscriptions` (a string set of note
//! ids, at most a set number) and the message counter of the current rate window (`window`,
//! `messages`). Reads filter on `ttl` themselves because DynamoDB removes expired rows up to two
//! days late; scans page on `LastEvaluatedKey`, whose `connectionId` is the cursor, and can be
//! split into parallel segments. Only connections are written here (broadcast progress is in the
//! control table); rows of broadcast progress an older version wrote
//! (`connectionId = broadcast#<event id>`, `pending_broadcast`) are still left out of reads until
//! their TTL removes them.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use uuid::Uuid;

use super::items::Item;
use super::{condition_failed, sdk_error};
use crate::store::schema::USER_CONNECTIONS_INDEX;
use crate::store::{Connection, ConnectionPage, ConnectionStore, Segment, StoreError};

const ID: &str = "connectionId";
/// The attribute only broadcast progress rows of older versions carry.
const PROGRESS: &str = "pending_broadcast";

/// The connections store on DynamoDB: one table, nothing else.
#[derive(Debug, Clone)]
pub struct DynamoConnections {
    client: Client,
    table: String,
}

impl DynamoConnections {
    /// The connections kept in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The DynamoDB client it uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }
}

/// `connection` as a Connections item: `uid` only when signed in, `subscriptions` only when it
/// has some (DynamoDB has no empty sets).
pub fn connection_item(connection: &Connection) -> Item {
    let mut item = HashMap::from([
        (
            ID.to_string(),
            AttributeValue::S(connection.connection_id.clone()),
        ),
        (
            "connectedAt".to_string(),
            AttributeValue::N(connection.connected_at_ms.to_string()),
        ),
        (
            "ttl".to_string(),
            AttributeValue::N(connection.expires_at.to_string()),
        ),
    ]);
    if let Some(uid) = &connection.uid {
        item.insert("uid".into(), AttributeValue::S(uid.clone()));
    }
    if !connection.subscriptions.is_empty() {
        let notes = connection
            .subscriptions
            .iter()
            .map(Uuid::to_string)
            .collect();
        item.insert("subscriptions".into(), AttributeValue::Ss(notes));
    }
    item
}

fn number(item: &Item, name: &str) -> Result<i64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| StoreError::Backend(format!("connection row lacks a numeric {name}")))
}

fn from_item(item: &Item) -> Result<Connection, StoreError> {
    let connection_id = item
        .get(ID)
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Backend(format!("connection row lacks {ID}")))?
        .clone();
    let mut subscriptions: Vec<Uuid> = match item.get("subscriptions") {
        Some(AttributeValue::Ss(ids)) => {
            ids.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect()
        }
        _ => Vec::new(),
    };
    subscriptions.sort_unstable();
    Ok(Connection {
        connection_id,
        uid: item.get("uid").and_then(|v| v.as_s().ok()).cloned(),
        connected_at_ms: number(item, "connectedAt")?,
        expires_at: number(item, "ttl")?,
        subscriptions,
    })
}

#[async_trait]
impl ConnectionStore for DynamoConnections {
    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(connection_item(connection)))
            .send()
            .await
            .map_err(|e| sdk_error("store connection", e))?;
        Ok(())
    }

    async fn delete_connection(&self, connection_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(ID, AttributeValue::S(connection_id.into()))
            .send()
            .await
            .map_err(|e| sdk_error("delete connection", e))?;
        Ok(())
    }

    async fn get_connection(
        &self,
        connection_id: &str,
        now: i64,
    ) -> Result<Option<Connection>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ID, AttributeValue::S(connection_id.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("read connection", e))?;
        match output.item {
            Some(item) if !item.contains_key(PROGRESS) => {
                Ok(Some(from_item(&item)?).filter(|c| c.is_live(now)))
            }
            _ => Ok(None),
        }
    }

    async fn set_subscription(
        &self,
        connection_id: &str,
        note_id: Uuid,
        subscribed: bool,
        max: usize,
    ) -> Result<Connection, StoreError> {
        let note = AttributeValue::Ss(vec![note_id.to_string()]);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ID, AttributeValue::S(connection_id.into()))
            .expression_attribute_values(":note", note)
            .return_values(ReturnValue::AllNew);
        request = if subscribed {
            // Adding a note already there changes nothing, so it passes the cap too.
            request
                .update_expression("ADD subscriptions :note")
                .condition_expression(
                    "attribute_exists(connectionId) AND (attribute_not_exists(subscriptions) \
                     OR size(subscriptions) < :max OR contains(subscriptions, :one))",
                )
                .expression_attribute_values(":max", AttributeValue::N(max.to_string()))
                .expression_attribute_values(":one", AttributeValue::S(note_id.to_string()))
        } else {
            request
                .update_expression("DELETE subscriptions :note")
                .condition_expression("attribute_exists(connectionId)")
        };
        match request.send().await {
            Ok(output) => from_item(&output.attributes.unwrap_or_default()),
            Err(e) if condition_failed(&e) => {
                // Missing, or full: the row says which.
                let exists = self.get_connection(connection_id, 0).await?.is_some();
                Err(if exists && subscribed {
                    StoreError::Limit
                } else {
                    StoreError::NotFound
                })
            }
            Err(e) => Err(sdk_error("update subscriptions", e)),
        }
    }

    async fn count_message(
        &self,
        connection_id: &str,
        window: i64,
        max: u32,
    ) -> Result<(), StoreError> {
        let window_value = AttributeValue::N(window.to_string());
        // Same window: count up to the cap. A new window: start again at 1.
        let same = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ID, AttributeValue::S(connection_id.into()))
            .update_expression("ADD messages :one")
            .condition_expression(
                "attribute_exists(connectionId) AND #window = :window AND messages < :max",
            )
            .expression_attribute_names("#window", "window")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":window", window_value.clone())
            .expression_attribute_values(":max", AttributeValue::N(max.to_string()))
            .send()
            .await;
        match same {
            Ok(_) => return Ok(()),
            Err(e) if condition_failed(&e) => {}
            Err(e) => return Err(sdk_error("count a message", e)),
        }
        let fresh = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ID, AttributeValue::S(connection_id.into()))
            .update_expression("SET #window = :window, messages = :one")
            .condition_expression(
                "attribute_exists(connectionId) AND (attribute_not_exists(#window) OR #window < :window)",
            )
            .expression_attribute_names("#window", "window")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":window", window_value)
            .send()
            .await;
        match fresh {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => {
                if self.get_connection(connection_id, 0).await?.is_some() {
                    Err(StoreError::Limit)
                } else {
                    Err(StoreError::NotFound)
                }
            }
            Err(e) => Err(sdk_error("count a message", e)),
        }
    }

    async fn scan_connections(
        &self,
        segment: Segment,
        cursor: Option<&str>,
        page_size: u32,
        now: i64,
    ) -> Result<ConnectionPage, StoreError> {
        let mut request = self
            .client
            .scan()
            .table_name(&self.table)
            .limit(page_size.clamp(1, 10_000) as i32)
            .filter_expression("#ttl > :now AND attribute_not_exists(#progress)")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#progress", PROGRESS)
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()));
        if segment.total > 1 {
            request = request
                .segment(segment.index as i32)
                .total_segments(segment.total as i32);
        }
        if let Some(cursor) = cursor {
            request = request.exclusive_start_key(ID, AttributeValue::S(cursor.into()));
        }
        let output = request
            .send()
            .await
            .map_err(|e| sdk_error("scan connections", e))?;
        let connections = output
            .items
            .unwrap_or_default()
            .iter()
            .map(from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next = output
            .last_evaluated_key
            .and_then(|key| key.get(ID).and_then(|v| v.as_s().ok()).cloned());
        Ok(ConnectionPage { connections, next })
    }

    async fn user_connections(&self, uid: &str, now: i64) -> Result<Vec<Connection>, StoreError> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(USER_CONNECTIONS_INDEX)
                .key_condition_expression("#uid = :uid")
                .expression_attribute_names("#uid", "uid")
                .expression_attribute_values(":uid", AttributeValue::S(uid.into()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("query a user's connections", e))?;
            for item in output.items() {
                let connection = from_item(item)?;
                if connection.is_live(now) {
                    found.push(connection);
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(found),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_with_and_without_optional_attributes() {
        let mut c = Connection::new("abc=", Some("alice".into()), 1_700_000_000_000);
        c.subscriptions = vec![Uuid::nil()];
        assert_eq!(from_item(&connection_item(&c)).unwrap(), c);
        let anonymous = Connection::new("def=", None, 5_000);
        assert_eq!(from_item(&connection_item(&anonymous)).unwrap(), anonymous);
        let mut broken = connection_item(&anonymous);
        broken.remove("ttl");
        assert!(from_item(&broken).unwrap_err().to_string().contains("ttl"));
    }
}
