//! PostgreSQL: each incident's stored STIX objects (see [`crate::db::stix`]).

use std::sync::Arc;

use anyhow::Context;

use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Postgres, Tx};
use crate::db::batch::Prepared;
use crate::db::stix::{
    rules_of, set_rules, Flavor, Head, RowObjects, StixRow, StixRules, StixWrites, StoredObjects,
    StoredRow,
};
use crate::db::{IncidentFilter, StoredIncident};

/// The stored objects of a row with `refs` and `own` columns (both null: none).
pub(super) fn stored_from_row(r: &PgRow) -> anyhow::Result<Option<StoredObjects>> {
    let refs: Option<String> = r.try_get("refs")?;
    let own: Option<String> = r.try_get("own")?;
    Ok(refs.zip(own).map(|(refs, own)| StoredObjects {
        refs,
        own: own.into(),
    }))
}

impl Postgres {
    pub(super) fn stix_rules(&self) -> Option<Arc<StixRules>> {
        rules_of(&self.stix)
    }

    pub(crate) async fn use_stix_rules(&self, rules: StixRules) -> anyhow::Result<usize> {
        let rules = Arc::new(rules);
        set_rules(&self.stix, &rules);
        let stored: Option<String> = sqlx::query_scalar("SELECT version FROM stix_rules")
            .fetch_optional(&self.pool)
            .await?;
        let all = stored.as_deref() != Some(rules.version());
        if !all {
            let (incidents, stored): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM incidents),
                   (SELECT COUNT(*) FROM incident_stix WHERE flavor = 'standard')",
            )
            .fetch_one(&self.pool)
            .await?;
            if incidents == stored {
                return Ok(0);
            }
        } else {
            // Shared objects of other rules: each is written again with the first incident
            // that refers to it.
            let mut tx = self.pool.begin().await?;
            Self::lock_change_log(&mut tx).await?;
            sqlx::query("DELETE FROM stix_shared")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        let cols = Self::incident_columns();
        let sql = if all {
            format!(
                "SELECT {cols} FROM incidents i WHERE change_seq > $1 ORDER BY change_seq LIMIT 500"
            )
        } else {
            format!(
                "SELECT {cols} FROM incidents i WHERE change_seq > $1 AND NOT EXISTS
                 (SELECT 1 FROM incident_stix s WHERE s.incident_id = i.id)
                 ORDER BY change_seq LIMIT 500"
            )
        };
        let mut rebuilt = 0;
        let mut after = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            // Under the change log's lock, so that no incident write of another process
            // stores objects between this batch's read and its write.
            Self::lock_change_log(&mut tx).await?;
            let batch = sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(after)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(Self::incident_from_row)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let Some(last) = batch.last() else { break };
            after = last.change_seq;
            Self::write_stix_batch(&mut tx, Some(&rules), &batch, &mut Prepared::default()).await?;
            tx.commit().await?;
            rebuilt += batch.len();
        }
        sqlx::query(
            "INSERT INTO stix_rules (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version",
        )
        .bind(rules.version())
        .execute(&self.pool)
        .await?;
        Ok(rebuilt)
    }

    /// Stores the objects of several incidents written in one transaction (see the SQLite
    /// version): one statement for their rows and one for the shared objects not stored yet.
    pub(super) async fn write_stix_batch(
        tx: &mut Tx<'_>,
        rules: Option<&Arc<StixRules>>,
        incidents: &[StoredIncident],
        prepared: &mut Prepared,
    ) -> anyhow::Result<()> {
        if incidents.is_empty() {
            return Ok(());
        }
        let Some(rules) = rules else {
            let ids: Vec<&str> = incidents.iter().map(|s| s.id.as_str()).collect();
            sqlx::query("DELETE FROM incident_stix WHERE incident_id = ANY($1)")
                .bind(&ids)
                .execute(&mut **tx)
                .await?;
            return Ok(());
        };
        let w = StixWrites::build(rules, incidents, prepared)?;
        let (flavors, ids, jsons): (Vec<&str>, Vec<&str>, Vec<&str>) = w
            .shared
            .iter()
            .map(|(f, id, json)| (*f, id.as_str(), json.as_str()))
            .collect();
        sqlx::query(
            "INSERT INTO stix_shared (flavor, id, json)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[])
             ON CONFLICT (flavor, id) DO NOTHING",
        )
        .bind(&flavors)
        .bind(&ids)
        .bind(&jsons)
        .execute(&mut **tx)
        .await?;
        let mut incident_ids = Vec::with_capacity(w.rows.len());
        let mut flavors = Vec::with_capacity(w.rows.len());
        let mut seqs = Vec::with_capacity(w.rows.len());
        let mut refs = Vec::with_capacity(w.rows.len());
        let mut own = Vec::with_capacity(w.rows.len());
        for (i, f, n, r, o) in &w.rows {
            incident_ids.push(i.as_str());
            flavors.push(*f);
            seqs.push(*n);
            refs.push(r.as_str());
            own.push(o.as_str());
        }
        sqlx::query(
            "INSERT INTO incident_stix (incident_id, flavor, change_seq, refs, own)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[])
             ON CONFLICT (incident_id, flavor) DO UPDATE SET change_seq = EXCLUDED.change_seq,
               refs = EXCLUDED.refs, own = EXCLUDED.own",
        )
        .bind(&incident_ids)
        .bind(&flavors)
        .bind(&seqs)
        .bind(&refs)
        .bind(&own)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Stores an incident's objects under both flavours, inside its write; without rules,
    /// removes what was stored.
    pub(super) async fn write_stix(
        tx: &mut Tx<'_>,
        rules: Option<&Arc<StixRules>>,
        s: &StoredIncident,
    ) -> anyhow::Result<()> {
        Self::write_stix_batch(tx, rules, std::slice::from_ref(s), &mut Prepared::default()).await
    }

    /// Shared objects by id under a flavour (those stored).
    pub(in crate::db) async fn read_shared(
        &self,
        flavor: Flavor,
        ids: &[String],
    ) -> anyhow::Result<Vec<(String, Arc<str>)>> {
        sqlx::query("SELECT id, json FROM stix_shared WHERE flavor = $1 AND id = ANY($2)")
            .bind(flavor.as_str())
            .bind(ids)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("id")?, Arc::from(r.try_get::<&str, _>("json")?))))
            .collect()
    }

    pub(crate) async fn stored_objects(
        &self,
        incident_id: &str,
        flavor: Flavor,
    ) -> anyhow::Result<Option<StoredObjects>> {
        Ok(sqlx::query(
            "SELECT refs, own FROM incident_stix WHERE incident_id = $1 AND flavor = $2",
        )
        .bind(incident_id)
        .bind(flavor.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(|r| stored_from_row(&r))
        .transpose()?
        .flatten())
    }

    pub(crate) async fn stored_stix_version(&self) -> anyhow::Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT version FROM stix_rules")
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Incidents (revoked ones too) changed after `after_seq`, in change order, to build.
    pub(in crate::db) async fn changes_after_built(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<StixRow>> {
        let cols = Self::incident_columns();
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {cols} FROM incidents i WHERE i.change_seq > $1 ORDER BY i.change_seq LIMIT $2"
        )))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok(StixRow::to_build(Self::incident_from_row(r)?)))
        .collect()
    }

    /// Live incidents matching the filter, in change order, to build.
    pub(in crate::db) async fn live_incidents_built(
        &self,
        f: &IncidentFilter,
        limit: i64,
    ) -> anyhow::Result<Vec<StixRow>> {
        let (sql, args) = Self::live_sql(f, &Self::incident_columns());
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in &args {
            q = q.bind(a);
        }
        q.bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(StixRow::to_build(Self::incident_from_row(r)?)))
            .collect()
    }

    /// The query of live incidents matching the filter with these columns, `LIMIT` last.
    fn live_sql(f: &IncidentFilter, cols: &str) -> (String, Vec<String>) {
        let mut where_sql = String::new();
        let mut args = Vec::new();
        Self::filter_sql(f, 0, &mut where_sql, &mut args);
        let sql = format!(
            "SELECT {cols} FROM incidents i{where_sql} ORDER BY i.change_seq LIMIT ${}",
            args.len() + 1
        );
        (sql, args)
    }

    /// The heads of incidents changed after `after_seq`, in change order.
    pub(in crate::db) async fn change_heads(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<Head>> {
        Ok(sqlx::query_as(
            "SELECT id, change_seq, changed_at FROM incidents WHERE change_seq > $1
             ORDER BY change_seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The position of the newest change at or before `at` (0 before the first) and the
    /// heads of the incidents changed after it, in one query.
    pub(in crate::db) async fn change_heads_at(
        &self,
        at: &str,
        limit: i64,
    ) -> anyhow::Result<(i64, Vec<Head>)> {
        /// The position, then a head (all `NULL` when no incident changed after it).
        type PositionAndHead = (i64, Option<String>, Option<i64>, Option<String>);
        let rows: Vec<PositionAndHead> = sqlx::query_as(
            "WITH pos AS (SELECT COALESCE(
                 (SELECT seq FROM changes WHERE at <= $1 ORDER BY at DESC LIMIT 1), 0) AS seq)
             SELECT pos.seq, h.id, h.change_seq, h.changed_at FROM pos LEFT JOIN LATERAL
               (SELECT id, change_seq, changed_at FROM incidents WHERE change_seq > pos.seq
                ORDER BY change_seq LIMIT $2) h ON true
             ORDER BY h.change_seq",
        )
        .bind(at)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let after_seq = rows.first().map_or(0, |r| r.0);
        let heads = rows
            .into_iter()
            .filter_map(|(_, id, seq, changed_at)| Some((id?, seq?, changed_at?)))
            .collect();
        Ok((after_seq, heads))
    }

    /// The heads of live incidents matching the filter, in change order.
    pub(in crate::db) async fn live_heads(
        &self,
        f: &IncidentFilter,
        limit: i64,
    ) -> anyhow::Result<Vec<Head>> {
        let (sql, args) = Self::live_sql(f, "i.id, i.change_seq, i.changed_at");
        let mut q = sqlx::query_as(AssertSqlSafe(sql));
        for a in &args {
            q = q.bind(a);
        }
        Ok(q.bind(limit).fetch_all(&self.pool).await?)
    }

    /// The stored objects of `flavor` of these incidents, in any order (the incident itself
    /// when none are stored), without reading the incidents' own rows.
    pub(in crate::db) async fn stored_of(
        &self,
        flavor: Flavor,
        ids: &[&str],
    ) -> anyhow::Result<Vec<StoredRow>> {
        let rows = sqlx::query(
            "SELECT incident_id, change_seq, refs, own FROM incident_stix
             WHERE flavor = $1 AND incident_id = ANY($2)",
        )
        .bind(flavor.as_str())
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        for r in &rows {
            out.push(StoredRow {
                id: r.try_get("incident_id")?,
                change_seq: r.try_get("change_seq")?,
                objects: RowObjects::Stored(
                    stored_from_row(r)?.context("stored objects without text")?,
                ),
            });
        }
        if out.len() < ids.len() {
            // Incidents without stored objects: built from the incident.
            let found: std::collections::BTreeSet<&str> =
                out.iter().map(|r| r.id.as_str()).collect();
            let missing: Vec<&str> = ids
                .iter()
                .copied()
                .filter(|id| !found.contains(id))
                .collect();
            let cols = Self::incident_columns();
            let built = sqlx::query(AssertSqlSafe(format!(
                "SELECT {cols} FROM incidents i WHERE i.id = ANY($1)"
            )))
            .bind(&missing)
            .fetch_all(&self.pool)
            .await?;
            for r in &built {
                let s = Self::incident_from_row(r)?;
                out.push(StoredRow {
                    id: s.id.as_str().to_owned(),
                    change_seq: s.change_seq,
                    objects: RowObjects::Build(Box::new(s)),
                });
            }
        }
        Ok(out)
    }
}
