//! Counts of incidents per facet value (technique, tactic, actor, country, channel), per month,
//! and the facets two incidents share (correlation).

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};

use super::{IncidentFilter, Sqlite};

/// A count per key.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Count {
    /// The key (technique id, actor, country code, channel).
    pub key: String,
    /// How many incidents.
    pub count: i64,
}

impl Sqlite {
    /// Incidents counted per facet value (live incidents only), most frequent first.
    pub(crate) async fn facet_counts(
        &self,
        facet: Facet,
        limit: i64,
    ) -> anyhow::Result<Vec<Count>> {
        self.facet_counts_where(facet, &IncidentFilter::default(), limit)
            .await
    }

    /// Incidents matching the filter counted per facet value, most frequent first (the
    /// facet side bar of the incident list and the shading of the DISARM matrix).
    pub(crate) async fn facet_counts_where(
        &self,
        facet: Facet,
        f: &IncidentFilter,
        limit: i64,
    ) -> anyhow::Result<Vec<Count>> {
        let (table, column, extra) = facet.sql();
        let mut where_sql = String::new();
        let mut args = Vec::new();
        Self::filter_sql(f, &mut where_sql, &mut args);
        let sql = format!(
            "SELECT f.{column} AS k, COUNT(*) AS n FROM {table} f JOIN incidents i ON i.id = f.incident_id{where_sql}
             {extra} GROUP BY f.{column} ORDER BY n DESC, k LIMIT ?"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in &args {
            q = q.bind(a);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        counts_of(&rows)
    }

    /// For each DISARM technique id, how many live incidents matching the filter use it (the
    /// heatmap score of a Navigator layer), and how many incidents match the filter.
    pub(crate) async fn technique_counts(
        &self,
        f: &IncidentFilter,
    ) -> anyhow::Result<(BTreeMap<String, i64>, i64)> {
        let mut where_sql = String::new();
        let mut args = Vec::new();
        Self::filter_sql(f, &mut where_sql, &mut args);
        let sql = format!(
            "SELECT t.technique AS k, COUNT(*) AS n FROM incident_techniques t JOIN incidents i ON i.id = t.incident_id{where_sql} GROUP BY t.technique"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in &args {
            q = q.bind(a);
        }
        let counts = counts_of(&q.fetch_all(&self.pool).await?)?
            .into_iter()
            .map(|c| (c.key, c.count))
            .collect();
        let mut cq = sqlx::query_scalar::<_, i64>(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM incidents i{where_sql}"
        )));
        for a in &args {
            cq = cq.bind(a);
        }
        Ok((counts, cq.fetch_one(&self.pool).await?))
    }

    /// Live incidents per month (`YYYY-MM`) of their date.
    pub(crate) async fn timeline(&self) -> anyhow::Result<Vec<Count>> {
        let rows = sqlx::query("SELECT substr(first_seen, 1, 7) AS k, COUNT(*) AS n FROM incidents WHERE revoked = 0 GROUP BY k ORDER BY k")
            .fetch_all(&self.pool)
            .await?;
        counts_of(&rows)
    }

    /// Live and revoked incident counts.
    pub(crate) async fn incident_counts(&self) -> anyhow::Result<(i64, i64)> {
        let r = sqlx::query(
            "SELECT COALESCE(SUM(revoked = 0), 0), COALESCE(SUM(revoked = 1), 0) FROM incidents",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((r.get(0), r.get(1)))
    }

    /// Live incidents sharing at least one technique, actor, target country or channel with
    /// `id`, with what they share: `(incident, kind, value)` rows.
    pub(crate) async fn shared_facets(
        &self,
        id: &str,
        limit: i64,
    ) -> anyhow::Result<Vec<(String, &'static str, String)>> {
        let mut out = Vec::new();
        for (kind, table, column, extra) in Facet::SHARED {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT b.incident_id AS other, b.{column} AS v FROM {table} a
                 JOIN {table} b ON b.{column} = a.{column} AND b.incident_id != a.incident_id
                 JOIN incidents i ON i.id = b.incident_id AND i.revoked = 0
                 WHERE a.incident_id = ? {extra} LIMIT ?"
            )))
            .bind(id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            out.extend(
                rows.iter()
                    .map(|r| (r.get::<String, _>("other"), kind, r.get::<String, _>("v"))),
            );
        }
        Ok(out)
    }
}

/// `k`/`n` rows as counts (`r.get` would panic on a bad column: use `try_get`).
fn counts_of(rows: &[sqlx::sqlite::SqliteRow]) -> anyhow::Result<Vec<Count>> {
    rows.iter()
        .map(|r| {
            Ok(Count {
                key: r.try_get::<Option<String>, _>("k")?.unwrap_or_default(),
                count: r.try_get("n")?,
            })
        })
        .collect()
}

/// A facet of incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facet {
    /// DISARM techniques.
    Technique,
    /// DISARM tactics.
    Tactic,
    /// Actors.
    Actor,
    /// Target countries.
    Country,
    /// Countries of origin.
    Origin,
    /// Channels.
    Channel,
}

impl Facet {
    /// What two incidents can share, for [`super::Store::shared_facets`]: `(kind, table, column,
    /// extra condition)`.
    pub(super) const SHARED: [(&'static str, &'static str, &'static str, &'static str); 4] = [
        ("technique", "incident_techniques", "technique", ""),
        ("actor", "incident_actors", "actor", ""),
        (
            "target",
            "incident_countries",
            "country",
            "AND a.role = 'target' AND b.role = 'target'",
        ),
        ("channel", "incident_channels", "channel", ""),
    ];

    /// The table, column and extra condition of a facet's counts.
    pub(super) fn sql(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Technique => ("incident_techniques", "technique", ""),
            Self::Tactic => ("incident_techniques", "tactic", "AND f.tactic != ''"),
            Self::Actor => ("incident_actors", "actor", ""),
            Self::Country => ("incident_countries", "country", "AND f.role = 'target'"),
            Self::Origin => ("incident_countries", "country", "AND f.role = 'origin'"),
            Self::Channel => ("incident_channels", "channel", ""),
        }
    }
}

super::forward! {
    /// Incidents counted per facet value (live incidents only), most frequent first.
    fn facet_counts(&self, facet: Facet, limit: i64) -> anyhow::Result<Vec<Count>>;
    /// Incidents matching the filter counted per facet value, most frequent first (the
    /// facet side bar of the incident list and the shading of the DISARM matrix).
    fn facet_counts_where(&self, facet: Facet, f: &IncidentFilter, limit: i64) -> anyhow::Result<Vec<Count>>;
    /// For each DISARM technique id, how many live incidents matching the filter use it (the
    /// heatmap score of a Navigator layer), and how many incidents match the filter.
    fn technique_counts(&self, f: &IncidentFilter) -> anyhow::Result<(BTreeMap<String, i64>, i64)>;
    /// Live incidents per month (`YYYY-MM`) of their date.
    fn timeline(&self) -> anyhow::Result<Vec<Count>>;
    /// Live and revoked incident counts.
    fn incident_counts(&self) -> anyhow::Result<(i64, i64)>;
    /// Live incidents sharing at least one technique, actor, target country or channel with
    /// `id`, with what they share: `(incident, kind, value)` rows.
    fn shared_facets(&self, id: &str, limit: i64) -> anyhow::Result<Vec<(String, &'static str, String)>>;
}
