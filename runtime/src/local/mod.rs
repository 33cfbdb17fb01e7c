//! The local gateway: serves the handlers on loopback the way AWS delivers events to them.
//!
//! `noteapp local` needs no cloud: each HTTP request is turned into the Function URL event
//! (payload 2.0) Lambda would deliver, parsed by `lambda_http` exactly as in AWS, and answered by
//! the same router. CORS, which the Function URL's configuration handles in AWS, is answered here.
//! [`WsGateway`] does the same for the WebSocket API, its management API and the broadcast route.

mod cors;
pub mod function_url;
mod stack;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub use cors::Cors;
pub use stack::{
    LOCAL_PROJECT, LocalStack, LocalStackError, local_verifier, run_stack, shutdown_signal,
    store_dir,
};
pub use ws::WsGateway;

use crate::api::{ApiError, App, MAX_BODY_BYTES, handle};

/// The HTTP side of the local gateway.
pub struct HttpGateway {
    app: App,
    cors: Cors,
}

impl HttpGateway {
    pub fn new(app: App, cors: Cors) -> Self {
        Self { app, cors }
    }

    /// Accepts connections on `listener` until the task is dropped.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        let gateway = Arc::new(self);
        loop {
            let (stream, peer) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let gateway = gateway.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let gateway = gateway.clone();
                    async move { Ok::<_, std::convert::Infallible>(gateway.answer(req, peer).await) }
                });
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %e, "connection closed with an error");
                }
            });
        }
    }

    async fn answer(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let origin = request.headers().get(http::header::ORIGIN).cloned();
        if let Some(preflight) = self.cors.preflight(&request) {
            return preflight.map(|_| Full::new(Bytes::new()));
        }
        let (parts, body) = request.into_parts();
        let response = match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => {
                let request = Request::from_parts(parts, collected.to_bytes());
                match function_url::through_event(request, peer) {
                    Ok(request) => handle(&self.app, request).await,
                    Err(error) => error.into_response(),
                }
            }
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                ApiError::payload_too_large().into_response()
            }
            Err(_) => ApiError::bad_request("the request body could not be read").into_response(),
        };
        let mut response = response.map(|body| Full::new(Bytes::from(body)));
        self.cors.decorate(origin.as_ref(), response.headers_mut());
        if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
            // The body was not read to the end: do not reuse the connection.
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// The file in the data directory holding the local operator credential for broadcasts.
pub const OPERATOR_TOKEN_FILE: &str = "local-operator-token";

/// Reads the local operator token from `dir`, creating a random one (readable only by its owner)
/// on first use.
pub fn operator_token(dir: &std::path::Path) -> std::io::Result<String> {
    let path = dir.join(OPERATOR_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(dir)?;
    let bytes: [u8; 32] = rand::random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            std::io::Write::write_all(&mut file, token.as_bytes())?;
            Ok(token)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(&path)?.trim().to_string())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_token_is_created_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = operator_token(dir.path()).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(operator_token(dir.path()).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(OPERATOR_TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
