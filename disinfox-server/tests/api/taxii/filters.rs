//! Filters and lookups: `match[...]`, `limit` and bad parameters, the manifest, one object and
//! its versions, lookups by id, and bounded slices of a filter that matches nothing.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{incident, spawn_app};

use super::*;

#[tokio::test]
async fn match_filters_limit_and_bad_parameters() {
    let app = spawn_app().await;
    let ids = seed(&app).await;
    let (all, _) = walk(&app, "", 1000).await;
    let get = |q: String| {
        let app = &app;
        async move { taxii(app, &format!("{}?{q}", objects_path()), &app.reader).await }
    };
    let types = |a: &Answer| -> BTreeSet<String> {
        a.objects()
            .iter()
            .map(|o| o["type"].as_str().unwrap().to_owned())
            .collect()
    };

    let a = get("match[type]=incident".into()).await;
    assert_eq!(types(&a), BTreeSet::from(["incident".to_owned()]));
    assert_eq!(a.objects().len(), 3);
    let a = get("match[type]=attack-pattern,location".into()).await;
    assert_eq!(
        types(&a),
        BTreeSet::from(["attack-pattern".to_owned(), "location".to_owned()])
    );
    let a = get(format!("match[id]={},{}", ids[0], ids[2])).await;
    let got: Vec<_> = a.objects().iter().map(|o| o["id"].clone()).collect();
    assert_eq!(got, vec![json!(ids[0]), json!(ids[2])]);
    let rel = all.iter().find(|o| o["type"] == "relationship").unwrap();
    let a = get(format!("match[id]={}", rel["id"].as_str().unwrap())).await;
    assert_eq!(a.objects(), vec![rel.clone()]);
    let a = get(format!(
        "match[id]={}&match[type]=incident",
        rel["id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(a.body, json!({"more": false}), "filters combine");

    let inc = all.iter().find(|o| o["id"] == ids[0].as_str()).unwrap();
    let a = get(format!(
        "match[version]={}&match[type]=incident",
        version_of(inc)
    ))
    .await;
    assert_eq!(a.objects(), vec![inc.clone()]);
    let a = get("match[version]=2001-01-01T00:00:00.000Z".into()).await;
    assert_eq!(a.body, json!({"more": false}));
    for keyword in ["last", "first", "all", "first,last"] {
        let a = get(format!("match[version]={keyword}&limit=1000")).await;
        assert_eq!(
            a.objects(),
            all,
            "match[version]={keyword}: one version of each"
        );
    }
    let a = get("match[spec_version]=2.0".into()).await;
    assert_eq!(a.body, json!({"more": false}));
    let a = get("match[spec_version]=2.0,2.1&limit=1000".into()).await;
    assert_eq!(a.objects(), all);
    // Unknown filters, and filters without a value, are ignored.
    for q in ["match[x_color]=red", "match[type]=", "match[id]=,"] {
        let a = get(format!("{q}&limit=1000")).await;
        assert_eq!(a.objects(), all, "{q}");
    }

    // limit: capped at 1000, at least 1.
    let a = get("limit=5000".into()).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.objects(), all);
    assert_eq!(get("limit=2".into()).await.objects().len(), 2);
    for bad in [
        "limit=0",
        "limit=-1",
        "limit=many",
        "next=garbage",
        "next=1.3.nonsense",
        "added_after=yesterday",
        "match[version]=newest",
    ] {
        assert_taxii_error(&get(bad.into()).await, 400, bad);
    }
    // A match filter takes at most 1000 values (each id may cost building an incident).
    let ids = |n: usize| {
        (0..n)
            .map(|i| format!("incident--00000000-0000-4000-8000-{i:012}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(get(format!("match[id]={}", ids(1000))).await.status, 200);
    let a = get(format!("match[id]={}", ids(1001))).await;
    assert_taxii_error(&a, 400, "1001 ids");
    assert!(a.body["description"]
        .as_str()
        .unwrap()
        .contains("at most 1000"));
}

#[tokio::test]
async fn manifest_pages_like_the_objects() {
    let app = spawn_app().await;
    seed(&app).await;
    let (objects, _) = walk(&app, "", 1000).await;
    let mut records = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut path = format!("{}?limit=3", manifest_path());
        if let Some(n) = &next {
            path.push_str(&format!("&next={n}"));
        }
        let a = taxii(&app, &path, &app.reader).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.header("content-type"), Some(TAXII));
        records.extend(a.objects());
        next = a.body["next"].as_str().map(str::to_owned);
        if a.body["more"] != true {
            break;
        }
    }
    assert_eq!(records.len(), objects.len());
    for (r, o) in records.iter().zip(&objects) {
        assert_eq!(r["id"], o["id"]);
        assert_eq!(r["version"], version_of(o));
        assert_eq!(r["media_type"], "application/stix+json;version=2.1");
        assert!(r["date_added"].as_str().unwrap().ends_with('Z'));
    }
    let a = taxii(
        &app,
        &format!("{}?match[type]=incident", manifest_path()),
        &app.reader,
    )
    .await;
    assert_eq!(a.objects().len(), 3);
}

#[tokio::test]
async fn one_object_and_its_versions() {
    let app = spawn_app().await;
    let ids = seed(&app).await;
    let path = |id: &str| format!("{}{id}/", objects_path());
    let a = taxii(&app, &path(&ids[0]), &app.reader).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("content-type"), Some(TAXII));
    let objects = a.objects();
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0]["id"], ids[0].as_str());
    let v1 = version_of(&objects[0]);
    assert!(a.header("x-taxii-date-added-first").is_some());

    let versions = taxii(&app, &format!("{}versions/", path(&ids[0])), &app.reader).await;
    assert_eq!(versions.status, 200);
    assert_eq!(versions.body, json!({"more": false, "versions": [v1]}));

    // A new version replaces the old one.
    let (status, _) = app
        .send(
            Method::PUT,
            &format!("/api/v1/incidents/{}", ids[0]),
            &app.analyst,
            &incident("Storm over the border"),
        )
        .await;
    assert_eq!(status, 200);
    let a = taxii(&app, &path(&ids[0]), &app.reader).await;
    let v2 = version_of(&a.objects()[0]);
    assert!(v2 > v1);
    let versions = taxii(&app, &format!("{}versions/", path(&ids[0])), &app.reader).await;
    assert_eq!(versions.body["versions"], json!([v2]));
    // Asking for the old version: nothing (but the object exists: not a 404).
    let old = taxii(
        &app,
        &format!("{}?match[version]={v1}", path(&ids[0])),
        &app.reader,
    )
    .await;
    assert_eq!(old.status, 200);
    assert_eq!(old.body, json!({"more": false}));

    // Shared objects and relationships are objects of the collection too.
    let (all, _) = walk(&app, "", 1000).await;
    for o in all
        .iter()
        .filter(|o| o["type"] == "attack-pattern" || o["type"] == "relationship")
        .take(2)
    {
        let a = taxii(&app, &path(o["id"].as_str().unwrap()), &app.reader).await;
        assert_eq!(a.objects(), vec![o.clone()]);
    }

    for missing in [
        "incident--00000000-0000-4000-8000-000000000001",
        "not-an-id",
    ] {
        assert_taxii_error(
            &taxii(&app, &path(missing), &app.reader).await,
            404,
            missing,
        );
        assert_taxii_error(
            &taxii(&app, &format!("{}versions/", path(missing)), &app.reader).await,
            404,
            missing,
        );
    }
}

/// Asking for one object by id looks it up (the incident by its id, a relationship or shared
/// object in the object index): nothing else of the collection is read. An unreadable
/// incident row elsewhere proves it: a walk of the collection would stumble on it.
#[tokio::test]
async fn an_object_is_looked_up_by_id_not_searched_for() {
    let app = spawn_app().await;
    let ids = seed(&app).await;
    let (all, _) = walk(&app, "", 1000).await;
    let of_type = |t: &str| {
        all.iter()
            .find(|o| o["type"] == t)
            .unwrap_or_else(|| panic!("a {t}"))
            .clone()
    };
    let known = [
        of_type("relationship"),
        of_type("attack-pattern"),
        of_type("threat-actor"),
        of_type("location"),
        of_type("identity"),
        of_type("marking-definition"),
        all.iter()
            .find(|o| o["id"] == ids[2].as_str())
            .unwrap()
            .clone(),
    ];
    let newest: i64 = app.state.store.last_change_seq().await.unwrap();
    crate::support::raw::execute(
        &app.state.store,
        &format!("INSERT INTO incidents (id, name, created, modified, data, change_seq, changed_at)
         VALUES ('incident--11111111-1111-4111-8111-111111111111', 'unreadable',
                 '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z', 'not json', {}, '2099-01-01T00:00:00.000000Z')", newest + 1000),
    )
    .await;
    let path = |id: &str| format!("{}{id}/", objects_path());
    for o in &known {
        let id = o["id"].as_str().unwrap();
        let a = taxii(&app, &path(id), &app.reader).await;
        assert_eq!(a.status, 200, "{id}: {}", a.body);
        assert_eq!(a.objects(), vec![o.clone()], "{id}");
        let a = taxii(
            &app,
            &format!("{}?match[id]={id}", objects_path()),
            &app.reader,
        )
        .await;
        assert_eq!(a.objects(), vec![o.clone()], "{id}");
    }
    for unknown in [
        "incident--00000000-0000-4000-8000-000000000001",
        "relationship--00000000-0000-4000-8000-000000000001",
        "attack-pattern--00000000-0000-4000-8000-000000000001",
        "threat-actor--00000000-0000-4000-8000-000000000001",
    ] {
        assert_taxii_error(
            &taxii(&app, &path(unknown), &app.reader).await,
            404,
            unknown,
        );
        assert_taxii_error(
            &taxii(&app, &format!("{}versions/", path(unknown)), &app.reader).await,
            404,
            unknown,
        );
    }
}

/// A filter that matches little does not make one request read the whole collection: the
/// request stops after a bounded number of windows and answers a short page with `next`.
#[tokio::test]
async fn a_filter_that_matches_nothing_is_answered_a_bounded_slice_at_a_time() {
    let app = spawn_app().await;
    for i in 0..30 {
        let mut x = incident(&format!("Filler {i}"));
        x["techniques"] = json!([]);
        x["actors"] = json!([]);
        x["target_countries"] = json!([]);
        x["country_of_origin"] = Value::Null;
        app.create(&x).await;
    }
    let (objects, pages) = walk(&app, "&match[version]=2001-01-01T00:00:00.000Z", 1).await;
    assert!(objects.is_empty());
    assert!(pages.len() > 1, "more than one slice");
    assert!(pages[0].body["next"].as_str().unwrap().ends_with(".end"));
    assert_eq!(pages.last().unwrap().body, json!({"more": false}));
}
