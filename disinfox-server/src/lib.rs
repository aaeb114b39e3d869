//! DISINFOX server: disinformation incidents recorded by analysts, shared as STIX 2.1 through
//! web pages, a JSON API, a bundle endpoint for the OpenCTI connector, TAXII 2.1 and DISARM
//! Navigator layers.
#![warn(missing_docs)]

pub mod audit;
pub mod auth;
pub mod bundle;
pub mod cli;
pub mod client;
pub mod configuration;
pub mod correlate;
pub mod db;
pub mod demo;
pub mod error;
pub mod graph;
pub mod http;
pub mod import;
pub mod intake;
pub mod jobs;
pub mod live;
pub mod maps;
pub mod model;
pub mod navigator;
pub mod ops;
pub mod report;
pub mod router;
pub mod routes;
pub mod startup;
pub mod state;
pub mod streams;
pub mod taxii;
pub mod telemetry;
pub mod web;
mod xml;
