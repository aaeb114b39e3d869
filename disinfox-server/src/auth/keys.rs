//! API keys and other random tokens.
//!
//! A key is `dfx_` followed by 43 characters of URL-safe base64: 32 random bytes from the
//! operating system. It is shown once; the database keeps its SHA-256 (a fast hash is right
//! for a 256-bit random secret) and its first [`SHOWN_PREFIX`] characters to recognise it.
//! Keys never appear in logs. Requests authenticate with `Authorization: Bearer <key>`, with
//! HTTP Basic authentication carrying the key as password (any user name; what TAXII clients
//! send), or, for the existing OpenCTI DISINFOX connector, the raw `Authorization: <key>`
//! (docs/disinfox-upstream.md §1).

use sha2::{Digest, Sha256};

const KEY_PREFIX: &str = "dfx_";
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub(super) fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("operating system random source: {e}"))?;
    Ok(b)
}

pub(super) fn base64url(bytes: &[u8]) -> String {
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

/// Characters of a key the store keeps to recognise it (shown in key lists): `dfx_` and the
/// first 8 characters of the random part.
pub const SHOWN_PREFIX: usize = 12;

/// A new random API key (the secret) and its hash.
pub fn new_api_key() -> anyhow::Result<(String, Vec<u8>)> {
    let m = KeyMaterial::generate()?;
    Ok((m.secret, m.hash))
}

/// A key's secret and what the store keeps of it: its hash and its first [`SHOWN_PREFIX`]
/// characters. Made here only; [`crate::ops::issue_key`] stores it.
#[derive(Clone)]
pub struct KeyMaterial {
    /// The key, shown once.
    pub secret: String,
    /// Its SHA-256.
    pub hash: Vec<u8>,
    /// Its first characters.
    pub prefix: String,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl KeyMaterial {
    /// A new random key.
    pub fn generate() -> anyhow::Result<Self> {
        Ok(Self::of_secret(format!(
            "{KEY_PREFIX}{}",
            base64url(&random_bytes::<32>()?)
        )))
    }

    /// A key whose secret is given (the `connector_api_key` setting).
    pub fn of_secret(secret: impl Into<String>) -> Self {
        let secret = secret.into();
        Self {
            hash: hash_api_key(&secret),
            prefix: secret.chars().take(SHOWN_PREFIX).collect(),
            secret,
        }
    }
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
    use super::*;

    #[test]
    fn keys_are_random_and_well_formed() {
        let (a, ha) = new_api_key().unwrap();
        let (b, _) = new_api_key().unwrap();
        assert_ne!(a, b);
        assert_eq!(base64url(&[0xff, 0xff, 0xff]), "____");
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
}
