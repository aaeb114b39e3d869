//! The live stream (`GET /api/v1/stream`): events for every change with the bundle endpoint's
//! answer for it, resuming with `Last-Event-ID`, heartbeats, the API keys, the limits.

use std::time::Duration;

use disinfox_server::streams::StreamLimits;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{incident, spawn_app, spawn_with, TestApp};

/// Waits longer than any of these tests should take for one read: a hang fails the test
/// instead of blocking the suite (not a timing assertion).
const FAILSAFE: Duration = Duration::from_secs(60);

/// One block of the stream: an event, or a comment-only block (`comment`).
#[derive(Debug, Default)]
struct Block {
    id: Option<String>,
    event: Option<String>,
    data: String,
    comments: Vec<String>,
}

impl Block {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// A client of the stream reading it block by block.
struct Sse {
    r: reqwest::Response,
    buf: Vec<u8>,
}

impl Sse {
    async fn open(app: &TestApp, query: &str, key: &str, last_id: Option<&str>) -> Self {
        let r = open(app, query, key, last_id).await;
        assert_eq!(r.status().as_u16(), 200, "{query}");
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        Self { r, buf: Vec::new() }
    }

    /// The next block, or `None` when the stream ended.
    async fn next(&mut self) -> Option<Block> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let text = String::from_utf8(self.buf[..end].to_vec()).unwrap();
                self.buf.drain(..end + 2);
                let mut b = Block::default();
                for line in text.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        b.comments.push(c.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        b.id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        b.event = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        b.data.push_str(v);
                    } else {
                        assert!(line.starts_with("retry: "), "unknown line {line:?}");
                    }
                }
                return Some(b);
            }
            let chunk = tokio::time::timeout(FAILSAFE, self.r.chunk())
                .await
                .expect("the stream answered")
                .ok()??;
            self.buf.extend_from_slice(&chunk);
        }
    }

    /// The next block that is an event (heartbeats skipped).
    async fn event(&mut self) -> Option<Block> {
        loop {
            let b = self.next().await?;
            if b.event.is_some() {
                return Some(b);
            }
        }
    }
}

async fn open(app: &TestApp, query: &str, key: &str, last_id: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .get(app.url(&format!("/api/v1/stream{query}")))
        .bearer_auth(key);
    if let Some(id) = last_id {
        req = req.header("Last-Event-ID", id);
    }
    req.send().await.unwrap()
}

/// The incidents of an event's bundle: `(id, revoked, name)`.
fn incidents(event: &Value) -> Vec<(String, bool, String)> {
    event["bundle"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "incident")
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_owned(),
                o["revoked"] == true,
                o["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn create(app: &TestApp, name: &str) -> String {
    app.create(&incident(name)).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The next change event: its cursor, its incidents and its data.
async fn change(s: &mut Sse) -> (i64, Vec<(String, bool, String)>, Value) {
    let e = s.event().await.unwrap();
    assert_eq!(e.event.as_deref(), Some("change"));
    let data = e.json();
    let cursor: i64 = e.id.as_deref().unwrap().parse().unwrap();
    assert_eq!(data["cursor"], cursor.to_string(), "the id is the cursor");
    assert_eq!(data["incidents"], 1);
    assert!(data["high_water_mark"].as_str().unwrap().ends_with('Z'));
    (cursor, incidents(&data), data)
}

#[tokio::test]
async fn create_update_and_delete_each_send_an_event_with_the_bundle_endpoints_answer() {
    let app = spawn_app().await;
    create(&app, "Before the stream").await;
    let mut s = Sse::open(&app, "?flavor=opencti&heartbeat=60", &app.reader, None).await;
    let first = s.next().await.unwrap();
    assert!(first.event.is_none(), "a stream starts with its position");

    // Each change is read before the next is made: changes the stream has not sent yet
    // arrive as one event with the newest version, as on the bundle endpoint's pages.
    let mut seen = Vec::new();
    let id = create(&app, "Live one").await;
    seen.push(change(&mut s).await);
    let mut body = incident("Live one renamed");
    body["description"] = json!("changed");
    let (status, v) = app
        .send(
            Method::PUT,
            &format!("/api/v1/incidents/{id}"),
            &app.analyst,
            &body,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    seen.push(change(&mut s).await);
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/incidents/{id}")))
        .bearer_auth(&app.analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    seen.push(change(&mut s).await);
    assert!(
        seen[0].0 < seen[1].0 && seen[1].0 < seen[2].0,
        "in change order"
    );
    assert_eq!(seen[0].1, vec![(id.clone(), false, "Live one".into())]);
    assert_eq!(
        seen[1].1,
        vec![(id.clone(), false, "Live one renamed".into())]
    );
    assert_eq!(
        seen[2].1,
        vec![(id.clone(), true, "Live one renamed".into())]
    );

    // The last event is what the bundle endpoint answers for the same change.
    let r = app
        .client
        .get(app.url(&format!(
            "/api/v1/bundle?cursor={}&limit=1&flavor=opencti",
            seen[1].0
        )))
        .bearer_auth(&app.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["x-disinfox-next-cursor"],
        seen[2].0.to_string().as_str()
    );
    assert_eq!(
        r.headers()["x-disinfox-high-water-mark"],
        seen[2].2["high_water_mark"].as_str().unwrap()
    );
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["objects"], seen[2].2["bundle"]["objects"]);
    // The OpenCTI flavour was asked for: techniques carry OpenCTI's kill chain.
    assert!(seen[0].2["bundle"].to_string().contains("x_mitre_id"));
}

#[tokio::test]
async fn last_event_id_resumes_exactly_after_the_change_it_names() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(create(&app, &format!("Incident {i}")).await);
    }
    // Find the cursor of the second incident through the stream itself.
    let mut all = Sse::open(&app, "?cursor=0", &app.reader, None).await;
    let mut cursors = Vec::new();
    for want in &ids {
        let e = all.event().await.unwrap();
        assert_eq!(&incidents(&e.json())[0].0, want);
        cursors.push(e.id.unwrap());
    }
    drop(all);

    let mut s = Sse::open(&app, "", &app.reader, Some(&cursors[1])).await;
    for want in &ids[2..] {
        let e = s.event().await.unwrap();
        assert_eq!(&incidents(&e.json())[0].0, want, "no gap, no repeat");
    }
    // The query parameter does the same; the header wins over it.
    let mut q = Sse::open(
        &app,
        &format!("?cursor={}", cursors[0]),
        &app.reader,
        Some(&cursors[3]),
    )
    .await;
    let e = q.event().await.unwrap();
    assert_eq!(incidents(&e.json())[0].0, ids[4]);
    // Live changes follow the replay on both.
    let new = create(&app, "After").await;
    for stream in [&mut s, &mut q] {
        let e = stream.event().await.unwrap();
        assert_eq!(incidents(&e.json())[0].0, new);
    }
    // A cursor the server never gave is refused, in the API's error shape.
    for (query, header) in [("?cursor=999", None), ("", Some("abc")), ("", Some("-1"))] {
        let r = open(&app, query, &app.reader, header).await;
        assert_eq!(r.status().as_u16(), 400, "{query} {header:?}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().contains("cursor"),
            "{v}"
        );
    }
}

#[tokio::test]
async fn the_stream_takes_the_api_keys_and_a_revoked_key_ends_it() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/api/v1/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["status"], 401);
    for bad in ["dfx_not-a-key", "Basic !!!"] {
        let r = app
            .client
            .get(app.url("/api/v1/stream"))
            .header("Authorization", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{bad}");
    }
    // Read keys, write keys, the raw form of the existing connector: as the bundle endpoint.
    for key in [&app.reader, &app.analyst_read, &app.analyst, &app.admin] {
        assert_eq!(open(&app, "", key, None).await.status().as_u16(), 200);
    }
    let r = app
        .client
        .get(app.url("/api/v1/stream"))
        .header("Authorization", &app.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "the raw key form");
    // A key revoked while its stream is open ends the stream at the next heartbeat.
    let (status, created) = app
        .send(
            Method::POST,
            "/api/v1/keys",
            &app.analyst,
            &json!({"name": "stream", "scope": "read"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let mut s = Sse::open(&app, "?heartbeat=1", &key, None).await;
    let first_beat = loop {
        let b = s.next().await.unwrap();
        if b.comments.iter().any(|c| c == "heartbeat") {
            break b;
        }
    };
    assert!(first_beat.event.is_none());
    let id = created["info"]["id"].as_i64().unwrap();
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/keys/{id}")))
        .bearer_auth(&app.analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    create(&app, "Not for a revoked key").await;
    while let Some(b) = s.next().await {
        assert!(b.event.is_none(), "a revoked key gets no event: {b:?}");
    }
    assert_eq!(open(&app, "", &key, None).await.status().as_u16(), 401);
}

#[tokio::test]
async fn an_idle_stream_sends_heartbeats_at_the_asked_interval() {
    // The request time limit bounds the wait for the answer, not how long a stream lasts.
    let app = spawn_with(|s| s.request_timeout_secs = 1).await;
    let mut s = Sse::open(&app, "?heartbeat=1", &app.reader, None).await;
    let start = s.next().await.unwrap();
    assert!(
        start.comments[0].starts_with("live after change"),
        "{start:?}"
    );
    for _ in 0..3 {
        let b = s.next().await.unwrap();
        assert_eq!(b.comments, vec!["heartbeat".to_owned()], "{b:?}");
        assert!(b.event.is_none() && b.data.is_empty());
    }
    for bad in ["0", "61", "soon"] {
        let r = open(&app, &format!("?heartbeat={bad}"), &app.reader, None).await;
        assert_eq!(r.status().as_u16(), 400, "{bad}");
    }
    let r = open(&app, "?flavor=other", &app.reader, None).await;
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn streams_are_capped_per_key_and_in_all_and_slots_come_back() {
    let app = spawn_app().await;
    let hub = app.state.streams.clone();
    hub.set_limits(StreamLimits {
        per_key: 2,
        total: 3,
        ..StreamLimits::default()
    });
    let a = Sse::open(&app, "?heartbeat=1", &app.reader, None).await;
    let _b = Sse::open(&app, "?heartbeat=1", &app.reader, None).await;
    let r = open(&app, "", &app.reader, None).await;
    assert_eq!(r.status().as_u16(), 429, "a third stream of one key");
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["status"], 429);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this API key"),
        "{v}"
    );
    let _c = Sse::open(&app, "?heartbeat=1", &app.analyst_read, None).await;
    let r = open(&app, "", &app.admin, None).await;
    assert_eq!(r.status().as_u16(), 429, "over the server's total");
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the server"),
        "{v}"
    );
    assert_eq!(hub.open_streams(), 3);
    // A client that goes away gives its slot back.
    drop(a);
    let mut waited = 0;
    while hub.open_streams() > 2 {
        assert!(waited < 600, "the slot never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let _d = Sse::open(&app, "", &app.admin, None).await;
}

#[tokio::test]
async fn a_client_too_far_behind_is_sent_to_the_bundle_endpoint() {
    let app = spawn_app().await;
    app.state.streams.set_limits(StreamLimits {
        replay: 3,
        ..StreamLimits::default()
    });
    for i in 0..5 {
        create(&app, &format!("Backlog {i}")).await;
    }
    let mut s = Sse::open(&app, "?cursor=0", &app.reader, None).await;
    let e = s.event().await.unwrap();
    assert_eq!(e.event.as_deref(), Some("behind"));
    assert!(e.id.is_none(), "a behind event does not move the position");
    let v = e.json();
    assert_eq!(v["cursor"], "0");
    assert_eq!(v["newest"], "5");
    assert_eq!(v["catch_up"], "/api/v1/bundle?cursor=0");
    assert!(s.next().await.is_none(), "and the stream ends");
    // Within the replay, the stream serves it.
    let mut s = Sse::open(&app, "?cursor=2", &app.reader, None).await;
    for _ in 0..3 {
        assert_eq!(s.event().await.unwrap().event.as_deref(), Some("change"));
    }
    // An event over the size limit is handed over the same way.
    app.state.streams.set_limits(StreamLimits {
        max_event_bytes: 1000,
        ..StreamLimits::default()
    });
    let mut s = Sse::open(&app, "?cursor=4", &app.reader, None).await;
    let e = s.event().await.unwrap();
    assert_eq!(e.event.as_deref(), Some("behind"), "{e:?}");
    assert_eq!(e.json()["cursor"], "4");
    assert!(s.next().await.is_none());
}

#[tokio::test]
async fn stopping_the_server_ends_every_stream() {
    let app = spawn_app().await;
    let mut s = Sse::open(&app, "?heartbeat=60", &app.reader, None).await;
    s.next().await.unwrap();
    app.state.streams.close_all();
    assert!(s.next().await.is_none(), "the stream ended");
    assert_eq!(
        open(&app, "", &app.reader, None).await.status().as_u16(),
        503
    );
}

#[tokio::test]
async fn changes_written_by_another_process_are_seen_by_the_slow_poll() {
    let app = spawn_app().await;
    app.state.streams.set_limits(StreamLimits {
        poll: Duration::from_millis(200),
        ..StreamLimits::default()
    });
    let mut s = Sse::open(&app, "?heartbeat=60", &app.reader, None).await;
    s.next().await.unwrap();
    // Another store on the same database (as another server process or the CLI): its commits
    // are not announced to this server.
    let other = disinfox_server::db::Store::connect(&app.state.settings.database_url)
        .await
        .unwrap();
    let (input, created) = disinfox_server::demo::inputs(1, 5).remove(0);
    let incident = input
        .validate(
            stix_model::disarm::DisarmVersion::V1_7,
            disinfox_server::model::TechniquePolicy::Keep,
            &mut Vec::new(),
        )
        .unwrap();
    let id = stix_model::opencti::incident(&incident.input.name, &created.to_string()).unwrap();
    other
        .save_incident(&id, &incident, created, None, None)
        .await
        .unwrap();
    let e = s.event().await.unwrap();
    assert_eq!(incidents(&e.json())[0].0, id.to_string());
}
