//! The front end on objects held as JSON text: [`split_texts`].

use serde_json::{Map, Value};

use super::plan::{plan, Outcome, Skeleton, Step};
use super::skeleton::skeleton_of_text;
use super::values::finish;
use super::{new_bundle_id, Dropped, RemovedRef, SplitOptions};

/// The outcome of [`split_texts`]: the objects as JSON text, in order.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TextSplit {
    /// The id of every output bundle.
    pub bundle_id: String,
    /// `x_opencti_event_version` of every output bundle, when set.
    pub event_version: Option<String>,
    /// The objects, dependencies first, each with its `nb_deps` (which its text carries too).
    pub objects: Vec<(u64, String)>,
    /// Objects left out.
    pub dropped: Vec<Dropped>,
    /// References removed.
    pub removed_refs: Vec<RemovedRef>,
}

impl TextSplit {
    /// The number of expectations to add to a work: one per bundle.
    pub fn expectations(&self) -> usize {
        self.objects.len()
    }

    /// The `k`-th output bundle as JSON text: the `k`-th object in a bundle of its own, as
    /// [`split_objects`](super::split_objects) makes it.
    pub fn bundle(&self, k: usize) -> Option<String> {
        let (deps, object) = self.objects.get(k)?;
        Some(self.wrap(*deps, object))
    }

    /// Every output bundle as JSON text, in order, each object's text freed once its bundle
    /// is made.
    pub fn into_bundles(self) -> impl Iterator<Item = String> {
        let Self {
            bundle_id,
            event_version,
            objects,
            ..
        } = self;
        let head = Self {
            bundle_id,
            event_version,
            ..Self::default()
        };
        objects
            .into_iter()
            .map(move |(deps, object)| head.wrap(deps, &object))
    }

    fn wrap(&self, deps: u64, object: &str) -> String {
        let mut b = String::with_capacity(object.len() + self.bundle_id.len() + 128);
        write_head(&mut b, &self.bundle_id, self.event_version.as_deref(), deps);
        b.push_str(object);
        b.push_str("]}");
        b
    }
}

/// The start of an output bundle, up to the opening of its `objects` list.
pub(super) fn write_head(b: &mut String, bundle_id: &str, event_version: Option<&str>, deps: u64) {
    b.push_str("{\"type\":\"bundle\",\"id\":");
    push_json_str(b, bundle_id);
    b.push_str(",\"spec_version\":\"2.1\",\"x_opencti_seq\":");
    push_u64(b, deps);
    if let Some(v) = event_version {
        b.push_str(",\"x_opencti_event_version\":");
        push_json_str(b, v);
    }
    b.push_str(",\"objects\":[");
}

/// `"nb_deps":N,`, to put right after the `{` of an object's text.
pub(super) fn push_deps(b: &mut String, deps: u64) {
    b.push_str("\"nb_deps\":");
    push_u64(b, deps);
    b.push(',');
}

/// `"nb_deps":N,` as a string.
pub(super) fn deps_prefix(deps: u64) -> String {
    let mut b = String::with_capacity(24);
    push_deps(&mut b, deps);
    b
}

fn push_u64(b: &mut String, n: u64) {
    use std::fmt::Write as _;
    let _ = write!(b, "{n}");
}

/// A string as JSON (escaped as `serde_json` escapes it).
fn push_json_str(b: &mut String, s: &str) {
    if s.bytes().all(|c| c >= 0x20 && c != b'"' && c != b'\\') {
        b.push('"');
        b.push_str(s);
        b.push('"');
    } else {
        b.push_str(&Value::from(s).to_string());
    }
}

/// How a planned object is written: its text with `nb_deps` put in front, or, when its
/// references or duplicates change, parsed and written again (`None` when it does not parse).
pub(super) fn rewritten(
    step: &Step,
    skeleton: &Skeleton,
    text: &str,
) -> Option<Result<String, Dropped>> {
    if step.edits.is_empty() && !skeleton.rewrite && text.starts_with('{') {
        return None;
    }
    Some(match serde_json::from_str::<Map<String, Value>>(text) {
        Ok(mut o) => {
            finish(&mut o, skeleton, text, &step.edits, step.deps);
            Ok(Value::Object(o).to_string())
        }
        Err(e) => Err(Dropped {
            id: skeleton.id.as_ref().map(|s| s.get(text).to_owned()),
            object_type: skeleton.ty.as_ref().map(|s| s.get(text).to_owned()),
            reason: format!("not a JSON object: {e}"),
        }),
    })
}

/// [`split_objects`](super::split_objects) for objects held as JSON text, which is what a streaming client has:
/// the same rules and the same output, at about the memory of the JSON itself, where a
/// `serde_json::Value` per object takes several times more. Only what the split reads (ids,
/// references, aliases) is parsed out, as spans of the text; an object whose references or
/// duplicates change is parsed and written again, any other gets its `nb_deps` put in front
/// of its text. A text that is not a JSON object is dropped.
pub fn split_texts(
    bundle_id: Option<&str>,
    objects: Vec<String>,
    opts: &SplitOptions,
) -> TextSplit {
    let bundle_id = new_bundle_id(bundle_id);
    let mut outcome = Outcome::default();
    let mut items = Vec::with_capacity(objects.len());
    for text in objects {
        match skeleton_of_text(&text) {
            Ok(sk) => items.push((sk, text)),
            Err(e) => outcome.dropped.push(Dropped {
                id: None,
                object_type: None,
                reason: format!("not a JSON object: {e}"),
            }),
        }
    }
    let steps = plan(&items, String::as_str, opts, &mut outcome);
    let mut objects = Vec::with_capacity(steps.len());
    for step in steps {
        let (skeleton, item) = &mut items[step.item];
        let text = match rewritten(&step, skeleton, item) {
            // In place: the text usually has the room already.
            None => {
                let mut t = std::mem::take(item);
                t.insert_str(1, &deps_prefix(step.deps));
                t
            }
            Some(Ok(t)) => t,
            Some(Err(d)) => {
                outcome.dropped.push(d);
                continue;
            }
        };
        objects.push((step.deps, text));
    }
    TextSplit {
        bundle_id,
        event_version: opts.event_version.clone(),
        objects,
        dropped: outcome.dropped,
        removed_refs: outcome.removed_refs,
    }
}
