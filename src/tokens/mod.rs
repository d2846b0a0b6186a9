//! Tokens: JWTs, e-mailed one-time tokens, DRF auth-token keys and password hashes.

pub mod auth_token;
pub mod jwt;
pub mod one_time;
pub mod password_hash;
pub mod seal;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// SHA-256's block size: HMAC zero-pads shorter keys to it and hashes longer ones (RFC 2104).
const SHA256_BLOCK_LEN: usize = 64;

/// HMAC-SHA-256 of `parts`, concatenated, under `key` of any length. Preparing the key as RFC
/// 2104 does gives the identical MAC through the infallible fixed-size constructor, so no
/// caller has an error to carry for a failure that cannot happen.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; SHA256_BLOCK_LEN];
    if key.len() > SHA256_BLOCK_LEN {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut mac = <Hmac<Sha256> as Mac>::new(&block.into());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        let hex = |b: &[u8]| auth_token::hex(b);
        // Case 2: a short key.
        assert_eq!(
            hex(&hmac_sha256(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
