//! The live stream of the change log (`GET /api/v1/stream`, docs in the README's "Live
//! stream"): Server-Sent Events, one per changed incident, in change order.
//!
//! - An event's `id` is the change's sequence number: the cursor of the bundle endpoint, so a
//!   client resumes with `Last-Event-ID` (or `?cursor=`) and moves between the stream and the
//!   bundle endpoint's pages freely. Its `data` is what the bundle endpoint answers for that one
//!   change: `{"cursor", "high_water_mark", "bundle"}`, the bundle built by
//!   [`PageFormat::bundle`] as a page's is.
//! - A stream replays at most [`StreamLimits::replay`](crate::streams::StreamLimits::replay) changes: a client further behind (at
//!   connection, or after a burst such as an import) gets one `behind` event naming its cursor
//!   and the page to catch up from, and the stream ends; the bundle endpoint serves catch-up.
//!   An event larger than [`StreamLimits::max_event_bytes`](crate::streams::StreamLimits::max_event_bytes) is handed over the same way.
//! - New changes are noticed at once when this process commits them ([`Store::watch_changes`]),
//!   and by a slow poll of the change log when another process writes the database.
//! - A comment line every heartbeat keeps proxies from closing an idle stream; at each one the
//!   key is checked again (and before each read of events), and a revoked key ends the stream.
//! - Bounded: streams per API key and in all ([`StreamHub::admit`](crate::streams::StreamHub::admit), 429 beyond); events are made
//!   one at a time as the client reads them (the body is pulled by the connection), so a slow
//!   client holds at most one event and the socket's buffers, never a queue.
//!
//! [`Store::watch_changes`]: crate::db::Store::watch_changes

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::bundle::changes::PageFormat;
use crate::db::StoredIncident;
use crate::error::ApiError;
use crate::state::AppState;
use crate::streams::{Slot, RETRY_MS};

/// Changed incidents read from the change log at a time.
const READ_AHEAD: i64 = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    Live,
    Done,
}

/// One client's stream: the events after its position, made as it reads them.
#[derive(Debug)]
pub struct Follower {
    state: AppState,
    format: PageFormat,
    last: i64,
    /// The newest change seen in the log.
    head: i64,
    pending: VecDeque<StoredIncident>,
    changes: watch::Receiver<u64>,
    closing: watch::Receiver<bool>,
    heartbeat: Duration,
    next_beat: Instant,
    key_hash: Vec<u8>,
    phase: Phase,
    _slot: Slot,
}

impl Follower {
    /// The stream after change `after`, in `format`, for the key whose hash is `key_hash`.
    pub fn new(
        state: AppState,
        format: PageFormat,
        after: i64,
        heartbeat: Duration,
        key_hash: Vec<u8>,
        slot: Slot,
    ) -> Self {
        Self {
            changes: state.store.watch_changes(),
            closing: slot.closing(),
            state,
            format,
            last: after,
            head: after,
            pending: VecDeque::new(),
            heartbeat,
            next_beat: Instant::now() + heartbeat,
            key_hash,
            phase: Phase::Start,
            _slot: slot,
        }
    }

    /// The next piece of the stream (an event, a heartbeat), or `None` when it ends.
    pub async fn next_chunk(&mut self) -> Option<Bytes> {
        match self.phase {
            Phase::Done => return None,
            Phase::Start => {
                self.phase = Phase::Live;
                return Some(Bytes::from(format!(
                    "retry: {RETRY_MS}\n: live after change {}\n\n",
                    self.last
                )));
            }
            Phase::Live => {}
        }
        loop {
            if *self.closing.borrow() {
                return self.end();
            }
            if let Some(row) = self.pending.pop_front() {
                return self.event(row);
            }
            // What was announced so far is read below; a change committed from here on wakes
            // the wait.
            self.changes.borrow_and_update();
            match self.read_ahead().await {
                Ok(Some(behind)) => {
                    self.phase = Phase::Done;
                    return Some(behind);
                }
                Ok(None) if self.phase == Phase::Done => return None,
                Ok(None) if !self.pending.is_empty() => continue,
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = ?e, "live stream: reading the change log failed; the stream ends");
                    return self.end();
                }
            }
            let poll = self.state.streams.limits().poll;
            let wake = (Instant::now() + poll).min(self.next_beat);
            tokio::select! {
                r = self.changes.changed() => {
                    if r.is_err() {
                        // The store is gone: only the poll is left.
                        tokio::time::sleep_until(wake).await;
                    }
                }
                _ = self.closing.changed() => {}
                () = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= self.next_beat {
                        return self.beat().await;
                    }
                }
            }
        }
    }

    fn end(&mut self) -> Option<Bytes> {
        self.phase = Phase::Done;
        None
    }

    /// Reads the next changed incidents into `pending`, or says the client is too far behind.
    async fn read_ahead(&mut self) -> anyhow::Result<Option<Bytes>> {
        self.head = self.state.store.last_change_seq().await?;
        let replay = self.state.streams.limits().replay;
        if self.head.saturating_sub(self.last) > replay {
            return Ok(Some(self.behind(&format!(
                "more than {replay} changes behind; the stream replays at most that many"
            ))));
        }
        let rows = self
            .state
            .store
            .changes_after(self.last, READ_AHEAD)
            .await?;
        if !rows.is_empty() && !self.key_alive().await {
            self.phase = Phase::Done;
            return Ok(None);
        }
        self.pending.extend(rows);
        Ok(None)
    }

    /// The event of one changed incident (or, when too large, the end of the stream with a
    /// `behind` event).
    fn event(&mut self, row: StoredIncident) -> Option<Bytes> {
        let (seq, mark) = (row.change_seq, row.changed_at.clone());
        let bundle = match self
            .format
            .bundle(std::slice::from_ref(&row))
            .and_then(|b| b.to_vec().map_err(|e| ApiError::Internal(e.into())))
        {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = ?e, incident = %row.id, "live stream: building an event failed; the stream ends");
                return self.end();
            }
        };
        let head = format!(
            "id: {seq}\nevent: change\ndata: {{\"cursor\":\"{seq}\",\"high_water_mark\":{},\"incidents\":1,\"bundle\":",
            serde_json::Value::String(mark)
        );
        let size = head.len() + bundle.len() + 3;
        // Compact JSON has no line breaks; an event never holds one in its data.
        if size > self.state.streams.limits().max_event_bytes
            || bundle.iter().any(|b| matches!(b, b'\n' | b'\r'))
        {
            self.phase = Phase::Done;
            return Some(self.behind(&format!(
                "the next event is {size} bytes, more than a stream event may hold"
            )));
        }
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&bundle);
        out.extend_from_slice(b"}\n\n");
        self.last = seq;
        self.next_beat = Instant::now() + self.heartbeat;
        Some(Bytes::from(out))
    }

    /// The `behind` event: where the client stands and the page to catch up from.
    fn behind(&self, reason: &str) -> Bytes {
        let data = serde_json::json!({
            "cursor": self.last.to_string(),
            "newest": self.head.max(self.last).to_string(),
            "reason": reason,
            "catch_up": format!("/api/v1/bundle?cursor={}", self.last),
        });
        Bytes::from(format!("event: behind\ndata: {data}\n\n"))
    }

    /// A heartbeat, once the key is checked again (a revoked key ends the stream).
    async fn beat(&mut self) -> Option<Bytes> {
        if !self.key_alive().await {
            return self.end();
        }
        self.next_beat = Instant::now() + self.heartbeat;
        Some(Bytes::from_static(b": heartbeat\n\n"))
    }

    /// Whether the key of the stream still works (checked before each read of events and at
    /// each heartbeat). A failed check lets the stream go on.
    async fn key_alive(&self) -> bool {
        match self.state.store.api_key_status(&self.key_hash).await {
            Ok(Some((_, false))) => true,
            Ok(_) => {
                tracing::info!(target: "audit", kind = "stream-ended", reason = "API key revoked or user disabled");
                false
            }
            Err(e) => {
                tracing::warn!(error = ?e, "live stream: could not check the key again");
                true
            }
        }
    }
}
