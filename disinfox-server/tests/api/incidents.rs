//! Incidents: create, read, update, delete, search, filters, pagination, correlation.

use reqwest::Method;
use serde_json::json;

use crate::support::{incident, spawn_app};

#[tokio::test]
async fn create_read_update_delete() {
    let app = spawn_app().await;
    let created = app.create(&incident("Fake howitzer sale")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("incident--"));
    assert_eq!(
        created["target_countries"],
        json!(["UA", "FR"]),
        "names become ISO codes"
    );
    let (status, got) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.reader)
        .await;
    assert_eq!(status, 200);
    assert_eq!(got["name"], "Fake howitzer sale");
    assert_eq!(got["technique_details"][0]["tactic"], "plan-objectives");

    let mut changed = incident("Fake howitzer sale, renamed");
    changed["techniques"] = json!(["T0002"]);
    let (status, updated) = app
        .send(
            Method::PUT,
            &format!("/api/v1/incidents/{id}"),
            &app.analyst,
            &changed,
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["id"], id.as_str(), "the id is kept for life");
    assert!(
        updated["modified"].as_str().unwrap() > got["modified"].as_str().unwrap(),
        "modified moves on"
    );
    assert_eq!(updated["created"], got["created"]);

    let r = app
        .client
        .delete(app.url(&format!("/api/v1/incidents/{id}")))
        .bearer_auth(&app.analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (_, gone) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.reader)
        .await;
    assert_eq!(gone["revoked"], true);
    let (_, list) = app.get("/api/v1/incidents", &app.reader).await;
    assert_eq!(list["total"], 0, "deleted incidents are not listed");
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/incidents/{id}")))
        .bearer_auth(&app.analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        app.get("/api/v1/incidents/incident--nope", &app.reader)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn invalid_incidents_get_field_errors() {
    let app = spawn_app().await;
    let bad = json!({"name": "", "techniques": ["T9999"], "target_countries": ["Atlantis"], "first_seen": "2024-13", "confidence": 300});
    let (status, v) = app
        .send(Method::POST, "/api/v1/incidents", &app.analyst, &bad)
        .await;
    assert_eq!(status, 422, "{v}");
    for field in [
        "name",
        "techniques",
        "target_countries",
        "first_seen",
        "confidence",
    ] {
        assert!(v["error"]["fields"][field].is_string(), "{field} in {v}");
    }
    let (status, v) = app
        .send(
            Method::POST,
            "/api/v1/incidents",
            &app.analyst,
            &json!({"name": "x", "isAdmin": true}),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused: {v}");
    let r = app
        .client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(&app.analyst)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("invalid JSON"));
    let r = app
        .client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(&app.analyst)
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let (status, _) = app.get("/api/v1/incidents?per_page=0", &app.reader).await;
    assert_eq!(status, 400);
    let (status, v) = app
        .get("/api/v1/incidents?sort=password", &app.reader)
        .await;
    assert_eq!(status, 400, "sort fields are allow-listed: {v}");
}

#[tokio::test]
async fn search_filters_and_pagination() {
    let app = spawn_app().await;
    let mut a = incident("Vaccine rumours in Poland");
    a["target_countries"] = json!(["PL"]);
    a["actors"] = json!(["Ghostwriter"]);
    a["techniques"] = json!(["T0015.001"]);
    a["channels"] = json!(["Facebook"]);
    a["first_seen"] = json!("2021-05-10");
    app.create(&a).await;
    for i in 0..5 {
        app.create(&incident(&format!("Election deepfake {i}")))
            .await;
    }
    let q = |s: &str| format!("/api/v1/incidents?{s}");
    for (query, expected) in [
        ("q=vaccine", 1),
        ("q=VACCINE%20poland", 1),
        ("q=deepfake", 5),
        ("q=%22%29%20OR%20*", 0),
        ("country=PL", 1),
        ("country=Ukraine", 5),
        ("actor=Ghostwriter", 1),
        ("actor=russia", 5),
        ("technique=T0049.003", 5),
        ("technique=t0015.001", 1),
        ("tactic=develop-content", 1),
        ("channel=facebook", 1),
        ("from=2024-01-01", 5),
        ("to=2021-12-31", 1),
        ("from=2021-05-01&to=2021-05-31&country=PL", 1),
    ] {
        let (status, v) = app.get(&q(query), &app.reader).await;
        assert_eq!(status, 200, "{query}: {v}");
        assert_eq!(v["total"], expected, "{query}");
    }
    let (_, p1) = app
        .get(&q("per_page=4&sort=name&order=asc"), &app.reader)
        .await;
    let (_, p2) = app
        .get(&q("per_page=4&page=2&sort=name&order=asc"), &app.reader)
        .await;
    assert_eq!(p1["items"].as_array().unwrap().len(), 4);
    assert_eq!(p2["items"].as_array().unwrap().len(), 2);
    assert_eq!(p1["pages"], 2);
    assert_eq!(p1["items"][0]["name"], "Election deepfake 0");
    assert_eq!(p2["items"][1]["name"], "Vaccine rumours in Poland");
    assert_eq!(app.get(&q("country=Atlantis"), &app.reader).await.0, 400);

    let (_, stats) = app.get("/api/v1/stats", &app.reader).await;
    assert_eq!(stats["incidents"], 6);
    assert_eq!(stats["top_actors"][0]["key"], "Russia");
    let (_, disarm) = app.get("/api/v1/disarm", &app.reader).await;
    let count = disarm["tactics"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["techniques"].as_array().unwrap().clone())
        .find(|t| t["id"] == "T0049.003")
        .unwrap()["incidents"]
        .clone();
    assert_eq!(count, 5);
    let (_, countries) = app.get("/api/v1/countries", &app.reader).await;
    assert!(countries["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["key"] == "PL" && c["name"] == "Poland" && c["count"] == 1));
}

#[tokio::test]
async fn related_incidents_are_ranked_by_what_they_share() {
    let app = spawn_app().await;
    let mut base = incident("Base");
    base["channels"] = json!([]);
    let a = app.create(&base).await;
    let mut close = incident("Same actor and techniques");
    close["target_countries"] = json!(["DE"]);
    close["channels"] = json!([]);
    let close = app.create(&close).await;
    let weak = app
        .create(
            &json!({"name": "Only a country", "target_countries": ["UA"], "first_seen": "2010"}),
        )
        .await;
    app.create(&json!({"name": "Nothing shared", "target_countries": ["BR"]}))
        .await;
    let (status, v) = app
        .get(
            &format!("/api/v1/incidents/{}/related", a["id"].as_str().unwrap()),
            &app.reader,
        )
        .await;
    assert_eq!(status, 200);
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{v}");
    assert_eq!(items[0]["id"], close["id"]);
    assert_eq!(items[1]["id"], weak["id"]);
    assert!(items[0]["score"].as_i64().unwrap() > items[1]["score"].as_i64().unwrap());
    assert_eq!(
        items[0]["shared"]["technique"],
        json!(["T0002", "T0049.003"])
    );
    assert!(
        items[0]["reason"]
            .as_str()
            .unwrap()
            .contains("actor Russia"),
        "{}",
        items[0]["reason"]
    );
    assert!(items[1]["reason"]
        .as_str()
        .unwrap()
        .contains("target country UA"));
}

/// Regression: the first use of a key records its use time. That write once ran outside the
/// writer lock and could land inside an incident write's transaction, which SQLite then failed
/// at once with SQLITE_BUSY (a 500 for the analyst). Many fresh keys used while incidents are
/// written make the old interleaving near-certain.
#[tokio::test]
async fn writes_succeed_while_keys_are_first_used() {
    let app = spawn_app().await;
    let reader = app.user("reader@test.org").await;
    let mut keys = Vec::new();
    for i in 0..60 {
        let (secret, hash) = disinfox_server::auth::new_api_key().unwrap();
        app.state
            .store
            .create_api_key(reader.id, &format!("k{i}"), &secret[..12], &hash, "read")
            .await
            .unwrap();
        keys.push(secret);
    }
    let readers = {
        let client = app.client.clone();
        let url = app.url("/api/v1/incidents?limit=1");
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for key in keys {
                let r = client.get(&url).bearer_auth(&key).send().await.unwrap();
                statuses.push(r.status().as_u16());
            }
            statuses
        })
    };
    let mut writes = Vec::new();
    for i in 0..30 {
        let r = app
            .client
            .post(app.url("/api/v1/incidents"))
            .bearer_auth(&app.analyst)
            .json(&incident(&format!("Concurrent {i}")))
            .send()
            .await
            .unwrap();
        writes.push(r.status().as_u16());
    }
    let reads = readers.await.unwrap();
    assert!(writes.iter().all(|s| *s == 201), "writes: {writes:?}");
    assert!(reads.iter().all(|s| *s == 200), "reads: {reads:?}");
}
