//! One connector: start-up (health check, registration), the ping, and one run.
//!
//! A run fetches pages from the server's bundle endpoint from the position in the state, pushes
//! each page (API or AMQP), and commits the new position only after the page was accepted —
//! then pings at once, so OpenCTI holds it before the next page is fetched. A crash at any
//! moment therefore re-sends at most the page in flight; deterministic ids make the re-sent
//! objects merge in OpenCTI. A state reset pressed in OpenCTI bumps an epoch; a run that sees a
//! new epoch stops without committing, so it cannot re-create the old position.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stix_model::split::{split_texts, SplitOptions, TextSplit};
use stix_model::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::amqp::{self, AmqpError, Target};
use crate::configuration::{QueueProtocol, Settings};
use crate::metrics::{Metrics, RunState};
use crate::opencti::{self, BundlePush, ConnectorInfo, OpenCti, OpenCtiError, Registration};
use crate::retry::RetryPolicy;
use crate::source::{Page, Source, SourceError};
use crate::state::{self, Position, State};
use crate::{debug, info, warning};

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
pub fn info_time(t: Timestamp) -> String {
    t.with_digits(0).to_string()
}

impl Connector {
    /// Health check (retried with back-off until OpenCTI answers or `stop`), registration.
    pub async fn start(
        settings: Settings,
        tuning: Tuning,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
    ) -> Result<Self, StartError> {
        let client = opencti::http_client(
            tuning.opencti_timeout,
            &settings.ssl_verify,
            &settings.custom_headers,
        )
        .map_err(StartError::Fatal)?;
        let opencti = OpenCti::new(
            &settings.opencti_url,
            settings.opencti_token.clone(),
            client,
            tuning.retry.clone(),
            stop.clone(),
        );
        let mut attempt = 1u32;
        let platform_version = loop {
            match opencti.platform_version().await {
                Ok(v) => break v,
                Err(OpenCtiError::Stopped) => return Err(StartError::Stopped),
                Err(OpenCtiError::Unauthorized(why)) => {
                    return Err(StartError::Fatal(format!(
                        "OpenCTI at {} refused OPENCTI_TOKEN: {why}",
                        settings.opencti_url
                    )))
                }
                Err(e) => {
                    let policy = RetryPolicy {
                        attempts: u32::MAX,
                        base_delay: tuning.retry.base_delay,
                        max_delay: tuning.health_max_delay,
                    };
                    let delay = policy.delay(attempt);
                    crate::logging::log(
                        crate::logging::Level::Warning,
                        true,
                        "OpenCTI is not reachable yet, retrying",
                        json!({"url": settings.opencti_url, "error": e.to_string(), "retry_in_secs": delay.as_secs_f64()}),
                        None,
                    );
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = stop.cancelled() => return Err(StartError::Stopped),
                    }
                    attempt = attempt.saturating_add(1);
                }
            }
        };
        crate::logging::log(
            crate::logging::Level::Info,
            true,
            "Health check (platform version)...",
            json!({"version": platform_version}),
            None,
        );
        let input = crate::graphql::register_input(
            &platform_version,
            &settings.connector_id.to_string(),
            &settings.name,
            &settings.scope,
        );
        let registration = match opencti.register(input).await {
            Ok(r) => r,
            Err(OpenCtiError::Stopped) => return Err(StartError::Stopped),
            Err(e) => {
                return Err(StartError::Fatal(format!(
                    "registering the connector in OpenCTI: {e}"
                )))
            }
        };
        let rules = stix_model::opencti::OpenCtiIdRules::from_platform_version(&platform_version);
        let source = Source::new(
            &settings.disinfox_url,
            settings.disinfox_api_key.clone(),
            settings.page_size,
            settings.timeout,
            tuning.retry.clone(),
        )
        .map_err(|e| StartError::Fatal(e.to_string()))?
        .with_query(
            "opencti_ids",
            match rules {
                stix_model::opencti::OpenCtiIdRules::V6 => "6",
                _ => "7",
            },
        );
        let amqp = match (&settings.queue_protocol, &registration.push) {
            (QueueProtocol::Amqp, Some(push)) => Some(
                Target::new(push, &settings.mq).map_err(|e| StartError::Fatal(e.to_string()))?,
            ),
            (QueueProtocol::Amqp, None) => {
                return Err(StartError::Fatal(RunError::NoAmqp.to_string()))
            }
            _ => None,
        };
        let state = state::parse(registration.connector_state.as_deref());
        info!("Connector registered with ID", {
            "id": registration.id,
            "connector_user_id": registration.connector_user_id,
            "queue_protocol": match settings.queue_protocol { QueueProtocol::Api => "api", QueueProtocol::Amqp => "amqp" },
            "amqp": amqp.as_ref().map(Target::describe),
            "state": state.clone().map(Value::Object),
        });
        let info = ConnectorInfo {
            run_and_terminate: settings.run_and_terminate,
            buffering: false,
            queue_threshold: settings.queue_threshold,
            queue_messages_size: 0.0,
            next_run_datetime: None,
            last_run_datetime: None,
        };
        Ok(Self {
            tuning,
            opencti,
            source,
            registration,
            platform_version,
            amqp,
            shared: Mutex::new(Shared {
                state,
                epoch: 0,
                info,
                ping_failing: false,
            }),
            ping_lock: tokio::sync::Mutex::new(()),
            metrics,
            stop,
            settings,
        })
    }

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
    pub fn set_schedule(&self, last_run: Option<Timestamp>, next_run: Option<Timestamp>) {
        let mut s = self.shared();
        if let Some(t) = last_run {
            s.info.last_run_datetime = Some(info_time(t));
        }
        s.info.next_run_datetime = next_run.map(info_time);
    }

    /// Pings OpenCTI with the local state. When the state OpenCTI returns differs from the one
    /// sent (a reset pressed in OpenCTI), OpenCTI's wins and the epoch moves on.
    /// `uninterruptible` pings even while stopping (the last ping).
    pub async fn ping(&self, uninterruptible: bool) -> Result<(), OpenCtiError> {
        let _one_at_a_time = self.ping_lock.lock().await;
        let (sent, info) = {
            let s = self.shared();
            (s.state.clone(), s.info.clone())
        };
        self.metrics.ping_api.inc();
        let client = if uninterruptible {
            self.opencti.uninterruptible()
        } else {
            self.opencti.clone()
        };
        match client
            .ping(&self.registration.id, &state::to_wire(&sent), &info)
            .await
        {
            Ok(remote) => {
                let remote = state::parse(remote.as_deref());
                let mut s = self.shared();
                if s.ping_failing {
                    s.ping_failing = false;
                    info!("Ping to OpenCTI works again");
                }
                if remote != sent {
                    s.state = remote.clone();
                    s.epoch += 1;
                    drop(s);
                    warning!("The connector state was changed in OpenCTI (reset); the local state follows and the next run starts from there", {
                        "sent": sent.map(Value::Object), "remote": remote.map(Value::Object)
                    });
                }
                Ok(())
            }
            Err(e) => {
                self.metrics.ping_api_errors.inc();
                let mut s = self.shared();
                if !s.ping_failing {
                    s.ping_failing = true;
                    drop(s);
                    crate::logging::log(
                        crate::logging::Level::Warning,
                        true,
                        "Ping to OpenCTI failed; the connector keeps going and pings again",
                        json!({"error": e.to_string()}),
                        None,
                    );
                }
                Err(e)
            }
        }
    }

    /// Checks the queue (§9.3): `true` when the connector must skip a run. A failed check is
    /// logged and does not block the run (a token without the MODULES capability would
    /// otherwise block every run forever).
    pub async fn buffering(&self) -> bool {
        match self.opencti.queue_size(&self.registration.id).await {
            Ok(bytes) => {
                let mb = bytes / 1_000_000.0;
                let over = mb >= self.settings.queue_threshold;
                let mut s = self.shared();
                s.info.queue_messages_size = mb;
                s.info.buffering = over;
                drop(s);
                if over {
                    info!("Connector queue is over the threshold; this run is skipped", {
                        "queue_messages_size_mb": mb, "queue_threshold_mb": self.settings.queue_threshold
                    });
                }
                over
            }
            Err(e) => {
                crate::logging::log(
                    crate::logging::Level::Warning,
                    true,
                    "Could not read the connector's queue size; running anyway",
                    json!({"error": e.to_string()}),
                    None,
                );
                false
            }
        }
    }

    /// Commits state changes (read-modify-write) if no reset happened since `epoch`, then
    /// pings at once, retrying a few times: the run goes on only once OpenCTI holds the state.
    async fn commit(&self, epoch: u64, changes: &[(&str, Value)]) -> Result<(), RunError> {
        {
            let mut s = self.shared();
            if s.epoch != epoch {
                return Err(RunError::Reset);
            }
            s.state = state::merged(&s.state, changes);
        }
        let mut attempt = 1;
        loop {
            match self.ping(false).await {
                Ok(()) => break,
                Err(OpenCtiError::Stopped) => break,
                Err(e) if attempt >= self.tuning.retry.attempts.max(1) => {
                    return Err(RunError::StateNotSaved(e))
                }
                Err(_) => {
                    if !self.tuning.retry.wait(attempt, &self.stop).await {
                        break;
                    }
                    attempt += 1;
                }
            }
        }
        if self.shared().epoch != epoch {
            return Err(RunError::Reset);
        }
        Ok(())
    }

    /// One run. The work (opened lazily, when there is something to send) is always closed:
    /// as processed, or in error with the reason. A failure before any work exists opens one
    /// only to report the failure.
    pub async fn run_once(&self) -> (RunReport, Result<(), RunError>) {
        self.metrics.runs.inc();
        self.metrics.set_state(RunState::Running);
        let mut report = RunReport::default();
        let result = self.pages(&mut report).await.map_err(|e| match e {
            // A call cut short by the stop signal is the stop, not an OpenCTI failure.
            RunError::OpenCti(OpenCtiError::Stopped)
            | RunError::StateNotSaved(OpenCtiError::Stopped) => RunError::Stopped,
            other => other,
        });
        let closer = self.opencti.uninterruptible();
        let close = async {
            let (message, in_error) = match &result {
                Ok(()) => (report.summary(), false),
                Err(e @ (RunError::Stopped | RunError::Reset)) => {
                    (format!("{e}; {}", report.summary()), false)
                }
                Err(e) => (format!("{e}; {}", report.summary()), true),
            };
            let work = match (&report.work_id, in_error) {
                (Some(w), _) => Some(w.clone()),
                (None, true) => closer
                    .work_add(
                        &self.registration.id,
                        &self.work_name(),
                        opencti::major(&self.platform_version) >= 7,
                    )
                    .await
                    .ok(),
                (None, false) => None,
            };
            if let Some(w) = work {
                if let Err(e) = closer.to_processed(&w, &message, in_error).await {
                    crate::error!(e, "Could not close the work", {"work_id": w});
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), close)
            .await
            .is_err()
        {
            warning!("Closing the work timed out");
        }
        match &result {
            Ok(()) => {
                self.metrics.run_succeeded();
                info!("Run finished", {
                    "incidents": report.incidents, "objects_fetched": report.fetched, "objects_pushed": report.pushed,
                    "pages": report.pages, "invalid": report.invalid, "too_large": report.too_large,
                    "unsupported": report.unsupported, "work_id": report.work_id,
                });
            }
            Err(RunError::Stopped) => {
                info!("Run interrupted: the connector is stopping", {"pages": report.pages, "objects_pushed": report.pushed})
            }
            Err(e @ RunError::Reset) => warning!(e.to_string()),
            Err(e) => {
                self.metrics.errors.inc();
                crate::error!(e, "Run failed; the position stays at the last accepted page", {
                    "pages": report.pages, "objects_pushed": report.pushed, "work_id": report.work_id
                });
            }
        }
        if !self.stop.is_cancelled() {
            self.metrics.set_state(RunState::Idle);
        }
        (report, result)
    }

    fn work_name(&self) -> String {
        format!(
            "{} run @ {}",
            self.settings.name,
            info_time(Timestamp::now())
        )
    }

    async fn ensure_work(&self, report: &mut RunReport) -> Result<String, RunError> {
        if let Some(w) = &report.work_id {
            return Ok(w.clone());
        }
        let w = self
            .opencti
            .work_add(
                &self.registration.id,
                &self.work_name(),
                opencti::major(&self.platform_version) >= 7,
            )
            .await?;
        report.work_id = Some(w.clone());
        Ok(w)
    }

    async fn fetch(&self, position: &Position) -> Result<Page, RunError> {
        let fetch = match position {
            Position::Start => self.source.fetch(None, None),
            Position::Cursor(c) => self.source.fetch(Some(c), None),
            Position::NewerThan(t) => self.source.fetch(None, Some(t)),
        };
        tokio::select! {
            r = fetch => r.map_err(|e| {
                self.metrics.client_errors.inc();
                RunError::Source(e)
            }),
            () = self.stop.cancelled() => Err(RunError::Stopped),
        }
    }

    async fn pages(&self, report: &mut RunReport) -> Result<(), RunError> {
        let (epoch, mut position) = {
            let s = self.shared();
            (s.epoch, state::position(&s.state))
        };
        info!("Connector run starts", {"from": format!("{position:?}")});
        let mut last_work_ping = Instant::now();
        loop {
            if self.stop.is_cancelled() {
                return Err(RunError::Stopped);
            }
            let mut page = self.fetch(&position).await?;
            // Where this page leaves the position (computed before the objects move on).
            let changes = page_position(&page);
            report.pages += 1;
            self.metrics.pages.inc();
            let n = page.objects.len() as u64;
            report.fetched += n;
            self.metrics.objects_fetched.add(n);
            debug!("Page fetched", {"objects": n, "invalid": page.invalid.len(), "more": page.more, "next_cursor": page.next_cursor});
            if !page.objects.is_empty() || !page.invalid.is_empty() {
                let work = self.ensure_work(report).await?;
                for v in &page.invalid {
                    report.invalid += 1;
                    self.metrics.objects_skipped.inc();
                    let source = v.object_id.clone().unwrap_or_else(|| "?".into());
                    warning!("Invalid object from the DISINFOX server skipped", {"object": source, "violation": v.to_string()});
                    self.opencti
                        .report_error(&work, &format!("invalid STIX, skipped: {v}"), &source)
                        .await?;
                }
                report.incidents += page.incidents;
                let objects = std::mem::take(&mut page.objects);
                let pushed = self.push(&work, objects, report).await?;
                report.pushed += pushed;
                self.metrics.objects_pushed.add(pushed);
                self.metrics.records_sent.add(pushed);
            }
            let moved = {
                let s = self.shared();
                changes.iter().any(|(k, v)| {
                    s.state.as_ref().and_then(|m| m.get(*k)) != Some(v) && !v.is_null()
                })
            };
            if moved {
                self.commit(epoch, &changes).await?;
                position = {
                    let s = self.shared();
                    state::position(&s.state)
                };
            }
            if !page.more {
                break;
            }
            if !moved {
                // A server that says "more" without moving the position would loop forever.
                warning!(
                    "The server announced more pages without a new position; the run ends here"
                );
                break;
            }
            if last_work_ping.elapsed() >= self.tuning.work_ping_interval {
                if let Some(w) = &report.work_id {
                    let _ = self.opencti.work_ping(w).await;
                }
                last_work_ping = Instant::now();
            }
        }
        self.commit(epoch, &[("last_run", json!(info_time(Timestamp::now())))])
            .await
    }

    /// Pushes the objects of a page; returns how many OpenCTI (or the broker) accepted.
    async fn push(
        &self,
        work: &str,
        objects: Vec<String>,
        report: &mut RunReport,
    ) -> Result<u64, RunError> {
        let split = split_texts(None, objects, &SplitOptions::default());
        if !split.dropped.is_empty() {
            report.unsupported += split.dropped.len() as u64;
            self.metrics.objects_skipped.add(split.dropped.len() as u64);
            let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
            for d in &split.dropped {
                *kinds
                    .entry(d.object_type.clone().unwrap_or_else(|| "?".into()))
                    .or_default() += 1;
            }
            debug!("Objects OpenCTI does not import were left out", {"types": kinds});
        }
        match self.settings.queue_protocol {
            QueueProtocol::Api => self.push_api(work, split, report).await,
            QueueProtocol::Amqp => self.push_amqp(work, split, report).await,
        }
    }

    /// The objects of the split, packed into bundles of at most ¾ of the message limit
    /// (OpenCTI sends a pushed bundle to its workers as one base64 message), in dependency
    /// order.
    async fn push_api(
        &self,
        work: &str,
        split: TextSplit,
        report: &mut RunReport,
    ) -> Result<u64, RunError> {
        let limit = (self.settings.max_message_size / 4 * 3).saturating_sub(64 * 1024);
        let mut remaining: usize = split.objects.iter().map(|(_, t)| t.len() + 1).sum();
        let id = self.registration.id.as_str();
        let mut pushed = 0u64;
        let mut push = BundlePush::new(id, Some(work), remaining.min(limit));
        let mut objects = split.objects.into_iter();
        loop {
            let text = match objects.next() {
                Some((_, text)) if text.len() > limit => {
                    remaining -= text.len() + 1;
                    self.too_large(work, &text, text.len(), report).await?;
                    continue;
                }
                Some((_, text)) => Some(text),
                None => None,
            };
            let full = match &text {
                Some(t) => push.objects() > 0 && push.bundle_len() + t.len() + 1 > limit,
                None => push.objects() > 0,
            };
            if full {
                let n = push.objects() as u64;
                let next = BundlePush::new(id, Some(work), remaining.min(limit));
                tokio::select! {
                    r = self.opencti.push(std::mem::replace(&mut push, next)) => r?,
                    () = self.stop.cancelled() => return Err(RunError::Stopped),
                }
                self.metrics.bundles_sent.inc();
                pushed += n;
            }
            let Some(t) = text else { break };
            remaining -= t.len() + 1;
            push.object(&t);
        }
        Ok(pushed)
    }

    /// One message per object bundle; expectations added before publishing; every message
    /// confirmed by the broker, the unconfirmed ones published again (bounded).
    async fn push_amqp(
        &self,
        work: &str,
        split: TextSplit,
        report: &mut RunReport,
    ) -> Result<u64, RunError> {
        let target = self.amqp.as_ref().ok_or(RunError::NoAmqp)?;
        let seven = opencti::major(&self.platform_version) >= 7;
        let mut messages = Vec::with_capacity(split.objects.len());
        for text in split.into_bundles() {
            let body = amqp::message_body(
                text.as_bytes(),
                messages.len() + 1,
                self.registration.connector_user_id.as_deref(),
                Some(work),
                seven,
            );
            if body.len() > self.settings.max_message_size {
                self.too_large(work, &text, body.len(), report).await?;
                continue;
            }
            messages.push(body);
        }
        if messages.is_empty() {
            return Ok(0);
        }
        self.opencti.add_expectations(work, messages.len()).await?;
        let mut todo: Vec<usize> = (0..messages.len()).collect();
        let mut attempt = 1;
        loop {
            let batch: Vec<&[u8]> = todo.iter().map(|&i| messages[i].as_slice()).collect();
            let outcome = tokio::select! {
                r = target.publish(&batch, self.tuning.amqp_timeout) => r,
                () = self.stop.cancelled() => return Err(RunError::Stopped),
            };
            let (failed, reason) = match outcome {
                Ok(f) if f.is_empty() => break,
                Ok(f) => {
                    let reason = f[0].1.clone();
                    (
                        f.into_iter().map(|(i, _)| todo[i]).collect::<Vec<_>>(),
                        reason,
                    )
                }
                Err(e) => (todo.clone(), e.to_string()),
            };
            self.metrics
                .bundles_sent
                .add((todo.len() - failed.len()) as u64);
            if attempt >= self.tuning.retry.attempts.max(1) {
                return Err(RunError::Amqp(AmqpError::Unconfirmed {
                    failed: failed.len(),
                    total: messages.len(),
                    reason,
                }));
            }
            warning!("Some messages were not accepted by RabbitMQ; publishing them again", {
                "failed": failed.len(), "attempt": attempt, "reason": reason
            });
            if !self.tuning.retry.wait(attempt, &self.stop).await {
                return Err(RunError::Stopped);
            }
            attempt += 1;
            todo = failed;
        }
        self.metrics.bundles_sent.add(todo.len() as u64);
        Ok(messages.len() as u64)
    }

    /// Reports an object (or its bundle: `text`) too large for one message.
    async fn too_large(
        &self,
        work: &str,
        text: &str,
        size: usize,
        report: &mut RunReport,
    ) -> Result<(), RunError> {
        report.too_large += 1;
        self.metrics.objects_skipped.inc();
        let id = object_id(text);
        let message = format!(
            "object too large for one message ({size} bytes > CONNECTOR_MAX_MESSAGE_SIZE {}), skipped",
            self.settings.max_message_size
        );
        warning!("Object too large for one message skipped", {"object": id, "bytes": size});
        self.opencti.report_error(work, &message, &id).await?;
        Ok(())
    }
}

/// The state changes a page leads to: the server's cursor and mark, or — from a server that
/// sends neither — the newest `modified` among the page's objects.
/// The `id` of an object given as JSON text, or of the object in a one-object bundle.
fn object_id(text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Object {
        id: Option<String>,
        objects: Option<Vec<Object>>,
    }
    match serde_json::from_str::<Object>(text) {
        Ok(Object {
            objects: Some(mut o),
            ..
        }) if o.len() == 1 => o.pop().and_then(|o| o.id),
        Ok(o) => o.id,
        Err(_) => None,
    }
    .unwrap_or_else(|| "?".into())
}

fn page_position(page: &Page) -> Vec<(&'static str, Value)> {
    let mut changes = Vec::new();
    if let Some(c) = &page.next_cursor {
        changes.push(("cursor", json!(c)));
    }
    match &page.high_water_mark {
        Some(m) => changes.push(("last_fetch", json!(m))),
        None => {
            let newest = page.newest_modified;
            if let Some(t) = newest {
                changes.push(("last_fetch", json!(t.with_digits(6).to_string())));
            }
        }
    }
    changes
}
