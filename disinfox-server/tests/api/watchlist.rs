//! Watchlists and "my work", through the API and the pages.

use reqwest::header::{LOCATION, REFERER};
use reqwest::Method;
use serde_json::{json, Value};

use crate::pages::sign_in;
use crate::support::{incident, spawn_app, spawn_with, TestApp};

async fn edit(app: &TestApp, key: &str, id: &str, name: &str) {
    let (s, v) = app
        .send(
            Method::PUT,
            &format!("/api/v1/incidents/{id}"),
            key,
            &incident(name),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

async fn watch(app: &TestApp, key: &str, id: &str) -> (u16, Value) {
    app.send(
        Method::PUT,
        &format!("/api/v1/watchlist/{id}"),
        key,
        &json!({}),
    )
    .await
}

#[tokio::test]
async fn the_api_watchlist_tells_what_changed_and_is_each_users_own() {
    let app = spawn_app().await;
    let id = app.create(&incident("Watched one")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = watch(&app, &app.reader, &id).await;
    assert_eq!(
        (s, &v["watched"], &v["changed"]),
        (200, &json!(true), &json!(true)),
        "{v}"
    );
    let (s, v) = watch(&app, &app.reader, &id).await;
    assert_eq!(
        (s, &v["changed"]),
        (200, &json!(false)),
        "starring twice changes nothing"
    );

    let (s, v) = app.get("/api/v1/watchlist", &app.reader).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["total"], 1);
    assert_eq!(v["items"][0]["id"], id.as_str());
    assert_eq!(v["items"][0]["changes_since_seen"], 0);

    edit(&app, &app.analyst, &id, "Watched one, second version").await;
    edit(&app, &app.admin, &id, "Watched one, third version").await;
    let (_, v) = app.get("/api/v1/watchlist", &app.reader).await;
    let item = &v["items"][0];
    assert_eq!(item["changes_since_seen"], 2, "{v}");
    assert_eq!(item["name"], "Watched one, third version");
    assert_eq!(
        item["changed_by"],
        json!(["admin@test.org", "analyst@test.org"])
    );
    assert_eq!(item["deleted_since_seen"], false);

    let (s, _) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/incidents/{id}"),
            &app.analyst,
            &json!({}),
        )
        .await;
    assert_eq!(s, 204);
    let (_, v) = app.get("/api/v1/watchlist", &app.reader).await;
    assert_eq!(v["items"][0]["changes_since_seen"], 3, "{v}");
    assert_eq!(v["items"][0]["deleted_since_seen"], true);
    assert_eq!(v["items"][0]["revoked"], true);

    // Another user's watchlist is invisible: the analyst's (either key) is empty.
    for key in [&app.analyst, &app.analyst_read, &app.admin] {
        let (s, v) = app.get("/api/v1/watchlist", key).await;
        assert_eq!((s, &v["total"]), (200, &json!(0)), "{v}");
    }
    // The analyst's read key stars for the analyst; the write key sees it.
    let (s, _) = watch(&app, &app.analyst_read, &id).await;
    assert_eq!(s, 200);
    let (_, v) = app.get("/api/v1/watchlist", &app.analyst).await;
    assert_eq!(v["total"], 1);

    let (s, v) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/watchlist/{id}"),
            &app.reader,
            &json!({}),
        )
        .await;
    assert_eq!(
        (s, &v["watched"], &v["changed"]),
        (200, &json!(false), &json!(true))
    );
    let (_, v) = app.get("/api/v1/watchlist", &app.reader).await;
    assert_eq!(v["total"], 0);
    // Unstarring removed only the reader's entry.
    let (_, v) = app.get("/api/v1/watchlist", &app.analyst).await;
    assert_eq!(v["total"], 1);

    let (s, v) = watch(
        &app,
        &app.reader,
        "incident--00000000-0000-4000-8000-000000000000",
    )
    .await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = app.get("/api/v1/watchlist?per_page=0", &app.reader).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("per_page"),
        "{v}"
    );
    let (s, _) = app.get("/api/v1/watchlist", "not-a-key").await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn the_watchlist_is_capped() {
    let app = spawn_with(|s| s.watchlist_max = 2).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let v = app.create(&incident(&format!("Capped {n}"))).await;
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(watch(&app, &app.reader, &ids[0]).await.0, 200);
    assert_eq!(watch(&app, &app.reader, &ids[1]).await.0, 200);
    let (s, v) = watch(&app, &app.reader, &ids[2]).await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("holds 2 incidents"),
        "{v}"
    );
    // Starring one already there still answers, and another user has their own room.
    assert_eq!(watch(&app, &app.reader, &ids[1]).await.0, 200);
    assert_eq!(watch(&app, &app.analyst, &ids[2]).await.0, 200);
    let (_, v) = app
        .get("/api/v1/watchlist?per_page=1&page=2", &app.reader)
        .await;
    assert_eq!(
        (v["total"].as_i64(), v["items"].as_array().map(Vec::len)),
        (Some(2), Some(1))
    );
    assert_eq!(v["max"], 2);
}

#[tokio::test]
async fn my_work_lists_what_the_user_created_or_edited() {
    let app = spawn_app().await;
    let a = app.create(&incident("Mine A")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = app.create(&incident("Mine B")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    edit(&app, &app.analyst, &a, "Mine A, edited").await;
    edit(&app, &app.admin, &b, "Mine B, edited by the admin").await;

    let (s, v) = app.get("/api/v1/my", &app.analyst_read).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["total"], 2);
    assert_eq!(v["items"][0]["id"], a.as_str(), "latest first: {v}");
    assert_eq!(
        (&v["items"][0]["created"], &v["items"][0]["edits"]),
        (&json!(true), &json!(1))
    );
    assert_eq!(
        (&v["items"][1]["created"], &v["items"][1]["edits"]),
        (&json!(true), &json!(0))
    );

    let (_, v) = app.get("/api/v1/my", &app.admin).await;
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(v["items"][0]["id"], b.as_str());
    assert_eq!(
        (&v["items"][0]["created"], &v["items"][0]["edits"]),
        (&json!(false), &json!(1))
    );

    let (_, v) = app.get("/api/v1/my", &app.reader).await;
    assert_eq!(v["total"], 0);

    let analyst = sign_in(&app, "analyst@test.org").await;
    let html = analyst.get("/my").await.text().await.unwrap();
    assert!(
        html.contains("Mine A, edited") && html.contains("created, edited once"),
        "{html}"
    );
    assert!(html.contains("Mine B, edited by the admin"));
    let admin = sign_in(&app, "admin@test.org").await;
    let html = admin.get("/my").await.text().await.unwrap();
    assert!(!html.contains("Mine A"), "only the admin's work");
}

#[tokio::test]
async fn the_star_form_and_the_watchlist_page() {
    let app = spawn_app().await;
    let id = app.create(&incident("Starred on a page")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reader = sign_in(&app, "reader@test.org").await;
    let star = format!("/incidents/{id}/watch");

    let html = reader.get("/incidents").await.text().await.unwrap();
    assert!(
        html.contains(&format!("action=\"{star}\"")) && html.contains("aria-pressed=\"false\"")
    );

    // Without the session's token, nothing happens.
    let r = reader.post(&star, &[("watch", "1")], Some("-")).await;
    assert_eq!(r.status().as_u16(), 403);
    let (_, v) = app.get("/api/v1/watchlist", &app.reader).await;
    assert_eq!(v["total"], 0);

    // Back to the page the star was pressed on (same origin only).
    let r = reader
        .client
        .post(app.url(&star))
        .header(reqwest::header::COOKIE, &reader.cookie)
        .header(REFERER, app.url("/incidents?q=Starred"))
        .form(&[("watch", "1"), ("csrf", reader.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()[LOCATION], "/incidents?q=Starred");
    let r = reader
        .client
        .post(app.url(&star))
        .header(reqwest::header::COOKIE, &reader.cookie)
        .header(REFERER, "https://elsewhere.example/incidents")
        .form(&[("watch", "1"), ("csrf", reader.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[LOCATION], format!("/incidents/{id}").as_str());

    let html = reader.get("/incidents").await.text().await.unwrap();
    assert!(
        html.contains("aria-pressed=\"true\""),
        "the list shows the star on"
    );
    let html = reader
        .get(&format!("/incidents/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("aria-pressed=\"true\""),
        "the incident page too"
    );

    let html = reader.get("/watchlist").await.text().await.unwrap();
    assert!(
        html.contains("Starred on a page") && html.contains("no change since"),
        "{html}"
    );

    edit(&app, &app.analyst, &id, "Starred, then edited").await;
    edit(&app, &app.analyst, &id, "Starred, edited again").await;
    let html = reader.get("/watchlist").await.text().await.unwrap();
    assert!(
        html.contains("edited 2 times since you looked (by analyst@test.org)"),
        "{html}"
    );
    // Viewing marked it seen.
    let html = reader.get("/watchlist").await.text().await.unwrap();
    assert!(
        html.contains("no change since") && !html.contains("since you looked"),
        "{html}"
    );
    let (_, v) = app.get("/api/v1/watchlist", &app.reader).await;
    assert_eq!(v["items"][0]["changes_since_seen"], 0);

    // The analyst's page shows none of it.
    let analyst = sign_in(&app, "analyst@test.org").await;
    let html = analyst.get("/watchlist").await.text().await.unwrap();
    assert!(!html.contains("Starred, edited again"));

    let r = reader.post(&star, &[("watch", "0")], None).await;
    assert_eq!(r.status().as_u16(), 303);
    let html = reader.get("/watchlist").await.text().await.unwrap();
    assert!(html.contains("No incident on your watchlist"), "{html}");
}
