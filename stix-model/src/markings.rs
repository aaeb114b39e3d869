//! Traffic Light Protocol markings ([STIX 2.1 §7.2.1.4] and the OASIS TLP 2.0 extension).
//!
//! [`Tlp::marking`] gives the marking-definition OpenCTI uses for each level (the TLP 1.0
//! objects of the STIX specification, and OpenCTI's own statement marking for AMBER+STRICT,
//! which TLP 1.0 lacks), so that markings we send merge with the platform's built-in ones.
//! [`Tlp::marking_v2`] gives the OASIS TLP 2.0 objects for consumers that want them.
//!
//! [STIX 2.1 §7.2.1.4]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_yd3ar14ekwrs

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::{Error, Identifier, MarkingDefinition, Timestamp};

/// The id of the OASIS TLP 2.0 extension-definition.
pub const TLP2_EXTENSION_ID: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// A TLP level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum Tlp {
    /// TLP:CLEAR (TLP 1.0: WHITE).
    Clear,
    /// TLP:GREEN.
    #[default]
    Green,
    /// TLP:AMBER.
    Amber,
    /// TLP:AMBER+STRICT.
    AmberStrict,
    /// TLP:RED.
    Red,
}

impl Tlp {
    /// Parses `clear`, `white`, `green`, `amber`, `amber+strict`, `red`, with or without a
    /// `TLP:` prefix, in any case.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let t = s.trim().to_ascii_lowercase();
        Ok(match t.strip_prefix("tlp:").unwrap_or(&t) {
            "clear" | "white" => Self::Clear,
            "green" => Self::Green,
            "amber" => Self::Amber,
            "amber+strict" => Self::AmberStrict,
            "red" => Self::Red,
            _ => {
                return Err(Error::InvalidValue {
                    what: "TLP level",
                    value: s.to_owned(),
                    reason: "expected clear, green, amber, amber+strict or red".into(),
                })
            }
        })
    }

    /// The TLP 2.0 name, e.g. `TLP:AMBER+STRICT`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Clear => "TLP:CLEAR",
            Self::Green => "TLP:GREEN",
            Self::Amber => "TLP:AMBER",
            Self::AmberStrict => "TLP:AMBER+STRICT",
            Self::Red => "TLP:RED",
        }
    }

    /// The id OpenCTI uses for this level.
    pub fn id(self) -> &'static str {
        match self {
            Self::Clear => "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
            Self::Green => "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
            Self::Amber => "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
            Self::AmberStrict => "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37",
            Self::Red => "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        }
    }

    /// The id of the OASIS TLP 2.0 marking for this level.
    pub fn id_v2(self) -> &'static str {
        match self {
            Self::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            Self::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            Self::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
            Self::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            Self::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        }
    }

    fn tlp1_word(self) -> Option<&'static str> {
        match self {
            Self::Clear => Some("white"),
            Self::Green => Some("green"),
            Self::Amber => Some("amber"),
            Self::AmberStrict => None,
            Self::Red => Some("red"),
        }
    }

    /// The marking-definition as OpenCTI knows it: the STIX 2.1 TLP 1.0 object, or for
    /// AMBER+STRICT OpenCTI's statement marking.
    pub fn marking(self) -> MarkingDefinition {
        let mut m = base(self.id(), "2017-01-20T00:00:00.000Z");
        match self.tlp1_word() {
            Some(word) => {
                m.name = Some(format!("TLP:{}", word.to_ascii_uppercase()));
                m.definition_type = Some("tlp".into());
                m.definition = Some(json!({ "tlp": word }));
            }
            None => {
                m.name = Some(self.name().into());
                m.definition_type = Some("statement".into());
                m.definition = Some(json!({ "statement": "custom" }));
                m.custom
                    .insert("x_opencti_definition_type".into(), json!("TLP"));
                m.custom
                    .insert("x_opencti_definition".into(), json!(self.name()));
            }
        }
        m
    }

    /// The OASIS TLP 2.0 marking-definition.
    pub fn marking_v2(self) -> MarkingDefinition {
        let mut m = base(self.id_v2(), "2022-10-01T00:00:00.000Z");
        m.name = Some(self.name().into());
        let word = self.name().trim_start_matches("TLP:").to_ascii_lowercase();
        m.extensions.insert(
            TLP2_EXTENSION_ID.into(),
            json!({ "extension_type": "property-extension", "tlp_2_0": word }),
        );
        m
    }
}

fn base(id: &str, created: &str) -> MarkingDefinition {
    MarkingDefinition {
        spec_version: "2.1".into(),
        // The ids and times are constants of this module, checked by the tests.
        id: Identifier::parse(id).unwrap_or_else(|_| unreachable!("constant id {id}")),
        created_by_ref: None,
        created: Timestamp::parse(created).unwrap_or_else(|_| unreachable!("constant time")),
        external_references: Vec::new(),
        object_marking_refs: Vec::new(),
        granular_markings: Vec::new(),
        name: None,
        definition_type: None,
        definition: None,
        extensions: BTreeMap::<String, Value>::new(),
        custom: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::Tlp;
    use crate::StixObject;

    #[test]
    fn markings_are_valid_and_parse() {
        for t in [
            Tlp::Clear,
            Tlp::Green,
            Tlp::Amber,
            Tlp::AmberStrict,
            Tlp::Red,
        ] {
            let m = StixObject::from(t.marking());
            assert_eq!(m.validate(), vec![], "{t:?}");
            assert_eq!(m.id(), t.id());
            assert_eq!(Tlp::parse(t.name()).unwrap(), t);
        }
        assert_eq!(Tlp::parse("white").unwrap(), Tlp::Clear);
        assert!(Tlp::parse("purple").is_err());
    }
}
