//! Actors with their incident counts, and one actor's page with its incidents.

use askama::Template;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::filters::{bars, filters_only, url_with, BarKind};
use super::list::{pager, Pager};
use super::path_segment;
use crate::db::{Count, Facet};
use crate::http::extract::PathParams;
use crate::ops;
use crate::ops::ListQuery;
use crate::state::AppState;
use crate::web::session::Ctx;
use crate::web::views::{incident_row, render, BarRow, IncidentRow, Layout, PageError, PageResult};

#[derive(Debug, Deserialize)]
pub(crate) struct ActorsQuery {
    q: Option<String>,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "actors.html")]
struct ActorsPage {
    l: Layout,
    q: String,
    total: usize,
    actors: Vec<BarRow>,
}

pub(crate) async fn actors(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(aq): Query<ActorsQuery>,
) -> PageResult {
    let q = aq.q.unwrap_or_default();
    let needle = q.trim().to_lowercase();
    let counts: Vec<Count> = state
        .store
        .facet_counts(Facet::Actor, 100_000)
        .await?
        .into_iter()
        .filter(|c| needle.is_empty() || c.key.to_lowercase().contains(&needle))
        .collect();
    let page = ActorsPage {
        l: Layout::new(&state, Some(&ctx), "Actors", "actors"),
        total: counts.len(),
        actors: bars(&state, BarKind::Actor, &counts, None),
        q,
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "actor.html")]
struct ActorPage {
    l: Layout,
    name: String,
    total: i64,
    techniques: Vec<BarRow>,
    countries: Vec<BarRow>,
    channels: Vec<BarRow>,
    rows: Vec<IncidentRow>,
    pager: Pager,
    list_href: String,
    matrix_href: String,
}

pub(crate) async fn actor(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(name): PathParams<String>,
    Query(aq): Query<ActorsQuery>,
) -> PageResult {
    let q = ListQuery {
        actor: Some(name.clone()),
        page: aq.page,
        ..Default::default()
    };
    let req = q.request().map_err(|e| PageError::from(e).with(&ctx))?;
    let (items, total) = ops::list_incidents(&state, &req).await?;
    if total == 0 {
        return Err(
            PageError::not_found(format!("No incident is attributed to {name:?}.")).with(&ctx),
        );
    }
    let mut boxes = Vec::new();
    for (facet, kind) in [
        (Facet::Technique, BarKind::Technique),
        (Facet::Country, BarKind::Country),
        (Facet::Channel, BarKind::Channel),
    ] {
        let counts = state
            .store
            .facet_counts_where(facet, &req.filter, 10)
            .await?;
        boxes.push(bars(&state, kind, &counts, Some(&q)));
    }
    let channels = boxes.pop().unwrap_or_default();
    let countries = boxes.pop().unwrap_or_default();
    let techniques = boxes.pop().unwrap_or_default();
    let display = items
        .iter()
        .flat_map(|s| s.incident.actor_names())
        .find(|a| a.eq_ignore_ascii_case(&name))
        .unwrap_or(name);
    let mut rows: Vec<IncidentRow> = items.iter().map(incident_row).collect();
    super::watchlist::star_rows(&state, &ctx, &mut rows).await?;
    let page = ActorPage {
        l: Layout::new(&state, Some(&ctx), display.clone(), "actors"),
        total,
        techniques,
        countries,
        channels,
        rows,
        pager: pager(
            &format!("/actors/{}", path_segment(&display)),
            &ListQuery::default(),
            req.page,
            req.per_page,
            total,
        ),
        list_href: url_with("/incidents", &filters_only(&q), &[]),
        matrix_href: url_with("/matrix", &filters_only(&q), &[]),
        name: display,
    };
    render(&page)
}
