//! PostgreSQL: the change log (see [`crate::db::changes`]), exact under concurrent writers in
//! several server processes.
//!
//! # Why a reader paging by `seq` never misses a change
//!
//! Readers page the log by position: "the incidents whose latest change is after `n`". That
//! is only exact if a change becomes visible no later than every change after it. A sequence
//! (`nextval`) does not give that: transaction A takes position 5, B takes 6, B commits first,
//! a reader sees 6 and moves its cursor past 5, and A's change, committed a moment later, is
//! never read (the sequence-gap problem).
//!
//! So positions are not taken from a sequence. Every transaction that writes the log first
//! takes one transaction-scoped advisory lock, [`LOCK_CHANGE_LOG`]
//! (`pg_advisory_xact_lock`), and holds it until it commits or rolls back. Under the lock
//! it reads the last change and writes the next one: position `last + 1`, at a change time
//! strictly after the last one's ([`crate::db::changes::next_change_time`]). The statements
//! after the lock read with a fresh snapshot (READ COMMITTED), so they see every change
//! committed before the lock was granted. The next writer gets the lock only after this
//! transaction has ended, and PostgreSQL releases a transaction's locks only after its
//! commit is visible: positions and change times are handed out in commit order, without
//! gaps, and a reader that sees change `n` sees every change before it. A rolled-back
//! transaction leaves nothing behind (its position is given to the next writer). The incident
//! writes read the stored version under the same lock, so the collection's bookkeeping
//! (entries entering and leaving) is serialised too, as SQLite's single writer serialises it.
//! The cost: incident writes of all processes commit one at a time, which is what SQLite
//! does in one process; other writes (users, keys, sessions, audit, jobs) do not take it.
//!
//! # Announcements across processes
//!
//! A transaction that takes the lock also runs `pg_notify('disinfox_changes', '')`, which
//! PostgreSQL delivers to every listening session when (and only if) it commits; each store
//! listens (see [`super::Postgres::connect`]) and wakes its live streams.

use sqlx::{AssertSqlSafe, Row};

use super::{Postgres, Tx};
use crate::db::changes::next_change_time;
use crate::db::{Sqlite, StoredIncident};

/// The advisory lock of the change log (see the module's documentation).
pub(super) const LOCK_CHANGE_LOG: i64 = super::lock_id(1);

/// The channel of the change announcements.
pub(super) const CHANNEL: &str = "disinfox_changes";

impl Postgres {
    /// Announces committed changes to this process's live streams at once (other processes
    /// hear of them through `NOTIFY`).
    pub(super) fn announce_changes(&self) {
        self.committed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Takes the change log's lock for the rest of the transaction, and asks for the
    /// transaction's commit to be announced to every listening process. Taking it again in
    /// the same transaction is harmless (advisory locks are re-entrant).
    pub(super) async fn lock_change_log(tx: &mut Tx<'_>) -> anyhow::Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1), pg_notify($2, '')")
            .bind(LOCK_CHANGE_LOG)
            .bind(CHANNEL)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Appends to the change log under its lock (taken here, held to commit): the next
    /// position and a change time strictly after the previous one.
    pub(super) async fn next_change(
        &self,
        tx: &mut Tx<'_>,
        incident_id: &str,
        action: &str,
        user_id: Option<i64>,
    ) -> anyhow::Result<(i64, String)> {
        Self::lock_change_log(tx).await?;
        let last = sqlx::query("SELECT seq, at FROM changes ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await?;
        let (last_seq, last_at): (i64, Option<String>) = match last {
            Some(r) => (r.try_get("seq")?, Some(r.try_get("at")?)),
            None => (0, None),
        };
        let seq = last_seq + 1;
        let at = next_change_time(last_at.as_deref());
        sqlx::query(
            "INSERT INTO changes (seq, incident_id, action, user_id, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(seq)
        .bind(incident_id)
        .bind(action)
        .bind(user_id)
        .bind(&at)
        .execute(&mut **tx)
        .await?;
        Ok((seq, at))
    }

    pub(crate) async fn changes_after(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<StoredIncident>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM incidents WHERE change_seq > $1 ORDER BY change_seq LIMIT $2",
            Sqlite::COLUMNS
        )))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::incident_from_row).collect()
    }

    pub(crate) async fn seq_at(&self, at: &str) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT seq FROM changes WHERE at <= $1 ORDER BY at DESC LIMIT 1")
                .bind(at)
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    pub(crate) async fn last_change_seq(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM changes")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    pub(crate) async fn change_time(&self, seq: i64) -> anyhow::Result<Option<String>> {
        Ok(sqlx::query("SELECT at FROM changes WHERE seq = $1")
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?)
    }

    pub(crate) async fn backdate_changes(
        &self,
        up_to_seq: i64,
        base_micros: i64,
    ) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        // Change times are the change log's: rewritten under its lock, like every change.
        Self::lock_change_log(&mut tx).await?;
        sqlx::query(
            "UPDATE changes SET at = to_char(to_timestamp(($1 + seq * 1000) / 1000000.0) AT TIME ZONE 'UTC',
               'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') WHERE seq <= $2",
        )
        .bind(base_micros)
        .bind(up_to_seq)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE incidents i SET changed_at = c.at FROM changes c
             WHERE c.seq = i.change_seq AND i.change_seq <= $1",
        )
        .bind(up_to_seq)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
