//! Users and their API keys (never a key itself: its hash, and its first characters).

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::Row;
use stix_model::Timestamp;

use super::Sqlite;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads.
    Reader,
    /// Reads and writes incidents.
    Analyst,
    /// Everything, including users.
    Admin,
}

impl Role {
    /// Parses `admin`, `analyst`, `reader`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "analyst" => Some(Self::Analyst),
            "reader" => Some(Self::Reader),
            _ => None,
        }
    }
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Analyst => "analyst",
            Self::Reader => "reader",
        }
    }
    /// Whether the role may write incidents.
    pub fn can_write(self) -> bool {
        self >= Self::Analyst
    }
}

/// A user (never with its password hash).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct User {
    /// Id.
    pub id: i64,
    /// E-mail address (the login).
    pub email: String,
    /// Role.
    pub role: Role,
    /// Creation time.
    pub created_at: String,
    /// Disabled users cannot sign in and their keys stop working.
    pub disabled: bool,
    /// A registration waiting for an administrator's approval: it cannot sign in yet.
    pub pending: bool,
}

/// An API key's metadata (never the key).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ApiKeyInfo {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// A name given at creation.
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    /// `read` or `write`.
    pub scope: String,
    /// Creation time.
    pub created_at: String,
    /// Last use.
    pub last_used_at: Option<String>,
    /// Revocation time.
    pub revoked_at: Option<String>,
}

/// Whether a key last used at `last_used_at` should have its use recorded `now`: at most once
/// a minute, to keep reads cheap.
pub(crate) fn key_use_is_stale(now: Timestamp, last_used_at: Option<&str>) -> bool {
    last_used_at
        .and_then(|t| Timestamp::parse(t).ok())
        .is_none_or(|t| {
            DateTime::<Utc>::from(now) - DateTime::<Utc>::from(t) >= TimeDelta::minutes(1)
        })
}

/// A key from its row (either backend).
pub(super) fn key_from_row<R>(r: &R) -> anyhow::Result<ApiKeyInfo>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ApiKeyInfo {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        scope: r.try_get("scope")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl Sqlite {
    /// Creates a user; `Ok(None)` when the e-mail is taken.
    pub(crate) async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
    ) -> anyhow::Result<Option<User>> {
        self.create_user_pending(email, password_hash, role, false)
            .await
    }

    /// Creates a user, waiting for approval when `pending`; `Ok(None)` when the e-mail is
    /// taken.
    pub(crate) async fn create_user_pending(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
        pending: bool,
    ) -> anyhow::Result<Option<User>> {
        let _w = self.write.lock().await;
        let now = Timestamp::now().to_string();
        let r = sqlx::query("INSERT INTO users (email, password_hash, role, created_at, pending) VALUES (?, ?, ?, ?, ?) ON CONFLICT (email) DO NOTHING RETURNING id")
            .bind(email)
            .bind(password_hash)
            .bind(role.as_str())
            .bind(&now)
            .bind(i64::from(pending))
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.map(|row| User {
            id: row.get(0),
            email: email.to_owned(),
            role,
            created_at: now,
            disabled: false,
            pending,
        }))
    }

    /// Approves a pending registration; false when there is no such pending user.
    pub(crate) async fn approve_user(&self, id: i64) -> anyhow::Result<bool> {
        self.change_pending_user(
            "UPDATE users SET pending = 0 WHERE id = ? AND pending = 1",
            id,
        )
        .await
    }

    /// Deletes a pending registration (rejected); false when there is no such pending user.
    pub(crate) async fn delete_pending_user(&self, id: i64) -> anyhow::Result<bool> {
        self.change_pending_user("DELETE FROM users WHERE id = ? AND pending = 1", id)
            .await
    }

    async fn change_pending_user(&self, sql: &'static str, id: i64) -> anyhow::Result<bool> {
        let _w = self.write.lock().await;
        let r = sqlx::query(sql).bind(id).execute(&self.pool).await?;
        Ok(r.rows_affected() == 1)
    }

    pub(super) fn user_from_row(row: &sqlx::sqlite::SqliteRow) -> anyhow::Result<User> {
        let role: String = row.try_get("role")?;
        Ok(User {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            role: Role::parse(&role).with_context(|| format!("stored role {role:?}"))?,
            created_at: row.try_get("created_at")?,
            disabled: row.try_get::<i64, _>("disabled")? != 0,
            pending: row.try_get::<i64, _>("pending")? != 0,
        })
    }

    /// A user and its password hash, by e-mail.
    pub(crate) async fn user_by_email(
        &self,
        email: &str,
    ) -> anyhow::Result<Option<(User, String)>> {
        let row = sqlx::query("SELECT id, email, role, created_at, disabled, pending, password_hash FROM users WHERE email = ?")
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((Self::user_from_row(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    /// A user by id.
    pub(crate) async fn user(&self, id: i64) -> anyhow::Result<Option<User>> {
        let row = sqlx::query(
            "SELECT id, email, role, created_at, disabled, pending FROM users WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Self::user_from_row(&r)).transpose()
    }

    /// Every user.
    pub(crate) async fn users(&self) -> anyhow::Result<Vec<User>> {
        let rows = sqlx::query(
            "SELECT id, email, role, created_at, disabled, pending FROM users ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::user_from_row).collect()
    }

    /// Changes a user's role and disabled flag.
    pub(crate) async fn update_user(
        &self,
        id: i64,
        role: Role,
        disabled: bool,
    ) -> anyhow::Result<bool> {
        let _w = self.write.lock().await;
        let r = sqlx::query("UPDATE users SET role = ?, disabled = ? WHERE id = ?")
            .bind(role.as_str())
            .bind(i64::from(disabled))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Sets a user's password hash.
    pub(crate) async fn set_password(&self, id: i64, hash: &str) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(hash)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The number of users.
    pub(crate) async fn user_count(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?
            .get(0))
    }

    /// Stores a new key's hash.
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

    /// Stores a new key's hash, unless the user holds `max_live` live keys already (`None`
    /// then); the count and the insert happen under the writer lock, so parallel requests
    /// cannot overshoot.
    pub(crate) async fn create_api_key_capped(
        &self,
        user_id: i64,
        name: &str,
        prefix: &str,
        hash: &[u8],
        scope: &str,
        max_live: Option<i64>,
    ) -> anyhow::Result<Option<ApiKeyInfo>> {
        let _w = self.write.lock().await;
        if let Some(max) = max_live {
            let live: i64 = sqlx::query(
                "SELECT COUNT(*) FROM api_keys WHERE user_id = ? AND revoked_at IS NULL",
            )
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
            if live >= max {
                return Ok(None);
            }
        }
        let now = Timestamp::now().to_string();
        let row = sqlx::query("INSERT INTO api_keys (user_id, name, prefix, hash, scope, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id")
            .bind(user_id)
            .bind(name)
            .bind(prefix)
            .bind(hash)
            .bind(scope)
            .bind(&now)
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(ApiKeyInfo {
            id: row.get(0),
            user_id,
            name: name.to_owned(),
            prefix: prefix.to_owned(),
            scope: scope.to_owned(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        }))
    }

    /// The live key with this hash and its (enabled) owner.
    pub(crate) async fn api_key_by_hash(
        &self,
        hash: &[u8],
    ) -> anyhow::Result<Option<(ApiKeyInfo, User)>> {
        let row = sqlx::query(
            "SELECT k.id, k.user_id, k.name, k.prefix, k.scope, k.created_at, k.last_used_at, k.revoked_at,
                    u.email, u.role, u.created_at AS user_created_at, u.disabled
             FROM api_keys k JOIN users u ON u.id = k.user_id
             WHERE k.hash = ? AND k.revoked_at IS NULL AND u.disabled = 0 AND u.pending = 0",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let key = key_from_row(&r)?;
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

    /// Whether a key with this hash was ever created: its id and whether it is revoked (or
    /// its user disabled).
    pub(crate) async fn api_key_status(&self, hash: &[u8]) -> anyhow::Result<Option<(i64, bool)>> {
        let row = sqlx::query(
            "SELECT k.id, k.revoked_at IS NOT NULL OR u.disabled <> 0 AS dead
             FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.hash = ?",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("id")?, r.try_get::<bool, _>("dead")?)),
            None => None,
        })
    }

    /// Records a key's use (at most once a minute, to keep reads cheap). Like every write, it
    /// takes the writer lock: a write between another transaction's read and its first write
    /// would make SQLite fail that transaction at once (SQLITE_BUSY, no busy wait in WAL mode).
    pub(crate) async fn touch_api_key(
        &self,
        id: i64,
        last_used_at: Option<&str>,
    ) -> anyhow::Result<()> {
        let now = Timestamp::now();
        if key_use_is_stale(now, last_used_at) {
            let _w = self.write.lock().await;
            sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
                .bind(now.to_string())
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Keys of a user, or of everyone.
    pub(crate) async fn api_keys(&self, user_id: Option<i64>) -> anyhow::Result<Vec<ApiKeyInfo>> {
        let rows = sqlx::query("SELECT id, user_id, name, prefix, scope, created_at, last_used_at, revoked_at FROM api_keys WHERE ?1 IS NULL OR user_id = ?1 ORDER BY id")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revokes a key (of the given user, unless `None`); false when there is no such live key.
    pub(crate) async fn revoke_api_key(
        &self,
        id: i64,
        user_id: Option<i64>,
    ) -> anyhow::Result<bool> {
        let _w = self.write.lock().await;
        let r = sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL AND (?3 IS NULL OR user_id = ?3)")
            .bind(Timestamp::now().to_string())
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }
}

super::forward! {
    /// Creates a user; `Ok(None)` when the e-mail is taken.
    fn create_user(&self, email: &str, password_hash: &str, role: Role) -> anyhow::Result<Option<User>>;
    /// Creates a user, waiting for approval when `pending`; `Ok(None)` when the e-mail is
    /// taken.
    fn create_user_pending(&self, email: &str, password_hash: &str, role: Role, pending: bool) -> anyhow::Result<Option<User>>;
    /// Approves a pending registration; false when there is no such pending user.
    fn approve_user(&self, id: i64) -> anyhow::Result<bool>;
    /// Deletes a pending registration (rejected); false when there is no such pending user.
    fn delete_pending_user(&self, id: i64) -> anyhow::Result<bool>;
    /// A user and its password hash, by e-mail.
    fn user_by_email(&self, email: &str) -> anyhow::Result<Option<(User, String)>>;
    /// A user by id.
    fn user(&self, id: i64) -> anyhow::Result<Option<User>>;
    /// Every user.
    fn users(&self) -> anyhow::Result<Vec<User>>;
    /// Changes a user's role and disabled flag.
    fn update_user(&self, id: i64, role: Role, disabled: bool) -> anyhow::Result<bool>;
    /// Sets a user's password hash.
    fn set_password(&self, id: i64, hash: &str) -> anyhow::Result<()>;
    /// The number of users.
    fn user_count(&self) -> anyhow::Result<i64>;
    /// Stores a new key's hash.
    fn create_api_key(&self, user_id: i64, name: &str, prefix: &str, hash: &[u8], scope: &str) -> anyhow::Result<ApiKeyInfo>;
    /// Stores a new key's hash, unless the user holds `max_live` live keys already (`None`
    /// then); the count and the insert happen under the writer lock, so parallel requests
    /// cannot overshoot.
    fn create_api_key_capped(&self, user_id: i64, name: &str, prefix: &str, hash: &[u8], scope: &str, max_live: Option<i64>) -> anyhow::Result<Option<ApiKeyInfo>>;
    /// The live key with this hash and its (enabled) owner.
    fn api_key_by_hash(&self, hash: &[u8]) -> anyhow::Result<Option<(ApiKeyInfo, User)>>;
    /// Whether a key with this hash was ever created: its id and whether it is revoked (or
    /// its user disabled).
    fn api_key_status(&self, hash: &[u8]) -> anyhow::Result<Option<(i64, bool)>>;
    /// Records a key's use (at most once a minute, to keep reads cheap). Like every write, it
    /// takes the writer lock: a write between another transaction's read and its first write
    /// would make SQLite fail that transaction at once (SQLITE_BUSY, no busy wait in WAL mode).
    fn touch_api_key(&self, id: i64, last_used_at: Option<&str>) -> anyhow::Result<()>;
    /// Keys of a user, or of everyone.
    fn api_keys(&self, user_id: Option<i64>) -> anyhow::Result<Vec<ApiKeyInfo>>;
    /// Revokes a key (of the given user, unless `None`); false when there is no such live key.
    fn revoke_api_key(&self, id: i64, user_id: Option<i64>) -> anyhow::Result<bool>;
}
