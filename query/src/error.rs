//! Every way a query request can fail, mapped to an HTTP status and a JSON body in one place.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use datafusion::error::DataFusionError;
use serde::Serialize;

/// Why a SQL statement was refused before planning; the `reason` field of the 400 body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    Empty,
    MultipleStatements,
    Ddl,
    Dml,
    Copy,
    ExternalTable,
    Set,
    TableFunction,
    Explain,
    Show,
    NotAQuery,
    TooLarge,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Empty => "empty",
            Refusal::MultipleStatements => "multiple_statements",
            Refusal::Ddl => "ddl",
            Refusal::Dml => "dml",
            Refusal::Copy => "copy",
            Refusal::ExternalTable => "external_table",
            Refusal::Set => "set",
            Refusal::TableFunction => "table_function",
            Refusal::Explain => "explain",
            Refusal::Show => "show",
            Refusal::NotAQuery => "not_a_query",
            Refusal::TooLarge => "too_large",
        }
    }
}

#[must_use]
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No key, or a key nobody issued: 401.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A valid key asking for what it may not read: 403.
    #[error("{0}")]
    Forbidden(String),
    /// A parameter that does not parse or is out of range: 400.
    #[error("{0}")]
    BadRequest(String),
    /// A SQL statement that is not a read-only query: 400 naming why.
    #[error("{message}")]
    Refused { reason: Refusal, message: String },
    /// The analyst's SQL does not plan or fails on the data (unknown column, bad cast): 400.
    #[error("sql error: {0}")]
    Sql(String),
    #[error("{0}")]
    NotFound(String),
    /// The request ran past `limits.timeout_ms`: 504.
    #[error("query cancelled after the time limit of {ms} ms")]
    Timeout { ms: u64 },
    /// The query needed more memory than `limits.memory_limit_bytes` allows: 422, the client must
    /// ask for less (narrower range, fewer groups, a LIMIT).
    #[error("query exceeded the memory limit: {0}")]
    Memory(String),
    /// The lake cannot be read right now (object store down, permission): 503.
    #[error("the data store is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl QueryError {
    /// Maps an error of a query this service wrote itself (dashboard): anything but the limits
    /// and the store is a bug on our side.
    pub fn from_internal(e: DataFusionError) -> Self {
        match classify(&e) {
            Class::Memory(m) => QueryError::Memory(m),
            Class::Store(m) => QueryError::Unavailable(m),
            Class::User(m) | Class::Other(m) => QueryError::Internal(m),
        }
    }

    /// Maps an error of an analyst's query: planning and evaluation errors are theirs to fix.
    pub fn from_analyst(e: DataFusionError) -> Self {
        match classify(&e) {
            Class::Memory(m) => QueryError::Memory(m),
            Class::Store(m) => QueryError::Unavailable(m),
            Class::User(m) => QueryError::Sql(m),
            Class::Other(m) => QueryError::Internal(m),
        }
    }

    /// Short label for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            QueryError::Unauthorized(_) => "unauthorized",
            QueryError::Forbidden(_) => "forbidden",
            QueryError::BadRequest(_) => "bad_request",
            QueryError::Refused { .. } => "refused",
            QueryError::Sql(_) => "sql",
            QueryError::NotFound(_) => "not_found",
            QueryError::Timeout { .. } => "timeout",
            QueryError::Memory(_) => "memory_limit",
            QueryError::Unavailable(_) => "unavailable",
            QueryError::Internal(_) => "internal",
        }
    }
}

enum Class {
    Memory(String),
    Store(String),
    User(String),
    Other(String),
}

fn classify(e: &DataFusionError) -> Class {
    match e.find_root() {
        DataFusionError::ResourcesExhausted(m) => Class::Memory(m.clone()),
        DataFusionError::ObjectStore(inner) => Class::Store(inner.to_string()),
        DataFusionError::IoError(inner) => Class::Store(inner.to_string()),
        root @ (DataFusionError::Plan(_)
        | DataFusionError::SQL(..)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_)
        | DataFusionError::Configuration(_)
        | DataFusionError::Execution(_)
        | DataFusionError::ArrowError(..)) => Class::User(root.strip_backtrace()),
        root => Class::Other(root.strip_backtrace()),
    }
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl ResponseError for QueryError {
    fn status_code(&self) -> StatusCode {
        match self {
            QueryError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            QueryError::Forbidden(_) => StatusCode::FORBIDDEN,
            QueryError::BadRequest(_) | QueryError::Refused { .. } | QueryError::Sql(_) => {
                StatusCode::BAD_REQUEST
            }
            QueryError::NotFound(_) => StatusCode::NOT_FOUND,
            QueryError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            QueryError::Memory(_) => StatusCode::UNPROCESSABLE_ENTITY,
            QueryError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            QueryError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let QueryError::Unauthorized(_) = self {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"callscope\""));
        }
        let reason = match self {
            QueryError::Refused { reason, .. } => Some(reason.as_str()),
            _ => None,
        };
        let message = match self {
            // Internal details go to the log (see `http::observe`), not to the client.
            QueryError::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        response.json(ErrorBody {
            error: self.kind(),
            message,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let s = |e: QueryError| e.status_code().as_u16();
        assert_eq!(s(QueryError::Unauthorized("x")), 401);
        assert_eq!(s(QueryError::Forbidden("x".into())), 403);
        assert_eq!(
            s(QueryError::Refused {
                reason: Refusal::Ddl,
                message: "x".into()
            }),
            400
        );
        assert_eq!(s(QueryError::Timeout { ms: 1 }), 504);
        assert_eq!(s(QueryError::Memory("x".into())), 422);
        assert_eq!(s(QueryError::Internal("x".into())), 500);
    }

    #[test]
    fn analyst_errors_are_theirs_and_memory_is_a_limit() {
        let plan = DataFusionError::Plan("no column x".into());
        assert!(matches!(QueryError::from_analyst(plan), QueryError::Sql(_)));
        let plan = DataFusionError::Plan("no column x".into());
        assert!(matches!(
            QueryError::from_internal(plan),
            QueryError::Internal(_)
        ));
        let mem = DataFusionError::Context(
            "wrapped".into(),
            Box::new(DataFusionError::ResourcesExhausted("pool".into())),
        );
        assert!(matches!(
            QueryError::from_analyst(mem),
            QueryError::Memory(_)
        ));
    }
}
