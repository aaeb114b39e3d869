//! The front end on a whole bundle's JSON text: [`split_json`], and on borrowed object texts:
//! [`split_strs`]. The objects stay spans of the input; only an object whose references or
//! duplicates change is written again.

use std::borrow::Cow;

use serde::de::DeserializeSeed;

use super::plan::{plan, Outcome, Skeleton};
use super::skeleton::{skeleton_of_text, SkeletonWatch};
use super::text::{push_deps, rewritten, write_head};
use super::walk::bundle_parts;
use super::{new_bundle_id, Dropped, RemovedRef, SplitOptions};
use crate::object::WatchedSeed;
use crate::{Error, Violation};

/// The outcome of [`split_json`] or [`split_strs`]: the objects, dependencies first, as spans
/// of the input (or written again where they changed), and each output bundle made on demand.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct JsonSplit<'a> {
    /// The id of every output bundle.
    pub bundle_id: String,
    /// `x_opencti_event_version` of every output bundle, when set.
    pub event_version: Option<String>,
    /// Objects left out: not valid STIX 2.1 (with [`Self::violations`]), or by the split's
    /// rules.
    pub dropped: Vec<Dropped>,
    /// Every violation of the objects left out as invalid.
    pub violations: Vec<Violation>,
    /// References removed.
    pub removed_refs: Vec<RemovedRef>,
    /// Each object's `nb_deps` and text: a span of the input (without `nb_deps`), or written
    /// again (with it).
    objects: Vec<(u64, Cow<'a, str>)>,
}

impl JsonSplit<'_> {
    /// The number of expectations to add to a work: one per bundle.
    pub fn expectations(&self) -> usize {
        self.objects.len()
    }

    /// The `k`-th output bundle as JSON text: the `k`-th object in a bundle of its own, as
    /// [`split_objects`](super::split_objects) makes it.
    pub fn bundle(&self, k: usize) -> Option<String> {
        let mut b = String::new();
        self.write_bundle(k, &mut b).then_some(b)
    }

    /// Appends the `k`-th output bundle to `out`; false when there is none.
    pub fn write_bundle(&self, k: usize, out: &mut String) -> bool {
        let Some((deps, text)) = self.objects.get(k) else {
            return false;
        };
        out.reserve(text.len() + self.bundle_id.len() + 128);
        write_head(out, &self.bundle_id, self.event_version.as_deref(), *deps);
        match text {
            Cow::Borrowed(t) => {
                out.push('{');
                push_deps(out, *deps);
                out.push_str(t.get(1..).unwrap_or_default());
            }
            Cow::Owned(t) => out.push_str(t),
        }
        out.push_str("]}");
        true
    }

    /// Every output bundle as JSON text, in order.
    pub fn bundles(&self) -> impl Iterator<Item = String> + '_ {
        (0..self.objects.len()).filter_map(|k| self.bundle(k))
    }
}

/// OpenCTI's split of a bundle given as JSON text, with every object checked on the way: an
/// object that is not valid STIX 2.1 (by the same rules as [`crate::Bundle::read_lenient`]) is
/// left out, with its violations; the others are split as [`split_strs`] splits them. The
/// output borrows the input: the whole split takes little more memory than the input itself.
///
/// Fails only when the input is not JSON, or not a JSON object with an `objects` list.
pub fn split_json<'a>(bundle: &'a [u8], opts: &SplitOptions) -> Result<JsonSplit<'a>, Error> {
    split_json_read(bundle, opts, true)
}

/// [`split_json`], each object read lean first (see [`read_object`]) or, with `lean` false,
/// only in full (the tests compare the two).
pub(super) fn split_json_read<'a>(
    bundle: &'a [u8],
    opts: &SplitOptions,
    lean: bool,
) -> Result<JsonSplit<'a>, Error> {
    let text = std::str::from_utf8(bundle).map_err(|e| Error::InvalidValue {
        what: "bundle",
        value: String::new(),
        reason: format!("not UTF-8: {e}"),
    })?;
    let head = bundle_parts(text)?;
    let Some(raw) = head.objects else {
        return Err(Error::InvalidValue {
            what: "bundle",
            value: String::new(),
            reason: "no objects list".into(),
        });
    };
    let mut items = Vec::with_capacity(raw.len());
    let mut dropped = Vec::new();
    let mut violations = Vec::new();
    for text in raw {
        // The check and the split's reading in one pass, lean: what the split does not keep
        // is checked without being built. An object the lean pass does not vouch for (invalid,
        // or unsure) is read again in full, which gives exactly what the full reader gives.
        // The commonest object, a plain relationship, is checked without being read at all.
        if lean {
            if let Some(skeleton) = super::fast::relationship(text) {
                items.push((skeleton, text));
                continue;
            }
        }
        let mut read = read_object(text, lean);
        if lean && !matches!(read, Ok(Ok(_))) {
            read = read_object(text, false);
        }
        match read {
            Ok(Ok(skeleton)) => items.push((skeleton, text)),
            Ok(Err(v)) => {
                dropped.push(Dropped {
                    id: v.iter().find_map(|x| x.object_id.clone()),
                    object_type: None,
                    reason: format!(
                        "not valid STIX 2.1: {}",
                        v.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                });
                violations.extend(v);
            }
            // Malformed JSON fails the whole input, as anywhere else.
            Err(e) if e.is_syntax() || e.is_eof() => return Err(e.into()),
            Err(e) => dropped.push(Dropped {
                id: None,
                object_type: None,
                reason: format!("not a JSON object: {e}"),
            }),
        }
    }
    let mut split = split_items(head.id.as_deref(), items, Outcome::default(), opts);
    dropped.append(&mut split.dropped);
    split.dropped = dropped;
    split.violations = violations;
    Ok(split)
}

/// Reads one object's text with the crate's rules, its skeleton seen on the way; `lean`: see
/// [`Watch::lean`](crate::object::Watch::lean).
pub(super) fn read_object(
    text: &str,
    lean: bool,
) -> Result<Result<Skeleton, Vec<Violation>>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut watch = SkeletonWatch::new(text, lean);
    // The object is dropped here, once its skeleton is read.
    let read = WatchedSeed(&mut watch).deserialize(&mut de)?;
    Ok(read.map(|object| watch.finish(&object)))
}

/// [`split_texts`](super::split_texts) for borrowed texts: the same rules and output, each
/// object kept as a span of its text unless its references or duplicates change.
pub fn split_strs<'a>(
    bundle_id: Option<&str>,
    objects: Vec<&'a str>,
    opts: &SplitOptions,
) -> JsonSplit<'a> {
    let mut outcome = Outcome::default();
    let mut items = Vec::with_capacity(objects.len());
    for text in objects {
        match skeleton_of_text(text) {
            Ok(sk) => items.push((sk, text)),
            Err(e) => outcome.dropped.push(Dropped {
                id: None,
                object_type: None,
                reason: format!("not a JSON object: {e}"),
            }),
        }
    }
    split_items(bundle_id, items, outcome, opts)
}

/// The split of objects whose skeletons are read.
fn split_items<'a>(
    bundle_id: Option<&str>,
    items: Vec<(Skeleton, &'a str)>,
    mut outcome: Outcome,
    opts: &SplitOptions,
) -> JsonSplit<'a> {
    let bundle_id = new_bundle_id(bundle_id);
    let steps = plan(&items, |t: &&'a str| *t, opts, &mut outcome);
    let mut objects = Vec::with_capacity(steps.len());
    for step in steps {
        let (skeleton, item) = &items[step.item];
        let text = match rewritten(&step, skeleton, item) {
            None => Cow::Borrowed(*item),
            Some(Ok(t)) => Cow::Owned(t),
            Some(Err(d)) => {
                outcome.dropped.push(d);
                continue;
            }
        };
        objects.push((step.deps, text));
    }
    JsonSplit {
        bundle_id,
        event_version: opts.event_version.clone(),
        dropped: outcome.dropped,
        violations: Vec::new(),
        removed_refs: outcome.removed_refs,
        objects,
    }
}
