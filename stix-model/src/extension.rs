//! The disinformation-incident extension: what DISINFOX records about an incident that STIX
//! 2.1 has no property for.
//!
//! # What is an object, and what is in the extension
//!
//! A STIX `incident` is a stub (`name`, `description`). DISINFOX records more, and each part
//! goes where consumers can use it best:
//!
//! | DISINFOX field | where it goes | why |
//! |---|---|---|
//! | DISARM techniques | `attack-pattern` + `uses` | OpenCTI merges them with its DISARM import; matrix and Navigator views work |
//! | attributed actors | `threat-actor` + `attributed-to` (confidence on the relationship) | actors are entities analysts pivot on, across incidents and other intelligence |
//! | target countries | `location` (ISO code) + `targets` | OpenCTI's map and country pages, and correlation, need real locations |
//! | country of origin | `location` + `originates-from` | the relationship OpenCTI accepts for incident origin |
//! | source URLs | `external_references` on the incident | STIX's own field for sources |
//! | channels / platforms | this extension (`channels`); OpenCTI `channel` objects only in OpenCTI-bound output | `channel` is not a STIX type: a standard consumer would flag it, OpenCTI understands it |
//! | attribution source kinds, uncertainty | this extension (`attribution`) | STIX has no property for who made the attribution |
//! | region, sub-region | this extension | free text in DISINFOX data, often not a STIX `region-ov` term |
//! | first/last seen with their precision | this extension | STIX 2.1 incidents have no dates; a year-only date must not become 1 January |
//! | DISARM version, unknown technique ids | this extension | keeps what the incident was coded against, and ids a DISARM version lacks |
//!
//! The extension is a `property-extension` with a fixed id, [`EXTENSION_ID`], described by the
//! [`extension_definition`] object (created by the [`project_identity`]) and by a JSON schema
//! shipped as `schemas/extension-definition--8bdf3e85-a4fe-4b92-ab80-2abcc16b779d.json` for
//! `stix2_validator --schemas`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::{
    Common, Confidence, CountryCode, Error, ExtensionDefinition, ExtensionType, Identifier,
    Identity, IdentityClass, Timestamp,
};

/// The fixed id of the disinformation-incident extension-definition. Never changes; new
/// versions bump `version` and `modified`.
pub const EXTENSION_ID: &str = "extension-definition--8bdf3e85-a4fe-4b92-ab80-2abcc16b779d";

/// The id of the DISINFOX project identity (OpenCTI's deterministic id for the organization
/// "DISINFOX"), the creator of the extension-definition.
pub const PROJECT_IDENTITY_ID: &str = "identity--9d7da0ec-7317-5d72-8664-6ff5fd1a1be2";

/// The current version of the extension.
pub const EXTENSION_VERSION: &str = "1.0.0";

const DEFINED: &str = "2026-11-22T00:00:00.000Z";

fn constant_common(id: &str) -> Common {
    // Constants of this module, checked by the tests.
    let id = Identifier::parse(id).unwrap_or_else(|_| unreachable!("constant id {id}"));
    let at = Timestamp::parse(DEFINED).unwrap_or_else(|_| unreachable!("constant time"));
    Common::at(id, at)
}

/// The DISINFOX project identity: the author of the extension-definition.
pub fn project_identity() -> Identity {
    let mut i = Identity::new(constant_common(PROJECT_IDENTITY_ID), "DISINFOX");
    i.identity_class = Some(IdentityClass::Organization);
    i.description = Some(
        "DISINFOX: an open platform for sharing intelligence on disinformation incidents".into(),
    );
    i
}

/// The extension-definition object of the disinformation-incident extension.
pub fn extension_definition() -> ExtensionDefinition {
    let mut common = constant_common(EXTENSION_ID);
    common.created_by_ref = Identifier::parse(PROJECT_IDENTITY_ID).ok();
    let mut d = ExtensionDefinition::new(
        common,
        "DISINFOX disinformation incident",
        "A property-extension of the STIX incident; JSON schema: stix-model/schemas/extension-definition--8bdf3e85-a4fe-4b92-ab80-2abcc16b779d.json in the DISINFOX-rs sources. Properties: target_countries, region, sub_region, country_of_origin, channels, attribution {actors, confidence, source_kinds, uncertain}, source_urls, first_seen, last_seen (YYYY, YYYY-MM or YYYY-MM-DD), cyber_attack, disarm_version, unknown_techniques.",
        EXTENSION_VERSION,
        vec![ExtensionType::PropertyExtension],
    );
    d.description = Some(
        "What DISINFOX records about a disinformation incident that STIX 2.1 has no property for: target countries, region, origin, channels, attribution sources, dates with their precision, and the DISARM version the incident was coded against."
            .into(),
    );
    d
}

/// A date with its precision: a year, a month, or a day (`2022`, `2022-06`, `2022-06-20`).
/// Year 0 does not exist and is refused; a missing month or day is never invented.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartialDate {
    year: u16,
    month: Option<u8>,
    day: Option<u8>,
}

impl PartialDate {
    /// Parses `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidValue {
            what: "date",
            value: s.to_owned(),
            reason: reason.to_owned(),
        };
        let parts: Vec<&str> = s.split('-').collect();
        let num = |p: &str, len: usize| -> Option<u16> {
            (p.len() == len && p.bytes().all(|c| c.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        };
        let shape = "expected YYYY, YYYY-MM or YYYY-MM-DD";
        let year = parts
            .first()
            .and_then(|p| num(p, 4))
            .ok_or_else(|| bad(shape))?;
        if year == 0 {
            return Err(bad("year 0 does not exist"));
        }
        let month = match parts.get(1) {
            None => None,
            Some(p) => Some(num(p, 2).ok_or_else(|| bad(shape))?),
        };
        let day = match parts.get(2) {
            None => None,
            Some(p) => Some(num(p, 2).ok_or_else(|| bad(shape))?),
        };
        if parts.len() > 3 {
            return Err(bad(shape));
        }
        if matches!(month, Some(m) if !(1..=12).contains(&m)) {
            return Err(bad("no such month"));
        }
        if let (Some(m), Some(d)) = (month, day) {
            if Timestamp::from_date(i32::from(year), u32::from(m), u32::from(d)).is_err() {
                return Err(bad("no such day"));
            }
        }
        Ok(Self {
            year,
            month: month.map(|m| m as u8),
            day: day.map(|d| d as u8),
        })
    }

    /// The year.
    pub fn year(&self) -> u16 {
        self.year
    }
    /// The month, when known.
    pub fn month(&self) -> Option<u8> {
        self.month
    }
    /// The day, when known.
    pub fn day(&self) -> Option<u8> {
        self.day
    }

    /// The first instant the date covers (midnight UTC of its first day).
    pub fn start(&self) -> Timestamp {
        let m = self.month.unwrap_or(1);
        let d = self.day.unwrap_or(1);
        Timestamp::from_date(i32::from(self.year), u32::from(m), u32::from(d))
            .unwrap_or_else(|_| unreachable!("checked in parse"))
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        if let Some(m) = self.month {
            write!(f, "-{m:02}")?;
            if let Some(d) = self.day {
                write!(f, "-{d:02}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl std::str::FromStr for PartialDate {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl Serialize for PartialDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PartialDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Who made an attribution (the DISINFOX CSV's "Attribution Source" columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AttributionSource {
    /// A government.
    Government,
    /// A platform (social network, …).
    Platform,
    /// A company.
    Company,
    /// Researchers or journalists.
    Researchers,
}

impl AttributionSource {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Government => "government",
            Self::Platform => "platform",
            Self::Company => "company",
            Self::Researchers => "researchers",
        }
    }
}

/// Attribution details STIX has no property for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Attribution {
    /// Who made the attribution.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_kinds: Vec<AttributionSource>,
    /// Confidence in the attribution, 0–100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// Names of actors whose attribution is uncertain (`Russia*` in DISINFOX data).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uncertain_actors: Vec<String>,
}

impl Attribution {
    fn is_empty(&self) -> bool {
        self.source_kinds.is_empty()
            && self.confidence.is_none()
            && self.uncertain_actors.is_empty()
    }
}

/// The body of the extension on an incident: `extensions[EXTENSION_ID]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DisinformationIncident {
    #[serde(default = "extension_type", skip_deserializing)]
    extension_type: String,
    /// Countries targeted (also sent as `targets` locations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_countries: Vec<CountryCode>,
    /// Region, as recorded (e.g. `Europe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Sub-region, as recorded (e.g. `Eastern Europe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_region: Option<String>,
    /// Country the operation originates from (also an `originates-from` location).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_of_origin: Option<CountryCode>,
    /// Channels and platforms used (e.g. `Facebook`, `Telegram`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// Attribution details.
    #[serde(default, skip_serializing_if = "Attribution::is_empty")]
    pub attribution: Attribution,
    /// Source URLs (also external references of the incident).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_urls: Vec<String>,
    /// First seen, with its precision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<PartialDate>,
    /// Last seen, with its precision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<PartialDate>,
    /// Whether the operation included cyber attacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cyber_attack: Option<bool>,
    /// The DISARM version the techniques were coded against (e.g. `1.7`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disarm_version: Option<String>,
    /// DISARM ids the incident names that the DISARM version does not contain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_techniques: Vec<String>,
}

fn extension_type() -> String {
    "property-extension".into()
}

impl DisinformationIncident {
    /// An empty extension body.
    pub fn new() -> Self {
        Self {
            extension_type: extension_type(),
            ..Self::default()
        }
    }

    /// Reads the extension from an incident's `extensions` map, if present.
    pub fn from_extensions(ext: &BTreeMap<String, Value>) -> Option<Result<Self, Error>> {
        let body = ext.get(EXTENSION_ID)?;
        let mut body = body.clone();
        if let Value::Object(m) = &mut body {
            if m.get("extension_type").and_then(Value::as_str) != Some("property-extension") {
                return Some(Err(Error::InvalidValue {
                    what: "extension",
                    value: EXTENSION_ID.into(),
                    reason: "extension_type must be property-extension".into(),
                }));
            }
            m.remove("extension_type");
        }
        Some(
            serde_json::from_value::<Self>(body)
                .map(|mut s| {
                    s.extension_type = extension_type();
                    s
                })
                .map_err(Error::from),
        )
    }

    /// The extension as a JSON value for `extensions[EXTENSION_ID]`.
    pub fn to_value(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.insert("extension_type".into(), Value::String(extension_type()));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StixObject;

    #[test]
    fn definition_and_identity_are_valid() {
        assert_eq!(StixObject::from(extension_definition()).validate(), vec![]);
        assert_eq!(StixObject::from(project_identity()).validate(), vec![]);
    }

    #[test]
    fn partial_dates() {
        for ok in ["2022", "2022-06", "2022-06-20", "2024-02-29"] {
            assert_eq!(PartialDate::parse(ok).unwrap().to_string(), ok);
        }
        for bad in [
            "",
            "0000",
            "22",
            "2022-6",
            "2022-13",
            "2023-02-29",
            "2022-06-20-01",
            "2022/06",
            "abcd",
        ] {
            assert!(PartialDate::parse(bad).is_err(), "accepted {bad:?}");
        }
        assert_eq!(
            PartialDate::parse("2022").unwrap().start().to_string(),
            "2022-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn body_round_trips() {
        let mut b = DisinformationIncident::new();
        b.target_countries = vec![CountryCode::parse("UA").unwrap()];
        b.channels = vec!["Telegram".into()];
        b.first_seen = Some(PartialDate::parse("2022-06").unwrap());
        b.attribution.source_kinds = vec![AttributionSource::Researchers];
        let v = b.to_value();
        assert_eq!(v["extension_type"], "property-extension");
        let mut ext = BTreeMap::new();
        ext.insert(EXTENSION_ID.to_owned(), v);
        let back = DisinformationIncident::from_extensions(&ext)
            .unwrap()
            .unwrap();
        assert_eq!(back, b);
    }
}
