//! Password strength: Django's four default `AUTH_PASSWORD_VALIDATORS` (startproject's list),
//! reproduced to the message. This module owns the embedded common-password list and the similarity
//! algorithm. It does not hash, trim, or check blanks (DRF's CharField trims and rejects blanks
//! before Django's validators run).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::username::py_str;

/// `UserAttributeSimilarityValidator` message for `username`.
pub const PASSWORD_SIMILAR_TO_USERNAME: &str = "The password is too similar to the username.";
/// `UserAttributeSimilarityValidator` message for `first_name` (its verbose name is "first name").
pub const PASSWORD_SIMILAR_TO_FIRST_NAME: &str = "The password is too similar to the first name.";
/// `UserAttributeSimilarityValidator` message for `last_name` (its verbose name is "last name").
pub const PASSWORD_SIMILAR_TO_LAST_NAME: &str = "The password is too similar to the last name.";
/// `UserAttributeSimilarityValidator` message for `email` (its verbose name is "email address").
pub const PASSWORD_SIMILAR_TO_EMAIL: &str = "The password is too similar to the email address.";
/// `MinimumLengthValidator` message for Django's default `min_length=8`.
pub const PASSWORD_TOO_SHORT: &str =
    "This password is too short. It must contain at least 8 characters.";
/// `CommonPasswordValidator` message.
pub const PASSWORD_TOO_COMMON: &str = "This password is too common.";
/// `NumericPasswordValidator` message.
pub const PASSWORD_ENTIRELY_NUMERIC: &str = "This password is entirely numeric.";
/// Django's default `MinimumLengthValidator.min_length`, in code points.
pub const PASSWORD_MIN_LENGTH: usize = 8;

/// `UserAttributeSimilarityValidator.max_similarity` default.
const MAX_SIMILARITY: f64 = 0.7;

/// Django 5.2.19's `django/contrib/auth/common-passwords.txt.gz`, byte for byte
/// (sha256 3c1baed62596de36860824eb3f436d5932d37ca8b06e59df78f5a44ec175afe4).
static COMMON_PASSWORDS_GZ: &[u8] = include_bytes!("../../data/common-passwords.txt.gz");

/// The user attributes Django's UserAttributeSimilarityValidator compares, in its order.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimilarityAttributes<'a> {
    /// `User.username` (verbose name "username").
    pub username: &'a str,
    /// `User.first_name` (verbose name "first name"); `""` on a djoser registration.
    pub first_name: &'a str,
    /// `User.last_name` (verbose name "last name"); `""` on a djoser registration.
    pub last_name: &'a str,
    /// `User.email` (verbose name "email address").
    pub email: &'a str,
}

impl<'a> SimilarityAttributes<'a> {
    /// The attributes paired with their message, in Django's `DEFAULT_USER_ATTRIBUTES` order.
    fn in_django_order(&self) -> [(&'a str, &'static str); 4] {
        [
            (self.username, PASSWORD_SIMILAR_TO_USERNAME),
            (self.first_name, PASSWORD_SIMILAR_TO_FIRST_NAME),
            (self.last_name, PASSWORD_SIMILAR_TO_LAST_NAME),
            (self.email, PASSWORD_SIMILAR_TO_EMAIL),
        ]
    }
}

/// Django's four default validators (similarity, min length 8, common list, numeric), in that
/// order; returns every failing message (empty = acceptable). `user = None` means AnonymousUser (no
/// similarity check).
///
/// Give it the password DRF validates: already trimmed, not blank. Lengths are Python's `len`, i.e.
/// code points. `"123"` gives `[too short, too common, entirely numeric]`; `"12345678"` gives
/// `[too common, entirely numeric]`.
#[must_use]
pub fn validate_password(password: &str, user: Option<&SimilarityAttributes<'_>>) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(message) = user.and_then(|attributes| similarity_error(password, attributes)) {
        errors.push(message.to_owned());
    }
    if password.chars().count() < PASSWORD_MIN_LENGTH {
        errors.push(PASSWORD_TOO_SHORT.to_owned());
    }
    if is_common_password(password) {
        errors.push(PASSWORD_TOO_COMMON.to_owned());
    }
    if py_str::is_digit(password) {
        errors.push(PASSWORD_ENTIRELY_NUMERIC.to_owned());
    }
    errors
}

/// `UserAttributeSimilarityValidator.validate`: the message for the first attribute that is too
/// similar.
fn similarity_error(password: &str, attributes: &SimilarityAttributes<'_>) -> Option<&'static str> {
    let password = py_str::lower(password);
    let password_len = password.chars().count();
    for (value, message) in attributes.in_django_order() {
        // Django skips falsy (empty) and non-string attributes.
        if value.is_empty() {
            continue;
        }
        let value = py_str::lower(value);
        // djoser-compat: parts are `re.split(r"\W+", value) + [value]`, empty pieces included. An
        // empty piece still counts: with an empty password both strings are empty and quick_ratio()
        // is 1.0.
        let too_similar = split_on_non_word(&value)
            .into_iter()
            .chain(std::iter::once(value.as_str()))
            .filter(|part| !exceeds_maximum_length_ratio(password_len, part.chars().count()))
            .any(|part| quick_ratio(&password, part) >= MAX_SIMILARITY);
        if too_similar {
            // Django raises on the first hit, so later attributes are never reported.
            return Some(message);
        }
    }
    None
}

/// Django's `exceeds_maximum_length_ratio`: the part is so much shorter than the password that the
/// similarity can't reach the threshold, so Django skips the comparison. Same float arithmetic as
/// Python.
fn exceeds_maximum_length_ratio(password_len: usize, value_len: usize) -> bool {
    let length_bound_similarity = MAX_SIMILARITY / 2.0 * password_len as f64;
    password_len >= value_len.saturating_mul(10) && (value_len as f64) < length_bound_similarity
}

/// Python's `re.split(r"\W+", value)`: the pieces between maximal runs of non-word characters, with
/// an empty first (last) piece when the value starts (ends) with such a run, and `[""]` for `""`.
fn split_on_non_word(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut piece_start = 0;
    let mut in_separator = false;
    for (i, c) in value.char_indices() {
        if py_str::is_word_char(c) {
            if in_separator {
                piece_start = i;
                in_separator = false;
            }
        } else if !in_separator {
            parts.push(&value[piece_start..i]);
            in_separator = true;
        }
    }
    parts.push(if in_separator {
        ""
    } else {
        &value[piece_start..]
    });
    parts
}

/// `difflib.SequenceMatcher(a=a, b=b).quick_ratio()`: `2*M / (len(a)+len(b))`, where M is the size
/// of the multiset intersection of the two strings' code points (1.0 when both are empty, as
/// `_calculate_ratio` returns).
fn quick_ratio(a: &str, b: &str) -> f64 {
    let mut available: HashMap<char, usize> = HashMap::new();
    let mut b_len = 0usize;
    for c in b.chars() {
        *available.entry(c).or_insert(0) += 1;
        b_len += 1;
    }
    let mut matches = 0usize;
    let mut a_len = 0usize;
    for c in a.chars() {
        a_len += 1;
        if let Some(count) = available.get_mut(&c) {
            if *count > 0 {
                *count -= 1;
                matches += 1;
            }
        }
    }
    let length = a_len + b_len;
    if length == 0 {
        return 1.0;
    }
    2.0 * matches as f64 / length as f64
}

/// `CommonPasswordValidator`: `password.lower().strip()` is on Django's list.
fn is_common_password(password: &str) -> bool {
    let lowered = py_str::lower(password);
    common_passwords().contains(py_str::strip(&lowered))
}

/// Django's common-password list, decompressed once per process and kept as one text plus sorted
/// offsets (about 320 KB) rather than 19,640 separate `String`s.
struct CommonPasswords {
    /// The entries, each followed by `\n`, in file order.
    text: String,
    /// `(start, end)` byte ranges into `text`, sorted by the entry they delimit.
    sorted: Vec<(u32, u32)>,
}

impl CommonPasswords {
    /// Parse the list the way Django's `{x.strip() for x in f}` does: one entry per line, stripped.
    fn from_text(mut text: String) -> Self {
        text.shrink_to_fit();
        let mut sorted = Vec::new();
        let mut line_start = 0usize;
        for line in text.split_inclusive('\n') {
            // Byte offsets of the stripped entry: strip only removes whitespace at the two edges.
            let without_leading = line.trim_start_matches(py_str::is_space);
            let start = line_start + (line.len() - without_leading.len());
            let end = start + without_leading.trim_end_matches(py_str::is_space).len();
            if let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(end)) {
                sorted.push((start, end));
            }
            line_start += line.len();
        }
        let entry =
            |&(start, end): &(u32, u32)| text.get(start as usize..end as usize).unwrap_or_default();
        sorted.sort_unstable_by(|a, b| entry(a).cmp(entry(b)));
        sorted.dedup_by(|a, b| entry(a) == entry(b));
        Self { text, sorted }
    }

    fn entry(&self, (start, end): (u32, u32)) -> &str {
        self.text
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }

    fn contains(&self, candidate: &str) -> bool {
        self.sorted
            .binary_search_by(|&range| self.entry(range).cmp(candidate))
            .is_ok()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.sorted.len()
    }
}

/// The decompressed list, built on first use.
fn common_passwords() -> &'static CommonPasswords {
    static LIST: OnceLock<CommonPasswords> = OnceLock::new();
    LIST.get_or_init(|| {
        // The bytes are compiled in and a test decodes them, so this cannot fail at run time. If it
        // ever did, an empty list only disables this one check, where a panic would kill the Worker
        // instance.
        let text = gunzip(COMMON_PASSWORDS_GZ).unwrap_or_default();
        CommonPasswords::from_text(text)
    })
}

/// Why the embedded gzip file could not be read.
#[derive(Debug, PartialEq, Eq)]
enum GunzipError {
    /// Not a gzip member with the deflate method, or the header is cut short.
    Header,
    /// The deflate stream is corrupt or larger than the limit.
    Inflate,
    /// The trailer's CRC-32 or size does not match what was inflated.
    Trailer,
    /// The content is not UTF-8 (Django opens it with `encoding="utf-8"`).
    Utf8,
}

/// Upper bound for the inflated list (it is 162,384 bytes), so a bad file cannot exhaust Worker
/// memory.
const MAX_INFLATED_BYTES: usize = 1 << 20;

/// Decode one gzip member (RFC 1952): parse the header, inflate the raw deflate body, check the
/// trailer.
fn gunzip(data: &[u8]) -> Result<String, GunzipError> {
    const FHCRC: u8 = 0x02;
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    const FCOMMENT: u8 = 0x10;

    let [0x1f, 0x8b, 8, flags, _mtime0, _mtime1, _mtime2, _mtime3, _xfl, _os, rest @ ..] = data
    else {
        return Err(GunzipError::Header);
    };
    let mut body = rest;
    if flags & FEXTRA != 0 {
        let [len_lo, len_hi, after @ ..] = body else {
            return Err(GunzipError::Header);
        };
        let extra_len = usize::from(u16::from_le_bytes([*len_lo, *len_hi]));
        body = after.get(extra_len..).ok_or(GunzipError::Header)?;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            // A zero-terminated Latin-1 string.
            let nul = body
                .iter()
                .position(|&b| b == 0)
                .ok_or(GunzipError::Header)?;
            body = body.get(nul + 1..).ok_or(GunzipError::Header)?;
        }
    }
    if flags & FHCRC != 0 {
        body = body.get(2..).ok_or(GunzipError::Header)?;
    }
    // The trailer is the last 8 bytes: CRC-32 and ISIZE, both little-endian.
    let trailer_at = body.len().checked_sub(8).ok_or(GunzipError::Header)?;
    let (deflate, trailer) = body.split_at(trailer_at);
    let inflated = miniz_oxide::inflate::decompress_to_vec_with_limit(deflate, MAX_INFLATED_BYTES)
        .map_err(|_| GunzipError::Inflate)?;
    let [c0, c1, c2, c3, s0, s1, s2, s3] = trailer else {
        return Err(GunzipError::Header);
    };
    let expected_crc = u32::from_le_bytes([*c0, *c1, *c2, *c3]);
    let expected_size = u32::from_le_bytes([*s0, *s1, *s2, *s3]);
    // ISIZE is the length modulo 2^32; the limit keeps it well below that.
    if crc32(&inflated) != expected_crc || u32::try_from(inflated.len()) != Ok(expected_size) {
        return Err(GunzipError::Trailer);
    }
    String::from_utf8(inflated).map_err(|_| GunzipError::Utf8)
}

/// CRC-32 (IEEE 802.3, reflected, as gzip uses), bit by bit: it runs once per process on 160 KB.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::username::fixture;
    use proptest::prelude::*;

    const SIMILAR_TO_USERNAME: &str = PASSWORD_SIMILAR_TO_USERNAME;
    const SIMILAR_TO_EMAIL: &str = PASSWORD_SIMILAR_TO_EMAIL;

    fn user<'a>(username: &'a str, email: &'a str) -> SimilarityAttributes<'a> {
        SimilarityAttributes {
            username,
            email,
            ..SimilarityAttributes::default()
        }
    }

    #[test]
    fn spec_examples_give_the_spec_messages() {
        assert_eq!(
            validate_password("123", None),
            vec![
                PASSWORD_TOO_SHORT,
                PASSWORD_TOO_COMMON,
                PASSWORD_ENTIRELY_NUMERIC
            ]
        );
        assert_eq!(
            validate_password("12345678", None),
            vec![PASSWORD_TOO_COMMON, PASSWORD_ENTIRELY_NUMERIC]
        );
        assert_eq!(
            validate_password("password", None),
            vec![PASSWORD_TOO_COMMON]
        );
    }

    #[test]
    fn password_similar_to_username_is_rejected() {
        let alice = user("alicealice", "");
        assert_eq!(
            validate_password("alicealice1", Some(&alice)),
            vec![SIMILAR_TO_USERNAME]
        );
    }

    #[test]
    fn password_similar_to_email_is_rejected() {
        let bob = user("bob", "alice@example.com");
        assert_eq!(
            validate_password("alice@example", Some(&bob)),
            vec![SIMILAR_TO_EMAIL]
        );
    }

    #[test]
    fn password_resembling_only_part_of_the_email_passes() {
        let carol = user("carol", "carol.jones@example.com");
        assert!(validate_password("carol.jones", Some(&carol)).is_empty());
        // The spec's number: 2*M/(11+23) with M = 11.
        assert!(
            (quick_ratio("carol.jones", "carol.jones@example.com") - 22.0 / 34.0).abs() < 1e-12
        );
    }

    #[test]
    fn anonymous_user_skips_the_similarity_check() {
        assert!(validate_password("alicealice1", None).is_empty());
    }

    #[test]
    fn only_the_first_similar_attribute_is_reported() {
        let attributes = SimilarityAttributes {
            username: "zzz",
            first_name: "xyzxyz",
            last_name: "xyzxyz",
            email: "xyzxyz@x.y",
        };
        assert_eq!(
            validate_password("xyzxyzxyz", Some(&attributes)),
            vec!["The password is too similar to the first name."]
        );
    }

    #[test]
    fn similarity_is_case_insensitive_and_reported_before_length() {
        let attributes = user("Ab", "");
        assert_eq!(
            validate_password("aB", Some(&attributes)),
            vec![SIMILAR_TO_USERNAME, PASSWORD_TOO_SHORT]
        );
    }

    #[test]
    fn empty_attributes_are_skipped() {
        assert_eq!(
            validate_password("x", Some(&user("", ""))),
            vec![PASSWORD_TOO_SHORT, PASSWORD_TOO_COMMON]
        );
    }

    #[test]
    fn empty_password_matches_an_empty_split_piece() {
        // djoser-compat: re.split gives ["a", "", "a."] and quick_ratio("", "") is 1.0.
        assert_eq!(
            validate_password("", Some(&user("a.", ""))),
            vec![SIMILAR_TO_USERNAME, PASSWORD_TOO_SHORT]
        );
        assert_eq!(
            validate_password("", Some(&user("a", ""))),
            vec![PASSWORD_TOO_SHORT]
        );
    }

    #[test]
    fn short_parts_of_long_passwords_are_not_compared() {
        // 400 >= 10 * 39 and 39 < 140: skipped; 41 * 10 > 400: compared, and ratio 82/441 is low
        // anyway.
        let password = "a".repeat(400);
        assert!(validate_password(&password, Some(&user(&"a".repeat(39), ""))).is_empty());
        assert!(exceeds_maximum_length_ratio(400, 40));
        assert!(!exceeds_maximum_length_ratio(400, 41));
        assert!(exceeds_maximum_length_ratio(10, 1));
        assert!(!exceeds_maximum_length_ratio(10, 2), "2 < 3.5 but 10 < 20");
    }

    #[test]
    fn common_check_lowercases_and_strips_like_python() {
        for common in [
            "PassWord",
            " password ",
            "\u{1c}password\u{1f}",
            "\u{3000}password\u{a0}",
        ] {
            assert!(
                validate_password(common, None).contains(&PASSWORD_TOO_COMMON.to_owned()),
                "{common:?}"
            );
        }
        assert!(!validate_password("password!x", None).contains(&PASSWORD_TOO_COMMON.to_owned()));
        assert!(
            is_common_password("friend of emily"),
            "entries may contain spaces"
        );
    }

    #[test]
    fn numeric_check_uses_python_isdigit() {
        let numeric = vec![PASSWORD_ENTIRELY_NUMERIC];
        assert_eq!(
            validate_password("\u{b2}".repeat(8).as_str(), None),
            numeric,
            "superscript two is a digit"
        );
        assert_eq!(
            validate_password("\u{663}".repeat(9).as_str(), None),
            numeric
        );
        assert!(
            validate_password("\u{bd}".repeat(8).as_str(), None).is_empty(),
            "one half is numeric, not a digit"
        );
        assert!(validate_password("\u{2167}".repeat(9).as_str(), None).is_empty());
    }

    #[test]
    fn length_is_counted_in_code_points() {
        assert!(validate_password("éééééééé", None).is_empty());
        assert_eq!(validate_password("ééééééé", None), vec![PASSWORD_TOO_SHORT]);
    }

    #[test]
    fn split_on_non_word_follows_python_re_split() {
        let cases: [(&str, &[&str]); 6] = [
            ("", &[""]),
            ("a.b", &["a", "b"]),
            ("a..b", &["a", "b"]),
            (".a.", &["", "a", ""]),
            ("...", &["", ""]),
            (
                "carol.jones@example.com",
                &["carol", "jones", "example", "com"],
            ),
        ];
        for (value, parts) in cases {
            assert_eq!(split_on_non_word(value), parts, "{value:?}");
        }
    }

    #[test]
    fn embedded_list_decodes_to_djangos_19640_entries() {
        let list = common_passwords();
        assert_eq!(list.len(), 19_640);
        assert!(
            list.contains("123456") && list.contains("password") && list.contains("friend of joan")
        );
        assert!(!list.contains("") && !list.contains("correct horse battery staple"));
    }

    #[test]
    fn gunzip_rejects_damaged_input() {
        assert_eq!(gunzip(b""), Err(GunzipError::Header));
        assert_eq!(gunzip(&COMMON_PASSWORDS_GZ[..20]), Err(GunzipError::Header));
        let mut bad_crc = COMMON_PASSWORDS_GZ.to_vec();
        let crc_at = bad_crc.len() - 8;
        bad_crc[crc_at] ^= 1;
        assert_eq!(gunzip(&bad_crc), Err(GunzipError::Trailer));
        let mut bad_body = COMMON_PASSWORDS_GZ.to_vec();
        let cut = bad_body.len() - 1000;
        bad_body.drain(cut..cut + 500);
        assert!(gunzip(&bad_body).is_err());
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn validate_password_matches_django_on_the_generated_cases() {
        let code = |c: &str| match c {
            "Su" => SIMILAR_TO_USERNAME,
            "Sf" => PASSWORD_SIMILAR_TO_FIRST_NAME,
            "Sl" => PASSWORD_SIMILAR_TO_LAST_NAME,
            "Se" => SIMILAR_TO_EMAIL,
            "L" => PASSWORD_TOO_SHORT,
            "C" => PASSWORD_TOO_COMMON,
            "N" => PASSWORD_ENTIRELY_NUMERIC,
            other => panic!("unknown code {other}"),
        };
        for record in fixture::records("P") {
            let [_, password, has_user, username, first_name, last_name, email, codes] =
                record.as_slice()
            else {
                panic!("bad P record {record:?}")
            };
            let attributes = SimilarityAttributes {
                username,
                first_name,
                last_name,
                email,
            };
            let user = (has_user == "1").then_some(&attributes);
            let expected: Vec<&str> = codes.split(',').filter(|c| *c != "-").map(code).collect();
            assert_eq!(validate_password(password, user), expected, "{record:?}");
        }
    }

    proptest! {
        #[test]
        fn validate_password_never_panics(
            password in any::<String>(),
            username in any::<String>(),
            first_name in any::<String>(),
            email in "\\PC{0,20}",
        ) {
            let attributes = SimilarityAttributes {
                username: &username,
                first_name: &first_name,
                last_name: "",
                email: &email,
            };
            let _ = validate_password(&password, Some(&attributes));
            let _ = validate_password(&password, None);
        }

        #[test]
        fn a_password_equal_to_the_username_is_too_similar(username in "[a-z]{1,30}") {
            let attributes = user(&username, "");
            let errors = validate_password(&username, Some(&attributes));
            prop_assert_eq!(errors.first().map(String::as_str), Some(SIMILAR_TO_USERNAME));
        }
    }
}
