//! What DynamoDB did for a request: an SDK interceptor on the store's client that reads every
//! response DynamoDB sends back and adds up the items it evaluated (`ScannedCount` of a Query or
//! a Scan, the items of a GetItem or a BatchGetItem) and the read units those reads cost (4 KB
//! each, per call, rounded up, as a strongly consistent read is billed), by operation.
//!
//! Budget tests reset it before a request and read it after; the data benchmark prints the read
//! units per request next to the old algorithm's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

/// The reads of one or more requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// DynamoDB calls, by operation (`Query`, `BatchGetItem`…).
    pub calls: BTreeMap<String, u64>,
    /// Items DynamoDB evaluated (what a read is billed on).
    pub items: u64,
    /// Read units: per call, the bytes read in 4 KB units, rounded up.
    pub read_units: u64,
}

impl Tally {
    /// How many `operation` calls were made (`Query`, `GetItem`…); 0 for none.
    pub fn calls_of(&self, operation: &str) -> u64 {
        self.calls.get(operation).copied().unwrap_or(0)
    }
}

/// The interceptor; clones share one tally.
#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<Mutex<Tally>>);

impl Meter {
    /// The tally so far, and a fresh start.
    pub fn take(&self) -> Tally {
        std::mem::take(&mut *self.0.lock().expect("meter"))
    }
}

/// The size DynamoDB bills for an item, roughly: its JSON without the type markers.
fn item_bytes(item: &Value) -> u64 {
    item.as_object()
        .map(|fields| {
            fields
                .iter()
                .map(|(name, value)| {
                    (name.len() + value.to_string().len().saturating_sub(7)) as u64
                })
                .sum()
        })
        .unwrap_or(0)
}

fn units(bytes: u64) -> u64 {
    bytes.div_ceil(4096).max(1)
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "Meter"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_default();
        let Some(body) = context.response().body().bytes() else {
            return Ok(());
        };
        let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let (items, bytes) = match operation.as_str() {
            "Query" | "Scan" => {
                let listed = answer["Items"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let scanned = answer["ScannedCount"]
                    .as_u64()
                    .unwrap_or(listed.len() as u64);
                // Filtered-out items are billed too: count them at the returned items' size.
                let returned: u64 = listed.iter().map(item_bytes).sum();
                let per_item = returned.checked_div(listed.len() as u64).unwrap_or(100);
                let skipped = scanned.saturating_sub(listed.len() as u64);
                (scanned, returned + skipped * per_item)
            }
            "GetItem" => match answer.get("Item") {
                Some(item) => (1, item_bytes(item)),
                None => (1, 0),
            },
            "BatchGetItem" => {
                // Each item of a batch is billed on its own.
                let all: Vec<&Value> = answer["Responses"]
                    .as_object()
                    .map(|tables| {
                        tables
                            .values()
                            .filter_map(Value::as_array)
                            .flatten()
                            .collect()
                    })
                    .unwrap_or_default();
                let units: u64 = all.iter().map(|i| units(item_bytes(i))).sum();
                let mut tally = self.0.lock().expect("meter");
                *tally.calls.entry(operation).or_default() += 1;
                tally.items += all.len() as u64;
                tally.read_units += units;
                return Ok(());
            }
            _ => (0, 0),
        };
        let mut tally = self.0.lock().expect("meter");
        *tally.calls.entry(operation).or_default() += 1;
        tally.items += items;
        if items > 0 {
            tally.read_units += units(bytes);
        }
        Ok(())
    }
}
