//! Fixtures shared by the tests of every part of the jwt module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{Algorithm, AlgorithmSignature};

use super::{
    decode, new_claims, AsymmetricKeys, Claims, JwtAlgorithm, JwtError, JwtKeys, TokenType,
};

/// The reference server's `SECRET_KEY` (= simplejwt `SIGNING_KEY`).
pub(super) const REF_SECRET: &[u8] =
    b"djref-reference-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz";

// Issued by the real reference server (POST /auth/jwt/create/ for user id 2) at
// 1795967662; access exp 1795967962, refresh exp 1796054062.
pub(super) const SERVER_ACCESS: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjoxNzk1OTY3OTYyLCJpYXQiOjE3OTU5Njc2NjIsImp0aSI6ImZlZDU1NGM4MjlmOTQxNjQ4MDY5OGZkZDQ0MzZhNGNiIiwidXNlcl9pZCI6IjIifQ.RqivaB-dUjzT5kr-Seq0M5JWqsfYOO76Fb3XMN4ZfPo";
pub(super) const SERVER_REFRESH: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6MTc5NjA1NDA2MiwiaWF0IjoxNzk1OTY3NjYyLCJqdGkiOiJiY2EzMjM3NTJhMDc0Yjg5YjlkYmY1M2M3N2ZjMDViYiIsInVzZXJfaWQiOiIyIn0.UC3U0lA0H6riAwY2pnFJzeB5YozrhuNgMxplzOveXL0";
pub(super) const SERVER_ISSUED_AT: i64 = 1_795_967_662;

pub(super) const HS256_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
pub(super) const NOW: i64 = 1_800_000_000;
pub(super) const JTI: &str = "0123456789abcdef0123456789abcdef";
pub(super) const OMIT: &str = "<omit>";

pub(super) fn key() -> JwtKeys {
    JwtKeys::hs256(REF_SECRET)
}

pub(super) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(super) fn hs256(secret: &[u8], signing_input: &str) -> Vec<u8> {
    Hs256
        .sign(&Hs256Key::new(secret), signing_input.as_bytes())
        .as_bytes()
        .into_owned()
}

/// A token with arbitrary header and payload text, HS256-signed with `secret`.
pub(super) fn forge(secret: &[u8], header: &str, payload: &str) -> String {
    let signing_input = format!("{}.{}", b64(header), b64(payload));
    let signature = b64(hs256(secret, &signing_input));
    format!("{signing_input}.{signature}")
}

/// Signed with the right key: only the content is under test.
pub(super) fn signed(header: &str, payload: &str) -> String {
    forge(REF_SECRET, header, payload)
}

/// A valid access payload at `NOW`; each override replaces (or, with `OMIT`, removes)
/// a claim or appends a new one. Values are raw JSON text.
pub(super) fn payload(overrides: &[(&str, &str)]) -> String {
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

pub(super) fn decode_now(token: &str) -> Result<Claims, JwtError> {
    decode(&key(), token, NOW, 0)
}

pub(super) fn valid_token() -> String {
    signed(HS256_HEADER, &payload(&[]))
}

pub(super) fn access_claims() -> Claims {
    new_claims(TokenType::Access, "1", NOW, 300, JTI.to_owned())
}

/// A private ES256 JWK (from a fixed scalar) with `state`.
pub(super) fn es256_jwk(seed: u8, state: &str) -> serde_json::Value {
    let key = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
    with_state(
        serde_json::to_value(jwt_compact::jwk::JsonWebKey::from(&key)).unwrap(),
        state,
    )
}

/// A private Ed25519 JWK (from a fixed seed) with `state`.
pub(super) fn ed25519_jwk(seed: u8, state: &str) -> serde_json::Value {
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    with_state(
        serde_json::to_value(jwt_compact::jwk::JsonWebKey::from(&key)).unwrap(),
        state,
    )
}

fn with_state(mut jwk: serde_json::Value, state: &str) -> serde_json::Value {
    jwk["state"] = serde_json::Value::String(state.into());
    jwk
}

/// `{"keys":[…]}` of `entries`, as the JWT_PRIVATE_JWKS secret holds it.
pub(super) fn jwks_text(entries: &[serde_json::Value]) -> String {
    serde_json::json!({ "keys": entries }).to_string()
}

/// The key set of `entries`, which must be valid.
pub(super) fn key_set(algorithm: JwtAlgorithm, entries: &[serde_json::Value]) -> JwtKeys {
    JwtKeys::asymmetric(std::sync::Arc::new(
        AsymmetricKeys::from_json(algorithm, &jwks_text(entries)).unwrap(),
    ))
}

/// The thumbprint `kid` of a JWK given as JSON.
pub(super) fn kid_of(jwk: &serde_json::Value) -> String {
    let mut public = jwk.clone();
    if let Some(map) = public.as_object_mut() {
        map.remove("state");
    }
    let jwk: jwt_compact::jwk::JsonWebKey<'_> = serde_json::from_value(public).unwrap();
    super::thumbprint(&jwk)
}

/// A token with arbitrary header and payload, signed by the private JWK `jwk`.
pub(super) fn forge_asymmetric(jwk: &serde_json::Value, header: &str, payload: &str) -> String {
    use jwt_compact::alg::{Ed25519, Es256};
    let signing_input = format!("{}.{}", b64(header), b64(payload));
    let plain = {
        let mut p = jwk.clone();
        p.as_object_mut().unwrap().remove("state");
        p
    };
    let parsed: jwt_compact::jwk::JsonWebKey<'_> = serde_json::from_value(plain).unwrap();
    let signature = match jwk["kty"].as_str().unwrap() {
        "EC" => {
            let key = p256::ecdsa::SigningKey::try_from(&parsed).unwrap();
            Es256
                .sign(&key, signing_input.as_bytes())
                .as_bytes()
                .into_owned()
        }
        _ => {
            let key = ed25519_dalek::SigningKey::try_from(&parsed).unwrap();
            Ed25519
                .sign(&key, signing_input.as_bytes())
                .as_bytes()
                .into_owned()
        }
    };
    format!("{signing_input}.{}", b64(signature))
}
