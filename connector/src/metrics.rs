//! Prometheus metrics with pycti's names (reference §12) and the connector's own.
//!
//! pycti's counters (`bundles_sent_total`, `records_sent_total`, `runs_total`,
//! `ping_api_total`, `ping_api_errors_total`, `errors_total`, `client_errors_total`, each with
//! its `_created` sample) and the `state` enum gauge (`idle`, `running`, `stopped`), plus
//! `objects_fetched_total`, `objects_pushed_total`, `objects_skipped_total`, `pages_total`,
//! `last_successful_run_timestamp_seconds`, and the process's resident memory and start time.
//! Names carry the `CONNECTOR_METRICS_NAMESPACE`/`_SUBSYSTEM` prefix when set.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use axum::routing::get;
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

/// A counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// The value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Every metric.
#[derive(Debug)]
pub struct Metrics {
    prefix: String,
    created: f64,
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
    last_success: AtomicU64,
    state: AtomicU8,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Metrics {
    /// New metrics with a name prefix (`""` or `namespace_subsystem_`).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            created: unix_now(),
            bundles_sent: Counter::default(),
            records_sent: Counter::default(),
            runs: Counter::default(),
            ping_api: Counter::default(),
            ping_api_errors: Counter::default(),
            errors: Counter::default(),
            client_errors: Counter::default(),
            objects_fetched: Counter::default(),
            objects_pushed: Counter::default(),
            objects_skipped: Counter::default(),
            pages: Counter::default(),
            last_success: AtomicU64::new(0),
            state: AtomicU8::new(RunState::Idle as u8),
        }
    }

    /// Sets the run state.
    pub fn set_state(&self, s: RunState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    /// Records a successful run now.
    pub fn run_succeeded(&self) {
        self.last_success
            .store(unix_now() as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let p = &self.prefix;
        let mut out = String::with_capacity(2048);
        let counters: [(&str, &str, &Counter); 11] = [
            ("bundles_sent", "Number of bundles sent", &self.bundles_sent),
            (
                "records_sent",
                "Number of records (objects) sent",
                &self.records_sent,
            ),
            ("runs", "Number of runs", &self.runs),
            ("ping_api", "Number of pings to the API", &self.ping_api),
            (
                "ping_api_errors",
                "Number of failed pings to the API",
                &self.ping_api_errors,
            ),
            ("errors", "Number of errors", &self.errors),
            (
                "client_errors",
                "Number of errors of the DISINFOX client",
                &self.client_errors,
            ),
            (
                "objects_fetched",
                "Objects fetched from the DISINFOX server",
                &self.objects_fetched,
            ),
            (
                "objects_pushed",
                "Objects accepted by OpenCTI or RabbitMQ",
                &self.objects_pushed,
            ),
            (
                "objects_skipped",
                "Objects skipped (invalid, too large or not importable)",
                &self.objects_skipped,
            ),
            (
                "pages",
                "Pages fetched from the DISINFOX server",
                &self.pages,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(out, "# HELP {p}{name}_total {help}");
            let _ = writeln!(out, "# TYPE {p}{name}_total counter");
            let _ = writeln!(out, "{p}{name}_total {}.0", c.get());
            let _ = writeln!(out, "{p}{name}_created {:.6e}", self.created);
        }
        let _ = writeln!(out, "# HELP {p}state State of the connector");
        let _ = writeln!(out, "# TYPE {p}state gauge");
        let current = self.state.load(Ordering::Relaxed);
        for (i, s) in ["idle", "running", "stopped"].iter().enumerate() {
            let v = if usize::from(current) == i { 1 } else { 0 };
            let _ = writeln!(out, "{p}state{{state=\"{s}\"}} {v}.0");
        }
        let _ = writeln!(
            out,
            "# HELP {p}last_successful_run_timestamp_seconds Unix time of the last successful run (0: none yet)"
        );
        let _ = writeln!(out, "# TYPE {p}last_successful_run_timestamp_seconds gauge");
        let _ = writeln!(
            out,
            "{p}last_successful_run_timestamp_seconds {}.0",
            self.last_success.load(Ordering::Relaxed)
        );
        if let Some(rss) = resident_bytes() {
            let _ = writeln!(
                out,
                "# HELP process_resident_memory_bytes Resident memory size in bytes."
            );
            let _ = writeln!(out, "# TYPE process_resident_memory_bytes gauge");
            let _ = writeln!(out, "process_resident_memory_bytes {rss}.0");
        }
        let _ = writeln!(out, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.");
        let _ = writeln!(out, "# TYPE process_start_time_seconds gauge");
        let _ = writeln!(out, "process_start_time_seconds {:.3}", self.created);
        out
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
                    "text/plain; version=0.0.4; charset=utf-8",
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
