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

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

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

fn ref_keys(m: &Map<String, Value>) -> Vec<String> {
    m.keys()
        .filter(|k| k.ends_with("_ref") || k.ends_with("_refs"))
        .cloned()
        .collect()
}

/// A step of the depth-first visit: object index, the indices of its kept references that are
/// in the bundle, and the next one to look at.
type Frame = (usize, Vec<usize>, usize);

/// Splits objects of the bundle `bundle_id` (a new id is made when `None`).
pub fn split_objects(
    bundle_id: Option<&str>,
    objects: Vec<Map<String, Value>>,
    opts: &SplitOptions,
) -> SplitResult {
    let bundle_id = bundle_id
        .map(str::to_owned)
        .unwrap_or_else(|| format!("bundle--{}", uuid::Uuid::new_v4()));
    let mut result = SplitResult::default();

    // 1. Index; the last object with an id wins.
    let mut slots: Vec<Option<Map<String, Value>>> = Vec::with_capacity(objects.len());
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for o in objects {
        let Some(id) = o.get("id").and_then(Value::as_str).map(str::to_owned) else {
            result.dropped.push(Dropped {
                id: None,
                object_type: o.get("type").and_then(Value::as_str).map(str::to_owned),
                reason: "has no id".into(),
            });
            continue;
        };
        let idx = match by_id.get(&id) {
            Some(&i) => {
                slots[i] = Some(o);
                i
            }
            None => {
                slots.push(Some(o));
                slots.len() - 1
            }
        };
        by_id.insert(id, idx);
        let Some(o) = &slots[idx] else { continue };
        let mut aliases = Vec::new();
        if let Some(x) = o.get("x_opencti_id").and_then(Value::as_str) {
            aliases.push(x.to_owned());
        }
        if let Some(x) = o
            .get("extensions")
            .and_then(|e| e.get(OPENCTI_EXTENSION))
            .and_then(|e| e.get("id"))
            .and_then(Value::as_str)
        {
            aliases.push(x.to_owned());
        }
        for a in aliases {
            by_id.entry(a).or_insert(idx);
        }
    }
    let n = slots.len();
    let ids: Vec<String> = slots
        .iter()
        .map(|s| {
            s.as_ref()
                .and_then(|m| m.get("id"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        })
        .collect();

    // 2–3. Iterative depth-first visit; kept[i] = indices of present kept targets.
    let mut nb_deps: Vec<Option<u64>> = vec![None; n];
    let mut kept: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut on_path = vec![false; n];
    for root in 0..n {
        if nb_deps[root].is_some() {
            continue;
        }
        let mut stack: Vec<Frame> = Vec::new();
        let mut enter = Some(root);
        loop {
            if let Some(t) = enter.take() {
                let targets = prune(
                    t,
                    &mut slots,
                    &ids,
                    &by_id,
                    &kept,
                    &on_path,
                    opts,
                    &mut result,
                );
                on_path[t] = true;
                stack.push((t, targets, 0));
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

    // 4–6. Clean, check compatibility, sort, wrap.
    let mut out: Vec<(u64, usize, Map<String, Value>)> = Vec::new();
    for (i, slot) in slots.into_iter().enumerate() {
        let Some(mut o) = slot else { continue };
        let deps = nb_deps[i].unwrap_or(1);
        if let Some(reason) = incompatible(&o) {
            result.dropped.push(Dropped {
                id: Some(ids[i].clone()),
                object_type: o.get("type").and_then(Value::as_str).map(str::to_owned),
                reason,
            });
            continue;
        }
        dedupe_external_references(&mut o);
        dedupe_kill_chain_phases(&mut o);
        o.insert("nb_deps".into(), json!(deps));
        out.push((deps, i, o));
    }
    out.sort_by_key(|(d, i, _)| (*d, *i));
    result.bundles = out
        .into_iter()
        .map(|(deps, _, o)| {
            // Built by hand: `json!` would deep-copy the object into the new value.
            let mut b = Map::new();
            b.insert("type".into(), Value::from("bundle"));
            b.insert("id".into(), Value::from(bundle_id.as_str()));
            b.insert("spec_version".into(), Value::from("2.1"));
            b.insert("x_opencti_seq".into(), Value::from(deps));
            b.insert("objects".into(), Value::Array(vec![Value::Object(o)]));
            if let Some(v) = &opts.event_version {
                b.insert("x_opencti_event_version".into(), Value::from(v.as_str()));
            }
            Value::Object(b)
        })
        .collect();
    result
}

/// Applies the keep rules to the references of object `i` (editing it in place) and returns
/// the indices of the kept references whose targets are in the bundle.
#[allow(clippy::too_many_arguments)]
fn prune(
    i: usize,
    slots: &mut [Option<Map<String, Value>>],
    ids: &[String],
    by_id: &BTreeMap<String, usize>,
    kept: &[BTreeSet<usize>],
    on_path: &[bool],
    opts: &SplitOptions,
    result: &mut SplitResult,
) -> Vec<usize> {
    let mut out = Vec::new();
    let Some(obj) = slots[i].as_mut() else {
        return out;
    };
    let self_id: &str = &ids[i];
    for key in ref_keys(obj) {
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
        match obj.get_mut(&key) {
            Some(Value::String(s)) => match check(s) {
                Ok(idx) => out.extend(idx),
                Err(reason) => {
                    result.removed_refs.push(RemovedRef {
                        from: self_id.to_owned(),
                        property: key.clone(),
                        target: s.clone(),
                        reason,
                    });
                    obj.insert(key, Value::Null);
                }
            },
            Some(Value::Array(items)) => {
                let mut keep = Vec::with_capacity(items.len());
                for item in items.drain(..) {
                    match item {
                        Value::String(s) => match check(&s) {
                            Ok(idx) => {
                                out.extend(idx);
                                keep.push(Value::String(s));
                            }
                            Err(reason) => result.removed_refs.push(RemovedRef {
                                from: self_id.to_owned(),
                                property: key.clone(),
                                target: s,
                                reason,
                            }),
                        },
                        other => result.removed_refs.push(RemovedRef {
                            from: self_id.to_owned(),
                            property: key.clone(),
                            target: other.to_string(),
                            reason: "not an id string",
                        }),
                    }
                }
                *items = keep;
            }
            _ => {}
        }
    }
    out
}

fn incompatible(o: &Map<String, Value>) -> Option<String> {
    let ty = o.get("type").and_then(Value::as_str).unwrap_or_default();
    let nonnull = |k: &str| matches!(o.get(k), Some(Value::String(_)));
    match ty {
        "relationship" if !(nonnull("source_ref") && nonnull("target_ref")) => {
            Some("relationship without both source_ref and target_ref".into())
        }
        "sighting"
            if !(nonnull("sighting_of_ref")
                && matches!(o.get("where_sighted_refs"), Some(Value::Array(a)) if !a.is_empty())) =>
        {
            Some("sighting without sighting_of_ref or where_sighted_refs".into())
        }
        _ => {
            let id = o.get("id").and_then(Value::as_str).unwrap_or_default();
            (!is_supported_id(id)).then(|| format!("type {ty:?} is not imported by OpenCTI"))
        }
    }
}

fn dedupe_external_references(o: &mut Map<String, Value>) {
    let Some(Value::Array(refs)) = o.get_mut("external_references") else {
        return;
    };
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
}

fn dedupe_kill_chain_phases(o: &mut Map<String, Value>) {
    let Some(Value::Array(phases)) = o.get_mut("kill_chain_phases") else {
        return;
    };
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let r = split_objects(
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
        let r = split_objects(None, objects, &SplitOptions::default());
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
        let r = split_objects(None, objects, &opts);
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
        let r = split_objects(None, objects, &SplitOptions::default());
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
