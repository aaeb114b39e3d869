//! Property extraction from a JSON object, collecting every violation with its path.
//!
//! Each typed object is read by taking its properties out of the parsed JSON map one by one
//! (moving the values, no copies); whatever is left is kept as custom properties. Unlike a
//! derived `Deserialize`, this reports every bad property of an object at once.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::Violation;

/// Property names this crate reads, sorted: keys found here are not allocated when parsed.
const KNOWN_KEYS: &[&str] = &[
    "abstract",
    "administrative_area",
    "aliases",
    "authors",
    "channel_types",
    "city",
    "confidence",
    "contact_information",
    "content",
    "count",
    "country",
    "created",
    "created_by_ref",
    "definition",
    "definition_type",
    "description",
    "extension_properties",
    "extension_type",
    "extension_types",
    "extensions",
    "external_id",
    "external_references",
    "first_seen",
    "goals",
    "granular_markings",
    "id",
    "identity_class",
    "kill_chain_name",
    "kill_chain_phases",
    "labels",
    "lang",
    "last_seen",
    "latitude",
    "longitude",
    "marking_ref",
    "modified",
    "name",
    "narrative_types",
    "object_marking_refs",
    "object_refs",
    "objective",
    "observed_data_refs",
    "personal_motivations",
    "phase_name",
    "postal_code",
    "precision",
    "primary_motivation",
    "published",
    "region",
    "relationship_type",
    "report_types",
    "resource_level",
    "revoked",
    "roles",
    "schema",
    "secondary_motivations",
    "sectors",
    "selectors",
    "sighting_of_ref",
    "sophistication",
    "source_name",
    "source_ref",
    "spec_version",
    "start_time",
    "stop_time",
    "street_address",
    "summary",
    "tactic_refs",
    "target_ref",
    "threat_actor_types",
    "type",
    "url",
    "version",
    "where_sighted_refs",
    "x_mitre_deprecated",
    "x_mitre_domains",
    "x_mitre_id",
    "x_mitre_is_subtechnique",
    "x_mitre_platforms",
    "x_mitre_shortname",
    "x_mitre_version",
    "x_opencti_location_type",
];

/// A property name: one of [`KNOWN_KEYS`] (no allocation) or any other.
#[derive(Debug)]
pub(crate) enum Key {
    Known(&'static str),
    Other(String),
}

impl Key {
    fn new(s: &str) -> Self {
        match KNOWN_KEYS.binary_search(&s) {
            Ok(i) => Self::Known(KNOWN_KEYS[i]),
            Err(_) => Self::Other(s.to_owned()),
        }
    }
    fn from_string(s: String) -> Self {
        match KNOWN_KEYS.binary_search(&s.as_str()) {
            Ok(i) => Self::Known(KNOWN_KEYS[i]),
            Err(_) => Self::Other(s),
        }
    }
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Known(s) => s,
            Self::Other(s) => s,
        }
    }
    fn into_string(self) -> String {
        match self {
            Self::Known(s) => s.to_owned(),
            Self::Other(s) => s,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a property name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key::new(v))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Key, E> {
                Ok(Key::from_string(v))
            }
        }
        d.deserialize_str(V)
    }
}

/// An object's properties in the order read, each key once (the last value wins, as in
/// `serde_json::Map`). A short vector beats a tree for the dozen properties of an object.
#[derive(Debug, Default)]
pub(crate) struct Entries(pub(crate) Vec<(Key, Value)>);

impl Entries {
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }
    fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k.as_str() == key)?;
        Some(self.0.swap_remove(i).1)
    }
    fn contains_key(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k.as_str() == key)
    }
    fn insert_key(&mut self, key: Key, v: Value) {
        match self.0.iter_mut().find(|(k, _)| k.as_str() == key.as_str()) {
            Some(slot) => slot.1 = v,
            None => self.0.push((key, v)),
        }
    }
    pub(crate) fn insert(&mut self, key: String, v: Value) {
        self.insert_key(Key::from_string(key), v);
    }
}

impl From<Map<String, Value>> for Entries {
    fn from(m: Map<String, Value>) -> Self {
        Self(
            m.into_iter()
                .map(|(k, v)| (Key::from_string(k), v))
                .collect(),
        )
    }
}

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Entries, A::Error> {
                let mut e = Entries(Vec::with_capacity(a.size_hint().unwrap_or(16)));
                while let Some(k) = a.next_key::<Key>()? {
                    let v: Value = a.next_value()?;
                    e.insert_key(k, v);
                }
                Ok(e)
            }
        }
        d.deserialize_map(V)
    }
}

pub(crate) struct Fields {
    map: Entries,
    pub(crate) id: Option<String>,
    pub(crate) violations: Vec<Violation>,
}

impl Fields {
    pub(crate) fn new(map: Entries) -> Self {
        let id = map.get("id").and_then(Value::as_str).map(str::to_owned);
        Self {
            map,
            id,
            violations: Vec::new(),
        }
    }

    pub(crate) fn violation(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.violations
            .push(Violation::new(self.id.as_deref(), path, message));
    }

    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    fn convert<T: DeserializeOwned>(
        &mut self,
        path: impl FnOnce() -> String,
        v: Value,
    ) -> Option<T> {
        match T::deserialize(v) {
            Ok(t) => Some(t),
            Err(e) => {
                self.violation(path(), e.to_string());
                None
            }
        }
    }

    /// An optional property; `null` is a violation (STIX forbids nulls).
    pub(crate) fn opt<T: DeserializeOwned>(&mut self, key: &str) -> Option<T> {
        match self.map.remove(key)? {
            Value::Null => {
                self.violation(key, "must not be null; omit the property instead");
                None
            }
            v => self.convert(|| key.to_owned(), v),
        }
    }

    /// A required property.
    pub(crate) fn req<T: DeserializeOwned>(&mut self, key: &str) -> Option<T> {
        if !self.map.contains_key(key) {
            self.violation(key, "required property is missing");
            return None;
        }
        self.opt(key)
    }

    /// An optional list; present but empty is a violation. Each element is converted on its
    /// own so that an error names its index.
    pub(crate) fn list<T: DeserializeOwned>(&mut self, key: &str) -> Vec<T> {
        match self.map.remove(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                if items.is_empty() {
                    self.violation(key, "must not be an empty list; omit the property instead");
                }
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    if let Some(t) = self.convert(|| format!("{key}[{i}]"), item) {
                        out.push(t);
                    }
                }
                out
            }
            Some(Value::Null) => {
                self.violation(key, "must not be null; omit the property instead");
                Vec::new()
            }
            Some(_) => {
                self.violation(key, "expected a list");
                Vec::new()
            }
        }
    }

    /// A required, non-empty list.
    pub(crate) fn req_list<T: DeserializeOwned>(&mut self, key: &str) -> Vec<T> {
        if !self.map.contains_key(key) {
            self.violation(key, "required property is missing");
        }
        self.list(key)
    }

    /// An optional map of extensions (`extensions`), checked for shape.
    pub(crate) fn extensions(&mut self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        match self.map.remove("extensions") {
            None => {}
            Some(Value::Object(m)) => {
                if m.is_empty() {
                    self.violation("extensions", "must have at least one key");
                }
                for (k, v) in m {
                    let path = || format!("extensions.{k}");
                    match &v {
                        Value::Object(body) => {
                            if k.starts_with("extension-definition--") {
                                if crate::Identifier::parse(k.as_str()).is_err() {
                                    self.violation(
                                        path(),
                                        "key is not a valid extension-definition id",
                                    );
                                }
                                match body.get("extension_type") {
                                    Some(Value::String(t)) if crate::ExtensionType::parse(t).is_some() => {}
                                    Some(_) => self.violation(
                                        format!("{}.extension_type", path()),
                                        "must be one of new-sdo, new-sco, new-sro, property-extension, toplevel-property-extension",
                                    ),
                                    None => self.violation(
                                        format!("{}.extension_type", path()),
                                        "required property is missing",
                                    ),
                                }
                            }
                            if has_bad_value(&v) {
                                report_bad_values(self, &path(), &v);
                            }
                        }
                        _ => self.violation(path(), "an extension must be an object"),
                    }
                    out.insert(k, v);
                }
            }
            Some(_) => self.violation("extensions", "expected an object"),
        }
        out
    }

    /// Whatever is left: custom properties, checked for names, nulls, empty lists and
    /// reserved names.
    pub(crate) fn rest(&mut self) -> BTreeMap<String, Value> {
        let map = std::mem::take(&mut self.map).0;
        let mut out = BTreeMap::new();
        for (k, v) in map {
            let k = k.into_string();
            if RESERVED.contains(&k.as_str()) {
                self.violation(k.as_str(), "is a reserved property name in STIX 2.1");
            } else if !crate::is_property_name(&k) {
                self.violation(
                    k.as_str(),
                    "is not a valid property name (3-250 of a-z, 0-9, _; starting with a letter)",
                );
            }
            check_value(self, &k, &v);
            out.insert(k, v);
        }
        out
    }
}

/// Property names STIX 2.1 reserves: an object carrying one is invalid.
pub(crate) const RESERVED: &[&str] = &["action", "phone_numbers", "severity", "username"];

/// Whether a value holds a null or an empty list anywhere (cheap, no allocation).
fn has_bad_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty() || a.iter().any(has_bad_value),
        Value::Object(m) => m.values().any(has_bad_value),
        _ => false,
    }
}

/// No nulls and no empty lists anywhere inside a value.
pub(crate) fn check_value(f: &mut Fields, path: &str, v: &Value) {
    if has_bad_value(v) {
        report_bad_values(f, path, v);
    }
}

fn report_bad_values(f: &mut Fields, path: &str, v: &Value) {
    match v {
        Value::Null => f.violation(path, "must not be null; omit the property instead"),
        Value::Array(a) => {
            if a.is_empty() {
                f.violation(path, "must not be an empty list; omit the property instead");
            }
            for (i, x) in a.iter().enumerate() {
                if matches!(x, Value::Array(_) | Value::Object(_) | Value::Null) {
                    report_bad_values(f, &format!("{path}[{i}]"), x);
                }
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                if matches!(x, Value::Array(_) | Value::Object(_) | Value::Null) {
                    report_bad_values(f, &format!("{path}.{k}"), x);
                }
            }
        }
        _ => {}
    }
}

impl Fields {
    /// Puts a value back (used by custom objects, which keep every property).
    pub(crate) fn put_back(&mut self, key: &str, v: Value) {
        self.map.insert(key.to_owned(), v);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_keys_are_sorted_for_binary_search() {
        assert!(super::KNOWN_KEYS.windows(2).all(|w| w[0] < w[1]));
    }
}
