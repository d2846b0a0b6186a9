//! The signing key, and with it the choice of algorithm.
//!
//! Which algorithm a token is signed with is decided here and nowhere else: a [`JwtKey`]
//! names the one algorithm it signs and verifies with, and the codec accepts a token only if
//! its header names exactly that algorithm. The key is always the configured one; nothing in
//! a token's header ever selects or supplies a key.
//!
//! HMAC signing and verification are jwt-compact's (`Hs256`).

use std::fmt;

use jwt_compact::alg::{Hs256, Hs256Key, Hs256Signature};
use jwt_compact::{Algorithm, AlgorithmExt, AlgorithmSignature, Claims as PayloadClaims, Header};
use serde::Serialize;

use super::JwtError;

/// The only algorithm we accept, compared byte for byte (no case folding).
const ALGORITHM: &str = "HS256";

/// An HS256 key. Construction takes the raw secret bytes; the minimum length (256 bits,
/// `config::MIN_SIGNING_KEY_BYTES`) is enforced where the settings are loaded, not here.
#[derive(Clone)]
pub struct JwtKey(Hs256Key);

impl JwtKey {
    /// Wraps the raw secret (simplejwt's `SIGNING_KEY`, i.e. the UTF-8 bytes of the string).
    pub fn new(secret: &[u8]) -> Self {
        JwtKey(Hs256Key::new(secret))
    }

    /// The `alg` header value of this key's tokens. [`decode`](super::decode) compares the
    /// header against it byte for byte, so the key, not the token, chooses the algorithm.
    pub(super) fn algorithm(&self) -> &'static str {
        ALGORITHM
    }

    /// Signs `claims` under `header` into a compact token; the header's `alg` is this key's
    /// algorithm.
    ///
    /// jwt-compact's token builder returns a `Result`; it can only fail if serde_json fails
    /// to serialise, which string keys and `Value`s never do. That impossible error is
    /// reported as [`JwtError::Invalid`] rather than a panic.
    pub(super) fn sign<T: Serialize>(
        &self,
        header: &Header<impl Serialize>,
        claims: &PayloadClaims<T>,
    ) -> Result<String, JwtError> {
        Hs256
            .token(header, claims, &self.0)
            .map_err(|_| JwtError::Invalid)
    }

    /// HS256 with the configured key, through jwt-compact (constant-time comparison).
    pub(super) fn verify(&self, signing_input: &str, signature: &[u8]) -> Result<(), JwtError> {
        // `Hs256Signature::try_from_slice` panics on a slice of the wrong length
        // (`GenericArray::clone_from_slice`), so the length is checked here first.
        let expected_len = <Hs256Signature as AlgorithmSignature>::LENGTH.map(|len| len.get());
        if expected_len != Some(signature.len()) {
            return Err(JwtError::Invalid);
        }
        let signature = Hs256Signature::try_from_slice(signature).map_err(|_| JwtError::Invalid)?;
        if Hs256.verify_signature(&signature, &self.0, signing_input.as_bytes()) {
            Ok(())
        } else {
            Err(JwtError::Invalid)
        }
    }
}

impl fmt::Debug for JwtKey {
    // The secret must never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKey(***)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::tokens::jwt::decode;
    use crate::tokens::jwt::test_support::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    #[test]
    fn key_debug_output_hides_the_secret() {
        assert_eq!(format!("{:?}", key()), "JwtKey(***)");
    }

    #[test]
    fn reference_server_tokens_fail_under_another_key() {
        let other = JwtKey::new(b"another-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz");
        assert_eq!(
            decode(&other, SERVER_ACCESS, SERVER_ISSUED_AT, 0),
            Err(JwtError::Invalid)
        );
    }

    #[test]
    fn hs256_signed_with_an_empty_or_common_secret_is_rejected() {
        for secret in [&b""[..], b"secret", b"your-256-bit-secret", b"changeme"] {
            let token = forge(secret, HS256_HEADER, &payload(&[]));
            assert_eq!(decode_now(&token), Err(JwtError::Invalid));
        }
    }

    #[test]
    fn a_key_or_key_url_in_the_header_is_never_used() {
        let attacker = b"attacker-chosen-secret-attacker-chosen-secret";
        let jwk = format!(r#"{{"kty":"oct","k":"{}"}}"#, b64(attacker));
        for extra in [
            r#""kid":"attacker""#.to_owned(),
            r#""jku":"https://evil.example/jwks.json""#.to_owned(),
            r#""x5u":"https://evil.example/cert.pem""#.to_owned(),
            r#""x5c":["MIIB"]"#.to_owned(),
            format!(r#""jwk":{jwk}"#),
        ] {
            let header = format!(r#"{{"alg":"HS256","typ":"JWT",{extra}}}"#);
            let forged = forge(attacker, &header, &payload(&[]));
            assert_eq!(decode_now(&forged), Err(JwtError::Invalid), "{extra}");
            // Signed with the configured key, the same header is merely ignored (as PyJWT).
            assert!(
                decode_now(&signed(&header, &payload(&[]))).is_ok(),
                "{extra}"
            );
        }
    }

    #[test]
    fn every_single_signature_bit_flip_is_rejected() {
        let token = valid_token();
        let (signing_input, signature_b64) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature_b64).unwrap();
        assert_eq!(signature.len(), 32);
        for bit in 0..signature.len() * 8 {
            let mut flipped = signature.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let forged = format!("{signing_input}.{}", b64(&flipped));
            assert_eq!(decode_now(&forged), Err(JwtError::Invalid), "bit {bit}");
        }
    }

    #[test]
    fn signatures_of_every_wrong_length_are_rejected_without_panicking() {
        let token = valid_token();
        let (signing_input, _) = token.rsplit_once('.').unwrap();
        for len in (0..=128).filter(|&len| len != 32) {
            let forged = format!("{signing_input}.{}", b64(vec![0xA5u8; len]));
            assert_eq!(decode_now(&forged), Err(JwtError::Invalid), "len {len}");
        }
        // A correct signature with extra bytes appended is still the wrong length.
        let mut long = hs256(REF_SECRET, signing_input);
        long.push(0);
        assert_eq!(
            decode_now(&format!("{signing_input}.{}", b64(long))),
            Err(JwtError::Invalid)
        );
    }
}
