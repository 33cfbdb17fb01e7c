//! The one binary in the Lambda image: `bootstrap <handler>` runs one of the stack's handlers.
//!
//! Each function in the template uses the same image and picks its handler with
//! `ImageConfig.Command`, one of [`Function::ALL`]'s names (`bootstrap local` runs the local
//! gateway instead). Configuration is read and validated once at init; clients are built
//! once and shared by every invocation. A bad or missing variable stops init with its name.
//! Inside Lambda each handler writes its release-health metrics to stdout (`metrics`): a cold
//! start at init, and each API request with its route, status and latency.

use std::process::ExitCode;
use std::sync::Arc;

use lambda_http::{Body, service_fn};
use lambda_runtime::LambdaEvent;
use noteapp_runtime::api::{App, body_bytes, handle, route_template};
use noteapp_runtime::auth::{KeySource, Verifier, VerifierConfig};
use noteapp_runtime::aws_http;
use noteapp_runtime::config::{self, ApiConfig, KeysSetting};
use noteapp_runtime::functions::{Function, WsHandler};
use noteapp_runtime::logging::{self, LogFormat};
use noteapp_runtime::metrics;
use noteapp_runtime::store::Limiter;
use noteapp_runtime::store::dynamodb::{
    DynamoConnections, DynamoControl, DynamoStore, Purger, StoreTables,
};
use noteapp_runtime::ws::fanout::FanoutOptions;
use noteapp_runtime::ws::management::ManagementPoster;
use noteapp_runtime::ws::trigger::LambdaTrigger;
use noteapp_runtime::ws::{WsContext, broadcast, handlers};
use serde_json::Value;

/// `usage: bootstrap api | ws-connect | … | cleanup | local`: every function, then `local`.
fn usage() -> String {
    let functions: Vec<_> = Function::ALL.into_iter().map(Function::name).collect();
    format!("usage: bootstrap {} | local", functions.join(" | "))
}

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
        if handler == "local" {
            return run_local().await;
        }
        match handler.parse::<Function>() {
            Ok(Function::Api) => run_api().await,
            Ok(Function::WsConnect) => run_ws(WsHandler::Connect).await,
            Ok(Function::WsDisconnect) => run_ws(WsHandler::Disconnect).await,
            Ok(Function::WsDefault) => run_ws(WsHandler::Default).await,
            Ok(Function::WsBroadcast) => run_ws(WsHandler::Broadcast).await,
            Ok(Function::Cleanup) => run_cleanup().await,
            Ok(Function::Guard) => run_guard().await,
            Err(_) => Err(format!("unknown handler {handler:?}; {}", usage()).into()),
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
/// roots compiled into this binary (a `scratch` image has no certificate files).
async fn load_aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(aws_http::sdk_http_client(aws_http::Roots::Bundled))
        .load()
        .await
}

async fn run_api() -> Result<(), InitError> {
    let config: ApiConfig = config::process_vars().api()?;
    logging::init(config.common.log_level, LogFormat::Json);
    metrics::init_in_lambda(|name| std::env::var(name).ok());
    let keys = match &config.keys {
        KeysSetting::Google => KeySource::google(),
        KeysSetting::File(path) => KeySource::from_jwks_file(path)?,
    };
    let mut verifier = VerifierConfig::new(config.firebase_project_id.as_str(), keys);
    verifier.accept_emulator_tokens = config.auth_emulator;
    let verifier = Verifier::from_config(verifier)?;
    let aws = load_aws_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let store = DynamoStore::new(
        dynamodb.clone(),
        StoreTables {
            notes: config.notes_table.clone(),
            users: config.users_table.clone(),
            comments: config.comments_table.clone(),
        },
    );
    let mut app = App::new(Arc::new(store), verifier);
    if let Some(limits) = config.limits {
        let control = DynamoControl::new(dynamodb, config.control_table.clone());
        app = app.with_limiter(Limiter::new(Arc::new(control), limits));
    }
    if let Some(function) = &config.broadcast_function {
        let signer = aws_http::Signer::from_sdk(&aws)
            .ok_or("the Lambda environment gave no region or credentials")?;
        let endpoint = aws_http::service_endpoint(
            |name| std::env::var(name).ok(),
            "LAMBDA",
            "lambda",
            signer.region(),
        );
        let http = aws_http::https_client(std::time::Duration::from_secs(10))?;
        let cleanup = config.cleanup_function.clone();
        let trigger = LambdaTrigger::new(http, signer, endpoint, function.clone(), cleanup);
        app = app.with_events(Arc::new(trigger));
    }
    let app = Arc::new(app);
    lambda_http::run(service_fn(move |request: lambda_http::Request| {
        let app = app.clone();
        async move {
            let started = std::time::Instant::now();
            let (parts, body) = request.into_parts();
            let route = route_template(&parts.method, parts.uri.path());
            let request = http::Request::from_parts(parts, body_bytes(body));
            let response = handle(&app, request).await;
            metrics::api_request(&route, response.status().as_u16(), started.elapsed());
            Ok::<_, std::convert::Infallible>(response.map(Body::from))
        }
    }))
    .await
}

/// `bootstrap local`: the local gateway (`noteapp local` without the CLI) on the embedded store,
/// for `noteapp local --docker`. Its settings come from the variables `noteapp local` hands the
/// container (`LocalSettings::container_vars`), the data directory at `/data` by default.
/// Never used in AWS, where every function runs one of [`Function::ALL`]. It trusts its own key
/// file (and the Auth emulator when asked), so it refuses to start inside Lambda.
async fn run_local() -> Result<(), InitError> {
    use noteapp_runtime::local::{
        LocalStack, local_verifier, run_stack, shutdown_signal, store_dir,
    };
    use noteapp_runtime::settings::LocalSettings;
    use noteapp_runtime::store::embedded::{EmbeddedStore, StoreOptions};
    if config::process_vars()
        .optional(config::LAMBDA_RUNTIME_API_VAR)
        .is_some()
    {
        return Err(format!(
            "`local` trusts local signing keys and is refused inside Lambda ({} is set); \
             a function runs api or ws-*",
            config::LAMBDA_RUNTIME_API_VAR
        )
        .into());
    }
    logging::init(
        noteapp_runtime::settings::LogLevel::Info,
        LogFormat::text_for_stderr(),
    );
    let settings = LocalSettings::from_vars(
        |name| std::env::var(name).ok(),
        LocalSettings::CONTAINER_DATA_DIR,
    )?;
    let bind = |port: u16| {
        let addr = format!("{}:{port}", settings.host);
        async move {
            tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))
        }
    };
    let http = bind(settings.port).await?;
    let ws = bind(settings.ws_port).await?;
    let data_dir = settings.data_dir.clone();
    let store = Arc::new(EmbeddedStore::open_with(
        &store_dir(&data_dir),
        StoreOptions {
            sync: settings.sync,
        },
    )?);
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
            &settings.firebase_project,
            settings.auth_emulator.is_some(),
        )?,
        store: store.clone(),
        connections: store.clone(),
        control: store,
        limits: settings.rate_limits,
        cors_origins: settings.cors_origins,
        data_dir,
    };
    run_stack(stack, shutdown_signal()).await?;
    eprintln!("bootstrap local: stopped");
    Ok(())
}

async fn run_ws(handler: WsHandler) -> Result<(), InitError> {
    let config = config::process_vars().ws(handler)?;
    logging::init(config.common.log_level, LogFormat::Json);
    metrics::init_in_lambda(|name| std::env::var(name).ok());
    let aws = load_aws_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let connections = DynamoConnections::new(dynamodb.clone(), config.connections_table.clone());
    let control = config.control_table.as_ref().map(|table| {
        Arc::new(DynamoControl::new(dynamodb, table.clone()))
            as Arc<dyn noteapp_runtime::store::ControlStore>
    });
    let verifier = config
        .firebase_project_id
        .as_ref()
        .map(|project| Verifier::new(project.as_str(), KeySource::google()));
    let endpoint = config
        .websocket_endpoint
        .as_deref()
        .unwrap_or("https://unused.invalid");
    let ctx = Arc::new(WsContext {
        connections: Arc::new(connections),
        control,
        limits: config.limits,
        verifier,
        poster: Arc::new(ManagementPoster::new(&aws, endpoint)),
        fanout: FanoutOptions {
            segments: config.scan_segments,
            send_rate: config.send_rate,
            ..FanoutOptions::default()
        },
    });
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<Value>| {
            let ctx = ctx.clone();
            async move {
                let deadline = remaining(&event.context);
                let payload = event.payload;
                let answer = match handler {
                    WsHandler::Connect => handlers::connect(&ctx, &payload).await,
                    WsHandler::Disconnect => handlers::disconnect(&ctx, &payload).await,
                    WsHandler::Default => handlers::default(&ctx, &payload).await,
                    // A direct invocation that did not reach everyone fails, so Lambda retries.
                    WsHandler::Broadcast => broadcast::handle(&ctx, &payload, deadline).await?,
                };
                Ok::<Value, lambda_runtime::Error>(answer)
            }
        },
    ))
    .await
}

/// `bootstrap cleanup`: purges what deleted notes left (`{"noteId": …}` for one note, invoked
/// by the API after a delete; anything else, such as the schedule's event, for all of them).
/// A purge that fails is an error, so Lambda retries it; the next sweep finishes any that stop.
async fn run_cleanup() -> Result<(), InitError> {
    let config = config::process_vars().cleanup()?;
    logging::init(config.common.log_level, LogFormat::Json);
    metrics::init_in_lambda(|name| std::env::var(name).ok());
    let aws = load_aws_config().await;
    let purger = Arc::new(Purger::new(
        aws_sdk_dynamodb::Client::new(&aws),
        config.comments_table,
    ));
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<Value>| {
            let purger = purger.clone();
            async move {
                let note = event
                    .payload
                    .get("noteId")
                    .and_then(Value::as_str)
                    .and_then(|id| uuid::Uuid::parse_str(id).ok());
                let purged = purger.purge(note).await?;
                tracing::info!(notes = purged.notes, comments = purged.comments, "purged");
                Ok::<Value, lambda_runtime::Error>(
                    serde_json::json!({"notes": purged.notes, "comments": purged.comments}),
                )
            }
        },
    ))
    .await
}

/// `bootstrap guard`: rolls a canary back when the release-health alarm goes to ALARM (its
/// EventBridge rule) or, on its every-minute schedule, when the alarm is in ALARM or a shift's
/// deadline passed (`noteapp_runtime::guard`). A run whose calls failed is an error, so the
/// guard's own error alarm fires; the next minute tries again.
async fn run_guard() -> Result<(), InitError> {
    use noteapp_runtime::guard::{Endpoints, Guard};
    let config = config::process_vars().guard()?;
    logging::init(config.common.log_level, LogFormat::Json);
    metrics::init_in_lambda(|name| std::env::var(name).ok());
    let aws = load_aws_config().await;
    let signer = aws_http::Signer::from_sdk(&aws)
        .ok_or("the Lambda environment gave no region or credentials")?;
    let endpoints = Endpoints::for_region(|name| std::env::var(name).ok(), signer.region());
    let guard = Arc::new(Guard {
        http: aws_http::https_client(std::time::Duration::from_secs(10))?,
        signer,
        endpoints,
        config,
    });
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<Value>| {
            let guard = guard.clone();
            async move {
                let summary = guard.run(&event.payload, chrono::Utc::now()).await?;
                Ok::<Value, lambda_runtime::Error>(summary)
            }
        },
    ))
    .await
}

/// The invocation's deadline as a point in this process's time.
fn remaining(context: &lambda_runtime::Context) -> Option<tokio::time::Instant> {
    let now = chrono::Utc::now().timestamp_millis();
    let left = i64::try_from(context.deadline).ok()? - now;
    (left > 0).then(|| tokio::time::Instant::now() + std::time::Duration::from_millis(left as u64))
}
