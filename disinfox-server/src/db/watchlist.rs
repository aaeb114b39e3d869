//! Watchlists (the incidents each user follows, with what changed since the user looked) and
//! "my work" (the incidents a user created or edited, from the change log's `user_id`).

use std::collections::BTreeSet;

use sqlx::Row;
use stix_model::Timestamp;

use super::{micros_text, Sqlite};

/// A watched incident and what changed since its user last looked.
#[derive(Debug, Clone)]
pub struct WatchEntry {
    /// The incident's STIX id.
    pub incident_id: String,
    /// Its name.
    pub name: String,
    /// Deleted (published revoked).
    pub revoked: bool,
    /// When the user starred it.
    pub added_at: String,
    /// When the user last looked (or starred it).
    pub seen_at: String,
    /// Server time of the incident's latest change.
    pub changed_at: String,
    /// Changes (edits, deletion) since the user last looked.
    pub changes_since: i64,
    /// Whether one of those changes is the deletion.
    pub deleted_since: bool,
    /// Who made those changes (e-mails, distinct; deleted users left out).
    pub changed_by: Vec<String>,
}

/// An incident a user created or edited.
#[derive(Debug, Clone)]
pub struct WorkEntry {
    /// The incident's STIX id.
    pub incident_id: String,
    /// Its name.
    pub name: String,
    /// Deleted (published revoked).
    pub revoked: bool,
    /// The user created it.
    pub created: bool,
    /// Versions the user saved after the first.
    pub edits: i64,
    /// Server time of the user's latest change to it.
    pub last_at: String,
}

/// What starring did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// Newly on the watchlist.
    Added,
    /// It was already there.
    Already,
    /// No such incident.
    NoIncident,
    /// The watchlist holds the maximum already.
    Full,
}

fn now_text() -> String {
    micros_text(&Timestamp::now())
}

impl Sqlite {
    /// Puts an incident on a user's watchlist (seen as of its latest change), unless the
    /// watchlist already holds `max` incidents.
    pub(crate) async fn watch(
        &self,
        user_id: i64,
        incident_id: &str,
        max: i64,
    ) -> anyhow::Result<Watch> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        let there: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM watchlist WHERE user_id = ? AND incident_id = ?")
                .bind(user_id)
                .bind(incident_id)
                .fetch_optional(&mut *tx)
                .await?;
        if there.is_some() {
            return Ok(Watch::Already);
        }
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM watchlist WHERE user_id = ?")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        if held >= max {
            return Ok(Watch::Full);
        }
        let now = now_text();
        let done = sqlx::query(
            "INSERT INTO watchlist (user_id, incident_id, added_at, seen_seq, seen_at) \
             SELECT ?, id, ?, change_seq, ? FROM incidents WHERE id = ?",
        )
        .bind(user_id)
        .bind(&now)
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

    /// Takes an incident off a user's watchlist; whether it was there.
    pub(crate) async fn unwatch(&self, user_id: i64, incident_id: &str) -> anyhow::Result<bool> {
        let _w = self.write.lock().await;
        let done = sqlx::query("DELETE FROM watchlist WHERE user_id = ? AND incident_id = ?")
            .bind(user_id)
            .bind(incident_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Which of `ids` the user watches.
    pub(crate) async fn watched_among(
        &self,
        user_id: i64,
        ids: &[String],
    ) -> anyhow::Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        // Pages of incidents are at most a few hundred rows: one query per 200 ids.
        for chunk in ids.chunks(200) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "SELECT incident_id FROM watchlist WHERE user_id = ",
            );
            qb.push_bind(user_id).push(" AND incident_id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id);
            }
            qb.push(")");
            for r in qb.build().fetch_all(&self.pool).await? {
                out.insert(r.try_get(0)?);
            }
        }
        Ok(out)
    }

    /// A page of a user's watchlist, incidents changed since the user looked first (newest
    /// change first), and the watchlist's size.
    pub(crate) async fn watchlist(
        &self,
        user_id: i64,
        offset: i64,
        limit: i64,
    ) -> anyhow::Result<(Vec<WatchEntry>, i64)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM watchlist WHERE user_id = ?")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(
            "SELECT w.incident_id, i.name, i.revoked, w.added_at, w.seen_at, i.changed_at, \
               (SELECT COUNT(*) FROM changes c WHERE c.incident_id = w.incident_id AND c.seq > w.seen_seq) AS n, \
               (SELECT COUNT(*) FROM changes c WHERE c.incident_id = w.incident_id AND c.seq > w.seen_seq AND c.action = 'delete') AS d, \
               (SELECT group_concat(e, char(10)) FROM (SELECT DISTINCT u.email AS e FROM changes c JOIN users u ON u.id = c.user_id \
                  WHERE c.incident_id = w.incident_id AND c.seq > w.seen_seq ORDER BY u.email)) AS who \
             FROM watchlist w JOIN incidents i ON i.id = w.incident_id \
             WHERE w.user_id = ? \
             ORDER BY (i.change_seq > w.seen_seq) DESC, i.change_seq DESC LIMIT ? OFFSET ?",
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

    /// Marks watched incidents seen as of their latest change.
    pub(crate) async fn mark_seen(&self, user_id: i64, ids: &[String]) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let _w = self.write.lock().await;
        let now = now_text();
        let mut tx = self.pool.begin().await?;
        for id in ids {
            sqlx::query(
                "UPDATE watchlist SET seen_seq = (SELECT change_seq FROM incidents WHERE id = ?), seen_at = ? \
                 WHERE user_id = ? AND incident_id = ?",
            )
            .bind(id)
            .bind(&now)
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A page of the incidents a user created or edited (the user's latest change first),
    /// and how many there are.
    pub(crate) async fn my_work(
        &self,
        user_id: i64,
        offset: i64,
        limit: i64,
    ) -> anyhow::Result<(Vec<WorkEntry>, i64)> {
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT incident_id) FROM changes WHERE user_id = ? AND action IN ('create', 'update')",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        let rows = sqlx::query(
            "SELECT c.incident_id, i.name, i.revoked, MAX(c.action = 'create') AS created, \
               SUM(c.action = 'update') AS edits, MAX(c.at) AS last_at, MAX(c.seq) AS last_seq \
             FROM changes c JOIN incidents i ON i.id = c.incident_id \
             WHERE c.user_id = ? AND c.action IN ('create', 'update') \
             GROUP BY c.incident_id ORDER BY last_seq DESC LIMIT ? OFFSET ?",
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
                created: r.try_get::<i64, _>("created")? > 0,
                edits: r.try_get("edits")?,
                last_at: r.try_get("last_at")?,
            });
        }
        Ok((out, total))
    }
}

super::forward! {
    /// Puts an incident on a user's watchlist (seen as of its latest change), unless the
    /// watchlist already holds `max` incidents.
    fn watch(&self, user_id: i64, incident_id: &str, max: i64) -> anyhow::Result<Watch>;
    /// Takes an incident off a user's watchlist; whether it was there.
    fn unwatch(&self, user_id: i64, incident_id: &str) -> anyhow::Result<bool>;
    /// Which of `ids` the user watches.
    fn watched_among(&self, user_id: i64, ids: &[String]) -> anyhow::Result<BTreeSet<String>>;
    /// A page of a user's watchlist, incidents changed since the user looked first (newest
    /// change first), and the watchlist's size.
    fn watchlist(&self, user_id: i64, offset: i64, limit: i64) -> anyhow::Result<(Vec<WatchEntry>, i64)>;
    /// Marks watched incidents seen as of their latest change.
    fn mark_seen(&self, user_id: i64, ids: &[String]) -> anyhow::Result<()>;
    /// A page of the incidents a user created or edited (the user's latest change first),
    /// and how many there are.
    fn my_work(&self, user_id: i64, offset: i64, limit: i64) -> anyhow::Result<(Vec<WorkEntry>, i64)>;
}
