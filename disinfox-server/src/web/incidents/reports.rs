//! Report downloads: one incident's report, and the report of the incidents matching the
//! list's filters, each as PDF or DOCX ([`crate::report`]), marked with the instance's TLP
//! and organisation (settings `tlp`, `organization`).
//!
//! Bounded: the routes need a signed-in user (anonymous visitors of a public instance get
//! the sign-in page); a set report takes at most [`MAX_LISTED`] incidents (a larger set is
//! refused: narrow the filters); reports are written on the blocking pool, at most
//! [`CONCURRENT_REPORTS`] at a time — one more request is answered 503 at once rather than
//! queued.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use stix_model::Timestamp;
use tokio::sync::Semaphore;

use crate::correlate;
use crate::db::{Sort, StoredIncident};
use crate::http::download::attachment;
use crate::http::extract::PathParams;
use crate::ops::{self, ListQuery};
use crate::report::{
    IncidentReport, ReportError, ReportIncident, ReportMeta, ReportRelated, SetReport, MAX_LISTED,
};
use crate::state::AppState;
use crate::web::session::Ctx;
use crate::web::views::PageError;

/// Reports written at the same time, at most.
pub(crate) const CONCURRENT_REPORTS: usize = 2;

static WRITERS: Semaphore = Semaphore::const_new(CONCURRENT_REPORTS);

/// A report's file format.
#[derive(Debug, Clone, Copy)]
enum Format {
    Pdf,
    Docx,
}

impl Format {
    fn ext(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Docx => "docx",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        }
    }
}

fn meta(state: &AppState) -> ReportMeta {
    ReportMeta {
        tlp: state.settings.tlp,
        organisation: state.settings.organization.clone(),
        date: Timestamp::now().to_string().chars().take(10).collect(),
        disarm: state.settings.disarm_version,
    }
}

fn page_url(state: &AppState, id: &str) -> String {
    format!(
        "{}/incidents/{id}",
        state.settings.public_url.trim_end_matches('/')
    )
}

fn report_incident(state: &AppState, s: &StoredIncident) -> ReportIncident {
    let d = s
        .incident
        .to_description(&s.id, s.created, s.modified, s.revoked);
    let mut r = ReportIncident::from_description(&d);
    r.url = Some(page_url(state, s.id.as_ref()));
    r
}

/// Writes a report on the blocking pool, within the cap, as a download.
async fn write(
    ctx: &Ctx,
    format: Format,
    filename: String,
    job: impl FnOnce(Format) -> Result<Vec<u8>, ReportError> + Send + 'static,
) -> Result<Response, PageError> {
    let Ok(_permit) = WRITERS.try_acquire() else {
        return Err(
            PageError::busy("Other reports are being written; try again in a moment.").with(ctx),
        );
    };
    let bytes = tokio::task::spawn_blocking(move || job(format))
        .await
        .map_err(PageError::internal)?
        .map_err(PageError::internal)?;
    let r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        bytes,
    )
        .into_response();
    Ok(attachment(r, &format!("{filename}.{}", format.ext())))
}

async fn incident_report(
    state: AppState,
    ctx: Ctx,
    id: String,
    format: Format,
) -> Result<Response, PageError> {
    let s = ops::load_incident(&state, &id)
        .await
        .map_err(|e| PageError::from(e).with(&ctx))?;
    let related = if s.revoked {
        Vec::new()
    } else {
        correlate::related(&state.store, &s, 10).await?
    };
    let report = IncidentReport {
        meta: meta(&state),
        incident: report_incident(&state, &s),
        related: related
            .iter()
            .map(|r| ReportRelated {
                name: r.name.clone(),
                url: Some(page_url(&state, &r.id)),
                reason: r.reason.clone(),
            })
            .collect(),
    };
    let name = format!("report-{}", s.id);
    write(&ctx, format, name, move |f| match f {
        Format::Pdf => report.pdf(),
        Format::Docx => report.docx(),
    })
    .await
}

pub(crate) async fn incident_pdf(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<String>,
) -> Result<Response, PageError> {
    incident_report(state, ctx, id, Format::Pdf).await
}

pub(crate) async fn incident_docx(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<String>,
) -> Result<Response, PageError> {
    incident_report(state, ctx, id, Format::Docx).await
}

async fn set_report(
    state: AppState,
    ctx: Ctx,
    q: ListQuery,
    format: Format,
) -> Result<Response, PageError> {
    let filter = q.filter().map_err(|e| PageError::from(e).with(&ctx))?;
    let limit = i64::try_from(MAX_LISTED).unwrap_or(i64::MAX);
    let (items, total) = state
        .store
        .list_incidents(&filter, Sort::Date, true, 0, limit)
        .await?;
    if total > limit {
        return Err(PageError::bad_request(format!(
            "{total} incidents match; a report takes at most {MAX_LISTED}. Narrow the filters."
        ))
        .with(&ctx));
    }
    let filters: Vec<(String, String)> = super::filters::query_pairs(&q)
        .into_iter()
        .filter(|(k, _)| super::filters::FILTER_KEYS.contains(k))
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let title = if filters.is_empty() {
        "Disinformation incidents".to_owned()
    } else {
        format!(
            "Disinformation incidents: {}",
            filters
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let report = SetReport {
        meta: meta(&state),
        title,
        filters,
        incidents: items.iter().map(|s| report_incident(&state, s)).collect(),
    };
    write(
        &ctx,
        format,
        "incidents-report".to_owned(),
        move |f| match f {
            Format::Pdf => report.pdf(),
            Format::Docx => report.docx(),
        },
    )
    .await
}

pub(crate) async fn set_pdf(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    set_report(state, ctx, q, Format::Pdf).await
}

pub(crate) async fn set_docx(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    set_report(state, ctx, q, Format::Docx).await
}
