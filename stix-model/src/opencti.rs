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
mod tests {
    use super::contributing as c;
    use super::*;

    const AP1_7: &str = "attack-pattern--b12cfc49-f036-5156-90ac-1ffa873e53c5";
    const AP1_6: &str = "attack-pattern--1192167d-b209-570d-834c-41266ce6f30c";
    const V5: &str = "incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8";

    fn id(s: &str) -> Identifier {
        Identifier::parse(s).unwrap()
    }

    /// Every test vector of `docs/opencti-ids.md` §6: the call, the hashed text where the table
    /// gives it in full, the 7.x id and the 6.x id where it differs.
    #[test]
    fn golden_vectors() {
        use OpenCtiIdRules::{V6, V7};
        type Case = (
            &'static str,
            Contributing,
            Option<&'static str>,
            &'static str,
        );
        let ap = |n, x: Option<&'static str>, r| c::attack_pattern(n, x, r).unwrap();
        let cases: Vec<Case> = vec![
            (
                "V1 7.x",
                ap("Facilitate State Propaganda", Some("T0002"), V7),
                Some(r#"{"x_mitre_id":"t0002"}"#),
                AP1_7,
            ),
            (
                "V1 6.x",
                ap("Facilitate State Propaganda", Some("T0002"), V6),
                Some(r#"{"x_mitre_id":"T0002"}"#),
                AP1_6,
            ),
            (
                "V2 7.x",
                ap("Use Existing Hashtag", Some("T0015.001"), V7),
                Some(r#"{"x_mitre_id":"t0015.001"}"#),
                "attack-pattern--5e9511fa-1360-57f0-88f4-6f4311ebcc77",
            ),
            (
                "V2 6.x",
                ap("Use Existing Hashtag", Some("T0015.001"), V6),
                Some(r#"{"x_mitre_id":"T0015.001"}"#),
                "attack-pattern--b0aba4a9-cf37-524c-9915-5cf6801d78a4",
            ),
            (
                "V3 7.x",
                ap(
                    "Bots Amplify via Automated Forwarding and Reposting",
                    Some("T0049.003"),
                    V7,
                ),
                Some(r#"{"x_mitre_id":"t0049.003"}"#),
                "attack-pattern--290496b7-c977-515b-a38a-613c311f14c0",
            ),
            (
                "V3 6.x",
                ap(
                    "Bots Amplify via Automated Forwarding and Reposting",
                    Some("T0049.003"),
                    V6,
                ),
                Some(r#"{"x_mitre_id":"T0049.003"}"#),
                "attack-pattern--ba2f2838-3d36-5e13-9a4d-85b0b0b8ab0d",
            ),
            (
                "V4 7.x",
                ap("  FACILITATE State Propaganda ", None, V7),
                Some(r#"{"name":"facilitate state propaganda"}"#),
                "attack-pattern--6ae72628-0f26-575d-b434-d51ba0a3258d",
            ),
            (
                "V4 6.x",
                ap("  FACILITATE State Propaganda ", None, V6),
                Some(r#"{"name":"facilitate state propaganda"}"#),
                "attack-pattern--6ae72628-0f26-575d-b434-d51ba0a3258d",
            ),
            (
                "V5",
                c::incident("Test incident", "2024-05-01T00:00:00.000Z").unwrap(),
                Some(r#"{"created":"2024-05-01T00:00:00.000Z","name":"test incident"}"#),
                V5,
            ),
            (
                "V6",
                c::incident("Test incident", "2024-05-01T00:00:00.000000Z").unwrap(),
                Some(r#"{"created":"2024-05-01T00:00:00.000000Z","name":"test incident"}"#),
                "incident--28ac6bff-c7fc-5444-93a1-bf6ad32c2585",
            ),
            (
                "V7",
                c::incident("Test incident", "2024-05-01T00:00:00+00:00").unwrap(),
                Some(r#"{"created":"2024-05-01T00:00:00+00:00","name":"test incident"}"#),
                "incident--583715bd-24fb-5288-b0c9-da1502293983",
            ),
            (
                "V8",
                c::incident(
                    "  Ukraine re-sold French howitzers for profit ",
                    "2022-06-20T00:00:00.000Z",
                )
                .unwrap(),
                Some(
                    r#"{"created":"2022-06-20T00:00:00.000Z","name":"ukraine re-sold french howitzers for profit"}"#,
                ),
                "incident--88841f9a-acd6-5c5f-8e5c-a7ba3ccca272",
            ),
            (
                "V9",
                c::named("campaign", "Doppelganger").unwrap(),
                Some(r#"{"name":"doppelganger"}"#),
                "campaign--f473572f-1a64-556c-8ce3-0928cf121eb8",
            ),
            (
                "V10",
                c::named("intrusion-set", "Storm-1516").unwrap(),
                Some(r#"{"name":"storm-1516"}"#),
                "intrusion-set--5f35c893-8adb-54c0-bfdf-c27fbcf27adb",
            ),
            (
                "V11",
                c::threat_actor("Storm-1516", ThreatActorKind::Group).unwrap(),
                Some(r#"{"name":"storm-1516","opencti_type":"Threat-Actor-Group"}"#),
                "threat-actor--caf7fe36-3db3-50c4-a7ec-518921d832bf",
            ),
            (
                "V12",
                c::threat_actor("Russia", ThreatActorKind::Group).unwrap(),
                Some(r#"{"name":"russia","opencti_type":"Threat-Actor-Group"}"#),
                "threat-actor--75b9bc68-b19f-50e3-b820-5505a1909965",
            ),
            (
                "V13",
                c::threat_actor("John Doe", ThreatActorKind::Individual).unwrap(),
                Some(r#"{"name":"john doe","opencti_type":"Threat-Actor-Individual"}"#),
                "threat-actor--e031126e-78ea-53ca-b0cd-34d8f71a71db",
            ),
            (
                "V14",
                c::identity("DISARM Foundation", "organization").unwrap(),
                Some(r#"{"identity_class":"organization","name":"disarm foundation"}"#),
                "identity--cde4da14-81be-5162-94b1-75a771cd1b83",
            ),
            (
                "V15",
                c::identity("DISINFOX", "organization").unwrap(),
                Some(r#"{"identity_class":"organization","name":"disinfox"}"#),
                "identity--9d7da0ec-7317-5d72-8664-6ff5fd1a1be2",
            ),
            (
                "V16",
                c::identity("Jane Analyst", "individual").unwrap(),
                Some(r#"{"identity_class":"individual","name":"jane analyst"}"#),
                "identity--2a4dc411-e3a1-5729-92a3-5582340ac33d",
            ),
            (
                "V17",
                c::location("Ukraine", LocationKind::Country).unwrap(),
                Some(r#"{"name":"ukraine","x_opencti_location_type":"Country"}"#),
                "location--fb56af0f-b28e-54d2-b738-6ef5ceb2ce5b",
            ),
            (
                "V18",
                c::location("France", LocationKind::Country).unwrap(),
                Some(r#"{"name":"france","x_opencti_location_type":"Country"}"#),
                "location--b8d0549f-de06-5ebd-a6e9-d31a581dba5d",
            ),
            (
                "V19",
                c::location("Europe", LocationKind::Region).unwrap(),
                Some(r#"{"name":"europe","x_opencti_location_type":"Region"}"#),
                "location--2e9ef300-a1ab-5c9f-9297-dde66b71cae2",
            ),
            (
                "V20",
                c::report("Weekly report", "2024-05-01T00:00:00.000Z").unwrap(),
                Some(r#"{"name":"weekly report","published":"2024-05-01T00:00:00.000Z"}"#),
                "report--0e08a5d2-c774-531a-a285-8285a9594efd",
            ),
            (
                "V21",
                c::note(Some("2024-05-01T00:00:00.000Z"), "content", None, V7).unwrap(),
                Some(r#"{"content":"content","created":"2024-05-01T00:00:00.000Z"}"#),
                "note--d32924a0-e5cd-5348-9781-45755bd72849",
            ),
            (
                "V22",
                c::note(
                    Some("2024-05-01T00:00:00.000Z"),
                    "content",
                    Some("summary"),
                    V7,
                )
                .unwrap(),
                Some(
                    r#"{"attribute_abstract":"summary","content":"content","created":"2024-05-01T00:00:00.000Z"}"#,
                ),
                "note--f0e88f85-f9d1-5cd5-b7f1-3d0af72602e3",
            ),
            (
                "V23",
                c::named("narrative", "Ukraine sells weapons").unwrap(),
                Some(r#"{"name":"ukraine sells weapons"}"#),
                "narrative--0246fdb2-d8c1-5abd-8972-f8a28bd84134",
            ),
            (
                "V24",
                c::named("channel", "Telegram channel X").unwrap(),
                Some(r#"{"name":"telegram channel x"}"#),
                "channel--4c10932b-c19a-5374-954c-224d597084d6",
            ),
            (
                "V25 7.x",
                c::relationship("uses", &id(V5), &id(AP1_7), None, None).unwrap(),
                Some(
                    r#"{"relationship_type":"uses","source_ref":"incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8","target_ref":"attack-pattern--b12cfc49-f036-5156-90ac-1ffa873e53c5"}"#,
                ),
                "relationship--8d5eed88-cb83-5889-a3e6-3b60c99e30b9",
            ),
            (
                "V25 6.x",
                c::relationship("uses", &id(V5), &id(AP1_6), None, None).unwrap(),
                None,
                "relationship--80ebeda8-12d9-5b2b-9d1b-cae46bac7456",
            ),
            (
                "V26 7.x",
                c::relationship(
                    "uses",
                    &id(V5),
                    &id(AP1_7),
                    Some("2024-05-01T00:00:00.000Z"),
                    None,
                )
                .unwrap(),
                None,
                "relationship--f60e3dd5-4b96-554e-84af-4ef2c92194ad",
            ),
            (
                "V26 6.x",
                c::relationship(
                    "uses",
                    &id(V5),
                    &id(AP1_6),
                    Some("2024-05-01T00:00:00.000Z"),
                    None,
                )
                .unwrap(),
                None,
                "relationship--2ec5a888-ae7f-5244-b92a-64baf093971a",
            ),
            (
                "V27 7.x",
                c::relationship(
                    "uses",
                    &id(V5),
                    &id(AP1_7),
                    None,
                    Some("2024-06-01T00:00:00.000Z"),
                )
                .unwrap(),
                None,
                "relationship--8d5eed88-cb83-5889-a3e6-3b60c99e30b9",
            ),
            (
                "V27 6.x",
                c::relationship(
                    "uses",
                    &id(V5),
                    &id(AP1_6),
                    None,
                    Some("2024-06-01T00:00:00.000Z"),
                )
                .unwrap(),
                None,
                "relationship--80ebeda8-12d9-5b2b-9d1b-cae46bac7456",
            ),
            (
                "V28 7.x",
                c::sighting(
                    &id(AP1_7),
                    &[id("identity--cde4da14-81be-5162-94b1-75a771cd1b83")],
                    None,
                    None,
                )
                .unwrap(),
                Some(
                    r#"{"sighting_of_ref":"attack-pattern--b12cfc49-f036-5156-90ac-1ffa873e53c5","type":"sighting","where_sighted_refs":["identity--cde4da14-81be-5162-94b1-75a771cd1b83"]}"#,
                ),
                "sighting--7e74891c-9f0c-51fa-b808-4e928895cfaa",
            ),
            (
                "V28 6.x",
                c::sighting(
                    &id(AP1_6),
                    &[id("identity--cde4da14-81be-5162-94b1-75a771cd1b83")],
                    None,
                    None,
                )
                .unwrap(),
                None,
                "sighting--357ee78c-c140-50e7-ae2f-9ebb91968a03",
            ),
            (
                "V29",
                c::kill_chain_phase("plan-objectives", "disarm"),
                Some(r#"{"kill_chain_name":"disarm","phase_name":"plan-objectives"}"#),
                "kill-chain-phase--2fea4342-2da1-52fd-8fa5-756360d65e62",
            ),
            (
                "V30",
                c::kill_chain_phase("plan-objectives", "mitre-attack"),
                Some(r#"{"kill_chain_name":"mitre-attack","phase_name":"plan-objectives"}"#),
                "kill-chain-phase--00cad640-f90e-5b9d-9ebb-862e375154e7",
            ),
            (
                "V31",
                c::named("campaign", "Opération \"Ключ\"\tÉté").unwrap(),
                Some("{\"name\":\"opération \\\"ключ\\\"\\tété\"}"),
                "campaign--879a199b-8816-5554-a55a-dcdf04155cfd",
            ),
        ];
        for (name, contributing, hashed, expected) in cases {
            if let Some(h) = hashed {
                assert_eq!(contributing.canonical_json(), h, "{name}: hashed text");
            }
            assert_eq!(contributing.id().unwrap().as_str(), expected, "{name}: id");
        }
    }

    #[test]
    fn normalisation_and_refusals() {
        assert_eq!(
            threat_actor(" Russia ", ThreatActorKind::Group).unwrap(),
            threat_actor("russia", ThreatActorKind::Group).unwrap()
        );
        for bad in ["", "   ", "a\u{1c}", "\u{1f}x", "nul\u{0}", "del\u{7f}"] {
            assert!(campaign(bad).is_err(), "accepted {bad:?}");
        }
        assert_eq!(
            OpenCtiIdRules::from_platform_version("6.8.10"),
            OpenCtiIdRules::V6
        );
        assert_eq!(
            OpenCtiIdRules::from_platform_version("7.261026.0"),
            OpenCtiIdRules::V7
        );
        assert_eq!("6.x".parse::<OpenCtiIdRules>().unwrap(), OpenCtiIdRules::V6);
    }
}
