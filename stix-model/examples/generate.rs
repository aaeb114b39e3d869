//! Prints a bundle of synthetic incidents (for validators and benchmarks).
//!
//! ```text
//! cargo run -p stix-model --example generate -- 1000 [--seed N] [--opencti] > bundle.json
//! ```

use std::io::Write;
use std::process::ExitCode;

use stix_model::incident::{BuildOptions, BundleBuilder};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = match args.first().map(|s| s.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("usage: generate COUNT [--seed N] [--opencti]");
            return ExitCode::from(2);
        }
    };
    let seed = args
        .iter()
        .position(|a| a == "--seed")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut opts = match BuildOptions::with_author("DISINFOX Demo") {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    opts.opencti = args.iter().any(|a| a == "--opencti");
    let mut b = BundleBuilder::new(opts);
    for d in stix_model::sample::incidents(seed, n) {
        if let Err(e) = b.add_incident(&d) {
            eprintln!("error: {}: {e}", d.name);
            return ExitCode::FAILURE;
        }
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match b
        .build()
        .to_writer(&mut out)
        .map(|()| writeln!(out).and_then(|()| out.flush()))
    {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
