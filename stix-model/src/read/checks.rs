//! Checks of the properties kept as JSON: custom properties and extensions.

use std::collections::BTreeMap;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize as _;
use serde_json::Value;

use super::{Bad, Cx, Read, ReadValue};

/// Property names STIX 2.1 reserves: an object carrying one is invalid.
pub(crate) const RESERVED: &[&str] = &["action", "phone_numbers", "severity", "username"];

/// Custom properties: names (syntax, reserved names), and no nulls or empty lists inside.
pub(crate) fn check_custom(custom: &BTreeMap<String, Value>, cx: &mut Cx) {
    for (k, v) in custom {
        if RESERVED.contains(&k.as_str()) {
            cx.violation(k.as_str(), "is a reserved property name in STIX 2.1");
        } else if !crate::is_property_name(k) {
            cx.violation(
                k.as_str(),
                "is not a valid property name (3-250 of a-z, 0-9, _; starting with a letter)",
            );
        }
        check_value(cx, k, v);
    }
}

/// `extensions`: each entry an object; an extension-definition's entry with a valid key and
/// an `extension_type`; no nulls or empty lists inside.
pub(crate) fn check_extensions(extensions: &BTreeMap<String, Value>, cx: &mut Cx) {
    for (k, v) in extensions {
        let path = || format!("extensions.{k}");
        let Value::Object(body) = v else {
            cx.violation(path(), "an extension must be an object");
            continue;
        };
        if k.starts_with("extension-definition--") {
            if crate::Identifier::parse(k.as_str()).is_err() {
                cx.violation(path(), "key is not a valid extension-definition id");
            }
            match body.get("extension_type") {
                Some(Value::String(t)) if crate::ExtensionType::parse(t).is_some() => {}
                Some(_) => cx.violation(
                    format!("{}.extension_type", path()),
                    "must be one of new-sdo, new-sco, new-sro, property-extension, toplevel-property-extension",
                ),
                None => cx.violation(
                    format!("{}.extension_type", path()),
                    "required property is missing",
                ),
            }
        }
        check_value(cx, &path(), v);
    }
}

/// The `extensions` map: an object with at least one key, kept as JSON.
impl ReadValue for BTreeMap<String, Value> {
    const EXPECTED: &'static str = "an object";
    fn read<'de, D: Deserializer<'de>>(
        d: D,
        cx: &mut Cx,
        path: &dyn Fn() -> String,
    ) -> Result<Read<Self>, D::Error> {
        d.deserialize_any(MapVisitor { cx, path })
    }
}

struct MapVisitor<'a> {
    cx: &'a mut Cx,
    path: &'a dyn Fn() -> String,
}

impl MapVisitor<'_> {
    fn not_an_object(self) -> Read<BTreeMap<String, Value>> {
        self.cx.violation((self.path)(), "expected an object");
        Err(Bad::Reported)
    }
}

impl<'de> Visitor<'de> for MapVisitor<'_> {
    type Value = Read<BTreeMap<String, Value>>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            out.insert(k, v);
        }
        if out.is_empty() {
            self.cx
                .violation((self.path)(), "must have at least one key");
        }
        Ok(Ok(out))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err(Bad::Null))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(self.not_an_object())
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(self.not_an_object())
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(self.not_an_object())
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(self.not_an_object())
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(self.not_an_object())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.not_an_object())
    }
}

/// Any JSON value kept as it came (a marking's `definition`).
impl ReadValue for Value {
    const EXPECTED: &'static str = "any JSON value";
    fn read<'de, D: Deserializer<'de>>(
        d: D,
        _: &mut Cx,
        _: &dyn Fn() -> String,
    ) -> Result<Read<Self>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => Err(Bad::Null),
            v => Ok(v),
        })
    }
}

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
pub(crate) fn check_value(cx: &mut Cx, path: &str, v: &Value) {
    if has_bad_value(v) {
        report_bad_values(cx, path, v);
    }
}

fn report_bad_values(cx: &mut Cx, path: &str, v: &Value) {
    match v {
        Value::Null => cx.violation(path, "must not be null; omit the property instead"),
        Value::Array(a) => {
            if a.is_empty() {
                cx.violation(path, "must not be an empty list; omit the property instead");
            }
            for (i, x) in a.iter().enumerate() {
                if matches!(x, Value::Array(_) | Value::Object(_) | Value::Null) {
                    report_bad_values(cx, &format!("{path}[{i}]"), x);
                }
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                if matches!(x, Value::Array(_) | Value::Object(_) | Value::Null) {
                    report_bad_values(cx, &format!("{path}.{k}"), x);
                }
            }
        }
        _ => {}
    }
}
