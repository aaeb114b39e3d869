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

#[tokio::test]
async fn a_page_beyond_the_last_one_that_can_exist_is_refused_not_wrapped_to_page_one() {
    let app = spawn_app().await;
    app.create(&incident("Only one")).await;
    for query in [
        "page=9223372036854775807",
        "page=184467440737095517",
        "page=1000001",
        "page=0",
        "page=-3",
        "per_page=9223372036854775807",
        "page=99999999999999999999999",
    ] {
        let (status, v) = app
            .get(&format!("/api/v1/incidents?{query}"), &app.reader)
            .await;
        assert_eq!(status, 400, "{query}: {v}");
        assert!(v["error"]["message"].is_string(), "{query}: {v}");
    }
    let (status, v) = app
        .get("/api/v1/incidents?page=1000000&per_page=200", &app.reader)
        .await;
    assert_eq!(status, 200, "the last page that can exist: {v}");
    assert_eq!(v["items"], json!([]));
}

#[tokio::test]
async fn a_cursor_beyond_the_newest_change_is_refused() {
    let app = spawn_app().await;
    app.create(&incident("First")).await;
    app.create(&incident("Second")).await;
    let r = app
        .client
        .get(app.url("/api/v1/bundle?limit=1"))
        .bearer_auth(&app.reader)
        .send()
        .await
        .unwrap();
    let next: i64 = r.headers()["x-disinfox-next-cursor"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(next, 1);
    for ok in ["0", "1", "2"] {
        let (status, _) = app
            .get(&format!("/api/v1/bundle?cursor={ok}"), &app.reader)
            .await;
        assert_eq!(status, 200, "cursor {ok}");
    }
    for bad in ["3", "9223372036854775807"] {
        let r = app
            .client
            .get(app.url(&format!("/api/v1/bundle?cursor={bad}")))
            .bearer_auth(&app.reader)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "cursor {bad}");
        assert!(
            r.headers().get("x-disinfox-next-cursor").is_none(),
            "not echoed"
        );
        let v: Value = r.json().await.unwrap();
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains("beyond the newest change (2)"), "{m}");
    }
    // TAXII's next token: the same rule.
    let r = app
        .client
        .get(app.url(
            "/taxii2/disinfox/collections/incidents/objects/?next=3.7.incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8",
        ))
        .bearer_auth(&app.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["description"]
            .as_str()
            .unwrap()
            .contains("beyond the newest change"),
        "{v}"
    );
}

#[tokio::test]
async fn a_bad_id_in_a_path_gets_a_plain_message_in_json_and_on_pages() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::DELETE, "/api/v1/keys/abc"),
        (Method::DELETE, "/api/v1/keys/99999999999999999999"),
        (Method::PATCH, "/api/v1/users/1.5"),
    ] {
        let (status, v) = app
            .send(method.clone(), path, &app.admin, &json!({"role": "reader"}))
            .await;
        assert_eq!(status, 404, "{path}: {v}");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains("ids in this path are whole numbers"), "{m}");
        assert!(!m.contains("i64") && !m.contains("Cannot parse"), "{m}");
    }
    let s = crate::pages::sign_in(&app, "admin@test.org").await;
    let r = s.post("/profile/keys/abc/revoke", &[], None).await;
    assert_eq!(r.status().as_u16(), 404);
    assert!(crate::pages::is_html(&r));
    let html = r.text().await.unwrap();
    assert!(
        html.contains("ids in this path are whole numbers"),
        "{html}"
    );
    assert!(!html.contains("i64"), "{html}");
}
