//! Properties shared by STIX domain and relationship objects, and the embedded types
//! ([STIX 2.1 §3.2, §2.5, §2.8, §7.2.3]).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::read::{check_extensions, ids, Cx, Key, Slot};
use crate::write::{Obj, Written};
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

    pub(crate) fn check(&self, cx: &mut Cx, path: impl Fn() -> String) {
        if self.description.is_none() && self.url.is_none() && self.external_id.is_none() {
            cx.violation(
                path(),
                "an external reference needs at least one of description, url, external_id",
            );
        }
        if matches!(&self.hashes, Some(h) if h.is_empty()) {
            cx.violation(format!("{}.hashes", path()), "must not be empty");
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

    /// Writes the common properties, in the order `Serialize` writes them.
    pub(crate) fn write_fields(&self, o: &mut Obj<'_>) -> Written {
        o.field("spec_version", &self.spec_version)?;
        o.field("id", &self.id)?;
        o.opt("created_by_ref", &self.created_by_ref)?;
        o.field("created", &self.created)?;
        o.field("modified", &self.modified)?;
        o.opt("revoked", &self.revoked)?;
        o.list("labels", &self.labels)?;
        o.opt("confidence", &self.confidence)?;
        o.opt("lang", &self.lang)?;
        o.list("external_references", &self.external_references)?;
        o.list("object_marking_refs", &self.object_marking_refs)?;
        o.list("granular_markings", &self.granular_markings)?;
        o.map("extensions", &self.extensions)
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

/// The common properties of an object being read.
#[derive(Debug, Default)]
pub(crate) struct CommonProps {
    spec_version: Slot<String>,
    id: Slot<String>,
    created_by_ref: Slot<Identifier>,
    created: Slot<Timestamp>,
    modified: Slot<Timestamp>,
    revoked: Slot<bool>,
    labels: Slot<Vec<String>>,
    confidence: Slot<Confidence>,
    lang: Slot<String>,
    external_references: Slot<Vec<ExternalReference>>,
    object_marking_refs: Slot<Vec<Identifier>>,
    granular_markings: Slot<Vec<GranularMarking>>,
    extensions: Slot<BTreeMap<String, Value>>,
}

impl CommonProps {
    /// Reads `key` when it is a common property; otherwise gives the deserializer back.
    pub(crate) fn read<'de, D: Deserializer<'de>>(
        &mut self,
        key: &Key,
        d: D,
        cx: &mut Cx,
    ) -> Result<Option<D>, D::Error> {
        match key.known() {
            Some(ids::SPEC_VERSION) => self.spec_version.read("spec_version", d, cx)?,
            Some(ids::ID) => self.id.read("id", d, cx)?,
            Some(ids::CREATED_BY_REF) => self.created_by_ref.read("created_by_ref", d, cx)?,
            Some(ids::CREATED) => self.created.read("created", d, cx)?,
            Some(ids::MODIFIED) => self.modified.read("modified", d, cx)?,
            Some(ids::REVOKED) => self.revoked.read("revoked", d, cx)?,
            Some(ids::LABELS) => self.labels.read("labels", d, cx)?,
            Some(ids::CONFIDENCE) => self.confidence.read("confidence", d, cx)?,
            Some(ids::LANG) => self.lang.read("lang", d, cx)?,
            Some(ids::EXTERNAL_REFERENCES) => {
                self.external_references
                    .read("external_references", d, cx)?
            }
            Some(ids::OBJECT_MARKING_REFS) => {
                self.object_marking_refs
                    .read("object_marking_refs", d, cx)?
            }
            Some(ids::GRANULAR_MARKINGS) => {
                self.granular_markings.read("granular_markings", d, cx)?
            }
            Some(ids::EXTENSIONS) => self.extensions.read("extensions", d, cx)?,
            _ => return Ok(Some(d)),
        }
        Ok(None)
    }

    /// The common properties of an object of type `ty`, with every rule checked; `None` when
    /// a required one is missing or invalid (the object's id is then left in `cx`).
    pub(crate) fn finish(self, ty: &str, cx: &mut Cx) -> Option<Common> {
        let (spec_version, id) = finish_header(self.spec_version, self.id, ty, cx);
        let created_by_ref = self.created_by_ref.optional();
        if let Some(r) = &created_by_ref {
            if r.object_type() != "identity" {
                cx.violation("created_by_ref", "must refer to an identity");
            }
        }
        let created = self.created.required("created", cx);
        let modified = self.modified.required("modified", cx);
        let lang = self.lang.optional();
        if let Some(l) = &lang {
            if !is_language_tag(l) {
                cx.violation("lang", "is not an RFC 5646 language tag");
            }
        }
        let external_references = self.external_references.list();
        check_external_references(&external_references, cx);
        let object_marking_refs = self.object_marking_refs.list();
        check_marking_refs(&object_marking_refs, cx);
        let granular_markings = self.granular_markings.list();
        check_granular(cx, &granular_markings);
        let extensions = self.extensions.optional().unwrap_or_default();
        check_extensions(&extensions, cx);
        let (created, modified, spec_version, id) = match (created, modified, spec_version, id) {
            (Some(c), Some(m), Some(s), Some(i)) => (c, m, s, i),
            (.., id) => {
                cx.id = id.map(String::from).or(cx.id.take());
                return None;
            }
        };
        check_precision(cx, "created", &created);
        check_precision(cx, "modified", &modified);
        if modified < created {
            cx.violation("modified", "must not be earlier than created");
        }
        Some(Common {
            spec_version,
            id,
            created_by_ref,
            created,
            modified,
            revoked: self.revoked.optional(),
            labels: self.labels.list(),
            confidence: self.confidence.optional(),
            lang,
            external_references,
            object_marking_refs,
            granular_markings,
            extensions,
        })
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

/// `spec_version` (must be `2.1`) and `id` (its type part must be `ty`) of any object. The
/// id as given is left in `cx` to name the object in its violations.
pub(crate) fn finish_header(
    spec_version: Slot<String>,
    id: Slot<String>,
    ty: &str,
    cx: &mut Cx,
) -> (Option<String>, Option<Identifier>) {
    let spec_version = spec_version.required("spec_version", cx);
    if matches!(&spec_version, Some(v) if v != "2.1") {
        cx.violation("spec_version", "must be \"2.1\"");
    }
    let id = match id.required("id", cx).map(Identifier::parse) {
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => {
            if let Error::InvalidIdentifier { value, .. } = &e {
                cx.id = Some(value.clone());
            }
            cx.violation("id", e.to_string());
            None
        }
        None => None,
    };
    if let Some(id) = &id {
        if id.object_type() != ty {
            cx.violation(
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

/// Each external reference has one of description, url, external_id, and no empty hashes.
pub(crate) fn check_external_references(refs: &[ExternalReference], cx: &mut Cx) {
    for (i, r) in refs.iter().enumerate() {
        r.check(cx, || format!("external_references[{i}]"));
    }
}

/// `object_marking_refs` point at marking-definitions.
pub(crate) fn check_marking_refs(refs: &[Identifier], cx: &mut Cx) {
    for (i, r) in refs.iter().enumerate() {
        if r.object_type() != "marking-definition" {
            cx.violation(
                format!("object_marking_refs[{i}]"),
                "must refer to a marking-definition",
            );
        }
    }
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

pub(crate) fn check_granular(f: &mut Cx, g: &[GranularMarking]) {
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

pub(crate) fn check_precision(f: &mut Cx, path: &str, t: &Timestamp) {
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
