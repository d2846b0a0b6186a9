//! simplejwt's claims: building them for new, derived and rotated tokens, writing them in
//! simplejwt's order, and reading and checking them once a token's signature is verified.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::JwtError;

/// Largest `exp` that simplejwt can turn into a `datetime` (9999-12-31T23:59:59Z).
///
/// Deliberate difference from djoser: PyJWT accepts a larger `exp`, then simplejwt's
/// `check_exp` raises inside `datetime.fromtimestamp` and the reference answers 500 (checked on
/// the live server with `exp = 253402300800` and `i64::MAX`). Client input must never cause a
/// 500 here (docs/differences.md), so such a token is `Invalid`.
pub(super) const MAX_EXP: i64 = 253_402_300_799;

const TOKEN_TYPE: &str = "token_type";
const EXP: &str = "exp";
const IAT: &str = "iat";
const NBF: &str = "nbf";
const JTI: &str = "jti";
const SUB: &str = "sub";
const USER_ID: &str = "user_id";
const ISS: &str = "iss";
const AUD: &str = "aud";

/// Claims that live in named [`Claims`] fields and therefore never in [`Claims::extra`].
const NAMED_CLAIMS: [&str; 5] = [TOKEN_TYPE, EXP, IAT, JTI, USER_ID];

/// The two token classes of simplejwt, as written in the `token_type` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// `AccessToken`: authenticates requests, lives `ACCESS_TOKEN_LIFETIME`.
    Access,
    /// `RefreshToken`: buys new access tokens on `jwt/refresh`, lives `REFRESH_TOKEN_LIFETIME`.
    Refresh,
}

impl TokenType {
    /// The claim value: `"access"` or `"refresh"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Access => "access",
            TokenType::Refresh => "refresh",
        }
    }
}

/// simplejwt's claims.
///
/// On output the named claims come first, exactly in simplejwt's order
/// `{"token_type","exp","iat","jti","user_id"}` (each only when `Some`), then `extra`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Claims {
    /// `"access"` or `"refresh"` on our own tokens; compared exactly by [`check_claims`].
    pub token_type: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: Option<i64>,
    /// Issue time, Unix seconds.
    pub iat: Option<i64>,
    /// Token id (32 lowercase hex chars on our own tokens); the blacklist key of refresh tokens.
    pub jti: Option<String>,
    /// The user's id as a string (simplejwt writes `str(user.id)`; an integer is accepted on
    /// the way in and stored as its decimal string).
    pub user_id: Option<String>,
    /// Every other claim (custom claims, `nbf`, `sub`, ...), in token order. Keys equal to one
    /// of the five named claims are ignored on output, so a token never carries a key twice.
    pub extra: Map<String, Value>,
}

/// A fresh token's claims: `token_type`, `exp = now + lifetime` (saturating), `iat = now`,
/// the caller's `jti` (32 lowercase hex chars, like simplejwt's `uuid4().hex`) and `user_id`.
pub fn new_claims(
    token_type: TokenType,
    user_id: &str,
    now: i64,
    lifetime_secs: i64,
    jti: String,
) -> Claims {
    Claims {
        token_type: Some(token_type.as_str().to_owned()),
        exp: Some(now.saturating_add(lifetime_secs)),
        iat: Some(now),
        jti: Some(jti),
        user_id: Some(user_id.to_owned()),
        extra: Map::new(),
    }
}

/// simplejwt's `Token.verify`, to run after [`decode`](super::decode) and after the caller's blacklist check:
/// `exp` present ([`JwtError::NoExp`]), `jti` present ([`JwtError::NoId`]), then, if `expected`
/// is `Some` (everything but `jwt/verify`), `token_type` present ([`JwtError::NoType`]) and
/// byte-for-byte equal ([`JwtError::WrongType`]; a Cyrillic look-alike is a different type).
pub fn check_claims(claims: &Claims, expected: Option<TokenType>) -> Result<(), JwtError> {
    if claims.exp.is_none() {
        return Err(JwtError::NoExp);
    }
    if claims.jti.is_none() {
        return Err(JwtError::NoId);
    }
    if let Some(expected) = expected {
        match claims.token_type.as_deref() {
            None => return Err(JwtError::NoType),
            // `str` equality compares bytes: no case folding, no Unicode normalisation.
            Some(actual) if actual != expected.as_str() => return Err(JwtError::WrongType),
            Some(_) => {}
        }
    }
    Ok(())
}

/// The access token simplejwt derives from a refresh token (`RefreshToken.access_token`):
/// every claim except `token_type`/`exp`/`iat`/`jti` is copied (custom claims and `nbf`
/// survive), then `token_type = "access"`, `exp = now + lifetime` (saturating), `iat = now`
/// and the caller's new `jti`.
pub fn access_from_refresh(
    refresh: &Claims,
    now: i64,
    access_lifetime_secs: i64,
    jti: String,
) -> Claims {
    Claims {
        token_type: Some(TokenType::Access.as_str().to_owned()),
        exp: Some(now.saturating_add(access_lifetime_secs)),
        iat: Some(now),
        jti: Some(jti),
        user_id: refresh.user_id.clone(),
        extra: refresh.extra.clone(),
    }
}

/// Refresh rotation (`ROTATE_REFRESH_TOKENS`): the same payload with the caller's new `jti`,
/// `exp = now + refresh lifetime` (saturating; a sliding window, as simplejwt) and `iat = now`.
pub fn rotate_refresh(
    refresh: &Claims,
    now: i64,
    refresh_lifetime_secs: i64,
    jti: String,
) -> Claims {
    Claims {
        exp: Some(now.saturating_add(refresh_lifetime_secs)),
        iat: Some(now),
        jti: Some(jti),
        ..refresh.clone()
    }
}

/// Serialises [`Claims`] in simplejwt's claim order.
pub(super) struct OrderedClaims<'a>(pub(super) &'a Claims);

impl Serialize for OrderedClaims<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let claims = self.0;
        let mut map = serializer.serialize_map(None)?;
        if let Some(token_type) = &claims.token_type {
            map.serialize_entry(TOKEN_TYPE, token_type)?;
        }
        if let Some(exp) = claims.exp {
            map.serialize_entry(EXP, &exp)?;
        }
        if let Some(iat) = claims.iat {
            map.serialize_entry(IAT, &iat)?;
        }
        if let Some(jti) = &claims.jti {
            map.serialize_entry(JTI, jti)?;
        }
        if let Some(user_id) = &claims.user_id {
            // simplejwt writes `str(user.id)`: always a JSON string.
            map.serialize_entry(USER_ID, user_id)?;
        }
        for (name, value) in &claims.extra {
            // A named claim in `extra` would give the token a duplicate key, which our own
            // decoder (rightly) rejects; the named field is the authority.
            if !NAMED_CLAIMS.contains(&name.as_str()) {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

/// PyJWT's `_validate_claims` as simplejwt configures it (`issuer=ISSUER`, `audience=AUDIENCE`,
/// `verify_aud` only with an audience), in its order, so a token that is both expired and
/// malformed later on reports the same reason.
///
/// Comparisons run in `i128`, where `i64 ± i64` cannot overflow, so they are exact like
/// Python's integers for every `now`, leeway and claim value.
pub(super) fn validate_registered_claims(
    payload: &Map<String, Value>,
    now: i64,
    leeway: i64,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Result<(), JwtError> {
    let not_after = i128::from(now) + i128::from(leeway);
    if let Some(iat) = payload.get(IAT) {
        if i128::from(integer_claim(iat)?) > not_after {
            return Err(JwtError::Invalid);
        }
    }
    if let Some(nbf) = payload.get(NBF) {
        if i128::from(integer_claim(nbf)?) > not_after {
            return Err(JwtError::Invalid);
        }
    }
    if let Some(exp) = payload.get(EXP) {
        if i128::from(integer_claim(exp)?) <= i128::from(now) - i128::from(leeway) {
            return Err(JwtError::Expired);
        }
    }
    // PyJWT's `_validate_iss`: with an issuer, `iss` must be present and equal.
    if let Some(issuer) = issuer {
        if payload.get(ISS).and_then(Value::as_str) != Some(issuer) {
            return Err(JwtError::Invalid);
        }
    }
    // PyJWT's `_validate_aud`: with an audience, `aud` must be present, a string or a list of
    // strings, and name it.
    if let Some(audience) = audience {
        let named = match payload.get(AUD) {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => {
                auds.iter().all(Value::is_string)
                    && auds.iter().any(|aud| aud.as_str() == Some(audience))
            }
            _ => false,
        };
        if !named {
            return Err(JwtError::Invalid);
        }
    }
    // PyJWT's `verify_sub` and `verify_jti` are on by default: strings if present.
    if payload.get(SUB).is_some_and(|sub| !sub.is_string()) {
        return Err(JwtError::Invalid);
    }
    if payload.get(JTI).is_some_and(|jti| !jti.is_string()) {
        return Err(JwtError::Invalid);
    }
    Ok(())
}

/// A time claim must be a JSON integer that fits `i64`.
///
/// PyJWT runs `int()` on it, which also takes floats, booleans and numeric strings; simplejwt
/// then crashes on some of them (a numeric-string `exp` is a 500). A claim must have the type
/// the service relies on, so anything but an integer is `Invalid`. An integer outside `i64`
/// reaches us as a float (serde_json has no big integers) or a `u64`, and is `Invalid` too.
fn integer_claim(value: &Value) -> Result<i64, JwtError> {
    value.as_i64().ok_or(JwtError::Invalid)
}

/// Moves the named claims out of the verified payload, checking the types the rest of the
/// service relies on. Runs after [`validate_registered_claims`], so where the reference says
/// "expired" for an expired token with an odd `user_id`, so do we.
///
/// The payload is consumed in token order and the other claims are appended to `extra` in
/// that order (serde_json's `preserve_order`), so a derived or rotated token lists custom
/// claims exactly as simplejwt's Python dict does.
pub(super) fn claims_from_payload(payload: Map<String, Value>) -> Result<Claims, JwtError> {
    let mut claims = Claims::default();
    for (name, value) in payload {
        match name.as_str() {
            TOKEN_TYPE => {
                // simplejwt only ever compares token_type; a non-string one could never
                // match, and claims of the wrong type are refused rather than carried.
                claims.token_type = Some(string_claim(value)?);
            }
            EXP => {
                let exp = integer_claim(&value)?;
                if exp > MAX_EXP {
                    return Err(JwtError::Invalid);
                }
                claims.exp = Some(exp);
            }
            IAT => claims.iat = Some(integer_claim(&value)?),
            JTI => claims.jti = Some(string_claim(value)?),
            USER_ID => claims.user_id = Some(user_id_claim(value)?),
            _ => {
                claims.extra.insert(name, value);
            }
        }
    }
    Ok(claims)
}

fn string_claim(value: Value) -> Result<String, JwtError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(JwtError::Invalid),
    }
}

/// djoser-compat: simplejwt writes `user_id` as a string but looks users up with either
/// `"1"` or `1`, so both are accepted; the integer is kept as its decimal string.
fn user_id_claim(value: Value) -> Result<String, JwtError> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        _ => Err(JwtError::Invalid),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::tokens::jwt::test_support::*;
    // The fixture token id, not the claim name of the same constant name in `super`.
    use crate::tokens::jwt::test_support::JTI;
    use crate::tokens::jwt::{decode, encode};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use serde_json::json;

    // Made by this module's `encode` at 1795967744 (refresh for user 2 with a custom claim),
    // then POSTed to the real server's /auth/jwt/refresh/ at 1795967747, which accepted it
    // and answered with the two tokens below.
    const OUR_REFRESH: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6MTc5NjA1NDE0NCwiaWF0IjoxNzk1OTY3NzQ0LCJqdGkiOiIwMDAwMDAwMDAwMDAwMDAwMDAwMDBjZWY2MTQ0MDUwMCIsInVzZXJfaWQiOiIyIiwiY3VzdG9tIjp7ImsiOlsxLCJ0d28iXX19.74PCvN2QVXaL64WroL9GFDdnUJAc1Gk0RhoQbPJrog8";
    const SERVER_DERIVED_ACCESS: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjoxNzk1OTY4MDQ3LCJpYXQiOjE3OTU5Njc3NDcsImp0aSI6IjM0OWZkMWZlZDBiYzRlYjg5YWY4YzQ1MmEwOGQ0MGY2IiwidXNlcl9pZCI6IjIiLCJjdXN0b20iOnsiayI6WzEsInR3byJdfX0.aCk_J1-CGtMlThCf3sRVVsa0AAwjgyMYdzVOQyNu6sw";
    const SERVER_ROTATED_REFRESH: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6MTc5NjA1NDE0NywiaWF0IjoxNzk1OTY3NzQ3LCJqdGkiOiJiNzAyYTI4MThhYjQ0ZmUzOTY2MGNiZDQ4MGRhZjMzOCIsInVzZXJfaWQiOiIyIiwiY3VzdG9tIjp7ImsiOlsxLCJ0d28iXX19._BQjFXDjKL1BPhDdi5L_eIKa40F_weCfKameYSRaheo";
    const SERVER_REFRESHED_AT: i64 = 1_795_967_747;

    // The same with several custom claims in a non-alphabetical order, `nbf` and `sub`:
    // made by `encode` and refreshed by the real server, both at 1795968134.
    const OUR_REFRESH_MANY: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6MTc5NjA1NDUzNCwiaWF0IjoxNzk1OTY4MTM0LCJqdGkiOiIwMDAwMDAwMDAwMDAwMDAwMDAwMDBjZWY2MTczMjUxYSIsInVzZXJfaWQiOiIyIiwiemV0YSI6MSwiYWxwaGEiOnsiYiI6MiwiYSI6W3RydWUsbnVsbCwtMS41XX0sIm5iZiI6MTc5NTk2ODEyOSwic3ViIjoic29tZW9uZSJ9.YFHwkkZrjXfM6oiGENWNJHAEyxErFivfJm5fS-7wsCg";
    const SERVER_DERIVED_ACCESS_MANY: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjoxNzk1OTY4NDM0LCJpYXQiOjE3OTU5NjgxMzQsImp0aSI6ImZmYWIyNzZkM2ZlOTQ0OGJiODE4MjgxYzNhNzA2YjE5IiwidXNlcl9pZCI6IjIiLCJ6ZXRhIjoxLCJhbHBoYSI6eyJiIjoyLCJhIjpbdHJ1ZSxudWxsLC0xLjVdfSwibmJmIjoxNzk1OTY4MTI5LCJzdWIiOiJzb21lb25lIn0.5iSdRQNrPnyQOS5JAx3931eCBjuHnEkj3VRjQaAK-GQ";
    const SERVER_ROTATED_REFRESH_MANY: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6MTc5NjA1NDUzNCwiaWF0IjoxNzk1OTY4MTM0LCJqdGkiOiI5NzIxNTk4NTE5ZmQ0ZWQ4YTJkNDkxZmM3Njk3YmJiZCIsInVzZXJfaWQiOiIyIiwiemV0YSI6MSwiYWxwaGEiOnsiYiI6MiwiYSI6W3RydWUsbnVsbCwtMS41XX0sIm5iZiI6MTc5NTk2ODEyOSwic3ViIjoic29tZW9uZSJ9.DhvAh0NZhJrv0Pm3sWEame-eoCtNz4A876a5DreKreA";
    const SERVER_REFRESHED_MANY_AT: i64 = 1_795_968_134;

    // ---- building and writing claims ----------------------------------------------------

    #[test]
    fn new_claims_fill_every_simplejwt_claim() {
        let claims = new_claims(TokenType::Refresh, "7", NOW, 86_400, JTI.to_owned());
        assert_eq!(
            claims,
            Claims {
                token_type: Some("refresh".into()),
                exp: Some(NOW + 86_400),
                iat: Some(NOW),
                jti: Some(JTI.into()),
                user_id: Some("7".into()),
                extra: Map::new(),
            }
        );
    }

    #[test]
    fn new_claims_saturate_instead_of_overflowing() {
        let claims = new_claims(TokenType::Access, "1", i64::MAX, i64::MAX, JTI.into());
        assert_eq!(claims.exp, Some(i64::MAX));
        let claims = new_claims(TokenType::Access, "1", i64::MIN, i64::MIN, JTI.into());
        assert_eq!(claims.exp, Some(i64::MIN));
    }

    #[test]
    fn token_types_spell_simplejwt_values() {
        assert_eq!(TokenType::Access.as_str(), "access");
        assert_eq!(TokenType::Refresh.as_str(), "refresh");
    }

    #[test]
    fn encoded_payload_keeps_simplejwt_claim_order_with_user_id_as_a_string() {
        let mut claims = access_claims();
        claims.extra.insert("a_custom".into(), json!(true));
        let token = encode(&key(), &claims).unwrap();
        let payload = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(payload).unwrap(),
            format!(
                r#"{{"token_type":"access","exp":{},"iat":{NOW},"jti":"{JTI}","user_id":"1","a_custom":true}}"#,
                NOW + 300
            )
        );
    }

    #[test]
    fn named_claims_inside_extra_are_never_written_twice() {
        let mut claims = access_claims();
        for name in NAMED_CLAIMS {
            claims.extra.insert(name.into(), json!("shadow"));
        }
        let token = encode(&key(), &claims).unwrap();
        let decoded = decode_now(&token).unwrap();
        assert_eq!(decoded.token_type.as_deref(), Some("access"));
        assert_eq!(decoded.exp, Some(NOW + 300));
        assert!(decoded.extra.is_empty());
    }

    #[test]
    fn absent_claims_are_left_out_of_the_token() {
        let claims = Claims::default();
        let token = encode(&key(), &claims).unwrap();
        assert_eq!(token.split('.').nth(1), Some(b64("{}").as_str()));
        assert_eq!(decode_now(&token), Ok(Claims::default()));
        assert_eq!(check_claims(&claims, None), Err(JwtError::NoExp));
    }

    // ---- derivation and rotation --------------------------------------------------------

    #[test]
    fn access_from_refresh_copies_custom_claims_and_replaces_the_rest() {
        let mut refresh = new_claims(TokenType::Refresh, "9", NOW - 50, 86_400, JTI.into());
        refresh.extra.insert("nbf".into(), json!(NOW - 60));
        refresh.extra.insert("scope".into(), json!("admin"));
        let access = access_from_refresh(&refresh, NOW, 300, "f".repeat(32));
        assert_eq!(
            access,
            Claims {
                token_type: Some("access".into()),
                exp: Some(NOW + 300),
                iat: Some(NOW),
                jti: Some("f".repeat(32)),
                user_id: Some("9".into()),
                extra: refresh.extra.clone(),
            }
        );
    }

    #[test]
    fn rotation_keeps_the_payload_with_a_new_jti_and_a_sliding_expiry() {
        let mut refresh = new_claims(TokenType::Refresh, "9", NOW - 50, 86_400, JTI.into());
        refresh.extra.insert("scope".into(), json!("admin"));
        let rotated = rotate_refresh(&refresh, NOW, 86_400, "e".repeat(32));
        assert_eq!(
            rotated,
            Claims {
                exp: Some(NOW + 86_400),
                iat: Some(NOW),
                jti: Some("e".repeat(32)),
                ..refresh
            }
        );
    }

    #[test]
    fn derivation_and_rotation_saturate_instead_of_overflowing() {
        let refresh = new_claims(TokenType::Refresh, "1", NOW, 1, JTI.into());
        assert_eq!(
            access_from_refresh(&refresh, i64::MAX, i64::MAX, JTI.into()).exp,
            Some(i64::MAX)
        );
        assert_eq!(
            rotate_refresh(&refresh, i64::MIN, -1, JTI.into()).exp,
            Some(i64::MIN)
        );
    }

    #[test]
    fn derived_access_and_rotation_are_byte_identical_to_the_reference_server() {
        let ours = decode(&key(), OUR_REFRESH, SERVER_REFRESHED_AT, 0).unwrap();
        check_claims(&ours, Some(TokenType::Refresh)).unwrap();
        let access = access_from_refresh(
            &ours,
            SERVER_REFRESHED_AT,
            300,
            "349fd1fed0bc4eb89af8c452a08d40f6".into(),
        );
        let rotated = rotate_refresh(
            &ours,
            SERVER_REFRESHED_AT,
            86_400,
            "b702a2818ab44fe39660cbd480daf338".into(),
        );
        assert_eq!(encode(&key(), &access).unwrap(), SERVER_DERIVED_ACCESS);
        assert_eq!(encode(&key(), &rotated).unwrap(), SERVER_ROTATED_REFRESH);
    }

    #[test]
    fn custom_claims_keep_their_token_order_through_derivation_like_the_reference() {
        let at = SERVER_REFRESHED_MANY_AT;
        let ours = decode(&key(), OUR_REFRESH_MANY, at, 0).unwrap();
        let names: Vec<&str> = ours.extra.keys().map(String::as_str).collect();
        // Relies on serde_json's `preserve_order` feature, as Python dicts keep order.
        assert_eq!(names, ["zeta", "alpha", "nbf", "sub"]);
        let access = access_from_refresh(&ours, at, 300, "ffab276d3fe9448bb818281c3a706b19".into());
        let rotated = rotate_refresh(&ours, at, 86_400, "9721598519fd4ed8a2d491fc7697bbbd".into());
        assert_eq!(encode(&key(), &access).unwrap(), SERVER_DERIVED_ACCESS_MANY);
        assert_eq!(
            encode(&key(), &rotated).unwrap(),
            SERVER_ROTATED_REFRESH_MANY
        );
    }

    // ---- check_claims (simplejwt Token.verify) ------------------------------------------

    #[test]
    fn refresh_token_is_rejected_where_access_expected() {
        let refresh = new_claims(TokenType::Refresh, "1", NOW, 300, JTI.into());
        assert_eq!(
            check_claims(&refresh, Some(TokenType::Access)),
            Err(JwtError::WrongType)
        );
    }

    #[test]
    fn access_token_is_rejected_where_refresh_expected() {
        assert_eq!(
            check_claims(&access_claims(), Some(TokenType::Refresh)),
            Err(JwtError::WrongType)
        );
    }

    #[test]
    fn untyped_verification_accepts_both_types_and_a_missing_type() {
        let refresh = new_claims(TokenType::Refresh, "1", NOW, 300, JTI.into());
        assert_eq!(check_claims(&refresh, None), Ok(()));
        assert_eq!(check_claims(&access_claims(), None), Ok(()));
        let untyped = Claims {
            token_type: None,
            ..access_claims()
        };
        assert_eq!(check_claims(&untyped, None), Ok(()));
    }

    #[test]
    fn look_alike_token_types_are_the_wrong_type() {
        // "аccess" starts with U+0430 CYRILLIC SMALL LETTER A.
        for look_alike in [
            "\u{430}ccess",
            "Access",
            "ACCESS",
            "access ",
            " access",
            "access\0",
        ] {
            let claims = Claims {
                token_type: Some(look_alike.into()),
                ..access_claims()
            };
            assert_eq!(
                check_claims(&claims, Some(TokenType::Access)),
                Err(JwtError::WrongType),
                "{look_alike:?}"
            );
        }
    }

    #[test]
    fn look_alike_token_type_survives_decoding_and_is_the_wrong_type() {
        let token = signed(
            HS256_HEADER,
            &payload(&[("token_type", "\"\u{430}ccess\"")]),
        );
        let claims = decode_now(&token).unwrap();
        assert_eq!(
            check_claims(&claims, Some(TokenType::Access)),
            Err(JwtError::WrongType)
        );
    }

    #[test]
    fn missing_claims_are_reported_in_simplejwt_order() {
        let none = Claims::default();
        assert_eq!(
            check_claims(&none, Some(TokenType::Access)),
            Err(JwtError::NoExp)
        );
        let exp_only = Claims {
            exp: Some(NOW),
            ..Claims::default()
        };
        assert_eq!(
            check_claims(&exp_only, Some(TokenType::Access)),
            Err(JwtError::NoId)
        );
        let no_type = Claims {
            token_type: None,
            ..access_claims()
        };
        assert_eq!(
            check_claims(&no_type, Some(TokenType::Access)),
            Err(JwtError::NoType)
        );
    }

    #[test]
    fn decoded_tokens_without_exp_or_jti_fail_the_claim_check() {
        let no_exp = decode_now(&signed(HS256_HEADER, &payload(&[("exp", OMIT)]))).unwrap();
        assert_eq!(check_claims(&no_exp, None), Err(JwtError::NoExp));
        let no_jti = decode_now(&signed(HS256_HEADER, &payload(&[("jti", OMIT)]))).unwrap();
        assert_eq!(check_claims(&no_jti, None), Err(JwtError::NoId));
        let no_type = decode_now(&signed(HS256_HEADER, &payload(&[("token_type", OMIT)]))).unwrap();
        assert_eq!(
            check_claims(&no_type, Some(TokenType::Refresh)),
            Err(JwtError::NoType)
        );
    }

    // ---- expiry, nbf, iat -----------------------------------------------------------------

    #[test]
    fn token_expires_when_exp_equals_now() {
        let token = signed(HS256_HEADER, &payload(&[("exp", &NOW.to_string())]));
        assert_eq!(decode_now(&token), Err(JwtError::Expired));
    }

    #[test]
    fn token_is_valid_until_the_second_before_exp() {
        let token = signed(HS256_HEADER, &payload(&[("exp", &(NOW + 1).to_string())]));
        assert!(decode_now(&token).is_ok());
    }

    #[test]
    fn token_expired_by_one_second_or_ten_minutes_is_expired() {
        for ago in [1, 600] {
            let token = signed(HS256_HEADER, &payload(&[("exp", &(NOW - ago).to_string())]));
            assert_eq!(decode_now(&token), Err(JwtError::Expired), "{ago}");
        }
    }

    #[test]
    fn leeway_extends_expiry_up_to_but_excluding_exp_plus_leeway() {
        let token = signed(HS256_HEADER, &payload(&[("exp", &(NOW - 4).to_string())]));
        assert!(decode(&key(), &token, NOW, 5).is_ok());
        let token = signed(HS256_HEADER, &payload(&[("exp", &(NOW - 5).to_string())]));
        assert_eq!(decode(&key(), &token, NOW, 5), Err(JwtError::Expired));
    }

    #[test]
    fn reference_server_tokens_expire_exactly_at_their_exp() {
        assert!(decode(&key(), SERVER_ACCESS, 1_795_967_961, 0).is_ok());
        assert_eq!(
            decode(&key(), SERVER_ACCESS, 1_795_967_962, 0),
            Err(JwtError::Expired)
        );
    }

    #[test]
    fn iat_in_the_future_is_invalid() {
        let token = signed(HS256_HEADER, &payload(&[("iat", &(NOW + 1).to_string())]));
        assert_eq!(decode_now(&token), Err(JwtError::Invalid));
        assert!(decode(&key(), &token, NOW, 1).is_ok());
        let token = signed(HS256_HEADER, &payload(&[("iat", &(NOW + 2).to_string())]));
        assert_eq!(decode(&key(), &token, NOW, 1), Err(JwtError::Invalid));
    }

    #[test]
    fn nbf_in_the_future_is_invalid_and_nbf_now_is_fine() {
        let token = signed(HS256_HEADER, &payload(&[("nbf", &(NOW + 1).to_string())]));
        assert_eq!(decode_now(&token), Err(JwtError::Invalid));
        assert!(decode(&key(), &token, NOW, 1).is_ok());
        let token = signed(HS256_HEADER, &payload(&[("nbf", &NOW.to_string())]));
        let claims = decode_now(&token).unwrap();
        assert_eq!(claims.extra.get("nbf"), Some(&json!(NOW)));
    }

    #[test]
    fn claims_are_checked_in_pyjwt_order() {
        // iat before exp: a future iat on an expired token is "invalid".
        let token = signed(
            HS256_HEADER,
            &payload(&[
                ("iat", &(NOW + 9).to_string()),
                ("exp", &(NOW - 9).to_string()),
            ]),
        );
        assert_eq!(decode_now(&token), Err(JwtError::Invalid));
        // exp before jti and sub: an expired token with a numeric jti is "expired".
        for (name, value) in [
            ("jti", "5"),
            ("sub", "5"),
            ("user_id", "null"),
            ("token_type", "1"),
        ] {
            let token = signed(
                HS256_HEADER,
                &payload(&[("exp", &(NOW - 9).to_string()), (name, value)]),
            );
            assert_eq!(decode_now(&token), Err(JwtError::Expired), "{name}");
        }
    }

    #[test]
    fn extreme_clocks_and_leeways_never_overflow() {
        let token = valid_token();
        for now in [i64::MIN, -1, 0, i64::MAX] {
            for leeway in [i64::MIN, -1, 0, 1, i64::MAX] {
                let _ = decode(&key(), &token, now, leeway);
            }
        }
        // With the largest leeway nothing is in the future and nothing expires.
        assert!(decode(&key(), &token, 0, i64::MAX).is_ok());
        assert!(decode(&key(), &token, NOW, i64::MAX).is_ok());
        assert_eq!(
            decode(&key(), &token, i64::MAX, i64::MIN),
            Err(JwtError::Invalid)
        );
    }

    // ---- claim types ----------------------------------------------------------------------

    #[test]
    fn exp_with_a_wrong_json_type_is_invalid() {
        for exp in [
            "\"1800000300\"",
            "null",
            "1800000300.0",
            "1800000300.5",
            "1e20",
            "1.8e9",
            "true",
            "[1800000300]",
            "{}",
            "18446744073709551615",
            "-1e30",
        ] {
            let token = signed(HS256_HEADER, &payload(&[("exp", exp)]));
            assert_eq!(decode_now(&token), Err(JwtError::Invalid), "exp = {exp}");
        }
    }

    #[test]
    fn exp_beyond_year_9999_is_invalid_where_the_reference_crashes() {
        for exp in [MAX_EXP + 1, i64::MAX] {
            let token = signed(HS256_HEADER, &payload(&[("exp", &exp.to_string())]));
            assert_eq!(decode_now(&token), Err(JwtError::Invalid), "exp = {exp}");
        }
        let token = signed(HS256_HEADER, &payload(&[("exp", &MAX_EXP.to_string())]));
        assert_eq!(decode_now(&token).unwrap().exp, Some(MAX_EXP));
    }

    #[test]
    fn hugely_negative_exp_is_expired_as_in_the_reference() {
        for exp in [i64::MIN, -1, 0] {
            let token = signed(HS256_HEADER, &payload(&[("exp", &exp.to_string())]));
            assert_eq!(decode_now(&token), Err(JwtError::Expired), "exp = {exp}");
        }
    }

    #[test]
    fn iat_and_nbf_with_a_wrong_json_type_are_invalid() {
        for name in ["iat", "nbf"] {
            for value in [
                "\"1800000000\"",
                "null",
                "1800000000.0",
                "1e20",
                "false",
                "[]",
            ] {
                let token = signed(HS256_HEADER, &payload(&[(name, value)]));
                assert_eq!(
                    decode_now(&token),
                    Err(JwtError::Invalid),
                    "{name} = {value}"
                );
            }
        }
    }

    #[test]
    fn extreme_iat_and_nbf_values_are_compared_without_overflow() {
        let past = signed(HS256_HEADER, &payload(&[("iat", &i64::MIN.to_string())]));
        assert!(decode_now(&past).is_ok());
        for name in ["iat", "nbf"] {
            let future = signed(HS256_HEADER, &payload(&[(name, &i64::MAX.to_string())]));
            assert_eq!(decode_now(&future), Err(JwtError::Invalid));
            // NOW + i64::MAX exceeds i64 but is compared exactly, so the leeway covers it.
            assert!(decode(&key(), &future, NOW, i64::MAX).is_ok());
        }
    }

    #[test]
    fn jti_sub_and_token_type_must_be_strings() {
        for (name, value) in [
            ("jti", "5"),
            ("jti", "null"),
            ("sub", "5"),
            ("sub", "[\"a\"]"),
            ("token_type", "1"),
            ("token_type", "null"),
            ("token_type", "[\"access\"]"),
        ] {
            let token = signed(HS256_HEADER, &payload(&[(name, value)]));
            assert_eq!(
                decode_now(&token),
                Err(JwtError::Invalid),
                "{name} = {value}"
            );
        }
        let token = signed(HS256_HEADER, &payload(&[("sub", "\"someone\"")]));
        assert_eq!(
            decode_now(&token).unwrap().extra.get("sub"),
            Some(&json!("someone"))
        );
    }

    #[test]
    fn integer_user_id_is_accepted_as_its_decimal_string() {
        for (raw, expected) in [
            ("5", "5"),
            ("-3", "-3"),
            ("18446744073709551615", "18446744073709551615"),
        ] {
            let token = signed(HS256_HEADER, &payload(&[("user_id", raw)]));
            assert_eq!(
                decode_now(&token).unwrap().user_id.as_deref(),
                Some(expected)
            );
        }
    }

    #[test]
    fn user_id_of_another_json_type_is_invalid() {
        for raw in ["null", "1.0", "1e3", "true", "[1]", "{\"id\":1}"] {
            let token = signed(HS256_HEADER, &payload(&[("user_id", raw)]));
            assert_eq!(
                decode_now(&token),
                Err(JwtError::Invalid),
                "user_id = {raw}"
            );
        }
    }

    #[test]
    fn missing_user_id_is_left_to_the_caller() {
        let token = signed(HS256_HEADER, &payload(&[("user_id", OMIT)]));
        assert_eq!(decode_now(&token).unwrap().user_id, None);
    }
}
