//! Tables of invalid inputs, one per rule: each case must fail with a violation whose text
//! names the property path, and the unmodified base objects must be valid.

use serde_json::{json, Value};
use stix_model::{Bundle, StixObject};

const INC: &str = "incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8";
const AP: &str = "attack-pattern--b12cfc49-f036-5156-90ac-1ffa873e53c5";
const ID: &str = "identity--9d7da0ec-7317-5d72-8664-6ff5fd1a1be2";
const TLP: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";

fn incident() -> Value {
    json!({
        "type": "incident", "spec_version": "2.1", "id": INC,
        "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-02T00:00:00.000Z",
        "name": "Test incident", "created_by_ref": ID, "object_marking_refs": [TLP],
        "labels": ["disinformation"], "confidence": 80, "lang": "en",
        "external_references": [{"source_name": "source", "url": "https://example.org/a"}]
    })
}

fn relationship() -> Value {
    json!({
        "type": "relationship", "spec_version": "2.1",
        "id": "relationship--8d5eed88-cb83-5889-a3e6-3b60c99e30b9",
        "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z",
        "relationship_type": "uses", "source_ref": INC, "target_ref": AP
    })
}

fn ext_def() -> Value {
    json!({
        "type": "extension-definition", "spec_version": "2.1",
        "id": "extension-definition--8bdf3e85-a4fe-4b92-ab80-2abcc16b779d",
        "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z",
        "created_by_ref": ID, "name": "x", "schema": "prose", "version": "1.0.0",
        "extension_types": ["property-extension"]
    })
}

fn location() -> Value {
    json!({
        "type": "location", "spec_version": "2.1",
        "id": "location--fb56af0f-b28e-54d2-b738-6ef5ceb2ce5b",
        "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z",
        "name": "Ukraine", "country": "UA"
    })
}

fn sighting() -> Value {
    json!({
        "type": "sighting", "spec_version": "2.1",
        "id": "sighting--7e74891c-9f0c-51fa-b808-4e928895cfaa",
        "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z",
        "sighting_of_ref": AP, "where_sighted_refs": [ID], "count": 3,
        "first_seen": "2024-05-01T00:00:00.000Z", "last_seen": "2024-05-02T00:00:00.000Z"
    })
}

fn marking() -> Value {
    json!({
        "type": "marking-definition", "spec_version": "2.1", "id": TLP,
        "created": "2017-01-20T00:00:00.000Z", "name": "TLP:GREEN",
        "definition_type": "tlp", "definition": {"tlp": "green"}
    })
}

fn violations(v: Value) -> Vec<String> {
    let Value::Object(m) = v else {
        panic!("not an object")
    };
    match StixObject::from_map(m) {
        Ok(_) => vec![],
        Err(v) => v.iter().map(ToString::to_string).collect(),
    }
}

type Mutation = fn(&mut Value);

fn check_table(base: fn() -> Value, cases: &[(&str, Mutation, &str)]) {
    assert_eq!(
        violations(base()),
        Vec::<String>::new(),
        "base object must be valid"
    );
    for (name, mutate, expected) in cases {
        let mut v = base();
        mutate(&mut v);
        let got = violations(v);
        assert!(
            got.iter().any(|g| g.contains(expected)),
            "case {name:?}: expected a violation containing {expected:?}, got {got:?}"
        );
    }
}

#[test]
fn common_property_rules() {
    check_table(
        incident,
        &[
            (
                "missing id",
                |v| drop(v.as_object_mut().unwrap().remove("id")),
                "id: required",
            ),
            (
                "missing created",
                |v| drop(v.as_object_mut().unwrap().remove("created")),
                "created: required",
            ),
            (
                "missing modified",
                |v| drop(v.as_object_mut().unwrap().remove("modified")),
                "modified: required",
            ),
            (
                "missing spec_version",
                |v| drop(v.as_object_mut().unwrap().remove("spec_version")),
                "spec_version: required",
            ),
            (
                "spec_version 2.0",
                |v| v["spec_version"] = json!("2.0"),
                "spec_version: must be \"2.1\"",
            ),
            (
                "id of another type",
                |v| v["id"] = json!(AP),
                "does not match type \"incident\"",
            ),
            (
                "capitalised id",
                |v| v["id"] = json!("Incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8"),
                "id: invalid identifier",
            ),
            (
                "id with uuid v0",
                |v| v["id"] = json!("incident--c1817dc0-80ae-047f-83c0-920b0c6a25b8"),
                "RFC 4122",
            ),
            (
                "created without millis",
                |v| v["created"] = json!("2024-05-01T00:00:00Z"),
                "created: 2024-05-01T00:00:00Z needs at least millisecond",
            ),
            (
                "modified with 2 digits",
                |v| v["modified"] = json!("2024-05-02T00:00:00.07Z"),
                "modified: 2024-05-02T00:00:00.07Z needs",
            ),
            (
                "offset instead of Z",
                |v| v["created"] = json!("2024-05-01T00:00:00.000+00:00"),
                "created: invalid timestamp",
            ),
            (
                "modified before created",
                |v| v["modified"] = json!("2024-04-30T00:00:00.000Z"),
                "modified: must not be earlier than created",
            ),
            (
                "confidence 101",
                |v| v["confidence"] = json!(101),
                "confidence",
            ),
            (
                "confidence -1",
                |v| v["confidence"] = json!(-1),
                "confidence",
            ),
            (
                "confidence as text",
                |v| v["confidence"] = json!("high"),
                "confidence",
            ),
            (
                "empty labels",
                |v| v["labels"] = json!([]),
                "labels: must not be an empty list",
            ),
            (
                "null description",
                |v| v["description"] = json!(null),
                "description: must not be null",
            ),
            (
                "null custom",
                |v| v["x_foo"] = json!(null),
                "x_foo: must not be null",
            ),
            (
                "empty custom list",
                |v| v["x_foo"] = json!([]),
                "x_foo: must not be an empty list",
            ),
            (
                "reserved severity",
                |v| v["severity"] = json!("high"),
                "severity: is a reserved property name",
            ),
            (
                "reserved action",
                |v| v["action"] = json!("x"),
                "action: is a reserved property name",
            ),
            (
                "bad property name",
                |v| v["X-Foo"] = json!(1),
                "X-Foo: is not a valid property name",
            ),
            (
                "short property name",
                |v| v["ab"] = json!(1),
                "ab: is not a valid property name",
            ),
            (
                "created_by_ref not identity",
                |v| v["created_by_ref"] = json!(AP),
                "created_by_ref: must refer to an identity",
            ),
            (
                "marking ref not marking",
                |v| v["object_marking_refs"] = json!([ID]),
                "object_marking_refs[0]: must refer to a marking-definition",
            ),
            (
                "empty marking refs",
                |v| v["object_marking_refs"] = json!([]),
                "object_marking_refs: must not be an empty list",
            ),
            (
                "bad lang",
                |v| v["lang"] = json!("en_US"),
                "lang: is not an RFC 5646",
            ),
            (
                "ext ref without url/id/description",
                |v| v["external_references"] = json!([{"source_name": "x"}]),
                "external_references[0]: an external reference needs",
            ),
            (
                "ext ref without source_name",
                |v| v["external_references"] = json!([{"url": "https://x"}]),
                "external_references[0]: missing field `source_name`",
            ),
            (
                "name missing",
                |v| drop(v.as_object_mut().unwrap().remove("name")),
                "name: required",
            ),
            (
                "name not a string",
                |v| v["name"] = json!(3),
                "name: invalid type",
            ),
            (
                "empty extensions",
                |v| v["extensions"] = json!({}),
                "extensions: must have at least one key",
            ),
            (
                "extension without extension_type",
                |v| {
                    v["extensions"] = json!({"extension-definition--8bdf3e85-a4fe-4b92-ab80-2abcc16b779d": {"a": 1}})
                },
                "extension_type: required",
            ),
            (
                "extension with bad extension_type",
                |v| v["extensions"] = json!({"extension-definition--8bdf3e85-a4fe-4b92-ab80-2abcc16b779d": {"extension_type": "other"}}),
                "extension_type: must be one of",
            ),
            (
                "granular marking without selectors",
                |v| v["granular_markings"] = json!([{"marking_ref": TLP, "selectors": []}]),
                "granular_markings[0].selectors: must not be empty",
            ),
            (
                "granular marking with lang and ref",
                |v| {
                    v["granular_markings"] =
                        json!([{"marking_ref": TLP, "lang": "en", "selectors": ["name"]}])
                },
                "needs exactly one of lang and marking_ref",
            ),
        ],
    );
}

#[test]
fn relationship_rules() {
    check_table(
        relationship,
        &[
            (
                "missing source_ref",
                |v| drop(v.as_object_mut().unwrap().remove("source_ref")),
                "source_ref: required",
            ),
            (
                "missing relationship_type",
                |v| drop(v.as_object_mut().unwrap().remove("relationship_type")),
                "relationship_type: required",
            ),
            (
                "upper-case type",
                |v| v["relationship_type"] = json!("Uses"),
                "must match ^[a-z0-9-]+$",
            ),
            (
                "incident targets attack-pattern",
                |v| v["relationship_type"] = json!("targets"),
                "targets from incident must point to one of",
            ),
            (
                "marking as endpoint",
                |v| v["target_ref"] = json!(TLP),
                "cannot be a relationship endpoint",
            ),
            (
                "stop before start",
                |v| {
                    v["start_time"] = json!("2024-05-02T00:00:00.000Z");
                    v["stop_time"] = json!("2024-05-01T00:00:00.000Z");
                },
                "stop_time: must be later",
            ),
            (
                "location attributed-to",
                |v| {
                    v["relationship_type"] = json!("attributed-to");
                    v["source_ref"] = json!("location--fb56af0f-b28e-54d2-b738-6ef5ceb2ce5b");
                },
                "cannot be the source of attributed-to",
            ),
        ],
    );
}

#[test]
fn per_type_rules() {
    check_table(
        ext_def,
        &[
            (
                "no created_by_ref",
                |v| drop(v.as_object_mut().unwrap().remove("created_by_ref")),
                "created_by_ref: required on an extension-definition",
            ),
            (
                "no schema",
                |v| drop(v.as_object_mut().unwrap().remove("schema")),
                "schema: required",
            ),
            (
                "no version",
                |v| drop(v.as_object_mut().unwrap().remove("version")),
                "version: required",
            ),
            (
                "empty extension_types",
                |v| v["extension_types"] = json!([]),
                "extension_types: must not be an empty list",
            ),
            (
                "unknown extension type",
                |v| v["extension_types"] = json!(["new-thing"]),
                "extension_types[0]",
            ),
            (
                "extension_properties without toplevel",
                |v| v["extension_properties"] = json!(["x_a"]),
                "only allowed with a toplevel-property-extension",
            ),
        ],
    );
    check_table(
        location,
        &[
            (
                "only a name",
                |v| drop(v.as_object_mut().unwrap().remove("country")),
                "a location needs region, country",
            ),
            (
                "latitude alone",
                |v| v["latitude"] = json!(10.0),
                "latitude and longitude go together",
            ),
            (
                "latitude out of range",
                |v| {
                    v["latitude"] = json!(91.0);
                    v["longitude"] = json!(0.0);
                },
                "latitude: must be between",
            ),
        ],
    );
    check_table(
        sighting,
        &[
            (
                "last before first",
                |v| v["last_seen"] = json!("2024-04-01T00:00:00.000Z"),
                "last_seen: must not be earlier",
            ),
            (
                "count too large",
                |v| v["count"] = json!(1_000_000_000u64),
                "count: must be at most",
            ),
            (
                "where_sighted attack-pattern",
                |v| v["where_sighted_refs"] = json!([AP]),
                "where_sighted_refs[0]: must refer to an identity or a location",
            ),
            (
                "empty where_sighted",
                |v| v["where_sighted_refs"] = json!([]),
                "where_sighted_refs: must not be an empty list",
            ),
        ],
    );
    check_table(
        marking,
        &[
            (
                "has modified",
                |v| v["modified"] = json!("2017-01-20T00:00:00.000Z"),
                "modified: a marking-definition has no modified",
            ),
            (
                "bad tlp word",
                |v| v["definition"] = json!({"tlp": "purple"}),
                "definition: is not a valid tlp definition",
            ),
            (
                "no definition",
                |v| {
                    let m = v.as_object_mut().unwrap();
                    m.remove("definition");
                    m.remove("definition_type");
                },
                "definition_type and definition are required",
            ),
        ],
    );
}

#[test]
fn every_violation_is_reported_not_just_the_first() {
    let mut v = incident();
    v["created"] = json!("2024-05-01T00:00:00Z");
    v["labels"] = json!([]);
    v["severity"] = json!("high");
    v["confidence"] = json!(500);
    let got = violations(v);
    assert!(got.len() >= 4, "{got:?}");
    assert!(
        got.iter().all(|g| g.starts_with(INC)),
        "each names the object id: {got:?}"
    );
}

#[test]
fn unknown_types_are_kept_and_bad_custom_types_rejected() {
    let custom = json!({"type": "x-acme-thing", "spec_version": "2.1", "id": "x-acme-thing--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60", "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z", "x_a": {"nested": [1, 2]}});
    let obj: StixObject = serde_json::from_value(custom.clone()).unwrap();
    assert!(matches!(obj, StixObject::Custom(_)));
    assert_eq!(serde_json::to_value(&obj).unwrap(), custom);
    for (name, mutate, expected) in [
        (
            "bad type name",
            (|v: &mut Value| v["type"] = json!("X_Thing")) as Mutation,
            "is not a valid STIX type name",
        ),
        (
            "id type mismatch",
            |v| v["id"] = json!(INC),
            "does not match type",
        ),
        (
            "created without millis",
            |v| v["created"] = json!("2024-05-01T00:00:00Z"),
            "needs at least millisecond",
        ),
        (
            "reserved type action",
            |v| {
                v["type"] = json!("action");
                v["id"] = json!("action--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60");
            },
            "reserved type name",
        ),
    ] {
        let mut v = custom.clone();
        mutate(&mut v);
        let got = violations(v);
        assert!(
            got.iter().any(|g| g.contains(expected)),
            "case {name}: {got:?}"
        );
    }
}

#[test]
fn a_bad_known_object_is_an_error_not_a_custom_object() {
    let mut v = incident();
    v["name"] = json!(42);
    let err = serde_json::from_value::<StixObject>(v)
        .unwrap_err()
        .to_string();
    assert!(err.contains(INC) && err.contains("name"), "{err}");
}

#[test]
fn bundle_rules() {
    let bundle = |objects: Vec<Value>| json!({"type": "bundle", "id": "bundle--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60", "objects": objects});
    let read = |v: Value| Bundle::read_lenient(v.to_string().as_bytes()).unwrap().1;
    // Dangling: the incident refers to an identity and a marking that are not there.
    let r = read(bundle(vec![incident()]));
    let text: Vec<String> = r.violations.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("created_by_ref: refers to identity--")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("object_marking_refs: refers to marking-definition--")),
        "{text:?}"
    );
    // The relationship's target is missing.
    let ident = json!({"type": "identity", "spec_version": "2.1", "id": ID, "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z", "name": "DISINFOX"});
    let r = read(bundle(vec![
        incident(),
        ident.clone(),
        marking(),
        relationship(),
    ]));
    let text: Vec<String> = r.violations.iter().map(ToString::to_string).collect();
    assert_eq!(text, vec![format!("relationship--8d5eed88-cb83-5889-a3e6-3b60c99e30b9: target_ref: refers to {AP}, which is not in the bundle")]);
    // Duplicates and an empty list of objects.
    let r = read(bundle(vec![ident.clone(), ident.clone()]));
    assert!(r
        .violations
        .iter()
        .any(|v| v.message.contains("appears twice")));
    let r = read(bundle(vec![]));
    assert!(r.violations.iter().any(|v| v.path == "objects"));
    // A bad object is reported and the others are kept.
    let mut bad = incident();
    bad["modified"] = json!("2000-01-01T00:00:00.000Z");
    let (b, r) = Bundle::read_lenient(bundle(vec![bad, ident]).to_string().as_bytes()).unwrap();
    assert_eq!(b.objects.len(), 1);
    assert!(r.violations.iter().any(|v| v.path == "modified"));
    // Strict parsing fails on it.
    let mut bad = incident();
    bad["labels"] = json!([]);
    assert!(Bundle::from_slice(bundle(vec![bad]).to_string().as_bytes()).is_err());
    // Not a bundle at all.
    assert!(Bundle::read_lenient(&b"[1,2]"[..]).is_err());
    assert!(Bundle::read_lenient(&b"{\"type\": \"bundle\""[..]).is_err());
    let (_, r) = Bundle::read_lenient(
        &br#"{"type": "report", "id": "bundle--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60"}"#[..],
    )
    .unwrap();
    assert!(r.violations.iter().any(|v| v.path == "type"));
}
