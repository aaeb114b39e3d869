//! What the incident pages share: URLs that keep the list's filters, the filter form (list
//! and matrix), and bars of counts that link to the filtered list.

use stix_model::CountryCode;

use super::{catalogue, path_segment};
use crate::db::{Count, Facet};
use crate::import;
use crate::ops::ListQuery;
use crate::state::AppState;
use crate::web::views::{bar_width, country, BarRow, CountryView, PageError};

// ---- URLs that keep the filters ----------------------------------------------------------

pub(super) const FILTER_KEYS: [&str; 9] = [
    "q",
    "country",
    "origin",
    "actor",
    "tactic",
    "technique",
    "channel",
    "from",
    "to",
];

pub(super) fn query_pairs(q: &ListQuery) -> Vec<(&'static str, String)> {
    let page = q.page.map(|p| p.to_string());
    let per_page = q.per_page.map(|p| p.to_string());
    [
        ("q", q.q.as_ref()),
        ("country", q.country.as_ref()),
        ("origin", q.origin.as_ref()),
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
pub(super) fn url_with(base: &str, q: &ListQuery, set: &[(&str, Option<&str>)]) -> String {
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
pub(super) fn filters_only(q: &ListQuery) -> ListQuery {
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
    pub(super) action: &'static str,
    pub(super) q: String,
    pub(super) country: String,
    pub(super) origin: String,
    pub(super) actor: String,
    pub(super) tactic: String,
    pub(super) technique: String,
    pub(super) channel: String,
    pub(super) from: String,
    pub(super) to: String,
    pub(super) sort: String,
    pub(super) order: String,
    pub(super) open: bool,
    pub(super) with_sort: bool,
    pub(super) tactics: Vec<(String, String)>,
    pub(super) sorts: Vec<(&'static str, &'static str)>,
    pub(super) countries: Vec<CountryView>,
    pub(super) actors: Vec<String>,
    pub(super) techniques: Vec<(String, String)>,
    pub(super) channels: Vec<String>,
    /// Parameters the page keeps across a search besides the filters (the map's view).
    pub(super) hidden: Vec<(&'static str, String)>,
    /// Active filters: `(label, URL without it)`.
    pub(super) chips: Vec<(String, String)>,
    pub(super) error: Option<String>,
}

/// Known values for the suggestion lists of forms: actors and channels.
pub(super) async fn known_values(
    state: &AppState,
) -> Result<(Vec<String>, Vec<String>), PageError> {
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

pub(super) fn all_countries() -> Vec<CountryView> {
    CountryCode::all().map(|c| country(c.as_str())).collect()
}

pub(super) async fn filter_form(
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
            "origin" => &q.origin,
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
            "country" | "origin" => CountryCode::lookup(value)
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
        origin: v(&q.origin),
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
        hidden: Vec::new(),
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
pub(super) enum BarKind {
    Actor,
    Country,
    Technique,
    Tactic,
    Channel,
}

/// Bars of counts; each links to the list (or, with `base`, the given query) filtered by it.
pub(super) fn bars(
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
}
