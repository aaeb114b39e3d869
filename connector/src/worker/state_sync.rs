//! State sync with OpenCTI: the ping (which also detects a reset pressed in OpenCTI), the
//! queue check before a scheduled run, and committing a new position.

use serde_json::Value;

use super::{Connector, RunError};
use crate::logging::{json, API};
use crate::opencti::OpenCtiError;
use crate::state;

impl Connector {
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
                    tracing::info!(target: API, "Ping to OpenCTI works again");
                }
                if remote != sent {
                    s.state = remote.clone();
                    s.epoch += 1;
                    drop(s);
                    tracing::warn!(
                        sent = %json(&sent),
                        remote = %json(&remote),
                        "The connector state was changed in OpenCTI (reset); the local state follows and the next run starts from there"
                    );
                }
                Ok(())
            }
            Err(e) => {
                self.metrics.ping_api_errors.inc();
                let mut s = self.shared();
                if !s.ping_failing {
                    s.ping_failing = true;
                    drop(s);
                    tracing::warn!(
                        target: API,
                        error = %e,
                        "Ping to OpenCTI failed; the connector keeps going and pings again"
                    );
                }
                Err(e)
            }
        }
    }

    /// Checks the queue (`docs/opencti-connector-protocol.md#queue-threshold`): `true` when the
    /// connector must skip a run. A failed check is logged and does not block the run (a token
    /// without the MODULES capability would otherwise block every run forever).
    pub async fn buffering(&self) -> bool {
        match self.opencti.queue_size(&self.registration.id).await {
            Ok(bytes) => {
                let mb = bytes / 1_000_000.0;
                let over = mb >= self.settings.connector.queue_threshold;
                let mut s = self.shared();
                s.info.queue_messages_size = mb;
                s.info.buffering = over;
                drop(s);
                if over {
                    tracing::info!(
                        queue_messages_size_mb = mb,
                        queue_threshold_mb = self.settings.connector.queue_threshold,
                        "Connector queue is over the threshold; this run is skipped"
                    );
                }
                over
            }
            Err(e) => {
                tracing::warn!(
                    target: API,
                    error = %e,
                    "Could not read the connector's queue size; running anyway"
                );
                false
            }
        }
    }

    /// Commits state changes (read-modify-write) if no reset happened since `epoch`, then
    /// pings at once, retrying a few times: the run goes on only once OpenCTI holds the state.
    pub(super) async fn commit(
        &self,
        epoch: u64,
        changes: &[(&str, Value)],
    ) -> Result<(), RunError> {
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
}
