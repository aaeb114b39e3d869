//! The dashboard: counts, the world map of target countries, latest incidents, top actors, countries, techniques, channels and
//! incidents over time.

use askama::Template;
use axum::extract::State;

use super::filters::{bars, BarKind};
use super::map::{choropleth, MapBlock, MapView};
use crate::db::Facet;
use crate::ops;
use crate::state::AppState;
use crate::web::chart::{self, Chart};
use crate::web::session::Ctx;
use crate::web::views::{incident_row, render, BarRow, IncidentRow, Layout, PageResult};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    l: Layout,
    incidents: i64,
    deleted: i64,
    actors: usize,
    countries: usize,
    techniques: usize,
    chart: Chart,
    map: MapBlock,
    latest: Vec<IncidentRow>,
    top_actors: Vec<BarRow>,
    top_countries: Vec<BarRow>,
    top_techniques: Vec<BarRow>,
    top_channels: Vec<BarRow>,
}

pub(crate) async fn dashboard(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    let stats = ops::stats(&state).await?;
    let latest = ops::list_incidents(
        &state,
        &ops::ListRequest {
            descending: true,
            page: 1,
            per_page: 8,
            ..Default::default()
        },
    )
    .await?
    .0;
    let distinct = |facet| {
        let store = state.store.clone();
        async move { store.facet_counts(facet, 1_000_000).await.map(|v| v.len()) }
    };
    let page = DashboardPage {
        l: Layout::new(&state, Some(&ctx), "Dashboard", "dashboard"),
        incidents: stats.incidents,
        deleted: stats.deleted,
        actors: distinct(Facet::Actor).await?,
        countries: distinct(Facet::Country).await?,
        techniques: distinct(Facet::Technique).await?,
        chart: chart::timeline(&stats.timeline),
        map: choropleth(
            &state,
            &Default::default(),
            &Default::default(),
            MapView::Target,
        )
        .await?,
        latest: latest.iter().map(incident_row).collect(),
        top_actors: bars(&state, BarKind::Actor, &stats.top_actors, None),
        top_countries: bars(&state, BarKind::Country, &stats.top_countries, None),
        top_techniques: bars(&state, BarKind::Technique, &stats.top_techniques, None),
        top_channels: bars(&state, BarKind::Channel, &stats.top_channels, None),
    };
    render(&page)
}
