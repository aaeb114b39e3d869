//! Online backups: a consistent copy of a database a server may be writing to.
//!
//! SQLite's `VACUUM INTO` reads the whole database in one read transaction (in WAL mode,
//! writers go on meanwhile) and writes a compact copy of that snapshot to a new file, with
//! every table, the change log's sequence counter (`sqlite_sequence`) included. The copy is
//! written next to the target under a temporary name, checked (`PRAGMA quick_check`, the
//! full-text index against its table), and only then renamed into place, so a target never
//! holds a half-written copy. The copy is an ordinary database file: `serve` starts from it
//! (see the restore drill in the README).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// Incidents (revoked ones too).
    pub incidents: i64,
    /// The newest change of the change log (0 for none).
    pub last_change: i64,
    /// Bytes written.
    pub bytes: u64,
}

/// What to do instead on PostgreSQL: `backup` copies SQLite files; a PostgreSQL database is
/// backed up with PostgreSQL's own `pg_dump` (and restored with `pg_restore`), which this
/// command does not reimplement. The exact command, for `url` and the file `target`.
pub fn pg_dump_advice(url: &str, target: &Path) -> String {
    format!(
        "backup copies SQLite databases; {} is PostgreSQL: back it up with pg_dump, e.g.\n  \
         pg_dump --format=custom --file={} '{}'\n\
         (a password shown as *** is left out here: give it in the URL or PGPASSWORD; \
         restore into an empty database with pg_restore --no-owner --dbname=<URL> {}; \
         see the README, \"PostgreSQL\")",
        super::postgres::redact(url),
        target.display(),
        super::postgres::redact(url),
        target.display()
    )
}

/// Copies the database at `url` to `target`: refused when `target` exists, unless `replace`,
/// and for PostgreSQL ([`pg_dump_advice`]).
pub async fn backup(url: &str, target: &Path, replace: bool) -> anyhow::Result<BackupSummary> {
    if super::is_postgres_url(url) {
        anyhow::bail!(pg_dump_advice(url, target));
    }
    if target.exists() && !replace {
        anyhow::bail!("{} exists; pass --force to replace it", target.display());
    }
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    anyhow::ensure!(dir.is_dir(), "no directory {}", dir.display());
    let name = target
        .file_name()
        .context("the backup file needs a name")?
        .to_string_lossy()
        .into_owned();
    let partial = dir.join(format!(".{name}.partial-{}", uuid::Uuid::new_v4()));
    let result = copy_and_check(url, &partial).await;
    match result {
        Ok(summary) => {
            std::fs::rename(&partial, target)
                .with_context(|| format!("moving {} to {}", partial.display(), target.display()))?;
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

async fn copy_and_check(url: &str, partial: &Path) -> anyhow::Result<BackupSummary> {
    let source = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("database URL {url}"))?
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30));
    let mut conn = source
        .connect()
        .await
        .with_context(|| format!("opening {url}"))?;
    let path = partial
        .to_str()
        .with_context(|| format!("{} is not a UTF-8 path", partial.display()))?;
    sqlx::query("VACUUM INTO ?")
        .bind(path)
        .execute(&mut conn)
        .await
        .context("copying the database (VACUUM INTO)")?;
    conn.close().await?;

    let mut copy = SqliteConnectOptions::new()
        .filename(partial)
        .create_if_missing(false)
        .connect()
        .await
        .with_context(|| format!("opening the copy {}", partial.display()))?;
    let check: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut copy)
        .await?;
    anyhow::ensure!(check == "ok", "the copy is damaged: {check}");
    // The full-text index is keyed by the incidents' rowids: it must still match them.
    let fts_ok =
        sqlx::query("INSERT INTO incidents_fts (incidents_fts) VALUES ('integrity-check')")
            .execute(&mut copy)
            .await;
    if fts_ok.is_err() {
        tracing::warn!("the copy's full-text index did not match its incidents; rebuilt");
        sqlx::query("INSERT INTO incidents_fts (incidents_fts) VALUES ('rebuild')")
            .execute(&mut copy)
            .await
            .context("rebuilding the copy's full-text index")?;
    }
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM incidents), (SELECT COALESCE(MAX(seq), 0) FROM changes)",
    )
    .fetch_one(&mut copy)
    .await
    .context("reading the copy")?;
    let summary = BackupSummary {
        incidents: row.try_get(0)?,
        last_change: row.try_get(1)?,
        bytes: std::fs::metadata(partial)?.len(),
    };
    copy.close().await?;
    Ok(summary)
}
