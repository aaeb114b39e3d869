//! Splits a bundle on standard input the way OpenCTI's splitter does, and prints a summary
//! (or, with `--print`, one bundle per line).
//!
//! ```text
//! cargo run -p stix-model --example split < bundle.json
//! ```

use std::io::{self, BufReader, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut text = Vec::new();
    if let Err(e) = BufReader::new(io::stdin().lock()).read_to_end(&mut text) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let value: serde_json::Value = match serde_json::from_slice(&text) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    drop(text);
    let t = Instant::now();
    let result = match stix_model::split::split_bundle(value, &Default::default()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let elapsed = t.elapsed();
    if std::env::args().any(|a| a == "--print") {
        let mut out = io::stdout().lock();
        for b in &result.bundles {
            if serde_json::to_writer(&mut out, b).is_err() || writeln!(out).is_err() {
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!(
        "split into {} bundles in {:.1} ms; dropped {} objects, removed {} references",
        result.bundles.len(),
        elapsed.as_secs_f64() * 1e3,
        result.dropped.len(),
        result.removed_refs.len()
    );
    ExitCode::SUCCESS
}
