//! callscope query: DataFusion over the Parquet lake the processor writes, serving the dashboard
//! API, read-only SQL for analysts (each caller sees only its own app's rows, enforced by the
//! engine) and the web dashboard. See `docs/query.md`.

pub mod assets;
pub mod auth;
pub mod cache;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod exec;
pub mod http;
pub mod integration;
pub mod json;
pub mod lake;
pub mod metrics;
pub mod sql;
pub mod state;
pub mod time;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

pub use config::{QueryConfig, QueryLimits};
pub use error::{QueryError, Refusal};
pub use metrics::{METRIC_NAMES, Metrics};
pub use state::{QueryState, StartError};

/// The query application: routes and request metrics around the shared state.
pub fn app(
    state: web::Data<QueryState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(from_fn(http::observe))
        .configure(http::configure(state))
}

/// Binds the HTTP server. The caller owns shutdown: `handle().stop(true)` lets requests in flight
/// finish (each is bounded by `limits.timeout_ms`).
pub fn server(state: web::Data<QueryState>) -> std::io::Result<actix_web::dev::Server> {
    let listen = state.config.listen;
    let workers = state.config.workers;
    let mut server = HttpServer::new(move || app(state.clone()))
        .bind(listen)?
        .shutdown_timeout(30)
        .disable_signals();
    if workers > 0 {
        server = server.workers(workers);
    }
    tracing::info!(listen = %listen, "query listening");
    Ok(server.run())
}
