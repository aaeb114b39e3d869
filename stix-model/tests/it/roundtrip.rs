//! Round trips: real DISARM bundles, and paired fixtures (typed value ⇄ exact JSON).

use serde_json::{json, Value};
use stix_model::{
    AttackPattern, Bundle, Common, ExternalReference, Identifier, KillChainPhase, StixObject,
    Timestamp,
};

use crate::published::disarm_bundle;

#[test]
fn disarm_bundles_round_trip_to_an_equal_value() {
    for version in ["1.6", "1.7"] {
        let Some(bytes) = disarm_bundle(version, "disarm_bundles_round_trip_to_an_equal_value")
        else {
            return;
        };
        let bundle = Bundle::from_slice(&bytes).unwrap_or_else(|e| panic!("DISARM {version}: {e}"));
        assert!(bundle.validate().is_valid(), "{:?}", bundle.validate());
        let original: Value = serde_json::from_slice(&bytes).unwrap();
        let written = bundle.to_vec().unwrap();
        assert_eq!(
            written,
            serde_json::to_vec(&bundle).unwrap(),
            "writer = Serialize"
        );
        let back: Value = serde_json::from_slice(&written).unwrap();
        assert_eq!(original, back, "DISARM {version} changed on a round trip");
        let typed = bundle
            .objects
            .iter()
            .filter(|o| matches!(o, StixObject::AttackPattern(_)))
            .count();
        assert!(typed > 300, "attack-patterns are parsed as typed objects");
        assert!(bundle
            .objects
            .iter()
            .any(|o| matches!(o, StixObject::Custom(c) if c.object_type() == "x-mitre-tactic")));
    }
}

fn attack_pattern_full() -> AttackPattern {
    let id = Identifier::parse("attack-pattern--b12cfc49-f036-5156-90ac-1ffa873e53c5").unwrap();
    let mut common = Common::at(id, Timestamp::parse("2024-05-01T00:00:00.000Z").unwrap());
    common.modified = Timestamp::parse("2024-05-02T10:11:12.123456Z").unwrap();
    common.external_references = vec![ExternalReference::external_id(
        "mitre-attack",
        "T0002",
        Some("https://example.org/T0002".into()),
    )];
    let mut ap = AttackPattern::new(common, "Facilitate State Propaganda");
    ap.kill_chain_phases = vec![KillChainPhase::new("disarm", "plan-objectives")];
    ap.custom.insert("x_mitre_id".into(), json!("T0002"));
    ap
}

fn attack_pattern_full_json() -> Value {
    json!({
        "type": "attack-pattern",
        "spec_version": "2.1",
        "id": "attack-pattern--b12cfc49-f036-5156-90ac-1ffa873e53c5",
        "created": "2024-05-01T00:00:00.000Z",
        "modified": "2024-05-02T10:11:12.123456Z",
        "name": "Facilitate State Propaganda",
        "external_references": [{"source_name": "mitre-attack", "external_id": "T0002", "url": "https://example.org/T0002"}],
        "kill_chain_phases": [{"kill_chain_name": "disarm", "phase_name": "plan-objectives"}],
        "x_mitre_id": "T0002"
    })
}

#[test]
fn paired_fixtures() {
    let pairs: Vec<(StixObject, Value)> = vec![
        (attack_pattern_full().into(), attack_pattern_full_json()),
        (
            stix_model::markings::Tlp::Green.marking().into(),
            json!({
                "type": "marking-definition", "spec_version": "2.1",
                "id": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
                "created": "2017-01-20T00:00:00.000Z", "name": "TLP:GREEN",
                "definition_type": "tlp", "definition": {"tlp": "green"}
            }),
        ),
    ];
    for (value, json) in pairs {
        assert_eq!(
            serde_json::to_value(&value).unwrap(),
            json,
            "serializes exactly"
        );
        assert_eq!(
            value.to_vec().unwrap(),
            serde_json::to_vec(&value).unwrap(),
            "the writer and Serialize agree"
        );
        let back: StixObject = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, value, "parses to the same value");
        assert_eq!(serde_json::to_value(&back).unwrap(), json, "loses nothing");
    }
}

/// Every kind of property, with strings that need escaping, through both writers.
#[test]
fn the_writer_and_serialize_agree_on_every_kind_of_property() {
    let objects = json!([
        {"type": "location", "spec_version": "2.1", "id": "location--fb56af0f-b28e-54d2-b738-6ef5ceb2ce5b",
         "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.123456789Z",
         "name": "Kyiv \"centre\"\n\u{1}\u{e9}/", "latitude": 50.45, "longitude": 30.523333333333333,
         "precision": 1e3, "region": "eastern-europe", "revoked": false, "confidence": 100, "lang": "uk",
         "labels": ["a\\b", "ключ"], "x_odd_key": {"n\"": [1, 2.5, -3, true, "x"]},
         "external_references": [{"source_name": "s\"", "url": "https://x/\u{2028}", "hashes": {"SHA-256": "ab"},
                                  "external_id": "T1", "x_extra": [1]}],
         "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"],
         "granular_markings": [{"lang": "en", "selectors": ["name", "labels.[0]"]}],
         "extensions": {"extension-definition--8bdf3e85-a4fe-4b92-ab80-2abcc16b779d": {"extension_type": "property-extension", "q": "\""}}},
        {"type": "identity", "spec_version": "2.1", "id": "identity--9d7da0ec-7317-5d72-8664-6ff5fd1a1be2",
         "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z", "name": "n",
         "identity_class": "a \"custom\" class", "roles": ["r"], "sectors": ["s"]},
        {"type": "sighting", "spec_version": "2.1", "id": "sighting--7e74891c-9f0c-51fa-b808-4e928895cfaa",
         "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z",
         "sighting_of_ref": "attack-pattern--B12CFC49-F036-5156-90AC-1FFA873E53C5", "count": 999999999, "summary": true,
         "where_sighted_refs": ["identity--9d7da0ec-7317-5d72-8664-6ff5fd1a1be2"]},
        {"type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--f79f25d2-8b96-4580-b169-eb7b613a7c31",
         "created": "2017-01-20T00:00:00.000Z", "definition_type": "statement", "definition": {"statement": "© \"x\""}, "x_b": 1},
        {"type": "x-odd-thing", "id": "x-odd-thing--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60", "x_q": "a\"b\u{0}",
         "nested": {"k\"ey": [1, {"\u{e9}": "\t"}]}}
    ]);
    for o in objects.as_array().unwrap() {
        let object = StixObject::from_map(o.as_object().unwrap().clone()).unwrap();
        assert_eq!(
            String::from_utf8(object.to_vec().unwrap()).unwrap(),
            serde_json::to_string(&object).unwrap()
        );
    }
    let bundle = Bundle::from_slice(
        json!({"type": "bundle", "id": "bundle--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60", "x_opencti_seq": 3,
               "spec_version": "2.1", "objects": [objects[1].clone(), objects[2].clone()]})
        .to_string()
        .as_bytes(),
    );
    let bundle = bundle.unwrap();
    let mut streamed = Vec::new();
    bundle.to_writer(&mut streamed).unwrap();
    assert_eq!(streamed, serde_json::to_vec(&bundle).unwrap());
    assert_eq!(bundle.to_vec().unwrap(), streamed);
}
