//! Each incident's STIX objects are stored when it is written and answers are assembled from
//! them: the answers must be exactly what the builder gives for the same incidents now, and a
//! change of the rules (a setting that changes the objects) must build them all again.

use disinfox_server::bundle;
use disinfox_server::configuration::Settings;
use disinfox_server::db::stix::{objects_of, Flavor, StixRules};
use disinfox_server::db::{Store, StoredIncident};
use reqwest::Method;
use serde_json::Value;
use stix_model::opencti::OpenCtiIdRules;

use crate::support::{incident, save_input, spawn_app, TestApp, TestDb};

/// Every incident (revoked ones too), in change order.
async fn all_incidents(store: &Store) -> Vec<StoredIncident> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let rows = store.changes_after(after, 500).await.unwrap();
        let Some(last) = rows.last() else { break };
        after = last.change_seq;
        out.extend(rows);
    }
    out
}

/// The objects the builder gives now for these incidents together, as compact JSON.
fn built(settings: &Settings, rows: &[StoredIncident], opencti: bool) -> Vec<String> {
    bundle::builder_of(settings, rows, opencti)
        .unwrap()
        .into_objects()
        .iter()
        .map(|o| String::from_utf8(o.to_vec().unwrap()).unwrap())
        .collect()
}

/// The objects of an answer, each as compact JSON text as the server wrote it.
fn objects_of_answer(bytes: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(bytes).unwrap();
    v["objects"]
        .as_array()
        .map(|a| a.iter().map(|o| o.to_string()).collect())
        .unwrap_or_default()
}

/// The same objects in a canonical text (serde_json sorts keys), to compare what was written
/// with what was built.
fn canonical(objects: &[String]) -> Vec<String> {
    objects
        .iter()
        .map(|o| serde_json::from_str::<Value>(o).unwrap().to_string())
        .collect()
}

async fn get(app: &TestApp, path: &str) -> Vec<u8> {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(&app.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.bytes().await.unwrap().to_vec()
}

/// Edits a created incident through the API: a new name and one actor.
async fn edit(app: &TestApp, created: &Value, name: &str, actor: &str) {
    let mut changed = incident(name);
    changed["actors"] = serde_json::json!([actor]);
    let (s, _) = app
        .send(
            Method::PUT,
            &format!("/api/v1/incidents/{}", created["id"].as_str().unwrap()),
            &app.analyst,
            &changed,
        )
        .await;
    assert_eq!(s, 200);
}

/// Demo incidents, some edited, one deleted, through the API and the store.
async fn populate(app: &TestApp) -> usize {
    disinfox_server::demo::seed(&app.state, 60).await.unwrap();
    let a = app.create(&incident("Edited later")).await;
    let b = app.create(&incident("Deleted later")).await;
    edit(app, &a, "Edited later, now with more", "Another Actor*").await;
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/incidents/{}", b["id"].as_str().unwrap())))
        .bearer_auth(&app.analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    62
}

#[tokio::test]
async fn stored_objects_are_what_the_builder_gives_now() {
    let app = spawn_app().await;
    let n = populate(&app).await;
    let settings = &app.state.settings;
    let rows = all_incidents(&app.state.store).await;
    assert_eq!(rows.len(), n);
    let rules = app.state.store.stix_rules().unwrap();
    // Each incident's stored objects, after creation, edit and deletion.
    for s in &rows {
        for flavor in Flavor::ALL {
            assert_stored(&app.state.store, &rules, s, flavor).await;
        }
    }
    for opencti in [false, true] {
        let flavor = if opencti { "&flavor=opencti" } else { "" };
        // Pages of the bundle endpoint: the builder's objects for the page's incidents, in
        // its order, written byte for byte as the builder writes them.
        let mut after = 0;
        let mut pages = 0;
        while after < rows.last().unwrap().change_seq {
            let body = get(
                &app,
                &format!("/api/v1/bundle?cursor={after}&limit=7{flavor}"),
            )
            .await;
            let page: Vec<StoredIncident> = rows
                .iter()
                .filter(|s| s.change_seq > after)
                .take(7)
                .cloned()
                .collect();
            assert_eq!(
                objects_of_answer(&body).len(),
                built(settings, &page, opencti).len()
            );
            assert_eq!(
                canonical(&objects_of_answer(&body)),
                canonical(&built(settings, &page, opencti)),
                "page after {after}{flavor}"
            );
            let text = String::from_utf8(body).unwrap();
            for o in built(settings, &page, opencti) {
                assert!(text.contains(&o), "written as built: {o}");
            }
            after = page.last().unwrap().change_seq;
            pages += 1;
        }
        assert_eq!(pages, n.div_ceil(7));
        // Every change in one streamed answer (the existing connector's request).
        let body = get(
            &app,
            &format!("/api/v1/bundle?newer_than=1970-01-01T00:00:00Z{flavor}"),
        )
        .await;
        assert_eq!(
            canonical(&objects_of_answer(&body)),
            canonical(&built(settings, &rows, opencti)),
            "one answer{flavor}"
        );
    }
    // The export: the live incidents.
    let live: Vec<StoredIncident> = rows.iter().filter(|s| !s.revoked).cloned().collect();
    let body = get(&app, "/api/v1/export").await;
    assert_eq!(
        canonical(&objects_of_answer(&body)),
        canonical(&built(settings, &live, false))
    );
    // Other id rules than the server's: built on the spot, the same as the builder's.
    let other = match settings.opencti_id_rules {
        OpenCtiIdRules::V6 => "7",
        _ => "6",
    };
    let body = get(
        &app,
        &format!("/api/v1/bundle?limit=1000&opencti_ids={other}"),
    )
    .await;
    let mut o = bundle::options(settings, false).unwrap();
    o.id_rules = other.parse().unwrap();
    let want: Vec<String> = bundle::builder(o, &rows)
        .unwrap()
        .into_objects()
        .iter()
        .map(|o| String::from_utf8(o.to_vec().unwrap()).unwrap())
        .collect();
    assert_eq!(canonical(&objects_of_answer(&body)), canonical(&want));
    assert_ne!(canonical(&want), canonical(&built(settings, &rows, false)));
}

/// A page that reaches the newest change is kept in memory for the next polls; an edit of
/// one of its incidents is answered with the new version, not the remembered one.
#[tokio::test]
async fn a_remembered_page_follows_an_edit() {
    let app = spawn_app().await;
    let a = app.create(&incident("Remembered")).await;
    app.create(&incident("Stays as it was")).await;
    for flavor in ["", "&flavor=opencti"] {
        let page = String::from_utf8(
            get(&app, &format!("/api/v1/bundle?cursor=0&limit=10{flavor}")).await,
        )
        .unwrap();
        assert!(page.contains("\"Remembered\""), "{page}");
    }
    edit(&app, &a, "Remembered, then edited", "A Later Actor").await;
    let rows = all_incidents(&app.state.store).await;
    for (flavor, opencti) in [("", false), ("&flavor=opencti", true)] {
        let body = get(&app, &format!("/api/v1/bundle?cursor=0&limit=10{flavor}")).await;
        let page = String::from_utf8(body.clone()).unwrap();
        assert!(page.contains("Remembered, then edited"), "{page}");
        assert!(page.contains("A Later Actor"), "{page}");
        assert!(!page.contains("\"Remembered\""), "{page}");
        assert_eq!(
            canonical(&objects_of_answer(&body)),
            canonical(&built(&app.state.settings, &rows, opencti)),
            "{flavor}"
        );
    }
}

/// A store at `db` with these settings' rules; how many incidents it built again.
async fn reopen(db: &str, adjust: impl FnOnce(&mut Settings)) -> (Store, Settings, usize) {
    let mut settings = Settings::for_tests(db.to_owned());
    adjust(&mut settings);
    let store = Store::connect(db).await.unwrap();
    let rebuilt = store
        .use_stix_rules(bundle::stix_rules(&settings).unwrap())
        .await
        .unwrap();
    (store, settings, rebuilt)
}

/// What is stored for an incident under a flavour is what the builder gives now: its own
/// objects and the ids of its shared objects in its row, each shared object in the store.
async fn assert_stored(store: &Store, rules: &StixRules, s: &StoredIncident, flavor: Flavor) {
    let stored = store
        .stored_objects(s.id.as_str(), flavor)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{} has no stored {flavor:?} objects", s.id));
    let (want, shared) = objects_of(rules.options(flavor), s).unwrap().split();
    assert_eq!(stored, want, "{} {flavor:?}", s.id);
    // A deleted incident is its revoked object alone.
    assert_eq!(shared.is_empty(), s.revoked, "{}: shared objects", s.id);
    let ids: Vec<&str> = shared.iter().map(|(id, _)| id.as_str()).collect();
    let got = store.shared_objects(flavor, &ids).await.unwrap();
    for (id, json) in &shared {
        assert_eq!(&*got[id.as_str()], json.as_str(), "{id} {flavor:?}");
    }
}

async fn check_stored(store: &Store, settings: &Settings) {
    let rules = bundle::stix_rules(settings).unwrap();
    for s in all_incidents(store).await {
        for flavor in Flavor::ALL {
            assert_stored(store, &rules, &s, flavor).await;
        }
    }
}

/// Another author and the other OpenCTI id rules (attack-pattern ids change).
fn other_rules(s: &mut Settings) {
    s.organization = "Another Org".into();
    s.opencti_id_rules = match s.opencti_id_rules {
        OpenCtiIdRules::V6 => OpenCtiIdRules::V7,
        _ => OpenCtiIdRules::V6,
    };
}

#[tokio::test]
async fn a_change_of_rules_builds_the_objects_again() {
    let test_db = TestDb::new("rules.db").await;
    let db = test_db.url.clone();
    let (store, settings, rebuilt) = reopen(&db, |_| {}).await;
    assert_eq!(rebuilt, 0);
    for (input, created) in disinfox_server::demo::inputs(30, 5) {
        save_input(&store, settings.disarm_version, input, created).await;
    }
    let first = store.stored_stix_version().await.unwrap().unwrap();
    check_stored(&store, &settings).await;
    store.close().await;

    // The same rules: nothing to do.
    let (store, _, rebuilt) = reopen(&db, |_| {}).await;
    assert_eq!(rebuilt, 0);
    store.close().await;

    // Another author: every object is built again with it.
    let (store, settings, rebuilt) = reopen(&db, |s| s.organization = "Another Org".into()).await;
    assert_eq!(rebuilt, 30);
    let second = store.stored_stix_version().await.unwrap().unwrap();
    assert_ne!(first, second);
    check_stored(&store, &settings).await;
    store.close().await;

    // The id rules setting: attack-pattern ids change.
    let (store, settings, rebuilt) = reopen(&db, other_rules).await;
    assert_eq!(rebuilt, 30);
    assert_ne!(store.stored_stix_version().await.unwrap().unwrap(), second);
    check_stored(&store, &settings).await;

    // Written without rules (a store used on its own): nothing stored, nothing stale; the
    // next start stores them.
    let plain = Store::connect(&db).await.unwrap();
    let (mut input, created) = disinfox_server::demo::inputs(1, 5).pop().unwrap();
    input.name = "Written without rules".into();
    let id = save_input(&plain, settings.disarm_version, input, created).await;
    let old = all_incidents(&plain).await[0].clone();
    plain
        .revoke_incident(old.id.as_str(), None)
        .await
        .unwrap()
        .unwrap();
    for s in [id.as_str(), old.id.as_str()] {
        assert_eq!(
            plain.stored_objects(s, Flavor::Standard).await.unwrap(),
            None
        );
    }
    plain.close().await;
    store.close().await;
    let (store, settings, rebuilt) = reopen(&db, other_rules).await;
    assert_eq!(rebuilt, 2);
    check_stored(&store, &settings).await;
    store.close().await;
}
