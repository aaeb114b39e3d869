//! `disinfox-server db copy --from sqlite://… --to postgres://…`: moving a server's data from
//! SQLite to an empty PostgreSQL database, everything kept as it was.
//!
//! Every row of every table is copied with its keys unchanged: user and key ids, incident ids,
//! the change log with its positions (`seq`) and times, the TAXII collection's entries at their
//! positions, stored STIX, audit, import jobs with their items, watchlists, sessions. A
//! connector's stored cursor and a TAXII client's `added_after` therefore mean the same on the
//! new database: they continue where they were, with nothing sent twice and nothing missed.
//! Afterwards every sequence of the target (the change log's, the ids') is set past the largest
//! copied value, so new rows never reuse a position.
//!
//! How: the source is opened as the server opens it (its migrations and start-up maintenance
//! run, so the file has the current schema), then read in one read transaction (one snapshot,
//! even if a server still writes to it; stop it first anyway, or its later writes are not
//! copied), table by table, in batches of rows in `rowid` order, so memory stays bounded
//! whatever the size. The target is opened as the server opens it (its migrations run), and
//! everything is written in ONE transaction: a copy that fails leaves the target as it was. A
//! target that holds any row in the copied tables is refused, naming what is there.
//!
//! Columns are matched by name; each value is read from SQLite as text (bytes for a `bytea`
//! column) and converted by PostgreSQL to the column's type (`CAST($n AS <type>)`: `0`/`1` to
//! booleans, RFC 3339 text to timestamps, JSON text to `jsonb`), so the copy follows the
//! PostgreSQL schema (migrations/postgres) without a second list of column types here. Columns
//! PostgreSQL computes itself (generated columns such as a text-search vector) are left to it.
//! A source table this file does not know, or a source column the target lacks, stops the copy
//! before anything is written: nothing is ever silently left behind.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};

use super::postgres::redact;
use super::{is_postgres_url, stix, Postgres, Sqlite};

/// The tables copied, in an order that satisfies their foreign keys.
pub const TABLES: &[&str] = &[
    "users",
    "api_keys",
    "sessions",
    "incidents",
    "changes",
    "incident_techniques",
    "incident_actors",
    "incident_countries",
    "incident_channels",
    "collection_entries",
    "collection_refs",
    "collection_object_ids",
    "incident_stix",
    "stix_shared",
    "stix_rules",
    "audit_log",
    "import_jobs",
    "import_job_items",
    "watchlist",
];

/// Source tables that are not data: SQLite's own, the migrations' record, the full-text index
/// (PostgreSQL has its own text search, built from the incidents), `maintenance` (one-off
/// tasks the server runs when it opens a SQLite file, done by the time the copy reads it), and
/// the state of running processes (src/db/replicas.rs: rate-limit buckets, which refill
/// anyway; sign-in failures, which an hour forgets; the processes' heartbeats).
fn not_data(table: &str) -> bool {
    table.starts_with("sqlite_")
        || table.starts_with("incidents_fts")
        || [
            "_sqlx_migrations",
            "maintenance",
            "rate_buckets",
            "sign_in_failures",
            "server_instances",
        ]
        .contains(&table)
}

/// The most values one INSERT binds (PostgreSQL allows 65 535 parameters).
const MAX_PARAMS: usize = 30_000;
/// The most rows read and written at once.
const MAX_ROWS: usize = 500;

/// How many rows of each table were copied, in [`TABLES`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// `(table, rows)`.
    pub tables: Vec<(&'static str, u64)>,
}

impl CopyReport {
    /// Every row copied.
    pub fn total(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// A column as copied: its name, how SQLite gives it, and the PostgreSQL expression it goes
/// into.
struct Column {
    name: String,
    /// Read from SQLite as bytes (into a `bytea` column), else as text.
    bytes: bool,
    /// The SQLite expression read.
    select: String,
    /// The PostgreSQL expression of parameter `$n` (`{}` stands for it).
    insert: String,
}

/// A value on its way.
enum Value {
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

/// Copies the SQLite database at `from` into the empty PostgreSQL database at `to`.
pub async fn copy(from: &str, to: &str) -> anyhow::Result<CopyReport> {
    anyhow::ensure!(
        !is_postgres_url(from),
        "--from must be a SQLite database (sqlite://FILE), not {}",
        redact(from)
    );
    anyhow::ensure!(
        is_postgres_url(to),
        "--to must be a PostgreSQL database (postgres://USER@HOST/NAME), not {}",
        redact(to)
    );
    // An existing file: opening a SQLite URL would otherwise create an empty database.
    SqliteConnectOptions::from_str(from)
        .with_context(|| format!("database URL {from}"))?
        .create_if_missing(false)
        .connect()
        .await
        .with_context(|| format!("opening {from}"))?
        .close()
        .await?;
    let committed = Arc::new(tokio::sync::watch::Sender::new(0));
    let source = Sqlite::connect(from, stix::RulesCell::default(), committed.clone())
        .await
        .with_context(|| format!("opening {from}"))?;
    let target = Postgres::connect(to, stix::RulesCell::default(), committed)
        .await
        .with_context(|| format!("opening {}", redact(to)))?;
    let result = copy_between(&source, &target, to).await;
    source.pool.close().await;
    target.close().await;
    result
}

async fn copy_between(source: &Sqlite, target: &Postgres, to: &str) -> anyhow::Result<CopyReport> {
    let mut src = source.pool.acquire().await?;
    // One snapshot of the source: a deferred transaction reads from its first SELECT on.
    let mut src = src.begin().await?;
    let source_tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut *src)
            .await?;
    let unknown: Vec<&String> = source_tables
        .iter()
        .filter(|t| !not_data(t) && !TABLES.contains(&t.as_str()))
        .collect();
    anyhow::ensure!(
        unknown.is_empty(),
        "the source has tables db copy does not know: {unknown:?} (a newer server's database?)"
    );

    let mut tx = target.pool().begin().await?;
    // Refuse a target with data, naming what is there.
    let mut present = Vec::new();
    for table in TABLES {
        let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&mut *tx)
            .await
            .with_context(|| format!("reading the target's {table}"))?;
        if rows > 0 {
            present.push(format!("{table}: {rows} rows"));
        }
    }
    anyhow::ensure!(
        present.is_empty(),
        "the target {} is not empty ({}); db copy only fills an empty database",
        redact(to),
        present.join(", ")
    );

    let mut report = CopyReport { tables: Vec::new() };
    for table in TABLES {
        let rows = if source_tables.iter().any(|t| t == table) {
            copy_table(&mut src, &mut tx, table).await?
        } else {
            0
        };
        report.tables.push((table, rows));
    }
    reset_sequences(&mut tx).await?;
    tx.commit().await.context("committing the copy")?;
    src.rollback().await?;
    Ok(report)
}

/// The columns of `table` in both databases, matched by name.
async fn columns(
    src: &mut sqlx::SqliteConnection,
    tx: &mut sqlx::PgConnection,
    table: &str,
) -> anyhow::Result<Vec<Column>> {
    let source: Vec<(String, String)> = sqlx::query(AssertSqlSafe(format!(
        "SELECT name, type FROM pragma_table_info('{table}') ORDER BY cid"
    )))
    .fetch_all(&mut *src)
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get(0)?,
            r.try_get::<String, _>(1)?.to_ascii_uppercase(),
        ))
    })
    .collect::<Result<_, sqlx::Error>>()?;
    let target: BTreeMap<String, (String, bool)> = sqlx::query(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attgenerated <> ''
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relname = $1
           AND a.attnum > 0 AND NOT a.attisdropped",
    )
    .bind(table)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?))))
    .collect::<Result<_, sqlx::Error>>()?;
    anyhow::ensure!(!target.is_empty(), "the target has no table {table}");
    let mut columns = Vec::new();
    for (name, decl) in source {
        let Some((ty, generated)) = target.get(&name) else {
            anyhow::bail!("the target's {table} has no column {name}: its data would be lost");
        };
        if *generated {
            continue;
        }
        let blob = decl.contains("BLOB");
        let (bytes, select, insert) = if ty == "bytea" {
            (true, format!("\"{name}\""), "{}".to_owned())
        } else if blob {
            // Bytes into a text column: as lower-case hex.
            (
                false,
                format!("lower(hex(\"{name}\"))"),
                format!("CAST({{}} AS {ty})"),
            )
        } else if decl.contains("INT") && ty.starts_with("timestamp") {
            // Seconds since 1970 (SQLite) into a timestamp.
            (
                false,
                format!("CAST(\"{name}\" AS TEXT)"),
                "to_timestamp(CAST({} AS double precision))".to_owned(),
            )
        } else {
            (
                false,
                format!("CAST(\"{name}\" AS TEXT)"),
                format!("CAST({{}} AS {ty})"),
            )
        };
        columns.push(Column {
            name,
            bytes,
            select,
            insert,
        });
    }
    Ok(columns)
}

/// Copies one table in batches; the rows copied.
async fn copy_table(
    src: &mut sqlx::SqliteConnection,
    tx: &mut sqlx::PgConnection,
    table: &str,
) -> anyhow::Result<u64> {
    let columns = columns(src, tx, table).await?;
    if columns.is_empty() {
        return Ok(0);
    }
    let identity_always: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                        JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE n.nspname = current_schema() AND c.relname = $1
                          AND a.attidentity = 'a')",
    )
    .bind(table)
    .fetch_one(&mut *tx)
    .await?;
    let batch = (MAX_PARAMS / columns.len()).clamp(1, MAX_ROWS);
    let select = format!(
        "SELECT rowid, {} FROM \"{table}\" WHERE rowid > ? ORDER BY rowid LIMIT {batch}",
        columns
            .iter()
            .map(|c| c.select.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let names = columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let overriding = if identity_always {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    let mut after = i64::MIN;
    let mut copied = 0u64;
    loop {
        let rows = sqlx::query(AssertSqlSafe(select.clone()))
            .bind(after)
            .fetch_all(&mut *src)
            .await
            .with_context(|| format!("reading {table}"))?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0)?;
        let mut values = Vec::with_capacity(rows.len() * columns.len());
        for row in &rows {
            for (i, c) in columns.iter().enumerate() {
                values.push(if c.bytes {
                    Value::Bytes(row.try_get(i + 1)?)
                } else {
                    Value::Text(row.try_get(i + 1)?)
                });
            }
        }
        let mut n = 0;
        let tuples = rows
            .iter()
            .map(|_| {
                let exprs = columns
                    .iter()
                    .map(|c| {
                        n += 1;
                        c.insert.replace("{}", &format!("${n}"))
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("({exprs})")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("INSERT INTO \"{table}\" ({names}){overriding} VALUES {tuples}");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for v in values {
            q = match v {
                Value::Text(t) => q.bind(t),
                Value::Bytes(b) => q.bind(b),
            };
        }
        q.execute(&mut *tx)
            .await
            .with_context(|| format!("writing {table}"))?;
        copied += rows.len() as u64;
    }
    Ok(copied)
}

/// Sets every sequence owned by a column of a copied table (serial and identity columns: the
/// change log's positions, the ids) past the largest value copied, so that the next row takes
/// the next position.
async fn reset_sequences(tx: &mut sqlx::PgConnection) -> anyhow::Result<()> {
    let owned: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text,
                pg_get_serial_sequence(quote_ident(c.relname), a.attname)
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind = 'r' AND a.attnum > 0
           AND NOT a.attisdropped
           AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (table, column, sequence) in owned {
        if !TABLES.contains(&table.as_str()) {
            continue;
        }
        sqlx::query(AssertSqlSafe(format!(
            "SELECT setval($1, (SELECT COALESCE(MAX(\"{column}\"), 0) FROM \"{table}\") + 1, false)"
        )))
        .bind(&sequence)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("setting {sequence} past {table}.{column}"))?;
    }
    Ok(())
}
