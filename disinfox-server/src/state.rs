//! The shared state of the server: the store, the settings, and the limits and workers every
//! request goes through (rate limiters, the sign-in throttle, the password hasher).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::{Hasher, KnownClients, LoginThrottle, HASH_WAIT};
use crate::configuration::Settings;
use crate::db::Store;
use crate::error::ApiError;

/// Shared state of the handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The settings.
    pub settings: Arc<Settings>,
    /// Requests per user (API keys), per `rate_limit_per_minute`.
    pub rate_limiter: Arc<RateLimiter>,
    /// Failed sign-ins per (client address, account).
    pub login_throttle: Arc<LoginThrottle>,
    /// The password hasher: every password hashed or checked for a request goes through it.
    pub hasher: Arc<Hasher>,
    /// Addresses that signed in successfully lately (their sign-ins queue in the hasher's
    /// known lane).
    pub known_clients: Arc<KnownClients>,
    /// Sign-in attempts per client address, per `login_attempts_per_minute`.
    pub login_attempts: Arc<RateLimiter<IpAddr>>,
    /// Registrations per client address ([`REGISTRATIONS_PER_HOUR`]).
    pub registrations: Arc<RateLimiter<IpAddr>>,
    /// Page views of visitors without an account, per address (`public_read`).
    pub anonymous_views: Arc<RateLimiter<IpAddr>>,
    /// The live streams open and their limits.
    pub streams: Arc<crate::streams::StreamHub>,
}

/// Registration attempts per hour per client address.
pub const REGISTRATIONS_PER_HOUR: u32 = 5;

impl AppState {
    /// The state of a server with these settings and this database.
    pub fn new(store: Store, settings: Settings) -> anyhow::Result<Self> {
        let hasher = Hasher::new(settings.password_hash_concurrency, HASH_WAIT)?;
        Ok(Self {
            store,
            rate_limiter: Arc::new(RateLimiter::new(settings.rate_limit_per_minute)),
            login_throttle: Arc::default(),
            hasher: Arc::new(hasher),
            known_clients: Arc::default(),
            login_attempts: Arc::new(RateLimiter::new(settings.login_attempts_per_minute)),
            registrations: Arc::new(RateLimiter::with_period(
                REGISTRATIONS_PER_HOUR,
                Duration::from_secs(3600),
            )),
            anonymous_views: Arc::new(RateLimiter::new(settings.rate_limit_per_minute)),
            streams: Arc::default(),
            settings: Arc::new(settings),
        })
    }
}

/// Keys tracked by a [`RateLimiter`] at most; beyond, full buckets are forgotten first.
const BUCKETS: usize = 50_000;

/// A token bucket per key (a user, a client address): `capacity` requests per `period`,
/// bursts up to `capacity`. A capacity of 0 disables it.
#[derive(Debug)]
pub struct RateLimiter<K = i64> {
    capacity: u32,
    period: Duration,
    buckets: Mutex<BTreeMap<K, (f64, Instant)>>,
}

impl<K: Ord + Clone> RateLimiter<K> {
    /// `per_minute` requests a minute; 0 disables it.
    pub fn new(per_minute: u32) -> Self {
        Self::with_period(per_minute, Duration::from_secs(60))
    }

    /// `capacity` requests per `period`; 0 disables it.
    pub fn with_period(capacity: u32, period: Duration) -> Self {
        Self {
            capacity,
            period,
            buckets: Mutex::new(BTreeMap::new()),
        }
    }

    /// Takes a token for `key`, or fails with 429.
    pub fn check(&self, key: K) -> Result<(), ApiError> {
        self.take(key).map_err(|wait| ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        })
    }

    /// Takes a token for `key`, or says how long until there is one.
    pub fn take(&self, key: K) -> Result<(), Duration> {
        if self.capacity == 0 {
            return Ok(());
        }
        let cap = f64::from(self.capacity);
        let rate = cap / self.period.as_secs_f64();
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= BUCKETS && !buckets.contains_key(&key) {
            // Forget the keys whose buckets have refilled; if none has, the least recently used.
            buckets
                .retain(|_, (t, last)| *t + now.duration_since(*last).as_secs_f64() * rate < cap);
            if buckets.len() >= BUCKETS {
                let oldest = buckets
                    .iter()
                    .min_by_key(|(_, b)| b.1)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    buckets.remove(&k);
                }
            }
        }
        let (tokens, last) = buckets.entry(key).or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(cap);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / rate))
        }
    }

    /// Gives back a token taken for `key` (an attempt that turned out not to count).
    pub fn refund(&self, key: K) {
        let cap = f64::from(self.capacity);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((tokens, _)) = buckets.get_mut(&key) {
            *tokens = (*tokens + 1.0).min(cap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimiter;

    #[test]
    fn rate_limiter_limits_per_key() {
        let r = RateLimiter::new(3);
        for _ in 0..3 {
            assert!(r.check(1).is_ok());
        }
        assert!(r.check(1).is_err());
        assert!(r.check(2).is_ok(), "buckets are per key");
        assert!(RateLimiter::new(0).check(1).is_ok());
        r.refund(1);
        assert!(r.check(1).is_ok(), "a refunded token can be taken again");
        assert!(r.check(1).is_err());
        let hourly = RateLimiter::with_period(2, std::time::Duration::from_secs(3600));
        assert!(hourly.take("a").is_ok() && hourly.take("a").is_ok());
        let wait = hourly.take("a").unwrap_err();
        assert!(wait.as_secs() > 1700 && wait.as_secs() <= 1800, "{wait:?}");
    }
}
