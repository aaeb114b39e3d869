//! The incident list: full-text search, facet filters, sort and pages (the pager is shared
//! with the actor page).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;

use super::filters::{bars, filter_form, filters_only, url_with, BarKind, FilterForm};
use crate::db::Facet;
use crate::ops;
use crate::ops::ListQuery;
use crate::state::AppState;
use crate::web::session::Ctx;
use crate::web::views::{incident_row, render_status, BarRow, IncidentRow, Layout, PageResult};

/// Links to pages of a list.
pub(crate) struct Pager {
    pub(super) pages: Vec<PageLink>,
    pub(super) prev: Option<String>,
    pub(super) next: Option<String>,
}

pub(super) struct PageLink {
    pub(super) n: i64,
    pub(super) href: String,
    pub(super) current: bool,
    pub(super) gap: bool,
}

pub(super) fn pager(base: &str, q: &ListQuery, page: i64, per_page: i64, total: i64) -> Pager {
    let pages = (total + per_page - 1) / per_page;
    let link = |n: i64| url_with(base, q, &[("page", Some(&n.to_string()))]);
    let mut out = Vec::new();
    let mut last = 0;
    for n in 1..=pages {
        if n == 1 || n == pages || (n - page).abs() <= 2 {
            if n > last + 1 {
                out.push(PageLink {
                    n: 0,
                    href: String::new(),
                    current: false,
                    gap: true,
                });
            }
            out.push(PageLink {
                n,
                href: link(n),
                current: n == page,
                gap: false,
            });
            last = n;
        }
    }
    Pager {
        pages: out,
        prev: (page > 1 && pages > 0).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
    }
}

/// A facet box of the list's side bar.
pub(super) struct FacetBox {
    pub(super) title: &'static str,
    pub(super) items: Vec<BarRow>,
}

#[derive(Template)]
#[template(path = "incidents.html")]
pub(super) struct ListPage {
    pub(super) l: Layout,
    pub(super) f: FilterForm,
    pub(super) rows: Vec<IncidentRow>,
    pub(super) total: i64,
    pub(super) pager: Pager,
    pub(super) facets: Vec<FacetBox>,
    pub(super) matrix_href: String,
    pub(super) map_href: String,
    /// `/incidents/report` and the filters' query (`?…` or empty): the set report's links.
    pub(super) report_href: &'static str,
    pub(super) report_query: String,
    pub(super) can_write: bool,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let l = Layout::new(&state, Some(&ctx), "Incidents", "incidents");
    let (req, error) = match q.request() {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let (rows, total, facets) = match &req {
        Some(req) => {
            let (items, total) = ops::list_incidents(&state, req).await?;
            let mut facets = Vec::new();
            for (title, facet, kind) in [
                ("Target countries", Facet::Country, BarKind::Country),
                ("Actors", Facet::Actor, BarKind::Actor),
                ("Tactics", Facet::Tactic, BarKind::Tactic),
                ("Techniques", Facet::Technique, BarKind::Technique),
                ("Channels", Facet::Channel, BarKind::Channel),
            ] {
                let counts = state
                    .store
                    .facet_counts_where(facet, &req.filter, 8)
                    .await?;
                facets.push(FacetBox {
                    title,
                    items: bars(&state, kind, &counts, Some(&q)),
                });
            }
            let mut rows: Vec<IncidentRow> = items.iter().map(incident_row).collect();
            super::watchlist::star_rows(&state, &ctx, &mut rows).await?;
            (rows, total, facets)
        }
        None => (Vec::new(), 0, Vec::new()),
    };
    let (page, per_page) = req.as_ref().map_or((1, 50), |r| (r.page, r.per_page));
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = ListPage {
        l,
        f: filter_form(&state, "/incidents", &q, error, true).await?,
        rows,
        total,
        pager: pager("/incidents", &q, page, per_page, total),
        facets,
        matrix_href: url_with("/matrix", &filters_only(&q), &[]),
        map_href: url_with("/map", &filters_only(&q), &[]),
        report_href: "/incidents/report",
        report_query: url_with("", &filters_only(&q), &[]),
        can_write: ctx.can_write(),
    };
    render_status(status, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_with_gaps() {
        let p = pager("/incidents", &ListQuery::default(), 5, 10, 200);
        let shown: Vec<String> = p
            .pages
            .iter()
            .map(|x| if x.gap { "…".into() } else { x.n.to_string() })
            .collect();
        assert_eq!(shown, vec!["1", "…", "3", "4", "5", "6", "7", "…", "20"]);
        assert!(p.prev.is_some() && p.next.is_some());
        assert!(pager("/x", &ListQuery::default(), 1, 50, 0)
            .pages
            .is_empty());
    }
}
