//! The compact JWT format: [`encode`] and [`decode`].
//!
//! Parsing is our own, because jwt-compact's validator deserialises the claims before it
//! checks the signature, and its header type silently drops unknown fields such as `crit`.
//! Signing and verifying are the key's (`keys`); reading the claims is `claims`'.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::claims::{claims_from_payload, validate_registered_claims, OrderedClaims};
use super::{Claims, JwtError, JwtKeys};

/// Upper bound on an encoded token's length, checked before any parsing.
///
/// simplejwt's own tokens are about 250 bytes; 4 KiB leaves room for custom claims while a
/// hostile megabyte costs one length comparison.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Signs `claims` with the configured algorithm. With HS256 the header is exactly
/// `{"alg":"HS256","typ":"JWT"}`, byte for byte what PyJWT writes, so a token built from the same
/// claims is identical to simplejwt's (for ASCII claim values: Python escapes other characters
/// as `\uXXXX`, serde_json writes UTF-8; both spell the same JSON). ES256 and EdDSA headers add
/// the signing key's `kid`.
///
/// With `AUDIENCE` / `ISSUER` set, `aud` and then `iss` are set as simplejwt's
/// `TokenBackend.encode` does: a claim already present (a token derived from a decoded one)
/// keeps its place and takes the configured value, a missing one is appended.
pub fn encode(keys: &JwtKeys, claims: &Claims) -> Result<String, JwtError> {
    if keys.issuer().is_none() && keys.audience().is_none() {
        return sign(keys, claims);
    }
    let mut claims = claims.clone();
    if let Some(audience) = keys.audience() {
        claims
            .extra
            .insert(AUD.into(), Value::String(audience.into()));
    }
    if let Some(issuer) = keys.issuer() {
        claims
            .extra
            .insert(ISS.into(), Value::String(issuer.into()));
    }
    sign(keys, &claims)
}

fn sign(keys: &JwtKeys, claims: &Claims) -> Result<String, JwtError> {
    // jwt-compact's own `exp`/`nbf`/`iat` stay unset: ours live in `OrderedClaims`, which
    // keeps simplejwt's claim order (jwt-compact would put `exp` first).
    keys.sign(&jwt_compact::Claims::new(OrderedClaims(claims)))
}

/// The audience claim.
const AUD: &str = "aud";
/// The issuer claim.
const ISS: &str = "iss";

/// PyJWT-level decode (`jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE,
/// issuer=ISSUER, leeway=...)`).
///
/// In order: the length bound; exactly three dot-separated, canonical, unpadded base64url
/// parts; a JSON-object header without duplicate keys whose `alg` is exactly the configured
/// algorithm, with no `crit`; the signature, verified with the configured key (for ES256 and
/// EdDSA the one the header's `kid` names, among the configured ones only) before the payload
/// is even base64-decoded; then the claims in PyJWT's order: `iat` (integer, not after
/// `now + leeway`), `nbf` (same), `exp` (integer, `exp <= now - leeway` is
/// [`JwtError::Expired`]), `iss` and `aud` when configured, `sub` and `jti` (strings);
/// then our typed-claim rules: `exp` at most year 9999, `user_id` a string or an integer,
/// `token_type` a string. Every other failure is [`JwtError::Invalid`].
///
/// `exp` itself is optional here, as in PyJWT; [`check_claims`](super::check_claims)
/// requires it.
pub fn decode(keys: &JwtKeys, token: &str, now: i64, leeway_secs: i64) -> Result<Claims, JwtError> {
    // Bound the work before looking at a single byte: a hostile megabyte costs one comparison.
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Invalid);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Invalid);
    };

    // The header has to be read before the signature check (it names the algorithm), so it
    // is only compared against our pinned choice; its `kid` only picks among our own keys.
    let header = parse_object(&base64url_decode(header_b64)?)?;
    check_header(&header, keys.algorithm())?;

    let signing_input = token
        .get(..header_b64.len() + 1 + payload_b64.len())
        .ok_or(JwtError::Invalid)?;
    keys.verify(&header, signing_input, &base64url_decode(signature_b64)?)?;

    // Only now, with the integrity established, is the payload decoded and read.
    let payload = parse_object(&base64url_decode(payload_b64)?)?;
    validate_registered_claims(&payload, now, leeway_secs, keys.issuer(), keys.audience())?;
    claims_from_payload(payload)
}

/// Strict base64url: the URL-safe alphabet only, no `=` padding, no whitespace, and the
/// unused trailing bits must be zero, so every byte string has exactly one accepted spelling.
///
/// PyJWT 2.15.1 is as strict except that it also accepts correct `=` padding; we refuse it
/// (RFC 7515 section 2 forbids padding, and a token with two spellings invites two parsers to
/// disagree about it).
fn base64url_decode(segment: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwtError::Invalid)
}

/// Checks the header fields PyJWT looks at, plus `crit`, which we refuse outright.
fn check_header(header: &Map<String, Value>, algorithm: &str) -> Result<(), JwtError> {
    // RFC 8725 2.1: the algorithm is pinned; "none", "HS512", "hs256", ... all fail here.
    if header.get("alg").and_then(Value::as_str) != Some(algorithm) {
        return Err(JwtError::Invalid);
    }
    // RFC 7515 4.1.11: we understand no critical extension, so any `crit` must fail. PyJWT
    // accepts `"crit":["b64"]` with `"b64":true`; we are stricter, as we implement no
    // extension at all and the header must never change how a token is verified.
    if header.contains_key("crit") {
        return Err(JwtError::Invalid);
    }
    // PyJWT rejects a non-string `kid`. A string `kid` only selects among the configured
    // keys (ES256, EdDSA) or is ignored (HS256); `jku`, `x5u`, `jwk` are always ignored.
    if header.get("kid").is_some_and(|kid| !kid.is_string()) {
        return Err(JwtError::Invalid);
    }
    // An unencoded payload (RFC 7797) needs a detached payload, which simplejwt never passes.
    if header.get("b64") == Some(&Value::Bool(false)) {
        return Err(JwtError::Invalid);
    }
    Ok(())
}

/// Parses a JSON object, refusing duplicate keys at any depth.
///
/// Python's `json.loads` (and serde_json's `Value`) keep the last duplicate; a token whose
/// meaning depends on which duplicate wins is ambiguous between parsers, so it is `Invalid`.
/// serde_json's recursion limit (128) still applies, so deep nesting is an error, not a
/// stack overflow.
fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JwtError> {
    match serde_json::from_slice::<StrictValue>(bytes) {
        Ok(StrictValue(Value::Object(map))) => Ok(map),
        _ => Err(JwtError::Invalid),
    }
}

/// A `serde_json::Value` whose objects had no duplicate keys.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictValueVisitor)
    }
}

struct StrictValueVisitor;

impl<'de> Visitor<'de> for StrictValueVisitor {
    type Value = StrictValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value without duplicate object keys")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Number(v.into())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Number(v.into())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<StrictValue, E> {
        // serde_json never produces NaN or infinities, but a `Number` cannot hold them anyway.
        Number::from_f64(v)
            .map(|n| StrictValue(Value::Number(n)))
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(StrictValue(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictValue, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom("duplicate key"));
            }
            let StrictValue(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(StrictValue(Value::Object(map)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::tokens::jwt::claims::MAX_EXP;
    use crate::tokens::jwt::test_support::*;
    use crate::tokens::jwt::{
        access_from_refresh, check_claims, new_claims, rotate_refresh, TokenType,
    };
    use jwt_compact::alg::{Hs512, Hs512Key};
    use jwt_compact::{Algorithm, AlgorithmSignature};
    use proptest::prelude::*;
    use serde_json::json;

    /// base64url of `{"alg":"HS256","typ":"JWT"}`, as PyJWT writes it.
    const PYJWT_HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

    // ---- encoding and round trips -------------------------------------------------------

    #[test]
    fn round_trip_under_a_fixed_clock_returns_the_same_claims() {
        let mut claims = new_claims(TokenType::Refresh, "42", NOW, 86_400, JTI.to_owned());
        claims
            .extra
            .insert("custom".into(), json!({"k": [1, "two", null]}));
        let token = encode(&key(), &claims).unwrap();
        assert_eq!(decode_now(&token), Ok(claims.clone()));
        assert_eq!(decode(&key(), &token, NOW + 86_399, 0), Ok(claims));
    }

    #[test]
    fn encoded_header_is_exactly_the_pyjwt_hs256_header() {
        let token = encode(&key(), &access_claims()).unwrap();
        let header = token.split('.').next().unwrap();
        assert_eq!(header, PYJWT_HEADER_B64);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(header).unwrap(),
            HS256_HEADER.as_bytes()
        );
    }

    #[test]
    fn a_fallback_key_still_verifies_and_only_the_current_key_signs() {
        let old = b"old-signing-key-0123456789abcdef0123456789".to_vec();
        let new = b"new-signing-key-0123456789abcdef0123456789";
        let issued_before = encode(&JwtKeys::hs256(&old), &access_claims()).unwrap();
        let rotated = JwtKeys::hs256(new).with_fallbacks(std::slice::from_ref(&old));
        assert_eq!(
            decode(&rotated, &issued_before, NOW, 0),
            Ok(access_claims())
        );
        // Signing uses the new key: the old key alone no longer verifies what it signs.
        let issued_after = encode(&rotated, &access_claims()).unwrap();
        assert_eq!(
            decode(&JwtKeys::hs256(&old), &issued_after, NOW, 0),
            Err(JwtError::Invalid)
        );
        assert!(decode(&JwtKeys::hs256(new), &issued_after, NOW, 0).is_ok());
        // Once the fallback is removed, the old token is refused.
        assert_eq!(
            decode(&JwtKeys::hs256(new), &issued_before, NOW, 0),
            Err(JwtError::Invalid)
        );
    }

    // ---- cross-compatibility with the real reference server -----------------------------

    #[test]
    fn tokens_issued_by_the_reference_server_decode() {
        let at = SERVER_ISSUED_AT + 10;
        let access = decode(&key(), SERVER_ACCESS, at, 0).unwrap();
        assert_eq!(
            access,
            Claims {
                token_type: Some("access".into()),
                exp: Some(1_795_967_962),
                iat: Some(SERVER_ISSUED_AT),
                jti: Some("fed554c829f9416480698fdd4436a4cb".into()),
                user_id: Some("2".into()),
                extra: Map::new(),
            }
        );
        assert_eq!(check_claims(&access, Some(TokenType::Access)), Ok(()));
        let refresh = decode(&key(), SERVER_REFRESH, at, 0).unwrap();
        assert_eq!(refresh.exp, Some(1_796_054_062));
        assert_eq!(check_claims(&refresh, Some(TokenType::Refresh)), Ok(()));
        assert_eq!(
            check_claims(&refresh, Some(TokenType::Access)),
            Err(JwtError::WrongType)
        );
    }

    #[test]
    fn our_encoding_of_jwt_create_is_byte_identical_to_the_reference_server() {
        let refresh = new_claims(
            TokenType::Refresh,
            "2",
            SERVER_ISSUED_AT,
            86_400,
            "bca323752a074b89b9dbf53c77fc05bb".into(),
        );
        let access = new_claims(
            TokenType::Access,
            "2",
            SERVER_ISSUED_AT,
            300,
            "fed554c829f9416480698fdd4436a4cb".into(),
        );
        assert_eq!(encode(&key(), &refresh).unwrap(), SERVER_REFRESH);
        assert_eq!(encode(&key(), &access).unwrap(), SERVER_ACCESS);
    }

    // ---- header and algorithm confusion -------------------------------------------------

    #[test]
    fn other_algorithms_are_rejected_with_empty_and_real_signatures() {
        let body = b64(payload(&[]));
        for alg in [
            "\"none\"",
            "\"None\"",
            "\"NONE\"",
            "\"nOnE\"",
            "\"\"",
            "\"HS512\"",
            "\"HS384\"",
            "\"RS256\"",
            "\"ES256\"",
            "\"EdDSA\"",
            "\"hs256\"",
            "\"Hs256\"",
            "\"HS256 \"",
            "\" HS256\"",
            "\"HS256\\u0000\"",
            "null",
            "256",
            "[\"HS256\"]",
            "{\"HS256\":1}",
        ] {
            let header = b64(format!("{{\"alg\":{alg},\"typ\":\"JWT\"}}"));
            let signing_input = format!("{header}.{body}");
            let real = b64(hs256(REF_SECRET, &signing_input));
            for signature in [String::new(), real, b64([0u8; 256])] {
                let token = format!("{signing_input}.{signature}");
                assert_eq!(decode_now(&token), Err(JwtError::Invalid), "alg {alg}");
            }
        }
    }

    #[test]
    fn missing_alg_is_rejected_even_with_a_real_signature() {
        let token = signed(r#"{"typ":"JWT"}"#, &payload(&[]));
        assert_eq!(decode_now(&token), Err(JwtError::Invalid));
    }

    #[test]
    fn hs512_signed_with_our_key_is_rejected() {
        let header = b64(r#"{"alg":"HS512","typ":"JWT"}"#);
        let signing_input = format!("{header}.{}", b64(payload(&[])));
        let signature = Hs512.sign(&Hs512Key::new(REF_SECRET), signing_input.as_bytes());
        let token = format!("{signing_input}.{}", b64(signature.as_bytes()));
        assert_eq!(decode_now(&token), Err(JwtError::Invalid));
    }

    #[test]
    fn crit_header_is_rejected_even_when_correctly_signed() {
        for crit in [
            r#"["b64"],"b64":true"#,
            r#"["exp"]"#,
            "[]",
            "\"b64\"",
            "null",
        ] {
            let header = format!(r#"{{"alg":"HS256","typ":"JWT","crit":{crit}}}"#);
            assert_eq!(
                decode_now(&signed(&header, &payload(&[]))),
                Err(JwtError::Invalid),
                "{crit}"
            );
        }
    }

    #[test]
    fn non_string_kid_and_unencoded_payload_headers_are_rejected_as_in_pyjwt() {
        for header in [
            r#"{"alg":"HS256","kid":5}"#,
            r#"{"alg":"HS256","kid":null}"#,
            r#"{"alg":"HS256","b64":false}"#,
        ] {
            assert_eq!(
                decode_now(&signed(header, &payload(&[]))),
                Err(JwtError::Invalid)
            );
        }
    }

    #[test]
    fn typ_is_not_checked_as_in_pyjwt() {
        for header in [r#"{"alg":"HS256"}"#, r#"{"alg":"HS256","typ":"at+jwt"}"#] {
            assert!(
                decode_now(&signed(header, &payload(&[]))).is_ok(),
                "{header}"
            );
        }
    }

    // ---- structure and encoding -----------------------------------------------------------

    #[test]
    fn stripped_signature_is_rejected() {
        let token = valid_token();
        let (signing_input, _) = token.rsplit_once('.').unwrap();
        assert_eq!(decode_now(signing_input), Err(JwtError::Invalid));
        assert_eq!(
            decode_now(&format!("{signing_input}.")),
            Err(JwtError::Invalid)
        );
    }

    #[test]
    fn tokens_without_exactly_three_parts_are_rejected() {
        let token = valid_token();
        let signature = token.rsplit('.').next().unwrap();
        for bad in [
            String::new(),
            ".".into(),
            "..".into(),
            "...".into(),
            token.replace('.', ""),
            format!("{token}."),
            format!(".{token}"),
            format!("{token}.{signature}"),
            format!("{token}.{signature}.{signature}"),
            format!("{token}..."),
        ] {
            assert_eq!(decode_now(&bad), Err(JwtError::Invalid), "{bad}");
        }
    }

    #[test]
    fn tampered_payload_with_the_old_signature_is_rejected() {
        let token = valid_token();
        let signature = token.rsplit('.').next().unwrap();
        for tampered in [
            payload(&[("user_id", "\"2\"")]),
            payload(&[("token_type", "\"refresh\"")]),
            payload(&[("exp", &(NOW + 301).to_string())]),
            payload(&[]) + " ",
        ] {
            let forged = format!("{PYJWT_HEADER_B64}.{}.{signature}", b64(&tampered));
            assert_eq!(decode_now(&forged), Err(JwtError::Invalid), "{tampered}");
        }
    }

    #[test]
    fn tampered_header_with_the_old_signature_is_rejected() {
        let token = valid_token();
        let mut parts = token.splitn(2, '.');
        let _ = parts.next();
        let rest = parts.next().unwrap();
        let header = b64(r#"{"alg":"HS256","typ":"JWT","kid":"x"}"#);
        assert_eq!(
            decode_now(&format!("{header}.{rest}")),
            Err(JwtError::Invalid)
        );
    }

    #[test]
    fn non_canonical_signature_spelling_is_rejected() {
        // 32 bytes take 43 base64 characters; the last one carries 2 unused bits. Lenient
        // decoders map all four spellings to the same bytes; only the canonical one is ours.
        let token = valid_token();
        let (signing_input, signature_b64) = token.rsplit_once('.').unwrap();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = signature_b64.as_bytes()[42];
        let index = alphabet.iter().position(|&c| c == last).unwrap();
        for low_bits in 1..4 {
            let variant = alphabet[(index & !3) | ((index + low_bits) & 3)] as char;
            let forged = format!("{signing_input}.{}{variant}", &signature_b64[..42]);
            assert_eq!(decode_now(&forged), Err(JwtError::Invalid), "{variant}");
        }
    }

    #[test]
    fn base64_padding_is_rejected_in_every_part() {
        let token = valid_token();
        let parts: Vec<&str> = token.split('.').collect();
        for i in 0..3 {
            for pad in ["=", "==", "==="] {
                let mut padded: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
                padded[i].push_str(pad);
                let padded = padded.join(".");
                assert_eq!(decode_now(&padded), Err(JwtError::Invalid), "{padded}");
            }
        }
    }

    #[test]
    fn standard_base64_alphabet_is_rejected() {
        // Find a correctly signed token whose signature uses '-' or '_', then respell it
        // with '+' and '/' as standard base64 would.
        let token = (0..1000)
            .map(|n| signed(HS256_HEADER, &payload(&[("n", &n.to_string())])))
            .find(|t| t.rsplit('.').next().unwrap().contains(['-', '_']))
            .unwrap();
        assert!(decode_now(&token).is_ok());
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let standard = signature.replace('-', "+").replace('_', "/");
        assert_eq!(
            decode_now(&format!("{signing_input}.{standard}")),
            Err(JwtError::Invalid)
        );
        let header_plus = format!("+{}", &token[1..]);
        assert_eq!(decode_now(&header_plus), Err(JwtError::Invalid));
    }

    #[test]
    fn whitespace_anywhere_in_the_token_is_rejected() {
        // DRF's CharField trims the request field before simplejwt sees it; that trimming
        // belongs to the HTTP layer, the decoder itself accepts no whitespace at all.
        let token = valid_token();
        let dot = token.find('.').unwrap();
        for bad in [
            format!(" {token}"),
            format!("{token}\n"),
            format!("{token}\t"),
            format!("{}.\u{a0}{}", &token[..dot], &token[dot + 1..]),
            format!("{} {}", &token[..10], &token[10..]),
            format!("{}\r\n{}", &token[..dot], &token[dot..]),
        ] {
            assert_eq!(decode_now(&bad), Err(JwtError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn non_ascii_characters_are_rejected() {
        let token = valid_token();
        for bad in [
            format!("{token}é"),
            format!("é{token}"),
            token.replacen('e', "е", 1),
        ] {
            assert_eq!(decode_now(&bad), Err(JwtError::Invalid));
        }
    }

    #[test]
    fn duplicate_keys_in_the_header_are_rejected() {
        for header in [
            r#"{"alg":"none","alg":"HS256","typ":"JWT"}"#,
            r#"{"alg":"HS256","alg":"HS256","typ":"JWT"}"#,
            r#"{"alg":"HS256","typ":"JWT","typ":"JWT"}"#,
        ] {
            assert_eq!(
                decode_now(&signed(header, &payload(&[]))),
                Err(JwtError::Invalid),
                "{header}"
            );
        }
    }

    #[test]
    fn duplicate_keys_in_the_payload_are_rejected() {
        let base = payload(&[]);
        let open = &base[..base.len() - 1];
        for duplicate in [
            format!(r#"{open},"exp":1}}"#),
            format!(r#"{open},"exp":{}}}"#, NOW + 300),
            format!(r#"{open},"token_type":"refresh"}}"#),
            format!(r#"{open},"user_id":"2"}}"#),
            format!(r#"{open},"custom":1,"custom":2}}"#),
            format!(r#"{open},"nested":{{"a":1,"a":1}}}}"#),
            format!(r#"{open},"nested":[{{"a":1,"a":1}}]}}"#),
        ] {
            assert_eq!(
                decode_now(&signed(HS256_HEADER, &duplicate)),
                Err(JwtError::Invalid),
                "{duplicate}"
            );
        }
    }

    #[test]
    fn header_and_payload_must_be_json_objects() {
        for (header, body) in [
            ("[]", payload(&[])),
            ("\"HS256\"", payload(&[])),
            ("", payload(&[])),
            (HS256_HEADER, "[]".into()),
            (HS256_HEADER, "null".into()),
            (HS256_HEADER, "1800000300".into()),
            (HS256_HEADER, String::new()),
            (HS256_HEADER, "{".into()),
            (HS256_HEADER, format!("{}x", payload(&[]))),
            (HS256_HEADER, r#"{"exp":NaN}"#.into()),
            (HS256_HEADER, r#"{"exp":Infinity}"#.into()),
            (HS256_HEADER, "{\"user_id\":\"\\ud800\"}".into()),
            (
                HS256_HEADER,
                format!("{}{}", "[".repeat(200), "]".repeat(200)),
            ),
        ] {
            assert_eq!(
                decode_now(&signed(header, &body)),
                Err(JwtError::Invalid),
                "{header} / {body}"
            );
        }
    }

    #[test]
    fn payload_that_is_not_utf8_is_rejected() {
        let header = b64(HS256_HEADER);
        let signing_input = format!("{header}.{}", b64(b"{\"user_id\":\"\xff\"}"));
        let token = format!("{signing_input}.{}", b64(hs256(REF_SECRET, &signing_input)));
        assert_eq!(decode_now(&token), Err(JwtError::Invalid));
    }

    #[test]
    fn surrounding_json_whitespace_is_accepted_as_by_pythons_json() {
        let token = signed(
            " {\"alg\" : \"HS256\"}\n",
            &format!("\t{}\r\n", payload(&[])),
        );
        assert!(decode_now(&token).is_ok());
    }

    // ---- ISSUER and AUDIENCE --------------------------------------------------------------

    fn with_claims(issuer: Option<&str>, audience: Option<&str>) -> JwtKeys {
        key().with_claims(issuer.map(Into::into), audience.map(Into::into))
    }

    fn payload_of(token: &str) -> String {
        let body = token.split('.').nth(1).unwrap();
        String::from_utf8(URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap()
    }

    #[test]
    fn issuer_and_audience_are_appended_as_simplejwt_does_aud_then_iss() {
        let keys = with_claims(Some("https://auth.example"), Some("web"));
        let token = encode(&keys, &access_claims()).unwrap();
        assert!(payload_of(&token)
            .ends_with(r#""user_id":"1","aud":"web","iss":"https://auth.example"}"#));
        let claims = decode(&keys, &token, NOW, 0).unwrap();
        // Re-issued from its own claims (a rotation), the token names each once, in place.
        let again = encode(&keys, &claims).unwrap();
        assert_eq!(payload_of(&again), payload_of(&token));
        assert_eq!(decode(&keys, &again, NOW, 0), Ok(claims));
    }

    #[test]
    fn unset_issuer_and_audience_leave_tokens_byte_identical() {
        let keys = with_claims(None, None);
        assert_eq!(
            encode(&keys, &access_claims()).unwrap(),
            encode(&key(), &access_claims()).unwrap()
        );
        // And a token carrying them is not checked.
        let token = signed(HS256_HEADER, &payload(&[("iss", "\"x\""), ("aud", "5")]));
        assert!(decode(&keys, &token, NOW, 0).is_ok());
    }

    #[test]
    fn a_missing_or_wrong_issuer_is_invalid() {
        let keys = with_claims(Some("me"), None);
        for iss in [
            OMIT,
            "\"other\"",
            "\"Me\"",
            "\"me \"",
            "null",
            "[\"me\"]",
            "1",
        ] {
            let token = signed(HS256_HEADER, &payload(&[("iss", iss)]));
            assert_eq!(
                decode(&keys, &token, NOW, 0),
                Err(JwtError::Invalid),
                "{iss}"
            );
        }
        let token = signed(HS256_HEADER, &payload(&[("iss", "\"me\"")]));
        assert!(decode(&keys, &token, NOW, 0).is_ok());
    }

    #[test]
    fn the_audience_must_be_named_by_a_string_or_a_list_of_strings() {
        let keys = with_claims(None, Some("web"));
        for aud in ["\"web\"", "[\"web\"]", "[\"app\",\"web\"]"] {
            let token = signed(HS256_HEADER, &payload(&[("aud", aud)]));
            assert!(decode(&keys, &token, NOW, 0).is_ok(), "{aud}");
        }
        for aud in [
            OMIT,
            "\"app\"",
            "[]",
            "[\"app\"]",
            "[\"web\",1]",
            "null",
            "{\"web\":1}",
            "\"WEB\"",
        ] {
            let token = signed(HS256_HEADER, &payload(&[("aud", aud)]));
            assert_eq!(
                decode(&keys, &token, NOW, 0),
                Err(JwtError::Invalid),
                "{aud}"
            );
        }
    }

    #[test]
    fn an_expired_token_is_expired_before_its_issuer_or_audience_is_looked_at() {
        let keys = with_claims(Some("me"), Some("web"));
        let token = signed(HS256_HEADER, &payload(&[("exp", &(NOW - 1).to_string())]));
        assert_eq!(decode(&keys, &token, NOW, 0), Err(JwtError::Expired));
    }

    // ---- size -----------------------------------------------------------------------------

    #[test]
    fn one_megabyte_token_is_rejected() {
        let filler = "A".repeat(1 << 20);
        let huge = signed(
            HS256_HEADER,
            &payload(&[("filler", &format!("\"{filler}\""))]),
        );
        assert!(huge.len() > 1 << 20);
        assert_eq!(decode_now(&huge), Err(JwtError::Invalid));
        assert_eq!(decode_now(&"a".repeat(1 << 20)), Err(JwtError::Invalid));
    }

    #[test]
    fn token_length_limit_is_inclusive() {
        let with_filler = |n: usize| {
            signed(
                HS256_HEADER,
                &payload(&[("f", &format!("\"{}\"", "x".repeat(n)))]),
            )
        };
        let at_limit = (0..MAX_TOKEN_LEN)
            .map(with_filler)
            .find(|t| t.len() == MAX_TOKEN_LEN)
            .unwrap();
        assert!(decode_now(&at_limit).is_ok());
        let over = (0..MAX_TOKEN_LEN)
            .map(with_filler)
            .find(|t| t.len() == MAX_TOKEN_LEN + 1)
            .unwrap();
        assert_eq!(decode_now(&over), Err(JwtError::Invalid));
    }

    // ---- properties -----------------------------------------------------------------------

    /// Claim names the decoder treats specially, plus a custom one.
    fn claim_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("exp".to_owned()),
            Just("iat".to_owned()),
            Just("nbf".to_owned()),
            Just("jti".to_owned()),
            Just("sub".to_owned()),
            Just("user_id".to_owned()),
            Just("token_type".to_owned()),
            "[a-z_]{0,8}",
        ]
    }

    fn json_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            prop_oneof![
                Just(i64::MIN),
                Just(i64::MAX),
                Just(MAX_EXP),
                Just(MAX_EXP + 1),
                Just(NOW),
                Just(NOW + 1),
                Just(NOW - 1),
            ]
            .prop_map(|n| json!(n)),
            // serde_json's default float parser can be 1 ULP off, so floats are replaced by
            // a value that survives its own text round trip: the properties are about us.
            any::<f64>().prop_map(stable_float),
            ".{0,12}".prop_map(Value::String),
            Just(json!("access")),
            Just(json!("refresh")),
        ]
    }

    fn stable_float(f: f64) -> Value {
        let mut value = Number::from_f64(f).map_or(Value::Null, Value::Number);
        for _ in 0..4 {
            let reparsed: Value = serde_json::from_str(&value.to_string()).unwrap();
            if reparsed == value {
                return value;
            }
            value = reparsed;
        }
        Value::Null
    }

    fn json_value() -> impl Strategy<Value = Value> {
        json_leaf().prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(claim_name(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn json_payload() -> impl Strategy<Value = Value> {
        prop_oneof![
            prop::collection::btree_map(claim_name(), json_value(), 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            json_value(),
        ]
    }

    proptest! {
        #[test]
        fn decode_never_panics_on_arbitrary_strings(
            token in prop_oneof![any::<String>(), "[A-Za-z0-9_=+/. \\-]{0,200}"],
            now in any::<i64>(),
            leeway in any::<i64>(),
        ) {
            let _ = decode(&key(), &token, now, leeway);
        }

        #[test]
        fn decode_never_panics_on_arbitrary_parts(
            header in prop::collection::vec(any::<u8>(), 0..64),
            body in prop::collection::vec(any::<u8>(), 0..128),
            signature in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let token = format!("{}.{}.{}", b64(header), b64(body), b64(signature));
            prop_assert_eq!(decode_now(&token), Err(JwtError::Invalid));
        }

        #[test]
        fn decode_never_panics_on_arbitrary_signed_bytes(
            body in prop::collection::vec(any::<u8>(), 0..256),
            now in any::<i64>(),
            leeway in any::<i64>(),
        ) {
            let header = b64(HS256_HEADER);
            let signing_input = format!("{header}.{}", b64(&body));
            let token = format!("{signing_input}.{}", b64(hs256(REF_SECRET, &signing_input)));
            let _ = decode(&key(), &token, now, leeway);
        }

        #[test]
        fn accepted_signed_json_payloads_survive_a_round_trip(
            body in json_payload(),
            now in prop_oneof![Just(NOW), any::<i64>()],
            leeway in prop_oneof![Just(0i64), 0i64..600, any::<i64>()],
        ) {
            let token = signed(HS256_HEADER, &body.to_string());
            if let Ok(claims) = decode(&key(), &token, now, leeway) {
                // Whatever we accept, we can re-issue and accept again unchanged.
                let again = encode(&key(), &claims).unwrap();
                prop_assert_eq!(decode(&key(), &again, now, leeway), Ok(claims.clone()));
                let _ = check_claims(&claims, Some(TokenType::Access));
                let _ = access_from_refresh(&claims, now, leeway, JTI.into());
                let _ = rotate_refresh(&claims, now, leeway, JTI.into());
            }
        }

        #[test]
        fn encoded_claims_decode_to_themselves(
            user_id in ".{0,20}",
            issued in -1_000_000i64..1_000_000,
            lifetime in 1i64..1_000_000,
            refresh in any::<bool>(),
            custom in json_value(),
        ) {
            let token_type = if refresh { TokenType::Refresh } else { TokenType::Access };
            let mut claims = new_claims(token_type, &user_id, NOW + issued, lifetime, JTI.into());
            claims.extra.insert("custom".into(), custom);
            let token = encode(&key(), &claims).unwrap();
            let decoded = decode(&key(), &token, NOW + issued, 0);
            // A custom value can't make our own token invalid.
            prop_assert_eq!(decoded, Ok(claims));
        }
    }
}
