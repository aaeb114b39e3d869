//! The split itself, on skeletons: what the rules read of each object (id, type, aliases,
//! references), whichever front end read it.

use std::collections::hash_map::Entry as Slot;
// Never iterated (lookups only), so the output order does not depend on it.
#[allow(clippy::disallowed_types)]
use std::collections::HashMap;

use super::{is_supported_id, Dropped, RemovedRef, SplitOptions};

/// A string of an object: a span of its JSON text, or owned (from a map, or a string the text
/// escapes). Small: a skeleton is kept for every object of a bundle.
#[derive(Debug, Clone)]
// `Box<String>`: a thin pointer, so that a `Str` takes 16 bytes, not 24.
#[allow(clippy::box_collection)]
pub(super) enum Str {
    Span(u32, u32),
    /// A property name the crate knows (see `crate::read::known_name`).
    Known(u8),
    Owned(Box<String>),
}

impl Str {
    pub(super) fn owned(s: &str) -> Self {
        Str::Owned(Box::new(s.to_owned()))
    }

    pub(super) fn get<'a>(&'a self, text: &'a str) -> &'a str {
        match self {
            Str::Span(a, b) => text.get(*a as usize..*b as usize).unwrap_or_default(),
            Str::Known(i) => crate::read::known_name(*i),
            Str::Owned(s) => s,
        }
    }
}

/// An entry of a `*_refs` list: an id string, or the JSON of an entry that is not a string.
#[allow(clippy::box_collection)]
pub(super) type Entry = Result<Str, Box<String>>;

/// A top-level `*_ref`/`*_refs` property.
#[derive(Debug, Clone)]
pub(super) enum RefValue {
    One(Str),
    List(Box<[Entry]>),
    Other,
}

/// What the split reads of an object.
#[derive(Debug, Clone, Default)]
pub(super) struct Skeleton {
    pub(super) id: Option<Str>,
    pub(super) ty: Option<Str>,
    pub(super) aliases: Box<[Str]>,
    /// Sorted by property name (the visit order, so both front ends cut the same cycles).
    pub(super) refs: Box<[(Str, RefValue)]>,
    /// The text needs more than `nb_deps` put in front: duplicates to remove, an `nb_deps` or
    /// a reference property given twice.
    pub(super) rewrite: bool,
}

/// References removed from an object: (index in `Skeleton::refs`, position in the list, or
/// `None` for a single reference, which becomes `null`).
pub(super) type Edits = Vec<(usize, Option<usize>)>;

/// An object the split keeps: its `nb_deps`, the item it is, and what changes in it.
pub(super) struct Step {
    pub(super) deps: u64,
    /// Its id's place among the ids, in input order (breaks ties of `nb_deps`).
    slot: u32,
    pub(super) item: usize,
    pub(super) edits: Edits,
}

/// The split itself, on skeletons (`text` gives the JSON text their spans point into): the
/// objects kept, in output order, with their edits; dropped objects and removed references are
/// appended to `result`.
pub(super) fn plan<T>(
    items: &[(Skeleton, T)],
    text: impl Fn(&T) -> &str,
    opts: &SplitOptions,
    result: &mut Outcome,
) -> Vec<Step> {
    let Index {
        slot_item,
        kinds,
        nb_deps,
        edits,
    } = visit(items, &text, opts, result);

    // 5–6. Check compatibility, sort (by `nb_deps`, then by the order the ids came in).
    let mut steps: Vec<Step> = Vec::with_capacity(slot_item.len());
    let mut edits = edits.into_iter().peekable();
    for (slot, (item, deps)) in slot_item.into_iter().zip(nb_deps).enumerate() {
        let edits = match edits.peek() {
            Some((s, _)) if *s == slot => edits.next().map(|(_, e)| e).unwrap_or_default(),
            _ => Edits::new(),
        };
        let item = item as usize;
        let (skeleton, it) = &items[item];
        let t = text(it);
        if let Some(reason) = incompatible(skeleton, kinds[item], t, &edits) {
            result.dropped.push(Dropped {
                id: skeleton.id.as_ref().map(|s| s.get(t).to_owned()),
                object_type: skeleton.ty.as_ref().map(|s| s.get(t).to_owned()),
                reason,
            });
            continue;
        }
        steps.push(Step {
            deps: deps.max(1),
            slot: slot as u32,
            item,
            edits,
        });
    }
    sort_steps(&mut steps);
    steps
}

/// Sorts steps pushed in slot order by (`nb_deps`, slot): small keys are sorted (a step's place
/// stands for its slot, which grows with it), then the steps are moved into that order in
/// place, each once, instead of being moved about by the sort.
fn sort_steps(steps: &mut [Step]) {
    debug_assert!(steps.windows(2).all(|w| w[0].slot < w[1].slot));
    let Ok(n) = u32::try_from(steps.len()) else {
        // Each slot once: the order is total, an unstable sort (no scratch memory) gives it.
        steps.sort_unstable_by_key(|s| (s.deps, s.slot));
        return;
    };
    let mut keys: Vec<(u64, u32)> = steps.iter().zip(0..n).map(|(s, i)| (s.deps, i)).collect();
    keys.sort_unstable();
    // Place `k` takes the step now at `order[k]`: each cycle of the permutation is followed
    // once, swapping as it goes.
    let mut order: Vec<u32> = keys.into_iter().map(|(_, i)| i).collect();
    for start in 0..order.len() {
        let mut at = start;
        while order[at] != u32::MAX {
            let next = order[at] as usize;
            order[at] = u32::MAX;
            if next == start {
                break;
            }
            steps.swap(at, next);
            at = next;
        }
    }
}

/// What the visit finds, by slot (an id's place; a later object with the same id takes the
/// slot of the first).
struct Index {
    /// The item each slot holds.
    slot_item: Vec<u32>,
    /// What each item is, for rule 5 (read with its id, while its text is at hand).
    kinds: Vec<Kind>,
    /// `nb_deps` of each slot (0 until counted: a count is at least 1).
    nb_deps: Vec<u64>,
    /// The slots whose references change, in slot order.
    edits: Vec<(usize, Edits)>,
}

/// The id index: each id and alias to its slot. A hash map with std's keyed hasher: a lookup
/// is one hash of the id and, usually, one probe, where a sorted map walks a dozen cache-cold
/// nodes for a hundred thousand ids; the random keys keep crafted ids from colliding. It is
/// never iterated: the output order does not depend on it.
#[allow(clippy::disallowed_types)]
type ById<'t> = HashMap<&'t str, u32>;

/// Rule 1, index the objects by id and aliases (the last object with an id wins); rules 2–3,
/// visit each depth first, iteratively, pruning references and counting `nb_deps`.
fn visit<'t, T: 't>(
    items: &'t [(Skeleton, T)],
    text: &impl Fn(&'t T) -> &'t str,
    opts: &SplitOptions,
    result: &mut Outcome,
) -> Index {
    // Slots and items are counted in `u32`: a bundle of 4 billion objects does not fit in memory.
    let mut slot_item: Vec<u32> = Vec::with_capacity(items.len());
    let mut kinds: Vec<Kind> = Vec::with_capacity(items.len());
    #[allow(clippy::disallowed_types)]
    let mut by_id: ById<'t> = HashMap::with_capacity(items.len());
    for (k, (sk, item)) in items.iter().enumerate() {
        let t = text(item);
        kinds.push(Kind::of(sk, t));
        let Some(id) = sk.id.as_ref().map(|s| s.get(t)) else {
            result.dropped.push(Dropped {
                id: None,
                object_type: sk.ty.as_ref().map(|s| s.get(t).to_owned()),
                reason: "has no id".into(),
            });
            continue;
        };
        let slot = match by_id.entry(id) {
            Slot::Occupied(e) => {
                let slot = *e.get();
                slot_item[slot as usize] = k as u32;
                slot
            }
            Slot::Vacant(e) => {
                slot_item.push(k as u32);
                *e.insert((slot_item.len() - 1) as u32)
            }
        };
        for a in &sk.aliases {
            by_id.entry(a.get(t)).or_insert(slot);
        }
    }
    let n = slot_item.len();
    let at = |slot: usize| {
        let (sk, item) = &items[slot_item[slot] as usize];
        (sk, text(item))
    };

    // The kept references of each slot whose targets are in the bundle, in one arena: a slot's
    // are `targets[start..start + pos]` once it is entered (`pos` grows as the visit goes).
    let refs: usize = items
        .iter()
        .flat_map(|(sk, _)| sk.refs.iter())
        .map(|(_, v)| match v {
            RefValue::One(_) => 1,
            RefValue::List(entries) => entries.len(),
            RefValue::Other => 0,
        })
        .sum();
    let mut targets: Vec<u32> = Vec::with_capacity(refs);
    let mut span: Vec<(u32, u32, u32)> = vec![(0, 0, 0); n];
    let mut nb_deps: Vec<u64> = vec![0; n];
    let mut edits: Vec<(usize, Edits)> = Vec::new();
    let mut on_path = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut found: Vec<u32> = Vec::new();
    let mut recent = Recent::new();
    for root in 0..n {
        if nb_deps[root] != 0 {
            continue;
        }
        let mut enter = Some(root);
        loop {
            if let Some(i) = enter.take() {
                let (sk, t) = at(i);
                let start = targets.len();
                let kept = |x: usize, of: usize| {
                    let (s, _, pos) = span[x];
                    targets[s as usize..(s + pos) as usize].contains(&(of as u32))
                };
                let mut changes = Edits::new();
                found.clear();
                prune(
                    i,
                    sk,
                    t,
                    &by_id,
                    &mut recent,
                    &kept,
                    &on_path,
                    opts,
                    &mut changes,
                    &mut result.removed_refs,
                    &mut found,
                );
                if !changes.is_empty() {
                    edits.push((i, changes));
                }
                targets.extend_from_slice(&found);
                span[i] = (start as u32, (targets.len() - start) as u32, 0);
                on_path[i] = true;
                stack.push(i);
            }
            let Some(&i) = stack.last() else {
                break;
            };
            let (start, len, pos) = span[i];
            let (start, len) = (start as usize, len as usize);
            if (pos as usize) < len {
                span[i].2 += 1;
                let t = targets[start + pos as usize] as usize;
                if nb_deps[t] == 0 && !on_path[t] {
                    enter = Some(t);
                }
                continue;
            }
            let total: u64 = 1 + targets[start..start + len]
                .iter()
                .map(|c| nb_deps[*c as usize])
                .sum::<u64>();
            nb_deps[i] = total;
            on_path[i] = false;
            stack.pop();
        }
    }
    edits.sort_unstable_by_key(|(slot, _)| *slot);
    Index {
        slot_item,
        kinds,
        nb_deps,
        edits,
    }
}

/// Where dropped objects and removed references are collected.
#[derive(Default)]
pub(super) struct Outcome {
    pub(super) dropped: Vec<Dropped>,
    pub(super) removed_refs: Vec<RemovedRef>,
}

/// Applies the keep rules to the references of slot `i` (recording the removals in `edits`)
/// and appends to `out` the slots of the kept references whose targets are in the bundle.
/// `kept(t, i)`: whether `t` already keeps a reference to `i`.
#[allow(clippy::too_many_arguments)]
fn prune<'t>(
    i: usize,
    sk: &'t Skeleton,
    text: &'t str,
    by_id: &ById<'t>,
    recent: &mut Recent<'t>,
    kept: &impl Fn(usize, usize) -> bool,
    on_path: &[bool],
    opts: &SplitOptions,
    edits: &mut Edits,
    removed: &mut Vec<RemovedRef>,
    out: &mut Vec<u32>,
) {
    let self_id = sk.id.as_ref().map_or("", |s| s.get(text));
    let mut check = |target: &'t str| -> Result<Option<u32>, &'static str> {
        let (supported, idx) = recent.find(target, by_id);
        if !supported {
            return Err("type not imported by OpenCTI");
        }
        if target == self_id || idx == Some(i as u32) {
            return Err("refers to the object itself");
        }
        if let Some(t) = idx {
            let t = t as usize;
            if on_path[t] {
                return Err("reference cycle");
            }
            if kept(t, i) {
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
}

/// What rule 5 needs to know of an object's type and id.
#[derive(Debug, Clone, Copy)]
struct Kind {
    ty: Ty,
    /// Whether OpenCTI imports objects with its id.
    supported: bool,
}

/// The types rule 5 has its own conditions for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Relationship,
    Sighting,
    Other,
}

impl Kind {
    fn of(sk: &Skeleton, text: &str) -> Self {
        Kind {
            ty: match sk.ty.as_ref().map_or("", |s| s.get(text)) {
                "relationship" => Ty::Relationship,
                "sighting" => Ty::Sighting,
                _ => Ty::Other,
            },
            supported: is_supported_id(sk.id.as_ref().map_or("", |s| s.get(text))),
        }
    }
}

/// The targets looked up lately, by a cheap hash of their last bytes: most objects of a
/// bundle name the same author and markings, and consecutive relationships the same source,
/// which are then found by one comparison instead of a hash of the whole id.
struct Recent<'t> {
    slots: [Option<(&'t str, bool, Option<u32>)>; 64],
}

impl<'t> Recent<'t> {
    fn new() -> Self {
        Self { slots: [None; 64] }
    }

    /// Whether OpenCTI imports `target`'s type, and its slot.
    fn find(&mut self, target: &'t str, by_id: &ById<'t>) -> (bool, Option<u32>) {
        let b = target.as_bytes();
        let at = match b {
            [.., x, y] => usize::from(*x) * 8 + usize::from(*y),
            _ => b.len(),
        } % self.slots.len();
        match self.slots[at] {
            Some((t, supported, idx)) if t == target => (supported, idx),
            _ => {
                let found = (is_supported_id(target), by_id.get(target).copied());
                self.slots[at] = Some((target, found.0, found.1));
                found
            }
        }
    }
}

/// Why OpenCTI cannot import the object once its references are pruned, if it cannot.
fn incompatible(sk: &Skeleton, kind: Kind, text: &str, edits: &Edits) -> Option<String> {
    let find = |name: &str| sk.refs.iter().position(|(k, _)| k.get(text) == name);
    let nonnull = |name: &str| {
        find(name).is_some_and(|r| {
            matches!(sk.refs[r].1, RefValue::One(_)) && !edits.contains(&(r, None))
        })
    };
    match kind.ty {
        Ty::Relationship if !(nonnull("source_ref") && nonnull("target_ref")) => {
            Some("relationship without both source_ref and target_ref".into())
        }
        Ty::Sighting
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
        _ if !kind.supported => {
            let ty = sk.ty.as_ref().map_or("", |s| s.get(text));
            Some(format!("type {ty:?} is not imported by OpenCTI"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod sort_tests {
    use super::{sort_steps, Edits, Step};

    /// `sort_steps` gives the order of a sort by (`nb_deps`, slot): ties, long cycles, one
    /// step, none.
    #[test]
    fn steps_are_sorted_by_deps_then_slot() {
        let mut seed = 7u64;
        for n in [0usize, 1, 2, 3, 10, 257, 5000] {
            let steps = |seed: &mut u64| -> Vec<Step> {
                (0..n)
                    .map(|i| {
                        *seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        Step {
                            deps: (*seed >> 33) % (n as u64 / 3 + 1) + 1,
                            slot: (i * 2) as u32,
                            item: i,
                            edits: Edits::new(),
                        }
                    })
                    .collect()
            };
            let mut ours = steps(&mut seed.clone());
            let mut want = steps(&mut seed);
            sort_steps(&mut ours);
            want.sort_by_key(|s| (s.deps, s.slot));
            let key = |v: &[Step]| {
                v.iter()
                    .map(|s| (s.deps, s.slot, s.item))
                    .collect::<Vec<_>>()
            };
            assert_eq!(key(&ours), key(&want), "n = {n}");
        }
    }
}
