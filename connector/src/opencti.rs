//! The OpenCTI side: the GraphQL calls of an external-import connector
//! (`docs/opencti-connector-protocol.md`, from `#transport` to `#stixbundlepush`).
//!
//! Every call is `POST <OPENCTI_URL>/graphql` with a timeout. GraphQL reports most failures as
//! HTTP 200 with an `errors` array, so the body is checked as well as the status. Connection
//! errors, timeouts, 5xx, 429 and 408 are retried with back-off a bounded number of times; an
//! authentication failure or a rejected document is returned at once.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use crate::configuration::{Secret, TlsVerify};
use crate::graphql;
use crate::logging::{chain, API};
use crate::retry::RetryPolicy;

/// What went wrong talking to OpenCTI.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpenCtiError {
    /// The token is missing, wrong, or lacks a capability.
    #[error("OpenCTI refused the token or its rights ({0})")]
    Unauthorized(String),
    /// OpenCTI answered with GraphQL errors.
    #[error("OpenCTI answered {name}: {message}")]
    Graphql {
        /// The error's name (`FUNCTIONAL_ERROR`, …), or its code.
        name: String,
        /// Its message and data.
        message: String,
    },
    /// OpenCTI answered with a GraphQL error that names a passing failure (a lock held by
    /// concurrent writes, the database or search engine unavailable): asking again may help.
    #[error("OpenCTI is busy ({name}): {message}")]
    Busy {
        /// The error's name or code (`LOCK_ERROR`, `DATABASE_ERROR`, …).
        name: String,
        /// Its message and data.
        message: String,
    },
    /// An HTTP status other than 200 (the body: the first GraphQL error when there is one,
    /// else its start).
    #[error("OpenCTI answered HTTP {status}: {body}")]
    Http {
        /// Status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The request did not complete (connection refused, reset, timed out).
    #[error("OpenCTI is unreachable: {0}")]
    Transport(String),
    /// The answer is not what the document asked for.
    #[error("OpenCTI's answer is malformed: {0}")]
    Malformed(String),
    /// The connector is stopping.
    #[error("stopped")]
    Stopped,
}

impl OpenCtiError {
    /// Whether asking again may help (docs/opencti-connector-protocol.md#faults): a failed or
    /// timed-out connection, HTTP 5xx, 429 or 408 whatever the body, or a GraphQL error naming
    /// a passing failure ([`TRANSIENT_ERRORS`]).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) | Self::Busy { .. } => true,
            Self::Http { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }
}

/// The RabbitMQ connection and push routing OpenCTI returns at registration
/// (`docs/opencti-connector-protocol.md#registration`).
#[derive(Debug, Clone, PartialEq)]
pub struct PushConfig {
    /// Host.
    pub host: String,
    /// Virtual host.
    pub vhost: String,
    /// TLS.
    pub use_ssl: bool,
    /// Port.
    pub port: u16,
    /// User.
    pub user: String,
    /// Password.
    pub pass: Secret,
    /// Exchange to publish to.
    pub push_exchange: String,
    /// Routing key.
    pub push_routing: String,
    /// The push queue (for information).
    pub push: String,
}

/// The answer to a registration.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The connector id.
    pub id: String,
    /// The id of the token's user: the applicant id of every queue message.
    pub connector_user_id: Option<String>,
    /// The state OpenCTI keeps for this connector (the raw string).
    pub connector_state: Option<String>,
    /// RabbitMQ settings, when OpenCTI returned them.
    pub push: Option<PushConfig>,
}

/// What a ping tells OpenCTI about the schedule and the queue (`ConnectorInfoInput`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorInfo {
    /// Run-and-terminate mode.
    pub run_and_terminate: bool,
    /// The last queue check found the queue over the threshold.
    pub buffering: bool,
    /// The threshold in MB.
    pub queue_threshold: f64,
    /// The queue size in MB at the last check.
    pub queue_messages_size: f64,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub next_run_datetime: Option<String>,
    /// `YYYY-MM-DDTHH:MM:SSZ`, when the last run finished.
    pub last_run_datetime: Option<String>,
}

impl ConnectorInfo {
    fn to_json(&self) -> Value {
        json!({
            "run_and_terminate": self.run_and_terminate,
            "buffering": self.buffering,
            "queue_threshold": self.queue_threshold,
            "queue_messages_size": self.queue_messages_size,
            "next_run_datetime": self.next_run_datetime,
            "last_run_datetime": self.last_run_datetime,
        })
    }
}

/// A client of OpenCTI's GraphQL API.
#[derive(Debug, Clone)]
pub struct OpenCti {
    client: reqwest::Client,
    endpoint: String,
    token: Secret,
    retry: RetryPolicy,
    stop: CancellationToken,
}

/// Builds the HTTP client both peers use: timeouts, user agent, TLS verification.
pub fn http_client(
    timeout: Duration,
    tls: &TlsVerify,
    headers: &[(String, String)],
) -> Result<reqwest::Client, String> {
    let mut default_headers = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("{k:?} is not a header name"))?;
        let value = reqwest::header::HeaderValue::from_str(v)
            .map_err(|_| format!("the value of header {k} is not valid"))?;
        default_headers.insert(name, value);
    }
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("disinfox-connector/", env!("CARGO_PKG_VERSION")))
        .default_headers(default_headers);
    match tls {
        TlsVerify::Yes => {}
        TlsVerify::No => b = b.tls_danger_accept_invalid_certs(true),
        TlsVerify::CaFile(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("OPENCTI_SSL_VERIFY: cannot read {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                format!(
                    "OPENCTI_SSL_VERIFY: {} is not a PEM bundle: {e}",
                    path.display()
                )
            })?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
    }
    b.build().map_err(|e| format!("HTTP client: {e}"))
}

impl OpenCti {
    /// A client of `url` (OpenCTI's base URL, without `/graphql`).
    pub fn new(
        url: &str,
        token: Secret,
        client: reqwest::Client,
        retry: RetryPolicy,
        stop: CancellationToken,
    ) -> Self {
        Self {
            client,
            endpoint: format!("{}/graphql", url.trim_end_matches('/')),
            token,
            retry,
            stop,
        }
    }

    /// The same client, but not interrupted by the stop signal: for closing the work and the
    /// last ping while the connector stops (callers bound the time).
    pub fn uninterruptible(&self) -> Self {
        Self {
            stop: CancellationToken::new(),
            ..self.clone()
        }
    }

    /// Sends a document once.
    /// A GraphQL request body (`variables` serialized in place, not copied into a value).
    fn request_body(query: &str, variables: &Value) -> Bytes {
        #[derive(serde::Serialize)]
        struct Request<'a> {
            query: &'a str,
            variables: &'a Value,
        }
        serde_json::to_vec(&Request { query, variables })
            .map(Bytes::from)
            .unwrap_or_default()
    }

    async fn send_once(&self, body: Bytes) -> Result<Value, OpenCtiError> {
        let request = self
            .client
            .post(&self.endpoint)
            .bearer_auth(self.token.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let response = tokio::select! {
            r = request.send() => r,
            () = self.stop.cancelled() => return Err(OpenCtiError::Stopped),
        };
        let response = response.map_err(|e| {
            OpenCtiError::Transport(if e.is_timeout() {
                "request timed out".to_owned()
            } else {
                chain(&e)
            })
        })?;
        let status = response.status().as_u16();
        let body = tokio::select! {
            b = response.bytes() => b,
            () = self.stop.cancelled() => return Err(OpenCtiError::Stopped),
        }
        .map_err(|e| OpenCtiError::Transport(format!("reading the answer: {e}")))?;
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        let first_error = parsed
            .as_ref()
            .and_then(|v| v.get("errors"))
            .and_then(Value::as_array)
            .and_then(|e| e.first())
            .map(graphql_error);
        // The status decides first, whatever the body says: a 5xx carrying a GraphQL `errors`
        // document is still a server failure (docs/opencti-connector-protocol.md#faults).
        let detail = || match &first_error {
            Some(
                OpenCtiError::Graphql { name, message } | OpenCtiError::Busy { name, message },
            ) => {
                format!("{name}: {message}")
            }
            Some(OpenCtiError::Unauthorized(why)) => why.clone(),
            _ => String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
        };
        match status {
            200 => {}
            401 | 403 => {
                return Err(OpenCtiError::Unauthorized(format!(
                    "HTTP {status}: {}",
                    detail()
                )));
            }
            _ => {
                return Err(OpenCtiError::Http {
                    status,
                    body: detail(),
                })
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        match parsed.and_then(|mut v| v.get_mut("data").map(Value::take)) {
            Some(data @ Value::Object(_)) => Ok(data),
            _ => Err(OpenCtiError::Malformed(format!(
                "no data in {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ))),
        }
    }

    /// Sends a document, retrying transient failures a bounded number of times.
    pub async fn execute(&self, query: &str, variables: Value) -> Result<Value, OpenCtiError> {
        self.send_with_retry(Self::request_body(query, &variables))
            .await
    }

    /// Sends a request body, retrying transient failures a bounded number of times (the body
    /// is shared between the attempts, not copied).
    async fn send_with_retry(&self, body: Bytes) -> Result<Value, OpenCtiError> {
        let attempts = self.retry.attempts.max(1);
        let mut attempt = 1;
        loop {
            match self.send_once(body.clone()).await {
                Err(e) if e.is_transient() && attempt < attempts => {
                    tracing::warn!(
                        target: API,
                        attempt,
                        error = %e,
                        "OpenCTI call failed, retrying"
                    );
                    if !self.retry.wait(attempt, &self.stop).await {
                        return Err(OpenCtiError::Stopped);
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// `about { version }`, once (no retry).
    pub async fn platform_version(&self) -> Result<String, OpenCtiError> {
        let data = self
            .send_once(Self::request_body(graphql::HEALTH_CHECK, &json!({})))
            .await?;
        data.pointer("/about/version")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| OpenCtiError::Malformed("about.version is missing".into()))
    }

    /// Registers the connector (`input` from [`graphql::register_input`]).
    pub async fn register(&self, input: Value) -> Result<Registration, OpenCtiError> {
        let data = self
            .execute(graphql::REGISTER, json!({ "input": input }))
            .await?;
        let c = data
            .get("registerConnector")
            .filter(|v| v.is_object())
            .ok_or_else(|| OpenCtiError::Malformed("registerConnector is null".into()))?;
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let push = c.get("config").filter(|v| v.is_object()).and_then(|cfg| {
            let conn = cfg.get("connection")?;
            Some(PushConfig {
                host: s(conn, "host")?,
                vhost: s(conn, "vhost").unwrap_or_else(|| "/".into()),
                use_ssl: conn
                    .get("use_ssl")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                port: conn
                    .get("port")
                    .and_then(Value::as_u64)
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(5672),
                user: s(conn, "user").unwrap_or_default(),
                pass: Secret::new(s(conn, "pass").unwrap_or_default()),
                push_exchange: s(cfg, "push_exchange")?,
                push_routing: s(cfg, "push_routing")?,
                push: s(cfg, "push").unwrap_or_default(),
            })
        });
        Ok(Registration {
            id: s(c, "id").ok_or_else(|| OpenCtiError::Malformed("no connector id".into()))?,
            connector_user_id: s(c, "connector_user_id"),
            connector_state: s(c, "connector_state"),
            push,
        })
    }

    /// Pings with the state (`"null"` for none) and the connector info; returns the state
    /// OpenCTI holds afterwards (the raw string). Not retried: the ping loop is the retry.
    pub async fn ping(
        &self,
        id: &str,
        state: &str,
        info: &ConnectorInfo,
    ) -> Result<Option<String>, OpenCtiError> {
        let data = self
            .send_once(Self::request_body(
                graphql::PING,
                &json!({ "id": id, "state": state, "connectorInfo": info.to_json() }),
            ))
            .await?;
        let c = data
            .get("pingConnector")
            .filter(|v| v.is_object())
            .ok_or_else(|| OpenCtiError::Malformed("pingConnector is null".into()))?;
        Ok(c.get("connector_state")
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// The size in bytes of the connector's push queue (back-pressure,
    /// `docs/opencti-connector-protocol.md#queue-threshold`).
    pub async fn queue_size(&self, id: &str) -> Result<f64, OpenCtiError> {
        let data = self
            .execute(graphql::GET_CONNECTOR, json!({ "id": id }))
            .await?;
        data.pointer("/connector/connector_queue_details/messages_size")
            .and_then(Value::as_f64)
            .ok_or_else(|| OpenCtiError::Malformed("connector_queue_details is missing".into()))
    }

    /// Opens a work; `multipart` (7.x only) asks OpenCTI to complete it only after
    /// `toProcessed`.
    pub async fn work_add(
        &self,
        connector_id: &str,
        name: &str,
        multipart: bool,
    ) -> Result<String, OpenCtiError> {
        let (doc, vars) = if multipart {
            (
                graphql::WORK_ADD_MULTIPART,
                json!({"connectorId": connector_id, "friendlyName": name, "isMultiPartWork": true}),
            )
        } else {
            (
                graphql::WORK_ADD,
                json!({"connectorId": connector_id, "friendlyName": name}),
            )
        };
        let data = self.execute(doc, vars).await?;
        data.pointer("/workAdd/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| OpenCtiError::Malformed("workAdd returned no id".into()))
    }

    /// Adds `n` expectations to a work.
    pub async fn add_expectations(&self, work_id: &str, n: usize) -> Result<(), OpenCtiError> {
        self.execute(
            graphql::WORK_ADD_EXPECTATIONS,
            json!({"id": work_id, "expectations": n}),
        )
        .await
        .map(drop)
    }

    /// Records an error in a work (one expectation, reported in error): how an object the
    /// connector skipped shows in OpenCTI's work view.
    pub async fn report_error(
        &self,
        work_id: &str,
        error: &str,
        source: &str,
    ) -> Result<(), OpenCtiError> {
        self.add_expectations(work_id, 1).await?;
        self.execute(
            graphql::WORK_REPORT_EXPECTATION,
            json!({"id": work_id, "error": {"error": error, "source": source}}),
        )
        .await
        .map(drop)
    }

    /// Closes a work.
    pub async fn to_processed(
        &self,
        work_id: &str,
        message: &str,
        in_error: bool,
    ) -> Result<(), OpenCtiError> {
        self.execute(
            graphql::WORK_TO_PROCESSED,
            json!({"id": work_id, "message": message, "inError": in_error}),
        )
        .await
        .map(drop)
    }

    /// Keeps a long work from looking stale.
    pub async fn work_ping(&self, work_id: &str) -> Result<(), OpenCtiError> {
        self.execute(graphql::WORK_PING, json!({"id": work_id}))
            .await
            .map(drop)
    }

    /// Pushes a bundle (JSON text) over the API.
    pub async fn bundle_push(
        &self,
        connector_id: &str,
        bundle: &str,
        work_id: Option<&str>,
    ) -> Result<(), OpenCtiError> {
        let mut push = BundlePush::new(connector_id, work_id, 0);
        push.raw(bundle);
        self.push(push).await
    }

    /// Sends a `stixBundlePush` built with [`BundlePush`].
    pub async fn push(&self, push: BundlePush) -> Result<(), OpenCtiError> {
        let data = self.send_with_retry(push.finish()).await?;
        match data.get("stixBundlePush") {
            Some(Value::Bool(true)) => Ok(()),
            other => Err(OpenCtiError::Malformed(format!(
                "stixBundlePush answered {}",
                other.cloned().unwrap_or(Value::Null)
            ))),
        }
    }
}

/// A `stixBundlePush` request built object by object: each object's JSON is escaped straight
/// into the GraphQL request, so a page is not held both as a bundle and as a request.
#[derive(Debug)]
pub struct BundlePush {
    request: String,
    bundle_len: usize,
    objects: usize,
    /// Whether the bundle is opened by [`BundlePush::object`] (not given whole).
    wrapped: bool,
}

impl BundlePush {
    /// A request for `connectorId` and `work_id`, with room for `capacity` bytes of bundle.
    pub fn new(connector_id: &str, work_id: Option<&str>, capacity: usize) -> Self {
        let json = |v: Value| v.to_string();
        let mut request = String::with_capacity(capacity + capacity / 8 + 1024);
        request.push_str("{\"query\":");
        request.push_str(&json(Value::from(graphql::STIX_BUNDLE_PUSH)));
        request.push_str(",\"variables\":{\"connectorId\":");
        request.push_str(&json(Value::from(connector_id)));
        request.push_str(",\"work_id\":");
        request.push_str(&json(work_id.map_or(Value::Null, Value::from)));
        request.push_str(",\"bundle\":\"");
        Self {
            request,
            bundle_len: 0,
            objects: 0,
            wrapped: false,
        }
    }

    /// Adds an object (its JSON text) to the bundle.
    pub fn object(&mut self, object: &str) {
        if self.objects == 0 {
            let open = format!(
                "{{\"type\":\"bundle\",\"id\":\"bundle--{}\",\"objects\":[",
                uuid::Uuid::new_v4()
            );
            self.raw(&open);
            self.wrapped = true;
        } else {
            self.raw(",");
        }
        self.raw(object);
        self.objects += 1;
    }

    /// Appends JSON text to the bundle as it is.
    fn raw(&mut self, text: &str) {
        escape_into(&mut self.request, text);
        self.bundle_len += text.len();
    }

    /// The bundle's size so far, unescaped (what OpenCTI's message limit counts), with its
    /// closing brackets.
    pub fn bundle_len(&self) -> usize {
        self.bundle_len + 2
    }

    /// How many objects are in it.
    pub fn objects(&self) -> usize {
        self.objects
    }

    fn finish(mut self) -> Bytes {
        if self.wrapped {
            escape_into(&mut self.request, "]}");
        }
        self.request.push_str("\"}}");
        Bytes::from(self.request)
    }
}

/// Appends `s` to `out` escaped as the inside of a JSON string.
fn escape_into(out: &mut String, s: &str) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escaped.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escaped);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// OpenCTI's GraphQL errors that name a passing failure, by `extensions.code` (6.x) and by
/// `name` (older platforms): a lock timeout under concurrent writes, and a database or search
/// engine failure. Why these and not others: docs/opencti-connector-protocol.md#faults.
pub const TRANSIENT_ERRORS: &[&str] =
    &["LOCK_ERROR", "LockError", "DATABASE_ERROR", "DatabaseError"];

/// Classifies one entry of a GraphQL `errors` array.
fn graphql_error(e: &Value) -> OpenCtiError {
    let s = |p: &str| e.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let (given_name, code) = (s("/name"), s("/extensions/code"));
    let transient = [&given_name, &code]
        .into_iter()
        .flatten()
        .any(|n| TRANSIENT_ERRORS.contains(&n.as_str()));
    let name = given_name
        .or(code)
        .unwrap_or_else(|| "GraphQL error".into());
    let mut message = s("/message").unwrap_or_default();
    if let Some(Value::Object(data)) = e.get("data").or_else(|| e.pointer("/extensions/data")) {
        let extra: Map<String, Value> = data.clone();
        message.push_str(&format!(" {}", Value::Object(extra)));
    }
    let upper = name.to_ascii_uppercase();
    if transient {
        OpenCtiError::Busy { name, message }
    } else if upper.contains("AUTH") || upper.contains("FORBIDDEN") || upper == "UNAUTHENTICATED" {
        OpenCtiError::Unauthorized(format!("{name}: {message}"))
    } else {
        OpenCtiError::Graphql { name, message }
    }
}

/// The version's major number (7 for date-based 7.x releases).
pub fn major(version: &str) -> u64 {
    crate::graphql::version_tuple(version).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_push_is_the_graphql_request_of_its_bundle() {
        let mut p = BundlePush::new("c", Some("w"), 10);
        // Escapes inside strings, and raw control characters between tokens.
        let objects = [
            r#"{"id":"x--1","name":"quote \" backslash \\ tab \t","c":"\u0001"}"#,
            "{\"id\":\"x--2\",\n\t\r\"d\":1}",
        ];
        for o in objects {
            p.object(o);
        }
        assert_eq!(p.objects(), 2);
        let len = p.bundle_len();
        let request: Value = serde_json::from_slice(&p.finish()).unwrap();
        assert_eq!(request["query"], graphql::STIX_BUNDLE_PUSH);
        assert_eq!(request["variables"]["connectorId"], "c");
        assert_eq!(request["variables"]["work_id"], "w");
        let bundle = request["variables"]["bundle"].as_str().unwrap();
        assert_eq!(bundle.len(), len);
        let bundle: Value = serde_json::from_str(bundle).unwrap();
        assert_eq!(bundle["type"], "bundle");
        assert_eq!(bundle["objects"][0]["name"], "quote \" backslash \\ tab \t");
        assert_eq!(bundle["objects"][0]["c"], "\u{1}");
        assert_eq!(bundle["objects"][1]["d"], 1);
        let mut whole = BundlePush::new("c", None, 0);
        whole.raw("{\u{c}\u{1f}}");
        let request: Value = serde_json::from_slice(&whole.finish()).unwrap();
        assert_eq!(request["variables"]["bundle"], "{\u{c}\u{1f}}");
        assert_eq!(request["variables"]["work_id"], Value::Null);
    }

    #[test]
    fn errors_are_classified() {
        let auth =
            graphql_error(&json!({"name": "AUTH_REQUIRED", "message": "You must be logged in"}));
        assert!(matches!(auth, OpenCtiError::Unauthorized(_)), "{auth:?}");
        let f = graphql_error(
            &json!({"message": "No connector found", "extensions": {"code": "FUNCTIONAL_ERROR", "data": {"id": "x"}}}),
        );
        match f {
            OpenCtiError::Graphql { name, message } => {
                assert_eq!(name, "FUNCTIONAL_ERROR");
                assert!(message.contains("No connector found") && message.contains("\"id\""));
            }
            other => panic!("{other:?}"),
        }
        for busy in [
            json!({"message": "Lock timeout", "extensions": {"code": "LOCK_ERROR"}}),
            json!({"message": "shards", "extensions": {"code": "DATABASE_ERROR"}}),
            json!({"name": "LockError", "message": "Lock timeout"}),
            json!({"name": "GraphQLError", "message": "x", "extensions": {"code": "DATABASE_ERROR"}}),
        ] {
            let e = graphql_error(&busy);
            assert!(
                matches!(e, OpenCtiError::Busy { .. }) && e.is_transient(),
                "{busy}: {e:?}"
            );
        }
        for permanent in [
            "UNKNOWN_ERROR",
            "VALIDATION_ERROR",
            "MISSING_REFERENCE_ERROR",
            "WORK_NOT_ALIVE",
        ] {
            let e = graphql_error(&json!({"message": "m", "extensions": {"code": permanent}}));
            assert!(!e.is_transient(), "{permanent}: {e:?}");
        }
        assert!(OpenCtiError::Http {
            status: 502,
            body: String::new()
        }
        .is_transient());
        assert!(!OpenCtiError::Http {
            status: 400,
            body: String::new()
        }
        .is_transient());
        assert_eq!(major("7.260807.0"), 7);
        assert_eq!(major("6.8.10"), 6);
        assert_eq!(major("x"), 0);
    }
}
