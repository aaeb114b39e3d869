#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod bundle;
mod common;
mod country;
pub mod disarm;
mod error;
pub mod extension;
mod id;
pub mod incident;
pub mod markings;
mod names;
mod object;
pub mod opencti;
pub mod opencti_names;
mod read;
mod relationship_rules;
pub mod sample;
mod sdo;
pub mod split;
mod timestamp;
pub mod validate;
mod vocab;
mod write;

pub use bundle::Bundle;
pub use common::{Common, Confidence, ExternalReference, GranularMarking, KillChainPhase};
pub use country::CountryCode;
pub use error::{Error, Result};
pub use id::Identifier;
pub use object::{CustomObject, StixObject, RESERVED_PROPERTY_NAMES};
pub use sdo::{
    AttackPattern, Campaign, Channel, ExtensionDefinition, Identity, Incident, IntrusionSet,
    Location, MarkingDefinition, Narrative, Note, Relationship, Report, Sighting, ThreatActor,
};
pub use timestamp::Timestamp;
pub use validate::{Report as ValidationReport, Violation};
pub use vocab::{CustomTerm, ExtensionType, IdentityClass, ThreatActorType};

/// Whether `s` is a valid STIX type name: 3–250 characters of lower-case ASCII letters, digits
/// and single hyphens, starting with a letter (`^([a-z][a-z0-9]*)+(-[a-z0-9]+)*\-?$`).
pub fn is_type_name(s: &str) -> bool {
    is_type_name_bytes(s.as_bytes())
}

fn is_type_name_bytes(b: &[u8]) -> bool {
    if b.len() < 3 || b.len() > 250 || !b[0].is_ascii_lowercase() {
        return false;
    }
    let mut prev_hyphen = false;
    for &c in b {
        match c {
            b'a'..=b'z' | b'0'..=b'9' => prev_hyphen = false,
            b'-' if !prev_hyphen => prev_hyphen = true,
            _ => return false,
        }
    }
    true
}

/// Whether `s` is a valid STIX property name: 3–250 characters of lower-case ASCII letters,
/// digits and `_`, starting with a letter (`id` is the one shorter exception).
pub fn is_property_name(s: &str) -> bool {
    let b = s.as_bytes();
    if s == "id" {
        return true;
    }
    b.len() >= 3
        && b.len() <= 250
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}
