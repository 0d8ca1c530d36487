//! The `referral-hub` command line: thin; everything lives in the library.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use clap::{Parser, Subcommand};
use entity::JobTrigger;
use referral_hub::auth::{JwtKeys, MintRequest};
use referral_hub::clock::{Clock, SystemClock};
use referral_hub::config::Config;
use referral_hub::context::Ctx;
use referral_hub::jobs::{self, JobName, RunOutcome};
use referral_hub::{App, demo, graphql};

/// mimalloc: a GraphQL response is thousands of small allocations, and
/// glibc's malloc spent a quarter of a list request's CPU on them, much of
/// it waiting on its arena locks across worker threads (measured with
/// `bench/api.sh` and perf). Its version 2 line (the crate's `v2` feature)
/// hands freed pages back to the system after 10 ms, where version 3 keeps
/// them for a second: a 100,000-row import grew the process 10–12 MiB
/// instead of 33–75 MiB, at the same speed, and the list request (a) ran as
/// fast (README, "CSV import"). Built without transparent huge pages
/// (`no_thp`): mimalloc asks the kernel for them on its 1 GiB arena, and a
/// page it hands back and reuses 10 ms later then comes back as a fresh
/// 2 MiB page to zero — 7 % of an import preview's samples. Five alternating
/// SQLite imports: a median of 67,900 rows/s without against 63,000 with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "referral-hub", version, about = "GraphQL API server and job scheduler for partner referral programs")]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default): migrates, then serves GraphQL.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL), as kept in schema.graphql.
    Schema,
    /// Mint a development token with the configured key.
    Token {
        /// VENDOR, PARTNER, REPORT_VIEWER, EXECUTIVE_REPORT_VIEWER or ADMIN.
        #[arg(long, default_value = "ADMIN")]
        role: String,
        /// Organization id (not needed for ADMIN).
        #[arg(long)]
        org: Option<i64>,
        /// The user's subject id.
        #[arg(long, default_value = "dev-user")]
        sub: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Lifetime such as 30m, 12h or 7d.
        #[arg(long, default_value = "24h")]
        ttl: String,
    },
    /// Run a job now, as of a time.
    RunJob {
        #[arg(value_enum)]
        name: JobName,
        /// The time the job acts as of (RFC 3339); default now.
        #[arg(long)]
        as_of: Option<DateTime<Utc>>,
    },
    /// Load a small demo program into the database.
    DemoData,
}

fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let (n, unit) = raw.split_at(raw.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| format!("bad --ttl {raw}: use e.g. 30m, 12h, 7d"))?;
    match unit {
        "s" => Ok(Duration::seconds(n)),
        "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        _ => Err(format!("bad --ttl {raw}: use e.g. 30m, 12h, 7d")),
    }
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn connect(config: &Config) -> Result<Ctx, String> {
    let channels = referral_hub::outbound::Channels::new(
        config.smtp_url.as_deref(),
        &config.smtp_from,
        config.webhook_private_targets,
    )?
    .with_app_url(config.public_app_url.clone());
    Ok(Ctx::connect(&config.database_url(), Arc::new(SystemClock)).await?.with_channels(channels))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}

async fn run(cli: Cli) -> Result<(), String> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = App::build(config.clone(), Arc::new(SystemClock)).await?;
            let url = config.database_url();
            let backend = if url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
            let addr = config.bind.rsplit_once(':').map(|(h, _)| h.to_owned()).unwrap_or_default();
            tracing::info!(database = backend, "database migrated");
            tracing::info!("GraphiQL at http://{}:{}/graphql", addr, app.port());
            app.serve(shutdown_signal()).await
        }
        Command::Migrate => {
            connect(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Command::Token { role, org, sub, name, email, ttl } => {
            let keys = JwtKeys::from_settings(&config.jwt, &config.data_dir)?;
            let req = MintRequest {
                subject: sub,
                role: role.to_ascii_uppercase(),
                org,
                lifetime: parse_ttl(&ttl)?,
                name,
                email,
            };
            println!("{}", keys.mint(&req, SystemClock.now())?);
            Ok(())
        }
        Command::RunJob { name: job, as_of } => {
            let ctx = connect(&config).await?;
            let as_of = as_of.unwrap_or_else(|| ctx.now());
            match jobs::run(&ctx, job, jobs::manual_slot(), JobTrigger::Manual, as_of, None)
                .await
                .map_err(|e| e.message())?
            {
                RunOutcome::Ran(run) => {
                    println!(
                        "{} as of {}: {} items{}",
                        run.job,
                        run.as_of.to_rfc3339(),
                        run.items_touched,
                        run.error.map(|e| format!(", failed: {e}")).unwrap_or_default()
                    );
                    Ok(())
                }
                RunOutcome::AlreadyClaimed => Err("the run's slot was already claimed".into()),
            }
        }
        Command::DemoData => {
            let ctx = connect(&config).await?;
            let demo = demo::load(&ctx).await.map_err(|e| e.message())?;
            println!(
                "Loaded {} partners into program {} of vendor organization {}.",
                demo.partners, demo.program_id, demo.vendor_org_id
            );
            println!("Try:  referral-hub token --role VENDOR --org {} --sub demo-vendor", demo.vendor_org_id);
            println!("      referral-hub token --role PARTNER --org {} --sub demo-partner", demo.partner_org_id);
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    init_logging(&cli.config.log_format);
    if let Err(e) = run(cli).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
