//! Every answer carries a request id (the client's `x-request-id`, else a new UUID), and the
//! server writes one log line per request with its method, path, status and id.

use crate::support::{spawn_app, Binary, TestDb};

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = spawn_app().await;
    let mut seen = Vec::new();
    for path in ["/health", "/api/v1/incidents", "/login", "/nowhere"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{path}: {id:?}");
        assert!(!seen.contains(&id), "{path}: the id {id} was given before");
        seen.push(id);
    }
    let r = app
        .client
        .get(app.url("/api/v1/incidents"))
        .header("x-request-id", "from-the-client-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["x-request-id"], "from-the-client-1");
}

#[tokio::test]
async fn each_request_is_logged_with_its_id() {
    let test_db = TestDb::new("t.db").await;
    let (db, dir) = (test_db.url.clone(), &test_db.dir);
    let log = dir.0.join("stderr.log");
    let mut command = Binary::command(&db);
    command
        .env("DISINFOX_LOG_LEVEL", "info")
        .env("DISINFOX_LOG_FORMAT", "json")
        .stderr(std::fs::File::create(&log).unwrap());
    let mut server = Binary::serve(command).await;
    let r = server
        .client
        .get(server.url("/api/v1/incidents?q=secret-search"))
        .header("x-request-id", "log-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    server.kill9();
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["span"]["request_id"] == "log-me-42" && l["fields"]["status"] == 401)
        .unwrap_or_else(|| panic!("no log line of the request's answer in:\n{text}"));
    assert_eq!(line["span"]["method"], "GET", "{line}");
    assert_eq!(line["span"]["path"], "/api/v1/incidents", "{line}");
    assert_eq!(line["level"], "INFO", "{line}");
    assert!(
        !text.contains("secret-search"),
        "the query is not logged:\n{text}"
    );
}
