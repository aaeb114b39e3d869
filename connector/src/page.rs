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

    /// Copies out the objects a later page may carry again, to remember once OpenCTI accepted
    /// this page: those another object refers to (the identity, markings, techniques, … the
    /// server puts on every page that refers to them), not accepted before, and not replaced
    /// by a later object with the same id. The answer itself need not be kept for that.
    pub fn repeatable(&self) -> Repeatable {
        Repeatable(
            self.objects
                .iter()
                .filter(|o| o.referenced && !o.known && !o.replaced)
                .map(|o| (self.text(o).to_owned(), o.clone()))
                .collect(),
        )
    }
}

/// The objects of a page a later page may carry again ([`Page::repeatable`]).
#[derive(Debug, Default)]
pub struct Repeatable(Vec<(String, PageObject)>);

impl Repeatable {
    /// Remembers the objects, OpenCTI having accepted their page, except those `refused` names
    /// (left out or changed by the split, too large). First the set forgets what this page did
    /// not carry again, when it is half full.
    pub fn accepted(self, seen: &mut SeenSet, refused: &HashSet<Arc<str>>) {
        seen.tidy();
        for (text, o) in &self.0 {
            if !refused.contains(&o.id) {
                seen.insert(
                    text,
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

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: &str = r#"{"type":"identity","spec_version":"2.1","id":"identity--2d1c6e2a-7f7b-4a8e-9c3d-5b6a7e8f9a0b","created":"2024-05-01T00:00:00.000Z","modified":"2024-05-01T00:00:00.000Z","name":"Creator","identity_class":"organization"}"#;

    fn incident(n: u8) -> String {
        format!(
            r#"{{"type":"incident","spec_version":"2.1","id":"incident--0a6f2c1e-3b4d-4e5f-8a9b-1c2d3e4f5a{n:02}","created":"2024-05-01T00:00:00.000Z","modified":"2024-05-01T00:00:00.000Z","name":"Incident {n}","created_by_ref":"identity--2d1c6e2a-7f7b-4a8e-9c3d-5b6a7e8f9a0b"}}"#
        )
    }

    fn answer(objects: &[&str]) -> Vec<u8> {
        format!(
            r#"{{"type":"bundle","id":"bundle--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60","objects":[{}]}}"#,
            objects.join(",")
        )
        .into_bytes()
    }

    fn known_ids(page: &Page) -> Vec<&str> {
        page.objects
            .iter()
            .filter(|o| o.known)
            .map(|o| &*o.id)
            .collect()
    }

    #[test]
    fn an_object_is_known_only_once_its_page_was_accepted() {
        let mut seen = SeenSet::new(1 << 20);
        let first = Page::read(answer(&[IDENTITY, &incident(1)]), &mut seen).unwrap();
        assert!(first.closed && known_ids(&first).is_empty());
        assert!(first.objects[0].referenced, "the incident refers to it");
        assert!(!first.objects[1].referenced);
        let second = answer(&[IDENTITY, &incident(2)]);
        // Not accepted (the push failed, or has not happened yet): nothing is known.
        let page = Page::read(second.clone(), &mut seen).unwrap();
        assert!(known_ids(&page).is_empty());
        // Accepted, but the split left it out or changed it: still not known.
        let refused: HashSet<Arc<str>> = [first.objects[0].id.clone()].into_iter().collect();
        first.repeatable().accepted(&mut seen, &refused);
        assert!(seen.is_empty());
        // Accepted: the identity is known on the next page; the incident (nothing refers
        // to it, so no page repeats it) is not remembered.
        first.repeatable().accepted(&mut seen, &HashSet::new());
        assert_eq!(seen.len(), 1);
        let page = Page::read(second, &mut seen).unwrap();
        assert_eq!(
            known_ids(&page),
            ["identity--2d1c6e2a-7f7b-4a8e-9c3d-5b6a7e8f9a0b"]
        );
        assert_eq!(page.text(&page.objects[0]), IDENTITY);
        assert_eq!(page.newest_modified, first.newest_modified);
        // A changed version is another object, checked and sent.
        let changed = IDENTITY.replace("\"Creator\"", "\"Creator, renamed\"");
        let page = Page::read(answer(&[&changed, &incident(3)]), &mut seen).unwrap();
        assert!(known_ids(&page).is_empty());
    }

    #[test]
    fn a_page_is_closed_when_every_reference_points_into_it() {
        let mut seen = SeenSet::new(1 << 20);
        // The creator after the incident: found at the end.
        let page = Page::read(answer(&[&incident(1), IDENTITY]), &mut seen).unwrap();
        assert!(page.closed && page.objects[1].referenced);
        // The creator missing, or invalid: not closed.
        let page = Page::read(answer(&[&incident(1)]), &mut seen).unwrap();
        assert!(!page.closed);
        let bad = IDENTITY.replace("00.000Z\",\"name", "00Z\",\"name");
        let page = Page::read(answer(&[&incident(1), &bad]), &mut seen).unwrap();
        assert!(!page.closed);
        assert_eq!(page.objects.len(), 1);
        assert_eq!(page.invalid.len(), 1, "{:?}", page.invalid);
        // The same id twice: the last one is the one that counts.
        let page = Page::read(answer(&[IDENTITY, &incident(1), IDENTITY]), &mut seen).unwrap();
        assert!(page.objects[0].replaced && !page.objects[2].replaced);
    }

    #[test]
    fn the_bundle_is_checked_and_objects_that_are_not_objects_are_reported() {
        let mut seen = SeenSet::new(0);
        let page = Page::read(
            br#"{"type":"bundle","id":"identity--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60","objects":[5,{"type":"incident"}]}"#.to_vec(),
            &mut seen,
        )
        .unwrap();
        assert!(page.objects.is_empty());
        let text: Vec<String> = page.invalid.iter().map(ToString::to_string).collect();
        // The bundle's id, the number, and every missing property of the incident.
        assert_eq!(text.len(), 7, "{text:?}");
        assert!(text[0].contains("bundle--"), "{text:?}");
        assert!(text[1].contains("not a JSON object"), "{text:?}");
        assert!(text[2..]
            .iter()
            .all(|t| t.contains("required property is missing")));
        let page = Page::read(
            br#"{"type":"bundle","id":"bundle--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60","objects":[]}"#.to_vec(),
            &mut seen,
        )
        .unwrap();
        assert_eq!(page.invalid.len(), 1, "an empty list is a violation");
        for bad in [
            &b"<html>"[..],
            b"[]",
            b"{\"type\":5}",
            b"{\"objects\":[1,]}",
            b"\xff",
        ] {
            assert!(
                matches!(
                    Page::read(bad.to_vec(), &mut seen),
                    Err(SourceError::Malformed(_))
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
