//! Splits a bundle on standard input the way OpenCTI's splitter does, and prints a summary
//! (and, with `--print`, one bundle per line). With `--text` the bundle is streamed object by
//! object (parsed and checked), each object kept as JSON text, split with `split_texts`, and
//! every output bundle made: what the connector does with a page.
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
    let mut objects = Vec::new();
    let mut invalid = 0usize;
    let streamed = stix_model::Bundle::stream(bundle, |o| {
        match o {
            Ok(o) => objects.extend(serde_json::to_string(&o).ok()),
            Err(_) => invalid += 1,
        }
        Ok(())
    });
    if let Err(e) = streamed {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let read = t.elapsed();
    let result = stix_model::split::split_texts(None, objects, &Default::default());
    let (expectations, dropped, removed) = (
        result.expectations(),
        result.dropped.len(),
        result.removed_refs.len(),
    );
    // Every output bundle is made (as pycti makes them); printed with --print.
    let print = std::env::args().any(|a| a == "--print");
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut bytes = 0usize;
    for b in result.into_bundles() {
        bytes += b.len();
        if print && writeln!(out, "{b}").is_err() {
            return ExitCode::FAILURE;
        }
    }
    if out.flush().is_err() {
        return ExitCode::FAILURE;
    }
    eprintln!(
        "streamed and checked in {:.1} ms ({invalid} invalid); split as text into {expectations} bundles ({:.1} MB) in {:.1} ms; dropped {dropped} objects, removed {removed} references",
        read.as_secs_f64() * 1e3,
        bytes as f64 / 1e6,
        (t.elapsed() - read).as_secs_f64() * 1e3,
    );
    ExitCode::SUCCESS
}
