//! The bundle routes: one incident's bundle, the incremental bundle endpoint (the OpenCTI
//! connector's) and the streamed export. The bundles are built by [`crate::bundle`].

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;
use serde::Deserialize;

use crate::auth::Caller;
use crate::bundle::changes::{self, ChangesQuery};
use crate::bundle::{self, export::Exporter};
use crate::error::ApiResult;
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
    let page = changes::page(&state, &q).await?;
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
    let mut r = download::bundle(&page.bundle)?;
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
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
    let exporter = Exporter::new(state.store.clone(), filter, opts);
    let stream = futures_util::stream::unfold(exporter, |mut e| async move {
        match e.next_chunk().await {
            Ok(Some(bytes)) => Some((Ok::<Bytes, std::io::Error>(Bytes::from(bytes)), e)),
            Ok(None) => None,
            Err(err) => {
                tracing::error!(error = ?err, "export failed; the response is cut short");
                Some((Err(std::io::Error::other("export failed")), e))
            }
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(download::attachment(r, "disinfox-export.json"))
}
