//! RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 8017 §8.2) verification, shared by the two places
//! that take RSA public keys from outside: social sign-in's ID tokens (a provider's JWK) and
//! passkeys (a COSE key, alg -257). The `rsa` crate does the arithmetic, verification only: no
//! RNG, no key generation, nothing secret on this side.
//!
//! One key policy for both: a modulus of 2048 to 4096 bits (RFC 7518 §3.3 and the FIDO
//! algorithm guidance ask for 2048 at least; 4096 is the crate's own ceiling and what the
//! largest keys in use have), and an odd public exponent from 3 up to 2^33 - 1 (even or tiny
//! exponents are not RSA keys anyone generates; the ceiling is the crate's). The signature must
//! be exactly the modulus's length, and the encoded message is compared whole, so the loose
//! PKCS#1 v1.5 parsing that small exponents once made forgeable does not arise.

use rsa::signature::Verifier as _;
use sha2::Sha256;

/// The smallest modulus taken, in bits.
pub const MIN_MODULUS_BITS: usize = 2048;
/// The largest modulus taken, in bits.
pub const MAX_MODULUS_BITS: usize = 4096;
/// The smallest public exponent taken.
pub const MIN_EXPONENT: u64 = 3;

/// Why an RSA public key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The modulus is under [`MIN_MODULUS_BITS`] or over [`MAX_MODULUS_BITS`].
    #[error("RSA modulus of {0} bits")]
    ModulusSize(usize),
    /// The exponent is even, under [`MIN_EXPONENT`], or too large.
    #[error("RSA public exponent")]
    Exponent,
    /// The modulus is not one (even, or not above the exponent).
    #[error("RSA modulus")]
    Modulus,
}

/// An RSA public key that passed the policy above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(rsa::RsaPublicKey);

impl PublicKey {
    /// The key of modulus `n` and exponent `e`, both unsigned big-endian (as JWK and COSE
    /// carry them; leading zero bytes are ignored).
    pub fn from_be_bytes(n: &[u8], e: &[u8]) -> Result<PublicKey, KeyError> {
        let odd = e.last().is_some_and(|low| low & 1 == 1);
        let n = rsa::BigUint::from_bytes_be(n);
        let e = rsa::BigUint::from_bytes_be(e);
        let bits = n.bits();
        if !(MIN_MODULUS_BITS..=MAX_MODULUS_BITS).contains(&bits) {
            return Err(KeyError::ModulusSize(bits));
        }
        let small = rsa::BigUint::from(MIN_EXPONENT);
        let large = rsa::BigUint::from(rsa::RsaPublicKey::MAX_PUB_EXPONENT);
        if !odd || e < small || e > large {
            return Err(KeyError::Exponent);
        }
        // What is left for the crate's own checks: an even modulus, or one not above e.
        rsa::RsaPublicKey::new_with_max_size(n, e, MAX_MODULUS_BITS)
            .map(PublicKey)
            .map_err(|_| KeyError::Modulus)
    }

    /// The modulus's length in bits.
    pub fn bits(&self) -> usize {
        use rsa::traits::PublicKeyParts as _;
        self.0.n().bits()
    }

    /// Whether `signature` is this key's RS256 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = rsa::pkcs1v15::Signature::try_from(signature) else {
            return false;
        };
        rsa::pkcs1v15::VerifyingKey::<Sha256>::new(self.0.clone())
            .verify(message, &signature)
            .is_ok()
    }
}

#[cfg(test)]
pub mod testing {
    //! RSA keys for tests, generated from a fixed seed (the crate generates keys with any
    //! cryptographic RNG; the Worker build has none wired to it and needs none).
    use rand_chacha::rand_core::SeedableRng as _;
    use rsa::signature::{SignatureEncoding as _, Signer as _};
    use rsa::traits::PublicKeyParts as _;
    use sha2::Sha256;
    use std::sync::OnceLock;

    /// A test key pair.
    #[derive(Debug, Clone)]
    pub struct TestRsa(pub rsa::RsaPrivateKey);

    impl TestRsa {
        /// A fresh key of `bits` from `seed` (a second or two in a debug build at 2048).
        pub fn generate(bits: usize, seed: u8) -> TestRsa {
            let mut rng = rand_chacha::ChaCha20Rng::from_seed([seed; 32]);
            TestRsa(rsa::RsaPrivateKey::new(&mut rng, bits).unwrap())
        }

        /// One shared 2048-bit key (seed 1), generated once per test binary.
        pub fn shared() -> &'static TestRsa {
            static KEY: OnceLock<TestRsa> = OnceLock::new();
            KEY.get_or_init(|| TestRsa::generate(2048, 1))
        }

        /// A second shared 2048-bit key (seed 2).
        pub fn other() -> &'static TestRsa {
            static KEY: OnceLock<TestRsa> = OnceLock::new();
            KEY.get_or_init(|| TestRsa::generate(2048, 2))
        }

        /// The modulus, big-endian.
        pub fn n(&self) -> Vec<u8> {
            self.0.n().to_bytes_be()
        }

        /// The public exponent, big-endian.
        pub fn e(&self) -> Vec<u8> {
            self.0.e().to_bytes_be()
        }

        /// The RS256 signature of `message`.
        pub fn sign(&self, message: &[u8]) -> Vec<u8> {
            rsa::pkcs1v15::SigningKey::<Sha256>::new(self.0.clone())
                .sign(message)
                .to_vec()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::TestRsa;
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_fails() {
        let key = TestRsa::shared();
        let public = PublicKey::from_be_bytes(&key.n(), &key.e()).unwrap();
        assert_eq!(public.bits(), 2048);
        let sig = key.sign(b"message");
        assert_eq!(sig.len(), 256);
        assert!(public.verify(b"message", &sig));
        assert!(!public.verify(b"messagf", &sig));
        let mut changed = sig.clone();
        changed[100] ^= 1;
        assert!(!public.verify(b"message", &changed));
        // Another key's signature, a truncated one, one with a zero byte in front, none.
        assert!(!public.verify(b"message", &TestRsa::other().sign(b"message")));
        assert!(!public.verify(b"message", &sig[1..]));
        let mut longer = vec![0];
        longer.extend_from_slice(&sig);
        assert!(!public.verify(b"message", &longer));
        assert!(!public.verify(b"message", &[]));
        // Leading zero bytes in n and e are the same key.
        let mut n = vec![0, 0];
        n.extend(key.n());
        let mut e = vec![0];
        e.extend(key.e());
        assert_eq!(PublicKey::from_be_bytes(&n, &e).unwrap(), public);
    }

    /// An odd modulus of exactly `bits` bits (no key behind it: the size is refused first).
    fn modulus(bits: usize) -> Vec<u8> {
        let mut n = vec![0xffu8; bits.div_ceil(8)];
        let top = bits % 8;
        if top != 0 {
            n[0] = (1u8 << top) - 1;
        }
        n
    }

    #[test]
    fn moduli_outside_2048_to_4096_bits_are_refused() {
        let e = [1, 0, 1];
        for bits in [512, 1024, 2047] {
            assert_eq!(
                PublicKey::from_be_bytes(&modulus(bits), &e),
                Err(KeyError::ModulusSize(bits))
            );
        }
        for bits in [4097, 8192] {
            assert_eq!(
                PublicKey::from_be_bytes(&modulus(bits), &e),
                Err(KeyError::ModulusSize(bits))
            );
        }
        assert_eq!(
            PublicKey::from_be_bytes(&[], &e),
            Err(KeyError::ModulusSize(0))
        );
        // The bounds themselves pass the size check (these moduli are odd and above e).
        for bits in [2048, 3072, 4096] {
            assert_eq!(
                PublicKey::from_be_bytes(&modulus(bits), &e).unwrap().bits(),
                bits
            );
        }
        // An even modulus is not an RSA modulus.
        let mut even = modulus(2048);
        *even.last_mut().unwrap() = 0xfe;
        assert_eq!(PublicKey::from_be_bytes(&even, &e), Err(KeyError::Modulus));
    }

    #[test]
    fn exponents_even_tiny_or_huge_are_refused() {
        let n = modulus(2048);
        for e in [
            &[][..],
            &[0],
            &[1],
            &[2],
            &[1, 0, 0],
            &[0x01, 0x00, 0x00, 0x00, 0x00],
            &[0x02, 0x00, 0x00, 0x00, 0x01],
        ] {
            assert_eq!(
                PublicKey::from_be_bytes(&n, e),
                Err(KeyError::Exponent),
                "{e:?}"
            );
        }
        for e in [&[3][..], &[1, 0, 1], &[0x01, 0xff, 0xff, 0xff, 0xff]] {
            assert!(PublicKey::from_be_bytes(&n, e).is_ok(), "{e:?}");
        }
    }
}
