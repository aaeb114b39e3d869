//! Validation: every violation of STIX 2.1 found in an object or a bundle, not just the first.
//!
//! The rules checked, with their sources: `docs/stix-rules.md` in the repository.

use std::fmt;

/// One way in which an object breaks a STIX 2.1 rule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// The id of the object, when it has a usable one.
    pub object_id: Option<String>,
    /// The property path, e.g. `external_references[1].source_name`; empty for the whole object.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Violation {
    /// A violation at `path` of the object `object_id`.
    pub fn new(
        object_id: Option<&str>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            object_id: object_id.map(str::to_owned),
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(id) = &self.object_id {
            write!(f, "{id}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// The outcome of validating a bundle or an object: every violation found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Every violation, in the order found.
    pub violations: Vec<Violation>,
}

impl Report {
    /// True when nothing is wrong.
    pub fn is_valid(&self) -> bool {
        self.violations.is_empty()
    }
}
