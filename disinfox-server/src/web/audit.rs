//! The audit log page of the administrators: filters (kind, actor, date range) and pages.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::Deserialize;

use super::session::Ctx;
use super::views::{render, render_status, short_time_text, Layout, PageResult};
use crate::audit::AuditKind;
use crate::db::audit::{AuditEntry, AuditFilter};
use crate::state::AppState;

/// Entries per page.
const PER_PAGE: i64 = 50;
/// The last page that can be asked for (an offset bound).
const MAX_PAGE: i64 = 10_000;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditQuery {
    kind: Option<String>,
    actor: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<String>,
}

struct Row {
    at: String,
    kind: String,
    actor: String,
    address: String,
    object: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    l: Layout,
    kinds: Vec<&'static str>,
    kind: String,
    actor: String,
    from: String,
    to: String,
    rows: Vec<Row>,
    total: i64,
    page: i64,
    newer: Option<String>,
    older: Option<String>,
    error: Option<String>,
}

fn day(key: &str, v: Option<&str>) -> Result<Option<String>, String> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            let ok = s.len() == 10 && NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok();
            if ok {
                Ok(Some(s.to_owned()))
            } else {
                Err(format!("{key}: {s:?} is not a date; expected YYYY-MM-DD"))
            }
        }
    }
}

fn link(filter: &AuditFilter, page: i64) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("kind", &filter.kind),
        ("actor", &filter.actor),
        ("from", &filter.from),
        ("to", &filter.to),
    ] {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    if page > 1 {
        q.append_pair("page", &page.to_string());
    }
    let q = q.finish();
    if q.is_empty() {
        "/admin/audit".to_owned()
    } else {
        format!("/admin/audit?{q}")
    }
}

fn check(q: &AuditQuery) -> Result<(AuditFilter, i64), String> {
    let kind = match q.kind.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(k) => Some(
            AuditKind::parse(k)
                .ok_or_else(|| format!("kind: {k:?} is not a kind of event"))?
                .as_str()
                .to_owned(),
        ),
    };
    let actor = q
        .actor
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(254).collect());
    let from = day("from", q.from.as_deref())?;
    let to = day("to", q.to.as_deref())?;
    let page = match q.page.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => 1,
        Some(p) => p
            .parse::<i64>()
            .ok()
            .filter(|p| (1..=MAX_PAGE).contains(p))
            .ok_or_else(|| format!("page: {p:?} is not a page number from 1 to {MAX_PAGE}"))?,
    };
    Ok((
        AuditFilter {
            kind,
            actor,
            from,
            to,
        },
        page,
    ))
}

fn row(e: AuditEntry) -> Row {
    Row {
        at: short_time_text(&e.at),
        kind: e.kind,
        actor: e.actor,
        address: e.address,
        object: e.object,
        detail: e.detail,
    }
}

pub(crate) async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<AuditQuery>,
) -> PageResult {
    let mut page = AuditPage {
        l: Layout::new(&state, Some(&ctx), "Audit log", "audit"),
        kinds: AuditKind::ALL.iter().map(|k| k.as_str()).collect(),
        kind: q.kind.clone().unwrap_or_default(),
        actor: q.actor.clone().unwrap_or_default(),
        from: q.from.clone().unwrap_or_default(),
        to: q.to.clone().unwrap_or_default(),
        rows: Vec::new(),
        total: 0,
        page: 1,
        newer: None,
        older: None,
        error: None,
    };
    let (filter, n) = match check(&q) {
        Ok(x) => x,
        Err(e) => {
            page.error = Some(e);
            return render_status(StatusCode::BAD_REQUEST, &page);
        }
    };
    let (entries, total) = state
        .store
        .audit_entries(&filter, (n - 1) * PER_PAGE, PER_PAGE)
        .await?;
    page.rows = entries.into_iter().map(row).collect();
    page.total = total;
    page.page = n;
    page.newer = (n > 1).then(|| link(&filter, n - 1));
    page.older = (n * PER_PAGE < total && n < MAX_PAGE).then(|| link(&filter, n + 1));
    render(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_checked_and_links_keep_them() {
        let q = AuditQuery {
            kind: Some("key-created".into()),
            actor: Some(" a@b.org ".into()),
            from: Some("2024-01-31".into()),
            to: Some(String::new()),
            page: Some("2".into()),
        };
        let (f, p) = check(&q).unwrap();
        assert_eq!(p, 2);
        assert_eq!(f.actor.as_deref(), Some("a@b.org"));
        assert_eq!(
            link(&f, 3),
            "/admin/audit?kind=key-created&actor=a%40b.org&from=2024-01-31&page=3"
        );
        assert_eq!(link(&AuditFilter::default(), 1), "/admin/audit");
        for (q, want) in [
            (
                AuditQuery {
                    kind: Some("x".into()),
                    ..Default::default()
                },
                "kind:",
            ),
            (
                AuditQuery {
                    from: Some("2024-13-01".into()),
                    ..Default::default()
                },
                "from:",
            ),
            (
                AuditQuery {
                    to: Some("yesterday".into()),
                    ..Default::default()
                },
                "to:",
            ),
            (
                AuditQuery {
                    page: Some("0".into()),
                    ..Default::default()
                },
                "page:",
            ),
            (
                AuditQuery {
                    page: Some("99999999999".into()),
                    ..Default::default()
                },
                "page:",
            ),
        ] {
            assert!(check(&q).unwrap_err().starts_with(want), "{want}");
        }
    }
}
