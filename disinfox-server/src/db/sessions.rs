//! Browser sessions (the hash of each session id, its user and its CSRF token).

use chrono::{DateTime, Utc};
use sqlx::Row;
use stix_model::Timestamp;

use super::{Sqlite, User};

impl Sqlite {
    /// Stores a new browser session (the hash of its id) and removes expired ones.
    pub(crate) async fn create_session(
        &self,
        id_hash: &[u8],
        user_id: i64,
        csrf: &str,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        let now = Timestamp::now();
        sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(Utc::now().timestamp())
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(id_hash)
            .bind(user_id)
            .bind(csrf)
            .bind(now.to_string())
            .bind(expires_at.timestamp())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The live session with this id hash: its (enabled) user and CSRF token.
    pub(crate) async fn session(&self, id_hash: &[u8]) -> anyhow::Result<Option<(User, String)>> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.role, u.created_at, u.disabled, u.pending, s.csrf
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id_hash = ? AND s.expires_at > ? AND u.disabled = 0 AND u.pending = 0",
        )
        .bind(id_hash)
        .bind(Utc::now().timestamp())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((Self::user_from_row(&r)?, r.try_get("csrf")?)))
            .transpose()
    }

    /// Ends a session.
    pub(crate) async fn delete_session(&self, id_hash: &[u8]) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session of a user but `keep` (after a password change or when disabled).
    pub(crate) async fn delete_user_sessions(
        &self,
        user_id: i64,
        keep: Option<&[u8]>,
    ) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        sqlx::query("DELETE FROM sessions WHERE user_id = ? AND (?2 IS NULL OR id_hash != ?2)")
            .bind(user_id)
            .bind(keep)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

super::forward! {
    /// Stores a new browser session (the hash of its id) and removes expired ones.
    fn create_session(&self, id_hash: &[u8], user_id: i64, csrf: &str, expires_at: DateTime<Utc>) -> anyhow::Result<()>;
    /// The live session with this id hash: its (enabled) user and CSRF token.
    fn session(&self, id_hash: &[u8]) -> anyhow::Result<Option<(User, String)>>;
    /// Ends a session.
    fn delete_session(&self, id_hash: &[u8]) -> anyhow::Result<()>;
    /// Ends every session of a user but `keep` (after a password change or when disabled).
    fn delete_user_sessions(&self, user_id: i64, keep: Option<&[u8]>) -> anyhow::Result<()>;
}
