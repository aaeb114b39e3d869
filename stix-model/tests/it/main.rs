//! Integration tests of stix-model (one test binary: see `mod` lines).

mod invalid;
mod props;
mod roundtrip;
