//! The connections table on DynamoDB: [`ConnectionStore`] for [`DynamoStore`].
//!
//! Rows: `connectionId` (key), `uid` (when signed in), `connectedAt` (epoch ms), `ttl` (epoch s,
//! the table's TTL attribute) and `subscriptions` (a string set of note ids). Reads filter on `ttl`
//! themselves because DynamoDB removes expired rows up to two days late; scans page on
//! `LastEvaluatedKey`, whose `connectionId` is the cursor.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use uuid::Uuid;

use super::dynamodb::{DynamoStore, Item, sdk_error};
use super::{Connection, ConnectionPage, ConnectionStore, StoreError};

const ID: &str = "connectionId";

fn item(connection: &Connection) -> Item {
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
impl ConnectionStore for DynamoStore {
    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(&self.tables().connections)
            .set_item(Some(item(connection)))
            .send()
            .await
            .map_err(|e| sdk_error("store connection", e))?;
        Ok(())
    }

    async fn delete_connection(&self, connection_id: &str) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(&self.tables().connections)
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
            .client()
            .get_item()
            .table_name(&self.tables().connections)
            .key(ID, AttributeValue::S(connection_id.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("read connection", e))?;
        match output.item {
            Some(item) => Ok(Some(from_item(&item)?).filter(|c| c.is_live(now))),
            None => Ok(None),
        }
    }

    async fn set_subscription(
        &self,
        connection_id: &str,
        note_id: Uuid,
        subscribed: bool,
    ) -> Result<Connection, StoreError> {
        let expression = if subscribed {
            "ADD subscriptions :note"
        } else {
            "DELETE subscriptions :note"
        };
        let output = self
            .client()
            .update_item()
            .table_name(&self.tables().connections)
            .key(ID, AttributeValue::S(connection_id.into()))
            .update_expression(expression)
            .condition_expression("attribute_exists(connectionId)")
            .expression_attribute_values(":note", AttributeValue::Ss(vec![note_id.to_string()]))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match output {
            Ok(output) => from_item(&output.attributes.unwrap_or_default()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::NotFound)
            }
            Err(e) => Err(sdk_error("update subscriptions", e)),
        }
    }

    async fn scan_connections(
        &self,
        cursor: Option<&str>,
        page_size: u32,
        now: i64,
    ) -> Result<ConnectionPage, StoreError> {
        let mut request = self
            .client()
            .scan()
            .table_name(&self.tables().connections)
            .limit(page_size.clamp(1, 10_000) as i32)
            .filter_expression("#ttl > :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()));
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_with_and_without_optional_attributes() {
        let mut c = Connection::new("abc=", Some("alice".into()), 1_700_000_000_000);
        c.subscriptions = vec![Uuid::nil()];
        assert_eq!(from_item(&item(&c)).unwrap(), c);
        let anonymous = Connection::new("def=", None, 5_000);
        assert_eq!(from_item(&item(&anonymous)).unwrap(), anonymous);
        let mut broken = item(&anonymous);
        broken.remove("ttl");
        assert!(from_item(&broken).unwrap_err().to_string().contains("ttl"));
    }
}
