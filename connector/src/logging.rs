//! Log lines in pycti's shape.
//!
//! With `OPENCTI_JSON_LOGGING` true, one JSON object per line on stderr with the keys in
//! pycti's order: `timestamp` (UTC, microseconds, `Z`), `level` (`DEBUG`, `INFO`, `WARNING`,
//! `ERROR`), `name` (the connector name, or `api` for lines about OpenCTI's API), `message`,
//! then `attributes` when there are any, then `exc_info` on error lines (the error's cause
//! chain, or `NoneType: None` as pycti writes when there is none). Otherwise a human-readable
//! line: `timestamp LEVEL name: message key=value …`.
//!
//! Secrets never reach this module: callers pass only values that are safe to print, and the
//! configuration's secrets have no `Display`.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use serde_json::{Map, Value};
use stix_model::Timestamp;

/// A log level, ordered from the most verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Details for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something is off but the connector goes on.
    Warning,
    /// A failure.
    Error,
}

impl Level {
    /// Parses `CONNECTOR_LOG_LEVEL` (`debug`, `info`, `warn`, `warning`, `error`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Some(Self::Debug),
            "info" => Some(Self::Info),
            "warn" | "warning" => Some(Self::Warning),
            "error" => Some(Self::Error),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warning => "WARNING",
            Self::Error => "ERROR",
        }
    }
}

/// Where and how lines are written.
pub struct Logger {
    level: Level,
    json: bool,
    name: String,
    sink: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("level", &self.level)
            .field("json", &self.json)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Installs the process logger (the first call wins; later calls are ignored).
pub fn init(level: Level, json: bool, name: &str) {
    init_with(level, json, name, Box::new(std::io::stderr()));
}

/// Installs the process logger writing to `sink` (tests).
pub fn init_with(level: Level, json: bool, name: &str, sink: Box<dyn Write + Send>) {
    let _ = LOGGER.set(Logger {
        level,
        json,
        name: name.to_owned(),
        sink: Mutex::new(sink),
    });
}

/// Formats one line (without the newline).
pub fn format_line(
    json: bool,
    level: Level,
    name: &str,
    message: &str,
    attributes: &Map<String, Value>,
    error: Option<&str>,
) -> String {
    let timestamp = Timestamp::now().with_digits(6).to_string();
    if json {
        // serde_json's map keeps insertion order only with `preserve_order`; write the keys by
        // hand so the order is pycti's whatever the features.
        let mut line = String::with_capacity(160);
        line.push_str("{\"timestamp\": ");
        line.push_str(&Value::from(timestamp).to_string());
        line.push_str(", \"level\": ");
        line.push_str(&Value::from(level.as_str()).to_string());
        line.push_str(", \"name\": ");
        line.push_str(&Value::from(name).to_string());
        line.push_str(", \"message\": ");
        line.push_str(&Value::from(message).to_string());
        if !attributes.is_empty() {
            line.push_str(", \"attributes\": ");
            line.push_str(&Value::Object(attributes.clone()).to_string());
        }
        if level == Level::Error {
            line.push_str(", \"exc_info\": ");
            line.push_str(&Value::from(error.unwrap_or("NoneType: None")).to_string());
        }
        line.push('}');
        line
    } else {
        let mut line = format!("{timestamp} {:<7} {name}: {message}", level.as_str());
        for (k, v) in attributes {
            match v {
                Value::String(s) => line.push_str(&format!(" {k}={s}")),
                other => line.push_str(&format!(" {k}={other}")),
            }
        }
        if let Some(e) = error {
            line.push_str(&format!(" error={e}"));
        }
        line
    }
}

/// Writes a line if `level` is enabled. `api` marks lines about OpenCTI's API (pycti names
/// them `api`).
pub fn log(level: Level, api: bool, message: &str, attributes: Value, error: Option<&str>) {
    let Some(logger) = LOGGER.get() else {
        return;
    };
    if level < logger.level {
        return;
    }
    let attributes = match attributes {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            let mut m = Map::new();
            m.insert("value".into(), other);
            m
        }
    };
    let name = if api { "api" } else { logger.name.as_str() };
    let line = format_line(logger.json, level, name, message, &attributes, error);
    let mut sink = logger.sink.lock().unwrap_or_else(|p| p.into_inner());
    let _ = writeln!(sink, "{line}");
    let _ = sink.flush();
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

/// `info!("message", {"key": value})`.
#[macro_export]
macro_rules! info {
    ($msg:expr) => { $crate::logging::log($crate::logging::Level::Info, false, &$msg, serde_json::Value::Null, None) };
    ($msg:expr, $($attrs:tt)+) => { $crate::logging::log($crate::logging::Level::Info, false, &$msg, serde_json::json!($($attrs)+), None) };
}

/// `debug!("message", {"key": value})`.
#[macro_export]
macro_rules! debug {
    ($msg:expr) => { $crate::logging::log($crate::logging::Level::Debug, false, &$msg, serde_json::Value::Null, None) };
    ($msg:expr, $($attrs:tt)+) => { $crate::logging::log($crate::logging::Level::Debug, false, &$msg, serde_json::json!($($attrs)+), None) };
}

/// `warning!("message", {"key": value})`.
#[macro_export]
macro_rules! warning {
    ($msg:expr) => { $crate::logging::log($crate::logging::Level::Warning, false, &$msg, serde_json::Value::Null, None) };
    ($msg:expr, $($attrs:tt)+) => { $crate::logging::log($crate::logging::Level::Warning, false, &$msg, serde_json::json!($($attrs)+), None) };
}

/// `error!(err, "message", {"key": value})`: `err` is anything that implements `Error`.
#[macro_export]
macro_rules! error {
    ($err:expr, $msg:expr) => { $crate::logging::log($crate::logging::Level::Error, false, &$msg, serde_json::Value::Null, Some(&$crate::logging::chain(&$err))) };
    ($err:expr, $msg:expr, $($attrs:tt)+) => { $crate::logging::log($crate::logging::Level::Error, false, &$msg, serde_json::json!($($attrs)+), Some(&$crate::logging::chain(&$err))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_have_pycti_keys_in_order() {
        let mut attrs = Map::new();
        attrs.insert("id".into(), Value::from("abc"));
        let line = format_line(
            true,
            Level::Info,
            "DISINFOX",
            "Connector registered with ID",
            &attrs,
            None,
        );
        let keys: Vec<&str> = ["timestamp", "level", "name", "message", "attributes"]
            .into_iter()
            .collect();
        let mut last = 0;
        for k in keys {
            let at = line.find(&format!("\"{k}\"")).unwrap();
            assert!(at >= last, "{k} out of order in {line}");
            last = at;
        }
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["attributes"]["id"], "abc");
        assert!(v.get("exc_info").is_none());
        let ts = v["timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), "2025-11-02T10:07:40.035608Z".len(), "{ts}");

        let err = format_line(true, Level::Error, "api", "boom", &Map::new(), None);
        let v: Value = serde_json::from_str(&err).unwrap();
        assert_eq!(v["exc_info"], "NoneType: None");
        assert!(v.get("attributes").is_none());
    }

    #[test]
    fn levels() {
        assert_eq!(Level::parse("WARN"), Some(Level::Warning));
        assert_eq!(Level::parse("verbose"), None);
        assert!(Level::Debug < Level::Error);
        let text = format_line(
            false,
            Level::Warning,
            "DISINFOX",
            "queue is full",
            &Map::new(),
            Some("x"),
        );
        assert!(
            text.contains("WARNING DISINFOX: queue is full error=x"),
            "{text}"
        );
    }
}
