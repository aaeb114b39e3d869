//! `/my`: the incidents the signed-in user created or edited, latest first.

use askama::Template;
use axum::extract::{Query, State};

use crate::ops::watchlist::{self, PageQuery};
use crate::state::AppState;
use crate::web::session::Ctx;
use crate::web::views::{render, short_time_text, Layout, PageError, PageResult};

struct WorkRow {
    id: String,
    name: String,
    revoked: bool,
    /// What the user did, in words.
    did: String,
    last: String,
}

#[derive(Template)]
#[template(path = "my.html")]
struct MyPage {
    l: Layout,
    rows: Vec<WorkRow>,
    total: i64,
    prev: Option<String>,
    next: Option<String>,
}

/// `GET /my`.
pub(crate) async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<PageQuery>,
) -> PageResult {
    let caller = ctx.caller()?;
    let (items, total, page, per_page) = watchlist::my_work(&state, &caller, &q)
        .await
        .map_err(|e| PageError::from(e).with(&ctx))?;
    let rows = items
        .into_iter()
        .map(|e| {
            let edits = match e.edits {
                0 => String::new(),
                1 => "edited once".to_owned(),
                n => format!("edited {n} times"),
            };
            let did = match (e.created, edits.is_empty()) {
                (true, true) => "created".to_owned(),
                (true, false) => format!("created, {edits}"),
                (false, _) => edits,
            };
            WorkRow {
                id: e.incident_id,
                name: e.name,
                revoked: e.revoked,
                did,
                last: short_time_text(&e.last_at),
            }
        })
        .collect();
    let link = |n: i64| format!("/my?page={n}&per_page={per_page}");
    render(&MyPage {
        l: Layout::new(&state, Some(&ctx), "My work", "my"),
        rows,
        total,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page * per_page < total).then(|| link(page + 1)),
    })
}
