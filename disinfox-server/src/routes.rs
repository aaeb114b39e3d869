//! The JSON API and TAXII 2.1: one table of routes ([`routes`]) from which the router
//! ([`crate::router`]) is built, the OpenAPI document generated, and the test proving that every
//! data route needs authentication run.

pub mod api;
pub mod bodies;
pub mod bundle;
pub mod navigator;
pub mod openapi;
pub mod stream;
pub mod taxii;
pub mod watchlist;

use axum::routing::{self, MethodRouter};

use crate::http::Access;
use crate::state::AppState;

pub use openapi::openapi_document;

/// Which protocol a route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The JSON API: described by the OpenAPI document, errors in the API's JSON shape.
    Api,
    /// TAXII 2.1: its own media types and error message, specified by OASIS; left out of the
    /// OpenAPI document.
    Taxii,
}

/// A documented route.
pub struct RouteSpec {
    /// HTTP method.
    pub method: &'static str,
    /// Path, with `{id}` placeholders.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// One line.
    pub summary: &'static str,
    /// Query parameters: `(name, description)`.
    pub query: &'static [(&'static str, &'static str)],
    /// The request body, when there is one: `(media type, description)`.
    pub body: Option<(&'static str, &'static str)>,
    /// The success status and what it returns.
    pub ok: (u16, &'static str),
    /// The protocol.
    pub protocol: Protocol,
    /// The handler's name (the operation's id in the OpenAPI document).
    pub name: &'static str,
    /// The JSON Schema of the request body, from its Rust type.
    pub request_schema: Option<SchemaFn>,
    /// The JSON Schema of the success response's body, from its Rust type (for an event
    /// stream, of each event's data).
    pub response_schema: Option<SchemaFn>,
    pub(crate) handler: fn() -> MethodRouter<AppState>,
}

impl RouteSpec {
    /// The media type of the success response: `text/event-stream` when its description
    /// says so, JSON otherwise.
    pub fn response_media(&self) -> &'static str {
        if self.ok.1.starts_with("text/event-stream") {
            "text/event-stream"
        } else {
            "application/json"
        }
    }
}

/// Makes the schema of a body type (referenced from the generator's definitions).
pub type SchemaFn = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

/// The last word of a handler expression: `get(api::list_incidents)` → `list_incidents`.
const fn handler_name(expr: &'static str) -> &'static str {
    let b = expr.as_bytes();
    let (mut start, mut end, mut i) = (0, b.len(), 0);
    while i < b.len() {
        match b[i] {
            b':' | b'(' | b' ' => start = i + 1,
            b')' => {
                end = i;
                break;
            }
            _ => {}
        }
        i += 1;
    }
    match expr.split_at_checked(end) {
        Some((head, _)) => match head.split_at_checked(start) {
            Some((_, name)) => name,
            None => expr,
        },
        None => expr,
    }
}

const FILTERS: &[(&str, &str)] = &[
    ("q", "full-text search over names and descriptions"),
    ("country", "target country (ISO 3166-1 alpha-2)"),
    ("origin", "country of origin (ISO 3166-1 alpha-2)"),
    ("actor", "attributed actor"),
    ("technique", "DISARM technique id, e.g. T0002"),
    ("tactic", "DISARM tactic short name, e.g. plan-objectives"),
    ("channel", "channel or platform"),
    (
        "from",
        "earliest date, YYYY-MM-DD (first seen, else created)",
    ),
    ("to", "latest date, YYYY-MM-DD"),
];

macro_rules! schema {
    () => {
        None
    };
    ($t:ty) => {
        Some(|g: &mut schemars::SchemaGenerator| g.subschema_for::<$t>())
    };
}

macro_rules! spec {
    ($m:literal $p:literal $a:ident $s:literal, query: $q:expr, body: $b:expr, ok: $ok:expr, $h:expr $(, req: $req:ty)? $(, res: $res:ty)?) => {
        RouteSpec {
            method: $m,
            path: $p,
            access: Access::$a,
            summary: $s,
            query: $q,
            body: $b,
            ok: $ok,
            protocol: Protocol::Api,
            name: handler_name(stringify!($h)),
            request_schema: schema!($($req)?),
            response_schema: schema!($($res)?),
            handler: || $h,
        }
    };
    (taxii $p:literal $s:literal, query: $q:expr, ok: $ok:literal, $h:expr) => {
        RouteSpec {
            method: "GET",
            path: $p,
            access: Access::Read,
            summary: $s,
            query: $q,
            body: None,
            ok: (200, $ok),
            protocol: Protocol::Taxii,
            name: handler_name(stringify!($h)),
            request_schema: None,
            response_schema: None,
            handler: || $h,
        }
    };
}

/// The pagination of the watchlist and of my work.
const PAGES: &[(&str, &str)] = &[
    ("page", "page number, from 1"),
    ("per_page", "items per page, 1-200 (default 50)"),
];

/// The parameters of the TAXII objects and manifest endpoints; the first four are those of
/// the versions endpoint, the first five those of the object endpoint.
const TAXII_OBJECT_FILTERS: &[(&str, &str)] = &[
    ("added_after", "only objects added after this time"),
    ("limit", "objects per page, 1-1000 (default 100)"),
    ("next", "the next of the previous page"),
    ("match[spec_version]", "STIX versions (2.1)"),
    (
        "match[version]",
        "last (default), first, all, or modified times",
    ),
    ("match[id]", "object ids, comma-separated"),
    ("match[type]", "object types, comma-separated"),
];

/// Every route of the server.
pub fn routes() -> Vec<RouteSpec> {
    use crate::db::{ApiKeyInfo, Count, User};
    use crate::jobs::JobView;
    use crate::model::IncidentInput;
    use crate::{correlate::Related, ops::Stats};
    use bodies::*;
    use routing::{delete, get, patch, post, put};
    vec![
        spec!("GET" "/health" Public "Liveness and database check", query: &[], body: None, ok: (200, "status"), get(api::health), res: Health),
        spec!("GET" "/api/v1/health" Public "Liveness and database check", query: &[], body: None, ok: (200, "status"), get(api::health), res: Health),
        spec!("GET" "/api/v1/openapi.json" Public "This API description (OpenAPI 3.1)", query: &[], body: None, ok: (200, "OpenAPI document"), get(openapi::openapi_json), res: OpenApiDocument),
        spec!("GET" "/api/v1/me" Read "The caller: user, role and key scope", query: &[], body: None, ok: (200, "the caller"), get(api::me), res: Me),
        spec!("POST" "/check-auth" Read "Checks an API key (compatibility with DISINFOX clients)", query: &[], body: None, ok: (200, "message"), post(api::check_auth), res: Message),
        spec!("GET" "/api/v1/incidents" Read "Lists incidents with search, filters, sort and pagination", query: &[
            ("q", "full-text search over names and descriptions"), ("country", "target country (ISO 3166-1 alpha-2)"), ("origin", "country of origin (ISO 3166-1 alpha-2)"), ("actor", "attributed actor"),
            ("technique", "DISARM technique id, e.g. T0002"), ("tactic", "DISARM tactic short name"), ("channel", "channel or platform"),
            ("from", "earliest date, YYYY-MM-DD"), ("to", "latest date, YYYY-MM-DD"), ("sort", "modified (default), created, date or name"),
            ("order", "desc (default) or asc"), ("page", "page number, from 1"), ("per_page", "items per page, 1-200 (default 50)"),
        ], body: None, ok: (200, "a page of incidents"), get(api::list_incidents), res: IncidentPage),
        spec!("POST" "/api/v1/incidents" Write "Creates an incident", query: &[], body: Some(("application/json", "an incident")), ok: (201, "the incident"), post(api::create_incident), req: IncidentInput, res: IncidentView),
        spec!("GET" "/api/v1/incidents/{id}" Read "Reads an incident", query: &[], body: None, ok: (200, "the incident"), get(api::get_incident), res: IncidentView),
        spec!("PUT" "/api/v1/incidents/{id}" Write "Replaces an incident (a new version: modified moves on, the id stays)", query: &[], body: Some(("application/json", "an incident")), ok: (200, "the incident"), put(api::update_incident), req: IncidentInput, res: IncidentView),
        spec!("DELETE" "/api/v1/incidents/{id}" Write "Deletes an incident: it is published revoked", query: &[], body: None, ok: (204, "deleted"), delete(api::delete_incident)),
        spec!("GET" "/api/v1/incidents/{id}/related" Read "Correlated incidents, ranked by what they share, with the reason", query: &[("limit", "at most this many (default 20)")], body: None, ok: (200, "related incidents"), get(api::related), res: Items<Related>),
        spec!("GET" "/api/v1/incidents/{id}/bundle" Read "The STIX 2.1 bundle of one incident", query: &[("flavor", "standard (default) or opencti")], body: None, ok: (200, "a STIX bundle"), get(bundle::incident_bundle), res: StixBundle),
        spec!("GET" "/api/v1/bundle" Read "Incidents changed since a mark, as a STIX 2.1 bundle, paged (the OpenCTI connector's endpoint)", query: &[
            ("newer_than", "RFC 3339 time; incidents changed after it (the high-water mark a previous call returned)"),
            ("cursor", "the X-Disinfox-Next-Cursor of the previous page (takes precedence over newer_than)"),
            ("limit", "incidents per page, 1-1000; without limit and cursor, newer_than gets every change in one streamed answer (the existing DISINFOX connector)"), ("flavor", "standard (default) or opencti"),
            ("opencti_ids", "6 or 7: the OpenCTI release whose deterministic-id rules to follow (default: the server's setting)"),
        ], body: None, ok: (200, "a STIX bundle; headers X-Disinfox-High-Water-Mark, X-Disinfox-Next-Cursor, X-Disinfox-More"), get(bundle::changes_bundle), res: StixBundle),
        spec!("GET" "/api/v1/stream" Read "The change log live, as Server-Sent Events: one event per changed incident (id: its cursor; data: the bundle endpoint's answer for that change), heartbeats, resume with Last-Event-ID", query: &[
            ("cursor", "start after this cursor (the Last-Event-ID header takes precedence); default: only changes from now on"),
            ("flavor", "standard (default) or opencti"),
            ("opencti_ids", "6 or 7: the OpenCTI release whose deterministic-id rules to follow (default: the server's setting)"),
            ("heartbeat", "seconds between heartbeats of an idle stream, 1-60 (default 15)"),
        ], body: None, ok: (200, "text/event-stream: change events, a behind event when the client must catch up through /api/v1/bundle"), get(stream::stream), res: StreamEventData),
        spec!("GET" "/api/v1/export" Read "A STIX 2.1 bundle of every incident matching the filters (streamed)", query: FILTERS, body: None, ok: (200, "a STIX bundle"), get(bundle::export), res: StixBundle),
        spec!("POST" "/api/v1/import" Write "Starts an import job for a STIX 2.1 bundle (application/json) or a DISINFOX CSV file (text/csv)", query: &[], body: Some(("application/json or text/csv", "a STIX bundle or a DISINFOX bulk CSV")), ok: (202, "the import job (state, progress); Location: its URL"), post(api::import), req: StixBundle, res: JobView),
        spec!("GET" "/api/v1/jobs/{id}" Read "An import job of the caller (any, for an administrator): state, progress (incidents done of the total) and, once over, the report: created, updated, unchanged, rejected with reasons", query: &[], body: None, ok: (200, "the job"), get(api::job), res: JobView),
        spec!("GET" "/api/v1/disarm" Read "DISARM tactics and techniques with incident counts", query: &[], body: None, ok: (200, "the DISARM catalogue"), get(api::disarm), res: DisarmView),
        spec!("GET" "/api/v1/actors" Read "Actors with incident counts", query: &[("limit", "at most this many")], body: None, ok: (200, "counts"), get(api::actors), res: Items<Count>),
        spec!("GET" "/api/v1/countries" Read "Target countries with incident counts", query: &[("limit", "at most this many")], body: None, ok: (200, "counts"), get(api::countries), res: Items<CountryCount>),
        spec!("GET" "/api/v1/watchlist" Read "The key owner's watchlist: watched incidents with what changed since the owner last looked (changed first)", query: PAGES, body: None, ok: (200, "a page of the watchlist"), get(watchlist::list_watchlist), res: WatchlistPage),
        spec!("PUT" "/api/v1/watchlist/{id}" Read "Puts an incident on the key owner's watchlist (409 when it holds watchlist_max incidents)", query: &[], body: None, ok: (200, "watched"), put(watchlist::watch_incident), res: WatchState),
        spec!("DELETE" "/api/v1/watchlist/{id}" Read "Takes an incident off the key owner's watchlist", query: &[], body: None, ok: (200, "not watched"), delete(watchlist::unwatch_incident), res: WatchState),
        spec!("GET" "/api/v1/my" Read "The incidents the key owner created or edited, latest first", query: PAGES, body: None, ok: (200, "a page of incidents"), get(watchlist::my_work), res: WorkPage),
        spec!("GET" "/api/v1/channels" Read "Channels with incident counts", query: &[("limit", "at most this many")], body: None, ok: (200, "counts"), get(api::channels), res: Items<Count>),
        spec!("GET" "/api/v1/stats" Read "Summary statistics", query: &[], body: None, ok: (200, "statistics"), get(api::stats), res: Stats),
        spec!("GET" "/api/v1/keys" Read "The caller's API keys (all keys for an administrator with ?all=true)", query: &[("all", "true: every user's keys (administrators)")], body: None, ok: (200, "keys, never their secrets"), get(api::list_keys), res: Items<ApiKeyInfo>),
        spec!("POST" "/api/v1/keys" Account "Creates an API key for the caller; the key is shown once", query: &[], body: Some(("application/json", "{name, scope: read|write}")), ok: (201, "the key and its secret"), post(api::create_key), req: NewKey, res: CreatedKey),
        spec!("DELETE" "/api/v1/keys/{id}" Account "Revokes one of the caller's keys (any key, for an administrator)", query: &[], body: None, ok: (204, "revoked"), delete(api::revoke_key)),
        spec!("GET" "/api/v1/incidents/{id}/navigator" Read "A DISARM Navigator layer (format 4.5) of one incident's techniques", query: &[], body: None, ok: (200, "a Navigator layer"), get(navigator::incident_layer), res: NavigatorLayer),
        spec!("GET" "/api/v1/navigator" Read "A DISARM Navigator heatmap layer (format 4.5): each technique scored by the number of incidents matching the filters that use it (every incident without filters)", query: FILTERS, body: None, ok: (200, "a Navigator layer"), get(navigator::filtered_layer), res: NavigatorLayer),
        spec!(taxii "/taxii2/" "TAXII 2.1 server discovery", query: &[], ok: "the discovery resource", get(taxii::discovery)),
        spec!(taxii "/taxii2/disinfox/" "TAXII 2.1 API root", query: &[], ok: "the API root resource", get(taxii::api_root)),
        spec!(taxii "/taxii2/disinfox/collections/" "TAXII 2.1 collections", query: &[], ok: "the collections resource", get(taxii::collections)),
        spec!(taxii "/taxii2/disinfox/collections/{id}/" "TAXII 2.1 collection", query: &[], ok: "the collection resource", get(taxii::collection)),
        spec!(taxii "/taxii2/disinfox/collections/{id}/objects/" "TAXII 2.1 objects of the collection, paged", query: TAXII_OBJECT_FILTERS, ok: "an envelope", get(taxii::objects)),
        spec!(taxii "/taxii2/disinfox/collections/{id}/objects/{object_id}/" "TAXII 2.1 one object", query: &TAXII_OBJECT_FILTERS[..5], ok: "an envelope", get(taxii::object)),
        spec!(taxii "/taxii2/disinfox/collections/{id}/objects/{object_id}/versions/" "TAXII 2.1 versions of one object", query: &TAXII_OBJECT_FILTERS[..4], ok: "the versions resource", get(taxii::versions)),
        spec!(taxii "/taxii2/disinfox/collections/{id}/manifest/" "TAXII 2.1 manifest of the collection, paged", query: TAXII_OBJECT_FILTERS, ok: "the manifest resource", get(taxii::manifest)),
        spec!("GET" "/api/v1/users" Admin "Lists users", query: &[], body: None, ok: (200, "users"), get(api::list_users), res: Items<User>),
        spec!("POST" "/api/v1/users" Admin "Creates a user; the password is generated and shown once unless given", query: &[], body: Some(("application/json", "{email, role, password?}")), ok: (201, "the user"), post(api::create_user), req: NewUser, res: CreatedUser),
        spec!("PATCH" "/api/v1/users/{id}" Admin "Changes a user's role or disables it (not one's own)", query: &[], body: Some(("application/json", "{role?, disabled?}")), ok: (200, "the user"), patch(api::update_user), req: UserPatch, res: UserBody),
    ]
}
