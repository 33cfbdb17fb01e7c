//! noteapp's end-to-end and contract tests, one binary: the notes API in process on both stores,
//! `noteapp local` over real sockets, the real Firebase Auth emulator and moto. The harness they
//! share is this crate's library (`noteapp_tests`).

mod abuse;
mod auth_tokens;
mod budgets;
mod contract;
mod data_cli;
mod dynamodb_connections;
mod dynamodb_store;
mod each_role;
mod frontend;
mod fuzz_requests;
mod hardening;
mod local_server;
mod local_store;
mod log_secrets;
mod migrate;
mod purge;
mod realtime;
mod release_metrics;
