//! The router of the whole server: the API and TAXII routes of [`crate::routes`] and the pages
//! of [`crate::web`], each behind the guard of its access level, with the layers every request
//! goes through: a request id and a log line per request (tower-http), the client's address, the
//! time limit, the pages' HTML and security headers, the API's JSON error shape (the TAXII error
//! message under `/taxii2/`), the body limit.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::auth::Caller;
use crate::error::error_response;
use crate::http::{declared_length, Access, NO_SUCH_RESOURCE};
use crate::routes::{routes, taxii, Protocol};
use crate::state::AppState;

/// The router: the table's routes and the web pages ([`crate::web::pages`]), the JSON error
/// shape for every API error (HTML error pages for the pages), body limit, request timeout.
pub fn router(state: AppState) -> Router {
    let limit = state.settings.body_limit_bytes;
    let mut r: Router<AppState> = Router::new();
    let mut by_path: BTreeMap<&'static str, MethodRouter<AppState>> = BTreeMap::new();
    let api = routes().into_iter().map(|s| {
        let guard = ApiGuard {
            state: state.clone(),
            access: s.access,
            taxii: s.protocol == Protocol::Taxii,
        };
        // Inner to outer: the declared size is checked after the caller is authorized, and
        // before any of the body is read.
        let mr = (s.handler)().layer(middleware::from_fn_with_state(limit, declared_length));
        let mr = match s.access {
            Access::Public => mr,
            _ => mr.layer(middleware::from_fn_with_state(guard, api_guard)),
        };
        (s.path, mr)
    });
    let pages = crate::web::pages()
        .into_iter()
        .map(|p| (p.path, p.guarded(&state)));
    for (path, mr) in api.chain(pages) {
        let merged = match by_path.remove(path) {
            Some(existing) => existing.merge(mr),
            None => mr,
        };
        by_path.insert(path, merged);
    }
    for (path, mr) in by_path {
        r = r.route(path, mr);
    }
    let timeout = Duration::from_secs(state.settings.request_timeout_secs);
    r.fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::web::html_pages,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::http::caller::client_addr_layer,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                // A 5xx is logged once, with its cause, by the error itself (`crate::error`).
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// The span of a request, which every log line of the request carries: method, path (never the
/// query, which may hold what a user searched for) and request id. The id is the client's
/// `x-request-id` when it sends one, else a new UUID; the answer carries it back either way.
fn request_span(req: &Request) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %id,
    )
}

/// What the guard of an API route checks.
#[derive(Clone)]
struct ApiGuard {
    state: AppState,
    access: Access,
    taxii: bool,
}

/// Authenticates the caller and checks the route's access level before the handler runs, so
/// that nothing of the request (query, path, body) is read for a caller who may not call the
/// route: a read key sending a broken body to a write route gets 403, not 400 or 413.
async fn api_guard(State(g): State<ApiGuard>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    if g.taxii {
        if let Err(e) = taxii::TaxiiCaller::from_request_parts(&mut parts, &g.state).await {
            return e.into_response();
        }
    } else {
        let caller = match Caller::from_request_parts(&mut parts, &g.state).await {
            Ok(c) => c,
            Err(e) => return e.into_response(),
        };
        let allowed = match g.access {
            Access::Public | Access::Read | Access::Browse => Ok(()),
            Access::Account => caller.require_account(),
            Access::Write => caller.require_write(),
            Access::Admin => caller.require_admin(),
        };
        if let Err(e) = allowed {
            return e.into_response();
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

async fn not_found(uri: Uri) -> Response {
    let path = uri.path();
    if is_taxii(path) {
        let hint = if path.ends_with('/') {
            String::new()
        } else {
            format!("; TAXII URLs end with a slash: {path}/")
        };
        return taxii::error_response(StatusCode::NOT_FOUND, &format!("no such resource{hint}"));
    }
    error_response(StatusCode::NOT_FOUND, NO_SUCH_RESOURCE, BTreeMap::new())
}

fn is_taxii(path: &str) -> bool {
    path == "/taxii2" || path.starts_with("/taxii2/")
}

/// Turns every error response that is not JSON yet (axum's extractor rejections, 405, 408,
/// 413) into the API's JSON error shape, keeping the status and the message; every answer
/// of the API says `X-Content-Type-Options: nosniff` (the pages have their own headers).
async fn json_errors(req: Request, next: Next) -> Response {
    if crate::web::is_page_path(req.uri().path()) {
        return next.run(req).await;
    }
    let mut res = api_errors(req, next).await;
    res.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

async fn api_errors(req: Request, next: Next) -> Response {
    let taxii = is_taxii(req.uri().path());
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    if taxii {
        return taxii_errors(res).await;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let mut message = String::from_utf8_lossy(&text).trim().to_owned();
    if message.is_empty() {
        message = status.canonical_reason().unwrap_or("error").to_lowercase();
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE || message.contains("length limit") {
        let mut r = error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
            BTreeMap::new(),
        );
        *r.headers_mut() = merge_headers(parts.headers, r.headers().clone());
        return r;
    }
    let mut r = error_response(status, message, BTreeMap::new());
    *r.headers_mut() = merge_headers(parts.headers, r.headers().clone());
    r
}

/// The TAXII error message for an error of a TAXII path that is not one yet.
async fn taxii_errors(res: Response) -> Response {
    let is_taxii = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/taxii+json"));
    if is_taxii {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    // An API-shaped error keeps its message; anything else is the message.
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| text.trim().to_owned());
    let message = if message.is_empty() {
        parts
            .status
            .canonical_reason()
            .unwrap_or("error")
            .to_lowercase()
    } else {
        message
    };
    taxii::taxii_error_from(parts.status, &parts.headers, &message)
}

fn merge_headers(
    mut original: axum::http::HeaderMap,
    new: axum::http::HeaderMap,
) -> axum::http::HeaderMap {
    original.remove(header::CONTENT_LENGTH);
    for (k, v) in new {
        if let Some(k) = k {
            original.insert(k, v);
        }
    }
    original
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::web::pages;

    #[test]
    fn no_page_path_collides_with_an_api_route() {
        let api: BTreeSet<_> = routes().iter().map(|r| r.path).collect();
        for p in pages() {
            assert!(!api.contains(p.path), "{}", p.path);
            assert!(
                !routes().iter().any(|r| crate::web::first_segment(r.path)
                    == crate::web::first_segment(p.path)
                    && !crate::web::first_segment(p.path).is_empty()),
                "{} shares its first segment with an API route",
                p.path
            );
        }
    }
}
