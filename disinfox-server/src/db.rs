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
//! page cache per connection. Writes are serialised by a mutex (SQLite has
//! one writer anyway), which also makes the change sequence and the change times strictly
//! increasing in commit order: a reader that saw change `n` has seen every change before it.

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
            // An 8 MiB page cache per connection (SQLite's default is 2 MiB), so that a batch
            // of incident writes does not spill pages to the WAL before its commit; with 8
            // connections the caches stay within the server's memory bound.
            .pragma("cache_size", "-8192");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await
            .with_context(|| format!("opening {url}"))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .context("running database migrations")?;
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

#[cfg(test)]
mod tests {
    use sqlx::{AssertSqlSafe, Row};

    use super::*;

    /// The look-ups of the bundle endpoint and TAXII search an index: none scans the change
    /// log, the incidents or the collection tables (SQLite's plan says `SEARCH`, not `SCAN`).
    #[tokio::test]
    async fn lookups_by_time_and_id_search_an_index() {
        let path = std::env::temp_dir().join(format!("disinfox-plan-{}.db", uuid::Uuid::new_v4()));
        let store = Store::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        for (name, sql) in [
            ("seq_at", changes::SQL_SEQ_AT),
            ("object homes", collection::SQL_OBJECT_HOMES),
            ("incidents by ids", collection::SQL_INCIDENTS_BY_IDS),
            ("entries by keys", collection::SQL_ENTRIES_BY_KEYS),
        ] {
            let plan: Vec<String> = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
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
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
