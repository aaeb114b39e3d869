//! Checks of the properties kept as JSON: custom properties and extensions.

use std::collections::BTreeMap;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
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
        if cx.lean {
            // Checked as it streams by; kept empty (the caller does not keep the object).
            if !d.deserialize_any(LeanExtensions)? {
                cx.unsure = true;
            }
            return Ok(Ok(BTreeMap::new()));
        }
        d.deserialize_any(MapVisitor { cx, path })
    }
}

/// The `visit_*` methods of a lean check's visitor for values that are never clean where it
/// looks: scalars and lists (consumed whole), which give false.
macro_rules! not_clean {
    () => {
        fn visit_unit<E: serde::de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(false)
        }
    };
}

/// The lean check of `extensions`: true only when [`MapVisitor`] and [`check_extensions`] would
/// find nothing wrong (a non-empty object of objects, each extension-definition's key a valid
/// id with a valid `extension_type`, no null or empty list anywhere); it may say false where
/// they find nothing (a key given twice), and the object is then read in full. Nothing is
/// built: a value is walked as the deserializer hands it over.
struct LeanExtensions;

impl<'de> Visitor<'de> for LeanExtensions {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let (mut ok, mut any) = (true, false);
        while let Some(definition) = map.next_key_seed(ExtensionKey)? {
            any = true;
            ok &= match definition {
                None => map.next_value_seed(Clean(Shape::Object))?,
                Some(valid) => valid & map.next_value_seed(Clean(Shape::Extension))?,
            };
        }
        Ok(ok && any)
    }
    // Anything but an object: read in full for the exact violation.
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    not_clean!();
}

/// A key of `extensions`: `None` for an ordinary one, `Some(valid)` for an
/// extension-definition's (whether it is a valid id).
struct ExtensionKey;

impl<'de> DeserializeSeed<'de> for ExtensionKey {
    type Value = Option<bool>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<bool>, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for ExtensionKey {
    type Value = Option<bool>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Option<bool>, E> {
        Ok(k.starts_with("extension-definition--")
            .then(|| crate::id::is_valid(k)))
    }
}

/// What a value walked by [`Clean`] must be.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// Anything but a null or an empty list, nor holding one.
    Any,
    /// Such an object.
    Object,
    /// Such an object with a valid `extension_type`.
    Extension,
}

/// Walks a value: true when it has the shape and holds no null and no empty list (see
/// [`check_value`]). The whole value is consumed whatever it holds.
#[derive(Clone, Copy)]
struct Clean(Shape);

impl<'de> DeserializeSeed<'de> for Clean {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

/// `extension_type`: true when it is a valid one.
struct ExtensionTypeValue;

impl<'de> DeserializeSeed<'de> for ExtensionTypeValue {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ExtensionTypeValue {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: serde::de::Error>(self, t: &str) -> Result<bool, E> {
        Ok(crate::ExtensionType::parse(t).is_some())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    not_clean!();
}

/// Whether a key is `extension_type`.
struct IsExtensionType;

impl<'de> DeserializeSeed<'de> for IsExtensionType {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for IsExtensionType {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<bool, E> {
        Ok(k == "extension_type")
    }
}

impl<'de> Visitor<'de> for Clean {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut ok = true;
        let mut typed = false;
        while let Some(is_type) = map.next_key_seed(IsExtensionType)? {
            if is_type && self.0 == Shape::Extension {
                // Every `extension_type` given valid (the last one counts when checked).
                let valid = map.next_value_seed(ExtensionTypeValue)?;
                ok &= valid;
                typed = true;
            } else {
                ok &= map.next_value_seed(Clean(Shape::Any))?;
            }
        }
        Ok(ok && (typed || self.0 != Shape::Extension))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let (mut ok, mut any) = (self.0 == Shape::Any, false);
        while let Some(clean) = seq.next_element_seed(Clean(Shape::Any))? {
            ok &= clean;
            any = true;
        }
        Ok(ok && any)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<bool, E> {
        Ok(self.0 == Shape::Any)
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(self.0 == Shape::Any)
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(self.0 == Shape::Any)
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(self.0 == Shape::Any)
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(self.0 == Shape::Any)
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
