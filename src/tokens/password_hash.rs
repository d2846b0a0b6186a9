//! Password hashing: argon2id PHC strings for new hashes; verification of argon2 hashes with the
//! parameters stored in them, and of Django's `pbkdf2_sha256$…` hashes so that a user table moved
//! over from a djoser deployment keeps working (those hashes are upgraded at the next login).
//!
//! Pure and synchronous: the caller supplies the salt (from getrandom) and decides when to re-hash.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use subtle::ConstantTimeEq;

/// The cost of new argon2id hashes (from Settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB (m).
    pub memory_kib: u32,
    /// Passes (t).
    pub iterations: u32,
    /// Lanes (p).
    pub parallelism: u32,
}

/// Passwords longer than this are refused before hashing, so a huge password costs nothing.
pub const MAX_PASSWORD_CHARS: usize = 4096;

/// Hashing failed: only possible with invalid parameters.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

fn hasher(cost: HashCost) -> Result<Argon2<'static>, HashError> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| HashError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A new argon2id PHC string for `password` with the given 16-byte random salt.
pub fn hash_password(password: &str, cost: HashCost, salt: &[u8; 16]) -> Result<String, HashError> {
    let salt = SaltString::encode_b64(salt).map_err(|e| HashError(e.to_string()))?;
    hasher(cost)?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// True when `password` matches `stored`. Unknown formats and unusable (`!`) hashes never match.
pub fn verify_password(password: &str, stored: &str) -> bool {
    if stored.starts_with("$argon2") {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return false;
        };
        // Verify with the parameters in the hash, not the current cost, so old hashes keep working.
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    } else if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
        verify_django_pbkdf2(password, rest)
    } else {
        false
    }
}

/// Django's PBKDF2PasswordHasher: `pbkdf2_sha256$<iterations>$<salt>$<b64 sha256 digest>`.
fn verify_django_pbkdf2(password: &str, rest: &str) -> bool {
    let mut parts = rest.splitn(3, '$');
    let (Some(iterations), Some(salt), Some(expected)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    // Bound the work an odd stored hash can ask for; Django 5.2 uses 1,000,000.
    let Ok(iterations) = iterations.parse::<u32>() else {
        return false;
    };
    if iterations == 0 || iterations > 10_000_000 {
        return false;
    }
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(expected) else {
        return false;
    };
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut out);
    expected.len() == out.len() && bool::from(out.ct_eq(&expected))
}

/// True when `stored` should be replaced by a hash at `cost` after a successful login: another
/// algorithm, or argon2 parameters that differ from the configured ones.
pub fn needs_rehash(stored: &str, cost: HashCost) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return true;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    params.m_cost() != cost.memory_kib
        || params.t_cost() != cost.iterations
        || params.p_cost() != cost.parallelism
}

/// Spends the same work as a real verify at `cost`, for logins of unknown users, so that the
/// answer time does not tell whether an account exists.
pub fn dummy_verify(password: &str, cost: HashCost) {
    let _ = hash_password(password, cost, &[0x5a; 16]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashCost = HashCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn hash_is_argon2id_phc_and_verifies() {
        let h = hash_password("correct horse", CHEAP, &[1; 16]).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsf", &h));
        assert!(!verify_password("", &h));
    }

    #[test]
    fn salts_make_hashes_differ() {
        let a = hash_password("pw", CHEAP, &[1; 16]).unwrap();
        let b = hash_password("pw", CHEAP, &[2; 16]).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn old_cost_hashes_still_verify_and_ask_for_rehash() {
        let old = hash_password("pw", CHEAP, &[3; 16]).unwrap();
        let new_cost = HashCost {
            memory_kib: 128,
            iterations: 2,
            parallelism: 1,
        };
        assert!(verify_password("pw", &old));
        assert!(needs_rehash(&old, new_cost));
        assert!(!needs_rehash(&old, CHEAP));
    }

    #[test]
    fn django_pbkdf2_hash_verifies_and_asks_for_rehash() {
        // Made with Django 5.2's make_password("s3cret-pass", salt="abcdefghijklmnopqrstuv",
        // hasher="pbkdf2_sha256") at 1000 iterations (the iteration count is in the string).
        let stored = "pbkdf2_sha256$1000$abcdefghijklmnopqrstuv$WLdDZ3WSqd59BrgB21Jwe2QATL54vKih8AcbWz5OTjg=";
        assert!(verify_password("s3cret-pass", stored));
        assert!(!verify_password("s3cret-pasS", stored));
        assert!(needs_rehash(stored, CHEAP));
    }

    #[test]
    fn malformed_and_unusable_hashes_never_verify() {
        for stored in [
            "",
            "!",
            "!unusable",
            "md5$x$y",
            "pbkdf2_sha256$",
            "pbkdf2_sha256$abc$salt$hash",
            "pbkdf2_sha256$0$salt$aGFzaA==",
            "pbkdf2_sha256$99999999999$salt$aGFzaA==",
            "$argon2id$garbage",
        ] {
            assert!(!verify_password("pw", stored), "{stored:?}");
        }
    }
}
