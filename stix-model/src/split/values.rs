//! The front end on `serde_json` values: [`split_bundle`] and [`split_objects`].

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::plan::{plan, Edits, Outcome, RefValue, Skeleton, Str};
use super::{is_ref_key, new_bundle_id, Dropped, SplitOptions, SplitResult, OPENCTI_EXTENSION};
use crate::Error;

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

pub(super) fn skeleton_of_map(m: &Map<String, Value>) -> Skeleton {
    let owned = Str::owned;
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
                            other => Err(Box::new(other.to_string())),
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
        aliases: aliases.into_boxed_slice(),
        refs,
        rewrite: false,
    }
}

/// Applies a plan's edits and the de-duplications to the object, and writes its `nb_deps`.
pub(super) fn finish(
    o: &mut Map<String, Value>,
    sk: &Skeleton,
    text: &str,
    edits: &Edits,
    deps: u64,
) {
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

/// Splits objects of the bundle `bundle_id` (a new id is made when `None`).
pub fn split_objects(
    bundle_id: Option<&str>,
    objects: Vec<Map<String, Value>>,
    opts: &SplitOptions,
) -> SplitResult {
    let bundle_id = new_bundle_id(bundle_id);
    let mut outcome = Outcome::default();
    let mut items: Vec<(Skeleton, Map<String, Value>)> = objects
        .into_iter()
        .map(|m| (skeleton_of_map(&m), m))
        .collect();
    let steps = plan(&items, |_| "", opts, &mut outcome);
    let bundles = steps
        .into_iter()
        .map(|step| {
            let (skeleton, o) = &mut items[step.item];
            let mut o = std::mem::take(o);
            finish(&mut o, skeleton, "", &step.edits, step.deps);
            wrap(&bundle_id, step.deps, o, opts)
        })
        .collect();
    SplitResult {
        bundles,
        dropped: outcome.dropped,
        removed_refs: outcome.removed_refs,
    }
}

/// De-duplicates external references by `url`, else (`source_name`, `external_id`), dropping
/// entries with neither; whether anything changed.
pub(super) fn dedupe_external_references(v: &mut Value) -> bool {
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
pub(super) fn dedupe_kill_chain_phases(v: &mut Value) -> bool {
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
