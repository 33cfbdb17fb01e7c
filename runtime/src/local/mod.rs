//! The local gateway: serves the handlers on loopback the way AWS delivers events to them.
//!
//! `noteapp local` needs no cloud: each HTTP request is turned into the Function URL event
//! (payload 2.0) Lambda would deliver ([`function_url`]), parsed by `lambda_http` exactly as in
//! AWS, and answered by the same router. CORS, which the Function URL's configuration handles in
//! AWS, is answered here. [`WsGateway`] does the same for the WebSocket API, with the events API
//! Gateway sends ([`ws_events`]), and serves its management API and the broadcast route.

mod cors;
pub mod function_url;
mod stack;
pub mod ws;
pub mod ws_events;

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
    /// Serves `app`, answering CORS as `cors` allows.
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
/// on first use. An empty file (a crash between creating and writing it, or an editor) counts as
/// missing and is replaced. The token is written to a private temporary file first and moved into
/// place in one step, so no reader ever sees a partial token.
pub fn operator_token(dir: &std::path::Path) -> std::io::Result<String> {
    use std::io::ErrorKind;
    let path = dir.join(OPERATOR_TOKEN_FILE);
    let replace_empty = match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_string()),
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    std::fs::create_dir_all(dir)?;
    let bytes: [u8; 32] = rand::random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(
        ".{OPERATOR_TOKEN_FILE}.{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let written = write_private(&tmp, token.as_bytes()).and_then(|()| {
        if replace_empty {
            return std::fs::rename(&tmp, &path);
        }
        // A link never replaces a token another process has just created.
        match std::fs::hard_link(&tmp, &path) {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => std::fs::rename(&tmp, &path),
            linked => linked,
        }
    });
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    // Whoever placed a token first (or last, replacing an empty file) wins: use what is there.
    let placed = std::fs::read_to_string(&path)?;
    match placed.trim() {
        "" => Err(std::io::Error::other(format!(
            "{} is still empty after writing a token to it",
            path.display()
        ))),
        placed => Ok(placed.to_string()),
    }
}

/// Creates `path` (which must not exist) readable by its owner only, with `contents` on disk.
fn write_private(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    std::io::Write::write_all(&mut file, contents)?;
    file.sync_all()
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

    #[test]
    fn an_empty_operator_token_file_is_replaced_by_a_token_and_nothing_else_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(OPERATOR_TOKEN_FILE);
        std::fs::write(&path, "  \n").unwrap();
        let token = operator_token(dir.path()).unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), token);
        assert_eq!(operator_token(dir.path()).unwrap(), token);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [OPERATOR_TOKEN_FILE], "no temporary file is left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
