//! The one binary in the Lambda image: `bootstrap <handler>` runs one of the stack's handlers.
//!
//! Each function in the template uses the same image and picks its handler with
//! `ImageConfig.Command`. Configuration is read and validated once at init; clients are built
//! once and shared by every invocation. A bad or missing variable stops init with its name.

use std::process::ExitCode;
use std::sync::Arc;

use lambda_http::{Body, service_fn};
use lambda_runtime::LambdaEvent;
use noteapp_runtime::auth::{KeySource, Verifier, VerifierConfig};
use noteapp_runtime::aws_http;
use noteapp_runtime::config::{self, ApiConfig, KeysSetting, WsHandler};
use noteapp_runtime::http::{App, body_bytes, handle};
use noteapp_runtime::logging::{self, LogFormat};
use noteapp_runtime::store::dynamodb::{DynamoStore, TableNames};
use noteapp_runtime::ws::fanout::FanoutOptions;
use noteapp_runtime::ws::management::ManagementPoster;
use noteapp_runtime::ws::trigger::LambdaTrigger;
use noteapp_runtime::ws::{WsContext, broadcast, handlers};
use serde_json::Value;

const USAGE: &str =
    "usage: bootstrap api | ws-connect | ws-disconnect | ws-default | ws-broadcast | local";

#[global_allocator]
static ALLOCATOR: noteapp_runtime::Allocator = noteapp_runtime::Allocator {};

fn main() -> ExitCode {
    let handler = std::env::args().nth(1).unwrap_or_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("init failed: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match handler.as_str() {
            "api" => run_api().await,
            "ws-connect" => run_ws(WsHandler::Connect).await,
            "ws-disconnect" => run_ws(WsHandler::Disconnect).await,
            "ws-default" => run_ws(WsHandler::Default).await,
            "ws-broadcast" => run_ws(WsHandler::Broadcast).await,
            "local" => run_local().await,
            other => Err(format!("unknown handler {other:?}; {USAGE}").into()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "init failed");
            eprintln!("init failed: {e}");
            ExitCode::FAILURE
        }
    }
}

type InitError = Box<dyn std::error::Error + Send + Sync>;

/// The SDK configuration every handler shares, with an HTTPS client that trusts the Mozilla
/// roots compiled into this binary: the SDK's default client reads the system's certificate
/// files, which a `scratch` image does not have (no dependence on files in the image).
async fn load_aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(aws_http::sdk_http_client(aws_http::Roots::Bundled))
        .load()
        .await
}

async fn run_api() -> Result<(), InitError> {
    let config: ApiConfig = config::process_vars().api()?;
    logging::init(&config.common.log_level, LogFormat::Json);
    let keys = match &config.keys {
        KeysSetting::Google => KeySource::google(),
        KeysSetting::File(path) => KeySource::from_jwks_file(path)?,
    };
    let mut verifier = VerifierConfig::new(&config.firebase_project_id, keys);
    verifier.accept_emulator_tokens = config.auth_emulator;
    let verifier = Verifier::from_config(verifier)?;
    let aws = load_aws_config().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        TableNames {
            notes: config.notes_table.clone(),
            users: config.users_table.clone(),
            comments: config.comments_table.clone(),
            connections: String::new(),
        },
    );
    let mut app = App::new(Arc::new(store), verifier);
    if let Some(function) = &config.broadcast_function {
        let trigger = LambdaTrigger::new(aws_sdk_lambda::Client::new(&aws), function.clone());
        app = app.with_events(Arc::new(trigger));
    }
    let app = Arc::new(app);
    lambda_http::run(service_fn(move |request: lambda_http::Request| {
        let app = app.clone();
        async move {
            let (parts, body) = request.into_parts();
            let request = http::Request::from_parts(parts, body_bytes(body));
            let response = handle(&app, request).await;
            Ok::<_, std::convert::Infallible>(response.map(Body::from))
        }
    }))
    .await
}

/// `bootstrap local`: the local gateway (`noteapp local` without the CLI) on the embedded store,
/// for `noteapp local --docker`. Settings come from the variables `noteapp local` reads too:
/// NOTEAPP_HOST (127.0.0.1), NOTEAPP_PORT (8000), NOTEAPP_WS_PORT (3001), NOTEAPP_DATA_DIR
/// (/data), NOTEAPP_CORS_ORIGINS (comma-separated; the front end's dev origins by default),
/// FIREBASE_PROJECT_ID (noteapp-local) and FIREBASE_AUTH_EMULATOR_HOST (accept the emulator's
/// tokens). Never used in AWS: the functions run `api` and `ws-*`.
async fn run_local() -> Result<(), InitError> {
    use noteapp_runtime::local::{
        LOCAL_PROJECT, LocalStack, local_verifier, run_stack, shutdown_signal, store_dir,
    };
    use noteapp_runtime::store::embedded::EmbeddedStore;
    logging::init("info", LogFormat::Text);
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let host = var("NOTEAPP_HOST", "127.0.0.1");
    let data_dir = std::path::PathBuf::from(var("NOTEAPP_DATA_DIR", "/data"));
    let cors = var(
        "NOTEAPP_CORS_ORIGINS",
        "http://localhost:3000,http://127.0.0.1:3000",
    );
    let bind = |port: String| {
        let addr = format!("{host}:{port}");
        async move {
            tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))
        }
    };
    let http = bind(var("NOTEAPP_PORT", "8000")).await?;
    let ws = bind(var("NOTEAPP_WS_PORT", "3001")).await?;
    let store = EmbeddedStore::open(&store_dir(&data_dir))?;
    eprintln!(
        "bootstrap local: API on http://{}, WebSocket on ws://{} (embedded store in {})",
        http.local_addr()?,
        ws.local_addr()?,
        data_dir.display()
    );
    let stack = LocalStack {
        http,
        ws,
        verifier: local_verifier(
            &data_dir,
            &var("FIREBASE_PROJECT_ID", LOCAL_PROJECT),
            !var("FIREBASE_AUTH_EMULATOR_HOST", "").is_empty(),
        )?,
        store: Arc::new(store),
        cors_origins: cors.split(',').map(|o| o.trim().to_owned()).collect(),
        data_dir,
    };
    run_stack(stack, shutdown_signal()).await?;
    eprintln!("bootstrap local: stopped");
    Ok(())
}

async fn run_ws(handler: WsHandler) -> Result<(), InitError> {
    let config = config::process_vars().ws(handler)?;
    logging::init(&config.common.log_level, LogFormat::Json);
    let aws = load_aws_config().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        TableNames {
            notes: String::new(),
            users: String::new(),
            comments: String::new(),
            connections: config.connections_table.clone(),
        },
    );
    let verifier = config
        .firebase_project_id
        .as_ref()
        .map(|project| Verifier::new(project, KeySource::google()));
    let endpoint = config
        .websocket_endpoint
        .as_deref()
        .unwrap_or("https://unused.invalid");
    let ctx = Arc::new(WsContext {
        connections: Arc::new(store),
        verifier,
        poster: Arc::new(ManagementPoster::new(&aws, endpoint)),
        fanout: FanoutOptions::default(),
    });
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<Value>| {
            let ctx = ctx.clone();
            async move {
                let payload = event.payload;
                let answer = match handler {
                    WsHandler::Connect => handlers::connect(&ctx, &payload).await,
                    WsHandler::Disconnect => handlers::disconnect(&ctx, &payload).await,
                    WsHandler::Default => handlers::default(&ctx, &payload).await,
                    WsHandler::Broadcast => broadcast::handle(&ctx, &payload).await,
                };
                Ok::<Value, std::convert::Infallible>(answer)
            }
        },
    ))
    .await
}
