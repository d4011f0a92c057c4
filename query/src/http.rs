//! The HTTP API: dashboard endpoints, SQL, the web dashboard's static files, health and metrics.

use std::future::Future;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, authorize};
use crate::cache::Cached;
use crate::dashboard::{self, Dimension, Scope, Sort};
use crate::error::{QueryError, Refusal};
use crate::exec;
use crate::sql::{self, Format};
use crate::state::QueryState;
use crate::time::{choose_interval, now_ms, parse_range};

/// Response headers of `POST /api/v1/sql`.
pub const ROW_COUNT_HEADER: &str = "x-callscope-row-count";
pub const TRUNCATED_HEADER: &str = "x-callscope-truncated";
pub const ROW_LIMIT_HEADER: &str = "x-callscope-row-limit";
/// `hit` or `miss` on cacheable dashboard answers.
pub const CACHE_HEADER: &str = "x-callscope-cache";

/// Registers every route on an actix app.
pub fn configure(state: web::Data<QueryState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let sql_limit = state.config.limits.max_sql_bytes;
        cfg.app_data(state)
            .app_data(web::PayloadConfig::new(sql_limit))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .route("/api/v1/me", web::get().to(me))
            .route("/api/v1/overview", web::get().to(overview))
            .route("/api/v1/breakdown/{dimension}", web::get().to(breakdown))
            .route("/api/v1/conferences", web::get().to(conferences))
            .route(
                "/api/v1/conferences/{conference_id}",
                web::get().to(conference),
            )
            .route("/api/v1/live", web::get().to(live))
            .route("/api/v1/integration", web::get().to(integration))
            .route("/api/v1/sql", web::post().to(sql_query))
            .route("/", web::get().to(crate::assets::index))
            // Browsers ask for it on every page; there is none, and a 404 would be logged noise.
            .route(
                "/favicon.ico",
                web::get().to(|| async { HttpResponse::NoContent().finish() }),
            )
            .route("/static/{file}", web::get().to(crate::assets::file));
    }
}

/// Counts requests by endpoint and status, their latency, and logs server-side failures (with
/// the detail the client is not shown).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<QueryState>>().cloned();
    let endpoint = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let start = Instant::now();
    let result = next.call(req).await;
    if let Some(s) = &state {
        let status = match &result {
            Ok(r) => r.status().as_u16(),
            Err(e) => e.as_response_error().status_code().as_u16(),
        };
        if let Ok(response) = &result
            && let Some(error) = response.response().error()
            && let Some(e) = error.as_error::<QueryError>()
        {
            match e {
                QueryError::Internal(detail) => {
                    tracing::error!(endpoint = %endpoint, detail = %detail, "query internal error");
                }
                QueryError::Unavailable(_) | QueryError::Timeout { .. } | QueryError::Memory(_) => {
                    tracing::warn!(endpoint = %endpoint, error = %e, "query failed");
                }
                _ => {}
            }
        }
        s.metrics
            .requests
            .with_label_values(&[endpoint.as_str(), &status.to_string()])
            .inc();
        s.metrics
            .request_duration
            .with_label_values(&[endpoint.as_str()])
            .observe(start.elapsed().as_secs_f64());
    }
    result
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn readyz(state: web::Data<QueryState>) -> HttpResponse {
    match tokio::time::timeout(Duration::from_secs(2), state.lake.check()).await {
        Ok(Ok(())) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: lake unreadable");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body(format!("lake unreadable: {e}"))
        }
        Err(_) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("lake did not answer within 2 s"),
    }
}

async fn metrics(state: web::Data<QueryState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

fn caller(req: &HttpRequest, state: &QueryState) -> Result<Caller, QueryError> {
    authorize(req, &state.registry, state.config.admin_key.as_ref())
}

fn params<T: for<'de> Deserialize<'de>>(req: &HttpRequest) -> Result<T, QueryError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| QueryError::BadRequest(format!("query parameters: {e}")))
}

#[derive(Debug, Serialize)]
struct Me {
    app_id: String,
    admin: bool,
}

/// Who the key is: lets the dashboard check a key at sign-in.
async fn me(req: HttpRequest, state: web::Data<QueryState>) -> Result<HttpResponse, QueryError> {
    let caller = caller(&req, &state)?;
    Ok(HttpResponse::Ok().json(Me {
        app_id: caller.app_id,
        admin: caller.admin,
    }))
}

/// Authorises, answers from the cache when it can, else runs `job` on the query runtime within
/// the time limit and caches its JSON.
async fn cached<T, F, Fut>(
    req: &HttpRequest,
    state: &QueryState,
    job: F,
) -> Result<HttpResponse, QueryError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(Scope) -> Fut,
    Fut: Future<Output = Result<T, QueryError>> + Send + 'static,
{
    let caller = caller(req, state)?;
    let uri = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned());
    if let Some(hit) = state.cache.get(&caller.app_id, &uri) {
        state.metrics.cache_hits.inc();
        return Ok(HttpResponse::Ok()
            .content_type(hit.content_type)
            .insert_header((CACHE_HEADER, "hit"))
            .body(hit.body));
    }
    state.metrics.cache_misses.inc();
    let scope = state.scope(&caller.app_id)?;
    let future = job(scope);
    let body = state
        .runtime
        .run(state.timeout(), async move {
            let value = future.await?;
            serde_json::to_vec(&value)
                .map_err(|e| QueryError::Internal(format!("encoding answer: {e}")))
        })
        .await?;
    let body = bytes::Bytes::from(body);
    state.cache.put(
        &caller.app_id,
        &uri,
        Cached {
            content_type: "application/json",
            body: body.clone(),
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((CACHE_HEADER, "miss"))
        .body(body))
}

#[derive(Debug, Deserialize)]
struct RangeParams {
    from: Option<String>,
    to: Option<String>,
    interval: Option<String>,
}

async fn overview(
    req: HttpRequest,
    state: web::Data<QueryState>,
) -> Result<HttpResponse, QueryError> {
    // Authorise before looking at the parameters: a caller without a key learns nothing.
    caller(&req, &state)?;
    let p: RangeParams = params(&req)?;
    let (from, to) = parse_range(p.from.as_deref(), p.to.as_deref(), now_ms())?;
    let interval = choose_interval(p.interval.as_deref(), from, to)?;
    cached(&req, &state, move |scope| {
        dashboard::overview(scope, from, to, interval)
    })
    .await
}

async fn breakdown(
    req: HttpRequest,
    state: web::Data<QueryState>,
    path: web::Path<String>,
) -> Result<HttpResponse, QueryError> {
    // Authorise before saying anything about the path.
    caller(&req, &state)?;
    let dimension = Dimension::parse(&path)?;
    let p: RangeParams = params(&req)?;
    let (from, to) = parse_range(p.from.as_deref(), p.to.as_deref(), now_ms())?;
    cached(&req, &state, move |scope| {
        dashboard::breakdown(scope, dimension, from, to)
    })
    .await
}

#[derive(Debug, Deserialize)]
struct ListParams {
    from: Option<String>,
    to: Option<String>,
    sort: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn conferences(
    req: HttpRequest,
    state: web::Data<QueryState>,
) -> Result<HttpResponse, QueryError> {
    caller(&req, &state)?;
    let p: ListParams = params(&req)?;
    let (from, to) = parse_range(p.from.as_deref(), p.to.as_deref(), now_ms())?;
    let sort = p.sort.as_deref().map_or(Ok(Sort::Recent), Sort::parse)?;
    let limit = p.limit.unwrap_or(dashboard::DEFAULT_PAGE);
    if limit == 0 || limit > dashboard::MAX_PAGE {
        return Err(QueryError::BadRequest(format!(
            "limit: 1 to {}",
            dashboard::MAX_PAGE
        )));
    }
    let cursor = p.cursor;
    cached(&req, &state, move |scope| {
        dashboard::conferences(scope, from, to, sort, limit, cursor)
    })
    .await
}

#[derive(Debug, Deserialize)]
struct DetailParams {
    from: Option<String>,
    to: Option<String>,
}

async fn conference(
    req: HttpRequest,
    state: web::Data<QueryState>,
    path: web::Path<String>,
) -> Result<HttpResponse, QueryError> {
    caller(&req, &state)?;
    let p: DetailParams = params(&req)?;
    let range = if p.from.is_some() || p.to.is_some() {
        Some(parse_range(p.from.as_deref(), p.to.as_deref(), now_ms())?)
    } else {
        None
    };
    let id = path.into_inner();
    cached(&req, &state, move |scope| {
        dashboard::conference(scope, id, range)
    })
    .await
}

#[derive(Debug, Deserialize)]
struct LiveParams {
    window: Option<u64>,
}

async fn live(req: HttpRequest, state: web::Data<QueryState>) -> Result<HttpResponse, QueryError> {
    caller(&req, &state)?;
    let p: LiveParams = params(&req)?;
    let window = p.window.unwrap_or(state.config.live_window_secs);
    if window == 0 || window > 86_400 {
        return Err(QueryError::BadRequest(
            "window: 1 to 86400 seconds".to_owned(),
        ));
    }
    let now = now_ms();
    cached(&req, &state, move |scope| {
        dashboard::live(scope, now, window)
    })
    .await
}

/// `GET /api/v1/integration?from=-7d`: the app's integration checklist.
async fn integration(
    req: HttpRequest,
    state: web::Data<QueryState>,
) -> Result<HttpResponse, QueryError> {
    caller(&req, &state)?;
    let p: RangeParams = params(&req)?;
    // A checklist is about the integration's recent past, not just today.
    let from_text = p.from.as_deref().or(Some("-7d"));
    let (from, to) = parse_range(from_text, p.to.as_deref(), now_ms())?;
    cached(&req, &state, move |scope| {
        crate::integration::integration(scope, from, to)
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    sql: String,
    #[serde(default)]
    format: Option<Format>,
}

#[derive(Debug, Deserialize)]
struct SqlParams {
    format: Option<String>,
}

/// `POST /api/v1/sql`: one read-only query over the caller's app.
async fn sql_query(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<QueryState>,
) -> Result<HttpResponse, QueryError> {
    let caller = caller(&req, &state)?;
    let limits = &state.config.limits;
    if body.len() > limits.max_sql_bytes {
        return Err(QueryError::Refused {
            reason: Refusal::TooLarge,
            message: format!("the request exceeds {} bytes", limits.max_sql_bytes),
        });
    }
    let request: SqlRequest = serde_json::from_slice(&body).map_err(|e| {
        QueryError::BadRequest(format!(
            "body: expected {{\"sql\": \"...\", \"format\": \"json\"|\"csv\"|\"arrow\"}}: {e}"
        ))
    })?;
    let p: SqlParams = params(&req)?;
    let format = match (request.format, p.format.as_deref()) {
        (Some(f), _) => f,
        (None, Some(text)) => Format::parse(text)?,
        (None, None) => Format::Json,
    };
    let statement = sql::check(&request.sql)?;
    let ctx = state
        .lake
        .session_for(&caller.app_id)
        .map_err(QueryError::from_internal)?;
    let metrics = state.metrics.clone();
    let max_rows = limits.max_result_rows;
    let (result, body) = state
        .runtime
        .run(state.timeout(), async move {
            let plan = ctx
                .state()
                .statement_to_plan(statement)
                .await
                .map_err(QueryError::from_analyst)?;
            sql::verify_plan(&plan)?;
            let df = ctx
                .execute_logical_plan(plan)
                .await
                .map_err(QueryError::from_analyst)?;
            let result = exec::collect(df, max_rows, &metrics)
                .await
                .map_err(QueryError::from_analyst)?;
            let body = sql::encode(&result, format)?;
            Ok((result, body))
        })
        .await?;
    if result.truncated {
        tracing::info!(
            app_id = %caller.app_id,
            rows = result.rows,
            "sql answer truncated at the row limit"
        );
    }
    let mut response = HttpResponse::Ok();
    response
        .content_type(format.content_type())
        .insert_header((ROW_COUNT_HEADER, result.rows.to_string()))
        .insert_header((
            TRUNCATED_HEADER,
            HeaderValue::from_static(if result.truncated { "true" } else { "false" }),
        ))
        .insert_header((ROW_LIMIT_HEADER, max_rows.to_string()));
    if format == Format::Csv {
        response.insert_header((
            header::CONTENT_DISPOSITION,
            "inline; filename=\"result.csv\"",
        ));
    }
    Ok(response.body(body))
}
