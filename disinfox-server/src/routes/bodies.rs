//! The JSON bodies of the API that are not domain types: what the handlers send and read, with
//! their JSON Schema derived from the types (`schemars`) for the OpenAPI document. Domain types
//! that travel as they are (an incident's fields, a user, a key's metadata, a job, counts) derive
//! their schema where they are defined.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::db::{ApiKeyInfo, User};
use crate::model::IncidentInput;

/// `GET /health`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The server's version.
    pub version: String,
}

/// What a key may do.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScopeName {
    /// Read.
    Read,
    /// Read and write.
    Write,
}

/// `GET /api/v1/me`: the caller.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Me {
    /// The user.
    pub user: User,
    /// The scope of the key (`write` for a browser session).
    pub scope: ScopeName,
    /// The key's id (none for a browser session).
    pub key_id: Option<i64>,
}

/// A message.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Message {
    /// The message.
    pub message: String,
}

/// A DISARM technique of an incident, with its name and tactic when the server's DISARM
/// version knows it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TechniqueDetail {
    /// The DISARM id, e.g. `T0002`.
    pub id: String,
    /// The technique's name (null when unknown).
    pub name: Option<String>,
    /// The tactic's short name (null when unknown).
    pub tactic: Option<String>,
    /// True when the server's DISARM version does not know the id.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
}

/// An incident as the API returns it: its fields, and what the server knows about them.
#[derive(Debug, Serialize, JsonSchema)]
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
    pub technique_details: Vec<TechniqueDetail>,
    /// Country names by ISO code.
    pub country_names: BTreeMap<String, String>,
}

/// A page of incidents.
#[derive(Debug, Serialize, JsonSchema)]
pub struct IncidentPage {
    /// The incidents of the page.
    pub items: Vec<IncidentView>,
    /// Incidents matching in all.
    pub total: i64,
    /// This page's number, from 1.
    pub page: i64,
    /// Incidents per page.
    pub per_page: i64,
    /// Pages in all.
    pub pages: i64,
}

/// A list.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "{T}List")]
pub struct Items<T> {
    /// The items.
    pub items: Vec<T>,
}

/// A target country with its incident count.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CountryCount {
    /// ISO 3166-1 alpha-2 code.
    pub key: String,
    /// The country's name.
    pub name: String,
    /// How many incidents.
    pub count: i64,
}

/// `GET /api/v1/disarm`: the DISARM catalogue with incident counts.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DisarmView {
    /// The DISARM version.
    pub version: String,
    /// The licence statement of the DISARM data.
    pub attribution: String,
    /// The tactics, in matrix order.
    pub tactics: Vec<TacticView>,
}

/// A DISARM tactic.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TacticView {
    /// Id, e.g. `TA01`.
    pub id: String,
    /// Short name (the kill chain phase name).
    pub shortname: String,
    /// Name.
    pub name: String,
    /// The phase it belongs to.
    pub phase: Option<PhaseView>,
    /// DISARM's page.
    pub url: Option<String>,
    /// Its techniques.
    pub techniques: Vec<TechniqueView>,
}

/// A DISARM phase.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PhaseView {
    /// Id, e.g. `P01`.
    pub id: String,
    /// Name.
    pub name: String,
}

/// A DISARM technique with its incident count.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TechniqueView {
    /// Id, e.g. `T0002` or `T0049.003`.
    pub id: String,
    /// Name.
    pub name: String,
    /// The parent technique of a sub-technique.
    pub parent: Option<String>,
    /// DISARM's page.
    pub url: Option<String>,
    /// Live incidents using it.
    pub incidents: i64,
}

/// `POST /api/v1/keys`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// A name to recognise the key.
    #[serde(default)]
    pub name: String,
    /// `read` (the default) or `write`.
    #[serde(default)]
    #[schemars(with = "Option<ScopeName>")]
    pub scope: Option<String>,
}

/// A new key: the secret, shown once.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedKey {
    /// The key (shown once).
    pub key: String,
    /// Its metadata.
    pub info: ApiKeyInfo,
    /// A reminder.
    pub note: String,
}

/// A user's role, as requests name it.
#[derive(Debug, Clone, Copy, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    /// Reads.
    Reader,
    /// Reads and writes incidents.
    Analyst,
    /// Everything, including users.
    Admin,
}

/// `POST /api/v1/users`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// E-mail address (the login).
    pub email: String,
    /// Role.
    #[schemars(with = "RoleName")]
    pub role: String,
    /// The password; generated and returned once when absent.
    #[serde(default)]
    pub password: Option<String>,
}

/// A user, and a generated password shown once.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedUser {
    /// The user.
    pub user: User,
    /// The generated password (only when none was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A reminder, with a generated password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `PATCH /api/v1/users/{id}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// A new role.
    #[schemars(with = "Option<RoleName>")]
    pub role: Option<String>,
    /// Disables (true) or enables (false) the user.
    pub disabled: Option<bool>,
}

/// A user.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UserBody {
    /// The user.
    pub user: User,
}

/// The `data` of one event of the live stream (`GET /api/v1/stream`, media type
/// `text/event-stream`): a `change` event carries `cursor`, `high_water_mark`, `incidents` and
/// `bundle` (what `GET /api/v1/bundle` answers for that one change; the event's `id` is the
/// cursor); a `behind` event carries `cursor`, `newest`, `reason` and `catch_up` (the page of
/// the bundle endpoint to catch up from), and ends the stream.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct StreamEventData {
    /// The change's position: the cursor of the bundle endpoint (and the event's id).
    pub cursor: String,
    /// `change` events: the change time, the `newer_than` of a later poll.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high_water_mark: Option<String>,
    /// `change` events: incidents in the bundle (1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incidents: Option<u32>,
    /// `change` events: the incident with its relationships and everything they refer to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<StixBundle>,
    /// `behind` events: the newest change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
    /// `behind` events: why the client must catch up through the bundle endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `behind` events: the bundle endpoint's page to continue from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<String>,
}

/// The shape of a STIX 2.1 bundle, as the bundle endpoints send it and the import takes it
/// (the objects are built and checked by `stix-model`; their own properties are STIX's).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct StixBundle {
    /// `bundle`.
    pub r#type: BundleType,
    /// `bundle--<UUID>`.
    pub id: String,
    /// STIX objects, each with at least `type` and `id`.
    pub objects: Vec<StixObject>,
}

/// The type of a bundle.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BundleType {
    /// A bundle.
    Bundle,
}

/// A STIX object: its `type` and `id`, and the properties of its type.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct StixObject {
    /// The object's type, e.g. `incident`.
    pub r#type: String,
    /// `<type>--<UUID>`.
    pub id: String,
    /// The other properties.
    #[serde(flatten)]
    pub properties: Map<String, Value>,
}

/// A DISARM Navigator layer (ATT&CK Navigator layer format 4.5; docs/disarm.md §6).
#[derive(Debug, Serialize, JsonSchema)]
pub struct NavigatorLayer {
    /// The layer's name.
    pub name: String,
    /// `DISARM`.
    pub domain: String,
    /// `{layer, navigator}` versions.
    pub versions: BTreeMap<String, String>,
    /// The scored techniques.
    pub techniques: Vec<Map<String, Value>>,
    /// The colour gradient.
    pub gradient: Map<String, Value>,
    /// The other properties of the layer format.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An OpenAPI 3.1 document.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OpenApiDocument {
    /// `3.1.0`.
    pub openapi: String,
    /// Title, version, licence.
    pub info: Map<String, Value>,
    /// The operations by path.
    pub paths: Map<String, Value>,
    /// Schemas, responses, security schemes.
    pub components: Map<String, Value>,
}

/// A watched incident and what changed since its user last looked.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WatchItem {
    /// The incident's STIX id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Deleted (published revoked).
    pub revoked: bool,
    /// When it was starred (RFC 3339).
    pub added_at: String,
    /// When the user last looked (RFC 3339): the watchlist page marks what it shows seen.
    pub seen_at: String,
    /// Server time of the incident's latest change (RFC 3339).
    pub changed_at: String,
    /// Changes (new versions, the deletion) since the user last looked.
    pub changes_since_seen: i64,
    /// Whether the incident was deleted since the user last looked.
    pub deleted_since_seen: bool,
    /// Who made those changes (e-mails).
    pub changed_by: Vec<String>,
}

/// A page of the caller's watchlist, incidents changed since the last look first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WatchlistPage {
    /// The watched incidents of the page.
    pub items: Vec<WatchItem>,
    /// Incidents on the watchlist in all.
    pub total: i64,
    /// This page's number, from 1.
    pub page: i64,
    /// Items per page.
    pub per_page: i64,
    /// The most incidents the watchlist may hold.
    pub max: u32,
}

/// What starring or unstarring did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WatchState {
    /// The incident's STIX id.
    pub id: String,
    /// Whether it is on the caller's watchlist now.
    pub watched: bool,
    /// Whether this request changed that.
    pub changed: bool,
}

/// An incident the caller created or edited.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WorkItem {
    /// The incident's STIX id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Deleted (published revoked).
    pub revoked: bool,
    /// The caller created it.
    pub created: bool,
    /// Versions the caller saved after the first.
    pub edits: i64,
    /// Server time of the caller's latest change to it (RFC 3339).
    pub last_changed_at: String,
}

/// A page of the incidents the caller created or edited, latest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WorkPage {
    /// The incidents of the page.
    pub items: Vec<WorkItem>,
    /// Incidents in all.
    pub total: i64,
    /// This page's number, from 1.
    pub page: i64,
    /// Items per page.
    pub per_page: i64,
}
