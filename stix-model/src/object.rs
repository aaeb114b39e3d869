//! [`StixObject`]: every object a bundle can hold, dispatched on `type`.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::common::check_precision;
use crate::fields::{Entries, Fields, RESERVED};
use crate::sdo::custom_refs;
use crate::{
    AttackPattern, Campaign, Channel, Error, ExtensionDefinition, Identifier, Identity, Incident,
    IntrusionSet, Location, MarkingDefinition, Narrative, Note, Relationship, Report, Sighting,
    ThreatActor, Timestamp, Violation,
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

    fn read(f: &mut Fields, ty: &str) -> Self {
        if !crate::is_type_name(ty) {
            f.violation("type", format!("{ty:?} is not a valid STIX type name"));
        }
        if ty == "action" {
            f.violation("type", "\"action\" is a reserved type name");
        }
        match f.take("id") {
            Some(Value::String(s)) => {
                match Identifier::parse(s.as_str()) {
                    Ok(id) if id.object_type() != ty => f.violation(
                        "id",
                        format!(
                            "type part {:?} does not match type {ty:?}",
                            id.object_type()
                        ),
                    ),
                    Ok(_) => {}
                    Err(e) => f.violation("id", e.to_string()),
                }
                f_put(f, "id", Value::String(s));
            }
            Some(other) => {
                f.violation("id", "expected a string");
                f_put(f, "id", other);
            }
            None => f.violation("id", "required property is missing"),
        }
        let mut times = Vec::new();
        for key in ["created", "modified"] {
            if let Some(v) = f.take(key) {
                match v.as_str().map(Timestamp::parse) {
                    Some(Ok(t)) => {
                        check_precision(f, key, &t);
                        times.push(t);
                    }
                    Some(Err(e)) => f.violation(key, e.to_string()),
                    None => f.violation(key, "expected a timestamp string"),
                }
                f_put(f, key, v);
            }
        }
        if let [c, m] = times[..] {
            if m < c {
                f.violation("modified", "must not be earlier than created");
            }
        }
        let mut rest = f.rest();
        rest.insert("type".into(), Value::String(ty.to_owned()));
        Self(rest)
    }
}

fn f_put(f: &mut Fields, key: &str, v: Value) {
    f.put_back(key, v);
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
                Self::from_entries(Entries::from(map))
            }

            pub(crate) fn from_entries(map: Entries) -> Result<Self, Vec<Violation>> {
                let ty = match map.get("type") {
                    Some(Value::String(t)) => t.clone(),
                    Some(_) => return Err(vec![Violation::new(map.get("id").and_then(Value::as_str), "type", "expected a string")]),
                    None => return Err(vec![Violation::new(map.get("id").and_then(Value::as_str), "type", "required property is missing")]),
                };
                let mut f = Fields::new(map);
                f.take("type");
                let obj = match ty.as_str() {
                    $(<$t>::TYPE => <$t>::read(&mut f).map(Self::$var),)*
                    MarkingDefinition::TYPE => MarkingDefinition::read(&mut f).map(Self::MarkingDefinition),
                    _ => Some(Self::Custom(CustomObject::read(&mut f, &ty))),
                };
                match obj {
                    Some(o) if f.violations.is_empty() => Ok(o),
                    _ if f.violations.is_empty() => Err(vec![Violation::new(f.id.as_deref(), "", "invalid object")]),
                    _ => Err(f.violations),
                }
            }

            /// Checks an object made in code: every violation of STIX 2.1 it has.
            pub fn validate(&self) -> Vec<Violation> {
                match serde_json::to_value(self) {
                    Ok(Value::Object(m)) => Self::from_map(m).err().unwrap_or_default(),
                    Ok(_) => vec![Violation::new(Some(self.id()), "", "does not serialize to an object")],
                    Err(e) => vec![Violation::new(Some(self.id()), "", e.to_string())],
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
        let map = Entries::deserialize(d)?;
        Self::from_entries(map).map_err(|v| de::Error::custom(Error::Invalid(v)))
    }
}

/// Reserved property names (re-exported for the validators of other crates).
pub const RESERVED_PROPERTY_NAMES: &[&str] = RESERVED;
