//! The OpenCTI connector for DISINFOX: pulls incidents from a `disinfox-server`'s bundle
//! endpoint on a schedule and pushes them into OpenCTI, over the API (`stixBundlePush`) or
//! RabbitMQ, keeping its position in OpenCTI's connector state.
//!
//! [`run`] is the daemon: start ([`worker::Connector::start`]), the ping task, the schedule
//! (a run at start, then one per period, skipped while OpenCTI's queue for the connector is
//! over the threshold; or a single run in run-and-terminate mode) or, in stream mode, the live
//! stream followed ([`worker::Connector::follow`]), the metrics server, and a clean stop when
//! `stop` fires.
#![warn(missing_docs)]

pub mod amqp;
pub mod configuration;
pub mod duration;
pub mod graphql;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod opencti;
pub mod page;
pub mod retry;
pub mod seen;
pub mod source;
pub mod state;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::configuration::Settings;
use crate::metrics::{Metrics, RunState};
use crate::worker::{Connector, StartError, Tuning};

/// Runs the connector until `stop` fires (or, in run-and-terminate mode, after one run).
pub async fn run(settings: Settings, stop: CancellationToken) -> Result<(), StartError> {
    run_with(settings, Tuning::default(), stop).await
}

/// [`run`] with explicit timing (tests).
pub async fn run_with(
    settings: Settings,
    tuning: Tuning,
    stop: CancellationToken,
) -> Result<(), StartError> {
    let metrics = Arc::new(Metrics::new(&settings.connector.metrics_prefix));
    let metrics_task = if settings.connector.expose_metrics {
        let (m, port, s) = (
            metrics.clone(),
            settings.connector.metrics_port,
            stop.clone(),
        );
        Some(tokio::spawn(async move {
            if let Err(e) = metrics::serve(m, port, s).await {
                tracing::error!(exc_info = %logging::chain(&e), port, "The metrics server stopped");
            }
        }))
    } else {
        None
    };
    let connector =
        Arc::new(Connector::start(settings, tuning, metrics.clone(), stop.clone()).await?);
    let period = connector.settings().connector.period;
    if connector.settings().connector.run_and_terminate {
        let mut failed = None;
        if !connector.buffering().await {
            if let (_, Err(e)) = connector.run_once().await {
                if !matches!(e, worker::RunError::Stopped | worker::RunError::Reset) {
                    failed = Some(e.to_string());
                }
            }
        }
        connector.set_schedule(Some(Utc::now()), None);
        metrics.set_state(RunState::Stopped);
        last_ping(&connector).await;
        tracing::info!("Run and terminate: done");
        return match failed {
            Some(e) => Err(StartError::RunFailed(e)),
            None => Ok(()),
        };
    }
    let pinger = {
        let c = connector.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let _ = c.ping(false).await;
                tokio::select! {
                    () = tokio::time::sleep(c.ping_interval()) => {}
                    () = stop.cancelled() => break,
                }
            }
        })
    };
    if connector.settings().disinfox.mode == configuration::Mode::Stream {
        connector.follow().await;
    }
    let mut first = true;
    while !stop.is_cancelled() {
        // Every start runs at once (as pycti); later ticks first check the queue.
        if first || !connector.buffering().await {
            if !first {
                tracing::info!("Connector run starting (scheduled)");
            }
            let _ = connector.run_once().await;
            connector.set_schedule(Some(Utc::now()), None);
        }
        first = false;
        if stop.is_cancelled() {
            break;
        }
        let next = chrono::Duration::from_std(period)
            .ok()
            .and_then(|p| Utc::now().checked_add_signed(p));
        connector.set_schedule(None, next);
        tracing::info!(
            next_run = next.map(worker::info_time),
            period_secs = period.as_secs(),
            "Next run scheduled"
        );
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = stop.cancelled() => break,
        }
    }
    metrics.set_state(RunState::Stopped);
    pinger.abort();
    last_ping(&connector).await;
    if let Some(t) = metrics_task {
        let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
    }
    tracing::info!("Connector stopped");
    Ok(())
}

/// The last ping before exit, so OpenCTI holds the final state (bounded in time).
async fn last_ping(c: &Connector) {
    if tokio::time::timeout(Duration::from_secs(3), c.ping(true))
        .await
        .is_err()
    {
        tracing::warn!(target: logging::API, "The last ping to OpenCTI timed out");
    }
}
