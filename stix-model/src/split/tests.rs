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
