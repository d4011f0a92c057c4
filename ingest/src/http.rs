//! The HTTP API: the callstats v1 REST paths, the JS SDK batch endpoint, authentication, health and
//! metrics. Every handler answers 2xx only after the bus acknowledged what it accepted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use callscope_bus::{BusError, Producer};
use callscope_schemas::enums::ResponseStatus;
use callscope_schemas::envelope::app_level_conference_id;
use callscope_schemas::rest::{ROUTES, RestRoute, RestScope, SuccessResponse};
use callscope_schemas::{BatchRequest, Envelope, EventKind, Origin as EnvelopeOrigin, Payload};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::auth::{Authenticator, Claims};
use crate::config::IngestConfig;
use crate::error::IngestError;
use crate::metrics::Metrics;
use crate::origin::Origin;
use crate::ratelimit::RateLimiter;

/// What every handler shares.
pub struct State {
    pub auth: Arc<Authenticator>,
    pub producer: Arc<dyn Producer>,
    pub topic: String,
    pub limiter: RateLimiter,
    pub metrics: Metrics,
    pub config: IngestConfig,
    /// Integration progress counts, written to the bus by [`crate::progress_task`].
    pub progress: Arc<crate::progress::Tracker>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// Path of the JS SDK batch endpoint.
pub const BATCH_PATH: &str = "/v1/apps/{appID}/conferences/{confID}/batch";

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

/// Registers every route on an actix app.
pub fn configure(state: web::Data<State>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(state)
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .route("/v1/auth/challenge", web::post().to(challenge))
            .route("/v1/auth/response", web::post().to(response))
            .route(
                callscope_schemas::rest::AUTHENTICATE_PATH,
                web::post().to(authenticate),
            )
            .route(BATCH_PATH, web::post().to(batch));
        for route in ROUTES {
            cfg.route(
                route.path,
                web::post().to(move |req: HttpRequest, body: web::Payload, state: web::Data<State>| async move {
                    rest_event(route, req, body, state).await
                }),
            );
        }
    }
}

/// CORS for browsers: preflights for `/v1/apps/{appID}/...` pass only for an origin the app allows; the
/// auth endpoints take any origin here and check it against the app in the handler.
pub fn cors(auth: Arc<Authenticator>) -> Cors {
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            let Ok(origin) = origin.to_str().map(Origin::parse) else {
                return false;
            };
            let Ok(origin) = origin else { return false };
            match app_id_of_path(head.uri.path()) {
                Some(app_id) => auth
                    .registry()
                    .get(app_id)
                    .is_some_and(|app| app.allows_origin(Some(&origin))),
                None => true,
            }
        })
        .allowed_methods(["GET", "POST"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("token"),
        ])
        .max_age(3600)
}

fn app_id_of_path(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/apps/")?
        .split('/')
        .next()
        .filter(|s| !s.is_empty())
}

/// Counts requests by route and status, their latency, and those in flight.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<State>>().cloned();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let start = Instant::now();
    if let Some(s) = &state {
        s.metrics.in_flight.inc();
    }
    let result = next.call(req).await;
    if let Some(s) = &state {
        s.metrics.in_flight.dec();
        let status = match &result {
            Ok(r) => r.status().as_u16(),
            Err(e) => e.as_response_error().status_code().as_u16(),
        };
        s.metrics
            .requests
            .with_label_values(&[route.as_str(), &status.to_string()])
            .inc();
        s.metrics
            .request_duration
            .with_label_values(&[route.as_str()])
            .observe(start.elapsed().as_secs_f64());
    }
    result
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn readyz(state: web::Data<State>) -> HttpResponse {
    match state.producer.ready(Duration::from_secs(2)).await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: bus unreachable");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body(format!("bus unreachable: {e}"))
        }
    }
}

async fn metrics(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

/// Records a refusal in the metrics and passes it on.
fn refuse(state: &State, error: IngestError) -> IngestError {
    state
        .metrics
        .refusals
        .with_label_values(&[error.reason_label()])
        .inc();
    if let IngestError::Internal(detail) = &error {
        tracing::error!(detail = %detail, "ingest internal error");
    }
    error
}

fn request_origin(req: &HttpRequest) -> Result<Option<Origin>, IngestError> {
    match req.headers().get(header::ORIGIN) {
        None => Ok(None),
        Some(v) => {
            let text = v
                .to_str()
                .map_err(|_| crate::auth::AuthError::OriginMismatch("(not text)".to_owned()))?;
            Origin::parse(text).map(Some).map_err(|_| {
                crate::auth::AuthError::OriginMismatch(text.chars().take(200).collect()).into()
            })
        }
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    if let Some(v) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            return Some(v[7..].trim());
        }
    }
    // The Swagger names a `token` header.
    if let Some(token) = req.headers().get("token").and_then(|v| v.to_str().ok()) {
        return Some(token.trim());
    }
    // `navigator.sendBeacon` cannot set headers, so the SDK's unload flush carries the token in the query
    // (RFC 6750 section 2.3).
    req.query_string()
        .split('&')
        .find_map(|pair| pair.strip_prefix("access_token="))
        .filter(|t| !t.is_empty())
}

fn path_param<'a>(req: &'a HttpRequest, name: &str) -> Result<&'a str, IngestError> {
    req.match_info()
        .get(name)
        .ok_or_else(|| IngestError::BadRequest(format!("missing path parameter {name}")))
}

/// Unknown app (404), origin (403), token (401), rate (429): everything that does not need the body.
fn authorize(
    req: &HttpRequest,
    state: &State,
    app_id: &str,
) -> Result<(Claims, Option<Origin>), IngestError> {
    let app = state
        .auth
        .registry()
        .get(app_id)
        .ok_or_else(|| crate::auth::AuthError::UnknownApp(app_id.to_owned()))?;
    let origin = request_origin(req)?;
    if !app.allows_origin(origin.as_ref()) {
        return Err(crate::auth::AuthError::OriginMismatch(
            origin.map(|o| o.as_str().to_owned()).unwrap_or_default(),
        )
        .into());
    }
    let token = bearer(req).ok_or(crate::auth::AuthError::MissingToken)?;
    let claims = state
        .auth
        .verify(token, app_id, origin.as_ref(), now_secs())?;
    state
        .limiter
        .check(app_id, Some(&claims.jti))
        .map_err(|l| IngestError::RateLimited {
            scope: l.scope,
            retry_after: l.retry_after,
        })?;
    Ok((claims, origin))
}

/// Reads the body, refusing it (413) as soon as it passes the limit: a large body is never buffered whole.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, IngestError> {
    if let Some(length) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && length > limit
    {
        return Err(IngestError::TooLarge { limit });
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| IngestError::BadRequest(format!("reading body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(IngestError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Writes envelopes as one bus record and waits for the acknowledgement.
async fn write(state: &State, envelopes: &[Envelope]) -> Result<(), IngestError> {
    let Some(first) = envelopes.first() else {
        return Ok(());
    };
    let bytes = callscope_schemas::encode_record(envelopes)
        .map_err(|e| IngestError::Internal(format!("encoding record: {e}")))?;
    let key = first.bus_key();
    let start = Instant::now();
    let result = tokio::time::timeout(
        state.config.bus_timeout(),
        state
            .producer
            .send(&state.topic, key.as_bytes(), &bytes, &[]),
    )
    .await;
    let retry_after = Duration::from_secs(state.config.retry_after_secs);
    let outcome = match &result {
        Ok(Ok(_)) => "ok",
        Ok(Err(BusError::QueueFull { .. })) => "queue_full",
        Ok(Err(_)) => "error",
        Err(_) => "timeout",
    };
    state
        .metrics
        .bus_write_duration
        .with_label_values(&[outcome])
        .observe(start.elapsed().as_secs_f64());
    match result {
        Ok(Ok(_)) => {
            for e in envelopes {
                state
                    .metrics
                    .events
                    .with_label_values(&[e.kind().as_str()])
                    .inc();
            }
            Ok(())
        }
        Ok(Err(BusError::TooLarge { max, .. })) => Err(IngestError::TooLarge { limit: max }),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, retriable = e.is_retriable(), "bus write refused");
            Err(IngestError::Unavailable {
                reason: e.to_string(),
                retry_after,
            })
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = state.config.bus_timeout_ms,
                "bus write not acknowledged in time"
            );
            Err(IngestError::Unavailable {
                reason: "the bus did not acknowledge in time".to_owned(),
                retry_after,
            })
        }
    }
}

fn client_ts(payload: &Payload) -> Option<i64> {
    payload
        .common()
        .timestamp
        .filter(|t| t.is_finite())
        .map(|t| t as i64)
}

fn check_local_id(
    payload: &Payload,
    claims: &Claims,
    field_prefix: &str,
) -> Result<(), IngestError> {
    match payload.common().local_id.as_deref() {
        Some(local) if local != claims.sub => Err(IngestError::Invalid {
            field: format!("{field_prefix}localID"),
            reason: "does not match the authenticated userID".to_owned(),
        }),
        _ => Ok(()),
    }
}

fn new_uc_id() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A ucID that is the same every time for one user in one conference: a retried batch keeps it.
fn derived_uc_id(app_id: &str, conference_id: &str, user_id: &str) -> String {
    use sha2::Digest as _;
    let digest =
        sha2::Sha256::digest(format!("{app_id}\u{0}{conference_id}\u{0}{user_id}").as_bytes());
    hex::encode(&digest[..16])
}

#[derive(Debug, Serialize)]
struct Accepted {
    status: ResponseStatus,
    msg: String,
    #[serde(rename = "ucID", skip_serializing_if = "Option::is_none")]
    uc_id: Option<String>,
}

async fn rest_event(
    route: &'static RestRoute,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<State>,
) -> Result<HttpResponse, IngestError> {
    handle_rest_event(route, &req, body, &state)
        .await
        .map_err(|e| {
            let kind = route_kind(route.endpoint);
            count_refusal(&state, path_param(&req, "appID").ok(), kind, &e);
            refuse(&state, e)
        })
}

/// The event kind a REST path carries (the first, for paths that carry several), to attribute a
/// refusal whose body could not be read.
fn route_kind(endpoint: callscope_schemas::rest::RestEndpoint) -> Option<EventKind> {
    use callscope_schemas::rest::RestEndpoint as R;
    Some(match endpoint {
        R::UserJoined => EventKind::UserJoined,
        R::UserAlive => EventKind::UserAlive,
        R::UserLeft => EventKind::UserLeft,
        R::UserDetails => EventKind::UserDetails,
        R::DeviceList => EventKind::DeviceList,
        R::MediaAction => EventKind::MediaAction,
        R::MediaPipeline => EventKind::MediaPipeline,
        R::Fabric | R::FabricSetup => EventKind::FabricSetup,
        R::FabricSetupFailed => EventKind::FabricSetupFailed,
        R::FabricTerminated => EventKind::FabricTerminated,
        R::FabricAction => EventKind::FabricHold,
        R::FabricDropped => EventKind::FabricDropped,
        R::FabricStateChange => EventKind::FabricStateChange,
        R::FabricTransportChange => EventKind::FabricTransportChange,
        R::IceStatus => EventKind::IceStatus,
        R::Feedback => EventKind::Feedback,
        R::DominantSpeaker => EventKind::DominantSpeaker,
        R::SsrcMap => EventKind::SsrcMap,
        R::Sdp => EventKind::Sdp,
        R::AppLog => EventKind::AppLog,
        R::Stats => EventKind::StatsSample,
        R::SystemStatus => EventKind::SystemStatus,
        R::BridgeStatus => EventKind::BridgeStatus,
        R::BridgeAlive => EventKind::BridgeAlive,
    })
}

/// Counts a refusal in the app's integration progress, when the app exists and the refusal says
/// something about the integration.
fn count_refusal(
    state: &State,
    app_id: Option<&str>,
    kind: Option<EventKind>,
    error: &IngestError,
) {
    let Some(app_id) = app_id else { return };
    if state.auth.registry().get(app_id).is_none() {
        return;
    }
    let Some(item) = crate::progress::refusal_item(error, kind) else {
        return;
    };
    state.progress.refuse(
        app_id,
        item,
        actix_web::ResponseError::status_code(error).as_u16(),
        &error.to_string(),
        crate::progress::refusal_field(error),
        now_ms(),
    );
}

async fn handle_rest_event(
    route: &'static RestRoute,
    req: &HttpRequest,
    body: web::Payload,
    state: &State,
) -> Result<HttpResponse, IngestError> {
    let app_id = path_param(req, "appID")?;
    let (claims, origin) = authorize(req, state, app_id)?;
    let body = read_body(req, body, state.config.max_body_bytes).await?;
    let payload = route.endpoint.decode_body(&body)?;
    check_local_id(&payload, &claims, "")?;
    let (conference_id, uc_id) = match route.scope() {
        RestScope::App => (app_level_conference_id(&claims.sub), None),
        RestScope::Conference => (path_param(req, "confID")?.to_owned(), Some(new_uc_id())),
        RestScope::Session => (
            path_param(req, "confID")?.to_owned(),
            Some(path_param(req, "ucID")?.to_owned()),
        ),
    };
    let mut envelope = Envelope::new(
        app_id,
        conference_id,
        now_ms(),
        EnvelopeOrigin::Rest,
        payload,
    );
    envelope.client_ts_ms = client_ts(&envelope.payload);
    envelope.uc_id = uc_id.clone();
    envelope.user_id = Some(claims.sub.clone());
    envelope.request_origin = origin.map(|o| o.as_str().to_owned());
    envelope.validate()?;
    write(state, std::slice::from_ref(&envelope)).await?;
    state
        .progress
        .accept_envelopes(std::slice::from_ref(&envelope), envelope.received_at_ms);
    if route.scope() == RestScope::Conference {
        Ok(HttpResponse::Ok().json(Accepted {
            status: ResponseStatus::Success,
            msg: "user joined".to_owned(),
            uc_id,
        }))
    } else {
        Ok(HttpResponse::Ok().json(SuccessResponse {
            status: ResponseStatus::Success,
            msg: format!("{} accepted", envelope.kind().as_str()),
        }))
    }
}

async fn batch(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<State>,
) -> Result<HttpResponse, IngestError> {
    let mut kinds = Vec::new();
    handle_batch(&req, body, &state, &mut kinds)
        .await
        .map_err(|e| {
            count_refusal(
                &state,
                path_param(&req, "appID").ok(),
                refused_kind(&e, &kinds),
                &e,
            );
            refuse(&state, e)
        })
}

/// The kind of the batch item a refusal is about: the one its field names (`events[2]...`), else
/// the first.
fn refused_kind(error: &IngestError, kinds: &[Option<EventKind>]) -> Option<EventKind> {
    let index = crate::progress::refusal_field(error)
        .and_then(|f| f.strip_prefix("events["))
        .and_then(|rest| rest.split(']').next())
        .and_then(|i| i.parse::<usize>().ok());
    match index {
        Some(i) => kinds.get(i).copied().flatten(),
        None => kinds.iter().copied().flatten().next(),
    }
}

/// The kinds of a batch's items as far as they can be read, for a batch that did not decode.
fn lenient_kinds(body: &[u8]) -> Vec<Option<EventKind>> {
    #[derive(Deserialize)]
    struct Loose {
        #[serde(default)]
        events: Vec<LooseItem>,
    }
    #[derive(Deserialize)]
    struct LooseItem {
        #[serde(default)]
        kind: Option<String>,
    }
    serde_json::from_slice::<Loose>(body)
        .map(|l| {
            l.events
                .iter()
                .map(|i| i.kind.as_deref().and_then(|k| k.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// Envelope-level fields keep their names; everything else is inside `events[i].data`.
fn locate(field: String, index: usize) -> String {
    match field.as_str() {
        "appID" | "conferenceID" | "ucID" | "userID" => field,
        _ => format!("events[{index}].data.{field}"),
    }
}

async fn handle_batch(
    req: &HttpRequest,
    body: web::Payload,
    state: &State,
    kinds: &mut Vec<Option<EventKind>>,
) -> Result<HttpResponse, IngestError> {
    let app_id = path_param(req, "appID")?;
    let conference_id = path_param(req, "confID")?;
    let (claims, origin) = authorize(req, state, app_id)?;
    let body = read_body(req, body, state.config.max_body_bytes).await?;
    let request: BatchRequest = match callscope_schemas::batch::decode_json(&body) {
        Ok(request) => request,
        Err(e) => {
            *kinds = lenient_kinds(&body);
            return Err(e.into());
        }
    };
    *kinds = request.events.iter().map(|i| Some(i.kind)).collect();
    if request.events.is_empty() {
        return Err(IngestError::Invalid {
            field: "events".to_owned(),
            reason: "a batch needs at least one event".to_owned(),
        });
    }
    if request.events.len() > state.config.max_batch_items {
        return Err(IngestError::Invalid {
            field: "events".to_owned(),
            reason: format!(
                "{} events exceed the limit of {} per batch",
                request.events.len(),
                state.config.max_batch_items
            ),
        });
    }
    let uc_id = request
        .uc_id
        .clone()
        .unwrap_or_else(|| derived_uc_id(app_id, conference_id, &claims.sub));
    let received = now_ms();
    let mut envelopes = Vec::with_capacity(request.events.len());
    for (index, item) in request.events.iter().enumerate() {
        if item.kind == EventKind::IntegrationProgress {
            return Err(IngestError::Invalid {
                field: format!("events[{index}].kind"),
                reason: "integration_progress is written by callscope itself, not by clients"
                    .to_owned(),
            });
        }
        let payload = item.payload(index)?;
        check_local_id(&payload, &claims, &format!("events[{index}].data."))?;
        let mut envelope = Envelope::new(
            app_id,
            conference_id,
            received,
            EnvelopeOrigin::JsSdk,
            payload,
        );
        envelope.client_ts_ms = item
            .timestamp
            .filter(|t| t.is_finite())
            .map(|t| t as i64)
            .or_else(|| client_ts(&envelope.payload));
        envelope.uc_id = Some(uc_id.clone());
        envelope.user_id = Some(claims.sub.clone());
        envelope.request_origin = origin.as_ref().map(|o| o.as_str().to_owned());
        envelope.batch_id.clone_from(&request.batch_id);
        envelope.validate().map_err(|e| IngestError::Invalid {
            field: locate(e.field, index),
            reason: e.reason,
        })?;
        envelopes.push(envelope);
    }
    write(state, &envelopes).await?;
    state.progress.accept_envelopes(&envelopes, received);
    Ok(HttpResponse::Ok().json(Accepted {
        status: ResponseStatus::Success,
        msg: format!("{} events accepted", envelopes.len()),
        uc_id: Some(uc_id),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeRequest {
    #[serde(rename = "appID")]
    app_id: String,
    #[serde(rename = "userID")]
    user_id: String,
}

#[derive(Debug, Serialize)]
struct ChallengeResponse {
    challenge: String,
    #[serde(rename = "expiresIn")]
    expires_in: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseRequest {
    challenge: String,
    response: String,
}

const AUTH_BODY_LIMIT: usize = 16 * 1024;

/// Handshake step 1 → 2.
async fn challenge(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<State>,
) -> Result<HttpResponse, IngestError> {
    let mut app: Option<String> = None;
    async {
        let body = read_body(&req, body, AUTH_BODY_LIMIT).await?;
        let request: ChallengeRequest = callscope_schemas::batch::decode_json(&body)?;
        app = Some(request.app_id.clone());
        state
            .limiter
            .check(&request.app_id, None)
            .map_err(|l| IngestError::RateLimited {
                scope: l.scope,
                retry_after: l.retry_after,
            })?;
        let origin = request_origin(&req)?;
        let issued = state.auth.challenge(
            &request.app_id,
            &request.user_id,
            origin.as_ref(),
            now_secs(),
        )?;
        Ok(HttpResponse::Ok().json(ChallengeResponse {
            challenge: issued.challenge,
            expires_in: issued.expires_in,
        }))
    }
    .await
    .map_err(|e| {
        count_refusal(&state, app.as_deref(), None, &e);
        refuse(&state, e)
    })
}

/// Handshake step 3 → 4: success carries the token, failure the reason.
async fn response(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<State>,
) -> Result<HttpResponse, IngestError> {
    let mut app: Option<String> = None;
    async {
        let body = read_body(&req, body, AUTH_BODY_LIMIT).await?;
        let request: ResponseRequest = callscope_schemas::batch::decode_json(&body)?;
        app = state.auth.challenge_app(&request.challenge);
        let origin = request_origin(&req)?;
        let issued = state.auth.respond(
            &request.challenge,
            &request.response,
            origin.as_ref(),
            now_secs(),
        )?;
        tracing::info!(token_ttl_s = issued.expires_in, "handshake succeeded");
        Ok(HttpResponse::Ok().json(issued))
    }
    .await
    .inspect(|_| count_initialize(&state, app.as_deref()))
    .map_err(|e| {
        count_refusal(&state, app.as_deref(), None, &e);
        refuse(&state, e)
    })
}

#[derive(Debug, Deserialize)]
struct AuthenticateForm {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    client_id: String,
}

/// The callstats REST `POST /authenticate` (form-encoded, OAuth2 style).
async fn authenticate(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<State>,
) -> Result<HttpResponse, IngestError> {
    use crate::auth::{AuthError, ThirdPartyError};
    let mut app: Option<String> = None;
    async {
        let body = read_body(&req, body, AUTH_BODY_LIMIT).await?;
        let form: AuthenticateForm = serde_urlencoded::from_bytes(&body)
            .map_err(|_| AuthError::ThirdParty(ThirdPartyError::InvalidRequest))?;
        if let Some((_, app_id)) = form.client_id.rsplit_once('@') {
            app = Some(app_id.to_owned());
            state
                .limiter
                .check(app_id, None)
                .map_err(|l| IngestError::RateLimited {
                    scope: l.scope,
                    retry_after: l.retry_after,
                })?;
        }
        let origin = request_origin(&req)?;
        let issued = state.auth.third_party(
            &form.grant_type,
            &form.code,
            &form.client_id,
            origin.as_ref(),
            now_secs(),
        )?;
        Ok(HttpResponse::Ok().json(issued))
    }
    .await
    .inspect(|_| count_initialize(&state, app.as_deref()))
    .map_err(|e| {
        count_refusal(&state, app.as_deref(), None, &e);
        refuse(&state, e)
    })
}

/// Counts a completed authentication in the app's integration progress.
fn count_initialize(state: &State, app_id: Option<&str>) {
    if let Some(app_id) = app_id {
        state.progress.accept(
            app_id,
            callscope_schemas::integration::IntegrationItem::Initialize,
            now_ms(),
        );
    }
}
