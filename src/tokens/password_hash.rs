//! Password hashing: argon2id PHC strings for new hashes; verification of argon2 hashes with the
//! parameters stored in them, and of the hashes a djoser deployment's Django made, so that a user
//! table moved over keeps working (they are upgraded to argon2id at the next login):
//! `pbkdf2_sha256$…` (Django's default), `argon2$argon2id$…` (`django[argon2]`) and
//! `bcrypt_sha256$$2b$…` (`django[bcrypt]`).
//!
//! Pure and synchronous: the caller supplies the salt (from getrandom) and decides when to re-hash.
//!
//! The `argon2` crate parses, validates and formats the PHC strings; the hashing itself is the
//! `edge-argon2id` crate's (src/edge-argon2id), which has a wasm SIMD path (byte-identical
//! results, pinned by the tests below against the crate).

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Params, Version};
use base64::Engine;
use edge_argon2id as argon2id;
use sha2::Digest;
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

/// edge-argon2id's parameters for the argon2 crate's validated `params`.
fn module_params(params: &Params, algorithm: Algorithm, version: Version) -> argon2id::Params {
    argon2id::Params {
        memory_kib: params.m_cost(),
        passes: params.t_cost(),
        lanes: params.p_cost(),
        variant: match algorithm {
            Algorithm::Argon2d => argon2id::Variant::D,
            Algorithm::Argon2i => argon2id::Variant::I,
            Algorithm::Argon2id => argon2id::Variant::Id,
        },
        version: match version {
            Version::V0x10 => argon2id::Version::V10,
            Version::V0x13 => argon2id::Version::V13,
        },
    }
}

/// A new argon2id PHC string for `password` with the given 16-byte random salt.
pub fn hash_password(password: &str, cost: HashCost, salt: &[u8; 16]) -> Result<String, HashError> {
    let err = |e: &dyn std::fmt::Display| HashError(e.to_string());
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| err(&e))?;
    let salt_string = SaltString::encode_b64(salt).map_err(|e| err(&e))?;
    let mut tag = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let ours = module_params(&params, Algorithm::Argon2id, Version::V0x13);
    argon2id::hash(ours, password.as_bytes(), salt, &[], &[], &mut tag).map_err(|e| err(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| err(&e))?,
        salt: Some(salt_string.as_salt()),
        hash: Some(Output::new(&tag).map_err(|e| err(&e))?),
    };
    Ok(phc.to_string())
}

/// True when `password` gives the tag of the argon2 PHC string `parsed`, with the variant,
/// version and parameters it carries (what the crate's `verify_password` accepts, and nothing
/// else: its `Params` validates them).
fn verify_argon2_phc(password: &str, parsed: &PasswordHash) -> bool {
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(parsed) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    if salt.len() < argon2::MIN_SALT_LEN {
        return false;
    }
    let mut tag = vec![0u8; expected.len()];
    let ours = module_params(&params, algorithm, version);
    argon2id::hash(
        ours,
        password.as_bytes(),
        salt,
        &[],
        params.data(),
        &mut tag,
    )
    .is_ok()
        && bool::from(tag.ct_eq(expected.as_bytes()))
}

/// True when `password` matches `stored`. Unknown formats and unusable (`!`) hashes never match.
pub fn verify_password(password: &str, stored: &str) -> bool {
    if stored.starts_with("$argon2") {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return false;
        };
        // Verify with the parameters in the hash, not the current cost, so old hashes keep working.
        verify_argon2_phc(password, &parsed)
    } else if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
        verify_django_pbkdf2(password, rest)
    } else if let Some(phc) = stored.strip_prefix("argon2") {
        verify_django_argon2(password, phc)
    } else if let Some(bcrypt_hash) = stored.strip_prefix("bcrypt_sha256$") {
        verify_django_bcrypt_sha256(password, bcrypt_hash)
    } else {
        false
    }
}

/// The hash formats [`verify_password`] knows, by their Django algorithm name: what an import
/// keeps usable. Anything else (md5, sha1, crypt, plain bcrypt without SHA-256, ...) cannot be
/// verified here.
pub fn is_verifiable_format(stored: &str) -> bool {
    let known = stored.starts_with("$argon2")
        || stored.starts_with("pbkdf2_sha256$")
        || stored.starts_with("argon2$argon2")
        || stored.starts_with("bcrypt_sha256$$2");
    known && !stored.starts_with('!')
}

/// The largest argon2 memory cost a stored hash may ask for (KiB): Django's default is 102,400
/// (100 MiB); a Worker has 128 MB in all.
const MAX_STORED_ARGON2_KIB: u32 = 110_000;

/// Django's Argon2PasswordHasher: `argon2` followed by argon2-cffi's PHC string
/// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), verified with the parameters it carries.
fn verify_django_argon2(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MAX_STORED_ARGON2_KIB {
        return false;
    }
    verify_argon2_phc(password, &parsed)
}

/// The highest bcrypt cost a stored hash may ask for; Django's default is 12.
const MAX_BCRYPT_COST: u32 = 16;

/// Django's BCryptSHA256PasswordHasher: bcrypt over the lowercase hex SHA-256 of the password
/// (so passwords longer than bcrypt's 72 bytes still count whole), stored as
/// `bcrypt_sha256$` followed by the `$2b$<cost>$…` string.
fn verify_django_bcrypt_sha256(password: &str, bcrypt_hash: &str) -> bool {
    let cost = bcrypt_hash
        .split('$')
        .nth(2)
        .and_then(|c| c.parse::<u32>().ok());
    if !cost.is_some_and(|c| (4..=MAX_BCRYPT_COST).contains(&c)) {
        return false;
    }
    let digest = crate::tokens::auth_token::hex(&sha2::Sha256::digest(password.as_bytes()));
    bcrypt::verify(digest.as_bytes(), bcrypt_hash).unwrap_or(false)
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

/// The cheapest argon2 cost, for unit tests anywhere in the crate.
#[cfg(test)]
pub(crate) const CHEAP: HashCost = HashCost {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

#[cfg(test)]
mod tests {
    use super::*;

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

/// The PHC strings against the `argon2` crate, which made and checked them before the
/// edge-argon2id crate did: the same strings out, the same strings accepted.
#[cfg(test)]
mod against_the_crate {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};
    use argon2::{Argon2, AssociatedData, ParamsBuilder};
    use proptest::prelude::*;

    fn crate_phc(password: &str, cost: HashCost, salt: &[u8; 16]) -> String {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None).unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password.as_bytes(), &SaltString::encode_b64(salt).unwrap())
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_shipped_cost_gives_the_crates_string() {
        let cost = HashCost {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        };
        let ours = hash_password("correct horse battery staple", cost, &[0x5a; 16]).unwrap();
        assert_eq!(
            ours,
            crate_phc("correct horse battery staple", cost, &[0x5a; 16])
        );
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$WlpaWlpaWlpaWlpaWlpaWg$"));
    }

    /// The reference implementation's PHC strings (its test.c), argon2i and argon2id, with and
    /// without the version field (absent means 0x13 to the crate, and so to us).
    #[test]
    fn reference_phc_strings_verify() {
        for phc in [
            "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
            "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc",
            "$argon2id$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc",
            "$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8",
            "$argon2i$v=19$m=256,t=2,p=2$c29tZXNhbHQ$T/XOJ2mh1/TIpJHfCdQan76Q5esCFVoT5MAeIM1Oq2E",
        ] {
            assert!(verify_password("password", phc), "{phc}");
            assert!(!verify_password("passwore", phc), "{phc}");
        }
    }

    #[test]
    fn malformed_argon2_strings_are_refused_like_the_crate_does() {
        for phc in [
            // Salt under 8 bytes, unknown variant, unknown version, unknown parameter, m < 8p.
            "$argon2id$v=19$m=256,t=2,p=1$c29tZQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
            "$argon2x$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
            "$argon2id$v=18$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
            "$argon2id$v=19$m=256,t=2,p=1,x=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
            "$argon2id$v=19$m=15,t=2,p=2$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
            "$argon2id$v=19$m=256,t=0,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
            "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ",
        ] {
            let crate_says = PasswordHash::new(phc)
                .map(|h| Argon2::default().verify_password(b"password", &h).is_ok())
                .unwrap_or(false);
            assert!(!crate_says, "{phc}");
            assert!(!verify_password("password", phc), "{phc}");
        }
    }

    fn algorithm() -> impl Strategy<Value = Algorithm> {
        prop_oneof![
            Just(Algorithm::Argon2id),
            Just(Algorithm::Argon2i),
            Just(Algorithm::Argon2d)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// New hashes: the crate's exact string for any password, salt and small cost.
        #[test]
        fn new_hashes_are_the_crates_strings(
            password in "\\PC{0,40}",
            salt in any::<[u8; 16]>(),
            parallelism in 1u32..=4,
            extra_kib in 0u32..300,
            iterations in 1u32..=3,
        ) {
            let cost = HashCost { memory_kib: 8 * parallelism + extra_kib, iterations, parallelism };
            let ours = hash_password(&password, cost, &salt).unwrap();
            prop_assert_eq!(&ours, &crate_phc(&password, cost, &salt));
            prop_assert!(verify_password(&password, &ours));
        }

        /// Stored hashes: whatever the crate made (any variant, version, cost, salt length,
        /// tag length, associated data) verifies here, and not with another password.
        #[test]
        fn crate_made_hashes_verify(
            password in "\\PC{0,40}",
            salt in proptest::collection::vec(any::<u8>(), 8..48),
            algorithm in algorithm(),
            old_version in any::<bool>(),
            parallelism in 1u32..=4,
            extra_kib in 0u32..300,
            iterations in 1u32..=3,
            output_len in 10usize..=64,
            data in proptest::collection::vec(any::<u8>(), 0..=8),
        ) {
            let mut builder = ParamsBuilder::new();
            builder
                .m_cost(8 * parallelism + extra_kib)
                .t_cost(iterations)
                .p_cost(parallelism)
                .output_len(output_len);
            if !data.is_empty() {
                builder.data(AssociatedData::new(&data).unwrap());
            }
            let version = if old_version { Version::V0x10 } else { Version::V0x13 };
            let salt = SaltString::encode_b64(&salt).unwrap();
            let phc = Argon2::new(algorithm, version, builder.build().unwrap())
                .hash_password(password.as_bytes(), &salt)
                .unwrap()
                .to_string();
            prop_assert!(verify_password(&password, &phc), "{}", phc);
            prop_assert!(!verify_password(&format!("{password}!"), &phc), "{}", phc);
        }
    }
}

/// The verifiers against hashes made by real Django (tests/fixtures/django, from
/// make_fixture.sh): each known password verifies against its user's stored hash, a wrong one
/// does not, and each asks to be re-hashed to argon2id.
#[cfg(test)]
mod django_fixture {
    use super::*;
    use serde_json::Value;

    const DUMP: &str = include_str!("../../tests/fixtures/django/dump.json");
    const KNOWN: &str = include_str!("../../tests/fixtures/django/known.json");

    fn stored_and_password(hasher: &str) -> (String, String) {
        let dump: Value = serde_json::from_str(DUMP).unwrap();
        let known: Value = serde_json::from_str(KNOWN).unwrap();
        let (name, user) = known["users"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(_, u)| u["hasher"] == hasher)
            .unwrap();
        let row = dump
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["model"] == "auth.user" && r["fields"]["username"] == name.as_str())
            .unwrap();
        (
            row["fields"]["password"].as_str().unwrap().to_string(),
            user["password"].as_str().unwrap().to_string(),
        )
    }

    /// `wrong_too`: also check that a wrong password fails (skipped for the million PBKDF2
    /// rounds, a debug build's slowest work; the 1000-round test above covers the mismatch).
    fn check(hasher: &str, prefix: &str, wrong_too: bool) {
        let (stored, password) = stored_and_password(hasher);
        assert!(stored.starts_with(prefix), "{stored}");
        assert!(is_verifiable_format(&stored));
        assert!(verify_password(&password, &stored), "{hasher}");
        if wrong_too {
            assert!(
                !verify_password(&format!("{password}x"), &stored),
                "{hasher}"
            );
        }
        assert!(needs_rehash(
            &stored,
            HashCost {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1
            }
        ));
    }

    #[test]
    fn django_default_pbkdf2_sha256_at_a_million_iterations_verifies() {
        check("pbkdf2_sha256", "pbkdf2_sha256$1000000$", false);
    }

    #[test]
    fn django_argon2_hasher_output_verifies() {
        check("argon2", "argon2$argon2id$v=19$m=102400,t=2,p=8$", true);
    }

    #[test]
    fn django_bcrypt_sha256_hasher_output_verifies() {
        check("bcrypt_sha256", "bcrypt_sha256$$2b$12$", true);
    }

    #[test]
    fn django_md5_and_unusable_hashes_are_not_verifiable() {
        let (md5, password) = stored_and_password("md5");
        assert!(!is_verifiable_format(&md5));
        assert!(!verify_password(&password, &md5));
        assert!(!is_verifiable_format("!unusable"));
        // Plain bcrypt (Django's BCryptPasswordHasher, no SHA-256) and odd costs are refused.
        assert!(!is_verifiable_format("bcrypt$$2b$12$abc"));
        assert!(!verify_password(
            "pw",
            "bcrypt_sha256$$2b$31$abcdefghijklmnopqrstuu"
        ));
    }
}
