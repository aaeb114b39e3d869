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
//! The traversal is iterative (an explicit stack) and memoised, so it is linear in the number
//! of references plus n·log n for the index, and a reference chain of any length cannot
//! overflow the stack.
//!
//! Two front ends share these rules: [`split_objects`] on `serde_json` maps, and
//! [`split_texts`] on objects held as JSON text, which reads only what the rules need (ids,
//! references, aliases) as spans of the text and rewrites an object only when its references
//! or duplicates change; anything else gets its `nb_deps` put in front of its text. A page of
//! objects then takes about the memory of its JSON, where a `serde_json::Value` per object
//! takes several times more.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::Error;

const OPENCTI_EXTENSION: &str = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba";

/// Type prefixes OpenCTI imports (pycti 6.8.10 and the 7.x additions), sorted.
const SUPPORTED: &[&str] = &[
    "ai-prompt",
    "artifact",
    "attack-pattern",
    "autonomous-system",
    "bank-account",
    "campaign",
    "capability",
    "case-incident",
    "case-rfi",
    "case-rft",
    "channel",
    "course-of-action",
    "credential",
    "cryptocurrency-wallet",
    "cryptographic-key",
    "data-component",
    "data-source",
    "deleteoperation",
    "directory",
    "domain-name",
    "draftworkspace",
    "email-addr",
    "email-message",
    "email-mime-part-type",
    "event",
    "external-reference",
    "feedback",
    "file",
    "group",
    "grouping",
    "hostname",
    "iccid",
    "identity",
    "imei",
    "imsi",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "ipv4-addr",
    "ipv6-addr",
    "kill-chain-phase",
    "label",
    "language",
    "location",
    "mac-addr",
    "malware",
    "malware-analysis",
    "marking-definition",
    "media-content",
    "mutex",
    "narrative",
    "network-traffic",
    "note",
    "notification",
    "observed-data",
    "opinion",
    "payment-card",
    "persona",
    "phone-number",
    "pir",
    "playbook",
    "process",
    "publicdashboard",
    "relationship",
    "report",
    "role",
    "security-coverage",
    "security-coverage-result",
    "settings",
    "sighting",
    "simple-observable",
    "software",
    "ssh-key",
    "task",
    "text",
    "threat-actor",
    "tool",
    "tracking-number",
    "trash",
    "url",
    "user",
    "user-account",
    "user-agent",
    "vocabulary",
    "vulnerability",
    "windows-registry-key",
    "windows-registry-value-type",
    "work",
    "workspace",
    "x-mitre-data-component",
    "x-mitre-data-source",
    "x-opencti-case-incident",
    "x-opencti-case-rfi",
    "x-opencti-case-rft",
    "x-opencti-feedback",
    "x-opencti-task",
    "x509-certificate",
];

/// Whether OpenCTI imports objects with this id (by its type prefix; ids without `--` pass).
pub fn is_supported_id(id: &str) -> bool {
    match id.split_once("--") {
        Some((ty, _)) => SUPPORTED.binary_search(&ty).is_ok(),
        None => true,
    }
}

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

/// Splits a whole bundle value.
pub fn split_bundle(bundle: Value, opts: &SplitOptions) -> Result<SplitResult, Error> {
    let Value::Object(mut b) = bundle else {
        return Err(not_a_bundle("not a JSON object"));
    };
    let id = b.get("id").and_then(Value::as_str).map(str::to_owned);
    let Some(Value::Array(objects)) = b.remove("objects") else {
        return Err(not_a_bundle("no objects list"));
    };
    let mut maps = Vec::with_capacity(objects.len());
    let mut dropped = Vec::new();
    for o in objects {
        match o {
            Value::Object(m) => maps.push(m),
            other => dropped.push(Dropped {
                id: None,
                object_type: None,
                reason: format!("not a JSON object: {}", kind(&other)),
            }),
        }
    }
    let mut r = split_objects(id.as_deref(), maps, opts);
    dropped.append(&mut r.dropped);
    r.dropped = dropped;
    Ok(r)
}

fn not_a_bundle(reason: &str) -> Error {
    Error::InvalidValue {
        what: "bundle",
        value: String::new(),
        reason: reason.into(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn is_ref_key(k: &str) -> bool {
    k.ends_with("_ref") || k.ends_with("_refs")
}

#[cfg(test)]
fn ref_keys(m: &Map<String, Value>) -> Vec<String> {
    m.keys().filter(|k| is_ref_key(k)).cloned().collect()
}

/// A string of an object: a span of its JSON text, or owned (from a map, or a string the text
/// escapes).
#[derive(Debug, Clone)]
enum Str {
    Span(u32, u32),
    Owned(Box<str>),
}

impl Str {
    fn get<'a>(&'a self, text: &'a str) -> &'a str {
        match self {
            Str::Span(a, b) => text.get(*a as usize..*b as usize).unwrap_or_default(),
            Str::Owned(s) => s,
        }
    }
}

/// A top-level `*_ref`/`*_refs` property.
#[derive(Debug, Clone)]
enum RefValue {
    One(Str),
    /// Its entries: an id string, or the JSON of an entry that is not a string.
    List(Vec<Result<Str, Box<str>>>),
    Other,
}

/// What the split reads of an object.
#[derive(Debug, Clone, Default)]
struct Skeleton {
    id: Option<Str>,
    ty: Option<Str>,
    aliases: Vec<Str>,
    /// Sorted by property name (the visit order, so both front ends cut the same cycles).
    refs: Vec<(Str, RefValue)>,
    /// The text needs more than `nb_deps` put in front: duplicates to remove, an `nb_deps` or
    /// a reference property given twice.
    rewrite: bool,
}

fn skeleton_of_map(m: &Map<String, Value>) -> Skeleton {
    let owned = |s: &str| Str::Owned(s.into());
    let mut aliases = Vec::new();
    if let Some(x) = m.get("x_opencti_id").and_then(Value::as_str) {
        aliases.push(owned(x));
    }
    if let Some(x) = m
        .get("extensions")
        .and_then(|e| e.get(OPENCTI_EXTENSION))
        .and_then(|e| e.get("id"))
        .and_then(Value::as_str)
    {
        aliases.push(owned(x));
    }
    let refs = m
        .iter()
        .filter(|(k, _)| is_ref_key(k))
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => RefValue::One(owned(s)),
                Value::Array(a) => RefValue::List(
                    a.iter()
                        .map(|x| match x {
                            Value::String(s) => Ok(owned(s)),
                            other => Err(other.to_string().into()),
                        })
                        .collect(),
                ),
                _ => RefValue::Other,
            };
            (owned(k), value)
        })
        .collect();
    Skeleton {
        id: m.get("id").and_then(Value::as_str).map(owned),
        ty: m.get("type").and_then(Value::as_str).map(owned),
        aliases,
        refs,
        rewrite: false,
    }
}

/// References removed from an object: (index in `Skeleton::refs`, position in the list, or
/// `None` for a single reference, which becomes `null`).
type Edits = Vec<(usize, Option<usize>)>;

/// An object the split keeps: its `nb_deps`, and what changes in it.
struct Planned<T> {
    deps: u64,
    skeleton: Skeleton,
    item: T,
    edits: Edits,
}

/// A step of the depth-first visit: object index, the indices of its kept references that are
/// in the bundle, and the next one to look at.
type Frame = (usize, Vec<usize>, usize);

/// The split itself, on skeletons (`text` gives the JSON text their spans point into): the
/// kept objects in output order, with their edits; dropped objects and removed references are
/// appended to `result`.
fn plan<T>(
    items: Vec<(Skeleton, T)>,
    text: impl Fn(&T) -> &str,
    opts: &SplitOptions,
    result: &mut Outcome,
) -> Vec<Planned<T>> {
    // 1. Index; the last object with an id wins.
    let mut slots: Vec<Option<(Skeleton, T)>> = Vec::with_capacity(items.len());
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for (sk, item) in items {
        let t = text(&item);
        let Some(id) = sk.id.as_ref().map(|s| s.get(t).to_owned()) else {
            result.dropped.push(Dropped {
                id: None,
                object_type: sk.ty.as_ref().map(|s| s.get(t).to_owned()),
                reason: "has no id".into(),
            });
            continue;
        };
        let idx = match by_id.get(&id) {
            Some(&i) => {
                slots[i] = Some((sk, item));
                i
            }
            None => {
                slots.push(Some((sk, item)));
                slots.len() - 1
            }
        };
        by_id.insert(id, idx);
        let Some((sk, item)) = &slots[idx] else {
            continue;
        };
        let t = text(item);
        for a in &sk.aliases {
            by_id.entry(a.get(t).to_owned()).or_insert(idx);
        }
    }
    let n = slots.len();

    // 2–3. Iterative depth-first visit; kept[i] = indices of present kept targets.
    let mut nb_deps: Vec<Option<u64>> = vec![None; n];
    let mut kept: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut edits: Vec<Edits> = vec![Vec::new(); n];
    let mut on_path = vec![false; n];
    for root in 0..n {
        if nb_deps[root].is_some() {
            continue;
        }
        let mut stack: Vec<Frame> = Vec::new();
        let mut enter = Some(root);
        loop {
            if let Some(i) = enter.take() {
                let targets = match &slots[i] {
                    Some((sk, item)) => prune(
                        i,
                        sk,
                        text(item),
                        &by_id,
                        &kept,
                        &on_path,
                        opts,
                        &mut edits[i],
                        &mut result.removed_refs,
                    ),
                    None => Vec::new(),
                };
                on_path[i] = true;
                stack.push((i, targets, 0));
            }
            let Some((i, targets, pos)) = stack.last_mut() else {
                break;
            };
            if let Some(&t) = targets.get(*pos) {
                *pos += 1;
                kept[*i].insert(t);
                if nb_deps[t].is_none() && !on_path[t] {
                    enter = Some(t);
                }
                continue;
            }
            let total: u64 = 1 + targets
                .iter()
                .map(|c| nb_deps[*c].unwrap_or(0))
                .sum::<u64>();
            nb_deps[*i] = Some(total);
            on_path[*i] = false;
            stack.pop();
        }
    }
    drop(kept);
    drop(by_id);

    // 5–6. Check compatibility, sort.
    let mut out = Vec::with_capacity(n);
    for (i, (slot, edits)) in slots.into_iter().zip(edits).enumerate() {
        let Some((skeleton, item)) = slot else {
            continue;
        };
        let t = text(&item);
        if let Some(reason) = incompatible(&skeleton, t, &edits) {
            result.dropped.push(Dropped {
                id: skeleton.id.as_ref().map(|s| s.get(t).to_owned()),
                object_type: skeleton.ty.as_ref().map(|s| s.get(t).to_owned()),
                reason,
            });
            continue;
        }
        let deps = nb_deps[i].unwrap_or(1);
        out.push((
            i,
            Planned {
                deps,
                skeleton,
                item,
                edits,
            },
        ));
    }
    out.sort_by_key(|(i, p)| (p.deps, *i));
    out.into_iter().map(|(_, p)| p).collect()
}

/// Where dropped objects and removed references are collected.
#[derive(Default)]
struct Outcome {
    dropped: Vec<Dropped>,
    removed_refs: Vec<RemovedRef>,
}

/// Applies the keep rules to the references of object `i` (recording the removals in
/// `edits`) and returns the indices of the kept references whose targets are in the bundle.
#[allow(clippy::too_many_arguments)]
fn prune(
    i: usize,
    sk: &Skeleton,
    text: &str,
    by_id: &BTreeMap<String, usize>,
    kept: &[BTreeSet<usize>],
    on_path: &[bool],
    opts: &SplitOptions,
    edits: &mut Edits,
    removed: &mut Vec<RemovedRef>,
) -> Vec<usize> {
    let mut out = Vec::new();
    let self_id = sk.id.as_ref().map_or("", |s| s.get(text));
    let check = |target: &str| -> Result<Option<usize>, &'static str> {
        if !is_supported_id(target) {
            return Err("type not imported by OpenCTI");
        }
        let idx = by_id.get(target).copied();
        if target == self_id || idx == Some(i) {
            return Err("refers to the object itself");
        }
        if let Some(t) = idx {
            if on_path[t] {
                return Err("reference cycle");
            }
            if kept[t].contains(&i) {
                return Err("two-object reference cycle");
            }
        } else if opts.cleanup_inconsistent_bundle {
            return Err("target not in the bundle");
        }
        Ok(idx)
    };
    let mut remove = |property: &str, target: String, reason: &'static str| {
        removed.push(RemovedRef {
            from: self_id.to_owned(),
            property: property.to_owned(),
            target,
            reason,
        });
    };
    for (r, (key, value)) in sk.refs.iter().enumerate() {
        let key = key.get(text);
        match value {
            RefValue::One(s) => {
                let s = s.get(text);
                match check(s) {
                    Ok(idx) => out.extend(idx),
                    Err(reason) => {
                        remove(key, s.to_owned(), reason);
                        edits.push((r, None));
                    }
                }
            }
            RefValue::List(entries) => {
                for (p, entry) in entries.iter().enumerate() {
                    let outcome = match entry {
                        Ok(s) => {
                            let s = s.get(text);
                            check(s).map_err(|reason| (s.to_owned(), reason))
                        }
                        Err(json) => Err((json.to_string(), "not an id string")),
                    };
                    match outcome {
                        Ok(idx) => out.extend(idx),
                        Err((target, reason)) => {
                            remove(key, target, reason);
                            edits.push((r, Some(p)));
                        }
                    }
                }
            }
            RefValue::Other => {}
        }
    }
    out
}

/// Why OpenCTI cannot import the object once its references are pruned, if it cannot.
fn incompatible(sk: &Skeleton, text: &str, edits: &Edits) -> Option<String> {
    let ty = sk.ty.as_ref().map_or("", |s| s.get(text));
    let find = |name: &str| sk.refs.iter().position(|(k, _)| k.get(text) == name);
    let nonnull = |name: &str| {
        find(name).is_some_and(|r| {
            matches!(sk.refs[r].1, RefValue::One(_)) && !edits.contains(&(r, None))
        })
    };
    match ty {
        "relationship" if !(nonnull("source_ref") && nonnull("target_ref")) => {
            Some("relationship without both source_ref and target_ref".into())
        }
        "sighting"
            if !(nonnull("sighting_of_ref")
                && find("where_sighted_refs").is_some_and(|r| match &sk.refs[r].1 {
                    RefValue::List(entries) => {
                        entries.len() > edits.iter().filter(|(x, p)| *x == r && p.is_some()).count()
                    }
                    _ => false,
                })) =>
        {
            Some("sighting without sighting_of_ref or where_sighted_refs".into())
        }
        _ => {
            let id = sk.id.as_ref().map_or("", |s| s.get(text));
            (!is_supported_id(id)).then(|| format!("type {ty:?} is not imported by OpenCTI"))
        }
    }
}

/// Applies a plan's edits and the de-duplications to the object, and writes its `nb_deps`.
fn finish(o: &mut Map<String, Value>, sk: &Skeleton, text: &str, edits: &Edits, deps: u64) {
    for (r, (key, _)) in sk.refs.iter().enumerate() {
        let mut positions = edits.iter().filter(|(x, _)| *x == r).map(|(_, p)| *p);
        let Some(first) = positions.next() else {
            continue;
        };
        let key = key.get(text);
        if first.is_none() {
            o.insert(key.to_owned(), Value::Null);
        } else if let Some(Value::Array(a)) = o.get_mut(key) {
            let gone: BTreeSet<usize> = std::iter::once(first).chain(positions).flatten().collect();
            let mut p = 0;
            a.retain(|_| {
                p += 1;
                !gone.contains(&(p - 1))
            });
        }
    }
    if let Some(v) = o.get_mut("external_references") {
        dedupe_external_references(v);
    }
    if let Some(v) = o.get_mut("kill_chain_phases") {
        dedupe_kill_chain_phases(v);
    }
    o.insert("nb_deps".into(), Value::from(deps));
}

fn wrap(bundle_id: &str, deps: u64, o: Map<String, Value>, opts: &SplitOptions) -> Value {
    // Built by hand: `json!` would deep-copy the object into the new value.
    let mut b = Map::new();
    b.insert("type".into(), Value::from("bundle"));
    b.insert("id".into(), Value::from(bundle_id));
    b.insert("spec_version".into(), Value::from("2.1"));
    b.insert("x_opencti_seq".into(), Value::from(deps));
    b.insert("objects".into(), Value::Array(vec![Value::Object(o)]));
    if let Some(v) = &opts.event_version {
        b.insert("x_opencti_event_version".into(), Value::from(v.as_str()));
    }
    Value::Object(b)
}

fn new_bundle_id(bundle_id: Option<&str>) -> String {
    bundle_id
        .map(str::to_owned)
        .unwrap_or_else(|| format!("bundle--{}", uuid::Uuid::new_v4()))
}

/// Splits objects of the bundle `bundle_id` (a new id is made when `None`).
pub fn split_objects(
    bundle_id: Option<&str>,
    objects: Vec<Map<String, Value>>,
    opts: &SplitOptions,
) -> SplitResult {
    let bundle_id = new_bundle_id(bundle_id);
    let mut outcome = Outcome::default();
    let items = objects
        .into_iter()
        .map(|m| (skeleton_of_map(&m), m))
        .collect();
    let planned = plan(items, |_| "", opts, &mut outcome);
    let bundles = planned
        .into_iter()
        .map(|p| {
            let mut o = p.item;
            finish(&mut o, &p.skeleton, "", &p.edits, p.deps);
            wrap(&bundle_id, p.deps, o, opts)
        })
        .collect();
    SplitResult {
        bundles,
        dropped: outcome.dropped,
        removed_refs: outcome.removed_refs,
    }
}

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
    /// [`split_objects`] makes it.
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
        b.push_str("{\"type\":\"bundle\",\"id\":");
        b.push_str(&Value::from(self.bundle_id.as_str()).to_string());
        b.push_str(",\"spec_version\":\"2.1\",\"x_opencti_seq\":");
        b.push_str(&deps.to_string());
        if let Some(v) = &self.event_version {
            b.push_str(",\"x_opencti_event_version\":");
            b.push_str(&Value::from(v.as_str()).to_string());
        }
        b.push_str(",\"objects\":[");
        b.push_str(object);
        b.push_str("]}");
        b
    }
}

/// [`split_objects`] for objects held as JSON text, which is what a streaming client has:
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
    let planned = plan(items, String::as_str, opts, &mut outcome);
    let mut objects = Vec::with_capacity(planned.len());
    for p in planned {
        let text = if p.edits.is_empty() && !p.skeleton.rewrite && p.item.starts_with('{') {
            // In place: the text usually has the room already.
            let mut t = p.item;
            t.insert_str(1, &format!("\"nb_deps\":{},", p.deps));
            t
        } else {
            match serde_json::from_str::<Map<String, Value>>(&p.item) {
                Ok(mut o) => {
                    finish(&mut o, &p.skeleton, &p.item, &p.edits, p.deps);
                    Value::Object(o).to_string()
                }
                Err(e) => {
                    outcome.dropped.push(Dropped {
                        id: p.skeleton.id.as_ref().map(|s| s.get(&p.item).to_owned()),
                        object_type: p.skeleton.ty.as_ref().map(|s| s.get(&p.item).to_owned()),
                        reason: format!("not a JSON object: {e}"),
                    });
                    continue;
                }
            }
        };
        objects.push((p.deps, text));
    }
    TextSplit {
        bundle_id,
        event_version: opts.event_version.clone(),
        objects,
        dropped: outcome.dropped,
        removed_refs: outcome.removed_refs,
    }
}

/// Reads the skeleton of an object from its JSON text.
fn skeleton_of_text(text: &str) -> Result<Skeleton, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let sk = de.deserialize_map(SkeletonVisitor(Spans(text)))?;
    de.end()?;
    Ok(sk)
}

/// Turns strings read from the text into spans of it (owned when serde had to unescape them).
#[derive(Clone, Copy)]
struct Spans<'t>(&'t str);

impl Spans<'_> {
    fn of(self, s: &str) -> Str {
        let base = self.0.as_ptr() as usize;
        let at = s.as_ptr() as usize;
        match (at.checked_sub(base), u32::try_from(self.0.len())) {
            (Some(a), Ok(len)) if a + s.len() <= len as usize => {
                Str::Span(a as u32, (a + s.len()) as u32)
            }
            _ => Str::Owned(s.into()),
        }
    }
}

/// The top-level property names the split reads.
enum Prop {
    Id,
    Type,
    OpenCtiId,
    Extensions,
    NbDeps,
    Dedupe(fn(&mut Value) -> bool),
    Ref,
    Other,
}

impl Prop {
    fn of(name: &str) -> Self {
        match name {
            "id" => Prop::Id,
            "type" => Prop::Type,
            "x_opencti_id" => Prop::OpenCtiId,
            "extensions" => Prop::Extensions,
            "nb_deps" => Prop::NbDeps,
            "external_references" => Prop::Dedupe(dedupe_external_references),
            "kill_chain_phases" => Prop::Dedupe(dedupe_kill_chain_phases),
            n if is_ref_key(n) => Prop::Ref,
            _ => Prop::Other,
        }
    }
}

struct SkeletonVisitor<'t>(Spans<'t>);

impl<'de> Visitor<'de> for SkeletonVisitor<'_> {
    type Value = Skeleton;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skeleton, A::Error> {
        let spans = self.0;
        let text = spans.0;
        let mut sk = Skeleton::default();
        // Given twice, a property counts once, with its last value, as in a JSON value.
        let (mut opencti_id, mut extension_id) = (None, None);
        while let Some(key) = map.next_key_seed(StrSeed(spans))? {
            match Prop::of(key.get(text)) {
                Prop::Id => sk.id = map.next_value_seed(StrAt::here(spans))?,
                Prop::Type => sk.ty = map.next_value_seed(StrAt::here(spans))?,
                Prop::OpenCtiId => opencti_id = map.next_value_seed(StrAt::here(spans))?,
                Prop::Extensions => {
                    extension_id = map.next_value_seed(StrAt {
                        spans,
                        path: &[OPENCTI_EXTENSION, "id"],
                    })?;
                }
                Prop::NbDeps => {
                    sk.rewrite = true;
                    map.next_value::<IgnoredAny>()?;
                }
                Prop::Dedupe(dedupe) => {
                    let mut v: Value = map.next_value()?;
                    sk.rewrite |= dedupe(&mut v);
                }
                Prop::Ref => {
                    let value = map.next_value_seed(RefSeed(spans))?;
                    let name = key.get(text);
                    match sk.refs.iter().position(|(k, _)| k.get(text) == name) {
                        // Given twice: the last counts, as for a JSON value.
                        Some(p) => {
                            sk.refs[p] = (key, value);
                            sk.rewrite = true;
                        }
                        None => sk.refs.push((key, value)),
                    }
                }
                Prop::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        sk.aliases.extend(opencti_id);
        sk.aliases.extend(extension_id);
        sk.refs.sort_by(|a, b| a.0.get(text).cmp(b.0.get(text)));
        Ok(sk)
    }
}

/// A string.
struct StrSeed<'t>(Spans<'t>);

impl<'de> DeserializeSeed<'de> for StrSeed<'_> {
    type Value = Str;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Str, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for StrSeed<'_> {
    type Value = Str;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Str, E> {
        Ok(self.0.of(v))
    }
}

/// The string at `path` inside any value (the value itself for an empty path), if there is
/// one there.
struct StrAt<'t> {
    spans: Spans<'t>,
    path: &'static [&'static str],
}

impl<'t> StrAt<'t> {
    const NOT: Option<Str> = None;

    /// The value itself, if it is a string.
    fn here(spans: Spans<'t>) -> Self {
        Self { spans, path: &[] }
    }
}

impl<'de> DeserializeSeed<'de> for StrAt<'_> {
    type Value = Option<Str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Str>, D::Error> {
        d.deserialize_any(self)
    }
}

/// Visits any value; what is not a string is skipped as `Self::NOT`.
macro_rules! skip_non_strings {
    ($t:ty) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<$t, E> {
            Ok(Self::NOT)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<$t, E> {
            Ok(Self::NOT)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<$t, E> {
            Ok(Self::NOT)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<$t, E> {
            Ok(Self::NOT)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<$t, E> {
            Ok(Self::NOT)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<$t, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Self::NOT)
        }
    };
}

impl<'de> Visitor<'de> for StrAt<'_> {
    type Value = Option<Str>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Option<Str>, E> {
        Ok(self.path.is_empty().then(|| self.spans.of(v)))
    }
    skip_non_strings!(Option<Str>);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Str>, A::Error> {
        let text = self.spans.0;
        let mut found = None;
        while let Some(key) = map.next_key_seed(StrSeed(self.spans))? {
            match self.path.split_first() {
                Some((first, rest)) if key.get(text) == *first => {
                    found = map.next_value_seed(StrAt {
                        spans: self.spans,
                        path: rest,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

/// A `*_ref`/`*_refs` value.
struct RefSeed<'t>(Spans<'t>);

impl<'de> DeserializeSeed<'de> for RefSeed<'_> {
    type Value = RefValue;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RefValue, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RefSeed<'_> {
    type Value = RefValue;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RefValue, E> {
        Ok(RefValue::One(self.0.of(v)))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<RefValue, E> {
        Ok(RefValue::Other)
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<RefValue, E> {
        Ok(RefValue::Other)
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<RefValue, E> {
        Ok(RefValue::Other)
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<RefValue, E> {
        Ok(RefValue::Other)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<RefValue, E> {
        Ok(RefValue::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RefValue, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(RefValue::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RefValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(e) = seq.next_element_seed(EntrySeed(self.0))? {
            entries.push(e);
        }
        Ok(RefValue::List(entries))
    }
}

/// An entry of a `*_refs` list: an id string, or the JSON of anything else.
struct EntrySeed<'t>(Spans<'t>);

type Entry = Result<Str, Box<str>>;

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = Entry;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Entry, D::Error> {
        d.deserialize_any(self)
    }
}

fn json_of(v: Value) -> Entry {
    Err(v.to_string().into())
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = Entry;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Entry, E> {
        Ok(Ok(self.0.of(v)))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Entry, E> {
        Ok(json_of(Value::from(v)))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Entry, E> {
        Ok(json_of(Value::from(v)))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Entry, E> {
        Ok(json_of(Value::from(v)))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Entry, E> {
        Ok(json_of(Value::from(v)))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Entry, E> {
        Ok(json_of(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Entry, A::Error> {
        Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq)).map(json_of)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entry, A::Error> {
        Value::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(json_of)
    }
}

/// De-duplicates external references by `url`, else (`source_name`, `external_id`), dropping
/// entries with neither; whether anything changed.
fn dedupe_external_references(v: &mut Value) -> bool {
    let Value::Array(refs) = v else {
        return false;
    };
    let before = refs.len();
    let mut seen = BTreeSet::new();
    refs.retain(|r| {
        let key = match (
            r.get("url").and_then(Value::as_str),
            r.get("source_name").and_then(Value::as_str),
            r.get("external_id").and_then(Value::as_str),
        ) {
            (Some(url), _, _) => format!("url:{url}"),
            (None, Some(s), Some(e)) => format!("id:{s}\u{0}{e}"),
            _ => return false,
        };
        seen.insert(key)
    });
    refs.len() != before
}

/// De-duplicates kill-chain phases; whether anything changed.
fn dedupe_kill_chain_phases(v: &mut Value) -> bool {
    let Value::Array(phases) = v else {
        return false;
    };
    let before = phases.len();
    let mut seen = BTreeSet::new();
    phases.retain(|p| {
        seen.insert((
            p.get("kill_chain_name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            p.get("phase_name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ))
    });
    phases.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// JSON text of an object with its properties in reverse order (the text front end must
    /// not depend on the order).
    fn reversed_text(m: &Map<String, Value>) -> String {
        let parts: Vec<String> = m
            .iter()
            .rev()
            .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
            .collect();
        format!("{{{}}}", parts.join(","))
    }

    /// Splits with both front ends, checks they agree, and returns the map result.
    fn both(
        bundle_id: Option<&str>,
        objects: Vec<Map<String, Value>>,
        opts: &SplitOptions,
    ) -> SplitResult {
        let id = bundle_id.unwrap_or("bundle--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f61");
        for texts in [
            objects
                .iter()
                .map(|m| Value::Object(m.clone()).to_string())
                .collect::<Vec<_>>(),
            objects.iter().map(reversed_text).collect(),
        ] {
            let t = split_texts(Some(id), texts, opts);
            let m = split_objects(Some(id), objects.clone(), opts);
            assert_eq!(t.expectations(), m.expectations());
            for (k, b) in m.bundles.iter().enumerate() {
                let tb: Value = serde_json::from_str(&t.bundle(k).unwrap()).unwrap();
                assert_eq!(&tb, b, "bundle {k}");
                let o: Value = serde_json::from_str(&t.objects[k].1).unwrap();
                assert_eq!(o, b["objects"][0]);
                assert_eq!(t.objects[k].0, b["x_opencti_seq"].as_u64().unwrap());
            }
            assert_eq!(t.bundle(m.bundles.len()), None);
            let all: Vec<String> = t.clone().into_bundles().collect();
            assert_eq!(all.len(), m.bundles.len());
            assert_eq!(
                all.last(),
                t.bundle(m.bundles.len().saturating_sub(1)).as_ref()
            );
            assert_eq!(t.dropped, m.dropped);
            assert_eq!(t.removed_refs, m.removed_refs);
        }
        split_objects(bundle_id, objects, opts)
    }

    #[test]
    fn opencti_aliases_count_as_present() {
        let objects = vec![
            obj(
                json!({"type": "note", "id": "note--d32924a0-e5cd-5348-9781-45755bd72849",
                "object_refs": ["internal-1", "internal-2", "absent-3"], "x_opencti_id": "n"}),
            ),
            obj(json!({"type": "identity", "id": ID, "x_opencti_id": "internal-1"})),
            obj(
                json!({"type": "identity", "id": "identity--0b9ee1c2-1fe5-5b39-a4c6-3c5f3e9a9e71",
                "extensions": {OPENCTI_EXTENSION: {"id": "internal-2", "other": [1]}, EXT: {"id": "not-this"}}}),
            ),
        ];
        let r = both(None, objects, &SplitOptions::default());
        let note = r
            .bundles
            .iter()
            .find(|b| b["objects"][0]["type"] == "note")
            .unwrap();
        assert_eq!(
            note["objects"][0]["object_refs"],
            json!(["internal-1", "internal-2"])
        );
        assert_eq!(note["x_opencti_seq"], 3);
        assert_eq!(r.removed_refs.len(), 1);
    }

    #[test]
    fn texts_with_escapes_duplicates_and_junk() {
        // An escaped reference (owned, not a span), an nb_deps already there, a reference
        // given twice (the last counts), and texts that are not objects.
        let texts = vec![
            format!(r#"{{"type":"identity","id":"{ID}","name":"caf\u00e9","nb_deps":9}}"#),
            format!(
                r#"{{"type":"note","id":"note--d32924a0-e5cd-5348-9781-45755bd72849","object_refs":["{}"],"created_by_ref":"nowhere","created_by_ref":"{}"}}"#,
                ID.replace('9', "\\u0039"),
                ID
            ),
            "[1]".to_owned(),
            "{\"type\":".to_owned(),
        ];
        let t = split_texts(None, texts, &SplitOptions::default());
        assert_eq!(t.objects.len(), 2);
        let ident: Value = serde_json::from_str(&t.objects[0].1).unwrap();
        assert_eq!(ident["name"], "café");
        assert_eq!(ident["nb_deps"], 1);
        let note: Value = serde_json::from_str(&t.objects[1].1).unwrap();
        assert_eq!(note["object_refs"], json!([ID]));
        assert_eq!(note["created_by_ref"], ID);
        assert_eq!(t.objects[1].0, 3, "two kept references to the identity");
        assert_eq!(t.dropped.len(), 2);
        assert!(t
            .dropped
            .iter()
            .all(|d| d.reason.starts_with("not a JSON object")));
        assert!(t.removed_refs.is_empty());
    }

    const ID: &str = "identity--9d7da0ec-7317-5d72-8664-6ff5fd1a1be2";
    const MD: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
    const AP: &str = "attack-pattern--b12cfc49-f036-5156-90ac-1ffa873e53c5";
    const INC: &str = "incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8";
    const R1: &str = "relationship--8d5eed88-cb83-5889-a3e6-3b60c99e30b9";
    const R2: &str = "relationship--80ebeda8-12d9-5b2b-9d1b-cae46bac7456";
    const TAC: &str = "x-mitre-tactic--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60";
    const EXT: &str = "extension-definition--8bdf3e85-a4fe-4b92-ab80-2abcc16b779d";

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn order(r: &SplitResult) -> Vec<(String, u64)> {
        r.bundles
            .iter()
            .map(|b| {
                (
                    b["objects"][0]["id"].as_str().unwrap().to_owned(),
                    b["x_opencti_seq"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// Every kept reference to an object that is in the output points to an earlier bundle.
    fn assert_dependencies_first(r: &SplitResult) {
        let mut emitted = BTreeSet::new();
        let all: BTreeSet<String> = r
            .bundles
            .iter()
            .map(|b| b["objects"][0]["id"].as_str().unwrap().to_owned())
            .collect();
        for b in &r.bundles {
            let o = b["objects"][0].as_object().unwrap();
            assert_eq!(b["x_opencti_seq"], o["nb_deps"]);
            for k in ref_keys(o) {
                let targets: Vec<&str> = match &o[&k] {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => vec![],
                };
                for t in targets {
                    if all.contains(t) {
                        assert!(
                            emitted.contains(t),
                            "{} refers to {t} before it is emitted",
                            o["id"]
                        );
                    }
                }
            }
            emitted.insert(o["id"].as_str().unwrap().to_owned());
        }
    }

    #[test]
    fn splits_an_incident_bundle_dependencies_first() {
        let objects = vec![
            obj(
                json!({"type": "relationship", "id": R1, "relationship_type": "uses", "source_ref": INC, "target_ref": AP, "created_by_ref": ID}),
            ),
            obj(
                json!({"type": "incident", "id": INC, "name": "i", "created_by_ref": ID, "object_marking_refs": [MD], "extensions": {EXT: {"extension_type": "property-extension"}}}),
            ),
            obj(
                json!({"type": "attack-pattern", "id": AP, "name": "a", "kill_chain_phases": [{"kill_chain_name": "disarm", "phase_name": "x"}, {"kill_chain_name": "disarm", "phase_name": "x"}],
                "external_references": [{"source_name": "mitre-attack", "external_id": "T0002"}, {"source_name": "mitre-attack", "external_id": "T0002"}, {"source_name": "no-id"}, {"source_name": "u", "url": "https://a"}, {"source_name": "v", "url": "https://a"}]}),
            ),
            obj(json!({"type": "identity", "id": ID, "name": "d", "object_marking_refs": [MD]})),
            obj(json!({"type": "marking-definition", "id": MD})),
            obj(
                json!({"type": "relationship", "id": R2, "relationship_type": "uses", "source_ref": INC, "target_ref": "attack-pattern--1192167d-b209-570d-834c-41266ce6f30c"}),
            ),
            obj(json!({"type": "x-mitre-tactic", "id": TAC, "created_by_ref": ID})),
            obj(json!({"type": "extension-definition", "id": EXT, "created_by_ref": ID})),
        ];
        let r = both(
            Some("bundle--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60"),
            objects,
            &SplitOptions::default(),
        );
        assert_eq!(
            order(&r),
            vec![
                (AP.into(), 1),
                (MD.into(), 1),
                (ID.into(), 2),
                (INC.into(), 4),
                (R1.into(), 8),
            ]
        );
        assert_dependencies_first(&r);
        let dropped: Vec<_> = r.dropped.iter().map(|d| d.id.clone().unwrap()).collect();
        assert_eq!(
            dropped,
            vec![R2.to_string(), TAC.to_string(), EXT.to_string()]
        );
        assert!(r.removed_refs.iter().any(|x| x.from == R2
            && x.property == "target_ref"
            && x.reason == "target not in the bundle"));
        let ap = &r.bundles[0]["objects"][0];
        assert_eq!(
            ap["external_references"].as_array().unwrap().len(),
            2,
            "{ap}"
        );
        assert_eq!(ap["kill_chain_phases"].as_array().unwrap().len(), 1);
        assert_eq!(
            r.bundles[0]["id"],
            "bundle--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60"
        );
        assert_eq!(r.bundles[0]["spec_version"], "2.1");
        assert_eq!(r.expectations(), 5);
    }

    #[test]
    fn duplicates_cycles_and_broken_objects() {
        let objects = vec![
            obj(json!({"type": "identity", "id": ID, "name": "first"})),
            obj(json!({"type": "identity", "id": ID, "name": "last", "created_by_ref": ID})),
            obj(
                json!({"type": "note", "id": "note--d32924a0-e5cd-5348-9781-45755bd72849", "object_refs": ["report--0e08a5d2-c774-531a-a285-8285a9594efd"]}),
            ),
            obj(
                json!({"type": "report", "id": "report--0e08a5d2-c774-531a-a285-8285a9594efd", "object_refs": ["note--d32924a0-e5cd-5348-9781-45755bd72849", 5]}),
            ),
            obj(
                json!({"type": "sighting", "id": "sighting--7e74891c-9f0c-51fa-b808-4e928895cfaa", "sighting_of_ref": ID}),
            ),
            obj(json!({"type": "incident", "name": "no id"})),
        ];
        let r = both(None, objects, &SplitOptions::default());
        assert_dependencies_first(&r);
        let ids: Vec<String> = order(&r).into_iter().map(|x| x.0).collect();
        assert_eq!(
            ids.iter().filter(|i| *i == ID).count(),
            1,
            "duplicate emitted once"
        );
        let ident = r
            .bundles
            .iter()
            .find(|b| b["objects"][0]["id"] == ID)
            .unwrap();
        assert_eq!(ident["objects"][0]["name"], "last");
        assert_eq!(
            ident["objects"][0]["created_by_ref"],
            Value::Null,
            "self reference nulled"
        );
        assert!(r
            .removed_refs
            .iter()
            .any(|x| x.reason == "two-object reference cycle" || x.reason == "reference cycle"));
        assert!(r
            .removed_refs
            .iter()
            .any(|x| x.reason == "not an id string"));
        assert!(r
            .dropped
            .iter()
            .any(|d| d.id.as_deref() == Some("sighting--7e74891c-9f0c-51fa-b808-4e928895cfaa")));
        assert!(r
            .dropped
            .iter()
            .any(|d| d.id.is_none() && d.reason == "has no id"));
        assert!(r.bundles[0]["id"].as_str().unwrap().starts_with("bundle--"));
    }

    #[test]
    fn without_cleanup_refs_to_absent_objects_stay() {
        let objects = vec![obj(
            json!({"type": "relationship", "id": R1, "relationship_type": "uses", "source_ref": INC, "target_ref": AP}),
        )];
        let opts = SplitOptions {
            cleanup_inconsistent_bundle: false,
            event_version: Some("4".into()),
        };
        let r = both(None, objects, &opts);
        assert_eq!(r.bundles.len(), 1);
        assert_eq!(r.bundles[0]["objects"][0]["target_ref"], AP);
        assert_eq!(r.bundles[0]["x_opencti_event_version"], "4");
        assert_eq!(r.bundles[0]["x_opencti_seq"], 1);
    }

    #[test]
    fn a_long_reference_chain_does_not_overflow() {
        let n = 100_000;
        let id = |i: usize| format!("note--{:08x}-0000-4000-8000-000000000000", i);
        let objects: Vec<_> = (0..n)
            .rev()
            .map(|i| {
                let mut o = json!({"type": "note", "id": id(i), "content": "x"});
                if i > 0 {
                    o["object_refs"] = json!([id(i - 1)]);
                }
                obj(o)
            })
            .collect();
        let r = both(None, objects, &SplitOptions::default());
        assert_eq!(r.bundles.len(), n);
        assert_eq!(r.bundles[n - 1]["x_opencti_seq"], n as u64);
        assert_eq!(r.bundles[n - 1]["objects"][0]["id"], id(n - 1));
        assert!(r.removed_refs.is_empty());
    }

    #[test]
    fn split_bundle_refuses_non_bundles() {
        assert!(split_bundle(json!([1]), &SplitOptions::default()).is_err());
        assert!(split_bundle(json!({"type": "bundle"}), &SplitOptions::default()).is_err());
        let r = split_bundle(json!({"type": "bundle", "id": "bundle--x", "objects": [1, {"type": "identity", "id": ID}]}), &SplitOptions::default()).unwrap();
        assert_eq!(r.bundles.len(), 1);
        assert_eq!(r.dropped.len(), 1);
        assert!(
            SUPPORTED.windows(2).all(|w| w[0] < w[1]),
            "sorted for binary search"
        );
    }
}
