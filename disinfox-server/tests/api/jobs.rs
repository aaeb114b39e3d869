//! Imports are jobs: 202 with the job's URL, progress, the report, ownership, bounds, and a
//! report that stays exact when the server is killed in the middle of a job.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{raw, spawn_app, spawn_with, Binary, TestDb};

/// A DISINFOX CSV file of `n` incidents; every 50th row has a broken year (rejected).
pub fn big_csv(n: usize) -> String {
    let mut s = String::from(
        "Year,Target Country,Event,Threat Actor,Event description,T0002_Facilitate State Propaganda\n",
    );
    for i in 0..n {
        let year = if i % 50 == 49 { "20x3" } else { "2023" };
        s.push_str(&format!(
            "{year},Poland,Job event {i},Russia,Description of event {i},1\n"
        ));
    }
    s
}

#[tokio::test]
async fn an_import_is_a_job_with_a_url_progress_and_a_report_for_its_owner() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/api/v1/import"))
        .bearer_auth(&app.analyst)
        .header("content-type", "text/csv")
        .body(big_csv(120))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let accepted: Value = r.json().await.unwrap();
    assert!(location.starts_with("/api/v1/jobs/"), "{location}");
    assert_eq!(accepted["url"], location.as_str());
    assert!(
        ["queued", "running", "succeeded"].contains(&accepted["state"].as_str().unwrap()),
        "{accepted}"
    );
    assert!(accepted["progress"]["done"].is_number(), "{accepted}");
    let job = app.wait_job(&app.analyst, &location).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["progress"]["done"], 120);
    assert_eq!(job["progress"]["total"], 120);
    assert_eq!(job["counts"]["created"], 118);
    assert_eq!(job["counts"]["rejected"], 2);
    let report = &job["report"];
    assert_eq!(report["created"].as_array().unwrap().len(), 118);
    assert_eq!(report["rejected"][0]["ref"], "row 51", "{report}");
    assert!(report["rejected"][0]["errors"][0]
        .as_str()
        .unwrap()
        .contains("is not a year"));
    assert!(job["finished_at"].is_string() && job["error"].is_null());

    // The audit log holds the job's start and end, by the analyst who uploaded it (the end
    // is written just after the job is marked finished: wait for it, within reason).
    let mut audit: Vec<(String, String, String)> = Vec::new();
    for _ in 0..100 {
        let (entries, _) = app
            .state
            .store
            .audit_entries(&Default::default(), 0, 1000)
            .await
            .unwrap();
        audit = entries
            .into_iter()
            .rev()
            .filter(|e| e.kind.starts_with("import-"))
            .map(|e| (e.kind, e.actor, e.detail))
            .collect();
        if audit.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(audit[0].0, "import-started");
    assert_eq!(audit[1].0, "import-finished");
    assert!(
        audit
            .iter()
            .all(|(_, actor, _)| actor.starts_with("analyst@")),
        "{audit:?}"
    );
    assert!(
        audit[1].2.contains("118 created") && audit[1].2.contains("2 rejected"),
        "{audit:?}"
    );

    // The owner reads it with any of their keys, an administrator too; nobody else.
    for (key, status) in [
        (&app.analyst_read, 200),
        (&app.admin, 200),
        (&app.reader, 404),
    ] {
        let (s, v) = app.get(&location, key).await;
        assert_eq!(s, status, "{v}");
    }
    let (s, v) = app.get("/api/v1/jobs/not-a-job", &app.analyst).await;
    assert_eq!(s, 404, "{v}");

    // Importing the same file again: every incident unchanged.
    let (_, again) = app
        .import_with(&app.analyst, big_csv(120), "text/csv")
        .await;
    assert_eq!(again["counts"]["unchanged"], 118, "{again}");
    assert_eq!(again["counts"]["created"], 0);
}

#[tokio::test]
async fn jobs_are_limited_per_user_and_per_server() {
    let app = spawn_with(|s| {
        s.import_jobs_per_user = 1;
        s.import_jobs_max = 2;
    })
    .await;
    let analyst = app.user("analyst@test.org").await;
    let reader = app.user("reader@test.org").await;
    let running = |user: i64, id: &'static str| {
        let sql = format!(
            "INSERT INTO import_jobs (id, user_id, file_name, format, size, state, created_at)
             VALUES ('{id}', {user}, 'x.csv', 'csv', 1, 'running', '2024-01-01T00:00:00Z')"
        );
        let store = app.state.store.clone();
        async move { raw::execute(&store, &sql).await }
    };
    running(analyst.id, "job-1").await;
    let r = app
        .client
        .post(app.url("/api/v1/import"))
        .bearer_auth(&app.analyst)
        .header("content-type", "text/csv")
        .body(big_csv(1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("you have 1 import jobs under way"),
        "{v}"
    );
    // Another user may still start one, until the server is full.
    let (s, job) = app.import_with(&app.admin, big_csv(1), "text/csv").await;
    assert_eq!(s, 202, "{job}");
    running(reader.id, "job-2").await;
    let (s, v) = app.import_with(&app.admin, big_csv(1), "text/csv").await;
    assert_eq!(s, 429, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the server is running 2 import jobs"),
        "{v}"
    );
}

/// A declared body over the limit is refused before the server reads any of it: the answer
/// comes while the client has sent only the request head.
#[tokio::test]
async fn an_upload_over_the_limit_is_refused_before_it_is_read() {
    let app = spawn_with(|s| s.body_limit_bytes = 4096).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/import HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/csv\r\nContent-Length: 100000000\r\n\r\n",
        app.analyst
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut answer))
        .await
        .expect("an answer without the body")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("request body too large"), "{text}");
}

/// A restart marks a job a stopped server left unfinished as failed; its report stays.
#[tokio::test]
async fn a_restart_fails_the_jobs_left_unfinished() {
    let app = spawn_app().await;
    let analyst = app.user("analyst@test.org").await;
    raw::execute(
        &app.state.store,
        &format!("INSERT INTO import_jobs (id, user_id, file_name, format, size, state, total, done, created, created_at)
         VALUES ('left-running', {}, 'x.csv', 'csv', 1, 'running', 10, 3, 3, '2024-01-01T00:00:00Z')", analyst.id),
    )
    .await;
    let settings = (*app.state.settings).clone();
    disinfox_server::startup::Application::build(settings)
        .await
        .unwrap();
    let (_, job) = app.get("/api/v1/jobs/left-running", &app.analyst).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("interrupted: the server stopped after 3 of 10 incidents"),
        "{job}"
    );
}

/// Kill -9 in the middle of a big import: after a restart the job is failed, and its report
/// and progress are exactly what the database holds: every incident it reports created is
/// there with its change, and no other incident is. Importing the file again finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_mid_way_reports_exactly_what_was_applied() {
    let test_db = TestDb::new("crash.db").await;
    let db = test_db.url.clone();
    let key = Binary::provision(&db, "analyst@test.org", "analyst").await;
    let n = 4000;
    let csv = big_csv(n);
    let mut server = Binary::start(&db).await;
    let r = server
        .client
        .post(server.url("/api/v1/import"))
        .bearer_auth(&key)
        .header("content-type", "text/csv")
        .body(csv.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let url = r.headers()["location"].to_str().unwrap().to_owned();
    // Wait until the job is well under way, then kill the process outright.
    let mut seen = 0;
    for _ in 0..6000 {
        let job: Value = server.get_json(&url, &key).await;
        seen = job["progress"]["done"].as_i64().unwrap();
        if seen >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen >= 100, "the job started");
    server.kill9();

    let server = Binary::start(&db).await;
    // On PostgreSQL a starting process fails only the jobs of processes silent for the lease
    // (another replica may still be running them): the killed process's job fails once its
    // lease has run out, found by the new process's upkeep. On SQLite, at start.
    let give_up = std::time::Instant::now()
        + disinfox_server::jobs::LEASE
        + 3 * disinfox_server::jobs::HEARTBEAT;
    let job: Value = loop {
        let job: Value = server.get_json(&url, &key).await;
        if job["state"] != "running" || std::time::Instant::now() > give_up {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(job["state"], "failed", "{job}");
    let done = job["progress"]["done"].as_i64().unwrap();
    assert!(
        done >= seen && done < n as i64,
        "killed mid-way: {done} of {n}"
    );
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains(&format!("after {done} of {n} incidents")),
        "{job}"
    );
    let report = &job["report"];
    let created: BTreeSet<String> = report["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let rejected = report["rejected"].as_array().unwrap().len() as i64;
    assert_eq!(created.len() as i64 + rejected, done, "{job}");
    assert_eq!(job["counts"]["created"], created.len());
    assert_eq!(job["counts"]["rejected"], rejected);
    assert_eq!(rejected, done / 50, "every 50th row is rejected");
    // The database holds exactly the reported incidents, each with its change.
    let store = disinfox_server::db::Store::connect(&db).await.unwrap();
    let stored: BTreeSet<String> = raw::strings(&store, "SELECT id FROM incidents")
        .await
        .into_iter()
        .collect();
    assert_eq!(stored, created, "the report is the database");
    let items = store
        .job_items(url.rsplit('/').next().unwrap())
        .await
        .unwrap();
    for item in items.iter().filter(|i| i.outcome == "created") {
        let change = raw::strings(
            &store,
            &format!(
                "SELECT incident_id || ' ' || action FROM changes WHERE seq = {}",
                item.change_seq.unwrap()
            ),
        )
        .await;
        assert_eq!(
            change,
            [format!("{} create", item.incident_id.as_deref().unwrap())]
        );
    }
    let changes = raw::int(&store, "SELECT COUNT(*) FROM changes").await;
    assert_eq!(
        changes as usize,
        created.len(),
        "no change outside the report"
    );
    store.close().await;

    // The same file again finishes the work: what was applied comes back unchanged.
    let r = server
        .client
        .post(server.url("/api/v1/import"))
        .bearer_auth(&key)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let url = r.headers()["location"].to_str().unwrap().to_owned();
    let again = loop {
        let job: Value = server.get_json(&url, &key).await;
        if job["state"] == "succeeded" {
            break job;
        }
        assert_ne!(job["state"], "failed", "{job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(again["counts"]["unchanged"], created.len());
    assert_eq!(
        again["counts"]["created"].as_i64().unwrap() + created.len() as i64,
        (n - n / 50) as i64
    );
}

/// The job's page: a progress bar that moves without script (the page reloads itself) while
/// the job runs; for its owner and administrators only.
#[tokio::test]
async fn the_page_of_a_running_job_shows_progress_and_reloads_itself() {
    let app = spawn_app().await;
    let analyst = app.user("analyst@test.org").await;
    raw::execute(
        &app.state.store,
        &format!("INSERT INTO import_jobs (id, user_id, file_name, format, size, state, total, done, created, created_at)
         VALUES ('under-way', {}, 'big.csv', 'csv', 1, 'running', 10, 3, 3, '2024-01-01T00:00:00Z')", analyst.id),
    )
    .await;
    let s = crate::pages::sign_in(&app, "analyst@test.org").await;
    let r = s.get("/import/jobs/under-way").await;
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<meta http-equiv=\"refresh\" content=\"1\">"),
        "{html}"
    );
    assert!(
        html.contains("<progress class=\"job-progress\" max=\"10\" value=\"3\">"),
        "{html}"
    );
    assert!(
        html.contains("<span class=\"job-done\">3</span> of <span class=\"job-total\">10</span>"),
        "{html}"
    );
    let admin = crate::pages::sign_in(&app, "admin@test.org").await;
    assert_eq!(
        admin.get("/import/jobs/under-way").await.status().as_u16(),
        200
    );
    let reader = crate::pages::sign_in(&app, "reader@test.org").await;
    assert_eq!(
        reader.get("/import/jobs/under-way").await.status().as_u16(),
        403
    );
    let r = s.get("/import/jobs/nothing-here").await;
    assert_eq!(r.status().as_u16(), 404);
    assert!(crate::pages::is_html(&r));
    // Over: the report, and no more reloading.
    raw::execute(
        &app.state.store,
        "UPDATE import_jobs SET state = 'succeeded', done = 10 WHERE id = 'under-way'",
    )
    .await;
    let html = s.get("/import/jobs/under-way").await.text().await.unwrap();
    assert!(!html.contains("http-equiv=\"refresh\""), "{html}");
    assert!(html.contains("Report of big.csv"), "{html}");
}
