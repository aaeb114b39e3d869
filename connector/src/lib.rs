//! The OpenCTI connector for DISINFOX (work in progress): configuration with OpenCTI's names
//! and ISO 8601 periods, and the GraphQL documents it sends. The run loop, the OpenCTI client and
//! the AMQP path come next.
#![warn(missing_docs)]

pub mod configuration;
pub mod duration;
pub mod graphql;
pub mod source;
pub mod standin;
