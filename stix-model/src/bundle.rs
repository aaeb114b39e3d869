//! Bundles ([STIX 2.1 §8]): read object by object, never as one `serde_json::Value`.
//!
//! [STIX 2.1 §8]: https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_gms872kuzdmg

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::object::ObjectSeed;
use crate::validate::Report;
use crate::write::Obj;
use crate::{Error, Identifier, StixObject, Timestamp, Violation};

/// A STIX 2.1 bundle: `{"type": "bundle", "id": …, "objects": […]}`.
///
/// A 2.1 bundle has no `spec_version`; a bundle-level property the spec does not define
/// (OpenCTI's splitter writes `spec_version` and `x_opencti_seq`) is kept in `custom`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Bundle {
    #[serde(rename = "type")]
    ty: BundleType,
    /// The bundle's id (`bundle--<uuid>`).
    pub id: Identifier,
    /// The objects, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<StixObject>,
    /// Other bundle-level properties.
    #[serde(flatten)]
    pub custom: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename = "bundle")]
enum BundleType {
    #[serde(rename = "bundle")]
    Bundle,
}

impl Bundle {
    /// A bundle with a new random id.
    pub fn new(objects: Vec<StixObject>) -> Self {
        let id = Identifier::from_uuid("bundle", uuid::Uuid::new_v4());
        Self {
            ty: BundleType::Bundle,
            // A v4 UUID always forms a valid id; the fallback keeps this infallible.
            id: id.unwrap_or_else(|_| fixed_bundle_id()),
            objects,
            custom: BTreeMap::new(),
        }
    }

    /// A bundle with the given id.
    pub fn with_id(id: Identifier, objects: Vec<StixObject>) -> Result<Self, Error> {
        if id.object_type() != "bundle" {
            return Err(Error::InvalidIdentifier {
                value: id.to_string(),
                reason: "a bundle id must start with bundle--",
            });
        }
        Ok(Self {
            ty: BundleType::Bundle,
            id,
            objects,
            custom: BTreeMap::new(),
        })
    }

    /// Parses a bundle strictly: the first invalid object fails the parse, with every
    /// violation of that object in the error.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        // UTF-8 checked once for the whole input (fast), not string by string; input that is
        // not UTF-8 is read as bytes, for serde_json's error with its position.
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Ok(serde_json::from_slice(bytes)?);
        };
        // Room for the objects up front, from the size of the input (objects of 512 bytes
        // and more, as STIX objects mostly are, fit): the list is not copied as it grows.
        let objects = Vec::with_capacity(bytes.len() / 512);
        let mut de = serde_json::Deserializer::from_str(text);
        let bundle = Self::read_strict(&mut de, objects)?;
        de.end()?;
        Ok(bundle)
    }

    /// Parses a bundle strictly from a reader (wrap files in a `BufReader`).
    pub fn from_reader<R: Read>(reader: R) -> Result<Self, Error> {
        Ok(serde_json::from_reader(reader)?)
    }

    /// Parses a bundle leniently: objects that do not parse are left out and reported, the
    /// references are checked, and the report lists every violation found. Fails only on
    /// malformed JSON or a document that is not a bundle at all.
    pub fn read_lenient<R: Read>(reader: R) -> Result<(Self, Report), Error> {
        let mut objects = Vec::new();
        let mut report = Report::default();
        let mut de = serde_json::Deserializer::from_reader(reader);
        let head = de.deserialize_map(BundleVisitor {
            on_object: |o: Result<StixObject, Vec<Violation>>| {
                match o {
                    Ok(o) => objects.push(o),
                    Err(v) => report.violations.extend(v),
                }
                Ok(())
            },
        })?;
        de.end()?;
        let (bundle, head_violations) = head.into_bundle(objects);
        report.violations.extend(head_violations);
        report.violations.extend(bundle.check_references());
        Ok((bundle, report))
    }

    /// Visits the objects of a bundle one at a time without keeping them: memory stays
    /// bounded by the largest object. Returns the bundle with no objects.
    pub fn stream<R: Read>(
        reader: R,
        mut on_object: impl FnMut(Result<StixObject, Vec<Violation>>) -> Result<(), String>,
    ) -> Result<Self, Error> {
        let mut de = serde_json::Deserializer::from_reader(reader);
        let head = de.deserialize_map(BundleVisitor {
            on_object: &mut on_object,
        })?;
        de.end()?;
        let (bundle, v) = head.into_bundle(Vec::new());
        if v.is_empty() {
            Ok(bundle)
        } else {
            Err(Error::Invalid(v))
        }
    }

    /// Every violation: of each object, and of the references between them.
    pub fn validate(&self) -> Report {
        let mut violations = Vec::new();
        for o in &self.objects {
            violations.extend(o.validate());
        }
        violations.extend(self.check_references());
        Report { violations }
    }

    /// References that point to no object in the bundle, and objects present twice with the
    /// same `modified`.
    pub fn check_references(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        // The objects sorted by the end of their id (a 128-bit number, cheap to compare), then
        // id and modified: equal neighbours are duplicates, and a binary search on the number
        // answers "is it here".
        let mut present: Vec<(u128, &str, Option<Timestamp>)> = self
            .objects
            .iter()
            .map(|o| (uuid_key(o.id()), o.id(), o.modified()))
            .collect();
        present.sort_unstable();
        for w in present.windows(2) {
            if w[0] == w[1] {
                out.push(Violation::new(
                    Some(w[0].1),
                    "",
                    "appears twice in the bundle with the same modified time",
                ));
            }
        }
        let keys: Vec<u128> = present.iter().map(|p| p.0).collect();
        let is_present = |r: &str| {
            let key = uuid_key(r);
            let at = keys.partition_point(|k| *k < key);
            present[at..]
                .iter()
                .take_while(|p| p.0 == key)
                .any(|p| p.1 == r)
        };
        let mut refs = Vec::new();
        for o in &self.objects {
            refs.clear();
            o.collect_references(&mut refs);
            for (prop, r) in &refs {
                if !is_present(r) {
                    out.push(Violation::new(
                        Some(o.id()),
                        *prop,
                        format!("refers to {r}, which is not in the bundle"),
                    ));
                }
            }
        }
        out
    }

    /// Writes compact JSON (what `serde_json::to_writer` writes, written directly), in pieces
    /// of about 64 KiB.
    pub fn to_writer<W: Write>(&self, mut w: W) -> Result<(), Error> {
        let mut buf = Vec::with_capacity(CHUNK + 4096);
        self.write_json(&mut buf, |buf| {
            if buf.len() >= CHUNK {
                w.write_all(buf)?;
                buf.clear();
            }
            Ok(())
        })?;
        w.write_all(&buf)?;
        Ok(())
    }

    /// Compact JSON bytes (what `serde_json::to_vec` gives, written directly).
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        // About the size of typical objects, so that the buffer rarely grows (and is copied).
        let mut out = Vec::with_capacity(256 + self.objects.len() * 640);
        self.write_json(&mut out, |_| Ok(()))?;
        Ok(out)
    }

    /// Writes the bundle into `out`, calling `flush` after each object.
    fn write_json(
        &self,
        out: &mut Vec<u8>,
        mut flush: impl FnMut(&mut Vec<u8>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut o = Obj::begin(out);
        o.type_name("bundle");
        o.field("id", &self.id)?;
        if !self.objects.is_empty() {
            o.key("objects");
            o.out().push(b'[');
            for (i, object) in self.objects.iter().enumerate() {
                if i > 0 {
                    o.out().push(b',');
                }
                object.write_json(o.out())?;
                flush(o.out())?;
            }
            o.out().push(b']');
        }
        o.custom(&self.custom)?;
        o.end();
        Ok(())
    }

    /// Indented JSON text.
    pub fn to_string_pretty(&self) -> Result<String, Error> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Finds an object by id.
    pub fn get(&self, id: &str) -> Option<&StixObject> {
        self.objects.iter().find(|o| o.id() == id)
    }
}

/// The last 16 bytes of an id (its UUID's last part) as a number: a cheap sort key, on which
/// ids rarely agree.
fn uuid_key(id: &str) -> u128 {
    let b = id.as_bytes();
    let tail = &b[b.len().saturating_sub(16)..];
    let mut buf = [0u8; 16];
    buf[16 - tail.len()..].copy_from_slice(tail);
    u128::from_be_bytes(buf)
}

/// The size of the pieces [`Bundle::to_writer`] writes.
const CHUNK: usize = 64 * 1024;

fn fixed_bundle_id() -> Identifier {
    match Identifier::parse("bundle--00000000-0000-4000-8000-000000000000") {
        Ok(id) => id,
        Err(_) => unreachable!("constant id is valid"),
    }
}

struct Head {
    ty: Option<String>,
    id: Option<String>,
    objects_present: bool,
    objects_empty: bool,
    custom: BTreeMap<String, Value>,
}

impl Head {
    fn into_bundle(self, objects: Vec<StixObject>) -> (Bundle, Vec<Violation>) {
        let mut v = Vec::new();
        let id = self.id.as_deref();
        if self.ty.as_deref() != Some("bundle") {
            v.push(Violation::new(
                id,
                "type",
                "a bundle's type must be \"bundle\"",
            ));
        }
        let parsed = match self.id.as_deref().map(Identifier::parse) {
            Some(Ok(i)) if i.object_type() == "bundle" => i,
            Some(Ok(_)) => {
                v.push(Violation::new(
                    id,
                    "id",
                    "a bundle id must start with bundle--",
                ));
                fixed_bundle_id()
            }
            Some(Err(e)) => {
                v.push(Violation::new(None, "id", e.to_string()));
                fixed_bundle_id()
            }
            None => {
                v.push(Violation::new(None, "id", "required property is missing"));
                fixed_bundle_id()
            }
        };
        if self.objects_present && self.objects_empty {
            v.push(Violation::new(
                id,
                "objects",
                "must not be an empty list; omit the property instead",
            ));
        }
        (
            Bundle {
                ty: BundleType::Bundle,
                id: parsed,
                objects,
                custom: self.custom,
            },
            v,
        )
    }
}

struct BundleVisitor<F> {
    on_object: F,
}

impl<'de, F> Visitor<'de> for BundleVisitor<F>
where
    F: FnMut(Result<StixObject, Vec<Violation>>) -> Result<(), String>,
{
    type Value = Head;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a STIX bundle object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Head, A::Error> {
        let mut head = Head {
            ty: None,
            id: None,
            objects_present: false,
            objects_empty: false,
            custom: BTreeMap::new(),
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => head.ty = Some(map.next_value()?),
                "id" => head.id = Some(map.next_value()?),
                "objects" => {
                    let n = map.next_value_seed(ObjectsSeed(&mut self.on_object))?;
                    head.objects_present = true;
                    head.objects_empty = n == 0;
                }
                _ => {
                    let v: Value = map.next_value()?;
                    head.custom.insert(key, v);
                }
            }
        }
        Ok(head)
    }
}

struct ObjectsSeed<'a, F>(&'a mut F);

impl<'de, F> DeserializeSeed<'de> for ObjectsSeed<'_, F>
where
    F: FnMut(Result<StixObject, Vec<Violation>>) -> Result<(), String>,
{
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F> Visitor<'de> for ObjectsSeed<'_, F>
where
    F: FnMut(Result<StixObject, Vec<Violation>>) -> Result<(), String>,
{
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of STIX objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut n = 0;
        while let Some(obj) = seq.next_element_seed(ObjectSeed)? {
            n += 1;
            (self.0)(obj).map_err(de::Error::custom)?;
        }
        Ok(n)
    }
}

impl<'de> Deserialize<'de> for Bundle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::read_strict(d, Vec::new())
    }
}

impl Bundle {
    /// A strict parse, the objects pushed into `objects`.
    fn read_strict<'de, D: Deserializer<'de>>(
        d: D,
        mut objects: Vec<StixObject>,
    ) -> Result<Self, D::Error> {
        let head = d.deserialize_map(BundleVisitor {
            on_object: |o: Result<StixObject, Vec<Violation>>| {
                objects.push(o.map_err(|v| Error::Invalid(v).to_string())?);
                Ok(())
            },
        })?;
        let (bundle, v) = head.into_bundle(objects);
        if v.is_empty() {
            Ok(bundle)
        } else {
            Err(de::Error::custom(Error::Invalid(v)))
        }
    }
}
