//! `disinfox-server db copy --from sqlite://… --to postgres://…`: everything a SQLite server
//! holds moves to PostgreSQL with its ids and positions, so a reader of the bundle endpoint or
//! of TAXII continues from the cursor it had, with nothing sent twice and nothing missed; a
//! target that holds data is refused. Needs PostgreSQL (the PostgreSQL pass of scripts/test).

use std::collections::BTreeMap;

use disinfox_server::taxii::COLLECTION_ID;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{incident, postgres_only, spawn_on, Binary, TestApp, TestDb};

/// `db copy`, run by the binary: whether it succeeded, its standard output and error.
fn db_copy(from: &str, to: &str) -> (bool, String, String) {
    let out = Binary::command(from)
        .args(["db", "copy", "--from", from, "--to", to])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Pages the bundle endpoint from `cursor` to its end, `limit` incidents a page: each
/// incident's `(id, modified, revoked)` in order, and the cursor of the next call.
async fn bundle_from(app: &TestApp, key: &str, cursor: &str, limit: u32) -> (Vec<String>, String) {
    let mut cursor = cursor.to_owned();
    let mut seen = Vec::new();
    for _ in 0..1000 {
        let r = app
            .client
            .get(app.url(&format!("/api/v1/bundle?limit={limit}&cursor={cursor}")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let header = |n: &str| r.headers()[n].to_str().unwrap().to_owned();
        cursor = header("x-disinfox-next-cursor");
        let more = header("x-disinfox-more") == "true";
        let bundle: Value = r.json().await.unwrap();
        for o in bundle["objects"].as_array().unwrap() {
            if o["type"] == "incident" {
                seen.push(format!("{} {} {}", o["id"], o["modified"], o["revoked"]));
            }
        }
        if !more {
            return (seen, cursor);
        }
    }
    panic!("the bundle endpoint never ended");
}

/// Pages the TAXII collection from the `next` token `next` (from the start for `None`),
/// `limit` objects a page: each object's `id modified` in order.
async fn taxii_from(app: &TestApp, key: &str, next: Option<&str>, limit: u32) -> Vec<String> {
    let mut next = next.map(str::to_owned);
    let mut seen = Vec::new();
    for _ in 0..1000 {
        let mut path =
            format!("/taxii2/disinfox/collections/{COLLECTION_ID}/objects/?limit={limit}");
        if let Some(n) = &next {
            path.push_str(&format!("&next={n}"));
        }
        let r = app
            .client
            .get(app.url(&path))
            .header("Accept", "application/taxii+json;version=2.1")
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let page: Value = r.json().await.unwrap();
        for o in page["objects"].as_array().unwrap() {
            seen.push(format!("{} {}", o["id"], o["modified"]));
        }
        match page["next"].as_str() {
            Some(n) if page["more"] == true => next = Some(n.to_owned()),
            _ => return seen,
        }
    }
    panic!("the TAXII collection never ended");
}

/// What the API says of the data, for comparing two servers: incidents, users, keys (without
/// their last use, which reading changes), the import job, the reader's watchlist, counts.
async fn view(app: &TestApp, keys: &Keys, job: &str) -> BTreeMap<String, Value> {
    let mut v = BTreeMap::new();
    for (name, path, key) in [
        (
            "incidents",
            "/api/v1/incidents?per_page=100&sort=name&order=asc".to_owned(),
            &keys.reader,
        ),
        ("users", "/api/v1/users".to_owned(), &keys.admin),
        ("job", format!("/api/v1/jobs/{job}"), &keys.analyst),
        ("watchlist", "/api/v1/watchlist".to_owned(), &keys.reader),
        ("stats", "/api/v1/stats".to_owned(), &keys.reader),
        ("actors", "/api/v1/actors".to_owned(), &keys.reader),
        (
            "deleted",
            format!("/api/v1/incidents/{}", keys.deleted),
            &keys.reader,
        ),
    ] {
        let (status, body) = app.get(&path, key).await;
        assert_eq!(status, 200, "{path}: {body}");
        v.insert(name.to_owned(), body);
    }
    let (status, mut list) = app.get("/api/v1/keys", &keys.admin).await;
    assert_eq!(status, 200, "{list}");
    strip(&mut list, "last_used_at");
    // The keys of the source (the server on the copy makes more for its test accounts).
    list["items"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["id"].as_i64().unwrap() <= 4);
    v.insert("keys".to_owned(), list);
    v
}

/// Removes every member `name` of the objects in `v`.
fn strip(v: &mut Value, name: &str) {
    match v {
        Value::Object(m) => {
            m.remove(name);
            m.values_mut().for_each(|x| strip(x, name));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| strip(x, name)),
        _ => {}
    }
}

/// The source server's keys, which must keep working on the copy.
struct Keys {
    admin: String,
    analyst: String,
    reader: String,
    deleted: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_copy_moves_everything_and_readers_continue_where_they_were() {
    let Some(admin) =
        postgres_only("db_copy_moves_everything_and_readers_continue_where_they_were")
    else {
        return;
    };
    // A SQLite server with incidents (created, updated, deleted), users and keys, an import
    // job, a watchlist, a session and audit entries.
    let source = TestDb::sqlite("source.db");
    let from = source.url.clone();
    let old = spawn_on(source, |_| {}).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let v = old.create(&incident(&format!("Copied incident {i}"))).await;
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    let mut changed = incident("Copied incident 1");
    changed["description"] = json!("Updated before the copy");
    let (s, v) = old
        .send(
            Method::PUT,
            &format!("/api/v1/incidents/{}", ids[1]),
            &old.analyst,
            &changed,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = old
        .send(
            Method::DELETE,
            &format!("/api/v1/incidents/{}", ids[2]),
            &old.analyst,
            &Value::Null,
        )
        .await;
    assert_eq!(s, 204);
    let (s, job) = old
        .import_with(&old.analyst, crate::jobs::big_csv(10), "text/csv")
        .await;
    assert_eq!(s, 202, "{job}");
    assert_eq!(job["state"], "succeeded", "{job}");
    let job_id = job["id"].as_str().unwrap().to_owned();
    let (s, v) = old
        .send(
            Method::PUT,
            &format!("/api/v1/watchlist/{}", ids[0]),
            &old.reader,
            &json!({}),
        )
        .await;
    assert!(s == 200 || s == 201, "{s} {v}");
    crate::pages::sign_in(&old, "reader@test.org").await;
    let keys = Keys {
        admin: old.admin.clone(),
        analyst: old.analyst.clone(),
        reader: old.reader.clone(),
        deleted: ids[2].clone(),
    };

    // A reader part-way through the bundle endpoint and through TAXII.
    let (first, cursor) = bundle_from_first_page(&old, &keys.reader).await;
    let (rest_before, end_cursor) = bundle_from(&old, &keys.reader, &cursor, 4).await;
    assert!(!first.is_empty() && !rest_before.is_empty());
    let taxii_first = taxii_page(&old, &keys.reader).await;
    let taxii_rest_before = taxii_from(&old, &keys.reader, Some(&taxii_first), 5).await;
    let before = view(&old, &keys, &job_id).await;

    // The copy, with its counts.
    let target = TestDb::postgres(&admin).await;
    let (ok, out, err) = db_copy(&from, &target.url);
    assert!(ok, "db copy failed: {err}");
    let counts: BTreeMap<String, u64> = out
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_owned(), w.next()?.parse().ok()?))
        })
        .collect();
    assert_eq!(counts["users"], 3, "{out}");
    assert_eq!(counts["api_keys"], 4, "{out}");
    assert_eq!(counts["incidents"], 16, "{out}");
    assert_eq!(
        counts["changes"], 18,
        "6 + 10 created, 1 updated, 1 deleted: {out}"
    );
    assert_eq!(counts["import_jobs"], 1, "{out}");
    assert_eq!(counts["import_job_items"], 10, "{out}");
    assert_eq!(counts["watchlist"], 1, "{out}");
    assert_eq!(counts["sessions"], 1, "{out}");
    assert!(counts["audit_log"] > 0, "{out}");
    assert!(counts["collection_entries"] > 0, "{out}");
    assert_eq!(counts["incident_stix"], 32, "two flavours each: {out}");

    // A second copy into the same database is refused, naming what is there.
    let (ok, _, err) = db_copy(&from, &target.url);
    assert!(!ok);
    assert!(
        err.contains("is not empty") && err.contains("users: 3 rows"),
        "{err}"
    );

    // The server on PostgreSQL: the same data under the same ids, the old keys work, and
    // readers continue from their cursors with exactly what they had not seen.
    let new = spawn_on(target, |_| {}).await;
    let after = view(&new, &keys, &job_id).await;
    for (what, v) in &before {
        assert_eq!(&after[what], v, "{what} after the copy");
    }
    let (rest_after, cursor_after) = bundle_from(&new, &keys.reader, &cursor, 4).await;
    assert_eq!(
        rest_after, rest_before,
        "the bundle endpoint continues where it was"
    );
    assert_eq!(cursor_after, end_cursor);
    assert_eq!(
        taxii_from(&new, &keys.reader, Some(&taxii_first), 5).await,
        taxii_rest_before,
        "TAXII continues where it was"
    );
    // New writes take the next positions: the reader at the end sees exactly them.
    let v = new.create(&incident("Written on PostgreSQL")).await;
    let (after, _) = bundle_from(&new, &keys.reader, &end_cursor, 4).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].contains(v["id"].as_str().unwrap()), "{after:?}");
    // New keys (spawn_on made one per test account) take ids after the copied ones: the
    // administrator's keys are the copied 1 and the new 5.
    let (_, list) = new.get("/api/v1/keys", &keys.admin).await;
    let key_ids: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_i64().unwrap())
        .collect();
    assert_eq!(key_ids, [1, 5], "{list}");
}

/// The first page (3 incidents) of the bundle endpoint: what it held, and its next cursor.
async fn bundle_from_first_page(app: &TestApp, key: &str) -> (Vec<String>, String) {
    let r = app
        .client
        .get(app.url("/api/v1/bundle?limit=3"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-disinfox-more"], "true");
    let cursor = r.headers()["x-disinfox-next-cursor"]
        .to_str()
        .unwrap()
        .to_owned();
    let bundle: Value = r.json().await.unwrap();
    let ids = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "incident")
        .map(|o| o["id"].to_string())
        .collect();
    (ids, cursor)
}

/// The first page (7 objects) of the TAXII collection: its `next` token.
async fn taxii_page(app: &TestApp, key: &str) -> String {
    let r = app
        .client
        .get(app.url(&format!(
            "/taxii2/disinfox/collections/{COLLECTION_ID}/objects/?limit=7"
        )))
        .header("Accept", "application/taxii+json;version=2.1")
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["more"], true, "{page}");
    page["next"].as_str().unwrap().to_owned()
}
