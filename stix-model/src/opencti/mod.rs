//! OpenCTI-compatible deterministic ids.
//!
//! OpenCTI computes the `standard_id` of each object from a few "contributing" properties:
//! `<type>--uuid5(NS, canonical_json(properties))`, with `NS` the STIX SCO namespace
//! `00abedb4-aa42-466c-9c01-fed23315a9b7` and RFC 8785 canonical JSON. Emitting the id the
//! platform computes is what makes a re-sent object merge instead of duplicating.
//!
//! Names are normalised as pycti does (`x.lower().strip()`, here `trim()` + `to_lowercase()`).
//! Python's `strip()` also removes U+001C–U+001F, which Rust's `trim()` keeps, so names with
//! control characters other than tab, line feed and carriage return are refused: for every name
//! accepted here, both normalisations agree.
//!
//! Only string values are hashed (OpenCTI's "Position" locations hash numbers, which would need
//! ECMAScript number formatting; they are not supported). For string-only objects with ASCII
//! keys, `serde_json` output of a `BTreeMap` is exactly RFC 8785: keys sorted, no whitespace,
//! the JSON escapes, raw UTF-8.
//!
//! The rules, the 6.x/7.x difference and the test vectors, with their sources:
//! `docs/opencti-ids.md` in the repository.

use std::collections::BTreeMap;

use serde_json::Value;
use uuid::Uuid;

use crate::{Error, Identifier};

/// OpenCTI's namespace for deterministic ids (the STIX SCO namespace).
pub const NAMESPACE: Uuid = Uuid::from_u128(0x00ab_edb4_aa42_466c_9c01_fed2_3315_a9b7);

/// Which OpenCTI release's rules to follow where they differ (the attack-pattern `x_mitre_id`
/// case, and the note `abstract`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OpenCtiIdRules {
    /// OpenCTI/pycti 6.x: `x_mitre_id` is only trimmed.
    V6,
    /// OpenCTI/pycti 7.x (from 7.260521): `x_mitre_id` is lower-cased and trimmed.
    #[default]
    V7,
}

impl OpenCtiIdRules {
    /// The rules for a platform version string as `about { version }` reports it
    /// (`6.8.10` → V6, `7.261026.0` → V7; anything else → V7).
    pub fn from_platform_version(v: &str) -> Self {
        match v
            .trim()
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok())
        {
            Some(m) if m <= 6 => Self::V6,
            _ => Self::V7,
        }
    }
}

impl std::str::FromStr for OpenCtiIdRules {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "6" | "6.x" | "v6" => Ok(Self::V6),
            "7" | "7.x" | "v7" => Ok(Self::V7),
            _ => Err(Error::InvalidValue {
                what: "OpenCTI id rules",
                value: s.to_owned(),
                reason: "expected 6 or 7".into(),
            }),
        }
    }
}

/// Whether a threat actor is a group or an individual (OpenCTI hashes the distinction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThreatActorKind {
    /// `Threat-Actor-Group`.
    Group,
    /// `Threat-Actor-Individual`.
    Individual,
}

/// OpenCTI's location types with name-based ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocationKind {
    /// A country.
    Country,
    /// A region.
    Region,
    /// A city.
    City,
    /// An administrative area.
    AdministrativeArea,
}

impl LocationKind {
    /// OpenCTI's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Country => "Country",
            Self::Region => "Region",
            Self::City => "City",
            Self::AdministrativeArea => "Administrative-Area",
        }
    }
}

/// The text hashed for an id and the id's type; [`Self::id`] computes the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contributing {
    object_type: &'static str,
    properties: BTreeMap<&'static str, Value>,
}

impl Contributing {
    fn new(object_type: &'static str) -> Self {
        Self {
            object_type,
            properties: BTreeMap::new(),
        }
    }
    fn with(mut self, k: &'static str, v: impl Into<Value>) -> Self {
        self.properties.insert(k, v.into());
        self
    }
    /// The canonical JSON text that is hashed.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(&self.properties).unwrap_or_default()
    }
    /// The id.
    pub fn id(&self) -> Result<Identifier, Error> {
        let uuid = Uuid::new_v5(&NAMESPACE, self.canonical_json().as_bytes());
        Identifier::from_uuid(self.object_type, uuid)
    }
}

fn check_text(what: &'static str, s: &str) -> Result<(), Error> {
    if let Some(c) = s
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(Error::InvalidValue {
            what,
            value: s.to_owned(),
            reason: format!("contains the control character U+{:04X}", u32::from(c)),
        });
    }
    Ok(())
}

/// `n(x)`: trimmed and lower-cased; empty and control characters refused.
fn normalise(what: &'static str, s: &str) -> Result<String, Error> {
    check_text(what, s)?;
    let n = s.trim().to_lowercase();
    if n.is_empty() {
        return Err(Error::InvalidValue {
            what,
            value: s.to_owned(),
            reason: "must not be empty".into(),
        });
    }
    Ok(n)
}

/// The contributing properties of each type, for golden tests and callers that want the
/// hashed text. The functions of this module return the ids directly.
pub mod contributing {
    use super::*;

    /// `AttackPattern.generate_id(name, x_mitre_id)`.
    pub fn attack_pattern(
        name: &str,
        x_mitre_id: Option<&str>,
        rules: OpenCtiIdRules,
    ) -> Result<Contributing, Error> {
        let c = Contributing::new("attack-pattern");
        match (rules, x_mitre_id) {
            (OpenCtiIdRules::V7, Some(x)) if !x.trim().is_empty() => {
                check_text("x_mitre_id", x)?;
                Ok(c.with("x_mitre_id", x.trim().to_lowercase()))
            }
            (OpenCtiIdRules::V6, Some(x)) => {
                check_text("x_mitre_id", x)?;
                Ok(c.with("x_mitre_id", x.trim()))
            }
            _ => Ok(c.with("name", normalise("name", name)?)),
        }
    }

    /// `Incident.generate_id(name, created)`: `created` is hashed as the exact text given.
    pub fn incident(name: &str, created: &str) -> Result<Contributing, Error> {
        Ok(Contributing::new("incident")
            .with("name", normalise("name", name)?)
            .with("created", created))
    }

    /// Name-only types: campaign, intrusion-set, narrative, channel.
    pub fn named(object_type: &'static str, name: &str) -> Result<Contributing, Error> {
        Ok(Contributing::new(object_type).with("name", normalise("name", name)?))
    }

    /// `ThreatActorGroup/Individual.generate_id(name)`.
    pub fn threat_actor(name: &str, kind: ThreatActorKind) -> Result<Contributing, Error> {
        let t = match kind {
            ThreatActorKind::Group => "Threat-Actor-Group",
            ThreatActorKind::Individual => "Threat-Actor-Individual",
        };
        Ok(Contributing::new("threat-actor")
            .with("name", normalise("name", name)?)
            .with("opencti_type", t))
    }

    /// `Identity.generate_id(name, identity_class)`.
    pub fn identity(name: &str, identity_class: &str) -> Result<Contributing, Error> {
        Ok(Contributing::new("identity")
            .with("name", normalise("name", name)?)
            .with("identity_class", identity_class.to_lowercase()))
    }

    /// `Location.generate_id(name, type)`.
    pub fn location(name: &str, kind: LocationKind) -> Result<Contributing, Error> {
        Ok(Contributing::new("location")
            .with("name", normalise("name", name)?)
            .with("x_opencti_location_type", kind.as_str()))
    }

    /// `Report.generate_id(name, published)`.
    pub fn report(name: &str, published: &str) -> Result<Contributing, Error> {
        Ok(Contributing::new("report")
            .with("name", normalise("name", name)?)
            .with("published", published))
    }

    /// `Note.generate_id(created, content, abstract)`; 6.x has no abstract.
    pub fn note(
        created: Option<&str>,
        content: &str,
        abstract_: Option<&str>,
        rules: OpenCtiIdRules,
    ) -> Result<Contributing, Error> {
        check_text("content", content)?;
        let mut c = Contributing::new("note").with("content", content.trim());
        if let Some(t) = created {
            c = c.with("created", t);
        }
        if let (OpenCtiIdRules::V7, Some(a)) = (rules, abstract_) {
            check_text("abstract", a)?;
            c = c.with("attribute_abstract", a.trim());
        }
        Ok(c)
    }

    /// `StixCoreRelationship.generate_id(type, source, target, start, stop)`: `stop_time`
    /// counts only with `start_time`.
    pub fn relationship(
        relationship_type: &str,
        source: &Identifier,
        target: &Identifier,
        start_time: Option<&str>,
        stop_time: Option<&str>,
    ) -> Result<Contributing, Error> {
        let mut c = Contributing::new("relationship")
            .with("relationship_type", relationship_type)
            .with("source_ref", source.as_str())
            .with("target_ref", target.as_str());
        if let Some(s) = start_time {
            c = c.with("start_time", s);
            if let Some(e) = stop_time {
                c = c.with("stop_time", e);
            }
        }
        Ok(c)
    }

    /// `StixSightingRelationship.generate_id(sighting_of_ref, where_sighted_refs, first, last)`.
    pub fn sighting(
        sighting_of: &Identifier,
        where_sighted: &[Identifier],
        first_seen: Option<&str>,
        last_seen: Option<&str>,
    ) -> Result<Contributing, Error> {
        let refs: Vec<Value> = where_sighted.iter().map(|r| r.as_str().into()).collect();
        let mut c = Contributing::new("sighting")
            .with("type", "sighting")
            .with("sighting_of_ref", sighting_of.as_str())
            .with("where_sighted_refs", refs);
        if let Some(f) = first_seen {
            c = c.with("first_seen", f);
            if let Some(l) = last_seen {
                c = c.with("last_seen", l);
            }
        }
        Ok(c)
    }

    /// `KillChainPhase.generate_id(phase_name, kill_chain_name)` (not normalised).
    pub fn kill_chain_phase(phase_name: &str, kill_chain_name: &str) -> Contributing {
        Contributing::new("kill-chain-phase")
            .with("phase_name", phase_name)
            .with("kill_chain_name", kill_chain_name)
    }
}

/// The id of a DISARM (or ATT&CK) technique.
pub fn attack_pattern(
    name: &str,
    x_mitre_id: Option<&str>,
    rules: OpenCtiIdRules,
) -> Result<Identifier, Error> {
    contributing::attack_pattern(name, x_mitre_id, rules)?.id()
}

/// The id of an incident; `created` is hashed as written (use three fractional digits and `Z`).
pub fn incident(name: &str, created: &str) -> Result<Identifier, Error> {
    contributing::incident(name, created)?.id()
}

/// The id of a campaign.
pub fn campaign(name: &str) -> Result<Identifier, Error> {
    contributing::named("campaign", name)?.id()
}

/// The id of an intrusion set.
pub fn intrusion_set(name: &str) -> Result<Identifier, Error> {
    contributing::named("intrusion-set", name)?.id()
}

/// The id of a narrative.
pub fn narrative(name: &str) -> Result<Identifier, Error> {
    contributing::named("narrative", name)?.id()
}

/// The id of a channel.
pub fn channel(name: &str) -> Result<Identifier, Error> {
    contributing::named("channel", name)?.id()
}

/// The id of a threat actor.
pub fn threat_actor(name: &str, kind: ThreatActorKind) -> Result<Identifier, Error> {
    contributing::threat_actor(name, kind)?.id()
}

/// The id of an identity.
pub fn identity(name: &str, identity_class: &str) -> Result<Identifier, Error> {
    contributing::identity(name, identity_class)?.id()
}

/// The id of a named location.
pub fn location(name: &str, kind: LocationKind) -> Result<Identifier, Error> {
    contributing::location(name, kind)?.id()
}

/// The id of a report.
pub fn report(name: &str, published: &str) -> Result<Identifier, Error> {
    contributing::report(name, published)?.id()
}

/// The id of a relationship.
pub fn relationship(
    relationship_type: &str,
    source: &Identifier,
    target: &Identifier,
    start_time: Option<&str>,
    stop_time: Option<&str>,
) -> Result<Identifier, Error> {
    contributing::relationship(relationship_type, source, target, start_time, stop_time)?.id()
}

#[cfg(test)]
mod tests;
