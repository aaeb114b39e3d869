//! TAXII 2.1: media types, headers, authentication, error messages, filters, manifest,
//! versions, and exact paging while incidents are written.

mod collection;
mod filters;

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
