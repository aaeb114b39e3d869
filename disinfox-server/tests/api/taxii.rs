//! TAXII 2.1: media types, headers, authentication, error messages, filters, manifest,
//! versions, and exact paging while incidents are written.

use std::collections::{BTreeMap, BTreeSet};

use disinfox_server::taxii::COLLECTION_ID;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{incident, spawn_app, spawn_with, TestApp};

const TAXII: &str = "application/taxii+json;version=2.1";

fn objects_path() -> String {
    format!("/taxii2/disinfox/collections/{COLLECTION_ID}/objects/")
}

fn manifest_path() -> String {
    format!("/taxii2/disinfox/collections/{COLLECTION_ID}/manifest/")
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn objects(&self) -> Vec<Value> {
        self.body["objects"].as_array().cloned().unwrap_or_default()
    }
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// A GET with the TAXII Accept header and the key as a bearer token.
async fn taxii(app: &TestApp, path: &str, key: &str) -> Answer {
    send(
        app.client
            .get(app.url(path))
            .header("Accept", TAXII)
            .bearer_auth(key),
    )
    .await
}

fn assert_taxii_error(a: &Answer, status: u16, what: &str) {
    assert_eq!(a.status, status, "{what}: {}", a.body);
    assert_eq!(a.header("content-type"), Some(TAXII), "{what}");
    assert_eq!(a.body["http_status"], status.to_string(), "{what}");
    assert!(
        a.body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}"
    );
    assert!(
        a.body["description"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{what}"
    );
    assert!(a.body["error"].is_null(), "not the API's error shape");
}

fn version_of(o: &Value) -> String {
    o["modified"]
        .as_str()
        .or_else(|| o["created"].as_str())
        .unwrap()
        .to_owned()
}

/// Every page of `path` (with `query`), following `next`: the objects in order, and the
/// pages' answers.
async fn walk(app: &TestApp, query: &str, limit: usize) -> (Vec<Value>, Vec<Answer>) {
    let mut objects = Vec::new();
    let mut pages = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut path = format!("{}?limit={limit}{query}", objects_path());
        if let Some(n) = &next {
            path.push_str(&format!("&next={n}"));
        }
        let a = taxii(app, &path, &app.reader).await;
        assert_eq!(a.status, 200, "{}", a.body);
        objects.extend(a.objects());
        next = a.body["next"].as_str().map(str::to_owned);
        let more = a.body["more"].as_bool().unwrap();
        assert_eq!(more, next.is_some(), "next exactly when more");
        pages.push(a);
        if !more {
            return (objects, pages);
        }
    }
}

/// `(id, version)` of what the bundle endpoint returns for every incident.
async fn bundle_versions(app: &TestApp) -> BTreeSet<(String, String)> {
    let (status, b) = app.get("/api/v1/bundle?limit=1000", &app.reader).await;
    assert_eq!(status, 200);
    b["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["id"].as_str().unwrap().to_owned(), version_of(o)))
        .collect()
}

fn versions(objects: &[Value]) -> Vec<(String, String)> {
    objects
        .iter()
        .map(|o| (o["id"].as_str().unwrap().to_owned(), version_of(o)))
        .collect()
}

fn no_repeats(v: &[(String, String)]) -> BTreeSet<(String, String)> {
    let set: BTreeSet<_> = v.iter().cloned().collect();
    assert_eq!(set.len(), v.len(), "an object version came twice");
    set
}

/// Every reference (`*_ref`, `*_refs`) of an object.
fn refs(o: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(m) = o.as_object() {
        for (k, v) in m {
            if k.ends_with("_ref") {
                out.extend(v.as_str().map(str::to_owned));
            } else if k.ends_with("_refs") {
                out.extend(
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.as_str().map(str::to_owned)),
                );
            }
        }
    }
    out
}

/// The store's record of shared objects is what the live incidents refer to.
async fn assert_recorded_collection(app: &TestApp) {
    let recorded: BTreeSet<String> = app
        .state
        .store
        .collection_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(
        recorded,
        app.state.store.expected_collection_keys().await.unwrap()
    );
    assert_object_index(app, &recorded).await;
}

/// The object index says where each relationship and shared object of the collection is,
/// and holds nothing else (relationships of live incidents, under two id rules at most).
async fn assert_object_index(app: &TestApp, entries: &BTreeSet<String>) {
    let index: BTreeMap<String, (Option<String>, Option<String>)> = app
        .state
        .store
        .object_index()
        .await
        .unwrap()
        .into_iter()
        .map(|(id, incident, key)| (id, (incident, key)))
        .collect();
    let (objects, _) = walk(app, "", 1000).await;
    let mut relationships: BTreeMap<String, usize> = BTreeMap::new();
    for o in &objects {
        let id = o["id"].as_str().unwrap();
        match o["type"].as_str().unwrap() {
            "relationship" => {
                let source = o["source_ref"].as_str().unwrap();
                assert_eq!(
                    index.get(id).map(|h| h.0.as_deref()),
                    Some(Some(source)),
                    "{id}"
                );
                *relationships.entry(source.to_owned()).or_default() += 1;
            }
            "attack-pattern" | "threat-actor" | "location" => {
                let key = index.get(id).and_then(|h| h.1.clone());
                assert!(key.is_some_and(|k| entries.contains(&k)), "{id}");
            }
            _ => {}
        }
    }
    let mut indexed: BTreeMap<String, usize> = BTreeMap::new();
    for (id, (incident, key)) in &index {
        match (incident, key) {
            (Some(i), None) => *indexed.entry(i.clone()).or_default() += 1,
            (None, Some(k)) => assert!(entries.contains(k), "{id}: stale key {k}"),
            other => panic!("{id}: {other:?}"),
        }
    }
    for (incident, n) in &indexed {
        let live = relationships.get(incident).copied().unwrap_or(0);
        assert!(
            live > 0 && *n >= live && *n <= 2 * live,
            "{incident}: {n} indexed, {live} in the collection"
        );
    }
}

async fn seed(app: &TestApp) -> Vec<String> {
    let mut ids = Vec::new();
    let mut a = incident("Storm over the border");
    a["techniques"] = json!(["T0002", "T0015"]);
    a["actors"] = json!(["Storm-1516"]);
    ids.push(app.create(&a).await["id"].as_str().unwrap().to_owned());
    ids.push(
        app.create(&incident("Doppelganger")).await["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let mut c = incident("Quiet one");
    c["techniques"] = json!([]);
    c["actors"] = json!([]);
    c["target_countries"] = json!(["DE"]);
    c["country_of_origin"] = Value::Null;
    ids.push(app.create(&c).await["id"].as_str().unwrap().to_owned());
    ids
}

#[tokio::test]
async fn discovery_api_root_and_collections() {
    let app = spawn_with(|s| s.public_url = "https://disinfox.example/".into()).await;
    let a = taxii(&app, "/taxii2/", &app.reader).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("content-type"), Some(TAXII));
    let root = "https://disinfox.example/taxii2/disinfox/";
    assert_eq!(a.body["api_roots"], json!([root]));
    assert_eq!(a.body["default"], root);
    assert!(a.body["title"].is_string());

    let a = taxii(&app, "/taxii2/disinfox/", &app.reader).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some(TAXII));
    assert_eq!(a.body["versions"], json!([TAXII]));
    assert!(a.body["max_content_length"].as_u64().unwrap() > 0);
    assert!(a.body["title"].is_string());

    let a = taxii(&app, "/taxii2/disinfox/collections/", &app.reader).await;
    assert_eq!(a.status, 200);
    let c = &a.body["collections"][0];
    assert_eq!(c["id"], COLLECTION_ID);
    assert_eq!(c["can_read"], true);
    assert_eq!(c["can_write"], false);
    assert_eq!(
        c["media_types"],
        json!(["application/stix+json;version=2.1"])
    );
    let one = taxii(
        &app,
        &format!("/taxii2/disinfox/collections/{COLLECTION_ID}/"),
        &app.reader,
    )
    .await;
    assert_eq!(one.status, 200);
    assert_eq!(&one.body, c);

    let none = taxii(
        &app,
        "/taxii2/disinfox/collections/6b9c0d5e-0000-4000-8000-000000000000/",
        &app.reader,
    )
    .await;
    assert_taxii_error(&none, 404, "unknown collection");
    let objects = taxii(
        &app,
        "/taxii2/disinfox/collections/nope/objects/",
        &app.reader,
    )
    .await;
    assert_taxii_error(&objects, 404, "objects of an unknown collection");
}

#[tokio::test]
async fn media_types_are_checked_and_every_answer_is_taxii() {
    let app = spawn_app().await;
    for (accept, status) in [
        (Some(TAXII), 200),
        (Some("application/taxii+json"), 200),
        (Some("*/*"), 200),
        (None, 200),
        (Some("application/json"), 406),
        (Some("application/taxii+json;version=2.0"), 406),
        (Some("application/stix+json;version=2.1"), 406),
    ] {
        let mut req = app
            .client
            .get(app.url(&objects_path()))
            .bearer_auth(&app.reader);
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        let a = send(req).await;
        assert_eq!(a.status, status, "Accept: {accept:?}: {}", a.body);
        assert_eq!(a.header("content-type"), Some(TAXII), "Accept: {accept:?}");
        if status != 200 {
            assert_taxii_error(&a, status, "406");
        }
    }
    // Errors the router makes (unknown paths, wrong methods) are TAXII errors too.
    assert_taxii_error(
        &taxii(&app, "/taxii2/disinfox/nothing/", &app.reader).await,
        404,
        "unknown path",
    );
    let a = taxii(&app, "/taxii2", &app.reader).await;
    assert_taxii_error(&a, 404, "no trailing slash");
    assert!(a.body["description"].as_str().unwrap().contains("/taxii2/"));
    let post = send(
        app.client
            .post(app.url(&objects_path()))
            .header("Accept", TAXII)
            .bearer_auth(&app.analyst)
            .json(&json!({"objects": []})),
    )
    .await;
    assert_taxii_error(&post, 405, "the collection is read-only");
}

#[tokio::test]
async fn api_keys_authenticate_as_basic_password_or_bearer() {
    let app = spawn_app().await;
    seed(&app).await;
    let path = objects_path();
    let get = |req: reqwest::RequestBuilder| send(req.header("Accept", TAXII));
    for (user, key) in [
        ("taxii", &app.reader),
        ("", &app.reader),
        ("x", &app.analyst),
    ] {
        let a = get(app.client.get(app.url(&path)).basic_auth(user, Some(key))).await;
        assert_eq!(a.status, 200, "Basic {user:?}:<key>");
        assert!(!a.objects().is_empty());
    }
    let a = get(app
        .client
        .get(app.url(&path))
        .bearer_auth(&app.analyst_read))
    .await;
    assert_eq!(a.status, 200, "Bearer with a read key");

    for (what, req) in [
        ("no credentials", app.client.get(app.url(&path))),
        (
            "wrong key",
            app.client.get(app.url(&path)).bearer_auth("dfx_wrong"),
        ),
        (
            "wrong Basic password",
            app.client
                .get(app.url(&path))
                .basic_auth("taxii", Some("dfx_wrong")),
        ),
        (
            "Basic with a wrong key as user name and no password",
            app.client
                .get(app.url(&path))
                .basic_auth("dfx_wrong", None::<&str>),
        ),
    ] {
        let a = get(req).await;
        assert_taxii_error(&a, 401, what);
        let challenges: Vec<_> = a
            .headers
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(
            challenges.iter().any(|c| c.starts_with("Basic realm=")),
            "{what}: {challenges:?}"
        );
        assert!(challenges.iter().any(|c| c.starts_with("Bearer realm=")));
    }

    // A key revoked through the API stops working for TAXII at once.
    let (status, created) = app
        .send(
            Method::POST,
            "/api/v1/keys",
            &app.analyst,
            &json!({"name": "taxii feed", "scope": "read"}),
        )
        .await;
    assert_eq!(status, 201);
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["info"]["id"].as_i64().unwrap();
    let basic = |k: &str| {
        app.client
            .get(app.url(&path))
            .basic_auth("opencti", Some(k.to_owned()))
    };
    assert_eq!(get(basic(&key)).await.status, 200);
    let (status, _) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/keys/{id}"),
            &app.analyst,
            &Value::Null,
        )
        .await;
    assert_eq!(status, 204);
    assert_taxii_error(&get(basic(&key)).await, 401, "revoked key, Basic");
    assert_taxii_error(&taxii(&app, &path, &key).await, 401, "revoked key, Bearer");
}

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
    let pool = app.state.store.pool();
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
    sqlx::query(
        "INSERT INTO incidents (id, name, created, modified, data, change_seq, changed_at)
         VALUES ('incident--11111111-1111-4111-8111-111111111111', 'unreadable',
                 '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z', 'not json', ?, '2099-01-01T00:00:00.000000Z')",
    )
    .bind(newest + 1000)
    .execute(app.state.store.pool())
    .await
    .unwrap();
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
