//! The web dashboard: static files compiled into the binary, so the service needs nothing on disk
//! and no CDN at run time.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const APP_CSS: &str = include_str!("../static/app.css");
/// uPlot 1.6.32 (MIT, `static/uPlot.LICENSE`), copied from its npm package's `dist/`.
const UPLOT_JS: &str = include_str!("../static/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../static/uPlot.min.css");

/// Scripts and styles only from this origin; API calls only to it. uPlot sizes its elements with
/// inline styles, hence `'unsafe-inline'` for styles (not for scripts).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

fn page(content_type: &'static str, body: &'static str, cache: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(body)
}

pub async fn index() -> HttpResponse {
    page("text/html; charset=utf-8", INDEX_HTML, "no-cache")
}

pub async fn file(path: web::Path<String>) -> HttpResponse {
    // A new binary may change these files under the same names: revalidate, never trust for long.
    let cache = "no-cache";
    match path.as_str() {
        "app.js" => page("text/javascript; charset=utf-8", APP_JS, cache),
        "app.css" => page("text/css; charset=utf-8", APP_CSS, cache),
        "uPlot.iife.min.js" => page("text/javascript; charset=utf-8", UPLOT_JS, cache),
        "uPlot.min.css" => page("text/css; charset=utf-8", UPLOT_CSS, cache),
        _ => HttpResponse::NotFound()
            .content_type("text/plain")
            .body("not found"),
    }
}
