//! Stream mode (`DISINFOX_MODE=stream`): catch up through the bundle endpoint (a run of
//! pages), then follow the server's live stream from the committed cursor. Change events are
//! batched — a batch is pushed once no event came for a moment, at most one second after its
//! first event, or when it holds a page's worth of incidents — and each batch is pushed and
//! committed exactly as a run's page (`run_batch`). A `behind` event, a state reset in OpenCTI
//! or a failed batch sends the connector back to catching up; a lost connection reconnects with
//! exponential back-off and jitter, catching up first. A batch not yet committed when the
//! process dies is fetched again after the restart: nothing is lost, and nothing but that batch
//! is sent twice.

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::{Connector, RunError};
use crate::live::{self, Event, LiveStream};
use crate::logging::chain;
use crate::retry::RetryPolicy;
use crate::seen::SeenSet;
use crate::state::{self, Position};

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Followed {
    /// The connector is stopping.
    Stopped,
    /// The server (or a reset in OpenCTI) says: catch up through the bundle endpoint now.
    CatchUp,
    /// The connection failed or ended; `true` when it had been established.
    Lost(bool),
}

impl Connector {
    /// Follows the live stream until the connector stops.
    pub async fn follow(&self) {
        let backoff = RetryPolicy {
            attempts: u32::MAX,
            base_delay: self.tuning.retry.base_delay,
            max_delay: self.tuning.health_max_delay,
        };
        let client = match live::client(self.settings.disinfox.timeout.min(Duration::from_secs(10)))
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(exc_info = %chain(&e), "The live stream cannot be followed");
                return;
            }
        };
        let mut failures = 0u32;
        while !self.stop.is_cancelled() {
            if failures > 0 {
                let delay = backoff.delay(failures);
                tracing::info!(
                    retry_in_secs = delay.as_secs_f64(),
                    "Reconnecting to the live stream after a pause"
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = self.stop.cancelled() => break,
                }
            }
            // Catch up: pages from the committed position (one request when nothing is new).
            let (_, caught_up) = self.run_once().await;
            self.set_schedule(Some(Utc::now()), None);
            match caught_up {
                Ok(()) => {}
                Err(RunError::Stopped) => break,
                Err(_) => {
                    failures = failures.saturating_add(1);
                    continue;
                }
            }
            let (epoch, position) = {
                let s = self.shared();
                (s.epoch, state::position(&s.state))
            };
            let Position::Cursor(cursor) = position else {
                tracing::warn!(
                    from = ?position,
                    "The server gave no cursor to follow the live stream from; catching up again later"
                );
                failures = failures.saturating_add(1);
                continue;
            };
            match self.follow_from(&client, &cursor, epoch).await {
                Followed::Stopped => break,
                Followed::CatchUp => failures = 0,
                Followed::Lost(true) => failures = 1,
                Followed::Lost(false) => failures = failures.saturating_add(1),
            }
        }
    }

    /// Follows the stream after `cursor` until it ends, pushing batches.
    async fn follow_from(&self, client: &reqwest::Client, cursor: &str, epoch: u64) -> Followed {
        let Some(url) = self.settings.disinfox.stream_url.as_deref() else {
            return Followed::Stopped;
        };
        let mut query = vec![
            ("flavor", "opencti".to_owned()),
            (
                "heartbeat",
                self.tuning
                    .stream_heartbeat
                    .as_secs()
                    .clamp(1, 60)
                    .to_string(),
            ),
        ];
        query.extend(self.source.extra_query());
        let connect =
            LiveStream::connect(client, url, &self.settings.disinfox.api_key, cursor, &query);
        let mut stream = tokio::select! {
            r = connect => match r {
                Ok(s) => s,
                Err(e) => {
                    self.metrics.client_errors.inc();
                    tracing::warn!(exc_info = %chain(&e), "Could not connect to the live stream");
                    return Followed::Lost(false);
                }
            },
            () = self.stop.cancelled() => return Followed::Stopped,
        };
        tracing::info!(cursor, "Following the live stream");
        // Nothing, not even a heartbeat, for this long: the connection is dead.
        let silence = self.tuning.stream_heartbeat * 3 + Duration::from_secs(5);
        let mut batch: Vec<String> = Vec::new();
        let mut deadline = Instant::now();
        loop {
            let wait = if batch.is_empty() {
                silence
            } else {
                self.tuning
                    .stream_linger
                    .min(deadline.saturating_duration_since(Instant::now()))
            };
            let next = tokio::select! {
                r = tokio::time::timeout(wait, stream.next()) => r,
                () = self.stop.cancelled() => return Followed::Stopped,
            };
            let ended = match next {
                Err(_) if batch.is_empty() => {
                    tracing::warn!(
                        silent_secs = silence.as_secs(),
                        "The live stream fell silent; reconnecting"
                    );
                    return Followed::Lost(true);
                }
                // The batch waited long enough.
                Err(_) => None,
                Ok(Ok(Some(Event::Change { data, .. }))) => {
                    if batch.is_empty() {
                        deadline = Instant::now() + self.tuning.stream_max_wait;
                    }
                    batch.push(data);
                    if batch.len() < self.settings.disinfox.page_size as usize {
                        continue;
                    }
                    None
                }
                // The server is idle: nothing more is coming soon.
                Ok(Ok(Some(Event::Idle))) if batch.is_empty() => continue,
                Ok(Ok(Some(Event::Idle))) => None,
                Ok(Ok(Some(Event::Behind { reason }))) => {
                    tracing::info!(
                        reason,
                        "The live stream is behind; catching up through the bundle endpoint"
                    );
                    Some(Followed::CatchUp)
                }
                Ok(Ok(None)) => {
                    tracing::info!("The server ended the live stream");
                    Some(Followed::Lost(true))
                }
                Ok(Err(e)) => {
                    tracing::warn!(exc_info = %chain(&e), "The live stream broke");
                    Some(Followed::Lost(true))
                }
            };
            if !batch.is_empty() {
                if let Err(f) = self.push_batch(&batch, epoch).await {
                    return f;
                }
                batch.clear();
            }
            if let Some(f) = ended {
                return f;
            }
        }
    }

    /// Pushes and commits a batch of change events.
    async fn push_batch(&self, batch: &[String], epoch: u64) -> Result<(), Followed> {
        let page = match live::batch_page(batch, &mut SeenSet::new(0)) {
            Ok(p) => p,
            Err(e) => {
                self.metrics.client_errors.inc();
                tracing::error!(exc_info = %chain(&e), "A live stream batch cannot be read; catching up through the bundle endpoint");
                return Err(Followed::Lost(true));
            }
        };
        match self.run_batch(page, epoch).await.1 {
            Ok(()) => Ok(()),
            Err(RunError::Stopped) => Err(Followed::Stopped),
            Err(RunError::Reset) => Err(Followed::CatchUp),
            // Not committed: the catch-up fetches it again.
            Err(_) => Err(Followed::Lost(true)),
        }
    }
}
