//! The stand-in's platform state and its semantics: connectors (registration, ping, reset),
//! works (expectations and completion), and the worker's import of bundles.
//!
//! Everything here is synchronous and runs under the stand-in's one lock; the GraphQL
//! resolvers and the AMQP consumer call into it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Map, Value};
use stix_model::split::{is_supported_id, split_bundle, SplitOptions};
use stix_model::Timestamp;

use super::fault::{FaultState, FaultView};

/// How long after its last ping a connector is still shown as active (6.x `completeConnector`).
const ACTIVE_FOR: Duration = Duration::from_secs(5 * 60);

/// At most this many errors are kept on a work (OpenCTI's cap).
const MAX_WORK_ERRORS: usize = 100;

/// The RabbitMQ connection details registration returns in `config.connection`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RabbitMqConnection {
    /// Host name, as the platform knows it.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Virtual host.
    pub vhost: String,
    /// TLS.
    pub use_ssl: bool,
    /// User.
    pub user: String,
    /// Password.
    pub pass: String,
}

impl Default for RabbitMqConnection {
    /// Placeholders, like a compose deployment's: host `rabbitmq`, `guest`/`guest`, vhost `/`.
    fn default() -> Self {
        Self {
            host: "rabbitmq".into(),
            port: 5672,
            vhost: "/".into(),
            use_ssl: false,
            user: "guest".into(),
            pass: "guest".into(),
        }
    }
}

/// A failure OpenCTI reports as a GraphQL error: `message` plus `extensions.code` and
/// `extensions.data` (OpenCTI's `error(type, message, data)` shape).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) message: String,
    pub(crate) code: &'static str,
    pub(crate) data: Value,
}

impl ApiError {
    /// OpenCTI's `FunctionalError(reason, data)`.
    pub(crate) fn functional(message: impl Into<String>, data: Value) -> Self {
        let mut d = json!({"http_status": 400, "genre": "BUSINESS"});
        merge(&mut d, data);
        Self {
            message: message.into(),
            code: "FUNCTIONAL_ERROR",
            data: d,
        }
    }

    /// OpenCTI's `AuthRequired()`.
    pub(crate) fn auth_required() -> Self {
        Self {
            message: "You must be logged in to do this.".into(),
            code: "AUTH_REQUIRED",
            data: json!({"http_status": 401, "genre": "TECHNICAL"}),
        }
    }

    /// OpenCTI's `ValidationError` (a `@constraint` violation on an input field).
    pub(crate) fn validation(field: &str) -> Self {
        Self {
            message: "Validation error".into(),
            code: "VALIDATION_ERROR",
            data: json!({"http_status": 500, "genre": "BUSINESS", "field": field}),
        }
    }

    /// 7.x `WorkNotALiveError()`.
    pub(crate) fn work_not_alive() -> Self {
        Self {
            message:
                "Work is no longer alive, no request can be done within the context of this work"
                    .into(),
            code: "WORK_NOT_ALIVE",
            data: json!({"http_status": 400, "genre": "BUSINESS"}),
        }
    }

    /// OpenCTI's `UnknownError(reason)` (e.g. the broker failing under a mutation).
    pub(crate) fn unknown(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: "UNKNOWN_ERROR",
            data: json!({"http_status": 500, "genre": "TECHNICAL"}),
        }
    }

    /// The `extensions` object of the GraphQL error.
    pub(crate) fn extensions(&self) -> Value {
        json!({"code": self.code, "data": self.data})
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

/// A registered connector as the platform stores it.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorRecord {
    /// The connector id (`CONNECTOR_ID`).
    pub id: String,
    /// Name.
    pub name: String,
    /// `EXTERNAL_IMPORT`, …
    pub connector_type: String,
    /// Scope, as sent.
    pub scope: Vec<String>,
    /// `auto`.
    pub auto: bool,
    /// `only_contextual`.
    pub only_contextual: bool,
    /// `playbook_compatible`.
    pub playbook_compatible: bool,
    /// `auto_update`.
    pub auto_update: bool,
    /// `enrichment_resolution`.
    pub enrichment_resolution: Option<String>,
    /// `listen_callback_uri`.
    pub listen_callback_uri: Option<String>,
    /// The user owning the token that registered it.
    pub connector_user_id: String,
    /// `connector_state`, the string exactly as stored (`None` = null).
    pub state: Option<String>,
    /// `connector_state_reset`: a reset is pending (cleared by the next ping).
    pub state_reset: bool,
    /// `connector_state_timestamp`.
    pub state_timestamp: Timestamp,
    /// The last `connector_info` sent with a ping.
    pub info: Option<Value>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update (registration, or a ping that stored its state).
    pub updated_at: Timestamp,
    /// How many times it registered.
    pub registrations: u64,
    /// How many pings it sent (including those during a pending reset).
    pub pings: u64,
    /// The last registration input, as received.
    pub input: Value,
}

impl ConnectorRecord {
    /// Whether the UI would show it as active (pinged less than 5 minutes ago).
    pub fn active(&self) -> bool {
        let age = Timestamp::now().unix_micros() - self.updated_at.unix_micros();
        age < ACTIVE_FOR.as_micros() as i64
    }
}

/// A work's status (`State` in the schema; the stand-in uses `progress` and `complete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkStatus {
    /// Open.
    Progress,
    /// Every expectation reported (and, for a 7.x multipart work, `toProcessed` called).
    Complete,
}

/// A message or an error on a work.
#[derive(Debug, Clone, Serialize)]
pub struct WorkMessage {
    /// When.
    pub timestamp: Timestamp,
    /// Text.
    pub message: String,
    /// Position on the work (messages and errors share one sequence).
    pub sequence: u64,
    /// The source (for errors reported by the worker: the failing item).
    pub source: Option<String>,
}

/// A work (import job).
#[derive(Debug, Clone, Serialize)]
pub struct WorkRecord {
    /// The work id (opaque to the connector).
    pub id: String,
    /// The connector it belongs to.
    pub connector_id: String,
    /// The friendly name.
    pub name: String,
    /// Status.
    pub status: WorkStatus,
    /// Created with `isMultiPartWork: true` (7.x).
    pub multipart: bool,
    /// `import_expected_number`.
    pub expected: u64,
    /// Expectations reported by the worker.
    pub processed: u64,
    /// `completed_number`, set when the work completed.
    pub completed_number: Option<u64>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last activity.
    pub updated_at: Timestamp,
    /// `toReceived` time.
    pub received_time: Option<Timestamp>,
    /// `toProcessed` time.
    pub processed_time: Option<Timestamp>,
    /// Completion time.
    pub completed_time: Option<Timestamp>,
    /// Messages (`toProcessed`/`toReceived` without error).
    pub messages: Vec<WorkMessage>,
    /// Errors (`toProcessed` in error, `reportExpectation` with an error; at most 100).
    pub errors: Vec<WorkMessage>,
    /// `toProcessed` was called with `inError: true`.
    pub in_error: bool,
    /// How many times `toProcessed` was called.
    pub to_processed_calls: u64,
    /// Creation order.
    pub seq: u64,
}

impl WorkRecord {
    fn next_sequence(&self) -> u64 {
        (self.messages.len() + self.errors.len()) as u64 + 1
    }

    fn message(&mut self, text: &str, source: Option<String>, error: bool) {
        let m = WorkMessage {
            timestamp: Timestamp::now(),
            message: text.to_owned(),
            sequence: self.next_sequence(),
            source,
        };
        if error {
            if self.errors.len() < MAX_WORK_ERRORS {
                self.errors.push(m);
            }
        } else {
            self.messages.push(m);
        }
    }

    /// 6.x: complete as soon as processed ≥ expected; a 7.x multipart work also needs
    /// `toProcessed`.
    fn check_completion(&mut self) {
        if self.processed >= self.expected && (!self.multipart || self.processed_time.is_some()) {
            self.status = WorkStatus::Complete;
            self.completed_number = Some(self.processed);
            self.completed_time = Some(Timestamp::now());
        }
    }
}

/// An object the stand-in imported, by id.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectRecord {
    /// The STIX id.
    pub id: String,
    /// The STIX type.
    pub object_type: Option<String>,
    /// How many times it was received (1 = no duplicate).
    pub count: u64,
    /// The object as last imported (after the split: with `nb_deps`).
    pub object: Value,
    /// The work of each receipt, in order.
    pub works: Vec<Option<String>>,
    /// When each receipt was imported (Unix time in milliseconds), in order: what the
    /// freshness benchmark measures.
    pub received_unix_ms: Vec<u64>,
}

/// How a bundle reached the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// `stixBundlePush`.
    Api,
    /// A message on the connector's push queue.
    Amqp,
}

/// A bundle the worker handled.
#[derive(Debug, Clone, Serialize)]
pub struct PushRecord {
    /// Arrival order.
    pub seq: u64,
    /// Path.
    pub via: Via,
    /// The connector (for AMQP: the one whose push queue carried it).
    pub connector_id: Option<String>,
    /// The work it was counted on.
    pub work_id: Option<String>,
    /// `update` (forced true on the API path).
    pub update: bool,
    /// The bundle as received.
    pub bundle: Value,
    /// Ids imported from it.
    pub imported: Vec<String>,
    /// Objects not imported, with the reason (`<id or type>: <reason>`).
    pub dropped: Vec<String>,
    /// Expectations added for it by the worker (a multi-object bundle is split).
    pub expectations_added: u64,
    /// A problem with the work it named (unknown work): the import still happened.
    pub work_error: Option<String>,
}

/// A message consumed from a push queue.
#[derive(Debug, Clone, Serialize)]
pub struct AmqpMessageRecord {
    /// Arrival order.
    pub seq: u64,
    /// The queue it was consumed from.
    pub queue: String,
    /// Its exchange.
    pub exchange: String,
    /// Its routing key.
    pub routing_key: String,
    /// `delivery_mode` (2 = persistent).
    pub delivery_mode: Option<u8>,
    /// `content_encoding`.
    pub content_encoding: Option<String>,
    /// The body as JSON, when it was JSON (with `content` still base64).
    pub envelope: Option<Value>,
    /// The decoded `content` bundle, when it decoded.
    pub bundle: Option<Value>,
    /// Why it was rejected (nacked without requeue, like the worker); `None` = imported.
    pub rejected: Option<String>,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestOutcome {
    /// Still being answered.
    Pending,
    /// Executed without error.
    Ok,
    /// Executed; some fields failed (functional errors, authentication).
    FieldErrors,
    /// Refused before execution: the document does not parse or validate against the
    /// schema, the operation is missing, or the variables do not coerce.
    Rejected,
    /// Not a GraphQL request (HTTP 400).
    BadRequest,
    /// Answered by an injected fault.
    Fault,
}

/// A request received on `/graphql`.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    /// Arrival order (1-based).
    pub seq: u64,
    /// The operation name (`operationName`, else the document's single operation's name).
    pub operation: Option<String>,
    /// The document text.
    pub query: String,
    /// The variables as sent.
    pub variables: Value,
    /// Whether the bearer token was the configured one.
    pub authenticated: bool,
    /// Outcome.
    pub outcome: RequestOutcome,
    /// HTTP status answered.
    pub http_status: u16,
    /// Error messages answered.
    pub errors: Vec<String>,
}

/// Platform-wide settings the semantics depend on.
#[derive(Debug, Clone)]
pub(crate) struct Platform {
    pub(crate) version: String,
    pub(crate) major: u64,
    pub(crate) user_id: String,
    /// `<P>`: the queue prefix followed by `_`, or empty.
    pub(crate) prefix: String,
    pub(crate) connection: RabbitMqConnection,
    pub(crate) keep_payloads: bool,
}

impl Platform {
    pub(crate) fn is_7x(&self) -> bool {
        self.major >= 7
    }

    pub(crate) fn push_queue(&self, id: &str) -> String {
        format!("{}push_{id}", self.prefix)
    }

    pub(crate) fn push_routing(&self, id: &str) -> String {
        format!("{}push_routing_{id}", self.prefix)
    }

    pub(crate) fn listen_queue(&self, id: &str) -> String {
        format!("{}listen_{id}", self.prefix)
    }

    pub(crate) fn listen_routing(&self, id: &str) -> String {
        format!("{}listen_routing_{id}", self.prefix)
    }

    pub(crate) fn worker_exchange(&self) -> String {
        format!("{}amqp.worker.exchange", self.prefix)
    }

    pub(crate) fn connector_exchange(&self) -> String {
        format!("{}amqp.connector.exchange", self.prefix)
    }
}

/// The whole state.
#[derive(Debug)]
pub(crate) struct Model {
    pub(crate) platform: Platform,
    pub(crate) connectors: BTreeMap<String, ConnectorRecord>,
    pub(crate) works: BTreeMap<String, WorkRecord>,
    pub(crate) objects: BTreeMap<String, ObjectRecord>,
    pub(crate) pushes: Vec<PushRecord>,
    pub(crate) requests: Vec<RequestRecord>,
    pub(crate) amqp_messages: Vec<AmqpMessageRecord>,
    pub(crate) faults: Vec<FaultState>,
    /// Per connector: (messages_number, messages_size in bytes) reported by GetConnector.
    pub(crate) queue_sizes: BTreeMap<String, (f64, f64)>,
    next_work: u64,
    next_fault: u64,
}

fn str_arg<'a>(args: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    args.get(k).and_then(Value::as_str)
}

fn bool_field(m: &Map<String, Value>, k: &str) -> bool {
    m.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn no_connector(id: &str) -> ApiError {
    ApiError::functional("No connector found", json!({"id": id}))
}

fn ts(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| json!(t.to_string()))
}

impl Model {
    pub(crate) fn new(platform: Platform) -> Self {
        Self {
            platform,
            connectors: BTreeMap::new(),
            works: BTreeMap::new(),
            objects: BTreeMap::new(),
            pushes: Vec::new(),
            requests: Vec::new(),
            amqp_messages: Vec::new(),
            faults: Vec::new(),
            queue_sizes: BTreeMap::new(),
            next_work: 0,
            next_fault: 0,
        }
    }

    // ---- connectors -------------------------------------------------------------------

    fn connector_mut(&mut self, id: &str) -> Result<&mut ConnectorRecord, ApiError> {
        self.connectors.get_mut(id).ok_or_else(|| no_connector(id))
    }

    /// `registerConnector(input)`: creates or patches; the stored state is kept.
    pub(crate) fn register(&mut self, input: &Map<String, Value>) -> Result<String, ApiError> {
        let id = str_arg(input, "id").unwrap_or_default().to_owned();
        let name = str_arg(input, "name").unwrap_or_default().to_owned();
        // @constraint(minLength: 2, format: "not-blank") on the name.
        if name.chars().count() < 2 || name.trim().is_empty() {
            return Err(ApiError::validation("name"));
        }
        let scope: Vec<String> = input
            .get("scope")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let now = Timestamp::now();
        let user = self.platform.user_id.clone();
        let c = self
            .connectors
            .entry(id.clone())
            .or_insert_with(|| ConnectorRecord {
                id: id.clone(),
                name: String::new(),
                connector_type: String::new(),
                scope: Vec::new(),
                auto: false,
                only_contextual: false,
                playbook_compatible: false,
                auto_update: false,
                enrichment_resolution: None,
                listen_callback_uri: None,
                connector_user_id: user.clone(),
                state: None,
                state_reset: false,
                state_timestamp: now,
                info: None,
                created_at: now,
                updated_at: now,
                registrations: 0,
                pings: 0,
                input: Value::Null,
            });
        c.name = name;
        c.connector_type = str_arg(input, "type").unwrap_or_default().to_owned();
        c.scope = scope;
        c.auto = bool_field(input, "auto");
        c.only_contextual = bool_field(input, "only_contextual");
        c.playbook_compatible = bool_field(input, "playbook_compatible");
        c.auto_update = bool_field(input, "auto_update");
        c.enrichment_resolution = str_arg(input, "enrichment_resolution").map(str::to_owned);
        c.listen_callback_uri = str_arg(input, "listen_callback_uri").map(str::to_owned);
        c.connector_user_id = user;
        c.updated_at = now;
        c.registrations += 1;
        c.input = Value::Object(input.clone());
        Ok(id)
    }

    /// `pingConnector(id, state, connectorInfo)` with OpenCTI's reset semantics
    /// (`docs/opencti-connector-protocol.md#ping-and-state`).
    pub(crate) fn ping(
        &mut self,
        id: &str,
        state: Option<&str>,
        info: Option<&Value>,
    ) -> Result<(), ApiError> {
        let c = self.connector_mut(id)?;
        c.pings += 1;
        if c.state_reset {
            c.state_reset = false;
        } else {
            c.updated_at = Timestamp::now();
            c.state = state.map(str::to_owned);
        }
        if let Some(info) = info.filter(|v| !v.is_null()) {
            c.info = Some(info.clone());
        }
        Ok(())
    }

    /// `resetStateConnector(id)`: state `""`, reset pending (the queues are purged by the
    /// caller when a broker is attached).
    pub(crate) fn reset_state(&mut self, id: &str) -> Result<(), ApiError> {
        let c = self.connector_mut(id)?;
        c.state = Some(String::new());
        c.state_reset = true;
        c.state_timestamp = Timestamp::now();
        Ok(())
    }

    /// `deleteConnector(id)`: the connector and its state are gone.
    pub(crate) fn delete_connector(&mut self, id: &str) -> Result<(), ApiError> {
        self.connectors
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| no_connector(id))
    }

    /// The full `Connector` object (projected onto the selection set later).
    pub(crate) fn connector_json(&self, id: &str) -> Option<Value> {
        let c = self.connectors.get(id)?;
        let p = &self.platform;
        let (messages_number, messages_size) =
            self.queue_sizes.get(id).copied().unwrap_or((0.0, 0.0));
        let conn = &p.connection;
        Some(json!({
            "id": c.id,
            "name": c.name,
            "active": c.active(),
            "auto": c.auto,
            "only_contextual": c.only_contextual,
            "connector_type": c.connector_type,
            "connector_scope": c.scope,
            "connector_state": c.state,
            "connector_user_id": c.connector_user_id,
            "connector_queue_details": {
                "messages_number": messages_number,
                "messages_size": messages_size,
            },
            "connector_info": c.info,
            "updated_at": c.updated_at.to_string(),
            "created_at": c.created_at.to_string(),
            "config": {
                "connection": {
                    "host": conn.host,
                    "vhost": conn.vhost,
                    "use_ssl": conn.use_ssl,
                    "port": conn.port,
                    "user": conn.user,
                    "pass": conn.pass,
                },
                "s3": null,
                "listen": p.listen_queue(id),
                "listen_routing": p.listen_routing(id),
                "listen_exchange": p.connector_exchange(),
                "listen_callback_uri": c.listen_callback_uri,
                "push": p.push_queue(id),
                "push_routing": p.push_routing(id),
                "push_exchange": p.worker_exchange(),
                "dead_letter_routing": format!("{}listen_routing_too-large-bundle", p.prefix),
            },
            "built_in": false,
        }))
    }

    // ---- works ------------------------------------------------------------------------

    fn work_mut(&mut self, id: &str) -> Result<&mut WorkRecord, ApiError> {
        let is_7x = self.platform.is_7x();
        self.works.get_mut(id).ok_or_else(|| {
            if is_7x {
                ApiError::work_not_alive()
            } else {
                ApiError::functional("Work not found", json!({"id": id}))
            }
        })
    }

    /// `workAdd(connectorId, friendlyName, isMultiPartWork)`.
    pub(crate) fn work_add(
        &mut self,
        connector_id: &str,
        friendly_name: Option<&str>,
        multipart: bool,
    ) -> Result<String, ApiError> {
        let connector_name = self
            .connectors
            .get(connector_id)
            .map(|c| c.name.clone())
            .ok_or_else(|| no_connector(connector_id))?;
        let now = Timestamp::now();
        self.next_work += 1;
        let seq = self.next_work;
        let id = format!("work_{connector_id}_{now}_{seq}");
        let name = friendly_name
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{connector_name} run @ {now}"));
        self.works.insert(
            id.clone(),
            WorkRecord {
                id: id.clone(),
                connector_id: connector_id.to_owned(),
                name,
                status: WorkStatus::Progress,
                multipart,
                expected: 0,
                processed: 0,
                completed_number: None,
                created_at: now,
                updated_at: now,
                received_time: None,
                processed_time: None,
                completed_time: None,
                messages: Vec::new(),
                errors: Vec::new(),
                in_error: false,
                to_processed_calls: 0,
                seq,
            },
        );
        Ok(id)
    }

    /// `addExpectations(expectations)`.
    pub(crate) fn add_expectations(&mut self, id: &str, n: u64) -> Result<(), ApiError> {
        let w = self.work_mut(id)?;
        w.expected += n;
        w.updated_at = Timestamp::now();
        Ok(())
    }

    /// `reportExpectation(error, expectations)`.
    pub(crate) fn report_expectation(
        &mut self,
        id: &str,
        error: Option<&Value>,
        n: u64,
    ) -> Result<(), ApiError> {
        let w = self.work_mut(id)?;
        w.processed += n;
        w.updated_at = Timestamp::now();
        if let Some(e) = error.filter(|e| !e.is_null()) {
            let text = e.get("error").and_then(Value::as_str).unwrap_or("error");
            let source = e.get("source").and_then(Value::as_str).map(str::to_owned);
            w.message(text, source, true);
        }
        w.check_completion();
        Ok(())
    }

    /// `toProcessed(message, inError)`.
    pub(crate) fn work_to_processed(
        &mut self,
        id: &str,
        message: Option<&str>,
        in_error: bool,
    ) -> Result<(), ApiError> {
        let w = self.work_mut(id)?;
        let now = Timestamp::now();
        w.processed_time = Some(now);
        w.updated_at = now;
        w.to_processed_calls += 1;
        if in_error {
            w.in_error = true;
        }
        if let Some(m) = message {
            w.message(m, None, in_error);
        }
        w.check_completion();
        Ok(())
    }

    /// `toReceived(message)`.
    pub(crate) fn work_to_received(
        &mut self,
        id: &str,
        message: Option<&str>,
    ) -> Result<(), ApiError> {
        let w = self.work_mut(id)?;
        let now = Timestamp::now();
        w.received_time = Some(now);
        w.updated_at = now;
        if let Some(m) = message {
            w.message(m, None, false);
        }
        Ok(())
    }

    /// `ping` on a work.
    pub(crate) fn work_ping(&mut self, id: &str) -> Result<(), ApiError> {
        self.work_mut(id)?.updated_at = Timestamp::now();
        Ok(())
    }

    /// `delete` on a work.
    pub(crate) fn work_delete(&mut self, id: &str) -> Result<(), ApiError> {
        self.work_mut(id)?;
        self.works.remove(id);
        Ok(())
    }

    /// The full `Work` object.
    pub(crate) fn work_json(&self, id: &str) -> Option<Value> {
        let w = self.works.get(id)?;
        let msgs = |v: &[WorkMessage]| -> Value {
            v.iter()
                .map(|m| {
                    json!({"timestamp": m.timestamp.to_string(), "message": m.message,
                           "sequence": m.sequence, "source": m.source})
                })
                .collect()
        };
        Some(json!({
            "id": w.id,
            "name": w.name,
            "connector": self.connector_json(&w.connector_id),
            "timestamp": w.created_at.to_string(),
            "status": w.status,
            "event_source_id": null,
            "received_time": ts(w.received_time),
            "processed_time": ts(w.processed_time),
            "completed_time": ts(w.completed_time),
            "completed_number": w.completed_number,
            "messages": msgs(&w.messages),
            "errors": msgs(&w.errors),
            "tracking": {
                "import_expected_number": w.expected,
                "import_processed_number": w.processed,
                "import_last_processed": w.updated_at.to_string(),
            },
            "draft_context": null,
        }))
    }

    // ---- bundles ----------------------------------------------------------------------

    /// `stixBundlePush(connectorId, bundle, work_id)`
    /// (`docs/opencti-connector-protocol.md#stixbundlepush`), then the worker's handling of the one
    /// message it publishes.
    pub(crate) fn stix_bundle_push(
        &mut self,
        connector_id: &str,
        bundle: &str,
        work_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let invalid = |cause: &str| ApiError::functional("Invalid bundle", json!({"cause": cause}));
        if !self.connectors.contains_key(connector_id) {
            return Err(invalid("No connector found"));
        }
        let parsed: Value = serde_json::from_str(bundle).map_err(|e| invalid(&e.to_string()))?;
        let n = match (
            parsed.get("type").and_then(Value::as_str),
            parsed.get("objects").and_then(Value::as_array),
        ) {
            (Some("bundle"), Some(o)) if !o.is_empty() => o.len(),
            _ => return Err(invalid("Invalid stix bundle")),
        };
        let work_id = match work_id {
            Some(w) => w.to_owned(),
            None => {
                let w = self.work_add(connector_id, None, false)?;
                if n == 1 {
                    self.add_expectations(&w, 1)?;
                }
                w
            }
        };
        self.worker_import(
            Via::Api,
            Some(connector_id),
            Some(&work_id),
            parsed,
            true,
            false,
        );
        Ok(())
    }

    /// What the worker does with one bundle (`docs/opencti-connector-protocol.md#amqp-messages`): a
    /// one-object bundle (or any bundle with `no_split`) is imported and one expectation reported;
    /// a larger one is split (without cleanup), the parts added as expectations, and each part
    /// imported and reported.
    pub(crate) fn worker_import(
        &mut self,
        via: Via,
        connector_id: Option<&str>,
        work_id: Option<&str>,
        bundle: Value,
        update: bool,
        no_split: bool,
    ) -> u64 {
        let mut rec = PushRecord {
            seq: self.pushes.len() as u64 + 1,
            via,
            connector_id: connector_id.map(str::to_owned),
            work_id: work_id.map(str::to_owned),
            update,
            bundle: Value::Null,
            imported: Vec::new(),
            dropped: Vec::new(),
            expectations_added: 0,
            work_error: None,
        };
        let objects: Vec<Value> = bundle
            .get("objects")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let split = objects.len() > 1 && !no_split;
        let parts: Vec<Value> = if !split {
            objects
        } else {
            let mut opts = SplitOptions::default();
            opts.cleanup_inconsistent_bundle = false;
            match split_bundle(bundle.clone(), &opts) {
                Ok(r) => {
                    for d in &r.dropped {
                        let what = d.id.clone().or_else(|| d.object_type.clone());
                        rec.dropped
                            .push(format!("{}: {}", what.unwrap_or_default(), d.reason));
                    }
                    let n = r.expectations() as u64;
                    rec.expectations_added = n;
                    if let Some(w) = work_id {
                        if let Err(e) = self.add_expectations(w, n) {
                            rec.work_error = Some(e.message);
                        }
                    }
                    r.bundles
                        .into_iter()
                        .filter_map(|b| b.get("objects")?.get(0).cloned())
                        .collect()
                }
                Err(e) => {
                    rec.dropped.push(format!("bundle: {e}"));
                    Vec::new()
                }
            }
        };
        let mut first_error = None;
        for o in &parts {
            let error = self.import_object(o, work_id);
            match &error {
                None => rec.imported.push(
                    o.get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into(),
                ),
                Some(e) => rec.dropped.push(e.clone()),
            }
            let err = error.map(|e| json!({"error": e, "source": o.get("id")}));
            if split {
                self.report(work_id, err.as_ref(), &mut rec);
            } else if first_error.is_none() {
                first_error = err;
            }
        }
        if !split {
            // The message as a whole is one expectation.
            self.report(work_id, first_error.as_ref(), &mut rec);
        }
        if self.platform.keep_payloads {
            rec.bundle = bundle;
        }
        let n = rec.imported.len() as u64;
        self.pushes.push(rec);
        n
    }

    fn report(&mut self, work_id: Option<&str>, error: Option<&Value>, rec: &mut PushRecord) {
        if let Some(w) = work_id {
            if let Err(e) = self.report_expectation(w, error, 1) {
                rec.work_error = Some(e.message);
            }
        }
    }

    /// Imports one object (records it by id); the error text when it cannot be imported.
    fn import_object(&mut self, o: &Value, work_id: Option<&str>) -> Option<String> {
        let Some(id) = o.get("id").and_then(Value::as_str) else {
            return Some("object without id".into());
        };
        if !is_supported_id(id) {
            return Some(format!("{id}: type not supported by OpenCTI"));
        }
        let r = self
            .objects
            .entry(id.to_owned())
            .or_insert_with(|| ObjectRecord {
                id: id.to_owned(),
                object_type: o.get("type").and_then(Value::as_str).map(str::to_owned),
                count: 0,
                object: Value::Null,
                works: Vec::new(),
                received_unix_ms: Vec::new(),
            });
        r.count += 1;
        r.object = o.clone();
        r.works.push(work_id.map(str::to_owned));
        r.received_unix_ms.push(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        );
        None
    }

    // ---- faults -----------------------------------------------------------------------

    pub(crate) fn add_fault(&mut self, f: super::fault::Fault) -> u64 {
        self.next_fault += 1;
        self.faults.push(FaultState::new(self.next_fault, f));
        self.next_fault
    }

    pub(crate) fn faults_view(&self) -> Vec<FaultView> {
        self.faults.iter().map(FaultState::view).collect()
    }
}
