//! An OpenCTI stand-in for the connector's tests, local demos and the benchmark: the platform side
//! of `docs/opencti-connector-protocol.md` (cited below by its section anchors), small and in
//! memory.
//!
//! [`StandIn::start`] serves `POST /graphql` (and JSON control endpoints under `/standin/`) on a
//! local port and returns a [`StandInHandle`] to inspect what it received and to steer it (reset a
//! connector's state, report a queue size, inject faults).
//!
//! # What is faithful
//! - **Validation.** Every document is parsed and validated against the schema subset
//!   ([`SCHEMA_SUBSET`], `data/opencti-schema-subset.graphql`) with apollo-compiler, and the
//!   variables are coerced against the operation's definitions (required variables, known input
//!   fields, enum values, scalar types). A failure is answered like OpenCTI does — OpenCTI's Apollo
//!   plugin (`httpResponsePlugin`) forces **HTTP 200** on any response with errors, so a validation
//!   error is `200 {"errors": [{message, locations, extensions: {code:
//!   "GRAPHQL_VALIDATION_FAILED"}}]}` with no `data` (parse errors: `GRAPHQL_PARSE_FAILED`,
//!   variables: `BAD_USER_INPUT`) — and recorded as [`RequestOutcome::Rejected`].
//! - **Versions.** `about.version` is configurable (default 6.8.10). A 6.x (or older) platform
//!   serves the schema without the 7.x-only `workAdd(isMultiPartWork)`,
//!   `reportExpectation(expectations)` and `ConnectorConfig.s3`, and without the
//!   `RegisterConnectorInput` fields the version predates (by the first pycti release sending each,
//!   `#registration`), so a registration sending them is rejected as by an old server.
//! - **Projection.** Each root field resolves to the full JSON of its type; apollo-compiler's
//!   executor projects it onto the selection set (aliases, fragments, `__typename`, null
//!   propagation on non-null fields).
//! - **Authentication.** Without `Authorization: Bearer <token>` (the configured token) every root
//!   field fails with OpenCTI's `AuthRequired` error (`You must be logged in to do this.`,
//!   `extensions.code = AUTH_REQUIRED`), HTTP 200, as the `@auth` directive does.
//! - **Errors** have OpenCTI's shape: `message`, `extensions.code` (`FUNCTIONAL_ERROR`, …) and
//!   `extensions.data` (`http_status`, `genre`, details), e.g. `No connector found`.
//! - **Registration** (`#registration`) creates or patches the connector, keeps its stored state,
//!   returns `connector_user_id` (the token's user) and `config` with the RabbitMQ connection and
//!   the queue names `<P>push_<id>`, `<P>push_routing_<id>`, `<P>amqp.worker.exchange`,
//!   `<P>listen_…`, `<P>listen_routing_too-large-bundle` (`<P>` = queue prefix + `_`).
//! - **Ping and reset** (`#ping-and-state`): a pending reset is cleared by the next ping, whose
//!   state is ignored and which answers `""` without touching `updated_at`; otherwise the sent
//!   string is stored verbatim. `connector_info` is stored whenever sent.
//! - **Works** (`#works`, 6.x): `addExpectations` adds, each reported expectation counts, the work
//!   completes as soon as processed ≥ expected (even before `toProcessed`), `toProcessed` completes
//!   it at once when the counters already match; messages vs errors by `inError`; at most 100
//!   errors. On 7.x a multipart work also waits for `toProcessed`.
//! - **`stixBundlePush`** (`#stixbundlepush`): `type == "bundle"` and a non-empty `objects` list,
//!   else `Invalid bundle`; without `work_id` a work `<name> run @ <now>` is created, with one
//!   expectation only for a one-object bundle. Then the stand-in acts as the worker
//!   (`#amqp-messages`): a one-object bundle is imported and one expectation reported; a larger one
//!   is split with [`stix_model::split`] (no cleanup, like the worker), the parts added as
//!   expectations and each imported and reported. Objects of types OpenCTI does not import are
//!   reported as errors on the work.
//! - **AMQP** (optional, [`StandInOptions::amqp_url`]): registration and ping assert the topology
//!   on a real broker (durable direct exchanges, durable listen/push queues and their bindings); a
//!   consumer per push queue decodes each message (`#amqp-messages`), checks the envelope (the keys
//!   pycti always sends, `bundle_type`, the applicant, base64 `content` holding a bundle), imports
//!   it as above and acks it; a bad message is recorded with the reason and nacked without requeue
//!   (lost, like the worker does). A reset purges both queues.
//!
//! # What is simplified
//! - One user (the token's), with every capability; no sessions, no other tokens.
//! - `stixBundlePush` is imported in-process instead of going through the push queue, also when a
//!   broker is attached; a multi-object AMQP message is split and imported in place instead of
//!   being republished as parts.
//! - "Import" means recording the object by id (with a receipt count); nothing is merged, and
//!   references are not resolved.
//! - `connector_queue_details` reports the numbers set with [`StandInHandle::set_queue_size`]
//!   (default 0/0), not the broker's queue (OpenCTI asks the management API for the byte size,
//!   which plain AMQP cannot tell).
//! - Work ids look like `work_<connector id>_<timestamp>_<n>`; unknown works are a `Work not found`
//!   functional error on 6.x (`WORK_NOT_ALIVE` on 7.x).
//! - Validation messages are apollo-compiler's, not graphql-js's wording.
//! - No `@constraint` beyond the registration name (≥ 2 characters, not blank).
//!
//! The control endpoints (`/standin/…`, no authentication: it is a test tool) are listed on
//! [`StandInHandle`].

#![warn(missing_docs)]

mod amqp;
mod exec;
mod fault;
mod http;
mod model;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apollo_compiler::validation::Valid;
use apollo_compiler::Schema;
use serde::Serialize;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub use fault::{Fault, FaultAction, FaultView};
pub use model::{
    AmqpMessageRecord, ConnectorRecord, ObjectRecord, PushRecord, RabbitMqConnection,
    RequestOutcome, RequestRecord, Via, WorkMessage, WorkRecord, WorkStatus,
};

use model::{ApiError, Model, Platform};

/// The part of OpenCTI's GraphQL schema a connector uses (OpenCTI-Platform/opencti,
/// `opencti-graphql/config/schema/opencti.graphql` at 340d3b07, Apache-2.0; the source line is
/// in the file's header). Requests are validated against it; the connector's tests check its
/// documents against it too.
pub const SCHEMA_SUBSET: &str = include_str!("../data/opencti-schema-subset.graphql");

/// A platform version as `(major, minor, patch)`, parts that are not numbers counting as 0
/// (7.x date-based versions compare higher than every 6.x one).
pub(crate) fn version_tuple(v: &str) -> (u64, u64, u64) {
    let mut p = v.trim().split('.').map(|x| x.parse::<u64>().unwrap_or(0));
    (
        p.next().unwrap_or(0),
        p.next().unwrap_or(0),
        p.next().unwrap_or(0),
    )
}

/// The token the stand-in accepts unless told otherwise.
pub const DEFAULT_TOKEN: &str = "6f1c0d5e-3b7a-4c2e-9a8d-0e5f4b3c2a19";

/// The id of the user owning the token (the `connector_user_id` registration returns).
pub const DEFAULT_USER_ID: &str = "3c2b1a09-8f7e-4d6c-b5a4-93827160fedc";

/// The platform version `about` answers unless told otherwise.
pub const DEFAULT_VERSION: &str = "6.8.10";

/// How to start the stand-in.
#[derive(Debug, Clone)]
pub struct StandInOptions {
    /// Address to listen on (default `127.0.0.1:0`: a free port).
    pub listen: SocketAddr,
    /// The bearer token to accept.
    pub token: String,
    /// The platform version (`about { version }`), e.g. `6.8.10` or `7.260807.0`.
    pub version: String,
    /// The token user's id.
    pub user_id: String,
    /// A RabbitMQ broker (`amqp://user:pass@host:port/vhost`): assert the topology and consume
    /// the push queues. `None`: no broker.
    pub amqp_url: Option<String>,
    /// OpenCTI's `rabbitmq:queue_prefix` (empty: none; otherwise names get `<prefix>_`).
    pub queue_prefix: String,
    /// The RabbitMQ connection registration returns. `None`: taken from `amqp_url`, else
    /// placeholders ([`RabbitMqConnection::default`]).
    pub rabbitmq: Option<RabbitMqConnection>,
    /// The largest request body accepted (OpenCTI's `app:max_payload_body_size`, 50 MB by
    /// default); a larger one is answered 413.
    pub max_body_bytes: usize,
    /// Keep the payloads: bundles in [`PushRecord::bundle`] and the AMQP records, long strings
    /// in [`RequestRecord::variables`]. Off (for long benchmark runs), bundles are not kept
    /// and strings over 4 KiB in variables become `"<N bytes>"`; imported objects are always
    /// kept.
    pub keep_payloads: bool,
}

impl Default for StandInOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: DEFAULT_TOKEN.into(),
            version: DEFAULT_VERSION.into(),
            user_id: DEFAULT_USER_ID.into(),
            amqp_url: None,
            queue_prefix: String::new(),
            rabbitmq: None,
            max_body_bytes: 50 * 1024 * 1024,
            keep_payloads: true,
        }
    }
}

/// Why the stand-in could not start or do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum StandInError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The schema could not be built for this version.
    #[error("schema: {0}")]
    Schema(String),
    /// The AMQP URL does not parse.
    #[error("invalid AMQP URL: {0}")]
    AmqpUrl(String),
    /// The broker could not be reached or refused an operation.
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] lapin::Error),
    /// The platform refused the operation (e.g. `No connector found`).
    #[error("{0}")]
    Platform(String),
}

/// Counts over everything received.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Requests on `/graphql`.
    pub requests: u64,
    /// Of which rejected (do not validate, bad variables, not GraphQL).
    pub rejected_requests: u64,
    /// Of which answered by an injected fault.
    pub fault_answers: u64,
    /// Connectors registered.
    pub connectors: u64,
    /// Works.
    pub works: u64,
    /// Works complete.
    pub works_complete: u64,
    /// Distinct objects imported.
    pub objects: u64,
    /// Object receipts (duplicates included).
    pub objects_received: u64,
    /// Receipts beyond the first, summed over objects.
    pub duplicates: u64,
    /// Bundles handled by the worker.
    pub pushes: u64,
    /// AMQP messages consumed.
    pub amqp_messages: u64,
    /// AMQP messages rejected.
    pub amqp_rejected: u64,
}

/// State shared by the HTTP handlers, the resolvers, the AMQP consumers and the handle.
pub(crate) struct Shared {
    pub(crate) token: String,
    pub(crate) max_body_bytes: usize,
    pub(crate) schema: Valid<Schema>,
    model: Mutex<Model>,
    changes: watch::Sender<u64>,
    pub(crate) broker: Option<amqp::Broker>,
}

impl Shared {
    /// Runs `f` on the state under the lock, then wakes whoever waits for a change.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Model) -> R) -> R {
        let r = {
            let mut m = self.model.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut m)
        };
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        r
    }

    /// Reads the state under the lock.
    pub(crate) fn view<R>(&self, f: impl FnOnce(&Model) -> R) -> R {
        let m = self.model.lock().unwrap_or_else(|e| e.into_inner());
        f(&m)
    }
}

/// `resetStateConnector` (`docs/opencti-connector-protocol.md#ping-and-state`): state `""`, reset
/// pending, queues purged.
pub(crate) async fn reset_connector_state(shared: &Arc<Shared>, id: &str) -> Result<(), ApiError> {
    shared.with(|m| m.reset_state(id))?;
    if let Some(b) = &shared.broker {
        b.purge(shared, id)
            .await
            .map_err(|e| ApiError::unknown(format!("RabbitMQ: {e}")))?;
    }
    Ok(())
}

/// The stand-in.
#[derive(Debug)]
pub struct StandIn;

impl StandIn {
    /// Binds, connects to the broker when one is given, and starts serving.
    pub async fn start(options: StandInOptions) -> Result<StandInHandle, StandInError> {
        let schema = exec::schema_for(&options.version).map_err(StandInError::Schema)?;
        let connection = match (&options.rabbitmq, &options.amqp_url) {
            (Some(c), _) => c.clone(),
            (None, Some(url)) => connection_from_url(url)?,
            (None, None) => RabbitMqConnection::default(),
        };
        let broker = match &options.amqp_url {
            Some(url) => Some(amqp::Broker::connect(url).await?),
            None => None,
        };
        let platform = Platform {
            major: version_tuple(&options.version).0,
            version: options.version.clone(),
            user_id: options.user_id.clone(),
            prefix: if options.queue_prefix.is_empty() {
                String::new()
            } else {
                format!("{}_", options.queue_prefix)
            },
            connection,
            keep_payloads: options.keep_payloads,
        };
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|source| StandInError::Bind {
                addr: options.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StandInError::Bind {
            addr: options.listen,
            source,
        })?;
        let shared = Arc::new(Shared {
            token: options.token.clone(),
            max_body_bytes: options.max_body_bytes,
            schema,
            model: Mutex::new(Model::new(platform)),
            changes: watch::channel(0).0,
            broker,
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let app = http::router(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(StandInHandle {
            shared,
            addr,
            stop: Some(stop),
            server: Some(server),
        })
    }
}

fn connection_from_url(url: &str) -> Result<RabbitMqConnection, StandInError> {
    let uri: lapin::uri::AMQPUri = url.parse().map_err(StandInError::AmqpUrl)?;
    Ok(RabbitMqConnection {
        host: uri.authority.host,
        port: uri.authority.port,
        vhost: uri.vhost,
        use_ssl: matches!(uri.scheme, lapin::uri::AMQPScheme::AMQPS),
        user: uri.authority.userinfo.username,
        pass: uri.authority.userinfo.password,
    })
}

/// A running stand-in.
///
/// Control endpoints (JSON) for scripts and the binary, mirroring the methods:
///
/// | Route | Does |
/// |---|---|
/// | `GET /standin/summary` | [`summary`](Self::summary) |
/// | `GET /standin/requests[?operation=Name]` | [`requests`](Self::requests) |
/// | `GET /standin/connectors`, `GET /standin/connectors/{id}` | [`connectors`](Self::connectors) |
/// | `POST /standin/connectors/{id}/reset` | [`reset_state`](Self::reset_state) |
/// | `PUT /standin/connectors/{id}/queue` `{"messages_number", "messages_size"}` | [`set_queue_size`](Self::set_queue_size) |
/// | `GET /standin/works[?connector=id]`, `GET /standin/works/{id}` | [`works`](Self::works) |
/// | `GET /standin/objects[?full=true]`, `GET /standin/objects/{id}` | [`objects`](Self::objects) (ids, types, counts, receipt times; `full` adds the bodies) |
/// | `GET /standin/pushes` | [`pushes`](Self::pushes) |
/// | `GET /standin/amqp/messages` | [`amqp_messages`](Self::amqp_messages) |
/// | `GET /standin/faults`, `POST /standin/faults` (a [`Fault`]), `DELETE /standin/faults` | faults |
#[derive(Debug)]
pub struct StandInHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl StandInHandle {
    /// The platform URL (`OPENCTI_URL`), e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The GraphQL endpoint, `<url>/graphql`.
    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.url())
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The accepted token (`OPENCTI_TOKEN`).
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// The platform version served.
    pub fn version(&self) -> String {
        self.shared.view(|m| m.platform.version.clone())
    }

    /// The token user's id (`connector_user_id`, the applicant id of AMQP messages).
    pub fn user_id(&self) -> String {
        self.shared.view(|m| m.platform.user_id.clone())
    }

    /// The push queue of a connector (`<P>push_<id>`).
    pub fn push_queue(&self, connector_id: &str) -> String {
        self.shared.view(|m| m.platform.push_queue(connector_id))
    }

    /// Every request received on `/graphql`, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.view(|m| m.requests.clone())
    }

    /// The requests of one operation (by name).
    pub fn requests_of(&self, operation: &str) -> Vec<RequestRecord> {
        self.shared.view(|m| {
            m.requests
                .iter()
                .filter(|r| r.operation.as_deref() == Some(operation))
                .cloned()
                .collect()
        })
    }

    /// The requests refused before execution.
    pub fn rejected_requests(&self) -> Vec<RequestRecord> {
        self.shared.view(|m| {
            m.requests
                .iter()
                .filter(|r| {
                    matches!(
                        r.outcome,
                        RequestOutcome::Rejected | RequestOutcome::BadRequest
                    )
                })
                .cloned()
                .collect()
        })
    }

    /// The registered connectors, by id.
    pub fn connectors(&self) -> Vec<ConnectorRecord> {
        self.shared
            .view(|m| m.connectors.values().cloned().collect())
    }

    /// One connector.
    pub fn connector(&self, id: &str) -> Option<ConnectorRecord> {
        self.shared.view(|m| m.connectors.get(id).cloned())
    }

    /// Every work, in creation order.
    pub fn works(&self) -> Vec<WorkRecord> {
        self.shared.view(|m| {
            let mut w: Vec<WorkRecord> = m.works.values().cloned().collect();
            w.sort_by_key(|w| w.seq);
            w
        })
    }

    /// The works of one connector, in creation order.
    pub fn works_of(&self, connector_id: &str) -> Vec<WorkRecord> {
        let mut w = self.works();
        w.retain(|w| w.connector_id == connector_id);
        w
    }

    /// One work.
    pub fn work(&self, id: &str) -> Option<WorkRecord> {
        self.shared.view(|m| m.works.get(id).cloned())
    }

    /// Every object imported, by id, with its receipt count and last body.
    pub fn objects(&self) -> Vec<ObjectRecord> {
        self.shared.view(|m| m.objects.values().cloned().collect())
    }

    /// One object.
    pub fn object(&self, id: &str) -> Option<ObjectRecord> {
        self.shared.view(|m| m.objects.get(id).cloned())
    }

    /// How many times each object id was received.
    pub fn object_counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.shared.view(|m| {
            m.objects
                .iter()
                .map(|(k, v)| (k.clone(), v.count))
                .collect()
        })
    }

    /// Every bundle the worker handled (API pushes and AMQP messages), in order.
    pub fn pushes(&self) -> Vec<PushRecord> {
        self.shared.view(|m| m.pushes.clone())
    }

    /// Every AMQP message consumed, accepted or not, in order.
    pub fn amqp_messages(&self) -> Vec<AmqpMessageRecord> {
        self.shared.view(|m| m.amqp_messages.clone())
    }

    /// Counts.
    pub fn summary(&self) -> Summary {
        self.shared.view(summary)
    }

    /// Presses "reset state" for a connector (`resetStateConnector`): state `""`, a reset
    /// pending for the next ping, the queues purged when a broker is attached.
    pub async fn reset_state(&self, connector_id: &str) -> Result<(), StandInError> {
        reset_connector_state(&self.shared, connector_id)
            .await
            .map_err(|e| StandInError::Platform(e.message))
    }

    /// Sets what `connector { connector_queue_details }` reports for a connector (size in
    /// bytes; the connector compares `messages_size / 1e6` with its threshold in MB).
    pub fn set_queue_size(&self, connector_id: &str, messages_number: f64, messages_size: f64) {
        self.shared.with(|m| {
            m.queue_sizes
                .insert(connector_id.to_owned(), (messages_number, messages_size));
        });
    }

    /// Adds a fault rule; its id.
    pub fn add_fault(&self, fault: Fault) -> u64 {
        self.shared.with(|m| m.add_fault(fault))
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.with(|m| m.faults.clear());
    }

    /// The fault rules and their counters.
    pub fn faults(&self) -> Vec<FaultView> {
        self.shared.view(|m| m.faults_view())
    }

    /// Waits until `done` holds (checked now and after every change), at most `timeout`;
    /// whether it held. For events that happen in the background (AMQP consumption).
    pub async fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let mut rx = self.shared.changes.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.mark_unchanged();
            if done(self) {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return done(self),
            }
        }
    }

    /// Stops serving (after the requests in flight) and closes the broker connection.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(b) = &self.shared.broker {
            b.close().await;
        }
    }
}

impl Drop for StandInHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn summary(m: &Model) -> Summary {
    let count = |o: RequestOutcome| m.requests.iter().filter(|r| r.outcome == o).count() as u64;
    let received: u64 = m.objects.values().map(|o| o.count).sum();
    Summary {
        requests: m.requests.len() as u64,
        rejected_requests: count(RequestOutcome::Rejected) + count(RequestOutcome::BadRequest),
        fault_answers: count(RequestOutcome::Fault),
        connectors: m.connectors.len() as u64,
        works: m.works.len() as u64,
        works_complete: m
            .works
            .values()
            .filter(|w| w.status == WorkStatus::Complete)
            .count() as u64,
        objects: m.objects.len() as u64,
        objects_received: received,
        duplicates: received - m.objects.len() as u64,
        pushes: m.pushes.len() as u64,
        amqp_messages: m.amqp_messages.len() as u64,
        amqp_rejected: m
            .amqp_messages
            .iter()
            .filter(|a| a.rejected.is_some())
            .count() as u64,
    }
}
