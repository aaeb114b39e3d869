//! Bulk import: the upload form, starting an import job, and the job's page (progress, then
//! the report).

use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::http::download;
use crate::http::extract::PathParams;
use crate::import;
use crate::jobs;
use crate::state::AppState;
use crate::web::session::Ctx;
use crate::web::views::{render, render_status, see_other, Layout, PageError, PageResult};

struct RejectedView {
    place: String,
    name: Option<String>,
    errors: Vec<String>,
}

struct ReportView {
    file: String,
    created: Vec<(String, String)>,
    created_n: usize,
    updated: Vec<(String, String)>,
    updated_n: usize,
    unchanged: usize,
    rejected: Vec<RejectedView>,
    warnings: Vec<String>,
}

/// A job as its page shows it.
struct JobPanel {
    file: String,
    state: &'static str,
    finished: bool,
    done: i64,
    total: Option<i64>,
    percent: i64,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    l: Layout,
    job: Option<JobPanel>,
    report: Option<ReportView>,
    error: Option<String>,
    limit_kib: usize,
}

/// How many created or updated incidents the report names.
const REPORT_NAMES: usize = 200;

/// Seconds between two loads of the page of a job under way (a `<meta http-equiv=refresh>`:
/// the progress bar moves without script).
const JOB_REFRESH_SECS: u32 = 1;

fn import_page(state: &AppState, ctx: &Ctx) -> ImportPage {
    ImportPage {
        l: Layout::new(state, Some(ctx), "Bulk import", "import"),
        job: None,
        report: None,
        error: None,
        limit_kib: state.settings.body_limit_bytes / 1024,
    }
}

pub(crate) async fn import_form(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    render(&import_page(&state, &ctx))
}

/// `GET /import/template.csv`: the bulk CSV template (header and one example row) for the
/// server's DISARM version, as a file to save.
pub(crate) async fn csv_template(State(state): State<AppState>) -> Response {
    let body = import::csv::template(state.settings.disarm_version);
    download::attachment(
        ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response(),
        "disinfox-import-template.csv",
    )
}

async fn named(state: &AppState, ids: &[String]) -> Result<Vec<(String, String)>, PageError> {
    let first: Vec<String> = ids.iter().take(REPORT_NAMES).cloned().collect();
    let found = state.store.incidents_by_ids(&first).await?;
    Ok(first
        .iter()
        .map(|id| {
            let name = found
                .iter()
                .find(|s| s.id.as_str() == id)
                .map_or_else(|| id.clone(), |s| s.incident.input.name.clone());
            (id.clone(), name)
        })
        .collect())
}

/// Starts an import job for the uploaded file and leads to the job's page (after waiting a
/// moment, so that a small file's page shows its report at once).
pub(crate) async fn import(
    State(state): State<AppState>,
    ctx: Ctx,
    mut multipart: Multipart,
) -> PageResult {
    let caller = ctx.caller()?;
    let mut file: Option<(String, axum::body::Bytes)> = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| {
        PageError::bad_request(format!("The upload could not be read: {e}")).with(&ctx)
    })? {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("upload").to_owned();
            let bytes = field.bytes().await.map_err(|e| {
                PageError::bad_request(format!("The upload could not be read: {e}")).with(&ctx)
            })?;
            file = Some((name, bytes));
        }
    }
    let mut page = import_page(&state, &ctx);
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        page.error = Some("Choose a file to import: the upload was empty.".into());
        return render_status(StatusCode::BAD_REQUEST, &page);
    };
    caller.require_write()?;
    let format = import::Format::of_file(&name, &bytes);
    match jobs::submit(&state, &caller, &name, format, bytes).await {
        Ok(job) => {
            for _ in 0..20 {
                match state.store.job(&job.id).await? {
                    Some(j) if !j.state.is_finished() => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await
                    }
                    _ => break,
                }
            }
            Ok(see_other(&jobs::page_url(&job.id)))
        }
        Err(ApiError::Internal(e)) => Err(PageError::from(ApiError::Internal(e)).with(&ctx)),
        Err(e) => {
            page.error = Some(format!("{name} was not imported: {e}"));
            render_status(e.status(), &page)
        }
    }
}

/// The page of an import job: a progress bar while it runs (the page reloads itself), the
/// report once it is over.
pub(crate) async fn import_job(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<String>,
) -> PageResult {
    let caller = ctx.caller()?;
    let job = jobs::find(&state, &caller.user, &id)
        .await
        .map_err(|e| PageError::from(e).with(&ctx))?;
    let mut page = import_page(&state, &ctx);
    let finished = job.state.is_finished();
    if finished {
        let r = jobs::report(&state, &job).await?;
        page.report = Some(ReportView {
            file: job.file_name.clone(),
            created: named(&state, &r.created).await?,
            created_n: r.created.len(),
            updated: named(&state, &r.updated).await?,
            updated_n: r.updated.len(),
            unchanged: r.unchanged,
            rejected: r
                .rejected
                .into_iter()
                .map(|x| RejectedView {
                    place: x.r#ref,
                    name: x.name,
                    errors: x.errors,
                })
                .collect(),
            warnings: r.warnings,
        });
    } else {
        page.l.refresh = Some(JOB_REFRESH_SECS);
    }
    let percent = match job.total {
        Some(t) if t > 0 => (job.done * 100 / t).clamp(0, 100),
        Some(_) => 100,
        None => 0,
    };
    page.job = Some(JobPanel {
        file: job.file_name,
        state: job.state.as_str(),
        finished,
        done: job.done,
        total: job.total,
        percent,
        error: job.error,
    });
    render(&page)
}
