//! PostgreSQL: each incident's stored STIX objects (see [`crate::db::stix`]).

use std::sync::Arc;

use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Postgres, Tx};
use crate::db::stix::{
    objects_of, rules_of, set_rules, Flavor, RowObjects, StixRow, StixRules, StoredObjects,
};
use crate::db::{IncidentFilter, StoredIncident};

/// The stored objects of a row with `ids` and `objects` columns (both null: none).
pub(super) fn stored_from_row(r: &PgRow) -> anyhow::Result<Option<StoredObjects>> {
    let ids: Option<String> = r.try_get("ids")?;
    let objects: Option<String> = r.try_get("objects")?;
    Ok(ids
        .zip(objects)
        .map(|(ids, objects)| StoredObjects { ids, objects }))
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
            for s in &batch {
                Self::write_stix(&mut tx, Some(&rules), s).await?;
            }
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

    /// [`Self::write_stix`] for several incidents written in one transaction (an import's
    /// batch).
    #[allow(dead_code)]
    pub(super) async fn write_stix_batch(
        tx: &mut Tx<'_>,
        rules: Option<&Arc<StixRules>>,
        incidents: &[StoredIncident],
    ) -> anyhow::Result<()> {
        for s in incidents {
            Self::write_stix(tx, rules, s).await?;
        }
        Ok(())
    }

    /// Stores an incident's objects under both flavours, inside its write; without rules,
    /// removes what was stored.
    pub(super) async fn write_stix(
        tx: &mut Tx<'_>,
        rules: Option<&Arc<StixRules>>,
        s: &StoredIncident,
    ) -> anyhow::Result<()> {
        let Some(rules) = rules else {
            sqlx::query("DELETE FROM incident_stix WHERE incident_id = $1")
                .bind(s.id.as_str())
                .execute(&mut **tx)
                .await?;
            return Ok(());
        };
        let mut flavors = Vec::new();
        let mut ids = Vec::new();
        let mut objects = Vec::new();
        for flavor in Flavor::ALL {
            let o = objects_of(rules.options(flavor), s)?;
            flavors.push(flavor.as_str());
            ids.push(o.ids);
            objects.push(o.objects);
        }
        sqlx::query(
            "INSERT INTO incident_stix (incident_id, flavor, ids, objects)
             SELECT $1, x.f, x.i, x.o FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[]) AS x(f, i, o)
             ON CONFLICT (incident_id, flavor) DO UPDATE SET ids = EXCLUDED.ids, objects = EXCLUDED.objects",
        )
        .bind(s.id.as_str())
        .bind(&flavors)
        .bind(&ids)
        .bind(&objects)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub(crate) async fn stored_objects(
        &self,
        incident_id: &str,
        flavor: Flavor,
    ) -> anyhow::Result<Option<StoredObjects>> {
        Ok(sqlx::query(
            "SELECT ids, objects FROM incident_stix WHERE incident_id = $1 AND flavor = $2",
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

    fn stix_row(r: &PgRow, joined: bool) -> anyhow::Result<StixRow> {
        let stored = if joined { stored_from_row(r)? } else { None };
        let objects = match stored {
            Some(o) => RowObjects::Stored(o),
            None => RowObjects::Build(Box::new(Self::incident_from_row(r)?)),
        };
        Ok(StixRow {
            id: r.try_get("id")?,
            change_seq: r.try_get("change_seq")?,
            changed_at: r.try_get("changed_at")?,
            objects,
        })
    }

    /// The select list and join of [`StixRow`]s: with `flavor`, the stored objects of that
    /// flavour, the flavour bound first (`$1`).
    fn stix_select(flavor: Option<Flavor>) -> (String, &'static str) {
        let cols = Self::incident_columns();
        match flavor {
            Some(_) => (
                format!("{cols}, s.ids, s.objects"),
                " LEFT JOIN incident_stix s ON s.incident_id = i.id AND s.flavor = $1",
            ),
            None => (cols, ""),
        }
    }

    pub(crate) async fn changes_after_stix(
        &self,
        after_seq: i64,
        limit: i64,
        flavor: Option<Flavor>,
    ) -> anyhow::Result<Vec<StixRow>> {
        let (cols, join) = Self::stix_select(flavor);
        let n = usize::from(flavor.is_some());
        let sql = format!(
            "SELECT {cols} FROM incidents i{join} WHERE i.change_seq > ${} ORDER BY i.change_seq LIMIT ${}",
            n + 1,
            n + 2
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(f) = flavor {
            q = q.bind(f.as_str());
        }
        q.bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Self::stix_row(r, flavor.is_some()))
            .collect()
    }

    pub(crate) async fn live_incidents_stix(
        &self,
        f: &IncidentFilter,
        limit: i64,
        flavor: Option<Flavor>,
    ) -> anyhow::Result<Vec<StixRow>> {
        let first = usize::from(flavor.is_some());
        let mut where_sql = String::new();
        let mut args = Vec::new();
        Self::filter_sql(f, first, &mut where_sql, &mut args);
        let (cols, join) = Self::stix_select(flavor);
        let sql = format!(
            "SELECT {cols} FROM incidents i{join}{where_sql} ORDER BY i.change_seq LIMIT ${}",
            first + args.len() + 1
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(f) = flavor {
            q = q.bind(f.as_str());
        }
        for a in &args {
            q = q.bind(a);
        }
        q.bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Self::stix_row(r, flavor.is_some()))
            .collect()
    }
}
