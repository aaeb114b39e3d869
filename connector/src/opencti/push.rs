//! The `stixBundlePush` request, built object by object
//! (`docs/opencti-connector-protocol.md#stixbundlepush`).

use bytes::Bytes;
use serde_json::Value;

use crate::graphql;

/// A `stixBundlePush` request built object by object: each object's JSON is escaped straight
/// into the GraphQL request, so a page is not held both as a bundle and as a request.
#[derive(Debug)]
pub struct BundlePush {
    request: String,
    bundle_len: usize,
    objects: usize,
    /// Whether the bundle is opened by [`BundlePush::object`] (not given whole).
    wrapped: bool,
}

impl BundlePush {
    /// A request for `connectorId` and `work_id`, with room for `capacity` bytes of bundle.
    pub fn new(connector_id: &str, work_id: Option<&str>, capacity: usize) -> Self {
        let json = |v: Value| v.to_string();
        let mut request = String::with_capacity(capacity + capacity / 8 + 1024);
        request.push_str("{\"query\":");
        request.push_str(&json(Value::from(graphql::STIX_BUNDLE_PUSH)));
        request.push_str(",\"variables\":{\"connectorId\":");
        request.push_str(&json(Value::from(connector_id)));
        request.push_str(",\"work_id\":");
        request.push_str(&json(work_id.map_or(Value::Null, Value::from)));
        request.push_str(",\"bundle\":\"");
        Self {
            request,
            bundle_len: 0,
            objects: 0,
            wrapped: false,
        }
    }

    /// Adds an object (its JSON text) to the bundle.
    pub fn object(&mut self, object: &str) {
        if self.objects == 0 {
            let open = format!(
                "{{\"type\":\"bundle\",\"id\":\"bundle--{}\",\"objects\":[",
                uuid::Uuid::new_v4()
            );
            self.raw(&open);
            self.wrapped = true;
        } else {
            self.raw(",");
        }
        self.raw(object);
        self.objects += 1;
    }

    /// Appends JSON text to the bundle as it is.
    pub(super) fn raw(&mut self, text: &str) {
        escape_into(&mut self.request, text);
        self.bundle_len += text.len();
    }

    /// The bundle's size so far, unescaped (what OpenCTI's message limit counts), with its
    /// closing brackets.
    pub fn bundle_len(&self) -> usize {
        self.bundle_len + 2
    }

    /// How many objects are in it.
    pub fn objects(&self) -> usize {
        self.objects
    }

    pub(super) fn finish(mut self) -> Bytes {
        if self.wrapped {
            escape_into(&mut self.request, "]}");
        }
        self.request.push_str("\"}}");
        Bytes::from(self.request)
    }
}

/// The bytes a JSON string cannot hold as they are: `"`, `\` and the control characters.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Appends `s` to `out` escaped as the inside of a JSON string: one table look-up per byte, the
/// runs between escapes copied whole.
fn escape_into(out: &mut String, s: &str) {
    let mut start = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if !NEEDS_ESCAPE[b as usize] {
            continue;
        }
        out.push_str(&s[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => out.push_str(&format!("\\u{b:04x}")),
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_push_is_the_graphql_request_of_its_bundle() {
        let mut p = BundlePush::new("c", Some("w"), 10);
        // Escapes inside strings, and raw control characters between tokens.
        let objects = [
            r#"{"id":"x--1","name":"quote \" backslash \\ tab \t","c":"\u0001"}"#,
            "{\"id\":\"x--2\",\n\t\r\"d\":1}",
        ];
        for o in objects {
            p.object(o);
        }
        assert_eq!(p.objects(), 2);
        let len = p.bundle_len();
        let request: Value = serde_json::from_slice(&p.finish()).unwrap();
        assert_eq!(request["query"], graphql::STIX_BUNDLE_PUSH);
        assert_eq!(request["variables"]["connectorId"], "c");
        assert_eq!(request["variables"]["work_id"], "w");
        let bundle = request["variables"]["bundle"].as_str().unwrap();
        assert_eq!(bundle.len(), len);
        let bundle: Value = serde_json::from_str(bundle).unwrap();
        assert_eq!(bundle["type"], "bundle");
        assert_eq!(bundle["objects"][0]["name"], "quote \" backslash \\ tab \t");
        assert_eq!(bundle["objects"][0]["c"], "\u{1}");
        assert_eq!(bundle["objects"][1]["d"], 1);
        let mut whole = BundlePush::new("c", None, 0);
        whole.raw("{\u{c}\u{1f}}");
        let request: Value = serde_json::from_slice(&whole.finish()).unwrap();
        assert_eq!(request["variables"]["bundle"], "{\u{c}\u{1f}}");
        assert_eq!(request["variables"]["work_id"], Value::Null);
    }
}
