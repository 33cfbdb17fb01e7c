//! `noteapp migrate ENV --from-stack NAME | --from-tables notes=T,users=T`: the seed's notes and
//! users, copied into ENV's tables (the stack's, or with `--dynamodb-endpoint` the tables
//! `noteapp local --dynamodb-endpoint` uses), verified, with the cutover steps. The steps and
//! the rules are in [`crate::flow::migrate`]; this module resolves the flags into a migration.
//!
//! Exit codes: 0 every item agrees (or a dry run), 4 the verification found differences (the
//! report names each), 1 the migration failed, 3 refused without `--yes` and no terminal,
//! 130 interrupted (run it again: it resumes).

use noteapp_runtime::settings::LocalSettings;
use noteapp_runtime::store::dynamodb::TableNames;

use crate::aws::Clients;
use crate::commands::data::{DataTables, DataTarget, target_tables};
use crate::error::Error;
use crate::flow::migrate::report::{MigrateResult, TargetReport};
use crate::flow::migrate::{self, Migration, Options, Target, source};
use crate::interrupt::ctrl_c;
use crate::output;
use crate::policy::migrate::{MigrateScope, migrate_policy};
use crate::progress::{Progress, Prompt};

/// `noteapp migrate ENV --from-stack NAME | --from-tables notes=T,users=T [--dry-run] [--yes] …`.
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("from").required(true).args(["from_stack", "from_tables"])
))]
pub struct MigrateArgs {
    /// Where the seed's items go: ENV's stack's tables, or a local DynamoDB API's.
    #[command(flatten)]
    pub target: DataTarget,
    /// The seed's SAM stack, e.g. next-fastapi-note-app-staging (its NotesTable and UsersTable).
    #[arg(long, value_name = "NAME")]
    pub from_stack: Option<String>,
    /// The seed's tables by name, outside any stack (a restored copy, for example).
    #[arg(long, value_name = "notes=T,users=T")]
    pub from_tables: Option<String>,
    /// The source's region (default: the environment's).
    #[arg(long, value_name = "REGION")]
    pub from_region: Option<String>,
    /// Protect nothing and write nothing: print the plan (counts, mapping, odd items) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before writing.
    #[arg(long)]
    pub yes: bool,
    /// Source items read per second, over every segment (0: no limit).
    #[arg(long, value_name = "ITEMS_PER_SECOND", default_value_t = 500)]
    pub rate: u32,
    /// Parallel scan segments of each source table.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub segments: u32,
    /// Skip the second pass that copies what the seed wrote during the first.
    #[arg(long)]
    pub no_catch_up: bool,
    /// Print the least-privilege IAM policy this migration needs (JSON) and stop.
    #[arg(long, conflicts_with_all = ["dry_run", "dynamodb_endpoint"])]
    pub print_policy: bool,
}

/// Runs `noteapp migrate`: the report on stdout; exit 4 ([`Error::Differences`]) when the
/// verification finds the target differs from the seed.
pub async fn run(args: MigrateArgs) -> Result<(), Error> {
    let loaded = args.target.env.load()?;
    if loaded.config.is_local_only() && args.target.dynamodb_endpoint.is_none() {
        return Err(Error::Usage(format!(
            "{}; to try a migration locally, give --dynamodb-endpoint URL (the tables `noteapp \
             local --dynamodb-endpoint URL` uses)",
            Error::local_only(loaded.config.name())
        )));
    }
    let region = args
        .from_region
        .clone()
        .unwrap_or_else(|| loaded.config.region.clone());
    if args.print_policy {
        let named = args.from_tables.as_deref().map(source::parse_tables);
        let scope = MigrateScope {
            account: loaded.config.account_id.clone(),
            source_region: region,
            seed_stack: args.from_stack.clone(),
            source_tables: named
                .transpose()?
                .map(|(n, u)| vec![n, u])
                .unwrap_or_default(),
            target_region: loaded.config.region.clone(),
            target_stack: loaded.config.stack_name.clone(),
        };
        let policy =
            serde_json::to_string_pretty(&migrate_policy(&scope)).map_err(std::io::Error::other)?;
        println!("{policy}");
        return Ok(());
    }
    let progress = Progress::stderr();
    let DataTables {
        store,
        description,
        stack,
    } = target_tables(&args.target, &progress).await?;
    let loaded_clients;
    let clients = match &stack {
        Some((_, clients)) if region == loaded.config.region => clients,
        _ => {
            loaded_clients = Clients::load(&region).await;
            &loaded_clients
        }
    };
    let source = match (&args.from_stack, &args.from_tables) {
        (Some(name), _) => source::from_stack(&clients.cloudformation, name).await?,
        (None, Some(spec)) => {
            let (notes, users) = source::parse_tables(spec)?;
            source::Source {
                notes,
                users,
                stack: None,
            }
        }
        (None, None) => unreachable!("clap requires one of them"),
    };
    let (report, create) = match &stack {
        Some((info, _)) => {
            let output = |key: &str| {
                info.outputs
                    .get(key)
                    .cloned()
                    .unwrap_or_else(|| format!("(the stack has no output {key})"))
            };
            let urls = TargetReport {
                tables: description,
                api_url: output("FunctionUrlEndpoint"),
                websocket_url: output("WebSocketURL"),
            };
            (urls, None)
        }
        None => {
            let urls = TargetReport {
                tables: description,
                api_url: format!(
                    "http://{}:{}",
                    LocalSettings::DEFAULT_HOST,
                    LocalSettings::DEFAULT_PORT
                ),
                websocket_url: format!(
                    "ws://{}:{}",
                    LocalSettings::DEFAULT_HOST,
                    LocalSettings::DEFAULT_WS_PORT
                ),
            };
            (
                urls,
                Some(TableNames::with_prefix(&args.target.table_prefix)),
            )
        }
    };
    let migration = Migration {
        environment: args.target.env.env.clone(),
        region,
        source_client: &clients.dynamodb,
        source,
        target: Target {
            store,
            report,
            create,
        },
        options: Options {
            dry_run: args.dry_run,
            yes: args.yes,
            rate: args.rate,
            segments: args.segments,
            catch_up: !args.no_catch_up,
        },
        progress: &progress,
        prompt: &Prompt::stdin(),
    };
    let report = tokio::select! {
        report = migrate::migrate(migration) => report,
        () = ctrl_c() => Err(Error::Interrupted(
            "the migration stopped; run the same command again: it copies only what is \
             missing or changed, so nothing is duplicated or missed".into(),
        )),
    };
    progress.clear();
    let report = report?;
    output::emit(&report, args.target.json)?;
    if report.result == MigrateResult::Differences {
        return Err(Error::Differences(format!(
            "the target disagrees with the seed in {} places (named above); run the migration \
             again once the seed is quiet",
            report
                .verification
                .as_ref()
                .map_or(0, |v| v.differences.len())
        )));
    }
    Ok(())
}
