//! The whole local stack wired in one place: the HTTP gateway and the WebSocket gateway on one
//! store, trusting only the signing key kept in the data directory.
//!
//! Two callers share it so they cannot drift apart: `noteapp local` (on the host) and
//! `bootstrap local` (inside the Lambda image, for `noteapp local --docker`, where the image holds
//! nothing but `bootstrap`). Callers bind the listeners themselves (to report a busy port their
//! own way) and pass the future that ends the stack (Ctrl-C, SIGTERM).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;

use super::{Cors, HttpGateway, WsGateway, operator_token};
use crate::api::App;
use crate::auth::{KeySource, LocalSigner, Verifier, VerifierConfig};
use crate::domain::limits::RateLimits;
use crate::store::{ConnectionStore, ControlStore, Limiter, Store};
use crate::ws::WsContext;
use crate::ws::fanout::FanoutOptions;
use crate::ws::management::ManagementPoster;
use crate::ws::trigger::InProcessTrigger;

pub use crate::settings::LOCAL_PROJECT;

/// The embedded store's directory inside the data directory: the same for `noteapp local` on the
/// host and `bootstrap local` in its container, which share the data directory.
pub fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("store")
}

/// A problem starting the local stack, naming the file or directory.
#[derive(Debug, thiserror::Error)]
pub enum LocalStackError {
    /// The signing key in the data directory could not be loaded or created.
    #[error("local signing key in {}: {reason}", dir.display())]
    SigningKey {
        /// The data directory.
        dir: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The verifier refused its configuration (such as a malformed project id).
    #[error("cannot verify tokens for project {project}: {reason}")]
    Verifier {
        /// The Firebase project tokens were to be checked against.
        project: String,
        /// Why it was refused.
        reason: String,
    },
    /// The operator token file could not be read or created.
    #[error("cannot read or create the operator token in {}: {source}", dir.display())]
    OperatorToken {
        /// The data directory.
        dir: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A listener stopped accepting connections.
    #[error("the local stack stopped serving: {0}")]
    Serve(#[from] std::io::Error),
}

/// The verifier of `noteapp local`: tokens for `project` signed by the key in `data_dir`
/// (created on first use), and, with `emulator`, the Firebase Auth emulator's unsigned tokens.
pub fn local_verifier(
    data_dir: &Path,
    project: &str,
    emulator: bool,
) -> Result<Verifier, LocalStackError> {
    let key_error = |reason: String| LocalStackError::SigningKey {
        dir: data_dir.to_path_buf(),
        reason,
    };
    let signer = LocalSigner::load_or_create(data_dir).map_err(|e| key_error(e.to_string()))?;
    let mut config = VerifierConfig::new(project, KeySource::Static(signer.jwks()));
    config.accept_emulator_tokens = emulator;
    Verifier::from_config(config).map_err(|e| LocalStackError::Verifier {
        project: project.to_owned(),
        reason: e.to_string(),
    })
}

/// Everything [`run_stack`] serves.
pub struct LocalStack {
    /// Where the notes API is served.
    pub http: TcpListener,
    /// Where the WebSocket API, its management API and the broadcast route are served.
    pub ws: TcpListener,
    /// Where the operator token is kept (and, by [`local_verifier`], the signing key).
    pub data_dir: PathBuf,
    /// Checks the tokens of API requests and of `$connect`.
    pub verifier: Verifier,
    /// Where notes, users and comments are kept.
    pub store: Arc<dyn Store>,
    /// Where WebSocket connections are kept.
    pub connections: Arc<dyn ConnectionStore>,
    /// Where rate-limit counters and broadcast progress are kept.
    pub control: Arc<dyn ControlStore>,
    /// The limits on writes and on `$connect`, as in AWS (`None`: off).
    pub limits: Option<RateLimits>,
    /// The origins the notes API answers CORS requests from.
    pub cors_origins: Vec<String>,
}

/// Serves the HTTP API and the WebSocket API (with its management API and broadcast route) until
/// `shutdown` resolves or a listener fails. Deleted notes whose comments a stopped server left
/// behind are purged first, in the background.
pub async fn run_stack(
    stack: LocalStack,
    shutdown: impl Future<Output = ()>,
) -> Result<(), LocalStackError> {
    survive_the_file_size_limit();
    let ws_port = stack.ws.local_addr()?.port();
    let operator =
        operator_token(&stack.data_dir).map_err(|source| LocalStackError::OperatorToken {
            dir: stack.data_dir.clone(),
            source,
        })?;
    let sweep = stack.store.clone();
    tokio::spawn(async move {
        match sweep.purge_deleted(None).await {
            Ok(purged) if purged.notes > 0 => tracing::info!(
                notes = purged.notes,
                comments = purged.comments,
                "finished purging deleted notes"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging deleted notes stopped"),
        }
    });
    let ws = WsContext {
        connections: stack.connections.clone(),
        control: Some(stack.control.clone()),
        limits: stack.limits,
        verifier: Some(stack.verifier.clone()),
        poster: Arc::new(ManagementPoster::local(&format!(
            "http://127.0.0.1:{ws_port}"
        ))),
        fanout: FanoutOptions::default(),
    };
    let trigger = InProcessTrigger::new(ws.clone(), stack.store.clone());
    let mut app = App::new(stack.store, stack.verifier).with_events(Arc::new(trigger));
    if let Some(limits) = stack.limits {
        app = app.with_limiter(Limiter::new(stack.control, limits));
    }
    let http = HttpGateway::new(app, Cors::new(stack.cors_origins));
    let ws = Arc::new(WsGateway::new(ws, operator, "development"));
    tokio::select! {
        result = http.serve(stack.http) => result?,
        result = ws.serve(stack.ws) => result?,
        () = shutdown => {}
    }
    Ok(())
}

/// A write past the process's file-size limit (`ulimit -f`) raises SIGXFSZ, whose default action
/// ends the process. Handled, the write fails with `EFBIG` instead: the store cuts its log back
/// to the last whole record and answers an error, and the server keeps serving.
fn survive_the_file_size_limit() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::from_raw(libc::SIGXFSZ)) {
            Ok(mut signals) => {
                tokio::spawn(async move { while signals.recv().await.is_some() {} });
            }
            Err(e) => tracing::debug!(error = %e, "cannot handle SIGXFSZ"),
        }
    }
}

/// Ctrl-C or SIGTERM (never resolves if neither can be watched).
///
/// The signals are watched from this call on, not from the first poll: one that arrives while
/// the caller is still preparing (building an image before it awaits this) is seen, instead of
/// killing the process. Call it inside the tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let watched = signal(SignalKind::interrupt())
            .and_then(|interrupt| Ok((interrupt, signal(SignalKind::terminate())?)));
        async move {
            let Ok((mut interrupt, mut term)) = watched else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
