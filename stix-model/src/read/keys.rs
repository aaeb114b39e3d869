//! Property names: the ones this crate reads are matched without allocating.

use serde::de::{DeserializeSeed, Deserializer, Visitor};

use crate::names::Names;

/// Property names this crate reads, sorted: they are matched by id, without allocating.
const KNOWN_KEYS: &[&str] = &[
    "abstract",
    "administrative_area",
    "aliases",
    "authors",
    "channel_types",
    "city",
    "confidence",
    "contact_information",
    "content",
    "count",
    "country",
    "created",
    "created_by_ref",
    "definition",
    "definition_type",
    "description",
    "extension_properties",
    "extension_type",
    "extension_types",
    "extensions",
    "external_id",
    "external_references",
    "first_seen",
    "goals",
    "granular_markings",
    "hashes",
    "id",
    "identity_class",
    "kill_chain_name",
    "kill_chain_phases",
    "labels",
    "lang",
    "last_seen",
    "latitude",
    "longitude",
    "marking_ref",
    "modified",
    "name",
    "narrative_types",
    "object_marking_refs",
    "object_refs",
    "objective",
    "observed_data_refs",
    "personal_motivations",
    "phase_name",
    "postal_code",
    "precision",
    "primary_motivation",
    "published",
    "region",
    "relationship_type",
    "report_types",
    "resource_level",
    "revoked",
    "roles",
    "schema",
    "secondary_motivations",
    "sectors",
    "selectors",
    "sighting_of_ref",
    "sophistication",
    "source_name",
    "source_ref",
    "spec_version",
    "start_time",
    "stop_time",
    "street_address",
    "summary",
    "tactic_refs",
    "target_ref",
    "threat_actor_types",
    "type",
    "url",
    "version",
    "where_sighted_refs",
    "x_mitre_deprecated",
    "x_mitre_domains",
    "x_mitre_id",
    "x_mitre_is_subtechnique",
    "x_mitre_platforms",
    "x_mitre_shortname",
    "x_mitre_version",
    "x_opencti_location_type",
];

/// The known names, found by a cheap hash.
static KNOWN: Names<512> = Names::new(KNOWN_KEYS, [1, 1, 3, 23, 11]);

/// The index of a known property name.
fn lookup(s: &str) -> Option<u8> {
    KNOWN.find(s)
}

/// The known property name with id `i`.
pub(crate) fn known_name(i: u8) -> &'static str {
    KNOWN.name(i)
}

/// The id of a known property name, at compile time (`const { known("name") }`); a name
/// missing from [`KNOWN_KEYS`] fails the build.
pub(crate) const fn known(name: &str) -> u8 {
    let name = strip_raw(name);
    let mut i = 0;
    while i < KNOWN_KEYS.len() {
        if eq(KNOWN_KEYS[i].as_bytes(), name.as_bytes()) {
            return i as u8;
        }
        i += 1;
    }
    panic!("a property name the typed objects read is missing from KNOWN_KEYS")
}

/// `abstract` for the field `r#abstract`.
pub(crate) const fn strip_raw(name: &str) -> &str {
    match name.as_bytes() {
        [b'r', b'#', rest @ ..] => match std::str::from_utf8(rest) {
            Ok(s) => s,
            Err(_) => name,
        },
        _ => name,
    }
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A property name: a known one (by id, no allocation) or any other.
#[derive(Debug)]
pub(crate) enum Key {
    Known(u8),
    Other(String),
}

impl Key {
    pub(crate) fn new(s: &str) -> Self {
        match lookup(s) {
            Some(i) => Self::Known(i),
            None => Self::Other(s.to_owned()),
        }
    }
    pub(crate) fn from_string(s: String) -> Self {
        match lookup(&s) {
            Some(i) => Self::Known(i),
            None => Self::Other(s),
        }
    }
    /// The id of a known name.
    pub(crate) fn known(&self) -> Option<u8> {
        match self {
            Self::Known(i) => Some(*i),
            Self::Other(_) => None,
        }
    }
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Known(i) => KNOWN.name(*i),
            Self::Other(s) => s,
        }
    }
    pub(crate) fn into_string(self) -> String {
        match self {
            Self::Known(i) => KNOWN.name(i).to_owned(),
            Self::Other(s) => s,
        }
    }
}

/// The ids of the names read in more than one place.
pub(crate) mod ids {
    use super::known;

    macro_rules! ids {
        ($($id:ident = $name:literal,)*) => {
            $(pub(crate) const $id: u8 = known($name);)*
        };
    }

    ids! {
        SPEC_VERSION = "spec_version",
        ID = "id",
        TYPE = "type",
        CREATED_BY_REF = "created_by_ref",
        CREATED = "created",
        MODIFIED = "modified",
        REVOKED = "revoked",
        LABELS = "labels",
        CONFIDENCE = "confidence",
        LANG = "lang",
        EXTERNAL_REFERENCES = "external_references",
        OBJECT_MARKING_REFS = "object_marking_refs",
        GRANULAR_MARKINGS = "granular_markings",
        EXTENSIONS = "extensions",
        NAME = "name",
        DEFINITION_TYPE = "definition_type",
        DEFINITION = "definition",
        SOURCE_NAME = "source_name",
        DESCRIPTION = "description",
        URL = "url",
        EXTERNAL_ID = "external_id",
        HASHES = "hashes",
        KILL_CHAIN_NAME = "kill_chain_name",
        PHASE_NAME = "phase_name",
        MARKING_REF = "marking_ref",
        SELECTORS = "selectors",
    }
}

/// Reads a property name.
pub(crate) struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a property name")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key::new(v))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Key, E> {
        Ok(Key::from_string(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_key_is_found_and_others_are_not() {
        assert!(
            KNOWN_KEYS.windows(2).all(|w| w[0] < w[1]),
            "sorted, each once"
        );
        for (i, k) in KNOWN_KEYS.iter().enumerate() {
            assert_eq!(lookup(k), Some(i as u8), "{k}");
            assert_eq!(Key::new(k).as_str(), *k);
        }
        for other in ["", "x", "nam", "names", "x_opencti_id", "Name", "name "] {
            assert_eq!(lookup(other), None, "{other:?}");
            assert_eq!(Key::new(other).into_string(), other);
        }
        assert_eq!(known("r#abstract"), lookup("abstract").unwrap());
    }
}
