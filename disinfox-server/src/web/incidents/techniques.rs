//! Every DISARM technique of the configured version with its tactic and incident count
//! (searchable by id or name), and one technique's page: tactic, parent and sub-techniques,
//! the incidents that use it (paged), and the techniques used most often with it.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use askama::Template;
use axum::extract::{Query, State};
use serde::Deserialize;
use stix_model::disarm::{Catalogue, DisarmVersion, Technique};

use super::catalogue;
use super::filters::{filters_only, url_with};
use super::list::{pager, Pager};
use crate::db::{Count, Facet, IncidentFilter};
use crate::http::extract::PathParams;
use crate::ops;
use crate::ops::ListQuery;
use crate::state::AppState;
use crate::web::session::Ctx;
use crate::web::views::{
    bar_width, incident_row, render, BarRow, IncidentRow, Layout, PageError, PageResult,
};

/// How many co-occurring techniques a technique's page shows.
const CO_OCCURRING: i64 = 15;

/// The short descriptions of the techniques (the first paragraph of DISARM's description, cut
/// at a sentence), derived by `scripts/derive_disarm.py --summaries` from the DISARM
/// Foundation's bundles: CC BY-SA 4.0, see `data/LICENSE-DISARM.md`.
type Summaries = BTreeMap<&'static str, &'static str>;

static SUMMARIES_16: LazyLock<Summaries> =
    LazyLock::new(|| summaries(include_str!("../../../data/disarm-1.6-summaries.tsv")));
static SUMMARIES_17: LazyLock<Summaries> =
    LazyLock::new(|| summaries(include_str!("../../../data/disarm-1.7-summaries.tsv")));

fn summaries(text: &'static str) -> Summaries {
    text.lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, '\t');
            match (p.next(), p.next(), p.next()) {
                (Some("summary"), Some(id), Some(text)) => Some((id, text)),
                _ => None,
            }
        })
        .collect()
}

/// The short descriptions of a DISARM version (none for a version without a derived file).
fn summaries_of(version: DisarmVersion) -> Option<&'static Summaries> {
    match version {
        DisarmVersion::V1_6 => Some(&SUMMARIES_16),
        DisarmVersion::V1_7 => Some(&SUMMARIES_17),
        _ => None,
    }
}

/// The short description of a technique in a DISARM version, if DISARM gives one.
fn summary(version: DisarmVersion, id: &str) -> Option<&'static str> {
    summaries_of(version)?.get(id).copied()
}

#[derive(Debug, Deserialize)]
pub(crate) struct TechniquesQuery {
    q: Option<String>,
    page: Option<i64>,
}

/// A technique as a row of the list or a link of a technique's page.
struct TechniqueRow {
    id: String,
    name: String,
    tactic: String,
    tactic_name: String,
    /// The tactic's short name (the incident list's `tactic` filter).
    tactic_short: String,
    sub: bool,
    count: i64,
    list_href: String,
}

fn row(cat: &Catalogue, t: &Technique, counts: &BTreeMap<String, i64>) -> TechniqueRow {
    let id = t.id.as_str().to_owned();
    TechniqueRow {
        count: counts.get(&id).copied().unwrap_or(0),
        list_href: format!("/incidents?technique={id}"),
        tactic_name: cat
            .tactic(&t.tactic)
            .map_or_else(|| t.tactic.clone(), |x| x.name.clone()),
        tactic: cat
            .tactic(&t.tactic)
            .map_or_else(String::new, |x| x.id.as_str().to_owned()),
        tactic_short: t.tactic.clone(),
        sub: t.parent.is_some(),
        name: t.name.clone(),
        id,
    }
}

/// Whether a technique matches a search: its id or name contains the text (case ignored).
fn matches(t: &Technique, needle: &str) -> bool {
    needle.is_empty()
        || t.id.as_str().to_lowercase().contains(needle)
        || t.name.to_lowercase().contains(needle)
}

#[derive(Template)]
#[template(path = "techniques.html")]
struct TechniquesPage {
    l: Layout,
    q: String,
    total: usize,
    of: usize,
    rows: Vec<TechniqueRow>,
}

pub(crate) async fn techniques(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(tq): Query<TechniquesQuery>,
) -> PageResult {
    let q = tq.q.unwrap_or_default();
    let needle = q.trim().to_lowercase();
    let counts = ops::technique_counts(&state, &IncidentFilter::default()).await?;
    let cat = catalogue(&state);
    let rows: Vec<TechniqueRow> = cat
        .techniques()
        .filter(|t| matches(t, &needle))
        .map(|t| row(cat, t, &counts))
        .collect();
    let page = TechniquesPage {
        l: Layout::new(&state, Some(&ctx), "DISARM techniques", "techniques"),
        total: rows.len(),
        of: cat.len(),
        rows,
        q,
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "technique.html")]
struct TechniquePage {
    l: Layout,
    t: TechniqueRow,
    summary: Option<&'static str>,
    url: Option<String>,
    phase: String,
    parent: Option<TechniqueRow>,
    subs: Vec<TechniqueRow>,
    co: Vec<BarRow>,
    rows: Vec<IncidentRow>,
    total: i64,
    pager: Pager,
    matrix_href: String,
}

pub(crate) async fn technique(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<String>,
    Query(tq): Query<TechniquesQuery>,
) -> PageResult {
    let cat = catalogue(&state);
    let Some(t) = cat.technique(&id) else {
        return Err(PageError::not_found(format!(
            "DISARM {} has no technique {id:?}.",
            cat.version_label()
        ))
        .with(&ctx));
    };
    let id = t.id.as_str().to_owned();
    let q = ListQuery {
        technique: Some(id.clone()),
        page: tq.page,
        ..Default::default()
    };
    let req = q.request().map_err(|e| PageError::from(e).with(&ctx))?;
    let (items, total) = ops::list_incidents(&state, &req).await?;
    let mut rows: Vec<IncidentRow> = items.iter().map(incident_row).collect();
    super::watchlist::star_rows(&state, &ctx, &mut rows).await?;
    let counts = ops::technique_counts(&state, &IncidentFilter::default()).await?;
    // The techniques of the incidents that use this one, counted per technique (each incident
    // uses a technique once), this one left out.
    let co_counts: Vec<Count> = state
        .store
        .facet_counts_where(Facet::Technique, &req.filter, CO_OCCURRING + 1)
        .await?
        .into_iter()
        .filter(|c| c.key != id)
        .take(CO_OCCURRING as usize)
        .collect();
    let max = co_counts.first().map_or(0, |c| c.count);
    let co = co_counts
        .iter()
        .map(|c| BarRow {
            sub: cat
                .technique(&c.key)
                .map(|x| x.name.clone())
                .unwrap_or_default(),
            href: if cat.technique(&c.key).is_some() {
                format!("/techniques/{}", c.key)
            } else {
                url_with(
                    "/incidents",
                    &ListQuery::default(),
                    &[("technique", Some(&c.key))],
                )
            },
            label: c.key.clone(),
            count: c.count,
            width: bar_width(c.count, max),
        })
        .collect();
    let phase = cat
        .tactic(&t.tactic)
        .and_then(|x| x.phase)
        .map(|p| format!("{} {}", p.id(), p.name()))
        .unwrap_or_default();
    let page = TechniquePage {
        l: Layout::new(&state, Some(&ctx), format!("{id} {}", t.name), "techniques"),
        summary: summary(state.settings.disarm_version, &id),
        url: t.url.clone(),
        phase,
        parent: t
            .parent
            .as_ref()
            .and_then(|p| cat.technique(p.as_str()))
            .map(|p| row(cat, p, &counts)),
        subs: cat
            .subtechniques(&t.id)
            .map(|s| row(cat, s, &counts))
            .collect(),
        co,
        rows,
        total,
        pager: pager(
            &format!("/techniques/{id}"),
            &ListQuery::default(),
            req.page,
            req.per_page,
            total,
        ),
        matrix_href: url_with("/matrix", &filters_only(&q), &[]),
        t: row(cat, t, &counts),
    };
    render(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_of_techniques_of_their_version_and_cover_nearly_all() {
        for v in [DisarmVersion::V1_6, DisarmVersion::V1_7] {
            let cat = Catalogue::builtin(v);
            for (id, text) in summaries_of(v).unwrap() {
                assert!(cat.technique(id).is_some(), "{v:?}: {id}");
                assert!(!text.is_empty() && text.chars().count() <= 300, "{id}");
            }
            let covered = cat
                .techniques()
                .filter(|t| summary(v, t.id.as_str()).is_some());
            assert!(covered.count() * 10 >= cat.len() * 9, "{v:?}");
        }
        assert!(summary(DisarmVersion::V1_7, "T0086.001")
            .is_some_and(|s| s.starts_with("Memes are one of the most important")));
    }

    #[test]
    fn a_search_matches_ids_and_names_ignoring_case() {
        let cat = Catalogue::builtin(DisarmVersion::V1_7);
        let ids = |needle: &str| -> Vec<String> {
            cat.techniques()
                .filter(|t| matches(t, needle))
                .map(|t| t.id.as_str().to_owned())
                .collect()
        };
        assert_eq!(ids("").len(), cat.len());
        let by_id = ids("t0086.001");
        assert_eq!(by_id, vec!["T0086.001".to_owned()]);
        let name = cat.technique("T0086.001").unwrap().name.to_lowercase();
        assert!(ids(&name).contains(&"T0086.001".to_owned()));
        assert!(ids("no technique is called this").is_empty());
    }
}
