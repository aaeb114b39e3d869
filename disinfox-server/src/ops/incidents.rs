//! Incidents: the list request (filters, sort, page), create, read, replace, delete, and the
//! counts of the dashboard, the matrix and the API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stix_model::{CountryCode, Timestamp};

use crate::audit::{self, AuditEvent, AuditKind};
use crate::auth::Caller;
use crate::db::{Count, Facet, IncidentFilter, Sort, StoredIncident};
use crate::error::{ApiError, ApiResult};
use crate::model::{Incident, IncidentInput, TechniquePolicy};
use crate::state::AppState;

/// A checked request for a page of incidents.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// The filters.
    pub filter: IncidentFilter,
    /// The sort key.
    pub sort: Sort,
    /// Newest (or last) first.
    pub descending: bool,
    /// The page, from 1.
    pub page: i64,
    /// Items per page, 1–200.
    pub per_page: i64,
}

/// Query of the incident list (the API's and the web page's).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    pub(crate) q: Option<String>,
    pub(crate) country: Option<String>,
    pub(crate) origin: Option<String>,
    pub(crate) actor: Option<String>,
    pub(crate) technique: Option<String>,
    pub(crate) tactic: Option<String>,
    pub(crate) channel: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) sort: Option<String>,
    pub(crate) order: Option<String>,
    pub(crate) page: Option<i64>,
    pub(crate) per_page: Option<i64>,
}

/// The last page number a list takes (with 200 per page, 200 million incidents): a larger
/// one is refused rather than wrapped around to page 1.
pub const MAX_PAGE: i64 = 1_000_000;

fn check_date(key: &str, v: Option<String>) -> ApiResult<Option<String>> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            let d = stix_model::extension::PartialDate::parse(s).map_err(|_| {
                ApiError::BadRequest(format!("{key}: {s:?} is not a date; expected YYYY-MM-DD"))
            })?;
            let (y, m, dd) = d.start().date();
            Ok(Some(format!("{y:04}-{m:02}-{dd:02}")))
        }
    }
}

impl ListQuery {
    /// The filter part.
    pub fn filter(&self) -> ApiResult<IncidentFilter> {
        let country_of = |key: &str, v: &Option<String>| -> ApiResult<Option<String>> {
            match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(c) => Ok(Some(
                    CountryCode::lookup(c)
                        .ok_or_else(|| {
                            ApiError::BadRequest(format!("{key}: {c:?} is not a country"))
                        })?
                        .to_string(),
                )),
                None => Ok(None),
            }
        };
        let country = country_of("country", &self.country)?;
        let origin = country_of("origin", &self.origin)?;
        let technique = match self
            .technique
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(t) => Some(
                stix_model::disarm::TechniqueId::parse(t)
                    .map_err(|_| {
                        ApiError::BadRequest(format!(
                            "technique: {t:?} is not a DISARM technique id"
                        ))
                    })?
                    .to_string(),
            ),
            None => None,
        };
        let clean = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Ok(IncidentFilter {
            q: clean(&self.q),
            country,
            origin,
            actor: clean(&self.actor).map(|a| a.trim_end_matches('*').to_owned()),
            technique,
            tactic: clean(&self.tactic),
            channel: clean(&self.channel),
            from: check_date("from", self.from.clone())?,
            to: check_date("to", self.to.clone())?,
            after_seq: None,
        })
    }

    /// The whole request: filters, sort, order and page, checked.
    pub fn request(&self) -> ApiResult<ListRequest> {
        let filter = self.filter()?;
        let sort = match self.sort.as_deref().unwrap_or("modified") {
            "modified" => Sort::Modified,
            "created" => Sort::Created,
            "date" => Sort::Date,
            "name" => Sort::Name,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "sort: {other:?} is not one of modified, created, date, name"
                )))
            }
        };
        let descending = match self.order.as_deref().unwrap_or("desc") {
            "desc" => true,
            "asc" => false,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "order: {other:?} is not asc or desc"
                )))
            }
        };
        let per_page = self.per_page.unwrap_or(50);
        if !(1..=200).contains(&per_page) {
            return Err(ApiError::BadRequest(
                "per_page: must be from 1 to 200".into(),
            ));
        }
        let page = self.page.unwrap_or(1);
        if !(1..=MAX_PAGE).contains(&page) {
            return Err(ApiError::BadRequest(format!(
                "page: must be from 1 to {MAX_PAGE}"
            )));
        }
        Ok(ListRequest {
            filter,
            sort,
            descending,
            page,
            per_page,
        })
    }
}

/// A page of incidents matching a request, and the total that match.
pub async fn list_incidents(
    state: &AppState,
    req: &ListRequest,
) -> ApiResult<(Vec<StoredIncident>, i64)> {
    Ok(state
        .store
        .list_incidents(
            &req.filter,
            req.sort,
            req.descending,
            (req.page - 1) * req.per_page,
            req.per_page,
        )
        .await?)
}

/// The 422 answer of an invalid incident, with the error of each field.
pub fn invalid_incident(fields: BTreeMap<String, String>) -> ApiError {
    let message = format!(
        "invalid incident: {}",
        fields
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    ApiError::Invalid { message, fields }
}

/// Checks an incident as the API and the pages do (DISARM ids must be known): the canonical
/// incident, or the error of each field.
pub fn check_incident(
    state: &AppState,
    input: IncidentInput,
) -> Result<Incident, BTreeMap<String, String>> {
    input.validate(
        state.settings.disarm_version,
        TechniquePolicy::Strict,
        &mut Vec::new(),
    )
}

/// Validates and creates an incident (analysts); its id is fixed now, from name and creation
/// time.
pub async fn create_incident(
    state: &AppState,
    caller: &Caller,
    input: IncidentInput,
) -> ApiResult<StoredIncident> {
    caller.require_write()?;
    let incident = check_incident(state, input).map_err(invalid_incident)?;
    let created = Timestamp::now();
    let id =
        stix_model::opencti::incident(&incident.input.name, &created.to_string()).map_err(|e| {
            ApiError::Invalid {
                message: e.to_string(),
                fields: BTreeMap::from([("name".into(), e.to_string())]),
            }
        })?;
    if state.store.incident(id.as_str()).await?.is_some() {
        return Err(ApiError::Conflict(format!("{id} exists already")));
    }
    Ok(state
        .store
        .save_incident(&id, &incident, created, None, Some(caller.user.id))
        .await?)
}

/// The live or deleted incident with this id; 404 for an id of another shape or no incident.
pub async fn load_incident(state: &AppState, id: &str) -> ApiResult<StoredIncident> {
    let id = parse_incident_id(id)?;
    state
        .store
        .incident(id.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))
}

fn parse_incident_id(id: &str) -> ApiResult<stix_model::Identifier> {
    match stix_model::Identifier::parse(id) {
        Ok(i) if i.object_type() == "incident" => Ok(i),
        _ => Err(ApiError::NotFound(format!(
            "no incident {id:?}: ids look like incident--<uuid>"
        ))),
    }
}

/// Replaces an incident with a new version (analysts); the id and `created` stay.
pub async fn update_incident(
    state: &AppState,
    caller: &Caller,
    id: &str,
    input: IncidentInput,
) -> ApiResult<StoredIncident> {
    caller.require_write()?;
    let existing = load_incident(state, id).await?;
    if existing.revoked {
        return Err(ApiError::Conflict(format!("{} was deleted", existing.id)));
    }
    let incident = check_incident(state, input).map_err(invalid_incident)?;
    Ok(state
        .store
        .save_incident(
            &existing.id,
            &incident,
            existing.created,
            None,
            Some(caller.user.id),
        )
        .await?)
}

/// Deletes an incident (analysts): it is kept, revoked, so consumers learn of it.
pub async fn delete_incident(state: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    caller.require_write()?;
    let id = parse_incident_id(id)?;
    match state
        .store
        .revoke_incident(id.as_str(), Some(caller.user.id))
        .await?
    {
        Some(_) => {
            let e = AuditEvent::new(AuditKind::IncidentDeleted)
                .by(caller)
                .on(id.as_str());
            audit::record(&state.store, e).await;
            Ok(())
        }
        None => Err(ApiError::NotFound(format!("no live incident {id}"))),
    }
}

/// Summary statistics of the live incidents.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Stats {
    /// Live incidents.
    pub incidents: i64,
    /// Deleted (revoked) incidents.
    pub deleted: i64,
    /// The 10 most frequent actors.
    pub top_actors: Vec<Count>,
    /// The 10 most targeted countries.
    pub top_countries: Vec<Count>,
    /// The 10 most frequent countries of origin.
    pub top_origins: Vec<Count>,
    /// The 10 most used DISARM techniques.
    pub top_techniques: Vec<Count>,
    /// DISARM tactics by use.
    pub top_tactics: Vec<Count>,
    /// The 10 most used channels.
    pub top_channels: Vec<Count>,
    /// Incidents per month (`YYYY-MM`) of their date.
    pub timeline: Vec<Count>,
}

/// Computes the summary statistics.
pub async fn stats(state: &AppState) -> ApiResult<Stats> {
    let (incidents, deleted) = state.store.incident_counts().await?;
    let s = &state.store;
    Ok(Stats {
        incidents,
        deleted,
        top_actors: s.facet_counts(Facet::Actor, 10).await?,
        top_countries: s.facet_counts(Facet::Country, 10).await?,
        top_origins: s.facet_counts(Facet::Origin, 10).await?,
        top_techniques: s.facet_counts(Facet::Technique, 10).await?,
        top_tactics: s.facet_counts(Facet::Tactic, 20).await?,
        top_channels: s.facet_counts(Facet::Channel, 10).await?,
        timeline: s.timeline().await?,
    })
}

/// Incidents matching the filter per DISARM technique id (the DISARM matrix).
pub async fn technique_counts(
    state: &AppState,
    filter: &IncidentFilter,
) -> ApiResult<BTreeMap<String, i64>> {
    Ok(state
        .store
        .facet_counts_where(Facet::Technique, filter, 10_000)
        .await?
        .into_iter()
        .map(|c| (c.key, c.count))
        .collect())
}
