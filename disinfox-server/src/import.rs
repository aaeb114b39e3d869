//! Bulk import: STIX 2.1 bundles ([`stix`]) and the upstream DISINFOX bulk CSV format
//! ([`csv`], described in docs/disinfox-upstream.md §2).
//!
//! An import has two steps. [`plan`] reads and checks the whole file (CPU only, run off the
//! async workers by [`plan_blocking`]): one [`Planned`] incident per CSV event and year or per
//! STIX incident id, each to save, revoke or reject with reasons. Then each planned incident
//! is applied on its own, in transactions of [`BATCH`] incidents that also write the job's
//! report rows ([`crate::db::Store::import_items`]): a rejected incident changes nothing, and
//! the report names it with its row numbers (CSV) or id (STIX) and the reasons. Importing the
//! same file twice creates nothing new: ids are deterministic (CSV) or kept (STIX), and an
//! unchanged incident is reported as such without a new version.
//!
//! The web page and the API run imports as jobs ([`crate::jobs`]); the command line runs the
//! same two steps inline ([`run_inline`]).

pub mod csv;
pub mod stix;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use stix_model::disarm::DisarmVersion;

use crate::db::jobs::{Outcome, Planned};
use crate::db::{Prepared, Store};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub use self::csv::CHANNELS;

/// A checked file: its incidents in file order, and warnings about the file itself.
#[derive(Debug, Default)]
pub struct Plan {
    /// The incidents.
    pub items: Vec<Planned>,
    /// About the file.
    pub warnings: Vec<String>,
}

/// What an import did.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct ImportReport {
    /// Ids of incidents created.
    pub created: Vec<String>,
    /// Ids of incidents given a new version.
    pub updated: Vec<String>,
    /// Incidents identical to what is stored.
    pub unchanged: usize,
    /// Incidents (or objects) rejected, with the reasons.
    pub rejected: Vec<Rejected>,
    /// Things accepted but worth knowing (unknown DISARM ids, odd cells).
    pub warnings: Vec<String>,
}

/// The two formats of a bulk import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A STIX 2.1 bundle (JSON).
    Stix,
    /// The upstream DISINFOX bulk CSV.
    Csv,
}

impl Format {
    /// The format of a request body by its media type (the API), if it is one of the two.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let ct = media_type.trim().to_ascii_lowercase();
        if ct.starts_with("application/json") || ct.contains("+json") {
            Some(Self::Stix)
        } else if ct.starts_with("text/csv")
            || ct.starts_with("application/vnd.ms-excel")
            || ct.starts_with("text/plain")
        {
            Some(Self::Csv)
        } else {
            None
        }
    }

    /// The format of a file by its name and content (the command line and the upload page): a
    /// `.json` name or a first character `{` is a bundle, anything else CSV.
    pub fn of_file(name: &str, bytes: &[u8]) -> Self {
        let is_json = std::path::Path::new(name)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            || bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if is_json {
            Self::Stix
        } else {
            Self::Csv
        }
    }

    /// The stored spelling (`stix`, `csv`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stix => "stix",
            Self::Csv => "csv",
        }
    }

    /// Refuses at once a file that cannot be of this format (read only its start): a bundle
    /// must be a JSON object, a CSV file must have the DISINFOX header.
    pub fn check_head(self, bytes: &[u8]) -> ApiResult<()> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::BadRequest("the file is empty".into()));
        }
        match self {
            Self::Stix => {
                let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
                if first != Some(&b'{') {
                    return Err(ApiError::BadRequest(
                        "not a STIX bundle: a bundle is a JSON object ({\"type\": \"bundle\", …})"
                            .into(),
                    ));
                }
                Ok(())
            }
            Self::Csv => self::csv::header(bytes).map(|_| ()),
        }
    }
}

/// Reads and checks a whole file: what to do with each of its incidents. A file that cannot
/// be read at all (not the format, a refused bundle) is an error; anything less is a
/// rejected incident of the plan.
pub fn plan(format: Format, bytes: &[u8], disarm: DisarmVersion) -> ApiResult<Plan> {
    match format {
        Format::Stix => self::stix::plan(bytes, disarm),
        Format::Csv => self::csv::plan(bytes, disarm),
    }
}

/// [`plan`] on the blocking pool, off the async workers (its CPU work grows with the file).
pub async fn plan_blocking(
    format: Format,
    bytes: impl AsRef<[u8]> + Send + 'static,
    disarm: DisarmVersion,
) -> ApiResult<Plan> {
    tokio::task::spawn_blocking(move || plan(format, bytes.as_ref(), disarm))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("reading the file: {e}")))?
}

impl ImportReport {
    /// Adds what applying a planned incident did.
    pub fn add(&mut self, item: &Planned, outcome: &Outcome) {
        match outcome {
            Outcome::Created(id, _) => self.created.push(id.clone()),
            Outcome::Updated(id, _) => self.updated.push(id.clone()),
            Outcome::Unchanged(_) => self.unchanged += 1,
            Outcome::Rejected(errors) => self.rejected.push(Rejected {
                r#ref: item.r#ref.clone(),
                name: item.name.clone(),
                errors: errors.clone(),
            }),
        }
        self.warnings
            .extend(item.warnings.iter().map(|w| format!("{}: {w}", item.r#ref)));
    }
}

/// Imports a file inline (the command line): the same plan and the same per-incident
/// transactions as a job, without a job record. `progress(done, total)` is called after each
/// incident.
pub async fn run_inline(
    state: &AppState,
    format: Format,
    bytes: Vec<u8>,
    user_id: Option<i64>,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> ApiResult<ImportReport> {
    let plan = plan_blocking(format, bytes, state.settings.disarm_version).await?;
    let mut report = ImportReport {
        warnings: plan.warnings.clone(),
        ..ImportReport::default()
    };
    let total = plan.items.len();
    let mut done = 0;
    apply(
        &state.store,
        None,
        Arc::new(plan.items),
        user_id,
        |batch, outcomes| {
            for ((_, item), outcome) in batch.iter().zip(outcomes) {
                report.add(item, outcome);
            }
            done += batch.len();
            progress(done, total);
        },
    )
    .await?;
    Ok(report)
}

/// Applies planned incidents in transactions of [`BATCH`], in order (each item numbered by
/// its position, from 1), for a job or not; `each` is given every batch's items and
/// outcomes once it is committed.
///
/// While one batch is written, the next one's new incidents are built on a blocking thread
/// ([`Store::prepare_creates`]): their STIX objects and stored JSON, about half of an
/// import's CPU, no longer wait for the writer nor hold it.
pub async fn apply(
    store: &Store,
    job: Option<&str>,
    items: Arc<Vec<Planned>>,
    user_id: Option<i64>,
    mut each: impl FnMut(&[(i64, &Planned)], &[Outcome]),
) -> anyhow::Result<()> {
    let total = items.len();
    let prepare = |start: usize| {
        let store = store.clone();
        let items = Arc::clone(&items);
        tokio::task::spawn_blocking(move || {
            let end = (start + BATCH).min(items.len());
            let batch: Vec<&Planned> = items.get(start..end).unwrap_or_default().iter().collect();
            store.prepare_creates(&batch)
        })
    };
    let mut next: Option<tokio::task::JoinHandle<Prepared>> = None;
    let mut start = 0;
    while start < total {
        let end = (start + BATCH).min(total);
        let prepared = match next.take() {
            Some(handle) => handle.await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "import: preparing a batch failed; it is built in its transaction");
                Prepared::default()
            }),
            None => Prepared::default(),
        };
        if end < total {
            next = Some(prepare(end));
        }
        let batch: Vec<(i64, &Planned)> = (start..end)
            .filter_map(|i| Some((i64::try_from(i + 1).ok()?, items.get(i)?)))
            .collect();
        let outcomes = store.import_items(job, &batch, user_id, prepared).await?;
        each(&batch, &outcomes);
        start = end;
    }
    Ok(())
}

/// Incidents applied per transaction (written with one statement per table, see
/// [`crate::db::Store::import_items`]): one commit for 512 incidents. Each commit rewrites
/// the index pages its inserts touched, so fewer, bigger batches write fewer pages; 512 holds
/// the writer lock for about 200 ms at a time on the 2-core machine of the benchmarks
/// (bench/server.sh, step 5), so other writes still go on during an import. (128 held it
/// half as long and seeded 20,000 incidents in 15.0 s instead of 13.9.)
pub const BATCH: usize = 512;

/// A rejected incident or object.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Rejected {
    /// `rows 3, 4` for CSV, the STIX id for bundles.
    pub r#ref: String,
    /// The incident's name when known.
    pub name: Option<String>,
    /// Why.
    pub errors: Vec<String>,
}

/// The field errors of an invalid incident as report lines.
pub(crate) fn field_errors(fields: BTreeMap<String, String>) -> Vec<String> {
    fields
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect()
}
