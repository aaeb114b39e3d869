//! Pages about signing in: the landing page, sign in and out, registration.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::incidents::DoneQuery;
use super::session::{self, Ctx, FormData};
use super::views::{render, render_status, see_other, FieldErrors, Layout, PageError, PageResult};
use crate::audit::{self, AuditEvent, AuditKind};
use crate::auth;
use crate::error::ApiError;
use crate::ops;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "landing.html")]
struct LandingPage {
    l: Layout,
}

pub(crate) async fn landing(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(dq): Query<DoneQuery>,
) -> PageResult {
    render(&LandingPage {
        l: Layout::new(&state, Some(&ctx), "Home", "home").done(dq.done.as_deref()),
    })
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    l: Layout,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

/// Where to go after signing in: a path of this site only (no `//host`, no scheme).
pub(super) fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/login")
        && !next.chars().any(|c| c == '\\' || c.is_control());
    if ok {
        next.to_owned()
    } else {
        "/dashboard".to_owned()
    }
}

pub(crate) async fn login_form(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(nq): Query<NextQuery>,
) -> PageResult {
    let next = safe_next(nq.next.as_deref().unwrap_or(""));
    if ctx.user.is_some() {
        return Ok(see_other(&next));
    }
    render(&LoginPage {
        l: Layout::new(&state, Some(&ctx), "Sign in", "login"),
        email: String::new(),
        next,
        error: None,
    })
}

fn with_retry_after(mut r: axum::response::Response, secs: u64) -> axum::response::Response {
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    r
}

/// Signs in. In order, before any password is hashed: a lock of this (address, account) pair
/// after repeated failures (429), then the attempts of this address (429); then the password
/// is checked through the hasher's cap (503 when it is full). A wrong password and an unknown
/// e-mail get the same answer at the same cost. Successful attempts do not count against the
/// address.
pub(crate) async fn login(State(state): State<AppState>, ctx: Ctx, form: FormData) -> PageResult {
    let email = form.get("email").trim().to_owned();
    let password = form.get("password");
    let next = safe_next(form.get("next"));
    let addr = ctx.address;
    let refused = |status: StatusCode, message: &str| {
        render_status(
            status,
            &LoginPage {
                l: Layout::new(&state, Some(&ctx), "Sign in", "login"),
                email: email.clone(),
                next: next.clone(),
                error: Some(message.to_owned()),
            },
        )
    };
    if let Some(wait) = state.login_throttle.locked_for(addr, &email).await {
        let secs = wait.as_secs().max(1);
        audit::refusal(
            "sign-in-locked",
            addr,
            &email,
            "locked after failed sign-ins",
        );
        let r = refused(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many failed sign-ins for this account from your address. Try again in {secs} seconds."),
        )?;
        return Ok(with_retry_after(r, secs));
    }
    if let Err(wait) = state.login_attempts.take(addr.bucket()).await {
        let secs = wait.as_secs().max(1);
        audit::refusal(
            "sign-in-throttled",
            addr,
            &email,
            "too many sign-in attempts from the address",
        );
        let r = refused(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many sign-in attempts from your address. Try again in {secs} seconds."),
        )?;
        return Ok(with_retry_after(r, secs));
    }
    let stored = state.store.user_by_email(&email).await?;
    let lane = state.known_clients.lane(addr);
    // One password at a time per address not known: the attempt counts (it is the
    // client's own concurrency), nothing is hashed.
    let _turn = match state.hasher.turn(addr, lane) {
        Ok(turn) => turn,
        Err(auth::HashError::Busy { retry_after_secs }) => {
            let r = refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Another sign-in from your address is being checked. Try again in a moment.",
            )?;
            return Ok(with_retry_after(r, retry_after_secs));
        }
        Err(auth::HashError::Failed(e)) => return Err(e.into()),
    };
    let checked = state
        .hasher
        .verify(password, stored.as_ref().map(|(_, h)| h.as_str()), lane)
        .await;
    let ok = match checked {
        Ok(ok) => ok,
        Err(auth::HashError::Busy { retry_after_secs }) => {
            // Not an attempt: nothing was checked.
            state.login_attempts.refund(addr.bucket()).await;
            // Counted for the whole server, not per address: a flood from many addresses
            // would otherwise write one line per request.
            audit::refusal(
                "sign-in-busy",
                crate::client::ClientAddr::UNKNOWN,
                "",
                "password hashing at its limit",
            );
            let r = refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy checking other sign-ins. Try again in a moment.",
            )?;
            return Ok(with_retry_after(r, retry_after_secs));
        }
        Err(auth::HashError::Failed(e)) => return Err(e.into()),
    };
    let user = match stored {
        Some((u, _)) if ok => u,
        _ => {
            let attempt = AuditEvent::new(AuditKind::SignInFailed)
                .tried(&email)
                .from(addr);
            audit::record(&state.store, attempt).await;
            if let Some(lock) = state.login_throttle.failed(addr, &email).await {
                let locked = AuditEvent::new(AuditKind::SignInLocked)
                    .tried(&email)
                    .from(addr)
                    .detail(format!("locked for {} s", lock.as_secs()));
                audit::record(&state.store, locked).await;
            }
            return refused(
                StatusCode::UNAUTHORIZED,
                "Wrong e-mail address or password.",
            );
        }
    };
    state.login_attempts.refund(addr.bucket()).await;
    state.login_throttle.succeeded(addr, &email).await;
    if user.disabled || user.pending {
        let (status, message, why) = if user.disabled {
            (
                StatusCode::UNAUTHORIZED,
                "This account is disabled; ask an administrator.",
                "the account is disabled",
            )
        } else {
            (
                StatusCode::FORBIDDEN,
                "Your registration is pending: an administrator has not approved it yet.",
                "the registration is pending",
            )
        };
        let e = AuditEvent::new(AuditKind::SignInFailed)
            .by_user(&user)
            .from(addr)
            .detail(why);
        audit::record(&state.store, e).await;
        return refused(status, message);
    }
    state.known_clients.signed_in(addr);
    if let Some(old) = &ctx.session {
        state.store.delete_session(old).await?;
    }
    let cookie = session::start_session(&state, &user).await?;
    audit::record(
        &state.store,
        AuditEvent::new(AuditKind::SignIn).by_user(&user).from(addr),
    )
    .await;
    let mut r = see_other(&next);
    let v = HeaderValue::from_str(&cookie).map_err(PageError::internal)?;
    r.headers_mut().append(header::SET_COOKIE, v);
    Ok(r)
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    l: Layout,
    mode: &'static str,
    email: String,
    errors: FieldErrors,
    error: Option<String>,
    done: Option<&'static str>,
    min_password: usize,
}

fn register_page(state: &AppState, ctx: &Ctx) -> RegisterPage {
    RegisterPage {
        l: Layout::new(state, Some(ctx), "Register", "register"),
        mode: state.settings.registration.as_str(),
        email: String::new(),
        errors: FieldErrors::default(),
        error: None,
        done: None,
        min_password: auth::MIN_PASSWORD,
    }
}

pub(crate) async fn register_form(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    if ctx.user.is_some() {
        return Ok(see_other("/profile"));
    }
    render(&register_page(&state, &ctx))
}

pub(crate) async fn register(
    State(state): State<AppState>,
    ctx: Ctx,
    form: FormData,
) -> PageResult {
    let mut page = register_page(&state, &ctx);
    page.email = form.get("email").trim().to_owned();
    let result = ops::register(
        &state,
        ctx.address,
        form.get("email"),
        form.get("password"),
        form.get("confirm"),
    )
    .await;
    match result {
        Ok(outcome) => {
            page.done = Some(match outcome {
                ops::Registered::Active => "active",
                ops::Registered::Pending => "pending",
            });
            render(&page)
        }
        Err(ApiError::Internal(e)) => Err(PageError::from(ApiError::Internal(e)).with(&ctx)),
        Err(e) => {
            let status = e.status();
            let retry = match &e {
                ApiError::RateLimited { retry_after_secs }
                | ApiError::Busy { retry_after_secs } => Some(*retry_after_secs),
                _ => None,
            };
            match e {
                ApiError::Invalid { fields, .. } => page.errors = fields.into(),
                other => page.error = Some(other.to_string()),
            }
            let r = render_status(status, &page)?;
            Ok(match retry {
                Some(s) => with_retry_after(r, s),
                None => r,
            })
        }
    }
}

pub(crate) async fn logout(State(state): State<AppState>, ctx: Ctx, _form: FormData) -> PageResult {
    if let Some(s) = &ctx.session {
        state.store.delete_session(s).await?;
    }
    let mut r = see_other("/?done=signed-out");
    let v = HeaderValue::from_str(&session::clear_session_cookie(&state))
        .map_err(PageError::internal)?;
    r.headers_mut().append(header::SET_COOKIE, v);
    Ok(r.into_response())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next("/incidents?q=x"), "/incidents?q=x");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "",
            "/login?next=/x",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(bad), "/dashboard", "{bad}");
        }
    }
}
