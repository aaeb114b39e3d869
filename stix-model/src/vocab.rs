//! Vocabularies ([STIX 2.1 §10]): open ones keep unknown terms in a `Custom` variant.
//!
//! [STIX 2.1 §10]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_izngjy1g98l2

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A term outside an open vocabulary. Its payload is private so that a known term always
/// parses to its own variant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CustomTerm(String);

impl CustomTerm {
    /// The term.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! open_vocab {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vm])* $var,)*
            /// A term outside the vocabulary.
            Custom(CustomTerm),
        }

        impl $name {
            /// The term as written in STIX.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$var => $s,)*
                    Self::Custom(t) => t.as_str(),
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($s => Self::$var,)*
                    other => Self::Custom(CustomTerm(other.to_owned())),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self::from(s.as_str()))
            }
        }
    };
}

open_vocab! {
    /// `identity-class-ov`.
    IdentityClass {
        /// A single person.
        Individual => "individual",
        /// An informal collection of people.
        Group => "group",
        /// A computer system.
        System => "system",
        /// A formal organization.
        Organization => "organization",
        /// A class of entities, such as a sector.
        Class => "class",
        /// Unknown.
        Unknown => "unknown",
    }
}

open_vocab! {
    /// `threat-actor-type-ov`.
    ThreatActorType {
        /// Activist.
        Activist => "activist",
        /// Competitor.
        Competitor => "competitor",
        /// Crime syndicate.
        CrimeSyndicate => "crime-syndicate",
        /// Criminal.
        Criminal => "criminal",
        /// Hacker.
        Hacker => "hacker",
        /// Accidental insider.
        InsiderAccidental => "insider-accidental",
        /// Disgruntled insider.
        InsiderDisgruntled => "insider-disgruntled",
        /// Nation state.
        NationState => "nation-state",
        /// Sensationalist.
        Sensationalist => "sensationalist",
        /// Spy.
        Spy => "spy",
        /// Terrorist.
        Terrorist => "terrorist",
        /// Unknown.
        Unknown => "unknown",
    }
}

/// The kind of an extension-definition ([STIX 2.1 §7.3]); a closed enumeration.
///
/// [STIX 2.1 §7.3]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_32j232tfvtly
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ExtensionType {
    /// A new domain object type.
    NewSdo,
    /// A new observable type.
    NewSco,
    /// A new relationship type.
    NewSro,
    /// Properties nested under the extension key.
    PropertyExtension,
    /// Properties at the top level of the object.
    ToplevelPropertyExtension,
}

impl ExtensionType {
    /// Parses the STIX spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new-sdo" => Self::NewSdo,
            "new-sco" => Self::NewSco,
            "new-sro" => Self::NewSro,
            "property-extension" => Self::PropertyExtension,
            "toplevel-property-extension" => Self::ToplevelPropertyExtension,
            _ => return None,
        })
    }

    /// The STIX spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewSdo => "new-sdo",
            Self::NewSco => "new-sco",
            Self::NewSro => "new-sro",
            Self::PropertyExtension => "property-extension",
            Self::ToplevelPropertyExtension => "toplevel-property-extension",
        }
    }
}
