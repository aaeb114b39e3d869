//! Hostile and careless requests: oversized lists, numbers out of range, cursors from
//! nowhere, malformed path ids. Each is answered at once with a clear 4xx.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{incident, spawn_app};

/// A watchdog, not a measurement: far above what the request needs, it only stops a test
/// that would otherwise hang for minutes on quadratic work.
const WATCHDOG: Duration = Duration::from_secs(60);

#[tokio::test]
async fn an_oversized_list_is_refused_before_any_per_item_work() {
    let app = spawn_app().await;
    // 100,000 distinct actors (about 1.3 MB) and an unknown technique.
    let actors: Vec<String> = (0..100_000).map(|i| format!("actor {i:06}")).collect();
    let mut body = incident("Too many actors");
    body["actors"] = json!(actors);
    body["techniques"] = json!(["T9999"]);
    let r = app
        .client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(&app.analyst)
        .json(&body)
        .timeout(WATCHDOG)
        .send()
        .await
        .expect("an answer");
    assert_eq!(r.status().as_u16(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["error"]["fields"],
        json!({"actors": "at most 200 entries (this list has 100000)"}),
        "only the size is reported: no entry was looked at: {v}"
    );
    // The same on a replace, and for every list.
    let created = app.create(&incident("Small")).await;
    let path = format!("/api/v1/incidents/{}", created["id"].as_str().unwrap());
    for list in [
        "techniques",
        "target_countries",
        "channels",
        "source_urls",
        "labels",
        "attribution_sources",
    ] {
        let mut body = incident("Small");
        body[list] = json!(vec!["x"; 201]);
        let (status, v) = app.send(Method::PUT, &path, &app.analyst, &body).await;
        assert_eq!(status, 422, "{list}: {v}");
        assert_eq!(
            v["error"]["fields"][list], "at most 200 entries (this list has 201)",
            "{v}"
        );
    }
    // 200 entries are fine, repeats are folded.
    let mut body = incident("Two hundred actors");
    body["actors"] = json!((0..200)
        .map(|i| format!("Actor {}", i % 100))
        .collect::<Vec<_>>());
    let v = app.create(&body).await;
    assert_eq!(v["actors"].as_array().unwrap().len(), 100);
}
