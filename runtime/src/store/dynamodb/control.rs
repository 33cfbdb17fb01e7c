//! The control table on DynamoDB: [`ControlStore`] for [`DynamoControl`].
//!
//! One string key, `pk`, and the TTL attribute `ttl` (epoch seconds). Counters
//! (`rl#<action>#<subject>#<window start>`, `budget#<second>`) are one `UpdateItem` each:
//! `ADD n :n SET ttl = if_not_exists(ttl, :ttl)` returning the new value, a write of one unit
//! (the item is well under 1 KB), with no read. A broadcast's progress is an item
//! `bc#<event id>` with the connections that failed (`failed`) and where each scan segment got
//! (`segments`). Reads filter on `ttl` themselves, since DynamoDB deletes expired items up to
//! two days late; counters need no such filter, as no key is used again once its window is over.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::sdk_error;
use crate::store::{BroadcastProgress, ControlStore, ScanPosition, StoreError};

const KEY: &str = "pk";

/// The control store on DynamoDB: one table of short-lived items.
#[derive(Debug, Clone)]
pub struct DynamoControl {
    client: Client,
    table: String,
}

impl DynamoControl {
    /// The control items kept in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }
}

fn progress_key(event_id: &str) -> String {
    format!("bc#{event_id}")
}

fn encode_position(position: &ScanPosition) -> String {
    match position {
        ScanPosition::Start => String::new(),
        ScanPosition::Done => "#done".to_owned(),
        ScanPosition::After(cursor) => format!(">{cursor}"),
    }
}

fn decode_position(text: &str) -> ScanPosition {
    match text {
        "" => ScanPosition::Start,
        "#done" => ScanPosition::Done,
        other => other
            .strip_prefix('>')
            .map(|c| ScanPosition::After(c.to_owned()))
            .unwrap_or(ScanPosition::Start),
    }
}

fn number(value: Option<&AttributeValue>, what: &str) -> Result<i64, StoreError> {
    value
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| StoreError::Backend(format!("control item lacks a numeric {what}")))
}

#[async_trait::async_trait]
impl ControlStore for DynamoControl {
    async fn add(&self, key: &str, n: u64, expires_at: i64) -> Result<u64, StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .update_expression("ADD #n :n SET #ttl = if_not_exists(#ttl, :ttl)")
            .expression_attribute_names("#n", "n")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":n", AttributeValue::N(n.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| sdk_error("count in the control table", e))?;
        let value = number(output.attributes().and_then(|a| a.get("n")), "n")?;
        Ok(u64::try_from(value).unwrap_or(0))
    }

    async fn broadcast_progress(
        &self,
        event_id: &str,
        now: i64,
    ) -> Result<Option<BroadcastProgress>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(progress_key(event_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("read a broadcast's progress", e))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let expires_at = number(item.get("ttl"), "ttl")?;
        if expires_at <= now {
            return Ok(None);
        }
        let list = |name: &str| -> Vec<String> {
            match item.get(name) {
                Some(AttributeValue::L(values)) => values
                    .iter()
                    .filter_map(|v| v.as_s().ok().cloned())
                    .collect(),
                _ => Vec::new(),
            }
        };
        Ok(Some(BroadcastProgress {
            event_id: event_id.to_owned(),
            failed: list("failed"),
            segments: list("segments")
                .iter()
                .map(|s| decode_position(s))
                .collect(),
            expires_at,
        }))
    }

    async fn put_broadcast_progress(&self, progress: &BroadcastProgress) -> Result<(), StoreError> {
        let strings = |values: Vec<String>| {
            AttributeValue::L(values.into_iter().map(AttributeValue::S).collect())
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .item(KEY, AttributeValue::S(progress_key(&progress.event_id)))
            .item("ttl", AttributeValue::N(progress.expires_at.to_string()))
            .item("failed", strings(progress.failed.clone()))
            .item(
                "segments",
                strings(progress.segments.iter().map(encode_position).collect()),
            )
            .send()
            .await
            .map_err(|e| sdk_error("record a broadcast's progress", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_positions_round_trip() {
        for position in [
            ScanPosition::Start,
            ScanPosition::Done,
            ScanPosition::After("abc=".into()),
        ] {
            assert_eq!(decode_position(&encode_position(&position)), position);
        }
    }
}
