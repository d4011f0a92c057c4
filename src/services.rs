//! Running the services: `processor`, `query`, and `up` (all three in one process on the embedded log).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use callscope_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use callscope_bus::kafka::KafkaBus;
use callscope_bus::{Bus, DEAD_LETTER_TOPIC, INGEST_TOPIC};
use callscope_ingest::registry::Registry;

use crate::config::Config;

/// `/metrics`, `/healthz` and `/readyz` for a service that has no HTTP API of its own (the processor).
fn admin_server(
    registry: prometheus::Registry,
    listen: &str,
    ready: Arc<AtomicBool>,
) -> anyhow::Result<actix_web::dev::Server> {
    let server = HttpServer::new(move || {
        let registry = registry.clone();
        let ready = Arc::clone(&ready);
        App::new()
            .route(
                "/metrics",
                web::get().to(move || {
                    let registry = registry.clone();
                    async move {
                        use prometheus::Encoder as _;
                        let mut out = Vec::new();
                        match prometheus::TextEncoder::new().encode(&registry.gather(), &mut out) {
                            Ok(()) => HttpResponse::Ok()
                                .content_type("text/plain; version=0.0.4")
                                .body(out),
                            Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
                        }
                    }
                }),
            )
            .route(
                "/healthz",
                web::get().to(|| async { HttpResponse::Ok().body("ok") }),
            )
            .route(
                "/readyz",
                web::get().to(move || {
                    let ready = ready.load(Ordering::Relaxed);
                    async move {
                        if ready {
                            HttpResponse::Ok().body("ready")
                        } else {
                            HttpResponse::ServiceUnavailable().body("processor not running")
                        }
                    }
                }),
            )
    })
    .workers(1)
    .bind(listen)
    .with_context(|| format!("binding the processor admin endpoint on {listen}"))?
    .disable_signals()
    .shutdown_timeout(5)
    .run();
    Ok(server)
}

/// Where the lake lives when the sections do not say: `<data_dir>/lake`, shared by processor and query.
pub fn resolve_lake(config: &mut Config) {
    let lake = config.data_dir.join("lake").to_string_lossy().into_owned();
    if config.processor.output == callscope_processor::config::ProcessorConfig::default().output {
        config.processor.output.clone_from(&lake);
    }
    if config.query.lake == callscope_query::QueryConfig::default().lake {
        config.query.lake = lake;
    }
}

enum Opened {
    Embedded(EmbeddedBus),
    Kafka(KafkaBus),
}

/// How long one end-offset request to Kafka may take (metadata, then each partition's high
/// watermark); the lag gauge keeps its last value when the broker does not answer in time.
const KAFKA_WATERMARK_TIMEOUT: Duration = Duration::from_secs(5);

impl Opened {
    fn bus(&self) -> Arc<dyn Bus> {
        match self {
            Opened::Embedded(b) => Arc::new(b.clone()),
            Opened::Kafka(b) => Arc::new(b.clone()),
        }
    }

    /// The end offsets of the bus, for the processor's consumer lag gauge.
    fn end_offsets(&self) -> anyhow::Result<callscope_processor::run::EndOffsets> {
        Ok(match self {
            Opened::Embedded(b) => callscope_processor::run::embedded_end_offsets(b.clone()),
            Opened::Kafka(b) => {
                let watermarks = b
                    .watermarks(KAFKA_WATERMARK_TIMEOUT)
                    .context("creating the Kafka watermark client")?;
                Arc::new(move |topic: &str| watermarks.end_offsets(topic))
            }
        })
    }
}

fn open(config: &Config) -> anyhow::Result<Opened> {
    if let Some(brokers) = &config.bus.kafka {
        return Ok(Opened::Kafka(KafkaBus::new(crate::kafka_config(
            config, brokers,
        ))));
    }
    let mut embedded = EmbeddedConfig::new(config.data_dir.join("bus.redb"));
    embedded.queue_capacity = config.bus.producer_queue.min(100_000);
    Ok(Opened::Embedded(EmbeddedBus::open(embedded).with_context(
        || format!("opening the embedded log in {}", config.data_dir.display()),
    )?))
}

/// Starts the processor on `bus`; returns its task and the sender that stops it.
fn spawn_processor(
    opened: &Opened,
    config: &Config,
    ready: Arc<AtomicBool>,
) -> anyhow::Result<(
    tokio::task::JoinHandle<anyhow::Result<()>>,
    tokio::sync::watch::Sender<bool>,
    prometheus::Registry,
)> {
    let metrics = callscope_processor::metrics::Metrics::new()?;
    let registry = metrics.registry().clone();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let bus = opened.bus();
    let end_offsets = Some(opened.end_offsets()?);
    let processor_config = config.processor.clone();
    let task = tokio::spawn(async move {
        ready.store(true, Ordering::Relaxed);
        let result = callscope_processor::run::run_with_lag(
            bus,
            end_offsets,
            processor_config,
            metrics,
            stopped,
        )
        .await;
        ready.store(false, Ordering::Relaxed);
        result.context("processor stopped with an error")
    });
    Ok((task, stop, registry))
}

pub async fn processor(mut config: Config) -> anyhow::Result<()> {
    resolve_lake(&mut config);
    let opened = open(&config)?;
    opened
        .bus()
        .ensure_topics(&[
            (INGEST_TOPIC, config.bus.partitions),
            (DEAD_LETTER_TOPIC, 1),
        ])
        .await
        .context("creating topics")?;
    let ready = Arc::new(AtomicBool::new(false));
    let (task, stop, registry) = spawn_processor(&opened, &config, Arc::clone(&ready))?;
    let admin = if config.processor.metrics.enabled {
        let server = admin_server(registry, &config.processor.metrics.listen, ready)?;
        let handle = server.handle();
        tokio::spawn(server);
        Some(handle)
    } else {
        None
    };
    tokio::select! {
        () = crate::shutdown_signal() => {
            tracing::info!("shutting down: flushing and committing");
            let _ = stop.send(true);
        }
        _ = std::future::pending::<()>() => {}
    }
    let result = task.await.context("processor task")?;
    if let Some(handle) = admin {
        handle.stop(true).await;
    }
    result
}

fn query_state(config: &Config) -> anyhow::Result<web::Data<callscope_query::QueryState>> {
    let registry = Registry::open(config.registry_path())?;
    Ok(web::Data::new(
        callscope_query::QueryState::new(config.query.clone(), registry)
            .context("starting the query service")?,
    ))
}

pub async fn query(mut config: Config) -> anyhow::Result<()> {
    resolve_lake(&mut config);
    let server = callscope_query::server(query_state(&config)?)
        .with_context(|| format!("binding the query API on {}", config.query.listen))?;
    let handle = server.handle();
    let running = tokio::spawn(server);
    crate::shutdown_signal().await;
    handle.stop(true).await;
    let _ = running.await;
    Ok(())
}

/// On first start: a demo app with a query key, printed once (the registry never shows secrets again).
fn ensure_demo_app(config: &Config) -> anyhow::Result<Option<String>> {
    let registry = Registry::open(config.registry_path())?;
    if !registry.list().is_empty() {
        return Ok(None);
    }
    let issued = registry.add("demo", None)?;
    let key = registry.add_query_key(&issued.app_id)?;
    Ok(Some(format!(
        "created a demo app (shown only now):\n  AppID:     {}\n  AppSecret: {}\n  query key: {key}\n",
        issued.app_id, issued.secret
    )))
}

pub async fn up(mut config: Config) -> anyhow::Result<()> {
    resolve_lake(&mut config);
    let opened = open(&config)?;
    let bus = opened.bus();
    bus.ensure_topics(&[
        (INGEST_TOPIC, config.bus.partitions),
        (DEAD_LETTER_TOPIC, 1),
    ])
    .await
    .context("creating topics")?;
    // Shown at once: the registry never shows the secret again, so a start that fails later (a port
    // in use) must not lose it.
    if let Some(text) = ensure_demo_app(&config)? {
        println!("{text}");
    }

    let ingest_state = crate::ingest_state(&config, bus.as_ref())?;
    let producer = Arc::clone(&ingest_state.producer);
    let ingest = callscope_ingest::server(ingest_state.clone())
        .with_context(|| format!("binding the ingest API on {}", config.ingest.listen))?;
    let ingest_handle = ingest.handle();
    let ingest_task = tokio::spawn(ingest);

    let ready = Arc::new(AtomicBool::new(false));
    let (processor_task, stop_processor, processor_registry) =
        spawn_processor(&opened, &config, Arc::clone(&ready))?;
    let admin = admin_server(processor_registry, &config.processor.metrics.listen, ready)?;
    let admin_handle = admin.handle();
    tokio::spawn(admin);

    let query = callscope_query::server(query_state(&config)?)
        .with_context(|| format!("binding the query API on {}", config.query.listen))?;
    let query_handle = query.handle();
    let query_task = tokio::spawn(query);

    println!(
        "callscope is up ({} bus, data in {}):\n  ingest API:  http://{}\n  dashboard:   http://{}/\n  processor:   http://{}/metrics\nCtrl-C stops it without losing acknowledged data.",
        bus.name(),
        config.data_dir.display(),
        config.ingest.listen,
        config.query.listen,
        config.processor.metrics.listen
    );

    tokio::select! {
        () = crate::shutdown_signal() => {}
        result = processor_task_watch(&processor_task) => {
            tracing::error!(?result, "processor stopped unexpectedly");
        }
    }
    tracing::info!("shutting down: finishing requests, flushing the processor");
    // Ingest first, so nothing new is accepted; what it acknowledged is on the bus for the next start.
    ingest_handle.stop(true).await;
    let _ = ingest_task.await;
    callscope_ingest::flush_progress(&ingest_state).await;
    producer.flush(Duration::from_secs(10)).await?;
    let _ = stop_processor.send(true);
    let processed = processor_task.await.context("processor task")?;
    query_handle.stop(true).await;
    let _ = query_task.await;
    admin_handle.stop(true).await;
    processed
}

/// Resolves when the processor task has finished (which, while `up` runs, means it failed).
async fn processor_task_watch(task: &tokio::task::JoinHandle<anyhow::Result<()>>) {
    while !task.is_finished() {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
