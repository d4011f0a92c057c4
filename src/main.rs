//! `callscope`: the one binary. Each subcommand is one part of the platform; only parts that exist are
//! listed.

mod config;
mod import;
mod keys;
mod services;
mod simulate;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use callscope_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use callscope_bus::kafka::{KafkaBus, KafkaConfig};
use callscope_bus::{Bus, DEAD_LETTER_TOPIC, INGEST_TOPIC};
use callscope_ingest::auth::{AuthSettings, Authenticator};
use callscope_ingest::ratelimit::RateLimiter;
use callscope_ingest::registry::{JwtAlgorithm, Registry};
use clap::{Args, Parser, Subcommand};
use figment::Figment;
use figment::providers::Serialized;

use crate::config::Config;

/// Self-hosted WebRTC call-quality analytics.
#[derive(Debug, Parser)]
#[command(name = "callscope", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// TOML configuration file (layered: defaults < file < CALLSCOPE__SECTION__KEY environment < flags).
    #[arg(long, global = true, env = "CALLSCOPE_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the embedded log, the app registry and the token keys [default: ./data].
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Kafka bootstrap servers (host:port,...); without it the embedded log is used.
    #[arg(long, global = true)]
    kafka: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the ingest service: authentication and the callstats REST API, writing to the bus.
    Ingest(IngestArgs),
    /// Run ingest, processor and query in one process (embedded log unless --kafka), with the dashboard.
    Up(UpArgs),
    /// Run the processor: consume the bus, compute quality and summaries, write Parquet.
    Processor,
    /// Run the query service: dashboard API, SQL and the web dashboard over the Parquet tables.
    Query(QueryArgs),
    /// Manage registered apps and their keys.
    #[command(subcommand)]
    Apps(AppsCommand),
    /// Create the ingest and dead-letter topics on the bus.
    Topics,
    /// Drive realistic synthetic conferences through the public HTTP API, as the browser SDK does.
    Simulate(simulate::SimulateArgs),
    /// Replay rtcstats dump files through the pipeline (through ingest, or straight onto the bus).
    Import(import::ImportArgs),
}

#[derive(Debug, Args)]
struct IngestArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<String>,
}

#[derive(Debug, Args)]
struct UpArgs {
    /// Address of the ingest API [default: 127.0.0.1:8080].
    #[arg(long)]
    ingest_listen: Option<String>,
    /// Address of the dashboard and query API [default: 127.0.0.1:8081].
    #[arg(long)]
    query_listen: Option<String>,
}

#[derive(Debug, Args)]
struct QueryArgs {
    /// Address to listen on [default: 127.0.0.1:8081].
    #[arg(long)]
    listen: Option<String>,
}

#[derive(Debug, Subcommand)]
enum AppsCommand {
    /// Register an app; prints its AppID and AppSecret (shown this once).
    Add {
        #[arg(long, default_value = "")]
        name: String,
        /// Choose the AppID instead of a random 9-digit one.
        #[arg(long)]
        app_id: Option<String>,
    },
    /// List apps (no secrets).
    List,
    /// Show one app (no secrets).
    Show { app_id: String },
    /// Replace the AppSecret; prints the new one (shown this once).
    RotateSecret { app_id: String },
    /// Allow a browser origin (e.g. https://meet.example.com); once any is set, only those are accepted.
    AddOrigin { app_id: String, origin: String },
    /// Register a third-party JWT key: an HS256 shared secret or an ES256 public key (PEM file).
    AddJwtKey {
        app_id: String,
        #[arg(long)]
        key_id: String,
        #[arg(long, value_parser = ["HS256", "ES256"])]
        alg: String,
        /// HS256 shared secret.
        #[arg(long, conflicts_with = "public_key_file", allow_hyphen_values = true)]
        secret: Option<String>,
        /// ES256 public key, PEM.
        #[arg(long)]
        public_key_file: Option<PathBuf>,
    },
    /// Create a query API key; prints it (shown this once).
    AddQueryKey { app_id: String },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("CALLSCOPE_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load_config(global: &GlobalArgs, extra: Figment) -> anyhow::Result<Config> {
    let mut flags = extra;
    if let Some(dir) = &global.data_dir {
        flags = flags.merge(Serialized::default("data_dir", dir));
    }
    if let Some(kafka) = &global.kafka {
        flags = flags.merge(Serialized::default("bus.kafka", kafka));
    }
    Config::load(global.config.as_deref(), flags)
}

/// The Kafka client settings of `config`.
pub fn kafka_config(config: &Config, brokers: &str) -> KafkaConfig {
    let mut kafka = KafkaConfig::new(brokers);
    kafka.replication_factor = config.bus.replication_factor;
    kafka.producer_queue_messages = config.bus.producer_queue;
    // A refused request must never be written later: the producer gives up when ingest does.
    kafka.delivery_timeout = config.ingest.bus_timeout();
    kafka
}

pub fn open_bus(config: &Config) -> anyhow::Result<Arc<dyn Bus>> {
    Ok(match &config.bus.kafka {
        Some(brokers) => Arc::new(KafkaBus::new(kafka_config(config, brokers))),
        None => {
            let mut embedded = EmbeddedConfig::new(config.data_dir.join("bus.redb"));
            embedded.queue_capacity = config.bus.producer_queue.min(100_000);
            Arc::new(EmbeddedBus::open(embedded).with_context(|| {
                format!("opening the embedded log in {}", config.data_dir.display())
            })?)
        }
    })
}

async fn topics(config: &Config) -> anyhow::Result<()> {
    let bus = open_bus(config)?;
    // The dead-letter topic needs few partitions: it holds only what could not be decoded.
    bus.ensure_topics(&[
        (INGEST_TOPIC, config.bus.partitions),
        (DEAD_LETTER_TOPIC, 1),
    ])
    .await
    .context("creating topics")?;
    println!(
        "topics ready on the {} bus: {INGEST_TOPIC} ({} partitions), {DEAD_LETTER_TOPIC}",
        bus.name(),
        config.bus.partitions
    );
    Ok(())
}

fn apps(config: &Config, command: AppsCommand) -> anyhow::Result<()> {
    let registry = Registry::open(config.registry_path())?;
    match command {
        AppsCommand::Add { name, app_id } => {
            let issued = registry.add(&name, app_id.as_deref())?;
            println!(
                "AppID:     {}\nAppSecret: {}\n(the secret is shown only now)",
                issued.app_id, issued.secret
            );
        }
        AppsCommand::List => {
            for app in registry.list() {
                println!(
                    "{}\t{}\torigins={}\tjwt_keys={}\tquery_keys={}",
                    app.app_id,
                    app.name,
                    app.origins.len(),
                    app.jwt_keys.len(),
                    app.query_keys.len()
                );
            }
        }
        AppsCommand::Show { app_id } => {
            let app = registry
                .get(&app_id)
                .with_context(|| format!("unknown app {app_id:?}"))?;
            let view = serde_json::json!({
                "appID": app.app_id,
                "name": app.name,
                "origins": app.origins,
                "jwtKeys": app.jwt_keys.iter().map(|k| serde_json::json!({"keyID": k.key_id, "algorithm": format!("{:?}", k.algorithm)})).collect::<Vec<_>>(),
                "queryKeys": app.query_keys.iter().map(|k| serde_json::json!({"keyID": k.key_id, "createdAtMs": k.created_at_ms})).collect::<Vec<_>>(),
                "createdAtMs": app.created_at_ms,
            });
            println!("{}", serde_json::to_string_pretty(&view)?);
        }
        AppsCommand::RotateSecret { app_id } => {
            let issued = registry.rotate_secret(&app_id)?;
            println!(
                "AppID:     {}\nAppSecret: {}\n(the secret is shown only now)",
                issued.app_id, issued.secret
            );
        }
        AppsCommand::AddOrigin { app_id, origin } => {
            let origin = registry.add_origin(&app_id, &origin)?;
            println!("origin {origin} allowed for app {app_id}");
        }
        AppsCommand::AddJwtKey {
            app_id,
            key_id,
            alg,
            secret,
            public_key_file,
        } => {
            let (algorithm, material) = match (alg.as_str(), secret, public_key_file) {
                ("HS256", Some(secret), None) => (JwtAlgorithm::HS256, secret),
                ("ES256", None, Some(file)) => (
                    JwtAlgorithm::ES256,
                    std::fs::read_to_string(&file)
                        .with_context(|| format!("reading {}", file.display()))?,
                ),
                ("HS256", _, _) => anyhow::bail!("HS256 needs --secret"),
                _ => anyhow::bail!("ES256 needs --public-key-file"),
            };
            registry.add_jwt_key(&app_id, &key_id, algorithm, &material)?;
            println!("{alg} key {key_id} registered for app {app_id}");
        }
        AppsCommand::AddQueryKey { app_id } => {
            let key = registry.add_query_key(&app_id)?;
            println!("query key for app {app_id}: {key}\n(shown only now)");
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn ingest_state(
    config: &Config,
    bus: &dyn Bus,
) -> anyhow::Result<actix_web::web::Data<callscope_ingest::State>> {
    let registry = Registry::open(config.registry_path())?;
    let mut settings = AuthSettings::new(keys::load_or_create(&config.keys_path())?);
    settings.token_ttl = std::time::Duration::from_secs(config.ingest.token_ttl_secs);
    settings.challenge_ttl = std::time::Duration::from_secs(config.ingest.challenge_ttl_secs);
    Ok(actix_web::web::Data::new(callscope_ingest::State {
        auth: Arc::new(Authenticator::new(settings, registry)),
        producer: bus.producer()?,
        topic: INGEST_TOPIC.to_owned(),
        limiter: RateLimiter::new(config.ingest.limits()),
        metrics: callscope_ingest::Metrics::new()?,
        config: config.ingest.clone(),
        progress: Arc::default(),
    }))
}

async fn ingest(config: Config) -> anyhow::Result<()> {
    let bus = open_bus(&config)?;
    bus.ensure_topics(&[
        (INGEST_TOPIC, config.bus.partitions),
        (DEAD_LETTER_TOPIC, 1),
    ])
    .await
    .context("creating topics")?;
    let state = ingest_state(&config, bus.as_ref())?;
    let producer = Arc::clone(&state.producer);
    let server = callscope_ingest::server(state.clone())
        .with_context(|| format!("binding the ingest API on {}", config.ingest.listen))?;
    let handle = server.handle();
    let running = tokio::spawn(server);
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    handle.stop(true).await;
    let _ = running.await;
    callscope_ingest::flush_progress(&state).await;
    producer.flush(std::time::Duration::from_secs(10)).await?;
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// An actix system (its servers spawn local tasks) on a multi-threaded tokio runtime, so the processor and
/// the query engine get every core.
fn service_system() -> actix_web::rt::SystemRunner {
    actix_web::rt::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the tokio runtime: {e}"))
    })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Apps(command) => apps(&load_config(&cli.global, Figment::new())?, command),
        Command::Topics => runtime()?.block_on(topics(&load_config(&cli.global, Figment::new())?)),
        Command::Simulate(args) => {
            let report = runtime()?.block_on(simulate::run(args))?;
            simulate::print(&report);
            Ok(())
        }
        Command::Up(args) => {
            let mut flags = Figment::new();
            if let Some(listen) = args.ingest_listen {
                flags = flags.merge(Serialized::default("ingest.listen", listen));
            }
            if let Some(listen) = args.query_listen {
                flags = flags.merge(Serialized::default("query.listen", listen));
            }
            service_system().block_on(services::up(load_config(&cli.global, flags)?))
        }
        Command::Processor => service_system().block_on(services::processor(load_config(
            &cli.global,
            Figment::new(),
        )?)),
        Command::Query(args) => {
            let mut flags = Figment::new();
            if let Some(listen) = args.listen {
                flags = flags.merge(Serialized::default("query.listen", listen));
            }
            service_system().block_on(services::query(load_config(&cli.global, flags)?))
        }
        Command::Import(args) => {
            let config = load_config(&cli.global, Figment::new())?;
            runtime()?.block_on(import::run(args, &config))
        }
        Command::Ingest(args) => {
            let mut flags = Figment::new();
            if let Some(listen) = args.listen {
                flags = flags.merge(Serialized::default("ingest.listen", listen));
            }
            let config = load_config(&cli.global, flags)?;
            // actix's server runs on the actix system inside a tokio LocalSet.
            service_system().block_on(ingest(config))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    /// One in 64 generated secrets begins with "-" (base64url); it must still be taken as the value.
    #[test]
    fn a_secret_beginning_with_a_hyphen_is_a_value_not_a_flag() {
        let cli = Cli::try_parse_from([
            "callscope",
            "simulate",
            "--app-id",
            "app1",
            "--app-secret",
            "-Kx9_secret",
            "--conferences",
            "2",
        ])
        .expect("parses");
        match cli.command {
            Command::Simulate(args) => {
                assert_eq!(args.app_secret, "-Kx9_secret");
                assert_eq!(args.conferences, 2);
            }
            other => panic!("parsed as {other:?}"),
        }
        let cli = Cli::try_parse_from([
            "callscope",
            "import",
            "dump.txt",
            "--app-id",
            "app1",
            "--app-secret",
            "-abc",
        ])
        .expect("parses");
        match cli.command {
            Command::Import(args) => assert_eq!(args.app_secret.as_deref(), Some("-abc")),
            other => panic!("parsed as {other:?}"),
        }
    }
}
