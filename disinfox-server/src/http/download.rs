//! Files to download, the same from the API and from the pages: a STIX bundle, a Navigator
//! layer (a JSON body with `Content-Disposition: attachment`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use stix_model::Bundle;

use crate::db::IncidentFilter;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::{bundle, navigator, ops};

/// A bundle as an `application/json` answer (serialized by `stix-model`).
pub fn bundle(bundle: &Bundle) -> ApiResult<Response> {
    let body = bundle.to_vec().map_err(|e| ApiError::Internal(e.into()))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// Marks an answer as a file to save under `filename`.
pub fn attachment(mut r: Response, filename: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// One incident's bundle, as `<id>.json`.
pub async fn incident_bundle(state: &AppState, id: &str, opencti: bool) -> ApiResult<Response> {
    let s = ops::load_incident(state, id).await?;
    let b = bundle::of_incident(&state.settings, &s, opencti)?;
    Ok(attachment(self::bundle(&b)?, &format!("{}.json", s.id)))
}

fn layer(layer: Value, filename: &str) -> Response {
    attachment(Json(layer).into_response(), filename)
}

/// One incident's Navigator layer, as `<id>-layer.json`.
pub async fn incident_layer(state: &AppState, id: &str) -> ApiResult<Response> {
    let s = ops::load_incident(state, id).await?;
    let l = navigator::of_incident(&state.settings, &s);
    Ok(layer(l, &format!("{}-layer.json", s.id)))
}

/// The heatmap layer of the incidents matching `filter`, as `disinfox-layer.json`.
pub async fn filtered_layer(state: &AppState, filter: &IncidentFilter) -> ApiResult<Response> {
    let l = navigator::of_filter(&state.store, &state.settings, filter).await?;
    Ok(layer(l, "disinfox-layer.json"))
}
