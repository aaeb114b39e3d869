//! Building the application: settings → database → router → listener.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::configuration::Settings;
use crate::db::Store;
use crate::state::AppState;

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
        let state = AppState::new(store, settings)?;
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
        let router = crate::router::router(self.state);
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
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
