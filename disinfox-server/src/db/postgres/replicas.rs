//! PostgreSQL: what several server processes share (see [`crate::db::replicas`]). Each
//! counter is one `INSERT … ON CONFLICT DO UPDATE … RETURNING`: the row lock PostgreSQL takes
//! on the conflicting row makes concurrent takes from several processes wait for each other
//! and count exactly.

use stix_model::Timestamp;

use super::Postgres;
use crate::db::replicas::{Bucket, INTERRUPTED};

impl Postgres {
    pub(crate) async fn take_token(
        &self,
        b: Bucket<'_>,
        now_ms: i64,
    ) -> anyhow::Result<Option<i64>> {
        // The refill since the last take, capped at the capacity; a token taken if whole.
        let (tokens, granted): (f64, bool) = sqlx::query_as(
            "INSERT INTO rate_buckets AS r (name, key, tokens, updated_ms, granted)
             VALUES ($1, $2, $3 - 1, $5, TRUE)
             ON CONFLICT (name, key) DO UPDATE SET
               tokens = LEAST($3, r.tokens + GREATEST(0, $5 - r.updated_ms) * $4)
                 - CASE WHEN LEAST($3, r.tokens + GREATEST(0, $5 - r.updated_ms) * $4) >= 1
                        THEN 1 ELSE 0 END,
               granted = LEAST($3, r.tokens + GREATEST(0, $5 - r.updated_ms) * $4) >= 1,
               updated_ms = GREATEST(r.updated_ms, $5)
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
        sqlx::query(
            "UPDATE rate_buckets SET tokens = LEAST($3, tokens + 1) WHERE name = $1 AND key = $2",
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
        let count: i32 = sqlx::query_scalar(
            "INSERT INTO sign_in_failures AS f (address, email, count, last_ms)
             VALUES ($1, $2, 1, $3)
             ON CONFLICT (address, email) DO UPDATE SET
               count = CASE WHEN $3 - f.last_ms >= $4 THEN 1 ELSE f.count + 1 END,
               last_ms = GREATEST(f.last_ms, $3)
             RETURNING count",
        )
        .bind(address)
        .bind(email)
        .bind(now_ms)
        .bind(forget_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(i64::from(count))
    }

    pub(crate) async fn lock_sign_in(
        &self,
        address: &str,
        email: &str,
        until_ms: i64,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE sign_in_failures SET locked_until_ms = GREATEST(COALESCE(locked_until_ms, 0), $3)
             WHERE address = $1 AND email = $2",
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
            "SELECT locked_until_ms FROM sign_in_failures WHERE address = $1 AND email = $2",
        )
        .bind(address)
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(until.flatten())
    }

    pub(crate) async fn clear_sign_in(&self, address: &str, email: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE address = $1 AND email = $2")
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
        let mut tx = self.pool.begin().await?;
        let a = sqlx::query("DELETE FROM rate_buckets WHERE updated_ms < $1")
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        let b = sqlx::query(
            "DELETE FROM sign_in_failures WHERE last_ms < $1 AND COALESCE(locked_until_ms, 0) < $2",
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
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO server_instances (id, started_ms, heartbeat_ms) VALUES ($1, $2, $2)
             ON CONFLICT (id) DO UPDATE SET heartbeat_ms = EXCLUDED.heartbeat_ms",
        )
        .bind(instance)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM server_instances WHERE heartbeat_ms < $1")
            .bind(forget_before_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn claim_job(&self, id: &str, owner: &str) -> anyhow::Result<bool> {
        // The row lock of the UPDATE: of two processes claiming at once, the second sees the
        // owner the first wrote and claims nothing.
        let claimed: Option<String> = sqlx::query_scalar(
            "UPDATE import_jobs SET owner = $2 WHERE id = $1 AND owner IS NULL AND state = 'queued'
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
        let (before, after) = INTERRUPTED;
        let ids = sqlx::query_scalar(
            "UPDATE import_jobs SET state = 'failed', finished_at = $1,
               error = $2 || done || ' of ' || COALESCE(total::text, '?') || $3
             WHERE state IN ('queued', 'running') AND (
               (owner IS NOT NULL AND owner NOT IN
                 (SELECT id FROM server_instances WHERE heartbeat_ms >= $4))
               OR (owner IS NULL AND (state = 'running' OR id = ANY($5))))
             RETURNING id",
        )
        .bind(Timestamp::now().to_string())
        .bind(before)
        .bind(after)
        .bind(alive_since_ms)
        .bind(unowned)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }
}
