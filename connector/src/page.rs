//! One answer of the bundle endpoint, read and checked: every object is cut out of the answer
//! as its own JSON text (one scan, nothing built), an object whose text OpenCTI already
//! accepted in this run is recognised by that text and left as it is, and every other object
//! is parsed and checked by stix-model. Objects are handed on as the server wrote them: the
//! check proves the text valid, and writing it again would only cost time.

use std::ops::Range;
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use stix_model::{Bundle, StixObject, Timestamp, Violation};

use crate::seen::{Known, SeenSet};
use crate::source::SourceError;

/// A valid object of a page.
#[derive(Debug, Clone)]
pub struct PageObject {
    /// Where its text is in the answer.
    span: Range<usize>,
    /// Its `id`.
    pub id: Arc<str>,
    /// Its `modified`, if it has one.
    pub modified: Option<Timestamp>,
    /// Whether it is an incident.
    pub incident: bool,
    /// OpenCTI accepted this very text earlier in the run (so it was not checked again).
    pub known: bool,
    /// Another object of the page refers to it (the reason a server repeats an object on
    /// later pages).
    pub referenced: bool,
    /// A later object of the page has the same id (and is the one the split keeps).
    pub replaced: bool,
}

/// One page of the bundle endpoint.
#[derive(Debug)]
pub struct Page {
    /// The answer, as received.
    body: String,
    /// The valid objects, in the server's order.
    pub objects: Vec<PageObject>,
    /// How many of them are incidents.
    pub incidents: u64,
    /// The newest `modified` among them.
    pub newest_modified: Option<Timestamp>,
    /// Objects left out because they are not valid STIX, with why.
    pub invalid: Vec<Violation>,
    /// Whether every reference of every object not accepted before points to an object of the
    /// page. Only then can the objects accepted before stay out of the split (see
    /// `worker/push.rs`).
    pub closed: bool,
    /// The cursor to continue from (also after the last page).
    pub next_cursor: Option<String>,
    /// The server's high-water mark (a change time).
    pub high_water_mark: Option<String>,
    /// Whether another page is ready now.
    pub more: bool,
}

impl Page {
    /// Reads an answer: the bundle's own properties are checked as stix-model checks a bundle,
    /// each object that is not in `seen` is parsed and checked on its own.
    pub(crate) fn read(body: Vec<u8>, seen: &mut SeenSet) -> Result<Self, SourceError> {
        let body = String::from_utf8(body)
            .map_err(|e| SourceError::Malformed(format!("not UTF-8: {}", e.utf8_error())))?;
        let mut envelope = serde_json::Deserializer::from_str(&body);
        let head = envelope
            .deserialize_map(EnvelopeVisitor)
            .and_then(|h| envelope.end().map(|()| h))
            .map_err(|e| SourceError::Malformed(e.to_string()))?;
        let mut invalid = match Bundle::stream(head.text().as_bytes(), |_| Ok(())) {
            Ok(_) => Vec::new(),
            // The bundle's own properties are wrong (its id, a spec_version): reported, the
            // objects go on.
            Err(stix_model::Error::Invalid(v)) => v,
            Err(e) => return Err(SourceError::Malformed(e.to_string())),
        };
        let base = body.as_ptr() as usize;
        let mut objects: Vec<PageObject> = Vec::with_capacity(head.objects.len());
        let (mut incidents, mut newest_modified) = (0, None);
        // The page's ids, each with its last object, and references not (yet) found among them.
        let mut ids: HashMap<Arc<str>, usize> = HashMap::with_capacity(head.objects.len());
        let mut unresolved: Vec<String> = Vec::new();
        for raw in &head.objects {
            let text = raw.get();
            // serde_json borrows each object's text from the answer.
            let span = match (text.as_ptr() as usize).checked_sub(base) {
                Some(at) if at + text.len() <= body.len() => at..at + text.len(),
                _ => {
                    return Err(SourceError::Malformed(
                        "an object outside the answer".into(),
                    ))
                }
            };
            let object = match seen.get(text) {
                Some(k) => PageObject {
                    span,
                    id: Arc::from(k.id),
                    modified: k.modified,
                    incident: k.incident,
                    known: true,
                    referenced: false,
                    replaced: false,
                },
                None => match check(text) {
                    Ok(o) => {
                        let mut refs = Vec::with_capacity(8);
                        o.collect_references(&mut refs);
                        for (_, r) in &refs {
                            match ids.get(*r) {
                                Some(&i) => objects[i].referenced = true,
                                None => unresolved.push((*r).to_owned()),
                            }
                        }
                        PageObject {
                            span,
                            id: Arc::from(o.id()),
                            modified: o.modified(),
                            incident: o.object_type() == "incident",
                            known: false,
                            referenced: false,
                            replaced: false,
                        }
                    }
                    Err(v) => {
                        invalid.extend(v);
                        continue;
                    }
                },
            };
            if let Some(before) = ids.insert(object.id.clone(), objects.len()) {
                objects[before].replaced = true;
            }
            incidents += u64::from(object.incident);
            newest_modified = newest_modified.max(object.modified);
            objects.push(object);
        }
        let mut closed = true;
        for r in &unresolved {
            match ids.get(r.as_str()) {
                Some(&i) => objects[i].referenced = true,
                None => closed = false,
            }
        }
        drop(ids);
        drop(head);
        Ok(Self {
            body,
            objects,
            incidents,
            newest_modified,
            invalid,
            closed,
            next_cursor: None,
            high_water_mark: None,
            more: false,
        })
    }

    /// The JSON text of one of the page's objects.
    pub fn text(&self, o: &PageObject) -> &str {
        &self.body[o.span.clone()]
    }

    /// Remembers the objects OpenCTI accepted from this page that a later page may carry again:
    /// those another object refers to (the identity, markings, techniques, … the server puts
    /// on every page that refers to them), except those accepted before, those `refused` names
    /// (left out by the split, too large) and those a later object with the same id replaced.
    /// First the set forgets what this page did not carry again, when it is half full.
    pub fn accepted(&self, seen: &mut SeenSet, refused: &HashSet<Arc<str>>) {
        seen.tidy();
        for o in &self.objects {
            if o.referenced && !o.known && !o.replaced && !refused.contains(&o.id) {
                seen.insert(
                    self.text(o),
                    Known {
                        id: &o.id,
                        modified: o.modified,
                        incident: o.incident,
                    },
                );
            }
        }
    }
}

/// Parses and checks one object; every violation when it is not valid.
fn check(text: &str) -> Result<StixObject, Vec<Violation>> {
    let error = match serde_json::from_str::<StixObject>(text) {
        Ok(o) => return Ok(o),
        Err(e) => e,
    };
    // The rare path: again through a JSON map, for the violations one by one.
    Err(match serde_json::from_str::<Map<String, Value>>(text) {
        Ok(m) => match StixObject::from_map(m) {
            Err(v) => v,
            Ok(o) => vec![Violation::new(Some(o.id()), "", error.to_string())],
        },
        Err(e) => vec![Violation::new(None, "", format!("not a JSON object: {e}"))],
    })
}

/// The bundle's own properties (as JSON text) and its objects (as spans of the answer).
struct Envelope<'a> {
    ty: Option<&'a RawValue>,
    id: Option<&'a RawValue>,
    objects_empty: bool,
    objects: Vec<&'a RawValue>,
}

impl Envelope<'_> {
    /// The bundle without its objects, for stix-model to check its own properties.
    fn text(&self) -> String {
        let mut t = String::from("{");
        for (name, v) in [("type", self.ty), ("id", self.id)] {
            if let Some(v) = v {
                if t.len() > 1 {
                    t.push(',');
                }
                t.push_str(&format!("\"{name}\":{}", v.get()));
            }
        }
        if self.objects_empty {
            t.push_str(if t.len() > 1 {
                ",\"objects\":[]"
            } else {
                "\"objects\":[]"
            });
        }
        t.push('}');
        t
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a STIX bundle object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope<'de>, A::Error> {
        let mut e = Envelope {
            ty: None,
            id: None,
            objects_empty: false,
            objects: Vec::new(),
        };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "type" => e.ty = Some(map.next_value()?),
                "id" => e.id = Some(map.next_value()?),
                "objects" => {
                    let before = e.objects.len();
                    map.next_value_seed(ObjectsSeed(&mut e.objects))?;
                    e.objects_empty = e.objects.len() == before;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(e)
    }
}

/// The `objects` list, each element kept as its JSON text.
struct ObjectsSeed<'v, 'de>(&'v mut Vec<&'de RawValue>);

impl<'de> DeserializeSeed<'de> for ObjectsSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ObjectsSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of STIX objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(o) = seq.next_element::<&'de RawValue>()? {
            self.0.push(o);
        }
        Ok(())
    }
}
