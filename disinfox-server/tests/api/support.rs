//! Spawning the app and calling it.

use disinfox_server::configuration::Settings;
use disinfox_server::db::{Role, User};
use disinfox_server::startup::{AppState, Application};
use serde_json::Value;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub admin: String,
    pub analyst: String,
    pub analyst_read: String,
    pub reader: String,
    _dir: TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
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

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = TempDir::new();
    let mut settings = Settings::for_tests(format!("sqlite://{}", dir.0.join("test.db").display()));
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
        _dir: dir,
        _stop: tx,
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
