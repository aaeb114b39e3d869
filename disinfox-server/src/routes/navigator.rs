//! DISARM Navigator layers from the API: one incident's, and the heatmap of any filtered set
//! of incidents (all of them without filters). The layers are built by [`crate::navigator`].

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use stix_model::disarm::Catalogue;

use super::api::{load, ListQuery, Params, PathParams};
use crate::auth::Caller;
use crate::db::IncidentFilter;
use crate::error::ApiResult;
use crate::navigator::{self, LayerOptions};
use crate::startup::AppState;

/// The link from a layer's techniques back to the server: the incident list (web page)
/// filtered on the technique.
fn technique_link(state: &AppState) -> String {
    format!(
        "{}/incidents?technique={{technique}}",
        state.settings.public_url.trim_end_matches('/')
    )
}

fn layer_response(layer: Value, filename: &str) -> Response {
    let mut r = Json(layer).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

pub(crate) async fn incident_layer(
    State(state): State<AppState>,
    _caller: Caller,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    incident_layer_response(&state, &id).await
}

/// The layer of one incident, as a download (the API route and the incident page).
pub(crate) async fn incident_layer_response(state: &AppState, id: &str) -> ApiResult<Response> {
    let s = load(state, id).await?;
    let catalogue = Catalogue::builtin(state.settings.disarm_version);
    let mut description = format!("DISARM techniques of the incident {}", s.id);
    if let Some(d) = &s.incident.input.first_seen {
        description.push_str(&format!(", first seen {d}"));
    }
    if s.revoked {
        description.push_str(" (deleted)");
    }
    description.push('.');
    let opts = LayerOptions {
        name: s.incident.input.name.clone(),
        description,
        technique_link: Some(technique_link(state)),
        metadata: vec![("incident".to_owned(), s.id.to_string())],
        ..LayerOptions::default()
    };
    let layer = navigator::layer(catalogue, &navigator::incident_counts(&s.incident), &opts);
    Ok(layer_response(layer, &format!("{}-layer.json", s.id)))
}

/// The filters applied, as `name=value` pairs (for the layer's name and metadata).
fn filter_terms(f: &IncidentFilter) -> Vec<(String, String)> {
    let terms: BTreeMap<&str, &Option<String>> = BTreeMap::from([
        ("q", &f.q),
        ("country", &f.country),
        ("actor", &f.actor),
        ("technique", &f.technique),
        ("tactic", &f.tactic),
        ("channel", &f.channel),
        ("from", &f.from),
        ("to", &f.to),
    ]);
    terms
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), v.clone())))
        .collect()
}

pub(crate) async fn filtered_layer(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<ListQuery>,
) -> ApiResult<Response> {
    filtered_layer_response(&state, &q).await
}

/// The heatmap layer of the incidents matching `q`'s filters, as a download (the API route
/// and the matrix page).
pub(crate) async fn filtered_layer_response(
    state: &AppState,
    q: &ListQuery,
) -> ApiResult<Response> {
    let filter = q.filter()?;
    let terms = filter_terms(&filter);
    let name = if terms.is_empty() {
        "DISINFOX: all incidents".to_owned()
    } else {
        format!(
            "DISINFOX: {}",
            terms
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let opts = LayerOptions {
        name,
        technique_link: Some(technique_link(state)),
        metadata: terms
            .into_iter()
            .map(|(k, v)| (format!("filter {k}"), v))
            .collect(),
        ..LayerOptions::default()
    };
    let catalogue = Catalogue::builtin(state.settings.disarm_version);
    let layer = navigator::filtered_layer(&state.store, catalogue, &filter, opts).await?;
    Ok(layer_response(layer, "disinfox-layer.json"))
}
