//! PostgreSQL: import jobs and applying imported incidents (see [`crate::db::jobs`]).

use sqlx::AssertSqlSafe;
use stix_model::{Identifier, Timestamp};

use super::{Postgres, Tx};
use crate::db::jobs::{
    is_unchanged, job_from_row, job_item_from_row, Busy, Change, Job, JobItem, Outcome, Planned,
    JOB_COLUMNS, JOB_ITEM_COLUMNS,
};

/// The advisory lock of [`Postgres::create_job`]: counting unfinished jobs and inserting one
/// is one step across every server process.
const LOCK_JOBS: i64 = super::lock_id(3);

impl Postgres {
    pub(crate) async fn create_job(
        &self,
        user_id: Option<i64>,
        file_name: &str,
        format: &str,
        size: usize,
        per_user: u32,
        per_server: u32,
    ) -> anyhow::Result<Result<Job, Busy>> {
        let mut tx = self.pool.begin().await?;
        super::advisory_lock(&mut tx, LOCK_JOBS).await?;
        let (mine, all): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE user_id IS NOT DISTINCT FROM $1), COUNT(*) FROM import_jobs
             WHERE state IN ('queued', 'running')",
        )
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        if mine >= i64::from(per_user) {
            return Ok(Err(Busy::User(mine)));
        }
        if all >= i64::from(per_server) {
            return Ok(Err(Busy::Server(all)));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO import_jobs (id, user_id, file_name, format, size, state, created_at)
             VALUES ($1, $2, $3, $4, $5, 'queued', $6) RETURNING {JOB_COLUMNS}"
        )))
        .bind(&id)
        .bind(user_id)
        .bind(file_name)
        .bind(format)
        .bind(i64::try_from(size)?)
        .bind(Timestamp::now().to_string())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(job_from_row(&row)?))
    }

    pub(crate) async fn job(&self, id: &str) -> anyhow::Result<Option<Job>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM import_jobs WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| job_from_row(&r))
        .transpose()
    }

    pub(crate) async fn job_items(&self, id: &str) -> anyhow::Result<Vec<JobItem>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {JOB_ITEM_COLUMNS} FROM import_job_items WHERE job_id = $1 ORDER BY n"
        )))
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(job_item_from_row)
        .collect()
    }

    pub(crate) async fn start_job(
        &self,
        id: &str,
        total: usize,
        warnings: &[String],
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE import_jobs SET state = 'running', total = $1, warnings = $2, started_at = $3
             WHERE id = $4",
        )
        .bind(i64::try_from(total)?)
        .bind(serde_json::to_string(warnings)?)
        .bind(Timestamp::now().to_string())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn finish_job(&self, id: &str, error: Option<&str>) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE import_jobs SET state = $1, error = $2, finished_at = $3,
               started_at = COALESCE(started_at, $3) WHERE id = $4",
        )
        .bind(if error.is_some() {
            "failed"
        } else {
            "succeeded"
        })
        .bind(error)
        .bind(Timestamp::now().to_string())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn fail_interrupted_jobs(&self) -> anyhow::Result<Vec<String>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE import_jobs SET state = 'failed', finished_at = $1,
               error = 'interrupted: the server stopped after ' || done || ' of '
                 || COALESCE(total::TEXT, '?') || ' incidents; the report lists exactly what was applied. '
                 || 'Import the file again to finish: what was applied comes back unchanged.'
             WHERE state IN ('queued', 'running') RETURNING id",
        )
        .bind(Timestamp::now().to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }

    /// See the SQLite version: one transaction, a savepoint per incident. The change log's
    /// lock is taken first, outside every savepoint, so the whole batch holds it to commit.
    pub(crate) async fn import_items(
        &self,
        job: Option<&str>,
        batch: &[(i64, &Planned)],
        user_id: Option<i64>,
    ) -> anyhow::Result<Vec<Outcome>> {
        let mut tx = self.pool.begin().await?;
        Self::lock_change_log(&mut tx).await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for (n, item) in batch {
            sqlx::query("SAVEPOINT item").execute(&mut *tx).await?;
            let outcome = match self.apply_item(&mut tx, item, user_id).await {
                Ok(o) => o,
                Err(e) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT item")
                        .execute(&mut *tx)
                        .await?;
                    tracing::warn!(item = %item.r#ref, error = %format!("{e:#}"), "import: an incident could not be stored");
                    Outcome::Rejected(vec![format!("could not be stored: {e:#}")])
                }
            };
            if let Some(job) = job {
                Self::record_item(&mut tx, job, *n, item, &outcome).await?;
            }
            sqlx::query("RELEASE SAVEPOINT item")
                .execute(&mut *tx)
                .await?;
            outcomes.push(outcome);
        }
        tx.commit().await?;
        self.announce_changes();
        Ok(outcomes)
    }

    async fn apply_item(
        &self,
        tx: &mut Tx<'_>,
        item: &Planned,
        user_id: Option<i64>,
    ) -> anyhow::Result<Outcome> {
        Ok(match &item.change {
            Change::Reject(e) => Outcome::Rejected(e.clone()),
            Change::Revoke(id) => match self.write_revocation(tx, id.as_str(), user_id).await? {
                Some(seq) => Outcome::Updated(id.to_string(), seq),
                None => Outcome::Unchanged(id.to_string()),
            },
            Change::Save {
                id,
                by_name,
                incident,
                created,
                modified,
            } => {
                let id = match by_name {
                    false => id.clone(),
                    true => match Self::incident_id_by_name(
                        &mut **tx,
                        &incident.input.name,
                        incident.input.first_seen.as_deref(),
                    )
                    .await?
                    {
                        Some(found) => Identifier::parse(found.as_str())?,
                        None => id.clone(),
                    },
                };
                match Self::incident_with(&mut **tx, id.as_str()).await? {
                    Some(e) if is_unchanged(&e, incident, *modified) => {
                        Outcome::Unchanged(id.to_string())
                    }
                    existing => {
                        let s = self
                            .write_incident(tx, &id, incident, *created, *modified, user_id)
                            .await?;
                        if existing.is_some() {
                            Outcome::Updated(id.to_string(), s.change_seq)
                        } else {
                            Outcome::Created(id.to_string(), s.change_seq)
                        }
                    }
                }
            }
        })
    }

    async fn record_item(
        tx: &mut Tx<'_>,
        job: &str,
        n: i64,
        item: &Planned,
        outcome: &Outcome,
    ) -> anyhow::Result<()> {
        let (what, incident_id, seq) = outcome.parts();
        let errors = match outcome {
            Outcome::Rejected(e) => e.as_slice(),
            _ => &[],
        };
        // The counter is one of four fixed column names.
        sqlx::query(AssertSqlSafe(format!(
            "WITH i AS (INSERT INTO import_job_items (job_id, n, ref, name, outcome, incident_id, change_seq, errors, warnings)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9))
             UPDATE import_jobs SET done = done + 1, {what} = {what} + 1 WHERE id = $1"
        )))
        .bind(job)
        .bind(n)
        .bind(&item.r#ref)
        .bind(&item.name)
        .bind(what)
        .bind(incident_id)
        .bind(seq)
        .bind(serde_json::to_string(errors)?)
        .bind(serde_json::to_string(&item.warnings)?)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
