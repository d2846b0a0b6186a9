//! Email addresses: Django 5.2's `EmailValidator` (`validate_email`), the messages DRF's email
//! fields report, and `BaseUserManager.normalize_email`. It must not look anything up (existence
//! and duplicates belong to storage), and it does not trim or reject blanks (DRF's CharField does
//! both before validators run).

use std::sync::{Mutex, PoisonError};

use super::username::{py_str, NULL_CHARACTERS_NOT_ALLOWED};

/// Django `EmailValidator.message`.
pub const INVALID_EMAIL: &str = "Enter a valid email address.";
/// DRF's `max_length` message for the model's `EmailField(max_length=254)`.
pub const EMAIL_TOO_LONG_254: &str = "Ensure this field has no more than 254 characters.";
/// `AbstractUser.email` `max_length`, used by registration and the user update endpoints.
pub const MODEL_EMAIL_MAX_LENGTH: usize = 254;

/// `EmailValidator`'s own limit (RFC 3696 section 3), in code points.
const EMAIL_MAX_CHARS: usize = 320;
/// `EmailValidator.domain_allowlist`.
const DOMAIN_ALLOWLIST: [&str; 1] = ["localhost"];

/// Django 5.2 EmailValidator (exact semantics: user regex, domain regex incl. IDN/punycode
/// handling, literal IPv4/IPv6 domains, the 320-char limit, 'localhost' whitelist) plus an optional
/// max_length (DRF MaxLengthValidator), in DRF's message order; empty = valid.
///
/// Give it the value DRF validates: trimmed, and not blank (registration allows `""` and skips
/// validators for it; the other email fields report "This field may not be blank."). `""` here is
/// invalid, as in bare Django.
///
/// Order, checked against the reference server. The model field (registration, `users/me`,
/// `max_length=254`) becomes a DRF `EmailField` whose validators are `MaxLengthValidator`,
/// `ProhibitNullCharactersValidator`, then `EmailValidator` (appended last by
/// `EmailField.__init__`), and DRF reports every failure: a 300-char invalid address gives
/// `[EMAIL_TOO_LONG_254, INVALID_EMAIL]`; with a NUL also inside, the null message sits between
/// them. `resend_activation`, `reset_password` and `reset_username` use `serializers.EmailField()`
/// (pass `None`): a 322-char address gives only `[INVALID_EMAIL]` (the 320 limit), and a 312-char
/// valid one is accepted (204).
#[must_use]
pub fn email_errors(value: &str, max_length: Option<usize>) -> Vec<&'static str> {
    let mut errors = Vec::new();
    if let Some(max_length) = max_length {
        if value.chars().count() > max_length {
            errors.push(max_length_message(max_length));
        }
    }
    if value.contains('\0') {
        errors.push(NULL_CHARACTERS_NOT_ALLOWED);
    }
    if !is_valid_email(value) {
        errors.push(INVALID_EMAIL);
    }
    errors
}

/// Django BaseUserManager.normalize_email: lower-case the domain part only.
///
/// djoser-compat: Django strips the value and splits at the last `@`; a value without `@` comes
/// back exactly as given, not even stripped. `Carol@EXAMPLE.Com` becomes `Carol@example.com`.
#[must_use]
pub fn normalize_email(value: &str) -> String {
    match py_str::strip(value).rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", py_str::lower(domain)),
        None => value.to_owned(),
    }
}

/// Whether Django's `validate_email` accepts the value.
#[must_use]
pub fn is_valid_email(value: &str) -> bool {
    if value.is_empty() || value.chars().count() > EMAIL_MAX_CHARS {
        return false;
    }
    let Some((user_part, domain_part)) = value.rsplit_once('@') else {
        return false;
    };
    // djoser-compat: the allowlist compare is case-sensitive, so `a@LOCALHOST` falls through to the
    // domain regex, which needs a dot, and is invalid.
    is_valid_user_part(user_part)
        && (DOMAIN_ALLOWLIST.contains(&domain_part) || is_valid_domain_part(domain_part))
}

/// DRF's `MaxLengthValidator` message for any limit. The messages for 254 and 150 are constants;
/// any other limit is formatted once and kept for the life of the process. Callers pass
/// compile-time limits, so this stays a handful of strings.
fn max_length_message(max_length: usize) -> &'static str {
    static OTHERS: Mutex<Vec<(usize, &'static str)>> = Mutex::new(Vec::new());
    match max_length {
        MODEL_EMAIL_MAX_LENGTH => EMAIL_TOO_LONG_254,
        super::username::USERNAME_MAX_LENGTH => super::username::USERNAME_TOO_LONG,
        _ => {
            // A poisoned lock only means another thread panicked while pushing; the list itself is
            // still sound.
            let mut others = OTHERS.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(&(_, message)) = others.iter().find(|(limit, _)| *limit == max_length) {
                return message;
            }
            let message: &'static str = Box::leak(
                format!("Ensure this field has no more than {max_length} characters.")
                    .into_boxed_str(),
            );
            others.push((max_length, message));
            message
        }
    }
}

/// Characters with a case-insensitive match in ASCII letters under Python's `re.IGNORECASE`
/// (Unicode): U+0130 İ and U+0131 ı (↔ i), U+017F ſ (↔ s), U+212A KELVIN SIGN (↔ k).
// djoser-compat: Django's ASCII classes `[A-Z]`/`[a-z0-9]` are compiled with re.IGNORECASE, so
// these four non-ASCII letters pass where RFC 5322 would refuse them (`ſam@example.com` is valid
// for Django).
fn is_ignorecase_ascii_letter_alias(c: char) -> bool {
    matches!(c, '\u{130}' | '\u{131}' | '\u{17f}' | '\u{212a}')
}

/// `user_regex`: a dot-atom (`` [-!#$%&'*+/=?^_`{}|~0-9A-Z]+(\.[...]+)* ``) or a quoted string,
/// case-insensitive.
fn is_valid_user_part(user_part: &str) -> bool {
    is_dot_atom(user_part) || is_quoted_string(user_part)
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "-!#$%&'*+/=?^_`{}|~".contains(c)
        || is_ignorecase_ascii_letter_alias(c)
}

/// Dot-separated, non-empty runs of atext: no leading, trailing or doubled dot.
fn is_dot_atom(s: &str) -> bool {
    s.split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// `"` + (qtext | `\` + escapable)* + `"`. The regex alternatives start with disjoint characters,
/// so a left-to-right scan decides it the same way the backtracking regex does.
fn is_quoted_string(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')) else {
        return false;
    };
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        let ok = if c == '\\' {
            chars.next().is_some_and(is_quoted_escapable)
        } else {
            is_qtext(c)
        };
        if !ok {
            return false;
        }
    }
    true
}

/// `[\001-\010\013\014\016-\037!#-\[\]-\177]`: what may stand unescaped in a quoted string.
// djoser-compat: the class skips \040, so even a plain space must be escaped (`"a b"@c.com` is
// invalid, `"a\ b"@c.com` valid); tab, `"` and `\` need an escape too.
fn is_qtext(c: char) -> bool {
    matches!(
        c,
        '\u{1}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '!' | '#'..='['
            | ']'..='\u{7f}'
    ) || is_ignorecase_ascii_letter_alias(c)
}

/// `[\001-\011\013\014\016-\177]`: what may follow a backslash in a quoted string.
fn is_quoted_escapable(c: char) -> bool {
    matches!(c, '\u{1}'..='\u{9}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{7f}')
        || is_ignorecase_ascii_letter_alias(c)
}

/// `EmailValidator.validate_domain_part`: the domain regex, else a bracketed IPv4/IPv6 literal.
///
/// Django 5.2 no longer IDNA-encodes the domain: internationalised names pass because the regex's
/// letter class includes U+00A1..U+FFFF, and punycode TLDs (`xn--...`) pass through the regex's own
/// alternative.
fn is_valid_domain_part(domain_part: &str) -> bool {
    if matches_domain_regex(domain_part) {
        return true;
    }
    // `literal_regex.match`: `\[([A-F0-9:.]+)\]\Z`, case-insensitive.
    domain_part
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .filter(|ip| {
            !ip.is_empty()
                && ip
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        })
        .is_some_and(is_valid_ipv46_address)
}

/// `hostname_re + domain_re + tld_no_fqdn_re` anchored at both ends. `.` is in none of the label
/// classes, so the regex splits on every dot: the first label is the hostname, the last the TLD,
/// and those between domain labels.
fn matches_domain_regex(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let [hostname, middle @ .., tld] = labels.as_slice() else {
        return false;
    };
    is_hostname_label(hostname) && middle.iter().all(|label| is_domain_label(label)) && is_tld(tld)
}

/// `[a-z\u00a1-\uffff0-9]` with re.IGNORECASE: ASCII letters and digits, and every BMP code point
/// from U+00A1 (the four case aliases all fall inside that range). Nothing outside the BMP matches.
fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ('\u{a1}'..='\u{ffff}').contains(&c)
}

/// `[a-z\u00a1-\uffff0-9](?:[a-z\u00a1-\uffff0-9-]{0,61}[a-z\u00a1-\uffff0-9])?`: 1 to 63 code
/// points, `-` only inside.
fn is_hostname_label(label: &str) -> bool {
    let len = label.chars().count();
    (1..=63).contains(&len)
        && label.chars().all(|c| is_domain_char(c) || c == '-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// `(?!-)[a-z\u00a1-\uffff0-9-]{1,63}(?<!-)`: the same shape as a hostname label.
fn is_domain_label(label: &str) -> bool {
    is_hostname_label(label)
}

/// `(?!-)(?:[a-z\u00a1-\uffff-]{2,63}|xn--[a-z0-9]{1,59})(?<!-)`: letters only (no ASCII digits),
/// or a punycode label whose tail may hold digits.
fn is_tld(tld: &str) -> bool {
    if tld.starts_with('-') || tld.ends_with('-') {
        return false;
    }
    let len = tld.chars().count();
    let letters = (2..=63).contains(&len)
        && tld
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '-' || ('\u{a1}'..='\u{ffff}').contains(&c));
    letters || is_punycode_tld(tld)
}

fn is_punycode_tld(tld: &str) -> bool {
    let (Some(prefix), Some(tail)) = (tld.get(..4), tld.get(4..)) else {
        return false;
    };
    let tail_len = tail.chars().count();
    prefix.eq_ignore_ascii_case("xn--")
        && (1..=59).contains(&tail_len)
        && tail
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || is_ignorecase_ascii_letter_alias(c))
}

/// Django's `validate_ipv46_address`: Python's `ipaddress.IPv4Address`, else Django's IPv6 check.
fn is_valid_ipv46_address(ip: &str) -> bool {
    is_valid_ipv4_address(ip) || is_valid_ipv6_address(ip)
}

/// `ipaddress.IPv4Address(str)` (Python 3.11): four dot-separated decimal octets, 1 to 3 ASCII
/// digits, no leading zero, at most 255.
fn is_valid_ipv4_address(ip: &str) -> bool {
    let octets: Vec<&str> = ip.split('.').collect();
    octets.len() == 4 && octets.iter().all(|octet| parse_octet(octet).is_some())
}

fn parse_octet(octet: &str) -> Option<u8> {
    let valid_form = !octet.is_empty()
        && octet.len() <= 3
        && octet.bytes().all(|b| b.is_ascii_digit())
        && (octet == "0" || !octet.starts_with('0'));
    if !valid_form {
        return None;
    }
    octet.parse::<u8>().ok()
}

/// Django's `is_valid_ipv6_address`: at most 39 characters, then Python 3.11's
/// `IPv6Address._ip_int_from_string` rules (3 to 9 colon-separated parts, at most one `::`, an
/// optional dotted IPv4 tail, hextets of 1 to 4 hex digits).
fn is_valid_ipv6_address(ip: &str) -> bool {
    const HEXTETS: usize = 8;
    if ip.is_empty() || ip.chars().count() > 39 {
        return false;
    }
    let mut parts: Vec<&str> = ip.split(':').collect();
    if parts.len() < 3 {
        return false;
    }
    // A dotted tail stands for the last two hextets; it must be a valid IPv4 address on its own.
    if parts.last().is_some_and(|last| last.contains('.')) {
        match parts.pop() {
            Some(tail) if is_valid_ipv4_address(tail) => parts.extend(["0", "0"]),
            _ => return false,
        }
    }
    if parts.len() > HEXTETS + 1 {
        return false;
    }
    let last = parts.len() - 1;
    let mut skip_index = None;
    for (i, part) in parts.iter().enumerate().take(last).skip(1) {
        if part.is_empty() {
            if skip_index.is_some() {
                return false;
            }
            skip_index = Some(i);
        }
    }
    let first_empty = parts.first().is_some_and(|p| p.is_empty());
    let last_empty = parts.last().is_some_and(|p| p.is_empty());
    let (hi, lo) = match skip_index {
        Some(skip) => {
            let mut hi = skip;
            let mut lo = parts.len() - skip - 1;
            if first_empty {
                hi -= 1;
                if hi != 0 {
                    return false;
                }
            }
            if last_empty {
                lo -= 1;
                if lo != 0 {
                    return false;
                }
            }
            if hi + lo >= HEXTETS {
                return false;
            }
            (hi, lo)
        }
        None => {
            if parts.len() != HEXTETS || first_empty || last_empty {
                return false;
            }
            (parts.len(), 0)
        }
    };
    let head = parts.iter().take(hi);
    let tail = parts.iter().skip(parts.len() - lo);
    head.chain(tail).all(|hextet| is_hextet(hextet))
}

/// `_parse_hextet`: 1 to 4 ASCII hex digits.
fn is_hextet(hextet: &str) -> bool {
    (1..=4).contains(&hextet.len()) && hextet.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::username::fixture;
    use proptest::prelude::*;

    #[test]
    fn invalid_emails_are_rejected() {
        let rejected = [
            "",
            "alice",
            "alice@example",
            "a@LOCALHOST",
            "@example.com",
            "a@",
            ".a@b.com",
            "a.@b.com",
            "a..b@b.com",
            "a b@c.com",
            "a@b..com",
            "a@b.com.",
            "a@-b.com",
            "a@b-.com",
            "a@b.c",
            "a@b.c0",
            "a@b.xn--",
            "a@\u{1f600}.com",
            "\"a b\"@c.com",
            "\"\\\"@c.com",
            "a@[256.0.0.1]",
            "a@[127.0.0.01]",
            "a@[1::2::3]",
            "a@[1:2:3:4:5:6:7:8:9]",
            "a@[IPv6:::1]",
            "a@b.com\n",
            "é@example.com",
        ];
        for value in rejected {
            assert_eq!(email_errors(value, None), vec![INVALID_EMAIL], "{value:?}");
        }
    }

    #[test]
    fn valid_emails_are_accepted() {
        let accepted = [
            "alice@example.com",
            "Carol@EXAMPLE.Com",
            "a@localhost",
            "a@b.cd",
            "a@b.xn--p1ai",
            "a@b.XN--P1AI",
            "a@münchen.de",
            "a@例え.テスト",
            "\"a\\ b\"@c.com",
            "\"a@b\"@c.com",
            "!#$%&'*+/=?^_`{|}~@c.com",
            "ſam@example.com", // djoser-compat: re.IGNORECASE lets ſ match [A-Z]
            "\u{212a}elvin@example.com",
            "a@[127.0.0.1]",
            "a@[::1]",
            "a@[::ffff:1.2.3.4]",
            "a@[ABCD::EF01]",
            "a@[1:2:3:4:5:6:7::]",
        ];
        for value in accepted {
            assert!(
                email_errors(value, Some(MODEL_EMAIL_MAX_LENGTH)).is_empty(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn model_field_reports_length_then_null_then_invalid() {
        let long_invalid = "a".repeat(300);
        assert_eq!(
            email_errors(&long_invalid, Some(254)),
            vec![EMAIL_TOO_LONG_254, INVALID_EMAIL]
        );
        let long_with_nul = format!("{}\0", "a".repeat(300));
        assert_eq!(
            email_errors(&long_with_nul, Some(254)),
            vec![
                EMAIL_TOO_LONG_254,
                NULL_CHARACTERS_NOT_ALLOWED,
                INVALID_EMAIL
            ]
        );
        let long_but_valid = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            email_errors(&long_but_valid, Some(254)),
            vec![EMAIL_TOO_LONG_254]
        );
    }

    #[test]
    fn plain_email_field_has_only_the_320_character_limit() {
        let valid_312 = format!("{}@example.com", "a".repeat(300));
        assert!(email_errors(&valid_312, None).is_empty());
        let at_limit = format!("{}@example.com", "a".repeat(308));
        assert!(email_errors(&at_limit, None).is_empty());
        let over_limit = format!("{}@example.com", "a".repeat(309));
        assert_eq!(email_errors(&over_limit, None), vec![INVALID_EMAIL]);
        assert_eq!(
            email_errors("a\0@example.com", None),
            vec![NULL_CHARACTERS_NOT_ALLOWED, INVALID_EMAIL]
        );
    }

    #[test]
    fn other_length_limits_get_their_own_stable_message() {
        let first = email_errors("abcdef@example.com", Some(5));
        assert_eq!(
            first,
            vec!["Ensure this field has no more than 5 characters."]
        );
        let second = email_errors("abcdef@example.com", Some(5));
        assert!(
            std::ptr::eq(first[0], second[0]),
            "formatted once, then reused"
        );
        assert_eq!(
            email_errors(&"a".repeat(151), Some(150))[0],
            "Ensure this field has no more than 150 characters."
        );
    }

    #[test]
    fn domain_labels_are_limited_to_63_characters() {
        let ok = format!("a@{}.com", "b".repeat(63));
        let too_long = format!("a@{}.com", "b".repeat(64));
        assert!(is_valid_email(&ok));
        assert!(!is_valid_email(&too_long));
        assert!(is_valid_email(&format!("a@b.xn--{}", "c".repeat(59))));
        assert!(!is_valid_email(&format!("a@b.xn--{}", "c1".repeat(30))));
    }

    #[test]
    fn ipv6_literals_follow_python_ipaddress() {
        let valid = [
            "::",
            "::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:1.2.3.4",
            "::1.2.3.4",
            "0:0:0:0:0:0:0:1",
        ];
        let invalid = [
            ":1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:",
            "1:2:3:4:5:6:7:8:9",
            "1::2:3:4:5:6:7:8",
            "12345::1",
            ":::",
            "1:",
            "::1.2.3",
            "1.2.3.4::",
            "0000:0000:0000:0000:0000:0000:0000:00001",
            "1:2:3:4:5:6:7:1.2.3.4",
        ];
        for ip in valid {
            assert!(is_valid_ipv6_address(ip), "{ip}");
        }
        for ip in invalid {
            assert!(!is_valid_ipv6_address(ip), "{ip}");
        }
    }

    #[test]
    fn normalize_email_lowercases_only_the_domain() {
        assert_eq!(normalize_email("Carol@EXAMPLE.Com"), "Carol@example.com");
        assert_eq!(normalize_email("  A@B.C  "), "A@b.c");
        assert_eq!(normalize_email("a@b@C.D"), "a@b@c.d");
        assert_eq!(
            normalize_email(" NoAt "),
            " NoAt ",
            "Django returns a value without @ untouched"
        );
        assert_eq!(normalize_email("x@Y.ΣΣ"), "x@y.σς");
    }

    #[test]
    fn email_errors_match_django_on_the_generated_cases() {
        let code = |c: &str| match c {
            "I" => INVALID_EMAIL,
            "L" => EMAIL_TOO_LONG_254,
            "0" => NULL_CHARACTERS_NOT_ALLOWED,
            other => panic!("unknown code {other}"),
        };
        for record in fixture::records("E") {
            let [_, value, max_length, codes] = record.as_slice() else {
                panic!("bad E record {record:?}")
            };
            let max_length =
                (max_length != "-").then(|| max_length.parse::<usize>().expect("a number"));
            let expected: Vec<&str> = codes.split(',').filter(|c| *c != "-").map(code).collect();
            assert_eq!(
                email_errors(value, max_length),
                expected,
                "{value:?} {max_length:?}"
            );
        }
    }

    #[test]
    fn normalize_email_matches_django_on_the_generated_cases() {
        for record in fixture::records("NE") {
            let [_, value, expected] = record.as_slice() else {
                panic!("bad NE record {record:?}")
            };
            assert_eq!(&normalize_email(value), expected, "{value:?}");
        }
    }

    proptest! {
        #[test]
        fn email_functions_never_panic(
            value in any::<String>(),
            max_length in proptest::option::of(0usize..400),
        ) {
            let _ = email_errors(&value, max_length);
            let _ = normalize_email(&value);
        }

        #[test]
        fn email_shaped_input_never_panics(
            value in "[a-zA-Z0-9.\"\\\\@\\[\\]:\u{130}\u{17f}é-]{0,40}",
        ) {
            let _ = email_errors(&value, Some(MODEL_EMAIL_MAX_LENGTH));
            let _ = normalize_email(&value);
        }

        #[test]
        fn simple_addresses_are_valid(
            local in "[a-z0-9]{1,20}",
            host in "[a-z0-9]{1,20}",
            tld in "[a-z]{2,6}",
        ) {
            let address = format!("{local}@{host}.{tld}");
            prop_assert!(email_errors(&address, Some(MODEL_EMAIL_MAX_LENGTH)).is_empty());
        }
    }
}
