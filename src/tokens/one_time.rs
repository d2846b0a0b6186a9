//! One-time e-mail tokens and uids: Django's `PasswordResetTokenGenerator` (djoser's
//! `default_token_generator`, shared by activation, password reset and username reset) and
//! djoser's `encode_uid`/`decode_uid`, reproduced byte for byte.
//!
//! Pure and clock-free: callers pass `now_unix` and the user's state. Nothing here reads time,
//! storage or settings, and nothing here may panic on any input, because a panic kills the
//! wasm instance. Deciding which user a uid names, and what a stale token means, is the flows' job.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Django's `PasswordResetTokenGenerator.key_salt`.
const KEY_SALT: &[u8] = b"django.contrib.auth.tokens.PasswordResetTokenGenerator";
/// 2001-01-01T00:00:00Z as unix seconds: Django counts token timestamps from there.
const TOKEN_EPOCH_UNIX: i64 = 978_307_200;
/// `django.utils.http.base36_to_int` refuses longer input (13 digits cover any 64-bit int).
const MAX_TS_B36_LEN: usize = 13;
/// CPython's default `sys.get_int_max_str_digits()`: `int()` rejects strings with more digits.
const PY_INT_MAX_STR_DIGITS: usize = 4300;

/// The user state a one-time token is bound to.
///
/// Any change to one of these fields (a new password hash, a login, a new e-mail address)
/// invalidates every token minted before it, which is what makes the tokens single-use.
/// There is deliberately no `Debug`: it would print the password hash into logs.
#[derive(Clone, Copy)]
pub struct TokenUserState<'a> {
    /// The primary key (`user.pk`).
    pub user_id: i64,
    /// The whole stored password hash string (`user.password`).
    pub password_hash: &'a str,
    /// `user.last_login` as unix seconds (UTC), sub-second part dropped; `None` if never logged in.
    pub last_login: Option<i64>,
    /// `user.email`, `""` when there is none.
    pub email: &'a str,
    /// A further binding of this service's own links (`None` for Django's): the username for
    /// username-reset links, so they die when the username changes, and the pending address for
    /// e-mail change links (docs/differences.md). Django's generator has no such input, so with
    /// `Some` the token is this service's, not Django's.
    pub extra: Option<&'a str>,
}

/// Mints `<ts_b36>-<hash>` like Django's `make_token`; `secret` is the `SECRET_KEY` bytes, `now_unix` in seconds.
#[must_use]
pub fn make_token(secret: &[u8], user: &TokenUserState<'_>, now_unix: i64) -> String {
    // Django would raise on a clock before 2001 (negative base36); clamping to 0 yields a
    // token that is long expired instead of a panic. A real Worker clock never gets here.
    let ts = u128::try_from(i128::from(now_unix) - i128::from(TOKEN_EPOCH_UNIX)).unwrap_or(0);
    token_with_timestamp(secret, user, ts)
}

/// Constant-time check of `token` for `user`, and `now - ts <= timeout_secs` (Django's `check_token`).
///
/// Any malformed token (wrong part count, bad base36, too long, non-ASCII) is just `false`.
#[must_use]
pub fn check_token(
    secret: &[u8],
    user: &TokenUserState<'_>,
    token: &str,
    now_unix: i64,
    timeout_secs: i64,
) -> bool {
    let mut parts = token.split('-');
    let (Some(ts_b36), Some(_hash), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Some(ts) = parse_base36(ts_b36) else {
        return false;
    };
    // The whole token is rebuilt and compared, so the timestamp part is authenticated too.
    // `ct_eq` on slices leaks only whether the lengths differ, and a token's length is public.
    let expected = token_with_timestamp(secret, user, ts);
    if !bool::from(expected.as_bytes().ct_eq(token.as_bytes())) {
        return false;
    }
    // djoser-compat: a timestamp in the future passes (the age is negative), as in Django.
    // Forging one needs the secret, so this is no weakness. i128 cannot overflow here.
    i128::try_from(ts).is_ok_and(|ts| {
        i128::from(now_unix) - i128::from(TOKEN_EPOCH_UNIX) - ts <= i128::from(timeout_secs)
    })
}

/// base64url(str(id)) without padding, as djoser's `encode_uid`: 1 -> "MQ".
#[must_use]
pub fn encode_uid(user_id: i64) -> String {
    URL_SAFE_NO_PAD.encode(user_id.to_string())
}

/// Decodes a uid exactly as djoser/Django do; `None` if any step fails or the value is outside i64.
///
/// The steps are Django's `urlsafe_base64_decode` (odd re-padding, non-alphabet bytes skipped
/// like Python's non-strict `b64decode`), strict UTF-8, then Python's `int()` (surrounding
/// Unicode whitespace, a sign, `_` between digits and any Unicode decimal digit are accepted).
/// Numbers outside i64 are `None`: no `BigAutoField` row can have them, so the user lookup
/// fails anyway and the flows answer "Invalid user id" in both cases.
#[must_use]
pub fn decode_uid(uid: &str) -> Option<i64> {
    let bytes = django_urlsafe_base64_decode(uid.as_bytes())?;
    let text = core::str::from_utf8(&bytes).ok()?;
    python_int(text)
}

/// `_make_token_with_timestamp`: the timestamp in base36, a dash, then every other hex digit
/// of the salted HMAC over the user state.
fn token_with_timestamp(secret: &[u8], user: &TokenUserState<'_>, ts: u128) -> String {
    let login_ts = user
        .last_login
        .map(format_login_timestamp)
        .unwrap_or_default();
    let mut value = format!(
        "{}{}{}{}{}",
        user.user_id, user.password_hash, login_ts, ts, user.email
    );
    if let Some(extra) = user.extra {
        // A separator that cannot occur in an e-mail keeps (email, extra) pairs unambiguous.
        value.push('\u{0}');
        value.push_str(extra);
    }
    let mac = salted_hmac_sha256(secret, value.as_bytes());
    let mut token = to_base36(ts);
    token.push('-');
    // `hexdigest()[::2]` keeps the first hex digit of each byte, i.e. its high nibble.
    // `from_digit` yields lowercase, as `hexdigest` does; a nibble is always below 16.
    token.extend(
        mac.iter()
            .map(|byte| char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0')),
    );
    token
}

/// Django's `salted_hmac(key_salt, value, secret, algorithm="sha256")`.
fn salted_hmac_sha256(secret: &[u8], msg: &[u8]) -> [u8; 32] {
    let derived = Sha256::new()
        .chain_update(KEY_SALT)
        .chain_update(secret)
        .finalize();
    super::hmac_sha256(&derived, &[msg])
}

/// `str(last_login.replace(microsecond=0, tzinfo=None))` for a UTC instant: `YYYY-MM-DD HH:MM:SS`.
///
/// Outside Django's datetime range (years 1..=9999) the text is meaningless but never a panic.
fn format_login_timestamp(unix: i64) -> String {
    let secs = i128::from(unix);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let second_of_day = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Proleptic Gregorian (year, month, day) for a count of days since 1970-01-01.
///
/// Works in 400-year eras that start on March 1st, so that the leap day falls at the very
/// end of each computed year and month lengths follow a fixed 153-days-per-5-months pattern.
fn civil_from_days(days: i128) -> (i128, i128, i128) {
    // 0000-03-01 is 719_468 days before 1970-01-01; an era has 146_097 days.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    // Remove the leap days seen so far (one every 4 years, none every 100, one every 400).
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + i128::from(month <= 2);
    (year, month, day)
}

/// Lowercase base36 like `django.utils.http.int_to_base36`.
fn to_base36(mut value: u128) -> String {
    let mut reversed = Vec::with_capacity(MAX_TS_B36_LEN + 12);
    loop {
        // `from_digit` yields lowercase letters; a remainder of 36 is always a valid digit.
        let digit = u32::try_from(value % 36).unwrap_or(0);
        reversed.push(char::from_digit(digit, 36).unwrap_or('0'));
        value /= 36;
        if value == 0 {
            break;
        }
    }
    reversed.iter().rev().collect()
}

/// Strict lowercase base36, at most 13 digits.
///
/// djoser-compat: Django's `base36_to_int` is `int(s, 36)`, which also takes upper case,
/// whitespace, a sign, `_` and Unicode digits. But `check_token` then compares the rebuilt
/// canonical token with the given one, so only the canonical spelling can ever pass; parsing
/// strictly gives exactly the same verdicts without copying `int()` here.
fn parse_base36(text: &str) -> Option<u128> {
    if text.is_empty() || text.len() > MAX_TS_B36_LEN {
        return None;
    }
    text.bytes().try_fold(0u128, |acc, byte| {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'z' => byte - b'a' + 10,
            _ => return None,
        };
        acc.checked_mul(36)?.checked_add(u128::from(digit))
    })
}

/// Django's `urlsafe_base64_decode`: `urlsafe_b64decode(s.ljust(len(s) + len(s) % 4, b"="))`.
///
/// djoser-compat: that pads with `len % 4` `=` (not `-len % 4`), counting every byte of the
/// UTF-8 input, garbage included. So "M Q" decodes (3 bytes, 3 `=` added) but "MT A" does not
/// (4 bytes, nothing added, 3 data characters left over).
fn django_urlsafe_base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let padding = core::iter::repeat_n(&b'=', input.len() % 4);
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    // Mirrors CPython's non-strict `binascii.a2b_base64`: `quad_pos` data characters of the
    // current group are seen, `left` holds their bits not yet written out.
    let mut quad_pos = 0usize;
    let mut left = 0u8;
    let mut pads = 0usize;
    for &byte in input.iter().chain(padding) {
        if byte == b'=' {
            // Padding only counts once two data characters of a group are in; enough of it
            // ends decoding and everything after it is ignored (so "MQ==junk" is uid 1).
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    return Some(out);
                }
            }
            continue;
        }
        // Non-alphabet bytes (spaces, '!', UTF-8 of non-ASCII) are skipped silently.
        let Some(sextet) = base64_sextet(byte) else {
            continue;
        };
        pads = 0;
        match quad_pos {
            0 => {
                left = sextet;
                quad_pos = 1;
            }
            1 => {
                out.push((left << 2) | (sextet >> 4));
                left = sextet & 0x0f;
                quad_pos = 2;
            }
            2 => {
                out.push((left << 4) | (sextet >> 2));
                left = sextet & 0x03;
                quad_pos = 3;
            }
            _ => {
                out.push((left << 6) | sextet);
                quad_pos = 0;
            }
        }
    }
    // A group cut short without its padding is "Incorrect padding" in Python.
    (quad_pos == 0).then_some(out)
}

/// The 6-bit value of a base64 character. Both alphabets count: `urlsafe_b64decode` maps
/// `-`/`_` onto `+`/`/` and then decodes with the standard alphabet, which keeps `+` and `/`.
fn base64_sextet(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// Python's `int(text)` (base 10), limited to the i64 range.
///
/// djoser-compat: Django turns the decoded uid into the pk with `int()`, so " 7 ", "+7",
/// "1_000" and "٣" (Arabic-Indic three) all name a user.
fn python_int(text: &str) -> Option<i64> {
    // `int()` strips exactly Unicode White_Space, which is what `str::trim` strips (pinned by a
    // test); no whitespace may sit between the sign and the digits.
    let trimmed = text.trim();
    let (negative, body) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let mut magnitude: u64 = 0;
    let mut digit_count = 0usize;
    // Starts true so that a leading '_' (and an empty body) are rejected.
    let mut after_separator = true;
    for ch in body.chars() {
        if ch == '_' {
            if after_separator {
                return None;
            }
            after_separator = true;
            continue;
        }
        let digit = unicode_decimal_value(ch)?;
        after_separator = false;
        digit_count += 1;
        // CPython refuses over 4300 digits even if they are leading zeros. Either way the
        // result is None, so stopping early on overflow or length is safe.
        if digit_count > PY_INT_MAX_STR_DIGITS {
            return None;
        }
        magnitude = magnitude.checked_mul(10)?.checked_add(digit)?;
    }
    if after_separator {
        return None;
    }
    let value = i128::from(magnitude);
    i64::try_from(if negative { -value } else { value }).ok()
}

/// Code points of every Unicode decimal digit zero (category Nd) in Unicode 14.0, Python
/// 3.11's version. Each starts a run of ten consecutive digits 0..=9.
const UNICODE_DIGIT_ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66,
    0xde6, 0xe50, 0xed0, 0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90,
    0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10,
    0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650,
    0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50,
    0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

/// The value of `ch` as a Unicode decimal digit, as Python's `int()` reads it.
fn unicode_decimal_value(ch: char) -> Option<u64> {
    let code = u32::from(ch);
    let run = UNICODE_DIGIT_ZEROS.partition_point(|&zero| zero <= code);
    let zero = *UNICODE_DIGIT_ZEROS.get(run.checked_sub(1)?)?;
    let value = code - zero;
    (value < 10).then_some(u64::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The default SECRET_KEY of the reference djoser server these fixtures were recorded on.
    const REF_SECRET: &[u8] = b"djref-reference-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz";
    const THREE_DAYS: i64 = 259_200;
    const ALICE_HASH: &str = "pbkdf2_sha256$1000000$abcdefghijklmnopqrstuv$Zm9vYmFy";
    /// 2026-11-29T20:50:19Z, Django ts 817678219 = "ditojv".
    const NOW: i64 = 1_795_985_419;

    fn alice() -> TokenUserState<'static> {
        TokenUserState {
            user_id: 1,
            password_hash: ALICE_HASH,
            last_login: None,
            email: "alice@example.com",
            extra: None,
        }
    }

    fn alice_token() -> String {
        make_token(REF_SECRET, &alice(), NOW)
    }

    fn check(user: &TokenUserState<'_>, token: &str, now: i64) -> bool {
        check_token(REF_SECRET, user, token, now, THREE_DAYS)
    }

    // Expected strings below come from Django 5.2.19's
    // `PasswordResetTokenGenerator()._make_token_with_timestamp(User(...), ts, secret)`.
    #[test]
    fn tokens_match_django_byte_for_byte() {
        fn case(
            secret: &'static [u8],
            user: TokenUserState<'static>,
            now: i64,
            expected: &'static str,
        ) -> (&'static [u8], TokenUserState<'static>, i64, &'static str) {
            (secret, user, now, expected)
        }
        let state = |user_id, password_hash, last_login, email| TokenUserState {
            user_id,
            password_hash,
            last_login,
            email,
            extra: None,
        };
        let cases = [
            case(
                REF_SECRET,
                alice(),
                NOW,
                "ditojv-010f59e6d2fccd9c26b292ea408d430f",
            ),
            case(
                REF_SECRET,
                TokenUserState {
                    last_login: Some(1_796_305_396),
                    ..alice()
                },
                NOW,
                "ditojv-b79c6f64bcb33a010c2b7a64906fbfb6",
            ),
            case(
                b"s3cr3t",
                state(42, "!unusable", None, ""),
                978_307_200,
                "0-4c36d7395a821013c2ddb691899a7861",
            ),
            case(
                b"s3cr3t",
                state(42, "!unusable", Some(0), ""),
                978_307_235,
                "z-848c4672f1899e0ca26f44541b438a26",
            ),
            case(
                b"s3cr3t",
                state(i64::MAX, "x", Some(253_402_300_799), "Ünïcödé@exämple.org"),
                3_155_089_536,
                "1000000-f4a49adeed6a0b9ba6d7c08ea03da20a",
            ),
            case(
                "clé-ünicode-🔑".as_bytes(),
                state(7, "argon2$whatever", Some(978_307_200), "bob@example.com"),
                1_100_489_934_976,
                "e13wu1og-ae65b50094c299c77b506db7145e28ff",
            ),
            case(
                b"s3cr3t",
                state(3, "", Some(-1), ""),
                978_307_201,
                "1-12277e58c82b15e52ed795f6656f89e4",
            ),
        ];
        for (secret, user, now, expected) in cases {
            assert_eq!(make_token(secret, &user, now), expected);
            assert!(
                check_token(secret, &user, expected, now, THREE_DAYS),
                "{expected}"
            );
        }
    }

    // Minted by the live reference server (run-8001) for user 3, state read from its sqlite db.
    #[test]
    fn tokens_from_the_real_reference_server_verify() {
        let hash = "pbkdf2_sha256$1000000$dt9gafcBHo5DJtqnnt7YhU$Z3UpFngD0xdDb5oyA6qeUhQdYgS0CIomIo/tJnjNOjA=";
        let mut user = TokenUserState {
            user_id: 3,
            password_hash: hash,
            last_login: None,
            email: "live1795967764@example.com",
            extra: None,
        };
        let activation = "ditaxg-1ce2e800ff90d6c8c03f7745a7c76115";
        assert_eq!(make_token(REF_SECRET, &user, 1_795_967_764), activation);
        // token/login then set last_login to 2026-11-29 15:56:05.163496 (microseconds dropped).
        user.last_login = Some(1_795_967_765);
        assert!(!check(&user, activation, 1_795_967_765));
        let reset = "ditaxh-82a46aff68835118d88eee0477dbfa26";
        assert!(check(&user, reset, 1_795_967_765));
        assert_eq!(make_token(REF_SECRET, &user, 1_795_967_765), reset);
    }

    #[test]
    fn spec_example_timestamps_have_the_expected_base36_prefix() {
        // E-mails the reference server sent on 2026-11-29 carried "dit5az-..." and "dit5bk-...".
        assert!(make_token(REF_SECRET, &alice(), 1_795_960_475).starts_with("dit5az-"));
        assert!(make_token(REF_SECRET, &alice(), 1_795_960_496).starts_with("dit5bk-"));
        assert!(make_token(REF_SECRET, &alice(), 1_795_959_796).starts_with("dit4s4-"));
    }

    #[test]
    fn token_has_a_base36_timestamp_and_32_hex_digits() {
        let token = alice_token();
        let (ts, hash) = token.split_once('-').unwrap();
        assert_eq!(ts, "ditojv");
        assert_eq!(hash.len(), 32);
        assert!(hash
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn token_round_trips() {
        assert!(check(&alice(), &alice_token(), NOW));
    }

    #[test]
    fn token_is_valid_at_exactly_the_timeout_and_rejected_one_second_later() {
        let token = alice_token();
        assert!(check(&alice(), &token, NOW + THREE_DAYS));
        assert!(!check(&alice(), &token, NOW + THREE_DAYS + 1));
    }

    #[test]
    fn token_from_the_future_is_accepted_like_django_does() {
        assert!(check(&alice(), &alice_token(), NOW - 100));
    }

    #[test]
    fn a_thirteen_digit_timestamp_is_parsed_and_checked() {
        let user = TokenUserState {
            user_id: 5,
            password_hash: "pw",
            last_login: Some(1_000_000_000),
            email: "e@x",
            extra: None,
        };
        let token = token_with_timestamp(b"s3cr3t", &user, 36u128.pow(13) - 1);
        assert_eq!(token, "zzzzzzzzzzzzz-024bdd89e1fbd30331a6d9d1278004b9");
        assert!(check_token(b"s3cr3t", &user, &token, i64::MAX, THREE_DAYS));
    }

    #[test]
    fn token_with_a_fourteen_digit_timestamp_is_rejected() {
        let token = alice_token().replacen("ditojv", "00000000ditojv", 1);
        assert!(!check(&alice(), &token, NOW));
    }

    #[test]
    fn token_with_any_tampered_character_is_rejected() {
        let token = alice_token();
        for (index, original) in token.char_indices() {
            for replacement in ['0', 'f', 'z', '-', 'A'] {
                if replacement == original {
                    continue;
                }
                let mut tampered = token.clone();
                tampered.replace_range(index..=index, &replacement.to_string());
                assert!(!check(&alice(), &tampered, NOW), "{tampered}");
            }
        }
    }

    #[test]
    fn token_with_a_shifted_timestamp_is_rejected() {
        let token = alice_token();
        let older = token.replacen("ditojv", "ditoju", 1);
        let newer = token.replacen("ditojv", "ditojw", 1);
        assert!(!check(&alice(), &older, NOW));
        assert!(!check(&alice(), &newer, NOW));
    }

    #[test]
    fn non_canonical_spellings_of_a_valid_token_are_rejected() {
        let token = alice_token();
        for variant in [
            token.to_uppercase(),
            format!("0{token}"),
            format!(" {token}"),
            format!("{token} "),
            format!("+{token}"),
            token.replacen("ditojv", "DITOJV", 1),
            token.replacen('-', "--", 1),
            token[..token.len() - 1].to_owned(),
            format!("{token}0"),
        ] {
            assert!(!check(&alice(), &variant, NOW), "{variant}");
        }
    }

    #[test]
    fn tokens_with_the_wrong_number_of_parts_are_rejected() {
        let token = alice_token();
        let hash = token.split_once('-').unwrap().1;
        for bad in [
            String::new(),
            "-".to_owned(),
            "--".to_owned(),
            "ditojv".to_owned(),
            hash.to_owned(),
            format!("{token}-"),
            format!("-{token}"),
            format!("ditojv-{hash}-{hash}"),
        ] {
            assert!(!check(&alice(), &bad, NOW), "{bad}");
        }
    }

    #[test]
    fn non_ascii_tokens_are_rejected_without_panicking() {
        let hash = alice_token().split_once('-').unwrap().1.to_owned();
        for bad in [
            format!("ditojv-{}é", &hash[..31]),
            format!("٣-{hash}"),
            format!("ｄitojv-{hash}"),
            "🔑-🔑".to_owned(),
            "\u{0}-\u{0}".to_owned(),
        ] {
            assert!(!check(&alice(), &bad, NOW), "{bad}");
        }
    }

    #[test]
    fn token_minted_for_another_user_is_rejected() {
        let bob = TokenUserState {
            user_id: 2,
            ..alice()
        };
        assert!(!check(&bob, &alice_token(), NOW));
    }

    #[test]
    fn token_is_rejected_after_password_change() {
        let changed = TokenUserState {
            password_hash: "pbkdf2_sha256$1000000$other$c2FsdA==",
            ..alice()
        };
        assert!(!check(&changed, &alice_token(), NOW));
    }

    #[test]
    fn token_is_rejected_after_a_login() {
        let logged_in = TokenUserState {
            last_login: Some(NOW + 1),
            ..alice()
        };
        assert!(!check(&logged_in, &alice_token(), NOW + 1));
    }

    #[test]
    fn username_bound_token_dies_when_the_username_changes() {
        let bound = TokenUserState {
            extra: Some("alice"),
            ..alice()
        };
        let token = make_token(REF_SECRET, &bound, NOW);
        assert!(check(&bound, &token, NOW));
        let renamed = TokenUserState {
            extra: Some("alice2"),
            ..alice()
        };
        assert!(!check(&renamed, &token, NOW));
        // A bound token is not a plain (Django) token, and the reverse.
        assert!(!check(&alice(), &token, NOW));
        assert!(!check(&bound, &alice_token(), NOW));
    }

    #[test]
    fn token_is_rejected_after_email_change() {
        let moved = TokenUserState {
            email: "alice@example.org",
            ..alice()
        };
        assert!(!check(&moved, &alice_token(), NOW));
    }

    #[test]
    fn token_is_rejected_under_another_secret() {
        assert!(!check_token(
            b"another-secret",
            &alice(),
            &alice_token(),
            NOW,
            THREE_DAYS
        ));
    }

    #[test]
    fn sub_second_login_changes_do_not_matter_because_seconds_are_the_unit() {
        // Django drops microseconds, so two logins within one second give the same token.
        let a = TokenUserState {
            last_login: Some(1_796_305_396),
            ..alice()
        };
        assert_eq!(
            make_token(REF_SECRET, &a, NOW),
            "ditojv-b79c6f64bcb33a010c2b7a64906fbfb6"
        );
    }

    #[test]
    fn clock_before_2001_mints_a_timestamp_zero_token_instead_of_panicking() {
        let token = make_token(REF_SECRET, &alice(), 0);
        assert!(token.starts_with("0-"));
        assert!(!check(&alice(), &token, NOW));
    }

    #[test]
    fn login_timestamps_format_like_python_str_of_a_naive_datetime() {
        let cases = [
            (0, "1970-01-01 00:00:00"),
            (-1, "1969-12-31 23:59:59"),
            (978_307_200, "2001-01-01 00:00:00"),
            (1_000_000_000, "2001-09-09 01:46:40"),
            (1_709_208_000, "2024-02-29 12:00:00"),
            (1_795_967_765, "2026-11-29 15:56:05"),
            (1_796_305_396, "2026-12-03 13:43:16"),
            (951_782_400, "2000-02-29 00:00:00"),
            (4_107_542_400, "2100-03-01 00:00:00"),
            (-62_135_596_800, "0001-01-01 00:00:00"),
            (253_402_300_799, "9999-12-31 23:59:59"),
        ];
        for (unix, expected) in cases {
            assert_eq!(format_login_timestamp(unix), expected, "{unix}");
        }
    }

    #[test]
    fn uid_encodes_like_djoser() {
        let cases = [
            (1, "MQ"),
            (2, "Mg"),
            (3, "Mw"),
            (10, "MTA"),
            (999, "OTk5"),
            (0, "MA"),
            (-1, "LTE"),
            (i64::MAX, "OTIyMzM3MjAzNjg1NDc3NTgwNw"),
            (i64::MIN, "LTkyMjMzNzIwMzY4NTQ3NzU4MDg"),
        ];
        for (id, uid) in cases {
            assert_eq!(encode_uid(id), uid);
            assert_eq!(decode_uid(uid), Some(id));
        }
    }

    #[test]
    fn uid_with_padding_decodes() {
        assert_eq!(decode_uid("MQ=="), Some(1));
        assert_eq!(decode_uid("MQ="), Some(1));
        assert_eq!(decode_uid("MQ==="), Some(1));
    }

    // Expected values come from `int(djoser.utils.decode_uid(s))` on Django 5.2.19; the
    // None rows raised (ValueError), the live server answered INVALID_UID for them.
    #[test]
    fn uid_decoding_matches_django_and_python_int() {
        let cases: &[(&str, Option<i64>)] = &[
            ("M Q", Some(1)),
            ("MT A", None),
            ("M=Q", Some(1)),
            ("=MQ", Some(1)),
            ("MQ==junk", Some(1)),
            ("MQ\n", Some(1)),
            ("MQ\r\n==", Some(1)),
            ("!!MQ", None),
            ("MQ!!", None),
            ("MQ!", Some(1)),
            ("MQé", None),
            ("MQéé", Some(1)),
            ("MTA", Some(10)),
            ("OTk5", Some(999)),
            ("Kw", None),
            ("Kw==", None),
            ("", None),
            ("M", None),
            ("MQA", None),
            ("IDcg", Some(7)),
            ("Kzc=", Some(7)),
            ("MV8wMDA=", Some(1000)),
            ("2aM=", Some(3)),
            ("77yR77yS", Some(12)),
            ("wqAx44CA", Some(1)),
            ("HDE=", None),
            ("MQA=", None),
            ("MS4w", None),
            ("MHgx", None),
            ("YWJj", None),
            ("_w", None),
            ("-w", None),
            ("_-8", None),
            ("gA", None),
            ("gICA", None),
            ("7aCA", None),
            ("TVE", None),
            ("TVE=", None),
            ("TVE==", None),
            ("M_Q", None),
            ("AA", None),
            ("ME9O", None),
            ("AAAA", None),
            ("IDE", Some(1)),
            ("IDEg", Some(1)),
            ("KzE", Some(1)),
            ("LTA", Some(0)),
            ("MV8w", Some(10)),
            ("MV9fMA", None),
            ("OTIyMzM3MjAzNjg1NDc3NTgwOA==", None),
            ("LTkyMjMzNzIwMzY4NTQ3NzU4MDk=", None),
            ("OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk=", None),
        ];
        for &(uid, expected) in cases {
            assert_eq!(decode_uid(uid), expected, "{uid:?}");
        }
    }

    #[test]
    fn uid_beyond_4300_digits_is_rejected_even_with_leading_zeros() {
        let ok = format!("{}1", "0".repeat(4299));
        let too_long = format!("{}1", "0".repeat(4300));
        assert_eq!(decode_uid(&URL_SAFE_NO_PAD.encode(ok)), Some(1));
        assert_eq!(decode_uid(&URL_SAFE_NO_PAD.encode(too_long)), None);
        // Underscores do not count towards the limit.
        assert_eq!(python_int(&format!("{}1", "0_".repeat(4299))), Some(1));
    }

    #[test]
    fn python_int_accepts_what_int_accepts() {
        let cases: &[(&str, Option<i64>)] = &[
            ("1_0", Some(10)),
            ("_1", None),
            ("1_", None),
            ("1__0", None),
            ("+1", Some(1)),
            (" -1 ", Some(-1)),
            ("- 1", None),
            ("+_1", None),
            ("+-1", None),
            ("1_٣", Some(13)),
            ("٣", Some(3)),
            ("１２", Some(12)),
            ("𝟙", Some(1)),
            ("²", None),
            ("1\u{0}", None),
            ("0x1", None),
            ("1e3", None),
            ("1.0", None),
            ("", None),
            (" ", None),
            ("+", None),
            ("-", None),
            ("-0", Some(0)),
            ("007", Some(7)),
            ("9223372036854775807", Some(i64::MAX)),
            ("9223372036854775808", None),
            ("-9223372036854775808", Some(i64::MIN)),
            ("-9223372036854775809", None),
            ("\u{1c}1\u{1f}", None),
        ];
        for &(text, expected) in cases {
            assert_eq!(python_int(text), expected, "{text:?}");
        }
    }

    #[test]
    fn python_int_strips_exactly_pythons_whitespace() {
        // `[c for c in range(0x110000) if int(c + "1" + c) == 1]` on CPython 3.11.
        let python_ws = [
            0x9, 0xa, 0xb, 0xc, 0xd, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
            0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f,
            0x3000,
        ];
        for code in 0..=0x10_ffffu32 {
            let Some(ch) = char::from_u32(code) else {
                continue;
            };
            if unicode_decimal_value(ch).is_some() {
                continue;
            }
            let expected = python_ws.contains(&code).then_some(1);
            assert_eq!(python_int(&format!("{ch}1{ch}")), expected, "U+{code:04X}");
        }
    }

    #[test]
    fn every_unicode_decimal_digit_run_reads_zero_to_nine() {
        let mut digits = 0;
        for code in 0..=0x10_ffffu32 {
            if let Some(value) = char::from_u32(code).and_then(unicode_decimal_value) {
                let zero = code - u32::try_from(value).unwrap();
                assert!(UNICODE_DIGIT_ZEROS.contains(&zero));
                digits += 1;
            }
        }
        // Python 3.11: `sum(unicodedata.decimal(chr(c), None) is not None for c in range(0x110000))`.
        assert_eq!(digits, 660);
    }

    proptest! {
        #[test]
        fn check_token_never_panics(token in any::<String>(), now in any::<i64>(), timeout in any::<i64>(),
                                    user_id in any::<i64>(), last_login in any::<Option<i64>>()) {
            let user = TokenUserState { user_id, last_login, ..alice() };
            let _ = check_token(REF_SECRET, &user, &token, now, timeout);
        }

        #[test]
        fn check_token_never_panics_on_token_shaped_input(token in "[0-9a-zA-Z٣]{0,15}-[0-9a-f]{0,33}", now in any::<i64>()) {
            let _ = check(&alice(), &token, now);
        }

        #[test]
        fn decode_uid_never_panics(uid in any::<String>()) {
            let _ = decode_uid(&uid);
        }

        #[test]
        fn decode_uid_never_panics_on_base64_shaped_input(uid in "[A-Za-z0-9_=+/ -]{0,40}") {
            let _ = decode_uid(&uid);
        }

        #[test]
        fn every_id_survives_a_uid_round_trip(id in any::<i64>()) {
            prop_assert_eq!(decode_uid(&encode_uid(id)), Some(id));
        }

        #[test]
        fn every_fresh_token_checks(user_id in any::<i64>(), last_login in any::<Option<i64>>(),
                                    now in 978_307_200i64..i64::MAX / 2, email in ".{0,20}") {
            let user = TokenUserState { user_id, last_login, email: &email, ..alice() };
            let token = make_token(REF_SECRET, &user, now);
            prop_assert!(check_token(REF_SECRET, &user, &token, now, 0));
            prop_assert!(!check_token(REF_SECRET, &user, &token, now + 1, 0));
        }

        #[test]
        fn make_token_never_panics(now in any::<i64>(), last_login in any::<Option<i64>>()) {
            let user = TokenUserState { last_login, ..alice() };
            let _ = make_token(REF_SECRET, &user, now);
        }
    }
}
