//! The bundle endpoint: closed STIX bundles, exact incremental paging, deletions as revoked.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::Value;
use stix_model::{Bundle, StixObject};

use crate::support::{incident, save_input, spawn_app, TestApp};

struct Page {
    incidents: Vec<(String, bool, String)>,
    mark: String,
    cursor: String,
    more: bool,
}

async fn page(app: &TestApp, query: &str) -> Page {
    let r = app
        .client
        .get(app.url(&format!("/api/v1/bundle?{query}")))
        .header("Authorization", &app.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{query}");
    let h = |n: &str| r.headers().get(n).unwrap().to_str().unwrap().to_owned();
    let (mark, cursor, more) = (
        h("x-disinfox-high-water-mark"),
        h("x-disinfox-next-cursor"),
        h("x-disinfox-more") == "true",
    );
    let bytes = r.bytes().await.unwrap();
    let (bundle, report) = Bundle::read_lenient(&bytes[..]).unwrap();
    assert!(
        report.is_valid(),
        "closed and valid: {:?}",
        report.violations
    );
    let incidents = bundle
        .objects
        .iter()
        .filter_map(|o| match o {
            StixObject::Incident(i) => Some((
                i.common.id.to_string(),
                i.common.revoked == Some(true),
                i.common.modified.to_string(),
            )),
            _ => None,
        })
        .collect();
    Page {
        incidents,
        mark,
        cursor,
        more,
    }
}

#[tokio::test]
async fn paging_has_no_gaps_or_repeats_while_incidents_are_written() {
    let app = spawn_app().await;
    for i in 0..20 {
        app.create(&incident(&format!("Before {i}"))).await;
    }
    let writer = {
        let client = app.client.clone();
        let url = app.url("/api/v1/incidents");
        let key = app.analyst.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..40 {
                let r = client
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&incident(&format!("During {i}")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 201);
                ids.push(
                    r.json::<Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
            ids
        })
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut cursor = String::new();
    let mut rounds = 0;
    loop {
        let p = page(&app, &format!("limit=7&cursor={cursor}")).await;
        for (id, _, _) in &p.incidents {
            *seen.entry(id.clone()).or_default() += 1;
        }
        cursor = p.cursor;
        rounds += 1;
        if !p.more && writer.is_finished() {
            break;
        }
        assert!(rounds < 1000);
    }
    let during = writer.await.unwrap();
    // One more read after the writer is done picks up anything committed since.
    let last = page(&app, &format!("limit=1000&cursor={cursor}")).await;
    for (id, _, _) in &last.incidents {
        *seen.entry(id.clone()).or_default() += 1;
    }
    assert_eq!(seen.len(), 60, "every incident arrives");
    assert!(seen.values().all(|n| *n == 1), "none twice: {seen:?}");
    assert!(during.iter().all(|id| seen.contains_key(id)));
}

#[tokio::test]
async fn newer_than_marks_updates_and_deletions() {
    let app = spawn_app().await;
    let a = app.create(&incident("A")).await;
    let b = app.create(&incident("B")).await;
    let first = page(&app, "newer_than=1970-01-01T00:00:00.000000Z").await;
    assert_eq!(first.incidents.len(), 2);
    assert!(!first.more);
    // Nothing new: the same mark comes back, and the doubled Z of the existing connector works.
    let again = page(&app, &format!("newer_than={}Z", first.mark)).await;
    assert!(again.incidents.is_empty());
    assert_eq!(again.mark, first.mark);
    // An update and a deletion arrive once each, the deletion as a revoked incident.
    let (s, _) = app
        .send(
            Method::PUT,
            &format!("/api/v1/incidents/{}", a["id"].as_str().unwrap()),
            &app.analyst,
            &incident("A changed"),
        )
        .await;
    assert_eq!(s, 200);
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/incidents/{}", b["id"].as_str().unwrap())))
        .bearer_auth(&app.analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let next = page(&app, &format!("newer_than={}", first.mark)).await;
    let got: Vec<(String, bool)> = next
        .incidents
        .iter()
        .map(|(i, r, _)| (i.clone(), *r))
        .collect();
    assert_eq!(
        got,
        vec![
            (a["id"].as_str().unwrap().to_owned(), false),
            (b["id"].as_str().unwrap().to_owned(), true)
        ]
    );
    assert!(next.mark > first.mark);
    assert!(page(&app, &format!("newer_than={}", next.mark))
        .await
        .incidents
        .is_empty());
    // Bad marks are refused clearly.
    for bad in [
        "newer_than=yesterday",
        "cursor=-1",
        "limit=0",
        "limit=5000",
        "flavor=misp",
    ] {
        let r = app
            .client
            .get(app.url(&format!("/api/v1/bundle?{bad}")))
            .bearer_auth(&app.reader)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{bad}");
    }
}

#[tokio::test]
async fn export_and_one_incident_bundle_are_closed() {
    let app = spawn_app().await;
    // An export with no incident is still a valid, closed bundle.
    let r = app
        .client
        .get(app.url("/api/v1/export"))
        .bearer_auth(&app.reader)
        .send()
        .await
        .unwrap();
    let (empty, report) = Bundle::read_lenient(&r.bytes().await.unwrap()[..]).unwrap();
    assert!(report.is_valid(), "{:?}", report.violations);
    assert!(!empty.objects.iter().any(|o| o.object_type() == "incident"));
    for i in 0..3 {
        app.create(&incident(&format!("Export {i}"))).await;
    }
    let r = app
        .client
        .get(app.url("/api/v1/export?country=UA"))
        .bearer_auth(&app.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let bytes = r.bytes().await.unwrap();
    let (bundle, report) = Bundle::read_lenient(&bytes[..]).unwrap();
    assert!(report.is_valid(), "{:?}", report.violations);
    assert_eq!(
        bundle
            .objects
            .iter()
            .filter(|o| o.object_type() == "incident")
            .count(),
        3
    );
    let id = bundle
        .objects
        .iter()
        .find(|o| o.object_type() == "incident")
        .unwrap()
        .id()
        .to_owned();
    let r = app
        .client
        .get(app.url(&format!("/api/v1/incidents/{id}/bundle?flavor=opencti")))
        .bearer_auth(&app.reader)
        .send()
        .await
        .unwrap();
    let one = Bundle::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(one.validate().is_valid());
    assert_eq!(
        one.objects
            .iter()
            .filter(|o| o.object_type() == "incident")
            .count(),
        1
    );
    assert!(
        one.objects.iter().any(|o| o.object_type() == "channel"),
        "OpenCTI flavour carries channels"
    );
}

/// The existing DISINFOX connector (pycti, OpenCTI's connectors repository) sends a raw
/// `Authorization: <key>`, `newer_than` with a doubled `Z` and no `limit` or `cursor`, reads
/// `objects` from one answer and moves its clock on: that one answer holds every change.
#[tokio::test]
async fn the_existing_connector_gets_every_change_in_one_answer() {
    let app = spawn_app().await;
    let demo = disinfox_server::demo::seed(&app.state, disinfox_server::demo::DEMO_INCIDENTS)
        .await
        .unwrap();
    assert_eq!(demo, 240);
    for (input, created) in disinfox_server::demo::inputs(1000, 1013) {
        let disarm = app.state.settings.disarm_version;
        save_input(&app.state.store, disarm, input, created).await;
    }
    // One deleted incident comes as revoked.
    let first = app.state.store.changes_after(0, 1).await.unwrap();
    let gone = first[0].id.to_string();
    app.state.store.revoke_incident(&gone, None).await.unwrap();
    let mut want = std::collections::BTreeSet::new();
    let mut after = 0;
    loop {
        let rows = app.state.store.changes_after(after, 500).await.unwrap();
        let Some(last) = rows.last() else { break };
        after = last.change_seq;
        want.extend(rows.iter().map(|s| s.id.to_string()));
    }
    assert_eq!(want.len(), 1240);

    // Exactly the connector's request: raw key, doubled Z, nothing else.
    let r = app
        .client
        .get(app.url("/api/v1/bundle?newer_than=2024-01-01T00:00:00ZZ"))
        .header("Authorization", &app.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-disinfox-more"], "false");
    assert_eq!(
        r.headers()["x-disinfox-next-cursor"].to_str().unwrap(),
        app.state.store.last_change_seq().await.unwrap().to_string()
    );
    let bytes = r.bytes().await.unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    let objects = body["objects"].as_array().unwrap();
    let mut ids = std::collections::BTreeSet::new();
    for o in objects {
        assert!(
            ids.insert(o["id"].as_str().unwrap().to_owned()),
            "{} twice",
            o["id"]
        );
    }
    let got: std::collections::BTreeSet<String> = objects
        .iter()
        .filter(|o| o["type"] == "incident")
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, want, "every incident, once");
    assert!(objects
        .iter()
        .any(|o| o["id"] == gone.as_str() && o["revoked"] == true));
    let (_, report) = Bundle::read_lenient(&bytes[..]).unwrap();
    assert!(
        report.is_valid(),
        "closed and valid: {:?}",
        report.violations
    );

    // Nothing changed since the mark: an empty bundle, the same mark back.
    let mark = app
        .state
        .store
        .change_time(app.state.store.last_change_seq().await.unwrap())
        .await
        .unwrap()
        .unwrap();
    let r = app
        .client
        .get(app.url(&format!("/api/v1/bundle?newer_than={mark}Z")))
        .header("Authorization", &app.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-disinfox-high-water-mark"].to_str().unwrap(),
        mark
    );
    let body: Value = r.json().await.unwrap();
    let objects = body["objects"].as_array().unwrap();
    assert!(!objects.iter().any(|o| o["type"] == "incident"), "{body}");
}
