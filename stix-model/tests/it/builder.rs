//! The incident builder: complete, closed, deterministic bundles.

use stix_model::disarm::DisarmVersion;
use stix_model::extension::{DisinformationIncident, EXTENSION_ID};
use stix_model::incident::{ActorDescription, BuildOptions, BundleBuilder, IncidentDescription};
use stix_model::opencti::OpenCtiIdRules;
use stix_model::{CountryCode, StixObject, Timestamp};

fn howitzers() -> IncidentDescription {
    let mut d = IncidentDescription::new("  Ukraine re-sold French howitzers for profit ");
    d.created = Some(Timestamp::parse("2022-06-20T00:00:00.000Z").unwrap());
    d.techniques = vec!["T0002".into(), "t0049.003".into(), "T0023".into()];
    d.actors = vec![
        ActorDescription::new("Russia"),
        ActorDescription::new("Storm-1516*"),
    ];
    d.target_countries = vec![CountryCode::parse("UA").unwrap()];
    d.country_of_origin = Some(CountryCode::parse("RU").unwrap());
    d.channels = vec!["Telegram".into()];
    d.source_urls = vec!["https://example.org/a".into()];
    d
}

fn of_type<'a>(objects: &'a [StixObject], ty: &str) -> Vec<&'a StixObject> {
    objects.iter().filter(|o| o.object_type() == ty).collect()
}

#[test]
fn builds_a_closed_valid_bundle_with_opencti_ids() {
    let mut b = BundleBuilder::new(BuildOptions::default());
    let id = b.add_incident(&howitzers()).unwrap();
    assert_eq!(
        id.as_str(),
        "incident--88841f9a-acd6-5c5f-8e5c-a7ba3ccca272"
    );
    let bundle = b.build();
    let report = bundle.validate();
    assert!(report.is_valid(), "{:?}", report.violations);
    let objs = &bundle.objects;
    assert_eq!(of_type(objs, "incident").len(), 1);
    assert_eq!(of_type(objs, "attack-pattern").len(), 3);
    assert_eq!(of_type(objs, "threat-actor").len(), 2);
    assert_eq!(of_type(objs, "location").len(), 2);
    assert_eq!(of_type(objs, "extension-definition").len(), 1);
    assert!(
        bundle
            .get("attack-pattern--b12cfc49-f036-5156-90ac-1ffa873e53c5")
            .is_some(),
        "V1 id"
    );
    assert!(
        bundle
            .get("attack-pattern--290496b7-c977-515b-a38a-613c311f14c0")
            .is_some(),
        "V3 id"
    );
    assert!(
        bundle
            .get("threat-actor--75b9bc68-b19f-50e3-b820-5505a1909965")
            .is_some(),
        "V12 id"
    );
    assert!(
        bundle
            .get("threat-actor--caf7fe36-3db3-50c4-a7ec-518921d832bf")
            .is_some(),
        "V11 id, '*' stripped"
    );
    assert!(
        bundle
            .get("location--fb56af0f-b28e-54d2-b738-6ef5ceb2ce5b")
            .is_some(),
        "V17 id"
    );
    let ap1 = stix_model::Identifier::parse("attack-pattern--b12cfc49-f036-5156-90ac-1ffa873e53c5")
        .unwrap();
    let uses = stix_model::opencti::relationship("uses", &id, &ap1, None, None).unwrap();
    assert!(
        bundle.get(uses.as_str()).is_some(),
        "relationship id as OpenCTI computes it"
    );
    let rel_types: Vec<String> = of_type(objs, "relationship")
        .iter()
        .map(|r| match r {
            StixObject::Relationship(r) => r.relationship_type.clone(),
            _ => unreachable!(),
        })
        .collect();
    for t in ["uses", "attributed-to", "targets", "originates-from"] {
        assert!(rel_types.iter().any(|r| r == t), "{t} in {rel_types:?}");
    }
    let StixObject::Incident(inc) = of_type(objs, "incident")[0] else {
        unreachable!()
    };
    let ext = DisinformationIncident::from_extensions(&inc.common.extensions)
        .unwrap()
        .unwrap();
    assert_eq!(
        ext.unknown_techniques,
        vec!["T0023"],
        "removed in 1.7, reported"
    );
    assert_eq!(ext.attribution.uncertain_actors, vec!["Storm-1516"]);
    assert_eq!(ext.channels, vec!["Telegram"]);
    assert!(inc.common.extensions.contains_key(EXTENSION_ID));
    assert!(
        of_type(objs, "channel").is_empty(),
        "channels stay in the extension by default"
    );
}

#[test]
fn rebuilding_gives_identical_objects_and_shared_objects_once() {
    let build = || {
        let mut b = BundleBuilder::new(BuildOptions::default());
        b.add_incident(&howitzers()).unwrap();
        let mut other = howitzers();
        other.name = "Another incident".into();
        b.add_incident(&other).unwrap();
        b.into_objects()
    };
    let (a, b) = (build(), build());
    assert_eq!(a, b);
    assert_eq!(of_type(&a, "incident").len(), 2);
    assert_eq!(of_type(&a, "threat-actor").len(), 2, "shared actors once");
    assert_eq!(
        of_type(&a, "attack-pattern").len(),
        3,
        "shared techniques once"
    );
}

#[test]
fn opencti_flavour_and_6x_rules() {
    let mut opts = BuildOptions::default();
    opts.opencti = true;
    opts.id_rules = OpenCtiIdRules::V6;
    opts.disarm = DisarmVersion::V1_6;
    let mut b = BundleBuilder::new(opts);
    b.add_incident(&howitzers()).unwrap();
    let bundle = b.build();
    assert!(bundle.validate().is_valid(), "{:?}", bundle.validate());
    let ap = bundle
        .get("attack-pattern--1192167d-b209-570d-834c-41266ce6f30c")
        .expect("V1 6.x id");
    let StixObject::AttackPattern(ap) = ap else {
        unreachable!()
    };
    assert_eq!(ap.custom["x_mitre_id"], "T0002");
    assert_eq!(of_type(&bundle.objects, "channel").len(), 1);
    let StixObject::Incident(inc) = of_type(&bundle.objects, "incident")[0] else {
        unreachable!()
    };
    let ext = DisinformationIncident::from_extensions(&inc.common.extensions)
        .unwrap()
        .unwrap();
    assert!(ext.unknown_techniques.is_empty(), "T0023 exists in 1.6");
}

#[test]
fn revoked_incidents_travel_alone_and_errors_change_nothing() {
    let mut b = BundleBuilder::new(BuildOptions::default());
    let before = b.objects().len();
    let mut bad = howitzers();
    bad.techniques.push("X0002".into());
    assert!(b.add_incident(&bad).is_err());
    let mut bad = howitzers();
    bad.actors.push(ActorDescription::new("bad\u{1}name"));
    assert!(b.add_incident(&bad).is_err());
    assert!(b.add_incident(&IncidentDescription::new("   ")).is_err());
    let mut bad = howitzers();
    bad.modified = Some(Timestamp::parse("2000-01-01T00:00:00.000Z").unwrap());
    assert!(b.add_incident(&bad).is_err());
    assert_eq!(
        b.objects().len(),
        before,
        "a rejected incident adds nothing"
    );

    let mut gone = howitzers();
    gone.revoked = true;
    gone.modified = Some(Timestamp::parse("2022-07-01T00:00:00.000Z").unwrap());
    b.add_incident(&gone).unwrap();
    let bundle = b.build();
    assert!(bundle.validate().is_valid());
    let StixObject::Incident(inc) = of_type(&bundle.objects, "incident")[0] else {
        unreachable!()
    };
    assert_eq!(inc.common.revoked, Some(true));
    assert!(of_type(&bundle.objects, "relationship").is_empty());
}

#[test]
fn an_opencti_split_of_a_built_bundle_keeps_every_importable_object() {
    let mut b = BundleBuilder::new(BuildOptions::default());
    for d in stix_model::sample::incidents(7, 50) {
        b.add_incident(&d).unwrap();
    }
    let bundle = b.build();
    let n = bundle.objects.len();
    let value = serde_json::to_value(&bundle).unwrap();
    let r = stix_model::split::split_bundle(value, &Default::default()).unwrap();
    assert_eq!(
        r.dropped.len(),
        1,
        "only the extension-definition: {:?}",
        r.dropped
    );
    assert_eq!(
        r.dropped[0].object_type.as_deref(),
        Some("extension-definition")
    );
    assert_eq!(r.bundles.len(), n - 1);
    assert!(
        r.removed_refs
            .iter()
            .all(|x| x.target.starts_with("extension-definition--")
                || x.reason == "type not imported by OpenCTI"),
        "{:?}",
        r.removed_refs
    );
}
