//! Values read from one JSON scalar: strings, numbers, booleans, and the validated values
//! made from them (ids, timestamps, confidence, vocabulary terms), and lists of values.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor,
};

use super::{invalid_type, Bad, Cx, Read, ReadValue};
use crate::{Confidence, ExtensionType, Identifier, IdentityClass, ThreatActorType, Timestamp};

/// A value made from a JSON scalar; each method refuses by default, with serde's wording.
pub(crate) trait FromScalar: Sized {
    /// What a valid value is, for messages.
    const EXPECTED: &'static str;
    fn from_str(s: &str) -> Result<Self, String> {
        Err(invalid_type(Unexpected::Str(s), Self::EXPECTED))
    }
    fn from_string(s: String) -> Result<Self, String> {
        Self::from_str(&s)
    }
    fn from_i64(v: i64) -> Result<Self, String> {
        Err(invalid_type(Unexpected::Signed(v), Self::EXPECTED))
    }
    fn from_u64(v: u64) -> Result<Self, String> {
        Err(invalid_type(Unexpected::Unsigned(v), Self::EXPECTED))
    }
    fn from_f64(v: f64) -> Result<Self, String> {
        Err(invalid_type(Unexpected::Float(v), Self::EXPECTED))
    }
    fn from_bool(v: bool) -> Result<Self, String> {
        Err(invalid_type(Unexpected::Bool(v), Self::EXPECTED))
    }
}

/// Visits any JSON value: a scalar becomes a `T` or a message; a list or an object is skipped
/// and refused; `null` is `Err(None)`.
struct ScalarVisitor<T>(PhantomData<T>);

type Scalar<T> = Result<T, Option<String>>;

impl<'de, T: FromScalar> Visitor<'de> for ScalarVisitor<T> {
    type Value = Scalar<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTED)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar<T>, E> {
        Ok(T::from_str(v).map_err(Some))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Scalar<T>, E> {
        Ok(T::from_string(v).map_err(Some))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar<T>, E> {
        Ok(T::from_i64(v).map_err(Some))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar<T>, E> {
        Ok(T::from_u64(v).map_err(Some))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar<T>, E> {
        Ok(T::from_f64(v).map_err(Some))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar<T>, E> {
        Ok(T::from_bool(v).map_err(Some))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Scalar<T>, E> {
        Ok(Err(None))
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Scalar<T>, E> {
        Ok(Err(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<T>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err(Some(invalid_type(Unexpected::Seq, T::EXPECTED))))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<T>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Err(Some(invalid_type(Unexpected::Map, T::EXPECTED))))
    }
}

/// Reads a scalar value at `path`.
pub(crate) fn read_scalar<'de, T: FromScalar, D: Deserializer<'de>>(
    d: D,
    cx: &mut Cx,
    path: &dyn Fn() -> String,
) -> Result<Read<T>, D::Error> {
    Ok(match d.deserialize_any(ScalarVisitor::<T>(PhantomData))? {
        Ok(v) => Ok(v),
        Err(None) => Err(Bad::Null),
        Err(Some(message)) => {
            cx.violation(path(), message);
            Err(Bad::Reported)
        }
    })
}

macro_rules! read_as_scalar {
    ($($t:ty),*) => {$(
        impl ReadValue for $t {
            const EXPECTED: &'static str = <$t as FromScalar>::EXPECTED;
            fn read<'de, D: Deserializer<'de>>(
                d: D,
                cx: &mut Cx,
                path: &dyn Fn() -> String,
            ) -> Result<Read<Self>, D::Error> {
                read_scalar::<$t, D>(d, cx, path)
            }
        }
    )*};
}

read_as_scalar!(
    String,
    bool,
    f64,
    u64,
    Identifier,
    Timestamp,
    Confidence,
    IdentityClass,
    ThreatActorType,
    ExtensionType
);

impl FromScalar for String {
    const EXPECTED: &'static str = "a string";
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(s.to_owned())
    }
    fn from_string(s: String) -> Result<Self, String> {
        Ok(s)
    }
}

impl FromScalar for bool {
    const EXPECTED: &'static str = "a boolean";
    fn from_bool(v: bool) -> Result<Self, String> {
        Ok(v)
    }
}

impl FromScalar for f64 {
    const EXPECTED: &'static str = "a number";
    fn from_f64(v: f64) -> Result<Self, String> {
        Ok(v)
    }
    fn from_i64(v: i64) -> Result<Self, String> {
        Ok(v as f64)
    }
    fn from_u64(v: u64) -> Result<Self, String> {
        Ok(v as f64)
    }
}

impl FromScalar for u64 {
    const EXPECTED: &'static str = "a non-negative integer";
    fn from_u64(v: u64) -> Result<Self, String> {
        Ok(v)
    }
    fn from_i64(v: i64) -> Result<Self, String> {
        u64::try_from(v).map_err(|_| {
            format!(
                "invalid value: {}, expected {}",
                Unexpected::Signed(v),
                <Self as FromScalar>::EXPECTED
            )
        })
    }
}

impl FromScalar for Identifier {
    const EXPECTED: &'static str = "an identifier string";
    fn from_str(s: &str) -> Result<Self, String> {
        Identifier::parse(s).map_err(|e| e.to_string())
    }
    fn from_string(s: String) -> Result<Self, String> {
        Identifier::parse(s).map_err(|e| e.to_string())
    }
}

impl FromScalar for Timestamp {
    const EXPECTED: &'static str = "a timestamp string";
    fn from_str(s: &str) -> Result<Self, String> {
        Timestamp::parse(s).map_err(|e| e.to_string())
    }
}

impl FromScalar for Confidence {
    const EXPECTED: &'static str = "an integer from 0 to 100";
    fn from_i64(v: i64) -> Result<Self, String> {
        Confidence::new(v).map_err(|e| e.to_string())
    }
    fn from_u64(v: u64) -> Result<Self, String> {
        Confidence::new(i64::try_from(v).unwrap_or(i64::MAX)).map_err(|e| e.to_string())
    }
}

impl FromScalar for IdentityClass {
    const EXPECTED: &'static str = "an identity class";
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(Self::from(s))
    }
}

impl FromScalar for ThreatActorType {
    const EXPECTED: &'static str = "a threat actor type";
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(Self::from(s))
    }
}

impl FromScalar for ExtensionType {
    const EXPECTED: &'static str =
        "one of new-sdo, new-sco, new-sro, property-extension, toplevel-property-extension";
    fn from_str(s: &str) -> Result<Self, String> {
        ExtensionType::parse(s).ok_or_else(|| {
            format!(
                "invalid value: {}, expected {}",
                Unexpected::Str(s),
                <Self as FromScalar>::EXPECTED
            )
        })
    }
}

/// A list property: each entry read on its own, so that a bad entry is reported with its index
/// and the others are kept. An empty list is a violation unless `empty_ok`.
pub(crate) fn read_list<'de, T: ReadValue, D: Deserializer<'de>>(
    d: D,
    cx: &mut Cx,
    path: &dyn Fn() -> String,
    empty_ok: bool,
) -> Result<Read<Vec<T>>, D::Error> {
    d.deserialize_any(ListVisitor {
        cx,
        path,
        empty_ok,
        item: PhantomData,
    })
}

impl<T: ReadValue> ReadValue for Vec<T> {
    const EXPECTED: &'static str = "a list";
    fn read<'de, D: Deserializer<'de>>(
        d: D,
        cx: &mut Cx,
        path: &dyn Fn() -> String,
    ) -> Result<Read<Self>, D::Error> {
        read_list(d, cx, path, false)
    }
}

struct ListVisitor<'a, T> {
    cx: &'a mut Cx,
    path: &'a dyn Fn() -> String,
    empty_ok: bool,
    item: PhantomData<T>,
}

impl<T> ListVisitor<'_, T> {
    fn not_a_list(self) -> Read<Vec<T>> {
        self.cx.violation((self.path)(), "expected a list");
        Err(Bad::Reported)
    }
}

impl<'de, T: ReadValue> Visitor<'de> for ListVisitor<'_, T> {
    type Value = Read<Vec<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let mut i = 0;
        loop {
            let path = || format!("{}[{i}]", (self.path)());
            let item = seq.next_element_seed(ItemSeed::<T> {
                cx: &mut *self.cx,
                path: &path,
                item: PhantomData,
            })?;
            match item {
                None => break,
                Some(Some(v)) => out.push(v),
                Some(None) => {}
            }
            i += 1;
        }
        if i == 0 && !self.empty_ok {
            self.cx.violation(
                (self.path)(),
                "must not be an empty list; omit the property instead",
            );
        }
        Ok(Ok(out))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err(Bad::Null))
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err(Bad::Null))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(self.not_a_list())
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(self.not_a_list())
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(self.not_a_list())
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(self.not_a_list())
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(self.not_a_list())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(self.not_a_list())
    }
}

/// One entry of a list: `None` when it is not valid (and reported).
struct ItemSeed<'a, T> {
    cx: &'a mut Cx,
    path: &'a dyn Fn() -> String,
    item: PhantomData<T>,
}

impl<'de, T: ReadValue> DeserializeSeed<'de> for ItemSeed<'_, T> {
    type Value = Option<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        Ok(match T::read(d, self.cx, self.path)? {
            Ok(v) => Some(v),
            Err(Bad::Null) => {
                self.cx.violation(
                    (self.path)(),
                    format!("invalid type: null, expected {}", T::EXPECTED),
                );
                None
            }
            Err(Bad::Reported) => None,
        })
    }
}
