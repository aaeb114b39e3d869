//! JSON handlers of the caller's watchlist and work (`/api/v1/watchlist`, `/api/v1/my`): the
//! owner of the key is the user.

use axum::extract::State;
use axum::Json;

use super::bodies::{WatchItem, WatchState, WatchlistPage, WorkItem, WorkPage};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::http::extract::{Params, PathParams};
use crate::ops::watchlist::{self, PageQuery};
use crate::state::AppState;

pub(crate) async fn list_watchlist(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<WatchlistPage>> {
    let (items, total, page, per_page) = watchlist::watchlist(&state, &caller, &q, false).await?;
    Ok(Json(WatchlistPage {
        items: items
            .into_iter()
            .map(|e| WatchItem {
                id: e.incident_id,
                name: e.name,
                revoked: e.revoked,
                added_at: e.added_at,
                seen_at: e.seen_at,
                changed_at: e.changed_at,
                changes_since_seen: e.changes_since,
                deleted_since_seen: e.deleted_since,
                changed_by: e.changed_by,
            })
            .collect(),
        total,
        page,
        per_page,
        max: state.settings.watchlist_max,
    }))
}

pub(crate) async fn watch_incident(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<WatchState>> {
    let changed = watchlist::watch(&state, &caller, &id).await?;
    Ok(Json(WatchState {
        id,
        watched: true,
        changed,
    }))
}

pub(crate) async fn unwatch_incident(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<WatchState>> {
    let changed = watchlist::unwatch(&state, &caller, &id).await?;
    Ok(Json(WatchState {
        id,
        watched: false,
        changed,
    }))
}

pub(crate) async fn my_work(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<WorkPage>> {
    let (items, total, page, per_page) = watchlist::my_work(&state, &caller, &q).await?;
    Ok(Json(WorkPage {
        items: items
            .into_iter()
            .map(|e| WorkItem {
                id: e.incident_id,
                name: e.name,
                revoked: e.revoked,
                created: e.created,
                edits: e.edits,
                last_changed_at: e.last_at,
            })
            .collect(),
        total,
        page,
        per_page,
    }))
}
