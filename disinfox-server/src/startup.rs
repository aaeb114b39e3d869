//! Building the application: settings → database → router → listener.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::configuration::Settings;
use crate::db::Store;
use crate::error::ApiError;

/// Shared state of the handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The settings.
    pub settings: Arc<Settings>,
    /// Per-key rate limits.
    pub rate_limiter: Arc<RateLimiter>,
    /// Failed sign-ins per address.
    pub login_throttle: Arc<crate::auth::LoginThrottle>,
}

/// A token bucket per API key: `per_minute` requests a minute, bursts up to that many.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<BTreeMap<i64, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter; 0 disables it.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(BTreeMap::new()),
        }
    }

    /// Takes a token for `key`, or fails with 429.
    pub fn check(&self, key: i64) -> Result<(), ApiError> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let cap = f64::from(self.per_minute);
        let rate = cap / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = buckets.entry(key).or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(cap);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(ApiError::RateLimited {
                retry_after_secs: ((1.0 - *tokens) / rate).ceil() as u64,
            })
        }
    }
}

/// The application: a bound listener and the router.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects the database (creating it) and binds the listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.database_url).await?;
        // Import jobs a stopped process left unfinished: their reports are exact (each
        // applied incident has its row); they are marked failed.
        for id in store.fail_interrupted_jobs().await? {
            tracing::warn!(job = %id, "import job interrupted by a stop; marked failed");
        }
        if let Some(key) = &settings.connector_api_key {
            provision_connector_key(&store, key).await?;
        }
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("listening on {}", settings.listen))?;
        let state = AppState {
            store,
            rate_limiter: Arc::new(RateLimiter::new(settings.rate_limit_per_minute)),
            login_throttle: Arc::default(),
            settings: Arc::new(settings),
        };
        Ok(Self { listener, state })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The shared state (for the CLI and tests).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = crate::routes::router(self.state);
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP")
    }
}

/// The user owning the provisioned connector key.
pub const CONNECTOR_USER: &str = "opencti-connector@disinfox.local";

/// Makes sure `key` (the `connector_api_key` setting) is a read key of the reader
/// [`CONNECTOR_USER`], so a deployment can hand the same secret to the server and to the
/// connector. Idempotent; the key is stored as a hash like every other key.
pub async fn provision_connector_key(store: &Store, key: &str) -> anyhow::Result<()> {
    let hash = crate::auth::hash_api_key(key);
    match store.api_key_status(&hash).await? {
        Some((_, false)) => return Ok(()),
        Some((id, true)) => anyhow::bail!(
            "DISINFOX_CONNECTOR_API_KEY: this key was revoked (or its user disabled); choose a new one (key id {id})"
        ),
        None => {}
    }
    let user = match store.user_by_email(CONNECTOR_USER).await? {
        Some((u, _)) => u,
        None => {
            let password = crate::auth::hash_password(&crate::auth::generate_password()?)?;
            store
                .create_user(CONNECTOR_USER, &password, crate::db::Role::Reader)
                .await?
                .context("creating the connector's user")?
        }
    };
    let prefix: String = key.chars().take(8).collect();
    store
        .create_api_key(
            user.id,
            "OpenCTI connector (DISINFOX_CONNECTOR_API_KEY)",
            &prefix,
            &hash,
            "read",
        )
        .await?;
    tracing::info!(
        user = CONNECTOR_USER,
        "provisioned the connector's read key"
    );
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (`docker stop`).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::RateLimiter;

    #[test]
    fn rate_limiter_limits_per_key() {
        let r = RateLimiter::new(3);
        for _ in 0..3 {
            assert!(r.check(1).is_ok());
        }
        assert!(r.check(1).is_err());
        assert!(r.check(2).is_ok(), "buckets are per key");
        assert!(RateLimiter::new(0).check(1).is_ok());
    }
}
