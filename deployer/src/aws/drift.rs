//! CloudFormation drift detection, one call per function: start a detection on the stack, read
//! its status, and list the resources that differ from the template with each property that
//! does. The wait between the two lives in `commands::drift`, on the usual bounded poll.

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::StackResourceDriftStatus;
use serde::Serialize;

use crate::aws::{aws_error, is_stack_missing};
use crate::error::Error;

/// Where a detection stands (DescribeStackDriftDetectionStatus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// `DETECTION_IN_PROGRESS`, `DETECTION_COMPLETE` or `DETECTION_FAILED`.
    pub status: String,
    /// `IN_SYNC`, `DRIFTED`, `NOT_CHECKED` or `UNKNOWN`, once known.
    pub drift_status: Option<String>,
    /// CloudFormation's reason for the status (why a detection failed), when it gives one.
    pub reason: Option<String>,
    /// How many resources drifted; `None` until the detection is complete.
    pub drifted_resources: Option<i32>,
}

/// One resource that is not as the template has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceDrift {
    /// The resource's logical id in the template.
    pub logical_id: String,
    /// Its physical id (a table's or function's name), when CloudFormation gives one.
    pub physical_id: Option<String>,
    /// Its type, such as `AWS::Lambda::Function`.
    pub resource_type: String,
    /// `MODIFIED` or `DELETED`.
    pub drift: String,
    /// Each property that differs; empty for a deleted resource.
    pub differences: Vec<PropertyDifference>,
}

/// One property that differs, expected (the template) against actual (the resource).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PropertyDifference {
    /// A JSON pointer into the resource's properties (`/Environment/Variables/LOG_LEVEL`).
    pub path: String,
    /// The value the template (with the stack's parameters) gives it, as CloudFormation writes it.
    pub expected: String,
    /// The value the resource has now.
    pub actual: String,
    /// `ADD`, `REMOVE` or `NOT_EQUAL`.
    pub kind: String,
}

/// Starts a drift detection on `stack`; its id. A missing stack is a state to report.
pub async fn detect(client: &Client, stack: &str, environment: &str) -> Result<String, Error> {
    match client.detect_stack_drift().stack_name(stack).send().await {
        Ok(answer) => Ok(answer
            .stack_drift_detection_id()
            .unwrap_or_default()
            .to_owned()),
        Err(e) if is_stack_missing(e.code(), e.message()) => Err(Error::StackState(format!(
            "stack {stack} does not exist, so it cannot drift: deploy it with `noteapp deploy \
             {environment}`"
        ))),
        Err(e) => Err(aws_error(
            format!("failed to start drift detection on stack {stack}"),
            &e,
        )),
    }
}

/// The status of detection `id` on `stack`.
pub async fn status(client: &Client, stack: &str, id: &str) -> Result<Detection, Error> {
    let answer = client
        .describe_stack_drift_detection_status()
        .stack_drift_detection_id(id)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("failed to read drift detection {id} of stack {stack}"),
                &e,
            )
        })?;
    Ok(Detection {
        status: answer
            .detection_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        drift_status: answer.stack_drift_status().map(|s| s.as_str().to_owned()),
        reason: answer
            .detection_status_reason()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
        drifted_resources: answer.drifted_stack_resource_count(),
    })
}

/// Every resource of `stack` that was modified or deleted outside CloudFormation, as the last
/// detection found them (all pages).
pub async fn drifted_resources(client: &Client, stack: &str) -> Result<Vec<ResourceDrift>, Error> {
    let mut drifts = Vec::new();
    let mut pages = client
        .describe_stack_resource_drifts()
        .stack_name(stack)
        .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
        .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            aws_error(
                format!("failed to read the drifted resources of stack {stack}"),
                &e,
            )
        })?;
        drifts.extend(page.stack_resource_drifts().iter().map(|d| {
            ResourceDrift {
                logical_id: d.logical_resource_id().unwrap_or_default().to_owned(),
                physical_id: d.physical_resource_id().map(str::to_owned),
                resource_type: d.resource_type().unwrap_or_default().to_owned(),
                drift: d
                    .stack_resource_drift_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                differences: d
                    .property_differences()
                    .iter()
                    .map(|p| PropertyDifference {
                        path: p.property_path().unwrap_or_default().to_owned(),
                        expected: p.expected_value().unwrap_or_default().to_owned(),
                        actual: p.actual_value().unwrap_or_default().to_owned(),
                        kind: p
                            .difference_type()
                            .map(|k| k.as_str().to_owned())
                            .unwrap_or_default(),
                    })
                    .collect(),
            }
        }));
    }
    Ok(drifts)
}
