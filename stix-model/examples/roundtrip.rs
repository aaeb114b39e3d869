//! Reads a STIX 2.1 bundle on standard input, validates it, and prints it back.
//!
//! ```text
//! cargo run -p stix-model --example roundtrip < bundle.json > out.json
//! ```
//!
//! Exits 0 and prints the bundle when it is valid; exits 1 with every violation on standard
//! error when it is not; exits 2 when the input is not JSON or not a bundle at all.

use std::io::{self, BufReader, Write};
use std::process::ExitCode;

use stix_model::Bundle;

fn main() -> ExitCode {
    let stdin = io::stdin();
    let (bundle, report) = match Bundle::read_lenient(BufReader::new(stdin.lock())) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if !report.is_valid() {
        for v in &report.violations {
            eprintln!("{v}");
        }
        eprintln!("{} violation(s)", report.violations.len());
        return ExitCode::from(1);
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = bundle
        .to_writer(&mut out)
        .map_err(|e| e.to_string())
        .and_then(|()| writeln!(out).map_err(|e| e.to_string()))
        .and_then(|()| out.flush().map_err(|e| e.to_string()));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
