//! JSON handlers of `/api/v1`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stix_model::disarm::Catalogue;
use stix_model::CountryCode;

use crate::auth::{Caller, Scope};
use crate::correlate;
use crate::db::{Facet, IncidentFilter, StoredIncident};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{JsonBody, Params, PathParams};
use crate::import;
use crate::jobs;
use crate::model::IncidentInput;
use crate::ops::{self, ListQuery};
use crate::state::AppState;

/// The DISARM licence statement shown with DISARM data (API and pages).
pub const DISARM_ATTRIBUTION: &str = "DISARM framework by the DISARM Foundation, CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/)";

pub(crate) async fn health(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(_) => {
            Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})).into_response()
        }
        Err(e) => {
            tracing::error!(error = ?e, "health check: database");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": {"status": 503, "message": "database unavailable"}})),
            )
                .into_response()
        }
    }
}

pub(crate) async fn me(caller: Caller) -> Json<Value> {
    Json(json!({
        "user": caller.user,
        "scope": match caller.scope { Scope::Read => "read", Scope::Write => "write" },
        "key_id": caller.key_id,
    }))
}

pub(crate) async fn check_auth(_caller: Caller) -> Json<Value> {
    Json(json!({"message": "the API key is valid"}))
}

/// An incident as the API returns it.
#[derive(Debug, Serialize)]
pub struct IncidentView {
    /// STIX id.
    pub id: String,
    /// Creation time.
    pub created: String,
    /// Time of the current version.
    pub modified: String,
    /// True for deleted incidents.
    pub revoked: bool,
    /// The content.
    #[serde(flatten)]
    pub input: IncidentInput,
    /// Technique names and tactics.
    pub technique_details: Vec<Value>,
    /// Country names.
    pub country_names: BTreeMap<String, String>,
}

pub(crate) fn view(s: &StoredIncident, catalogue: &Catalogue) -> IncidentView {
    let input = s.incident.to_input();
    let technique_details = input
        .techniques
        .iter()
        .map(|t| match catalogue.technique(t) {
            Some(x) => json!({"id": t, "name": x.name, "tactic": x.tactic}),
            None => json!({"id": t, "name": null, "tactic": null, "unknown": true}),
        })
        .collect();
    let country_names = input
        .target_countries
        .iter()
        .chain(input.country_of_origin.iter())
        .filter_map(|c| {
            CountryCode::parse(c)
                .ok()
                .map(|code| (c.clone(), code.name().to_owned()))
        })
        .collect();
    IncidentView {
        id: s.id.to_string(),
        created: s.created.to_string(),
        modified: s.modified.to_string(),
        revoked: s.revoked,
        input,
        technique_details,
        country_names,
    }
}

pub(crate) async fn list_incidents(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Value>> {
    let req = q.request()?;
    let (items, total) = ops::list_incidents(&state, &req).await?;
    let catalogue = Catalogue::builtin(state.settings.disarm_version);
    let per_page = req.per_page;
    Ok(Json(json!({
        "items": items.iter().map(|i| view(i, catalogue)).collect::<Vec<_>>(),
        "total": total,
        "page": req.page,
        "per_page": per_page,
        "pages": (total + per_page - 1) / per_page,
    })))
}

pub(crate) async fn create_incident(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<IncidentInput>,
) -> ApiResult<Response> {
    let stored = ops::create_incident(&state, &caller, input).await?;
    let catalogue = Catalogue::builtin(state.settings.disarm_version);
    let location = format!("/api/v1/incidents/{}", stored.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view(&stored, catalogue)),
    )
        .into_response())
}

pub(crate) async fn get_incident(
    State(state): State<AppState>,
    _caller: Caller,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<IncidentView>> {
    let s = ops::load_incident(&state, &id).await?;
    Ok(Json(view(
        &s,
        Catalogue::builtin(state.settings.disarm_version),
    )))
}

pub(crate) async fn update_incident(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    JsonBody(input): JsonBody<IncidentInput>,
) -> ApiResult<Json<IncidentView>> {
    let stored = ops::update_incident(&state, &caller, &id, input).await?;
    Ok(Json(view(
        &stored,
        Catalogue::builtin(state.settings.disarm_version),
    )))
}

pub(crate) async fn delete_incident(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    ops::delete_incident(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub(crate) struct LimitQuery {
    limit: Option<i64>,
}

pub(crate) async fn related(
    State(state): State<AppState>,
    _caller: Caller,
    PathParams(id): PathParams<String>,
    Params(q): Params<LimitQuery>,
) -> ApiResult<Json<Value>> {
    let s = ops::load_incident(&state, &id).await?;
    let limit = q.limit.unwrap_or(20).clamp(1, 100) as usize;
    let items = correlate::related(&state.store, &s, limit).await?;
    Ok(Json(json!({"items": items})))
}

pub(crate) async fn import(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require_write()?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(format) = import::Format::from_media_type(ct) else {
        return Err(ApiError::UnsupportedMediaType(
            "send a STIX bundle as application/json or a DISINFOX CSV file as text/csv".into(),
        ));
    };
    let name = match format {
        import::Format::Stix => "upload.json",
        import::Format::Csv => "upload.csv",
    };
    let job = jobs::submit(&state, &caller, name, format, body).await?;
    let location = jobs::api_url(&job.id);
    let view = jobs::view(&state, job).await?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

pub(crate) async fn job(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<jobs::JobView>> {
    let job = jobs::find(&state, &caller.user, &id).await?;
    Ok(Json(jobs::view(&state, job).await?))
}

pub(crate) async fn disarm(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<Value>> {
    let catalogue = Catalogue::builtin(state.settings.disarm_version);
    let counts = ops::technique_counts(&state, &IncidentFilter::default()).await?;
    let tactics: Vec<Value> = catalogue
        .tactics()
        .iter()
        .map(|t| {
            let techniques: Vec<Value> = catalogue
                .techniques_of_tactic(&t.shortname)
                .map(|x| json!({
                    "id": x.id.as_str(), "name": x.name, "parent": x.parent.as_ref().map(|p| p.as_str()),
                    "url": x.url, "incidents": counts.get(x.id.as_str()).copied().unwrap_or(0),
                }))
                .collect();
            json!({
                "id": t.id.as_str(), "shortname": t.shortname, "name": t.name,
                "phase": t.phase.map(|p| json!({"id": p.id(), "name": p.name()})),
                "url": t.url, "techniques": techniques,
            })
        })
        .collect();
    Ok(Json(json!({
        "version": catalogue.version_label(),
        "attribution": DISARM_ATTRIBUTION,
        "tactics": tactics,
    })))
}

async fn counts(state: &AppState, facet: Facet, limit: Option<i64>) -> ApiResult<Json<Value>> {
    let limit = limit.unwrap_or(100).clamp(1, 10_000);
    let items = state.store.facet_counts(facet, limit).await?;
    Ok(Json(json!({"items": items})))
}

pub(crate) async fn actors(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<LimitQuery>,
) -> ApiResult<Json<Value>> {
    counts(&state, Facet::Actor, q.limit).await
}

pub(crate) async fn countries(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<LimitQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(300).clamp(1, 10_000);
    let items: Vec<Value> = state
        .store
        .facet_counts(Facet::Country, limit)
        .await?
        .into_iter()
        .map(|c| {
            let name = CountryCode::parse(&c.key).map(|x| x.name()).unwrap_or("");
            json!({"key": c.key, "name": name, "count": c.count})
        })
        .collect();
    Ok(Json(json!({"items": items})))
}

pub(crate) async fn channels(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<LimitQuery>,
) -> ApiResult<Json<Value>> {
    counts(&state, Facet::Channel, q.limit).await
}

pub(crate) async fn stats(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<ops::Stats>> {
    Ok(Json(ops::stats(&state).await?))
}

#[derive(Debug, Deserialize)]
pub(crate) struct AllQuery {
    all: Option<bool>,
}

pub(crate) async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<AllQuery>,
) -> ApiResult<Json<Value>> {
    let user = if q.all == Some(true) {
        caller.require_admin()?;
        None
    } else {
        Some(caller.user.id)
    };
    Ok(Json(json!({"items": state.store.api_keys(user).await?})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: Option<String>,
}

pub(crate) async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(k): JsonBody<NewKey>,
) -> ApiResult<Response> {
    let (secret, info) = ops::create_key(&state, &caller, &k.name, k.scope.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"key": secret, "info": info, "note": "the key is shown once; store it now"})),
    )
        .into_response())
}

pub(crate) async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<i64>,
) -> ApiResult<StatusCode> {
    ops::revoke_key(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    Ok(Json(json!({"items": state.store.users().await?})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    email: String,
    role: String,
    #[serde(default)]
    password: Option<String>,
}

pub(crate) async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(u): JsonBody<NewUser>,
) -> ApiResult<Response> {
    let (user, generated) =
        ops::create_user(&state, &caller, &u.email, &u.role, u.password).await?;
    let mut body = json!({"user": user});
    if let Some(password) = generated {
        body["password"] = json!(password);
        body["note"] = json!("the password is shown once");
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserPatch {
    role: Option<String>,
    disabled: Option<bool>,
}

pub(crate) async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<i64>,
    JsonBody(p): JsonBody<UserPatch>,
) -> ApiResult<Json<Value>> {
    let user = ops::update_user(&state, &caller, id, p.role.as_deref(), p.disabled).await?;
    Ok(Json(json!({"user": user})))
}
