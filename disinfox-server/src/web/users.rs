//! The administrator's users page: create users, change roles, disable, approve or reject
//! registrations.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;

use super::incidents::DoneQuery;
use super::session::{Ctx, FormData};
use super::views::{
    render, render_status, see_other, short_time_text, FieldErrors, Layout, PageError, PageResult,
};
use crate::db::Role;
use crate::error::ApiError;
use crate::http::extract::PathParams;
use crate::ops;
use crate::state::AppState;

struct UserRow {
    id: i64,
    email: String,
    role: &'static str,
    created: String,
    disabled: bool,
    pending: bool,
    is_self: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    l: Layout,
    users: Vec<UserRow>,
    pending: usize,
    registration: &'static str,
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
            pending: u.pending,
            is_self: u.id == me,
        })
        .collect::<Vec<_>>();
    let pending = users.iter().filter(|u| u.pending).count();
    Ok(UsersPage {
        l: Layout::new(state, Some(ctx), "Users", "admin").done(done),
        users,
        pending,
        registration: state.settings.registration.as_str(),
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

/// Approves or rejects a pending registration from the users page.
async fn decide(state: &AppState, ctx: &Ctx, id: i64, approve: bool) -> PageResult {
    let caller = ctx.caller()?;
    let result = if approve {
        ops::approve_user(state, &caller, id).await.map(|_| ())
    } else {
        ops::reject_user(state, &caller, id).await
    };
    match result {
        Ok(()) => Ok(see_other(if approve {
            "/admin/users?done=approved"
        } else {
            "/admin/users?done=rejected"
        })),
        Err(ApiError::Internal(e)) => Err(PageError::from(ApiError::Internal(e)).with(ctx)),
        Err(e) => {
            let mut page = users_page(state, ctx, None).await?;
            page.error = Some(e.to_string());
            render_status(e.status(), &page)
        }
    }
}

pub(crate) async fn approve_user(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<i64>,
    _form: FormData,
) -> PageResult {
    decide(&state, &ctx, id, true).await
}

pub(crate) async fn reject_user(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<i64>,
    _form: FormData,
) -> PageResult {
    decide(&state, &ctx, id, false).await
}
