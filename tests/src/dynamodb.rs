//! DynamoDB on a real `moto_server` (started by `noteapp-test-support`), for tests.
//!
//! [`shared`] is one server per test binary; tests isolate themselves with uniquely prefixed
//! tables ([`fresh_store`]); a slow test can start its own server
//! ([`MotoServer::start_or_skip`], [`store_on`]) so it does not hold up the others (the emulator
//! serves one request at a time per process).

use std::sync::Arc;

use noteapp_runtime::functions::Function;
use noteapp_runtime::store::dynamodb::{DynamoConnections, DynamoStore, TableNames, create_tables};
pub use noteapp_test_support::moto::{MotoServer, shared};

use crate::api::Api;
use crate::meter::Meter;

/// A DynamoDB client for `endpoint` with static test credentials in `us-east-1`.
pub async fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    metered_client(endpoint, None)
}

/// As [`dynamodb_client`], with every response read by `meter`.
pub fn metered_client(endpoint: &str, meter: Option<&Meter>) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::config::Builder::from(
        &noteapp_runtime::aws_http::loopback_config(endpoint, "us-east-1"),
    );
    if let Some(meter) = meter {
        config = config.interceptor(meter.clone());
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

/// Fresh tables on `server`, with the notes store and the connections store on one client whose
/// every response `meter` reads.
pub async fn metered_on(server: &MotoServer, meter: &Meter) -> (DynamoStore, DynamoConnections) {
    let (_, tables) = tables_on(server).await;
    let client = metered_client(server.endpoint(), Some(meter));
    (
        DynamoStore::new(client.clone(), tables.store_tables()),
        DynamoConnections::new(client, tables.connections),
    )
}

/// A table prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("t{}", uuid::Uuid::new_v4().simple())
}

/// A [`DynamoStore`] over freshly created, uniquely named tables on the shared server;
/// `None` when skipping.
pub async fn fresh_store() -> Option<DynamoStore> {
    Some(store_on(shared()?).await)
}

/// Freshly created, uniquely named tables on `server`, and a client for them.
pub async fn tables_on(server: &MotoServer) -> (aws_sdk_dynamodb::Client, TableNames) {
    let client = dynamodb_client(server.endpoint()).await;
    let tables = TableNames::with_prefix(&unique_prefix());
    if let Err(e) = create_tables(&client, &tables).await {
        panic!("cannot create test tables: {e}");
    }
    (client, tables)
}

/// A [`DynamoStore`] over freshly created, uniquely named tables on `server`, with the tests'
/// own client (which may also seed and inspect the tables directly).
pub async fn store_on(server: &MotoServer) -> DynamoStore {
    let (client, tables) = tables_on(server).await;
    DynamoStore::new(client, tables.store_tables())
}

/// The notes store over `tables` on `server` as the API function runs it: its role's
/// credentials, with IAM in front of moto.
pub fn api_store(server: &MotoServer, tables: &TableNames) -> DynamoStore {
    let client = crate::roles::client_as(server, Function::Api, tables);
    DynamoStore::new(client, tables.store_tables())
}

/// A [`DynamoConnections`] over a freshly created, uniquely named table on the shared server;
/// `None` when skipping.
pub async fn fresh_connections() -> Option<DynamoConnections> {
    let (client, tables) = tables_on(shared()?).await;
    Some(DynamoConnections::new(client, tables.connections))
}

/// The notes API over fresh tables on the shared server, its store signing as the API
/// function's role with IAM in front of moto (`roles`): every route the contract tests drive is
/// held to what the API's role may do; `None` when skipping.
pub async fn dynamodb_api() -> Option<Api> {
    let server = shared()?;
    let (_, tables) = tables_on(server).await;
    Some(Api::over(Arc::new(api_store(server, &tables))))
}
