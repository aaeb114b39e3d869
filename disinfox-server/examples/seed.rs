//! Seeds a database with synthetic incidents for benchmarks (bench/server.sh).
//!
//! ```text
//! cargo run --release -p disinfox-server --example seed -- DATABASE_URL COUNT [RECENT]
//! ```
//!
//! All but the last RECENT incidents (default 100) get change times two days in the past, so
//! an incremental poll with `newer_than` one hour ago returns about RECENT incidents.

use std::process::ExitCode;

use disinfox_server::db::Store;
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
    let store = Store::connect(url).await?;
    let t = std::time::Instant::now();
    for (i, (input, created)) in disinfox_server::demo::inputs(n, 7).into_iter().enumerate() {
        let incident = input
            .validate(DisarmVersion::V1_7, TechniquePolicy::Keep, &mut Vec::new())
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let id = stix_model::opencti::incident(&incident.input.name, &created.to_string())?;
        store
            .save_incident(&id, &incident, created, None, None)
            .await?;
        if (i + 1) % 10_000 == 0 {
            eprintln!("{} incidents in {:.1} s", i + 1, t.elapsed().as_secs_f64());
        }
    }
    // Move the old changes two days back, keeping them strictly increasing.
    let old = (n.saturating_sub(recent)) as i64;
    let base = Timestamp::now().unix_micros() - 2 * 86_400 * 1_000_000;
    sqlx::query("UPDATE changes SET at = strftime('%Y-%m-%dT%H:%M:%S', (?1 + seq * 1000) / 1000000, 'unixepoch') || '.' || printf('%06d', (?1 + seq * 1000) % 1000000) || 'Z' WHERE seq <= ?2")
        .bind(base)
        .bind(old)
        .execute(store.pool())
        .await?;
    sqlx::query("UPDATE incidents SET changed_at = (SELECT at FROM changes WHERE seq = incidents.change_seq) WHERE change_seq <= ?")
        .bind(old)
        .execute(store.pool())
        .await?;
    eprintln!(
        "seeded {n} incidents ({recent} changed in the last hour) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
