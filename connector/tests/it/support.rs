//! A real disinfox-server (fresh SQLite database, port 0) seeded with synthetic incidents, and
//! the connector's settings pointing at it.

use std::net::SocketAddr;
use std::sync::Arc;

use disinfox_server::configuration::Settings as ServerSettings;
use disinfox_server::db::{Role, Store};
use disinfox_server::model::TechniquePolicy;
use disinfox_server::startup::Application;
use disinfox_server::streams::StreamHub;
use stix_model::disarm::DisarmVersion;

/// A temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let p = std::env::temp_dir().join(format!("disinfox-conn-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub key: String,
    pub store: Store,
    /// The live streams of the server now serving.
    pub streams: Arc<StreamHub>,
    _dir: TempDir,
    /// The database served (a SQLite file in `dir`, until [`Server::move_to_postgres`]).
    database: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
    seeded: usize,
}

impl Server {
    /// The bundle endpoint.
    pub fn url(&self) -> String {
        format!("http://{}/api/v1/bundle", self.addr)
    }

    fn db_url(dir: &TempDir) -> String {
        format!("sqlite://{}", dir.0.join("server.db").display())
    }

    async fn serve(
        database: &str,
        addr: SocketAddr,
    ) -> (
        Store,
        Arc<StreamHub>,
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let mut settings = ServerSettings::for_tests(database.to_owned());
        settings.listen = addr;
        let app = Application::build(settings).await.unwrap();
        let store = app.state().store.clone();
        let streams = app.state().streams.clone();
        let addr = SocketAddr::from(([127, 0, 0, 1], app.port()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            let _ = app
                .run_until_stopped(async {
                    let _ = rx.await;
                })
                .await;
        });
        (store, streams, addr, tx, done)
    }

    /// A server with `n` incidents and a read key.
    pub async fn start(n: usize) -> Self {
        let dir = TempDir::new();
        let database = Self::db_url(&dir);
        let (store, streams, addr, tx, done) =
            Self::serve(&database, SocketAddr::from(([127, 0, 0, 1], 0))).await;
        let user = store
            .create_user(
                "connector@test.org",
                &disinfox_server::auth::hash_password("long enough password").unwrap(),
                Role::Reader,
            )
            .await
            .unwrap()
            .unwrap();
        let (key, hash) = disinfox_server::auth::new_api_key().unwrap();
        store
            .create_api_key(user.id, "connector", &key[..12], &hash, "read")
            .await
            .unwrap();
        let mut s = Self {
            addr,
            key,
            store,
            streams,
            _dir: dir,
            database,
            stop: Some(tx),
            done: Some(done),
            seeded: 0,
        };
        s.add(n).await;
        s
    }

    /// Adds `n` more incidents; returns their ids.
    pub async fn add(&mut self, n: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        let all = disinfox_server::demo::inputs(self.seeded + n, 11);
        for (input, created) in all.into_iter().skip(self.seeded) {
            let incident = input
                .validate(DisarmVersion::V1_7, TechniquePolicy::Keep, &mut Vec::new())
                .unwrap();
            let id =
                stix_model::opencti::incident(&incident.input.name, &created.to_string()).unwrap();
            self.store
                .save_incident(&id, &incident, created, None, None)
                .await
                .unwrap();
            self.seeded += 1;
            ids.push(id.to_string());
        }
        ids
    }

    /// Adds one incident whose description is 20,000 four-byte characters (80 kB of JSON,
    /// about 107 kB once base64-encoded in a queue message); returns its id.
    pub async fn add_big(&mut self) -> String {
        let (mut input, created) = disinfox_server::demo::inputs(1, 99).remove(0);
        input.name = "A very long incident".into();
        input.description = "\u{1D54F}".repeat(20_000);
        let incident = input
            .validate(DisarmVersion::V1_7, TechniquePolicy::Keep, &mut Vec::new())
            .unwrap();
        let id = stix_model::opencti::incident(&incident.input.name, &created.to_string()).unwrap();
        self.store
            .save_incident(&id, &incident, created, None, None)
            .await
            .unwrap();
        id.to_string()
    }

    /// The newest change's cursor.
    pub async fn newest_cursor(&self) -> String {
        self.store.last_change_seq().await.unwrap().to_string()
    }

    /// Every incident id the server holds.
    pub async fn incident_ids(&self) -> Vec<String> {
        let sql = "SELECT id FROM incidents ORDER BY id";
        match (self.store.sqlite_pool(), self.store.postgres_pool()) {
            (Some(pool), _) => sqlx::query_scalar(sql).fetch_all(pool).await,
            (_, Some(pool)) => sqlx::query_scalar(sql).fetch_all(pool).await,
            _ => unreachable!("a store has a backend"),
        }
        .unwrap()
    }

    /// Stops serving (the database stays).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(d) = self.done.take() {
            let _ = d.await;
        }
    }

    /// Stops serving, copies the SQLite database into the new PostgreSQL database `target`
    /// (`disinfox-server db copy`) and serves it on the same port.
    pub async fn move_to_postgres(
        &mut self,
        target: &str,
    ) -> disinfox_server::db::copy::CopyReport {
        self.stop().await;
        self.store.close().await;
        let report = disinfox_server::db::copy::copy(&self.database, target)
            .await
            .unwrap();
        self.database = target.to_owned();
        self.restart().await;
        report
    }

    /// Serves again on the same port.
    pub async fn restart(&mut self) {
        let (store, streams, addr, tx, done) = Self::serve(&self.database, self.addr).await;
        assert_eq!(addr, self.addr);
        self.store = store;
        self.streams = streams;
        self.stop = Some(tx);
        self.done = Some(done);
    }
}

/// Writes a line to the standard error past libtest's capture (scripts/test collects it).
fn note(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A new database on the PostgreSQL server of `DISINFOX_TEST_POSTGRES_URL` (an administrator's
/// URL), dropped on drop; `None`, with a printed note, without one (the PostgreSQL pass of
/// scripts/test sets it; the server's tests/api/support.rs does the same for its suites).
pub struct PostgresDb {
    pub url: String,
    admin: String,
    name: String,
}

impl PostgresDb {
    pub async fn create(test: &str) -> Option<Self> {
        use sqlx::Connection;
        let Some(admin) = std::env::var("DISINFOX_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            crate::support::note(format!(
                "POSTGRES-ONLY {test}: needs DISINFOX_TEST_POSTGRES_URL; run by the PostgreSQL pass"
            ));
            return None;
        };
        let name = format!("dxt_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        let server = admin.split('?').next().unwrap_or(&admin);
        let server = server.rsplit_once('/').map_or(server, |(s, _)| s);
        Some(Self {
            url: format!("{server}/{name}"),
            admin,
            name,
        })
    }
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
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
                }
            });
        })
        .join();
    }
}
