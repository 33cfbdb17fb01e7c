//! The notes API: one router for Lambda (Function URL, payload 2.0) and for `noteapp local`.
//!
//! [`handle`] takes a plain `http::Request` and always returns a response: every failure becomes
//! the contract's JSON error body (`{status:"error", error:{code, message, field?}}`) with the right
//! status, and nothing a client sends can make it panic. Route handlers live one module per
//! resource; this module owns routing, request parsing, authentication, the envelopes and the
//! rate limits: each write route counts its request with `Ctx::limit` (or, where a profile is
//! created, `Ctx::limit_new_profile`) after the request is read and before anything is
//! written, and a refused request gets 429 `RATE_LIMITED` with `Retry-After`, having written
//! nothing and handed nothing off.

mod comments;
mod error;
mod notes;
mod profile;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

pub use error::{ApiError, proxy_response};

use crate::auth::{Identity, Verifier, bearer_token};
use crate::domain::limits::Action;
use crate::domain::{CommentView, FieldError, PageRequest};
use crate::store::{Limiter, Store};

/// The largest request body the API reads; larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Who receives a `comment.created` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// A public note: every connection.
    Everyone,
    /// A private note: only this user's connections.
    Owner(String),
}

/// The work a request hands off, to run after its answer: delivering a comment in real time,
/// removing a deleted note's comments.
#[async_trait::async_trait]
pub trait AppEvents: Send + Sync {
    /// Called once per stored comment with the note's first page of comments as a list
    /// response would carry it (`{postId, comments, count}`, read after the write); failures are
    /// the sink's to log, never the request's.
    async fn comment_created(&self, comment: &CommentView, recipients: Recipients, list: Value);
    /// Called once a note is deleted: its comments are to be purged (`Store::purge_deleted`);
    /// a purge that never runs is finished by the next sweep.
    async fn note_deleted(&self, note: Uuid);
}

/// Everything a request needs, built once per process and shared by every invocation.
#[derive(Clone)]
pub struct App {
    /// Where notes, users and comments are kept.
    pub store: Arc<dyn Store>,
    /// Checks the `Authorization: Bearer` ID token of each request.
    pub verifier: Verifier,
    /// Hears about stored comments and deleted notes; `None` hands nothing off.
    pub events: Option<Arc<dyn AppEvents>>,
    /// The per-user limits on writes; `None` limits nothing (tests of other things).
    pub limiter: Option<Limiter>,
}

impl App {
    /// An app on `store` that trusts the tokens `verifier` accepts, handing nothing off.
    pub fn new(store: Arc<dyn Store>, verifier: Verifier) -> Self {
        Self {
            store,
            verifier,
            events: None,
            limiter: None,
        }
    }

    /// Adds the rate limits every write is held to.
    pub fn with_limiter(mut self, limiter: Limiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Adds the real-time sink that hears about stored comments.
    pub fn with_events(mut self, events: Arc<dyn AppEvents>) -> Self {
        self.events = Some(events);
        self
    }
}

/// A parsed request, as the route handlers see it.
pub(crate) struct Ctx<'a> {
    app: &'a App,
    headers: &'a http::HeaderMap,
    query: HashMap<String, String>,
    body: &'a Bytes,
    /// The client's address as the Function URL saw it (`requestContext.http.sourceIp`).
    source_ip: Option<String>,
}

impl Ctx<'_> {
    /// The caller, from a verified `Authorization: Bearer` token.
    async fn identity(&self) -> Result<Identity, ApiError> {
        let header = self
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let token = bearer_token(header)?;
        Ok(self.app.verifier.verify(token).await?)
    }

    /// The caller, who must be a regular (not anonymous) user.
    async fn regular_user(&self) -> Result<Identity, ApiError> {
        let identity = self.identity().await?;
        if identity.is_anonymous {
            return Err(ApiError::forbidden("Regular account required"));
        }
        Ok(identity)
    }

    /// Counts one `action` of the caller's against their limit: 429 past it.
    async fn limit(&self, action: Action, me: &Identity) -> Result<(), ApiError> {
        if let Some(limiter) = &self.app.limiter {
            limiter.check(action, me.is_anonymous, &me.uid).await?;
        }
        Ok(())
    }

    /// Counts one new profile against the limit of the caller's source address: 429 past it.
    async fn limit_new_profile(&self) -> Result<(), ApiError> {
        if let Some(limiter) = &self.app.limiter {
            let ip = self.source_ip.as_deref().unwrap_or("unknown");
            limiter.check(Action::NewProfile, false, ip).await?;
        }
        Ok(())
    }

    fn page(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::parse_with_cursor(
            self.query.get("page").map(String::as_str),
            self.query.get("limit").map(String::as_str),
            self.query.get("cursor").map(String::as_str),
        )?)
    }

    /// The body as JSON; an empty body counts as `{}` only when `empty_ok`.
    fn json(&self, empty_ok: bool) -> Result<Value, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            if empty_ok {
                return Ok(json!({}));
            }
            return Err(ApiError::bad_request("the request body must be JSON"));
        }
        serde_json::from_slice(self.body)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
    }
}

/// Parses a path segment as a note id (422 otherwise).
fn note_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::from(FieldError::new("id", "Invalid UUID format")))
}

/// `{status:"success", data}`, serialised straight from the typed data.
fn success(status: StatusCode, data: impl Serialize) -> Result<Response<String>, ApiError> {
    #[derive(Serialize)]
    struct Envelope<T> {
        status: &'static str,
        data: T,
    }
    typed_response(
        status,
        &Envelope {
            status: "success",
            data,
        },
    )
}

/// `{success:true, data}`, the comments envelope.
fn comments_success(
    status: StatusCode,
    data: impl Serialize,
) -> Result<Response<String>, ApiError> {
    #[derive(Serialize)]
    struct Envelope<T> {
        success: bool,
        data: T,
    }
    typed_response(
        status,
        &Envelope {
            success: true,
            data,
        },
    )
}

/// A list of items with its pagination: `{notes, pagination}`.
#[derive(Serialize)]
struct NotesPage<T> {
    notes: Vec<T>,
    pagination: crate::domain::Pagination,
}

fn typed_response(status: StatusCode, body: &impl Serialize) -> Result<Response<String>, ApiError> {
    let text = serde_json::to_string(body).map_err(|e| {
        tracing::error!(error = %e, "response serialisation failed");
        ApiError::internal()
    })?;
    Ok(text_response(status, text))
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<String> {
    text_response(status, body.to_string())
}

fn text_response(status: StatusCode, text: String) -> Response<String> {
    let mut response = Response::new(text);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The bytes of a body `lambda_http` parsed from an event, moved rather than copied.
pub fn body_bytes(body: lambda_http::Body) -> Bytes {
    match body {
        lambda_http::Body::Empty => Bytes::new(),
        lambda_http::Body::Text(text) => Bytes::from(text),
        lambda_http::Body::Binary(bytes) => Bytes::from(bytes),
        // `Body` is non-exhaustive: anything newer is read as its bytes.
        other => Bytes::copy_from_slice(&other),
    }
}

/// The client's address from the Function URL event `lambda_http` parsed the request from.
fn source_ip(extensions: &http::Extensions) -> Option<String> {
    use lambda_http::request::RequestContext;
    match extensions.get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.clone(),
        _ => None,
    }
}

/// Answers one request. Never fails and never panics on input.
pub async fn handle(app: &App, request: Request<Bytes>) -> Response<String> {
    let (parts, body) = request.into_parts();
    if body.len() > MAX_BODY_BYTES {
        return ApiError::payload_too_large().into_response();
    }
    let query = parts
        .uri
        .query()
        .map(|q| {
            let mut map = HashMap::new();
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
            }
            map
        })
        .unwrap_or_default();
    let source_ip = source_ip(&parts.extensions);
    let ctx = Ctx {
        app,
        headers: &parts.headers,
        query,
        body: &body,
        source_ip,
    };
    let segments = segments(parts.uri.path());
    match route(&ctx, &parts.method, &segments).await {
        Ok(response) => response,
        Err(error) => {
            if error.status.is_server_error() {
                tracing::error!(status = error.status.as_u16(), code = error.code, message = %error.message, "request failed");
            }
            error.into_response()
        }
    }
}

async fn route(
    ctx: &Ctx<'_>,
    method: &Method,
    segments: &[&str],
) -> Result<Response<String>, ApiError> {
    use Method as M;
    match (segments, method) {
        (["healthz"], &M::GET) => Ok(json_response(StatusCode::OK, &json!({"status": "ok"}))),

        (["notes"], &M::GET) => notes::list_public(ctx).await,
        (["notes", id], &M::GET) => notes::get_public(ctx, note_id(id)?).await,
        (["notes", id, "comments"], &M::GET) => comments::list_public(ctx, note_id(id)?).await,
        (["notes", id, "comments"], &M::POST) => comments::create_public(ctx, id).await,

        (["me", "notes"], &M::GET) => notes::list_mine(ctx).await,
        (["me", "notes"], &M::POST) => notes::create(ctx).await,
        (["me", "notes", id], &M::GET) => notes::get_mine(ctx, id).await,
        (["me", "notes", id], &M::PATCH) => notes::update(ctx, id).await,
        (["me", "notes", id], &M::DELETE) => notes::delete(ctx, id).await,
        (["me", "notes", id, "publish"], &M::POST) => notes::publish(ctx, id, true).await,
        (["me", "notes", id, "unpublish"], &M::POST) => notes::publish(ctx, id, false).await,
        (["me", "notes", id, "comments"], &M::GET) => comments::list_mine(ctx, id).await,
        (["me", "notes", id, "comments"], &M::POST) => comments::create_mine(ctx, id).await,

        (["me"], &M::GET) => profile::get(ctx).await,
        (["me"], &M::PATCH) => profile::update(ctx).await,
        (["auth", "login"], &M::GET) => profile::login(ctx).await,
        (["auth", "anonymous-login"], &M::POST) => profile::anonymous_login(ctx).await,
        (["auth", "anonymous-promote"], &M::POST) => profile::promote(ctx).await,

        _ => Err(match allowed_methods(segments) {
            Some(allow) => ApiError::method_not_allowed(method, allow),
            None => ApiError::not_found(),
        }),
    }
}

/// A path's segments, empty ones dropped (`/notes//x/` → `["notes", "x"]`).
fn segments(path: &str) -> Vec<&str> {
    path.trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

/// A known path's template and the methods it accepts (for 405 answers and the metrics).
fn known_path(segments: &[&str]) -> Option<(&'static str, &'static str)> {
    Some(match segments {
        ["healthz"] => ("/healthz", "GET"),
        ["notes"] => ("/notes", "GET"),
        ["notes", _] => ("/notes/{id}", "GET"),
        ["notes", _, "comments"] => ("/notes/{id}/comments", "GET, POST"),
        ["me", "notes"] => ("/me/notes", "GET, POST"),
        ["me", "notes", _] => ("/me/notes/{id}", "GET, PATCH, DELETE"),
        ["me", "notes", _, "publish"] => ("/me/notes/{id}/publish", "POST"),
        ["me", "notes", _, "unpublish"] => ("/me/notes/{id}/unpublish", "POST"),
        ["me", "notes", _, "comments"] => ("/me/notes/{id}/comments", "GET, POST"),
        ["me"] => ("/me", "GET, PATCH"),
        ["auth", "login"] => ("/auth/login", "GET"),
        ["auth", "anonymous-login"] => ("/auth/anonymous-login", "POST"),
        ["auth", "anonymous-promote"] => ("/auth/anonymous-promote", "POST"),
        _ => return None,
    })
}

/// The methods a known path accepts, for 405 answers.
fn allowed_methods(segments: &[&str]) -> Option<&'static str> {
    known_path(segments).map(|(_, allow)| allow)
}

/// The route a request reaches, as its template (`GET /notes/{id}`, never the path sent), or
/// `other` for anything no route serves: the metrics' `Route`, one value per route.
pub fn route_template(method: &Method, path: &str) -> String {
    match known_path(&segments(path)) {
        Some((template, allow)) if allow.split(", ").any(|m| m == method.as_str()) => {
            format!("{method} {template}")
        }
        _ => "other".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_its_methods_listed() {
        assert_eq!(
            allowed_methods(&["me", "notes", "x"]),
            Some("GET, PATCH, DELETE")
        );
        assert_eq!(allowed_methods(&["nope"]), None);
    }

    #[test]
    fn a_request_is_counted_under_its_routes_template_only() {
        let id = "6f1c7c2e-5d1a-4b7e-9a44-2f0e1d3c4b5a";
        assert_eq!(
            route_template(&Method::GET, &format!("/notes/{id}")),
            "GET /notes/{id}"
        );
        assert_eq!(
            route_template(&Method::POST, &format!("/me/notes/{id}/comments/")),
            "POST /me/notes/{id}/comments"
        );
        assert_eq!(route_template(&Method::GET, "/healthz"), "GET /healthz");
        for (method, path) in [
            (Method::GET, "/wp-admin.php"),
            (Method::DELETE, "/notes"),
            (Method::from_bytes(b"BREW").unwrap(), "/healthz"),
            (Method::GET, "/notes/a/b/c/d"),
        ] {
            assert_eq!(route_template(&method, path), "other", "{method} {path}");
        }
    }

    #[test]
    fn every_route_the_router_serves_has_a_template() {
        // Each known path answers its listed methods with something other than 404/405.
        for path in [
            vec!["healthz"],
            vec!["notes"],
            vec!["notes", "x"],
            vec!["notes", "x", "comments"],
            vec!["me", "notes"],
            vec!["me", "notes", "x"],
            vec!["me", "notes", "x", "publish"],
            vec!["me", "notes", "x", "unpublish"],
            vec!["me", "notes", "x", "comments"],
            vec!["me"],
            vec!["auth", "login"],
            vec!["auth", "anonymous-login"],
            vec!["auth", "anonymous-promote"],
        ] {
            let (template, _) = known_path(&path).unwrap();
            assert_eq!(segments(template).len(), path.len(), "{template}");
        }
    }
}
