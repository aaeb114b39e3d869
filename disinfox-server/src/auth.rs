//! Passwords (argon2), API keys (random, stored as SHA-256 hashes), and the caller of a request.
//!
//! A key is `dfx_` followed by 43 characters of URL-safe base64: 32 random bytes from the
//! operating system. It is shown once; the database keeps its SHA-256 (a fast hash is right
//! for a 256-bit random secret) and its first characters to recognise it. Keys never appear in
//! logs. Requests authenticate with `Authorization: Bearer <key>`, with HTTP Basic
//! authentication carrying the key as password (any user name; what TAXII clients send), or,
//! for the existing OpenCTI DISINFOX connector, the raw `Authorization: <key>`.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::db::{Role, User};
use crate::error::ApiError;
use crate::startup::AppState;

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

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = random_bytes::<16>()?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Whether a password matches a stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// [`hash_password`] on a blocking thread: argon2 takes tens of milliseconds of CPU, which
/// must not stall the request workers.
pub async fn hash_password_async(password: &str) -> anyhow::Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?
}

/// [`verify_password`] on a blocking thread (see [`hash_password_async`]).
pub async fn verify_password_async(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

/// Failed sign-ins in a row before an address is locked.
pub const FREE_FAILURES: u32 = 5;
/// The first lock; each further failure doubles it, up to [`MAX_LOCK`].
pub const FIRST_LOCK: Duration = Duration::from_secs(30);
/// The longest lock.
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Addresses tracked at most (the oldest is forgotten first).
const TRACKED: usize = 10_000;

/// Failed sign-ins per e-mail address (known or not, so a lock says nothing about whether an
/// account exists). After [`FREE_FAILURES`] failures in a row the address is locked for
/// [`FIRST_LOCK`], doubling with each further failure up to [`MAX_LOCK`]; a lock only delays,
/// it never disables the account. A successful sign-in clears the address.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<BTreeMap<String, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

fn throttle_key(email: &str) -> String {
    email.trim().to_lowercase()
}

impl LoginThrottle {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Failures>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long `email` stays locked, if it is.
    pub fn locked_for(&self, email: &str) -> Option<Duration> {
        self.locked_for_at(email, Instant::now())
    }

    /// [`Self::locked_for`] at `now`.
    pub fn locked_for_at(&self, email: &str, now: Instant) -> Option<Duration> {
        let until = self.map().get(&throttle_key(email))?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failed sign-in for `email`.
    pub fn failed(&self, email: &str) {
        self.failed_at(email, Instant::now());
    }

    /// [`Self::failed`] at `now`.
    pub fn failed_at(&self, email: &str, now: Instant) {
        let mut map = self.map();
        let key = throttle_key(email);
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
        }
    }

    /// Clears `email` after a successful sign-in.
    pub fn succeeded(&self, email: &str) {
        self.map().remove(&throttle_key(email));
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

/// The key in an `Authorization: Basic <base64 of user:password>` header: the password (the
/// user name is ignored); `None` for other schemes or a malformed value.
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
    let (_user, password) = text.split_once(':')?;
    (!password.is_empty() && password.len() <= 200).then(|| password.to_owned())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::Unauthorized(
                "authentication required: send Authorization: Bearer <API key>".into(),
            ));
        };
        let value = value.to_str().ok();
        let key = value
            .and_then(key_from_basic)
            .or_else(|| value.and_then(key_from_header).map(str::to_owned))
            .ok_or_else(|| ApiError::Unauthorized("malformed Authorization header".into()))?;
        let Some((info, user)) = state.store.api_key_by_hash(&hash_api_key(&key)).await? else {
            return Err(ApiError::Unauthorized("invalid or revoked API key".into()));
        };
        state.rate_limiter.check(info.id)?;
        if let Err(e) = state
            .store
            .touch_api_key(info.id, info.last_used_at.as_deref())
            .await
        {
            tracing::warn!(error = ?e, "could not record API key use");
        }
        let scope = if info.scope == "write" {
            Scope::Write
        } else {
            Scope::Read
        };
        let caller = Caller {
            user,
            key_id: Some(info.id),
            scope,
        };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn failed_sign_ins_lock_an_address_for_longer_and_longer() {
        use super::{LoginThrottle, FIRST_LOCK, FREE_FAILURES, MAX_LOCK};
        use std::time::{Duration, Instant};
        let t = LoginThrottle::default();
        let now = Instant::now();
        for _ in 1..FREE_FAILURES {
            t.failed_at("A@Example.org", now);
            assert_eq!(t.locked_for_at("a@example.org", now), None);
        }
        t.failed_at(" a@example.org", now);
        assert_eq!(t.locked_for_at("a@example.org", now), Some(FIRST_LOCK));
        assert_eq!(
            t.locked_for_at("b@example.org", now),
            None,
            "others unaffected"
        );
        let later = now + FIRST_LOCK;
        assert_eq!(
            t.locked_for_at("a@example.org", later),
            None,
            "the lock ends"
        );
        t.failed_at("a@example.org", later);
        assert_eq!(
            t.locked_for_at("a@example.org", later),
            Some(FIRST_LOCK * 2)
        );
        for _ in 0..40 {
            t.failed_at("a@example.org", later);
        }
        assert_eq!(t.locked_for_at("a@example.org", later), Some(MAX_LOCK));
        t.succeeded("A@example.org");
        assert_eq!(t.locked_for_at("a@example.org", later), None);
        // Failures an hour apart start over.
        let mut at = later;
        for _ in 0..10 {
            at += Duration::from_secs(3_600);
            t.failed_at("c@example.org", at);
            assert_eq!(t.locked_for_at("c@example.org", at), None);
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
        for bad in [
            "Basic abc",
            "Basic",
            "Bearer x",
            &format!("Basic {}", b64("nopassword")),
            &format!("Basic {}", b64("u:")),
        ] {
            assert_eq!(key_from_basic(bad), None, "{bad}");
        }
    }

    #[test]
    fn passwords() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_eq!(base64url(&[0xff, 0xff, 0xff]), "____");
    }
}
