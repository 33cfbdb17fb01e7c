//! Requests turned into the Lambda Function URL event (payload format 2.0) and back, through
//! `lambda_http`'s own parser, so local requests reach the router exactly as they do in AWS.

use std::net::SocketAddr;

use base64::Engine as _;
use bytes::Bytes;
use http::Request;
use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::api::ApiError;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    version: &'static str,
    route_key: &'static str,
    raw_path: &'a str,
    raw_query_string: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cookies: Option<Vec<&'a str>>,
    headers: BTreeMap<&'a str, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    query_string_parameters: BTreeMap<String, String>,
    request_context: Context<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<Cow<'a, str>>,
    is_base64_encoded: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Context<'a> {
    account_id: &'static str,
    api_id: &'static str,
    domain_name: &'a str,
    domain_prefix: &'static str,
    http: HttpContext<'a>,
    request_id: String,
    route_key: &'static str,
    stage: &'static str,
    time: String,
    time_epoch: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpContext<'a> {
    method: &'a str,
    path: &'a str,
    protocol: &'static str,
    source_ip: String,
    user_agent: &'a str,
}

/// The Function URL event for `request`, as Lambda would deliver it (JSON text).
pub fn event(request: &Request<Bytes>, peer: SocketAddr) -> String {
    let mut headers: BTreeMap<&str, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in request.headers() {
        let Ok(value) = value.to_str() else { continue };
        if name == http::header::COOKIE {
            cookies.extend(value.split("; "));
            continue;
        }
        headers
            .entry(name.as_str())
            // Lambda joins repeated headers with commas.
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(value);
            })
            .or_insert_with(|| value.to_string());
    }
    let raw_query = request.uri().query().unwrap_or("");
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(k.into_owned())
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
    }
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let user_agent = request
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let now = chrono::Utc::now();
    let body = request.body();
    let (body, base64) = match std::str::from_utf8(body) {
        Ok("") => (None, false),
        Ok(text) => (Some(Cow::Borrowed(text)), false),
        Err(_) => (
            Some(Cow::Owned(
                base64::engine::general_purpose::STANDARD.encode(body),
            )),
            true,
        ),
    };
    let event = Event {
        version: "2.0",
        route_key: "$default",
        raw_path: request.uri().path(),
        raw_query_string: raw_query,
        cookies: (!cookies.is_empty()).then_some(cookies),
        headers,
        query_string_parameters: query,
        request_context: Context {
            account_id: "anonymous",
            api_id: "local",
            domain_name: host,
            domain_prefix: "local",
            http: HttpContext {
                method: request.method().as_str(),
                path: request.uri().path(),
                protocol: "HTTP/1.1",
                source_ip: peer.ip().to_string(),
                user_agent,
            },
            request_id: uuid::Uuid::new_v4().to_string(),
            route_key: "$default",
            stage: "$default",
            time: now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            time_epoch: now.timestamp_millis(),
        },
        body,
        is_base64_encoded: base64,
    };
    serde_json::to_string(&event).unwrap_or_default()
}

/// Sends `request` through its Function URL event and `lambda_http`'s parser.
pub fn through_event(
    request: Request<Bytes>,
    peer: SocketAddr,
) -> Result<Request<Bytes>, ApiError> {
    let event = event(&request, peer);
    let parsed = lambda_http::request::from_str(&event)
        .map_err(|e| ApiError::bad_request(format!("the request cannot be delivered: {e}")))?;
    let (parts, body) = parsed.into_parts();
    Ok(Request::from_parts(parts, crate::api::body_bytes(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_survives_the_round_trip_through_its_event() {
        let request = Request::builder()
            .method("PATCH")
            .uri("/me/notes/abc?page=2&limit=5")
            .header("host", "127.0.0.1:8000")
            .header("authorization", "Bearer t")
            .body(Bytes::from_static(br#"{"title":"x"}"#))
            .unwrap();
        let back = through_event(request, "127.0.0.1:5000".parse().unwrap()).unwrap();
        assert_eq!(back.method(), "PATCH");
        assert_eq!(back.uri().path(), "/me/notes/abc");
        assert_eq!(back.uri().query(), Some("page=2&limit=5"));
        assert_eq!(back.headers()["authorization"], "Bearer t");
        assert_eq!(back.body().as_ref(), br#"{"title":"x"}"#);
    }

    #[test]
    fn binary_bodies_travel_base64_encoded() {
        let request = Request::builder()
            .method("POST")
            .uri("/me/notes")
            .body(Bytes::from_static(&[0xff, 0xfe, 0x00]))
            .unwrap();
        let event: serde_json::Value =
            serde_json::from_str(&event(&request, "127.0.0.1:1".parse().unwrap())).unwrap();
        assert_eq!(event["isBase64Encoded"], true);
        let back = through_event(request, "127.0.0.1:1".parse().unwrap()).unwrap();
        assert_eq!(back.body().as_ref(), &[0xff, 0xfe, 0x00]);
    }
}
