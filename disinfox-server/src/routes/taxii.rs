//! TAXII 2.1 (OASIS) under `/taxii2/`: discovery, the API root, the collection of every
//! incident, its objects, one object, its versions and the manifest. Read-only.
//!
//! Every response is `application/taxii+json;version=2.1`, errors included (the TAXII error
//! message, not the API's error shape). Requests may send `Accept:
//! application/taxii+json;version=2.1` (or without the version, or `*/*`, or nothing); any
//! other `Accept` is answered 406. Authentication is the API's: an API key as a bearer token,
//! or as the password of HTTP Basic authentication (any user name); any live key may read.

use std::collections::BTreeSet;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use stix_model::Timestamp;

use crate::auth::Caller;
use crate::bundle::parse_newer_than;
use crate::error::ApiError;
use crate::state::AppState;
use crate::taxii::{
    self, Filter, Item, Position, Versions, COLLECTION_ALIAS, COLLECTION_ID, MEDIA_STIX,
    MEDIA_TAXII,
};

/// The API root's path.
pub const API_ROOT: &str = "/taxii2/disinfox/";
/// `date_added` of the first object of a response.
pub const DATE_ADDED_FIRST: &str = "x-taxii-date-added-first";
/// `date_added` of the last object of a response.
pub const DATE_ADDED_LAST: &str = "x-taxii-date-added-last";
/// Objects per page when the client gives no `limit`.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest page; a larger `limit` is lowered to it.
pub const MAX_LIMIT: usize = 1000;

/// A TAXII error: answered with the TAXII error message `{title, description, http_status}`.
#[derive(Debug)]
pub struct TaxiiError {
    status: StatusCode,
    description: String,
    retry_after: Option<u64>,
}

impl TaxiiError {
    /// An error with a status and a description of what was wrong.
    pub fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            status,
            description: description.into(),
            retry_after: None,
        }
    }

    fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, description)
    }

    fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, description)
    }
}

impl From<ApiError> for TaxiiError {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        match e {
            ApiError::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                Self::new(status, "internal server error")
            }
            ApiError::RateLimited { retry_after_secs } => Self {
                status,
                description: format!("rate limit exceeded; retry after {retry_after_secs} s"),
                retry_after: Some(retry_after_secs),
            },
            other => Self::new(status, other.to_string()),
        }
    }
}

/// A TAXII error message response (also used by the router for TAXII paths).
pub fn error_response(status: StatusCode, description: &str) -> Response {
    TaxiiError::new(status, description).into_response()
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error").to_owned();
        let body = json!({
            "title": title,
            "description": self.description,
            "http_status": self.status.as_u16().to_string(),
        });
        let mut r = taxii_json(self.status, &body);
        let h = r.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            for challenge in ["Basic realm=\"disinfox\"", "Bearer realm=\"disinfox\""] {
                h.append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
        }
        if let Some(v) = self
            .retry_after
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            h.insert(header::RETRY_AFTER, v);
        }
        r
    }
}

type TaxiiResult<T> = Result<T, TaxiiError>;

fn taxii_json(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TAXII))],
        body.to_string(),
    )
        .into_response()
}

/// Whether an `Accept` header admits the TAXII 2.1 media type.
pub fn accepts_taxii(accept: Option<&str>) -> bool {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return true;
    };
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut version = None;
        let mut q_zero = false;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                let v = v.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "version" => version = Some(v.to_owned()),
                    "q" => q_zero = v.parse::<f32>().is_ok_and(|q| q <= 0.0),
                    _ => {}
                }
            }
        }
        !q_zero
            && match media.as_str() {
                "*/*" | "application/*" => true,
                "application/taxii+json" => version.is_none_or(|v| v == "2.1"),
                _ => false,
            }
    })
}

/// The caller of a TAXII request: authenticated like the API (bearer key, or Basic with the
/// key as password), failures answered as TAXII errors; then the `Accept` header is checked.
pub struct TaxiiCaller(pub Caller);

impl FromRequestParts<AppState> for TaxiiCaller {
    type Rejection = TaxiiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> TaxiiResult<Self> {
        if !parts.headers.contains_key(header::AUTHORIZATION)
            && parts.extensions.get::<Caller>().is_none()
        {
            return Err(TaxiiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication required: send an API key as a bearer token or as the password of HTTP Basic authentication",
            ));
        }
        let caller = Caller::from_request_parts(parts, state).await?;
        let accept = parts
            .headers
            .get(header::ACCEPT)
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        if !accepts_taxii(accept) {
            return Err(TaxiiError::new(
                StatusCode::NOT_ACCEPTABLE,
                format!("this server answers {MEDIA_TAXII}; the Accept header does not admit it"),
            ));
        }
        Ok(Self(caller))
    }
}

fn root_url(state: &AppState) -> String {
    format!(
        "{}{API_ROOT}",
        state.settings.public_url.trim_end_matches('/')
    )
}

pub(crate) async fn discovery(
    State(state): State<AppState>,
    _caller: TaxiiCaller,
) -> TaxiiResult<Response> {
    let root = root_url(&state);
    Ok(taxii_json(
        StatusCode::OK,
        &json!({
            "title": "DISINFOX",
            "description": format!("Disinformation incidents recorded by {}, as STIX 2.1", state.settings.organization),
            "default": root,
            "api_roots": [root],
        }),
    ))
}

pub(crate) async fn api_root(
    State(state): State<AppState>,
    _caller: TaxiiCaller,
) -> TaxiiResult<Response> {
    Ok(taxii_json(
        StatusCode::OK,
        &json!({
            "title": "DISINFOX incidents",
            "description": "Disinformation incidents with their DISARM techniques, actors and targets",
            "versions": [MEDIA_TAXII],
            "max_content_length": state.settings.body_limit_bytes,
        }),
    ))
}

fn collection_resource() -> Value {
    json!({
        "id": COLLECTION_ID,
        "title": "DISINFOX incidents",
        "description": "Every incident (deleted ones revoked) with the objects it refers to, as GET /api/v1/bundle returns them",
        "alias": COLLECTION_ALIAS,
        "can_read": true,
        "can_write": false,
        "media_types": [MEDIA_STIX],
    })
}

fn check_collection(id: &str) -> TaxiiResult<()> {
    if id == COLLECTION_ID || id == COLLECTION_ALIAS {
        Ok(())
    } else {
        Err(TaxiiError::not_found(format!(
            "no collection {id:?}; the collection of incidents is {COLLECTION_ID}"
        )))
    }
}

pub(crate) async fn collections(_caller: TaxiiCaller) -> TaxiiResult<Response> {
    Ok(taxii_json(
        StatusCode::OK,
        &json!({"collections": [collection_resource()]}),
    ))
}

pub(crate) async fn collection(
    _caller: TaxiiCaller,
    Path(id): Path<String>,
) -> TaxiiResult<Response> {
    check_collection(&id)?;
    Ok(taxii_json(StatusCode::OK, &collection_resource()))
}

/// The query parameters of the object endpoints.
#[derive(Debug, Default)]
struct Params {
    added_after: Option<Timestamp>,
    limit: usize,
    next: Option<Position>,
    filter: Filter,
}

/// The most values one `match[...]` filter takes: each id asked for may cost building an
/// incident, so a request's work stays bounded.
pub const MAX_MATCH_VALUES: usize = 1000;

fn list(v: &str) -> BTreeSet<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reads the parameters; `allowed` are the `match[...]` fields the endpoint takes (others are
/// ignored, as are unknown parameters).
fn params(query: &[(String, String)], allowed: &[&str]) -> TaxiiResult<Params> {
    let mut p = Params {
        limit: DEFAULT_LIMIT,
        ..Params::default()
    };
    for (k, v) in query {
        let field = k.strip_prefix("match[").and_then(|f| f.strip_suffix(']'));
        // A filter the endpoint does not take, or one with no value, filters nothing.
        if field.is_some_and(|f| !allowed.contains(&f) || list(v).is_empty()) {
            continue;
        }
        if field.is_some() && v.split(',').count() > MAX_MATCH_VALUES {
            return Err(TaxiiError::bad_request(format!(
                "{k}: at most {MAX_MATCH_VALUES} comma-separated values"
            )));
        }
        match (k.as_str(), field) {
            ("added_after", _) => {
                p.added_after = Some(parse_newer_than(v).ok_or_else(|| {
                    TaxiiError::bad_request(format!(
                        "added_after: {v:?} is not a timestamp such as 2024-05-01T00:00:00.000Z"
                    ))
                })?);
            }
            ("limit", _) => {
                p.limit = match v.trim().parse::<usize>() {
                    Ok(n) if n >= 1 => n.min(MAX_LIMIT),
                    _ => {
                        return Err(TaxiiError::bad_request(format!(
                            "limit: {v:?} is not a positive whole number"
                        )))
                    }
                };
            }
            ("next", _) => {
                p.next = Some(Position::parse_token(v.trim()).ok_or_else(|| {
                    TaxiiError::bad_request(format!("next: {v:?} is not a token this server gave"))
                })?);
            }
            (_, Some("id")) => p.filter.ids = Some(list(v)),
            (_, Some("type")) => p.filter.types = Some(list(v)),
            (_, Some("spec_version")) => p.filter.spec_versions = Some(list(v)),
            (_, Some("version")) => {
                let mut times = BTreeSet::new();
                let mut keyword = false;
                for x in list(v) {
                    match x.as_str() {
                        "first" | "last" | "all" => keyword = true,
                        t => {
                            times.insert(Timestamp::parse(t).map_err(|_| {
                                TaxiiError::bad_request(format!(
                                    "match[version]: {t:?} is not first, last, all or a timestamp"
                                ))
                            })?);
                        }
                    }
                }
                p.filter.versions = if keyword {
                    Versions::Any
                } else {
                    Versions::Only(times)
                };
            }
            _ => {}
        }
    }
    Ok(p)
}

type RawQuery = Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>;

fn raw(q: RawQuery) -> TaxiiResult<Vec<(String, String)>> {
    q.map(|Query(v)| v)
        .map_err(|e| TaxiiError::bad_request(e.body_text()))
}

/// The page of a request: after `next` and after `added_after`, whichever is later.
async fn fetch(state: &AppState, p: &Params) -> TaxiiResult<(Vec<Item>, Option<Position>)> {
    if let Some(next) = &p.next {
        let newest = state
            .store
            .last_change_seq()
            .await
            .map_err(ApiError::from)?;
        if next.seq > newest {
            return Err(TaxiiError::bad_request(format!(
                "next: {:?} points beyond the newest change ({newest}); it is not a token this server gave",
                next.token()
            )));
        }
    }
    let mut start = p.next.clone().unwrap_or_else(Position::start);
    if let Some(t) = &p.added_after {
        let seq = state
            .store
            .seq_at(&crate::db::micros_text(t))
            .await
            .map_err(ApiError::from)?;
        start = start.max(Position::after_seq(seq));
    }
    Ok(taxii::page(state, &start, &p.filter, p.limit).await?)
}

/// A page as a TAXII resource: `{"more", "next" (when more), <key>: [one value per item]}`
/// (no list when empty), with the `X-TAXII-Date-Added-First`/`-Last` headers of the items.
fn paged(
    items: &[Item],
    next: Option<Position>,
    key: &str,
    value: impl Fn(&Item) -> TaxiiResult<Value>,
) -> TaxiiResult<Response> {
    let mut body = json!({"more": next.is_some()});
    if let Some(next) = next {
        body["next"] = json!(next.token());
    }
    if !items.is_empty() {
        body[key] = items.iter().map(value).collect::<TaxiiResult<_>>()?;
    }
    let mut r = taxii_json(StatusCode::OK, &body);
    for (name, item) in [
        (DATE_ADDED_FIRST, items.first()),
        (DATE_ADDED_LAST, items.last()),
    ] {
        if let Some(v) = item.and_then(|i| HeaderValue::from_str(&i.date_added).ok()) {
            r.headers_mut().insert(HeaderName::from_static(name), v);
        }
    }
    Ok(r)
}

/// An object as JSON.
fn object_json(i: &Item) -> TaxiiResult<Value> {
    serde_json::to_value(&i.object).map_err(|e| ApiError::Internal(e.into()).into())
}

/// A manifest record.
fn manifest_record(i: &Item) -> TaxiiResult<Value> {
    Ok(json!({
        "id": i.object.id(),
        "date_added": i.date_added,
        "version": i.version(),
        "media_type": MEDIA_STIX,
    }))
}

/// A page of the collection (objects and manifest take the same parameters).
async fn collection_page(
    state: &AppState,
    id: &str,
    q: RawQuery,
) -> TaxiiResult<(Vec<Item>, Option<Position>)> {
    check_collection(id)?;
    let p = params(&raw(q)?, &["id", "type", "version", "spec_version"])?;
    fetch(state, &p).await
}

pub(crate) async fn objects(
    State(state): State<AppState>,
    _caller: TaxiiCaller,
    Path(id): Path<String>,
    q: RawQuery,
) -> TaxiiResult<Response> {
    let (items, next) = collection_page(&state, &id, q).await?;
    paged(&items, next, "objects", object_json)
}

pub(crate) async fn manifest(
    State(state): State<AppState>,
    _caller: TaxiiCaller,
    Path(id): Path<String>,
    q: RawQuery,
) -> TaxiiResult<Response> {
    let (items, next) = collection_page(&state, &id, q).await?;
    paged(&items, next, "objects", manifest_record)
}

/// The page of a request about one object (`match[id]` set to it); 404 when the collection
/// does not hold it at all.
async fn one_object(
    state: &AppState,
    id: &str,
    object_id: &str,
    q: RawQuery,
    allowed: &[&str],
) -> TaxiiResult<(Vec<Item>, Option<Position>)> {
    check_collection(id)?;
    let mut p = params(&raw(q)?, allowed)?;
    p.filter.ids = Some(BTreeSet::from([object_id.to_owned()]));
    let found = fetch(state, &p).await?;
    if found.0.is_empty() {
        // Filtered out, or not there at all?
        let any = Params {
            limit: 1,
            filter: Filter {
                ids: p.filter.ids.clone(),
                ..Filter::default()
            },
            ..Params::default()
        };
        if fetch(state, &any).await?.0.is_empty() {
            return Err(TaxiiError::not_found(format!(
                "no object {object_id} in collection {COLLECTION_ID}"
            )));
        }
    }
    Ok(found)
}

pub(crate) async fn object(
    State(state): State<AppState>,
    _caller: TaxiiCaller,
    Path((id, object_id)): Path<(String, String)>,
    q: RawQuery,
) -> TaxiiResult<Response> {
    let (items, next) =
        one_object(&state, &id, &object_id, q, &["version", "spec_version"]).await?;
    paged(&items, next, "objects", object_json)
}

pub(crate) async fn versions(
    State(state): State<AppState>,
    _caller: TaxiiCaller,
    Path((id, object_id)): Path<(String, String)>,
    q: RawQuery,
) -> TaxiiResult<Response> {
    let (items, next) = one_object(&state, &id, &object_id, q, &["spec_version"]).await?;
    paged(&items, next, "versions", |i| Ok(json!(i.version())))
}

/// Turns an error response of a TAXII path that is not a TAXII error yet (axum's 405, the
/// timeout's 408, the body limit's 413, an API-shaped error) into the TAXII error message.
pub fn taxii_error_from(status: StatusCode, headers: &HeaderMap, message: &str) -> Response {
    let mut r = error_response(status, message);
    for (k, v) in headers {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            r.headers_mut().append(k.clone(), v.clone());
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::accepts_taxii;

    #[test]
    fn accept_headers() {
        for ok in [
            None,
            Some(""),
            Some("application/taxii+json;version=2.1"),
            Some("application/taxii+json; version=2.1"),
            Some("application/taxii+json"),
            Some("application/json, application/taxii+json;version=2.1"),
            Some("*/*"),
            Some("application/*;q=0.5"),
        ] {
            assert!(accepts_taxii(ok), "{ok:?}");
        }
        for bad in [
            Some("application/json"),
            Some("application/taxii+json;version=2.0"),
            Some("application/vnd.oasis.taxii+json; version=2.0"),
            Some("application/stix+json;version=2.1"),
            Some("application/taxii+json;version=2.1;q=0"),
            Some("\u{0}"),
        ] {
            assert!(!accepts_taxii(bad), "{bad:?}");
        }
    }
}
