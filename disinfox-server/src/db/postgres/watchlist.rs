//! PostgreSQL: watchlists and "my work" (see [`crate::db::watchlist`]).

use std::collections::BTreeSet;

use sqlx::Row;
use stix_model::Timestamp;

use super::Postgres;
use crate::db::micros_text;
use crate::db::watchlist::{Watch, WatchEntry, WorkEntry};

/// The advisory lock of [`Postgres::watch`]: counting a watchlist and adding to it is one
/// step across every server process.
const LOCK_WATCHLIST: i64 = super::lock_id(4);

impl Postgres {
    pub(crate) async fn watch(
        &self,
        user_id: i64,
        incident_id: &str,
        max: i64,
    ) -> anyhow::Result<Watch> {
        let mut tx = self.pool.begin().await?;
        super::advisory_lock(&mut tx, LOCK_WATCHLIST).await?;
        let (there, held): (bool, i64) = sqlx::query_as(
            "SELECT COALESCE(bool_or(incident_id = $2), FALSE), COUNT(*) FROM watchlist WHERE user_id = $1",
        )
        .bind(user_id)
        .bind(incident_id)
        .fetch_one(&mut *tx)
        .await?;
        if there {
            return Ok(Watch::Already);
        }
        if held >= max {
            return Ok(Watch::Full);
        }
        let now = micros_text(&Timestamp::now());
        let done = sqlx::query(
            "INSERT INTO watchlist (user_id, incident_id, added_at, seen_seq, seen_at)
             SELECT $1, id, $2, change_seq, $2 FROM incidents WHERE id = $3",
        )
        .bind(user_id)
        .bind(&now)
        .bind(incident_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(if done.rows_affected() == 1 {
            Watch::Added
        } else {
            Watch::NoIncident
        })
    }

    pub(crate) async fn unwatch(&self, user_id: i64, incident_id: &str) -> anyhow::Result<bool> {
        let done = sqlx::query("DELETE FROM watchlist WHERE user_id = $1 AND incident_id = $2")
            .bind(user_id)
            .bind(incident_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn watched_among(
        &self,
        user_id: i64,
        ids: &[String],
    ) -> anyhow::Result<BTreeSet<String>> {
        if ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT incident_id FROM watchlist WHERE user_id = $1 AND incident_id = ANY($2::TEXT[])",
        )
        .bind(user_id)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    pub(crate) async fn watchlist(
        &self,
        user_id: i64,
        offset: i64,
        limit: i64,
    ) -> anyhow::Result<(Vec<WatchEntry>, i64)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM watchlist WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(
            "SELECT w.incident_id, i.name, i.revoked, w.added_at, w.seen_at, i.changed_at,
               (SELECT COUNT(*) FROM changes c WHERE c.incident_id = w.incident_id AND c.seq > w.seen_seq) AS n,
               (SELECT COUNT(*) FROM changes c WHERE c.incident_id = w.incident_id AND c.seq > w.seen_seq AND c.action = 'delete') AS d,
               (SELECT string_agg(e, chr(10) ORDER BY e) FROM (SELECT DISTINCT u.email COLLATE \"C\" AS e
                  FROM changes c JOIN users u ON u.id = c.user_id
                  WHERE c.incident_id = w.incident_id AND c.seq > w.seen_seq) x) AS who
             FROM watchlist w JOIN incidents i ON i.id = w.incident_id
             WHERE w.user_id = $1
             ORDER BY (i.change_seq > w.seen_seq) DESC, i.change_seq DESC LIMIT $2 OFFSET $3",
        )
        .bind(user_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let who: Option<String> = r.try_get("who")?;
            out.push(WatchEntry {
                incident_id: r.try_get("incident_id")?,
                name: r.try_get("name")?,
                revoked: r.try_get("revoked")?,
                added_at: r.try_get("added_at")?,
                seen_at: r.try_get("seen_at")?,
                changed_at: r.try_get("changed_at")?,
                changes_since: r.try_get("n")?,
                deleted_since: r.try_get::<i64, _>("d")? > 0,
                changed_by: who
                    .map(|w| w.lines().map(str::to_owned).collect())
                    .unwrap_or_default(),
            });
        }
        Ok((out, total))
    }

    pub(crate) async fn mark_seen(&self, user_id: i64, ids: &[String]) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE watchlist w SET seen_seq = i.change_seq, seen_at = $1
             FROM incidents i WHERE i.id = w.incident_id AND w.user_id = $2 AND w.incident_id = ANY($3::TEXT[])",
        )
        .bind(micros_text(&Timestamp::now()))
        .bind(user_id)
        .bind(ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn my_work(
        &self,
        user_id: i64,
        offset: i64,
        limit: i64,
    ) -> anyhow::Result<(Vec<WorkEntry>, i64)> {
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT incident_id) FROM changes WHERE user_id = $1 AND action IN ('create', 'update')",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        let rows = sqlx::query(
            "SELECT c.incident_id, i.name, i.revoked, bool_or(c.action = 'create') AS created,
               COUNT(*) FILTER (WHERE c.action = 'update') AS edits, MAX(c.at) AS last_at, MAX(c.seq) AS last_seq
             FROM changes c JOIN incidents i ON i.id = c.incident_id
             WHERE c.user_id = $1 AND c.action IN ('create', 'update')
             GROUP BY c.incident_id, i.name, i.revoked ORDER BY last_seq DESC LIMIT $2 OFFSET $3",
        )
        .bind(user_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(WorkEntry {
                incident_id: r.try_get("incident_id")?,
                name: r.try_get("name")?,
                revoked: r.try_get("revoked")?,
                created: r.try_get("created")?,
                edits: r.try_get("edits")?,
                last_at: r.try_get("last_at")?,
            });
        }
        Ok((out, total))
    }
}
