//! PostgreSQL: import jobs and applying imported incidents (see [`crate::db::jobs`]).

use std::collections::{BTreeMap, BTreeSet};

use sqlx::AssertSqlSafe;
use stix_model::{Identifier, Timestamp};

use super::{Postgres, Tx};
use crate::db::batch;
use crate::db::jobs::{
    is_unchanged, job_from_row, job_item_from_row, Busy, Change, Job, JobItem, Outcome, Planned,
    JOB_COLUMNS, JOB_ITEM_COLUMNS,
};
use crate::db::Sqlite;

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

    /// See the SQLite version: one transaction, the batch written with one statement per
    /// table, or incident by incident in a savepoint each. The change log's lock is taken
    /// first, before the stored state is read and outside every savepoint, so the whole batch
    /// holds it to commit: its changes take positions `last + 1, …` in commit order.
    pub(crate) async fn import_items(
        &self,
        job: Option<&str>,
        batch: &[(i64, &Planned)],
        user_id: Option<i64>,
        mut prepared: batch::Prepared,
    ) -> anyhow::Result<Vec<Outcome>> {
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

    /// See the SQLite version.
    async fn import_batched(
        &self,
        job: Option<&str>,
        batch: &[(i64, &Planned)],
        user_id: Option<i64>,
        prepared: &mut batch::Prepared,
    ) -> anyhow::Result<Option<Vec<Outcome>>> {
        let mut tx = self.pool.begin().await?;
        Self::lock_change_log(&mut tx).await?;
        let lookups = batch::name_lookups(batch);
        let by_name: Vec<(i64, String, String)> = if lookups.is_empty() {
            Vec::new()
        } else {
            let (pos, names): (Vec<i64>, Vec<&str>) = lookups.into_iter().unzip();
            sqlx::query_as(
                "SELECT x.pos, i.id, i.data FROM UNNEST($1::BIGINT[], $2::TEXT[]) AS x(pos, name)
                 JOIN incidents i ON lower(i.name) = lower(x.name) AND NOT i.revoked
                 ORDER BY x.pos, i.change_seq",
            )
            .bind(&pos)
            .bind(&names)
            .fetch_all(&mut *tx)
            .await?
        };
        let found = batch::found_by_name(batch, by_name)?;
        let ids = batch::ids_to_read(batch, &found);
        let existing = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM incidents WHERE id = ANY($1::TEXT[])",
            Sqlite::COLUMNS
        )))
        .bind(&ids)
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

    /// See the SQLite version (under the change log's lock, taken by the caller).
    async fn write_creates(
        &self,
        tx: &mut Tx<'_>,
        creates: &[batch::Create<'_>],
        user_id: Option<i64>,
        prepared: &mut batch::Prepared,
    ) -> anyhow::Result<Vec<Outcome>> {
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, at FROM changes ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await?;
        let (last_seq, last_at) = last.map_or((0, None), |(s, a)| (s, Some(a)));
        let held: BTreeSet<String> =
            sqlx::query_scalar("SELECT key FROM collection_entries WHERE key = ANY($1::TEXT[])")
                .bind(batch::entering_of(creates))
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .collect();
        let rows = batch::create_rows(creates, last_seq, last_at, &held, prepared)?;
        let col = |f: fn(&batch::IncidentRow) -> &str| -> Vec<&str> {
            rows.incidents.iter().map(f).collect()
        };
        let seqs: Vec<i64> = rows.incidents.iter().map(|r| r.seq).collect();
        let last_seen: Vec<Option<&str>> = rows
            .incidents
            .iter()
            .map(|r| r.last_seen.as_deref())
            .collect();
        // The change log and the incidents in one statement.
        sqlx::query(
            "WITH c AS (INSERT INTO changes (seq, incident_id, action, user_id, at)
                 SELECT x.seq, x.id, 'create', $11, x.at
                 FROM UNNEST($1::TEXT[], $9::BIGINT[], $10::TEXT[]) AS x(id, seq, at))
             INSERT INTO incidents (id, name, description, created, modified, first_seen, last_seen, data, revoked, change_seq, changed_at, created_by)
             SELECT x.id, x.name, x.description, x.created, x.modified, x.first_seen, x.last_seen, x.data, FALSE, x.seq, x.at, $11
             FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::TEXT[])
               AS x(id, name, description, created, modified, first_seen, last_seen, data, seq, at)",
        )
        .bind(col(|r| &r.id))
        .bind(col(|r| &r.name))
        .bind(col(|r| &r.description))
        .bind(col(|r| &r.created))
        .bind(col(|r| &r.modified))
        .bind(col(|r| &r.first_seen))
        .bind(&last_seen)
        .bind(col(|r| &r.data))
        .bind(&seqs)
        .bind(col(|r| &r.at))
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
        // Every facet row, the collection's references and entering entries in one
        // statement (duplicates keep the first, as in `write_incident`).
        let (t_id, t, tactic) = unzip3(&rows.techniques, |r| (&r.0, &r.1, &r.2));
        let (a_id, a): (Vec<&String>, Vec<&String>) =
            rows.actors.iter().map(|r| (&r.0, &r.1)).unzip();
        let (c_id, c, role) = unzip3(&rows.countries, |r| (&r.0, &r.1, &r.2));
        let (ch_id, ch): (Vec<&String>, Vec<&String>) =
            rows.channels.iter().map(|r| (&r.0, &r.1)).unzip();
        let (r_id, r_key): (Vec<&String>, Vec<&String>) =
            rows.refs.iter().map(|r| (&r.0, &r.1)).unzip();
        let (e_key, e_seq, e_at, e_value) = (
            rows.entries.iter().map(|e| &e.0).collect::<Vec<_>>(),
            rows.entries.iter().map(|e| e.1).collect::<Vec<_>>(),
            rows.entries.iter().map(|e| &e.2).collect::<Vec<_>>(),
            rows.entries.iter().map(|e| &e.3).collect::<Vec<_>>(),
        );
        sqlx::query(
            "WITH t AS (INSERT INTO incident_techniques (incident_id, technique, tactic)
                   SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[]) ON CONFLICT DO NOTHING),
                  a AS (INSERT INTO incident_actors (incident_id, actor)
                   SELECT x.i, x.a FROM UNNEST($4::TEXT[], $5::TEXT[]) WITH ORDINALITY AS x(i, a, n) ORDER BY x.n ON CONFLICT DO NOTHING),
                  c AS (INSERT INTO incident_countries (incident_id, country, role)
                   SELECT * FROM UNNEST($6::TEXT[], $7::TEXT[], $8::TEXT[]) ON CONFLICT DO NOTHING),
                  ch AS (INSERT INTO incident_channels (incident_id, channel)
                   SELECT x.i, x.c FROM UNNEST($9::TEXT[], $10::TEXT[]) WITH ORDINALITY AS x(i, c, n) ORDER BY x.n ON CONFLICT DO NOTHING),
                  r AS (INSERT INTO collection_refs (incident_id, key) SELECT * FROM UNNEST($11::TEXT[], $12::TEXT[]))
             INSERT INTO collection_entries (key, seq, at, value)
             SELECT * FROM UNNEST($13::TEXT[], $14::BIGINT[], $15::TEXT[], $16::TEXT[]) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&t_id)
        .bind(&t)
        .bind(&tactic)
        .bind(&a_id)
        .bind(&a)
        .bind(&c_id)
        .bind(&c)
        .bind(&role)
        .bind(&ch_id)
        .bind(&ch)
        .bind(&r_id)
        .bind(&r_key)
        .bind(&e_key)
        .bind(&e_seq)
        .bind(&e_at)
        .bind(&e_value)
        .execute(&mut **tx)
        .await?;
        Self::insert_object_index(tx, &rows.index).await?;
        Self::write_stix_batch(tx, self.stix_rules().as_ref(), &rows.stored, prepared).await?;
        Ok(rows
            .stored
            .iter()
            .map(|s| Outcome::Created(s.id.to_string(), s.change_seq))
            .collect())
    }

    /// See the SQLite version.
    async fn import_each(
        &self,
        job: Option<&str>,
        batch: &[(i64, &Planned)],
        user_id: Option<i64>,
    ) -> anyhow::Result<Vec<Outcome>> {
        let mut tx = self.pool.begin().await?;
        Self::lock_change_log(&mut tx).await?;
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

    /// See the SQLite version.
    async fn apply_saved(
        &self,
        tx: &mut Tx<'_>,
        item: &Planned,
        user_id: Option<i64>,
    ) -> anyhow::Result<Outcome> {
        sqlx::query("SAVEPOINT item").execute(&mut **tx).await?;
        let outcome = match self.apply_item(tx, item, user_id).await {
            Ok(o) => o,
            Err(e) => {
                sqlx::query("ROLLBACK TO SAVEPOINT item")
                    .execute(&mut **tx)
                    .await?;
                tracing::warn!(item = %item.r#ref, error = %format!("{e:#}"), "import: an incident could not be stored");
                Outcome::Rejected(vec![format!("could not be stored: {e:#}")])
            }
        };
        sqlx::query("RELEASE SAVEPOINT item")
            .execute(&mut **tx)
            .await?;
        Ok(outcome)
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

    async fn record_items(
        tx: &mut Tx<'_>,
        job: &str,
        batch: &[(i64, &Planned)],
        outcomes: &[Outcome],
    ) -> anyhow::Result<()> {
        let (rows, [created, updated, unchanged, rejected]) = batch::report_rows(batch, outcomes)?;
        let mut n = Vec::with_capacity(rows.len());
        let mut refs = Vec::with_capacity(rows.len());
        let mut names = Vec::with_capacity(rows.len());
        let mut what = Vec::with_capacity(rows.len());
        let mut incidents = Vec::with_capacity(rows.len());
        let mut seqs = Vec::with_capacity(rows.len());
        let mut errors = Vec::with_capacity(rows.len());
        let mut warnings = Vec::with_capacity(rows.len());
        for r in &rows {
            n.push(r.0);
            refs.push(r.1);
            names.push(r.2);
            what.push(r.3);
            incidents.push(r.4);
            seqs.push(r.5);
            errors.push(r.6.as_str());
            warnings.push(r.7.as_str());
        }
        sqlx::query(
            "WITH i AS (INSERT INTO import_job_items (job_id, n, ref, name, outcome, incident_id, change_seq, errors, warnings)
               SELECT $1, x.* FROM UNNEST($2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::BIGINT[], $8::TEXT[], $9::TEXT[]) AS x)
             UPDATE import_jobs SET done = done + $10, created = created + $11, updated = updated + $12,
               unchanged = unchanged + $13, rejected = rejected + $14 WHERE id = $1",
        )
        .bind(job)
        .bind(&n)
        .bind(&refs)
        .bind(&names)
        .bind(&what)
        .bind(&incidents)
        .bind(&seqs)
        .bind(&errors)
        .bind(&warnings)
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

/// Three columns of a list of rows.
fn unzip3<'a, T, A: ?Sized, B: ?Sized, C: ?Sized>(
    rows: &'a [T],
    f: impl Fn(&'a T) -> (&'a A, &'a B, &'a C),
) -> (Vec<&'a A>, Vec<&'a B>, Vec<&'a C>) {
    let mut out = (
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
    );
    for r in rows {
        let (a, b, c) = f(r);
        out.0.push(a);
        out.1.push(b);
        out.2.push(c);
    }
    out
}

/// [`batch::BatchWriter`] of this backend: a batch's transaction.
struct Writer<'a, 'c> {
    db: &'a Postgres,
    tx: &'a mut Tx<'c>,
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
