//! DISINFOX server: disinformation incidents recorded by analysts, shared as STIX 2.1 through a
//! JSON API, a bundle endpoint for the OpenCTI connector, and (later) web pages and TAXII 2.1.
#![warn(missing_docs)]

pub mod auth;
pub mod cli;
pub mod configuration;
pub mod correlate;
pub mod db;
pub mod demo;
pub mod error;
pub mod export;
pub mod import;
pub mod model;
pub mod ops;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod web;
