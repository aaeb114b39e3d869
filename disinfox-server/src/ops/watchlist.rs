//! Watchlists and "my work": the signed-in user (or the owner of the API key) stars incidents,
//! lists them with what changed since the last look, and lists the incidents they created or
//! edited. Any authenticated caller may keep a watchlist (a read key too: it changes no
//! incident); each sees only their own.

use serde::Deserialize;

use crate::auth::Caller;
use crate::db::{Watch, WatchEntry, WorkEntry};
use crate::error::ApiError;
use crate::state::AppState;

/// Items per page of the watchlist and of my work when none is asked for.
pub const DEFAULT_PER_PAGE: i64 = 50;
/// The most items per page.
pub const MAX_PER_PAGE: i64 = 200;

/// `page` (from 1) and `per_page` (1-200) of a list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    /// Page number, from 1.
    pub page: Option<i64>,
    /// Items per page.
    pub per_page: Option<i64>,
}

impl PageQuery {
    /// `(page, per_page)`, checked.
    pub fn checked(&self) -> Result<(i64, i64), ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if !(1..=1_000_000).contains(&page) {
            return Err(ApiError::BadRequest(format!(
                "page: {page} is out of range; pages are numbered from 1"
            )));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ApiError::BadRequest(format!(
                "per_page: {per_page} is out of range; 1 to {MAX_PER_PAGE}"
            )));
        }
        Ok((page, per_page))
    }
}

/// Stars an incident for the caller; `true` when it was not on the watchlist before. 404 for
/// no such incident, 409 when the watchlist holds `watchlist_max` incidents already.
pub async fn watch(state: &AppState, caller: &Caller, id: &str) -> Result<bool, ApiError> {
    let max = i64::from(state.settings.watchlist_max);
    match state.store.watch(caller.user.id, id, max).await? {
        Watch::Added => Ok(true),
        Watch::Already => Ok(false),
        Watch::NoIncident => Err(ApiError::NotFound(format!("no incident {id}"))),
        Watch::Full => Err(ApiError::Conflict(format!(
            "the watchlist holds {max} incidents, the most it may; remove one first"
        ))),
    }
}

/// Removes an incident from the caller's watchlist; `true` when it was there.
pub async fn unwatch(state: &AppState, caller: &Caller, id: &str) -> Result<bool, ApiError> {
    Ok(state.store.unwatch(caller.user.id, id).await?)
}

/// A page of the caller's watchlist with what changed since the last look, and its size.
/// With `mark_seen`, the incidents of the page are seen from now on (what is returned still
/// tells what changed before this look).
pub async fn watchlist(
    state: &AppState,
    caller: &Caller,
    q: &PageQuery,
    mark_seen: bool,
) -> Result<(Vec<WatchEntry>, i64, i64, i64), ApiError> {
    let (page, per_page) = q.checked()?;
    let (items, total) = state
        .store
        .watchlist(caller.user.id, (page - 1) * per_page, per_page)
        .await?;
    if mark_seen {
        let changed: Vec<String> = items
            .iter()
            .filter(|e| e.changes_since > 0)
            .map(|e| e.incident_id.clone())
            .collect();
        state.store.mark_seen(caller.user.id, &changed).await?;
    }
    Ok((items, total, page, per_page))
}

/// A page of the incidents the caller created or edited, and how many there are.
pub async fn my_work(
    state: &AppState,
    caller: &Caller,
    q: &PageQuery,
) -> Result<(Vec<WorkEntry>, i64, i64, i64), ApiError> {
    let (page, per_page) = q.checked()?;
    let (items, total) = state
        .store
        .my_work(caller.user.id, (page - 1) * per_page, per_page)
        .await?;
    Ok((items, total, page, per_page))
}
