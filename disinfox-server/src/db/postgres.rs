//! The PostgreSQL backend: the same methods as the SQLite backend (the concern files of
//! [`super`]), one file per concern under `postgres/`, with its own migrations
//! (`migrations/postgres`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgListener, PgPoolOptions};
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

#[cfg(test)]
pub(crate) mod tests;

/// A transaction on the PostgreSQL pool.
type Tx<'c> = sqlx::Transaction<'c, sqlx::Postgres>;

/// The PostgreSQL backend.
#[derive(Debug, Clone)]
pub(crate) struct Postgres {
    pool: PgPool,
    stix: stix::RulesCell,
    committed: Arc<tokio::sync::watch::Sender<u64>>,
    /// The task that hears other processes' changes; stopped when the last clone goes.
    listener: Arc<ListenerTask>,
}

/// Stops the listening task when dropped.
#[derive(Debug)]
struct ListenerTask(tokio::task::AbortHandle);

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
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
        let mut listener = PgListener::connect(url)
            .await
            .with_context(|| format!("listening for changes on {}", redact(url)))?;
        listener
            .listen(changes::CHANNEL)
            .await
            .context("listening for changes")?;
        let task = tokio::spawn(hear_changes(listener, Arc::downgrade(&committed)));
        Ok(Self {
            pool,
            stix,
            committed,
            listener: Arc::new(ListenerTask(task.abort_handle())),
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
        self.listener.0.abort();
        self.pool.close().await;
    }
}

/// Wakes the live streams of this process (bumps `committed`) for each change announcement
/// of any process on the database (see `postgres/changes.rs`). When the connection drops,
/// the streams are woken too (announcements may have been missed while it was down; a woken
/// stream only reads what is new) and the listener reconnects, waiting longer after each
/// failure (up to 30 s). Ends when the store is gone; never panics.
async fn hear_changes(
    mut listener: PgListener,
    committed: std::sync::Weak<tokio::sync::watch::Sender<u64>>,
) {
    let bump = || match committed.upgrade() {
        Some(c) => {
            c.send_modify(|n| *n = n.wrapping_add(1));
            true
        }
        None => false,
    };
    let mut wait = Duration::from_millis(100);
    loop {
        // `try_recv` gives `None` when the connection was lost (the next call reconnects and
        // listens again) and an error when reconnecting fails.
        match listener.try_recv().await {
            Ok(_) => {
                wait = Duration::from_millis(100);
                if !bump() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?wait, "listening for changes of other server processes");
                if !bump() {
                    return;
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// The key of one of the server's transaction-scoped advisory locks (`n` names its purpose):
/// a fixed prefix ("DISF") keeps the keys apart from other applications' on the same cluster.
pub(super) const fn lock_id(n: i64) -> i64 {
    0x4449_5346_0000_0000 | n
}

/// Takes an advisory lock held until the transaction ends (commit or rollback): what SQLite
/// gets from its one writer, for a step that must not interleave with the same step of
/// another transaction, in this process or another.
pub(super) async fn advisory_lock(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: i64,
) -> anyhow::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
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
