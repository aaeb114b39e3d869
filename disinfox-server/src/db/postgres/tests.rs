//! The PostgreSQL backend against a real PostgreSQL: set `DISINFOX_TEST_POSTGRES_URL` to an
//! administrator's URL (one that may create databases); each test creates a database of its
//! own and drops it. Without the setting, each test says it runs on PostgreSQL only (and
//! checks nothing); `scripts/test` runs them in its PostgreSQL pass.

use std::collections::BTreeSet;
use std::time::Duration;

use stix_model::disarm::DisarmVersion;
use stix_model::incident::BuildOptions;
use stix_model::{Identifier, Timestamp};

use crate::db::jobs::{Busy, Change, Outcome, Planned};
use crate::db::stix::{Flavor, RowObjects, StixRules};
use crate::db::{Facet, IncidentFilter, Prepared, Role, Sort, Store};
use crate::model::{Incident, IncidentInput, TechniquePolicy};

/// The setting naming the administrator's URL of a PostgreSQL server for tests.
pub(crate) const URL_SETTING: &str = "DISINFOX_TEST_POSTGRES_URL";

/// A database created for one test, dropped when this goes.
pub(crate) struct TestDatabase {
    admin: String,
    name: String,
    /// The database's URL.
    pub url: String,
}

/// Runs `test` on a store on a new SQLite file (given with the file's path), then closes the
/// store and removes its files.
pub(crate) async fn on_sqlite(test: impl AsyncFnOnce(&Store, &std::path::Path)) {
    let path = std::env::temp_dir().join(format!("disinfox-test-{}.db", uuid::Uuid::new_v4()));
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    test(&store, &path).await;
    store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Runs `test` on a store on a new PostgreSQL database named after `name` (POSTGRES-ONLY
/// without one, see [`TestDatabase::create`]).
pub(crate) async fn on_postgres(name: &str, test: impl AsyncFnOnce(&Store)) {
    let Some(db) = TestDatabase::create(name).await else {
        return;
    };
    let store = Store::connect(&db.url).await.expect("connect");
    test(&store).await;
    store.close().await;
}

impl TestDatabase {
    /// A fresh empty database, or `None` (with a POSTGRES-ONLY line) without the setting.
    pub(crate) async fn create(test: &str) -> Option<Self> {
        let Some(admin) = std::env::var(URL_SETTING).ok().filter(|u| !u.is_empty()) else {
            // Past libtest's capture, as the suites' notes (tests/api/support.rs): scripts/test
            // lists it, and runs these tests in its PostgreSQL pass.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "POSTGRES-ONLY {test}: needs {URL_SETTING}; run by the PostgreSQL pass"
            );
            return None;
        };
        // The prefix of the test harness's databases (tests/api/support.rs).
        let name = format!("dxt_{}", uuid::Uuid::new_v4().simple());
        let (base, query) = match admin.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin.as_str(), String::new()),
        };
        let host_end = base.find("://").map_or(0, |i| i + 3);
        let base = match base[host_end..].find('/') {
            Some(i) => &base[..host_end + i],
            None => base,
        };
        let url = format!("{base}/{name}{query}");
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("{URL_SETTING}: connecting: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("creating the test database");
        Some(Self { admin, name, url })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside the test's runtime: drop the database from a thread of its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .ok()
            })
        })
        .join();
        if !matches!(done, Ok(Some(_))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

pub(crate) fn incident(
    name: &str,
    description: &str,
    techniques: &[&str],
    actors: &[&str],
) -> Incident {
    IncidentInput {
        name: name.into(),
        description: description.into(),
        first_seen: Some("2024-03-01".into()),
        techniques: techniques.iter().map(|t| (*t).to_owned()).collect(),
        actors: actors.iter().map(|a| (*a).to_owned()).collect(),
        target_countries: vec!["PL".into()],
        channels: vec!["Telegram".into()],
        ..IncidentInput::default()
    }
    .validate(
        DisarmVersion::V1_7,
        TechniquePolicy::Strict,
        &mut Vec::new(),
    )
    .expect("a valid incident")
}

pub(crate) fn new_id() -> Identifier {
    Identifier::parse(format!("incident--{}", uuid::Uuid::new_v4())).expect("an incident id")
}

pub(crate) fn rules(author: &str) -> StixRules {
    StixRules::new(BuildOptions::with_author(author).expect("author")).expect("rules")
}

pub(crate) fn planned(change: Change) -> Planned {
    Planned {
        r#ref: "test".into(),
        name: None,
        change,
        warnings: Vec::new(),
    }
}

pub(crate) fn save(id: &Identifier, incident: Incident) -> Change {
    Change::Save {
        id: id.clone(),
        by_name: false,
        incident: Box::new(incident),
        created: Timestamp::now(),
        modified: None,
    }
}

fn q(text: &str) -> IncidentFilter {
    IncidentFilter {
        q: Some(text.into()),
        ..IncidentFilter::default()
    }
}

#[tokio::test]
async fn store_round_trip_on_postgres() {
    let Some(db) = TestDatabase::create("store_round_trip_on_postgres").await else {
        return;
    };
    let store = Store::connect(&db.url).await.expect("connect");
    assert!(store.is_postgres());
    assert_eq!(store.use_stix_rules(rules("Test org")).await.unwrap(), 0);

    // Users and keys: e-mails are unique in any case; a capped key is refused past the cap.
    let ana = store
        .create_user("Ana@Example.org", "hash", Role::Analyst)
        .await
        .unwrap()
        .expect("created");
    assert!(store
        .create_user("ana@EXAMPLE.org", "x", Role::Reader)
        .await
        .unwrap()
        .is_none());
    let (found, hash) = store
        .user_by_email("ANA@example.ORG")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, hash.as_str()), (ana.id, "hash"));
    let pending = store
        .create_user_pending("p@example.org", "h", Role::Reader, true)
        .await
        .unwrap()
        .unwrap();
    assert!(store.user(pending.id).await.unwrap().unwrap().pending);
    assert!(store.approve_user(pending.id).await.unwrap());
    assert!(!store.approve_user(pending.id).await.unwrap());
    assert!(store
        .create_api_key_capped(ana.id, "k", "dx_1", b"key-1", "write", Some(1))
        .await
        .unwrap()
        .is_some());
    assert!(store
        .create_api_key_capped(ana.id, "k", "dx_2", b"key-2", "write", Some(1))
        .await
        .unwrap()
        .is_none());
    let (key, owner) = store.api_key_by_hash(b"key-1").await.unwrap().unwrap();
    assert_eq!(owner.id, ana.id);
    assert_eq!(
        store.api_key_status(b"key-1").await.unwrap(),
        Some((key.id, false))
    );
    assert!(store.revoke_api_key(key.id, Some(ana.id)).await.unwrap());
    assert_eq!(
        store.api_key_status(b"key-1").await.unwrap(),
        Some((key.id, true))
    );
    store
        .create_session(
            b"s1",
            ana.id,
            "csrf",
            chrono::Utc::now() + chrono::TimeDelta::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(store.session(b"s1").await.unwrap().unwrap().1, "csrf");
    store.delete_user_sessions(ana.id, None).await.unwrap();
    assert!(store.session(b"s1").await.unwrap().is_none());
    store
        .insert_audit("sign-in", Some(ana.id), "ana@example.org", "::1", "", "")
        .await
        .unwrap();
    let filter = crate::db::audit::AuditFilter {
        actor: Some("ANA@".into()),
        ..Default::default()
    };
    let (entries, total) = store.audit_entries(&filter, 0, 10).await.unwrap();
    assert_eq!((entries.len(), total), (1, 1));

    // Incidents, search (prefixes, any case, without diacritics), facets and revocation.
    let (a, b, c) = (new_id(), new_id(), new_id());
    let first = store
        .save_incident(
            &a,
            &incident(
                "Vaccine lies in Poland",
                "A deepfake café clip",
                &["T0002"],
                &["Storm-1516"],
            ),
            Timestamp::now(),
            None,
            Some(ana.id),
        )
        .await
        .unwrap();
    assert_eq!(first.change_seq, 1);
    store
        .save_incident(
            &b,
            &incident("Howitzers", "Fake shipments", &[], &["STORM-1516"]),
            Timestamp::now(),
            None,
            Some(ana.id),
        )
        .await
        .unwrap();
    store
        .save_incident(
            &c,
            &incident("Election rumours", "", &["T0002"], &["Other"]),
            Timestamp::now(),
            None,
            None,
        )
        .await
        .unwrap();
    let list = |f: IncidentFilter| {
        let store = store.clone();
        async move {
            let (items, total) = store
                .list_incidents(&f, Sort::Name, false, 0, 10)
                .await
                .unwrap();
            assert_eq!(items.len() as i64, total);
            items
                .into_iter()
                .map(|s| s.id.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(q("VACC pol")).await, [a.to_string()]);
    assert_eq!(list(q("cafe")).await, [a.to_string()]);
    assert_eq!(list(q("\"') OR *")).await, Vec::<String>::new());
    assert_eq!(
        list(IncidentFilter::default()).await,
        [c.to_string(), b.to_string(), a.to_string()]
    );
    let by_actor = IncidentFilter {
        actor: Some("storm-1516".into()),
        ..IncidentFilter::default()
    };
    assert_eq!(list(by_actor).await.len(), 2, "actors match in any case");
    let actors = store.facet_counts(Facet::Actor, 10).await.unwrap();
    assert_eq!(actors[0].count, 2, "{actors:?}");
    assert_eq!(actors.len(), 2, "one actor in any case: {actors:?}");
    let (techniques, matching) = store
        .technique_counts(&IncidentFilter::default())
        .await
        .unwrap();
    assert_eq!((techniques["T0002"], matching), (2, 3));
    let shared = store.shared_facets(a.as_str(), 10).await.unwrap();
    assert!(shared
        .iter()
        .any(|(o, k, _)| o == c.as_str() && *k == "technique"));
    assert!(
        store
            .revoke_incident(b.as_str(), Some(ana.id))
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert!(store
        .revoke_incident(b.as_str(), None)
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.incident_counts().await.unwrap(), (2, 1));
    assert_eq!(store.timeline().await.unwrap()[0].count, 2);

    // The change log: positions 1..4 in order, times strictly increasing.
    let changes = store.changes_after(0, 10).await.unwrap();
    let seqs: Vec<i64> = changes.iter().map(|s| s.change_seq).collect();
    assert_eq!(seqs, [1, 3, 4]);
    assert_eq!(store.last_change_seq().await.unwrap(), 4);
    let t3 = store.change_time(3).await.unwrap().unwrap();
    assert!(t3 < store.change_time(4).await.unwrap().unwrap());
    assert_eq!(store.seq_at(&t3).await.unwrap(), 3);
    // A poll by time: the position and the incidents changed after it, in one query.
    let seqs_at = async |at: &str| {
        let (after, rows) = store
            .changes_at_stix(at, 10, Flavor::Standard, false)
            .await
            .unwrap();
        (after, rows.iter().map(|r| r.change_seq).collect::<Vec<_>>())
    };
    assert_eq!(seqs_at(&t3).await, (3, vec![4]));
    assert_eq!(
        seqs_at("2000-01-01T00:00:00.000000Z").await,
        (0, vec![1, 3, 4])
    );
    let t4 = store.change_time(4).await.unwrap().unwrap();
    assert_eq!(seqs_at(&t4).await, (4, vec![]));

    // The collection agrees with the incidents; stored objects answer the change log.
    let entries: BTreeSet<String> = store
        .collection_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(entries, store.expected_collection_keys().await.unwrap());
    assert!(entries.contains("actor:storm-1516"), "{entries:?}");
    let index = store.object_index().await.unwrap();
    assert!(index
        .iter()
        .any(|(_, i, _)| i.as_deref() == Some(a.as_str())));
    assert!(!index
        .iter()
        .any(|(_, i, _)| i.as_deref() == Some(b.as_str())));
    let homes = store
        .object_homes(&index.iter().map(|r| r.0.clone()).collect())
        .await
        .unwrap();
    assert_eq!(homes.len(), index.len());
    let (window, shared_entries, upto) = store.collection_window(0, 10, true).await.unwrap();
    assert_eq!((window.len(), upto), (3, i64::MAX));
    assert_eq!(shared_entries.len(), entries.len());
    let rows = store
        .changes_after_stix(0, 10, Some(Flavor::Standard), true)
        .await
        .unwrap();
    assert!(rows
        .iter()
        .all(|r| matches!(r.objects, RowObjects::Stored(_))));

    // Other rules: every incident's objects are built again, once.
    let before = store.stored_stix_version().await.unwrap();
    assert_eq!(store.use_stix_rules(rules("Another org")).await.unwrap(), 3);
    assert_ne!(store.stored_stix_version().await.unwrap(), before);
    assert_eq!(store.use_stix_rules(rules("Another org")).await.unwrap(), 0);

    // Jobs: capped per user; a batch whose second item cannot be stored (PostgreSQL refuses
    // NUL in text) reports it rejected and keeps the others, without a gap in the log.
    let job = store
        .create_job(Some(ana.id), "f.json", "stix", 10, 1, 5)
        .await
        .unwrap()
        .expect("accepted");
    assert_eq!(
        store
            .create_job(Some(ana.id), "g.json", "stix", 10, 1, 5)
            .await
            .unwrap()
            .err(),
        Some(Busy::User(1))
    );
    store.start_job(&job.id, 4, &[]).await.unwrap();
    let (d, bad) = (new_id(), new_id());
    let broken = Incident::from_stored(IncidentInput {
        name: "broken\0name".into(),
        ..IncidentInput::default()
    });
    let items = [
        planned(save(&d, incident("Imported", "", &[], &[]))),
        planned(save(&bad, broken)),
        planned(Change::Revoke(a.clone())),
        planned(Change::Reject(vec!["no".into()])),
    ];
    let batch: Vec<(i64, &Planned)> = items
        .iter()
        .enumerate()
        .map(|(n, p)| (n as i64 + 1, p))
        .collect();
    let outcomes = store
        .import_items(Some(&job.id), &batch, Some(ana.id), Prepared::default())
        .await
        .unwrap();
    assert_eq!(outcomes[0], Outcome::Created(d.to_string(), 5));
    assert!(
        matches!(&outcomes[1], Outcome::Rejected(e) if e[0].starts_with("could not be stored"))
    );
    assert_eq!(outcomes[2], Outcome::Updated(a.to_string(), 6));
    assert!(store.incident(bad.as_str()).await.unwrap().is_none());
    store.finish_job(&job.id, None).await.unwrap();
    let job = store.job(&job.id).await.unwrap().unwrap();
    assert_eq!(
        (job.done, job.created, job.updated, job.rejected),
        (4, 1, 1, 2)
    );
    assert_eq!(store.job_items(&job.id).await.unwrap().len(), 4);
    assert!(store.fail_interrupted_jobs().await.unwrap().is_empty());

    // Watchlists and "my work".
    use crate::db::Watch;
    assert_eq!(
        store.watch(ana.id, c.as_str(), 1).await.unwrap(),
        Watch::Added
    );
    assert_eq!(
        store.watch(ana.id, c.as_str(), 1).await.unwrap(),
        Watch::Already
    );
    assert_eq!(
        store.watch(ana.id, d.as_str(), 1).await.unwrap(),
        Watch::Full
    );
    assert_eq!(
        store.watch(ana.id, "incident--nope", 5).await.unwrap(),
        Watch::NoIncident
    );
    store
        .save_incident(
            &c,
            &incident("Election rumours", "v2", &[], &[]),
            Timestamp::now(),
            None,
            Some(ana.id),
        )
        .await
        .unwrap();
    let (watched, n) = store.watchlist(ana.id, 0, 10).await.unwrap();
    assert_eq!((n, watched[0].changes_since), (1, 1));
    assert_eq!(watched[0].changed_by, ["Ana@Example.org"]);
    store.mark_seen(ana.id, &[c.to_string()]).await.unwrap();
    assert_eq!(
        store.watchlist(ana.id, 0, 10).await.unwrap().0[0].changes_since,
        0
    );
    let (work, n) = store.my_work(ana.id, 0, 10).await.unwrap();
    assert_eq!(n, 4, "a, b and d created, c edited");
    assert_eq!(work[0].incident_id, c.to_string());
    assert!(!work[0].created && work[0].edits == 1);
    store.close().await;
}

/// Writers on separate pools (as separate server processes would be) write at once while a
/// reader pages the change log by position: every change is read exactly once, and each page
/// continues exactly where the last one ended (no position is ever skipped and filled later).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_make_a_reader_skip_a_change() {
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let Some(db) =
        TestDatabase::create("concurrent_writers_never_make_a_reader_skip_a_change").await
    else {
        return;
    };
    let reader = Store::connect(&db.url).await.expect("connect");
    reader.use_stix_rules(rules("Test org")).await.unwrap();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = Store::connect(&db.url).await.expect("connect");
        store.use_stix_rules(rules("Test org")).await.unwrap();
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..EACH {
                let id = new_id();
                let i = incident(
                    &format!("w{w} n{n}"),
                    "",
                    &["T0002"],
                    &[&format!("actor {n}")],
                );
                store
                    .save_incident(&id, &i, Timestamp::now(), None, None)
                    .await
                    .unwrap();
                ids.push(id.to_string());
            }
            store.close().await;
            ids
        }));
    }
    let read = |flavor: Option<Flavor>| {
        let reader = reader.clone();
        async move {
            let mut seen = BTreeSet::new();
            let mut cursor = 0;
            let mut idle = 0;
            while seen.len() < WRITERS * EACH && idle < 2000 {
                let page = reader
                    .changes_after_stix(cursor, 7, flavor, true)
                    .await
                    .unwrap();
                if page.is_empty() {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                for row in page {
                    assert_eq!(row.change_seq, cursor + 1, "a position was skipped");
                    assert!(seen.insert(row.id.clone()), "{} read twice", row.id);
                    cursor = row.change_seq;
                }
            }
            seen
        }
    };
    let (stored, built) = tokio::join!(read(Some(Flavor::Standard)), read(None));
    let mut written = BTreeSet::new();
    for w in writers {
        written.extend(w.await.unwrap());
    }
    assert_eq!(written.len(), WRITERS * EACH);
    assert_eq!(stored, written);
    assert_eq!(built, written);
    let all = reader.changes_after(0, 1000).await.unwrap();
    assert!(
        all.windows(2).all(|w| w[0].changed_at < w[1].changed_at),
        "change times follow positions"
    );
    let entries: BTreeSet<String> = reader
        .collection_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(entries, reader.expected_collection_keys().await.unwrap());
    reader.close().await;
}

/// A write through one store wakes the live stream of another store on the same database (as
/// another server process would be).
#[tokio::test]
async fn a_change_committed_elsewhere_wakes_the_live_stream() {
    let Some(db) = TestDatabase::create("a_change_committed_elsewhere_wakes_the_live_stream").await
    else {
        return;
    };
    let one = Store::connect(&db.url).await.expect("connect");
    let other = Store::connect(&db.url).await.expect("connect");
    let mut rx = other.watch_changes();
    rx.borrow_and_update();
    let id = new_id();
    one.save_incident(
        &id,
        &incident("Heard elsewhere", "", &[], &[]),
        Timestamp::now(),
        None,
        None,
    )
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(10), rx.changed())
        .await
        .expect("woken within 10 s")
        .unwrap();
    assert_eq!(other.changes_after(0, 10).await.unwrap()[0].id, id);
    // A transaction that rolls back announces nothing.
    let mut quiet = other.watch_changes();
    quiet.borrow_and_update();
    let broken = Incident::from_stored(IncidentInput {
        name: "broken\0name".into(),
        ..IncidentInput::default()
    });
    assert!(one
        .save_incident(&new_id(), &broken, Timestamp::now(), None, None)
        .await
        .is_err());
    assert!(
        tokio::time::timeout(Duration::from_millis(500), quiet.changed())
            .await
            .is_err()
    );

    // The listening connections are cut (a restarted or failed-over server): each store
    // listens again, and announcements reach the other store as before.
    let pool = one.postgres_pool().expect("PostgreSQL").clone();
    const LISTENERS: &str = "SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE 'LISTEN%'";
    let pids: Vec<i32> = sqlx::query_scalar(LISTENERS)
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(pids.len(), 2, "one listening connection per store");
    for pid in pids.iter().copied() {
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&pool)
            .await
            .unwrap();
    }
    let mut listening = Vec::new();
    for _ in 0..200 {
        listening = sqlx::query_scalar(LISTENERS)
            .fetch_all(&pool)
            .await
            .unwrap();
        if listening.len() == 2 && listening.iter().all(|p| !pids.contains(p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        listening.len() == 2 && listening.iter().all(|p| !pids.contains(p)),
        "listening again: {listening:?}"
    );
    let mut after = other.watch_changes();
    after.borrow_and_update();
    one.save_incident(
        &new_id(),
        &incident("After the cut", "", &[], &[]),
        Timestamp::now(),
        None,
        None,
    )
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(10), after.changed())
        .await
        .expect("woken after the reconnection")
        .unwrap();
    one.close().await;
    other.close().await;
}
