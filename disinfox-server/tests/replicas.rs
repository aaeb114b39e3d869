//! Two `serve` processes on one PostgreSQL database behave as one server: 8 writers spread
//! over both create incidents for 20 s while a reader pages `GET /api/v1/bundle` with its
//! cursor through one of them (every incident seen exactly once, no page skipping a
//! change); sign-in throttling counts failures across both; the connector key provisioned
//! by both at once exists once.
//!
//! Needs `DISINFOX_TEST_POSTGRES_URL` (an administrator's URL: the test creates and drops its
//! own database); without it the test says POSTGRES-ONLY and returns: scripts/test runs it in its
//! PostgreSQL pass.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{json, Value};

const PASSWORD: &str = "long enough password";
const CONNECTOR_KEY: &str = "connector-key-0123456789abcdef0123456789abcdef";

/// A fresh database on the cluster of `admin_url`, dropped at the end.
struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    async fn create(admin_url: &str) -> Self {
        let name = format!("rep_test_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(admin_url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let (base, _) = admin_url.rsplit_once('/').expect("a URL with a database");
        Self {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        }
    }

    async fn drop_it(&self) {
        if let Ok(admin) = sqlx::PgPool::connect(&self.admin_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}

/// A `serve` process of the built binary.
struct Replica {
    child: std::process::Child,
    base: String,
}

impl Replica {
    fn spawn(db: &str) -> (std::process::Child, std::process::ChildStdout) {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_disinfox-server"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("DISINFOX_")) {
            c.env_remove(k);
        }
        let mut child = c
            .env("DISINFOX_DATABASE_URL", db)
            .env("DISINFOX_LISTEN", "127.0.0.1:0")
            .env("DISINFOX_LOG_LEVEL", "warn")
            .env("DISINFOX_RATE_LIMIT_PER_MINUTE", "0")
            .env("DISINFOX_LOGIN_ATTEMPTS_PER_MINUTE", "10")
            .env("DISINFOX_TRUSTED_PROXIES", "127.0.0.1")
            .env("DISINFOX_CONNECTOR_API_KEY", CONNECTOR_KEY)
            .arg("serve")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        (child, stdout)
    }

    async fn ready(child: std::process::Child, stdout: std::process::ChildStdout) -> Self {
        let base = tokio::task::spawn_blocking(move || {
            std::io::BufReader::new(stdout)
                .lines()
                .find_map(|l| {
                    l.ok()?
                        .strip_prefix("DISINFOX server listening on ")
                        .map(str::to_owned)
                })
                .expect("the server says where it listens")
        })
        .await
        .unwrap();
        Self { child, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A user with `role` and a write key, written before the servers start: the key.
async fn provision(db: &str, email: &str, role: &str) -> String {
    let store = disinfox_server::db::Store::connect(db).await.unwrap();
    let hash = disinfox_server::auth::hash_password(PASSWORD).unwrap();
    let user = store
        .create_user(
            email,
            &hash,
            disinfox_server::db::Role::parse(role).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let (secret, key_hash) = disinfox_server::auth::new_api_key().unwrap();
    store
        .create_api_key(user.id, "test", &secret[..12], &key_hash, "write")
        .await
        .unwrap();
    store.close().await;
    secret
}

fn incident(name: &str) -> Value {
    json!({
        "name": name,
        "description": format!("About {name}"),
        "first_seen": "2024-03",
        "techniques": ["T0002", "T0049.003"],
        "actors": ["Russia"],
        "target_countries": ["UA", "France"],
        "country_of_origin": "RU",
        "channels": ["Telegram"],
        "source_urls": ["https://example.org/a"],
        "attribution_sources": ["government"],
    })
}

/// One page of the bundle endpoint: its incidents' ids, the next cursor, whether more.
async fn page(
    client: &reqwest::Client,
    r: &Replica,
    key: &str,
    cursor: &str,
) -> (Vec<String>, String, bool) {
    let resp = client
        .get(r.url(&format!("/api/v1/bundle?limit=25&cursor={cursor}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let h = |n: &str| resp.headers()[n].to_str().unwrap().to_owned();
    let (next, more) = (h("x-disinfox-next-cursor"), h("x-disinfox-more") == "true");
    let bundle: Value = resp.json().await.unwrap();
    // An empty page's bundle has no `objects`.
    let ids = bundle["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["type"] == "incident")
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, next, more)
}

/// A failed sign-in through `r` from the client address `from` (named by the trusted
/// proxy's X-Forwarded-For): the status.
async fn sign_in(r: &Replica, from: &str, email: &str) -> u16 {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = client.get(r.url("/login")).send().await.unwrap();
    let cookie = login
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("dfx_csrf="))
        .expect("a pre-session CSRF cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = login.text().await.unwrap();
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    let csrf = html[at..at + html[at..].find('"').unwrap()].to_owned();
    client
        .post(r.url("/login"))
        .header(COOKIE, cookie)
        .header("x-forwarded-for", from)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", "wrong password"),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_postgresql_behave_as_one_server() {
    let Ok(admin_url) = std::env::var("DISINFOX_TEST_POSTGRES_URL") else {
        // Past libtest's capture, for scripts/test's summary; the PostgreSQL pass runs it.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "POSTGRES-ONLY two_replicas_on_one_postgresql_behave_as_one_server: needs DISINFOX_TEST_POSTGRES_URL; run by the PostgreSQL pass"
        );
        return;
    };
    let db = Database::create(&admin_url).await;
    let result = tokio::spawn(replicas(db.url.clone())).await;
    db.drop_it().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn replicas(db: String) {
    let analyst = provision(&db, "analyst@test.org", "analyst").await;
    let reader = provision(&db, "reader@test.org", "reader").await;
    // Both start at once, each provisioning the same connector key.
    let (ca, oa) = Replica::spawn(&db);
    let (cb, ob) = Replica::spawn(&db);
    let (a, b) = tokio::join!(Replica::ready(ca, oa), Replica::ready(cb, ob));
    let replicas = std::sync::Arc::new([a, b]);
    let client = reqwest::Client::new();

    // The connector key: created once, and good on both.
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let (keys,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM api_keys WHERE name LIKE 'OpenCTI connector%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(keys, 1, "the provisioned key exists once");
    let (users,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM users WHERE email = 'opencti-connector@disinfox.local'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(users, 1, "its user exists once");
    pool.close().await;
    for r in replicas.iter() {
        let resp = client
            .get(r.url("/api/v1/bundle?limit=1"))
            .bearer_auth(CONNECTOR_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }

    // 8 writers, spread over both replicas, for 20 s.
    let until = Instant::now() + Duration::from_secs(20);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (client, replicas, key) = (client.clone(), replicas.clone(), analyst.clone());
            tokio::spawn(async move {
                let r = &replicas[w % 2];
                let mut ids = Vec::new();
                let mut n = 0;
                while Instant::now() < until {
                    n += 1;
                    let resp = client
                        .post(r.url("/api/v1/incidents"))
                        .bearer_auth(&key)
                        .json(&incident(&format!("Writer {w} incident {n}")))
                        .send()
                        .await
                        .unwrap();
                    let status = resp.status().as_u16();
                    let body: Value = resp.json().await.unwrap();
                    assert_eq!(status, 201, "{body}");
                    ids.push(body["id"].as_str().unwrap().to_owned());
                }
                ids
            })
        })
        .collect();

    // The reader pages through replica B all along.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let (ids, next, more) = page(&client, &replicas[1], &reader, &cursor).await;
        for id in ids {
            *seen.entry(id).or_default() += 1;
        }
        cursor = next;
        pages += 1;
        if !more && writers.iter().all(|w| w.is_finished()) {
            break;
        }
        if !more {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut written = Vec::new();
    for w in writers {
        written.extend(w.await.unwrap());
    }
    // Once the writers are done, one more read picks up what committed since.
    loop {
        let (ids, next, more) = page(&client, &replicas[1], &reader, &cursor).await;
        for id in ids {
            *seen.entry(id).or_default() += 1;
        }
        cursor = next;
        if !more {
            break;
        }
    }
    assert!(written.len() > 100, "the writers wrote {}", written.len());
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "seen more than once: {twice:?}");
    let missed: Vec<_> = written
        .iter()
        .filter(|id| !seen.contains_key(*id))
        .collect();
    assert!(
        missed.is_empty(),
        "{} of {} written incidents never seen by the reader ({pages} pages): {missed:?}",
        missed.len(),
        written.len()
    );
    assert_eq!(
        seen.len(),
        written.len(),
        "nothing seen that was not written"
    );
    eprintln!(
        "{} incidents written on two replicas, read in {pages} pages",
        written.len()
    );

    // Sign-in attempts per address (10 a minute, a token back every 6 s), counted across
    // both replicas: attempts alternating between them are refused after 10 and what the
    // time they took refilled. Counted per process, each replica would allow 10: about 20.
    let from = "198.51.100.7";
    let started = Instant::now();
    let mut allowed: u64 = 0;
    loop {
        let r = &replicas[usize::from(allowed % 2 == 1)];
        let status = sign_in(r, from, &format!("nobody{allowed}@test.org")).await;
        if status == 429 {
            break;
        }
        assert_eq!(status, 401, "attempt {}", allowed + 1);
        allowed += 1;
        assert!(allowed < 40, "never refused");
    }
    let elapsed = started.elapsed();
    let refilled = elapsed.as_secs() / 6 + 1;
    assert!(
        (10..=10 + refilled).contains(&allowed),
        "{allowed} attempts allowed in {elapsed:?} over two replicas: expected 10 (+{refilled} refilled)"
    );
    // Failed sign-ins of one account from one address: 3 on A and 2 on B lock it on both.
    let from = "198.51.100.8";
    for i in 0..5 {
        let status = sign_in(&replicas[usize::from(i >= 3)], from, "analyst@test.org").await;
        assert_eq!(status, 401, "failure {}", i + 1);
    }
    for r in replicas.iter() {
        assert_eq!(
            sign_in(r, from, "analyst@test.org").await,
            429,
            "locked after 5 failures on two replicas"
        );
    }
}
