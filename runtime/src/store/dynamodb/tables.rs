//! The tables themselves: their names, and creating them from [`schema`] (for
//! `noteapp local --dynamodb-endpoint` and the tests; in AWS the template creates them).

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType as DynamoKeyType, Projection, ProjectionType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};

use super::super::StoreError;
use super::super::schema::{self, KeyType, TableDef};
use super::{build_error, sdk_error};

/// The tables the notes store uses (connections live apart: [`super::DynamoConnections`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreTables {
    /// The Notes table's name.
    pub notes: String,
    /// The Users table's name.
    pub users: String,
    /// The Comments table's name.
    pub comments: String,
}

/// The physical names of the five tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    /// The Notes table's name.
    pub notes: String,
    /// The Users table's name.
    pub users: String,
    /// The Comments table's name.
    pub comments: String,
    /// The Connections table's name.
    pub connections: String,
    /// The Control table's name (rate limits, broadcast progress).
    pub control: String,
}

impl TableNames {
    /// Tables named `{prefix}-notes`, `{prefix}-users`, `{prefix}-comments`,
    /// `{prefix}-connections`, `{prefix}-control`.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            notes: format!("{prefix}-notes"),
            users: format!("{prefix}-users"),
            comments: format!("{prefix}-comments"),
            connections: format!("{prefix}-connections"),
            control: format!("{prefix}-control"),
        }
    }

    /// The three tables of the notes store.
    pub fn store_tables(&self) -> StoreTables {
        StoreTables {
            notes: self.notes.clone(),
            users: self.users.clone(),
            comments: self.comments.clone(),
        }
    }

    /// The physical name of the table `def` declares, or `None` for a table this set does not know.
    pub fn name_of(&self, def: &TableDef) -> Option<&str> {
        match def.logical_id {
            id if id == schema::NOTES.logical_id => Some(&self.notes),
            id if id == schema::USERS.logical_id => Some(&self.users),
            id if id == schema::COMMENTS.logical_id => Some(&self.comments),
            id if id == schema::CONNECTIONS.logical_id => Some(&self.connections),
            id if id == schema::CONTROL.logical_id => Some(&self.control),
            _ => None,
        }
    }
}

/// Creates every table of [`schema::ALL_TABLES`] (on-demand billing, indexes projecting all
/// attributes), waits until they are active and turns on TTL where a table declares it.
/// Idempotent: existing tables and an already enabled TTL are left as they are.
pub async fn create_tables(client: &Client, names: &TableNames) -> Result<(), StoreError> {
    for def in &schema::ALL_TABLES {
        let name = table_name(names, def)?;
        create_table(client, name, def).await?;
    }
    for def in &schema::ALL_TABLES {
        let name = table_name(names, def)?;
        wait_until_active(client, name).await?;
        if let Some(attribute) = def.ttl_attribute {
            enable_ttl(client, name, attribute).await?;
        }
    }
    Ok(())
}

fn table_name<'a>(names: &'a TableNames, def: &TableDef) -> Result<&'a str, StoreError> {
    names
        .name_of(def)
        .ok_or_else(|| StoreError::Backend(format!("no table name for {}", def.logical_id)))
}

fn key_element(name: &str, key_type: DynamoKeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| build_error("key schema", e))
}

async fn create_table(client: &Client, name: &str, def: &TableDef) -> Result<(), StoreError> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_element(def.hash_key, DynamoKeyType::Hash)?);
    if let Some(range) = def.range_key {
        request = request.key_schema(key_element(range, DynamoKeyType::Range)?);
    }
    for (attribute, key_type) in def.key_attributes {
        let scalar = match key_type {
            KeyType::S => ScalarAttributeType::S,
            KeyType::N => ScalarAttributeType::N,
        };
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(*attribute)
                .attribute_type(scalar)
                .build()
                .map_err(|e| build_error("attribute definition", e))?,
        );
    }
    for index in def.indexes {
        let projection = match index.projection {
            schema::Projection::KeysOnly => Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
            schema::Projection::Include(attributes) => Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(attributes.iter().map(|a| (*a).to_owned()).collect()))
                .build(),
        };
        let mut gsi = GlobalSecondaryIndex::builder()
            .index_name(index.name)
            .key_schema(key_element(index.hash_key, DynamoKeyType::Hash)?)
            .projection(projection);
        if let Some(range) = index.range_key {
            gsi = gsi.key_schema(key_element(range, DynamoKeyType::Range)?);
        }
        request = request.global_secondary_indexes(
            gsi.build()
                .map_err(|e| build_error("index definition", e))?,
        );
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(err) => Err(sdk_error(&format!("create table {name}"), err)),
    }
}

async fn wait_until_active(client: &Client, name: &str) -> Result<(), StoreError> {
    const POLL: Duration = Duration::from_millis(250);
    const ATTEMPTS: u32 = 480; // two minutes
    for _ in 0..ATTEMPTS {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("describe table {name}"), e))?;
        let status = out.table().and_then(|t| t.table_status());
        if status == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
    Err(StoreError::Backend(format!(
        "table {name} did not become active within two minutes"
    )))
}

async fn enable_ttl(client: &Client, name: &str, attribute: &str) -> Result<(), StoreError> {
    let current = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("describe time to live of {name}"), e))?;
    let status = current
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status());
    if matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ) {
        return Ok(());
    }
    let spec = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(attribute)
        .build()
        .map_err(|e| build_error("time to live specification", e))?;
    match client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(spec)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // Enabled by a concurrent caller since we looked.
        Err(err)
            if err
                .message()
                .is_some_and(|m| m.to_ascii_lowercase().contains("already enabled")) =>
        {
            Ok(())
        }
        Err(err) => Err(sdk_error(&format!("enable time to live on {name}"), err)),
    }
}
