//! Pages about incidents: dashboard, list, detail, new/edit, import, DISARM matrix, actors.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use stix_model::disarm::Catalogue;
use stix_model::CountryCode;

use super::chart::{self, Chart};
use super::form::{self, IncidentForm, PickerTactic};
use super::session::{Ctx, FormData};
use super::views::{
    bar_width, country, incident_row, render, render_status, see_other, short_time, BarRow,
    CountryView, FieldErrors, IncidentRow, Layout, PageError, PageResult,
};
use crate::correlate::{self, Related};
use crate::db::{Count, Facet, StoredIncident};
use crate::error::ApiError;
use crate::http::download;
use crate::http::extract::PathParams;
use crate::import;
use crate::jobs;
use crate::ops;
use crate::ops::ListQuery;
use crate::state::AppState;

fn catalogue(state: &AppState) -> &'static Catalogue {
    Catalogue::builtin(state.settings.disarm_version)
}

/// A path segment, percent-encoded (spaces as `%20`, not `+`).
pub(crate) fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---- URLs that keep the filters ----------------------------------------------------------

const FILTER_KEYS: [&str; 8] = [
    "q",
    "country",
    "actor",
    "tactic",
    "technique",
    "channel",
    "from",
    "to",
];

fn query_pairs(q: &ListQuery) -> Vec<(&'static str, String)> {
    let page = q.page.map(|p| p.to_string());
    let per_page = q.per_page.map(|p| p.to_string());
    [
        ("q", q.q.as_ref()),
        ("country", q.country.as_ref()),
        ("actor", q.actor.as_ref()),
        ("tactic", q.tactic.as_ref()),
        ("technique", q.technique.as_ref()),
        ("channel", q.channel.as_ref()),
        ("from", q.from.as_ref()),
        ("to", q.to.as_ref()),
        ("sort", q.sort.as_ref()),
        ("order", q.order.as_ref()),
        ("page", page.as_ref()),
        ("per_page", per_page.as_ref()),
    ]
    .into_iter()
    .filter_map(|(k, v)| {
        v.map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(|v| (k, v.to_owned()))
    })
    .collect()
}

/// `base?…` with the query's parameters, `set` replacing (or, with `None`, removing) some;
/// any change but of the page goes back to page 1.
fn url_with(base: &str, q: &ListQuery, set: &[(&str, Option<&str>)]) -> String {
    let mut pairs = query_pairs(q);
    let resets_page = set.iter().any(|(k, _)| *k != "page");
    pairs.retain(|(k, _)| !(set.iter().any(|(s, _)| s == k) || (resets_page && *k == "page")));
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        ser.append_pair(k, v);
    }
    for (k, v) in set {
        if let Some(v) = v {
            ser.append_pair(k, v);
        }
    }
    let qs = ser.finish();
    if qs.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{qs}")
    }
}

/// The filters of a query only (for links from the matrix to the list and back).
fn filters_only(q: &ListQuery) -> ListQuery {
    ListQuery {
        sort: None,
        order: None,
        page: None,
        per_page: None,
        ..q.clone()
    }
}

// ---- the filter form ---------------------------------------------------------------------

/// The search and filter form shared by the incident list and the matrix.
pub(crate) struct FilterForm {
    action: &'static str,
    q: String,
    country: String,
    actor: String,
    tactic: String,
    technique: String,
    channel: String,
    from: String,
    to: String,
    sort: String,
    order: String,
    open: bool,
    with_sort: bool,
    tactics: Vec<(String, String)>,
    sorts: Vec<(&'static str, &'static str)>,
    countries: Vec<CountryView>,
    actors: Vec<String>,
    techniques: Vec<(String, String)>,
    channels: Vec<String>,
    /// Active filters: `(label, URL without it)`.
    chips: Vec<(String, String)>,
    error: Option<String>,
}

/// Known values for the suggestion lists of forms: actors and channels.
async fn known_values(state: &AppState) -> Result<(Vec<String>, Vec<String>), PageError> {
    let actors = state
        .store
        .facet_counts(Facet::Actor, 5_000)
        .await?
        .into_iter()
        .map(|c| c.key)
        .collect();
    let mut channels: Vec<String> = state
        .store
        .facet_counts(Facet::Channel, 1_000)
        .await?
        .into_iter()
        .map(|c| c.key)
        .collect();
    for c in import::CHANNELS {
        if !channels.iter().any(|x| x.eq_ignore_ascii_case(c)) {
            channels.push((*c).to_owned());
        }
    }
    Ok((actors, channels))
}

fn all_countries() -> Vec<CountryView> {
    CountryCode::all().map(|c| country(c.as_str())).collect()
}

async fn filter_form(
    state: &AppState,
    action: &'static str,
    q: &ListQuery,
    error: Option<String>,
    with_sort: bool,
) -> Result<FilterForm, PageError> {
    let cat = catalogue(state);
    let (actors, channels) = known_values(state).await?;
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let mut chips = Vec::new();
    for key in FILTER_KEYS {
        let value = match key {
            "q" => &q.q,
            "country" => &q.country,
            "actor" => &q.actor,
            "tactic" => &q.tactic,
            "technique" => &q.technique,
            "channel" => &q.channel,
            "from" => &q.from,
            _ => &q.to,
        };
        let Some(value) = value.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
            continue;
        };
        let shown = match key {
            "country" => CountryCode::lookup(value)
                .map_or(value.to_owned(), |c| format!("{} ({c})", c.name())),
            "tactic" => cat
                .tactic(value)
                .map_or(value.to_owned(), |t| t.name.clone()),
            "technique" => cat.technique(value).map_or(value.to_owned(), |t| {
                format!("{} {}", t.id.as_str(), t.name)
            }),
            _ => value.to_owned(),
        };
        let label = match key {
            "q" => format!("Text: {shown}"),
            "from" => format!("From {shown}"),
            "to" => format!("To {shown}"),
            k => format!("{}{}: {shown}", k[..1].to_uppercase(), &k[1..]),
        };
        chips.push((label, url_with(action, q, &[(key, None)])));
    }
    let open = chips.iter().any(|c| !c.0.starts_with("Text:")) || error.is_some();
    Ok(FilterForm {
        action,
        q: v(&q.q),
        country: v(&q.country),
        actor: v(&q.actor),
        tactic: v(&q.tactic),
        technique: v(&q.technique),
        channel: v(&q.channel),
        from: v(&q.from),
        to: v(&q.to),
        sort: q.sort.clone().unwrap_or_else(|| "modified".into()),
        order: q.order.clone().unwrap_or_else(|| "desc".into()),
        open,
        with_sort,
        tactics: cat
            .tactics()
            .iter()
            .map(|t| (t.shortname.clone(), format!("{} {}", t.id.as_str(), t.name)))
            .collect(),
        sorts: vec![
            ("modified", "last change"),
            ("date", "date"),
            ("created", "creation"),
            ("name", "name"),
        ],
        countries: all_countries(),
        actors,
        techniques: cat
            .techniques()
            .map(|t| (t.id.as_str().to_owned(), t.name.clone()))
            .collect(),
        channels,
        chips,
        error,
    })
}

// ---- bars --------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum BarKind {
    Actor,
    Country,
    Technique,
    Tactic,
    Channel,
}

/// Bars of counts; each links to the list (or, with `base`, the given query) filtered by it.
fn bars(
    state: &AppState,
    kind: BarKind,
    counts: &[Count],
    base: Option<&ListQuery>,
) -> Vec<BarRow> {
    let cat = catalogue(state);
    let max = counts.iter().map(|c| c.count).max().unwrap_or(0);
    counts
        .iter()
        .map(|c| {
            let (key, label, sub) = match kind {
                BarKind::Actor => ("actor", c.key.clone(), String::new()),
                BarKind::Country => ("country", country(&c.key).name, c.key.clone()),
                BarKind::Technique => (
                    "technique",
                    c.key.clone(),
                    cat.technique(&c.key)
                        .map(|t| t.name.clone())
                        .unwrap_or_default(),
                ),
                BarKind::Tactic => (
                    "tactic",
                    cat.tactic(&c.key).map_or(c.key.clone(), |t| t.name.clone()),
                    cat.tactic(&c.key)
                        .map(|t| t.id.as_str().to_owned())
                        .unwrap_or_default(),
                ),
                BarKind::Channel => ("channel", c.key.clone(), String::new()),
            };
            let href = match (kind, base) {
                (BarKind::Actor, None) => format!("/actors/{}", path_segment(&c.key)),
                (_, Some(q)) => url_with("/incidents", q, &[(key, Some(&c.key))]),
                (_, None) => url_with("/incidents", &ListQuery::default(), &[(key, Some(&c.key))]),
            };
            BarRow {
                label: if label.is_empty() {
                    c.key.clone()
                } else {
                    label
                },
                sub,
                count: c.count,
                width: bar_width(c.count, max),
                href,
            }
        })
        .collect()
}

// ---- dashboard ---------------------------------------------------------------------------

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
        latest: latest.iter().map(incident_row).collect(),
        top_actors: bars(&state, BarKind::Actor, &stats.top_actors, None),
        top_countries: bars(&state, BarKind::Country, &stats.top_countries, None),
        top_techniques: bars(&state, BarKind::Technique, &stats.top_techniques, None),
        top_channels: bars(&state, BarKind::Channel, &stats.top_channels, None),
    };
    render(&page)
}

// ---- list --------------------------------------------------------------------------------

/// Links to pages of a list.
pub(crate) struct Pager {
    pages: Vec<PageLink>,
    prev: Option<String>,
    next: Option<String>,
}

struct PageLink {
    n: i64,
    href: String,
    current: bool,
    gap: bool,
}

fn pager(base: &str, q: &ListQuery, page: i64, per_page: i64, total: i64) -> Pager {
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
struct FacetBox {
    title: &'static str,
    items: Vec<BarRow>,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct ListPage {
    l: Layout,
    f: FilterForm,
    rows: Vec<IncidentRow>,
    total: i64,
    pager: Pager,
    facets: Vec<FacetBox>,
    matrix_href: String,
    can_write: bool,
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
            (items.iter().map(incident_row).collect(), total, facets)
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
        can_write: ctx.can_write(),
    };
    render_status(status, &page)
}

// ---- detail ------------------------------------------------------------------------------

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

pub(crate) async fn heatmap_download(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let filter = filters_only(&q)
        .filter()
        .map_err(|e| PageError::from(e).with(&ctx))?;
    download::filtered_layer(&state, &filter)
        .await
        .map_err(|e| PageError::from(e).with(&ctx))
}

// ---- new and edit ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "incident_form.html")]
struct FormPage {
    l: Layout,
    heading: String,
    action: String,
    submit: &'static str,
    cancel: String,
    f: IncidentForm,
    errors: FieldErrors,
    picker: Vec<PickerTactic>,
    picked: usize,
    unknown: Vec<String>,
    attribution: Vec<(&'static str, &'static str, bool)>,
    countries: Vec<CountryView>,
    actors: Vec<String>,
    channels: Vec<String>,
}

enum FormKind<'a> {
    New,
    Edit { id: &'a str, name: &'a str },
}

async fn form_page(
    state: &AppState,
    ctx: &Ctx,
    kind: FormKind<'_>,
    f: IncidentForm,
    errors: FieldErrors,
) -> PageResult {
    let (picker, unknown) = form::picker(catalogue(state), &f.techniques);
    let picked = f.techniques.len();
    let (actors, channels) = known_values(state).await?;
    let attribution = [
        ("government", "a government"),
        ("platform", "a platform"),
        ("company", "a company"),
        ("researchers", "researchers or journalists"),
    ]
    .into_iter()
    .map(|(v, label)| {
        (
            v,
            label,
            f.attribution_sources
                .iter()
                .any(|s| s.eq_ignore_ascii_case(v)),
        )
    })
    .collect();
    let (title, heading, action, submit, cancel, active) = match kind {
        FormKind::New => (
            "New incident".to_owned(),
            "New incident".to_owned(),
            "/incidents/new".to_owned(),
            "Create the incident",
            "/incidents".to_owned(),
            "new",
        ),
        FormKind::Edit { id, name } => (
            format!("Edit {name}"),
            format!("Edit “{name}”"),
            format!("/incidents/{id}/edit"),
            "Save a new version",
            format!("/incidents/{id}"),
            "incidents",
        ),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = FormPage {
        l: Layout::new(state, Some(ctx), title, active),
        heading,
        action,
        submit,
        cancel,
        f: f.for_display(),
        errors,
        picker,
        picked,
        unknown,
        attribution,
        countries: all_countries(),
        actors,
        channels,
    };
    render_status(status, &page)
}

pub(crate) async fn new_form(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    form_page(
        &state,
        &ctx,
        FormKind::New,
        IncidentForm::default(),
        FieldErrors::default(),
    )
    .await
}

/// The form's input, or every error of it (those of the text that is not even a number, and
/// those of the shared validation).
fn form_input(
    state: &AppState,
    f: &IncidentForm,
) -> Result<crate::model::IncidentInput, FieldErrors> {
    let (input, mut errors) = f.to_input();
    if errors.is_empty() {
        return Ok(input);
    }
    if let Err(more) = ops::check_incident(state, input) {
        errors.merge(more);
    }
    Err(errors)
}

pub(crate) async fn create(State(state): State<AppState>, ctx: Ctx, form: FormData) -> PageResult {
    let caller = ctx.caller()?;
    let f = IncidentForm::from_form(&form);
    let input = match form_input(&state, &f) {
        Ok(i) => i,
        Err(errors) => return form_page(&state, &ctx, FormKind::New, f, errors).await,
    };
    match ops::create_incident(&state, &caller, input).await {
        Ok(s) => Ok(see_other(&format!("/incidents/{}?done=created", s.id))),
        Err(ApiError::Invalid { fields, .. }) => {
            form_page(&state, &ctx, FormKind::New, f, fields.into()).await
        }
        Err(e) => Err(PageError::from(e).with(&ctx)),
    }
}

async fn live_incident(state: &AppState, ctx: &Ctx, id: &str) -> Result<StoredIncident, PageError> {
    let s = ops::load_incident(state, id)
        .await
        .map_err(|e| PageError::from(e).with(ctx))?;
    if s.revoked {
        return Err(
            PageError::not_found("This incident was deleted; it cannot be edited.").with(ctx),
        );
    }
    Ok(s)
}

pub(crate) async fn edit_form(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<String>,
) -> PageResult {
    let s = live_incident(&state, &ctx, &id).await?;
    let id = s.id.to_string();
    form_page(
        &state,
        &ctx,
        FormKind::Edit {
            id: &id,
            name: &s.incident.input.name,
        },
        IncidentForm::from_input(&s.incident.input),
        FieldErrors::default(),
    )
    .await
}

pub(crate) async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<String>,
    form: FormData,
) -> PageResult {
    let caller = ctx.caller()?;
    let s = live_incident(&state, &ctx, &id).await?;
    let id = s.id.to_string();
    let kind = FormKind::Edit {
        id: &id,
        name: &s.incident.input.name,
    };
    let f = IncidentForm::from_form(&form);
    let input = match form_input(&state, &f) {
        Ok(i) => i,
        Err(errors) => return form_page(&state, &ctx, kind, f, errors).await,
    };
    match ops::update_incident(&state, &caller, &id, input).await {
        Ok(_) => Ok(see_other(&format!("/incidents/{id}?done=saved"))),
        Err(ApiError::Invalid { fields, .. }) => {
            form_page(&state, &ctx, kind, f, fields.into()).await
        }
        Err(e) => Err(PageError::from(e).with(&ctx)),
    }
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<String>,
    _form: FormData,
) -> PageResult {
    let caller = ctx.caller()?;
    ops::delete_incident(&state, &caller, &id)
        .await
        .map_err(|e| PageError::from(e).with(&ctx))?;
    Ok(see_other("/incidents?done=deleted"))
}

// ---- import ------------------------------------------------------------------------------

struct RejectedView {
    place: String,
    name: Option<String>,
    errors: Vec<String>,
}

struct ReportView {
    file: String,
    created: Vec<(String, String)>,
    created_n: usize,
    updated: Vec<(String, String)>,
    updated_n: usize,
    unchanged: usize,
    rejected: Vec<RejectedView>,
    warnings: Vec<String>,
}

/// A job as its page shows it.
struct JobPanel {
    file: String,
    state: &'static str,
    finished: bool,
    done: i64,
    total: Option<i64>,
    percent: i64,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    l: Layout,
    job: Option<JobPanel>,
    report: Option<ReportView>,
    error: Option<String>,
    limit_kib: usize,
}

/// How many created or updated incidents the report names.
const REPORT_NAMES: usize = 200;

/// Seconds between two loads of the page of a job under way (a `<meta http-equiv=refresh>`:
/// the progress bar moves without script).
const JOB_REFRESH_SECS: u32 = 1;

fn import_page(state: &AppState, ctx: &Ctx) -> ImportPage {
    ImportPage {
        l: Layout::new(state, Some(ctx), "Bulk import", "import"),
        job: None,
        report: None,
        error: None,
        limit_kib: state.settings.body_limit_bytes / 1024,
    }
}

pub(crate) async fn import_form(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    render(&import_page(&state, &ctx))
}

async fn named(state: &AppState, ids: &[String]) -> Result<Vec<(String, String)>, PageError> {
    let first: Vec<String> = ids.iter().take(REPORT_NAMES).cloned().collect();
    let found = state.store.incidents_by_ids(&first).await?;
    Ok(first
        .iter()
        .map(|id| {
            let name = found
                .iter()
                .find(|s| s.id.as_str() == id)
                .map_or_else(|| id.clone(), |s| s.incident.input.name.clone());
            (id.clone(), name)
        })
        .collect())
}

/// Starts an import job for the uploaded file and leads to the job's page (after waiting a
/// moment, so that a small file's page shows its report at once).
pub(crate) async fn import(
    State(state): State<AppState>,
    ctx: Ctx,
    mut multipart: Multipart,
) -> PageResult {
    let caller = ctx.caller()?;
    let mut file: Option<(String, axum::body::Bytes)> = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| {
        PageError::bad_request(format!("The upload could not be read: {e}")).with(&ctx)
    })? {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("upload").to_owned();
            let bytes = field.bytes().await.map_err(|e| {
                PageError::bad_request(format!("The upload could not be read: {e}")).with(&ctx)
            })?;
            file = Some((name, bytes));
        }
    }
    let mut page = import_page(&state, &ctx);
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        page.error = Some("Choose a file to import: the upload was empty.".into());
        return render_status(StatusCode::BAD_REQUEST, &page);
    };
    caller.require_write()?;
    let format = import::Format::of_file(&name, &bytes);
    match jobs::submit(&state, &caller, &name, format, bytes).await {
        Ok(job) => {
            for _ in 0..20 {
                match state.store.job(&job.id).await? {
                    Some(j) if !j.state.is_finished() => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await
                    }
                    _ => break,
                }
            }
            Ok(see_other(&jobs::page_url(&job.id)))
        }
        Err(ApiError::Internal(e)) => Err(PageError::from(ApiError::Internal(e)).with(&ctx)),
        Err(e) => {
            page.error = Some(format!("{name} was not imported: {e}"));
            render_status(e.status(), &page)
        }
    }
}

/// The page of an import job: a progress bar while it runs (the page reloads itself), the
/// report once it is over.
pub(crate) async fn import_job(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<String>,
) -> PageResult {
    let caller = ctx.caller()?;
    let job = jobs::find(&state, &caller.user, &id)
        .await
        .map_err(|e| PageError::from(e).with(&ctx))?;
    let mut page = import_page(&state, &ctx);
    let finished = job.state.is_finished();
    if finished {
        let r = jobs::report(&state, &job).await?;
        page.report = Some(ReportView {
            file: job.file_name.clone(),
            created: named(&state, &r.created).await?,
            created_n: r.created.len(),
            updated: named(&state, &r.updated).await?,
            updated_n: r.updated.len(),
            unchanged: r.unchanged,
            rejected: r
                .rejected
                .into_iter()
                .map(|x| RejectedView {
                    place: x.r#ref,
                    name: x.name,
                    errors: x.errors,
                })
                .collect(),
            warnings: r.warnings,
        });
    } else {
        page.l.refresh = Some(JOB_REFRESH_SECS);
    }
    let percent = match job.total {
        Some(t) if t > 0 => (job.done * 100 / t).clamp(0, 100),
        Some(_) => 100,
        None => 0,
    };
    page.job = Some(JobPanel {
        file: job.file_name,
        state: job.state.as_str(),
        finished,
        done: job.done,
        total: job.total,
        percent,
        error: job.error,
    });
    render(&page)
}

// ---- matrix ------------------------------------------------------------------------------

struct MatrixCell {
    id: String,
    name: String,
    count: i64,
    level: u8,
    sub: bool,
    href: Option<String>,
}

struct MatrixColumn {
    id: String,
    name: String,
    phase: String,
    total: i64,
    cells: Vec<MatrixCell>,
}

#[derive(Template)]
#[template(path = "matrix.html")]
struct MatrixPage {
    l: Layout,
    f: FilterForm,
    columns: Vec<MatrixColumn>,
    legend: Vec<(u8, String)>,
    total: i64,
    filtered: bool,
    list_href: String,
    layer_href: String,
}

/// The shades in use and the counts each stands for.
fn legend(max: i64) -> Vec<(u8, String)> {
    let mut out = vec![(0, "0".to_owned())];
    let mut from = 1;
    for lv in 1..=5u8 {
        let to = (1..=max).filter(|n| level(*n, max) == lv).max();
        if let Some(to) = to {
            out.push((
                lv,
                if to == from {
                    to.to_string()
                } else {
                    format!("{from}–{to}")
                },
            ));
            from = to + 1;
        }
    }
    out
}

/// The shade of a count: 0 for none, then 1–5 in proportion to the largest count.
fn level(n: i64, max: i64) -> u8 {
    if n <= 0 || max <= 0 {
        0
    } else {
        ((n * 5 + max - 1) / max).clamp(1, 5) as u8
    }
}

pub(crate) async fn matrix(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let q = filters_only(&q);
    let (filter, error) = match q.filter() {
        Ok(f) => (Some(f), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let (counts, total) = match &filter {
        Some(f) => {
            let counts = ops::technique_counts(&state, f).await?;
            let (_, total) = state
                .store
                .list_incidents(f, Default::default(), true, 0, 1)
                .await?;
            (counts, total)
        }
        None => (BTreeMap::new(), 0),
    };
    let max = counts.values().copied().max().unwrap_or(0);
    let cat = catalogue(&state);
    let columns = cat
        .tactics()
        .iter()
        .map(|t| {
            let cells: Vec<MatrixCell> = cat
                .techniques_of_tactic(&t.shortname)
                .map(|x| {
                    let n = counts.get(x.id.as_str()).copied().unwrap_or(0);
                    MatrixCell {
                        id: x.id.as_str().to_owned(),
                        name: x.name.clone(),
                        count: n,
                        level: level(n, max),
                        sub: x.parent.is_some(),
                        href: (n > 0).then(|| {
                            url_with("/incidents", &q, &[("technique", Some(x.id.as_str()))])
                        }),
                    }
                })
                .collect();
            MatrixColumn {
                id: t.id.as_str().to_owned(),
                name: t.name.clone(),
                phase: t
                    .phase
                    .map(|p| format!("{} {}", p.id(), p.name()))
                    .unwrap_or_default(),
                total: cells.iter().map(|c| c.count).sum(),
                cells,
            }
        })
        .collect();
    let filtered = filter.as_ref().is_some_and(|f| {
        f.q.is_some()
            || f.country.is_some()
            || f.actor.is_some()
            || f.technique.is_some()
            || f.tactic.is_some()
            || f.channel.is_some()
            || f.from.is_some()
            || f.to.is_some()
    });
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut l = Layout::new(&state, Some(&ctx), "DISARM matrix", "matrix");
    l.wide = true;
    let page = MatrixPage {
        l,
        f: filter_form(&state, "/matrix", &q, error, false).await?,
        columns,
        legend: legend(max),
        total,
        filtered,
        list_href: url_with("/incidents", &q, &[]),
        layer_href: url_with("/matrix/navigator", &q, &[]),
    };
    render_status(status, &page)
}

// ---- actors ------------------------------------------------------------------------------

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
    let page = ActorPage {
        l: Layout::new(&state, Some(&ctx), display.clone(), "actors"),
        total,
        techniques,
        countries,
        channels,
        rows: items.iter().map(incident_row).collect(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_filters_and_reset_the_page() {
        let q = ListQuery {
            q: Some("vaccine lies".into()),
            country: Some("UA".into()),
            page: Some(3),
            ..Default::default()
        };
        assert_eq!(
            url_with("/incidents", &q, &[("actor", Some("Doppel & Gänger"))]),
            "/incidents?q=vaccine+lies&country=UA&actor=Doppel+%26+G%C3%A4nger"
        );
        assert_eq!(
            url_with("/incidents", &q, &[("page", Some("4"))]),
            "/incidents?q=vaccine+lies&country=UA&page=4"
        );
        assert_eq!(
            url_with("/incidents", &q, &[("country", None)]),
            "/incidents?q=vaccine+lies"
        );
        assert_eq!(url_with("/matrix", &ListQuery::default(), &[]), "/matrix");
        assert_eq!(path_segment("A b/c+é"), "A%20b%2Fc%2B%C3%A9");
    }

    #[test]
    fn pages_and_shades() {
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
        assert_eq!(level(0, 10), 0);
        assert_eq!(level(1, 10), 1);
        assert_eq!(level(10, 10), 5);
        assert_eq!(
            legend(6),
            vec![
                (0, "0".to_owned()),
                (1, "1".to_owned()),
                (2, "2".to_owned()),
                (3, "3".to_owned()),
                (4, "4".to_owned()),
                (5, "5–6".to_owned())
            ]
        );
        assert_eq!(legend(0), vec![(0, "0".to_owned())]);
    }
}
