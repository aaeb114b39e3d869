//! Splits a bundle on standard input the way OpenCTI's splitter does, and prints a summary
//! (and, with `--print`, one bundle per line). With `--text` the bundle stays JSON text:
//! `split_json` checks every object with the crate's rules, splits the valid ones as spans of
//! the input, and every output bundle is made.
//!
//! ```text
//! cargo run -p stix-model --example split [-- --text] < bundle.json
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
    if std::env::args().any(|a| a == "--text") {
        return split_text(&text);
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

fn split_text(bundle: &[u8]) -> ExitCode {
    let t = Instant::now();
    let result = match stix_model::split::split_json(bundle, &Default::default()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let checked = t.elapsed();
    // Every output bundle is made (as pycti makes them); printed with --print.
    let print = std::env::args().any(|a| a == "--print");
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut bundle = String::new();
    let mut bytes = 0usize;
    for k in 0..result.expectations() {
        bundle.clear();
        result.write_bundle(k, &mut bundle);
        bytes += bundle.len();
        if print && writeln!(out, "{bundle}").is_err() {
            return ExitCode::FAILURE;
        }
    }
    if out.flush().is_err() {
        return ExitCode::FAILURE;
    }
    let invalid = result
        .violations
        .iter()
        .filter_map(|v| v.object_id.as_deref())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    eprintln!(
        "checked and split in {:.1} ms ({invalid} invalid objects left out); {} bundles ({:.1} MB) made in {:.1} ms; dropped {} objects, removed {} references",
        checked.as_secs_f64() * 1e3,
        result.expectations(),
        bytes as f64 / 1e6,
        (t.elapsed() - checked).as_secs_f64() * 1e3,
        result.dropped.len(),
        result.removed_refs.len()
    );
    ExitCode::SUCCESS
}
