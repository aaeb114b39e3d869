//! Reads PDFs as the new-incident form's intake does and prints what it proposes, with the
//! time each took: a look at how the intake does on real reports.
//!
//!   cargo run --release -p disinfox-server --example pdf_intake -- FILE.pdf...

use std::time::Instant;

use disinfox_server::intake::{read_pdf, Known, Limits, DEFAULT_CHANNELS};
use stix_model::disarm::{Catalogue, DisarmVersion};

fn main() -> anyhow::Result<()> {
    let known = Known {
        catalogue: Catalogue::builtin(DisarmVersion::V1_7),
        actors: &[],
        channels: DEFAULT_CHANNELS,
    };
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path)?;
        let t = Instant::now();
        let r = read_pdf(&bytes, &known, &Limits::default());
        let took = t.elapsed();
        match r {
            Ok(r) => {
                println!(
                    "{path}: {} bytes, {} of {} pages, {} characters, {} proposals, {took:?}",
                    bytes.len(),
                    r.pages_read,
                    r.pages,
                    r.text.chars().count(),
                    r.proposals.len()
                );
                for n in &r.notes {
                    println!("  note: {n}");
                }
                for p in r.proposals.iter().take(40) {
                    println!(
                        "  {:?} {:?} {} ×{}: {}",
                        p.kind,
                        p.confidence,
                        p.label,
                        p.occurrences,
                        p.sentence.chars().take(100).collect::<String>()
                    );
                }
            }
            Err(e) => println!("{path}: {} bytes, {took:?}: {e}", bytes.len()),
        }
    }
    Ok(())
}
