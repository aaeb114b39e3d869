//! The bundle routes: one incident's bundle, the incremental bundle endpoint (the OpenCTI
//! connector's) and the streamed export. The bundles are built by [`crate::bundle`].

use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::Caller;
use crate::bundle;
use crate::bundle::changes::{self, ChangesQuery};
use crate::bundle::export::{Exporter, Source};
use crate::error::{ApiError, ApiResult};
use crate::http::download;
use crate::http::extract::{Params, PathParams};
use crate::ops::ListQuery;
use crate::state::AppState;

/// The high-water mark to send as `newer_than` next time (a server time).
pub const HIGH_WATER_MARK: &str = "x-disinfox-high-water-mark";
/// The cursor of the next page (or of the next call when there is no next page).
pub const NEXT_CURSOR: &str = "x-disinfox-next-cursor";
/// `true` when another page is ready now.
pub const MORE: &str = "x-disinfox-more";
/// How many incidents the page holds.
pub const INCIDENTS: &str = "x-disinfox-incidents";

#[derive(Debug, Deserialize)]
pub(crate) struct FlavorQuery {
    flavor: Option<String>,
}

pub(crate) async fn incident_bundle(
    State(state): State<AppState>,
    _caller: Caller,
    PathParams(id): PathParams<String>,
    Params(q): Params<FlavorQuery>,
) -> ApiResult<Response> {
    let opencti = bundle::parse_flavor(q.flavor.as_deref())?;
    download::incident_bundle(&state, &id, opencti).await
}

pub(crate) async fn changes_bundle(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<ChangesQuery>,
) -> ApiResult<Response> {
    let at = changes::position(&state, &q).await?;
    let Some(limit) = at.limit else {
        return changes_streamed(&state, &at).await;
    };
    let page = changes::page_at(&state, &q, &at, limit).await?;
    let mut headers = vec![
        (HeaderName::from_static(HIGH_WATER_MARK), page.next_mark),
        (
            HeaderName::from_static(NEXT_CURSOR),
            page.next_seq.to_string(),
        ),
        (HeaderName::from_static(MORE), page.more.to_string()),
        (
            HeaderName::from_static(INCIDENTS),
            page.incidents.to_string(),
        ),
    ];
    if let Some(next) = page.next_query {
        headers.push((
            header::LINK,
            format!("</api/v1/bundle?{next}>; rel=\"next\""),
        ));
    }
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        page.body,
    )
        .into_response();
    set_headers(&mut r, headers);
    Ok(r)
}

fn set_headers(r: &mut Response, headers: Vec<(HeaderName, String)>) {
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
}

/// Every change after the position in one answer, streamed a chunk of incidents at a time
/// (the existing DISINFOX connector's request). The body holds every change committed before
/// the stream reaches the end of the log; the mark and cursor in the headers are those of the
/// newest change when the answer starts, so a client that resumes from them may see a change
/// twice but never misses one. (The count of incidents is not known before the body is
/// written, so that header is left out.)
async fn changes_streamed(state: &AppState, at: &changes::Position) -> ApiResult<Response> {
    let after_seq = at.after_seq(state).await?;
    let newest = state.store.last_change_seq().await?;
    let (seq, mark) = if newest > after_seq {
        let mark = state.store.change_time(newest).await?;
        (newest, mark.unwrap_or_else(|| at.mark.clone()))
    } else {
        (after_seq, at.mark.clone())
    };
    let opts = changes::options_of(state, at)?;
    let exporter = Exporter::of(state.store.clone(), Source::Changes(after_seq), opts)
        .map_err(ApiError::Internal)?;
    let mut r = Response::new(exporter.into_body());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    set_headers(
        &mut r,
        vec![
            (HeaderName::from_static(HIGH_WATER_MARK), mark),
            (HeaderName::from_static(NEXT_CURSOR), seq.to_string()),
            (HeaderName::from_static(MORE), "false".to_owned()),
        ],
    );
    Ok(r)
}

/// The export: a bundle of every live incident matching the filters, written as it is read, a
/// chunk of incidents at a time, so memory stays bounded whatever the number of incidents.
pub(crate) async fn export(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<ListQuery>,
) -> ApiResult<Response> {
    let filter = q.filter()?;
    let opts = bundle::options(&state.settings, false)?;
    let exporter = Exporter::new(state.store.clone(), filter, opts).map_err(ApiError::Internal)?;
    let mut r = Response::new(exporter.into_body());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(download::attachment(r, "disinfox-export.json"))
}
