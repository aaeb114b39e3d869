//! Bounded retries with exponential back-off and jitter, for both HTTP peers.

use std::time::Duration;

/// How often and how patiently to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// The first back-off; each next one doubles, up to `max_delay`.
    pub base_delay: Duration,
    /// The longest back-off.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The back-off before attempt `n` (1-based, after a failure), with up to 50 % jitter.
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << n.saturating_sub(1).min(16));
        let d = exp.min(self.max_delay);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.subsec_nanos());
        let jitter = d.mul_f64(f64::from(nanos % 1000) / 2000.0);
        d + jitter
    }

    /// Sleeps the back-off before attempt `n`, or returns `false` at once when `stop` fires.
    pub async fn wait(&self, n: u32, stop: &tokio_util::sync::CancellationToken) -> bool {
        tokio::select! {
            () = tokio::time::sleep(self.delay(n)) => true,
            () = stop.cancelled() => false,
        }
    }
}
