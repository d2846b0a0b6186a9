//! Secrets at rest: XChaCha20-Poly1305 under a key derived from a secret setting, with the row's
//! owner as associated data, so a sealed value copied to another user's row does not open.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Bytes of a nonce (random per seal: 192 bits never repeat by chance).
pub const NONCE_BYTES: usize = 24;

/// A 256-bit key for `purpose` from `secret` (HMAC-SHA-256 of the purpose under the secret), so
/// one secret setting can key several independent uses.
pub fn derive_key(secret: &[u8], purpose: &str) -> [u8; 32] {
    super::hmac_sha256(secret, &[b"djoser-edge key\0", purpose.as_bytes()])
}

/// `plaintext` sealed under `key` for `owner`: base64url of nonce then ciphertext and tag.
pub fn seal(
    key: &[u8; 32],
    owner: &[u8],
    plaintext: &[u8],
    nonce: [u8; NONCE_BYTES],
) -> Option<String> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: owner,
            },
        )
        .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Some(URL_SAFE_NO_PAD.encode(out))
}

/// The plaintext of a [`seal`]ed value, when `key` and `owner` are the ones it was sealed with
/// and it was not altered.
pub fn open(key: &[u8; 32], owner: &[u8], sealed: &str) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if bytes.len() < NONCE_BYTES + 16 {
        return None;
    }
    let (nonce, body) = bytes.split_at(NONCE_BYTES);
    XChaCha20Poly1305::new(key.into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: owner,
            },
        )
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_owner_and_unaltered() {
        let key = derive_key(b"signing-key", "mfa");
        let other = derive_key(b"signing-key", "other");
        assert_ne!(key, other);
        let sealed = seal(&key, b"user:1", b"secret bytes", [7; NONCE_BYTES]).unwrap();
        assert!(!sealed.contains("secret"));
        assert_eq!(open(&key, b"user:1", &sealed).unwrap(), b"secret bytes");
        assert_eq!(open(&other, b"user:1", &sealed), None);
        assert_eq!(open(&key, b"user:2", &sealed), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(open(&key, b"user:1", &URL_SAFE_NO_PAD.encode(bytes)), None);
        assert_eq!(open(&key, b"user:1", "short"), None);
        // A fresh nonce gives a different sealed text for the same secret.
        let again = seal(&key, b"user:1", b"secret bytes", [8; NONCE_BYTES]).unwrap();
        assert_ne!(sealed, again);
    }
}
