//! Properties shared by STIX domain and relationship objects, and the embedded types
//! ([STIX 2.1 §3.2, §2.5, §2.8, §7.2.3]).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fields::Fields;
use crate::{Error, Identifier, Timestamp};

/// A confidence value, an integer from 0 to 100 ([STIX 2.1 §4.14]).
///
/// [STIX 2.1 §4.14]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_1v6elyto0uqg
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct Confidence(u8);

impl Confidence {
    /// A confidence value; fails outside 0–100.
    pub fn new(v: i64) -> Result<Self, Error> {
        if (0..=100).contains(&v) {
            Ok(Self(v as u8))
        } else {
            Err(Error::InvalidValue {
                what: "confidence",
                value: v.to_string(),
                reason: "must be an integer from 0 to 100".into(),
            })
        }
    }
    /// The value.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for Confidence {
    type Error = Error;
    fn try_from(v: i64) -> Result<Self, Error> {
        Self::new(v)
    }
}

impl From<Confidence> for u8 {
    fn from(c: Confidence) -> u8 {
        c.0
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An external reference ([STIX 2.1 §2.5]): `source_name` plus at least one of
/// `description`, `url`, `external_id`.
///
/// [STIX 2.1 §2.5]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_bajcvqteiard
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ExternalReference {
    /// The source, e.g. `mitre-attack` or `DISARM`.
    pub source_name: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Hashes of the content at `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<BTreeMap<String, String>>,
    /// The id in the source, e.g. `T0002`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Custom properties, kept as they came.
    #[serde(flatten)]
    pub custom: BTreeMap<String, Value>,
}

// Written by hand: a derived `Deserialize` with a flattened map buffers every property.
impl<'de> Deserialize<'de> for ExternalReference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut m = serde_json::Map::<String, Value>::deserialize(d)?;
        fn take<T: serde::de::DeserializeOwned, E: serde::de::Error>(
            m: &mut serde_json::Map<String, Value>,
            k: &str,
        ) -> Result<Option<T>, E> {
            match m.remove(k) {
                None => Ok(None),
                Some(Value::Null) => Err(E::custom(format_args!("{k} must not be null"))),
                Some(v) => T::deserialize(v)
                    .map(Some)
                    .map_err(|e| E::custom(format_args!("{k}: {e}"))),
            }
        }
        let source_name = take::<String, D::Error>(&mut m, "source_name")?
            .ok_or_else(|| D::Error::missing_field("source_name"))?;
        Ok(Self {
            source_name,
            description: take::<_, D::Error>(&mut m, "description")?,
            url: take::<_, D::Error>(&mut m, "url")?,
            hashes: take::<_, D::Error>(&mut m, "hashes")?,
            external_id: take::<_, D::Error>(&mut m, "external_id")?,
            custom: m.into_iter().collect(),
        })
    }
}

impl ExternalReference {
    /// A reference to a URL.
    pub fn url(source_name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            source_name: source_name.into(),
            description: None,
            url: Some(url.into()),
            hashes: None,
            external_id: None,
            custom: BTreeMap::new(),
        }
    }

    /// A reference to an id in an external source, with an optional URL.
    pub fn external_id(
        source_name: impl Into<String>,
        external_id: impl Into<String>,
        url: Option<String>,
    ) -> Self {
        Self {
            external_id: Some(external_id.into()),
            url,
            ..Self::url(source_name, "")
        }
    }

    pub(crate) fn check(&self, f: &mut Fields, path: impl Fn() -> String) {
        if self.description.is_none() && self.url.is_none() && self.external_id.is_none() {
            f.violation(
                path(),
                "an external reference needs at least one of description, url, external_id",
            );
        }
        if matches!(&self.hashes, Some(h) if h.is_empty()) {
            f.violation(format!("{}.hashes", path()), "must not be empty");
        }
    }
}

/// A kill chain phase ([STIX 2.1 §2.8]), e.g. `{kill_chain_name: "disarm", phase_name: "plan-objectives"}`.
///
/// [STIX 2.1 §2.8]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_i4tjv75ce50h
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KillChainPhase {
    /// The kill chain, e.g. `disarm` or `mitre-attack`.
    pub kill_chain_name: String,
    /// The phase, e.g. `plan-objectives`.
    pub phase_name: String,
}

impl KillChainPhase {
    /// A phase of a kill chain.
    pub fn new(kill_chain_name: impl Into<String>, phase_name: impl Into<String>) -> Self {
        Self {
            kill_chain_name: kill_chain_name.into(),
            phase_name: phase_name.into(),
        }
    }
}

/// A granular marking ([STIX 2.1 §7.2.3]): a marking or a language applied to selected
/// properties.
///
/// [STIX 2.1 §7.2.3]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_robezi5egfdr
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GranularMarking {
    /// The language of the selected properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// The marking-definition applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marking_ref: Option<Identifier>,
    /// Selectors of the properties marked.
    pub selectors: Vec<String>,
}

/// The properties common to STIX domain and relationship objects ([STIX 2.1 §3.2]).
///
/// [STIX 2.1 §3.2]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_xzbicbtscatx
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Common {
    /// Always `2.1`.
    pub spec_version: String,
    /// The object's identifier; its type part equals the object's type.
    pub id: Identifier,
    /// The identity that created the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by_ref: Option<Identifier>,
    /// When this object was created (at least millisecond precision).
    pub created: Timestamp,
    /// When this version of the object was made (at least millisecond precision, ≥ created).
    pub modified: Timestamp,
    /// Whether the object is revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<bool>,
    /// Labels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Confidence of the creator, 0–100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// Language of the text (RFC 5646).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// External references.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_references: Vec<ExternalReference>,
    /// Marking-definitions applied to the whole object.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub object_marking_refs: Vec<Identifier>,
    /// Granular markings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub granular_markings: Vec<GranularMarking>,
    /// Extensions, keyed by extension-definition id (or predefined extension name).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, Value>,
}

impl Common {
    /// Common properties for a new object with the given id (whose type part is the object's
    /// type), created and modified now.
    pub fn new(id: Identifier) -> Self {
        let now = Timestamp::now();
        Self::at(id, now)
    }

    /// Common properties with `created` = `modified` = `at` (written with at least three
    /// fractional digits).
    pub fn at(id: Identifier, at: Timestamp) -> Self {
        let at = at.at_least_millis();
        Self {
            spec_version: "2.1".into(),
            id,
            created_by_ref: None,
            created: at,
            modified: at,
            revoked: None,
            labels: Vec::new(),
            confidence: None,
            lang: None,
            external_references: Vec::new(),
            object_marking_refs: Vec::new(),
            granular_markings: Vec::new(),
            extensions: BTreeMap::new(),
        }
    }

    /// Reads the common properties of an object of type `ty`.
    pub(crate) fn read(f: &mut Fields, ty: &str) -> Option<Self> {
        let (spec_version, id) = read_header(f, ty);
        let created_by_ref: Option<Identifier> = f.opt("created_by_ref");
        if let Some(r) = &created_by_ref {
            if r.object_type() != "identity" {
                f.violation("created_by_ref", "must refer to an identity");
            }
        }
        let created: Option<Timestamp> = f.req("created");
        let modified: Option<Timestamp> = f.req("modified");
        let revoked = f.opt("revoked");
        let labels = f.list("labels");
        let confidence = f.opt("confidence");
        let lang: Option<String> = f.opt("lang");
        if let Some(l) = &lang {
            if !is_language_tag(l) {
                f.violation("lang", "is not an RFC 5646 language tag");
            }
        }
        let external_references = read_external_references(f);
        let object_marking_refs: Vec<Identifier> = f.list("object_marking_refs");
        for (i, r) in object_marking_refs.iter().enumerate() {
            if r.object_type() != "marking-definition" {
                f.violation(
                    format!("object_marking_refs[{i}]"),
                    "must refer to a marking-definition",
                );
            }
        }
        let granular_markings: Vec<GranularMarking> = f.list("granular_markings");
        check_granular(f, &granular_markings);
        let extensions = f.extensions();
        let (created, modified) = (created?, modified?);
        check_precision(f, "created", &created);
        check_precision(f, "modified", &modified);
        if modified < created {
            f.violation("modified", "must not be earlier than created");
        }
        Some(Self {
            spec_version: spec_version?,
            id: id?,
            created_by_ref,
            created,
            modified,
            revoked,
            labels,
            confidence,
            lang,
            external_references,
            object_marking_refs,
            granular_markings,
            extensions,
        })
    }

    pub(crate) fn refs<'a>(&'a self, out: &mut Vec<(&'static str, &'a str)>) {
        common_refs(
            self.created_by_ref.as_ref(),
            &self.object_marking_refs,
            &self.granular_markings,
            &self.extensions,
            out,
        );
    }
}

/// The references every object may hold: creator, markings, extension-definitions.
pub(crate) fn common_refs<'a>(
    created_by_ref: Option<&'a Identifier>,
    object_marking_refs: &'a [Identifier],
    granular_markings: &'a [GranularMarking],
    extensions: &'a BTreeMap<String, Value>,
    out: &mut Vec<(&'static str, &'a str)>,
) {
    if let Some(r) = created_by_ref {
        out.push(("created_by_ref", r.as_str()));
    }
    for r in object_marking_refs {
        out.push(("object_marking_refs", r.as_str()));
    }
    granular_refs(granular_markings, out);
    extension_refs(extensions, out);
}

/// `spec_version` (must be `2.1`) and `id` (its type part must be `ty`) of any object.
pub(crate) fn read_header(f: &mut Fields, ty: &str) -> (Option<String>, Option<Identifier>) {
    let spec_version: Option<String> = f.req("spec_version");
    if matches!(&spec_version, Some(v) if v != "2.1") {
        f.violation("spec_version", "must be \"2.1\"");
    }
    let id: Option<Identifier> = f.req("id");
    if let Some(id) = &id {
        if id.object_type() != ty {
            f.violation(
                "id",
                format!(
                    "type part {:?} does not match type {ty:?}",
                    id.object_type()
                ),
            );
        }
    }
    (spec_version, id)
}

/// `external_references`, each checked.
pub(crate) fn read_external_references(f: &mut Fields) -> Vec<ExternalReference> {
    let refs: Vec<ExternalReference> = f.list("external_references");
    for (i, r) in refs.iter().enumerate() {
        r.check(f, || format!("external_references[{i}]"));
    }
    refs
}

pub(crate) fn granular_refs<'a>(g: &'a [GranularMarking], out: &mut Vec<(&'static str, &'a str)>) {
    for m in g {
        if let Some(r) = &m.marking_ref {
            out.push(("granular_markings", r.as_str()));
        }
    }
}

pub(crate) fn extension_refs<'a>(
    e: &'a BTreeMap<String, Value>,
    out: &mut Vec<(&'static str, &'a str)>,
) {
    for k in e.keys() {
        if k.starts_with("extension-definition--") {
            out.push(("extensions", k.as_str()));
        }
    }
}

pub(crate) fn check_granular(f: &mut Fields, g: &[GranularMarking]) {
    for (i, m) in g.iter().enumerate() {
        let path = format!("granular_markings[{i}]");
        match (&m.lang, &m.marking_ref) {
            (Some(_), Some(_)) | (None, None) => {
                f.violation(&path, "needs exactly one of lang and marking_ref")
            }
            (_, Some(r)) if r.object_type() != "marking-definition" => f.violation(
                format!("{path}.marking_ref"),
                "must refer to a marking-definition",
            ),
            _ => {}
        }
        if m.selectors.is_empty() {
            f.violation(format!("{path}.selectors"), "must not be empty");
        }
    }
}

pub(crate) fn check_precision(f: &mut Fields, path: &str, t: &Timestamp) {
    if t.fraction_digits() < 3 {
        f.violation(
            path,
            format!("{t} needs at least millisecond precision (three fractional digits)"),
        );
    }
}

/// A loose RFC 5646 check: alphanumeric subtags of 1–8 characters separated by hyphens,
/// the first alphabetic.
pub(crate) fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let Some(first) = parts.next() else {
        return false;
    };
    (1..=8).contains(&first.len())
        && first.bytes().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_alphanumeric()))
}
