//! One run: pages from the position in the state, each pushed and then committed, inside a
//! work that is always closed.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};

use super::{info_time, Connector, RunError, RunReport};
use crate::logging::chain;
use crate::metrics::RunState;
use crate::opencti::{self, OpenCtiError};
use crate::page::Page;
use crate::seen::{self, SeenSet};
use crate::state::{self, Position};

impl Connector {
    /// One run. The work (opened lazily, when there is something to send) is always closed:
    /// as processed, or in error with the reason. A failure before any work exists opens one
    /// only to report the failure.
    pub async fn run_once(&self) -> (RunReport, Result<(), RunError>) {
        self.run(None).await
    }

    /// A run that pushes one page already at hand (a batch of the live stream, followed from
    /// the position of state `epoch`) instead of fetching pages: the same work, push, commit
    /// and report as a run of pages. After a reset (a new epoch) nothing is committed.
    pub(super) async fn run_batch(
        &self,
        page: Page,
        epoch: u64,
    ) -> (RunReport, Result<(), RunError>) {
        self.run(Some((page, epoch))).await
    }

    async fn run(&self, batch: Option<(Page, u64)>) -> (RunReport, Result<(), RunError>) {
        self.metrics.runs.inc();
        self.metrics.set_state(RunState::Running);
        let mut report = RunReport::default();
        let result = match batch {
            None => self.pages(&mut report).await,
            Some((page, epoch)) => self.batch(page, epoch, &mut report).await,
        };
        let result = result.map_err(|e| match e {
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
                    tracing::error!(exc_info = %chain(&e), work_id = %w, "Could not close the work");
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), close)
            .await
            .is_err()
        {
            tracing::warn!("Closing the work timed out");
        }
        match &result {
            Ok(()) => {
                self.metrics.run_succeeded();
                tracing::info!(
                    incidents = report.incidents,
                    objects_fetched = report.fetched,
                    objects_pushed = report.pushed,
                    objects_known = report.known,
                    pages = report.pages,
                    invalid = report.invalid,
                    too_large = report.too_large,
                    unsupported = report.unsupported,
                    work_id = report.work_id.as_deref(),
                    "Run finished"
                );
            }
            Err(RunError::Stopped) => {
                tracing::info!(
                    pages = report.pages,
                    objects_pushed = report.pushed,
                    "Run interrupted: the connector is stopping"
                )
            }
            Err(e @ RunError::Reset) => tracing::warn!("{e}"),
            Err(e) => {
                self.metrics.errors.inc();
                tracing::error!(
                    exc_info = %chain(e),
                    pages = report.pages,
                    objects_pushed = report.pushed,
                    work_id = report.work_id.as_deref(),
                    "Run failed; the position stays at the last accepted page"
                );
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
            self.settings.connector.name,
            info_time(Utc::now())
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

    async fn fetch(&self, position: &Position, seen: &mut SeenSet) -> Result<Page, RunError> {
        let fetch = match position {
            Position::Start => self.source.fetch_with(None, None, seen),
            Position::Cursor(c) => self.source.fetch_with(Some(c), None, seen),
            Position::NewerThan(t) => self.source.fetch_with(None, Some(t), seen),
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
        tracing::info!(from = ?position, "Connector run starts");
        let mut last_work_ping = Instant::now();
        // Every run starts with an empty set: OpenCTI may have been reset since the last one.
        let mut seen = SeenSet::new(seen::RUN_BUDGET);
        loop {
            if self.stop.is_cancelled() {
                return Err(RunError::Stopped);
            }
            let page = self.fetch(&position, &mut seen).await?;
            let more = page.more;
            let moved = self.deliver(epoch, page, &mut seen, report).await?;
            if moved {
                position = {
                    let s = self.shared();
                    state::position(&s.state)
                };
            }
            if !more {
                break;
            }
            if !moved {
                // A server that says "more" without moving the position would loop forever.
                tracing::warn!(
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
        self.commit(epoch, &[("last_run", json!(info_time(Utc::now())))])
            .await
    }

    /// A batch of the live stream: pushed and committed as a run's page, then `last_run`.
    async fn batch(&self, page: Page, epoch: u64, report: &mut RunReport) -> Result<(), RunError> {
        let mut seen = SeenSet::new(seen::RUN_BUDGET);
        self.deliver(epoch, page, &mut seen, report).await?;
        self.commit(epoch, &[("last_run", json!(info_time(Utc::now())))])
            .await
    }

    /// Pushes a page and then commits the position it leads to (only once it was accepted);
    /// whether the position moved.
    async fn deliver(
        &self,
        epoch: u64,
        page: Page,
        seen: &mut SeenSet,
        report: &mut RunReport,
    ) -> Result<bool, RunError> {
        // Where this page leaves the position (computed before the objects move on).
        let changes = page_position(&page);
        report.pages += 1;
        self.metrics.pages.inc();
        let n = page.objects.len() as u64;
        report.fetched += n;
        self.metrics.objects_fetched.add(n);
        tracing::debug!(
            objects = n,
            invalid = page.invalid.len(),
            more = page.more,
            next_cursor = page.next_cursor.as_deref(),
            "Page fetched"
        );
        if !page.objects.is_empty() || !page.invalid.is_empty() {
            let work = self.ensure_work(report).await?;
            for v in &page.invalid {
                report.invalid += 1;
                self.metrics.objects_skipped.inc();
                let source = v.object_id.clone().unwrap_or_else(|| "?".into());
                tracing::warn!(
                    object = %source,
                    violation = %v,
                    "Invalid object from the DISINFOX server skipped"
                );
                self.opencti
                    .report_error(&work, &format!("invalid STIX, skipped: {v}"), &source)
                    .await?;
            }
            report.incidents += page.incidents;
            let repeatable = page.repeatable();
            let delivery = self.push(&work, page, report).await?;
            // Accepted: only now are the page's objects remembered.
            repeatable.accepted(seen, &delivery.refused);
            report.pushed += delivery.pushed;
            self.metrics.objects_pushed.add(delivery.pushed);
            self.metrics.records_sent.add(delivery.pushed);
        }
        let moved = {
            let s = self.shared();
            changes
                .iter()
                .any(|(k, v)| s.state.as_ref().and_then(|m| m.get(*k)) != Some(v) && !v.is_null())
        };
        if moved {
            self.commit(epoch, &changes).await?;
        }
        Ok(moved)
    }
}

/// The state changes a page leads to: the server's cursor and mark, or — from a server that
/// sends neither — the newest `modified` among the page's objects.
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
