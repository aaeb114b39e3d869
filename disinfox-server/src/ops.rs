//! Operations shared by the JSON API and the web pages. Each checks the caller's rights and
//! validates its input in one place, whichever door the request came through; the handlers
//! only translate requests and answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stix_model::{CountryCode, Timestamp};

use crate::audit::{self, AuditEvent, AuditKind};
use crate::auth::{self, Caller};
use crate::client::ClientAddr;
use crate::configuration::Registration;
use crate::db::{ApiKeyInfo, Count, Facet, IncidentFilter, Role, Sort, StoredIncident, User};
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
        let country = match self
            .country
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(c) => Some(
                CountryCode::lookup(c)
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!("country: {c:?} is not a country"))
                    })?
                    .to_string(),
            ),
            None => None,
        };
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
#[derive(Debug, Serialize)]
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

/// Creates an API key for the caller, within the `max_keys_per_user` live keys (409 beyond);
/// returns the secret (to show once) and its metadata.
pub async fn create_key(
    state: &AppState,
    caller: &Caller,
    name: &str,
    scope: Option<&str>,
) -> ApiResult<(String, ApiKeyInfo)> {
    caller.require_account()?;
    let scope = scope.unwrap_or("read");
    if !matches!(scope, "read" | "write") {
        return Err(ApiError::Invalid {
            message: "scope must be read or write".into(),
            fields: BTreeMap::from([("scope".into(), "must be read or write".into())]),
        });
    }
    if scope == "write" && !caller.user.role.can_write() {
        return Err(ApiError::Forbidden(
            "readers can only create read keys".into(),
        ));
    }
    if name.chars().count() > 100 {
        return Err(ApiError::Invalid {
            message: "name too long".into(),
            fields: BTreeMap::from([("name".into(), "at most 100 characters".into())]),
        });
    }
    let (secret, hash) = auth::new_api_key()?;
    let max = state.settings.max_keys_per_user;
    let Some(info) = state
        .store
        .create_api_key_capped(
            caller.user.id,
            name.trim(),
            &secret[..12],
            &hash,
            scope,
            Some(i64::from(max)),
        )
        .await?
    else {
        return Err(ApiError::Conflict(format!(
            "you hold {max} live API keys, the most allowed: revoke one first"
        )));
    };
    let e = AuditEvent::new(AuditKind::KeyCreated)
        .by(caller)
        .on(format!(
            "key {} {:?} ({}…)",
            info.id, info.name, info.prefix
        ))
        .detail(format!("scope {}", info.scope));
    audit::record(&state.store, e).await;
    Ok((secret, info))
}

/// Revokes one of the caller's keys (any key, for an administrator).
pub async fn revoke_key(state: &AppState, caller: &Caller, id: i64) -> ApiResult<()> {
    caller.require_account()?;
    let owner = if caller.user.role == Role::Admin {
        None
    } else {
        Some(caller.user.id)
    };
    if state.store.revoke_api_key(id, owner).await? {
        let e = AuditEvent::new(AuditKind::KeyRevoked)
            .by(caller)
            .on(format!("key {id}"));
        audit::record(&state.store, e).await;
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("no live key {id} of yours")))
    }
}

fn invalid_user(fields: BTreeMap<String, String>) -> ApiError {
    ApiError::Invalid {
        message: "invalid user".into(),
        fields,
    }
}

/// Creates a user (administrators). Without a password, one is generated and returned to be
/// shown once.
pub async fn create_user(
    state: &AppState,
    caller: &Caller,
    email: &str,
    role: &str,
    password: Option<String>,
) -> ApiResult<(User, Option<String>)> {
    caller.require_admin()?;
    let mut fields = BTreeMap::new();
    if !auth::valid_email(email) {
        fields.insert("email".to_owned(), "is not an e-mail address".to_owned());
    }
    let role = Role::parse(role);
    if role.is_none() {
        fields.insert(
            "role".to_owned(),
            "must be admin, analyst or reader".to_owned(),
        );
    }
    if matches!(&password, Some(p) if p.chars().count() < auth::MIN_PASSWORD) {
        fields.insert(
            "password".to_owned(),
            format!("must be at least {} characters", auth::MIN_PASSWORD),
        );
    }
    let Some(role) = role.filter(|_| fields.is_empty()) else {
        return Err(invalid_user(fields));
    };
    let (password, generated) = match password {
        Some(p) => (p, false),
        None => (auth::generate_password()?, true),
    };
    let hash = state.hasher.hash(&password, auth::Lane::Known).await?;
    let Some(user) = state.store.create_user(email.trim(), &hash, role).await? else {
        return Err(ApiError::Conflict(format!(
            "a user {} exists already",
            email.trim()
        )));
    };
    let e = AuditEvent::new(AuditKind::UserCreated)
        .by(caller)
        .on(&user.email)
        .detail(format!("role {}", role.as_str()));
    audit::record(&state.store, e).await;
    Ok((user, generated.then_some(password)))
}

/// Changes a user's role or disables it (administrators; not their own account).
pub async fn update_user(
    state: &AppState,
    caller: &Caller,
    id: i64,
    role: Option<&str>,
    disabled: Option<bool>,
) -> ApiResult<User> {
    caller.require_admin()?;
    if id == caller.user.id {
        return Err(ApiError::Forbidden(
            "administrators cannot change their own role or disable themselves".into(),
        ));
    }
    let Some(user) = state.store.user(id).await? else {
        return Err(ApiError::NotFound(format!("no user {id}")));
    };
    let role = match role {
        Some(r) => Role::parse(r).ok_or_else(|| {
            invalid_user(BTreeMap::from([(
                "role".into(),
                "must be admin, analyst or reader".into(),
            )]))
        })?,
        None => user.role,
    };
    let disabled = disabled.unwrap_or(user.disabled);
    state.store.update_user(id, role, disabled).await?;
    if disabled {
        state.store.delete_user_sessions(id, None).await?;
    }
    let mut events = Vec::new();
    if role != user.role {
        events.push(AuditEvent::new(AuditKind::RoleChanged).detail(format!(
            "{} -> {}",
            user.role.as_str(),
            role.as_str()
        )));
    }
    if disabled != user.disabled {
        let kind = if disabled {
            AuditKind::UserDisabled
        } else {
            AuditKind::UserEnabled
        };
        events.push(AuditEvent::new(kind));
    }
    for e in events {
        audit::record(&state.store, e.by(caller).on(&user.email)).await;
    }
    state
        .store
        .user(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))
}

/// Changes the caller's own password after checking the current one; every other browser
/// session of the user ends (`keep_session` is the hash of the one to keep).
pub async fn change_password(
    state: &AppState,
    caller: &Caller,
    current: &str,
    new: &str,
    confirm: &str,
    keep_session: Option<&[u8]>,
) -> ApiResult<()> {
    let mut fields = BTreeMap::new();
    let stored = state.store.user_by_email(&caller.user.email).await?;
    let current_ok = match &stored {
        Some((_, hash)) => {
            state
                .hasher
                .verify(current, Some(hash), auth::Lane::Known)
                .await?
        }
        None => false,
    };
    if !current_ok {
        fields.insert("current".to_owned(), "is not your password".to_owned());
    }
    if new.chars().count() < auth::MIN_PASSWORD {
        fields.insert(
            "new".to_owned(),
            format!("must be at least {} characters", auth::MIN_PASSWORD),
        );
    } else if new != confirm {
        fields.insert(
            "confirm".to_owned(),
            "does not match the new password".to_owned(),
        );
    }
    if !fields.is_empty() {
        return Err(ApiError::Invalid {
            message: "the password was not changed".into(),
            fields,
        });
    }
    state
        .store
        .set_password(
            caller.user.id,
            &state.hasher.hash(new, auth::Lane::Known).await?,
        )
        .await?;
    state
        .store
        .delete_user_sessions(caller.user.id, keep_session)
        .await?;
    let e = AuditEvent::new(AuditKind::PasswordChanged)
        .by(caller)
        .on(&caller.user.email);
    audit::record(&state.store, e).await;
    Ok(())
}

/// What a registration says to the applicant: the same whether or not the e-mail already had
/// an account, so that the form tells nobody which addresses are registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// The account can sign in now (registration `open`).
    Active,
    /// The account waits for an administrator (registration `approval`).
    Pending,
}

/// Registers a reader account (the `registration` setting allows it: `approval` makes it
/// pending, `open` active). Bounded for anonymous callers: a per-address limit
/// ([`crate::state::REGISTRATIONS_PER_HOUR`]) before anything else, field checks, and the
/// password hashed through the hasher's cap. An e-mail that has an account already gets the
/// same answer as a new one (and the account is left alone); the audit log tells the
/// administrators.
pub async fn register(
    state: &AppState,
    address: ClientAddr,
    email: &str,
    password: &str,
    confirm: &str,
) -> ApiResult<Registered> {
    let outcome =
        match state.settings.registration {
            Registration::Closed => return Err(ApiError::Forbidden(
                "registration is closed on this instance; ask its administrators for an account"
                    .into(),
            )),
            Registration::Approval => Registered::Pending,
            Registration::Open => Registered::Active,
        };
    state.registrations.take(address.bucket()).map_err(|wait| {
        audit::refusal(
            "registration-throttled",
            address,
            email,
            "too many registrations",
        );
        ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        }
    })?;
    let email = email.trim();
    let mut fields = BTreeMap::new();
    if !auth::valid_email(email) {
        fields.insert("email".to_owned(), "is not an e-mail address".to_owned());
    }
    if password.chars().count() < auth::MIN_PASSWORD {
        fields.insert(
            "password".to_owned(),
            format!("must be at least {} characters", auth::MIN_PASSWORD),
        );
    } else if password.len() > 1024 {
        fields.insert("password".to_owned(), "is too long".to_owned());
    } else if password != confirm {
        fields.insert(
            "confirm".to_owned(),
            "does not match the password".to_owned(),
        );
    }
    if !fields.is_empty() {
        // A mistake in the form is not an attempt.
        state.registrations.refund(address.bucket());
        return Err(invalid_user(fields));
    }
    let hash = match state.hasher.hash(password, auth::Lane::Other).await {
        Ok(h) => h,
        Err(e) => {
            state.registrations.refund(address.bucket());
            return Err(e.into());
        }
    };
    let created = state
        .store
        .create_user_pending(email, &hash, Role::Reader, outcome == Registered::Pending)
        .await?;
    let e = AuditEvent::new(AuditKind::Registration)
        .tried(email)
        .from(address);
    let e = match &created {
        Some(u) => e.on(&u.email).detail(match outcome {
            Registered::Pending => "pending approval",
            Registered::Active => "active reader",
        }),
        None => e
            .on(email)
            .detail("refused: the e-mail has an account already (the applicant was not told)"),
    };
    audit::record(&state.store, e).await;
    Ok(outcome)
}

/// Approves a pending registration (administrators).
pub async fn approve_user(state: &AppState, caller: &Caller, id: i64) -> ApiResult<User> {
    caller.require_admin()?;
    let user = state.store.user(id).await?;
    match user {
        Some(u) if u.pending && state.store.approve_user(id).await? => {
            let e = AuditEvent::new(AuditKind::RegistrationApproved)
                .by(caller)
                .on(&u.email);
            audit::record(&state.store, e).await;
            Ok(User {
                pending: false,
                ..u
            })
        }
        _ => Err(ApiError::NotFound(format!("no pending registration {id}"))),
    }
}

/// Rejects a pending registration (administrators): the application is deleted, and the
/// e-mail may apply again.
pub async fn reject_user(state: &AppState, caller: &Caller, id: i64) -> ApiResult<()> {
    caller.require_admin()?;
    let user = state.store.user(id).await?;
    match user {
        Some(u) if u.pending && state.store.delete_pending_user(id).await? => {
            let e = AuditEvent::new(AuditKind::RegistrationRejected)
                .by(caller)
                .on(&u.email);
            audit::record(&state.store, e).await;
            Ok(())
        }
        _ => Err(ApiError::NotFound(format!("no pending registration {id}"))),
    }
}
