//! Property test: for generated objects, serialize → parse is the identity.

use proptest::prelude::*;
use stix_model::{
    Bundle, Common, Confidence, ExternalReference, Identifier, Incident, KillChainPhase,
    Relationship, StixObject, ThreatActor, Timestamp,
};

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (0i64..4_102_444_800, 0u32..1_000_000_000, 3u8..=9)
        .prop_map(|(s, n, d)| Timestamp::from_unix_nanos(s, n, d))
}

fn id(ty: &'static str) -> impl Strategy<Value = Identifier> {
    any::<u128>().prop_map(move |n| {
        Identifier::from_uuid(
            ty,
            uuid::Builder::from_random_bytes(n.to_le_bytes()).into_uuid(),
        )
        .unwrap()
    })
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{1,40}"
}

fn common(ty: &'static str) -> impl Strategy<Value = Common> {
    (
        id(ty),
        timestamp(),
        0i64..1_000_000,
        proptest::collection::vec("[a-z]{1,12}", 0..3),
        proptest::option::of(0i64..=100),
        proptest::collection::vec((text(), "https://[a-z]{1,10}\\.org/[a-z0-9]{0,8}"), 0..3),
    )
        .prop_map(|(id, created, later, labels, conf, refs)| {
            let mut c = Common::at(id, created);
            c.modified = Timestamp::from_unix_nanos(
                created.unix_seconds() + later,
                created.subsec_nanos(),
                created.fraction_digits(),
            );
            c.labels = labels;
            c.confidence = conf.map(|n| Confidence::new(n).unwrap());
            c.external_references = refs
                .into_iter()
                .map(|(s, u)| ExternalReference::url(s, u))
                .collect();
            c
        })
}

fn object() -> impl Strategy<Value = StixObject> {
    prop_oneof![
        (common("incident"), text(), proptest::option::of(text())).prop_map(|(c, n, d)| {
            let mut i = Incident::new(c, n);
            i.description = d;
            StixObject::from(i)
        }),
        (
            common("threat-actor"),
            text(),
            proptest::collection::vec(text(), 0..3)
        )
            .prop_map(|(c, n, aliases)| {
                let mut t = ThreatActor::new(c, n);
                t.aliases = aliases;
                StixObject::from(t)
            }),
        (common("relationship"), id("incident"), id("attack-pattern"))
            .prop_map(|(c, s, t)| { StixObject::from(Relationship::new(c, "uses", s, t)) }),
        (common("attack-pattern"), text(), "[a-z-]{1,20}").prop_map(|(c, n, p)| {
            let mut a = stix_model::AttackPattern::new(c, n);
            a.kill_chain_phases = vec![KillChainPhase::new("disarm", p)];
            StixObject::from(a)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn serialize_then_parse_is_identity(objects in proptest::collection::vec(object(), 1..8)) {
        let bundle = Bundle::new(objects);
        let bytes = bundle.to_vec().unwrap();
        prop_assert_eq!(&bytes, &serde_json::to_vec(&bundle).unwrap(), "the writer and Serialize agree");
        let back = Bundle::from_slice(&bytes).unwrap();
        prop_assert_eq!(&back, &bundle);
        prop_assert_eq!(back.to_vec().unwrap(), bytes);
        for o in &bundle.objects {
            prop_assert!(o.validate().is_empty(), "{:?}", o.validate());
        }
    }
}
