//! What the JSON API, TAXII and the web pages share at the HTTP level: who may call a route
//! ([`Access`]), the extractors that answer malformed requests in the API's error shape
//! ([`extract`]), the caller and its address taken from a request ([`caller`]), the body-size
//! guard, and file downloads ([`download`]).
//!
//! This module sits under [`crate::routes`] and [`crate::web`] and above the domain modules:
//! it turns requests into domain values and domain values into responses, and holds no rule of
//! its own about incidents, users or keys.

pub mod caller;
pub mod download;
pub mod extract;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// Who may call a route or open a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health, landing page, API description).
    Public,
    /// Any authenticated caller.
    Read,
    /// Analysts and administrators with a write key.
    Write,
    /// Administrators.
    Admin,
    /// Any authenticated caller whose credentials are not read-only (a browser session or a
    /// write key): managing one's own API keys.
    Account,
    /// Pages only: signed-in users, and visitors without an account when the `public_read`
    /// setting is on.
    Browse,
}

/// The message of the router's 404.
pub const NO_SUCH_RESOURCE: &str = "no such resource";

/// Refuses a body whose declared `Content-Length` is over the limit before reading any of it
/// (413; the outer layers give it the API's or the pages' error shape). Routes and pages put it
/// inside their access guard, so an unauthorized caller gets 403 whatever size it declares. A
/// body without a length is cut at the limit while it is read.
pub async fn declared_length(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        let mut r = Response::new(Body::from("request body too large"));
        *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    next.run(req).await
}
