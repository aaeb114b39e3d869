//! The embedded types that lists hold: external references, kill-chain phases, granular
//! markings. Each is read field by field, like an object, and every problem is reported at its
//! path (`external_references[1].url`).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::Deserialize as _;
use serde_json::Value;

use super::scalar::read_list;
use super::{ids, invalid_type, Bad, Cx, Key, KeySeed, Read, ReadValue};
use crate::{ExternalReference, GranularMarking, Identifier, KillChainPhase};

/// The fields of one embedded value, read one at a time.
trait Fields: Default {
    type Output;
    const EXPECTED: &'static str;
    fn read<'de, D: Deserializer<'de>>(
        &mut self,
        key: Key,
        d: D,
        cx: &mut Cx,
        path: &dyn Fn() -> String,
    ) -> Result<(), D::Error>;
    fn finish(self, cx: &mut Cx, path: &dyn Fn() -> String) -> Read<Self::Output>;
}

/// A field of an embedded value: `None` when it is not valid (reported, `null` too, and
/// `bad` set).
fn field<'de, T: ReadValue, D: Deserializer<'de>>(
    d: D,
    cx: &mut Cx,
    path: &dyn Fn() -> String,
    key: &str,
    bad: &mut bool,
) -> Result<Option<T>, D::Error> {
    let at = || format!("{}.{key}", path());
    Ok(match T::read(d, cx, &at)? {
        Ok(v) => Some(v),
        Err(e) => {
            if let Bad::Null = e {
                cx.violation(at(), "must not be null; omit the property instead");
            }
            *bad = true;
            None
        }
    })
}

/// A field given twice counts with its last value; its earlier problems stay reported.
fn set<T>(slot: &mut Option<T>, v: Option<T>) {
    if v.is_some() {
        *slot = v;
    }
}

fn read_fields<'de, F: Fields, D: Deserializer<'de>>(
    d: D,
    cx: &mut Cx,
    path: &dyn Fn() -> String,
) -> Result<Read<F::Output>, D::Error> {
    d.deserialize_any(FieldsVisitor::<F> {
        cx,
        path,
        fields: F::default(),
    })
}

struct FieldsVisitor<'a, F> {
    cx: &'a mut Cx,
    path: &'a dyn Fn() -> String,
    fields: F,
}

impl<F: Fields> FieldsVisitor<'_, F> {
    fn refuse(self, what: Unexpected<'_>) -> Read<F::Output> {
        self.cx
            .violation((self.path)(), invalid_type(what, F::EXPECTED));
        Err(Bad::Reported)
    }
}

impl<'de, F: Fields> Visitor<'de> for FieldsVisitor<'_, F> {
    type Value = Read<F::Output>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(F::EXPECTED)
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            map.next_value_seed(FieldSeed {
                key,
                fields: &mut self.fields,
                cx: &mut *self.cx,
                path: self.path,
            })?;
        }
        Ok(self.fields.finish(self.cx, self.path))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err(Bad::Null))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.refuse(Unexpected::Str(v)))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(self.refuse(Unexpected::Signed(v)))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self.refuse(Unexpected::Unsigned(v)))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(self.refuse(Unexpected::Float(v)))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(self.refuse(Unexpected::Bool(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.refuse(Unexpected::Seq))
    }
}

struct FieldSeed<'a, F> {
    key: Key,
    fields: &'a mut F,
    cx: &'a mut Cx,
    path: &'a dyn Fn() -> String,
}

impl<'de, F: Fields> serde::de::DeserializeSeed<'de> for FieldSeed<'_, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.fields.read(self.key, d, self.cx, self.path)
    }
}

/// Implements `ReadValue` for an embedded type through its `Fields`.
macro_rules! embedded {
    ($t:ty, $fields:ty) => {
        impl ReadValue for $t {
            const EXPECTED: &'static str = <$fields as Fields>::EXPECTED;
            fn read<'de, D: Deserializer<'de>>(
                d: D,
                cx: &mut Cx,
                path: &dyn Fn() -> String,
            ) -> Result<Read<Self>, D::Error> {
                read_fields::<$fields, D>(d, cx, path)
            }
        }
    };
}

embedded!(ExternalReference, ExternalReferenceFields);
embedded!(KillChainPhase, KillChainPhaseFields);
embedded!(GranularMarking, GranularMarkingFields);

fn missing(cx: &mut Cx, path: &dyn Fn() -> String, name: &str) {
    cx.violation(path(), format!("missing field `{name}`"));
}

#[derive(Default)]
struct ExternalReferenceFields {
    bad: bool,
    source_name: Option<String>,
    description: Option<String>,
    url: Option<String>,
    hashes: Option<BTreeMap<String, String>>,
    external_id: Option<String>,
    custom: BTreeMap<String, Value>,
}

impl Fields for ExternalReferenceFields {
    type Output = ExternalReference;
    const EXPECTED: &'static str = "an external reference object";

    fn read<'de, D: Deserializer<'de>>(
        &mut self,
        key: Key,
        d: D,
        cx: &mut Cx,
        path: &dyn Fn() -> String,
    ) -> Result<(), D::Error> {
        let bad = &mut self.bad;
        match key.known() {
            Some(ids::SOURCE_NAME) => set(
                &mut self.source_name,
                field(d, cx, path, "source_name", bad)?,
            ),
            Some(ids::DESCRIPTION) => set(
                &mut self.description,
                field(d, cx, path, "description", bad)?,
            ),
            Some(ids::URL) => set(&mut self.url, field(d, cx, path, "url", bad)?),
            Some(ids::EXTERNAL_ID) => set(
                &mut self.external_id,
                field(d, cx, path, "external_id", bad)?,
            ),
            Some(ids::HASHES) => match Value::deserialize(d)? {
                Value::Null => {
                    cx.violation(
                        format!("{}.hashes", path()),
                        "must not be null; omit the property instead",
                    );
                    *bad = true;
                }
                v => match serde_json::from_value(v) {
                    Ok(h) => self.hashes = Some(h),
                    Err(e) => {
                        cx.violation(format!("{}.hashes", path()), e.to_string());
                        *bad = true;
                    }
                },
            },
            _ => {
                let v = Value::deserialize(d)?;
                self.custom.insert(key.into_string(), v);
            }
        }
        Ok(())
    }

    fn finish(self, cx: &mut Cx, path: &dyn Fn() -> String) -> Read<ExternalReference> {
        let Some(source_name) = self.source_name else {
            if !self.bad {
                missing(cx, path, "source_name");
            }
            return Err(Bad::Reported);
        };
        if self.bad {
            return Err(Bad::Reported);
        }
        Ok(ExternalReference {
            source_name,
            description: self.description,
            url: self.url,
            hashes: self.hashes,
            external_id: self.external_id,
            custom: self.custom,
        })
    }
}

#[derive(Default)]
struct KillChainPhaseFields {
    bad: bool,
    kill_chain_name: Option<String>,
    phase_name: Option<String>,
}

impl Fields for KillChainPhaseFields {
    type Output = KillChainPhase;
    const EXPECTED: &'static str = "a kill chain phase object";

    fn read<'de, D: Deserializer<'de>>(
        &mut self,
        key: Key,
        d: D,
        cx: &mut Cx,
        path: &dyn Fn() -> String,
    ) -> Result<(), D::Error> {
        let bad = &mut self.bad;
        match key.known() {
            Some(ids::KILL_CHAIN_NAME) => set(
                &mut self.kill_chain_name,
                field(d, cx, path, "kill_chain_name", bad)?,
            ),
            Some(ids::PHASE_NAME) => {
                set(&mut self.phase_name, field(d, cx, path, "phase_name", bad)?)
            }
            // Other fields are not part of a kill chain phase and are not kept.
            _ => {
                IgnoredAny::deserialize(d)?;
            }
        }
        Ok(())
    }

    fn finish(self, cx: &mut Cx, path: &dyn Fn() -> String) -> Read<KillChainPhase> {
        if self.bad {
            return Err(Bad::Reported);
        }
        match (self.kill_chain_name, self.phase_name) {
            (Some(kill_chain_name), Some(phase_name)) => Ok(KillChainPhase {
                kill_chain_name,
                phase_name,
            }),
            (None, _) => {
                missing(cx, path, "kill_chain_name");
                Err(Bad::Reported)
            }
            (Some(_), None) => {
                missing(cx, path, "phase_name");
                Err(Bad::Reported)
            }
        }
    }
}

#[derive(Default)]
struct GranularMarkingFields {
    bad: bool,
    lang: Option<String>,
    marking_ref: Option<Identifier>,
    selectors: Option<Vec<String>>,
}

impl Fields for GranularMarkingFields {
    type Output = GranularMarking;
    const EXPECTED: &'static str = "a granular marking object";

    fn read<'de, D: Deserializer<'de>>(
        &mut self,
        key: Key,
        d: D,
        cx: &mut Cx,
        path: &dyn Fn() -> String,
    ) -> Result<(), D::Error> {
        let bad = &mut self.bad;
        match key.known() {
            Some(ids::LANG) => set(&mut self.lang, field(d, cx, path, "lang", bad)?),
            Some(ids::MARKING_REF) => set(
                &mut self.marking_ref,
                field(d, cx, path, "marking_ref", bad)?,
            ),
            Some(ids::SELECTORS) => {
                // An empty list is reported by the granular-marking rule.
                let at = || format!("{}.selectors", path());
                match read_list::<String, D>(d, cx, &at, true)? {
                    Ok(v) => self.selectors = Some(v),
                    Err(Bad::Null) => {
                        cx.violation(at(), "must not be null; omit the property instead");
                        *bad = true;
                    }
                    Err(Bad::Reported) => *bad = true,
                }
            }
            _ => {
                IgnoredAny::deserialize(d)?;
            }
        }
        Ok(())
    }

    fn finish(self, cx: &mut Cx, path: &dyn Fn() -> String) -> Read<GranularMarking> {
        let Some(selectors) = self.selectors else {
            if !self.bad {
                missing(cx, path, "selectors");
            }
            return Err(Bad::Reported);
        };
        if self.bad {
            return Err(Bad::Reported);
        }
        Ok(GranularMarking {
            lang: self.lang,
            marking_ref: self.marking_ref,
            selectors,
        })
    }
}
