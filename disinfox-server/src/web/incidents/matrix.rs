//! The DISARM matrix shaded by incident counts (all or filtered), and its Navigator heatmap
//! download.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::catalogue;
use super::filters::{filter_form, filters_only, url_with, FilterForm};
use crate::http::download;
use crate::ops;
use crate::ops::ListQuery;
use crate::state::AppState;
use crate::web::session::Ctx;
use crate::web::views::{render_status, Layout, PageError, PageResult};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shades_and_their_legend() {
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
