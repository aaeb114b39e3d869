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
    // Without a branch per byte (every id of every object is checked): a byte is a letter or
    // digit (1) or a hyphen (2), and no hyphen follows a hyphen.
    let mut prev = 0u8;
    let mut ok = true;
    for &c in b {
        let class = TYPE_NAME_CLASS[usize::from(c)];
        ok &= class != 0 && class & prev != 2;
        prev = class;
    }
    ok
}

/// The bytes of a type name: 1 for `a-z` and `0-9`, 2 for `-`, 0 for any other.
const TYPE_NAME_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = match c as u8 {
            b'a'..=b'z' | b'0'..=b'9' => 1,
            b'-' => 2,
            _ => 0,
        };
        c += 1;
    }
    t
};

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
