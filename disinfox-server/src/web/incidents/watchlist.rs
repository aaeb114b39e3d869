//! The watchlist page (`/watchlist`: watched incidents with what changed since the user last
//! looked; viewing marks them seen), the star of incident lists and pages (a small form that
//! puts an incident on the watchlist or takes it off, without script), and the stars' state
//! for a page of rows.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, Uri};

use crate::http::extract::PathParams;
use crate::ops::watchlist::{self, PageQuery};
use crate::state::AppState;
use crate::web::session::{Ctx, FormData};
use crate::web::views::{
    render, see_other, short_time_text, IncidentRow, Layout, PageError, PageResult,
};

/// Sets the star of each row for the signed-in user (visitors without an account get none).
pub(crate) async fn star_rows(
    state: &AppState,
    ctx: &Ctx,
    rows: &mut [IncidentRow],
) -> Result<(), PageError> {
    let Some(user) = &ctx.user else {
        return Ok(());
    };
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let watched = state.store.watched_among(user.id, &ids).await?;
    for r in rows {
        r.star = Some(watched.contains(&r.id));
    }
    Ok(())
}

/// Whether the signed-in user watches an incident (`None` without a user).
pub(crate) async fn star_of(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
) -> Result<Option<bool>, PageError> {
    let Some(user) = &ctx.user else {
        return Ok(None);
    };
    let watched = state.store.watched_among(user.id, &[id.to_owned()]).await?;
    Ok(Some(watched.contains(id)))
}

/// The page the star was pressed on, from the same-origin `Referer` (path and query only, so
/// never another site), else the incident's page.
fn back_to(headers: &HeaderMap, id: &str) -> String {
    let fallback = || format!("/incidents/{}", super::path_segment(id));
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let referer = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.parse::<Uri>().ok());
    match (host, referer) {
        (Some(host), Some(uri)) if uri.authority().is_some_and(|a| a.as_str() == host) => uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .filter(|p| p.starts_with('/') && !p.starts_with("//"))
            .unwrap_or_else(fallback),
        _ => fallback(),
    }
}

/// `POST /incidents/{id}/watch`: `watch=1` stars the incident, anything else unstars it.
pub(crate) async fn watch(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    PathParams(id): PathParams<String>,
    form: FormData,
) -> PageResult {
    let caller = ctx.caller()?;
    let result = if form.get("watch") == "1" {
        watchlist::watch(&state, &caller, &id).await
    } else {
        watchlist::unwatch(&state, &caller, &id).await
    };
    result.map_err(|e| PageError::from(e).with(&ctx))?;
    Ok(see_other(&back_to(&headers, &id)))
}

struct WatchRow {
    id: String,
    name: String,
    revoked: bool,
    added: String,
    seen: String,
    changed: String,
    /// What changed since the last look, in words; empty when nothing did.
    news: String,
}

#[derive(Template)]
#[template(path = "watchlist.html")]
struct WatchlistPage {
    l: Layout,
    rows: Vec<WatchRow>,
    total: i64,
    max: u32,
    prev: Option<String>,
    next: Option<String>,
}

fn times(n: i64) -> String {
    if n == 1 {
        "once".to_owned()
    } else {
        format!("{n} times")
    }
}

/// `GET /watchlist`.
pub(crate) async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<PageQuery>,
) -> PageResult {
    let caller = ctx.caller()?;
    let (items, total, page, per_page) = watchlist::watchlist(&state, &caller, &q, true)
        .await
        .map_err(|e| PageError::from(e).with(&ctx))?;
    let rows = items
        .into_iter()
        .map(|e| {
            let edits = e.changes_since - i64::from(e.deleted_since);
            let mut news = Vec::new();
            if edits > 0 {
                news.push(format!("edited {} since you looked", times(edits)));
            }
            if e.deleted_since {
                news.push("deleted since you looked".to_owned());
            }
            let mut news = news.join("; ");
            if !e.changed_by.is_empty() {
                news.push_str(&format!(" (by {})", e.changed_by.join(", ")));
            }
            WatchRow {
                id: e.incident_id,
                name: e.name,
                revoked: e.revoked,
                added: short_time_text(&e.added_at),
                seen: short_time_text(&e.seen_at),
                changed: short_time_text(&e.changed_at),
                news,
            }
        })
        .collect();
    let link = |n: i64| format!("/watchlist?page={n}&per_page={per_page}");
    render(&WatchlistPage {
        l: Layout::new(&state, Some(&ctx), "Watchlist", "watchlist"),
        rows,
        total,
        max: state.settings.watchlist_max,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page * per_page < total).then(|| link(page + 1)),
    })
}
