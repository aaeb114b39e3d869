//! The shared state of the server: the store, the settings, and the limits and workers every
//! request goes through (rate limiters, the sign-in throttle, the password hasher).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::{Hasher, KnownClients, LoginThrottle, HASH_WAIT};
use crate::configuration::Settings;
use crate::db::replicas::{unix_ms, Bucket};
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
    /// Its limits (one password at a time per unknown address, the concurrency cap) stay
    /// per process even with replicas: they bound this process's CPU, which is what they are
    /// for; the attempts themselves are counted across replicas (`login_attempts`).
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
    /// This process among the replicas on one database: a random id per start, the owner of
    /// the import jobs it runs (see [`crate::jobs`]).
    pub instance: Arc<str>,
}

/// Registration attempts per hour per client address.
pub const REGISTRATIONS_PER_HOUR: u32 = 5;

impl AppState {
    /// The state of a server with these settings and this database.
    pub fn new(store: Store, settings: Settings) -> anyhow::Result<Self> {
        let hasher = Hasher::new(settings.password_hash_concurrency, HASH_WAIT)?;
        Ok(Self {
            rate_limiter: Arc::new(
                RateLimiter::new(settings.rate_limit_per_minute).counted_in(&store, "user"),
            ),
            login_throttle: Arc::new(if store.is_postgres() {
                LoginThrottle::shared(store.clone())
            } else {
                LoginThrottle::default()
            }),
            hasher: Arc::new(hasher),
            known_clients: Arc::default(),
            login_attempts: Arc::new(
                RateLimiter::new(settings.login_attempts_per_minute).counted_in(&store, "sign-in"),
            ),
            registrations: Arc::new(
                RateLimiter::with_period(REGISTRATIONS_PER_HOUR, Duration::from_secs(3600))
                    .counted_in(&store, "registration"),
            ),
            anonymous_views: Arc::new(
                RateLimiter::new(settings.rate_limit_per_minute).counted_in(&store, "view"),
            ),
            streams: Arc::default(),
            store,
            instance: uuid::Uuid::new_v4().to_string().into(),
            settings: Arc::new(settings),
        })
    }
}

/// Keys tracked by a [`RateLimiter`] at most; beyond, full buckets are forgotten first.
const BUCKETS: usize = 50_000;

/// A token bucket per key (a user, a client address): `capacity` requests per `period`,
/// bursts up to `capacity`. A capacity of 0 disables it.
///
/// The buckets are in this process's memory, except on a database several server processes
/// share (PostgreSQL, [`RateLimiter::counted_in`]): there every replica takes its tokens from
/// the same rows (`rate_buckets`, one atomic statement per take), so N replicas behind a load
/// balancer allow what one would, not N times it. Should the database fail to answer, the
/// limiter falls back to this process's buckets (logged) rather than refuse every request.
#[derive(Debug)]
pub struct RateLimiter<K = i64> {
    capacity: u32,
    period: Duration,
    buckets: Mutex<BTreeMap<K, (f64, Instant)>>,
    /// The store and the limit's name in it, when the buckets are shared.
    shared: Option<(Store, &'static str)>,
}

impl<K: Ord + Clone + std::fmt::Display> RateLimiter<K> {
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
            shared: None,
        }
    }

    /// The same limit counted in `store` as `name` when several processes share the store
    /// (PostgreSQL); in memory otherwise (SQLite is one process).
    pub fn counted_in(mut self, store: &Store, name: &'static str) -> Self {
        if store.is_postgres() {
            self.shared = Some((store.clone(), name));
        }
        self
    }

    /// Takes a token for `key`, or fails with 429.
    pub async fn check(&self, key: K) -> Result<(), ApiError> {
        self.take(key).await.map_err(|wait| ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        })
    }

    fn bucket<'a>(&self, name: &'a str, key: &'a str) -> Bucket<'a> {
        Bucket {
            name,
            key,
            capacity: self.capacity,
            period_ms: i64::try_from(self.period.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// Takes a token for `key`, or says how long until there is one.
    pub async fn take(&self, key: K) -> Result<(), Duration> {
        if self.capacity == 0 {
            return Ok(());
        }
        if let Some((store, name)) = &self.shared {
            let k = key.to_string();
            match store.take_token(self.bucket(name, &k), unix_ms()).await {
                Ok(None) => return Ok(()),
                Ok(Some(wait_ms)) => return Err(Duration::from_millis(wait_ms.unsigned_abs())),
                Err(e) => {
                    tracing::warn!(error = ?e, limit = name, "rate limit: database unavailable, counting in memory");
                }
            }
        }
        self.take_here(key)
    }

    /// [`Self::take`] from this process's buckets.
    fn take_here(&self, key: K) -> Result<(), Duration> {
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
    pub async fn refund(&self, key: K) {
        if let Some((store, name)) = &self.shared {
            let k = key.to_string();
            if let Err(e) = store.refund_token(self.bucket(name, &k)).await {
                tracing::warn!(error = ?e, limit = name, "rate limit: could not give a token back");
            }
        }
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

    #[tokio::test]
    async fn rate_limiter_limits_per_key() {
        let r = RateLimiter::new(3);
        for _ in 0..3 {
            assert!(r.check(1).await.is_ok());
        }
        assert!(r.check(1).await.is_err());
        assert!(r.check(2).await.is_ok(), "buckets are per key");
        assert!(RateLimiter::new(0).check(1).await.is_ok());
        r.refund(1).await;
        assert!(
            r.check(1).await.is_ok(),
            "a refunded token can be taken again"
        );
        assert!(r.check(1).await.is_err());
        let hourly = RateLimiter::with_period(2, std::time::Duration::from_secs(3600));
        assert!(hourly.take("a").await.is_ok() && hourly.take("a").await.is_ok());
        let wait = hourly.take("a").await.unwrap_err();
        assert!(wait.as_secs() > 1700 && wait.as_secs() <= 1800, "{wait:?}");
    }
}
