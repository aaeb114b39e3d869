//! The collection: the bundle endpoint's objects in dependency order, headers and
//! `added_after`, exact paging while incidents are written, shared objects leaving and coming
//! back, and the backfill of an older database.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{incident, spawn_app};

use super::*;

#[tokio::test]
async fn the_collection_is_the_bundle_endpoints_objects_each_once_in_dependency_order() {
    let app = spawn_app().await;
    let ids = seed(&app).await;
    // A new version and a deletion.
    let mut changed = incident("Doppelganger");
    changed["techniques"] = json!(["T0049.003"]);
    let (status, _) = app
        .send(
            Method::PUT,
            &format!("/api/v1/incidents/{}", ids[1]),
            &app.analyst,
            &changed,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/incidents/{}", ids[2]),
            &app.analyst,
            &Value::Null,
        )
        .await;
    assert_eq!(status, 204);

    let expected = bundle_versions(&app).await;
    for limit in [1, 4, 1000] {
        let (objects, pages) = walk(&app, "", limit).await;
        let got = no_repeats(&versions(&objects));
        assert_eq!(got, expected, "limit {limit}: same objects, same versions");
        // Every reference points at an object served before it.
        let mut seen = BTreeSet::new();
        for o in &objects {
            for r in refs(o) {
                assert!(
                    seen.contains(&r),
                    "{} refers to {r}, not served before it",
                    o["id"]
                );
            }
            seen.insert(o["id"].as_str().unwrap().to_owned());
        }
        // Full pages while more follow (taxii2-client lowers its limit otherwise).
        for p in &pages[..pages.len() - 1] {
            assert_eq!(p.objects().len(), limit);
        }
    }
    // The deleted incident is there, revoked, without relationships; T0015 and Storm-1516
    // stay (the first incident uses them), T0002 too.
    let (objects, _) = walk(&app, "", 1000).await;
    let deleted = objects.iter().find(|o| o["id"] == ids[2].as_str()).unwrap();
    assert_eq!(deleted["revoked"], true);
    assert!(!objects
        .iter()
        .any(|o| o["type"] == "relationship" && o["source_ref"] == ids[2].as_str()));
}

#[tokio::test]
async fn headers_and_added_after_use_date_added() {
    let app = spawn_app().await;
    seed(&app).await;
    let (objects, pages) = walk(&app, "", 5).await;
    let manifest = taxii(
        &app,
        &format!("{}?limit=1000", manifest_path()),
        &app.reader,
    )
    .await;
    assert_eq!(manifest.status, 200);
    let records = manifest.body["objects"].as_array().unwrap().clone();
    assert_eq!(records.len(), objects.len());
    let added: Vec<&str> = records
        .iter()
        .map(|r| r["date_added"].as_str().unwrap())
        .collect();
    assert!(
        added.windows(2).all(|w| w[0] <= w[1]),
        "sorted by date_added"
    );
    let mut at = 0;
    for p in &pages {
        let n = p.objects().len();
        assert_eq!(p.header("x-taxii-date-added-first"), Some(added[at]));
        assert_eq!(p.header("x-taxii-date-added-last"), Some(added[at + n - 1]));
        at += n;
    }
    // added_after is exclusive: after the last date of the first page, the objects of later
    // changes.
    let first_last = pages[0].header("x-taxii-date-added-last").unwrap();
    let after = taxii(
        &app,
        &format!("{}?limit=1000&added_after={first_last}", objects_path()),
        &app.reader,
    )
    .await;
    let want: Vec<_> = records
        .iter()
        .filter(|r| r["date_added"].as_str().unwrap() > first_last)
        .map(|r| r["id"].clone())
        .collect();
    let got: Vec<_> = after.objects().iter().map(|o| o["id"].clone()).collect();
    assert_eq!(got, want);
    assert!(!got.is_empty() && got.len() < records.len());
    // Nothing after the last object; an empty envelope has no date headers.
    let last = manifest.header("x-taxii-date-added-last").unwrap();
    let none = taxii(
        &app,
        &format!("{}?added_after={last}", objects_path()),
        &app.reader,
    )
    .await;
    assert_eq!(none.status, 200);
    assert_eq!(none.body, json!({"more": false}));
    assert_eq!(none.header("x-taxii-date-added-first"), None);
}

/// A reader walks the collection while incidents are created, changed and deleted between
/// its pages (and by a concurrent writer): no object version comes twice, nothing that
/// stays the same is missed, and changes show up as new versions.
#[tokio::test]
async fn paging_is_exact_while_incidents_are_written() {
    let app = spawn_app().await;
    // An anchor that uses every technique, actor and country the writers use, so shared
    // objects never leave the collection during the walk.
    let mut anchor = incident("Anchor");
    anchor["techniques"] = json!(["T0002", "T0015", "T0049.003", "T0016"]);
    anchor["actors"] = json!(["Russia", "Storm-1516"]);
    anchor["target_countries"] = json!(["UA", "FR", "DE"]);
    app.create(&anchor).await;
    let variant = |name: &str, i: usize| {
        let mut v = incident(name);
        let t = ["T0002", "T0015", "T0049.003", "T0016"];
        v["techniques"] = json!([t[i % 4], t[(i + 1) % 4]]);
        let actor = ["Russia", "Storm-1516"][i % 2];
        let country = ["UA", "FR", "DE"][i % 3];
        v["actors"] = json!([actor]);
        v["target_countries"] = json!([country]);
        v
    };
    let mut ids = Vec::new();
    for i in 0..24 {
        ids.push(
            app.create(&variant(&format!("Before {i}"), i)).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let before = bundle_versions(&app).await;

    let writer = {
        let client = app.client.clone();
        let url = app.url("/api/v1/incidents");
        let key = app.analyst.clone();
        let ids = ids.clone();
        tokio::spawn(async move {
            let mut touched = BTreeSet::new();
            for i in 0..30 {
                let (method, url, body) = if i % 3 == 0 {
                    // Changes an incident somewhere in the collection (one of every third:
                    // the reader changes the others).
                    let id = &ids[(i * 3) % ids.len()];
                    touched.insert(id.clone());
                    (
                        Method::PUT,
                        format!("{url}/{id}"),
                        variant(&format!("Changed {i}"), i),
                    )
                } else {
                    (
                        Method::POST,
                        url.clone(),
                        variant(&format!("During {i}"), i),
                    )
                };
                let r = client
                    .request(method, &url)
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.status());
                tokio::task::yield_now().await;
            }
            touched
        })
    };

    // The reader, changing the collection itself between pages: an incident ahead of it,
    // one behind it, one deleted behind it, and a new one.
    let mut walked = Vec::new();
    let mut next: Option<String> = None;
    let mut page = 0;
    let mut changed_ahead = BTreeSet::new();
    let mut changed_behind = BTreeSet::new();
    loop {
        let mut path = format!("{}?limit=7", objects_path());
        if let Some(n) = &next {
            path.push_str(&format!("&next={n}"));
        }
        let a = taxii(&app, &path, &app.reader).await;
        assert_eq!(a.status, 200, "{}", a.body);
        walked.extend(a.objects());
        next = a.body["next"].as_str().map(str::to_owned);
        if a.body["more"] != true {
            break;
        }
        page += 1;
        let seen: BTreeSet<&str> = walked.iter().filter_map(|o| o["id"].as_str()).collect();
        if page <= 6 {
            let mine = ids
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 3 != 0)
                .map(|(_, id)| id);
            let ahead = mine
                .clone()
                .rev()
                .find(|id| !seen.contains(id.as_str()) && !changed_ahead.contains(*id));
            if let Some(id) = ahead.cloned() {
                let (s, _) = app
                    .send(
                        Method::PUT,
                        &format!("/api/v1/incidents/{id}"),
                        &app.analyst,
                        &variant("Ahead", page),
                    )
                    .await;
                assert_eq!(s, 200);
                changed_ahead.insert(id);
            }
            let behind = mine.clone().find(|id| {
                seen.contains(id.as_str())
                    && !changed_behind.contains(*id)
                    && !changed_ahead.contains(*id)
            });
            if let Some(id) = behind.cloned() {
                let method = if page % 2 == 0 {
                    Method::DELETE
                } else {
                    Method::PUT
                };
                let (s, _) = app
                    .send(
                        method,
                        &format!("/api/v1/incidents/{id}"),
                        &app.analyst,
                        &variant("Behind", page),
                    )
                    .await;
                assert!(s == 200 || s == 204);
                changed_behind.insert(id);
            }
            app.create(&variant(&format!("New {page}"), page)).await;
        }
    }
    let touched = writer.await.unwrap();
    let after = bundle_versions(&app).await;

    let walked_versions = versions(&walked);
    let walked_set = no_repeats(&walked_versions);
    // Nothing that stayed the same throughout is missed.
    for v in before.intersection(&after) {
        assert!(walked_set.contains(v), "missed {v:?}");
    }
    // Every incident there before the walk came, in some version.
    let walked_ids: BTreeSet<&str> = walked_versions.iter().map(|(i, _)| i.as_str()).collect();
    for id in &ids {
        assert!(walked_ids.contains(id.as_str()), "missed incident {id}");
    }
    // What was changed behind the reader came again, as a new version; what was changed
    // ahead of it came once, in its new version.
    assert!(changed_behind.len() >= 3 && changed_ahead.len() >= 3);
    assert!(touched.is_disjoint(&changed_behind) && touched.is_disjoint(&changed_ahead));
    for id in &changed_behind {
        let n = walked_versions.iter().filter(|(i, _)| i == id).count();
        assert_eq!(n, 2, "{id} changed behind the reader");
    }
    for id in &changed_ahead {
        let got: Vec<_> = walked_versions.iter().filter(|(i, _)| i == id).collect();
        assert_eq!(got.len(), 1, "{id} changed ahead of the reader");
        assert!(!before.contains(got[0]), "{id}: the new version");
    }
    // Shared objects have one version: each walked one is in the collection before or after.
    for o in walked
        .iter()
        .filter(|o| o["type"] != "incident" && o["type"] != "relationship")
    {
        let v = (o["id"].as_str().unwrap().to_owned(), version_of(o));
        assert!(
            before.contains(&v) || after.contains(&v),
            "{v:?} came from nowhere"
        );
    }
    // The store's record of shared objects is what the incidents refer to.
    assert_recorded_collection(&app).await;
    // And a fresh walk is the bundle endpoint's answer.
    let (fresh, _) = walk(&app, "", 50).await;
    assert_eq!(no_repeats(&versions(&fresh)), after);
}

/// Shared objects leave the collection with the last incident that refers to them, and come
/// back at the end when an incident refers to them again.
#[tokio::test]
async fn shared_objects_leave_and_come_back() {
    let app = spawn_app().await;
    let mut a = incident("Lonely technique");
    a["techniques"] = json!(["T0016"]);
    a["actors"] = json!(["Ghostwriter"]);
    let id = app.create(&a).await["id"].as_str().unwrap().to_owned();
    app.create(&incident("Other")).await;
    let names = |objects: &[Value]| -> BTreeMap<String, String> {
        objects
            .iter()
            .filter(|o| o["type"] == "threat-actor")
            .map(|o| {
                (
                    o["name"].as_str().unwrap().to_owned(),
                    o["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let (objects, _) = walk(&app, "", 1000).await;
    assert!(names(&objects).contains_key("Ghostwriter"));
    let mark = taxii(
        &app,
        &format!("{}?limit=1000", manifest_path()),
        &app.reader,
    )
    .await
    .header("x-taxii-date-added-last")
    .unwrap()
    .to_owned();
    let (s, _) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/incidents/{id}"),
            &app.analyst,
            &Value::Null,
        )
        .await;
    assert_eq!(s, 204);
    let (objects, _) = walk(&app, "", 1000).await;
    assert!(
        !names(&objects).contains_key("Ghostwriter"),
        "left with its incident"
    );
    assert_eq!(no_repeats(&versions(&objects)), bundle_versions(&app).await);
    let mut b = incident("Return");
    b["actors"] = json!(["ghostwriter"]);
    app.create(&b).await;
    // It came back after the mark, so a client polling with added_after sees it again.
    let (objects, _) = walk(&app, &format!("&added_after={mark}"), 1000).await;
    assert!(objects.iter().any(|o| o["type"] == "threat-actor"
        && o["name"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("ghostwriter")));
    let (objects, _) = walk(&app, "", 1000).await;
    assert_eq!(no_repeats(&versions(&objects)), bundle_versions(&app).await);
}

/// A database written before the collection tables existed gets them filled at start-up.
#[tokio::test]
async fn an_older_database_is_backfilled_at_start() {
    // The index of object ids came with a SQLite migration; a PostgreSQL database has it from
    // its first migration on.
    if crate::support::sqlite_only(
        "an_older_database_is_backfilled_at_start",
        "a SQLite database from before the collection's object index",
    ) {
        return;
    }
    let app = spawn_app().await;
    let ids = seed(&app).await;
    let (s, _) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/incidents/{}", ids[1]),
            &app.analyst,
            &Value::Null,
        )
        .await;
    assert_eq!(s, 204);
    let pool = app.state.store.sqlite_pool().expect("a SQLite store");
    for table in [
        "collection_refs",
        "collection_entries",
        "collection_object_ids",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(pool)
            .await
            .unwrap();
    }
    let (objects, _) = walk(&app, "", 1000).await;
    assert!(objects
        .iter()
        .all(|o| o["type"] == "incident" || o["type"] == "relationship"));
    sqlx::query("INSERT INTO maintenance (task) VALUES ('index collection object ids')")
        .execute(pool)
        .await
        .unwrap();
    // Opening the database again (a restart) fills the tables.
    disinfox_server::db::Store::connect(&app.state.settings.database_url)
        .await
        .unwrap();
    assert_recorded_collection(&app).await;
    let (objects, _) = walk(&app, "", 7).await;
    assert_eq!(no_repeats(&versions(&objects)), bundle_versions(&app).await);
}
