//! simplejwt-compatible access and refresh tokens (HS256 JWTs).
//!
//! This module owns the JWT wire format of `rest_framework_simplejwt` 5.5.1 as decoded by
//! PyJWT 2.15.1: the exact header, the claim names and order, the validation order and the
//! six failure reasons simplejwt reports (`DJOSER_SPEC.md` 1.6 and 2.3).
//!
//! It must not:
//! - read a clock: `now` (Unix seconds) and the leeway are parameters, because
//!   `SystemTime::now()` does not work on wasm32 and tests need a fixed clock;
//! - trust anything in a token before its HS256 signature has been checked with the
//!   configured key. The header is parsed first only to pin `alg`; `kid`, `jku`, `x5u`,
//!   `jwk` and friends are never used to choose a key (SECURITY.md 6 and 10);
//! - panic or overflow on any input (SECURITY.md 11): a panic kills the wasm instance and
//!   every request in flight with it;
//! - look at the blacklist, the user table or HTTP: callers do that between [`decode`] and
//!   [`check_claims`], in simplejwt's order.
//!
//! HMAC signing and verification are jwt-compact's (`Hs256`). Parsing is our own, because
//! jwt-compact's validator deserialises the claims before it checks the signature, and its
//! header type silently drops unknown fields such as `crit`.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_compact::alg::{Hs256, Hs256Key, Hs256Signature};
use jwt_compact::{Algorithm, AlgorithmExt, AlgorithmSignature, Header};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Number, Value};

/// Upper bound on an encoded token's length, checked before any parsing.
///
/// simplejwt's own tokens are about 250 bytes; 4 KiB leaves room for custom claims while a
/// hostile megabyte costs one length comparison.
pub const MAX_TOKEN_LEN: usize = 4096;

/// The only algorithm we accept, compared byte for byte (no case folding).
const ALGORITHM: &str = "HS256";

/// The `typ` header simplejwt (through PyJWT) writes.
const HEADER_TYP: &str = "JWT";

/// Largest `exp` that simplejwt can turn into a `datetime` (9999-12-31T23:59:59Z).
///
/// djoser-compat: PyJWT accepts a larger `exp`, then simplejwt's `check_exp` raises inside
/// `datetime.fromtimestamp` and the reference answers 500 (checked on the live server with
/// `exp = 253402300800` and `i64::MAX`). `DJOSER_SPEC.md` section 8 asks for a 4xx instead,
/// so such a token is `Invalid`.
const MAX_EXP: i64 = 253_402_300_799;

const TOKEN_TYPE: &str = "token_type";
const EXP: &str = "exp";
const IAT: &str = "iat";
const NBF: &str = "nbf";
const JTI: &str = "jti";
const SUB: &str = "sub";
const USER_ID: &str = "user_id";

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

/// An HS256 key. Construction takes the raw secret bytes; the length policy
/// (SECURITY.md 7) is enforced where the settings are loaded, not here.
#[derive(Clone)]
pub struct JwtKey(Hs256Key);

impl JwtKey {
    /// Wraps the raw secret (simplejwt's `SIGNING_KEY`, i.e. the UTF-8 bytes of the string).
    pub fn new(secret: &[u8]) -> Self {
        JwtKey(Hs256Key::new(secret))
    }
}

impl fmt::Debug for JwtKey {
    // The secret must never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKey(***)")
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

/// The failure reasons simplejwt distinguishes. All of them are `token_not_valid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwtError {
    /// Malformed, wrongly signed, wrong algorithm, wrong claim types, `iat`/`nbf` in the future.
    Invalid,
    /// `exp <= now - leeway`.
    Expired,
    /// No `exp` claim.
    NoExp,
    /// No `jti` claim.
    NoId,
    /// No `token_type` claim where a type is expected.
    NoType,
    /// `token_type` is not the expected one.
    WrongType,
}

impl JwtError {
    /// The exact simplejwt message (the `detail` of the 401 body).
    pub fn message(&self) -> &'static str {
        match self {
            JwtError::Invalid => "Token is invalid",
            JwtError::Expired => "Token is expired",
            JwtError::NoExp => "Token has no 'exp' claim",
            JwtError::NoId => "Token has no id",
            JwtError::NoType => "Token has no type",
            JwtError::WrongType => "Token has wrong type",
        }
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for JwtError {}

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

/// Signs `claims` with HS256. The header is exactly `{"alg":"HS256","typ":"JWT"}`, byte for
/// byte what PyJWT writes, so a token built from the same claims is identical to simplejwt's
/// (for ASCII claim values: Python escapes other characters as `\uXXXX`, serde_json writes
/// UTF-8; both spell the same JSON).
///
/// jwt-compact's token builder returns a `Result`; it can only fail if serde_json fails to
/// serialise, which string keys and `Value`s never do. That impossible error is reported as
/// [`JwtError::Invalid`] rather than a panic.
pub fn encode(key: &JwtKey, claims: &Claims) -> Result<String, JwtError> {
    let header = Header::empty().with_token_type(HEADER_TYP);
    // jwt-compact's own `exp`/`nbf`/`iat` stay unset: ours live in `OrderedClaims`, which
    // keeps simplejwt's claim order (jwt-compact would put `exp` first).
    let payload = jwt_compact::Claims::new(OrderedClaims(claims));
    Hs256
        .token(&header, &payload, &key.0)
        .map_err(|_| JwtError::Invalid)
}

/// PyJWT-level decode (`jwt.decode(token, key, algorithms=["HS256"], leeway=...)`).
///
/// In order: the length bound; exactly three dot-separated, canonical, unpadded base64url
/// parts; a JSON-object header without duplicate keys whose `alg` is exactly `"HS256"`, with
/// no `crit`; the signature, verified with `key` before the payload is even base64-decoded;
/// then the claims in PyJWT's order: `iat` (integer, not after `now + leeway`), `nbf` (same),
/// `exp` (integer, `exp <= now - leeway` is [`JwtError::Expired`]), `sub` and `jti` (strings);
/// then our typed-claim rules: `exp` at most year 9999, `user_id` a string or an integer,
/// `token_type` a string. Every other failure is [`JwtError::Invalid`].
///
/// `exp` itself is optional here, as in PyJWT; [`check_claims`] requires it.
pub fn decode(key: &JwtKey, token: &str, now: i64, leeway_secs: i64) -> Result<Claims, JwtError> {
    // SECURITY.md 10: bound the work before looking at a single byte.
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
    // is only compared against our pinned choice and never used to pick a key.
    let header = parse_object(&base64url_decode(header_b64)?)?;
    check_header(&header)?;

    let signing_input = token
        .get(..header_b64.len() + 1 + payload_b64.len())
        .ok_or(JwtError::Invalid)?;
    verify_signature(key, signing_input, &base64url_decode(signature_b64)?)?;

    // Only now, with the integrity established, is the payload decoded and read.
    let payload = parse_object(&base64url_decode(payload_b64)?)?;
    validate_registered_claims(&payload, now, leeway_secs)?;
    claims_from_payload(payload)
}

/// simplejwt's `Token.verify`, to run after [`decode`] and after the caller's blacklist check:
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
struct OrderedClaims<'a>(&'a Claims);

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

/// Strict base64url: the URL-safe alphabet only, no `=` padding, no whitespace, and the
/// unused trailing bits must be zero, so every byte string has exactly one accepted spelling.
///
/// PyJWT 2.15.1 is as strict except that it also accepts correct `=` padding; we refuse it
/// (RFC 7515 section 2 forbids padding, and SECURITY.md lists it as an attack case).
fn base64url_decode(segment: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwtError::Invalid)
}

/// Checks the header fields PyJWT looks at, plus `crit`, which we refuse outright.
fn check_header(header: &Map<String, Value>) -> Result<(), JwtError> {
    // RFC 8725 2.1: the algorithm is pinned; "none", "HS512", "hs256", ... all fail here.
    if header.get("alg").and_then(Value::as_str) != Some(ALGORITHM) {
        return Err(JwtError::Invalid);
    }
    // RFC 7515 4.1.11: we understand no critical extension, so any `crit` must fail. PyJWT
    // accepts `"crit":["b64"]` with `"b64":true`; we are stricter (SECURITY.md 6).
    if header.contains_key("crit") {
        return Err(JwtError::Invalid);
    }
    // PyJWT rejects a non-string `kid`. A string `kid` (like `jku`, `x5u`, `jwk`) is ignored:
    // the key is always the configured one.
    if header.get("kid").is_some_and(|kid| !kid.is_string()) {
        return Err(JwtError::Invalid);
    }
    // An unencoded payload (RFC 7797) needs a detached payload, which simplejwt never passes.
    if header.get("b64") == Some(&Value::Bool(false)) {
        return Err(JwtError::Invalid);
    }
    Ok(())
}

/// HS256 with the configured key, through jwt-compact (constant-time comparison).
fn verify_signature(key: &JwtKey, signing_input: &str, signature: &[u8]) -> Result<(), JwtError> {
    // `Hs256Signature::try_from_slice` panics on a slice of the wrong length
    // (`GenericArray::clone_from_slice`), so the length is checked here first.
    let expected_len = <Hs256Signature as AlgorithmSignature>::LENGTH.map(|len| len.get());
    if expected_len != Some(signature.len()) {
        return Err(JwtError::Invalid);
    }
    let signature = Hs256Signature::try_from_slice(signature).map_err(|_| JwtError::Invalid)?;
    if Hs256.verify_signature(&signature, &key.0, signing_input.as_bytes()) {
        Ok(())
    } else {
        Err(JwtError::Invalid)
    }
}

/// PyJWT's `_validate_claims` as simplejwt configures it (no audience, no issuer), in its
/// order, so a token that is both expired and malformed later on reports the same reason.
///
/// Comparisons run in `i128`, where `i64 ± i64` cannot overflow, so they are exact like
/// Python's integers for every `now`, leeway and claim value.
fn validate_registered_claims(
    payload: &Map<String, Value>,
    now: i64,
    leeway: i64,
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
/// then crashes on some of them (a numeric-string `exp` is a 500). SECURITY.md 8 wants typed
/// claims, so anything but an integer is `Invalid`. An integer outside `i64` reaches us as a
/// float (serde_json has no big integers) or a `u64`, and is `Invalid` too.
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
fn claims_from_payload(payload: Map<String, Value>) -> Result<Claims, JwtError> {
    let mut claims = Claims::default();
    for (name, value) in payload {
        match name.as_str() {
            TOKEN_TYPE => {
                // simplejwt only ever compares token_type; a non-string one could never
                // match, and typed claims (SECURITY.md 8) refuse it rather than carry it.
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
    use jwt_compact::alg::{Hs512, Hs512Key};
    use proptest::prelude::*;
    use serde_json::json;

    /// The reference server's `SECRET_KEY` (= simplejwt `SIGNING_KEY`).
    const REF_SECRET: &[u8] = b"djref-reference-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz";

    // Issued by the real reference server (POST /auth/jwt/create/ for user id 2) at
    // 1795967662; access exp 1795967962, refresh exp 1796054062.
    const SERVER_ACCESS: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjoxNzk1OTY3OTYyLCJpYXQiOjE3OTU5Njc2NjIsImp0aSI6ImZlZDU1NGM4MjlmOTQxNjQ4MDY5OGZkZDQ0MzZhNGNiIiwidXNlcl9pZCI6IjIifQ.RqivaB-dUjzT5kr-Seq0M5JWqsfYOO76Fb3XMN4ZfPo";
    const SERVER_REFRESH: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6MTc5NjA1NDA2MiwiaWF0IjoxNzk1OTY3NjYyLCJqdGkiOiJiY2EzMjM3NTJhMDc0Yjg5YjlkYmY1M2M3N2ZjMDViYiIsInVzZXJfaWQiOiIyIn0.UC3U0lA0H6riAwY2pnFJzeB5YozrhuNgMxplzOveXL0";
    const SERVER_ISSUED_AT: i64 = 1_795_967_662;

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

    /// base64url of `{"alg":"HS256","typ":"JWT"}`, as PyJWT writes it.
    const PYJWT_HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
    const HS256_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
    const NOW: i64 = 1_800_000_000;
    const JTI: &str = "0123456789abcdef0123456789abcdef";
    const OMIT: &str = "<omit>";

    fn key() -> JwtKey {
        JwtKey::new(REF_SECRET)
    }

    fn b64(bytes: impl AsRef<[u8]>) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn hs256(secret: &[u8], signing_input: &str) -> Vec<u8> {
        Hs256
            .sign(&Hs256Key::new(secret), signing_input.as_bytes())
            .as_bytes()
            .into_owned()
    }

    /// A token with arbitrary header and payload text, HS256-signed with `secret`.
    fn forge(secret: &[u8], header: &str, payload: &str) -> String {
        let signing_input = format!("{}.{}", b64(header), b64(payload));
        let signature = b64(hs256(secret, &signing_input));
        format!("{signing_input}.{signature}")
    }

    /// Signed with the right key: only the content is under test.
    fn signed(header: &str, payload: &str) -> String {
        forge(REF_SECRET, header, payload)
    }

    /// A valid access payload at `NOW`; each override replaces (or, with `OMIT`, removes)
    /// a claim or appends a new one. Values are raw JSON text.
    fn payload(overrides: &[(&str, &str)]) -> String {
        let exp = (NOW + 300).to_string();
        let now = NOW.to_string();
        let jti = format!("\"{JTI}\"");
        let mut fields: Vec<(String, String)> = [
            ("token_type", "\"access\""),
            ("exp", exp.as_str()),
            ("iat", now.as_str()),
            ("jti", jti.as_str()),
            ("user_id", "\"1\""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (name, value) in overrides {
            match fields.iter().position(|(k, _)| k == name) {
                Some(i) if *value == OMIT => {
                    fields.remove(i);
                }
                Some(i) => fields[i].1 = value.to_string(),
                None if *value == OMIT => {}
                None => fields.push((name.to_string(), value.to_string())),
            }
        }
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", body.join(","))
    }

    fn decode_now(token: &str) -> Result<Claims, JwtError> {
        decode(&key(), token, NOW, 0)
    }

    fn valid_token() -> String {
        signed(HS256_HEADER, &payload(&[]))
    }

    fn access_claims() -> Claims {
        new_claims(TokenType::Access, "1", NOW, 300, JTI.to_owned())
    }

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
    fn error_messages_are_simplejwt_texts() {
        let cases = [
            (JwtError::Invalid, "Token is invalid"),
            (JwtError::Expired, "Token is expired"),
            (JwtError::NoExp, "Token has no 'exp' claim"),
            (JwtError::NoId, "Token has no id"),
            (JwtError::NoType, "Token has no type"),
            (JwtError::WrongType, "Token has wrong type"),
        ];
        for (error, text) in cases {
            assert_eq!(error.message(), text);
            assert_eq!(error.to_string(), text);
        }
    }

    #[test]
    fn key_debug_output_hides_the_secret() {
        assert_eq!(format!("{:?}", key()), "JwtKey(***)");
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
    fn reference_server_tokens_expire_exactly_at_their_exp() {
        assert!(decode(&key(), SERVER_ACCESS, 1_795_967_961, 0).is_ok());
        assert_eq!(
            decode(&key(), SERVER_ACCESS, 1_795_967_962, 0),
            Err(JwtError::Expired)
        );
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

    // ---- algorithm confusion ------------------------------------------------------------

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
