//! Browser sessions, the access guard of every page, and CSRF protection.
//!
//! A session id is 32 random bytes; the cookie carries it, the database only its SHA-256, so
//! a copy of the database signs no one in. Each session has its own synchronizer token, which
//! every form sends back in a `csrf` field; the guard refuses any state-changing request whose
//! token is missing or wrong before the handler runs. The sign-in form, sent before there is a
//! session, is protected the same way by a token in a separate SameSite=Strict cookie.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{TimeDelta, Utc};

use super::theme::{Theme, THEME_COOKIE};
use super::views::PageError;
use crate::auth::{self, Caller, Scope};
use crate::client::ClientAddr;
use crate::db::{Role, User};
use crate::http::Access;
use crate::state::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "dfx_session";
/// The cookie of the sign-in form's CSRF token (before there is a session).
const LOGIN_CSRF_COOKIE: &str = "dfx_csrf";
/// How long a session lasts, in hours, from sign-in.
pub const SESSION_HOURS: i64 = 12;

/// What the guard learned about the request, for the handlers and the error pages.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// The signed-in user.
    pub(crate) user: Option<User>,
    /// The CSRF token to put in forms.
    pub(crate) csrf: String,
    /// The hash of the session id.
    pub(crate) session: Option<Vec<u8>>,
    /// Where the request came from.
    pub(crate) address: ClientAddr,
    /// The colour theme the user chose (the `theme` cookie).
    pub(crate) theme: Theme,
    /// Where the theme switch leads back to: this page (for a GET), else the start page.
    pub(crate) back: String,
}

impl Ctx {
    /// The signed-in user as a caller of the shared operations (a browser session has the
    /// full rights of its user's role).
    pub(crate) fn caller(&self) -> Result<Caller, PageError> {
        match &self.user {
            Some(u) => Ok(Caller {
                user: u.clone(),
                key_id: None,
                scope: Scope::Write,
                address: self.address,
            }),
            None => Err(PageError::internal("a page that needs a user got none")),
        }
    }

    /// Whether the user may change incidents.
    pub(crate) fn can_write(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role.can_write())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, PageError> {
        parts
            .extensions
            .get::<Ctx>()
            .cloned()
            .ok_or_else(|| PageError::internal("page route without its guard"))
    }
}

/// The fields of a submitted `application/x-www-form-urlencoded` form (repeated names kept).
#[derive(Debug, Clone, Default)]
pub(crate) struct FormData(BTreeMap<String, Vec<String>>);

impl FormData {
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(bytes) {
            m.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        Self(m)
    }

    /// The first value of a field, or "".
    pub(crate) fn get(&self, key: &str) -> &str {
        self.0
            .get(key)
            .and_then(|v| v.first())
            .map_or("", String::as_str)
    }

    /// Every value of a field.
    pub(crate) fn all(&self, key: &str) -> Vec<String> {
        self.0.get(key).cloned().unwrap_or_default()
    }

    /// Whether the field was sent (a checked checkbox).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = PageError;

    async fn from_request(req: Request, _: &S) -> Result<Self, PageError> {
        req.extensions()
            .get::<FormData>()
            .cloned()
            .ok_or_else(|| PageError::bad_request("expected a submitted form"))
    }
}

/// The cookies of a request.
fn cookies(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

pub(super) fn secure(state: &AppState) -> &'static str {
    if state.settings.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

/// The `Set-Cookie` value of a new session.
pub(crate) fn session_cookie(state: &AppState, token: &str) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        SESSION_HOURS * 3600,
        secure(state)
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub(crate) fn clear_session_cookie(state: &AppState) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        secure(state)
    )
}

/// Starts a session for `user`; returns the cookie to set.
pub(crate) async fn start_session(state: &AppState, user: &User) -> Result<String, PageError> {
    let token = auth::random_token()?;
    let csrf = auth::random_token()?;
    let expires = Utc::now() + TimeDelta::hours(SESSION_HOURS);
    state
        .store
        .create_session(&auth::hash_api_key(&token), user.id, &csrf, expires)
        .await?;
    Ok(session_cookie(state, &token))
}

/// Whether two tokens are equal, in time independent of where they differ.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// What the guard of one page route checks: its access level, for its method.
#[derive(Clone)]
pub(crate) struct PageGuard {
    pub(crate) state: AppState,
    pub(crate) access: Access,
    pub(crate) method: Method,
}

/// The largest form accepted from a visitor without a session (sign-in, registration): those
/// forms are small, and anyone can send them.
const ANONYMOUS_BODY_LIMIT: usize = 16 * 1024;

/// Signs the request in from its session cookie, enforces the route's access level (a
/// redirect to the sign-in page without a session, 403 for a role below it), and checks the
/// CSRF token of every request that is not a GET or HEAD. A request with another method than
/// the route's passes through untouched, to be answered 405 by the router.
pub(crate) async fn guard(State(g): State<PageGuard>, req: Request, next: Next) -> Response {
    let method_matches =
        req.method() == g.method || (g.method == Method::GET && req.method() == Method::HEAD);
    if !method_matches {
        return next.run(req).await;
    }
    match guarded(g.access, &g.state, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn guarded(
    access: Access,
    state: &AppState,
    req: Request,
    next: Next,
) -> Result<Response, PageError> {
    let jar = cookies(req.headers());
    let address = req
        .extensions()
        .get::<ClientAddr>()
        .copied()
        .unwrap_or(ClientAddr::UNKNOWN);
    let theme = jar
        .get(THEME_COOKIE)
        .and_then(|t| Theme::parse(t))
        .unwrap_or_default();
    let is_get = req.method() == Method::GET || req.method() == Method::HEAD;
    let back = match req.uri().path_and_query() {
        Some(p) if is_get => p.as_str().to_owned(),
        _ => "/".to_owned(),
    };
    let mut ctx = Ctx {
        user: None,
        csrf: String::new(),
        session: None,
        address,
        theme,
        back,
    };
    if let Some(token) = jar.get(SESSION_COOKIE).filter(|t| !t.is_empty()) {
        let hash = auth::hash_api_key(token);
        if let Some((user, csrf)) = state.store.session(&hash).await? {
            ctx = Ctx {
                user: Some(user),
                csrf,
                session: Some(hash),
                ..ctx
            };
        }
    }
    let mut new_login_cookie = None;
    if ctx.user.is_none() {
        match jar.get(LOGIN_CSRF_COOKIE).filter(|t| t.len() >= 32) {
            Some(t) => ctx.csrf = t.clone(),
            None => {
                // A fresh token cannot match anything sent with this request.
                let t = auth::random_token()?;
                new_login_cookie = Some(format!(
                    "{LOGIN_CSRF_COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict{}",
                    secure(state)
                ));
                ctx.csrf = t;
            }
        }
    }
    match (&ctx.user, access) {
        (_, Access::Public) => {}
        (None, Access::Browse) if state.settings.public_read && is_get => {
            if let Err(wait) = state.anonymous_views.take(address.bucket()).await {
                let secs = wait.as_secs().max(1);
                let mut r = PageError::too_many(format!(
                    "Too many pages opened from your address without signing in. Try again in {secs} seconds, or sign in."
                ))
                .into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                return Ok(r);
            }
        }
        (None, _) => return Ok(to_sign_in(&req, is_get)),
        (Some(u), Access::Write) if !u.role.can_write() => {
            return Err(PageError::forbidden(format!(
                "This page is for analysts; you are signed in as {} with the {} role.",
                u.email,
                u.role.as_str()
            ))
            .with(&ctx))
        }
        (Some(u), Access::Admin) if u.role != Role::Admin => {
            return Err(PageError::forbidden(format!(
                "This page is for administrators; you are signed in as {} with the {} role.",
                u.email,
                u.role.as_str()
            ))
            .with(&ctx))
        }
        _ => {}
    }
    let mut req = req;
    if !is_get {
        let fresh = new_login_cookie.is_some();
        req = check_csrf(state, &ctx, req, fresh).await?;
    }
    req.extensions_mut().insert(ctx.clone());
    let mut res = next.run(req).await;
    res.extensions_mut().insert(ctx);
    if let Some(c) = new_login_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(res)
}

fn to_sign_in(req: &Request, is_get: bool) -> Response {
    let mut location = "/login".to_owned();
    if is_get {
        let next = req
            .uri()
            .path_and_query()
            .map_or("/dashboard", |p| p.as_str());
        location.push_str("?next=");
        location.extend(form_urlencoded::byte_serialize(next.as_bytes()));
    }
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location)],
        Body::empty(),
    )
        .into_response()
}

/// Reads the body, finds the `csrf` field (form or multipart), compares it with the
/// session's token, and puts the body back (and the parsed form, for the handler).
async fn check_csrf(
    state: &AppState,
    ctx: &Ctx,
    req: Request,
    fresh_token: bool,
) -> Result<Request, PageError> {
    let (mut parts, body) = req.into_parts();
    let limit = if ctx.user.is_some() {
        state.settings.body_limit_bytes
    } else {
        ANONYMOUS_BODY_LIMIT
    };
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| PageError::too_large(limit))?;
    let ct = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let sent = if ct.starts_with("application/x-www-form-urlencoded") {
        let form = FormData::parse(&bytes);
        let t = form.get("csrf").to_owned();
        parts.extensions.insert(form);
        Some(t)
    } else if ct.starts_with("multipart/form-data") {
        multipart_token(&parts.headers, bytes.clone()).await
    } else {
        None
    };
    let ok = !fresh_token
        && !ctx.csrf.is_empty()
        && sent.as_deref().is_some_and(|t| same_token(t, &ctx.csrf));
    if !ok {
        let who = ctx.user.as_ref().map_or("", |u| u.email.as_str());
        crate::audit::refusal(
            "csrf-refused",
            ctx.address,
            who,
            "form security token missing or wrong",
        );
        return Err(PageError::forbidden(
            "The form was refused: its security token is missing or wrong (it may come from \
             another site, or from a page opened before you signed in again). Reload the page \
             and send it again.",
        )
        .with(ctx));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

async fn multipart_token(headers: &HeaderMap, bytes: Bytes) -> Option<String> {
    let mut b = Request::builder();
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    let req = b.body(Body::from(bytes)).ok()?;
    let mut mp = Multipart::from_request(req, &()).await.ok()?;
    while let Ok(Some(field)) = mp.next_field().await {
        if field.name() == Some("csrf") {
            return field.text().await.ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_keep_repeated_fields_and_decode() {
        let f = FormData::parse(b"a=1&a=2&name=%3Cscript%3E+x&empty=");
        assert_eq!(f.all("a"), vec!["1", "2"]);
        assert_eq!(f.get("name"), "<script> x");
        assert!(f.has("empty") && !f.has("nope"));
        assert_eq!(f.get("nope"), "");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert!(!same_token("", "a"));
    }

    #[test]
    fn cookies_are_read_from_every_header() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; b = 2"));
        h.append(header::COOKIE, HeaderValue::from_static("dfx_session=xyz"));
        let c = cookies(&h);
        assert_eq!(c.get("b").map(String::as_str), Some("2"));
        assert_eq!(c.get(SESSION_COOKIE).map(String::as_str), Some("xyz"));
    }
}
