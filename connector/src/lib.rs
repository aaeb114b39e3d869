//! The OpenCTI connector for DISINFOX (work in progress): configuration with OpenCTI's names
//! and ISO 8601 periods. The run loop, OpenCTI client and AMQP path come next.
#![warn(missing_docs)]

pub mod configuration;
pub mod duration;
