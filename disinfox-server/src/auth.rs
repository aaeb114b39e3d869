//! Accounts and credentials: passwords ([`passwords`], hashed through the [`Hasher`] for
//! requests), API keys ([`keys`]), sign-in throttling ([`throttle`]), and the caller of a
//! request with what it may do ([`Caller`], [`Scope`]). How a caller is read from an HTTP
//! request is [`crate::http::caller`]'s job.

pub mod hasher;
pub mod keys;
pub mod passwords;
pub mod throttle;

pub use hasher::{
    AddressTurn, HashError, Hasher, KnownClients, Lane, HASH_IDLE, HASH_WAIT, KNOWN_FOR,
};
pub use keys::{
    generate_password, hash_api_key, key_from_basic, key_from_header, new_api_key, random_token,
    KeyMaterial, SHOWN_PREFIX,
};
pub use passwords::{hash_password, verify_password, DUMMY_HASH};
pub use throttle::{LoginThrottle, FIRST_LOCK, FREE_FAILURES, MAX_LOCK};

use crate::client::ClientAddr;
use crate::db::{Role, User};
use crate::error::ApiError;

/// The minimum password length.
pub const MIN_PASSWORD: usize = 12;

/// Checks an e-mail address's shape (the login of an account).
pub fn valid_email(e: &str) -> bool {
    let e = e.trim();
    matches!(e.split_once('@'), Some((a, b)) if !a.is_empty() && b.contains('.') && !b.starts_with('.') && !b.ends_with('.'))
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && e.len() <= 254
}

/// What a caller may do: the scope of an API key (a browser session has `Write`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Read.
    Read,
    /// Read and write.
    Write,
}

impl Scope {
    /// Parses `read` or `write`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            _ => None,
        }
    }

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
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
