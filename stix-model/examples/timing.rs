//! Times parse + validate + serialize of a bundle file with stix-model, next to a plain
//! `serde_json::Value` parse + serialize of the same bytes, in one process, interleaved so that
//! machine noise hits both alike; prints the medians (bench/stix-model.sh reads them).
//!
//! ```text
//! cargo run --release -p stix-model --example timing -- FILE [--runs N] [--only ours|value]
//! ```
//!
//! `--runs 1 --only ours` is one run, for profilers (`perf record`, `valgrind`); `--phases`
//! prints the median of each phase of ours (parse and check each object, check references,
//! serialize, drop).

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use stix_model::Bundle;

/// Parse (every object checked), the bundle's references checked, written back.
fn ours(bytes: &[u8]) -> Result<usize, String> {
    let bundle = Bundle::from_slice(bytes).map_err(|e| e.to_string())?;
    let dangling = bundle.check_references();
    if !dangling.is_empty() {
        return Err(format!("{} reference violations", dangling.len()));
    }
    Ok(bundle.to_vec().map_err(|e| e.to_string())?.len())
}

fn value(bytes: &[u8]) -> Result<usize, String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    Ok(serde_json::to_vec(&v).map_err(|e| e.to_string())?.len())
}

fn timed(f: fn(&[u8]) -> Result<usize, String>, bytes: &[u8]) -> Result<Duration, String> {
    let t = Instant::now();
    black_box(f(black_box(bytes))?);
    Ok(t.elapsed())
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(f64::NAN, Duration::as_secs_f64)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let (Some(path), Some(runs)) = (
        args.first(),
        opt("--runs").map_or(Some(7), |r| r.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: timing FILE [--runs N] [--only ours|value]");
        return ExitCode::from(2);
    };
    let only = opt("--only").map(String::as_str);
    if args.iter().any(|a| a == "--phases") {
        return phases(path, runs.max(1));
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut t_ours, mut t_value) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let mut run = || -> Result<(), String> {
            if only != Some("value") {
                t_ours.push(timed(ours, &bytes)?);
            }
            if only != Some("ours") {
                t_value.push(timed(value, &bytes)?);
            }
            Ok(())
        };
        if let Err(e) = run() {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!(
        "{path}: {:.1} MB; median of {} runs: stix-model {:.3} s, serde_json::Value {:.3} s",
        bytes.len() as f64 / 1e6,
        runs.max(1),
        median(t_ours),
        median(t_value)
    );
    ExitCode::SUCCESS
}

fn phases(path: &str, runs: usize) -> ExitCode {
    let Ok(bytes) = std::fs::read(path) else {
        eprintln!("cannot read {path}");
        return ExitCode::from(2);
    };
    let mut t: [Vec<Duration>; 4] = Default::default();
    for _ in 0..runs {
        let start = Instant::now();
        let Ok(bundle) = Bundle::from_slice(&bytes) else {
            eprintln!("{path}: not a valid bundle");
            return ExitCode::FAILURE;
        };
        let parsed = Instant::now();
        black_box(bundle.check_references());
        let checked = Instant::now();
        black_box(bundle.to_vec().map(|v| v.len()).unwrap_or_default());
        let written = Instant::now();
        drop(bundle);
        let dropped = Instant::now();
        for (i, d) in [
            parsed - start,
            checked - parsed,
            written - checked,
            dropped - written,
        ]
        .into_iter()
        .enumerate()
        {
            t[i].push(d);
        }
    }
    let [p, c, w, d] = t.map(median);
    println!(
        "{path}: median of {runs} runs: parse {p:.3} s, check references {c:.3} s, serialize {w:.3} s, drop {d:.3} s"
    );
    ExitCode::SUCCESS
}
