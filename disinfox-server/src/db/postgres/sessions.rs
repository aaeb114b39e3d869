//! PostgreSQL: browser sessions (see [`crate::db::sessions`]).

use chrono::{DateTime, Utc};
use sqlx::Row;
use stix_model::Timestamp;

use super::Postgres;
use crate::db::User;

impl Postgres {
    pub(crate) async fn create_session(
        &self,
        id_hash: &[u8],
        user_id: i64,
        csrf: &str,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let now = Timestamp::now();
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(Utc::now().timestamp())
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id_hash)
            .bind(user_id)
            .bind(csrf)
            .bind(now.to_string())
            .bind(expires_at.timestamp())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn session(&self, id_hash: &[u8]) -> anyhow::Result<Option<(User, String)>> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.role, u.created_at, u.disabled, u.pending, s.csrf
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND NOT u.disabled AND NOT u.pending",
        )
        .bind(id_hash)
        .bind(Utc::now().timestamp())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((Self::user_from_row(&r)?, r.try_get("csrf")?)))
            .transpose()
    }

    pub(crate) async fn delete_session(&self, id_hash: &[u8]) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn delete_user_sessions(
        &self,
        user_id: i64,
        keep: Option<&[u8]>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1 AND ($2::BYTEA IS NULL OR id_hash <> $2)",
        )
        .bind(user_id)
        .bind(keep)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
