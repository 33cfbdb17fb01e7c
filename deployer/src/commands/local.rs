//! `noteapp local`: the whole stack on one machine, and `noteapp local token` to sign in to it.
//!
//! The HTTP API (127.0.0.1:8000) and the WebSocket API with its management API and broadcast
//! route (127.0.0.1:3001) run on the embedded store in `--data-dir`, or on a real DynamoDB API
//! with `--dynamodb-endpoint`. They trust only tokens signed by the local key kept in the data
//! directory, which `noteapp local token` uses; broadcasts need the operator token kept there too
//! (`noteapp local token --operator`). There is no other way in.
//! `--docker` runs the same stack from the Lambda image, in a container (`image::containers`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use noteapp_runtime::auth::{LocalSigner, MAX_UID_CHARS, TokenClaims};
use noteapp_runtime::domain::limits::{RateLimits, parse_limits};
use noteapp_runtime::local::{
    self, LocalStack, LocalStackError, local_verifier, operator_token, shutdown_signal, store_dir,
};
use noteapp_runtime::settings::{FirebaseProjectId, LOCAL_PROJECT, LocalSettings};
use noteapp_runtime::store::dynamodb::{
    DynamoConnections, DynamoControl, DynamoStore, TableNames, create_tables,
};
use noteapp_runtime::store::embedded::{EmbeddedStore, StoreOptions, SyncMode};
use noteapp_runtime::store::{ConnectionStore, ControlStore, Store};
use tokio::net::TcpListener;

use crate::error::Error;
use crate::image::containers::{self, LocalContainer};

/// `noteapp local [--port P] [--ws-port P] [--data-dir DIR] …`, or `noteapp local token …`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LocalArgs {
    #[command(subcommand)]
    command: Option<LocalCommand>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum LocalCommand {
    /// Print a bearer token the local server accepts.
    Token(TokenArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Port of the HTTP API.
    #[arg(long, default_value_t = LocalSettings::DEFAULT_PORT, env = LocalSettings::PORT_VAR)]
    port: u16,
    /// Port of the WebSocket API (with `/@connections` and `/websocket/broadcast`).
    #[arg(long, default_value_t = LocalSettings::DEFAULT_WS_PORT, env = LocalSettings::WS_PORT_VAR)]
    ws_port: u16,
    /// Use the DynamoDB API at this URL (tables are created if missing) instead of the
    /// embedded store.
    #[arg(long, env = "NOTEAPP_DYNAMODB_ENDPOINT")]
    dynamodb_endpoint: Option<String>,
    /// Table name prefix with --dynamodb-endpoint.
    #[arg(long, default_value = LocalSettings::DEFAULT_TABLE_PREFIX)]
    table_prefix: String,
    /// The Firebase project whose tokens are accepted (the front end's, with the Auth emulator).
    #[arg(long, env = LocalSettings::PROJECT_VAR, default_value = LOCAL_PROJECT, value_parser = project_id)]
    firebase_project: String,
    /// With the Firebase Auth emulator running here (host:port), also accept its unsigned tokens,
    /// as Firebase's Admin SDKs do. Local development only.
    #[arg(long, env = LocalSettings::EMULATOR_VAR)]
    auth_emulator: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = LocalSettings::DEFAULT_HOST, env = LocalSettings::HOST_VAR)]
    host: String,
    /// Where the local store and signing key live. One server at a time may use it.
    #[arg(long, default_value = LocalSettings::DEFAULT_DATA_DIR, env = LocalSettings::DATA_DIR_VAR)]
    data_dir: PathBuf,
    /// When the embedded store's writes reach the disk: `never` hands each write to the
    /// operating system before answering (it survives the server being killed, not a power
    /// cut); `always` also flushes it to the disk (survives a power cut, slower).
    #[arg(long, default_value = "never", env = LocalSettings::SYNC_VAR, value_parser = SyncMode::parse, value_name = "never|always")]
    sync: SyncMode,
    /// The rate limits, as in AWS: `key=rate` pairs over the defaults (`comments=20/min,
    /// ws_connections_per_user=10`; the keys are those of `rate_limits:` in the environment
    /// files), or `off` (for benchmarks).
    #[arg(long, default_value = "", env = LocalSettings::RATE_LIMITS_VAR, value_parser = limits_flag, value_name = "KEY=RATE,…|off", hide_default_value = true)]
    rate_limits: LimitsFlag,
    /// Origins allowed by CORS (repeat, or comma-separate); `*` allows any.
    #[arg(
        long = "cors-origin",
        env = LocalSettings::CORS_VAR,
        value_delimiter = ',',
        default_values_t = LocalSettings::DEFAULT_CORS_ORIGINS.map(String::from)
    )]
    cors_origins: Vec<String>,
    /// Run the stack from the Lambda image, in a container (a Docker engine is needed): the
    /// image is built from Dockerfile.lambda unless --image names one.
    #[arg(long, conflicts_with = "dynamodb_endpoint")]
    docker: bool,
    /// With --docker: the base image to build on.
    #[arg(long, default_value = "scratch", value_name = "IMAGE")]
    base: String,
    /// With --docker: run this image (NAME:TAG or NAME@sha256:…) instead of building one.
    #[arg(long, requires = "docker", value_name = "REF")]
    image: Option<String>,
    /// With --docker: build the image around this `bootstrap` instead of compiling one (static,
    /// unless --base has the libraries it links).
    #[arg(
        long,
        requires = "docker",
        conflicts_with = "image",
        value_name = "PATH"
    )]
    bootstrap: Option<PathBuf>,
}

impl ServeArgs {
    /// The local stack these flags describe.
    fn settings(&self) -> LocalSettings {
        LocalSettings {
            host: self.host.clone(),
            port: self.port,
            ws_port: self.ws_port,
            data_dir: self.data_dir.clone(),
            cors_origins: self.cors_origins.clone(),
            firebase_project: self.firebase_project.clone(),
            auth_emulator: self.auth_emulator.clone().filter(|h| !h.is_empty()),
            sync: self.sync,
            rate_limits: self.rate_limits.limits(),
        }
    }
}

/// `--rate-limits`: the limits, or `None` for `off` (boxed: the flags stay small).
#[derive(Clone)]
struct LimitsFlag(Option<Box<RateLimits>>);

impl LimitsFlag {
    fn limits(&self) -> Option<RateLimits> {
        self.0.as_deref().copied()
    }
}

fn limits_flag(text: &str) -> Result<LimitsFlag, String> {
    parse_limits(text).map(|limits| LimitsFlag(limits.map(Box::new)))
}

/// The one Firebase project id rule, as a flag parser.
fn project_id(value: &str) -> Result<String, String> {
    FirebaseProjectId::parse(value).map(|id| id.to_string())
}

#[derive(Args)]
struct TokenArgs {
    /// The user id (`sub`) the token is for.
    #[arg(long, required_unless_present = "operator")]
    uid: Option<String>,
    /// Print the operator credential for `POST /websocket/broadcast` instead.
    #[arg(long, conflicts_with_all = ["uid", "anonymous", "name", "email"])]
    operator: bool,
    /// Make it an anonymous user's token.
    #[arg(long)]
    anonymous: bool,
    /// The `name` claim.
    #[arg(long)]
    name: Option<String>,
    /// The `email` claim.
    #[arg(long)]
    email: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    expires_in: i64,
    /// The data directory of the server that should accept the token.
    #[arg(long, default_value = LocalSettings::DEFAULT_DATA_DIR, env = LocalSettings::DATA_DIR_VAR)]
    data_dir: PathBuf,
    /// The Firebase project the server accepts (as its `--firebase-project`).
    #[arg(long, env = LocalSettings::PROJECT_VAR, default_value = LOCAL_PROJECT, value_parser = project_id)]
    firebase_project: String,
}

/// Runs `noteapp local`: serves until Ctrl-C or SIGTERM; `local token` prints a token and
/// returns.
pub async fn run(args: LocalArgs) -> Result<(), Error> {
    match args.command {
        Some(LocalCommand::Token(token)) => print_token(token),
        None => serve(args.serve).await,
    }
}

fn signer(dir: &Path) -> Result<LocalSigner, Error> {
    LocalSigner::load_or_create(dir).map_err(|e| Error::SigningKey {
        dir: dir.to_path_buf(),
        reason: e.to_string(),
    })
}

fn print_token(args: TokenArgs) -> Result<(), Error> {
    if args.operator {
        let token = operator_token(&args.data_dir).map_err(|e| Error::SigningKey {
            dir: args.data_dir.clone(),
            reason: format!("cannot read or create the operator token: {e}"),
        })?;
        println!("{token}");
        return Ok(());
    }
    let uid = args.uid.unwrap_or_default();
    if uid.is_empty() || uid.chars().count() > MAX_UID_CHARS {
        return Err(Error::Usage(format!(
            "--uid must be 1 to {MAX_UID_CHARS} characters"
        )));
    }
    if args.expires_in <= 0 {
        return Err(Error::Usage("--expires-in must be positive".into()));
    }
    let signer = signer(&args.data_dir)?;
    let claims = TokenClaims {
        uid,
        project_id: args.firebase_project.clone(),
        anonymous: args.anonymous,
        name: args.name,
        email: args.email,
        issued_at: chrono::Utc::now().timestamp(),
        expires_in_secs: args.expires_in,
    };
    let token = signer.sign(&claims).map_err(|e| Error::SigningKey {
        dir: args.data_dir.clone(),
        reason: e.to_string(),
    })?;
    println!("{token}");
    Ok(())
}

async fn bind(host: &str, port: u16) -> Result<(TcpListener, String), Error> {
    let addr = format!("{host}:{port}");
    match TcpListener::bind(&addr).await {
        Ok(listener) => Ok((listener, addr)),
        Err(source) => Err(Error::Bind { addr, source }),
    }
}

async fn serve(args: ServeArgs) -> Result<(), Error> {
    if args.docker {
        return serve_docker(args).await;
    }
    let emulator = args.auth_emulator.as_deref().filter(|h| !h.is_empty());
    if let Some(host) = emulator {
        eprintln!(
            "noteapp local: accepting Firebase Auth emulator tokens (emulator at {host}) for project {}",
            args.firebase_project
        );
    }
    let verifier = local_verifier(&args.data_dir, &args.firebase_project, emulator.is_some())
        .map_err(|e| match e {
            LocalStackError::SigningKey { dir, reason } => Error::SigningKey { dir, reason },
            other => Error::Usage(format!("--firebase-project: {other}")),
        })?;
    // Listen first: a busy port is reported before the data directory is touched.
    let (http_listener, http_addr) = bind(&args.host, args.port).await?;
    let (ws_listener, ws_addr) = bind(&args.host, args.ws_port).await?;
    let (store, connections, control, what): Stores = match &args.dynamodb_endpoint {
        None => {
            let options = StoreOptions { sync: args.sync };
            let store = Arc::new(EmbeddedStore::open_with(
                &store_dir(&args.data_dir),
                options,
            )?);
            (
                store.clone(),
                store.clone(),
                store,
                "embedded store".to_owned(),
            )
        }
        Some(endpoint) => {
            let (client, names) = dynamodb_tables(endpoint, &args.table_prefix).await?;
            let store = DynamoStore::new(client.clone(), names.store_tables());
            let connections = DynamoConnections::new(client.clone(), names.connections);
            let control = DynamoControl::new(client, names.control);
            (
                Arc::new(store),
                Arc::new(connections),
                Arc::new(control),
                format!("DynamoDB at {endpoint}"),
            )
        }
    };
    eprintln!(
        "noteapp local: API on http://{http_addr}, WebSocket on ws://{ws_addr} ({what}, data in {})",
        args.data_dir.display()
    );
    eprintln!("noteapp local: CORS for {}", args.cors_origins.join(", "));
    match &args.rate_limits.limits() {
        Some(limits) if *limits != RateLimits::DEFAULT => {
            eprintln!("noteapp local: rate limits {limits}")
        }
        Some(_) => {}
        None => eprintln!("noteapp local: rate limits off"),
    }
    eprintln!(
        "sign in with: noteapp local token --uid alice   (broadcast: noteapp local token --operator)"
    );
    let stack = LocalStack {
        http: http_listener,
        ws: ws_listener,
        data_dir: args.data_dir,
        verifier,
        store,
        connections,
        control,
        limits: args.rate_limits.limits(),
        cors_origins: args.cors_origins,
    };
    local::run_stack(stack, shutdown_signal()).await?;
    eprintln!("noteapp local: stopped");
    Ok(())
}

/// The notes store, the connections, the control store, and what they are, for the banner.
type Stores = (
    Arc<dyn Store>,
    Arc<dyn ConnectionStore>,
    Arc<dyn ControlStore>,
    String,
);

/// The tables at a DynamoDB API (created where missing), and a client for them.
async fn dynamodb_tables(
    endpoint: &str,
    prefix: &str,
) -> Result<(aws_sdk_dynamodb::Client, TableNames), Error> {
    let client = crate::aws::local_dynamodb(endpoint);
    let names = TableNames::with_prefix(prefix);
    create_tables(&client, &names)
        .await
        .map_err(|e| Error::Usage(format!("cannot prepare tables at {endpoint}: {e}")))?;
    Ok((client, names))
}

/// `--docker`: the same stack from the Lambda image, in a container (see `image::containers`).
async fn serve_docker(args: ServeArgs) -> Result<(), Error> {
    let spec = LocalContainer {
        image: args.image.clone().unwrap_or_default(),
        settings: args.settings(),
    };
    containers::serve(
        spec,
        &args.base,
        args.bootstrap.as_deref(),
        shutdown_signal(),
    )
    .await
}
