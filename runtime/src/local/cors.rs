//! CORS for the local gateway, answering as a Lambda Function URL's CORS configuration does.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const ALLOW_HEADERS: &str = "authorization, content-type";
const MAX_AGE: &str = "600";

/// The allowed origins (exact matches; `*` allows any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    /// Allows exactly `origins` (`*` among them allows any).
    pub fn new(origins: impl IntoIterator<Item = String>) -> Self {
        Self {
            origins: origins
                .into_iter()
                .map(|o| o.trim().trim_end_matches('/').to_string())
                .filter(|o| !o.is_empty())
                .collect(),
        }
    }

    /// The front end's development origins ([`LocalSettings::DEFAULT_CORS_ORIGINS`]).
    ///
    /// [`LocalSettings::DEFAULT_CORS_ORIGINS`]: crate::settings::LocalSettings::DEFAULT_CORS_ORIGINS
    pub fn development_default() -> Self {
        Self::new(crate::settings::LocalSettings::DEFAULT_CORS_ORIGINS.map(str::to_owned))
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        self.origins.iter().any(|o| o == "*" || o == origin)
    }

    /// Answers a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`); `None` for any
    /// other request. A refused preflight gets 403 with no CORS headers.
    pub fn preflight<B>(&self, request: &Request<B>) -> Option<Response<()>> {
        if request.method() != Method::OPTIONS
            || !request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let mut response = Response::new(());
        let headers = request.headers();
        let method_ok = headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| ALLOW_METHODS.split(", ").any(|a| a.eq_ignore_ascii_case(m)));
        let headers_ok = headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|h| h.to_str().ok())
            .is_none_or(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .all(|h| ALLOW_HEADERS.split(", ").any(|a| a.eq_ignore_ascii_case(h)))
            });
        match headers.get(header::ORIGIN) {
            Some(origin) if self.allows(origin) && method_ok && headers_ok => {
                *response.status_mut() = StatusCode::NO_CONTENT;
                let out = response.headers_mut();
                out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                out.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static(ALLOW_METHODS),
                );
                out.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static(ALLOW_HEADERS),
                );
                out.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static(MAX_AGE),
                );
                out.insert(header::VARY, HeaderValue::from_static("Origin"));
            }
            _ => *response.status_mut() = StatusCode::FORBIDDEN,
        }
        Some(response)
    }

    /// Adds `Access-Control-Allow-Origin` to an ordinary response when the origin is allowed.
    pub fn decorate(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = origin.filter(|o| self.allows(o)) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preflight(origin: &str, method: &str, headers: &str) -> Response<()> {
        let request = Request::builder()
            .method(Method::OPTIONS)
            .uri("/me/notes")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers)
            .body(())
            .unwrap();
        Cors::development_default().preflight(&request).unwrap()
    }

    #[test]
    fn both_default_origins_pass_a_preflight() {
        for origin in ["http://localhost:3000", "http://127.0.0.1:3000"] {
            let response = preflight(origin, "POST", "authorization,content-type");
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
            assert_eq!(
                response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
                origin
            );
        }
    }

    #[test]
    fn other_origins_methods_and_headers_are_refused() {
        let response = preflight("http://evil.example", "POST", "authorization");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(
            !response
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
        assert_eq!(
            preflight("http://localhost:3000", "TRACE", "").status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            preflight("http://localhost:3000", "GET", "x-secret").status(),
            StatusCode::FORBIDDEN
        );
    }
}
