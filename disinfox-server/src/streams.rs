//! The live streams' limits and counts (`GET /api/v1/stream`): how many are open per API key
//! and in all, and the signal that ends them when the server stops. The streams themselves are
//! [`crate::live`]'s; this part sits below the application state, which holds the hub.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use crate::error::ApiError;

/// The limits of the live stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLimits {
    /// Streams one API key may hold open.
    pub per_key: usize,
    /// Streams the server holds open in all.
    pub total: usize,
    /// Between two heartbeats of an idle stream (a client may ask for 1 to 60 s).
    pub heartbeat: Duration,
    /// Between two reads of the change log when nothing was announced (changes written by
    /// another process).
    pub poll: Duration,
    /// Changes a stream replays before it sends the client to the bundle endpoint.
    pub replay: i64,
    /// The largest event; a larger one is left to the bundle endpoint.
    pub max_event_bytes: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            per_key: 4,
            total: 256,
            heartbeat: Duration::from_secs(15),
            poll: Duration::from_secs(5),
            replay: 1000,
            max_event_bytes: 4 << 20,
        }
    }
}

/// The reconnection delay suggested to clients (`retry:`), in milliseconds.
pub const RETRY_MS: u64 = 3000;

/// The open streams, their limits, and the signal that ends them all (the server stopping).
#[derive(Debug)]
pub struct StreamHub {
    limits: Mutex<StreamLimits>,
    open: Mutex<Open>,
    closing: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_key: BTreeMap<i64, usize>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Default for StreamHub {
    fn default() -> Self {
        Self::new(StreamLimits::default())
    }
}

impl StreamHub {
    /// A hub with these limits and no stream open.
    pub fn new(limits: StreamLimits) -> Self {
        Self {
            limits: Mutex::new(limits),
            open: Mutex::default(),
            closing: watch::Sender::new(false),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> StreamLimits {
        lock(&self.limits).clone()
    }

    /// Changes the limits (streams already open keep their slot).
    pub fn set_limits(&self, limits: StreamLimits) {
        *lock(&self.limits) = limits;
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        lock(&self.open).total
    }

    /// Ends every stream (after the event in flight) and refuses new ones: the server stops.
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    /// A slot for a stream of `key` (an API key id), or 429 when the key or the server holds
    /// as many as allowed.
    pub fn admit(self: &Arc<Self>, key: i64) -> Result<Slot, ApiError> {
        let limits = self.limits();
        let mut open = lock(&self.open);
        let mine = open.per_key.get(&key).copied().unwrap_or(0);
        let refuse = |message: String| ApiError::TooMany {
            message,
            retry_after_secs: RETRY_MS / 1000,
        };
        if *self.closing.borrow() {
            return Err(ApiError::Busy {
                retry_after_secs: RETRY_MS / 1000,
            });
        }
        if mine >= limits.per_key {
            return Err(refuse(format!(
                "this API key already holds {mine} live streams, the most one key may hold; close one first"
            )));
        }
        if open.total >= limits.total {
            return Err(refuse(format!(
                "the server holds {} live streams, the most it serves at once; retry later",
                open.total
            )));
        }
        open.total += 1;
        *open.per_key.entry(key).or_default() += 1;
        Ok(Slot {
            hub: self.clone(),
            key,
        })
    }
}

/// A stream's place in the hub's counts, given back when the stream ends.
#[derive(Debug)]
pub struct Slot {
    hub: Arc<StreamHub>,
    key: i64,
}

impl Slot {
    /// Told when the server stops (every stream ends).
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.hub.closing.subscribe()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = lock(&self.hub.open);
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_key.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.per_key.remove(&self.key);
            }
        }
    }
}
