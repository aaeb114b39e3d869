//! Integration tests of stix-model (one test binary: see `mod` lines).
#![allow(clippy::unwrap_used)]

mod builder;
mod disarm;
mod invalid;
mod props;
mod published;
mod roundtrip;
