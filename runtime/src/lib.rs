//! noteapp's runtime: every Lambda handler the stack ships, and the gateway that runs them locally.
//!
//! The crate is layered so each part can be tested alone: [`domain`] holds pure types and rules;
//! [`store`] (DynamoDB, or embedded for `noteapp local`) and [`auth`] (Firebase ID tokens) build
//! on it; [`api`] is the notes API router and [`ws`] the WebSocket handlers with their fan-out,
//! both taking and returning the JSON Lambda and API Gateway use. [`local`] serves them on a
//! laptop through the same events AWS delivers ([`local::function_url`] builds the Function
//! URL's, [`local::ws_events`] API Gateway's WebSocket events). [`functions`] lists the stack's
//! functions; `bin/bootstrap.rs` runs the one its argument names, reading its [`config`] (on the
//! values [`settings`] shares with the deployer) and building its clients ([`aws_http`]) once
//! per container, with [`logging`] set up there too. Releases: every function is invoked
//! through its `live` alias ([`functions::LIVE_ALIAS`]); [`release_shift`] holds what a release
//! and an alias's note look like, [`metrics`] writes the release-health metrics (CloudWatch's
//! embedded metric format, stdout), and [`guard`] rolls a canary back when its health turns bad
//! or its deadline passes.

pub mod api;
pub mod auth;
pub mod aws_http;
pub mod config;
pub mod domain;
pub mod functions;
pub mod guard;
pub mod local;
pub mod logging;
pub mod metrics;
pub mod release_shift;
pub mod settings;
pub mod store;
pub mod ws;

/// The global allocator of every noteapp binary (`bootstrap`, `noteapp`) and of the benchmarks
/// that run this crate's code in-process: mimalloc. With glibc's allocator the fan-out spent a
/// sixth of its time in `malloc`/`free` and took about twice as long. It is built without
/// transparent huge pages (`no_thp`): with them, its first arena is backed by 2 MiB pages and a
/// cold `bootstrap api` touches 7 MiB more.
pub type Allocator = mimalloc::MiMalloc;
