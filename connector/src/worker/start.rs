//! Start-up: the health check (retried with back-off until OpenCTI answers), registration,
//! and the clients of both peers.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::{Connector, RunError, Shared, StartError, Tuning};
use crate::amqp::Target;
use crate::configuration::{QueueProtocol, Settings};
use crate::logging::{json, API};
use crate::metrics::Metrics;
use crate::opencti::{self, ConnectorInfo, OpenCti, OpenCtiError};
use crate::retry::RetryPolicy;
use crate::source::Source;
use crate::state;

impl Connector {
    /// Health check (retried with back-off until OpenCTI answers or `stop`), registration.
    pub async fn start(
        settings: Settings,
        tuning: Tuning,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
    ) -> Result<Self, StartError> {
        let client = opencti::http_client(
            tuning.opencti_timeout,
            &settings.opencti.ssl_verify,
            &settings.opencti.custom_headers,
        )
        .map_err(StartError::Fatal)?;
        let opencti = OpenCti::new(
            &settings.opencti.url,
            settings.opencti.token.clone(),
            client,
            tuning.retry.clone(),
            stop.clone(),
        );
        let mut attempt = 1u32;
        let platform_version = loop {
            match opencti.platform_version().await {
                Ok(v) => break v,
                Err(OpenCtiError::Stopped) => return Err(StartError::Stopped),
                Err(OpenCtiError::Unauthorized(why)) => {
                    return Err(StartError::Fatal(format!(
                        "OpenCTI at {} refused OPENCTI_TOKEN: {why}",
                        settings.opencti.url
                    )))
                }
                Err(e) => {
                    let policy = RetryPolicy {
                        attempts: u32::MAX,
                        base_delay: tuning.retry.base_delay,
                        max_delay: tuning.health_max_delay,
                    };
                    let delay = policy.delay(attempt);
                    tracing::warn!(
                        target: API,
                        url = %settings.opencti.url,
                        error = %e,
                        retry_in_secs = delay.as_secs_f64(),
                        "OpenCTI is not reachable yet, retrying"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = stop.cancelled() => return Err(StartError::Stopped),
                    }
                    attempt = attempt.saturating_add(1);
                }
            }
        };
        tracing::info!(target: API, version = %platform_version, "Health check (platform version)...");
        let input = crate::graphql::register_input(
            &platform_version,
            &settings.connector.id.to_string(),
            &settings.connector.name,
            &settings.connector.scope,
        );
        let registration = match opencti.register(input).await {
            Ok(r) => r,
            Err(OpenCtiError::Stopped) => return Err(StartError::Stopped),
            Err(e) => {
                return Err(StartError::Fatal(format!(
                    "registering the connector in OpenCTI: {e}"
                )))
            }
        };
        let rules = stix_model::opencti::OpenCtiIdRules::from_platform_version(&platform_version);
        let source = Source::new(
            &settings.disinfox.url,
            settings.disinfox.api_key.clone(),
            settings.disinfox.page_size,
            settings.disinfox.timeout,
            tuning.retry.clone(),
        )
        .map_err(|e| StartError::Fatal(e.to_string()))?
        .with_query(
            "opencti_ids",
            match rules {
                stix_model::opencti::OpenCtiIdRules::V6 => "6",
                _ => "7",
            },
        );
        let amqp = match (&settings.connector.queue_protocol, &registration.push) {
            (QueueProtocol::Amqp, Some(push)) => Some(
                Target::new(push, &settings.mq).map_err(|e| StartError::Fatal(e.to_string()))?,
            ),
            (QueueProtocol::Amqp, None) => {
                return Err(StartError::Fatal(RunError::NoAmqp.to_string()))
            }
            _ => None,
        };
        let state = state::parse(registration.connector_state.as_deref());
        tracing::info!(
            id = %registration.id,
            connector_user_id = registration.connector_user_id.as_deref(),
            queue_protocol = match settings.connector.queue_protocol {
                QueueProtocol::Api => "api",
                QueueProtocol::Amqp => "amqp",
            },
            amqp = amqp.as_ref().map(Target::describe),
            state = %json(&state),
            "Connector registered with ID"
        );
        let info = ConnectorInfo {
            run_and_terminate: settings.connector.run_and_terminate,
            buffering: false,
            queue_threshold: settings.connector.queue_threshold,
            queue_messages_size: 0.0,
            next_run_datetime: None,
            last_run_datetime: None,
        };
        Ok(Self {
            tuning,
            opencti,
            source,
            registration,
            platform_version,
            amqp,
            shared: Mutex::new(Shared {
                state,
                epoch: 0,
                info,
                ping_failing: false,
            }),
            ping_lock: tokio::sync::Mutex::new(()),
            metrics,
            stop,
            settings,
        })
    }
}
