//! OpenCTI's dependency-ordered bundle split (pycti's `OpenCTIStix2Splitter`), the de-facto
//! contract of what an OpenCTI worker accepts: one object per bundle, dependencies first.
//!
//! It works on JSON objects, as pycti works on dicts, so it splits whatever a bundle holds,
//! including types this crate does not model. The rules:
//!
//! 1. Objects are indexed by `id`, `x_opencti_id` and the `id` inside the OpenCTI extension;
//!    of two objects with one id the last is kept, and emitted once.
//! 2. Each object is visited depth-first. A top-level `*_ref`/`*_refs` reference is kept only
//!    when its type is one OpenCTI supports (ids without `--` pass), it does not point to the
//!    object itself or to an object on the current visit path (a cycle), the target does not
//!    already keep a reference back to this object (a two-object cycle), and — when
//!    `cleanup_inconsistent_bundle` is on — the target is in the bundle. Rejected list
//!    entries are removed; a rejected single reference becomes `null`.
//! 3. `nb_deps = 1 + Σ nb_deps` of the kept references present in the bundle, written into
//!    the object.
//! 4. External references are de-duplicated by `url`, else by (`source_name`, `external_id`);
//!    entries with neither are dropped. Kill-chain phases are de-duplicated.
//! 5. Relationships need both ends, sightings `sighting_of_ref` and a non-empty
//!    `where_sighted_refs`, everything else a supported type; other objects are dropped and
//!    reported (pycti drops them silently, or crashes on a missing key or id).
//! 6. Objects are sorted by `nb_deps` (stable) and each is wrapped in its own bundle.
//!
//! These rules, the types OpenCTI imports and their sources: `docs/opencti-split.md` in the
//! repository.
//!
//! The traversal is iterative (an explicit stack) and memoised, so it is linear in the number
//! of references (the id index is a hash map with std's keyed hasher, plus the n·log n sort),
//! and a reference chain of any length cannot overflow the stack.
//!
//! The front ends share these rules: [`split_objects`] on `serde_json` maps; [`split_texts`] on
//! objects held as JSON text, which reads only what the rules need (ids, references, aliases)
//! as spans of the text and rewrites an object only when its references or duplicates change
//! (anything else gets its `nb_deps` put in front of its text), so that a page of objects
//! takes about the memory of its JSON, where a `serde_json::Value` per object takes several
//! times more; [`split_strs`], the same on borrowed texts; and [`split_json`] on a whole
//! bundle's text, every object checked with this crate's rules on the way and the output
//! borrowing the input.
//!
//! Modules: `plan` (the rules, on skeletons), `skeleton` (reading a skeleton from JSON text),
//! `values`, `text` and `json` (the front ends), `fast` (`split_json`'s check of plain
//! relationships without the typed reader), `walk` (finding a bundle's objects in its text),
//! `supported` (the types OpenCTI imports).

use serde_json::Value;

mod fast;
mod json;
mod plan;
mod skeleton;
mod supported;
#[cfg(test)]
mod tests;
mod text;
mod values;
mod walk;

pub use json::{split_json, split_strs, JsonSplit};
pub use supported::is_supported_id;
pub use text::{split_texts, TextSplit};
pub use values::{split_bundle, split_objects};

/// The OpenCTI extension, whose `id` is an alias of the object it sits on.
const OPENCTI_EXTENSION: &str = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba";

/// Options of the split.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SplitOptions {
    /// Remove references to objects absent from the bundle (the connectors template's choice;
    /// default true).
    pub cleanup_inconsistent_bundle: bool,
    /// Written as `x_opencti_event_version` on each output bundle when set.
    pub event_version: Option<String>,
}

impl Default for SplitOptions {
    fn default() -> Self {
        Self {
            cleanup_inconsistent_bundle: true,
            event_version: None,
        }
    }
}

/// An object left out of the split, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dropped {
    /// Its id, when it has one.
    pub id: Option<String>,
    /// Its type, when it has one.
    pub object_type: Option<String>,
    /// Why.
    pub reason: String,
}

/// A reference removed from an object (or set to null), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemovedRef {
    /// The object holding the reference.
    pub from: String,
    /// The property.
    pub property: String,
    /// The referenced id.
    pub target: String,
    /// Why.
    pub reason: &'static str,
}

/// The outcome of a split.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SplitResult {
    /// One bundle per object, dependencies first.
    pub bundles: Vec<Value>,
    /// Objects left out.
    pub dropped: Vec<Dropped>,
    /// References removed.
    pub removed_refs: Vec<RemovedRef>,
}

impl SplitResult {
    /// The number of expectations to add to a work: one per bundle.
    pub fn expectations(&self) -> usize {
        self.bundles.len()
    }
}

/// Whether a top-level property holds references (`*_ref`, `*_refs`).
fn is_ref_key(k: &str) -> bool {
    k.ends_with("_ref") || k.ends_with("_refs")
}

/// The id of the output bundles: the input bundle's, or a new one.
fn new_bundle_id(bundle_id: Option<&str>) -> String {
    bundle_id
        .map(str::to_owned)
        .unwrap_or_else(|| format!("bundle--{}", uuid::Uuid::new_v4()))
}
