//! Tests of `opencti`.

use super::contributing as c;
use super::*;

const AP1_7: &str = "attack-pattern--b12cfc49-f036-5156-90ac-1ffa873e53c5";
const AP1_6: &str = "attack-pattern--1192167d-b209-570d-834c-41266ce6f30c";
const V5: &str = "incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8";

fn id(s: &str) -> Identifier {
    Identifier::parse(s).unwrap()
}

/// Every test vector of `docs/opencti-ids.md` §6: the call, the hashed text where the table
/// gives it in full, the 7.x id and the 6.x id where it differs.
#[test]
fn golden_vectors() {
    use OpenCtiIdRules::{V6, V7};
    type Case = (
        &'static str,
        Contributing,
        Option<&'static str>,
        &'static str,
    );
    let ap = |n, x: Option<&'static str>, r| c::attack_pattern(n, x, r).unwrap();
    let cases: Vec<Case> = vec![
        (
            "V1 7.x",
            ap("Facilitate State Propaganda", Some("T0002"), V7),
            Some(r#"{"x_mitre_id":"t0002"}"#),
            AP1_7,
        ),
        (
            "V1 6.x",
            ap("Facilitate State Propaganda", Some("T0002"), V6),
            Some(r#"{"x_mitre_id":"T0002"}"#),
            AP1_6,
        ),
        (
            "V2 7.x",
            ap("Use Existing Hashtag", Some("T0015.001"), V7),
            Some(r#"{"x_mitre_id":"t0015.001"}"#),
            "attack-pattern--5e9511fa-1360-57f0-88f4-6f4311ebcc77",
        ),
        (
            "V2 6.x",
            ap("Use Existing Hashtag", Some("T0015.001"), V6),
            Some(r#"{"x_mitre_id":"T0015.001"}"#),
            "attack-pattern--b0aba4a9-cf37-524c-9915-5cf6801d78a4",
        ),
        (
            "V3 7.x",
            ap(
                "Bots Amplify via Automated Forwarding and Reposting",
                Some("T0049.003"),
                V7,
            ),
            Some(r#"{"x_mitre_id":"t0049.003"}"#),
            "attack-pattern--290496b7-c977-515b-a38a-613c311f14c0",
        ),
        (
            "V3 6.x",
            ap(
                "Bots Amplify via Automated Forwarding and Reposting",
                Some("T0049.003"),
                V6,
            ),
            Some(r#"{"x_mitre_id":"T0049.003"}"#),
            "attack-pattern--ba2f2838-3d36-5e13-9a4d-85b0b0b8ab0d",
        ),
        (
            "V4 7.x",
            ap("  FACILITATE State Propaganda ", None, V7),
            Some(r#"{"name":"facilitate state propaganda"}"#),
            "attack-pattern--6ae72628-0f26-575d-b434-d51ba0a3258d",
        ),
        (
            "V4 6.x",
            ap("  FACILITATE State Propaganda ", None, V6),
            Some(r#"{"name":"facilitate state propaganda"}"#),
            "attack-pattern--6ae72628-0f26-575d-b434-d51ba0a3258d",
        ),
        (
            "V5",
            c::incident("Test incident", "2024-05-01T00:00:00.000Z").unwrap(),
            Some(r#"{"created":"2024-05-01T00:00:00.000Z","name":"test incident"}"#),
            V5,
        ),
        (
            "V6",
            c::incident("Test incident", "2024-05-01T00:00:00.000000Z").unwrap(),
            Some(r#"{"created":"2024-05-01T00:00:00.000000Z","name":"test incident"}"#),
            "incident--28ac6bff-c7fc-5444-93a1-bf6ad32c2585",
        ),
        (
            "V7",
            c::incident("Test incident", "2024-05-01T00:00:00+00:00").unwrap(),
            Some(r#"{"created":"2024-05-01T00:00:00+00:00","name":"test incident"}"#),
            "incident--583715bd-24fb-5288-b0c9-da1502293983",
        ),
        (
            "V8",
            c::incident(
                "  Ukraine re-sold French howitzers for profit ",
                "2022-06-20T00:00:00.000Z",
            )
            .unwrap(),
            Some(
                r#"{"created":"2022-06-20T00:00:00.000Z","name":"ukraine re-sold french howitzers for profit"}"#,
            ),
            "incident--88841f9a-acd6-5c5f-8e5c-a7ba3ccca272",
        ),
        (
            "V9",
            c::named("campaign", "Doppelganger").unwrap(),
            Some(r#"{"name":"doppelganger"}"#),
            "campaign--f473572f-1a64-556c-8ce3-0928cf121eb8",
        ),
        (
            "V10",
            c::named("intrusion-set", "Storm-1516").unwrap(),
            Some(r#"{"name":"storm-1516"}"#),
            "intrusion-set--5f35c893-8adb-54c0-bfdf-c27fbcf27adb",
        ),
        (
            "V11",
            c::threat_actor("Storm-1516", ThreatActorKind::Group).unwrap(),
            Some(r#"{"name":"storm-1516","opencti_type":"Threat-Actor-Group"}"#),
            "threat-actor--caf7fe36-3db3-50c4-a7ec-518921d832bf",
        ),
        (
            "V12",
            c::threat_actor("Russia", ThreatActorKind::Group).unwrap(),
            Some(r#"{"name":"russia","opencti_type":"Threat-Actor-Group"}"#),
            "threat-actor--75b9bc68-b19f-50e3-b820-5505a1909965",
        ),
        (
            "V13",
            c::threat_actor("John Doe", ThreatActorKind::Individual).unwrap(),
            Some(r#"{"name":"john doe","opencti_type":"Threat-Actor-Individual"}"#),
            "threat-actor--e031126e-78ea-53ca-b0cd-34d8f71a71db",
        ),
        (
            "V14",
            c::identity("DISARM Foundation", "organization").unwrap(),
            Some(r#"{"identity_class":"organization","name":"disarm foundation"}"#),
            "identity--cde4da14-81be-5162-94b1-75a771cd1b83",
        ),
        (
            "V15",
            c::identity("DISINFOX", "organization").unwrap(),
            Some(r#"{"identity_class":"organization","name":"disinfox"}"#),
            "identity--9d7da0ec-7317-5d72-8664-6ff5fd1a1be2",
        ),
        (
            "V16",
            c::identity("Jane Analyst", "individual").unwrap(),
            Some(r#"{"identity_class":"individual","name":"jane analyst"}"#),
            "identity--2a4dc411-e3a1-5729-92a3-5582340ac33d",
        ),
        (
            "V17",
            c::location("Ukraine", LocationKind::Country).unwrap(),
            Some(r#"{"name":"ukraine","x_opencti_location_type":"Country"}"#),
            "location--fb56af0f-b28e-54d2-b738-6ef5ceb2ce5b",
        ),
        (
            "V18",
            c::location("France", LocationKind::Country).unwrap(),
            Some(r#"{"name":"france","x_opencti_location_type":"Country"}"#),
            "location--b8d0549f-de06-5ebd-a6e9-d31a581dba5d",
        ),
        (
            "V19",
            c::location("Europe", LocationKind::Region).unwrap(),
            Some(r#"{"name":"europe","x_opencti_location_type":"Region"}"#),
            "location--2e9ef300-a1ab-5c9f-9297-dde66b71cae2",
        ),
        (
            "V20",
            c::report("Weekly report", "2024-05-01T00:00:00.000Z").unwrap(),
            Some(r#"{"name":"weekly report","published":"2024-05-01T00:00:00.000Z"}"#),
            "report--0e08a5d2-c774-531a-a285-8285a9594efd",
        ),
        (
            "V21",
            c::note(Some("2024-05-01T00:00:00.000Z"), "content", None, V7).unwrap(),
            Some(r#"{"content":"content","created":"2024-05-01T00:00:00.000Z"}"#),
            "note--d32924a0-e5cd-5348-9781-45755bd72849",
        ),
        (
            "V22",
            c::note(
                Some("2024-05-01T00:00:00.000Z"),
                "content",
                Some("summary"),
                V7,
            )
            .unwrap(),
            Some(
                r#"{"attribute_abstract":"summary","content":"content","created":"2024-05-01T00:00:00.000Z"}"#,
            ),
            "note--f0e88f85-f9d1-5cd5-b7f1-3d0af72602e3",
        ),
        (
            "V23",
            c::named("narrative", "Ukraine sells weapons").unwrap(),
            Some(r#"{"name":"ukraine sells weapons"}"#),
            "narrative--0246fdb2-d8c1-5abd-8972-f8a28bd84134",
        ),
        (
            "V24",
            c::named("channel", "Telegram channel X").unwrap(),
            Some(r#"{"name":"telegram channel x"}"#),
            "channel--4c10932b-c19a-5374-954c-224d597084d6",
        ),
        (
            "V25 7.x",
            c::relationship("uses", &id(V5), &id(AP1_7), None, None).unwrap(),
            Some(
                r#"{"relationship_type":"uses","source_ref":"incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8","target_ref":"attack-pattern--b12cfc49-f036-5156-90ac-1ffa873e53c5"}"#,
            ),
            "relationship--8d5eed88-cb83-5889-a3e6-3b60c99e30b9",
        ),
        (
            "V25 6.x",
            c::relationship("uses", &id(V5), &id(AP1_6), None, None).unwrap(),
            None,
            "relationship--80ebeda8-12d9-5b2b-9d1b-cae46bac7456",
        ),
        (
            "V26 7.x",
            c::relationship(
                "uses",
                &id(V5),
                &id(AP1_7),
                Some("2024-05-01T00:00:00.000Z"),
                None,
            )
            .unwrap(),
            None,
            "relationship--f60e3dd5-4b96-554e-84af-4ef2c92194ad",
        ),
        (
            "V26 6.x",
            c::relationship(
                "uses",
                &id(V5),
                &id(AP1_6),
                Some("2024-05-01T00:00:00.000Z"),
                None,
            )
            .unwrap(),
            None,
            "relationship--2ec5a888-ae7f-5244-b92a-64baf093971a",
        ),
        (
            "V27 7.x",
            c::relationship(
                "uses",
                &id(V5),
                &id(AP1_7),
                None,
                Some("2024-06-01T00:00:00.000Z"),
            )
            .unwrap(),
            None,
            "relationship--8d5eed88-cb83-5889-a3e6-3b60c99e30b9",
        ),
        (
            "V27 6.x",
            c::relationship(
                "uses",
                &id(V5),
                &id(AP1_6),
                None,
                Some("2024-06-01T00:00:00.000Z"),
            )
            .unwrap(),
            None,
            "relationship--80ebeda8-12d9-5b2b-9d1b-cae46bac7456",
        ),
        (
            "V28 7.x",
            c::sighting(
                &id(AP1_7),
                &[id("identity--cde4da14-81be-5162-94b1-75a771cd1b83")],
                None,
                None,
            )
            .unwrap(),
            Some(
                r#"{"sighting_of_ref":"attack-pattern--b12cfc49-f036-5156-90ac-1ffa873e53c5","type":"sighting","where_sighted_refs":["identity--cde4da14-81be-5162-94b1-75a771cd1b83"]}"#,
            ),
            "sighting--7e74891c-9f0c-51fa-b808-4e928895cfaa",
        ),
        (
            "V28 6.x",
            c::sighting(
                &id(AP1_6),
                &[id("identity--cde4da14-81be-5162-94b1-75a771cd1b83")],
                None,
                None,
            )
            .unwrap(),
            None,
            "sighting--357ee78c-c140-50e7-ae2f-9ebb91968a03",
        ),
        (
            "V29",
            c::kill_chain_phase("plan-objectives", "disarm"),
            Some(r#"{"kill_chain_name":"disarm","phase_name":"plan-objectives"}"#),
            "kill-chain-phase--2fea4342-2da1-52fd-8fa5-756360d65e62",
        ),
        (
            "V30",
            c::kill_chain_phase("plan-objectives", "mitre-attack"),
            Some(r#"{"kill_chain_name":"mitre-attack","phase_name":"plan-objectives"}"#),
            "kill-chain-phase--00cad640-f90e-5b9d-9ebb-862e375154e7",
        ),
        (
            "V31",
            c::named("campaign", "Opération \"Ключ\"\tÉté").unwrap(),
            Some("{\"name\":\"opération \\\"ключ\\\"\\tété\"}"),
            "campaign--879a199b-8816-5554-a55a-dcdf04155cfd",
        ),
    ];
    for (name, contributing, hashed, expected) in cases {
        if let Some(h) = hashed {
            assert_eq!(contributing.canonical_json(), h, "{name}: hashed text");
        }
        assert_eq!(contributing.id().unwrap().as_str(), expected, "{name}: id");
    }
}

#[test]
fn normalisation_and_refusals() {
    assert_eq!(
        threat_actor(" Russia ", ThreatActorKind::Group).unwrap(),
        threat_actor("russia", ThreatActorKind::Group).unwrap()
    );
    for bad in ["", "   ", "a\u{1c}", "\u{1f}x", "nul\u{0}", "del\u{7f}"] {
        assert!(campaign(bad).is_err(), "accepted {bad:?}");
    }
    assert_eq!(
        OpenCtiIdRules::from_platform_version("6.8.10"),
        OpenCtiIdRules::V6
    );
    assert_eq!(
        OpenCtiIdRules::from_platform_version("7.261026.0"),
        OpenCtiIdRules::V7
    );
    assert_eq!("6.x".parse::<OpenCtiIdRules>().unwrap(), OpenCtiIdRules::V6);
}
