//! [`StixObject`]: every object a bundle can hold, dispatched on `type`.

use std::collections::BTreeMap;

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::common::check_precision;
use crate::read::{
    check_custom, ids, read_custom, Cx, Key, KeySeed, PropSeed, Properties, RESERVED,
};
use crate::sdo::{custom_refs, MarkingProps, TypeRules, Typed};
use crate::write::{WriteJson, Written};
use crate::{
    AttackPattern, Campaign, Channel, Error, ExtensionDefinition, ExternalReference, Identifier,
    Identity, Incident, IntrusionSet, KillChainPhase, Location, MarkingDefinition, Narrative, Note,
    Relationship, Report, Sighting, ThreatActor, Timestamp, Violation,
};

/// An object of a type this library does not model (a custom `x-…` type, an SCO, DISARM's
/// `x-mitre-tactic`), kept whole so that a round trip loses nothing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct CustomObject(BTreeMap<String, Value>);

impl CustomObject {
    /// The object's `type`.
    pub fn object_type(&self) -> &str {
        self.0
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    /// The object's `id`.
    pub fn id(&self) -> &str {
        self.0.get("id").and_then(Value::as_str).unwrap_or_default()
    }
    /// A property.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
    /// All properties.
    pub fn properties(&self) -> &BTreeMap<String, Value> {
        &self.0
    }
    /// Builds a custom object from its properties; fails with every violation when they
    /// are not a valid STIX object (`type`, `id`, …).
    pub fn new(properties: BTreeMap<String, Value>) -> Result<Self, Error> {
        let map: Map<String, Value> = properties.into_iter().collect();
        match StixObject::from_map(map) {
            Ok(StixObject::Custom(c)) => Ok(c),
            Ok(other) => Err(Error::InvalidValue {
                what: "custom object type",
                value: other.object_type().to_owned(),
                reason: "is a type this library models; use its typed struct".into(),
            }),
            Err(v) => Err(Error::Invalid(v)),
        }
    }
}

/// The properties of an object of a type this library does not model, kept as JSON.
#[derive(Debug, Default)]
pub(crate) struct CustomProps(BTreeMap<String, Value>);

impl Properties for CustomProps {
    fn read<'de, D: Deserializer<'de>>(
        &mut self,
        key: Key,
        d: D,
        _: &mut Cx,
    ) -> Result<(), D::Error> {
        read_custom(&mut self.0, key, d)
    }
}

impl CustomProps {
    /// The object, with the rules every object follows checked: type name, id, timestamps,
    /// property names, no nulls or empty lists.
    fn finish(self, ty: String, cx: &mut Cx) -> CustomObject {
        if !crate::is_type_name(&ty) {
            cx.violation("type", format!("{ty:?} is not a valid STIX type name"));
        }
        if ty == "action" {
            cx.violation("type", "\"action\" is a reserved type name");
        }
        match self.0.get("id") {
            Some(Value::String(s)) => match Identifier::parse(s.as_str()) {
                Ok(id) if id.object_type() != ty => cx.violation(
                    "id",
                    format!(
                        "type part {:?} does not match type {ty:?}",
                        id.object_type()
                    ),
                ),
                Ok(_) => {}
                Err(e) => cx.violation("id", e.to_string()),
            },
            Some(_) => cx.violation("id", "expected a string"),
            None => cx.violation("id", "required property is missing"),
        }
        let mut times = Vec::new();
        for key in ["created", "modified"] {
            if let Some(v) = self.0.get(key) {
                match v.as_str().map(Timestamp::parse) {
                    Some(Ok(t)) => {
                        check_precision(cx, key, &t);
                        times.push(t);
                    }
                    Some(Err(e)) => cx.violation(key, e.to_string()),
                    None => cx.violation(key, "expected a timestamp string"),
                }
            }
        }
        if let [c, m] = times[..] {
            if m < c {
                cx.violation("modified", "must not be earlier than created");
            }
        }
        check_custom(&self.0, cx);
        let mut all = self.0;
        all.insert("type".into(), Value::String(ty));
        CustomObject(all)
    }
}

macro_rules! objects {
    ($($(#[$m:meta])* $var:ident($t:ty),)*) => {
        /// Any STIX object: the typed ones this library models, or a [`CustomObject`].
        ///
        /// Deserializing dispatches on `type` by hand: a known type with a bad property is an
        /// error naming the object id and the property path (never silently a custom object);
        /// an unknown type is kept whole.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum StixObject {
            $($(#[$m])* $var($t),)*
            /// A marking-definition.
            MarkingDefinition(MarkingDefinition),
            /// Any other type, kept whole.
            Custom(CustomObject),
        }

        impl StixObject {
            /// The object's `type`.
            pub fn object_type(&self) -> &str {
                match self {
                    $(Self::$var(_) => <$t>::TYPE,)*
                    Self::MarkingDefinition(_) => MarkingDefinition::TYPE,
                    Self::Custom(c) => c.object_type(),
                }
            }

            /// The object's `id`.
            pub fn id(&self) -> &str {
                match self {
                    $(Self::$var(o) => o.common.id.as_str(),)*
                    Self::MarkingDefinition(o) => o.id.as_str(),
                    Self::Custom(c) => c.id(),
                }
            }

            /// The external references, kill-chain phases and custom properties of the object
            /// (what OpenCTI's split de-duplicates, wherever this crate keeps them).
            pub(crate) fn dedupe_parts(
                &self,
            ) -> (&[ExternalReference], &[KillChainPhase], &BTreeMap<String, Value>) {
                match self {
                    $(Self::$var(o) => (&o.common.external_references, o.phases(), &o.custom),)*
                    Self::MarkingDefinition(o) => (&o.external_references, &[], &o.custom),
                    Self::Custom(c) => (&[], &[], &c.0),
                }
            }

            /// `modified` (`created` for a marking-definition), when the object has one.
            pub fn modified(&self) -> Option<Timestamp> {
                match self {
                    $(Self::$var(o) => Some(o.common.modified),)*
                    Self::MarkingDefinition(o) => Some(o.created),
                    Self::Custom(c) => c
                        .get("modified")
                        .or_else(|| c.get("created"))
                        .and_then(Value::as_str)
                        .and_then(|s| Timestamp::parse(s).ok()),
                }
            }

            /// Every reference the object holds, as (property, id) pairs: `created_by_ref`,
            /// markings, extension-definitions, relationship ends, `object_refs`, custom
            /// `*_ref(s)`.
            pub fn references(&self) -> Vec<(&'static str, &str)> {
                let mut out = Vec::new();
                self.collect_references(&mut out);
                out
            }

            /// Appends every reference the object holds to `out` (see [`Self::references`]).
            pub fn collect_references<'a>(&'a self, out: &mut Vec<(&'static str, &'a str)>) {
                let out = &mut *out;
                match self {
                    $(Self::$var(o) => o.refs(out),)*
                    Self::MarkingDefinition(o) => o.refs(out),
                    Self::Custom(c) => {
                        if let Some(r) = c.get("created_by_ref").and_then(Value::as_str) {
                            out.push(("created_by_ref", r));
                        }
                        custom_refs(c.properties(), out);
                        if let Some(Value::Object(e)) = c.get("extensions") {
                            for k in e.keys().filter(|k| k.starts_with("extension-definition--")) {
                                out.push(("extensions", k.as_str()));
                            }
                        }
                    }
                }
            }

            /// Reads an object from its JSON properties, reporting every violation.
            pub fn from_map(map: Map<String, Value>) -> Result<Self, Vec<Violation>> {
                match ObjectSeed.deserialize(Value::Object(map)) {
                    Ok(read) => read,
                    Err(e) => Err(vec![Violation::new(None, "", e.to_string())]),
                }
            }

            /// Compact JSON bytes: what `serde_json::to_vec` gives, written directly.
            pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
                let mut out = Vec::new();
                self.write_json(&mut out)?;
                Ok(out)
            }

            /// Appends the object's compact JSON to `out`.
            pub(crate) fn write_json(&self, out: &mut Vec<u8>) -> Written {
                match self {
                    $(Self::$var(o) => o.write_json(out),)*
                    Self::MarkingDefinition(o) => o.write_json(out),
                    Self::Custom(c) => c.0.write_json(out),
                }
            }

            /// Checks an object made in code: every violation of STIX 2.1 it has. The object is
            /// written as JSON and read back with the same rules as any input.
            pub fn validate(&self) -> Vec<Violation> {
                let mut json = Vec::new();
                let read = self.write_json(&mut json).and_then(|()| {
                    let mut de = serde_json::Deserializer::from_slice(&json);
                    ObjectSeed.deserialize(&mut de)
                });
                match read {
                    Ok(read) => read.err().unwrap_or_default(),
                    Err(e) => vec![Violation::new(Some(self.id()), "", e.to_string())],
                }
            }
        }

        /// The properties of an object being read, by type.
        #[allow(clippy::large_enum_variant)]
        enum AnyProps {
            $($var(<$t as Typed>::Props),)*
            MarkingDefinition(MarkingProps),
            Custom(CustomProps),
        }

        impl AnyProps {
            fn of_type(ty: &str) -> Self {
                match ty {
                    $(<$t>::TYPE => Self::$var(Default::default()),)*
                    MarkingDefinition::TYPE => Self::MarkingDefinition(MarkingProps::default()),
                    _ => Self::Custom(CustomProps::default()),
                }
            }

            /// The object, or every violation of it.
            fn finish(self, ty: String, mut cx: Cx) -> Result<StixObject, Vec<Violation>> {
                let object = match self {
                    $(Self::$var(p) => <$t>::finish(p, &mut cx).map(StixObject::$var),)*
                    Self::MarkingDefinition(p) => {
                        MarkingDefinition::finish(p, &mut cx).map(StixObject::MarkingDefinition)
                    }
                    Self::Custom(p) => Some(StixObject::Custom(p.finish(ty, &mut cx))),
                };
                match object {
                    Some(o) if cx.is_clean() => Ok(o),
                    Some(o) => {
                        let id = Some(o.id()).filter(|id| !id.is_empty());
                        Err(cx.into_violations(id))
                    }
                    None => {
                        let id = cx.id.take();
                        if cx.is_clean() {
                            Err(vec![Violation::new(id.as_deref(), "", "invalid object")])
                        } else {
                            Err(cx.into_violations(id.as_deref()))
                        }
                    }
                }
            }
        }

        impl Properties for AnyProps {
            fn read<'de, D: Deserializer<'de>>(
                &mut self,
                key: Key,
                d: D,
                cx: &mut Cx,
            ) -> Result<(), D::Error> {
                match self {
                    $(Self::$var(p) => p.read(key, d, cx),)*
                    Self::MarkingDefinition(p) => p.read(key, d, cx),
                    Self::Custom(p) => p.read(key, d, cx),
                }
            }
        }

        impl Serialize for StixObject {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $(Self::$var(o) => Tagged { ty: <$t>::TYPE, inner: o }.serialize(s),)*
                    Self::MarkingDefinition(o) => Tagged { ty: MarkingDefinition::TYPE, inner: o }.serialize(s),
                    Self::Custom(c) => c.serialize(s),
                }
            }
        }

        $(
            impl From<$t> for StixObject {
                fn from(o: $t) -> Self {
                    Self::$var(o)
                }
            }
        )*
    };
}

objects! {
    /// An attack-pattern.
    AttackPattern(AttackPattern),
    /// A campaign.
    Campaign(Campaign),
    /// An OpenCTI channel.
    Channel(Channel),
    /// An extension-definition.
    ExtensionDefinition(ExtensionDefinition),
    /// An identity.
    Identity(Identity),
    /// An incident.
    Incident(Incident),
    /// An intrusion-set.
    IntrusionSet(IntrusionSet),
    /// A location.
    Location(Location),
    /// An OpenCTI narrative.
    Narrative(Narrative),
    /// A note.
    Note(Note),
    /// A relationship.
    Relationship(Relationship),
    /// A report.
    Report(Report),
    /// A sighting.
    Sighting(Sighting),
    /// A threat-actor.
    ThreatActor(ThreatActor),
}

impl From<MarkingDefinition> for StixObject {
    fn from(o: MarkingDefinition) -> Self {
        Self::MarkingDefinition(o)
    }
}

impl From<CustomObject> for StixObject {
    fn from(o: CustomObject) -> Self {
        Self::Custom(o)
    }
}

#[derive(Serialize)]
struct Tagged<'a, T> {
    #[serde(rename = "type")]
    ty: &'static str,
    #[serde(flatten)]
    inner: &'a T,
}

impl<'de> Deserialize<'de> for StixObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ObjectSeed
            .deserialize(d)?
            .map_err(|v| de::Error::custom(Error::Invalid(v)))
    }
}

/// Reads one object from the input: the object, or every violation of it. Fails only on
/// malformed JSON or a value that is not a JSON object.
pub(crate) struct ObjectSeed;

impl<'de> DeserializeSeed<'de> for ObjectSeed {
    type Value = Result<StixObject, Vec<Violation>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(ObjectVisitor {
            watch: &mut Unwatched,
        })
    }
}

/// Sees some properties of an object, as JSON text, while the object is read from JSON text
/// (the split reads its skeleton this way, in the same pass as the check).
pub(crate) trait Watch<'de> {
    /// Whether the value of `key` is to be seen.
    fn wants(&self, key: &Key) -> bool;
    /// The JSON text of a wanted property's value, a slice of the input.
    fn see(&mut self, key: &Key, value: &'de str);
}

struct Unwatched;

impl Watch<'_> for Unwatched {
    fn wants(&self, _: &Key) -> bool {
        false
    }
    fn see(&mut self, _: &Key, _: &str) {}
}

/// [`ObjectSeed`] with a [`Watch`]. Only for a deserializer over JSON text (the values seen are
/// slices of it).
pub(crate) struct WatchedSeed<'w, W>(pub(crate) &'w mut W);

impl<'de, W: Watch<'de>> DeserializeSeed<'de> for WatchedSeed<'_, W> {
    type Value = Result<StixObject, Vec<Violation>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(ObjectVisitor { watch: self.0 })
    }
}

struct ObjectVisitor<'w, W> {
    watch: &'w mut W,
}

impl<'de, W: Watch<'de>> ObjectVisitor<'_, W> {
    /// The next value as JSON: seen by the watch first when it wants it.
    fn value<A: MapAccess<'de>>(&mut self, key: &Key, map: &mut A) -> Result<Value, A::Error> {
        if self.watch.wants(key) {
            let raw: &'de RawValue = map.next_value()?;
            self.watch.see(key, raw.get());
            serde_json::from_str(raw.get()).map_err(de::Error::custom)
        } else {
            map.next_value()
        }
    }
}

impl<'de, W: Watch<'de>> Visitor<'de> for ObjectVisitor<'_, W> {
    type Value = Result<StixObject, Vec<Violation>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a STIX object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        // The type decides how every other property is read. Producers write it first; the
        // properties met before it wait as JSON values.
        let mut early: Vec<(Key, Value)> = Vec::new();
        let ty = loop {
            let Some(key) = map.next_key_seed(KeySeed)? else {
                let id = early_id(&early).map(str::to_owned);
                return Ok(Err(vec![Violation::new(
                    id.as_deref(),
                    "type",
                    "required property is missing",
                )]));
            };
            if key.known() == Some(ids::TYPE) {
                match self.value(&key, &mut map)? {
                    Value::String(ty) => break ty,
                    _ => {
                        let mut id = early_id(&early).map(str::to_owned);
                        while let Some(key) = map.next_key_seed(KeySeed)? {
                            match key.known() {
                                Some(ids::ID) => {
                                    id = map.next_value::<Value>()?.as_str().map(str::to_owned)
                                }
                                _ => {
                                    map.next_value::<IgnoredAny>()?;
                                }
                            }
                        }
                        return Ok(Err(vec![Violation::new(
                            id.as_deref(),
                            "type",
                            "expected a string",
                        )]));
                    }
                }
            }
            let v = self.value(&key, &mut map)?;
            early.push((key, v));
        };
        let mut props = AnyProps::of_type(&ty);
        let mut cx = Cx::default();
        for (key, v) in early {
            props.read(key, v, &mut cx).map_err(de::Error::custom)?;
        }
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if self.watch.wants(&key) {
                let raw: &'de RawValue = map.next_value()?;
                self.watch.see(&key, raw.get());
                let mut again = serde_json::Deserializer::from_str(raw.get());
                props
                    .read(key, &mut again, &mut cx)
                    .map_err(de::Error::custom)?;
            } else {
                map.next_value_seed(PropSeed {
                    key,
                    props: &mut props,
                    cx: &mut cx,
                })?;
            }
        }
        Ok(props.finish(ty, cx))
    }
}

fn early_id(early: &[(Key, Value)]) -> Option<&str> {
    early
        .iter()
        .rev()
        .find(|(k, _)| k.known() == Some(ids::ID))
        .and_then(|(_, v)| v.as_str())
}

/// Reserved property names (re-exported for the validators of other crates).
pub const RESERVED_PROPERTY_NAMES: &[&str] = RESERVED;
