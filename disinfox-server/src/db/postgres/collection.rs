//! PostgreSQL: the TAXII collection's entries and object index (see [`crate::db::collection`]).

use std::collections::{BTreeMap, BTreeSet};

use sqlx::postgres::PgRow;

use super::stix_objects::stored_from_row;
use super::{Postgres, Tx};
use crate::db::collection::{
    collection_keys, entering_keys, gone_keys, index_rows, CollectionEntry, IndexRow, ObjectHome,
    WithObjects, BASE_KEY,
};
use crate::model::Incident;

fn with_objects(r: &PgRow) -> anyhow::Result<WithObjects> {
    Ok((Postgres::incident_from_row(r)?, stored_from_row(r)?))
}

/// The columns of [`WithObjects`] rows.
const WITH_OBJECTS: &str =
    "i.id, i.created, i.modified, i.revoked, i.change_seq, i.changed_at, i.data, s.refs, s.own";

impl Postgres {
    /// Records, inside an incident write (under the change log's lock), the shared objects
    /// the incident now refers to (see the SQLite version for the rules).
    pub(super) async fn record_collection_refs(
        tx: &mut Tx<'_>,
        incident_id: &str,
        incident: Option<&Incident>,
        seq: i64,
        at: &str,
        fresh: bool,
    ) -> anyhow::Result<()> {
        let keys = incident.map(collection_keys).unwrap_or_default();
        let mut old: Vec<String> = Vec::new();
        if !fresh {
            old = sqlx::query_scalar(
                "WITH x AS (DELETE FROM collection_object_ids WHERE incident_id = $1)
                 DELETE FROM collection_refs WHERE incident_id = $1 RETURNING key",
            )
            .bind(incident_id)
            .fetch_all(&mut **tx)
            .await?;
        }
        let (entering, values): (Vec<String>, Vec<String>) =
            entering_keys(&keys).into_iter().unzip();
        let new_keys: Vec<(String, String)> = sqlx::query_as(
            "SELECT x.k, x.v FROM UNNEST($1::TEXT[], $2::TEXT[]) WITH ORDINALITY AS x(k, v, n)
             WHERE NOT EXISTS (SELECT 1 FROM collection_entries e WHERE e.key = x.k) ORDER BY x.n",
        )
        .bind(&entering)
        .bind(&values)
        .fetch_all(&mut **tx)
        .await?;
        let index = index_rows(&new_keys, incident_id, incident)?;
        Self::insert_object_index(tx, &index).await?;
        let refs: Vec<&String> = keys.keys().collect();
        sqlx::query(
            "WITH r AS (INSERT INTO collection_refs (incident_id, key) SELECT $1, k FROM UNNEST($2::TEXT[]) AS k)
             INSERT INTO collection_entries (key, seq, at, value)
             SELECT x.k, $5, $6, x.v FROM UNNEST($3::TEXT[], $4::TEXT[]) AS x(k, v)
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(incident_id)
        .bind(&refs)
        .bind(&entering)
        .bind(&values)
        .bind(seq)
        .bind(at)
        .execute(&mut **tx)
        .await?;
        let gone = gone_keys(&old, &keys);
        if !gone.is_empty() {
            // The refs inserted above are visible to a later statement, not to a CTE
            // sibling: these deletions run after.
            sqlx::query(
                "WITH e AS (DELETE FROM collection_entries WHERE key = ANY($1::TEXT[])
                   AND NOT EXISTS (SELECT 1 FROM collection_refs r WHERE r.key = collection_entries.key)
                   RETURNING key)
                 DELETE FROM collection_object_ids WHERE key IN (SELECT key FROM e)",
            )
            .bind(&gone)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Adds rows to the object index (one statement).
    pub(super) async fn insert_object_index(
        tx: &mut Tx<'_>,
        rows: &[IndexRow],
    ) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut incidents = Vec::with_capacity(rows.len());
        let mut keys = Vec::with_capacity(rows.len());
        for (id, incident, key) in rows {
            ids.push(id.as_str());
            incidents.push(incident.as_deref());
            keys.push(key.as_deref());
        }
        sqlx::query(
            "INSERT INTO collection_object_ids (object_id, incident_id, key)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[]) ON CONFLICT DO NOTHING",
        )
        .bind(&ids)
        .bind(&incidents)
        .bind(&keys)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub(crate) async fn object_homes(
        &self,
        ids: &BTreeSet<String>,
    ) -> anyhow::Result<BTreeMap<String, ObjectHome>> {
        let ids: Vec<&String> = ids.iter().collect();
        let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT object_id, incident_id, key FROM collection_object_ids WHERE object_id = ANY($1::TEXT[])",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, incident, key)| match (incident, key) {
                (Some(i), _) => Some((id, ObjectHome::Incident(i))),
                (None, Some(k)) => Some((id, ObjectHome::Entry(k))),
                (None, None) => None,
            })
            .collect())
    }

    /// A read-only transaction whose statements all read one snapshot (REPEATABLE READ):
    /// the collection's incidents and entries consistent with each other.
    async fn snapshot(&self) -> anyhow::Result<Tx<'static>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    pub(crate) async fn collection_items_of(
        &self,
        from_seq: i64,
        incident_ids: &BTreeSet<String>,
        keys: &BTreeSet<String>,
    ) -> anyhow::Result<(Vec<WithObjects>, Vec<CollectionEntry>)> {
        let mut tx = self.snapshot().await?;
        let ids: Vec<&String> = incident_ids.iter().collect();
        let incidents = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {WITH_OBJECTS} FROM incidents i
             LEFT JOIN incident_stix s ON s.incident_id = i.id AND s.flavor = 'standard'
             WHERE i.id = ANY($1::TEXT[]) AND i.change_seq >= $2 ORDER BY i.change_seq"
        )))
        .bind(&ids)
        .bind(from_seq)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(with_objects)
        .collect::<anyhow::Result<Vec<_>>>()?;
        let keys: Vec<&String> = keys.iter().collect();
        let entries = sqlx::query(
            "SELECT key, seq, at, value FROM collection_entries
             WHERE key = ANY($1::TEXT[]) AND seq >= $2 ORDER BY seq, key",
        )
        .bind(&keys)
        .bind(from_seq)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(crate::db::collection::entry_from_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok((incidents, entries))
    }

    pub(crate) async fn object_index(&self) -> anyhow::Result<Vec<IndexRow>> {
        Ok(sqlx::query_as(
            "SELECT object_id, incident_id, key FROM collection_object_ids ORDER BY object_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub(crate) async fn collection_window(
        &self,
        from_seq: i64,
        limit: i64,
        with_incidents: bool,
    ) -> anyhow::Result<(Vec<WithObjects>, Vec<CollectionEntry>, i64)> {
        let mut tx = self.snapshot().await?;
        let incidents = if with_incidents {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {WITH_OBJECTS} FROM incidents i
                 LEFT JOIN incident_stix s ON s.incident_id = i.id AND s.flavor = 'standard'
                 WHERE i.change_seq >= $1 ORDER BY i.change_seq LIMIT $2"
            )))
            .bind(from_seq)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(with_objects)
            .collect::<anyhow::Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let upto = match incidents.last() {
            Some((last, _)) if incidents.len() as i64 >= limit => last.change_seq,
            _ => i64::MAX,
        };
        let entries = sqlx::query(
            "SELECT key, seq, at, value FROM collection_entries WHERE seq >= $1 AND seq <= $2 ORDER BY seq, key",
        )
        .bind(from_seq)
        .bind(upto)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(crate::db::collection::entry_from_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok((incidents, entries, upto))
    }

    pub(crate) async fn collection_entries(&self) -> anyhow::Result<Vec<CollectionEntry>> {
        sqlx::query("SELECT key, seq, at, value FROM collection_entries ORDER BY seq, key")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(crate::db::collection::entry_from_row)
            .collect()
    }

    pub(crate) async fn expected_collection_keys(&self) -> anyhow::Result<BTreeSet<String>> {
        let mut keys = BTreeSet::new();
        let mut after = 0;
        loop {
            let rows = self.changes_after(after, 500).await?;
            let Some(last) = rows.last() else { break };
            after = last.change_seq;
            keys.insert(BASE_KEY.to_owned());
            for s in rows.iter().filter(|s| !s.revoked) {
                keys.extend(collection_keys(&s.incident).into_keys());
            }
        }
        Ok(keys)
    }
}
