//! The connector state kept in OpenCTI, and the rules for reading and writing it.
//!
//! The state is a JSON object stored by OpenCTI as a string
//! (`docs/opencti-connector-protocol.md#ping-and-state`): null, `""`,
//! `"null"`, anything that is not an object, and `{}` all mean "no state". States are compared
//! as parsed values, never as strings. Writes are read-modify-write: a commit changes its keys
//! and keeps every other key (the upstream connector overwrote the whole state).
//!
//! Keys written by this connector:
//! - `cursor`: the server's exact change cursor (`X-Disinfox-Next-Cursor`) after the last
//!   accepted page;
//! - `last_fetch`: the server's high-water mark (`X-Disinfox-High-Water-Mark`, a server time)
//!   after the last accepted page — the key and form the upstream DISINFOX connector used, so
//!   a state it left behind is read as a starting point;
//! - `last_run`: when the last run finished (UTC, `YYYY-MM-DDTHH:MM:SSZ`).

use serde_json::{Map, Value};

/// A state: `None` is "no state".
pub type State = Option<Map<String, Value>>;

/// Reads a state string as OpenCTI returns it.
pub fn parse(text: Option<&str>) -> State {
    let text = text?.trim();
    if text.is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) if !m.is_empty() => Some(m),
        _ => None,
    }
}

/// The string sent in a ping: the JSON text, or `"null"`.
pub fn to_wire(state: &State) -> String {
    match state {
        Some(m) if !m.is_empty() => Value::Object(m.clone()).to_string(),
        _ => "null".to_owned(),
    }
}

/// Where the next fetch starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// From the beginning.
    Start,
    /// After the server's cursor.
    Cursor(String),
    /// After the server time (a `last_fetch` without a cursor, e.g. from the upstream
    /// connector).
    NewerThan(String),
}

/// The position a state records.
pub fn position(state: &State) -> Position {
    let Some(m) = state else {
        return Position::Start;
    };
    if let Some(c) = m.get("cursor").and_then(Value::as_str) {
        if !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) {
            return Position::Cursor(c.to_owned());
        }
    }
    match m.get("last_fetch").and_then(Value::as_str) {
        Some(t) if !t.trim().is_empty() => Position::NewerThan(t.to_owned()),
        _ => Position::Start,
    }
}

/// `state` with `changes` applied (a key set to null is removed).
pub fn merged(state: &State, changes: &[(&str, Value)]) -> State {
    let mut m = state.clone().unwrap_or_default();
    for (k, v) in changes {
        if v.is_null() {
            m.remove(*k);
        } else {
            m.insert((*k).to_owned(), v.clone());
        }
    }
    if m.is_empty() {
        None
    } else {
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn no_state_spellings() {
        for t in [
            None,
            Some(""),
            Some("null"),
            Some("{}"),
            Some("[1]"),
            Some("\"x\""),
            Some("{bad"),
            Some("  "),
        ] {
            assert_eq!(parse(t), None, "{t:?}");
        }
        let s = parse(Some("{\"cursor\": \"12\", \"other\": 1}"));
        assert_eq!(position(&s), Position::Cursor("12".into()));
        assert_eq!(to_wire(&None), "null");
    }

    #[test]
    fn merge_keeps_other_keys_and_position_falls_back() {
        let s = parse(Some(
            "{\"last_fetch\": \"2024-10-30T01:35:21.128381Z\", \"mine\": true}",
        ));
        assert_eq!(
            position(&s),
            Position::NewerThan("2024-10-30T01:35:21.128381Z".into())
        );
        let s2 = merged(&s, &[("cursor", json!("7")), ("last_run", json!("x"))]);
        let m = s2.clone().unwrap();
        assert_eq!(m["mine"], json!(true));
        assert_eq!(position(&s2), Position::Cursor("7".into()));
        assert_eq!(
            parse(Some(&to_wire(&s2))),
            s2,
            "the wire form reads back equal"
        );
        let cleared = merged(
            &s2,
            &[
                ("cursor", Value::Null),
                ("last_fetch", Value::Null),
                ("mine", Value::Null),
                ("last_run", Value::Null),
            ],
        );
        assert_eq!(cleared, None);
        // A cursor that is not a number is not used.
        let odd = parse(Some("{\"cursor\": \"abc\"}"));
        assert_eq!(position(&odd), Position::Start);
    }
}
