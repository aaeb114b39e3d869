//! The signed-in user's profile page: API keys (create, revoke) and the password.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;

use super::incidents::DoneQuery;
use super::session::{Ctx, FormData};
use super::views::{
    render, render_status, see_other, short_time_text, FieldErrors, Layout, PageError, PageResult,
};
use crate::auth;
use crate::error::ApiError;
use crate::http::extract::PathParams;
use crate::ops;
use crate::state::AppState;

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
    max_keys: u32,
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
        max_keys: state.settings.max_keys_per_user,
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
        Err(ApiError::Conflict(message)) => {
            let mut page = profile_page(&state, &ctx, None).await?;
            page.key_errors =
                std::collections::BTreeMap::from([("name".to_owned(), message)]).into();
            page.key_name = name.to_owned();
            render_status(StatusCode::CONFLICT, &page)
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
