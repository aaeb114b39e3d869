//! Passwords: argon2id hashes (the crate's defaults: 19 MiB, 2 passes) in PHC strings.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::keys::random_bytes;

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2 passes) and a random
/// salt, on the calling thread. Requests go through [`super::Hasher`].
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

pub(super) fn hash_with(buf: &mut Vec<Block>, password: &str) -> anyhow::Result<String> {
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

pub(super) fn verify_with(buf: &mut Vec<Block>, password: &str, hash: &str) -> bool {
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

/// A hash of a random password nobody knows, checked when a sign-in names no account, so that
/// an unknown e-mail costs as much (and takes as long) as a wrong password. Made with the
/// defaults of [`hash_password`] (a test checks that).
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$n3hTk8zgmQ7q0mW3CzbaZw$vR0uKj2iV2Gk1HGqD8M5lR9+ZlK2mQj6S1x9m7lGk3A";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
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
}
