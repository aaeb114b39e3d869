//! One incident: every field, techniques by tactic, related incidents, its STIX bundle; and
//! the downloads of its bundle and Navigator layer.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use stix_model::CountryCode;

use super::{catalogue, path_segment};
use crate::correlate::{self, Related};
use crate::db::StoredIncident;
use crate::graph::{self, GraphActor, GraphInput, GraphRelated, NodeKind};
use crate::http::download;
use crate::http::extract::PathParams;
use crate::maps;
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
    /// Whether the user watches it (`None` for visitors without an account: no star).
    star: Option<bool>,
    /// The small map of its target and origin countries (none without countries on the map).
    map: Option<String>,
    /// The graph of its objects and relationships.
    graph: String,
}

/// The list filtered by one value of a facet.
fn list_href(key: &str, value: &str) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    ser.append_pair(key, value);
    format!("/incidents?{}", ser.finish())
}

/// The incident's target and origin countries, as codes.
fn countries(s: &StoredIncident) -> (Vec<CountryCode>, Option<CountryCode>) {
    let i = &s.incident.input;
    let targets = i
        .target_countries
        .iter()
        .filter_map(|c| CountryCode::parse(c).ok())
        .collect();
    let origin = i
        .country_of_origin
        .as_deref()
        .and_then(|c| CountryCode::parse(c).ok());
    (targets, origin)
}

/// A country's link from this incident: its list as a target, else as an origin.
fn country_href(targets: &[CountryCode], c: &str) -> String {
    if targets.iter().any(|t| t.as_str() == c) {
        list_href("country", c)
    } else {
        list_href("origin", c)
    }
}

fn small_map(s: &StoredIncident) -> Option<String> {
    let (targets, origin) = countries(s);
    let plan = maps::incident(&targets, origin)?;
    Some(plan.svg(&|c| country_href(&targets, c.as_str())))
}

fn incident_graph(state: &AppState, s: &StoredIncident, related: &[Related]) -> String {
    let i = &s.incident.input;
    let (targets, origin) = countries(s);
    let input = GraphInput {
        id: s.id.to_string(),
        name: i.name.clone(),
        tactics: crate::report::by_tactic(&i.techniques, catalogue(state)),
        actors: i
            .actors
            .iter()
            .map(|a| GraphActor {
                name: a.trim_end_matches('*').trim_end().to_owned(),
                uncertain: a.trim_end().ends_with('*'),
            })
            .collect(),
        targets: targets.clone(),
        origin,
        channels: i.channels.clone(),
        related: related
            .iter()
            .map(|r| GraphRelated {
                id: r.id.clone(),
                name: r.name.clone(),
                reason: r.reason.clone(),
            })
            .collect(),
    };
    graph::svg(&input, &|kind, key| {
        Some(match kind {
            NodeKind::Incident | NodeKind::Related => format!("/incidents/{}", path_segment(key)),
            NodeKind::Technique => list_href("technique", key),
            NodeKind::Actor => format!("/actors/{}", path_segment(key)),
            NodeKind::Country => country_href(&targets, key),
            NodeKind::Channel => list_href("channel", key),
        })
    })
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
    let map = small_map(&s);
    let graph = incident_graph(&state, &s, &related);
    let page = IncidentPage {
        map,
        graph,
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
