//! The server's live stream (`GET /api/v1/stream`, Server-Sent Events): the connection and a
//! small parser of the event-stream format (the WHATWG HTML standard, "Server-sent events":
//! lines of `field: value`, a blank line ends an event, `:` starts a comment), and the batch
//! of change events made into one page, as the bundle endpoint would have answered.
//!
//! The server's events (see its README section "Live stream"): `change` (id = the change's
//! cursor; data = `{"cursor", "high_water_mark", "incidents", "bundle"}`), `behind` (the client
//! must catch up through the bundle endpoint; the stream ends), and comment-only heartbeats.

use std::time::Duration;

use hashbrown::HashSet;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::configuration::Secret;
use crate::page::Page;
use crate::seen::SeenSet;
use crate::source::SourceError;

/// The largest event the connector takes (the server's are far smaller): a stream sending a
/// larger one is cut, so memory stays bounded.
pub const MAX_EVENT_BYTES: usize = 64 << 20;

/// What the stream said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A changed incident: its cursor and the bundle endpoint's answer for it (JSON).
    Change {
        /// The event id: the change's cursor.
        cursor: String,
        /// The event data.
        data: String,
    },
    /// The client is too far behind: catch up through the bundle endpoint.
    Behind {
        /// Why, as the server says it.
        reason: String,
    },
    /// A heartbeat (or any block without an event).
    Idle,
}

/// A connected live stream.
#[derive(Debug)]
pub struct LiveStream {
    response: reqwest::Response,
    parser: Parser,
}

impl LiveStream {
    /// Connects to `url` after `cursor` (`Last-Event-ID`), with `query` added (the flavour,
    /// the id rules, the heartbeat). A refused connection is an error as the bundle
    /// endpoint's would be (401/403: the key; another 4xx: rejected; else unavailable).
    pub async fn connect(
        client: &reqwest::Client,
        url: &str,
        key: &Secret,
        cursor: &str,
        query: &[(&str, String)],
    ) -> Result<Self, SourceError> {
        let response = client
            .get(url)
            .query(query)
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", key.expose()),
            )
            .header("Last-Event-ID", cursor)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|e| SourceError::Unavailable {
                attempts: 1,
                last: format!("connecting to the live stream: {e}"),
            })?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let body = response.bytes().await.unwrap_or_default();
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into());
            return Err(match status {
                401 | 403 => SourceError::Unauthorized { status, message },
                408 | 429 | 500..=599 => SourceError::Unavailable {
                    attempts: 1,
                    last: format!("HTTP {status}: {message}"),
                },
                _ => SourceError::Rejected { status, message },
            });
        }
        Ok(Self {
            response,
            parser: Parser::default(),
        })
    }

    /// The next event; `None` when the server ended the stream. Cancel-safe: a call dropped
    /// while it waits loses nothing.
    pub async fn next(&mut self) -> Result<Option<Event>, SourceError> {
        loop {
            if let Some(e) = self.parser.next_event()? {
                return Ok(Some(e));
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.parser.push(&bytes)?,
                Ok(None) => return Ok(None),
                Err(e) => {
                    return Err(SourceError::Unavailable {
                        attempts: 1,
                        last: format!("reading the live stream: {e}"),
                    })
                }
            }
        }
    }
}

/// The event-stream parser: bytes in, events out.
#[derive(Debug, Default)]
pub struct Parser {
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    start: usize,
    /// Where the scan for a line end goes on.
    scanned: usize,
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
}

impl Parser {
    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), SourceError> {
        // What was read is dropped before more comes (never per line: a chunk holds many).
        self.buf.drain(..self.start);
        self.scanned -= self.start;
        self.start = 0;
        let pending = self.buf.len() + self.data.as_ref().map_or(0, String::len);
        if pending + bytes.len() > MAX_EVENT_BYTES {
            return Err(SourceError::Malformed(format!(
                "a live stream event over {MAX_EVENT_BYTES} bytes"
            )));
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The next complete event in what was received, if any.
    pub fn next_event(&mut self) -> Result<Option<Event>, SourceError> {
        loop {
            let Some(rel) = self.buf[self.scanned..]
                .iter()
                .position(|b| matches!(b, b'\n' | b'\r'))
            else {
                self.scanned = self.buf.len();
                return Ok(None);
            };
            let end = self.scanned + rel;
            // A CR at the very end may be the first half of CRLF: wait for the next byte.
            if self.buf[end] == b'\r' && end + 1 == self.buf.len() {
                self.scanned = end;
                return Ok(None);
            }
            let skip = if self.buf[end] == b'\r' && self.buf.get(end + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            let line = std::str::from_utf8(&self.buf[self.start..end])
                .map_err(|_| SourceError::Malformed("a live stream line that is not UTF-8".into()))?
                .to_owned();
            self.start = end + skip;
            self.scanned = self.start;
            if line.is_empty() {
                return Ok(Some(self.dispatch()));
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_str(), ""),
            };
            match field {
                "id" => self.id = Some(value.to_owned()),
                "event" => self.event = Some(value.to_owned()),
                "data" => match &mut self.data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                },
                // `retry` and unknown fields: nothing to do.
                _ => {}
            }
        }
    }

    /// The event the blank line ends.
    fn dispatch(&mut self) -> Event {
        let (id, event, data) = (self.id.take(), self.event.take(), self.data.take());
        match (event.as_deref(), data) {
            (Some("change"), Some(data)) => Event::Change {
                cursor: id.unwrap_or_default(),
                data,
            },
            (Some("behind"), data) => {
                let reason = data
                    .as_deref()
                    .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                    .and_then(|v| v["reason"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "the server says the connector is behind".into());
                Event::Behind { reason }
            }
            _ => Event::Idle,
        }
    }
}

/// A change event's data.
#[derive(Deserialize)]
struct ChangeData<'a> {
    cursor: String,
    high_water_mark: Option<String>,
    #[serde(borrow)]
    bundle: BundleObjects<'a>,
}

#[derive(Deserialize)]
struct BundleObjects<'a> {
    #[serde(borrow)]
    objects: Vec<&'a RawValue>,
}

/// The change events of a batch as one page, as the bundle endpoint would answer them: the
/// objects of every event once (a shared object, e.g. a technique, is sent by each event
/// using it), the cursor and high-water mark of the last event.
pub fn batch_page(events: &[String], seen: &mut SeenSet) -> Result<Page, SourceError> {
    let mut texts: HashSet<&str> = HashSet::new();
    let mut body = String::with_capacity(events.iter().map(String::len).sum::<usize>() + 64);
    body.push_str("{\"type\":\"bundle\",\"id\":\"bundle--");
    body.push_str(&uuid::Uuid::new_v4().to_string());
    body.push_str("\",\"objects\":[");
    let (mut cursor, mut mark) = (None, None);
    let mut first = true;
    for e in events {
        let d: ChangeData<'_> = serde_json::from_str(e)
            .map_err(|err| SourceError::Malformed(format!("a live stream event: {err}")))?;
        for o in d.bundle.objects {
            if texts.insert(o.get()) {
                if !first {
                    body.push(',');
                }
                first = false;
                body.push_str(o.get());
            }
        }
        cursor = Some(d.cursor);
        mark = d.high_water_mark.or(mark);
    }
    body.push_str("]}");
    drop(texts);
    let mut page = Page::read(body.into_bytes(), seen)?;
    page.next_cursor = cursor;
    page.high_water_mark = mark;
    page.more = false;
    Ok(page)
}

/// The HTTP client of the stream: no limit on a response's time (a stream lasts), one on
/// connecting.
pub fn client(connect_timeout: Duration) -> Result<reqwest::Client, SourceError> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .user_agent(concat!("disinfox-connector/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SourceError::Malformed(format!("HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(p: &mut Parser) -> Vec<Event> {
        let mut v = Vec::new();
        while let Some(e) = p.next_event().unwrap() {
            v.push(e);
        }
        v
    }

    #[test]
    fn events_split_anywhere_and_every_line_ending() {
        let text = "retry: 3000\n: live after change 0\n\nid: 7\r\nevent: change\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n: heartbeat\r\rid: 9\nevent: behind\ndata: {\"reason\":\"far\"}\n\n";
        let want = vec![
            Event::Idle,
            Event::Change {
                cursor: "7".into(),
                data: "{\"a\":\n1}".into(),
            },
            Event::Idle,
            Event::Behind {
                reason: "far".into(),
            },
        ];
        // Whole, and one byte at a time (a CR and its LF in different chunks too).
        let mut p = Parser::default();
        p.push(text.as_bytes()).unwrap();
        assert_eq!(all(&mut p), want);
        let mut p = Parser::default();
        let mut got = Vec::new();
        for b in text.as_bytes() {
            p.push(&[*b]).unwrap();
            got.extend(all(&mut p));
        }
        assert_eq!(got, want);
    }

    #[test]
    fn an_endless_event_is_refused() {
        let mut p = Parser::default();
        let chunk = vec![b'x'; 1 << 20];
        let mut refused = false;
        for _ in 0..=64 {
            if p.push(&chunk).is_err() {
                refused = true;
                break;
            }
            assert!(p.next_event().unwrap().is_none());
        }
        assert!(refused);
    }
}
