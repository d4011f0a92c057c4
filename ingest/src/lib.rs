//! callscope ingest: authenticates browsers (callstats.js handshake), native SDKs and bridges (callstats
//! v1 REST, third-party JWT), validates what they send, and writes it to the bus, answering 2xx only
//! once the bus acknowledged the write.

pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod origin;
pub mod progress;
pub mod ratelimit;
pub mod registry;

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

pub use auth::{AuthSettings, Authenticator, TokenKey, challenge_response};
pub use config::IngestConfig;
pub use error::IngestError;
pub use http::State;
pub use metrics::Metrics;
pub use registry::Registry;

/// The ingest application: routes, CORS and request metrics around the shared state.
pub fn app(
    state: web::Data<State>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let auth = Arc::clone(&state.auth);
    App::new()
        .wrap(from_fn(http::observe))
        .wrap(http::cors(auth))
        .configure(http::configure(state))
}

/// Binds the HTTP server. The caller owns shutdown: `handle().stop(true)` finishes requests in flight
/// (each of which waits for its bus acknowledgement) before returning.
pub fn server(state: web::Data<State>) -> std::io::Result<actix_web::dev::Server> {
    let config = state.config.clone();
    let pruned = state.clone();
    // Rate-limit keys of idle apps and tokens are forgotten once a minute.
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            pruned.limiter.prune();
        }
    });
    let progress = state.clone();
    let interval = Duration::from_millis(config.progress_interval_ms.max(100));
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            flush_progress(&progress).await;
        }
    });
    let mut server = HttpServer::new(move || app(state.clone()))
        .bind(config.listen)?
        .shutdown_timeout(30)
        .disable_signals();
    if config.workers > 0 {
        server = server.workers(config.workers);
    }
    tracing::info!(listen = %config.listen, "ingest listening");
    Ok(server.run())
}

/// Writes the integration progress counted since the last call to the bus. The server calls it
/// every `progress_interval_ms`; call it once more after the server stopped so the last interval
/// is not lost.
pub async fn flush_progress(state: &State) {
    state
        .progress
        .flush(
            state.producer.as_ref(),
            &state.topic,
            state.config.bus_timeout(),
            http::now_ms(),
        )
        .await;
}
