//! Reading what the split needs of an object (its skeleton: id, type, aliases, references)
//! from its JSON text, as spans of the text: on its own ([`skeleton_of_text`]), or while the
//! object is checked ([`SkeletonWatch`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::plan::{Entry, RefValue, Skeleton, Str};
use super::values::{dedupe_external_references, dedupe_kill_chain_phases};
use super::{is_ref_key, OPENCTI_EXTENSION};
use crate::object::Watch;
use crate::read::Key;
use crate::{ExternalReference, KillChainPhase, StixObject};

/// Reads the skeleton of an object from its JSON text.
pub(super) fn skeleton_of_text(text: &str) -> Result<Skeleton, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut sk = de.deserialize_map(SkeletonVisitor(Spans(text)))?;
    de.end()?;
    // `nb_deps` goes right after the `{`: a text with space in front is written again.
    sk.rewrite |= !text.starts_with('{');
    Ok(sk)
}

/// Turns strings read from the text into spans of it (owned when serde had to unescape them).
#[derive(Clone, Copy)]
pub(super) struct Spans<'t>(pub(super) &'t str);

impl Spans<'_> {
    pub(super) fn of(self, s: &str) -> Str {
        let base = self.0.as_ptr() as usize;
        let at = s.as_ptr() as usize;
        match (at.checked_sub(base), u32::try_from(self.0.len())) {
            (Some(a), Ok(len)) if a + s.len() <= len as usize => {
                Str::Span(a as u32, (a + s.len()) as u32)
            }
            _ => Str::owned(s),
        }
    }
}

/// The top-level property names the split reads.
enum Prop {
    Id,
    Type,
    OpenCtiId,
    Extensions,
    NbDeps,
    Dedupe(fn(&mut Value) -> bool),
    Ref,
    Other,
}

impl Prop {
    fn of(name: &str) -> Self {
        match name {
            "id" => Prop::Id,
            "type" => Prop::Type,
            "x_opencti_id" => Prop::OpenCtiId,
            "extensions" => Prop::Extensions,
            "nb_deps" => Prop::NbDeps,
            "external_references" => Prop::Dedupe(dedupe_external_references),
            "kill_chain_phases" => Prop::Dedupe(dedupe_kill_chain_phases),
            n if is_ref_key(n) => Prop::Ref,
            _ => Prop::Other,
        }
    }
}

/// The skeleton of an object read while the object is checked (in the same pass): the
/// properties the split reads are seen as JSON text, slices of the object's text.
pub(super) struct SkeletonWatch<'t> {
    spans: Spans<'t>,
    sk: Skeleton,
    refs: Vec<(Str, RefValue)>,
    opencti_id: Option<Str>,
    extension_id: Option<Str>,
    lean: bool,
}

impl<'t> SkeletonWatch<'t> {
    /// A watch for a lean read (see [`Watch::lean`]), or, with `lean` false, a full one.
    pub(super) fn new(text: &'t str, lean: bool) -> Self {
        Self {
            spans: Spans(text),
            sk: Skeleton::default(),
            refs: Vec::new(),
            opencti_id: None,
            extension_id: None,
            lean,
        }
    }

    /// The skeleton of the object read, which is `object`.
    pub(super) fn finish(self, object: &StixObject) -> Skeleton {
        let Self {
            spans,
            mut sk,
            mut refs,
            opencti_id,
            extension_id,
            ..
        } = self;
        sk.aliases = opencti_id.into_iter().chain(extension_id).collect();
        refs.sort_by(|a, b| a.0.get(spans.0).cmp(b.0.get(spans.0)));
        sk.refs = refs.into_boxed_slice();
        let (external_references, phases, custom) = object.dedupe_parts();
        sk.rewrite |= dedupe_would_change(external_references, phases, custom);
        // `nb_deps` goes right after the `{`: a text with space in front is written again.
        sk.rewrite |= !spans.0.starts_with('{');
        sk
    }
}

impl<'t> Watch<'t> for SkeletonWatch<'t> {
    fn lean(&self) -> bool {
        self.lean
    }

    fn wants(&self, key: &Key) -> bool {
        !matches!(Prop::of(key.as_str()), Prop::Dedupe(_) | Prop::Other)
    }

    fn see(&mut self, key: &Key, value: &'t str) {
        let spans = self.spans;
        // The usual case, a string without escapes, is a span without parsing.
        let string = |value: &'t str| match plain_string(value) {
            Some(s) => Some(spans.of(s)),
            None => StrAt::here(spans)
                .deserialize(&mut serde_json::Deserializer::from_str(value))
                .ok()
                .flatten(),
        };
        let mut de = serde_json::Deserializer::from_str(value);
        match Prop::of(key.as_str()) {
            Prop::Id => self.sk.id = string(value),
            Prop::Type => self.sk.ty = string(value),
            Prop::OpenCtiId => self.opencti_id = string(value),
            Prop::Extensions => {
                self.extension_id = StrAt {
                    spans,
                    path: &[OPENCTI_EXTENSION, "id"],
                }
                .deserialize(&mut de)
                .ok()
                .flatten();
            }
            Prop::NbDeps => self.sk.rewrite = true,
            Prop::Ref => {
                let value = match plain_refs(value) {
                    Some(value) => value.map_str(|s| spans.of(s)),
                    None => match RefSeed(spans).deserialize(&mut de) {
                        Ok(value) => value,
                        Err(_) => return,
                    },
                };
                let name = key.as_str();
                let key = match key.known() {
                    Some(i) => Str::Known(i),
                    None => Str::owned(name),
                };
                match self.refs.iter().position(|(k, _)| k.get(spans.0) == name) {
                    // Given twice: the last counts, as for a JSON value.
                    Some(p) => {
                        self.refs[p] = (key, value);
                        self.sk.rewrite = true;
                    }
                    None => self.refs.push((key, value)),
                }
            }
            Prop::Dedupe(_) | Prop::Other => {}
        }
    }
}

/// The content of a JSON string without escapes (`"abc"` → `abc`).
fn plain_string(json: &str) -> Option<&str> {
    let b = json.as_bytes();
    let n = b.len();
    let plain = n >= 2
        && b[0] == b'"'
        && b[n - 1] == b'"'
        && memchr::memchr2(b'"', b'\\', &b[1..n - 1]).is_none();
    plain.then(|| json.get(1..n - 1)).flatten()
}

/// A reference value made only of strings without escapes, read without parsing: one
/// string, or a list of them.
fn plain_refs(json: &str) -> Option<Refs<'_>> {
    let b = json.as_bytes();
    if b.first() != Some(&b'[') {
        return plain_string(json).map(Refs::One);
    }
    // `[`, then strings separated by commas, whitespace around each, then `]`.
    let mut out = Vec::new();
    let mut i = 1;
    let ws = |i: &mut usize| {
        while b
            .get(*i)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            *i += 1;
        }
    };
    ws(&mut i);
    if b.get(i) == Some(&b']') {
        return (i + 1 == b.len()).then_some(Refs::List(out));
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let start = i + 1;
        let len = memchr::memchr2(b'"', b'\\', &b[start..])?;
        if b[start + len] != b'"' {
            return None;
        }
        out.push(json.get(start..start + len)?);
        i = start + len + 1;
        ws(&mut i);
        match b.get(i) {
            Some(b',') => {
                i += 1;
                ws(&mut i);
            }
            Some(b']') if i + 1 == b.len() => return Some(Refs::List(out)),
            _ => return None,
        }
    }
}

/// What [`plain_refs`] finds.
enum Refs<'t> {
    One(&'t str),
    List(Vec<&'t str>),
}

impl<'t> Refs<'t> {
    fn map_str(self, mut f: impl FnMut(&'t str) -> Str) -> RefValue {
        match self {
            Refs::One(s) => RefValue::One(f(s)),
            Refs::List(items) => RefValue::List(items.into_iter().map(|s| Ok(f(s))).collect()),
        }
    }
}

/// Whether the split's de-duplication changes these external references, kill-chain phases
/// or custom properties (rule 4).
fn dedupe_would_change(
    external_references: &[ExternalReference],
    phases: &[KillChainPhase],
    custom: &BTreeMap<String, Value>,
) -> bool {
    let mut seen = BTreeSet::new();
    for r in external_references {
        let key = match (&r.url, &r.external_id) {
            (Some(url), _) => (url.as_str(), ""),
            (None, Some(id)) => (r.source_name.as_str(), id.as_str()),
            (None, None) => return true,
        };
        if !seen.insert((r.url.is_some(), key)) {
            return true;
        }
    }
    let mut seen = BTreeSet::new();
    if phases
        .iter()
        .any(|p| !seen.insert((&p.kill_chain_name, &p.phase_name)))
    {
        return true;
    }
    [
        (
            "external_references",
            dedupe_external_references as fn(&mut Value) -> bool,
        ),
        ("kill_chain_phases", dedupe_kill_chain_phases),
    ]
    .into_iter()
    .any(|(name, dedupe)| custom.get(name).is_some_and(|v| dedupe(&mut v.clone())))
}

struct SkeletonVisitor<'t>(Spans<'t>);

impl<'de> Visitor<'de> for SkeletonVisitor<'_> {
    type Value = Skeleton;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skeleton, A::Error> {
        let spans = self.0;
        let text = spans.0;
        let mut sk = Skeleton::default();
        let mut refs: Vec<(Str, RefValue)> = Vec::new();
        // Given twice, a property counts once, with its last value, as in a JSON value.
        let (mut opencti_id, mut extension_id) = (None, None);
        while let Some(key) = map.next_key_seed(StrSeed(spans))? {
            match Prop::of(key.get(text)) {
                Prop::Id => sk.id = map.next_value_seed(StrAt::here(spans))?,
                Prop::Type => sk.ty = map.next_value_seed(StrAt::here(spans))?,
                Prop::OpenCtiId => opencti_id = map.next_value_seed(StrAt::here(spans))?,
                Prop::Extensions => {
                    extension_id = map.next_value_seed(StrAt {
                        spans,
                        path: &[OPENCTI_EXTENSION, "id"],
                    })?;
                }
                Prop::NbDeps => {
                    sk.rewrite = true;
                    map.next_value::<IgnoredAny>()?;
                }
                Prop::Dedupe(dedupe) => {
                    let mut v: Value = map.next_value()?;
                    sk.rewrite |= dedupe(&mut v);
                }
                Prop::Ref => {
                    let value = map.next_value_seed(RefSeed(spans))?;
                    let name = key.get(text);
                    match refs.iter().position(|(k, _)| k.get(text) == name) {
                        // Given twice: the last counts, as for a JSON value.
                        Some(p) => {
                            refs[p] = (key, value);
                            sk.rewrite = true;
                        }
                        None => refs.push((key, value)),
                    }
                }
                Prop::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        sk.aliases = opencti_id.into_iter().chain(extension_id).collect();
        refs.sort_by(|a, b| a.0.get(text).cmp(b.0.get(text)));
        sk.refs = refs.into_boxed_slice();
        Ok(sk)
    }
}

/// A string.
struct StrSeed<'t>(Spans<'t>);

impl<'de> DeserializeSeed<'de> for StrSeed<'_> {
    type Value = Str;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Str, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for StrSeed<'_> {
    type Value = Str;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Str, E> {
        Ok(self.0.of(v))
    }
}

/// The string at `path` inside any value (the value itself for an empty path), if there is
/// one there.
struct StrAt<'t> {
    spans: Spans<'t>,
    path: &'static [&'static str],
}

impl<'t> StrAt<'t> {
    const NOT: Option<Str> = None;

    /// The value itself, if it is a string.
    fn here(spans: Spans<'t>) -> Self {
        Self { spans, path: &[] }
    }
}

impl<'de> DeserializeSeed<'de> for StrAt<'_> {
    type Value = Option<Str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Str>, D::Error> {
        d.deserialize_any(self)
    }
}

/// Visits any value; what is not a string is skipped as `Self::NOT`.
macro_rules! skip_non_strings {
    ($t:ty) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<$t, E> {
            Ok(Self::NOT)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<$t, E> {
            Ok(Self::NOT)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<$t, E> {
            Ok(Self::NOT)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<$t, E> {
            Ok(Self::NOT)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<$t, E> {
            Ok(Self::NOT)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<$t, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Self::NOT)
        }
    };
}

impl<'de> Visitor<'de> for StrAt<'_> {
    type Value = Option<Str>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Option<Str>, E> {
        Ok(self.path.is_empty().then(|| self.spans.of(v)))
    }
    skip_non_strings!(Option<Str>);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Str>, A::Error> {
        let text = self.spans.0;
        let mut found = None;
        while let Some(key) = map.next_key_seed(StrSeed(self.spans))? {
            match self.path.split_first() {
                Some((first, rest)) if key.get(text) == *first => {
                    found = map.next_value_seed(StrAt {
                        spans: self.spans,
                        path: rest,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

/// A `*_ref`/`*_refs` value.
struct RefSeed<'t>(Spans<'t>);

impl<'de> DeserializeSeed<'de> for RefSeed<'_> {
    type Value = RefValue;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RefValue, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RefSeed<'_> {
    type Value = RefValue;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RefValue, E> {
        Ok(RefValue::One(self.0.of(v)))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<RefValue, E> {
        Ok(RefValue::Other)
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<RefValue, E> {
        Ok(RefValue::Other)
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<RefValue, E> {
        Ok(RefValue::Other)
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<RefValue, E> {
        Ok(RefValue::Other)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<RefValue, E> {
        Ok(RefValue::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RefValue, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(RefValue::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RefValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(e) = seq.next_element_seed(EntrySeed(self.0))? {
            entries.push(e);
        }
        Ok(RefValue::List(entries.into_boxed_slice()))
    }
}

/// An entry of a `*_refs` list: an id string, or the JSON of anything else.
struct EntrySeed<'t>(Spans<'t>);

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = Entry;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Entry, D::Error> {
        d.deserialize_any(self)
    }
}

fn json_of(v: Value) -> Entry {
    Err(Box::new(v.to_string()))
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = Entry;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Entry, E> {
        Ok(Ok(self.0.of(v)))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Entry, E> {
        Ok(json_of(Value::from(v)))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Entry, E> {
        Ok(json_of(Value::from(v)))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Entry, E> {
        Ok(json_of(Value::from(v)))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Entry, E> {
        Ok(json_of(Value::from(v)))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Entry, E> {
        Ok(json_of(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Entry, A::Error> {
        Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq)).map(json_of)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entry, A::Error> {
        Value::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(json_of)
    }
}
