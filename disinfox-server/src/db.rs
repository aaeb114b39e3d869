//! Storage: every SQL statement of the server is here, behind the methods of [`Store`].
//!
//! [`Store`] owns the connection pool of its backend, SQLite or PostgreSQL; its methods are
//! grouped by concern, one file each:
//! [`users`] (users and API keys), [`sessions`], [`incidents`], [`changes`] (the change log),
//! [`facets`] (counts), [`collection`] (the TAXII collection's entries and object index),
//! [`audit`], [`watchlist`] (watchlists and each user's work), [`jobs`] (import jobs and applying imported incidents), [`replicas`] (what several server processes share: rate-limit buckets, failed sign-ins, heartbeats and job owners), [`stix`] (each incident's
//! STIX objects as stored JSON), and [`backup`]. Nothing outside this module writes SQL or
//! touches the pool (tests/layering.rs checks that no other module names `sqlx`); the domain
//! modules call these methods. Each method is implemented twice: for SQLite in the concern
//! file, for PostgreSQL in `postgres/<concern>.rs`; what is not SQL (the rules of a write) is
//! one backend-neutral function in the concern file that both call. PostgreSQL's change log
//! stays in commit order across several server processes by an advisory lock
//! (`postgres/changes.rs`, docs/postgresql.md).
//!
//! SQLite is used in WAL mode with foreign keys on, temporary storage in memory and an 8 MiB
//! page cache per connection (32 MiB while an import's batch is written). Writes are
//! serialised by a mutex (SQLite has one writer anyway), which also makes the change sequence
//! and the change times strictly increasing in commit order: a reader that saw change `n` has
//! seen every change before it. The WAL is copied back into the database by a task beside the
//! writer (`spawn_checkpointer`), not by the writer after its commits.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use stix_model::Timestamp;
use tokio::sync::Mutex;

pub mod audit;
pub mod backup;
mod batch;
pub mod changes;
pub mod collection;
pub mod copy;
pub mod facets;
pub mod incidents;
pub mod jobs;
pub mod replicas;
pub mod sessions;
pub mod stix;
pub mod users;
pub mod watchlist;

mod postgres;
pub(crate) use postgres::Postgres;

pub use batch::Prepared;
pub use collection::CollectionEntry;
pub use facets::{Count, Facet};
pub use incidents::{fts_query, IncidentFilter, Sort, StoredIncident};
pub use users::{ApiKeyInfo, Role, User};
pub use watchlist::{Watch, WatchEntry, WorkEntry};

/// The database: one interface, whichever backend holds the data.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// The rules incidents' STIX objects are stored with ([`stix`]), once the server gives them
    /// (shared with the backend, which stores objects by them).
    stix: stix::RulesCell,
    /// Bumped after each committed write of the change log (the live stream waits on it).
    committed: Arc<tokio::sync::watch::Sender<u64>>,
}

/// The backend behind a [`Store`].
#[derive(Debug, Clone)]
enum Backend {
    Sqlite(Sqlite),
    Postgres(Postgres),
}

/// The SQLite backend (the methods of the concern files).
#[derive(Debug, Clone)]
pub(crate) struct Sqlite {
    pool: SqlitePool,
    write: Arc<Mutex<()>>,
    stix: stix::RulesCell,
    committed: Arc<tokio::sync::watch::Sender<u64>>,
}

/// Defines [`Store`]'s methods of a concern: each calls the method of the same name and
/// arguments on the backend in use. Both backends must have them all, with the same types.
macro_rules! forward {
    ($( $(#[$meta:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty; )*) => {
        impl $crate::db::Store {
            $(
                $(#[$meta])*
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match self.backend() {
                        $crate::db::BackendRef::Sqlite(db) => db.$name($($arg),*).await,
                        $crate::db::BackendRef::Postgres(db) => db.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}
pub(crate) use forward;

/// A borrowed backend, for [`forward`].
pub(crate) enum BackendRef<'a> {
    Sqlite(&'a Sqlite),
    Postgres(&'a Postgres),
}

/// Current time in the change-log format, with microseconds.
pub fn micros_text(t: &Timestamp) -> String {
    t.with_digits(6).to_string()
}

fn parse_ts(s: &str) -> anyhow::Result<Timestamp> {
    Timestamp::parse(s).with_context(|| format!("stored timestamp {s:?}"))
}

/// Whether a database URL names PostgreSQL.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl Store {
    /// Opens (and creates, with its schema) the database: PostgreSQL for a `postgres://` or
    /// `postgresql://` URL, SQLite otherwise.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let stix = stix::RulesCell::default();
        let committed = Arc::new(tokio::sync::watch::Sender::new(0));
        let backend = if is_postgres_url(url) {
            Backend::Postgres(Postgres::connect(url, stix.clone(), committed.clone()).await?)
        } else {
            Backend::Sqlite(Sqlite::connect(url, stix.clone(), committed.clone()).await?)
        };
        Ok(Self {
            backend,
            stix,
            committed,
        })
    }

    pub(crate) fn backend(&self) -> BackendRef<'_> {
        match &self.backend {
            Backend::Sqlite(db) => BackendRef::Sqlite(db),
            Backend::Postgres(db) => BackendRef::Postgres(db),
        }
    }

    /// Whether the data is in PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// The SQLite pool (`None` on PostgreSQL), for tests outside the crate that set up what
    /// the server never writes itself (a job a crash left running, a database from before a
    /// migration) or read tables directly. The server's own code never uses it: everything
    /// goes through the methods.
    #[doc(hidden)]
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.backend {
            Backend::Sqlite(db) => Some(&db.pool),
            Backend::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool (`None` on SQLite), for tests, like [`Store::sqlite_pool`].
    #[doc(hidden)]
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(db) => Some(db.pool()),
        }
    }

    /// Whether the database answers (the health check).
    pub async fn ping(&self) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Sqlite(db) => {
                sqlx::query("SELECT 1").execute(&db.pool).await?;
            }
            Backend::Postgres(db) => db.ping().await?,
        }
        Ok(())
    }

    /// Closes every connection, once the ones in use are given back.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(db) => db.pool.close().await,
            Backend::Postgres(db) => db.close().await,
        }
    }
}

impl Sqlite {
    async fn connect(
        url: &str,
        stix: stix::RulesCell,
        committed: Arc<tokio::sync::watch::Sender<u64>>,
    ) -> anyhow::Result<Self> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() && path != ":memory:" {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating data directory {}", dir.display()))?;
                }
            }
        }
        let opts = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("database URL {url}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Imports apply each incident in a savepoint: its sub-journal stays in memory
            // instead of a temporary file written page by page.
            .pragma("temp_store", "memory")
            .pragma("cache_size", format!("-{CACHE_KIB}"))
            // Checkpoints run beside the writer ([`spawn_checkpointer`]); a writer copies the
            // WAL into the database itself only past this many pages (16 MiB with 4 KiB
            // pages), which bounds the WAL if the background checkpoints fall behind.
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT.to_string());
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await
            .with_context(|| format!("opening {url}"))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .context("running database migrations")?;
        if !in_memory(url) {
            spawn_checkpointer(pool.clone(), committed.subscribe());
        }
        let store = Self {
            pool,
            write: Arc::new(Mutex::new(())),
            stix,
            committed,
        };
        store
            .backfill_collection()
            .await
            .context("filling the TAXII collection tables")?;
        store
            .index_collection_objects()
            .await
            .context("indexing the objects of the TAXII collection")?;
        Ok(store)
    }
}

/// The page cache of each connection, in KiB (SQLite's default is 2 MiB): 8 MiB, so that a
/// single incident's write does not spill pages to the WAL before its commit, and the caches
/// of the 8 connections stay within the server's memory bound.
const CACHE_KIB: u32 = 8192;

/// The page cache of the connection writing an import's batch, for the batch (see
/// `Sqlite::import_batched`): 32 MiB, so that the pages a batch of [`crate::import::BATCH`]
/// new incidents touches are written to the WAL once, at its commit, instead of spilling and
/// being read back. (10,000 CSV incidents: 4.7 s with 8 MiB, 4.2 s with 32 or 64.)
const BATCH_CACHE_KIB: u32 = 32_768;

/// The WAL size, in pages, past which a committing writer checkpoints by itself (SQLite's
/// default is 1,000): above one import batch, so that the writer leaves the copying to
/// [`spawn_checkpointer`].
const WAL_AUTOCHECKPOINT: u32 = 4096;

/// Whether a SQLite URL names an in-memory database (no WAL to checkpoint).
fn in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Copies the WAL back into the database file after each announced commit, on a pool
/// connection (so on a thread of its own), instead of on the writer after its commit.
///
/// A `PASSIVE` checkpoint waits for no one: it copies what no reader still needs while the
/// writer goes on appending. Under a bulk import the writer's commits no longer pay for the
/// copy and its `fsync` (about a quarter of the time of `bench/server.sh`'s seeding). Commits
/// that come while a checkpoint runs are covered by the next one. The task ends when the last
/// handle of the store is dropped (the change announcements' sender goes away) or the pool is
/// closed.
fn spawn_checkpointer(pool: SqlitePool, mut committed: tokio::sync::watch::Receiver<u64>) {
    tokio::spawn(async move {
        while committed.changed().await.is_ok() {
            if pool.is_closed() {
                break;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                if pool.is_closed() {
                    break;
                }
                tracing::warn!(error = %e, "WAL checkpoint");
            }
            // At most ten checkpoints a second: a storm of small writes does not become a
            // storm of `fsync`s (the commits meanwhile are covered by the next one).
            tokio::time::sleep(CHECKPOINT_GAP).await;
        }
    });
}

/// The least time between two checkpoints of [`spawn_checkpointer`]: well under the time an
/// import's batch takes to write (about 200 ms), so the WAL stays short.
const CHECKPOINT_GAP: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use sqlx::{AssertSqlSafe, Row};

    use super::*;
    use crate::db::jobs::Planned;
    use crate::db::postgres::tests::{incident, new_id, on_sqlite, planned, rules, save};

    /// Committed writes reach the database file without the writer checkpointing: the WAL
    /// holds far fewer pages than `wal_autocheckpoint` here, so only the background task can
    /// have copied them.
    #[tokio::test]
    async fn the_wal_is_checkpointed_beside_the_writer() {
        on_sqlite(async |store, path| {
            store.use_stix_rules(rules("Test org")).await.unwrap();
            // Let the checkpoints of the start settle.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let size = || std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            let before = size();
            let items: Vec<Planned> = (0..40)
                .map(|n| {
                    let name = format!("Checkpointed {n}");
                    planned(save(&new_id(), incident(&name, "", &["T0002"], &[])))
                })
                .collect();
            let batch: Vec<(i64, &Planned)> = (1..).zip(&items).collect();
            store
                .import_items(None, &batch, None, Prepared::default())
                .await
                .unwrap();
            let wal = std::fs::metadata(format!("{}-wal", path.display()))
                .map(|m| m.len())
                .unwrap_or(0);
            assert!(
                wal < u64::from(WAL_AUTOCHECKPOINT) * 4096,
                "WAL of {wal} bytes"
            );
            let mut grown = false;
            for _ in 0..100 {
                if size() > before {
                    grown = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(grown, "the database file stayed at {before} bytes");
        })
        .await;
    }

    /// The look-ups of the bundle endpoint and TAXII search an index: none scans the change
    /// log, the incidents or the collection tables (SQLite's plan says `SEARCH`, not `SCAN`).
    #[tokio::test]
    async fn lookups_by_time_and_id_search_an_index() {
        on_sqlite(async |store, _| {
            for (name, sql) in [
                ("seq_at", changes::SQL_SEQ_AT),
                ("object homes", collection::SQL_OBJECT_HOMES),
                ("incidents by ids", collection::SQL_INCIDENTS_BY_IDS),
                ("entries by keys", collection::SQL_ENTRIES_BY_KEYS),
            ] {
                let plan: Vec<String> =
                    sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                        .fetch_all(store.sqlite_pool().expect("SQLite"))
                        .await
                        .unwrap()
                        .iter()
                        .map(|r| r.get::<String, _>("detail"))
                        .collect();
                let scans: Vec<&String> = plan
                    .iter()
                    .filter(|d| d.starts_with("SCAN") && !d.contains("VIRTUAL TABLE"))
                    .collect();
                assert!(scans.is_empty(), "{name} scans: {plan:?}");
                assert!(
                    plan.iter().any(|d| d.starts_with("SEARCH")),
                    "{name}: {plan:?}"
                );
            }
        })
        .await;
    }
}
