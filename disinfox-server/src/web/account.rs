//! Pages about accounts: landing, sign in and out, profile (API keys, password), users.

use std::sync::LazyLock;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::incidents::DoneQuery;
use super::session::{self, Ctx, FormData};
use super::views::{
    render, render_status, see_other, short_time_text, FieldErrors, Layout, PageError, PageResult,
};
use crate::auth;
use crate::db::Role;
use crate::error::ApiError;
use crate::ops;
use crate::routes::api::PathParams;
use crate::startup::AppState;

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
fn safe_next(next: &str) -> String {
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

/// A password hash to verify against when there is no such user, so that an unknown e-mail
/// takes as long to refuse as a wrong password.
static DUMMY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| auth::hash_password("no such user, no such password").ok());

pub(crate) async fn login(State(state): State<AppState>, ctx: Ctx, form: FormData) -> PageResult {
    let email = form.get("email").trim().to_owned();
    let password = form.get("password");
    let next = safe_next(form.get("next"));
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
    if let Some(wait) = state.login_throttle.locked_for(&email) {
        let secs = wait.as_secs().max(1);
        let mut r = refused(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many failed sign-ins for this address. Try again in {secs} seconds."),
        )?;
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Ok(r);
    }
    let user = match state.store.user_by_email(&email).await? {
        Some((u, hash)) if auth::verify_password_async(password, &hash).await => u,
        stored => {
            if stored.is_none() {
                if let Some(h) = DUMMY_HASH.as_deref() {
                    let _ = auth::verify_password_async(password, h).await;
                }
            }
            state.login_throttle.failed(&email);
            return refused(
                StatusCode::UNAUTHORIZED,
                "Wrong e-mail address or password.",
            );
        }
    };
    state.login_throttle.succeeded(&email);
    if user.disabled {
        return refused(
            StatusCode::UNAUTHORIZED,
            "This account is disabled; ask an administrator.",
        );
    }
    if let Some(old) = &ctx.session {
        state.store.delete_session(old).await?;
    }
    let cookie = session::start_session(&state, &user).await?;
    let mut r = see_other(&next);
    let v = HeaderValue::from_str(&cookie).map_err(PageError::internal)?;
    r.headers_mut().append(header::SET_COOKIE, v);
    Ok(r)
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

// ---- profile -----------------------------------------------------------------------------

struct KeyView {
    id: i64,
    name: String,
    prefix: String,
    scope: String,
    created: String,
    last_used: String,
    revoked: bool,
    revoked_at: String,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    l: Layout,
    email: String,
    role: &'static str,
    created: String,
    keys: Vec<KeyView>,
    new_key: Option<String>,
    key_name: String,
    key_errors: FieldErrors,
    pw_errors: FieldErrors,
    can_write: bool,
    min_password: usize,
}

async fn profile_page(
    state: &AppState,
    ctx: &Ctx,
    done: Option<&str>,
) -> Result<ProfilePage, PageError> {
    let caller = ctx.caller()?;
    let keys = state
        .store
        .api_keys(Some(caller.user.id))
        .await?
        .into_iter()
        .rev()
        .map(|k| KeyView {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scope: k.scope,
            created: short_time_text(&k.created_at),
            last_used: k
                .last_used_at
                .as_deref()
                .map_or_else(|| "never".to_owned(), short_time_text),
            revoked: k.revoked_at.is_some(),
            revoked_at: k
                .revoked_at
                .as_deref()
                .map(short_time_text)
                .unwrap_or_default(),
        })
        .collect();
    Ok(ProfilePage {
        l: Layout::new(state, Some(ctx), "Profile", "profile").done(done),
        email: caller.user.email.clone(),
        role: caller.user.role.as_str(),
        created: short_time_text(&caller.user.created_at),
        keys,
        new_key: None,
        key_name: String::new(),
        key_errors: FieldErrors::default(),
        pw_errors: FieldErrors::default(),
        can_write: caller.user.role.can_write(),
        min_password: auth::MIN_PASSWORD,
    })
}

pub(crate) async fn profile(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(dq): Query<DoneQuery>,
) -> PageResult {
    render(&profile_page(&state, &ctx, dq.done.as_deref()).await?)
}

pub(crate) async fn create_key(
    State(state): State<AppState>,
    ctx: Ctx,
    form: FormData,
) -> PageResult {
    let caller = ctx.caller()?;
    let name = form.get("name");
    match ops::create_key(&state, &caller, name, Some(form.get("scope"))).await {
        Ok((secret, _)) => {
            let mut page = profile_page(&state, &ctx, None).await?;
            page.new_key = Some(secret);
            render_status(StatusCode::CREATED, &page)
        }
        Err(ApiError::Invalid { fields, .. }) => {
            let mut page = profile_page(&state, &ctx, None).await?;
            page.key_errors = fields.into();
            page.key_name = name.to_owned();
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(PageError::from(e).with(&ctx)),
    }
}

pub(crate) async fn revoke_key(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<i64>,
    _form: FormData,
) -> PageResult {
    let caller = ctx.caller()?;
    ops::revoke_key(&state, &caller, id)
        .await
        .map_err(|e| PageError::from(e).with(&ctx))?;
    Ok(see_other("/profile?done=revoked"))
}

pub(crate) async fn change_password(
    State(state): State<AppState>,
    ctx: Ctx,
    form: FormData,
) -> PageResult {
    let caller = ctx.caller()?;
    match ops::change_password(
        &state,
        &caller,
        form.get("current"),
        form.get("new"),
        form.get("confirm"),
        ctx.session.as_deref(),
    )
    .await
    {
        Ok(()) => Ok(see_other("/profile?done=password")),
        Err(ApiError::Invalid { fields, .. }) => {
            let mut page = profile_page(&state, &ctx, None).await?;
            page.pw_errors = fields.into();
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(PageError::from(e).with(&ctx)),
    }
}

// ---- users -------------------------------------------------------------------------------

struct UserRow {
    id: i64,
    email: String,
    role: &'static str,
    created: String,
    disabled: bool,
    is_self: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    l: Layout,
    users: Vec<UserRow>,
    roles: Vec<&'static str>,
    created: Option<(String, Option<String>)>,
    errors: FieldErrors,
    error: Option<String>,
    form_email: String,
    form_role: String,
}

async fn users_page(
    state: &AppState,
    ctx: &Ctx,
    done: Option<&str>,
) -> Result<UsersPage, PageError> {
    let me = ctx.caller()?.user.id;
    let users = state
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| UserRow {
            id: u.id,
            email: u.email,
            role: u.role.as_str(),
            created: short_time_text(&u.created_at),
            disabled: u.disabled,
            is_self: u.id == me,
        })
        .collect();
    Ok(UsersPage {
        l: Layout::new(state, Some(ctx), "Users", "admin").done(done),
        users,
        roles: [Role::Reader, Role::Analyst, Role::Admin]
            .iter()
            .map(|r| r.as_str())
            .collect(),
        created: None,
        errors: FieldErrors::default(),
        error: None,
        form_email: String::new(),
        form_role: "reader".into(),
    })
}

pub(crate) async fn users(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(dq): Query<DoneQuery>,
) -> PageResult {
    render(&users_page(&state, &ctx, dq.done.as_deref()).await?)
}

pub(crate) async fn create_user(
    State(state): State<AppState>,
    ctx: Ctx,
    form: FormData,
) -> PageResult {
    let caller = ctx.caller()?;
    let email = form.get("email").trim();
    let role = form.get("role");
    let password = Some(form.get("password").to_owned()).filter(|p| !p.is_empty());
    let result = ops::create_user(&state, &caller, email, role, password).await;
    let mut page = users_page(&state, &ctx, None).await?;
    match result {
        Ok((user, generated)) => {
            page.created = Some((user.email, generated));
            render_status(StatusCode::CREATED, &page)
        }
        Err(ApiError::Internal(e)) => Err(PageError::from(ApiError::Internal(e)).with(&ctx)),
        Err(e) => {
            let status = e.status();
            match e {
                ApiError::Invalid { fields, .. } => page.errors = fields.into(),
                other => page.error = Some(other.to_string()),
            }
            page.form_email = email.to_owned();
            page.form_role = role.to_owned();
            render_status(status, &page)
        }
    }
}

pub(crate) async fn update_user(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<i64>,
    form: FormData,
) -> PageResult {
    let caller = ctx.caller()?;
    match ops::update_user(
        &state,
        &caller,
        id,
        Some(form.get("role")),
        Some(form.has("disabled")),
    )
    .await
    {
        Ok(_) => Ok(see_other("/admin/users?done=updated")),
        Err(ApiError::Internal(e)) => Err(PageError::from(ApiError::Internal(e)).with(&ctx)),
        Err(e) => {
            let mut page = users_page(&state, &ctx, None).await?;
            page.error = Some(e.to_string());
            render_status(e.status(), &page)
        }
    }
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
