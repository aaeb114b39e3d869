//! The OpenCTI side: the GraphQL calls of an external-import connector
//! (`docs/opencti-connector-protocol.md`, from `#transport` to `#stixbundlepush`).
//!
//! Every call is `POST <OPENCTI_URL>/graphql` with a timeout. GraphQL reports most failures as
//! HTTP 200 with an `errors` array, so the body is checked as well as the status. Connection
//! errors, timeouts, 5xx, 429 and 408 are retried with back-off a bounded number of times; an
//! authentication failure or a rejected document is returned at once; how each answer is
//! classified is in `error.rs`, the `stixBundlePush` request builder in `push.rs`.

mod error;
mod push;

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::configuration::{Secret, TlsVerify};
use crate::graphql;
use crate::logging::{chain, API};
use crate::retry::RetryPolicy;

use self::error::graphql_error;
pub use self::error::{OpenCtiError, TRANSIENT_ERRORS};
pub use self::push::BundlePush;

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

/// The version's major number (7 for date-based 7.x releases).
pub fn major(version: &str) -> u64 {
    crate::graphql::version_tuple(version).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors() {
        assert_eq!(major("7.260807.0"), 7);
        assert_eq!(major("6.8.10"), 6);
        assert_eq!(major("x"), 0);
    }
}
