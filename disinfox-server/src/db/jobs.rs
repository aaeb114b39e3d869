//! The store side of imports and import jobs: the job rows, and applying the planned incidents
//! of a file ([`Planned`], made by the import's reading of the file) in transactions together
//! with their report rows and the job's counters, so that a job's report is exactly what the
//! database holds, even after a crash.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};
use stix_model::{Identifier, Timestamp};

use super::batch;
use super::Sqlite;
use crate::model::Incident;

/// One incident of a file, checked: where it comes from and what to do with it.
#[derive(Debug, Clone)]
pub struct Planned {
    /// `rows 3, 4` for CSV, the STIX id for bundles.
    pub r#ref: String,
    /// The incident's name when known.
    pub name: Option<String>,
    /// What to do.
    pub change: Change,
    /// Accepted but worth knowing.
    pub warnings: Vec<String>,
}

/// What to do with a planned incident.
#[derive(Debug, Clone)]
pub enum Change {
    /// Create or replace the incident `id`; with `by_name`, the live incident of the same
    /// name and first-seen date (the identity of a CSV row) when there is one.
    Save {
        /// The incident's id (derived from name and date for CSV rows).
        id: Identifier,
        /// Look the incident up by name and first-seen date first.
        by_name: bool,
        /// The checked incident.
        incident: Box<Incident>,
        /// Its creation time (kept for an existing incident).
        created: Timestamp,
        /// Its `modified` time (STIX): an older or equal version than the stored one is
        /// reported unchanged.
        modified: Option<Timestamp>,
    },
    /// Revoke (delete) the incident `id`.
    Revoke(Identifier),
    /// Change nothing, for these reasons.
    Reject(Vec<String>),
}

/// The state of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Accepted, not started.
    Queued,
    /// Reading the file or applying its incidents.
    Running,
    /// Every incident of the file was applied or rejected.
    Succeeded,
    /// Stopped: the file could not be read, the job broke, or the server stopped under it.
    Failed,
}

impl JobState {
    fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            other => anyhow::bail!("stored job state {other:?}"),
        })
    }

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Whether the job is over.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// A job as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// Random UUID.
    pub id: String,
    /// Who started it (`None`: the command line).
    pub user_id: Option<i64>,
    /// The uploaded file's name.
    pub file_name: String,
    /// `stix` or `csv`.
    pub format: String,
    /// Bytes uploaded.
    pub size: i64,
    /// State.
    pub state: JobState,
    /// Incidents in the file, once read.
    pub total: Option<i64>,
    /// Incidents applied or rejected so far.
    pub done: i64,
    /// Incidents created so far.
    pub created: i64,
    /// Incidents given a new version so far.
    pub updated: i64,
    /// Incidents found identical so far.
    pub unchanged: i64,
    /// Incidents rejected so far.
    pub rejected: i64,
    /// About the whole file.
    pub warnings: Vec<String>,
    /// Why a failed job failed.
    pub error: Option<String>,
    /// When it was accepted.
    pub created_at: String,
    /// When it started.
    pub started_at: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
}

/// What a job did with one incident of its file.
#[derive(Debug, Clone, Serialize)]
pub struct JobItem {
    /// Position in the file's incidents, from 1.
    pub n: i64,
    /// CSV rows or STIX id.
    pub r#ref: String,
    /// The incident's name when known.
    pub name: Option<String>,
    /// created, updated, unchanged or rejected.
    pub outcome: String,
    /// The incident (not for rejected ones).
    pub incident_id: Option<String>,
    /// The change written (created, updated).
    pub change_seq: Option<i64>,
    /// Why it was rejected.
    pub errors: Vec<String>,
    /// What is worth knowing.
    pub warnings: Vec<String>,
}

/// What applying one incident did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new incident, at this change.
    Created(String, i64),
    /// A new version (or a revocation), at this change.
    Updated(String, i64),
    /// Identical to what is stored (or older): nothing written.
    Unchanged(String),
    /// Not applied, for these reasons.
    Rejected(Vec<String>),
}

impl Outcome {
    pub(super) fn parts(&self) -> (&'static str, Option<&str>, Option<i64>) {
        match self {
            Self::Created(id, seq) => ("created", Some(id), Some(*seq)),
            Self::Updated(id, seq) => ("updated", Some(id), Some(*seq)),
            Self::Unchanged(id) => ("unchanged", Some(id), None),
            Self::Rejected(_) => ("rejected", None, None),
        }
    }
}

/// Whether importing `incident` (with its STIX `modified`, if any) over the stored `existing`
/// changes nothing: it is identical to a live stored version, or not newer.
pub(super) fn is_unchanged(
    existing: &crate::db::StoredIncident,
    incident: &Incident,
    modified: Option<Timestamp>,
) -> bool {
    (!existing.revoked && existing.incident == *incident)
        || modified.is_some_and(|m| m <= existing.modified)
}

/// Why a job was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// The user has this many unfinished jobs.
    User(i64),
    /// The server has this many unfinished jobs.
    Server(i64),
}

pub(super) const JOB_COLUMNS: &str = "id, user_id, file_name, format, size, state, total, done, created, updated, unchanged, rejected, warnings, error, created_at, started_at, finished_at";

pub(super) const JOB_ITEM_COLUMNS: &str =
    "n, ref, name, outcome, incident_id, change_seq, errors, warnings";

/// A job item from its row (either backend).
pub(super) fn job_item_from_row<R>(r: &R) -> anyhow::Result<JobItem>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    Ok(JobItem {
        n: r.try_get("n")?,
        r#ref: r.try_get("ref")?,
        name: r.try_get("name")?,
        outcome: r.try_get("outcome")?,
        incident_id: r.try_get("incident_id")?,
        change_seq: r.try_get("change_seq")?,
        errors: serde_json::from_str(&r.try_get::<String, _>("errors")?)?,
        warnings: serde_json::from_str(&r.try_get::<String, _>("warnings")?)?,
    })
}

/// A job from its row (either backend).
pub(super) fn job_from_row<R>(r: &R) -> anyhow::Result<Job>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Job {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        file_name: r.try_get("file_name")?,
        format: r.try_get("format")?,
        size: r.try_get("size")?,
        state: JobState::parse(&r.try_get::<String, _>("state")?)?,
        total: r.try_get("total")?,
        done: r.try_get("done")?,
        created: r.try_get("created")?,
        updated: r.try_get("updated")?,
        unchanged: r.try_get("unchanged")?,
        rejected: r.try_get("rejected")?,
        warnings: serde_json::from_str(&r.try_get::<String, _>("warnings")?)?,
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

impl Sqlite {
    /// Records a new queued job, unless `user_id` already has `per_user` unfinished jobs or
    /// the server `per_server` (counted under the writer lock, so two uploads cannot both
    /// take the last place).
    pub(crate) async fn create_job(
        &self,
        user_id: Option<i64>,
        file_name: &str,
        format: &str,
        size: usize,
        per_user: u32,
        per_server: u32,
    ) -> anyhow::Result<Result<Job, Busy>> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        let (mine, all): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(user_id IS ?1), 0), COUNT(*) FROM import_jobs
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
        sqlx::query(
            "INSERT INTO import_jobs (id, user_id, file_name, format, size, state, created_at)
             VALUES (?, ?, ?, ?, ?, 'queued', ?)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(file_name)
        .bind(format)
        .bind(i64::try_from(size)?)
        .bind(Timestamp::now().to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let job = self.job(&id).await?;
        job.map(Ok)
            .ok_or_else(|| anyhow::anyhow!("job {id} vanished"))
    }

    /// A job by id.
    pub(crate) async fn job(&self, id: &str) -> anyhow::Result<Option<Job>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM import_jobs WHERE id = ?"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| job_from_row(&r))
        .transpose()
    }

    /// What a job did with each incident so far, in file order.
    pub(crate) async fn job_items(&self, id: &str) -> anyhow::Result<Vec<JobItem>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_ITEM_COLUMNS} FROM import_job_items WHERE job_id = ? ORDER BY n"
        )))
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(job_item_from_row)
        .collect()
    }

    /// The file was read: the job runs, with this many incidents and these warnings.
    pub(crate) async fn start_job(
        &self,
        id: &str,
        total: usize,
        warnings: &[String],
    ) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        sqlx::query(
            "UPDATE import_jobs SET state = 'running', total = ?, warnings = ?, started_at = ?
             WHERE id = ?",
        )
        .bind(i64::try_from(total)?)
        .bind(serde_json::to_string(warnings)?)
        .bind(Timestamp::now().to_string())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The job is over: succeeded, or failed with the reason.
    pub(crate) async fn finish_job(&self, id: &str, error: Option<&str>) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        sqlx::query(
            "UPDATE import_jobs SET state = ?1, error = ?2, finished_at = ?3,
               started_at = COALESCE(started_at, ?3) WHERE id = ?4",
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

    /// At start: the jobs a stopped process left queued or running are failed (their
    /// reports stay exact: every applied incident has its row). Returns their ids.
    pub(crate) async fn fail_interrupted_jobs(&self) -> anyhow::Result<Vec<String>> {
        let _w = self.write.lock().await;
        let (before, after) = super::replicas::INTERRUPTED;
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE import_jobs SET state = 'failed', finished_at = ?,
               error = ? || done || ' of ' || COALESCE(total, '?') || ?
             WHERE state IN ('queued', 'running') RETURNING id",
        )
        .bind(Timestamp::now().to_string())
        .bind(before)
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }

    /// Applies planned incidents of an import (`(n, item)`: the item's position in the file)
    /// in one transaction: each incident write, and, for a job, each incident's report row
    /// and the job's counters. Nothing of the batch is stored unless all of it is, so the
    /// report always says exactly what the database holds. Each incident is all-or-nothing:
    /// one that cannot be stored (its objects cannot be built, say) leaves nothing behind and
    /// is reported rejected with the reason, and the others of the batch go on. The batch is
    /// written with one statement per table ([`super::batch`]); when that fails, it is
    /// written again incident by incident, each in a savepoint, which gives each its exact
    /// outcome. (A batch costs one commit instead of one per incident.)
    pub(crate) async fn import_items(
        &self,
        job: Option<&str>,
        batch: &[(i64, &Planned)],
        user_id: Option<i64>,
        mut prepared: batch::Prepared,
    ) -> anyhow::Result<Vec<Outcome>> {
        let _w = self.write.lock().await;
        let outcomes = match self
            .import_batched(job, batch, user_id, &mut prepared)
            .await
        {
            Ok(Some(outcomes)) => outcomes,
            Ok(None) => self.import_each(job, batch, user_id).await?,
            Err(e) => {
                tracing::info!(error = %format!("{e:#}"), "import: a batch is written incident by incident");
                self.import_each(job, batch, user_id).await?
            }
        };
        self.announce_changes();
        Ok(outcomes)
    }

    /// [`Store::import_items`] with one statement per table (see [`super::batch`]); `None`
    /// when the batch must be written incident by incident.
    async fn import_batched(
        &self,
        job: Option<&str>,
        batch: &[(i64, &Planned)],
        user_id: Option<i64>,
        prepared: &mut batch::Prepared,
    ) -> anyhow::Result<Option<Vec<Outcome>>> {
        // The batch's pages stay in the cache until its commit instead of spilling to the
        // WAL and being read back: a bigger cache on this connection for the batch only.
        let mut conn = self.pool.acquire().await?;
        sqlx::query(AssertSqlSafe(format!(
            "PRAGMA cache_size = -{}",
            super::BATCH_CACHE_KIB
        )))
        .execute(&mut *conn)
        .await?;
        let written = self
            .import_batched_on(&mut conn, job, batch, user_id, prepared)
            .await;
        sqlx::query(AssertSqlSafe(format!(
            "PRAGMA cache_size = -{}",
            super::CACHE_KIB
        )))
        .execute(&mut *conn)
        .await?;
        written
    }

    /// [`Sqlite::import_batched`] on a connection.
    async fn import_batched_on(
        &self,
        conn: &mut sqlx::SqliteConnection,
        job: Option<&str>,
        batch: &[(i64, &Planned)],
        user_id: Option<i64>,
        prepared: &mut batch::Prepared,
    ) -> anyhow::Result<Option<Vec<Outcome>>> {
        let mut tx = sqlx::Connection::begin(conn).await?;
        let lookups = batch::name_lookups(batch);
        let by_name: Vec<(i64, String, String)> = if lookups.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(
                "SELECT json_extract(j.value, '$[0]') AS pos, i.id, i.data
                 FROM json_each(?1) j JOIN incidents i
                   ON i.name = json_extract(j.value, '$[1]') COLLATE NOCASE AND i.revoked = 0
                 ORDER BY pos, i.change_seq",
            )
            .bind(serde_json::to_string(&lookups)?)
            .fetch_all(&mut *tx)
            .await?
        };
        let found = batch::found_by_name(batch, by_name)?;
        let ids = batch::ids_to_read(batch, &found);
        let existing = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM incidents WHERE id IN (SELECT value FROM json_each(?1))",
            Self::COLUMNS
        )))
        .bind(serde_json::to_string(&ids)?)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| Self::incident_from_row(r).map(|s| (s.id.to_string(), s)))
        .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
        let Some(steps) = batch::plan_steps(batch, &found, &existing) else {
            return Ok(None);
        };
        let outcomes = batch::apply_steps(
            &mut Writer {
                db: self,
                tx: &mut tx,
                user_id,
                prepared,
            },
            batch,
            steps,
        )
        .await?;
        if let Some(job) = job {
            Self::record_items(&mut tx, job, batch, &outcomes).await?;
        }
        tx.commit().await?;
        Ok(Some(outcomes))
    }

    /// Writes a run of new incidents of a batch with one statement per table; returns their
    /// outcomes, in order.
    async fn write_creates(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        creates: &[batch::Create<'_>],
        user_id: Option<i64>,
        prepared: &mut batch::Prepared,
    ) -> anyhow::Result<Vec<Outcome>> {
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, at FROM changes ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await?;
        let (last_seq, last_at) = last.map_or((0, None), |(s, a)| (s, Some(a)));
        let held: BTreeSet<String> = sqlx::query_scalar(
            "SELECT key FROM collection_entries WHERE key IN (SELECT value FROM json_each(?1))",
        )
        .bind(serde_json::to_string(&batch::entering_of(creates))?)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .collect();
        let rows = batch::create_rows(creates, last_seq, last_at, &held, prepared)?;
        // The change log and the incidents record the user (`?2`).
        let tables: [(&str, String); 9] = [
            (
                "INSERT INTO changes (seq, incident_id, action, user_id, at)
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), 'create', ?2,
                   json_extract(value, '$[2]') FROM json_each(?1)",
                serde_json::to_string(&rows.changes)?,
            ),
            (
                "INSERT INTO incidents (id, name, description, created, modified, first_seen, last_seen, data, revoked, change_seq, changed_at, created_by)
                 SELECT json_extract(value, '$.id'), json_extract(value, '$.name'),
                   json_extract(value, '$.description'), json_extract(value, '$.created'),
                   json_extract(value, '$.modified'), json_extract(value, '$.first_seen'),
                   json_extract(value, '$.last_seen'), json_extract(value, '$.data'), 0,
                   json_extract(value, '$.seq'), json_extract(value, '$.at'), ?2
                 FROM json_each(?1)",
                serde_json::to_string(&rows.incidents)?,
            ),
            (
                "INSERT OR IGNORE INTO incident_techniques (incident_id, technique, tactic)
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
                 FROM json_each(?1)",
                serde_json::to_string(&rows.techniques)?,
            ),
            (
                "INSERT OR IGNORE INTO incident_actors (incident_id, actor)
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')
                 FROM json_each(?1)",
                serde_json::to_string(&rows.actors)?,
            ),
            (
                "INSERT OR IGNORE INTO incident_countries (incident_id, country, role)
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
                 FROM json_each(?1)",
                serde_json::to_string(&rows.countries)?,
            ),
            (
                "INSERT OR IGNORE INTO incident_channels (incident_id, channel)
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')
                 FROM json_each(?1)",
                serde_json::to_string(&rows.channels)?,
            ),
            (
                "INSERT INTO collection_refs (incident_id, key)
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')
                 FROM json_each(?1)",
                serde_json::to_string(&rows.refs)?,
            ),
            (
                "INSERT OR IGNORE INTO collection_entries (key, seq, at, value)
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
                   json_extract(value, '$[2]'), json_extract(value, '$[3]')
                 FROM json_each(?1)",
                serde_json::to_string(&rows.entries)?,
            ),
            (
                "INSERT OR IGNORE INTO collection_object_ids (object_id, incident_id, key)
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
                 FROM json_each(?1)",
                serde_json::to_string(&rows.index)?,
            ),
        ];
        for (i, (sql, json)) in tables.into_iter().enumerate() {
            if json != "[]" {
                let q = sqlx::query(sql).bind(json);
                let q = if i < 2 { q.bind(user_id) } else { q };
                q.execute(&mut **tx).await?;
            }
        }
        Self::write_stix_batch(tx, self.stix_rules().as_ref(), &rows.stored, prepared).await?;
        Ok(rows
            .stored
            .iter()
            .map(|s| Outcome::Created(s.id.to_string(), s.change_seq))
            .collect())
    }

    /// [`Store::import_items`] incident by incident, each in a savepoint.
    async fn import_each(
        &self,
        job: Option<&str>,
        batch: &[(i64, &Planned)],
        user_id: Option<i64>,
    ) -> anyhow::Result<Vec<Outcome>> {
        let mut tx = self.pool.begin().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for (_, item) in batch {
            outcomes.push(self.apply_saved(&mut tx, item, user_id).await?);
        }
        if let Some(job) = job {
            Self::record_items(&mut tx, job, batch, &outcomes).await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// One planned incident in a savepoint: all of it is stored, or nothing and it is
    /// rejected with the reason.
    async fn apply_saved(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        item: &Planned,
        user_id: Option<i64>,
    ) -> anyhow::Result<Outcome> {
        sqlx::query("SAVEPOINT item").execute(&mut **tx).await?;
        let outcome = match self.apply_item(tx, item, user_id).await {
            Ok(o) => o,
            Err(e) => {
                sqlx::query("ROLLBACK TO item").execute(&mut **tx).await?;
                tracing::warn!(item = %item.r#ref, error = %format!("{e:#}"), "import: an incident could not be stored");
                Outcome::Rejected(vec![format!("could not be stored: {e:#}")])
            }
        };
        sqlx::query("RELEASE item").execute(&mut **tx).await?;
        Ok(outcome)
    }

    /// One planned incident inside an import's transaction (see [`Store::import_items`]).
    async fn apply_item(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
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

    /// A job's report rows of a batch and the job's counters (two statements).
    async fn record_items(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        job: &str,
        batch: &[(i64, &Planned)],
        outcomes: &[Outcome],
    ) -> anyhow::Result<()> {
        let (rows, [created, updated, unchanged, rejected]) = batch::report_rows(batch, outcomes)?;
        sqlx::query(
            "INSERT INTO import_job_items (job_id, n, ref, name, outcome, incident_id, change_seq, errors, warnings)
             SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
               json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'),
               json_extract(value, '$[6]'), json_extract(value, '$[7]')
             FROM json_each(?2)",
        )
        .bind(job)
        .bind(serde_json::to_string(&rows)?)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "UPDATE import_jobs SET done = done + ?2, created = created + ?3, updated = updated + ?4,
               unchanged = unchanged + ?5, rejected = rejected + ?6 WHERE id = ?1",
        )
        .bind(job)
        .bind(i64::try_from(rows.len())?)
        .bind(created)
        .bind(updated)
        .bind(unchanged)
        .bind(rejected)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

impl super::Store {
    /// Builds what writing these planned incidents as new ones will store, apart from the
    /// database (see [`batch::Prepared`]): CPU only, for a blocking thread while the writer
    /// applies the previous batch; give the result to [`super::Store::import_items`] with the
    /// same items.
    pub fn prepare_creates(&self, items: &[&Planned]) -> batch::Prepared {
        batch::Prepared::new(self.stix_rules(), items)
    }
}

super::forward! {
    /// Records a new queued job, unless `user_id` already has `per_user` unfinished jobs or
    /// the server `per_server` (counted under the writer lock, so two uploads cannot both
    /// take the last place).
    fn create_job(&self, user_id: Option<i64>, file_name: &str, format: &str, size: usize, per_user: u32, per_server: u32) -> anyhow::Result<Result<Job, Busy>>;
    /// A job by id.
    fn job(&self, id: &str) -> anyhow::Result<Option<Job>>;
    /// What a job did with each incident so far, in file order.
    fn job_items(&self, id: &str) -> anyhow::Result<Vec<JobItem>>;
    /// The file was read: the job runs, with this many incidents and these warnings.
    fn start_job(&self, id: &str, total: usize, warnings: &[String]) -> anyhow::Result<()>;
    /// The job is over: succeeded, or failed with the reason.
    fn finish_job(&self, id: &str, error: Option<&str>) -> anyhow::Result<()>;
    /// At start: the jobs a stopped process left queued or running are failed (their
    /// reports stay exact: every applied incident has its row). Returns their ids.
    fn fail_interrupted_jobs(&self) -> anyhow::Result<Vec<String>>;
    /// Applies planned incidents of an import (`(n, item)`: the item's position in the file)
    /// in one transaction: each incident write, and, for a job, each incident's report row
    /// and the job's counters. Nothing of the batch is stored unless all of it is, so the
    /// report always says exactly what the database holds. Each incident is applied in a
    /// savepoint: one that cannot be stored (its objects cannot be built, say) leaves nothing
    /// behind and is reported rejected with the reason, and the others of the batch go on.
    /// The batch is written with one statement per table when it can be, incident by
    /// incident when not, with the same outcomes. (A batch costs one commit.)
    /// `prepared` holds what [`super::Store::prepare_creates`] built for the batch beforehand (or
    /// nothing: `Prepared::default()`).
    fn import_items(&self, job: Option<&str>, batch: &[(i64, &Planned)], user_id: Option<i64>, prepared: batch::Prepared) -> anyhow::Result<Vec<Outcome>>;
}

/// [`batch::BatchWriter`] of this backend: a batch's transaction.
struct Writer<'a, 'c> {
    db: &'a Sqlite,
    tx: &'a mut sqlx::Transaction<'c, sqlx::Sqlite>,
    user_id: Option<i64>,
    prepared: &'a mut batch::Prepared,
}

impl batch::BatchWriter for Writer<'_, '_> {
    async fn creates(&mut self, run: &[batch::Create<'_>]) -> anyhow::Result<Vec<Outcome>> {
        self.db
            .write_creates(self.tx, run, self.user_id, self.prepared)
            .await
    }

    async fn single(&mut self, item: &Planned) -> anyhow::Result<Outcome> {
        self.db.apply_saved(self.tx, item, self.user_id).await
    }
}
