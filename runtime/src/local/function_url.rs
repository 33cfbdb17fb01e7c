//! Requests turned into the Lambda Function URL event (payload format 2.0) and back, through
//! `lambda_http`'s own parser, so local requests reach the router exactly as they do in AWS.

use std::net::SocketAddr;

use base64::Engine as _;
use bytes::Bytes;
use http::Request;
use serde_json::{Map, Value, json};

use crate::http::ApiError;

/// Builds the Function URL event for `request`, as Lambda would deliver it.
pub fn event(request: &Request<Bytes>, peer: SocketAddr) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in request.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(value.split("; ").map(str::to_string));
            continue;
        }
        match headers.get_mut(name.as_str()) {
            // Lambda joins repeated headers with commas.
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_string(), Value::String(value));
            }
        }
    }
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let raw_query = request.uri().query().unwrap_or("").to_string();
    let mut query = Map::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        match query.get_mut(k.as_ref()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
    }
    let now = chrono::Utc::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = request.body();
    let (body, base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let user_agent = headers
        .get("user-agent")
        .cloned()
        .unwrap_or(Value::String(String::new()));
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.uri().path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": "local",
            "http": {
                "method": request.method().as_str(),
                "path": request.uri().path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": base64,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !body.is_empty() {
        event["body"] = Value::String(body);
    }
    event
}

/// Sends `request` through its Function URL event and `lambda_http`'s parser.
pub fn through_event(
    request: Request<Bytes>,
    peer: SocketAddr,
) -> Result<Request<Bytes>, ApiError> {
    let event = event(&request, peer).to_string();
    let parsed = lambda_http::request::from_str(&event)
        .map_err(|e| ApiError::bad_request(format!("the request cannot be delivered: {e}")))?;
    let (parts, body) = parsed.into_parts();
    Ok(Request::from_parts(parts, Bytes::copy_from_slice(&body)))
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
        let event = event(&request, "127.0.0.1:1".parse().unwrap());
        assert_eq!(event["isBase64Encoded"], true);
        let back = through_event(request, "127.0.0.1:1".parse().unwrap()).unwrap();
        assert_eq!(back.body().as_ref(), &[0xff, 0xfe, 0x00]);
    }
}
