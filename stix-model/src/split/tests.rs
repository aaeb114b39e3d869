//! Tests of the split: both front ends on the same objects must agree.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::*;

fn ref_keys(m: &Map<String, Value>) -> Vec<String> {
    m.keys().filter(|k| is_ref_key(k)).cloned().collect()
}

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

/// JSON text of an object with whitespace around everything.
fn pretty_text(m: &Map<String, Value>) -> String {
    serde_json::to_string_pretty(m).unwrap()
}

/// Splits with every front end, checks they agree, and returns the map result.
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
        objects.iter().map(pretty_text).collect(),
    ] {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let s = split_strs(Some(id), refs, opts);
        let t = split_texts(Some(id), texts.clone(), opts);
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
        assert_eq!(s.expectations(), m.expectations());
        for (k, b) in m.bundles.iter().enumerate() {
            let sb: Value = serde_json::from_str(&s.bundle(k).unwrap()).unwrap();
            assert_eq!(&sb, b, "bundle {k} of split_strs");
        }
        assert_eq!(s.bundles().count(), m.bundles.len());
        assert_eq!(s.dropped, m.dropped);
        assert_eq!(s.removed_refs, m.removed_refs);
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
}

#[test]
fn split_json_checks_every_object_and_agrees_with_split_texts() {
    let mut builder = crate::incident::BundleBuilder::new(
        crate::incident::BuildOptions::with_author("Tests").unwrap(),
    );
    for d in crate::sample::incidents(7, 40) {
        builder.add_incident(&d).unwrap();
    }
    let bundle = builder.build();
    let mut v: Value = serde_json::from_slice(&bundle.to_vec().unwrap()).unwrap();
    // An invalid object (an empty list) is left out with its violations.
    let mut bad = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "incident")
        .unwrap()
        .clone();
    bad["id"] = json!("incident--0b9ee1c2-1fe5-5b39-a4c6-3c5f3e9a9e71");
    bad["labels"] = json!([]);
    v["objects"].as_array_mut().unwrap().push(bad);
    let text = serde_json::to_string_pretty(&v).unwrap();
    let j = split_json(text.as_bytes(), &SplitOptions::default()).unwrap();
    let texts: Vec<String> = bundle
        .objects
        .iter()
        .map(|o| String::from_utf8(o.to_vec().unwrap()).unwrap())
        .collect();
    let t = split_texts(Some(bundle.id.as_str()), texts, &SplitOptions::default());
    assert_eq!(j.expectations(), t.expectations());
    assert!(j.expectations() > 100);
    for (k, b) in j.bundles().enumerate() {
        let jb: Value = serde_json::from_str(&b).unwrap();
        let tb: Value = serde_json::from_str(&t.bundle(k).unwrap()).unwrap();
        assert_eq!(jb, tb, "bundle {k}");
    }
    assert_eq!(j.dropped.len(), t.dropped.len() + 1);
    assert!(
        j.dropped[0]
            .reason
            .contains("labels: must not be an empty list"),
        "{:?}",
        j.dropped[0]
    );
    assert_eq!(
        j.dropped[0].id.as_deref(),
        Some("incident--0b9ee1c2-1fe5-5b39-a4c6-3c5f3e9a9e71")
    );
    assert_eq!(j.violations.len(), 1);
    assert!(split_json(b"[1]", &SplitOptions::default()).is_err());
    assert!(split_json(br#"{"objects": [{"type" "x"}]}"#, &SplitOptions::default()).is_err());
    assert!(split_json(b"{\"objects\": [\"\xff\"]}", &SplitOptions::default()).is_err());
    assert!(split_json(br#"{"type": "bundle"}"#, &SplitOptions::default()).is_err());
    let odd = split_json(
        br#"{"type": "bundle", "objects": [1, {"type": "x-y-z"}]}"#,
        &SplitOptions::default(),
    )
    .unwrap();
    assert_eq!(odd.expectations(), 0);
    assert_eq!(odd.dropped.len(), 2);
    assert!(odd.bundle_id.starts_with("bundle--"));
}

/// The lean read of `split_json` (plain relationships by the fast check, extensions checked as
/// they stream by, an object they cannot vouch for read again in full) gives exactly what reading every object in full gives: the
/// same bundles byte for byte, the same objects left out with the same violations.
#[test]
fn split_json_lean_read_agrees_with_the_full_read() {
    let mut builder = crate::incident::BundleBuilder::new(
        crate::incident::BuildOptions::with_author("Tests").unwrap(),
    );
    for d in crate::sample::incidents(3, 60) {
        builder.add_incident(&d).unwrap();
    }
    let bundle = builder.build();
    let v: Value = serde_json::from_slice(&bundle.to_vec().unwrap()).unwrap();
    let objects = v["objects"].as_array().unwrap();
    let incident = objects.iter().find(|o| o["type"] == "incident").unwrap();
    let marking = objects
        .iter()
        .find(|o| o["type"] == "marking-definition")
        .unwrap();
    let ext_key = incident["extensions"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let ext = incident["extensions"][&ext_key].clone();
    let mut texts: Vec<String> = objects.iter().map(Value::to_string).collect();
    // Variants of an incident and a marking, each with its own id, written as text.
    let mut variant = |base: &Value, n: usize, extensions: &str| {
        let mut o = base.as_object().unwrap().clone();
        o.remove("extensions");
        let ty = o["type"].as_str().unwrap().to_owned();
        o.insert(
            "id".into(),
            json!(format!("{ty}--0b9ee1c2-1fe5-5b39-a4c6-3c5f3e9a{n:04x}")),
        );
        let body = Value::Object(o).to_string();
        texts.push(format!(
            "{},\"extensions\":{extensions}}}",
            &body[..body.len() - 1]
        ));
    };
    let with = |f: &dyn Fn(&mut Map<String, Value>)| {
        let mut e = ext.as_object().unwrap().clone();
        f(&mut e);
        json!({ ext_key.as_str(): e }).to_string()
    };
    let good = with(&|_| {});
    let cases = [
        good.clone(),
        "{}".to_owned(),
        "[]".to_owned(),
        "null".to_owned(),
        "\"x\"".to_owned(),
        "{\"x-acme-ext\": {\"a\": 1, \"b\": [1, {\"c\": true}]}}".to_owned(),
        "{\"x-acme-ext\": {\"a\": [[]]}}".to_owned(),
        "{\"x-acme-ext\": [1]}".to_owned(),
        "{\"x-acme-ext\": {\"a\": 1e400}}".to_owned(),
        with(&|e| {
            e.remove("extension_type");
        }),
        with(&|e| {
            e.insert("extension_type".into(), json!("bogus"));
        }),
        with(&|e| {
            e.insert("extension_type".into(), json!(3));
        }),
        with(&|e| {
            e.insert("channels".into(), json!([]));
        }),
        with(&|e| {
            e.insert("attribution".into(), json!({"confidence": null}));
        }),
        good.replace("extension-definition--", "extension-definition--x"),
        // A key given twice: the last counts.
        format!("{{\"{ext_key}\": null, {}", &good[1..]),
        format!(
            "{{{}, \"{ext_key}\": {{\"a\": null}}}}",
            &good[1..good.len() - 1]
        ),
        good.replacen(
            "\"extension_type\"",
            "\"extension_type\": \"bogus\", \"extension_type\"",
            1,
        ),
    ];
    for (n, e) in cases.iter().enumerate() {
        variant(incident, n, e);
        variant(marking, n, e);
    }
    // Relationships for the fast check: some it vouches for, some it leaves to the full reader.
    let rel = objects
        .iter()
        .find(|o| o["type"] == "relationship")
        .unwrap();
    let rel_cases: [(&str, Value); 6] = [
        ("description", json!("a \"quoted\"\nline")),
        ("relationship_type", json!("Uses")),
        ("created_by_ref", json!(incident["id"])),
        ("object_marking_refs", json!([])),
        ("modified", json!("2000-01-01T00:00:00.000Z")),
        ("x_acme", json!(1)),
    ];
    for (n, (k, v)) in rel_cases.into_iter().enumerate() {
        let mut o = rel.as_object().unwrap().clone();
        o.insert(
            "id".into(),
            json!(format!(
                "relationship--0b9ee1c2-1fe5-5b39-a4c6-3c5f3e9b{n:04x}"
            )),
        );
        o.insert(k.into(), v);
        texts.push(Value::Object(o).to_string());
    }
    // `extensions` given twice at the top level.
    let t = texts.last().unwrap().clone();
    texts.push(t.replacen(
        "\"extensions\":",
        "\"extensions\":{},\"x\":1,\"extensions\":",
        1,
    ));
    let text = format!(
        "{{\"type\": \"bundle\", \"id\": \"{}\", \"objects\": [{}]}}",
        bundle.id,
        texts.join(",\n")
    );
    let opts = SplitOptions::default();
    let lean = json::split_json_read(text.as_bytes(), &opts, true).unwrap();
    let full = json::split_json_read(text.as_bytes(), &opts, false).unwrap();
    assert_eq!(lean.expectations(), full.expectations());
    assert!(lean.bundles().eq(full.bundles()));
    assert_eq!(lean.dropped, full.dropped);
    assert_eq!(lean.violations, full.violations);
    assert_eq!(lean.removed_refs, full.removed_refs);
    // The cases do what they say: some kept, some left out, one not JSON enough.
    let kept = |n: usize| {
        let id = format!("incident--0b9ee1c2-1fe5-5b39-a4c6-3c5f3e9a{n:04x}");
        lean.bundles().any(|b| b.contains(&id))
    };
    let kept: Vec<usize> = (0..cases.len()).filter(|&n| kept(n)).collect();
    assert_eq!(kept, [0, 5, 15, 17]);
    assert!(lean.violations.len() >= 24, "{:#?}", lean.violations);
    let rel_kept = |n: usize| {
        let id = format!("relationship--0b9ee1c2-1fe5-5b39-a4c6-3c5f3e9b{n:04x}");
        lean.bundles().any(|b| b.contains(&id))
    };
    let rel_kept: Vec<usize> = (0..6).filter(|&n| rel_kept(n)).collect();
    assert_eq!(rel_kept, [0, 5]);
    assert!(lean
        .dropped
        .iter()
        .any(|d| d.reason.contains("number out of range")));
}

/// An object text with space before its `{` is written again (its `nb_deps` cannot go right
/// after the brace), by the text front ends alike.
#[test]
fn a_text_with_space_in_front_is_written_again() {
    let text = format!(" \n{{\"type\": \"identity\", \"id\": \"{ID}\", \"name\": \"A\"}}");
    let opts = SplitOptions::default();
    let s = split_strs(Some("bundle--x"), vec![text.as_str()], &opts);
    let t = split_texts(Some("bundle--x"), vec![text.clone()], &opts);
    for b in [s.bundle(0).unwrap(), t.bundle(0).unwrap()] {
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["objects"][0]["nb_deps"], 1, "{b}");
        assert_eq!(v["objects"][0]["name"], "A");
    }
}

/// A relationship with every property the fast check knows (see `fast`).
fn plain_relationship() -> Map<String, Value> {
    let Value::Object(m) = json!({
        "type": "relationship", "spec_version": "2.1", "id": R1, "created_by_ref": ID,
        "created": "2022-01-01T01:33:29.000Z", "modified": "2022-01-01T01:33:29.000Z",
        "object_marking_refs": [MD], "relationship_type": "uses",
        "source_ref": INC, "target_ref": AP,
    }) else {
        unreachable!()
    };
    m
}

/// The fast check of relationships never vouches for an object the full reader refuses, and
/// where it vouches it reads the skeleton the full read gives. Every rule the full reader
/// applies to a relationship is broken once here: each such variant must be refused by the
/// full reader and left to it by the fast check.
#[test]
fn the_fast_check_vouches_only_for_what_the_full_reader_accepts() {
    let base = plain_relationship();
    let edit = |f: &dyn Fn(&mut Map<String, Value>)| {
        let mut m = base.clone();
        f(&mut m);
        Value::Object(m).to_string()
    };
    let set = |k: &'static str, v: Value| edit(&move |m| drop(m.insert(k.into(), v.clone())));
    let unset = |k: &'static str| edit(&move |m| drop(m.remove(k)));
    let base_text = Value::Object(base.clone()).to_string();
    let other_uuid = "--0b9ee1c2-1fe5-5b39-a4c6-3c5f3e9a0001";
    // Variants the full reader refuses, one rule each.
    let invalid = vec![
        set("spec_version", json!("2.0")),
        set("spec_version", json!(2.1)),
        unset("spec_version"),
        set("id", json!(format!("indicator{other_uuid}"))),
        set(
            "id",
            json!("relationship--0b9ee1c2-1fe5-0b39-a4c6-3c5f3e9a0001"),
        ),
        set("id", json!("relationship--x")),
        set("id", json!(7)),
        unset("id"),
        unset("type"),
        set("type", json!("relationships")),
        set("type", json!(null)),
        set("created_by_ref", json!(format!("threat-actor{other_uuid}"))),
        set("created_by_ref", json!("identity--nope")),
        set("created_by_ref", json!(null)),
        set("created_by_ref", json!([ID])),
        set("created", json!("2022-01-01T01:33:29.000")),
        set("created", json!("2022-13-01T01:33:29.000Z")),
        set("created", json!("2022-01-01T01:33:29Z")),
        set("created", json!("2022-01-01T01:33:29.1Z")),
        set("created", json!(1)),
        unset("created"),
        set("modified", json!("2021-12-31T23:59:59.999Z")),
        set("modified", json!("2022-01-01T01:33:29.01Z")),
        unset("modified"),
        set("object_marking_refs", json!([])),
        set("object_marking_refs", json!([ID])),
        set("object_marking_refs", json!([MD, null])),
        set("object_marking_refs", json!([MD, "marking-definition--x"])),
        set("object_marking_refs", json!(MD)),
        set("object_marking_refs", json!(null)),
        set("relationship_type", json!("")),
        set("relationship_type", json!("Uses")),
        set("relationship_type", json!("uses it")),
        set("relationship_type", json!(["uses"])),
        set("relationship_type", json!("targets")),
        set("relationship_type", json!("duplicate-of")),
        unset("relationship_type"),
        set("source_ref", json!(MD)),
        set("source_ref", json!(EXT)),
        set("source_ref", json!("incident--nope")),
        unset("source_ref"),
        set("target_ref", json!(format!("bundle{other_uuid}"))),
        set("target_ref", json!(null)),
        unset("target_ref"),
        set("description", json!(null)),
        set("description", json!(5)),
        set("description", json!(["a"])),
        edit(&|m| {
            m.insert("start_time".into(), json!("2022-02-01T00:00:00.000Z"));
            m.insert("stop_time".into(), json!("2022-01-01T00:00:00.000Z"));
        }),
        set("stop_time", json!("soon")),
        set("severity", json!("high")),
        set("X", json!(1)),
        set("x_foo", json!(null)),
        set("x_foo", json!([])),
        set("x_foo", json!({"a": [null]})),
        set("extensions", json!({})),
        set("extensions", json!({"x-acme": null})),
        set("labels", json!([])),
        set("lang", json!("123")),
        set("confidence", json!(101)),
        set("revoked", json!("yes")),
        set("confidence", json!(-1)),
        set("confidence", json!(41.0)),
        set("confidence", json!("41")),
        set("confidence", json!(null)),
        set("confidence", json!(u64::MAX)),
        set("external_references", json!([{"source_name": "x"}])),
        set(
            "granular_markings",
            json!([{"marking_ref": MD, "selectors": []}]),
        ),
        // A key given twice: the last counts.
        base_text.replacen(
            "\"relationship_type\":\"uses\"",
            "\"relationship_type\":\"uses\",\"relationship_type\":\"\"",
            1,
        ),
    ];
    // Variants the full reader accepts; the fast check may leave them to it.
    let valid = vec![
        base_text.clone(),
        unset("created_by_ref"),
        unset("object_marking_refs"),
        set("confidence", json!(0)),
        set("confidence", json!(100)),
        set("description", json!("Uses it.")),
        set("description", json!("line\nbreak \"quoted\"")),
        set("description", json!("")),
        set("object_marking_refs", json!([MD, MD])),
        set("relationship_type", json!("related-to")),
        set("relationship_type", json!("x-acme-9")),
        edit(&|m| {
            m.insert("relationship_type".into(), json!("related-to"));
            m.insert(
                "target_ref".into(),
                json!(format!("x-acme-thing{other_uuid}")),
            );
        }),
        set("modified", json!("2023-01-01T00:00:00.123456Z")),
        set(
            "id",
            json!("relationship--0B9EE1C2-1FE5-5B39-A4C6-3C5F3E9A0001"),
        ),
        format!(" \n\t{base_text}"),
        format!("{base_text} \n"),
        reversed_text(&base),
        pretty_text(&base),
        base_text.replace("\"id\"", "\"\\u0069d\""),
        base_text.replace(R1, &R1.replace('8', "\\u0038")),
        base_text.replacen(
            "\"relationship_type\":\"uses\"",
            "\"relationship_type\":\"\",\"relationship_type\":\"uses\"",
            1,
        ),
        set("start_time", json!("2022-01-01T00:00:00.000Z")),
        set("x_opencti_id", json!("abc")),
        set("x_foo", json!(1)),
        set("labels", json!(["a"])),
        set("extensions", json!({"x-acme": {"a": 1}})),
        set("nb_deps", json!(3)),
    ];
    let full = |t: &str| match json::read_object(t, false) {
        Ok(Ok(sk)) => Some(sk),
        _ => None,
    };
    let mut vouched = 0;
    for t in &invalid {
        assert!(full(t).is_none(), "the full reader accepts {t}");
        assert!(
            fast::relationship(t).is_none(),
            "the fast check accepts {t}"
        );
    }
    for t in &valid {
        let want = full(t).unwrap_or_else(|| panic!("the full reader refuses {t}"));
        if let Some(sk) = fast::relationship(t) {
            assert_eq!(format!("{sk:?}"), format!("{want:?}"), "{t}");
            vouched += 1;
        }
    }
    // The fast check does vouch for the plain ones, with space around or not, in any order.
    for t in &valid[..18] {
        assert!(fast::relationship(t).is_some(), "{t}");
    }
    assert!(vouched >= 18, "{vouched}");
    // Neither malformed JSON nor a truncated text is vouched for.
    for cut in [1, 2, base_text.len() / 2, base_text.len() - 1] {
        assert!(fast::relationship(&base_text[..cut]).is_none());
    }
    assert!(fast::relationship(&format!("{base_text},{{}}")).is_none());
}
