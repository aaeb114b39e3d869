//! Integration tests of disinfox-server: each test starts the server on port 0 with a fresh
//! database: a SQLite file, or, when `DISINFOX_TEST_POSTGRES_URL` names a PostgreSQL server,
//! a database of its own there (support.rs, `TestDb`). `scripts/test` runs them both ways.
#![allow(clippy::unwrap_used, unreachable_pub, dead_code)]

mod auth;
mod backup;
mod bundle;
mod cli;
mod copy;
mod disarm_summaries;
mod imports;
mod incidents;
mod jobs;
mod limits;
mod navigator;
mod pages;
mod public;
mod requests;
#[path = "../../src/intake/sample_pdfs.rs"]
mod sample_pdfs;
mod stored_stix;
mod stream;
mod support;
mod taxii;
mod watchlist;
