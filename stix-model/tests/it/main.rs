//! Integration tests of stix-model (one test binary: see `mod` lines).
#![allow(clippy::unwrap_used)]

mod builder;
mod invalid;
mod props;
mod roundtrip;
