//! Reading typed objects straight from JSON, collecting every violation with its path.
//!
//! An object is read property by property from the deserializer (the input bytes, or a
//! `serde_json::Value` for callers that have values): each known property is read into its
//! typed slot, any other is kept as a custom property. Strings are taken from the input as it
//! hands them over (borrowed from the bytes when they need no unescaping): a key, a timestamp,
//! a number or a vocabulary term costs no allocation, a string property one.
//!
//! Nothing here fails on a value of the wrong shape: a wrong type, a `null`, an empty list or a
//! value a rule refuses becomes a violation of the object and reading goes on, so that every
//! violation of an object is reported at once. Only malformed JSON stops the reader.

use std::collections::BTreeMap;

use serde::de::{DeserializeSeed, Deserializer};
use serde::Deserialize as _;
use serde_json::Value;

use crate::Violation;

mod checks;
mod embedded;
mod keys;
mod scalar;

pub(crate) use checks::{check_custom, check_extensions, RESERVED};
pub(crate) use keys::{ids, known, known_name, strip_raw, Key, KeySeed};

/// The violations found in one object, as (property path, message); the object's id is added
/// when it is known, at the end.
#[derive(Debug, Default)]
pub(crate) struct Cx {
    issues: Vec<(String, String)>,
    /// The id of an object that could not be built, to name it in its violations.
    pub(crate) id: Option<String>,
}

impl Cx {
    /// A violation at `path`.
    pub(crate) fn violation(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.issues.push((path.into(), message.into()));
    }

    /// Whether nothing is wrong so far.
    pub(crate) fn is_clean(&self) -> bool {
        self.issues.is_empty()
    }

    /// Drops what was found in a property given again (the last value counts, as in a JSON
    /// value).
    fn forget(&mut self, key: &str) {
        self.issues.retain(|(p, _)| {
            !(p.starts_with(key) && matches!(p.as_bytes().get(key.len()), None | Some(b'.' | b'[')))
        });
    }

    /// The violations, naming the object `id`.
    pub(crate) fn into_violations(self, id: Option<&str>) -> Vec<Violation> {
        self.issues
            .into_iter()
            .map(|(path, message)| Violation::new(id, path, message))
            .collect()
    }
}

/// Why a value was not read.
#[derive(Debug)]
pub(crate) enum Bad {
    /// It is `null`; the caller says what that means where it is.
    Null,
    /// Its violations are recorded.
    Reported,
}

/// A value read, or why not.
pub(crate) type Read<T> = Result<T, Bad>;

/// A value read from JSON without failing on its shape.
pub(crate) trait ReadValue: Sized {
    /// What a valid value is, for messages (`a string`).
    const EXPECTED: &'static str;

    /// Reads a value at `path`; a value of the wrong shape is recorded in `cx`.
    fn read<'de, D: Deserializer<'de>>(
        d: D,
        cx: &mut Cx,
        path: &dyn Fn() -> String,
    ) -> Result<Read<Self>, D::Error>;
}

/// `invalid type: <what>, expected <expected>`, as serde words it.
pub(crate) fn invalid_type(what: serde::de::Unexpected<'_>, expected: &str) -> String {
    format!("invalid type: {what}, expected {expected}")
}

/// A top-level property: whether it was given, and its value when that was valid.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    seen: bool,
    value: Option<T>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self {
            seen: false,
            value: None,
        }
    }
}

impl<T: ReadValue> Slot<T> {
    /// Reads the property `key` into the slot; `null` is a violation (STIX forbids nulls).
    pub(crate) fn read<'de, D: Deserializer<'de>>(
        &mut self,
        key: &'static str,
        d: D,
        cx: &mut Cx,
    ) -> Result<(), D::Error> {
        if self.seen {
            cx.forget(key);
        }
        self.seen = true;
        self.value = match T::read(d, cx, &|| key.to_owned())? {
            Ok(v) => Some(v),
            Err(Bad::Null) => {
                cx.violation(key, "must not be null; omit the property instead");
                None
            }
            Err(Bad::Reported) => None,
        };
        Ok(())
    }
}

impl<T> Slot<T> {
    /// The value of an optional property.
    pub(crate) fn optional(self) -> Option<T> {
        self.value
    }

    /// The value of a required property; a violation when it was not given.
    pub(crate) fn required(self, key: &str, cx: &mut Cx) -> Option<T> {
        if !self.seen {
            cx.violation(key, "required property is missing");
        }
        self.value
    }
}

impl<T> Slot<Vec<T>> {
    /// An optional list (empty when not given).
    pub(crate) fn list(self) -> Vec<T> {
        self.value.unwrap_or_default()
    }

    /// A required list; a violation when it was not given.
    pub(crate) fn required_list(self, key: &str, cx: &mut Cx) -> Vec<T> {
        self.required(key, cx).unwrap_or_default()
    }
}

/// Reads a custom property (any JSON, kept as it came).
pub(crate) fn read_custom<'de, D: Deserializer<'de>>(
    custom: &mut BTreeMap<String, Value>,
    key: Key,
    d: D,
) -> Result<(), D::Error> {
    let v = Value::deserialize(d)?;
    custom.insert(key.into_string(), v);
    Ok(())
}

/// Something that takes an object's properties one at a time.
pub(crate) trait Properties {
    /// Reads the property `key` from `d`.
    fn read<'de, D: Deserializer<'de>>(
        &mut self,
        key: Key,
        d: D,
        cx: &mut Cx,
    ) -> Result<(), D::Error>;
}

/// The seed that reads one property's value into `props`.
pub(crate) struct PropSeed<'a, P> {
    pub(crate) key: Key,
    pub(crate) props: &'a mut P,
    pub(crate) cx: &'a mut Cx,
}

impl<'de, P: Properties> DeserializeSeed<'de> for PropSeed<'_, P> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.props.read(self.key, d, self.cx)
    }
}
