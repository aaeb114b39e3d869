//! One parse+validate+serialize (or, with `--value`, one `serde_json::Value` round trip) of a
//! file, for profilers: `valgrind --tool=callgrind target/release/examples/profile_once FILE`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: profile_once FILE [--value]");
        return ExitCode::from(2);
    };
    let Ok(bytes) = std::fs::read(path) else {
        eprintln!("cannot read {path}");
        return ExitCode::from(2);
    };
    let n = if args.iter().any(|a| a == "--value") {
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| serde_json::to_vec(&v).ok())
            .map_or(0, |v| v.len())
    } else {
        stix_model::Bundle::from_slice(&bytes)
            .ok()
            .filter(|b| b.check_references().is_empty())
            .and_then(|b| b.to_vec().ok())
            .map_or(0, |v| v.len())
    };
    println!("{n}");
    ExitCode::SUCCESS
}
