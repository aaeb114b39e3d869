//! Templates (askama: checked at compile time, every value HTML-escaped), the shared page
//! layout, the error pages, and small view helpers.

use std::collections::BTreeMap;

use askama::Template;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use stix_model::disarm::Catalogue;
use stix_model::{CountryCode, Timestamp};

use super::session::Ctx;
use crate::configuration::Registration;
use crate::db::{Role, StoredIncident};
use crate::error::ApiError;
use crate::state::AppState;

/// The signed-in user as the layout shows it.
#[derive(Debug, Clone)]
pub(crate) struct UserView {
    pub(crate) email: String,
    pub(crate) role: &'static str,
    pub(crate) can_write: bool,
    pub(crate) is_admin: bool,
}

/// What every page's frame needs: title, navigation, the user, the sign-out form's token.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) title: String,
    pub(crate) active: &'static str,
    pub(crate) org: String,
    pub(crate) user: Option<UserView>,
    pub(crate) csrf: String,
    pub(crate) version: &'static str,
    pub(crate) disarm: String,
    /// A one-line confirmation (after a redirect).
    pub(crate) notice: Option<&'static str>,
    /// The page uses the whole width of the window (the DISARM matrix).
    pub(crate) wide: bool,
    /// Visitors without an account may browse (the `public_read` setting).
    pub(crate) public_read: bool,
    /// Anyone may register (the `registration` setting is `approval` or `open`).
    pub(crate) can_register: bool,
    /// Reload the page after this many seconds (a job under way).
    pub(crate) refresh: Option<u32>,
    /// `<html data-theme>`: `light`, `dark`, or empty (the system setting).
    pub(crate) theme: &'static str,
    /// The page the theme switch leads back to.
    pub(crate) back: String,
}

impl Layout {
    pub(crate) fn new(
        state: &AppState,
        ctx: Option<&Ctx>,
        title: impl Into<String>,
        active: &'static str,
    ) -> Self {
        let user = ctx.and_then(|c| c.user.as_ref()).map(|u| UserView {
            email: u.email.clone(),
            role: u.role.as_str(),
            can_write: u.role.can_write(),
            is_admin: u.role == Role::Admin,
        });
        Self {
            title: title.into(),
            active,
            org: state.settings.organization.clone(),
            user,
            csrf: ctx.map(|c| c.csrf.clone()).unwrap_or_default(),
            version: env!("CARGO_PKG_VERSION"),
            disarm: Catalogue::builtin(state.settings.disarm_version)
                .version_label()
                .to_owned(),
            notice: None,
            wide: false,
            public_read: state.settings.public_read,
            can_register: state.settings.registration != Registration::Closed,
            refresh: None,
            theme: ctx.map_or("", |c| c.theme.attribute()),
            back: ctx.map_or_else(|| "/".to_owned(), |c| c.back.clone()),
        }
    }

    /// With the confirmation named by a `done` query value (fixed texts only: nothing from
    /// the URL is shown).
    pub(crate) fn done(mut self, done: Option<&str>) -> Self {
        self.notice = match done {
            Some("created") => Some("The incident was created."),
            Some("saved") => Some("A new version of the incident was saved."),
            Some("deleted") => Some("The incident was deleted; it is published as revoked."),
            Some("revoked") => Some("The API key was revoked."),
            Some("password") => Some("Your password was changed; your other sessions ended."),
            Some("updated") => Some("The user was updated."),
            Some("approved") => Some("The registration was approved: the user can sign in."),
            Some("rejected") => Some("The registration was rejected and deleted."),
            Some("signed-out") => Some("You are signed out."),
            _ => None,
        };
        self
    }
}

/// An error of a page: rendered as an HTML page (with the navigation when the user is known)
/// by [`error_page_for`].
#[derive(Debug)]
pub(crate) struct PageError {
    status: StatusCode,
    message: String,
    ctx: Option<Box<Ctx>>,
}

/// The message of a page error, carried to the outer layer that renders it.
#[derive(Debug, Clone)]
struct ErrorMessage(String);

impl PageError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            ctx: None,
        }
    }
    pub(crate) fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, m)
    }
    pub(crate) fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, m)
    }
    pub(crate) fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, m)
    }
    pub(crate) fn too_many(m: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, m)
    }
    /// A 503: the server is busy with the same kind of work; try again.
    pub(crate) fn busy(m: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, m)
    }
    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The upload is too large: this server takes at most {} KiB.",
                limit / 1024
            ),
        )
    }
    /// A 500; the cause is logged, the page says nothing of it.
    pub(crate) fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error on a page");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on the server. The error was logged.",
        )
    }
    /// With the signed-in user, for the navigation of the error page.
    pub(crate) fn with(mut self, ctx: &Ctx) -> Self {
        self.ctx = Some(Box::new(ctx.clone()));
        self
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Internal(err) => Self::internal(format!("{err:#}")),
            other => Self::new(other.status(), other.to_string()),
        }
    }
}

impl From<anyhow::Error> for PageError {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(format!("{e:#}"))
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        Self::internal(format!("template: {e}"))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = self.status;
        r.extensions_mut().insert(ErrorMessage(self.message));
        if let Some(c) = self.ctx {
            r.extensions_mut().insert(*c);
        }
        r
    }
}

/// The result of page handlers.
pub(crate) type PageResult = Result<Response, PageError>;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    l: Layout,
    status: u16,
    reason: String,
    message: String,
}

/// Replaces an error answer that is not HTML by the HTML error page (keeping status and
/// headers such as `Set-Cookie`).
pub(crate) async fn error_page_for(state: &AppState, res: Response) -> Response {
    let status = res.status();
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_html {
        return res;
    }
    let ctx = res.extensions().get::<Ctx>().cloned();
    let explicit = res.extensions().get::<ErrorMessage>().map(|m| m.0.clone());
    let (mut parts, body) = res.into_parts();
    let message = match explicit {
        Some(m) => m,
        None => {
            let plain = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/plain"));
            let text = axum::body::to_bytes(body, 16 * 1024)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&text).trim().to_owned();
            // An API error answered on a page (a path parameter that does not parse) keeps
            // its message; the router's own 404 gets the page's wording.
            let api_message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .filter(|m| m != crate::http::NO_SUCH_RESOURCE);
            match status {
                _ if api_message.is_some() => api_message.unwrap_or_default(),
                StatusCode::NOT_FOUND => "There is no such page.".to_owned(),
                StatusCode::PAYLOAD_TOO_LARGE => {
                    PageError::too_large(state.settings.body_limit_bytes).message
                }
                StatusCode::METHOD_NOT_ALLOWED => {
                    "This page does not take that kind of request.".to_owned()
                }
                _ if plain && !text.is_empty() => text,
                _ => status.canonical_reason().unwrap_or("error").to_owned(),
            }
        }
    };
    let reason = status.canonical_reason().unwrap_or("Error").to_owned();
    let page = ErrorPage {
        l: Layout::new(state, ctx.as_ref(), reason.clone(), ""),
        status: status.as_u16(),
        reason,
        message,
    };
    let html = page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "rendering the error page");
        String::from("<!doctype html><title>Error</title><p>Error</p>")
    });
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Response::from_parts(parts, Body::from(html))
}

/// Renders a template as a 200 page.
pub(crate) fn render(t: &impl Template) -> PageResult {
    Ok(Html(t.render()?).into_response())
}

/// Renders a template with another status (a form with errors: 422).
pub(crate) fn render_status(status: StatusCode, t: &impl Template) -> PageResult {
    Ok((status, Html(t.render()?)).into_response())
}

/// A 303 redirect.
pub(crate) fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_owned())],
        Body::empty(),
    )
        .into_response()
}

// ---- view models ---------------------------------------------------------------------------

/// A country with its name.
#[derive(Debug, Clone)]
pub(crate) struct CountryView {
    pub(crate) code: String,
    pub(crate) name: String,
}

pub(crate) fn country(code: &str) -> CountryView {
    CountryView {
        code: code.to_owned(),
        name: CountryCode::parse(code)
            .map(|c| c.name().to_owned())
            .unwrap_or_default(),
    }
}

/// A row of an incident table.
#[derive(Debug, Clone)]
pub(crate) struct IncidentRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) date: String,
    pub(crate) countries: Vec<CountryView>,
    pub(crate) actors: Vec<String>,
    pub(crate) techniques: usize,
    pub(crate) channels: Vec<String>,
    pub(crate) modified: String,
    /// The signed-in user's star: whether the row's incident is on their watchlist (none
    /// for visitors without an account).
    pub(crate) star: Option<bool>,
}

pub(crate) fn incident_row(s: &StoredIncident) -> IncidentRow {
    let i = &s.incident.input;
    IncidentRow {
        id: s.id.to_string(),
        name: i.name.clone(),
        date: i
            .first_seen
            .clone()
            .unwrap_or_else(|| s.incident.date_key(&s.created)),
        countries: i.target_countries.iter().map(|c| country(c)).collect(),
        actors: s.incident.actor_names(),
        techniques: i.techniques.len(),
        channels: i.channels.clone(),
        modified: short_time(&s.modified),
        star: None,
    }
}

/// `2024-03-05 14:02 UTC`.
pub(crate) fn short_time(t: &Timestamp) -> String {
    DateTime::<Utc>::from(*t)
        .format("%Y-%m-%d %H:%M UTC")
        .to_string()
}

/// `2024-03-05 14:02 UTC` from a stored RFC 3339 text.
pub(crate) fn short_time_text(s: &str) -> String {
    Timestamp::parse(s).map_or_else(|_| s.to_owned(), |t| short_time(&t))
}

/// A labelled count with a bar (dashboard tables, facets).
#[derive(Debug, Clone)]
pub(crate) struct BarRow {
    pub(crate) label: String,
    pub(crate) sub: String,
    pub(crate) count: i64,
    /// Bar width in percent, in steps of 5 (a CSS class: no inline style under the CSP).
    pub(crate) width: i64,
    pub(crate) href: String,
}

/// The bar width class of `n` out of `max`, in steps of 5 %.
pub(crate) fn bar_width(n: i64, max: i64) -> i64 {
    if max <= 0 || n <= 0 {
        0
    } else {
        ((n * 20 + max - 1) / max).clamp(1, 20) * 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars() {
        assert_eq!(bar_width(0, 10), 0);
        assert_eq!(bar_width(10, 10), 100);
        assert_eq!(bar_width(1, 1000), 5, "a count is never an empty bar");
        assert_eq!(bar_width(5, 10), 50);
        assert_eq!(bar_width(3, 0), 0);
    }

    #[test]
    fn times_are_short() {
        let t = Timestamp::parse("2024-03-05T14:02:33.123Z").unwrap();
        assert_eq!(short_time(&t), "2024-03-05 14:02 UTC");
        assert_eq!(short_time_text("nonsense"), "nonsense");
    }
}

/// Errors per field of a form.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
    /// Adds the errors of `more` for fields that have none yet.
    pub(crate) fn merge(&mut self, more: BTreeMap<String, String>) {
        for (k, v) in more {
            self.0.entry(k).or_insert(v);
        }
    }
}

impl From<BTreeMap<String, String>> for FieldErrors {
    fn from(m: BTreeMap<String, String>) -> Self {
        Self(m)
    }
}
