//! The split itself, on skeletons: what the rules read of each object (id, type, aliases,
//! references), whichever front end read it.

use std::collections::{BTreeMap, BTreeSet};

use super::{is_supported_id, Dropped, RemovedRef, SplitOptions};

/// A string of an object: a span of its JSON text, or owned (from a map, or a string the text
/// escapes).
#[derive(Debug, Clone)]
pub(super) enum Str {
    Span(u32, u32),
    Owned(Box<str>),
}

impl Str {
    pub(super) fn get<'a>(&'a self, text: &'a str) -> &'a str {
        match self {
            Str::Span(a, b) => text.get(*a as usize..*b as usize).unwrap_or_default(),
            Str::Owned(s) => s,
        }
    }
}

/// A top-level `*_ref`/`*_refs` property.
#[derive(Debug, Clone)]
pub(super) enum RefValue {
    One(Str),
    /// Its entries: an id string, or the JSON of an entry that is not a string.
    List(Vec<Result<Str, Box<str>>>),
    Other,
}

/// What the split reads of an object.
#[derive(Debug, Clone, Default)]
pub(super) struct Skeleton {
    pub(super) id: Option<Str>,
    pub(super) ty: Option<Str>,
    pub(super) aliases: Vec<Str>,
    /// Sorted by property name (the visit order, so both front ends cut the same cycles).
    pub(super) refs: Vec<(Str, RefValue)>,
    /// The text needs more than `nb_deps` put in front: duplicates to remove, an `nb_deps` or
    /// a reference property given twice.
    pub(super) rewrite: bool,
}

/// References removed from an object: (index in `Skeleton::refs`, position in the list, or
/// `None` for a single reference, which becomes `null`).
pub(super) type Edits = Vec<(usize, Option<usize>)>;

/// An object the split keeps: its `nb_deps`, and what changes in it.
pub(super) struct Planned<T> {
    pub(super) deps: u64,
    pub(super) skeleton: Skeleton,
    pub(super) item: T,
    pub(super) edits: Edits,
}

/// A step of the depth-first visit: object index, the indices of its kept references that are
/// in the bundle, and the next one to look at.
type Frame = (usize, Vec<usize>, usize);

/// The split itself, on skeletons (`text` gives the JSON text their spans point into): the
/// kept objects in output order, with their edits; dropped objects and removed references are
/// appended to `result`.
pub(super) fn plan<T>(
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
pub(super) struct Outcome {
    pub(super) dropped: Vec<Dropped>,
    pub(super) removed_refs: Vec<RemovedRef>,
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
