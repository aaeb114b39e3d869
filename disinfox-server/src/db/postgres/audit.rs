//! PostgreSQL: the audit log (see [`crate::db::audit`]).

use sqlx::Row;
use stix_model::Timestamp;

use super::Postgres;
use crate::db::audit::{AuditEntry, AuditFilter};
use crate::db::micros_text;

impl Postgres {
    pub(crate) async fn insert_audit(
        &self,
        kind: &str,
        actor_id: Option<i64>,
        actor: &str,
        address: &str,
        object: &str,
        detail: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO audit_log (at, kind, actor_id, actor, address, object, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
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

    pub(crate) async fn audit_entries(
        &self,
        filter: &AuditFilter,
        offset: i64,
        limit: i64,
    ) -> anyhow::Result<(Vec<AuditEntry>, i64)> {
        const WHERE: &str = "WHERE ($1::TEXT IS NULL OR kind = $1)
              AND ($2::TEXT IS NULL OR strpos(lower(actor), lower($2)) > 0)
              AND ($3::TEXT IS NULL OR substr(at, 1, 10) >= $3)
              AND ($4::TEXT IS NULL OR substr(at, 1, 10) <= $4)";
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
             ORDER BY id DESC LIMIT $5 OFFSET $6"
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
