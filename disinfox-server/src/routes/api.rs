//! JSON handlers of `/api/v1`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use stix_model::disarm::Catalogue;
use stix_model::CountryCode;

use super::bodies::{
    CountryCount, CreatedKey, CreatedUser, DisarmView, Health, IncidentPage, IncidentView, Items,
    Me, Message, NewKey, NewUser, PhaseView, ScopeName, TacticView, TechniqueDetail, TechniqueView,
    UserBody, UserPatch,
};
use crate::auth::{Caller, Scope};
use crate::correlate;
use crate::db::{ApiKeyInfo, Count, Facet, IncidentFilter, StoredIncident, User};
use crate::error::{error_response, ApiError, ApiResult};
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
        Ok(_) => Json(Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        })
        .into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "health check: database");
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable",
                BTreeMap::new(),
            )
        }
    }
}

pub(crate) async fn me(caller: Caller) -> Json<Me> {
    Json(Me {
        scope: match caller.scope {
            Scope::Read => ScopeName::Read,
            Scope::Write => ScopeName::Write,
        },
        key_id: caller.key_id,
        user: caller.user,
    })
}

pub(crate) async fn check_auth(_caller: Caller) -> Json<Message> {
    Json(Message {
        message: "the API key is valid".into(),
    })
}

pub(crate) fn view(s: &StoredIncident, catalogue: &Catalogue) -> IncidentView {
    let input = s.incident.to_input();
    let technique_details = input
        .techniques
        .iter()
        .map(|t| match catalogue.technique(t) {
            Some(x) => TechniqueDetail {
                id: t.clone(),
                name: Some(x.name.clone()),
                tactic: Some(x.tactic.clone()),
                unknown: false,
            },
            None => TechniqueDetail {
                id: t.clone(),
                name: None,
                tactic: None,
                unknown: true,
            },
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
) -> ApiResult<Json<IncidentPage>> {
    let req = q.request()?;
    let (items, total) = ops::list_incidents(&state, &req).await?;
    let catalogue = Catalogue::builtin(state.settings.disarm_version);
    let per_page = req.per_page;
    Ok(Json(IncidentPage {
        items: items.iter().map(|i| view(i, catalogue)).collect(),
        total,
        page: req.page,
        per_page,
        pages: (total + per_page - 1) / per_page,
    }))
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
) -> ApiResult<Json<Items<correlate::Related>>> {
    let s = ops::load_incident(&state, &id).await?;
    let limit = q.limit.unwrap_or(20).clamp(1, 100) as usize;
    let items = correlate::related(&state.store, &s, limit).await?;
    Ok(Json(Items { items }))
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
) -> ApiResult<Json<DisarmView>> {
    let catalogue = Catalogue::builtin(state.settings.disarm_version);
    let counts = ops::technique_counts(&state, &IncidentFilter::default()).await?;
    let tactics = catalogue
        .tactics()
        .iter()
        .map(|t| TacticView {
            id: t.id.as_str().to_owned(),
            shortname: t.shortname.clone(),
            name: t.name.clone(),
            phase: t.phase.map(|p| PhaseView {
                id: p.id().to_owned(),
                name: p.name().to_owned(),
            }),
            url: t.url.clone(),
            techniques: catalogue
                .techniques_of_tactic(&t.shortname)
                .map(|x| TechniqueView {
                    id: x.id.as_str().to_owned(),
                    name: x.name.clone(),
                    parent: x.parent.as_ref().map(|p| p.as_str().to_owned()),
                    url: x.url.clone(),
                    incidents: counts.get(x.id.as_str()).copied().unwrap_or(0),
                })
                .collect(),
        })
        .collect();
    Ok(Json(DisarmView {
        version: catalogue.version_label().to_owned(),
        attribution: DISARM_ATTRIBUTION.to_owned(),
        tactics,
    }))
}

async fn counts(
    state: &AppState,
    facet: Facet,
    limit: Option<i64>,
) -> ApiResult<Json<Items<Count>>> {
    let limit = limit.unwrap_or(100).clamp(1, 10_000);
    let items = state.store.facet_counts(facet, limit).await?;
    Ok(Json(Items { items }))
}

pub(crate) async fn actors(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<LimitQuery>,
) -> ApiResult<Json<Items<Count>>> {
    counts(&state, Facet::Actor, q.limit).await
}

pub(crate) async fn countries(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<LimitQuery>,
) -> ApiResult<Json<Items<CountryCount>>> {
    let limit = q.limit.unwrap_or(300).clamp(1, 10_000);
    let items = state
        .store
        .facet_counts(Facet::Country, limit)
        .await?
        .into_iter()
        .map(|c| {
            let name = CountryCode::parse(&c.key).map(|x| x.name()).unwrap_or("");
            CountryCount {
                name: name.to_owned(),
                key: c.key,
                count: c.count,
            }
        })
        .collect();
    Ok(Json(Items { items }))
}

pub(crate) async fn channels(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<LimitQuery>,
) -> ApiResult<Json<Items<Count>>> {
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
) -> ApiResult<Json<Items<ApiKeyInfo>>> {
    let user = if q.all == Some(true) {
        caller.require_admin()?;
        None
    } else {
        Some(caller.user.id)
    };
    Ok(Json(Items {
        items: state.store.api_keys(user).await?,
    }))
}

pub(crate) async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(k): JsonBody<NewKey>,
) -> ApiResult<Response> {
    let (key, info) = ops::create_key(&state, &caller, &k.name, k.scope.as_deref()).await?;
    let created = CreatedKey {
        key,
        info,
        note: "the key is shown once; store it now".into(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
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
) -> ApiResult<Json<Items<User>>> {
    caller.require_admin()?;
    Ok(Json(Items {
        items: state.store.users().await?,
    }))
}

pub(crate) async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(u): JsonBody<NewUser>,
) -> ApiResult<Response> {
    let (user, generated) =
        ops::create_user(&state, &caller, &u.email, &u.role, u.password).await?;
    let note = generated
        .is_some()
        .then(|| "the password is shown once".to_owned());
    let body = CreatedUser {
        user,
        password: generated,
        note,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub(crate) async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<i64>,
    JsonBody(p): JsonBody<UserPatch>,
) -> ApiResult<Json<UserBody>> {
    let user = ops::update_user(&state, &caller, id, p.role.as_deref(), p.disabled).await?;
    Ok(Json(UserBody { user }))
}
