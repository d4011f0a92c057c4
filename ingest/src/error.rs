//! Every way an ingest request can fail, mapped to an HTTP status and a JSON body in one place.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use callscope_schemas::enums::ResponseStatus;
use callscope_schemas::rest::{AuthErrorActionItem, AuthErrorResponse, ErrorResponse};

use crate::auth::AuthError;

#[must_use]
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// JSON of the wrong shape or a value out of bounds: 422 naming the field.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// Not JSON at all, or a required header or form field missing: 400.
    #[error("{0}")]
    BadRequest(String),
    #[error("request body exceeds {limit} bytes")]
    TooLarge { limit: usize },
    #[error("rate limit of this {scope} exceeded")]
    RateLimited {
        scope: &'static str,
        retry_after: Duration,
    },
    /// The bus cannot take the write now (down, or its queue is full): 503, try again.
    #[error("temporarily unable to store data: {reason}")]
    Unavailable {
        reason: String,
        retry_after: Duration,
    },
    #[error("internal error")]
    Internal(String),
}

impl IngestError {
    /// The label of `callscope_ingest_refusals_total`.
    pub fn reason_label(&self) -> &'static str {
        match self {
            IngestError::Auth(AuthError::UnknownApp(_)) => "unknown_app",
            IngestError::Auth(AuthError::OriginMismatch(_)) => "origin",
            IngestError::Auth(_) => "auth",
            IngestError::Invalid { .. } => "validation",
            IngestError::BadRequest(_) => "bad_request",
            IngestError::TooLarge { .. } => "too_large",
            IngestError::RateLimited { .. } => "rate_limited",
            IngestError::Unavailable { .. } => "unavailable",
            IngestError::Internal(_) => "internal",
        }
    }
}

impl From<callscope_schemas::ValidationError> for IngestError {
    fn from(e: callscope_schemas::ValidationError) -> Self {
        IngestError::Invalid {
            field: e.field,
            reason: e.reason,
        }
    }
}

impl From<callscope_schemas::BodyError> for IngestError {
    fn from(e: callscope_schemas::BodyError) -> Self {
        if e.syntax {
            IngestError::BadRequest(format!("body is not valid JSON: {}", e.reason))
        } else {
            IngestError::Invalid {
                field: e.path,
                reason: e.reason,
            }
        }
    }
}

fn retry_after_secs(d: Duration) -> u64 {
    // Retry-After is whole seconds; never tell a client to retry at once when it was refused.
    d.as_secs() + u64::from(d.subsec_nanos() > 0).max(u64::from(d.is_zero()))
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngestError::Auth(e) => match e {
                AuthError::UnknownApp(_) => StatusCode::NOT_FOUND,
                AuthError::InvalidRequest(_) | AuthError::ThirdParty(_) => StatusCode::BAD_REQUEST,
                AuthError::OriginMismatch(_) => StatusCode::FORBIDDEN,
                AuthError::NoSigningKey => StatusCode::INTERNAL_SERVER_ERROR,
                AuthError::MissingToken
                | AuthError::InvalidToken
                | AuthError::TokenExpired
                | AuthError::WrongApp
                | AuthError::ChallengeExpired
                | AuthError::ChallengeReused
                | AuthError::BadResponse => StatusCode::UNAUTHORIZED,
            },
            IngestError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            IngestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            IngestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            IngestError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            IngestError::RateLimited { retry_after, .. }
            | IngestError::Unavailable { retry_after, .. } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs(*retry_after).to_string()) {
                    response.insert_header((header::RETRY_AFTER, v));
                }
            }
            IngestError::Auth(AuthError::TokenExpired) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    "Bearer error=\"invalid_token\", error_description=\"expired\"",
                ));
            }
            _ => {}
        }
        if let IngestError::Auth(AuthError::ThirdParty(e)) = self {
            let action = e.action();
            return response.json(AuthErrorResponse {
                error: e.code().to_owned(),
                error_reason: Some(e.reason().to_owned()),
                error_actions: vec![AuthErrorActionItem {
                    action,
                    params: None,
                }],
            });
        }
        let body = match self {
            IngestError::Invalid { field, reason } => ErrorResponse {
                status: ResponseStatus::Error,
                msg: format!("{field}: {reason}"),
                field: Some(field.clone()),
                reason: Some(reason.clone()),
            },
            // Internal details go to the log, not to the client.
            IngestError::Internal(_) => ErrorResponse::new("internal error"),
            other => ErrorResponse::new(other.to_string()),
        };
        response.json(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }

    #[test]
    fn statuses() {
        let s = |e: IngestError| e.status_code().as_u16();
        assert_eq!(s(AuthError::UnknownApp("1".into()).into()), 404);
        assert_eq!(s(AuthError::TokenExpired.into()), 401);
        assert_eq!(s(AuthError::WrongApp.into()), 401);
        assert_eq!(s(AuthError::OriginMismatch("x".into()).into()), 403);
        assert_eq!(
            s(IngestError::Invalid {
                field: "f".into(),
                reason: "r".into()
            }),
            422
        );
        assert_eq!(s(IngestError::TooLarge { limit: 1 }), 413);
        assert_eq!(
            s(IngestError::RateLimited {
                scope: "app",
                retry_after: Duration::from_secs(1)
            }),
            429
        );
        assert_eq!(
            s(IngestError::Unavailable {
                reason: "x".into(),
                retry_after: Duration::from_secs(1)
            }),
            503
        );
    }
}
