//! DRF authtoken keys: 40 lowercase hex characters from 20 random bytes, as `secrets.token_hex(20)`.

/// Length of a key.
pub const KEY_LEN: usize = 40;

/// Hex-encodes `bytes` in lower case.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// A key from 20 random bytes.
pub fn key_from_bytes(bytes: &[u8; 20]) -> String {
    hex(bytes)
}

/// True when `key` could be a key at all; anything else is refused without a database look-up.
pub fn is_well_formed(key: &str) -> bool {
    key.len() == KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_forty_lowercase_hex() {
        let key = key_from_bytes(&[0xab; 20]);
        assert_eq!(key.len(), 40);
        assert_eq!(&key[..4], "abab");
        assert!(is_well_formed(&key));
    }

    #[test]
    fn malformed_keys_are_recognised() {
        for key in ["", "abc", &"A".repeat(40), &"g".repeat(40), &"a".repeat(41)] {
            assert!(!is_well_formed(key), "{key}");
        }
    }
}
