//! Import jobs: an upload (`POST /api/v1/import`, the import page) is answered at once with
//! the URL of a job; the job reads the file on the blocking pool, then applies its incidents in
//! transactions of a few, and `GET /api/v1/jobs/{id}` (or the job's page) reports state,
//! progress and, once it is over, the report.
//!
//! Semantics: per incident, not all-or-nothing. Each incident of the file is applied or
//! rejected on its own, in the same transaction as the incident's row of the job's report
//! and the job's counters (transactions of [`crate::import::BATCH`] incidents, see
//! [`crate::db::Store::import_items`]), so at every moment, a crash included,
//! the report lists exactly the incidents applied and nothing else. A start marks the jobs a
//! stopped process left unfinished as failed, with the count of incidents done; importing
//! the same file again finishes the work (what was applied comes back unchanged).
//!
//! Several replicas on one database (PostgreSQL): a job runs in the process that received
//! its upload (the file is in that process's memory only), which claims it at once
//! ([`crate::db::Store::claim_job`]: the job's `owner` becomes the process's
//! [`AppState::instance`], only while it is queued and unowned, so a job runs once). Every
//! process writes a heartbeat every [`HEARTBEAT`]; a job is interrupted when its owner has
//! not beaten for [`LEASE`], and whichever process sees it first fails it
//! ([`upkeep`]). A replica starting does not fail the jobs the others are running. On
//! SQLite (one process) a start fails every unfinished job, as it always did.
//!
//! Bounds: the upload is limited by `body_limit_bytes` (a declared `Content-Length` above it
//! is refused before reading), a user has at most `import_jobs_per_user` and the server at
//! most `import_jobs_max` unfinished jobs (429 with `Retry-After` beyond), the file is held in
//! memory only until it is read, and reading it runs on the blocking pool, never on the
//! async workers.

use std::time::Duration;

use axum::body::Bytes;
use serde::Serialize;

use crate::audit::{self, AuditEvent, AuditKind};
use crate::auth::Caller;
use crate::db::jobs::{Busy, Change, Job, JobState, Planned};
use crate::db::replicas::unix_ms;
use crate::db::{Prepared, Role, Store, User};
use crate::error::{ApiError, ApiResult};
use crate::import::{self, Format, ImportReport};
use crate::state::AppState;

/// The URL of a job in the API.
pub fn api_url(id: &str) -> String {
    format!("/api/v1/jobs/{id}")
}

/// The URL of a job's page.
pub fn page_url(id: &str) -> String {
    format!("/import/jobs/{id}")
}

/// Accepts an upload as a job and starts it: the file is checked only as far as its first
/// bytes (the rest is the job's work). Refused when the caller or the server has too many
/// unfinished jobs.
pub async fn submit(
    state: &AppState,
    caller: &Caller,
    file_name: &str,
    format: Format,
    bytes: Bytes,
) -> ApiResult<Job> {
    format.check_head(&bytes)?;
    let user_id = Some(caller.user.id);
    let s = &state.settings;
    let job = match state
        .store
        .create_job(
            user_id,
            file_name,
            format.as_str(),
            bytes.len(),
            s.import_jobs_per_user,
            s.import_jobs_max,
        )
        .await?
    {
        Ok(job) => job,
        Err(Busy::User(n)) => {
            return Err(ApiError::TooMany {
                message: format!(
                    "you have {n} import jobs under way (at most {}); wait for one to finish",
                    s.import_jobs_per_user
                ),
                retry_after_secs: 10,
            })
        }
        Err(Busy::Server(n)) => {
            return Err(ApiError::TooMany {
                message: format!(
                    "the server is running {n} import jobs (at most {}); try again shortly",
                    s.import_jobs_max
                ),
                retry_after_secs: 10,
            })
        }
    };
    if !state.store.claim_job(&job.id, &state.instance).await? {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "job {} was taken by another process before it started",
            job.id
        )));
    }
    audit::record(
        &state.store,
        AuditEvent::new(AuditKind::ImportStarted)
            .by(caller)
            .on(format!("job {}", job.id))
            .detail(format!(
                "{} file {:?}, {} bytes",
                format.as_str(),
                file_name,
                bytes.len()
            )),
    )
    .await;
    let (st, id) = (state.clone(), job.id.clone());
    tokio::spawn(async move {
        if let Err(e) = run(&st, &id, format, bytes, user_id).await {
            tracing::error!(job = %id, error = ?e, "import job broke");
            let _ = st
                .store
                .finish_job(
                    &id,
                    Some("the job broke on a server error (logged); the report lists exactly what was applied"),
                )
                .await;
        }
    });
    Ok(job)
}

/// Runs a job: plans the file, then applies each incident with its report row.
async fn run(
    state: &AppState,
    id: &str,
    format: Format,
    bytes: Bytes,
    user_id: Option<i64>,
) -> anyhow::Result<()> {
    let plan = match import::plan_blocking(format, bytes, state.settings.disarm_version).await {
        Ok(plan) => plan,
        Err(ApiError::Internal(e)) => return Err(e),
        Err(refused) => {
            // The file as a whole was refused: one rejected entry says why, nothing applied.
            let message = refused.to_string();
            state.store.start_job(id, 1, &[]).await?;
            let item = Planned {
                r#ref: "file".into(),
                name: None,
                change: Change::Reject(vec![message.clone()]),
                warnings: Vec::new(),
            };
            state
                .store
                .import_items(Some(id), &[(1, &item)], user_id, Prepared::default())
                .await?;
            state.store.finish_job(id, Some(&message)).await?;
            audit_finished(state, id).await;
            return Ok(());
        }
    };
    state
        .store
        .start_job(id, plan.items.len(), &plan.warnings)
        .await?;
    import::apply(
        &state.store,
        Some(id),
        std::sync::Arc::new(plan.items),
        user_id,
        |_, _| {},
    )
    .await?;
    state.store.finish_job(id, None).await?;
    audit_finished(state, id).await;
    Ok(())
}

/// How often a process writes its heartbeat (and looks for interrupted jobs).
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A process silent this long is gone: its unfinished jobs are failed.
pub const LEASE: Duration = Duration::from_secs(30);
/// A process silent this long is forgotten.
const FORGET_INSTANCE: Duration = Duration::from_secs(24 * 3600);
/// Rate-limit buckets and failed sign-ins untouched this long are deleted (every limit's
/// period is at most an hour, so their buckets are full again by then).
const PRUNE_AFTER: Duration = Duration::from_secs(3600);

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// At start, before serving: fails the jobs a stopped process left unfinished and returns
/// their ids. SQLite: every unfinished job (the database has one process). PostgreSQL: this
/// process's first heartbeat, then only the jobs of processes silent for [`LEASE`] (and
/// running jobs without an owner, from before owners were recorded); the jobs of replicas
/// alive are left alone.
pub async fn recover(store: &Store, instance: &str) -> anyhow::Result<Vec<String>> {
    if !store.is_postgres() {
        return store.fail_interrupted_jobs().await;
    }
    let now = unix_ms();
    store
        .beat(instance, now, now - millis(FORGET_INSTANCE))
        .await?;
    store.fail_abandoned_jobs(now - millis(LEASE), &[]).await
}

/// What a serving process does in the background on a shared database (PostgreSQL; nothing
/// on SQLite): every [`HEARTBEAT`] its heartbeat, and it fails the jobs of processes gone
/// silent (and the queued jobs still unowned since the previous round: their process
/// stopped between accepting and claiming them); every few minutes it deletes stale
/// rate-limit buckets and sign-in failures. Runs until dropped.
pub async fn upkeep(store: Store, instance: std::sync::Arc<str>) {
    if !store.is_postgres() {
        return;
    }
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unowned: Vec<String> = Vec::new();
    let mut round: u64 = 0;
    loop {
        tick.tick().await;
        round += 1;
        let now = unix_ms();
        let beat = store
            .beat(&instance, now, now - millis(FORGET_INSTANCE))
            .await;
        if let Err(e) = beat {
            tracing::warn!(error = ?e, "could not write this process's heartbeat");
            continue;
        }
        match store
            .fail_abandoned_jobs(now - millis(LEASE), &unowned)
            .await
        {
            Ok(ids) => {
                for id in ids {
                    tracing::warn!(job = %id, "import job's process stopped; marked failed");
                }
            }
            Err(e) => tracing::warn!(error = ?e, "could not look for interrupted jobs"),
        }
        unowned = store.unowned_queued_jobs().await.unwrap_or_default();
        if round % 60 == 1 {
            if let Err(e) = store
                .prune_shared_limits(now - millis(PRUNE_AFTER), now)
                .await
            {
                tracing::warn!(error = ?e, "could not prune rate-limit rows");
            }
        }
    }
}

async fn audit_finished(state: &AppState, id: &str) {
    if let Ok(Some(j)) = state.store.job(id).await {
        let mut event = AuditEvent::new(AuditKind::ImportFinished)
            .on(format!("job {}", j.id))
            .detail(format!(
                "{}: {} created, {} updated, {} unchanged, {} rejected",
                j.state.as_str(),
                j.created,
                j.updated,
                j.unchanged,
                j.rejected
            ));
        if let Some(uid) = j.user_id {
            if let Ok(Some(user)) = state.store.user(uid).await {
                event = event.by_user(&user);
            }
        }
        audit::record(&state.store, event).await;
    }
}

/// A job as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct JobView {
    /// Id.
    pub id: String,
    /// This resource.
    pub url: String,
    /// queued, running, succeeded or failed.
    pub state: JobState,
    /// The uploaded file's name.
    pub file: String,
    /// `stix` or `csv`.
    pub format: String,
    /// Bytes uploaded.
    pub size: i64,
    /// Incidents done and in the file (`total` is null until the file is read).
    pub progress: Progress,
    /// Counts so far.
    pub counts: Counts,
    /// Once the job is over: what it did with each incident.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<ImportReport>,
    /// Why a failed job failed.
    pub error: Option<String>,
    /// When it was accepted.
    pub created_at: String,
    /// When it started.
    pub started_at: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
}

/// Rows done of the total.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Progress {
    /// Incidents applied or rejected.
    pub done: i64,
    /// Incidents in the file (null until read).
    pub total: Option<i64>,
}

/// The counters of a job.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Counts {
    /// Created.
    pub created: i64,
    /// Given a new version (or revoked).
    pub updated: i64,
    /// Identical to what is stored.
    pub unchanged: i64,
    /// Rejected.
    pub rejected: i64,
}

/// The job `id` as `user` may see it: their own jobs, every job for an administrator; 404
/// for any other (whether it exists is not told).
pub async fn find(state: &AppState, user: &User, id: &str) -> ApiResult<Job> {
    let missing = || ApiError::NotFound(format!("no import job {id:?}"));
    let job = state.store.job(id).await?.ok_or_else(missing)?;
    if job.user_id != Some(user.id) && user.role != Role::Admin {
        return Err(missing());
    }
    Ok(job)
}

/// The view of a job, with its report once it is over.
pub async fn view(state: &AppState, job: Job) -> ApiResult<JobView> {
    let report = if job.state.is_finished() {
        Some(report(state, &job).await?)
    } else {
        None
    };
    Ok(JobView {
        url: api_url(&job.id),
        id: job.id,
        state: job.state,
        file: job.file_name,
        format: job.format,
        size: job.size,
        progress: Progress {
            done: job.done,
            total: job.total,
        },
        counts: Counts {
            created: job.created,
            updated: job.updated,
            unchanged: job.unchanged,
            rejected: job.rejected,
        },
        report,
        error: job.error,
        created_at: job.created_at,
        started_at: job.started_at,
        finished_at: job.finished_at,
    })
}

/// The report of a job: its file's warnings and what it did with each incident so far.
pub async fn report(state: &AppState, job: &Job) -> ApiResult<ImportReport> {
    let mut r = ImportReport {
        warnings: job.warnings.clone(),
        ..ImportReport::default()
    };
    for item in state.store.job_items(&job.id).await? {
        let id = item.incident_id.clone().unwrap_or_default();
        match item.outcome.as_str() {
            "created" => r.created.push(id),
            "updated" => r.updated.push(id),
            "unchanged" => r.unchanged += 1,
            _ => r.rejected.push(import::Rejected {
                r#ref: item.r#ref.clone(),
                name: item.name.clone(),
                errors: item.errors.clone(),
            }),
        }
        r.warnings
            .extend(item.warnings.iter().map(|w| format!("{}: {w}", item.r#ref)));
    }
    Ok(r)
}
