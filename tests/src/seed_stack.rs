//! The seed's deployment on moto, for the migration's tests and benchmark: a CloudFormation
//! stack named as the seed's `samconfig.toml` names it, holding its three tables exactly as its
//! SAM template defines them, and items written in exactly the shape the seed backend writes.
//!
//! The seed backend writes through boto3's resource API: Python strings are `S`, booleans
//! `BOOL`, `None` is `NULL`; times are `datetime.isoformat()` of an aware UTC time
//! (`2025-01-15T10:30:00.123456+00:00`, without the fraction when the microseconds are 0).
//! Notes: `id, title, content, author_id, author_name, author_avatar_url` (`""` when none),
//! `created_at, updated_at, owner_uid, is_public` (`"true"`/`"false"`) and, on public notes,
//! `published_at`. Users: `uid, displayName, email, avatarUrl, isAnonymous, createdAt,
//! updatedAt`.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveSpecification};
use noteapp_runtime::store::dynamodb::Item;
use noteapp_test_support::moto::MotoServer;

/// The seed's staging stack name (`samconfig.toml`).
pub const STACK: &str = "next-fastapi-note-app-staging";
/// The seed's region (`samconfig.toml`), also noteapp's development environment's.
pub const REGION: &str = "ap-northeast-1";

/// The seed's three tables, as its SAM template (`infrastructure/aws-sam/template.yml`)
/// declares them: on-demand, the Notes GSIs projecting everything, the connections table named
/// after the stack with a TTL on `ttl`.
pub const TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Description: The seed's tables, as its SAM template defines them
Resources:
  NotesTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - AttributeName: id
          AttributeType: S
        - AttributeName: owner_uid
          AttributeType: S
        - AttributeName: created_at
          AttributeType: S
        - AttributeName: is_public
          AttributeType: S
        - AttributeName: published_at
          AttributeType: S
      KeySchema:
        - AttributeName: id
          KeyType: HASH
      GlobalSecondaryIndexes:
        - IndexName: OwnerIndex
          KeySchema:
            - AttributeName: owner_uid
              KeyType: HASH
            - AttributeName: created_at
              KeyType: RANGE
          Projection:
            ProjectionType: ALL
        - IndexName: PublicNotesIndex
          KeySchema:
            - AttributeName: is_public
              KeyType: HASH
            - AttributeName: published_at
              KeyType: RANGE
          Projection:
            ProjectionType: ALL
  UsersTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - AttributeName: uid
          AttributeType: S
      KeySchema:
        - AttributeName: uid
          KeyType: HASH
  WebSocketConnectionsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub ${AWS::StackName}-websocket-connections
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - AttributeName: connectionId
          AttributeType: S
      KeySchema:
        - AttributeName: connectionId
          KeyType: HASH
      TimeToLiveSpecification:
        AttributeName: ttl
        Enabled: true
"#;

/// The seed's tables on one moto server, and clients in the seed's region.
pub struct SeedStack {
    /// The notes table's physical name (`NotesTable` in the stack).
    pub notes: String,
    /// The users table's physical name (`UsersTable`).
    pub users: String,
    /// The WebSocket connections table's physical name (`WebSocketConnectionsTable`).
    pub connections: String,
    /// A DynamoDB client on the moto server, in [`REGION`].
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// A CloudFormation client on the moto server, in [`REGION`].
    pub cloudformation: aws_sdk_cloudformation::Client,
}

fn sdk_config(moto: &MotoServer) -> aws_config::SdkConfig {
    noteapp_runtime::aws_http::install_crypto();
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .http_client(noteapp_runtime::aws_http::sdk_http_client(
            noteapp_runtime::aws_http::Roots::Nothing,
        ))
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "seed"),
        ))
        .endpoint_url(moto.endpoint())
        .build()
}

/// A DynamoDB client in the seed's region on `moto`, every response read by `meter`.
pub fn dynamodb_client(
    moto: &MotoServer,
    meter: Option<&crate::meter::Meter>,
) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::config::Builder::from(&sdk_config(moto));
    if let Some(meter) = meter {
        config = config.interceptor(meter.clone());
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

/// Creates the seed's stack on `moto` (CloudFormation) and waits for it.
pub async fn create(moto: &MotoServer) -> SeedStack {
    let config = sdk_config(moto);
    let cloudformation = aws_sdk_cloudformation::Client::new(&config);
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    cloudformation
        .create_stack()
        .stack_name(STACK)
        .template_body(TEMPLATE)
        .send()
        .await
        .expect("create the seed's stack");
    for _ in 0..100 {
        let out = cloudformation
            .describe_stacks()
            .stack_name(STACK)
            .send()
            .await
            .expect("describe the seed's stack");
        let status = out.stacks()[0]
            .stack_status()
            .map(|s| s.as_str().to_owned());
        if status.as_deref() == Some("CREATE_COMPLETE") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resources = cloudformation
        .list_stack_resources()
        .stack_name(STACK)
        .send()
        .await
        .expect("the seed stack's resources");
    let physical = |logical: &str| {
        resources
            .stack_resource_summaries()
            .iter()
            .find(|r| r.logical_resource_id() == Some(logical))
            .and_then(|r| r.physical_resource_id())
            .unwrap_or_else(|| panic!("no {logical} in the seed's stack"))
            .to_owned()
    };
    let stack = SeedStack {
        notes: physical("NotesTable"),
        users: physical("UsersTable"),
        connections: physical("WebSocketConnectionsTable"),
        dynamodb,
        cloudformation,
    };
    // moto's CloudFormation drops TimeToLiveSpecification; AWS applies it: do it here.
    stack
        .dynamodb
        .update_time_to_live()
        .table_name(&stack.connections)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("the connections table's TTL");
    stack
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// `datetime.isoformat()` of an aware UTC time `seconds` (and `micros`) after a fixed start.
pub fn iso(seconds: i64, micros: u32) -> String {
    let at =
        chrono::DateTime::from_timestamp(1_736_900_000 + seconds, micros * 1000).expect("time");
    let text = if micros == 0 {
        at.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    };
    format!("{text}+00:00")
}

/// A note as the seed backend's `put_item` writes it (`published_at` on public notes only).
pub fn note(id: &str, owner: &str, n: i64, public: bool) -> Item {
    let mut item = Item::from([
        ("id".to_owned(), s(id)),
        ("title".to_owned(), s(&format!("Note {n} of {owner}"))),
        (
            "content".to_owned(),
            s(&format!(
                "Line one of note {n}.\nLine two, with “quotes” and ü."
            )),
        ),
        ("author_id".to_owned(), s(owner)),
        (
            "author_name".to_owned(),
            s(&format!(
                "User {}",
                owner.chars().take(8).collect::<String>()
            )),
        ),
        ("author_avatar_url".to_owned(), s("")),
        (
            "created_at".to_owned(),
            s(&iso(n * 60, (n as u32 * 7919) % 1_000_000)),
        ),
        ("updated_at".to_owned(), s(&iso(n * 60 + 30, 0))),
        ("owner_uid".to_owned(), s(owner)),
        (
            "is_public".to_owned(),
            s(if public { "true" } else { "false" }),
        ),
    ]);
    if public {
        item.insert("published_at".into(), s(&iso(n * 60 + 45, 123_456)));
    }
    item
}

/// A profile as the seed backend writes it: regular users with their email, anonymous ones
/// as "Guest" with `null` email and avatar.
pub fn user(uid: &str, anonymous: bool, n: i64) -> Item {
    let (name, email) = if anonymous {
        (s("Guest"), AttributeValue::Null(true))
    } else {
        (s(&format!("User {uid}")), s(&format!("{uid}@example.com")))
    };
    Item::from([
        ("uid".to_owned(), s(uid)),
        ("displayName".to_owned(), name),
        ("email".to_owned(), email),
        ("avatarUrl".to_owned(), AttributeValue::Null(true)),
        ("isAnonymous".to_owned(), AttributeValue::Bool(anonymous)),
        ("createdAt".to_owned(), s(&iso(n, 250_000))),
        ("updatedAt".to_owned(), s(&iso(n + 5, 0))),
    ])
}

/// Puts `items` into `table` one by one, as the seed backend does.
pub async fn put(client: &aws_sdk_dynamodb::Client, table: &str, items: &[Item]) {
    for item in items {
        client
            .put_item()
            .table_name(table)
            .set_item(Some(item.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put into {table}: {e:?}"));
    }
}

/// A deterministic id: the `n`-th note's UUID.
pub fn note_id(n: u32) -> String {
    format!("5eed0000-0000-4000-8000-{n:012x}")
}

/// Every item of `table`, each as attribute → value, sorted by key attribute(s): what two
/// tables are compared by.
pub async fn dump(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<BTreeMap<String, String>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap_or_else(|e| panic!("scan {table}: {e:?}"));
        items.extend(out.items().iter().map(|item| {
            item.iter()
                .map(|(k, v)| (k.clone(), format!("{v:?}")))
                .collect::<BTreeMap<_, _>>()
        }));
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    items.sort();
    items
}
