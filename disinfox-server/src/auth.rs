//! Passwords (argon2), API keys (random, stored as SHA-256 hashes), and the caller of a request.
//!
//! A key is `dfx_` followed by 43 characters of URL-safe base64: 32 random bytes from the
//! operating system. It is shown once; the database keeps its SHA-256 (a fast hash is right
//! for a 256-bit random secret) and its first characters to recognise it. Keys never appear in
//! logs. Requests authenticate with `Authorization: Bearer <key>`, with HTTP Basic
//! authentication carrying the key as password (any user name; what TAXII clients send), or,
//! for the existing OpenCTI DISINFOX connector, the raw `Authorization: <key>`.

use anyhow::Context as _;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::client::ClientAddr;

use crate::db::{Role, User};
use crate::error::ApiError;

const KEY_PREFIX: &str = "dfx_";
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("operating system random source: {e}"))?;
    Ok(b)
}

fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// A new random API key (the secret) and its hash.
pub fn new_api_key() -> anyhow::Result<(String, Vec<u8>)> {
    let secret = format!("{KEY_PREFIX}{}", base64url(&random_bytes::<32>()?));
    let hash = hash_api_key(&secret);
    Ok((secret, hash))
}

/// The stored hash of a key.
pub fn hash_api_key(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A random token of 32 bytes in URL-safe base64 (browser session ids, CSRF tokens).
pub fn random_token() -> anyhow::Result<String> {
    Ok(base64url(&random_bytes::<32>()?))
}

/// A random password for generated accounts (24 URL-safe characters).
pub fn generate_password() -> anyhow::Result<String> {
    Ok(base64url(&random_bytes::<18>()?))
}

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2 passes) and a random
/// salt, on the calling thread. Requests go through [`Hasher`]; this is for the command line.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    hash_with(&mut Vec::new(), password)
}

/// Whether a password matches a stored hash, on the calling thread (see [`hash_password`]).
pub fn verify_password(password: &str, hash: &str) -> bool {
    verify_with(&mut Vec::new(), password, hash)
}

/// Argon2's working memory, reused by one hashing worker from job to job.
///
/// Its capacity is at least 33 MiB, above the largest size glibc's allocator serves from its
/// heaps (32 MiB), so the buffer is mapped on its own and returned to the operating system when
/// the worker drops it after [`HASH_IDLE`]; a 19 MiB buffer would stay in the allocator's
/// arena for the life of the process. Only the blocks in use are ever touched, so the unused
/// capacity costs address space, not memory.
fn blocks(buf: &mut Vec<Block>, count: usize) -> &mut [Block] {
    const MIN_CAPACITY: usize = 33 * 1024 * 1024 / Block::SIZE;
    if buf.capacity() < count {
        *buf = Vec::with_capacity(count.max(MIN_CAPACITY));
    }
    buf.resize(count, Block::new());
    &mut buf[..count]
}

fn hash_with(buf: &mut Vec<Block>, password: &str) -> anyhow::Result<String> {
    let salt = random_bytes::<16>()?;
    let params = Params::default();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon2
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut out,
            blocks(buf, params.block_count()),
        )
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
    let phc = |e: argon2::password_hash::phc::Error| anyhow::anyhow!("hashing password: {e}");
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| anyhow::anyhow!("{e}"))?,
        salt: Some(Salt::new(&salt).map_err(phc)?),
        hash: Some(Output::new(&out).map_err(phc)?),
    };
    Ok(hash.to_string())
}

fn verify_with(buf: &mut Vec<Block>, password: &str, hash: &str) -> bool {
    let Ok(h) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&h.salt, &h.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(h.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = h.version.map_or(Ok(Version::default()), Version::try_from) else {
        return false;
    };
    let Ok(params) = Params::try_from(&h) else {
        return false;
    };
    // A stored hash is ours, but its cost is bounded all the same (the largest we would make
    // is the default; 64 MiB leaves room for a stronger setting made elsewhere).
    if params.block_count() > 64 * 1024 {
        return false;
    }
    let mut out = vec![0u8; expected.len()];
    let count = params.block_count();
    let ok = Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks(buf, count))
        .is_ok();
    ok && out.len() == expected.as_bytes().len()
        && out
            .iter()
            .zip(expected.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// A hashing worker drops its working memory after this long without work.
pub const HASH_IDLE: Duration = Duration::from_secs(2);
/// How long a request waits for a hashing worker before it is refused with 503.
pub const HASH_WAIT: Duration = Duration::from_secs(2);
/// Requests that may wait for a hashing worker, per worker; more are refused at once.
const WAITING_PER_WORKER: usize = 32;

/// A hash of a random password nobody knows, checked when a sign-in names no account, so that
/// an unknown e-mail costs as much (and takes as long) as a wrong password. Made with the
/// defaults of [`hash_password`] (a test checks that).
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$n3hTk8zgmQ7q0mW3CzbaZw$vR0uKj2iV2Gk1HGqD8M5lR9+ZlK2mQj6S1x9m7lGk3A";

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
        })
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
/// at most [`TRACKED`] (the least recently seen go first).
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

/// Failed sign-ins in a row before an (address, account) pair is locked.
pub const FREE_FAILURES: u32 = 5;
/// The first lock; each further failure doubles it, up to [`MAX_LOCK`].
pub const FIRST_LOCK: Duration = Duration::from_secs(30);
/// The longest lock.
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Pairs tracked at most (the oldest is forgotten first).
const TRACKED: usize = 50_000;

/// Failed sign-ins per (client address, e-mail address) pair: the e-mail whether or not it
/// has an account, so a lock says nothing about whether one exists. After [`FREE_FAILURES`]
/// failures in a row the pair is locked for [`FIRST_LOCK`], doubling with each further failure
/// up to [`MAX_LOCK`]; a lock only delays, it never disables the account, and it never stops
/// the owner signing in from another address. A successful sign-in clears the pair. (Trying
/// many accounts from one address is bounded by the per-address attempt limit instead.)
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<BTreeMap<(IpAddr, String), Failures>>,
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

impl LoginThrottle {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<(IpAddr, String), Failures>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long `email` stays locked for `addr`, if it is.
    pub fn locked_for(&self, addr: ClientAddr, email: &str) -> Option<Duration> {
        self.locked_for_at(addr, email, Instant::now())
    }

    /// [`Self::locked_for`] at `now`.
    pub fn locked_for_at(&self, addr: ClientAddr, email: &str, now: Instant) -> Option<Duration> {
        let until = self.map().get(&throttle_key(addr, email))?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failed sign-in for `email` from `addr`; the lock it starts, if it starts one.
    pub fn failed(&self, addr: ClientAddr, email: &str) -> Option<Duration> {
        self.failed_at(addr, email, Instant::now())
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
        if f.count >= FREE_FAILURES {
            let doublings = (f.count - FREE_FAILURES).min(16);
            let lock = FIRST_LOCK.saturating_mul(1 << doublings).min(MAX_LOCK);
            f.locked_until = Some(now + lock);
            return Some(lock);
        }
        None
    }

    /// Clears `email` for `addr` after a successful sign-in.
    pub fn succeeded(&self, addr: ClientAddr, email: &str) {
        self.map().remove(&throttle_key(addr, email));
    }
}

/// The minimum password length.
pub const MIN_PASSWORD: usize = 12;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Read.
    Read,
    /// Read and write.
    Write,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// The key used, if any (none for a browser session).
    pub key_id: Option<i64>,
    /// What the credentials allow (a read key of an analyst can only read).
    pub scope: Scope,
    /// Where the request came from (for the audit log).
    pub address: ClientAddr,
}

impl Caller {
    /// Fails with 403 unless the caller may write incidents.
    pub fn require_write(&self) -> Result<(), ApiError> {
        if self.scope == Scope::Write && self.user.role.can_write() {
            Ok(())
        } else if !self.user.role.can_write() {
            Err(ApiError::Forbidden(format!(
                "the {} role cannot change incidents",
                self.user.role.as_str()
            )))
        } else {
            Err(ApiError::Forbidden("this API key is read-only".into()))
        }
    }

    /// Fails with 403 when the credentials are read-only (a read key): managing one's own keys
    /// needs a browser session or a write key.
    pub fn require_account(&self) -> Result<(), ApiError> {
        if self.scope == Scope::Write {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "a read-only key cannot manage keys".into(),
            ))
        }
    }

    /// Fails with 403 unless the caller is an administrator (with write scope).
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.user.role == Role::Admin && self.scope == Scope::Write {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "only administrators can do this".into(),
            ))
        }
    }
}

/// The key in an `Authorization` header: `Bearer <key>` or the raw key.
pub fn key_from_header(value: &str) -> Option<&str> {
    let v = value.trim();
    let key = match v.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return None,
        None => v,
    };
    (!key.is_empty() && key.len() <= 200).then_some(key)
}

/// The key in an `Authorization: Basic <base64 of user:password>` header: the password, or,
/// when the password is empty, the user name (`curl -u KEY:`); `None` for other schemes or a
/// malformed value.
pub fn key_from_basic(value: &str) -> Option<String> {
    use base64::Engine as _;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    let key = if password.is_empty() { user } else { password };
    (!key.is_empty() && key.len() <= 200).then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn failed_sign_ins_lock_an_address_and_account_pair_for_longer_and_longer() {
        use super::{LoginThrottle, FIRST_LOCK, FREE_FAILURES, MAX_LOCK};
        use crate::client::ClientAddr;
        use std::time::{Duration, Instant};
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
        t.succeeded(here, "A@example.org");
        assert_eq!(t.locked_for_at(here, "a@example.org", later), None);
        // Failures an hour apart start over.
        let mut at = later;
        for _ in 0..10 {
            at += Duration::from_secs(3_600);
            t.failed_at(here, "c@example.org", at);
            assert_eq!(t.locked_for_at(here, "c@example.org", at), None);
        }
    }

    use super::*;

    #[test]
    fn keys_are_random_and_well_formed() {
        let (a, ha) = new_api_key().unwrap();
        let (b, _) = new_api_key().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("dfx_") && a.len() == 4 + 43, "{a}");
        assert_eq!(hash_api_key(&a), ha);
        assert_eq!(key_from_header(&format!("Bearer {a}")), Some(a.as_str()));
        assert_eq!(key_from_header(&a), Some(a.as_str()));
        assert_eq!(key_from_header("Basic abc"), None);
        assert_eq!(key_from_header(""), None);
        // "taxii:<key>" and ":<key>": any user name, even an empty one.
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        for user in ["taxii", ""] {
            let h = format!("Basic {}", b64(&format!("{user}:{a}")));
            assert_eq!(key_from_basic(&h).as_deref(), Some(a.as_str()));
        }
        assert_eq!(
            key_from_basic(&format!("basic  {}", b64("u:k"))).as_deref(),
            Some("k")
        );
        // curl -u KEY: sends the key as the user name with an empty password.
        assert_eq!(
            key_from_basic(&format!("Basic {}", b64(&format!("{a}:")))).as_deref(),
            Some(a.as_str())
        );
        for bad in [
            "Basic abc",
            "Basic",
            "Bearer x",
            &format!("Basic {}", b64("nopassword")),
            &format!("Basic {}", b64(":")),
        ] {
            assert_eq!(key_from_basic(bad), None, "{bad}");
        }
    }

    #[test]
    fn passwords() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_eq!(base64url(&[0xff, 0xff, 0xff]), "____");
        // Hashes made by the argon2 crate's own API check here, and the other way round.
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let theirs = Argon2::default()
            .hash_password_with_salt(b"pw from elsewhere", b"saltsaltsalt")
            .unwrap()
            .to_string();
        assert!(verify_password("pw from elsewhere", &theirs));
        assert!(!verify_password("pw from elsewher", &theirs));
        // A worker's memory, used again from job to job, gives the same results.
        let mut buf = Vec::new();
        let a = hash_with(&mut buf, "first password here").unwrap();
        let b = hash_with(&mut buf, "second password here").unwrap();
        assert!(verify_with(&mut buf, "first password here", &a));
        assert!(!verify_with(&mut buf, "second password here", &a));
        assert!(verify_password("second password here", &b));
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let h = PasswordHash::new(DUMMY_HASH).unwrap();
        let (p, d) = (Params::try_from(&h).unwrap(), Params::default());
        assert_eq!(
            (p.m_cost(), p.t_cost(), p.p_cost()),
            (d.m_cost(), d.t_cost(), d.p_cost())
        );
        assert_eq!(h.algorithm, Algorithm::Argon2id.ident());
        assert_eq!(h.hash.unwrap().len(), Params::DEFAULT_OUTPUT_LEN);
        assert!(!verify_password("", DUMMY_HASH));
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
