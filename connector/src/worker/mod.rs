//! One connector: start-up, state sync with OpenCTI, and one run, each in its own module.
//!
//! A run fetches pages from the server's bundle endpoint from the position in the state, pushes
//! each page (API or AMQP), and commits the new position only after the page was accepted —
//! then pings at once, so OpenCTI holds it before the next page is fetched. A crash at any
//! moment therefore re-sends at most the page in flight; deterministic ids make the re-sent
//! objects merge in OpenCTI. A state reset pressed in OpenCTI bumps an epoch; a run that sees a
//! new epoch stops without committing, so it cannot re-create the old position.
//!
//! - [`start`](Connector::start) (`start.rs`): health check, registration, the peers;
//! - `state_sync.rs`: the ping, the queue check, and committing a position;
//! - `run.rs`: one run, page by page, and its work;
//! - `follow.rs`: stream mode, the live stream followed in batches, each pushed as a run's page;
//! - `push.rs`: a page's split and the objects too large to send, then `push_api.rs` (bundles
//!   packed under the message limit for `stixBundlePush`) or `push_amqp.rs` (one confirmed
//!   message per object, unconfirmed ones published again).

mod follow;
mod push;
mod push_amqp;
mod push_api;
mod run;
mod start;
mod state_sync;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::amqp::{AmqpError, Target};
use crate::configuration::Settings;
use crate::metrics::Metrics;
use crate::opencti::{ConnectorInfo, OpenCti, OpenCtiError, Registration};
use crate::retry::RetryPolicy;
use crate::source::{Source, SourceError};
use crate::state::State;

/// Timing knobs (defaults for production; tests shorten them).
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Retries of OpenCTI calls, of the DISINFOX server and of AMQP publishing.
    pub retry: RetryPolicy,
    /// Time limit of one OpenCTI request.
    pub opencti_timeout: Duration,
    /// Time limit of each AMQP step (connect, publish, confirm).
    pub amqp_timeout: Duration,
    /// Between pings.
    pub ping_interval: Duration,
    /// The longest wait between two health checks at start.
    pub health_max_delay: Duration,
    /// Between two work pings during a long run.
    pub work_ping_interval: Duration,
    /// Stream mode: the heartbeat asked of the server (silence for three is a lost connection).
    pub stream_heartbeat: Duration,
    /// Stream mode: a batch is pushed once no event came for this long…
    pub stream_linger: Duration,
    /// …and at most this long after its first event.
    pub stream_max_wait: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            opencti_timeout: Duration::from_secs(120),
            amqp_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(40),
            health_max_delay: Duration::from_secs(60),
            work_ping_interval: Duration::from_secs(60),
            stream_heartbeat: Duration::from_secs(15),
            stream_linger: Duration::from_millis(100),
            stream_max_wait: Duration::from_secs(1),
        }
    }
}

/// Why the connector could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Stopped before OpenCTI answered.
    #[error("stopped before OpenCTI answered")]
    Stopped,
    /// OpenCTI refused the token, the registration, or the setup is unusable.
    #[error("{0}")]
    Fatal(String),
    /// Run-and-terminate mode: the one run failed (the process exits non-zero).
    #[error("the run failed: {0}")]
    RunFailed(String),
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The connector is stopping.
    #[error("interrupted: the connector is stopping")]
    Stopped,
    /// The state was reset in OpenCTI during the run.
    #[error("the connector state was reset in OpenCTI during the run; the next run starts from the beginning")]
    Reset,
    /// The DISINFOX server failed.
    #[error("fetching from the DISINFOX server: {0}")]
    Source(#[from] SourceError),
    /// OpenCTI failed.
    #[error("OpenCTI: {0}")]
    OpenCti(#[from] OpenCtiError),
    /// RabbitMQ failed.
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] AmqpError),
    /// The new position could not be saved in OpenCTI, so the run stops before it pushes more.
    #[error("saving the connector state in OpenCTI: {0}")]
    StateNotSaved(OpenCtiError),
    /// AMQP was asked for but OpenCTI returned no RabbitMQ settings.
    #[error("CONNECTOR_QUEUE_PROTOCOL is amqp but OpenCTI's registration answer has no RabbitMQ settings")]
    NoAmqp,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Pages fetched.
    pub pages: u64,
    /// Objects fetched (valid ones).
    pub fetched: u64,
    /// Incidents among them.
    pub incidents: u64,
    /// Objects accepted by OpenCTI or the broker.
    pub pushed: u64,
    /// Objects OpenCTI accepted earlier in the run, byte for byte, not sent again.
    pub known: u64,
    /// Invalid objects reported and skipped.
    pub invalid: u64,
    /// Objects too large for one message, reported and skipped.
    pub too_large: u64,
    /// Objects OpenCTI cannot import (dropped by the split, e.g. extension-definitions).
    pub unsupported: u64,
    /// The work opened for the run, if any.
    pub work_id: Option<String>,
}

impl RunReport {
    fn summary(&self) -> String {
        let mut s = format!(
            "{} incidents, {} objects pushed in {} pages",
            self.incidents, self.pushed, self.pages
        );
        if self.known > 0 {
            s.push_str(&format!(
                "; {} objects already sent in this run left out",
                self.known
            ));
        }
        if self.invalid > 0 {
            s.push_str(&format!("; {} invalid objects skipped", self.invalid));
        }
        if self.too_large > 0 {
            s.push_str(&format!("; {} objects too large skipped", self.too_large));
        }
        s
    }
}

#[derive(Debug)]
struct Shared {
    state: State,
    epoch: u64,
    info: ConnectorInfo,
    ping_failing: bool,
}

/// A started connector.
#[derive(Debug)]
pub struct Connector {
    settings: Settings,
    tuning: Tuning,
    opencti: OpenCti,
    source: Source,
    registration: Registration,
    platform_version: String,
    amqp: Option<Target>,
    shared: Mutex<Shared>,
    ping_lock: tokio::sync::Mutex<()>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form of `ConnectorInfo` dates.
pub fn info_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Connector {
    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The local state.
    pub fn state(&self) -> State {
        self.shared().state.clone()
    }

    /// The platform version OpenCTI reported.
    pub fn platform_version(&self) -> &str {
        &self.platform_version
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The ping interval.
    pub fn ping_interval(&self) -> Duration {
        self.tuning.ping_interval
    }

    /// Updates the connector info sent with pings.
    pub fn set_schedule(&self, last_run: Option<DateTime<Utc>>, next_run: Option<DateTime<Utc>>) {
        let mut s = self.shared();
        if let Some(t) = last_run {
            s.info.last_run_datetime = Some(info_time(t));
        }
        s.info.next_run_datetime = next_run.map(info_time);
    }
}
