//! Prometheus metrics with pycti's names (`docs/opencti-connector-protocol.md#metrics`) and the
//! connector's own, kept and written by the `prometheus-client` crate in the Prometheus text
//! format 0.0.4 (as pycti's Python client serves it).
//!
//! pycti's counters (`bundles_sent_total`, `records_sent_total`, `runs_total`,
//! `ping_api_total`, `ping_api_errors_total`, `errors_total`, `client_errors_total`, each with
//! its `_created` sample, a gauge) and the `state` enum gauge (`idle`, `running`, `stopped`),
//! plus `objects_fetched_total`, `objects_pushed_total`, `objects_skipped_total`,
//! `pages_total`, `last_successful_run_timestamp_seconds`, and the process's resident memory
//! and start time. Names carry the `CONNECTOR_METRICS_NAMESPACE`/`_SUBSYSTEM` prefix when set
//! (the process's own metrics do not, as in pycti).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// The connector's run state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Waiting for the next run.
    Idle = 0,
    /// Running.
    Running = 1,
    /// Stopping or stopped.
    Stopped = 2,
}

const STATES: [&str; 3] = ["idle", "running", "stopped"];

/// A counter (pycti's are floats: `bundles_sent_total 3.0`).
#[derive(Debug, Clone, Default)]
pub struct Counter(prometheus_client::metrics::counter::Counter<f64, AtomicU64>);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.inc_by(n as f64);
    }
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// The value.
    pub fn get(&self) -> u64 {
        self.0.get() as u64
    }
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Bundles sent: one per AMQP message, one per API push.
    pub bundles_sent: Counter,
    /// Objects sent.
    pub records_sent: Counter,
    /// Runs started.
    pub runs: Counter,
    /// Pings sent.
    pub ping_api: Counter,
    /// Pings that failed.
    pub ping_api_errors: Counter,
    /// Failures of any kind.
    pub errors: Counter,
    /// Failures talking to the DISINFOX server.
    pub client_errors: Counter,
    /// Objects fetched from the server.
    pub objects_fetched: Counter,
    /// Objects accepted by OpenCTI (API) or the broker (AMQP).
    pub objects_pushed: Counter,
    /// Objects skipped: invalid, too large, or not importable by OpenCTI.
    pub objects_skipped: Counter,
    /// Pages fetched.
    pub pages: Counter,
    last_success: FloatGauge,
    state: Family<Vec<(&'static str, &'static str)>, FloatGauge>,
}

fn unix_now() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1e6
}

impl Metrics {
    /// New metrics with a name prefix (`""` or `namespace_subsystem_`).
    pub fn new(prefix: &str) -> Self {
        let created = unix_now();
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Process { start: created }));
        let prefix = prefix.trim_end_matches('_');
        let own = if prefix.is_empty() {
            &mut registry
        } else {
            registry.sub_registry_with_prefix(prefix)
        };
        let mut counter = |name: &str, help: &str| {
            let c = Counter::default();
            own.register(name, help, c.0.clone());
            // pycti's Python client serves each counter's creation time as `<name>_created`.
            own.register(format!("{name}_created"), help, ConstGauge::new(created));
            c
        };
        let bundles_sent = counter("bundles_sent", "Number of bundles sent");
        let records_sent = counter("records_sent", "Number of records (objects) sent");
        let runs = counter("runs", "Number of runs");
        let ping_api = counter("ping_api", "Number of pings to the API");
        let ping_api_errors = counter("ping_api_errors", "Number of failed pings to the API");
        let errors = counter("errors", "Number of errors");
        let client_errors = counter("client_errors", "Number of errors of the DISINFOX client");
        let objects_fetched = counter(
            "objects_fetched",
            "Objects fetched from the DISINFOX server",
        );
        let objects_pushed = counter("objects_pushed", "Objects accepted by OpenCTI or RabbitMQ");
        let objects_skipped = counter(
            "objects_skipped",
            "Objects skipped (invalid, too large or not importable)",
        );
        let pages = counter("pages", "Pages fetched from the DISINFOX server");
        let state = Family::<Vec<(&'static str, &'static str)>, FloatGauge>::default();
        own.register("state", "State of the connector", state.clone());
        let last_success = FloatGauge::default();
        own.register(
            "last_successful_run_timestamp_seconds",
            "Unix time of the last successful run (0: none yet)",
            last_success.clone(),
        );
        let m = Self {
            registry,
            bundles_sent,
            records_sent,
            runs,
            ping_api,
            ping_api_errors,
            errors,
            client_errors,
            objects_fetched,
            objects_pushed,
            objects_skipped,
            pages,
            last_success,
            state,
        };
        m.set_state(RunState::Idle);
        m
    }

    /// Sets the run state.
    pub fn set_state(&self, s: RunState) {
        for (i, name) in STATES.iter().enumerate() {
            let on = if i == s as usize { 1.0 } else { 0.0 };
            self.state.get_or_create(&vec![("state", *name)]).set(on);
        }
    }

    /// Records a successful run now.
    pub fn run_succeeded(&self) {
        self.last_success.set(unix_now().trunc());
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String does not fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The process's own metrics, read at each scrape (as the Python client's process collector).
#[derive(Debug)]
struct Process {
    start: f64,
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(rss) = resident_bytes() {
            let m = encoder.encode_descriptor(
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(rss as f64).encode(m)?;
        }
        let m = encoder.encode_descriptor(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.start).encode(m)
    }
}

/// The process's resident memory (Linux), in bytes.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Serves `GET /metrics` (and `/`) on `0.0.0.0:port` until `stop`.
pub async fn serve(
    metrics: Arc<Metrics>,
    port: u16,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    let render = move || {
        let m = metrics.clone();
        async move {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                )],
                m.render(),
            )
        }
    };
    let app = axum::Router::new()
        .route("/metrics", get(render.clone()))
        .route("/", get(render));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_pycti_with_a_prefix() {
        let m = Metrics::new("octi_");
        m.bundles_sent.add(3);
        m.set_state(RunState::Running);
        let text = m.render();
        assert!(text.contains("octi_bundles_sent_total 3.0\n"), "{text}");
        assert!(text.contains("octi_bundles_sent_created "));
        assert!(text.contains("octi_state{state=\"running\"} 1.0\n"));
        assert!(text.contains("octi_state{state=\"idle\"} 0.0\n"));
        assert!(
            text.contains("\nprocess_start_time_seconds "),
            "not prefixed, as pycti"
        );
        assert!(text.contains("# TYPE octi_bundles_sent_total counter\n"));
        for name in [
            "records_sent_total",
            "runs_total",
            "ping_api_total",
            "ping_api_errors_total",
            "errors_total",
            "client_errors_total",
            "objects_fetched_total",
            "objects_pushed_total",
            "pages_total",
            "last_successful_run_timestamp_seconds",
        ] {
            assert!(text.contains(&format!("\nocti_{name} ")), "{name} missing");
        }
    }
}
