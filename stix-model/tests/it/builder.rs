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

/// What each DISINFOX fact becomes in an OpenCTI-bound bundle (docs/opencti-import.md), and the
/// standard flavour left as it was.
#[test]
fn opencti_flavour_gives_every_fact_a_home() {
    use stix_model::extension::{AttributionSource, PartialDate};
    use stix_model::incident::{NOTE_ABSTRACT, OPENCTI_INCIDENT_TYPE, UNCERTAIN_ATTRIBUTION};
    let mut d = howitzers();
    d.channels = vec!["X".into(), "x".into(), "Telegram".into()];
    d.target_countries = vec![
        CountryCode::parse("CZ").unwrap(),
        CountryCode::parse("IR").unwrap(),
    ];
    d.region = Some("eastern europe ".into());
    d.sub_region = Some("Eastern Europe and Caucasus".into());
    d.first_seen = Some(PartialDate::parse("2022-01").unwrap());
    d.last_seen = Some(PartialDate::parse("2023").unwrap());
    d.attribution_sources = vec![
        AttributionSource::Government,
        AttributionSource::Researchers,
    ];
    d.cyber_attack = Some(false);
    let mut opts = BuildOptions::default();
    opts.opencti = true;
    let mut b = BundleBuilder::new(opts);
    let id = b.add_incident(&d).unwrap();
    let bundle = b.build();
    assert!(bundle.validate().is_valid(), "{:?}", bundle.validate());
    let objs = &bundle.objects;
    let rels: Vec<_> = of_type(objs, "relationship")
        .into_iter()
        .map(|o| {
            let StixObject::Relationship(r) = o else {
                unreachable!()
            };
            let target = bundle.get(r.target_ref.as_str()).unwrap();
            (r, target)
        })
        .collect();

    // One channel X, named as OpenCTI accepts it, used by the incident.
    let channels = of_type(objs, "channel");
    assert_eq!(channels.len(), 2);
    let StixObject::Channel(x) = channels[0] else {
        unreachable!()
    };
    assert_eq!(x.name, "X (Twitter)");
    assert_eq!(x.aliases, vec!["X", "Twitter"]);
    assert_eq!(
        x.common.id,
        stix_model::opencti::channel("X (Twitter)").unwrap()
    );
    let channel_rels: Vec<_> = rels
        .iter()
        .filter(|(_, t)| t.object_type() == "channel")
        .map(|(r, _)| r.relationship_type.as_str())
        .collect();
    assert_eq!(channel_rels, vec!["uses", "uses"]);

    // Countries under OpenCTI's names, with its aliases; OpenCTI's region, not free text.
    let names: Vec<_> = of_type(objs, "location")
        .into_iter()
        .map(|o| {
            let StixObject::Location(l) = o else {
                unreachable!()
            };
            (
                l.name.clone().unwrap(),
                l.custom["x_opencti_location_type"].clone(),
                l.custom.get("x_opencti_aliases").cloned(),
            )
        })
        .collect();
    assert!(names.contains(&(
        "Czechia".into(),
        "Country".into(),
        Some(serde_json::json!(["CZE", "CZ"]))
    )));
    assert!(names.iter().any(|n| n.0 == "Iran (Islamic Republic of)"));
    assert!(names.contains(&("Eastern Europe".into(), "Region".into(), None)));
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(rels.iter().any(|(r, t)| r.relationship_type == "targets"
        && t.id().contains("location")
        && matches!(t, StixObject::Location(l) if l.name.as_deref() == Some("Eastern Europe"))));

    // Uncertain attribution, attribution labels, incident type.
    let uncertain: Vec<_> = rels
        .iter()
        .filter(|(r, _)| r.relationship_type == "attributed-to")
        .map(|(r, _)| r.description.as_deref())
        .collect();
    assert_eq!(uncertain, vec![None, Some(UNCERTAIN_ATTRIBUTION)]);
    let StixObject::Incident(inc) = bundle.get(id.as_str()).unwrap() else {
        unreachable!()
    };
    assert_eq!(
        inc.common.labels,
        vec![
            "attribution-source:government",
            "attribution-source:researchers"
        ]
    );
    assert_eq!(inc.custom["incident_type"], OPENCTI_INCIDENT_TYPE);
    assert_eq!(inc.custom["first_seen"], "2022-01-01T00:00:00.000Z");

    // The note: one line per fact OpenCTI has no field for.
    let notes = of_type(objs, "note");
    assert_eq!(notes.len(), 1);
    let StixObject::Note(n) = notes[0] else {
        unreachable!()
    };
    assert_eq!(n.object_refs, vec![id.clone()]);
    assert_eq!(n.r#abstract.as_deref(), Some(NOTE_ABSTRACT));
    for line in [
        "- First seen: 2022-01 (month precision)",
        "- Last seen: 2023 (year precision)",
        "- Region: eastern europe",
        "- Sub-region: Eastern Europe and Caucasus",
        "- Attribution sources: government, researchers",
        "- Uncertain attribution: Storm-1516",
        "- Cyber attacks: no",
        "- DISARM version: 1.7",
        "- Techniques not in this DISARM version: T0023",
    ] {
        assert!(
            n.content.lines().any(|l| l == line),
            "{line}\n{}",
            n.content
        );
    }

    // The standard flavour: no channel, region, note or label; countries also under OpenCTI's names.
    let mut b = BundleBuilder::new(BuildOptions::default());
    b.add_incident(&d).unwrap();
    let std = b.build();
    for ty in ["channel", "note"] {
        assert!(of_type(&std.objects, ty).is_empty(), "{ty}");
    }
    assert_eq!(of_type(&std.objects, "location").len(), 3);
    let StixObject::Incident(inc) = std.get(id.as_str()).unwrap() else {
        unreachable!()
    };
    assert!(inc.common.labels.is_empty());
}
