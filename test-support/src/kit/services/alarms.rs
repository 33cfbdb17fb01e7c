//! CloudWatch's alarms and SNS's topics as the signed-services stand-in keeps them: each alarm's
//! state is a function the test sets (a fixed state, or one that follows the test's clock, so
//! the alarm can turn red at a given moment of a canary), answered to `DescribeAlarms` (JSON
//! 1.0, by names or a name prefix, composite and metric alarms apart) as CloudWatch answers it;
//! SNS `Publish` is recorded.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::kit::calls::decode;
use crate::loopback::{Reply, Request};

/// An alarm's state and reason, asked each time it is described.
pub type StateFn = Arc<dyn Fn() -> (String, String) + Send + Sync>;

struct Alarm {
    composite: bool,
    state: StateFn,
}

/// The alarms, and how often they were described.
#[derive(Default)]
pub struct Alarms {
    alarms: BTreeMap<String, Alarm>,
    describes: usize,
    published: Vec<BTreeMap<String, String>>,
}

impl Alarms {
    /// Sets alarm `name` (a composite one if `composite`) to answer `state`.
    pub fn set(&mut self, name: &str, composite: bool, state: StateFn) {
        self.alarms
            .insert(name.to_owned(), Alarm { composite, state });
    }

    /// How many `DescribeAlarms` requests were answered.
    pub fn describes(&self) -> usize {
        self.describes
    }

    /// The SNS messages published, as their forms.
    pub fn published(&self) -> Vec<BTreeMap<String, String>> {
        self.published.clone()
    }

    /// Answers `DescribeAlarms`.
    pub fn describe(&mut self, request: &Request) -> Reply {
        self.describes += 1;
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let names: Option<Vec<&str>> = body["AlarmNames"]
            .as_array()
            .map(|names| names.iter().filter_map(Value::as_str).collect());
        let prefix = body["AlarmNamePrefix"].as_str();
        let (mut composite, mut metric) = (Vec::new(), Vec::new());
        for (name, alarm) in &self.alarms {
            let named = names.as_ref().is_none_or(|n| n.contains(&name.as_str()));
            if !named || prefix.is_some_and(|p| !name.starts_with(p)) {
                continue;
            }
            let (state, reason) = (alarm.state)();
            let entry = json!({
                "AlarmName": name,
                "StateValue": state,
                "StateReason": reason,
                "StateUpdatedTimestamp": 1.7966376E9,
            });
            if alarm.composite {
                composite.push(entry);
            } else {
                metric.push(entry);
            }
        }
        Reply::with_type(
            200,
            "application/x-amz-json-1.0",
            json!({"CompositeAlarms": composite, "MetricAlarms": metric}).to_string(),
        )
    }

    /// Records an SNS `Publish`.
    pub fn publish(&mut self, request: &Request) -> Reply {
        let text = String::from_utf8_lossy(&request.body).into_owned();
        let form: BTreeMap<String, String> = text
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect();
        self.published.push(form);
        Reply::with_type(
            200,
            "text/xml",
            "<PublishResponse><PublishResult><MessageId>5e1f</MessageId></PublishResult></PublishResponse>",
        )
    }
}
