//! Building the application: settings → database → router → listener.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::configuration::Settings;
use crate::state::AppState;

/// The application: a bound listener and the router.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects the database (creating it) and binds the listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = crate::bundle::open_store(&settings).await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("listening on {}", settings.listen))?;
        let state = AppState::new(store, settings)?;
        // Import jobs a stopped process left unfinished: their reports are exact (each
        // applied incident has its row); they are marked failed (on PostgreSQL, only those
        // of processes gone silent: see crate::jobs).
        for id in crate::jobs::recover(&state.store, &state.instance).await? {
            tracing::warn!(job = %id, "import job interrupted by a stop; marked failed");
        }
        if let Some(key) = state.settings.connector_api_key.clone() {
            crate::ops::provision_connector_key(&state, key.expose()).await?;
        }
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
        // Live streams never end by themselves: they are ended when the stop begins.
        let streams = self.state.streams.clone();
        let shutdown = async move {
            shutdown.await;
            streams.close_all();
        };
        let upkeep = tokio::spawn(crate::jobs::upkeep(
            self.state.store.clone(),
            self.state.instance.clone(),
        ));
        let router = crate::router::router(self.state);
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP");
        upkeep.abort();
        served
    }
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
