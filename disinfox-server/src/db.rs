//! Storage: the one seam between the handlers and the database.
//!
//! [`Store`] owns the connection pool and offers every operation the server needs. The
//! handlers never write SQL; a PostgreSQL backend is a second implementation of these methods.
//!
//! SQLite is used in WAL mode with foreign keys on. Writes are serialised by a mutex (SQLite has
//! one writer anyway), which also makes the change sequence and the change times strictly
//! increasing in commit order: a reader that saw change `n` has seen every change before it.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Row, SqlitePool};
use stix_model::{Identifier, Timestamp};
use tokio::sync::Mutex;

use crate::model::{Incident, IncidentInput};

pub mod audit;
pub mod backup;
pub mod collection;
pub mod jobs;

pub use collection::CollectionEntry;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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

/// A stored incident.
#[derive(Debug, Clone)]
pub struct StoredIncident {
    /// STIX id, kept for life.
    pub id: Identifier,
    /// Creation time.
    pub created: Timestamp,
    /// Time of the current version.
    pub modified: Timestamp,
    /// Deleted incidents are kept revoked.
    pub revoked: bool,
    /// Position in the change log of the latest change.
    pub change_seq: i64,
    /// Server time of the latest change (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
    pub changed_at: String,
    /// The content.
    pub incident: Incident,
}

/// Filters of the incident list.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Full-text query over names and descriptions.
    pub q: Option<String>,
    /// Target country code.
    pub country: Option<String>,
    /// Actor name.
    pub actor: Option<String>,
    /// Technique id.
    pub technique: Option<String>,
    /// Tactic short name.
    pub tactic: Option<String>,
    /// Channel.
    pub channel: Option<String>,
    /// Earliest date (`YYYY-MM-DD`), on first seen or else created.
    pub from: Option<String>,
    /// Latest date.
    pub to: Option<String>,
    /// Only incidents whose latest change comes after this sequence number (keyset paging).
    pub after_seq: Option<i64>,
}

/// Sort order of the incident list (allow-listed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Newest change first.
    #[default]
    Modified,
    /// By creation.
    Created,
    /// By date (first seen).
    Date,
    /// By name.
    Name,
}

/// A count per key.
#[derive(Debug, Clone, Serialize)]
pub struct Count {
    /// The key (technique id, actor, country code, channel).
    pub key: String,
    /// How many incidents.
    pub count: i64,
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    write: Arc<Mutex<()>>,
}

/// The last change at or before a time: change times increase with the sequence, so the
/// newest such change is one index search (`changes_at`), not a scan of the log.
pub(crate) const SQL_SEQ_AT: &str =
    "SELECT seq FROM changes WHERE at <= ? ORDER BY at DESC LIMIT 1";

/// Current time in the change-log format, with microseconds.
pub fn micros_text(t: &Timestamp) -> String {
    t.with_digits(6).to_string()
}

fn parse_ts(s: &str) -> anyhow::Result<Timestamp> {
    Timestamp::parse(s).with_context(|| format!("stored timestamp {s:?}"))
}

impl Store {
    /// Opens (and creates, with its schema) the database.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() && path != ":memory:" {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating data directory {}", dir.display()))?;
                }
            }
        }
        let opts = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("database URL {url}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await
            .with_context(|| format!("opening {url}"))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("running database migrations")?;
        let store = Self {
            pool,
            write: Arc::new(Mutex::new(())),
        };
        store
            .backfill_collection()
            .await
            .context("filling the TAXII collection tables")?;
        store
            .index_collection_objects()
            .await
            .context("indexing the objects of the TAXII collection")?;
        Ok(store)
    }

    /// The pool (for health checks).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection, once the ones in use are given back.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- users -------------------------------------------------------------------------

    /// Creates a user; `Ok(None)` when the e-mail is taken.
    pub async fn create_user(
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
    pub async fn create_user_pending(
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
    pub async fn approve_user(&self, id: i64) -> anyhow::Result<bool> {
        self.change_pending_user(
            "UPDATE users SET pending = 0 WHERE id = ? AND pending = 1",
            id,
        )
        .await
    }

    /// Deletes a pending registration (rejected); false when there is no such pending user.
    pub async fn delete_pending_user(&self, id: i64) -> anyhow::Result<bool> {
        self.change_pending_user("DELETE FROM users WHERE id = ? AND pending = 1", id)
            .await
    }

    async fn change_pending_user(&self, sql: &'static str, id: i64) -> anyhow::Result<bool> {
        let _w = self.write.lock().await;
        let r = sqlx::query(sql).bind(id).execute(&self.pool).await?;
        Ok(r.rows_affected() == 1)
    }

    fn user_from_row(row: &sqlx::sqlite::SqliteRow) -> anyhow::Result<User> {
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
    pub async fn user_by_email(&self, email: &str) -> anyhow::Result<Option<(User, String)>> {
        let row = sqlx::query("SELECT id, email, role, created_at, disabled, pending, password_hash FROM users WHERE email = ?")
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((Self::user_from_row(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    /// A user by id.
    pub async fn user(&self, id: i64) -> anyhow::Result<Option<User>> {
        let row = sqlx::query(
            "SELECT id, email, role, created_at, disabled, pending FROM users WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Self::user_from_row(&r)).transpose()
    }

    /// Every user.
    pub async fn users(&self) -> anyhow::Result<Vec<User>> {
        let rows = sqlx::query(
            "SELECT id, email, role, created_at, disabled, pending FROM users ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::user_from_row).collect()
    }

    /// Changes a user's role and disabled flag.
    pub async fn update_user(&self, id: i64, role: Role, disabled: bool) -> anyhow::Result<bool> {
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
    pub async fn set_password(&self, id: i64, hash: &str) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(hash)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The number of users.
    pub async fn user_count(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?
            .get(0))
    }

    // ---- API keys ----------------------------------------------------------------------

    /// Stores a new key's hash.
    pub async fn create_api_key(
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
    pub async fn create_api_key_capped(
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

    fn key_from_row(r: &sqlx::sqlite::SqliteRow) -> anyhow::Result<ApiKeyInfo> {
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

    /// The live key with this hash and its (enabled) owner.
    pub async fn api_key_by_hash(&self, hash: &[u8]) -> anyhow::Result<Option<(ApiKeyInfo, User)>> {
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
        let key = Self::key_from_row(&r)?;
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
    pub async fn api_key_status(&self, hash: &[u8]) -> anyhow::Result<Option<(i64, bool)>> {
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
    pub async fn touch_api_key(&self, id: i64, last_used_at: Option<&str>) -> anyhow::Result<()> {
        let now = Timestamp::now();
        let stale = last_used_at
            .and_then(|t| Timestamp::parse(t).ok())
            .is_none_or(|t| now.unix_seconds() - t.unix_seconds() >= 60);
        if stale {
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
    pub async fn api_keys(&self, user_id: Option<i64>) -> anyhow::Result<Vec<ApiKeyInfo>> {
        let rows = sqlx::query("SELECT id, user_id, name, prefix, scope, created_at, last_used_at, revoked_at FROM api_keys WHERE ?1 IS NULL OR user_id = ?1 ORDER BY id")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::key_from_row).collect()
    }

    /// Revokes a key (of the given user, unless `None`); false when there is no such live key.
    pub async fn revoke_api_key(&self, id: i64, user_id: Option<i64>) -> anyhow::Result<bool> {
        let _w = self.write.lock().await;
        let r = sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL AND (?3 IS NULL OR user_id = ?3)")
            .bind(Timestamp::now().to_string())
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    // ---- browser sessions --------------------------------------------------------------

    /// Stores a new browser session (the hash of its id) and removes expired ones.
    pub async fn create_session(
        &self,
        id_hash: &[u8],
        user_id: i64,
        csrf: &str,
        expires_at: i64,
    ) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        let now = Timestamp::now();
        sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now.unix_seconds())
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(id_hash)
            .bind(user_id)
            .bind(csrf)
            .bind(now.to_string())
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The live session with this id hash: its (enabled) user and CSRF token.
    pub async fn session(&self, id_hash: &[u8]) -> anyhow::Result<Option<(User, String)>> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.role, u.created_at, u.disabled, u.pending, s.csrf
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id_hash = ? AND s.expires_at > ? AND u.disabled = 0 AND u.pending = 0",
        )
        .bind(id_hash)
        .bind(Timestamp::now().unix_seconds())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((Self::user_from_row(&r)?, r.try_get("csrf")?)))
            .transpose()
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &[u8]) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session of a user but `keep` (after a password change or when disabled).
    pub async fn delete_user_sessions(
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

    // ---- incidents ---------------------------------------------------------------------

    fn incident_from_row(r: &sqlx::sqlite::SqliteRow) -> anyhow::Result<StoredIncident> {
        let id: String = r.try_get("id")?;
        let data: String = r.try_get("data")?;
        Ok(StoredIncident {
            id: Identifier::parse(id.as_str()).with_context(|| format!("stored id {id:?}"))?,
            created: parse_ts(&r.try_get::<String, _>("created")?)?,
            modified: parse_ts(&r.try_get::<String, _>("modified")?)?,
            revoked: r.try_get::<i64, _>("revoked")? != 0,
            change_seq: r.try_get("change_seq")?,
            changed_at: r.try_get("changed_at")?,
            incident: Incident::from_stored(
                serde_json::from_str(&data).with_context(|| format!("stored incident {id}"))?,
            ),
        })
    }

    const COLUMNS: &'static str = "id, created, modified, revoked, change_seq, changed_at, data";

    /// An incident by STIX id (revoked ones too).
    pub async fn incident(&self, id: &str) -> anyhow::Result<Option<StoredIncident>> {
        Self::incident_with(&self.pool, id).await
    }

    /// [`Store::incident`] through a pool or inside a transaction.
    pub(crate) async fn incident_with<'e>(
        ex: impl sqlx::SqliteExecutor<'e>,
        id: &str,
    ) -> anyhow::Result<Option<StoredIncident>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM incidents WHERE id = ?",
            Self::COLUMNS
        )))
        .bind(id)
        .fetch_optional(ex)
        .await?;
        row.map(|r| Self::incident_from_row(&r)).transpose()
    }

    /// Creates or replaces an incident; returns the stored version. `created` is only used
    /// for a new incident; `modified` defaults to now and is kept strictly after the previous
    /// version's.
    pub async fn save_incident(
        &self,
        id: &Identifier,
        incident: &Incident,
        created: Timestamp,
        modified: Option<Timestamp>,
        user_id: Option<i64>,
    ) -> anyhow::Result<StoredIncident> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        let stored = self
            .write_incident(&mut tx, id, incident, created, modified, user_id)
            .await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// [`Store::save_incident`] inside a transaction the caller holds (with the writer lock).
    pub(crate) async fn write_incident(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        id: &Identifier,
        incident: &Incident,
        created: Timestamp,
        modified: Option<Timestamp>,
        user_id: Option<i64>,
    ) -> anyhow::Result<StoredIncident> {
        let existing = sqlx::query("SELECT created, modified FROM incidents WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
        let (created, action, modified) = match &existing {
            Some(r) => {
                let c = parse_ts(&r.try_get::<String, _>("created")?)?;
                let prev = parse_ts(&r.try_get::<String, _>("modified")?)?;
                let m = next_modified(modified.unwrap_or_else(Timestamp::now), prev);
                (c, "update", m)
            }
            None => {
                let m = modified.unwrap_or(created).max(created).at_least_millis();
                (created.at_least_millis(), "create", m)
            }
        };
        let (seq, at) = self.next_change(tx, id.as_str(), action, user_id).await?;
        let data = serde_json::to_string(incident)?;
        let first_seen = incident.date_key(&created);
        sqlx::query(
            "INSERT INTO incidents (id, name, description, created, modified, first_seen, last_seen, data, revoked, change_seq, changed_at, created_by)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
               modified = excluded.modified, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
               data = excluded.data, revoked = 0, change_seq = excluded.change_seq, changed_at = excluded.changed_at",
        )
        .bind(id.as_str())
        .bind(&incident.input.name)
        .bind(&incident.input.description)
        .bind(created.to_string())
        .bind(modified.to_string())
        .bind(&first_seen)
        .bind(&incident.input.last_seen)
        .bind(&data)
        .bind(seq)
        .bind(&at)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
        for table in [
            "incident_techniques",
            "incident_actors",
            "incident_countries",
            "incident_channels",
        ] {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE incident_id = ?"
            )))
            .bind(id.as_str())
            .execute(&mut **tx)
            .await?;
        }
        let catalogue =
            stix_model::disarm::Catalogue::builtin(stix_model::disarm::DisarmVersion::V1_7);
        let fallback =
            stix_model::disarm::Catalogue::builtin(stix_model::disarm::DisarmVersion::V1_6);
        // One set-based insert per facet table (SQLite's json_each over a list of rows).
        let techniques: Vec<(&String, String)> = incident
            .input
            .techniques
            .iter()
            .map(|t| {
                let tactic = catalogue
                    .technique(t)
                    .or_else(|| fallback.technique(t))
                    .map(|x| x.tactic.clone())
                    .unwrap_or_default();
                (t, tactic)
            })
            .collect();
        let actors = incident.actor_names();
        let countries: Vec<(&String, &str)> = incident
            .input
            .target_countries
            .iter()
            .map(|c| (c, "target"))
            .chain(
                incident
                    .input
                    .country_of_origin
                    .iter()
                    .map(|c| (c, "origin")),
            )
            .collect();
        let facets: [(&str, String, usize); 4] = [
            (
                "INSERT OR IGNORE INTO incident_techniques (incident_id, technique, tactic)
                 SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?2)",
                serde_json::to_string(&techniques)?,
                techniques.len(),
            ),
            (
                "INSERT OR IGNORE INTO incident_actors (incident_id, actor)
                 SELECT ?1, value FROM json_each(?2)",
                serde_json::to_string(&actors)?,
                actors.len(),
            ),
            (
                "INSERT OR IGNORE INTO incident_countries (incident_id, country, role)
                 SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?2)",
                serde_json::to_string(&countries)?,
                countries.len(),
            ),
            (
                "INSERT OR IGNORE INTO incident_channels (incident_id, channel)
                 SELECT ?1, value FROM json_each(?2)",
                serde_json::to_string(&incident.input.channels)?,
                incident.input.channels.len(),
            ),
        ];
        for (sql, rows, n) in facets {
            if n > 0 {
                sqlx::query(sql)
                    .bind(id.as_str())
                    .bind(rows)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Self::record_collection_refs(tx, id.as_str(), Some(incident), seq, &at).await?;
        Ok(StoredIncident {
            id: id.clone(),
            created,
            modified,
            revoked: false,
            change_seq: seq,
            changed_at: at,
            incident: incident.clone(),
        })
    }

    /// Appends to the change log; returns the sequence number and a change time strictly
    /// after the previous one (whatever the wall clock does).
    async fn next_change(
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
        let now = Timestamp::now();
        let now = Timestamp::from_unix_nanos(now.unix_seconds(), now.subsec_nanos(), 6);
        let at = match last.as_deref().map(Timestamp::parse) {
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
        let at = micros_text(&at);
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

    /// Deletes an incident: it stays, revoked, with a new version, so consumers learn of it.
    pub async fn revoke_incident(
        &self,
        id: &str,
        user_id: Option<i64>,
    ) -> anyhow::Result<Option<StoredIncident>> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        if self.write_revocation(&mut tx, id, user_id).await?.is_none() {
            return Ok(None);
        }
        tx.commit().await?;
        self.incident(id).await
    }

    /// Revokes a live incident inside a transaction the caller holds (with the writer lock):
    /// the change's sequence number, or `None` when there is no such live incident.
    pub(crate) async fn write_revocation(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        id: &str,
        user_id: Option<i64>,
    ) -> anyhow::Result<Option<i64>> {
        let row = sqlx::query("SELECT modified FROM incidents WHERE id = ? AND revoked = 0")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let prev = parse_ts(&row.try_get::<String, _>("modified")?)?;
        let modified = next_modified(Timestamp::now(), prev);
        let (seq, at) = self.next_change(tx, id, "delete", user_id).await?;
        sqlx::query("UPDATE incidents SET revoked = 1, modified = ?, change_seq = ?, changed_at = ? WHERE id = ?")
            .bind(modified.to_string())
            .bind(seq)
            .bind(&at)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        Self::record_collection_refs(tx, id, None, seq, &at).await?;
        Ok(Some(seq))
    }

    fn filter_sql(f: &IncidentFilter, sql: &mut String, args: &mut Vec<String>) {
        sql.push_str(" WHERE i.revoked = 0");
        if let Some(q) = f.q.as_deref().map(fts_query).filter(|q| !q.is_empty()) {
            sql.push_str(
                " AND i.rowid IN (SELECT rowid FROM incidents_fts WHERE incidents_fts MATCH ?)",
            );
            args.push(q);
        }
        let facets: [(&Option<String>, &str); 5] = [
            (
                &f.country,
                "SELECT incident_id FROM incident_countries WHERE country = ? AND role = 'target'",
            ),
            (
                &f.actor,
                "SELECT incident_id FROM incident_actors WHERE actor = ?",
            ),
            (
                &f.technique,
                "SELECT incident_id FROM incident_techniques WHERE technique = ?",
            ),
            (
                &f.tactic,
                "SELECT incident_id FROM incident_techniques WHERE tactic = ?",
            ),
            (
                &f.channel,
                "SELECT incident_id FROM incident_channels WHERE channel = ?",
            ),
        ];
        for (v, sub) in facets {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                sql.push_str(&format!(" AND i.id IN ({sub})"));
                args.push(v.to_owned());
            }
        }
        if let Some(from) = &f.from {
            sql.push_str(" AND i.first_seen >= ?");
            args.push(from.clone());
        }
        if let Some(to) = &f.to {
            sql.push_str(" AND i.first_seen <= ?");
            args.push(to.clone());
        }
        if let Some(seq) = f.after_seq {
            sql.push_str(" AND i.change_seq > CAST(? AS INTEGER)");
            args.push(seq.to_string());
        }
    }

    /// A page of live incidents matching the filter, and the total count.
    pub async fn list_incidents(
        &self,
        f: &IncidentFilter,
        sort: Sort,
        descending: bool,
        offset: i64,
        limit: i64,
    ) -> anyhow::Result<(Vec<StoredIncident>, i64)> {
        let mut where_sql = String::new();
        let mut args = Vec::new();
        Self::filter_sql(f, &mut where_sql, &mut args);
        let order = match sort {
            Sort::Modified => "i.change_seq",
            Sort::Created => "i.created",
            Sort::Date => "i.first_seen",
            Sort::Name => "i.name COLLATE NOCASE",
        };
        let dir = if descending { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {} FROM incidents i{where_sql} ORDER BY {order} {dir}, i.change_seq {dir} LIMIT ? OFFSET ?",
            Self::COLUMNS.split(", ").map(|c| format!("i.{c}")).collect::<Vec<_>>().join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in &args {
            q = q.bind(a);
        }
        let rows = q.bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let items = rows
            .iter()
            .map(Self::incident_from_row)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let count_sql = format!("SELECT COUNT(*) FROM incidents i{where_sql}");
        let mut cq = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
        for a in &args {
            cq = cq.bind(a);
        }
        let total = cq.fetch_one(&self.pool).await?;
        Ok((items, total))
    }

    /// Incidents (revoked ones too) changed after `after_seq`, in change order.
    pub async fn changes_after(
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
    pub async fn seq_at(&self, at: &str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(SQL_SEQ_AT)
            .bind(at)
            .fetch_optional(&self.pool)
            .await?
            .unwrap_or(0))
    }

    /// The sequence number of the newest change (0 before the first).
    pub async fn last_change_seq(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM changes")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// The change time of a sequence number.
    pub async fn change_time(&self, seq: i64) -> anyhow::Result<Option<String>> {
        Ok(sqlx::query("SELECT at FROM changes WHERE seq = ?")
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.get(0)))
    }

    /// Incidents counted per facet value (live incidents only), most frequent first.
    pub async fn facet_counts(&self, facet: Facet, limit: i64) -> anyhow::Result<Vec<Count>> {
        self.facet_counts_where(facet, &IncidentFilter::default(), limit)
            .await
    }

    /// Incidents matching the filter counted per facet value, most frequent first (the
    /// facet side bar of the incident list and the shading of the DISARM matrix).
    pub async fn facet_counts_where(
        &self,
        facet: Facet,
        f: &IncidentFilter,
        limit: i64,
    ) -> anyhow::Result<Vec<Count>> {
        let (table, column, extra) = facet.sql();
        let mut where_sql = String::new();
        let mut args = Vec::new();
        Self::filter_sql(f, &mut where_sql, &mut args);
        let sql = format!(
            "SELECT f.{column} AS k, COUNT(*) AS n FROM {table} f JOIN incidents i ON i.id = f.incident_id{where_sql}
             {extra} GROUP BY f.{column} ORDER BY n DESC, k LIMIT ?"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in &args {
            q = q.bind(a);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        counts_of(&rows)
    }

    /// For each DISARM technique id, how many live incidents matching the filter use it (the
    /// heatmap score of a Navigator layer), and how many incidents match the filter.
    pub async fn technique_counts(
        &self,
        f: &IncidentFilter,
    ) -> anyhow::Result<(BTreeMap<String, i64>, i64)> {
        let mut where_sql = String::new();
        let mut args = Vec::new();
        Self::filter_sql(f, &mut where_sql, &mut args);
        let sql = format!(
            "SELECT t.technique AS k, COUNT(*) AS n FROM incident_techniques t JOIN incidents i ON i.id = t.incident_id{where_sql} GROUP BY t.technique"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in &args {
            q = q.bind(a);
        }
        let counts = counts_of(&q.fetch_all(&self.pool).await?)?
            .into_iter()
            .map(|c| (c.key, c.count))
            .collect();
        let mut cq = sqlx::query_scalar::<_, i64>(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM incidents i{where_sql}"
        )));
        for a in &args {
            cq = cq.bind(a);
        }
        Ok((counts, cq.fetch_one(&self.pool).await?))
    }

    /// Live incidents per month (`YYYY-MM`) of their date.
    pub async fn timeline(&self) -> anyhow::Result<Vec<Count>> {
        let rows = sqlx::query("SELECT substr(first_seen, 1, 7) AS k, COUNT(*) AS n FROM incidents WHERE revoked = 0 GROUP BY k ORDER BY k")
            .fetch_all(&self.pool)
            .await?;
        counts_of(&rows)
    }

    /// Live and revoked incident counts.
    pub async fn incident_counts(&self) -> anyhow::Result<(i64, i64)> {
        let r = sqlx::query(
            "SELECT COALESCE(SUM(revoked = 0), 0), COALESCE(SUM(revoked = 1), 0) FROM incidents",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((r.get(0), r.get(1)))
    }

    /// Live incidents sharing at least one technique, actor, target country or channel with
    /// `id`, with what they share: `(incident, kind, value)` rows.
    pub async fn shared_facets(
        &self,
        id: &str,
        limit: i64,
    ) -> anyhow::Result<Vec<(String, &'static str, String)>> {
        let mut out = Vec::new();
        for (kind, table, column, extra) in [
            ("technique", "incident_techniques", "technique", ""),
            ("actor", "incident_actors", "actor", ""),
            (
                "target",
                "incident_countries",
                "country",
                "AND a.role = 'target' AND b.role = 'target'",
            ),
            ("channel", "incident_channels", "channel", ""),
        ] {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT b.incident_id AS other, b.{column} AS v FROM {table} a
                 JOIN {table} b ON b.{column} = a.{column} AND b.incident_id != a.incident_id
                 JOIN incidents i ON i.id = b.incident_id AND i.revoked = 0
                 WHERE a.incident_id = ? {extra} LIMIT ?"
            )))
            .bind(id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            out.extend(
                rows.iter()
                    .map(|r| (r.get::<String, _>("other"), kind, r.get::<String, _>("v"))),
            );
        }
        Ok(out)
    }

    /// The id of the live incident with this name (any case) and first-seen date, if any: the
    /// identity of a row in the DISINFOX CSV format.
    pub(crate) async fn incident_id_by_name<'e>(
        ex: impl sqlx::SqliteExecutor<'e>,
        name: &str,
        first_seen: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        let rows = sqlx::query("SELECT id, data FROM incidents WHERE name = ? COLLATE NOCASE AND revoked = 0 ORDER BY change_seq")
            .bind(name)
            .fetch_all(ex)
            .await?;
        for r in rows {
            let data: String = r.try_get("data")?;
            let inc: IncidentInput = serde_json::from_str(&data)?;
            if inc.first_seen.as_deref() == first_seen {
                return Ok(Some(r.try_get("id")?));
            }
        }
        Ok(None)
    }

    /// Live incidents by ids.
    pub async fn incidents_by_ids(&self, ids: &[String]) -> anyhow::Result<Vec<StoredIncident>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(i) = self.incident(id).await? {
                if !i.revoked {
                    out.push(i);
                }
            }
        }
        Ok(out)
    }
}

/// `k`/`n` rows as counts (`r.get` would panic on a bad column: use `try_get`).
fn counts_of(rows: &[sqlx::sqlite::SqliteRow]) -> anyhow::Result<Vec<Count>> {
    rows.iter()
        .map(|r| {
            Ok(Count {
                key: r.try_get::<Option<String>, _>("k")?.unwrap_or_default(),
                count: r.try_get("n")?,
            })
        })
        .collect()
}

/// A facet of incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facet {
    /// DISARM techniques.
    Technique,
    /// DISARM tactics.
    Tactic,
    /// Actors.
    Actor,
    /// Target countries.
    Country,
    /// Countries of origin.
    Origin,
    /// Channels.
    Channel,
}

impl Facet {
    fn sql(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Technique => ("incident_techniques", "technique", ""),
            Self::Tactic => ("incident_techniques", "tactic", "AND f.tactic != ''"),
            Self::Actor => ("incident_actors", "actor", ""),
            Self::Country => ("incident_countries", "country", "AND f.role = 'target'"),
            Self::Origin => ("incident_countries", "country", "AND f.role = 'origin'"),
            Self::Channel => ("incident_channels", "channel", ""),
        }
    }
}

/// A `modified` strictly after the previous version's, with millisecond precision.
fn next_modified(now: Timestamp, prev: Timestamp) -> Timestamp {
    let now = now.with_digits(3);
    if now > prev {
        now
    } else {
        let ms = prev.unix_micros() / 1000 + 1;
        Timestamp::from_unix_nanos(
            ms.div_euclid(1000),
            (ms.rem_euclid(1000) * 1_000_000) as u32,
            3,
        )
    }
}

/// Turns free text into an FTS5 query that matches documents containing every word (as a
/// prefix), with no FTS syntax from the user.
pub fn fts_query(q: &str) -> String {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("\"{w}\"*"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_queries_carry_no_syntax() {
        assert_eq!(fts_query("howitzers France"), "\"howitzers\"* \"France\"*");
        assert_eq!(
            fts_query("\"a\" OR b* NEAR(c)"),
            "\"a\"* \"OR\"* \"b\"* \"NEAR\"* \"c\"*"
        );
        assert_eq!(fts_query("  -- ; "), "");
    }

    /// The look-ups of the bundle endpoint and TAXII search an index: none scans the change
    /// log, the incidents or the collection tables (SQLite's plan says `SEARCH`, not `SCAN`).
    #[tokio::test]
    async fn lookups_by_time_and_id_search_an_index() {
        let path = std::env::temp_dir().join(format!("disinfox-plan-{}.db", uuid::Uuid::new_v4()));
        let store = Store::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        for (name, sql) in [
            ("seq_at", SQL_SEQ_AT),
            ("object homes", collection::SQL_OBJECT_HOMES),
            ("incidents by ids", collection::SQL_INCIDENTS_BY_IDS),
            ("entries by keys", collection::SQL_ENTRIES_BY_KEYS),
        ] {
            let plan: Vec<String> = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .fetch_all(store.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>("detail"))
                .collect();
            let scans: Vec<&String> = plan
                .iter()
                .filter(|d| d.starts_with("SCAN") && !d.contains("VIRTUAL TABLE"))
                .collect();
            assert!(scans.is_empty(), "{name} scans: {plan:?}");
            assert!(
                plan.iter().any(|d| d.starts_with("SEARCH")),
                "{name}: {plan:?}"
            );
        }
        store.pool().close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[test]
    fn modified_always_moves_forward() {
        let prev = Timestamp::parse("2030-01-01T00:00:00.000Z").unwrap();
        let m = next_modified(Timestamp::parse("2020-01-01T00:00:00.000Z").unwrap(), prev);
        assert_eq!(m.to_string(), "2030-01-01T00:00:00.001Z");
    }
}
