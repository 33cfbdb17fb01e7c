//! The WebSocket side: the four handlers behind API Gateway v2, and the fan-out they share.
//!
//! `$connect` ([`handlers::connect`]) records a connection, as a signed-in user when the URL
//! carries a valid `?token=`; `$disconnect` removes it; `$default` manages note subscriptions
//! and echoes anything else. [`broadcast`] delivers one `{type, data, timestamp}` message to
//! every connection it is meant for, with bounded concurrency, through the API Gateway
//! management API ([`management`]). Handlers take and return the JSON API Gateway and Lambda
//! use, so the local gateway and AWS run the same code.

pub mod broadcast;
pub mod fanout;
pub mod handlers;
pub mod management;
pub mod messages;
pub mod trigger;

use std::sync::Arc;

use crate::auth::Verifier;
use crate::domain::limits::RateLimits;
use crate::store::{ConnectionStore, ControlStore, Limiter};
use fanout::{FanoutOptions, Poster};

/// What the WebSocket handlers share, built once per process.
#[derive(Clone)]
pub struct WsContext {
    /// Where connections are kept.
    pub connections: Arc<dyn ConnectionStore>,
    /// Where broadcast progress, the fan-out's send budget and the rate-limit counters are
    /// kept; `None` in handlers that use none of them (`$disconnect`, `$default`).
    pub control: Option<Arc<dyn ControlStore>>,
    /// The limits on `$connect` and on public fan-outs; `None` limits nothing.
    pub limits: Option<RateLimits>,
    /// Verifies `?token=` on `$connect`; `None` in handlers that never see one.
    pub verifier: Option<Verifier>,
    /// Sends to connections (the management API).
    pub poster: Arc<dyn Poster>,
    /// How broadcasts fan out.
    pub fanout: FanoutOptions,
}

impl WsContext {
    /// The limiter of `$connect` and of public fan-outs, when there are limits and a control
    /// store to count them in.
    pub fn limiter(&self) -> Option<Limiter> {
        Some(Limiter::new(self.control.clone()?, self.limits?))
    }
}

/// Epoch seconds now.
pub fn epoch_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Epoch milliseconds now.
pub fn epoch_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
