//! The PostgreSQL backend: the same methods as the SQLite backend (the concern files of
//! [`super`]), one file per concern under `postgres/`, with its own migrations
//! (`migrations/postgres`).

use std::sync::Arc;

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use super::stix;

mod audit;
mod changes;
mod collection;
mod facets;
mod incidents;
mod jobs;
mod replicas;
mod sessions;
mod stix_objects;
mod users;
mod watchlist;

/// The PostgreSQL backend.
#[derive(Debug, Clone)]
pub(crate) struct Postgres {
    pool: PgPool,
    #[allow(dead_code)]
    stix: stix::RulesCell,
    #[allow(dead_code)]
    committed: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Postgres {
    pub(super) async fn connect(
        url: &str,
        stix: stix::RulesCell,
        committed: Arc<tokio::sync::watch::Sender<u64>>,
    ) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await
            .with_context(|| format!("opening {}", redact(url)))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .context("running database migrations")?;
        Ok(Self {
            pool,
            stix,
            committed,
        })
    }

    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(super) async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}

/// A database URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
