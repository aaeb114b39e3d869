//! `CONNECTOR_*` (`config.yml` section `connector`): who the connector is, its schedule, its
//! limits and its metrics.

use std::time::Duration;

use super::{err, ConfigError, Source};
use crate::duration::parse_period;

/// How bundles reach OpenCTI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueProtocol {
    /// The `stixBundlePush` mutation.
    Api,
    /// RabbitMQ, as pycti's default.
    Amqp,
}

/// The connector itself.
#[derive(Debug, Clone)]
pub struct ConnectorSettings {
    /// Connector id.
    pub id: uuid::Uuid,
    /// Name.
    pub name: String,
    /// Scope.
    pub scope: Vec<String>,
    /// Log level (`debug`, `info`, `warn`, `warning` or `error`).
    pub log_level: String,
    /// Period between runs; zero means run once.
    pub period: Duration,
    /// Queue protocol.
    pub queue_protocol: QueueProtocol,
    /// Queue threshold in MB.
    pub queue_threshold: f64,
    /// Run once and exit (also when the period is zero).
    pub run_and_terminate: bool,
    /// Serve metrics.
    pub expose_metrics: bool,
    /// Metrics port.
    pub metrics_port: u16,
    /// Metric name prefix (`namespace_subsystem_`, or empty).
    pub metrics_prefix: String,
    /// Largest message to OpenCTI, in bytes.
    pub max_message_size: usize,
}

impl ConnectorSettings {
    pub(super) fn read(s: &Source) -> Result<Self, ConfigError> {
        let id_text = s.required("CONNECTOR_ID", "a UUIDv4 such as 2b7a8c3e-…")?;
        let id = uuid::Uuid::parse_str(id_text.trim())
            .map_err(|_| err("CONNECTOR_ID", format!("{id_text:?} is not a UUID")))?;
        let kind = s.string("CONNECTOR_TYPE");
        if kind != "EXTERNAL_IMPORT" {
            return Err(err(
                "CONNECTOR_TYPE",
                format!("{kind:?} is not EXTERNAL_IMPORT, the only type of this connector"),
            ));
        }
        let name = s.string("CONNECTOR_NAME");
        if name.trim().chars().count() < 2 {
            return Err(err("CONNECTOR_NAME", "must be at least 2 characters"));
        }
        let log_level = s.string("CONNECTOR_LOG_LEVEL").to_lowercase();
        if !matches!(
            log_level.as_str(),
            "debug" | "info" | "warn" | "warning" | "error"
        ) {
            return Err(err(
                "CONNECTOR_LOG_LEVEL",
                format!("{log_level:?} is not debug, info, warn or error"),
            ));
        }
        let period = parse_period(&s.string("CONNECTOR_DURATION_PERIOD"))
            .map_err(|m| err("CONNECTOR_DURATION_PERIOD", m))?;
        let queue_protocol = match s.string("CONNECTOR_QUEUE_PROTOCOL").as_str() {
            "api" => QueueProtocol::Api,
            "amqp" => QueueProtocol::Amqp,
            other => {
                return Err(err(
                    "CONNECTOR_QUEUE_PROTOCOL",
                    format!("{other:?} is not api or amqp"),
                ))
            }
        };
        let queue_threshold: f64 =
            s.number("CONNECTOR_QUEUE_THRESHOLD", "a number of MB, e.g. 500")?;
        if !(queue_threshold.is_finite() && queue_threshold > 0.0) {
            return Err(err(
                "CONNECTOR_QUEUE_THRESHOLD",
                "must be a positive number of MB",
            ));
        }
        let max_message_size: usize = s.number(
            "CONNECTOR_MAX_MESSAGE_SIZE",
            "a number of bytes, e.g. 16777216",
        )?;
        if max_message_size < 65_536 {
            return Err(err(
                "CONNECTOR_MAX_MESSAGE_SIZE",
                format!("{max_message_size} is below the smallest useful size, 65536 bytes"),
            ));
        }
        let mut metrics_prefix = String::new();
        for part in ["CONNECTOR_METRICS_NAMESPACE", "CONNECTOR_METRICS_SUBSYSTEM"] {
            let p = s.string(part);
            if !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(err(
                    part,
                    format!("{p:?} is not a metric name part (letters, digits, _)"),
                ));
            }
            if !p.is_empty() {
                metrics_prefix.push_str(&p);
                metrics_prefix.push('_');
            }
        }
        Ok(Self {
            id,
            name,
            scope: s
                .string("CONNECTOR_SCOPE")
                .split(',')
                .map(str::to_owned)
                .filter(|x| !x.is_empty())
                .collect(),
            log_level,
            run_and_terminate: s.boolean("CONNECTOR_RUN_AND_TERMINATE")? || period.is_zero(),
            period,
            queue_protocol,
            queue_threshold,
            expose_metrics: s.boolean("CONNECTOR_EXPOSE_METRICS")?,
            metrics_port: s.number("CONNECTOR_METRICS_PORT", "a port number, e.g. 9095")?,
            metrics_prefix,
            max_message_size,
        })
    }
}
