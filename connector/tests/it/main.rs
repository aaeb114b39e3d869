//! Integration tests of the connector.
#![allow(clippy::unwrap_used, unreachable_pub)]

mod amqp_path;
mod dedup;
mod deployment;
mod e2e;
mod graphql_contract;
mod opencti;
mod process;
mod source;
mod standin;
mod stream;
mod support;
