//! Who is asking, and which app's data they may read.
//!
//! - `Authorization: Bearer <query key>`: the key's app, and only it (`?app_id=` naming another
//!   app is refused with 403).
//! - `Authorization: Bearer <admin key>` with `?app_id=<app>`: any registered app, one per request.

use actix_web::HttpRequest;
use actix_web::http::header;
use callscope_ingest::registry::{Registry, Secret};

use crate::error::QueryError;

/// The app a request reads, decided before any query runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub app_id: String,
    pub admin: bool,
}

/// The bearer token of a request, if it has one.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    if value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer ") {
        Some(value[7..].trim()).filter(|t| !t.is_empty())
    } else {
        None
    }
}

/// The `app_id` query parameter, if present.
pub fn requested_app(req: &HttpRequest) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == "app_id").then_some(v))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Authenticates a request and names the one app it may read.
pub fn authorize(
    req: &HttpRequest,
    registry: &Registry,
    admin_key: Option<&Secret>,
) -> Result<Caller, QueryError> {
    let token = bearer(req).ok_or(QueryError::Unauthorized(
        "missing Authorization: Bearer <query key>",
    ))?;
    let requested = requested_app(req);
    if let Some(admin) = admin_key
        && constant_time_eq(token.as_bytes(), admin.expose().as_bytes())
    {
        let app_id = requested.ok_or_else(|| {
            QueryError::BadRequest("the admin key needs ?app_id=<app> to choose an app".to_owned())
        })?;
        if registry.get(&app_id).is_none() {
            return Err(QueryError::NotFound(format!("unknown app {app_id:?}")));
        }
        return Ok(Caller {
            app_id,
            admin: true,
        });
    }
    let (app, _key) = registry
        .app_for_query_key(token)
        .ok_or(QueryError::Unauthorized("unknown query key"))?;
    if let Some(requested) = requested
        && requested != app.app_id
    {
        return Err(QueryError::Forbidden(
            "this query key may only read its own app".to_owned(),
        ));
    }
    Ok(Caller {
        app_id: app.app_id,
        admin: false,
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn keys_choose_the_app() {
        let registry = Registry::in_memory(Vec::new());
        registry.add("a", Some("A")).unwrap();
        registry.add("b", Some("B")).unwrap();
        let key_a = registry.add_query_key("A").unwrap();
        let admin = Secret::new("admin-key-admin-key-admin-key");
        let auth = |header: Option<&str>, query: &str| {
            let mut req = TestRequest::get().uri(&format!("/x{query}"));
            if let Some(h) = header {
                req = req.insert_header((header::AUTHORIZATION, h));
            }
            authorize(&req.to_http_request(), &registry, Some(&admin))
        };
        assert_eq!(
            auth(Some(&format!("Bearer {key_a}")), "").unwrap().app_id,
            "A"
        );
        assert_eq!(
            auth(Some(&format!("bearer {key_a}")), "?app_id=A")
                .unwrap()
                .app_id,
            "A"
        );
        assert!(matches!(
            auth(Some(&format!("Bearer {key_a}")), "?app_id=B"),
            Err(QueryError::Forbidden(_))
        ));
        assert!(matches!(auth(None, ""), Err(QueryError::Unauthorized(_))));
        assert!(matches!(
            auth(Some("Bearer csq_nope"), ""),
            Err(QueryError::Unauthorized(_))
        ));
        assert!(matches!(
            auth(Some(&format!("Basic {key_a}")), ""),
            Err(QueryError::Unauthorized(_))
        ));
        let admin_b = auth(Some("Bearer admin-key-admin-key-admin-key"), "?app_id=B").unwrap();
        assert_eq!(
            admin_b,
            Caller {
                app_id: "B".into(),
                admin: true
            }
        );
        assert!(matches!(
            auth(Some("Bearer admin-key-admin-key-admin-key"), ""),
            Err(QueryError::BadRequest(_))
        ));
        assert!(matches!(
            auth(Some("Bearer admin-key-admin-key-admin-key"), "?app_id=C"),
            Err(QueryError::NotFound(_))
        ));
    }
}
