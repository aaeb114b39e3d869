//! The fast check of the commonest object of a bundle, a relationship with the usual
//! properties: checked and its skeleton read in one pass over the borrowed text, without
//! building the typed object. It vouches for an object only when every rule the full reader
//! applies to it holds; anything it does not know for sure (another property, a key given
//! twice, an escaped string, a value of another shape, a rule broken) makes it give up, and
//! the object is read by the reader of [`super::json`], whose verdict and violations count.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::plan::{Entry, RefValue, Skeleton, Str};
use super::skeleton::Spans;
use crate::id::type_part;
use crate::read::{ids, known};
use crate::Timestamp;

/// The skeleton of `text` when it is a relationship the fast check vouches for: one the full
/// reader accepts, with the skeleton [`super::skeleton::SkeletonWatch`] reads. `None` says
/// nothing about the object.
pub(super) fn relationship(text: &str) -> Option<Skeleton> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut sk = de
        .deserialize_map(Relationship { spans: Spans(text) })
        .ok()?;
    de.end().ok()?;
    // `nb_deps` goes right after the `{`: a text with space in front is written again.
    sk.rewrite |= !text.starts_with('{');
    Some(sk)
}

/// The properties the fast check knows, each a bit of the set of those seen.
const TYPE: u16 = 1;
const SPEC_VERSION: u16 = 1 << 1;
const ID: u16 = 1 << 2;
const CREATED_BY_REF: u16 = 1 << 3;
const CREATED: u16 = 1 << 4;
const MODIFIED: u16 = 1 << 5;
const OBJECT_MARKING_REFS: u16 = 1 << 6;
const RELATIONSHIP_TYPE: u16 = 1 << 7;
const SOURCE_REF: u16 = 1 << 8;
const TARGET_REF: u16 = 1 << 9;
const DESCRIPTION: u16 = 1 << 10;
const CONFIDENCE: u16 = 1 << 11;
/// What a relationship must have.
const REQUIRED: u16 =
    TYPE | SPEC_VERSION | ID | CREATED | MODIFIED | RELATIONSHIP_TYPE | SOURCE_REF | TARGET_REF;

struct Relationship<'t> {
    spans: Spans<'t>,
}

/// Gives up (the object goes to the full reader).
fn give_up<E: de::Error>() -> E {
    E::custom("not for the fast check")
}

/// A timestamp as the full reader wants it: valid, at least millisecond precision.
fn timestamp<E: de::Error>(s: &str) -> Result<Timestamp, E> {
    match Timestamp::parse(s) {
        Ok(t) if t.fraction_digits() >= 3 => Ok(t),
        _ => Err(give_up()),
    }
}

/// The type part of a valid id, which must be `want` (or, with `want` empty, anything a
/// relationship may join).
fn id_of_type<'a, E: de::Error>(s: &'a str, want: &str) -> Result<&'a str, E> {
    match type_part(s) {
        Some(t) if t == want => Ok(t),
        Some(t) if want.is_empty() && !crate::sdo::NOT_ENDPOINTS.contains(&t) => Ok(t),
        _ => Err(give_up()),
    }
}

impl<'de> Visitor<'de> for Relationship<'de> {
    type Value = Skeleton;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a relationship")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skeleton, A::Error> {
        let spans = self.spans;
        let mut sk = Skeleton::default();
        let mut refs: Vec<(Str, RefValue)> = Vec::with_capacity(4);
        let mut seen = 0u16;
        let (mut created, mut modified) = (None, None);
        let (mut rel, mut source, mut target) = ("", "", "");
        while let Some(key) = map.next_key::<&'de str>()? {
            let bit = match key {
                "type" => TYPE,
                "spec_version" => SPEC_VERSION,
                "id" => ID,
                "created_by_ref" => CREATED_BY_REF,
                "created" => CREATED,
                "modified" => MODIFIED,
                "object_marking_refs" => OBJECT_MARKING_REFS,
                "relationship_type" => RELATIONSHIP_TYPE,
                "source_ref" => SOURCE_REF,
                "target_ref" => TARGET_REF,
                "description" => DESCRIPTION,
                "confidence" => CONFIDENCE,
                _ => return Err(give_up()),
            };
            if seen & bit != 0 {
                return Err(give_up());
            }
            seen |= bit;
            if bit == DESCRIPTION {
                map.next_value_seed(AnyString)?;
                continue;
            }
            if bit == CONFIDENCE {
                // An integer from 0 to 100 (serde_json gives any other number another shape).
                if map.next_value::<u64>()? > 100 {
                    return Err(give_up());
                }
                continue;
            }
            if bit == OBJECT_MARKING_REFS {
                let list = map.next_value_seed(MarkingRefs(spans))?;
                refs.push((Str::Known(ids::OBJECT_MARKING_REFS), RefValue::List(list)));
                continue;
            }
            let s: &'de str = map.next_value()?;
            match bit {
                TYPE if s == "relationship" => sk.ty = Some(spans.of(s)),
                SPEC_VERSION if s == "2.1" => {}
                ID => {
                    id_of_type(s, "relationship")?;
                    sk.id = Some(spans.of(s));
                }
                CREATED => created = Some(timestamp(s)?),
                MODIFIED => modified = Some(timestamp(s)?),
                RELATIONSHIP_TYPE
                    if !s.is_empty()
                        && s.bytes()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') =>
                {
                    rel = s;
                }
                CREATED_BY_REF | SOURCE_REF | TARGET_REF => {
                    let want = if bit == CREATED_BY_REF {
                        "identity"
                    } else {
                        ""
                    };
                    let t = id_of_type(s, want)?;
                    let name = match bit {
                        SOURCE_REF => {
                            source = t;
                            const { known("source_ref") }
                        }
                        TARGET_REF => {
                            target = t;
                            const { known("target_ref") }
                        }
                        _ => ids::CREATED_BY_REF,
                    };
                    refs.push((Str::Known(name), RefValue::One(spans.of(s))));
                }
                _ => return Err(give_up()),
            }
        }
        let in_order = matches!((created, modified), (Some(c), Some(m)) if m >= c);
        if seen & REQUIRED != REQUIRED
            || !in_order
            || crate::relationship_rules::check_pair(rel, source, target).is_some()
        {
            return Err(give_up());
        }
        // Sorted by property name, as the full read sorts them.
        refs.sort_by(|a, b| a.0.get(spans.0).cmp(b.0.get(spans.0)));
        sk.refs = refs.into_boxed_slice();
        Ok(sk)
    }
}

/// Any JSON string (a `description`), consumed.
struct AnyString;

impl<'de> DeserializeSeed<'de> for AnyString {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for AnyString {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}

/// `object_marking_refs`: a non-empty list of marking-definition ids, as spans.
struct MarkingRefs<'t>(Spans<'t>);

impl<'de> DeserializeSeed<'de> for MarkingRefs<'de> {
    type Value = Box<[Entry]>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for MarkingRefs<'de> {
    type Value = Box<[Entry]>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of marking-definition ids")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(1));
        while let Some(s) = seq.next_element::<&'de str>()? {
            id_of_type(s, "marking-definition")?;
            out.push(Ok(self.0.of(s)));
        }
        if out.is_empty() {
            return Err(give_up());
        }
        Ok(out.into_boxed_slice())
    }
}
