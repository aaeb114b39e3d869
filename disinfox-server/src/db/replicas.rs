//! What several server processes on one database share, so that N replicas behave as one
//! server: the rate limits' token buckets, failed sign-ins and their locks, the processes
//! alive (heartbeats) and the import jobs each one owns.
//!
//! Times are Unix milliseconds from the calling process's clock (replicas keep their clocks
//! in step with NTP; a bucket never refills backwards, and the job lease is many seconds).
//! The domain keeps these limits in memory on SQLite, which is one process
//! ([`super::Store::is_postgres`] decides); the methods work on both backends all the same.

use stix_model::Timestamp;

use super::Sqlite;

/// Now, in Unix milliseconds.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A token bucket: the limit's `name` and the `key` counted (a user id, a client address),
/// `capacity` tokens refilled evenly over `period_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Bucket<'a> {
    /// The limit (`user`, `sign-in`, …).
    pub name: &'a str,
    /// What is counted.
    pub key: &'a str,
    /// Tokens at most (more than 0).
    pub capacity: u32,
    /// Milliseconds to refill it from empty.
    pub period_ms: i64,
}

impl Bucket<'_> {
    /// Tokens refilled per millisecond.
    pub(crate) fn rate(&self) -> f64 {
        f64::from(self.capacity) / self.period_ms.max(1) as f64
    }

    /// What a take returning `tokens` left, refused, means: milliseconds to the next token.
    pub(crate) fn wait_ms(&self, tokens: f64) -> i64 {
        ((1.0 - tokens) / self.rate()).ceil().max(1.0) as i64
    }
}

/// The error of an interrupted job (the job row's `done` and `total` follow): what
/// [`Sqlite::fail_interrupted_jobs`] writes too.
pub(crate) const INTERRUPTED: (&str, &str) = (
    "interrupted: the server stopped after ",
    " incidents; the report lists exactly what was applied. Import the file again to finish: what was applied comes back unchanged.",
);

impl Sqlite {
    pub(crate) async fn take_token(
        &self,
        b: Bucket<'_>,
        now_ms: i64,
    ) -> anyhow::Result<Option<i64>> {
        let _w = self.write.lock().await;
        // The refill since the last take, capped at the capacity; a token taken if whole.
        let (tokens, granted): (f64, bool) = sqlx::query_as(
            "INSERT INTO rate_buckets (name, key, tokens, updated_ms, granted)
             VALUES (?1, ?2, ?3 - 1, ?5, 1)
             ON CONFLICT (name, key) DO UPDATE SET
               tokens = MIN(?3, tokens + MAX(0, ?5 - updated_ms) * ?4)
                 - (MIN(?3, tokens + MAX(0, ?5 - updated_ms) * ?4) >= 1),
               granted = MIN(?3, tokens + MAX(0, ?5 - updated_ms) * ?4) >= 1,
               updated_ms = MAX(updated_ms, ?5)
             RETURNING tokens, granted",
        )
        .bind(b.name)
        .bind(b.key)
        .bind(f64::from(b.capacity))
        .bind(b.rate())
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok((!granted).then(|| b.wait_ms(tokens)))
    }

    pub(crate) async fn refund_token(&self, b: Bucket<'_>) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        sqlx::query(
            "UPDATE rate_buckets SET tokens = MIN(?3, tokens + 1) WHERE name = ?1 AND key = ?2",
        )
        .bind(b.name)
        .bind(b.key)
        .bind(f64::from(b.capacity))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn sign_in_failed(
        &self,
        address: &str,
        email: &str,
        now_ms: i64,
        forget_ms: i64,
    ) -> anyhow::Result<i64> {
        let _w = self.write.lock().await;
        let count = sqlx::query_scalar(
            "INSERT INTO sign_in_failures (address, email, count, last_ms) VALUES (?1, ?2, 1, ?3)
             ON CONFLICT (address, email) DO UPDATE SET
               count = CASE WHEN ?3 - last_ms >= ?4 THEN 1 ELSE count + 1 END,
               last_ms = MAX(last_ms, ?3)
             RETURNING count",
        )
        .bind(address)
        .bind(email)
        .bind(now_ms)
        .bind(forget_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(count)
    }

    pub(crate) async fn lock_sign_in(
        &self,
        address: &str,
        email: &str,
        until_ms: i64,
    ) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        sqlx::query(
            "UPDATE sign_in_failures SET locked_until_ms = MAX(COALESCE(locked_until_ms, 0), ?3)
             WHERE address = ?1 AND email = ?2",
        )
        .bind(address)
        .bind(email)
        .bind(until_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn sign_in_locked_until(
        &self,
        address: &str,
        email: &str,
    ) -> anyhow::Result<Option<i64>> {
        let until: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT locked_until_ms FROM sign_in_failures WHERE address = ? AND email = ?",
        )
        .bind(address)
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(until.flatten())
    }

    pub(crate) async fn clear_sign_in(&self, address: &str, email: &str) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        sqlx::query("DELETE FROM sign_in_failures WHERE address = ? AND email = ?")
            .bind(address)
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn prune_shared_limits(
        &self,
        before_ms: i64,
        now_ms: i64,
    ) -> anyhow::Result<u64> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        let a = sqlx::query("DELETE FROM rate_buckets WHERE updated_ms < ?")
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        let b = sqlx::query(
            "DELETE FROM sign_in_failures WHERE last_ms < ? AND COALESCE(locked_until_ms, 0) < ?",
        )
        .bind(before_ms)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(a.rows_affected() + b.rows_affected())
    }

    pub(crate) async fn beat(
        &self,
        instance: &str,
        now_ms: i64,
        forget_before_ms: i64,
    ) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO server_instances (id, started_ms, heartbeat_ms) VALUES (?1, ?2, ?2)
             ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms",
        )
        .bind(instance)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM server_instances WHERE heartbeat_ms < ?")
            .bind(forget_before_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn claim_job(&self, id: &str, owner: &str) -> anyhow::Result<bool> {
        let _w = self.write.lock().await;
        let claimed: Option<String> = sqlx::query_scalar(
            "UPDATE import_jobs SET owner = ?2 WHERE id = ?1 AND owner IS NULL AND state = 'queued'
             RETURNING id",
        )
        .bind(id)
        .bind(owner)
        .fetch_optional(&self.pool)
        .await?;
        Ok(claimed.is_some())
    }

    pub(crate) async fn unowned_queued_jobs(&self) -> anyhow::Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM import_jobs WHERE owner IS NULL AND state = 'queued' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub(crate) async fn fail_abandoned_jobs(
        &self,
        alive_since_ms: i64,
        unowned: &[String],
    ) -> anyhow::Result<Vec<String>> {
        let _w = self.write.lock().await;
        let (before, after) = INTERRUPTED;
        let ids = sqlx::query_scalar(
            "UPDATE import_jobs SET state = 'failed', finished_at = ?1,
               error = ?2 || done || ' of ' || COALESCE(total, '?') || ?3
             WHERE state IN ('queued', 'running') AND (
               (owner IS NOT NULL AND owner NOT IN
                 (SELECT id FROM server_instances WHERE heartbeat_ms >= ?4))
               OR (owner IS NULL AND (state = 'running'
                 OR id IN (SELECT value FROM json_each(?5)))))
             RETURNING id",
        )
        .bind(Timestamp::now().to_string())
        .bind(before)
        .bind(after)
        .bind(alive_since_ms)
        .bind(serde_json::to_string(unowned)?)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }
}

super::forward! {
    /// Takes a token from the bucket `b` at `now_ms`: `None` when there was one, else the
    /// milliseconds until there is. One statement, so concurrent takes from several
    /// processes are counted exactly.
    fn take_token(&self, b: Bucket<'_>, now_ms: i64) -> anyhow::Result<Option<i64>>;
    /// Gives back a token taken from `b` (an attempt that turned out not to count).
    fn refund_token(&self, b: Bucket<'_>) -> anyhow::Result<()>;
    /// Counts a failed sign-in for the pair at `now_ms` and returns the failures in a row
    /// (the count starts over when the last failure is `forget_ms` old).
    fn sign_in_failed(&self, address: &str, email: &str, now_ms: i64, forget_ms: i64) -> anyhow::Result<i64>;
    /// Locks the pair until `until_ms` (a longer lock already there stays).
    fn lock_sign_in(&self, address: &str, email: &str, until_ms: i64) -> anyhow::Result<()>;
    /// Until when the pair is locked, if it ever was.
    fn sign_in_locked_until(&self, address: &str, email: &str) -> anyhow::Result<Option<i64>>;
    /// Forgets the pair's failures (a successful sign-in).
    fn clear_sign_in(&self, address: &str, email: &str) -> anyhow::Result<()>;
    /// Deletes buckets untouched and failures not seen since `before_ms` (no lock left at
    /// `now_ms`); returns how many rows went.
    fn prune_shared_limits(&self, before_ms: i64, now_ms: i64) -> anyhow::Result<u64>;
    /// Records that the process `instance` is alive at `now_ms`; forgets the processes
    /// silent since `forget_before_ms`.
    fn beat(&self, instance: &str, now_ms: i64, forget_before_ms: i64) -> anyhow::Result<()>;
    /// The process `owner` takes the queued job `id` to run it; false when it was taken or
    /// is no longer queued (so a job runs once).
    fn claim_job(&self, id: &str, owner: &str) -> anyhow::Result<bool>;
    /// Queued jobs no process owns yet (one just created, or its process stopped before
    /// claiming it).
    fn unowned_queued_jobs(&self) -> anyhow::Result<Vec<String>>;
    /// Fails the unfinished jobs whose owner has not beaten since `alive_since_ms`, the
    /// running jobs without owner (from before owners were recorded), and the queued jobs in
    /// `unowned` that still have none (seen unowned a heartbeat ago: their process stopped
    /// between accepting and claiming them). Returns their ids.
    fn fail_abandoned_jobs(&self, alive_since_ms: i64, unowned: &[String]) -> anyhow::Result<Vec<String>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Store;

    /// The shared counters on SQLite.
    #[tokio::test]
    async fn buckets_failures_and_job_owners_in_sqlite() {
        crate::db::postgres::tests::on_sqlite(async |store, _| shared_counters(store).await).await;
    }

    /// The same on PostgreSQL, in a database of its own (`DISINFOX_TEST_POSTGRES_URL`, an
    /// administrator's URL; POSTGRES-ONLY without).
    #[tokio::test]
    async fn buckets_failures_and_job_owners_in_postgresql() {
        let Ok(admin_url) = std::env::var("DISINFOX_TEST_POSTGRES_URL") else {
            // Past libtest's capture, for scripts/test's summary; the PostgreSQL pass runs it.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "POSTGRES-ONLY buckets_failures_and_job_owners_in_postgresql: needs DISINFOX_TEST_POSTGRES_URL; run by the PostgreSQL pass"
            );
            return;
        };
        let name = format!("rep_unit_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        let store = Store::connect(&format!("{base}/{name}")).await.unwrap();
        let checked = tokio::spawn({
            let store = store.clone();
            async move { shared_counters(&store).await }
        })
        .await;
        store.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .execute(&admin)
        .await
        .unwrap();
        if let Err(e) = checked {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    async fn shared_counters(store: &Store) {
        let b = Bucket {
            name: "user",
            key: "7",
            capacity: 3,
            period_ms: 60_000,
        };
        for _ in 0..3 {
            assert_eq!(store.take_token(b, 1_000).await.unwrap(), None);
        }
        assert_eq!(store.take_token(b, 1_000).await.unwrap(), Some(20_000));
        let other = Bucket { key: "8", ..b };
        assert_eq!(
            store.take_token(other, 1_000).await.unwrap(),
            None,
            "per key"
        );
        assert_eq!(store.take_token(b, 21_000).await.unwrap(), None, "refilled");
        assert!(store.take_token(b, 21_000).await.unwrap().is_some());
        store.refund_token(b).await.unwrap();
        assert_eq!(store.take_token(b, 21_000).await.unwrap(), None, "refunded");

        for n in 1..=5 {
            let count = store
                .sign_in_failed("192.0.2.1", "a@example.org", 1_000 * n, 3_600_000)
                .await
                .unwrap();
            assert_eq!(count, n);
        }
        assert_eq!(
            store
                .sign_in_failed("192.0.2.1", "a@example.org", 10_000_000, 3_600_000)
                .await
                .unwrap(),
            1,
            "an hour later the count starts over"
        );
        store
            .lock_sign_in("192.0.2.1", "a@example.org", 50_000)
            .await
            .unwrap();
        store
            .lock_sign_in("192.0.2.1", "a@example.org", 40_000)
            .await
            .unwrap();
        assert_eq!(
            store
                .sign_in_locked_until("192.0.2.1", "a@example.org")
                .await
                .unwrap(),
            Some(50_000),
            "the longer lock stays"
        );
        store
            .clear_sign_in("192.0.2.1", "a@example.org")
            .await
            .unwrap();
        assert_eq!(
            store
                .sign_in_locked_until("192.0.2.1", "a@example.org")
                .await
                .unwrap(),
            None
        );
        assert_eq!(store.prune_shared_limits(30_000, 30_000).await.unwrap(), 2);

        let job = |n: u32| store.create_job(None, "x.csv", "csv", 1, 10, n);
        let owned = job(10).await.unwrap().unwrap();
        let unowned = job(10).await.unwrap().unwrap();
        assert!(store.claim_job(&owned.id, "a").await.unwrap());
        assert!(
            !store.claim_job(&owned.id, "b").await.unwrap(),
            "claimed once"
        );
        store.beat("a", 100_000, 0).await.unwrap();
        assert_eq!(
            store.unowned_queued_jobs().await.unwrap(),
            vec![unowned.id.clone()]
        );
        assert!(
            store
                .fail_abandoned_jobs(90_000, &[])
                .await
                .unwrap()
                .is_empty(),
            "the owner is alive and the unowned job is new"
        );
        let failed = store
            .fail_abandoned_jobs(110_000, std::slice::from_ref(&unowned.id))
            .await
            .unwrap();
        assert_eq!(failed.len(), 2, "{failed:?}");
        let j = store.job(&owned.id).await.unwrap().unwrap();
        assert!(j
            .error
            .unwrap()
            .starts_with("interrupted: the server stopped after 0 of ?"));
    }
}
