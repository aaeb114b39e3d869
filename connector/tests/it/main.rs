//! Integration tests of the connector.
#![allow(clippy::unwrap_used)]

mod graphql_contract;
mod source;
mod standin;
