//! The password hasher of the server (a fixed pool of worker threads, in two lanes) and the
//! addresses whose sign-ins queue in the lane of known clients.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use argon2::Block;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::passwords::{hash_with, verify_with, DUMMY_HASH};
use super::throttle::TRACKED;
use crate::client::ClientAddr;
use crate::error::ApiError;

/// A hashing worker drops its working memory after this long without work.
pub const HASH_IDLE: Duration = Duration::from_secs(2);
/// How long a request waits for a hashing worker before it is refused with 503.
pub const HASH_WAIT: Duration = Duration::from_secs(2);
/// Requests that may wait for a hashing worker, per worker; more are refused at once.
const WAITING_PER_WORKER: usize = 32;

/// Why a password could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every worker was busy for [`HASH_WAIT`] (or too many requests were waiting already).
    #[error("the server is busy checking passwords; retry after {retry_after_secs} s")]
    Busy {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// The hashing failed (the random source, or a worker gone).
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy { retry_after_secs } => ApiError::Busy { retry_after_secs },
            HashError::Failed(e) => ApiError::Internal(e),
        }
    }
}

enum Work {
    Hash(String),
    Verify(String, String),
}

enum Done {
    Hash(anyhow::Result<String>),
    Verify(bool),
}

struct Job {
    work: Work,
    done: tokio::sync::oneshot::Sender<Done>,
    /// Held until the worker is done, so that a request that goes away while its password is
    /// being hashed does not free its place early.
    _permit: OwnedSemaphorePermit,
}

/// Which lane of the [`Hasher`] a request queues in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Sign-ins from addresses that signed in successfully before ([`KnownClients`]) and
    /// requests of signed-in users (password changes, users created by administrators).
    Known,
    /// Everyone else: sign-ins from addresses never seen to succeed, registrations.
    Other,
}

/// A place to wait in: the permits of a lane and how many wait for one.
#[derive(Debug)]
struct Queue {
    permits: Arc<Semaphore>,
    /// The lane's workers.
    workers: u32,
    waiting: AtomicUsize,
}

/// The password hasher of the server: a fixed set of worker threads, each hashing one password
/// at a time with its own working memory, so that password checks use at most
/// `password_hash_concurrency` × 19 MiB and as many cores, whatever the number of requests.
///
/// With two workers or more, one is kept for the [`Lane::Known`] requests (addresses that have
/// signed in before, signed-in users), so that a flood of sign-ins from addresses never seen
/// before (a botnet with random e-mails) cannot keep the users who come back from signing in;
/// known requests also use the other workers when they are free. A request waits at most
/// [`HASH_WAIT`] for a worker of its lane (in arrival order); then, or when too many wait
/// already, it gets [`HashError::Busy`] (HTTP 503 with `Retry-After`).
///
/// Every password hashed or checked for a request goes through here: sign-in, registration,
/// password changes, users created by administrators.
#[derive(Debug)]
pub struct Hasher {
    shared: Queue,
    reserved: Queue,
    has_reserved: bool,
    jobs: std::sync::mpsc::Sender<Job>,
    max_waiting: usize,
    wait: Duration,
    peak: Arc<AtomicUsize>,
    /// The addresses (per /64 for IPv6) of [`Lane::Other`] requests in the hasher now.
    turns: Arc<Mutex<BTreeSet<IpAddr>>>,
}

/// The turn of one address in the hasher ([`Hasher::turn`]): given back when dropped.
#[derive(Debug)]
pub struct AddressTurn {
    addr: IpAddr,
    turns: Arc<Mutex<BTreeSet<IpAddr>>>,
}

impl Drop for AddressTurn {
    fn drop(&mut self) {
        if let Ok(mut t) = self.turns.lock() {
            t.remove(&self.addr);
        }
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl Hasher {
    /// Starts `workers` hashing threads (at least one); a request waits at most `wait`.
    pub fn new(workers: usize, wait: Duration) -> anyhow::Result<Self> {
        let workers = workers.max(1);
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        for i in 0..workers {
            let rx = Arc::clone(&rx);
            let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(&rx, &running, &peak))
                .context("starting a password hashing thread")?;
        }
        let reserved = usize::from(workers >= 2);
        let queue = |n: usize| Queue {
            permits: Arc::new(Semaphore::new(n)),
            workers: u32::try_from(n).unwrap_or(u32::MAX),
            waiting: AtomicUsize::new(0),
        };
        Ok(Self {
            shared: queue(workers - reserved),
            reserved: queue(reserved),
            has_reserved: reserved > 0,
            jobs: tx,
            max_waiting: workers * WAITING_PER_WORKER,
            wait,
            peak,
            turns: Arc::default(),
        })
    }

    /// The turn of a request from `addr` in `lane`: an address not known ([`Lane::Other`])
    /// has at most one password in the hasher at a time, waiting or being checked; another
    /// one from the same address (per /64 for IPv6) is [`HashError::Busy`] at once. So a
    /// flood from one address holds one place in the queue, not all of them, and the sign-in
    /// of someone else waits for one password at most. Known requests have no such limit
    /// (an office behind one address). Hold the turn until the password is checked.
    pub fn turn(&self, addr: ClientAddr, lane: Lane) -> Result<Option<AddressTurn>, HashError> {
        if lane == Lane::Known {
            return Ok(None);
        }
        let addr = addr.bucket();
        let mut turns = self
            .turns
            .lock()
            .map_err(|_| HashError::Failed(anyhow::anyhow!("hasher: address turns poisoned")))?;
        if !turns.insert(addr) {
            return Err(HashError::Busy {
                retry_after_secs: 1,
            });
        }
        Ok(Some(AddressTurn {
            addr,
            turns: Arc::clone(&self.turns),
        }))
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: &str, lane: Lane) -> Result<String, HashError> {
        match self.run(Work::Hash(password.to_owned()), lane).await? {
            Done::Hash(r) => Ok(r?),
            Done::Verify(_) => Err(HashError::Failed(anyhow::anyhow!("hasher: wrong answer"))),
        }
    }

    /// Whether `password` matches the stored `hash`; `None` (no account) checks against
    /// [`DUMMY_HASH`] and answers false, at the same cost.
    pub async fn verify(
        &self,
        password: &str,
        hash: Option<&str>,
        lane: Lane,
    ) -> Result<bool, HashError> {
        let work = Work::Verify(password.to_owned(), hash.unwrap_or(DUMMY_HASH).to_owned());
        match self.run(work, lane).await? {
            Done::Verify(ok) => Ok(ok && hash.is_some()),
            Done::Hash(_) => Err(HashError::Failed(anyhow::anyhow!("hasher: wrong answer"))),
        }
    }

    /// The most passwords hashed at the same moment so far (tests check the cap with it).
    pub fn peak_concurrency(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Takes the workers of `lanes` for as long as the returned permits live (tests of the
    /// busy answer): [`Lane::Other`] takes the shared workers, [`Lane::Known`] the reserved one
    /// too.
    #[doc(hidden)]
    pub async fn occupy(&self, lane: Lane) -> Vec<OwnedSemaphorePermit> {
        let mut held = Vec::new();
        let mut queues = vec![&self.shared];
        if lane == Lane::Known {
            queues.push(&self.reserved);
        }
        for q in queues.into_iter().filter(|q| q.workers > 0) {
            if let Ok(p) = Arc::clone(&q.permits).acquire_many_owned(q.workers).await {
                held.push(p);
            }
        }
        held
    }

    /// A permit of the lane: at once if a worker is free, else after waiting in the lane's
    /// queue (at most [`HASH_WAIT`], and only if not too many wait already).
    async fn permit(&self, lane: Lane) -> Result<OwnedSemaphorePermit, HashError> {
        let busy = HashError::Busy {
            retry_after_secs: self.wait.as_secs().max(1),
        };
        if lane == Lane::Known {
            if let Ok(p) = Arc::clone(&self.reserved.permits).try_acquire_owned() {
                return Ok(p);
            }
        }
        if let Ok(p) = Arc::clone(&self.shared.permits).try_acquire_owned() {
            return Ok(p);
        }
        // Known requests wait in the reserved lane's queue when there is one (and take
        // whichever worker frees first); the others in the shared queue.
        let reserved = lane == Lane::Known && self.has_reserved;
        let queue = if reserved {
            &self.reserved
        } else {
            &self.shared
        };
        if queue.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            queue.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy);
        }
        let shared = Arc::clone(&self.shared.permits);
        let own = Arc::clone(&queue.permits);
        let waited = tokio::time::timeout(self.wait, async move {
            if reserved {
                tokio::select! {
                    p = own.acquire_owned() => p,
                    p = shared.acquire_owned() => p,
                }
            } else {
                own.acquire_owned().await
            }
        })
        .await;
        queue.waiting.fetch_sub(1, Ordering::SeqCst);
        match waited {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) => Err(HashError::Failed(anyhow::anyhow!("hasher closed"))),
            Err(_) => Err(busy),
        }
    }

    async fn run(&self, work: Work, lane: Lane) -> Result<Done, HashError> {
        let permit = self.permit(lane).await?;
        let (done, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job {
                work,
                done,
                _permit: permit,
            })
            .map_err(|_| HashError::Failed(anyhow::anyhow!("the hashing threads stopped")))?;
        answer
            .await
            .map_err(|_| HashError::Failed(anyhow::anyhow!("a hashing thread stopped")))
    }
}

/// How long an address stays known after a successful sign-in.
pub const KNOWN_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// Addresses (per /64 for IPv6) that signed in successfully in the last [`KNOWN_FOR`]: their
/// sign-ins queue in the hasher's [`Lane::Known`]. Kept in memory (a restart forgets them),
/// at most `TRACKED` (the least recently seen go first).
#[derive(Debug, Default)]
pub struct KnownClients {
    seen: Mutex<BTreeMap<IpAddr, Instant>>,
}

impl KnownClients {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<IpAddr, Instant>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a successful sign-in from `addr`.
    pub fn signed_in(&self, addr: ClientAddr) {
        let now = Instant::now();
        let mut map = self.map();
        if map.len() >= TRACKED && !map.contains_key(&addr.bucket()) {
            map.retain(|_, at| now.duration_since(*at) < KNOWN_FOR);
            if map.len() >= TRACKED {
                let oldest = map.iter().min_by_key(|(_, at)| **at).map(|(k, _)| *k);
                if let Some(k) = oldest {
                    map.remove(&k);
                }
            }
        }
        map.insert(addr.bucket(), now);
    }

    /// The lane of a sign-in from `addr`.
    pub fn lane(&self, addr: ClientAddr) -> Lane {
        match self.map().get(&addr.bucket()) {
            Some(at) if at.elapsed() < KNOWN_FOR => Lane::Known,
            _ => Lane::Other,
        }
    }
}

fn worker(rx: &Mutex<std::sync::mpsc::Receiver<Job>>, running: &AtomicUsize, peak: &AtomicUsize) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut buf: Vec<Block> = Vec::new();
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv_timeout(HASH_IDLE)
        };
        let job = match job {
            Ok(j) => j,
            Err(RecvTimeoutError::Timeout) => {
                buf = Vec::new();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let Job {
            work,
            done,
            _permit: permit,
        } = job;
        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        let answer = match &work {
            Work::Hash(p) => Done::Hash(hash_with(&mut buf, p)),
            Work::Verify(p, h) => Done::Verify(verify_with(&mut buf, p, h)),
        };
        running.fetch_sub(1, Ordering::SeqCst);
        // The worker is free before the request hears back.
        drop(permit);
        let _ = done.send(answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_address_has_one_turn_at_a_time() {
        let hasher = Hasher::new(2, Duration::from_millis(100)).unwrap();
        let a = ClientAddr("192.0.2.7".parse().unwrap());
        let b = ClientAddr("2001:db8::1".parse().unwrap());
        let same_64 = ClientAddr("2001:db8::2".parse().unwrap());
        let first = hasher.turn(a, Lane::Other).unwrap();
        assert!(first.is_some());
        assert!(matches!(
            hasher.turn(a, Lane::Other),
            Err(HashError::Busy { .. })
        ));
        // Another address, and the same one in the known lane, are not held up.
        let other = hasher.turn(b, Lane::Other).unwrap();
        assert!(matches!(
            hasher.turn(same_64, Lane::Other),
            Err(HashError::Busy { .. })
        ));
        assert!(hasher.turn(a, Lane::Known).unwrap().is_none());
        drop(first);
        assert!(hasher.turn(a, Lane::Other).unwrap().is_some());
        drop(other);
        assert!(hasher.turn(same_64, Lane::Other).unwrap().is_some());
    }

    #[tokio::test]
    async fn the_hasher_caps_concurrency_and_refuses_when_busy() {
        let hasher = Hasher::new(2, Duration::from_millis(100)).unwrap();
        let h = hasher
            .hash("a long enough password", Lane::Other)
            .await
            .unwrap();
        let checks: Vec<_> = (0..12)
            .map(|i| {
                let pw = if i % 2 == 0 {
                    "a long enough password"
                } else {
                    "wrong"
                };
                let lane = if i % 3 == 0 { Lane::Known } else { Lane::Other };
                hasher.verify(pw, Some(&h), lane)
            })
            .collect();
        let mut ok = 0;
        for r in futures_util::future::join_all(checks).await {
            match r {
                Ok(true) => ok += 1,
                Ok(false) | Err(HashError::Busy { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert!(ok >= 1, "some checks ran");
        assert!(
            (1..=2).contains(&hasher.peak_concurrency()),
            "at most two at once: {}",
            hasher.peak_concurrency()
        );
        assert!(!hasher
            .verify("a long enough password", None, Lane::Other)
            .await
            .unwrap());
        // With the shared worker taken, others wait briefly, then are refused; known clients
        // still get the reserved worker.
        let held = hasher.occupy(Lane::Other).await;
        match hasher.verify("x", Some(&h), Lane::Other).await {
            Err(HashError::Busy { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
            other => panic!("expected busy: {other:?}"),
        }
        assert!(hasher
            .verify("a long enough password", Some(&h), Lane::Known)
            .await
            .unwrap());
        drop(held);
        let held = hasher.occupy(Lane::Known).await;
        assert!(matches!(
            hasher.verify("x", Some(&h), Lane::Known).await,
            Err(HashError::Busy { .. })
        ));
        drop(held);
        assert!(hasher
            .verify("a long enough password", Some(&h), Lane::Other)
            .await
            .unwrap());
        // One worker: no reserved lane, both lanes share it.
        let one = Hasher::new(1, Duration::from_millis(100)).unwrap();
        let held = one.occupy(Lane::Other).await;
        assert!(one.verify("x", Some(&h), Lane::Known).await.is_err());
        drop(held);
        assert!(!one.verify("x", Some(&h), Lane::Known).await.unwrap());
    }

    #[test]
    fn addresses_are_known_after_a_sign_in() {
        let k = KnownClients::default();
        let a = ClientAddr("2001:db8::1".parse().unwrap());
        assert_eq!(k.lane(a), Lane::Other);
        k.signed_in(a);
        assert_eq!(k.lane(a), Lane::Known);
        assert_eq!(
            k.lane(ClientAddr("2001:db8::2".parse().unwrap())),
            Lane::Known,
            "the same /64"
        );
        assert_eq!(
            k.lane(ClientAddr("192.0.2.1".parse().unwrap())),
            Lane::Other
        );
    }
}
