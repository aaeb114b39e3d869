//! Failed sign-ins per (client address, account) pair, and the locks they lead to.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::client::ClientAddr;
use crate::db::replicas::unix_ms;
use crate::db::Store;

/// Failed sign-ins in a row before an (address, account) pair is locked.
pub const FREE_FAILURES: u32 = 5;
/// The first lock; each further failure doubles it, up to [`MAX_LOCK`].
pub const FIRST_LOCK: Duration = Duration::from_secs(30);
/// The longest lock.
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Pairs tracked at most (the oldest is forgotten first).
pub(super) const TRACKED: usize = 50_000;

/// Failed sign-ins per (client address, e-mail address) pair: the e-mail whether or not it
/// has an account, so a lock says nothing about whether one exists. After [`FREE_FAILURES`]
/// failures in a row the pair is locked for [`FIRST_LOCK`], doubling with each further failure
/// up to [`MAX_LOCK`]; a lock only delays, it never disables the account, and it never stops
/// the owner signing in from another address. A successful sign-in clears the pair. (Trying
/// many accounts from one address is bounded by the per-address attempt limit instead.)
///
/// Where the failures are counted: in this process's memory by default (SQLite: one
/// process), in the database when [`LoginThrottle::shared`] gives a store (PostgreSQL: every
/// replica counts in the same rows, so N replicas do not allow N times the failures). A
/// database error falls back to this process's memory, logged.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<BTreeMap<(IpAddr, String), Failures>>,
    shared: Option<Store>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

fn throttle_key(addr: ClientAddr, email: &str) -> (IpAddr, String) {
    (addr.bucket(), email.trim().to_lowercase())
}

/// The lock after `count` failures in a row, if it locks.
fn lock_after(count: u32) -> Option<Duration> {
    (count >= FREE_FAILURES).then(|| {
        let doublings = (count - FREE_FAILURES).min(16);
        FIRST_LOCK.saturating_mul(1 << doublings).min(MAX_LOCK)
    })
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl LoginThrottle {
    /// A throttle counting in `store`'s database, shared by every process using it.
    pub fn shared(store: Store) -> Self {
        Self {
            failures: Mutex::default(),
            shared: Some(store),
        }
    }

    /// How long `email` stays locked for `addr`, if it is.
    pub async fn locked_for(&self, addr: ClientAddr, email: &str) -> Option<Duration> {
        if let Some(store) = &self.shared {
            let (a, e) = throttle_key(addr, email);
            match store.sign_in_locked_until(&a.to_string(), &e).await {
                Ok(until) => {
                    let left = until? - unix_ms();
                    return (left > 0).then(|| Duration::from_millis(left.unsigned_abs()));
                }
                Err(err) => {
                    tracing::warn!(error = ?err, "sign-in throttle: database unavailable, counting in memory")
                }
            }
        }
        self.locked_for_at(addr, email, Instant::now())
    }

    /// Records a failed sign-in for `email` from `addr`; the lock it starts, if it starts one.
    pub async fn failed(&self, addr: ClientAddr, email: &str) -> Option<Duration> {
        if let Some(store) = &self.shared {
            match self.failed_shared(store, addr, email).await {
                Ok(lock) => return lock,
                Err(err) => {
                    tracing::warn!(error = ?err, "sign-in throttle: database unavailable, counting in memory")
                }
            }
        }
        self.failed_at(addr, email, Instant::now())
    }

    async fn failed_shared(
        &self,
        store: &Store,
        addr: ClientAddr,
        email: &str,
    ) -> anyhow::Result<Option<Duration>> {
        let (a, e) = throttle_key(addr, email);
        let a = a.to_string();
        let now = unix_ms();
        let count = store
            .sign_in_failed(&a, &e, now, millis(FORGET_AFTER))
            .await?;
        let lock = lock_after(u32::try_from(count).unwrap_or(u32::MAX));
        if let Some(lock) = lock {
            store.lock_sign_in(&a, &e, now + millis(lock)).await?;
        }
        Ok(lock)
    }

    /// Clears `email` for `addr` after a successful sign-in.
    pub async fn succeeded(&self, addr: ClientAddr, email: &str) {
        if let Some(store) = &self.shared {
            let (a, e) = throttle_key(addr, email);
            if let Err(err) = store.clear_sign_in(&a.to_string(), &e).await {
                tracing::warn!(error = ?err, "sign-in throttle: could not clear failures");
            }
        }
        self.succeeded_here(addr, email);
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<(IpAddr, String), Failures>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`Self::locked_for`] at `now`.
    pub fn locked_for_at(&self, addr: ClientAddr, email: &str, now: Instant) -> Option<Duration> {
        let until = self.map().get(&throttle_key(addr, email))?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// [`Self::failed`] at `now`.
    pub fn failed_at(&self, addr: ClientAddr, email: &str, now: Instant) -> Option<Duration> {
        let mut map = self.map();
        let key = throttle_key(addr, email);
        if map.len() >= TRACKED && !map.contains_key(&key) {
            map.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
            if map.len() >= TRACKED {
                let oldest = map
                    .iter()
                    .min_by_key(|(_, f)| f.last)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    map.remove(&k);
                }
            }
        }
        let f = map.entry(key).or_insert(Failures {
            count: 0,
            last: now,
            locked_until: None,
        });
        if now.duration_since(f.last) >= FORGET_AFTER {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        let lock = lock_after(f.count)?;
        f.locked_until = Some(now + lock);
        Some(lock)
    }

    /// [`Self::succeeded`] in this process's memory only.
    pub fn succeeded_here(&self, addr: ClientAddr, email: &str) {
        self.map().remove(&throttle_key(addr, email));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_sign_ins_lock_an_address_and_account_pair_for_longer_and_longer() {
        let here = ClientAddr("192.0.2.1".parse().unwrap());
        let there = ClientAddr("198.51.100.2".parse().unwrap());
        let t = LoginThrottle::default();
        let now = Instant::now();
        for _ in 1..FREE_FAILURES {
            assert_eq!(t.failed_at(here, "A@Example.org", now), None);
            assert_eq!(t.locked_for_at(here, "a@example.org", now), None);
        }
        assert_eq!(t.failed_at(here, " a@example.org", now), Some(FIRST_LOCK));
        assert_eq!(
            t.locked_for_at(here, "a@example.org", now),
            Some(FIRST_LOCK)
        );
        assert_eq!(
            t.locked_for_at(here, "b@example.org", now),
            None,
            "other accounts unaffected"
        );
        assert_eq!(
            t.locked_for_at(there, "a@example.org", now),
            None,
            "the account from other addresses unaffected"
        );
        let later = now + FIRST_LOCK;
        assert_eq!(
            t.locked_for_at(here, "a@example.org", later),
            None,
            "the lock ends"
        );
        t.failed_at(here, "a@example.org", later);
        assert_eq!(
            t.locked_for_at(here, "a@example.org", later),
            Some(FIRST_LOCK * 2)
        );
        for _ in 0..40 {
            t.failed_at(here, "a@example.org", later);
        }
        assert_eq!(
            t.locked_for_at(here, "a@example.org", later),
            Some(MAX_LOCK)
        );
        t.succeeded_here(here, "A@example.org");
        assert_eq!(t.locked_for_at(here, "a@example.org", later), None);
        // Failures an hour apart start over.
        let mut at = later;
        for _ in 0..10 {
            at += Duration::from_secs(3_600);
            t.failed_at(here, "c@example.org", at);
            assert_eq!(t.locked_for_at(here, "c@example.org", at), None);
        }
    }
}
