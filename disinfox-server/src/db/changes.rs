//! The change log: every incident write appends a change with a sequence number and a change
//! time, both strictly increasing in commit order (writes are serialised), which the bundle
//! endpoint and TAXII page on.

use sqlx::{AssertSqlSafe, Row};
use stix_model::Timestamp;

use super::{micros_text, Sqlite, StoredIncident};

/// The last change at or before a time: change times increase with the sequence, so the
/// newest such change is one index search (`changes_at`), not a scan of the log.
pub(super) const SQL_SEQ_AT: &str =
    "SELECT seq FROM changes WHERE at <= ? ORDER BY at DESC LIMIT 1";

/// The time of a new change: now, with microseconds, or a microsecond after the previous
/// change's time `last` when the clock has not passed it (change times strictly increase).
pub(super) fn next_change_time(last: Option<&str>) -> String {
    let now = Timestamp::now();
    let now = Timestamp::from_unix_nanos(now.unix_seconds(), now.subsec_nanos(), 6);
    let at = match last.map(Timestamp::parse) {
        Some(Ok(prev)) if prev >= now => {
            let micros = prev.unix_micros() + 1;
            Timestamp::from_unix_nanos(
                micros.div_euclid(1_000_000),
                (micros.rem_euclid(1_000_000) * 1000) as u32,
                6,
            )
        }
        _ => now,
    };
    micros_text(&at)
}

impl super::Store {
    /// A receiver told of every change committed through this store: the live stream waits
    /// on it. On PostgreSQL, changes committed by other server processes on the same database
    /// are announced too (`NOTIFY`, see `db/postgres/changes.rs`); a SQLite file has one
    /// writing process.
    pub fn watch_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.subscribe()
    }
}

impl Sqlite {
    /// Announces committed changes to [`Store::watch_changes`].
    pub(super) fn announce_changes(&self) {
        self.committed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Appends to the change log; returns the sequence number and a change time strictly
    /// after the previous one (whatever the wall clock does).
    pub(super) async fn next_change(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        incident_id: &str,
        action: &str,
        user_id: Option<i64>,
    ) -> anyhow::Result<(i64, String)> {
        let last: Option<String> = sqlx::query("SELECT at FROM changes ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| r.get(0));
        let at = next_change_time(last.as_deref());
        let seq: i64 = sqlx::query("INSERT INTO changes (incident_id, action, user_id, at) VALUES (?, ?, ?, ?) RETURNING seq")
            .bind(incident_id)
            .bind(action)
            .bind(user_id)
            .bind(&at)
            .fetch_one(&mut **tx)
            .await?
            .get(0);
        Ok((seq, at))
    }

    /// Incidents (revoked ones too) changed after `after_seq`, in change order.
    pub(crate) async fn changes_after(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<StoredIncident>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM incidents WHERE change_seq > ? ORDER BY change_seq LIMIT ?",
            Self::COLUMNS
        )))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::incident_from_row).collect()
    }

    /// The sequence number of the last change at or before the change time `at` (for
    /// `newer_than`): changes after it are exactly those with a later change time.
    pub(crate) async fn seq_at(&self, at: &str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(SQL_SEQ_AT)
            .bind(at)
            .fetch_optional(&self.pool)
            .await?
            .unwrap_or(0))
    }

    /// The sequence number of the newest change (0 before the first).
    pub(crate) async fn last_change_seq(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM changes")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// The change time of a sequence number.
    pub(crate) async fn change_time(&self, seq: i64) -> anyhow::Result<Option<String>> {
        Ok(sqlx::query("SELECT at FROM changes WHERE seq = ?")
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.get(0)))
    }

    pub(crate) async fn backdate_changes(
        &self,
        up_to_seq: i64,
        base_micros: i64,
    ) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE changes SET at = strftime('%Y-%m-%dT%H:%M:%S', (?1 + seq * 1000) / 1000000, 'unixepoch') || '.' || printf('%06d', (?1 + seq * 1000) % 1000000) || 'Z' WHERE seq <= ?2")
            .bind(base_micros)
            .bind(up_to_seq)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE incidents SET changed_at = (SELECT at FROM changes WHERE seq = incidents.change_seq) WHERE change_seq <= ?")
            .bind(up_to_seq)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

super::forward! {
    /// For the seeding example only (a benchmark's data): moves the changes up to `up_to_seq`
    /// to `base_micros` (Unix microseconds) plus 1 ms per position, strictly increasing, and
    /// their incidents' change times with them.
    fn backdate_changes(&self, up_to_seq: i64, base_micros: i64) -> anyhow::Result<()>;
    /// Incidents (revoked ones too) changed after `after_seq`, in change order.
    fn changes_after(&self, after_seq: i64, limit: i64) -> anyhow::Result<Vec<StoredIncident>>;
    /// The sequence number of the last change at or before the change time `at` (for
    /// `newer_than`): changes after it are exactly those with a later change time.
    fn seq_at(&self, at: &str) -> anyhow::Result<i64>;
    /// The sequence number of the newest change (0 before the first).
    fn last_change_seq(&self) -> anyhow::Result<i64>;
    /// The change time of a sequence number.
    fn change_time(&self, seq: i64) -> anyhow::Result<Option<String>>;
}
