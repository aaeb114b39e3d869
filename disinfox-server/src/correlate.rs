//! Correlation: incidents related to one incident, ranked by what they share.
//!
//! Score: 3 per shared actor, 2 per shared technique, 1 per shared target country or channel;
//! plus 2 when the two are within 30 days of each other, 1 within 180 days (time counts only
//! on top of something shared). Ties go to the closer in time.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::db::{Store, StoredIncident};

/// A related incident and why.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Related {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The score.
    pub score: i64,
    /// What is shared, per kind (`technique`, `actor`, `target`, `channel`).
    pub shared: BTreeMap<&'static str, Vec<String>>,
    /// Days between the two incidents' dates.
    pub days_apart: i64,
    /// The reason in words.
    pub reason: String,
}

/// Days between two `YYYY-MM-DD` dates ([`crate::model::Incident::date_key`] always writes one;
/// 0 otherwise).
fn days_between(a: &str, b: &str) -> i64 {
    let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
    match (day(a), day(b)) {
        (Some(a), Some(b)) => (a - b).num_days().abs(),
        _ => 0,
    }
}

/// The incidents related to `s`, best first.
pub async fn related(
    store: &Store,
    s: &StoredIncident,
    limit: usize,
) -> anyhow::Result<Vec<Related>> {
    let rows = store.shared_facets(s.id.as_str(), 5_000).await?;
    let mut shared: BTreeMap<String, BTreeMap<&'static str, Vec<String>>> = BTreeMap::new();
    for (other, kind, value) in rows {
        let v = shared.entry(other).or_default().entry(kind).or_default();
        if !v.contains(&value) {
            v.push(value);
        }
    }
    let ids: Vec<String> = shared.keys().cloned().collect();
    let others = store.incidents_by_ids(&ids).await?;
    let me = s.incident.date_key(&s.created);
    let mut out: Vec<Related> = others
        .into_iter()
        .filter_map(|o| {
            let sh = shared.remove(o.id.as_str())?;
            let n = |k: &str| sh.get(k).map_or(0, Vec::len) as i64;
            let days = days_between(&o.incident.date_key(&o.created), &me);
            let time = if days <= 30 {
                2
            } else if days <= 180 {
                1
            } else {
                0
            };
            let score = 3 * n("actor") + 2 * n("technique") + n("target") + n("channel") + time;
            let mut parts = Vec::new();
            for (kind, one, many) in [
                ("actor", "actor", "actors"),
                ("technique", "technique", "techniques"),
                ("target", "target country", "target countries"),
                ("channel", "channel", "channels"),
            ] {
                if let Some(v) = sh.get(kind) {
                    parts.push(format!(
                        "{} {}",
                        if v.len() == 1 { one } else { many },
                        v.join(", ")
                    ));
                }
            }
            let reason = format!("shares {}; {} days apart", parts.join("; "), days);
            Some(Related {
                id: o.id.to_string(),
                name: o.incident.input.name.clone(),
                score,
                shared: sh,
                days_apart: days,
                reason,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(a.days_apart.cmp(&b.days_apart))
            .then(a.id.cmp(&b.id))
    });
    out.truncate(limit);
    Ok(out)
}
