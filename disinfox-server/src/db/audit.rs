//! The store side of the audit log (see [`crate::audit`]).

use serde::Serialize;
use sqlx::Row;
use stix_model::Timestamp;

use super::{micros_text, Sqlite};

/// A stored audit entry.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// Id, increasing with time.
    pub id: i64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The kind of event (`sign-in`, `key-created`, ...).
    pub kind: String,
    /// The acting user's id, if known.
    pub actor_id: Option<i64>,
    /// The acting user's e-mail (for sign-ins: the e-mail tried).
    pub actor: String,
    /// The client's address.
    pub address: String,
    /// What was acted on.
    pub object: String,
    /// More about it.
    pub detail: String,
}

/// Filters of the audit log; all optional, combined with "and".
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// One kind of event.
    pub kind: Option<String>,
    /// Actors whose e-mail contains this text (any case).
    pub actor: Option<String>,
    /// From this day on (`YYYY-MM-DD`, UTC).
    pub from: Option<String>,
    /// Up to and including this day (`YYYY-MM-DD`, UTC).
    pub to: Option<String>,
}

impl Sqlite {
    /// Appends an entry to the audit log.
    pub(crate) async fn insert_audit(
        &self,
        kind: &str,
        actor_id: Option<i64>,
        actor: &str,
        address: &str,
        object: &str,
        detail: &str,
    ) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        sqlx::query("INSERT INTO audit_log (at, kind, actor_id, actor, address, object, detail) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(micros_text(&Timestamp::now()))
            .bind(kind)
            .bind(actor_id)
            .bind(actor)
            .bind(address)
            .bind(object)
            .bind(detail)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A page of the audit log, newest first, and the number of entries matching.
    pub(crate) async fn audit_entries(
        &self,
        filter: &AuditFilter,
        offset: i64,
        limit: i64,
    ) -> anyhow::Result<(Vec<AuditEntry>, i64)> {
        const WHERE: &str = "WHERE (?1 IS NULL OR kind = ?1)
              AND (?2 IS NULL OR instr(lower(actor), lower(?2)) > 0)
              AND (?3 IS NULL OR substr(at, 1, 10) >= ?3)
              AND (?4 IS NULL OR substr(at, 1, 10) <= ?4)";
        let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM audit_log {WHERE}"
        )))
        .bind(&filter.kind)
        .bind(&filter.actor)
        .bind(&filter.from)
        .bind(&filter.to)
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, at, kind, actor_id, actor, address, object, detail FROM audit_log {WHERE}
             ORDER BY id DESC LIMIT ?5 OFFSET ?6"
        )))
        .bind(&filter.kind)
        .bind(&filter.actor)
        .bind(&filter.from)
        .bind(&filter.to)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let entries = rows
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    actor_id: r.try_get("actor_id")?,
                    actor: r.try_get("actor")?,
                    address: r.try_get("address")?,
                    object: r.try_get("object")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok((entries, total))
    }
}

super::forward! {
    /// Appends an entry to the audit log.
    fn insert_audit(&self, kind: &str, actor_id: Option<i64>, actor: &str, address: &str, object: &str, detail: &str) -> anyhow::Result<()>;
    /// A page of the audit log, newest first, and the number of entries matching.
    fn audit_entries(&self, filter: &AuditFilter, offset: i64, limit: i64) -> anyhow::Result<(Vec<AuditEntry>, i64)>;
}
