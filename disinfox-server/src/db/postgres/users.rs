//! PostgreSQL: users and their API keys (see [`crate::db::users`]).

use anyhow::Context;
use sqlx::postgres::PgRow;
use sqlx::Row;
use stix_model::Timestamp;

use super::Postgres;
use crate::db::users::{key_use_is_stale, ApiKeyInfo, Role, User};

/// The advisory lock taken by [`Postgres::create_api_key_capped`] with a cap: counting a
/// user's live keys and inserting one is then one step across every server process.
const LOCK_API_KEYS: i64 = super::lock_id(2);

impl Postgres {
    pub(crate) async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
    ) -> anyhow::Result<Option<User>> {
        self.create_user_pending(email, password_hash, role, false)
            .await
    }

    pub(crate) async fn create_user_pending(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
        pending: bool,
    ) -> anyhow::Result<Option<User>> {
        let now = Timestamp::now().to_string();
        let r = sqlx::query("INSERT INTO users (email, password_hash, role, created_at, pending) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING RETURNING id")
            .bind(email)
            .bind(password_hash)
            .bind(role.as_str())
            .bind(&now)
            .bind(pending)
            .fetch_optional(&self.pool)
            .await?;
        r.map(|row| {
            Ok(User {
                id: row.try_get(0)?,
                email: email.to_owned(),
                role,
                created_at: now,
                disabled: false,
                pending,
            })
        })
        .transpose()
    }

    pub(crate) async fn approve_user(&self, id: i64) -> anyhow::Result<bool> {
        self.change_pending_user(
            "UPDATE users SET pending = FALSE WHERE id = $1 AND pending",
            id,
        )
        .await
    }

    pub(crate) async fn delete_pending_user(&self, id: i64) -> anyhow::Result<bool> {
        self.change_pending_user("DELETE FROM users WHERE id = $1 AND pending", id)
            .await
    }

    async fn change_pending_user(&self, sql: &'static str, id: i64) -> anyhow::Result<bool> {
        let r = sqlx::query(sql).bind(id).execute(&self.pool).await?;
        Ok(r.rows_affected() == 1)
    }

    pub(super) fn user_from_row(row: &PgRow) -> anyhow::Result<User> {
        let role: String = row.try_get("role")?;
        Ok(User {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            role: Role::parse(&role).with_context(|| format!("stored role {role:?}"))?,
            created_at: row.try_get("created_at")?,
            disabled: row.try_get("disabled")?,
            pending: row.try_get("pending")?,
        })
    }

    pub(crate) async fn user_by_email(
        &self,
        email: &str,
    ) -> anyhow::Result<Option<(User, String)>> {
        let row = sqlx::query("SELECT id, email, role, created_at, disabled, pending, password_hash FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((Self::user_from_row(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    pub(crate) async fn user(&self, id: i64) -> anyhow::Result<Option<User>> {
        let row = sqlx::query(
            "SELECT id, email, role, created_at, disabled, pending FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Self::user_from_row(&r)).transpose()
    }

    pub(crate) async fn users(&self) -> anyhow::Result<Vec<User>> {
        let rows = sqlx::query(
            "SELECT id, email, role, created_at, disabled, pending FROM users ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::user_from_row).collect()
    }

    pub(crate) async fn update_user(
        &self,
        id: i64,
        role: Role,
        disabled: bool,
    ) -> anyhow::Result<bool> {
        let r = sqlx::query("UPDATE users SET role = $1, disabled = $2 WHERE id = $3")
            .bind(role.as_str())
            .bind(disabled)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn set_password(&self, id: i64, hash: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn user_count(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    pub(crate) async fn create_api_key(
        &self,
        user_id: i64,
        name: &str,
        prefix: &str,
        hash: &[u8],
        scope: &str,
    ) -> anyhow::Result<ApiKeyInfo> {
        self.create_api_key_capped(user_id, name, prefix, hash, scope, None)
            .await?
            .context("storing an API key")
    }

    /// With a cap, the count and the insert run in one transaction holding an advisory lock
    /// ([`LOCK_API_KEYS`]), so parallel requests, on any server process, cannot overshoot.
    pub(crate) async fn create_api_key_capped(
        &self,
        user_id: i64,
        name: &str,
        prefix: &str,
        hash: &[u8],
        scope: &str,
        max_live: Option<i64>,
    ) -> anyhow::Result<Option<ApiKeyInfo>> {
        let mut tx = self.pool.begin().await?;
        if let Some(max) = max_live {
            super::advisory_lock(&mut tx, LOCK_API_KEYS).await?;
            let live: i64 = sqlx::query(
                "SELECT COUNT(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL",
            )
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            if live >= max {
                return Ok(None);
            }
        }
        let now = Timestamp::now().to_string();
        let row = sqlx::query("INSERT INTO api_keys (user_id, name, prefix, hash, scope, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
            .bind(user_id)
            .bind(name)
            .bind(prefix)
            .bind(hash)
            .bind(scope)
            .bind(&now)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(ApiKeyInfo {
            id: row.try_get(0)?,
            user_id,
            name: name.to_owned(),
            prefix: prefix.to_owned(),
            scope: scope.to_owned(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        }))
    }

    pub(crate) async fn api_key_by_hash(
        &self,
        hash: &[u8],
    ) -> anyhow::Result<Option<(ApiKeyInfo, User)>> {
        let row = sqlx::query(
            "SELECT k.id, k.user_id, k.name, k.prefix, k.scope, k.created_at, k.last_used_at, k.revoked_at,
                    u.email, u.role, u.created_at AS user_created_at
             FROM api_keys k JOIN users u ON u.id = k.user_id
             WHERE k.hash = $1 AND k.revoked_at IS NULL AND NOT u.disabled AND NOT u.pending",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let key = crate::db::users::key_from_row(&r)?;
        let role: String = r.try_get("role")?;
        let user = User {
            id: key.user_id,
            email: r.try_get("email")?,
            role: Role::parse(&role).with_context(|| format!("stored role {role:?}"))?,
            created_at: r.try_get("user_created_at")?,
            disabled: false,
            pending: false,
        };
        Ok(Some((key, user)))
    }

    pub(crate) async fn api_key_status(&self, hash: &[u8]) -> anyhow::Result<Option<(i64, bool)>> {
        let row = sqlx::query(
            "SELECT k.id, k.revoked_at IS NOT NULL OR u.disabled AS dead
             FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("id")?, r.try_get::<bool, _>("dead")?)),
            None => None,
        })
    }

    pub(crate) async fn touch_api_key(
        &self,
        id: i64,
        last_used_at: Option<&str>,
    ) -> anyhow::Result<()> {
        let now = Timestamp::now();
        if key_use_is_stale(now, last_used_at) {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now.to_string())
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn api_keys(&self, user_id: Option<i64>) -> anyhow::Result<Vec<ApiKeyInfo>> {
        let rows = sqlx::query("SELECT id, user_id, name, prefix, scope, created_at, last_used_at, revoked_at FROM api_keys WHERE $1::BIGINT IS NULL OR user_id = $1 ORDER BY id")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(crate::db::users::key_from_row).collect()
    }

    pub(crate) async fn revoke_api_key(
        &self,
        id: i64,
        user_id: Option<i64>,
    ) -> anyhow::Result<bool> {
        let r = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL AND ($3::BIGINT IS NULL OR user_id = $3)")
            .bind(Timestamp::now().to_string())
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }
}
