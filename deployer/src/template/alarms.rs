//! What the template's alarms cost a month with a plan's parameters: `noteapp render` prints it.
//!
//! CloudWatch bills alarms by the month (<https://aws.amazon.com/cloudwatch/pricing/>, Alarms;
//! the bill's line is "per alarm metric month"), prorated by the hour:
//! - a metric alarm, per metric it reads: $0.10 at standard resolution (a period of 60 s or
//!   more), $0.30 at high resolution (10 or 30 s). An alarm on a metric math expression counts
//!   each metric the expression reads (each `MetricStat`), not the expression; a percentile
//!   statistic (p99) costs the same as any other;
//! - a composite alarm: $0.50.
//!
//! The figure is before the free tier (10 alarm metrics per account) and in us-east-1's prices,
//! which most regions share. Alarms whose `Condition` is false with these parameters (a
//! concurrency alarm without reserved concurrency) are not counted: they do not exist.

use serde::Serialize;
use serde_json::Value as Json;

use super::{TemplateError, long_form, section};

/// Cents a month per alarm metric at standard resolution.
const STANDARD_CENTS: u64 = 10;
/// Cents a month per alarm metric at high resolution.
const HIGH_RESOLUTION_CENTS: u64 = 30;
/// Cents a month per composite alarm.
const COMPOSITE_CENTS: u64 = 50;

/// The alarms a deploy makes, and what they cost a month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmCost {
    /// Every alarm, metric and composite.
    pub count: u32,
    /// The metric alarms: billed per metric they read.
    pub metric_alarms: u32,
    /// The composite alarms: $0.50 a month each.
    pub composite_alarms: u32,
    /// The metrics the metric alarms read (what they are billed by).
    pub alarm_metrics: u32,
    /// US dollars a month.
    pub monthly_usd: f64,
}

/// The alarms `template_body` makes with `parameters`, and their monthly cost.
pub fn alarm_cost(
    template_body: &str,
    parameters: &[(String, String)],
) -> Result<AlarmCost, TemplateError> {
    let template: serde_norway::Value =
        serde_norway::from_str(template_body).map_err(|e| TemplateError::Yaml(e.to_string()))?;
    let resources = long_form(&serde_norway::Value::Mapping(
        section(&template, "Resources")?.clone(),
    ));
    let conditions = match section(&template, "Conditions") {
        Ok(c) => long_form(&serde_norway::Value::Mapping(c.clone())),
        Err(_) => Json::Null,
    };
    let scope = Scope {
        conditions: &conditions,
        parameters,
    };
    let mut cost = AlarmCost {
        count: 0,
        metric_alarms: 0,
        composite_alarms: 0,
        alarm_metrics: 0,
        monthly_usd: 0.0,
    };
    let mut cents = 0;
    for (id, resource) in resources.as_object().into_iter().flatten() {
        let kind = resource["Type"].as_str().unwrap_or_default();
        if !matches!(
            kind,
            "AWS::CloudWatch::Alarm" | "AWS::CloudWatch::CompositeAlarm"
        ) {
            continue;
        }
        if let Some(condition) = resource["Condition"].as_str()
            && !scope.condition(condition, 0)?
        {
            continue;
        }
        cost.count += 1;
        let properties = &resource["Properties"];
        if kind == "AWS::CloudWatch::CompositeAlarm" {
            cost.composite_alarms += 1;
            cents += COMPOSITE_CENTS;
            continue;
        }
        cost.metric_alarms += 1;
        let (metrics, periods): (u64, Vec<u64>) = match properties["Metrics"].as_array() {
            Some(queries) => {
                let stats: Vec<&Json> =
                    queries.iter().filter_map(|q| q.get("MetricStat")).collect();
                let periods = stats.iter().filter_map(|s| s["Period"].as_u64()).collect();
                (stats.len() as u64, periods)
            }
            None => (1, properties["Period"].as_u64().into_iter().collect()),
        };
        if metrics == 0 {
            return Err(TemplateError::Shape(format!(
                "the alarm {id} reads no metric"
            )));
        }
        let high_resolution = periods.iter().any(|p| *p < 60);
        cost.alarm_metrics += metrics as u32;
        cents += metrics
            * if high_resolution {
                HIGH_RESOLUTION_CENTS
            } else {
                STANDARD_CENTS
            };
    }
    cost.monthly_usd = cents as f64 / 100.0;
    Ok(cost)
}

/// The template's conditions with a plan's parameter values.
struct Scope<'a> {
    conditions: &'a Json,
    parameters: &'a [(String, String)],
}

impl Scope<'_> {
    fn condition(&self, name: &str, depth: u32) -> Result<bool, TemplateError> {
        let definition = self.conditions.get(name).ok_or_else(|| {
            TemplateError::Shape(format!(
                "uses the condition {name}, which it does not define"
            ))
        })?;
        self.evaluate(definition, depth + 1)
    }

    /// `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or` and `Condition` over `Ref`s of parameters
    /// and literals: what the template's conditions use.
    fn evaluate(&self, value: &Json, depth: u32) -> Result<bool, TemplateError> {
        let unsupported = || {
            TemplateError::Shape(format!(
                "has a condition noteapp cannot evaluate offline: {value}"
            ))
        };
        if depth > 32 {
            return Err(unsupported());
        }
        let Some((function, args)) = value.as_object().and_then(|o| o.iter().next()) else {
            return Err(unsupported());
        };
        let list = || args.as_array().ok_or_else(unsupported);
        match function.as_str() {
            "Condition" => self.condition(args.as_str().ok_or_else(unsupported)?, depth),
            "Fn::Not" => Ok(!self.evaluate(list()?.first().ok_or_else(unsupported)?, depth + 1)?),
            "Fn::And" => list()?
                .iter()
                .try_fold(true, |all, c| Ok(all && self.evaluate(c, depth + 1)?)),
            "Fn::Or" => list()?
                .iter()
                .try_fold(false, |any, c| Ok(any || self.evaluate(c, depth + 1)?)),
            "Fn::Equals" => match list()?.as_slice() {
                [a, b] => Ok(self.scalar(a)? == self.scalar(b)?),
                _ => Err(unsupported()),
            },
            _ => Err(unsupported()),
        }
    }

    fn scalar(&self, value: &Json) -> Result<String, TemplateError> {
        match value {
            Json::String(s) => Ok(s.clone()),
            Json::Number(n) => Ok(n.to_string()),
            Json::Bool(b) => Ok(b.to_string()),
            Json::Object(o) if o.len() == 1 && o.contains_key("Ref") => {
                let name = o["Ref"].as_str().unwrap_or_default();
                self.parameters
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| {
                        TemplateError::Shape(format!(
                            "a condition refers to {name}, which the plan has no value for"
                        ))
                    })
            }
            other => Err(TemplateError::Shape(format!(
                "has a condition noteapp cannot evaluate offline: {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  Reserved: {Type: Number}
Conditions:
  ReservedOn: !Not [!Equals [!Ref Reserved, 0]]
  Both: !And [!Condition ReservedOn, !Equals [a, a]]
Resources:
  Plain:
    Type: AWS::CloudWatch::Alarm
    Properties: {MetricName: Errors, Period: 60}
  Math:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Metrics:
        - {Id: a, MetricStat: {Metric: {MetricName: A}, Period: 60, Stat: Sum}}
        - {Id: b, MetricStat: {Metric: {MetricName: B}, Period: 60, Stat: p99}}
        - {Id: e, Expression: a / b}
  Fast:
    Type: AWS::CloudWatch::Alarm
    Properties: {MetricName: Errors, Period: 10}
  Conditional:
    Type: AWS::CloudWatch::Alarm
    Condition: Both
    Properties: {MetricName: Errors, Period: 60}
  Composite:
    Type: AWS::CloudWatch::CompositeAlarm
    Properties: {AlarmRule: ALARM(x)}
  Topic:
    Type: AWS::SNS::Topic
"#;

    fn params(reserved: &str) -> Vec<(String, String)> {
        vec![("Reserved".into(), reserved.into())]
    }

    #[test]
    fn each_metric_an_alarm_reads_is_billed_and_each_composite_alarm() {
        let cost = alarm_cost(TEMPLATE, &params("0")).unwrap();
        assert_eq!(
            cost,
            AlarmCost {
                count: 4,
                metric_alarms: 3,
                composite_alarms: 1,
                alarm_metrics: 4,
                // Plain 0.10 + Math 2 × 0.10 + Fast 0.30 + Composite 0.50.
                monthly_usd: 1.10,
            }
        );
    }

    #[test]
    fn an_alarm_whose_condition_holds_is_counted() {
        let cost = alarm_cost(TEMPLATE, &params("50")).unwrap();
        assert_eq!((cost.count, cost.alarm_metrics), (5, 5));
        assert_eq!(cost.monthly_usd, 1.20);
    }

    #[test]
    fn a_condition_on_a_missing_parameter_is_an_error() {
        let err = alarm_cost(TEMPLATE, &[]).unwrap_err().to_string();
        assert!(err.contains("Reserved"), "{err}");
    }
}
