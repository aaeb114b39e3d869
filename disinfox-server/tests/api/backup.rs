//! `disinfox-server backup FILE`: a consistent copy of a running server's database, from
//! which `serve` starts with its data and its change log.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use disinfox_server::db::Store;
use serde_json::{json, Value};

use crate::support::{incident, sqlite_only, Binary, TempDir};

/// Why these tests are SQLite's: `backup` is SQLite's online copy (`VACUUM INTO`); on
/// PostgreSQL the operator uses `pg_dump`, and `backup` says so (tests/api/cli.rs).
const BACKUP_IS_SQLITE: &str = "backup copies a SQLite file (VACUUM INTO)";

/// `(id, modified)` of every incident of a database, and its newest change.
async fn contents(db: &str) -> (BTreeMap<String, String>, i64) {
    let store = Store::connect(db).await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, modified FROM incidents")
        .fetch_all(store.sqlite_pool().expect("a SQLite store"))
        .await
        .unwrap();
    let last = store.last_change_seq().await.unwrap();
    // The copy is one snapshot: the incidents and the change log agree.
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(change_seq) FROM incidents")
        .fetch_one(store.sqlite_pool().expect("a SQLite store"))
        .await
        .unwrap();
    assert_eq!(newest.unwrap_or(0), last, "incidents and change log agree");
    let recorded: std::collections::BTreeSet<String> = store
        .collection_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(recorded, store.expected_collection_keys().await.unwrap());
    store.close().await;
    (rows.into_iter().collect(), last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_writers_run_restores_with_its_data_and_change_log() {
    if sqlite_only(
        "a_backup_taken_while_writers_run_restores_with_its_data_and_change_log",
        BACKUP_IS_SQLITE,
    ) {
        return;
    }
    let dir = TempDir::new();
    let db = format!("sqlite://{}", dir.0.join("live.db").display());
    let key = Binary::provision(&db, "analyst@test.org", "analyst").await;
    let server = Arc::new(Binary::start(&db).await);
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..2 {
        let (server, stop, written, key) =
            (server.clone(), stop.clone(), written.clone(), key.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = server
                    .client
                    .post(server.url("/api/v1/incidents"))
                    .bearer_auth(&key)
                    .json(&incident(&format!("Backup writer {w} incident {i}")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 201);
                written.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    while written.load(Ordering::Relaxed) < 30 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let copy_path = dir.0.join("copy.db");
    let out = Binary::command(&db)
        .arg("backup")
        .arg(&copy_path)
        .output()
        .unwrap();
    let during = written.load(Ordering::Relaxed);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("backed up"));
    // The writers go on a little after the copy, then stop.
    while written.load(Ordering::Relaxed) < during + 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let copy = format!("sqlite://{}", copy_path.display());
    let (live, live_last) = contents(&db).await;
    let (saved, saved_last) = contents(&copy).await;
    assert!(
        saved.len() >= 30 && saved.len() < live.len(),
        "a snapshot in between"
    );
    for (id, modified) in &saved {
        assert_eq!(live.get(id), Some(modified), "{id} as it was written");
    }
    assert!(saved_last < live_last);
    drop(server);

    // Restore: a server started on the copy has its data, and its change log goes on.
    let restored = Binary::start(&copy).await;
    let list = restored
        .get_json("/api/v1/incidents?per_page=1&q=backup", &key)
        .await;
    assert_eq!(list["total"], saved.len(), "the full-text index came along");
    let next = |cursor: i64| {
        let restored = &restored;
        let key = key.clone();
        async move {
            let r = restored
                .client
                .get(restored.url(&format!("/api/v1/bundle?cursor={cursor}")))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let body: Value = r.json().await.unwrap();
            (status, headers, body)
        }
    };
    let (status, h, _) = next(saved_last).await;
    assert_eq!(status, 200);
    assert_eq!(h["x-disinfox-incidents"], "0");
    assert_eq!(h["x-disinfox-next-cursor"], saved_last.to_string().as_str());
    // A cursor the live server gave after the copy is refused, not silently skipped.
    let (status, _, body) = next(live_last).await;
    assert_eq!(status, 400, "{body}");
    let r = restored
        .client
        .post(restored.url("/api/v1/incidents"))
        .bearer_auth(&key)
        .json(&json!({"name": "After the restore", "first_seen": "2024"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let (_, h, body) = next(saved_last).await;
    assert_eq!(h["x-disinfox-incidents"], "1");
    assert_eq!(
        h["x-disinfox-next-cursor"],
        (saved_last + 1).to_string().as_str(),
        "the change log continues from the copy"
    );
    assert!(body.to_string().contains("After the restore"));
}

#[tokio::test]
async fn a_backup_does_not_replace_a_file_unless_forced() {
    if sqlite_only(
        "a_backup_does_not_replace_a_file_unless_forced",
        BACKUP_IS_SQLITE,
    ) {
        return;
    }
    let dir = TempDir::new();
    let db = format!("sqlite://{}", dir.0.join("live.db").display());
    Binary::provision(&db, "analyst@test.org", "analyst").await;
    let target = dir.0.join("existing.db");
    std::fs::write(&target, b"precious").unwrap();
    let out = Binary::command(&db)
        .arg("backup")
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exists; pass --force to replace it"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    let out = Binary::command(&db)
        .arg("backup")
        .arg(&target)
        .arg("--force")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = format!("sqlite://{}", target.display());
    let store = Store::connect(&copy).await.unwrap();
    assert_eq!(store.user_count().await.unwrap(), 1);
    store.close().await;
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(left.is_empty());
    // A database that does not exist is not created by a backup.
    let missing = format!("sqlite://{}", dir.0.join("missing.db").display());
    let out = Binary::command(&missing)
        .arg("backup")
        .arg(dir.0.join("never.db"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!dir.0.join("missing.db").exists() && !dir.0.join("never.db").exists());
}
