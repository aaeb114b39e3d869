//! Throughput of parse + validate + serialize, next to a plain `serde_json::Value` round trip of
//! the same bytes, on DISARM v1.7 and on a generated bundle of 100,000 objects; and the time of
//! OpenCTI's split of that bundle.
//!
//! ```text
//! cargo bench -p stix-model --bench throughput
//! ```
//!
//! Besides criterion's own report, prints a summary with MB/s and the ratio to the
//! `serde_json::Value` round trip (the practical limit).
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use serde_json::Value;
use stix_model::incident::{BuildOptions, BundleBuilder};
use stix_model::Bundle;

fn ours(bytes: &[u8]) -> usize {
    let b = Bundle::from_slice(bytes).unwrap();
    assert!(b.check_references().is_empty());
    b.to_vec().unwrap().len()
}

fn plain(bytes: &[u8]) -> usize {
    let v: Value = serde_json::from_slice(bytes).unwrap();
    serde_json::to_vec(&v).unwrap().len()
}

/// A generated bundle of at least `n` objects.
pub fn generated(n: usize) -> Vec<u8> {
    let mut b = BundleBuilder::new(BuildOptions::with_author("Bench").unwrap());
    let mut seed = 1;
    while b.objects().len() < n {
        for d in stix_model::sample::incidents(seed, 1000) {
            b.add_incident(&d).unwrap();
        }
        seed += 1;
    }
    b.build().to_vec().unwrap()
}

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

#[path = "../tests/it/published.rs"]
#[allow(dead_code)]
mod published;

fn main() {
    // DISINFOX_DISARM_DIR, as for the tests; without the bundle its row is skipped.
    let disarm = published::disarm_bundle("1.7", "throughput bench on DISARM 1.7");
    let big = generated(100_000);
    let big_objects = Bundle::from_slice(&big).unwrap().objects.len();
    let mut inputs = Vec::new();
    if let Some(d) = &disarm {
        inputs.push(("disarm-1.7", d));
    }
    inputs.push(("generated-100k", &big));

    // SUMMARY_ONLY=1 skips criterion's runs and prints only the summary.
    let full = std::env::var_os("SUMMARY_ONLY").is_none();
    let mut c = Criterion::default().configure_from_args().sample_size(10);
    for &(name, bytes) in inputs.iter().filter(|_| full) {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("stix-model parse+validate+serialize", |b| {
            b.iter(|| ours(black_box(bytes)))
        });
        g.bench_function("serde_json::Value parse+serialize", |b| {
            b.iter(|| plain(black_box(bytes)))
        });
        g.finish();
    }
    let objects: Vec<serde_json::Map<String, Value>> = {
        let v: Value = serde_json::from_slice(&big).unwrap();
        v["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_object().unwrap().clone())
            .collect()
    };
    if full {
        c.bench_function("split generated-100k", |b| {
            b.iter_batched(
                || objects.clone(),
                |objs| {
                    stix_model::split::split_objects(None, objs, &Default::default())
                        .bundles
                        .len()
                },
                criterion::BatchSize::LargeInput,
            )
        });
        c.final_summary();
    }

    println!("\nsummary (median of 51 runs for DISARM, 7 for the large bundle; interleaved)");
    println!(
        "{:<16} {:>10} {:>14} {:>14} {:>7}",
        "input", "MB", "ours MB/s", "Value MB/s", "ratio"
    );
    for (name, bytes) in inputs {
        let mb = bytes.len() as f64 / 1e6;
        let runs = if bytes.len() < 5_000_000 { 51 } else { 7 };
        // Interleave the two so that machine noise hits both alike.
        let mut t_ours = Vec::new();
        let mut t_plain = Vec::new();
        for _ in 0..runs {
            t_ours.push(median(
                || {
                    black_box(ours(bytes));
                },
                1,
            ));
            t_plain.push(median(
                || {
                    black_box(plain(bytes));
                },
                1,
            ));
        }
        t_ours.sort();
        t_plain.sort();
        let t_ours = t_ours[runs / 2].as_secs_f64();
        let t_plain = t_plain[runs / 2].as_secs_f64();
        println!(
            "{name:<16} {mb:>10.1} {:>14.1} {:>14.1} {:>6.2}x",
            mb / t_ours,
            mb / t_plain,
            t_ours / t_plain
        );
    }
    let t_split = median(
        || {
            let r = stix_model::split::split_objects(None, objects.clone(), &Default::default());
            black_box(r.bundles.len());
        },
        5,
    );
    println!(
        "split of {big_objects} objects: {:.0} ms (median, including a clone of the input)",
        t_split.as_secs_f64() * 1e3
    );
}
