//! The library's error type.
//!
//! Strict parsing and the constructors of values fail with [`Error`]. Validation does not
//! fail: [`crate::Bundle::validate`] and [`crate::Bundle::read_lenient`] return a
//! [`crate::ValidationReport`] of [`crate::Violation`]s, so that a caller sees every problem at
//! once; an invalid object met by a strict parse is [`Error::Invalid`] with every violation of
//! that object.

use crate::validate::Violation;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A STIX identifier that is not `<type>--<uuid>`.
    #[error("invalid identifier {value:?}: {reason}")]
    InvalidIdentifier {
        /// The offending text.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A timestamp that is not RFC 3339 UTC with a literal `Z`.
    #[error("invalid timestamp {value:?}: {reason}")]
    InvalidTimestamp {
        /// The offending text.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A value outside its allowed range (confidence, DISARM id, country code, …).
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidValue {
        /// What kind of value it is.
        what: &'static str,
        /// The offending text.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// An object that is known to the library but does not conform to STIX 2.1.
    /// Carries every violation found in the object, each naming the property path.
    #[error("{}", display_violations(.0))]
    Invalid(Vec<Violation>),
    /// A builder was asked to build without a required property.
    #[error("missing required property {name:?}")]
    MissingProperty {
        /// The property name.
        name: &'static str,
    },
    /// Malformed JSON, or JSON of the wrong shape.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Reading input failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn display_violations(v: &[Violation]) -> String {
    let mut s = String::new();
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        s.push_str(&x.to_string());
    }
    s
}

/// The crate's result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
