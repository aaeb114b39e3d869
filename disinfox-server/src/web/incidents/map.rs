//! The world map of incidents (`/map`): a choropleth of target countries, or of countries of
//! origin with `?view=origin`, following the incident list's filters; every country links to
//! the incident list filtered by it. The dashboard shows the same map, unfiltered.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use stix_model::CountryCode;

use super::filters::{filter_form, filters_only, url_with, FilterForm};
use crate::db::{Facet, IncidentFilter};
use crate::maps;
use crate::ops::ListQuery;
use crate::state::AppState;
use crate::web::session::Ctx;
use crate::web::views::{render_status, Layout, PageError, PageResult};

/// Which countries the map counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MapView {
    /// Target countries (the default).
    #[default]
    Target,
    /// Countries of origin.
    Origin,
}

impl MapView {
    fn facet(self) -> Facet {
        match self {
            Self::Target => Facet::Country,
            Self::Origin => Facet::Origin,
        }
    }

    /// The list parameter a country of this map filters on.
    fn key(self) -> &'static str {
        match self {
            Self::Target => "country",
            Self::Origin => "origin",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Target => "Target countries",
            Self::Origin => "Countries of origin",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct MapQuery {
    #[serde(default)]
    view: MapView,
}

/// A choropleth ready for a page: the SVG (country links keep `q`'s filters) and the
/// countries the map has no shape for.
pub(super) struct MapBlock {
    pub(super) svg: String,
    pub(super) unmapped: Vec<(String, String)>,
    pub(super) counted: usize,
}

/// The choropleth of the incidents matching `filter`, by `view`.
pub(super) async fn choropleth(
    state: &AppState,
    filter: &IncidentFilter,
    q: &ListQuery,
    view: MapView,
) -> Result<MapBlock, PageError> {
    // Every country there is fits well under this limit (about 250 codes).
    let counts = state
        .store
        .facet_counts_where(view.facet(), filter, 1_000)
        .await?;
    let counts: BTreeMap<CountryCode, u64> = counts
        .iter()
        .filter_map(|c| {
            let code = CountryCode::parse(&c.key).ok()?;
            Some((code, u64::try_from(c.count).unwrap_or(0)))
        })
        .collect();
    let plan = maps::choropleth(&counts, view.title());
    let base = filters_only(q);
    let svg = plan.svg(&|c| url_with("/incidents", &base, &[(view.key(), Some(c.as_str()))]));
    let unmapped = plan
        .unmapped
        .iter()
        .map(|(c, label)| {
            (
                url_with("/incidents", &base, &[(view.key(), Some(c.as_str()))]),
                label.clone(),
            )
        })
        .collect();
    Ok(MapBlock {
        svg,
        unmapped,
        counted: counts.values().filter(|n| **n > 0).count(),
    })
}

#[derive(Template)]
#[template(path = "map.html")]
struct MapPage {
    l: Layout,
    f: FilterForm,
    map: Option<MapBlock>,
    origin: bool,
    target_href: String,
    origin_href: String,
    list_href: String,
    /// The filters' query (`?…` or empty), for the set report's links.
    report_query: String,
}

pub(crate) async fn map(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
    Query(mq): Query<MapQuery>,
) -> PageResult {
    let q = filters_only(&q);
    let (map, error) = match q.filter() {
        Ok(filter) => (Some(choropleth(&state, &filter, &q, mq.view).await?), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let mut f = filter_form(&state, "/map", &q, error.clone(), false).await?;
    if mq.view == MapView::Origin {
        f.hidden.push(("view", "origin".to_owned()));
        // The filter chips keep the view too.
        for chip in &mut f.chips {
            chip.1 = with_view(&chip.1);
        }
    }
    let page = MapPage {
        l: Layout::new(&state, Some(&ctx), "Map", "map"),
        f,
        map,
        origin: mq.view == MapView::Origin,
        target_href: url_with("/map", &q, &[]),
        origin_href: with_view(&url_with("/map", &q, &[])),
        list_href: url_with("/incidents", &q, &[]),
        report_query: url_with("", &q, &[]),
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render_status(status, &page)
}

fn with_view(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}view=origin")
}
