//! CloudFormation, one call per function: describe a stack, create / describe / execute / delete
//! a change set, read stack events and the template, list the tables, delete the stack, its stack
//! policy and its termination protection, and recover a stuck update (continue its rollback, or
//! roll it back).
//!
//! Answers are turned into small owned types here so the flow above never handles SDK shapes,
//! and every failure names the call and the stack.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::primitives::{DateTime, DateTimeFormat};
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetType, OnStackFailure, Parameter, ResourceToImport, Tag,
};
use serde::Serialize;

use crate::aws::resource_changes::ResourceChange;
use crate::aws::{aws_error, is_change_set_missing, is_stack_missing};
use crate::error::Error;
use crate::plan::Plan;

/// What DescribeStacks says about one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackInfo {
    /// The stack's id (an ARN), which still answers once a stack of that name is deleted.
    pub id: String,
    /// `CREATE_COMPLETE`, `UPDATE_IN_PROGRESS`, `UPDATE_ROLLBACK_FAILED`…
    pub status: String,
    /// CloudFormation's reason for the status, when it gives one.
    pub reason: Option<String>,
    /// When the stack was created (RFC 3339, UTC).
    pub created: Option<String>,
    /// When it was last updated (RFC 3339, UTC); `None` if never.
    pub last_updated: Option<String>,
    /// Its outputs by key (`FunctionUrlEndpoint`, `WebSocketURL`…).
    pub outputs: BTreeMap<String, String>,
    /// The parameter values the stack runs with.
    pub parameters: BTreeMap<String, String>,
    /// Whether termination protection is on (a delete is refused until it is turned off).
    pub termination_protection: bool,
}

/// One stack event, as printed while an operation runs and listed when it fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackEvent {
    /// CloudFormation's id of the event: how a follow knows the events it has printed.
    #[serde(skip)]
    pub event_id: String,
    /// When it happened (RFC 3339, UTC).
    pub timestamp: String,
    /// The resource's logical id (the stack's own name for a stack event).
    pub logical_id: String,
    /// The resource's type (`AWS::CloudFormation::Stack` for the stack itself).
    pub resource_type: String,
    /// The resource's status, such as `CREATE_FAILED`.
    pub status: String,
    /// CloudFormation's reason for the status, when it gives one.
    pub reason: Option<String>,
}

impl StackEvent {
    /// Whether the status is a `*_FAILED` one.
    pub fn is_failure(&self) -> bool {
        self.status.ends_with("_FAILED")
    }

    /// Whether this is the stack's own event (not one of its resources').
    pub fn is_stack_event(&self) -> bool {
        self.resource_type == "AWS::CloudFormation::Stack"
    }
}

impl std::fmt::Display for StackEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time = self.timestamp.get(11..19).unwrap_or(&self.timestamp);
        write!(
            f,
            "{time}  {:<45} {} ({})",
            self.status, self.logical_id, self.resource_type
        )?;
        if let Some(reason) = &self.reason {
            write!(f, ": {reason}")?;
        }
        Ok(())
    }
}

/// DescribeChangeSet, all pages of changes gathered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetInfo {
    /// `CREATE_PENDING`, `CREATE_IN_PROGRESS`, `CREATE_COMPLETE` or `FAILED`, …
    pub status: String,
    /// Why, when CloudFormation says: a `FAILED` change set with no changes says so here.
    pub reason: Option<String>,
    /// `AVAILABLE` once it can be executed; `UNAVAILABLE`, `EXECUTE_IN_PROGRESS`, … otherwise.
    pub execution_status: String,
    /// Every resource change, all pages together.
    pub changes: Vec<ResourceChange>,
}

fn time(t: Option<&DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// CloudFormation's parameters as keys and values (one without either left out).
pub fn parameter_map(parameters: &[Parameter]) -> BTreeMap<String, String> {
    parameters
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_key()?.to_owned(),
                p.parameter_value()?.to_owned(),
            ))
        })
        .collect()
}

/// The stack by name or id, or `None` when CloudFormation does not know it.
pub async fn describe_stack(client: &Client, stack: &str) -> Result<Option<StackInfo>, Error> {
    let answer = match client.describe_stacks().stack_name(stack).send().await {
        Ok(answer) => answer,
        Err(e) if is_stack_missing(e.code(), e.message()) => return Ok(None),
        Err(e) => return Err(aws_error(format!("failed to describe stack {stack}"), &e)),
    };
    Ok(answer.stacks().first().map(|s| StackInfo {
        id: s.stack_id().unwrap_or(stack).to_owned(),
        status: s
            .stack_status()
            .map(|st| st.as_str().to_owned())
            .unwrap_or_default(),
        reason: non_empty(s.stack_status_reason()),
        created: time(s.creation_time()),
        last_updated: time(s.last_updated_time()),
        outputs: s
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect(),
        parameters: parameter_map(s.parameters()),
        termination_protection: s.enable_termination_protection().unwrap_or(false),
    }))
}

/// What a change set does to the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeSetKind {
    /// A new stack; should its create fail, CloudFormation deletes it with everything it made.
    Create,
    /// An existing stack, brought to the plan's template and parameters.
    Update,
    /// Brings existing tables (logical id, table name) into a new stack, with `template_body`
    /// holding just them and declaring only `parameters` (of the plan's).
    Import {
        /// A template of just the tables imported.
        template_body: String,
        /// The parameters that template declares: only these of the plan's are passed.
        parameters: Vec<String>,
        /// Each table imported, as (logical id, table name).
        tables: Vec<(String, String)>,
    },
}

/// Creates change set `name` of `kind` for the plan's stack; returns the stack's id (which keeps
/// answering once a stack of that name is deleted).
pub async fn create_change_set(
    client: &Client,
    plan: &Plan,
    name: &str,
    kind: &ChangeSetKind,
) -> Result<Option<String>, Error> {
    let declared = |key: &str| match kind {
        ChangeSetKind::Import { parameters, .. } => parameters.iter().any(|p| p == key),
        _ => true,
    };
    let parameters = plan
        .parameters
        .iter()
        .filter(|(k, _)| declared(k))
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        });
    let tags = plan
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build());
    let mut request = client
        .create_change_set()
        .stack_name(&plan.stack_name)
        .change_set_name(name)
        .description(format!("noteapp deploy {}", plan.environment))
        .set_parameters(Some(parameters.collect()))
        .set_tags(Some(tags.collect()))
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam);
    request = match kind {
        ChangeSetKind::Create => with_template(
            request
                .change_set_type(ChangeSetType::Create)
                .on_stack_failure(OnStackFailure::Delete),
            plan,
        ),
        ChangeSetKind::Update => {
            with_template(request.change_set_type(ChangeSetType::Update), plan)
        }
        ChangeSetKind::Import {
            template_body,
            tables,
            ..
        } => {
            let imports = tables.iter().map(|(logical_id, table)| {
                ResourceToImport::builder()
                    .resource_type("AWS::DynamoDB::Table")
                    .logical_resource_id(logical_id)
                    .resource_identifier("TableName", table)
                    .build()
            });
            request
                .change_set_type(ChangeSetType::Import)
                .template_body(template_body)
                .set_resources_to_import(Some(imports.collect()))
        }
    };
    let answer = request.send().await.map_err(|e| {
        aws_error(
            format!("failed to create change set for stack {}", plan.stack_name),
            &e,
        )
    })?;
    Ok(answer.stack_id().map(str::to_owned))
}

/// The plan's template, inline or (too large for that) by its URL in the releases bucket.
fn with_template(
    request: aws_sdk_cloudformation::operation::create_change_set::builders::CreateChangeSetFluentBuilder,
    plan: &Plan,
) -> aws_sdk_cloudformation::operation::create_change_set::builders::CreateChangeSetFluentBuilder {
    match &plan.template_url {
        Some(url) => request.template_url(url),
        None => request.template_body(&plan.template_body),
    }
}

/// The change set's status and every change in it.
pub async fn describe_change_set(
    client: &Client,
    stack: &str,
    name: &str,
) -> Result<ChangeSetInfo, Error> {
    let mut info: Option<ChangeSetInfo> = None;
    let mut next: Option<String> = None;
    loop {
        let page = client
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(name)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    format!("failed to describe change set {name} of stack {stack}"),
                    &e,
                )
            })?;
        let changes = page.changes().iter().filter_map(ResourceChange::from_sdk);
        match &mut info {
            Some(info) => info.changes.extend(changes),
            None => {
                info = Some(ChangeSetInfo {
                    status: page
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    reason: non_empty(page.status_reason()),
                    execution_status: page
                        .execution_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    changes: changes.collect(),
                })
            }
        }
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            return Ok(info.expect("one page read"));
        }
    }
}

/// Deletes the change set; one that is already gone counts as deleted.
pub async fn delete_change_set(client: &Client, stack: &str, name: &str) -> Result<(), Error> {
    match client
        .delete_change_set()
        .stack_name(stack)
        .change_set_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_change_set_missing(e.code()) => Ok(()),
        Err(e) => Err(aws_error(
            format!("failed to delete change set {name} of stack {stack}"),
            &e,
        )),
    }
}

/// Executes the change set; `token` marks the operation's events and makes a retry idempotent.
pub async fn execute_change_set(
    client: &Client,
    stack: &str,
    name: &str,
    token: &str,
) -> Result<(), Error> {
    client
        .execute_change_set()
        .stack_name(stack)
        .change_set_name(name)
        .client_request_token(token)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("failed to execute change set {name} on stack {stack}"),
                &e,
            )
        })?;
    Ok(())
}

/// Stack events newest first, paging back until `known` says an event was already seen (that
/// event and older ones are left out) or `max_pages` pages were read.
pub async fn events_since(
    client: &Client,
    stack: &str,
    known: impl Fn(&str) -> bool,
    max_pages: usize,
) -> Result<Vec<StackEvent>, Error> {
    let mut events = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..max_pages {
        let page = client
            .describe_stack_events()
            .stack_name(stack)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| aws_error(format!("failed to read the events of stack {stack}"), &e))?;
        for e in page.stack_events() {
            let event_id = e.event_id().unwrap_or_default();
            if known(event_id) {
                return Ok(events);
            }
            events.push(StackEvent {
                event_id: event_id.to_owned(),
                timestamp: time(e.timestamp()).unwrap_or_default(),
                logical_id: e.logical_resource_id().unwrap_or_default().to_owned(),
                resource_type: e.resource_type().unwrap_or_default().to_owned(),
                status: e
                    .resource_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                reason: non_empty(e.resource_status_reason()),
            });
        }
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    Ok(events)
}

/// One resource of a stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackResource {
    /// Its logical id in the template.
    pub logical_id: String,
    /// Its type, such as `AWS::DynamoDB::Table`.
    pub resource_type: String,
    /// Its physical id (a table's name), once it has one.
    pub physical_id: Option<String>,
}

/// Every resource of the stack (ListStackResources, all pages).
pub async fn resources(client: &Client, stack: &str) -> Result<Vec<StackResource>, Error> {
    let mut resources = Vec::new();
    let mut pages = client
        .list_stack_resources()
        .stack_name(stack)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(|e| aws_error(format!("failed to list the resources of stack {stack}"), &e))?;
        resources.extend(
            page.stack_resource_summaries()
                .iter()
                .map(|r| StackResource {
                    logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: r.resource_type().unwrap_or_default().to_owned(),
                    physical_id: r.physical_resource_id().map(str::to_owned),
                }),
        );
    }
    Ok(resources)
}

/// The physical names of the stack's DynamoDB tables (kept when the stack is deleted).
pub async fn list_tables(client: &Client, stack: &str) -> Result<Vec<String>, Error> {
    Ok(resources(client, stack)
        .await?
        .into_iter()
        .filter(|r| r.resource_type == "AWS::DynamoDB::Table")
        .filter_map(|r| r.physical_id)
        .collect())
}

/// The stack policy's body, `None` when the stack has none.
pub async fn stack_policy(client: &Client, stack: &str) -> Result<Option<String>, Error> {
    let answer = client
        .get_stack_policy()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| aws_error(format!("failed to read the stack policy of {stack}"), &e))?;
    Ok(non_empty(answer.stack_policy_body()))
}

/// Replaces the stack policy with `body`.
pub async fn set_stack_policy(client: &Client, stack: &str, body: &str) -> Result<(), Error> {
    client
        .set_stack_policy()
        .stack_name(stack)
        .stack_policy_body(body)
        .send()
        .await
        .map_err(|e| aws_error(format!("failed to set the stack policy of {stack}"), &e))?;
    Ok(())
}

/// Turns termination protection on or off.
pub async fn set_termination_protection(
    client: &Client,
    stack: &str,
    on: bool,
) -> Result<(), Error> {
    client
        .update_termination_protection()
        .stack_name(stack)
        .enable_termination_protection(on)
        .send()
        .await
        .map_err(|e| {
            let what = if on { "turn on" } else { "lift" };
            aws_error(
                format!("failed to {what} termination protection of {stack}"),
                &e,
            )
        })?;
    Ok(())
}

/// Starts deleting the stack; `token` marks the operation's events.
pub async fn delete_stack(client: &Client, stack: &str, token: &str) -> Result<(), Error> {
    client
        .delete_stack()
        .stack_name(stack)
        .client_request_token(token)
        .send()
        .await
        .map_err(|e| aws_error(format!("failed to delete stack {stack}"), &e))?;
    Ok(())
}

/// The template the stack runs (as it was sent: `Original`), `None` when there is no stack.
pub async fn template(client: &Client, stack: &str) -> Result<Option<String>, Error> {
    match client.get_template().stack_name(stack).send().await {
        Ok(answer) => Ok(answer.template_body().map(str::to_owned)),
        Err(e) if is_stack_missing(e.code(), e.message()) => Ok(None),
        Err(e) => Err(aws_error(
            format!("failed to read the template of stack {stack}"),
            &e,
        )),
    }
}

/// Resumes a rollback that failed (`UPDATE_ROLLBACK_FAILED`), leaving `skip` as they are.
pub async fn continue_update_rollback(
    client: &Client,
    stack: &str,
    skip: &[String],
    token: &str,
) -> Result<(), Error> {
    client
        .continue_update_rollback()
        .stack_name(stack)
        .set_resources_to_skip(Some(skip.to_vec()))
        .client_request_token(token)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("failed to continue the rollback of stack {stack}"),
                &e,
            )
        })?;
    Ok(())
}

/// Rolls a stack stuck in `UPDATE_FAILED` back to its last stable template.
pub async fn rollback_stack(client: &Client, stack: &str, token: &str) -> Result<(), Error> {
    client
        .rollback_stack()
        .stack_name(stack)
        .client_request_token(token)
        .send()
        .await
        .map_err(|e| aws_error(format!("failed to roll back stack {stack}"), &e))?;
    Ok(())
}
