//! One incident: every field, techniques by tactic, related incidents, its STIX bundle; and
//! the downloads of its bundle and Navigator layer.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::catalogue;
use crate::correlate::{self, Related};
use crate::db::StoredIncident;
use crate::http::download;
use crate::http::extract::PathParams;
use crate::ops;
use crate::state::AppState;
use crate::web::session::Ctx;
use crate::web::views::{country, render, short_time, CountryView, Layout, PageError, PageResult};

struct TechniqueView {
    id: String,
    name: String,
    url: Option<String>,
}

struct TacticGroup {
    id: String,
    shortname: String,
    name: String,
    phase: String,
    techniques: Vec<TechniqueView>,
}

struct ActorView {
    name: String,
    uncertain: bool,
}

/// Every field of an incident, ready to show.
struct IncidentDetail {
    id: String,
    name: String,
    description: String,
    paragraphs: Vec<String>,
    revoked: bool,
    first_seen: Option<String>,
    last_seen: Option<String>,
    technique_count: usize,
    tactics: Vec<TacticGroup>,
    unknown_techniques: Vec<String>,
    actors: Vec<ActorView>,
    targets: Vec<CountryView>,
    origin: Option<CountryView>,
    region: Option<String>,
    sub_region: Option<String>,
    channels: Vec<String>,
    attribution_sources: Vec<String>,
    attribution_confidence: Option<i64>,
    cyber_attack: &'static str,
    confidence: Option<i64>,
    labels: Vec<String>,
    source_urls: Vec<String>,
    created: String,
    modified: String,
}

fn detail_view(state: &AppState, s: &StoredIncident) -> IncidentDetail {
    let cat = catalogue(state);
    let i = &s.incident.input;
    let tactics = cat
        .tactics()
        .iter()
        .filter_map(|t| {
            let techniques: Vec<TechniqueView> = i
                .techniques
                .iter()
                .filter_map(|id| cat.technique(id))
                .filter(|x| x.tactic == t.shortname)
                .map(|x| TechniqueView {
                    id: x.id.as_str().to_owned(),
                    name: x.name.clone(),
                    url: x.url.clone(),
                })
                .collect();
            (!techniques.is_empty()).then(|| TacticGroup {
                id: t.id.as_str().to_owned(),
                shortname: t.shortname.clone(),
                name: t.name.clone(),
                phase: t
                    .phase
                    .map(|p| format!("{} {}", p.id(), p.name()))
                    .unwrap_or_default(),
                techniques,
            })
        })
        .collect();
    IncidentDetail {
        id: s.id.to_string(),
        name: i.name.clone(),
        description: i.description.clone(),
        paragraphs: i
            .description
            .split("\n\n")
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
        revoked: s.revoked,
        first_seen: i.first_seen.clone(),
        last_seen: i.last_seen.clone(),
        technique_count: i.techniques.len(),
        tactics,
        unknown_techniques: i
            .techniques
            .iter()
            .filter(|t| cat.technique(t).is_none())
            .cloned()
            .collect(),
        actors: i
            .actors
            .iter()
            .map(|a| ActorView {
                name: a.trim_end_matches('*').trim_end().to_owned(),
                uncertain: a.trim_end().ends_with('*'),
            })
            .collect(),
        targets: i.target_countries.iter().map(|c| country(c)).collect(),
        origin: i.country_of_origin.as_deref().map(country),
        region: i.region.clone(),
        sub_region: i.sub_region.clone(),
        channels: i.channels.clone(),
        attribution_sources: i.attribution_sources.clone(),
        attribution_confidence: i.attribution_confidence,
        cyber_attack: match i.cyber_attack {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        },
        confidence: i.confidence,
        labels: i.labels.clone(),
        source_urls: i.source_urls.clone(),
        created: short_time(&s.created),
        modified: short_time(&s.modified),
    }
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    l: Layout,
    i: IncidentDetail,
    related: Vec<Related>,
    bundle_json: String,
    bundle_objects: usize,
    can_write: bool,
    star: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DoneQuery {
    pub(crate) done: Option<String>,
}

pub(crate) async fn detail(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<String>,
    Query(dq): Query<DoneQuery>,
) -> PageResult {
    let s = ops::load_incident(&state, &id)
        .await
        .map_err(|e| PageError::from(e).with(&ctx))?;
    let related = if s.revoked {
        Vec::new()
    } else {
        correlate::related(&state.store, &s, 10).await?
    };
    let bundle = crate::bundle::of_incident(&state.settings, &s, false)?;
    let bytes = bundle.to_vec().map_err(PageError::internal)?;
    let bundle_json = serde_json::from_slice::<serde_json::Value>(&bytes)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .map_err(PageError::internal)?;
    let page = IncidentPage {
        l: Layout::new(
            &state,
            Some(&ctx),
            s.incident.input.name.clone(),
            "incidents",
        )
        .done(dq.done.as_deref()),
        i: detail_view(&state, &s),
        related,
        bundle_json,
        bundle_objects: bundle.objects.len(),
        can_write: ctx.can_write(),
        star: super::watchlist::star_of(&state, &ctx, &id).await?,
    };
    render(&page)
}

pub(crate) async fn bundle_download(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<String>,
) -> Result<Response, PageError> {
    download::incident_bundle(&state, &id, false)
        .await
        .map_err(|e| PageError::from(e).with(&ctx))
}

pub(crate) async fn layer_download(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<String>,
) -> Result<Response, PageError> {
    download::incident_layer(&state, &id)
        .await
        .map_err(|e| PageError::from(e).with(&ctx))
}
