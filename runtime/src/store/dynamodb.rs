//! DynamoDB implementation of [`super::Store`], for AWS and for any DynamoDB API (`moto_server`).
//!
//! Every rule that two concurrent requests could race on lives in a condition expression of the
//! write itself: a note is updated with `UpdateItem` touching only the attributes that change, under
//! `attribute_exists(id) AND owner_uid = :owner`, so a PATCH never overwrites a concurrent PATCH of
//! another field and never brings a deleted note back; a comment is written in one transaction with
//! a condition check on its note. Public notes alone carry `public_feed`, which makes the public
//! index sparse. Lists use offset pagination that stays correct past DynamoDB's 1 MB result pages:
//! every query loops on `LastEvaluatedKey`, the skipped prefix is only counted (`Select::Count`),
//! and the total comes from a counting query. Table definitions come from [`super::schema`].

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, DeleteRequest,
    GlobalSecondaryIndex, KeySchemaElement, KeyType as DynamoKeyType, Projection, ProjectionType,
    Put, ReturnValue, ScalarAttributeType, Select, TableStatus, TimeToLiveSpecification,
    TimeToLiveStatus, TransactWriteItem, WriteRequest,
};
use uuid::Uuid;

use super::schema::{self, KeyType, TableDef};
use super::{CommentGate, EnsuredUser, NoteChange, Store, StoreError};
use crate::domain::{Comment, Note, Page, PageRequest, ProfileEdit, Timestamp, UserProfile};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// The physical names of the four tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub notes: String,
    pub users: String,
    pub comments: String,
    pub connections: String,
}

impl TableNames {
    /// Tables named `{prefix}-notes`, `{prefix}-users`, `{prefix}-comments`, `{prefix}-connections`.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            notes: format!("{prefix}-notes"),
            users: format!("{prefix}-users"),
            comments: format!("{prefix}-comments"),
            connections: format!("{prefix}-connections"),
        }
    }

    /// The physical name of the table `def` declares, or `None` for a table this set does not know.
    pub fn name_of(&self, def: &TableDef) -> Option<&str> {
        match def.logical_id {
            id if id == schema::NOTES.logical_id => Some(&self.notes),
            id if id == schema::USERS.logical_id => Some(&self.users),
            id if id == schema::COMMENTS.logical_id => Some(&self.comments),
            id if id == schema::CONNECTIONS.logical_id => Some(&self.connections),
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

fn build_error(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("cannot build {what}: {err}"))
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
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key_element(index.hash_key, DynamoKeyType::Hash)?)
                .key_schema(key_element(index.range_key, DynamoKeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
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

/// Maps an SDK failure: throttling codes to [`StoreError::Throttled`], the rest to
/// [`StoreError::Backend`] with the full error chain.
pub(crate) fn sdk_error<E, R>(context: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.code().map(str::to_owned);
    classify(
        code.as_deref(),
        format!("{context}: {}", DisplayErrorContext(&err)),
    )
}

fn classify(code: Option<&str>, message: String) -> StoreError {
    match code {
        Some(
            "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded",
        ) => StoreError::Throttled(message),
        _ => StoreError::Backend(message),
    }
}

// ---------------------------------------------------------------------------------------------
// Items
// ---------------------------------------------------------------------------------------------

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// Reads typed attributes out of an item, naming the item kind and attribute on failure.
struct Fields<'a> {
    item: &'a Item,
    kind: &'static str,
}

impl Fields<'_> {
    fn malformed(&self, attribute: &str, problem: &str) -> StoreError {
        StoreError::Backend(format!(
            "malformed {} item: attribute `{attribute}` {problem}",
            self.kind
        ))
    }

    fn opt_string(&self, attribute: &str) -> Result<Option<String>, StoreError> {
        match self.item.get(attribute) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(value)) => Ok(Some(value.clone())),
            Some(_) => Err(self.malformed(attribute, "is not a string")),
        }
    }

    fn string(&self, attribute: &str) -> Result<String, StoreError> {
        self.opt_string(attribute)?
            .ok_or_else(|| self.malformed(attribute, "is missing"))
    }

    fn uuid(&self, attribute: &str) -> Result<Uuid, StoreError> {
        Uuid::parse_str(&self.string(attribute)?)
            .map_err(|_| self.malformed(attribute, "is not a uuid"))
    }

    fn boolean(&self, attribute: &str) -> Result<bool, StoreError> {
        match self.item.get(attribute) {
            Some(AttributeValue::Bool(value)) => Ok(*value),
            None => Err(self.malformed(attribute, "is missing")),
            Some(_) => Err(self.malformed(attribute, "is not a boolean")),
        }
    }
}

/// A note as a Notes item: optional fields absent when `None`; `published_at` and `public_feed`
/// only on public notes (which is what keeps the public index sparse).
pub fn note_item(note: &Note) -> Item {
    let mut item = Item::from([
        ("id".to_owned(), s(note.id.to_string())),
        ("owner_uid".to_owned(), s(&note.owner_uid)),
        ("content".to_owned(), s(&note.content)),
        ("author_name".to_owned(), s(&note.author_name)),
        ("created_at".to_owned(), s(&note.created_at)),
        ("updated_at".to_owned(), s(&note.updated_at)),
    ]);
    if let Some(title) = &note.title {
        item.insert("title".to_owned(), s(title));
    }
    if let Some(url) = &note.author_avatar_url {
        item.insert("author_avatar_url".to_owned(), s(url));
    }
    if let Some(published_at) = &note.published_at {
        item.insert("published_at".to_owned(), s(published_at));
        item.insert("public_feed".to_owned(), s(schema::PUBLIC_FEED));
    }
    item
}

/// Reads a Notes item; a missing or mistyped attribute is a [`StoreError::Backend`] naming it.
pub fn note_from_item(item: &Item) -> Result<Note, StoreError> {
    let f = Fields { item, kind: "note" };
    Ok(Note {
        id: f.uuid("id")?,
        owner_uid: f.string("owner_uid")?,
        title: f.opt_string("title")?,
        content: f.string("content")?,
        author_name: f.string("author_name")?,
        author_avatar_url: f.opt_string("author_avatar_url")?,
        created_at: f.string("created_at")?,
        updated_at: f.string("updated_at")?,
        published_at: f.opt_string("published_at")?,
    })
}

fn user_item(user: &UserProfile) -> Item {
    let mut item = Item::from([
        ("uid".to_owned(), s(&user.uid)),
        ("display_name".to_owned(), s(&user.display_name)),
        (
            "is_anonymous".to_owned(),
            AttributeValue::Bool(user.is_anonymous),
        ),
        ("created_at".to_owned(), s(&user.created_at)),
        ("updated_at".to_owned(), s(&user.updated_at)),
    ]);
    if let Some(email) = &user.email {
        item.insert("email".to_owned(), s(email));
    }
    if let Some(url) = &user.avatar_url {
        item.insert("avatar_url".to_owned(), s(url));
    }
    item
}

fn user_from_item(item: &Item) -> Result<UserProfile, StoreError> {
    let f = Fields { item, kind: "user" };
    Ok(UserProfile {
        uid: f.string("uid")?,
        display_name: f.string("display_name")?,
        email: f.opt_string("email")?,
        avatar_url: f.opt_string("avatar_url")?,
        is_anonymous: f.boolean("is_anonymous")?,
        created_at: f.string("created_at")?,
        updated_at: f.string("updated_at")?,
    })
}

fn comment_key(comment: &Comment) -> String {
    format!("{}#{}", comment.created_at, comment.id)
}

fn comment_item(comment: &Comment) -> Item {
    Item::from([
        ("note_id".to_owned(), s(comment.note_id.to_string())),
        ("comment_key".to_owned(), s(comment_key(comment))),
        ("id".to_owned(), s(comment.id.to_string())),
        ("author_uid".to_owned(), s(&comment.author_uid)),
        ("username".to_owned(), s(&comment.username)),
        ("content".to_owned(), s(&comment.content)),
        ("created_at".to_owned(), s(&comment.created_at)),
        ("updated_at".to_owned(), s(&comment.updated_at)),
    ])
}

fn comment_from_item(item: &Item) -> Result<Comment, StoreError> {
    let f = Fields {
        item,
        kind: "comment",
    };
    Ok(Comment {
        id: f.uuid("id")?,
        note_id: f.uuid("note_id")?,
        author_uid: f.string("author_uid")?,
        username: f.string("username")?,
        content: f.string("content")?,
        created_at: f.string("created_at")?,
        updated_at: f.string("updated_at")?,
    })
}

/// An update expression under construction: `SET` and `REMOVE` clauses with their names and values.
#[derive(Default)]
struct Update {
    set: Vec<String>,
    remove: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Update {
    fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#{attribute}");
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    fn value(&mut self, key: &str, value: AttributeValue) -> String {
        let placeholder = format!(":{key}");
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// `SET attribute = value`.
    fn set(&mut self, attribute: &str, value: AttributeValue) {
        let name = self.name(attribute);
        let value = self.value(attribute, value);
        self.set.push(format!("{name} = {value}"));
    }

    /// `SET attribute = if_not_exists(attribute, value)`: only fills a missing attribute.
    fn set_default(&mut self, attribute: &str, value: AttributeValue) {
        let name = self.name(attribute);
        let value = self.value(&format!("default_{attribute}"), value);
        self.set
            .push(format!("{name} = if_not_exists({name}, {value})"));
    }

    fn remove(&mut self, attribute: &str) {
        let name = self.name(attribute);
        self.remove.push(name);
    }

    fn expression(&self) -> String {
        let mut clauses = Vec::new();
        if !self.set.is_empty() {
            clauses.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.remove.is_empty() {
            clauses.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        clauses.join(" ")
    }
}

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

/// The most items one `BatchWriteItem` call accepts.
const BATCH_WRITE_MAX: usize = 25;
/// Attempts for writes DynamoDB leaves unprocessed or cancels on a transaction conflict.
const WRITE_ATTEMPTS: u32 = 8;

/// A list query: one partition of a table or index, in one direction.
struct ListQuery<'a> {
    table: &'a str,
    index: Option<&'static str>,
    key_condition: &'static str,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    forward: bool,
    /// Strongly consistent reads (base tables only).
    consistent: bool,
}

/// The DynamoDB store. Cheap to clone (the SDK client is shared).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
    query_page_size: Option<u32>,
}

impl DynamoStore {
    /// A store over the tables `tables` names, through `client`.
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self {
            client,
            tables,
            query_page_size: None,
        }
    }

    /// Caps every query page at `items` (at least 1), on top of DynamoDB's own 1 MB limit.
    /// Tests use small pages to exercise the `LastEvaluatedKey` loops on small data sets.
    pub fn with_query_page_size(mut self, items: u32) -> Self {
        self.query_page_size = Some(items.max(1));
        self
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table names.
    pub fn tables(&self) -> &TableNames {
        &self.tables
    }

    /// The `Limit` for a query page that needs `wanted` more items.
    fn page_limit(&self, wanted: usize) -> i32 {
        let capped = match self.query_page_size {
            Some(cap) => wanted.min(cap as usize),
            None => wanted,
        };
        i32::try_from(capped.max(1)).unwrap_or(i32::MAX)
    }

    fn query(&self, q: &ListQuery<'_>) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(q.table)
            .set_index_name(q.index.map(str::to_owned))
            .key_condition_expression(q.key_condition)
            .set_expression_attribute_names(Some(q.names.clone()))
            .set_expression_attribute_values(Some(q.values.clone()))
            .scan_index_forward(q.forward)
            .consistent_read(q.consistent)
    }

    /// Counts the items of the query that come after `start` (all of them for `None`),
    /// following `LastEvaluatedKey` page by page.
    async fn count_from(
        &self,
        q: &ListQuery<'_>,
        mut start: Option<Item>,
    ) -> Result<u64, StoreError> {
        let mut total = 0u64;
        loop {
            let mut request = self
                .query(q)
                .select(Select::Count)
                .set_exclusive_start_key(start.take());
            if let Some(cap) = self.query_page_size {
                request = request.limit(self.page_limit(cap as usize));
            }
            let out = request
                .send()
                .await
                .map_err(|e| sdk_error(&format!("count items of {}", q.table), e))?;
            total += u64::try_from(out.count()).unwrap_or(0);
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(total),
            }
        }
    }

    /// One page of the query and the total number of items, in one pass over the partition:
    /// the `offset` items before the page are only counted (`Select::Count`, no item data comes
    /// back), the page's items are read, and the items after it are counted. Each step follows
    /// `LastEvaluatedKey`, so DynamoDB's 1 MB result pages never cut a step short, and no item
    /// is read twice.
    async fn list<T>(
        &self,
        q: ListQuery<'_>,
        page: PageRequest,
        parse: fn(&Item) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let offset = page.offset() as u64;
        let limit = page.limit as usize;
        let mut start: Option<Item> = None;

        let mut before = 0u64;
        while before < offset {
            let wanted = usize::try_from(offset - before).unwrap_or(usize::MAX);
            let out = self
                .query(&q)
                .select(Select::Count)
                .limit(self.page_limit(wanted))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(&format!("skip items of {}", q.table), e))?;
            before += u64::try_from(out.count()).unwrap_or(0);
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                // The list ends before (or exactly at) the page's first item.
                _ => {
                    return Ok(Page {
                        items: Vec::new(),
                        total: before,
                    });
                }
            }
        }

        let mut raw: Vec<Item> = Vec::with_capacity(limit);
        let mut more = true;
        while more && raw.len() < limit {
            let out = self
                .query(&q)
                .limit(self.page_limit(limit - raw.len()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(&format!("query {}", q.table), e))?;
            raw.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => more = false,
            }
        }
        // `Limit` never lets a page return more than asked; this only guards the arithmetic.
        let after_page = if raw.len() > limit {
            raw.drain(limit..).count() as u64
        } else {
            0
        };
        let after = if more {
            self.count_from(&q, start).await?
        } else {
            0
        };
        let items = raw.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
        let total = before + items.len() as u64 + after_page + after;
        Ok(Page { items, total })
    }

    /// Deletes every comment of `note_id` (after the note itself is gone).
    async fn delete_comments(&self, note_id: Uuid) -> Result<usize, StoreError> {
        let table = self.tables.comments.as_str();
        let mut deleted = 0;
        let mut start: Option<Item> = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(table)
                .key_condition_expression("#note = :note")
                .expression_attribute_names("#note", "note_id")
                .expression_attribute_names("#key", "comment_key")
                .expression_attribute_values(":note", s(note_id.to_string()))
                .projection_expression("#note, #key")
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            if let Some(cap) = self.query_page_size {
                request = request.limit(self.page_limit(cap as usize));
            }
            let out = request
                .send()
                .await
                .map_err(|e| sdk_error("list comments to delete", e))?;
            let keys = out.items.unwrap_or_default();
            for chunk in keys.chunks(BATCH_WRITE_MAX) {
                let requests = chunk
                    .iter()
                    .map(|key| {
                        DeleteRequest::builder()
                            .set_key(Some(key.clone()))
                            .build()
                            .map(|delete| WriteRequest::builder().delete_request(delete).build())
                            .map_err(|e| build_error("delete request", e))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.batch_write(table, requests).await?;
                deleted += chunk.len();
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(deleted),
            }
        }
    }

    /// One `BatchWriteItem` of at most 25 requests, resending unprocessed items with backoff.
    async fn batch_write(
        &self,
        table: &str,
        mut requests: Vec<WriteRequest>,
    ) -> Result<(), StoreError> {
        let mut delay = Duration::from_millis(25);
        for attempt in 1..=WRITE_ATTEMPTS {
            let out = self
                .client
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .map_err(|e| sdk_error(&format!("batch write to {table}"), e))?;
            requests = out
                .unprocessed_items
                .and_then(|mut unprocessed| unprocessed.remove(table))
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
            if attempt < WRITE_ATTEMPTS {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
        Err(StoreError::Throttled(format!(
            "batch write to {table}: {} items still unprocessed after {WRITE_ATTEMPTS} attempts",
            requests.len()
        )))
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_note(&self, note: &Note) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.notes)
            .set_item(Some(note_item(note)))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", "id")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::AlreadyExists)
            }
            Err(err) => Err(sdk_error("create note", err)),
        }
    }

    async fn get_note(&self, id: Uuid) -> Result<Option<Note>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.notes)
            .key("id", s(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get note", e))?;
        out.item.as_ref().map(note_from_item).transpose()
    }

    async fn update_note(
        &self,
        id: Uuid,
        owner: &str,
        change: &NoteChange,
        now: &Timestamp,
    ) -> Result<Note, StoreError> {
        let mut update = Update::default();
        match change {
            NoteChange::Edit(edit) => {
                match &edit.title {
                    Some(Some(title)) => update.set("title", s(title)),
                    Some(None) => update.remove("title"),
                    None => {}
                }
                if let Some(content) = &edit.content {
                    update.set("content", s(content));
                }
            }
            NoteChange::Publish => {
                update.set("public_feed", s(schema::PUBLIC_FEED));
                update.set("published_at", s(now));
            }
            NoteChange::Unpublish => {
                update.remove("public_feed");
                update.remove("published_at");
            }
        }
        update.set("updated_at", s(now));
        let id_name = update.name("id");
        let owner_name = update.name("owner_uid");
        let owner_value = update.value("owner", s(owner));
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.notes)
            .key("id", s(id.to_string()))
            .update_expression(update.expression())
            .condition_expression(format!(
                "attribute_exists({id_name}) AND {owner_name} = {owner_value}"
            ))
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => match out.attributes {
                Some(item) => note_from_item(&item),
                None => Err(StoreError::Backend(
                    "update note returned no attributes".into(),
                )),
            },
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::NotFound)
            }
            Err(err) => Err(sdk_error("update note", err)),
        }
    }

    async fn delete_note(&self, id: Uuid, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.notes)
            .key("id", s(id.to_string()))
            .condition_expression("attribute_exists(#id) AND #owner = :owner")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#owner", "owner_uid")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                return Err(StoreError::NotFound);
            }
            Err(err) => return Err(sdk_error("delete note", err)),
        }
        // The note is gone, so no comment can be added any more (each comment's transaction
        // checks the note); a consistent query therefore sees every comment there will be.
        // Leftovers after a failure here are unreachable (comment routes read the note first),
        // so the delete still succeeds and the failure is logged.
        if let Err(err) = self.delete_comments(id).await {
            tracing::error!(note_id = %id, error = %err, "note deleted but its comments were not");
        }
        Ok(())
    }

    async fn list_public_notes(&self, page: PageRequest) -> Result<Page<Note>, StoreError> {
        let q = ListQuery {
            table: &self.tables.notes,
            index: Some(schema::PUBLIC_INDEX),
            key_condition: "#feed = :feed",
            names: HashMap::from([("#feed".to_owned(), "public_feed".to_owned())]),
            values: HashMap::from([(":feed".to_owned(), s(schema::PUBLIC_FEED))]),
            forward: false,
            consistent: false,
        };
        self.list(q, page, note_from_item).await
    }

    async fn list_owner_notes(
        &self,
        owner: &str,
        page: PageRequest,
    ) -> Result<Page<Note>, StoreError> {
        let q = ListQuery {
            table: &self.tables.notes,
            index: Some(schema::OWNER_INDEX),
            key_condition: "#owner = :owner",
            names: HashMap::from([("#owner".to_owned(), "owner_uid".to_owned())]),
            values: HashMap::from([(":owner".to_owned(), s(owner))]),
            forward: false,
            consistent: false,
        };
        self.list(q, page, note_from_item).await
    }

    async fn get_user(&self, uid: &str) -> Result<Option<UserProfile>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.users)
            .key("uid", s(uid))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get user", e))?;
        out.item.as_ref().map(user_from_item).transpose()
    }

    async fn ensure_user(&self, initial: &UserProfile) -> Result<EnsuredUser, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.users)
            .set_item(Some(user_item(initial)))
            .condition_expression("attribute_not_exists(#uid)")
            .expression_attribute_names("#uid", "uid")
            .send()
            .await;
        match result {
            Ok(_) => Ok(EnsuredUser {
                profile: initial.clone(),
                created: true,
            }),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                match self.get_user(&initial.uid).await? {
                    Some(profile) => Ok(EnsuredUser {
                        profile,
                        created: false,
                    }),
                    None => Err(StoreError::Backend(
                        "user exists but could not be read back".into(),
                    )),
                }
            }
            Err(err) => Err(sdk_error("create user", err)),
        }
    }

    async fn update_user(
        &self,
        defaults: &UserProfile,
        edit: &ProfileEdit,
        is_anonymous: Option<bool>,
        now: &Timestamp,
    ) -> Result<UserProfile, StoreError> {
        let mut update = Update::default();
        match &edit.display_name {
            Some(name) => update.set("display_name", s(name)),
            None => update.set_default("display_name", s(&defaults.display_name)),
        }
        for (attribute, edited, default) in [
            ("email", &edit.email, &defaults.email),
            ("avatar_url", &edit.avatar_url, &defaults.avatar_url),
        ] {
            match (edited, default) {
                (Some(Some(value)), _) => update.set(attribute, s(value)),
                (Some(None), _) => update.remove(attribute),
                (None, Some(value)) => update.set_default(attribute, s(value)),
                (None, None) => {}
            }
        }
        match is_anonymous {
            Some(flag) => update.set("is_anonymous", AttributeValue::Bool(flag)),
            None => update.set_default("is_anonymous", AttributeValue::Bool(defaults.is_anonymous)),
        }
        update.set_default("created_at", s(&defaults.created_at));
        update.set("updated_at", s(now));
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .key("uid", s(&defaults.uid))
            .update_expression(update.expression())
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| sdk_error("update user", e))?;
        match out.attributes {
            Some(item) => user_from_item(&item),
            None => Err(StoreError::Backend(
                "update user returned no attributes".into(),
            )),
        }
    }

    async fn add_comment(&self, comment: &Comment, gate: &CommentGate) -> Result<(), StoreError> {
        let mut check = ConditionCheck::builder()
            .table_name(&self.tables.notes)
            .key("id", s(comment.note_id.to_string()));
        check = match gate {
            CommentGate::Public => check
                .condition_expression("attribute_exists(#feed)")
                .expression_attribute_names("#feed", "public_feed"),
            CommentGate::Owner(owner) => check
                .condition_expression("#owner = :owner")
                .expression_attribute_names("#owner", "owner_uid")
                .expression_attribute_values(":owner", s(owner)),
        };
        let check = check
            .build()
            .map_err(|e| build_error("comment condition check", e))?;
        let put = Put::builder()
            .table_name(&self.tables.comments)
            .set_item(Some(comment_item(comment)))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", "comment_key")
            .build()
            .map_err(|e| build_error("comment put", e))?;
        let items = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().put(put).build(),
        ];

        let mut delay = Duration::from_millis(20);
        for attempt in 1..=WRITE_ATTEMPTS {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let Some(cancelled) = err.as_service_error().and_then(|e| match e {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => Some(cancelled),
                _ => None,
            }) else {
                return Err(sdk_error("add comment", err));
            };
            let reasons: Vec<Option<&str>> = cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code())
                .collect();
            match reasons.as_slice() {
                [Some("ConditionalCheckFailed"), ..] => return Err(StoreError::NotFound),
                [_, Some("ConditionalCheckFailed")] => return Err(StoreError::AlreadyExists),
                // A concurrent write to the note (a PATCH, say): try again shortly.
                r if r.contains(&Some("TransactionConflict")) && attempt < WRITE_ATTEMPTS => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
                r if r.iter().any(|code| {
                    matches!(
                        code,
                        Some(
                            "TransactionConflict"
                                | "ThrottlingError"
                                | "ProvisionedThroughputExceeded"
                        )
                    )
                }) =>
                {
                    return Err(StoreError::Throttled(format!(
                        "add comment: transaction cancelled: {reasons:?}"
                    )));
                }
                _ => return Err(sdk_error("add comment", err)),
            }
        }
        Err(StoreError::Throttled(
            "add comment: transaction kept conflicting".into(),
        ))
    }

    async fn list_comments(
        &self,
        note_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<Comment>, StoreError> {
        let q = ListQuery {
            table: &self.tables.comments,
            index: None,
            key_condition: "#note = :note",
            names: HashMap::from([("#note".to_owned(), "note_id".to_owned())]),
            values: HashMap::from([(":note".to_owned(), s(note_id.to_string()))]),
            forward: true,
            consistent: true,
        };
        self.list(q, page, comment_from_item).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_codes_map_to_throttled_and_the_rest_to_backend() {
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
        ] {
            assert!(matches!(
                classify(Some(code), "x".into()),
                StoreError::Throttled(_)
            ));
        }
        assert!(matches!(
            classify(Some("ResourceNotFoundException"), "x".into()),
            StoreError::Backend(_)
        ));
        assert!(matches!(classify(None, "x".into()), StoreError::Backend(_)));
    }

    #[test]
    fn a_note_round_trips_and_only_public_notes_carry_the_feed_key() {
        let mut note = Note {
            id: Uuid::new_v4(),
            owner_uid: "alice".into(),
            title: None,
            content: "c".into(),
            author_name: "Alice".into(),
            author_avatar_url: None,
            created_at: "2026-01-01T00:00:00.000000Z".into(),
            updated_at: "2026-01-01T00:00:00.000000Z".into(),
            published_at: None,
        };
        let item = note_item(&note);
        assert!(!item.contains_key("public_feed") && !item.contains_key("title"));
        assert_eq!(note_from_item(&item).unwrap(), note);

        note.published_at = Some("2026-01-02T00:00:00.000000Z".into());
        note.title = Some("t".into());
        let item = note_item(&note);
        assert_eq!(item["public_feed"], s(schema::PUBLIC_FEED));
        assert_eq!(note_from_item(&item).unwrap(), note);
    }

    #[test]
    fn a_malformed_item_names_the_attribute() {
        let mut item = note_item(&Note {
            id: Uuid::new_v4(),
            owner_uid: "alice".into(),
            title: None,
            content: "c".into(),
            author_name: "Alice".into(),
            author_avatar_url: None,
            created_at: "t".into(),
            updated_at: "t".into(),
            published_at: None,
        });
        item.remove("content");
        let err = note_from_item(&item).unwrap_err().to_string();
        assert!(
            err.contains("`content`") && err.contains("missing"),
            "{err}"
        );
        item.insert("content".into(), AttributeValue::N("1".into()));
        let err = note_from_item(&item).unwrap_err().to_string();
        assert!(
            err.contains("`content`") && err.contains("not a string"),
            "{err}"
        );
    }

    #[test]
    fn update_expressions_combine_set_and_remove() {
        let mut update = Update::default();
        update.set("title", s("t"));
        update.remove("published_at");
        update.set_default("created_at", s("c"));
        assert_eq!(
            update.expression(),
            "SET #title = :title, #created_at = if_not_exists(#created_at, :default_created_at) \
             REMOVE #published_at"
        );
    }
}
