//! Seeds a database with synthetic incidents for benchmarks (bench/server.sh).
//!
//! ```text
//! cargo run --release -p disinfox-server --example seed -- DATABASE_URL COUNT [RECENT]
//! ```
//!
//! Incidents are written as an import writes them (batched transactions, with the stored
//! STIX objects of the server's settings). All but the last RECENT incidents (default 100)
//! get change times two days in the past, so an incremental poll with `newer_than` one hour
//! ago returns about RECENT incidents.

use std::process::ExitCode;
use std::sync::Arc;

use disinfox_server::configuration::Settings;
use disinfox_server::db::jobs::{Change, Planned};
use disinfox_server::db::Store;
use disinfox_server::import::BATCH;
use disinfox_server::model::TechniquePolicy;
use stix_model::disarm::DisarmVersion;
use stix_model::Timestamp;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(Ok(n))) = (args.first(), args.get(1).map(|s| s.parse::<usize>())) else {
        eprintln!("usage: seed DATABASE_URL COUNT [RECENT]");
        return ExitCode::from(2);
    };
    let recent: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    match run(url, n, recent).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str, n: usize, recent: usize) -> anyhow::Result<()> {
    // The server's settings (environment), so the objects are stored under the rules the
    // server will start with.
    let mut settings = Settings::load(None).map_err(|e| anyhow::anyhow!("{e}"))?;
    settings.database_url = url.to_owned();
    let store = disinfox_server::bundle::open_store(&settings).await?;
    let t = std::time::Instant::now();
    let mut planned = Vec::with_capacity(CHUNK);
    let mut done = 0;
    for (input, created) in disinfox_server::demo::inputs(n, 7) {
        let incident = input
            .validate(DisarmVersion::V1_7, TechniquePolicy::Keep, &mut Vec::new())
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let id = stix_model::opencti::incident(&incident.input.name, &created.to_string())?;
        planned.push(Planned {
            r#ref: id.to_string(),
            name: None,
            change: Change::Save {
                id,
                by_name: false,
                incident: Box::new(incident),
                created,
                modified: None,
            },
            warnings: Vec::new(),
        });
        if planned.len() == CHUNK {
            done += write(&store, std::mem::take(&mut planned)).await?;
            eprintln!("{done} incidents in {:.1} s", t.elapsed().as_secs_f64());
        }
    }
    write(&store, planned).await?;
    // Move the old changes two days back, keeping them strictly increasing.
    let old = (n.saturating_sub(recent)) as i64;
    let base = Timestamp::now().unix_micros() - 2 * 86_400 * 1_000_000;
    store.backdate_changes(old, base).await?;
    eprintln!(
        "seeded {n} incidents ({recent} changed in the last hour) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Incidents generated at a time: the import's batches within are written as an import
/// writes them ([`disinfox_server::import::apply`], which builds the next batch while one is
/// written).
const CHUNK: usize = 16 * BATCH;

/// Writes planned incidents the way an import does; returns how many.
async fn write(store: &Store, planned: Vec<Planned>) -> anyhow::Result<usize> {
    let n = planned.len();
    let mut rejected = 0;
    disinfox_server::import::apply(store, None, Arc::new(planned), None, |_, outcomes| {
        rejected += outcomes
            .iter()
            .filter(|o| matches!(o, disinfox_server::db::jobs::Outcome::Rejected(_)))
            .count();
    })
    .await?;
    anyhow::ensure!(rejected == 0, "{rejected} incidents were not stored");
    Ok(n)
}
