//! Logging through `tracing`, written in pycti's line shape
//! (`docs/opencti-connector-protocol.md#log-lines`).
//!
//! The code logs with `tracing`'s macros: the message, then fields as attributes
//! (`tracing::info!(id = %id, "Connector registered with ID")`). Lines about OpenCTI's API use the
//! target [`API`]; an error line gives the error's cause chain ([`chain`]) in the field `exc_info`.
//! [`PyctiFormat`], the formatter of a `tracing-subscriber` fmt layer, writes each event as one
//! line on standard error:
//!
//! - with `OPENCTI_JSON_LOGGING` true, one JSON object with the keys in pycti's order: `timestamp`
//!   (UTC, microseconds, `Z`), `level` (`DEBUG`, `INFO`, `WARNING`, `ERROR`), `name` (the connector
//!   name; `api` for the [`API`] target; another crate's target for its own events), `message`,
//!   then `attributes` when there are any, then `exc_info` on error lines (`NoneType: None`, as
//!   pycti writes, when there is none);
//! - otherwise a human-readable line: `timestamp LEVEL name: message key=value … error=…`.
//!
//! A field holding JSON text of an object or a list, or `null` (see [`json`]), is written as that
//! JSON, not as a string. `CONNECTOR_LOG_LEVEL` applies to the connector's own events; other
//! crates' events are written from `WARN` up.
//!
//! Secrets never reach this module: callers pass only values that are safe to print, and the
//! configuration's secrets have no `Display`.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;

/// The target of lines about OpenCTI's API (pycti names them `api`).
pub const API: &str = "api";

/// Parses `CONNECTOR_LOG_LEVEL` (`debug`, `info`, `warn`, `warning`, `error`).
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    match s.to_ascii_lowercase().as_str() {
        "debug" => Some(LevelFilter::DEBUG),
        "info" => Some(LevelFilter::INFO),
        "warn" | "warning" => Some(LevelFilter::WARN),
        "error" => Some(LevelFilter::ERROR),
        _ => None,
    }
}

/// The formatter writing pycti's lines (JSON or plain) for a connector named `name`.
#[derive(Debug, Clone)]
pub struct PyctiFormat {
    json: bool,
    name: String,
}

impl PyctiFormat {
    /// JSON lines (`json`) or plain ones, naming the connector `name`.
    pub fn new(json: bool, name: &str) -> Self {
        Self {
            json,
            name: name.to_owned(),
        }
    }
}

/// The subscriber of the connector: [`PyctiFormat`] lines to `writer`, the connector's events
/// from `level` up, other crates' from `WARN` up.
pub fn subscriber<W>(
    level: LevelFilter,
    json: bool,
    name: &str,
    writer: W,
) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = Targets::new()
        .with_target(env!("CARGO_CRATE_NAME"), level)
        .with_target("disinfox_connector", level)
        .with_target(API, level)
        .with_default(LevelFilter::WARN);
    tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .event_format(PyctiFormat::new(json, name))
            .with_writer(writer)
            .with_filter(filter),
    )
}

/// Installs the process subscriber writing to standard error (the first call wins; later
/// calls are ignored).
pub fn init(level: LevelFilter, json: bool, name: &str) {
    let _ = tracing::subscriber::set_global_default(subscriber(level, json, name, std::io::stderr));
}

use tracing_subscriber::Layer as _;

impl<S, N> FormatEvent<S, N> for PyctiFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let name = match meta.target() {
            API => API,
            t if t.starts_with(env!("CARGO_CRATE_NAME")) || t.starts_with("disinfox_connector") => {
                self.name.as_str()
            }
            other => other,
        };
        let line = format_line(self.json, *meta.level(), name, &fields);
        writeln!(writer, "{line}")
    }
}

/// What an event carries: its message, its attributes, and the error of an error line.
#[derive(Debug, Default)]
struct Fields {
    message: String,
    attributes: Map<String, Value>,
    exc_info: Option<String>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        match (field.name(), value) {
            ("message", Value::String(s)) => self.message = s,
            ("exc_info", Value::String(s)) => self.exc_info = Some(s),
            (name, v) => {
                self.attributes.insert(name.to_owned(), v);
            }
        }
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(chain(value)));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        // JSON text of an object or a list (from `json`) stays structured.
        let v = match text.as_bytes().first() {
            Some(b'{' | b'[') if field.name() != "message" => {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            }
            _ if text == "null" => Value::Null,
            _ => Value::String(text),
        };
        self.put(field, v);
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        // pycti has no TRACE; it is written as DEBUG.
        _ => "DEBUG",
    }
}

/// Formats one line (without the newline).
fn format_line(json: bool, level: Level, name: &str, fields: &Fields) -> String {
    let timestamp = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let level_text = level_name(level);
    if json {
        // serde_json's map keeps insertion order only with `preserve_order`; write the keys by
        // hand so the order is pycti's whatever the features.
        let mut line = String::with_capacity(160);
        for (i, (key, value)) in [
            ("timestamp", timestamp.as_str()),
            ("level", level_text),
            ("name", name),
            ("message", fields.message.as_str()),
        ]
        .into_iter()
        .enumerate()
        {
            line.push_str(if i == 0 { "{\"" } else { ", \"" });
            line.push_str(key);
            line.push_str("\": ");
            line.push_str(&Value::from(value).to_string());
        }
        if !fields.attributes.is_empty() {
            line.push_str(", \"attributes\": ");
            line.push_str(&Value::Object(fields.attributes.clone()).to_string());
        }
        if level == Level::ERROR {
            line.push_str(", \"exc_info\": ");
            let exc = fields.exc_info.as_deref().unwrap_or("NoneType: None");
            line.push_str(&Value::from(exc).to_string());
        }
        line.push('}');
        line
    } else {
        let mut line = format!("{timestamp} {level_text:<7} {name}: {}", fields.message);
        for (k, v) in &fields.attributes {
            match v {
                Value::String(s) => line.push_str(&format!(" {k}={s}")),
                other => line.push_str(&format!(" {k}={other}")),
            }
        }
        if let Some(e) = &fields.exc_info {
            line.push_str(&format!(" error={e}"));
        }
        line
    }
}

/// An error's message with its causes, `a: b: c`.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(c) = source {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        source = c.source();
    }
    s
}

/// A value written into a line as JSON (an object or a list stays structured): for fields
/// such as a state object, `tracing::warn!(state = %logging::json(&state), "…")`.
pub fn json<T: serde::Serialize>(value: &T) -> impl fmt::Display {
    serde_json::to_string(value).unwrap_or_else(|e| format!("<not JSON: {e}>"))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Lines written by the subscriber, kept for the test.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Sink {
        type Writer = Sink;
        fn make_writer(&'w self) -> Sink {
            self.clone()
        }
    }

    fn lines(level: LevelFilter, json: bool, f: impl FnOnce()) -> Vec<String> {
        let sink = Sink::default();
        tracing::subscriber::with_default(subscriber(level, json, "DISINFOX", sink.clone()), f);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn json_lines_have_pycti_keys_in_order() {
        let state = serde_json::json!({"cursor": "12"});
        let got = lines(LevelFilter::INFO, true, || {
            tracing::info!(id = "abc", n = 3, state = %json(&state), "Connector registered with ID");
            tracing::error!(target: API, "boom");
            tracing::debug!("not at info");
        });
        assert_eq!(got.len(), 2, "{got:?}");
        let line = &got[0];
        let mut last = 0;
        for k in ["timestamp", "level", "name", "message", "attributes"] {
            let at = line.find(&format!("\"{k}\"")).unwrap();
            assert!(at >= last, "{k} out of order in {line}");
            last = at;
        }
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["name"], "DISINFOX");
        assert_eq!(v["message"], "Connector registered with ID");
        assert_eq!(v["attributes"]["id"], "abc");
        assert_eq!(v["attributes"]["n"], 3);
        assert_eq!(v["attributes"]["state"]["cursor"], "12", "{line}");
        assert!(v.get("exc_info").is_none());
        let ts = v["timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), "2025-11-02T10:07:40.035608Z".len(), "{ts}");
        assert!(ts.ends_with('Z'), "{ts}");

        let v: Value = serde_json::from_str(&got[1]).unwrap();
        assert_eq!(v["name"], "api");
        assert_eq!(v["exc_info"], "NoneType: None");
        assert!(v.get("attributes").is_none());
    }

    #[test]
    fn error_lines_carry_the_cause_chain_and_plain_lines_read_as_text() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("inner"));
        let got = lines(LevelFilter::DEBUG, true, || {
            tracing::error!(exc_info = %chain(&e), work_id = "w1", "Run failed");
        });
        let v: Value = serde_json::from_str(&got[0]).unwrap();
        assert_eq!(v["exc_info"], "outer: inner");
        assert_eq!(v["attributes"]["work_id"], "w1");
        assert!(v["attributes"].get("exc_info").is_none());

        let got = lines(LevelFilter::WARN, false, || {
            tracing::warn!(error = "x", "queue is full");
            tracing::info!("not at warn");
        });
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].contains("WARNING DISINFOX: queue is full error=x"),
            "{got:?}"
        );
    }

    #[test]
    fn levels() {
        assert_eq!(parse_level("WARN"), Some(LevelFilter::WARN));
        assert_eq!(parse_level("warning"), Some(LevelFilter::WARN));
        assert_eq!(parse_level("verbose"), None);
    }
}
