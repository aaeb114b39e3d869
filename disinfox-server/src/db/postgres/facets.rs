//! PostgreSQL: counts per facet, per month, and shared facets (see [`crate::db::facets`]).

use std::collections::BTreeMap;

use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};

use super::Postgres;
use crate::db::facets::{Count, Facet};
use crate::db::IncidentFilter;

/// `k`/`n` rows as counts.
fn counts_of(rows: &[PgRow]) -> anyhow::Result<Vec<Count>> {
    rows.iter()
        .map(|r| {
            Ok(Count {
                key: r.try_get::<Option<String>, _>("k")?.unwrap_or_default(),
                count: r.try_get("n")?,
            })
        })
        .collect()
}

impl Postgres {
    pub(crate) async fn facet_counts(
        &self,
        facet: Facet,
        limit: i64,
    ) -> anyhow::Result<Vec<Count>> {
        self.facet_counts_where(facet, &IncidentFilter::default(), limit)
            .await
    }

    pub(crate) async fn facet_counts_where(
        &self,
        facet: Facet,
        f: &IncidentFilter,
        limit: i64,
    ) -> anyhow::Result<Vec<Count>> {
        let (table, column, extra) = facet.sql();
        let mut where_sql = String::new();
        let mut args = Vec::new();
        Self::filter_sql(f, 0, &mut where_sql, &mut args);
        // Ties in byte order, as SQLite's.
        let sql = format!(
            "SELECT f.{column} AS k, COUNT(*) AS n FROM {table} f JOIN incidents i ON i.id = f.incident_id{where_sql}
             {extra} GROUP BY f.{column} ORDER BY n DESC, f.{column} COLLATE \"C\" LIMIT ${}",
            args.len() + 1
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in &args {
            q = q.bind(a);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        counts_of(&rows)
    }

    pub(crate) async fn technique_counts(
        &self,
        f: &IncidentFilter,
    ) -> anyhow::Result<(BTreeMap<String, i64>, i64)> {
        let mut where_sql = String::new();
        let mut args = Vec::new();
        Self::filter_sql(f, 0, &mut where_sql, &mut args);
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

    pub(crate) async fn timeline(&self) -> anyhow::Result<Vec<Count>> {
        let rows = sqlx::query(
            "SELECT substr(first_seen, 1, 7) AS k, COUNT(*) AS n FROM incidents WHERE NOT revoked
             GROUP BY k ORDER BY k NULLS FIRST",
        )
        .fetch_all(&self.pool)
        .await?;
        counts_of(&rows)
    }

    pub(crate) async fn incident_counts(&self) -> anyhow::Result<(i64, i64)> {
        let r = sqlx::query(
            "SELECT COUNT(*) FILTER (WHERE NOT revoked), COUNT(*) FILTER (WHERE revoked) FROM incidents",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((r.try_get(0)?, r.try_get(1)?))
    }

    pub(crate) async fn shared_facets(
        &self,
        id: &str,
        limit: i64,
    ) -> anyhow::Result<Vec<(String, &'static str, String)>> {
        let mut out = Vec::new();
        for (kind, table, column, extra) in Facet::SHARED {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT b.incident_id AS other, b.{column} AS v FROM {table} a
                 JOIN {table} b ON b.{column} = a.{column} AND b.incident_id <> a.incident_id
                 JOIN incidents i ON i.id = b.incident_id AND NOT i.revoked
                 WHERE a.incident_id = $1 {extra} LIMIT $2"
            )))
            .bind(id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            for r in rows {
                out.push((r.try_get("other")?, kind, r.try_get("v")?));
            }
        }
        Ok(out)
    }
}
