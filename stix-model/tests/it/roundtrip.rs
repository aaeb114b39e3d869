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
        let back: Value = serde_json::from_slice(&bundle.to_vec().unwrap()).unwrap();
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
        let back: StixObject = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, value, "parses to the same value");
        assert_eq!(serde_json::to_value(&back).unwrap(), json, "loses nothing");
    }
}
