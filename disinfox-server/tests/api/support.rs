//! Spawning the app and calling it.

use disinfox_server::configuration::Settings;
use disinfox_server::db::{Role, User};
use disinfox_server::startup::Application;
use disinfox_server::state::AppState;
use serde_json::Value;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub admin: String,
    pub analyst: String,
    pub analyst_read: String,
    pub reader: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    // Dropped after the server is told to stop.
    _db: TestDb,
}

/// A temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let p = std::env::temp_dir().join(format!("disinfox-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a line to the standard error past libtest's capture, so that `scripts/test` sees it
/// for a passing test too.
pub fn note(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The environment variable naming a PostgreSQL server the tests run on instead of SQLite: an
/// administrator's URL (`postgres://postgres@127.0.0.1:5432/postgres`) through which each test
/// creates its own database (`dxt_<uuid>`) and drops it at the end. `scripts/test` runs the
/// suites once without it (SQLite) and once with it, on a throwaway cluster.
pub const POSTGRES_ENV: &str = "DISINFOX_TEST_POSTGRES_URL";

/// The administrator's URL of the PostgreSQL server the tests run on, if any.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().filter(|u| !u.is_empty())
}

/// Whether the tests run on PostgreSQL.
pub fn on_postgres() -> bool {
    postgres_admin_url().is_some()
}

/// For a test that only means something on SQLite (a SQLite file from before a migration, the
/// `VACUUM INTO` backup): on PostgreSQL, prints why it does not run there and returns true (the
/// test then returns). It runs, and counts, in the SQLite pass of `scripts/test`.
pub fn sqlite_only(test: &str, why: &str) -> bool {
    if on_postgres() {
        crate::support::note(format!(
            "SQLITE-ONLY {test}: {why}; run by the SQLite pass, not on PostgreSQL"
        ));
        return true;
    }
    false
}

/// For a test that needs PostgreSQL and SQLite both (`db copy`): the administrator's URL, or,
/// without one, a printed note and `None` (the test then returns). It runs, and counts, in the
/// PostgreSQL pass of `scripts/test`.
pub fn postgres_only(test: &str) -> Option<String> {
    let url = postgres_admin_url();
    if url.is_none() {
        crate::support::note(format!(
            "POSTGRES-ONLY {test}: needs {POSTGRES_ENV}; run by the PostgreSQL pass"
        ));
    }
    url
}

/// A fresh, empty database for one test: a SQLite file in a temporary directory, or, when
/// [`POSTGRES_ENV`] is set, a new PostgreSQL database of its own (so tests run in parallel),
/// dropped when this is dropped.
pub struct TestDb {
    pub url: String,
    /// The temporary directory (of the SQLite file, and for any other file of the test).
    pub dir: TempDir,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// A new database; `file` names the SQLite file in [`TestDb::dir`].
    pub async fn new(file: &str) -> Self {
        match postgres_admin_url() {
            None => Self::sqlite(file),
            Some(admin) => Self::postgres(&admin).await,
        }
    }

    /// A SQLite file `file`, whatever the environment says.
    pub fn sqlite(file: &str) -> Self {
        let dir = TempDir::new();
        Self {
            url: format!("sqlite://{}", dir.0.join(file).display()),
            dir,
            postgres: None,
        }
    }

    /// A new database on the PostgreSQL server of the administrator's URL `admin`.
    pub async fn postgres(admin: &str) -> Self {
        let url = fresh_postgres_database(admin).await;
        let name = url.rsplit('/').next().unwrap().to_owned();
        Self {
            url,
            dir: TempDir::new(),
            postgres: Some((admin.to_owned(), name)),
        }
    }
}

/// Creates a database `dxt_<uuid>` through the administrator's URL `admin` and returns its
/// URL (the same server and credentials).
pub async fn fresh_postgres_database(admin: &str) -> String {
    use sqlx::Connection;
    let name = format!("dxt_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_ENV}: connecting to {admin}: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    let (base, _) = admin.split_once('?').map_or((admin, ""), |(b, q)| (b, q));
    let server = base.rsplit_once('/').map_or(base, |(s, _)| s);
    format!("{server}/{name}")
}

/// Drops the database `name` (and ends its sessions: PostgreSQL 13 and later).
pub fn drop_postgres_database(admin: &str, name: &str) {
    let (admin, name) = (admin.to_owned(), name.to_owned());
    // Drop runs outside any runtime the caller may be blocking: a thread with its own.
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await;
                let _ = conn.close().await;
            }
        });
    })
    .join();
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres {
            drop_postgres_database(admin, name);
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_on(TestDb::new("test.db").await, adjust).await
}

/// The app on the database `db` (which may hold data already: the test accounts are created
/// when missing, each with a new key).
pub async fn spawn_on(db: TestDb, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = Settings::for_tests(db.url.clone());
    adjust(&mut settings);
    let app = Application::build(settings).await.unwrap();
    let state = app.state().clone();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    let mut keys = Vec::new();
    for (email, role, scope) in [
        ("admin@test.org", Role::Admin, "write"),
        ("analyst@test.org", Role::Analyst, "write"),
        ("analyst@test.org", Role::Analyst, "read"),
        ("reader@test.org", Role::Reader, "read"),
    ] {
        let user = match state.store.user_by_email(email).await.unwrap() {
            Some((u, _)) => u,
            None => state
                .store
                .create_user(
                    email,
                    &disinfox_server::auth::hash_password("long enough password").unwrap(),
                    role,
                )
                .await
                .unwrap()
                .unwrap(),
        };
        let (secret, hash) = disinfox_server::auth::new_api_key().unwrap();
        state
            .store
            .create_api_key(user.id, "test", &secret[..12], &hash, scope)
            .await
            .unwrap();
        keys.push(secret);
    }
    TestApp {
        base,
        client: reqwest::Client::new(),
        state,
        admin: keys[0].clone(),
        analyst: keys[1].clone(),
        analyst_read: keys[2].clone(),
        reader: keys[3].clone(),
        _stop: tx,
        _db: db,
    }
}

impl TestApp {
    /// The account of `email` (one of the test accounts).
    pub async fn user(&self, email: &str) -> User {
        self.state
            .store
            .user_by_email(email)
            .await
            .unwrap()
            .unwrap()
            .0
    }

    /// The incident a page's address (`/incidents/{id}?…`) names, read through the API.
    pub async fn incident_at(&self, location: &str) -> Value {
        let id = location
            .trim_start_matches("/incidents/")
            .split('?')
            .next()
            .unwrap();
        let (status, saved) = self
            .get(&format!("/api/v1/incidents/{id}"), &self.reader)
            .await;
        assert_eq!(status, 200, "{location}");
        saved
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: &Value,
    ) -> (u16, Value) {
        let r = self
            .client
            .request(method, self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn create(&self, body: &Value) -> Value {
        let (status, v) = self
            .send(
                reqwest::Method::POST,
                "/api/v1/incidents",
                &self.analyst,
                body,
            )
            .await;
        assert_eq!(status, 201, "{v}");
        v
    }
}

pub fn incident(name: &str) -> Value {
    serde_json::json!({
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

impl TestApp {
    /// Posts an import with `key`; when it is accepted as a job (202, with its URL in
    /// `Location`), waits for the job to be over. The status, and the job (or the error).
    pub async fn import_with(
        &self,
        key: &str,
        body: impl Into<reqwest::Body>,
        content_type: &str,
    ) -> (u16, Value) {
        let r = self
            .client
            .post(self.url("/api/v1/import"))
            .bearer_auth(key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if status != 202 {
            return (status, v);
        }
        let location = location.expect("a 202 names its job in Location");
        assert_eq!(v["url"], location.as_str(), "{v}");
        (status, self.wait_job(key, &location).await)
    }

    /// The job at `url` once it is over (polled; panics after a minute).
    pub async fn wait_job(&self, key: &str, url: &str) -> Value {
        for _ in 0..3000 {
            let (status, job) = self.get(url, key).await;
            assert_eq!(status, 200, "{job}");
            if job["state"] == "succeeded" || job["state"] == "failed" {
                return job;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the job {url} did not finish within a minute");
    }
}

/// The real server binary (`serve`) on a database, listening on a free port.
pub struct Binary {
    child: std::process::Child,
    pub base: String,
    pub client: reqwest::Client,
}

impl Binary {
    /// Creates a user with `role` and a write key on the database `db` (no server running):
    /// the key.
    pub async fn provision(db: &str, email: &str, role: &str) -> String {
        let store = disinfox_server::db::Store::connect(db).await.unwrap();
        let hash = disinfox_server::auth::hash_password("long enough password").unwrap();
        let user = store
            .create_user(email, &hash, Role::parse(role).unwrap())
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

    /// The command with the test's settings and no `DISINFOX_*` variable of the caller.
    pub fn command(db: &str) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_disinfox-server"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("DISINFOX_")) {
            c.env_remove(k);
        }
        c.env("DISINFOX_DATABASE_URL", db)
            .env("DISINFOX_LISTEN", "127.0.0.1:0")
            .env("DISINFOX_LOG_LEVEL", "warn")
            .env("DISINFOX_RATE_LIMIT_PER_MINUTE", "0");
        c
    }

    /// Starts `serve` and waits until it answers.
    pub async fn start(db: &str) -> Self {
        let mut command = Self::command(db);
        command.stderr(std::process::Stdio::inherit());
        Self::serve(command).await
    }

    /// Runs `serve` with `command` (from [`Binary::command`], its standard error set by the
    /// caller) and waits until it answers.
    pub async fn serve(mut command: std::process::Command) -> Self {
        use std::io::BufRead;
        let mut child = command
            .arg("serve")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let base = tokio::task::spawn_blocking(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            lines
                .find_map(|l| {
                    l.ok()?
                        .strip_prefix("DISINFOX server listening on ")
                        .map(str::to_owned)
                })
                .expect("the server says where it listens")
        })
        .await
        .unwrap();
        let b = Self {
            child,
            base,
            client: reqwest::Client::new(),
        };
        for _ in 0..200 {
            if b.client.get(b.url("/health")).send().await.is_ok() {
                return b;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the server does not answer /health");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get_json(&self, path: &str, key: &str) -> Value {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    /// SIGKILL: the process ends at once, with no chance to clean up.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Validates an incident input and saves it straight into the store (ids as the demo makes
/// them); returns its id.
pub async fn save_input(
    store: &disinfox_server::db::Store,
    disarm: stix_model::disarm::DisarmVersion,
    input: disinfox_server::model::IncidentInput,
    created: stix_model::Timestamp,
) -> stix_model::Identifier {
    let i = input
        .validate(
            disarm,
            disinfox_server::model::TechniquePolicy::Keep,
            &mut Vec::new(),
        )
        .unwrap();
    let id = stix_model::opencti::incident(&i.input.name, &created.to_string()).unwrap();
    store
        .save_incident(&id, &i, created, None, None)
        .await
        .unwrap();
    id
}

/// The PDF's text by `pdftotext`, or `None` (with a `SKIPPED` line) when it is missing.
pub fn pdf_text(bytes: &[u8], test: &str) -> Option<String> {
    let have = std::process::Command::new("pdftotext")
        .arg("-v")
        .output()
        .is_ok();
    if !have {
        if std::env::var_os("DISINFOX_PYTHON").is_some_and(|p| !p.is_empty()) {
            panic!("{test}: pdftotext is missing under scripts/test");
        }
        let _ = std::io::Write::write_fmt(
            &mut std::io::stderr().lock(),
            format_args!("SKIPPED {test}: pdftotext (poppler-utils) is not installed\n"),
        );
        return None;
    }
    let path = std::env::temp_dir().join(format!(
        "disinfox-page-report-{}-{test}.pdf",
        std::process::id()
    ));
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "pdftotext failed");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Plain SQL on a store's database, whichever the backend: for tests that set up what the
/// server never writes itself (a job a crash left running, an unreadable row) or read a table
/// directly. The SQL must read the same on SQLite and PostgreSQL (values written inline, no
/// placeholders).
pub mod raw {
    use disinfox_server::db::Store;
    use sqlx::AssertSqlSafe;

    /// Runs a statement.
    pub async fn execute(store: &Store, sql: &str) {
        let sql = sql.to_owned();
        match (store.sqlite_pool(), store.postgres_pool()) {
            (Some(pool), _) => {
                sqlx::query(AssertSqlSafe(sql)).execute(pool).await.unwrap();
            }
            (_, Some(pool)) => {
                sqlx::query(AssertSqlSafe(sql)).execute(pool).await.unwrap();
            }
            _ => unreachable!("a store has a backend"),
        }
    }

    /// The first column of every row (`String`, `Vec<u8>`, …).
    pub async fn column<T>(store: &Store, sql: &str) -> Vec<T>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'r> sqlx::Decode<'r, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + Send
            + Unpin,
    {
        let sql = sql.to_owned();
        match (store.sqlite_pool(), store.postgres_pool()) {
            (Some(pool), _) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(pool).await,
            (_, Some(pool)) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(pool).await,
            _ => unreachable!("a store has a backend"),
        }
        .unwrap()
    }

    /// The first column of every row, as text.
    pub async fn strings(store: &Store, sql: &str) -> Vec<String> {
        column(store, sql).await
    }

    /// The first column of every row, as bytes.
    pub async fn bytes(store: &Store, sql: &str) -> Vec<Vec<u8>> {
        column(store, sql).await
    }

    /// The one integer the query answers (`COUNT(*)`, `MAX(…)`; 0 for NULL).
    pub async fn int(store: &Store, sql: &str) -> i64 {
        column::<Option<i64>>(store, sql)
            .await
            .first()
            .copied()
            .flatten()
            .unwrap_or(0)
    }
}
