//! Tests of `disarm`.

use super::*;

fn counts(c: &Catalogue) -> Vec<(String, usize, usize)> {
    c.tactics()
        .iter()
        .map(|t| {
            let all: Vec<_> = c.techniques_of_tactic(&t.shortname).collect();
            let subs = all.iter().filter(|x| x.id.is_subtechnique()).count();
            (t.id.to_string(), all.len() - subs, subs)
        })
        .collect()
}

fn expect(rows: &[(&str, usize, usize)]) -> Vec<(String, usize, usize)> {
    rows.iter()
        .map(|(a, b, c)| (a.to_string(), *b, *c))
        .collect()
}

/// The counts of `docs/disarm.md` §1 and §4, taken from the published bundles.
#[test]
fn builtin_counts_match_the_published_counts() {
    let v16 = Catalogue::builtin(DisarmVersion::V1_6);
    let v17 = Catalogue::builtin(DisarmVersion::V1_7);
    assert_eq!(v16.len(), 391);
    assert_eq!(v17.len(), 445);
    assert_eq!(
        v16.techniques().filter(|t| !t.id.is_subtechnique()).count(),
        103
    );
    assert_eq!(
        v17.techniques().filter(|t| !t.id.is_subtechnique()).count(),
        109
    );
    assert_eq!(v16.tactics().len(), 16);
    assert_eq!(v17.tactics().len(), 15);
    assert_eq!(
        counts(v16),
        expect(&[
            ("TA01", 2, 4),
            ("TA02", 13, 28),
            ("TA13", 3, 18),
            ("TA14", 7, 2),
            ("TA06", 8, 25),
            ("TA15", 16, 58),
            ("TA16", 5, 33),
            ("TA05", 4, 3),
            ("TA07", 10, 48),
            ("TA08", 5, 0),
            ("TA09", 4, 6),
            ("TA17", 7, 14),
            ("TA18", 5, 11),
            ("TA10", 5, 7),
            ("TA11", 6, 21),
            ("TA12", 3, 10),
        ])
    );
    assert_eq!(
        counts(v17),
        expect(&[
            ("TA01", 2, 4),
            ("TA02", 13, 28),
            ("TA13", 3, 18),
            ("TA14", 13, 36),
            ("TA06", 11, 27),
            ("TA15", 16, 58),
            ("TA16", 5, 34),
            ("TA05", 4, 3),
            ("TA07", 10, 48),
            ("TA09", 6, 7),
            ("TA17", 7, 16),
            ("TA18", 5, 19),
            ("TA10", 5, 7),
            ("TA11", 6, 21),
            ("TA12", 3, 10),
        ])
    );
    assert_eq!(
        v17.tactic("TA12").and_then(|t| t.phase),
        Some(Phase::Assess)
    );
    assert_eq!(
        v17.tactic("plan-strategy").map(|t| t.name.as_str()),
        Some("Plan Strategy")
    );
}

#[test]
fn version_differences() {
    let v16 = Catalogue::builtin(DisarmVersion::V1_6);
    let v17 = Catalogue::builtin(DisarmVersion::V1_7);
    for removed in [
        "T0023",
        "T0023.001",
        "T0023.002",
        "T0042",
        "T0044",
        "T0045",
        "T0085.001",
        "T0086.002",
        "T0086.003",
        "T0087.001",
        "T0087.002",
        "T0088.001",
        "T0088.002",
    ] {
        assert!(v16.technique(removed).is_some(), "{removed} in 1.6");
        assert!(v17.technique(removed).is_none(), "{removed} not in 1.7");
    }
    assert_eq!(
        v16.technique("T0020").map(|t| t.tactic.as_str()),
        Some("conduct-pump-priming")
    );
    assert_eq!(
        v17.technique("T0020").map(|t| t.tactic.as_str()),
        Some("deliver-content")
    );
    assert_eq!(
        v17.technique("T0046").map(|t| t.tactic.as_str()),
        Some("develop-content")
    );
    assert_eq!(
        v17.technique("t0002").map(|t| t.name.as_str()),
        Some("Facilitate State Propaganda")
    );
    let parent = TechniqueId::parse("T0049").unwrap();
    assert!(v17.subtechniques(&parent).count() >= 3);
    assert!(v17.technique("T0049.003").unwrap().parent == Some(parent));
}

#[test]
fn a_bundle_without_techniques_is_not_a_catalogue() {
    assert!(Catalogue::from_stix_json(
        br#"{"type":"bundle","id":"bundle--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60"}"#
    )
    .is_err());
}

#[test]
fn technique_ids() {
    assert_eq!(TechniqueId::parse("t0002").unwrap().as_str(), "T0002");
    assert_eq!(
        TechniqueId::parse("T0049.003")
            .unwrap()
            .parent()
            .unwrap()
            .as_str(),
        "T0049"
    );
    for bad in [
        "",
        "T2",
        "T00022",
        "T0002.1",
        "TA01",
        "X0002",
        "T0002.0011",
        " T0002",
        "T0002.",
        "T000a",
        "T0002x001",
    ] {
        assert!(TechniqueId::parse(bad).is_err(), "accepted {bad:?}");
    }
    assert_eq!(TacticId::parse("ta01").unwrap().as_str(), "TA01");
    for bad in ["", "TA1", "TA001", "T01", "TB01"] {
        assert!(TacticId::parse(bad).is_err(), "accepted {bad:?}");
    }
}
