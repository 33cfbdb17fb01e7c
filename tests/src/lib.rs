//! The shared harness of noteapp's end-to-end tests, contract tests and benchmarks.
//!
//! `api` drives the notes API in process against either store; `moto` starts a real
//! `moto_server` on a free loopback port.

pub mod api;
pub mod dynamodb;
pub mod firebase;
pub mod lambda;
pub mod load;
pub mod local;
pub mod meter;
pub mod roles;
pub mod seed;
pub mod seed_stack;
pub mod ws_client;

pub use noteapp_test_support::services_required;

/// An HTTP client for tests (installs the process's TLS crypto provider first, which reqwest
/// needs even for plain HTTP).
pub fn http_client() -> reqwest::Client {
    noteapp_runtime::aws_http::install_crypto();
    reqwest::Client::new()
}
