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
    pub dir: TempDir,
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
        dir: &TempDir,
        addr: SocketAddr,
    ) -> (
        Store,
        Arc<StreamHub>,
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let mut settings = ServerSettings::for_tests(Self::db_url(dir));
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
        let (store, streams, addr, tx, done) =
            Self::serve(&dir, SocketAddr::from(([127, 0, 0, 1], 0))).await;
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
            dir,
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
        let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM incidents ORDER BY id")
            .fetch_all(self.store.pool())
            .await
            .unwrap();
        rows.into_iter().map(|r| r.0).collect()
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

    /// Serves again on the same port.
    pub async fn restart(&mut self) {
        let (store, streams, addr, tx, done) = Self::serve(&self.dir, self.addr).await;
        assert_eq!(addr, self.addr);
        self.store = store;
        self.streams = streams;
        self.stop = Some(tx);
        self.done = Some(done);
    }
}
