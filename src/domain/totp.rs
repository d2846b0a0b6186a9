//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA-1, 6 digits, 30 s
//! steps, as every authenticator app reads an `otpauth://` URL. Pure: the clock and the last
//! step used are the caller's.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per step.
pub const STEP: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps either side of now that a code may come from (clock skew between phone and edge).
pub const SKEW: i64 = 1;
/// Bytes of a new secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;

/// The step `unix` seconds fall in.
pub fn step_at(unix: i64) -> i64 {
    unix.div_euclid(STEP)
}

/// RFC 4226's HOTP value of `secret` at `counter`, as `DIGITS` digits.
pub fn hotp(secret: &[u8], counter: u64) -> Option<u32> {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).ok()?;
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    // Dynamic truncation: the low nibble of the last byte picks four bytes.
    let offset = usize::from(digest.get(19)? & 0x0f);
    let bytes: [u8; 4] = digest.get(offset..offset + 4)?.try_into().ok()?;
    let value = u32::from_be_bytes(bytes) & 0x7fff_ffff;
    Some(value % 10u32.pow(DIGITS))
}

/// The code for `step`, zero-padded.
pub fn code_at(secret: &[u8], step: i64) -> Option<String> {
    let counter = u64::try_from(step).ok()?;
    Some(format!(
        "{:0width$}",
        hotp(secret, counter)?,
        width = DIGITS as usize
    ))
}

/// The step `code` belongs to, when it is the code of a step within [`SKEW`] of `now` that is
/// later than `last_used` (a step once used never passes again, so a code seen over a shoulder
/// or replayed from a log is dead). Spaces in the code are ignored, as apps show `123 456`.
pub fn verify(secret: &[u8], code: &str, now: i64, last_used: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut found = None;
    // Every candidate is computed and compared without an early exit.
    for step in (current - SKEW)..=(current + SKEW) {
        let Some(expected) = code_at(secret, step) else {
            continue;
        };
        let same: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), code.as_bytes()).into();
        if same && step > last_used && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A secret as an authenticator app takes it: RFC 4648 base32, no padding.
pub fn encode_secret(secret: &[u8]) -> String {
    BASE32_NOPAD.encode(secret)
}

/// The secret a base32 string names (case and spaces ignored).
pub fn decode_secret(text: &str) -> Option<Vec<u8>> {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    BASE32_NOPAD.decode(clean.as_bytes()).ok()
}

/// The `otpauth://totp/` URL an app scans: `issuer:account` as label, with the parameters this
/// module uses spelled out (apps assume them anyway).
pub fn otpauth_url(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer_q = percent(issuer);
    format!(
        "otpauth://totp/{issuer_q}:{}?secret={}&issuer={issuer_q}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        percent(account),
        encode_secret(secret)
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How many backup codes a set has.
pub const BACKUP_CODES: usize = 10;
/// The alphabet of backup codes: Crockford's base32 (no i, l, o, u), read back with its
/// look-alike rule (o is 0, i and l are 1).
const BACKUP_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A backup code from 8 random bytes: `xxxxx-xxxxx`, 50 bits.
pub fn backup_code(random: [u8; 8]) -> String {
    let mut bits = u64::from_be_bytes(random);
    let mut out = String::with_capacity(11);
    for i in 0..10 {
        if i == 5 {
            out.push('-');
        }
        out.push(char::from(BACKUP_ALPHABET[(bits & 31) as usize]));
        bits >>= 5;
    }
    out
}

/// A backup code as typed, reduced to the form it was hashed in: lower case, no spaces or
/// dashes, look-alikes read as Crockford reads them. `None` when it cannot be one.
pub fn normalise_backup_code(code: &str) -> Option<String> {
    let clean: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            other => other,
        })
        .collect();
    (clean.len() == 10 && clean.bytes().all(|b| BACKUP_ALPHABET.contains(&b))).then_some(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 seed.
    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_sha1_vectors_in_six_digits() {
        // The appendix gives eight digits; six are their last six (the modulus is 10^6).
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(
                code_at(SEED, step_at(time)).unwrap(),
                eight[2..],
                "T={time}"
            );
        }
    }

    #[test]
    fn rfc_4226_hotp_vectors() {
        let expected = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, value) in expected.into_iter().enumerate() {
            assert_eq!(hotp(SEED, counter as u64), Some(value));
        }
    }

    #[test]
    fn a_code_passes_one_step_either_side_and_not_two() {
        let now = 1_111_111_111;
        let step = step_at(now);
        for (offset, passes) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = code_at(SEED, step + offset).unwrap();
            assert_eq!(
                verify(SEED, &code, now, 0),
                passes.then_some(step + offset),
                "offset {offset}"
            );
        }
    }

    #[test]
    fn a_used_step_and_every_earlier_one_never_pass_again() {
        let now = 1_111_111_111;
        let step = step_at(now);
        let code = code_at(SEED, step).unwrap();
        assert_eq!(verify(SEED, &code, now, step - 1), Some(step));
        assert_eq!(verify(SEED, &code, now, step), None);
        let earlier = code_at(SEED, step - 1).unwrap();
        assert_eq!(verify(SEED, &earlier, now, step), None);
        // The next step's code is still good after this one was used.
        let next = code_at(SEED, step + 1).unwrap();
        assert_eq!(verify(SEED, &next, now, step), Some(step + 1));
    }

    #[test]
    fn malformed_codes_fail_and_spaces_are_ignored() {
        let now = 59;
        assert_eq!(verify(SEED, "287 082", now, 0), Some(1));
        for bad in ["", "28708", "2870822", "28708a", "+87082", "２８７０８２"] {
            assert_eq!(verify(SEED, bad, now, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn secrets_round_trip_through_base32() {
        assert_eq!(
            encode_secret(SEED),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "RFC 4648 base32 of the RFC 6238 seed"
        );
        assert_eq!(
            decode_secret("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap(),
            SEED
        );
        assert_eq!(decode_secret("not base32!"), None);
    }

    #[test]
    fn the_otpauth_url_names_issuer_account_and_parameters() {
        let url = otpauth_url("Djoser Edge", "alice@example.com", SEED);
        assert_eq!(
            url,
            "otpauth://totp/Djoser%20Edge:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Djoser%20Edge&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn backup_codes_are_ten_characters_in_two_groups_and_normalise_back() {
        let code = backup_code([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0]);
        assert_eq!(code.len(), 11);
        assert_eq!(code.as_bytes()[5], b'-');
        let typed = format!(" {} ", code.to_uppercase().replace('-', " - "));
        assert_eq!(normalise_backup_code(&typed), Some(code.replace('-', "")));
        assert_ne!(backup_code([0; 8]), backup_code([1; 8]));
        assert_eq!(
            normalise_backup_code("OIL23-45678"),
            Some("01123".to_owned() + "45678")
        );
        for bad in ["", "abcde", "abcde-fghu0", "abcde-fghijk"] {
            assert_eq!(normalise_backup_code(bad), None, "{bad:?}");
        }
    }
}
