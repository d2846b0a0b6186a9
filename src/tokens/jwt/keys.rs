//! The signing keys, and with them the choice of algorithm.
//!
//! Which algorithm a token is signed with is decided here and nowhere else: [`JwtKeys`] names
//! the one algorithm it signs and verifies with (the `ALGORITHM` setting), and the codec
//! accepts a token only if its header names exactly that algorithm.
//!
//! - **HS256** (the default): one HMAC key, `SIGNING_KEY`. The header is PyJWT's
//!   `{"alg":"HS256","typ":"JWT"}`; a `kid` in a presented header is ignored, as PyJWT does.
//! - **ES256** and **EdDSA** (Ed25519): a set of keys from `JWT_PRIVATE_JWKS`, each with a
//!   state. Exactly one `active` key signs; `standby` and `previous` keys only verify. Every
//!   token carries `kid`, the key's RFC 7638 thumbprint, and a token is verified with the key
//!   of that `kid` among the configured ones, or not at all. `jku`, `jwk`, `x5u` and friends
//!   are never key sources.
//!
//! Signing and verification are jwt-compact's (`Hs256`, `Es256` over p256, `Ed25519` over
//! ed25519-dalek; ECDSA and Ed25519 signatures are deterministic, so no randomness is needed).

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_compact::alg::{Ed25519, Es256, Hs256, Hs256Key};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmExt, AlgorithmSignature, Claims as PayloadClaims, Header};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::Sha256;

use super::JwtError;

/// The `typ` header simplejwt (through PyJWT) writes.
const HEADER_TYP: &str = "JWT";

/// The `ALGORITHM` setting: which algorithm signs and verifies every token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// HMAC-SHA256 with `SIGNING_KEY` (simplejwt's default).
    Hs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl JwtAlgorithm {
    /// The `alg` header value, compared byte for byte.
    pub fn name(self) -> &'static str {
        match self {
            JwtAlgorithm::Hs256 => "HS256",
            JwtAlgorithm::Es256 => "ES256",
            JwtAlgorithm::EdDsa => "EdDSA",
        }
    }

    /// The setting's value, spelled exactly as the `alg` header (`HS256`, `ES256`, `EdDSA`).
    pub fn parse(value: &str) -> Option<Self> {
        [
            JwtAlgorithm::Hs256,
            JwtAlgorithm::Es256,
            JwtAlgorithm::EdDsa,
        ]
        .into_iter()
        .find(|a| a.name() == value)
    }
}

/// What a configured asymmetric key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs every new token (exactly one key); verifies too.
    Active,
    /// Published and verifies, signs nothing yet: the next key, waiting for caches to learn it.
    Standby,
    /// Published and verifies, signs nothing any more: the last key, until its tokens expire.
    Previous,
}

impl KeyState {
    /// The `state` member's value in `JWT_PRIVATE_JWKS`.
    pub fn name(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Standby => "standby",
            KeyState::Previous => "previous",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [KeyState::Active, KeyState::Standby, KeyState::Previous]
            .into_iter()
            .find(|s| s.name() == value)
    }
}

/// A public key that verifies.
enum Verifying {
    Es256(p256::ecdsa::VerifyingKey),
    EdDsa(ed25519_dalek::VerifyingKey),
}

/// The private key that signs.
enum Signing {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
}

/// One configured key: its thumbprint, state, verifier and public JWK.
struct ConfiguredKey {
    kid: String,
    state: KeyState,
    verifying: Verifying,
    /// The public JWK as published: `kty`, `crv`, `x`[, `y`], `kid`, `alg`, `use`.
    public_jwk: Value,
}

/// The asymmetric key set of `JWT_PRIVATE_JWKS`, validated once per isolate.
pub struct AsymmetricKeys {
    algorithm: JwtAlgorithm,
    keys: Vec<ConfiguredKey>,
    /// Index of the active key in `keys`.
    active: usize,
    signing: Signing,
}

/// The RFC 7638 thumbprint of a JWK (SHA-256, base64url): the `kid` of its tokens.
pub fn thumbprint(jwk: &JsonWebKey<'_>) -> String {
    URL_SAFE_NO_PAD.encode(jwk.thumbprint::<Sha256>())
}

impl AsymmetricKeys {
    /// Parses and checks `JWT_PRIVATE_JWKS`: `{"keys":[{<private JWK>, "state": "active"}, …]}`.
    ///
    /// Each entry is a JWK of the algorithm's type (`EC`/`P-256` for ES256, `OKP`/`Ed25519` for
    /// EdDSA) with a `state` of `active`, `standby` or `previous`. The active key needs its
    /// private part `d`; the others may omit it. Optional `alg` must be the algorithm, optional
    /// `use` must be `sig`, optional `kid` must be the thumbprint. Exactly one key is active,
    /// and no key appears twice. Every problem is returned, each naming its key by position and,
    /// once known, by `kid`; no private value is ever part of a message.
    pub fn from_json(algorithm: JwtAlgorithm, text: &str) -> Result<Self, Vec<String>> {
        let invalid = |reason: &str| vec![format!("JWT_PRIVATE_JWKS: {reason}")];
        if algorithm == JwtAlgorithm::Hs256 {
            return Err(invalid(
                "set, but ALGORITHM is HS256, which signs with SIGNING_KEY (set ALGORITHM to \
                 ES256 or EdDSA, or remove the secret)",
            ));
        }
        let Ok(Value::Object(mut set)) = serde_json::from_str::<Value>(text) else {
            return Err(invalid(r#"expected JSON {"keys":[…]}"#));
        };
        let Some(Value::Array(entries)) = set.remove("keys") else {
            return Err(invalid(r#"expected JSON {"keys":[…]}"#));
        };
        let mut problems = Vec::new();
        let mut keys: Vec<(ConfiguredKey, Option<Signing>)> = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            match parse_entry(algorithm, entry) {
                Ok((key, _)) if keys.iter().any(|(k, _)| k.kid == key.kid) => {
                    problems.push(format!(
                        "JWT_PRIVATE_JWKS: key #{} (kid {}): the same key appears twice",
                        index + 1,
                        key.kid
                    ))
                }
                Ok(parsed) => keys.push(parsed),
                Err(reason) => {
                    problems.push(format!("JWT_PRIVATE_JWKS: key #{}{reason}", index + 1))
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let active: Vec<usize> = keys
            .iter()
            .enumerate()
            .filter(|(_, (k, _))| k.state == KeyState::Active)
            .map(|(i, _)| i)
            .collect();
        let &[active] = active.as_slice() else {
            let kids: Vec<&str> = active.iter().map(|&i| keys[i].0.kid.as_str()).collect();
            return Err(invalid(&if kids.is_empty() {
                "no active key (exactly one key must have \"state\":\"active\")".to_string()
            } else {
                format!(
                    "{} active keys (kids {}); exactly one may sign",
                    kids.len(),
                    kids.join(", ")
                )
            }));
        };
        let mut signing = None;
        let mut configured = Vec::with_capacity(keys.len());
        for (i, (key, private)) in keys.into_iter().enumerate() {
            if i == active {
                signing = private;
            }
            configured.push(key);
        }
        let Some(signing) = signing else {
            return Err(invalid("the active key has no private part"));
        };
        Ok(AsymmetricKeys {
            algorithm,
            keys: configured,
            active,
            signing,
        })
    }

    /// The `kid` of the key that signs.
    pub fn active_kid(&self) -> &str {
        self.keys
            .get(self.active)
            .map_or("", |key| key.kid.as_str())
    }

    /// Every configured key's `kid` and state, in configuration order.
    pub fn states(&self) -> Vec<(&str, KeyState)> {
        self.keys
            .iter()
            .map(|key| (key.kid.as_str(), key.state))
            .collect()
    }

    fn by_kid(&self, kid: &str) -> Option<&ConfiguredKey> {
        self.keys.iter().find(|key| key.kid == kid)
    }
}

/// One entry of the set; the error text starts where "key #N" ends.
fn parse_entry(
    algorithm: JwtAlgorithm,
    entry: Value,
) -> Result<(ConfiguredKey, Option<Signing>), String> {
    let Value::Object(mut fields) = entry else {
        return Err(": not a JSON object".into());
    };
    let state = match fields.remove("state") {
        Some(Value::String(s)) => KeyState::parse(&s),
        _ => None,
    }
    .ok_or(": \"state\" must be \"active\", \"standby\" or \"previous\"")?;
    if let Some(alg) = fields.remove("alg") {
        if alg.as_str() != Some(algorithm.name()) {
            return Err(format!(
                ": \"alg\" {alg} does not match ALGORITHM {}",
                algorithm.name()
            ));
        }
    }
    if let Some(usage) = fields.remove("use") {
        if usage.as_str() != Some("sig") {
            return Err(": \"use\" must be \"sig\"".into());
        }
    }
    let claimed_kid = fields.remove("kid");
    // serde's message could quote a field's value, a private one included: never shown.
    let jwk: JsonWebKey<'static> = serde_json::from_value(Value::Object(fields))
        .map_err(|_| ": not a valid JWK (kty, crv, x, y, d as base64url)".to_string())?;
    let kid = thumbprint(&jwk);
    let named = |reason: String| format!(" (kid {kid}): {reason}");
    let has_private = jwk.is_signing_key();
    let (verifying, signing) = match (algorithm, &jwk) {
        (JwtAlgorithm::Es256, JsonWebKey::EllipticCurve { curve, .. }) if curve == "P-256" => {
            let public = p256::ecdsa::VerifyingKey::try_from(&jwk)
                .map_err(|e| named(format!("invalid P-256 public key: {e}")))?;
            let private = if has_private {
                let key = p256::ecdsa::SigningKey::try_from(&jwk)
                    .map_err(|e| named(format!("invalid P-256 private key: {e}")))?;
                Some(Signing::Es256(key))
            } else {
                None
            };
            (Verifying::Es256(public), private)
        }
        (JwtAlgorithm::EdDsa, JsonWebKey::KeyPair { curve, .. }) if curve == "Ed25519" => {
            let public = ed25519_dalek::VerifyingKey::try_from(&jwk)
                .map_err(|e| named(format!("invalid Ed25519 public key: {e}")))?;
            let private = if has_private {
                let key = ed25519_dalek::SigningKey::try_from(&jwk)
                    .map_err(|e| named(format!("invalid Ed25519 private key: {e}")))?;
                Some(Signing::EdDsa(key))
            } else {
                None
            };
            (Verifying::EdDsa(public), private)
        }
        _ => {
            return Err(named(format!(
                "a {} key does not fit ALGORITHM {} (expected {})",
                key_description(&jwk),
                algorithm.name(),
                match algorithm {
                    JwtAlgorithm::EdDsa => "kty OKP, crv Ed25519",
                    _ => "kty EC, crv P-256",
                }
            )))
        }
    };
    if let Some(claimed) = claimed_kid {
        if claimed.as_str() != Some(kid.as_str()) {
            return Err(named(
                "\"kid\" is not the key's RFC 7638 thumbprint (leave it out, or use this one)"
                    .into(),
            ));
        }
    }
    if state == KeyState::Active && signing.is_none() {
        return Err(named(
            "the active key needs its private part \"d\"".to_string(),
        ));
    }
    let mut public_jwk = match serde_json::to_value(jwk.to_verifying_key()) {
        Ok(Value::Object(map)) => map,
        _ => return Err(named("cannot write the public key".into())),
    };
    public_jwk.insert("kid".into(), json!(kid));
    public_jwk.insert("alg".into(), json!(algorithm.name()));
    public_jwk.insert("use".into(), json!("sig"));
    Ok((
        ConfiguredKey {
            kid,
            state,
            verifying,
            public_jwk: Value::Object(public_jwk),
        },
        signing,
    ))
}

/// `kty`/`crv` of a key, for a message.
fn key_description(jwk: &JsonWebKey<'_>) -> String {
    match jwk {
        JsonWebKey::EllipticCurve { curve, .. } => format!("kty EC, crv {curve}"),
        JsonWebKey::KeyPair { curve, .. } => format!("kty OKP, crv {curve}"),
        JsonWebKey::Rsa { .. } => "kty RSA".into(),
        JsonWebKey::Symmetric { .. } => "kty oct".into(),
        _ => "different".into(),
    }
}

/// Where the keys come from.
#[derive(Clone)]
enum Source {
    /// The signing key, then the fallbacks that only verify (SIGNING_KEY_FALLBACKS).
    Hmac(Hs256Key, Vec<Hs256Key>),
    Asymmetric(Arc<AsymmetricKeys>),
}

/// The keys every token is signed and verified with, and the `iss`/`aud` every token carries.
#[derive(Clone)]
pub struct JwtKeys {
    source: Source,
    issuer: Option<String>,
    audience: Option<String>,
}

impl JwtKeys {
    /// HS256 with the raw secret (simplejwt's `SIGNING_KEY`, i.e. the UTF-8 bytes of the
    /// string). The minimum length (256 bits, `config::MIN_SIGNING_KEY_BYTES`) is enforced
    /// where the settings are loaded, not here.
    pub fn hs256(secret: &[u8]) -> Self {
        JwtKeys {
            source: Source::Hmac(Hs256Key::new(secret), Vec::new()),
            issuer: None,
            audience: None,
        }
    }

    /// Earlier HS256 keys (SIGNING_KEY_FALLBACKS) that still verify, tried after the signing
    /// key, in order; no effect on ES256 and EdDSA, whose key set has its own `previous` state.
    pub fn with_fallbacks(mut self, fallbacks: &[Vec<u8>]) -> Self {
        if let Source::Hmac(_, old) = &mut self.source {
            old.extend(fallbacks.iter().map(Hs256Key::new));
        }
        self
    }

    /// The ES256 or EdDSA key set.
    pub fn asymmetric(keys: Arc<AsymmetricKeys>) -> Self {
        JwtKeys {
            source: Source::Asymmetric(keys),
            issuer: None,
            audience: None,
        }
    }

    /// simplejwt's `ISSUER` and `AUDIENCE`: written into every token and required on every
    /// read when set; neither written nor checked when `None`.
    pub fn with_claims(mut self, issuer: Option<String>, audience: Option<String>) -> Self {
        self.issuer = issuer;
        self.audience = audience;
        self
    }

    /// The `alg` header value of these keys' tokens. [`decode`](super::decode) compares the
    /// header against it byte for byte, so the configuration, not the token, chooses the
    /// algorithm.
    pub(super) fn algorithm(&self) -> &'static str {
        match &self.source {
            Source::Hmac(..) => JwtAlgorithm::Hs256.name(),
            Source::Asymmetric(keys) => keys.algorithm.name(),
        }
    }

    /// `ISSUER`, when set.
    pub(super) fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// `AUDIENCE`, when set.
    pub(super) fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The public keys as a JWK Set (`{"keys":[…]}`, each with `kid`, `alg`, `use`); empty
    /// with HS256, whose key is secret.
    pub fn public_jwks(&self) -> Value {
        let keys: Vec<Value> = match &self.source {
            Source::Hmac(..) => Vec::new(),
            Source::Asymmetric(set) => set.keys.iter().map(|k| k.public_jwk.clone()).collect(),
        };
        json!({ "keys": keys })
    }

    /// Signs `claims` into a compact token. The header is `{"alg":…,"typ":"JWT"}`, plus the
    /// active key's `kid` for ES256 and EdDSA.
    ///
    /// jwt-compact's token builder returns a `Result`; it can only fail if serde_json fails
    /// to serialise, which string keys and `Value`s never do. That impossible error is
    /// reported as [`JwtError::Invalid`] rather than a panic.
    pub(super) fn sign<T: Serialize>(&self, claims: &PayloadClaims<T>) -> Result<String, JwtError> {
        let header = Header::empty().with_token_type(HEADER_TYP);
        let token = match &self.source {
            Source::Hmac(key, _) => Hs256.token(&header, claims, key),
            Source::Asymmetric(set) => {
                let header = header.with_key_id(set.active_kid());
                match &set.signing {
                    Signing::Es256(key) => Es256.token(&header, claims, key),
                    Signing::EdDsa(key) => Ed25519.token(&header, claims, key),
                }
            }
        };
        token.map_err(|_| JwtError::Invalid)
    }

    /// Verifies `signature` over `signing_input` with the configured key the header names.
    ///
    /// HS256 has one key and ignores `kid` (as PyJWT). ES256 and EdDSA need a `kid` naming
    /// one of the configured keys; any other `kid`, or none, is [`JwtError::Invalid`] without
    /// trying any key.
    pub(super) fn verify(
        &self,
        header: &Map<String, Value>,
        signing_input: &str,
        signature: &[u8],
    ) -> Result<(), JwtError> {
        match &self.source {
            // The current key first: with no rotation under way it is the only one tried.
            Source::Hmac(key, fallbacks) => {
                let verifies = |k: &Hs256Key| verify_with(Hs256, k, signing_input, signature);
                if std::iter::once(key)
                    .chain(fallbacks)
                    .any(|k| verifies(k).is_ok())
                {
                    Ok(())
                } else {
                    Err(JwtError::Invalid)
                }
            }
            Source::Asymmetric(set) => {
                let kid = header
                    .get("kid")
                    .and_then(Value::as_str)
                    .ok_or(JwtError::Invalid)?;
                let key = set.by_kid(kid).ok_or(JwtError::Invalid)?;
                match &key.verifying {
                    Verifying::Es256(key) => verify_with(Es256, key, signing_input, signature),
                    Verifying::EdDsa(key) => verify_with(Ed25519, key, signing_input, signature),
                }
            }
        }
    }
}

/// One algorithm's check, through jwt-compact (HMAC compared in constant time).
fn verify_with<A: Algorithm>(
    algorithm: A,
    key: &A::VerifyingKey,
    signing_input: &str,
    signature: &[u8],
) -> Result<(), JwtError> {
    // `Hs256Signature::try_from_slice` panics on a slice of the wrong length
    // (`GenericArray::clone_from_slice`), so the length is checked here first, for all.
    let expected_len = <A::Signature as AlgorithmSignature>::LENGTH.map(|len| len.get());
    if expected_len != Some(signature.len()) {
        return Err(JwtError::Invalid);
    }
    let signature = A::Signature::try_from_slice(signature).map_err(|_| JwtError::Invalid)?;
    if algorithm.verify_signature(&signature, key, signing_input.as_bytes()) {
        Ok(())
    } else {
        Err(JwtError::Invalid)
    }
}

impl fmt::Debug for JwtKeys {
    // A secret must never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JwtKeys({}, ***)", self.algorithm())
    }
}

impl fmt::Debug for AsymmetricKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsymmetricKeys")
            .field("algorithm", &self.algorithm.name())
            .field("keys", &self.states())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::tokens::jwt::test_support::*;
    use crate::tokens::jwt::{decode, encode};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    #[test]
    fn key_debug_output_hides_the_secret() {
        assert_eq!(format!("{:?}", key()), "JwtKeys(HS256, ***)");
    }

    #[test]
    fn reference_server_tokens_fail_under_another_key() {
        let other = JwtKeys::hs256(b"another-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz");
        assert_eq!(
            decode(&other, SERVER_ACCESS, SERVER_ISSUED_AT, 0),
            Err(JwtError::Invalid)
        );
    }

    #[test]
    fn hs256_signed_with_an_empty_or_common_secret_is_rejected() {
        for secret in [&b""[..], b"secret", b"your-256-bit-secret", b"changeme"] {
            let token = forge(secret, HS256_HEADER, &payload(&[]));
            assert_eq!(decode_now(&token), Err(JwtError::Invalid));
        }
    }

    #[test]
    fn under_hs256_a_key_or_key_url_in_the_header_is_never_used() {
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

    // ---- ES256 and EdDSA key sets ------------------------------------------------------------

    const ASYMMETRIC: [JwtAlgorithm; 2] = [JwtAlgorithm::Es256, JwtAlgorithm::EdDsa];

    fn jwk(algorithm: JwtAlgorithm, seed: u8, state: &str) -> Value {
        match algorithm {
            JwtAlgorithm::Es256 => es256_jwk(seed, state),
            _ => ed25519_jwk(seed, state),
        }
    }

    fn header(algorithm: JwtAlgorithm, kid: &str) -> String {
        format!(
            r#"{{"alg":"{}","typ":"JWT","kid":"{kid}"}}"#,
            algorithm.name()
        )
    }

    fn header_of(token: &str) -> Value {
        let header = token.split('.').next().unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
    }

    fn problems(algorithm: JwtAlgorithm, text: &str) -> Vec<String> {
        AsymmetricKeys::from_json(algorithm, text).unwrap_err()
    }

    #[test]
    fn asymmetric_tokens_round_trip_and_name_the_active_key_by_its_thumbprint() {
        for algorithm in ASYMMETRIC {
            let active = jwk(algorithm, 1, "active");
            let keys = key_set(algorithm, &[jwk(algorithm, 2, "previous"), active.clone()]);
            let token = encode(&keys, &access_claims()).unwrap();
            assert_eq!(
                header_of(&token),
                json!({"alg": algorithm.name(), "kid": kid_of(&active), "typ": "JWT"})
            );
            assert_eq!(decode(&keys, &token, NOW, 0), Ok(access_claims()));
        }
    }

    #[test]
    fn the_thumbprint_is_rfc_8037s_for_its_ed25519_example_key() {
        let rfc_key = json!({
            "kty": "OKP", "crv": "Ed25519",
            "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            "state": "active"
        });
        assert_eq!(
            kid_of(&rfc_key),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        let keys = key_set(JwtAlgorithm::EdDsa, &[rfc_key]);
        // RFC 8037 A.4: the example signature verifies under that key.
        let header: Map<String, Value> = serde_json::from_value(
            json!({"alg": "EdDSA", "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"}),
        )
        .unwrap();
        let signature = URL_SAFE_NO_PAD
            .decode("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
            .unwrap();
        let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        assert_eq!(keys.verify(&header, input, &signature), Ok(()));
        assert_eq!(
            keys.verify(&header, &format!("{input}x"), &signature),
            Err(JwtError::Invalid)
        );
    }

    #[test]
    fn standby_and_previous_keys_verify_but_only_the_active_key_signs() {
        for algorithm in ASYMMETRIC {
            let (active, standby, previous) = (
                jwk(algorithm, 1, "active"),
                jwk(algorithm, 2, "standby"),
                jwk(algorithm, 3, "previous"),
            );
            let keys = key_set(
                algorithm,
                &[active.clone(), standby.clone(), previous.clone()],
            );
            for other in [&standby, &previous] {
                let token =
                    forge_asymmetric(other, &header(algorithm, &kid_of(other)), &payload(&[]));
                assert!(
                    decode(&keys, &token, NOW, 0).is_ok(),
                    "{}",
                    algorithm.name()
                );
            }
            let ours = encode(&keys, &access_claims()).unwrap();
            assert_eq!(header_of(&ours)["kid"], json!(kid_of(&active)));
        }
    }

    #[test]
    fn a_kid_that_names_no_configured_key_or_no_kid_at_all_is_invalid() {
        for algorithm in ASYMMETRIC {
            let active = jwk(algorithm, 1, "active");
            let keys = key_set(algorithm, std::slice::from_ref(&active));
            for header in [
                header(algorithm, "unknown"),
                header(algorithm, ""),
                format!(r#"{{"alg":"{}","typ":"JWT"}}"#, algorithm.name()),
                format!(r#"{{"alg":"{}","kid":5}}"#, algorithm.name()),
            ] {
                let token = forge_asymmetric(&active, &header, &payload(&[]));
                assert_eq!(
                    decode(&keys, &token, NOW, 0),
                    Err(JwtError::Invalid),
                    "{header}"
                );
            }
        }
    }

    #[test]
    fn a_token_signed_by_a_foreign_key_under_our_kid_is_invalid() {
        for algorithm in ASYMMETRIC {
            let active = jwk(algorithm, 1, "active");
            let keys = key_set(algorithm, std::slice::from_ref(&active));
            let foreign = jwk(algorithm, 9, "active");
            for kid in [kid_of(&active), kid_of(&foreign)] {
                let token = forge_asymmetric(&foreign, &header(algorithm, &kid), &payload(&[]));
                assert_eq!(decode(&keys, &token, NOW, 0), Err(JwtError::Invalid));
            }
        }
    }

    #[test]
    fn a_key_of_the_set_under_another_keys_kid_is_invalid() {
        for algorithm in ASYMMETRIC {
            let (active, standby) = (jwk(algorithm, 1, "active"), jwk(algorithm, 2, "standby"));
            let keys = key_set(algorithm, &[active.clone(), standby.clone()]);
            let token = forge_asymmetric(
                &standby,
                &header(algorithm, &kid_of(&active)),
                &payload(&[]),
            );
            assert_eq!(decode(&keys, &token, NOW, 0), Err(JwtError::Invalid));
        }
    }

    #[test]
    fn hs256_keyed_with_the_public_key_is_refused_under_an_asymmetric_algorithm() {
        for algorithm in ASYMMETRIC {
            let active = jwk(algorithm, 1, "active");
            let keys = key_set(algorithm, std::slice::from_ref(&active));
            let public = keys.public_jwks()["keys"][0].to_string();
            let x = URL_SAFE_NO_PAD
                .decode(active["x"].as_str().unwrap())
                .unwrap();
            let kid = kid_of(&active);
            for secret in [public.as_bytes(), &x, kid.as_bytes()] {
                for header in [
                    format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#),
                    HS256_HEADER.to_string(),
                ] {
                    let token = forge(secret, &header, &payload(&[]));
                    assert_eq!(decode(&keys, &token, NOW, 0), Err(JwtError::Invalid));
                }
            }
        }
    }

    #[test]
    fn one_asymmetric_algorithm_is_refused_under_the_other_and_under_hs256() {
        let es = jwk(JwtAlgorithm::Es256, 1, "active");
        let ed = jwk(JwtAlgorithm::EdDsa, 1, "active");
        let es_keys = key_set(JwtAlgorithm::Es256, std::slice::from_ref(&es));
        let ed_keys = key_set(JwtAlgorithm::EdDsa, std::slice::from_ref(&ed));
        let es_token = encode(&es_keys, &access_claims()).unwrap();
        let ed_token = encode(&ed_keys, &access_claims()).unwrap();
        assert_eq!(decode(&ed_keys, &es_token, NOW, 0), Err(JwtError::Invalid));
        assert_eq!(decode(&es_keys, &ed_token, NOW, 0), Err(JwtError::Invalid));
        for token in [&es_token, &ed_token] {
            assert_eq!(decode_now(token), Err(JwtError::Invalid));
        }
        // An EdDSA signature relabelled ES256 (same length) under the right kid.
        let (_, rest) = ed_token.split_once('.').unwrap();
        let relabelled = format!("{}.{rest}", b64(header(JwtAlgorithm::Es256, &kid_of(&es))));
        assert_eq!(
            decode(&es_keys, &relabelled, NOW, 0),
            Err(JwtError::Invalid)
        );
        // And an HS256 token of the shared configuration is refused by the asymmetric sets.
        assert_eq!(
            decode(&es_keys, &valid_token(), NOW, 0),
            Err(JwtError::Invalid)
        );
    }

    #[test]
    fn asymmetric_signatures_of_every_wrong_length_or_any_bit_flip_are_rejected() {
        for algorithm in ASYMMETRIC {
            let keys = key_set(algorithm, &[jwk(algorithm, 1, "active")]);
            let token = encode(&keys, &access_claims()).unwrap();
            let (input, signature_b64) = token.rsplit_once('.').unwrap();
            let signature = URL_SAFE_NO_PAD.decode(signature_b64).unwrap();
            assert_eq!(signature.len(), 64);
            for bit in 0..signature.len() * 8 {
                let mut flipped = signature.clone();
                flipped[bit / 8] ^= 1 << (bit % 8);
                let forged = format!("{input}.{}", b64(&flipped));
                assert_eq!(
                    decode(&keys, &forged, NOW, 0),
                    Err(JwtError::Invalid),
                    "bit {bit}"
                );
            }
            for len in (0..=130).filter(|&len| len != 64) {
                let forged = format!("{input}.{}", b64(vec![0xA5u8; len]));
                assert_eq!(
                    decode(&keys, &forged, NOW, 0),
                    Err(JwtError::Invalid),
                    "len {len}"
                );
            }
            let zero = format!("{input}.{}", b64([0u8; 64]));
            assert_eq!(decode(&keys, &zero, NOW, 0), Err(JwtError::Invalid));
        }
    }

    #[test]
    fn the_jwk_set_publishes_every_public_key_with_kid_alg_and_use_and_no_private_part() {
        for algorithm in ASYMMETRIC {
            let entries = [
                jwk(algorithm, 1, "active"),
                jwk(algorithm, 2, "standby"),
                jwk(algorithm, 3, "previous"),
            ];
            let set = key_set(algorithm, &entries).public_jwks();
            let published = set["keys"].as_array().unwrap();
            assert_eq!(published.len(), 3);
            for (public, private) in published.iter().zip(&entries) {
                assert_eq!(public["kid"], json!(kid_of(private)));
                assert_eq!(public["alg"], json!(algorithm.name()));
                assert_eq!(public["use"], json!("sig"));
                assert_eq!(public["x"], private["x"]);
                assert!(public.get("d").is_none() && public.get("state").is_none());
            }
            assert!(!set.to_string().contains(entries[0]["d"].as_str().unwrap()));
        }
        assert_eq!(key().public_jwks(), json!({"keys": []}));
    }

    #[test]
    fn standby_and_previous_keys_may_come_without_their_private_part() {
        for algorithm in ASYMMETRIC {
            let mut previous = jwk(algorithm, 2, "previous");
            previous.as_object_mut().unwrap().remove("d");
            let keys = key_set(algorithm, &[jwk(algorithm, 1, "active"), previous]);
            assert_eq!(keys.public_jwks()["keys"].as_array().unwrap().len(), 2);
        }
    }

    #[test]
    fn a_matching_kid_alg_and_use_in_the_secret_are_accepted() {
        let mut active = es256_jwk(1, "active");
        active["kid"] = json!(kid_of(&active));
        active["alg"] = json!("ES256");
        active["use"] = json!("sig");
        assert!(AsymmetricKeys::from_json(JwtAlgorithm::Es256, &jwks_text(&[active])).is_ok());
    }

    #[test]
    fn every_configuration_error_names_its_key_and_never_a_private_value() {
        let es = es256_jwk(1, "active");
        let kid = kid_of(&es);
        let d = es["d"].as_str().unwrap().to_string();
        let mut wrong_kid = es.clone();
        wrong_kid["kid"] = json!("abc");
        let mut wrong_alg = es.clone();
        wrong_alg["alg"] = json!("EdDSA");
        let mut wrong_use = es.clone();
        wrong_use["use"] = json!("enc");
        let mut bad_state = es.clone();
        bad_state["state"] = json!("retired");
        let mut no_d = es.clone();
        no_d.as_object_mut().unwrap().remove("d");
        let mut bad_d = es.clone();
        bad_d["d"] = json!(b64([7u8; 32]));
        let mut short_x = es.clone();
        short_x["x"] = json!(b64([7u8; 5]));
        let mut not_base64 = es.clone();
        not_base64["d"] = json!(format!("{d}!!"));
        let cases: Vec<(String, &str)> = vec![
            (jwks_text(&[wrong_kid]), "key #1 (kid "),
            (jwks_text(&[wrong_alg]), "key #1: \"alg\""),
            (jwks_text(&[wrong_use]), "key #1: \"use\""),
            (jwks_text(&[bad_state]), "key #1: \"state\""),
            (jwks_text(&[no_d]), "needs its private part"),
            (jwks_text(&[bad_d]), "invalid P-256 private key"),
            (jwks_text(&[short_x]), "invalid P-256 public key"),
            (jwks_text(&[not_base64]), "key #1: not a valid JWK"),
            (
                jwks_text(&[ed25519_jwk(1, "active")]),
                "does not fit ALGORITHM ES256",
            ),
            (
                jwks_text(&[json!({"kty":"oct","k":"c2VjcmV0","state":"active"})]),
                "kty oct",
            ),
            (jwks_text(&[es.clone(), es.clone()]), "key #2 (kid "),
            (jwks_text(&[]), "no active key"),
            (jwks_text(&[es256_jwk(2, "standby")]), "no active key"),
            (
                jwks_text(&[es.clone(), es256_jwk(2, "active")]),
                "2 active keys",
            ),
            ("[]".into(), "expected JSON"),
            ("{oops".into(), "expected JSON"),
            (jwks_text(&[json!("x")]), "key #1: not a JSON object"),
        ];
        for (text, expected) in cases {
            let found = problems(JwtAlgorithm::Es256, &text);
            let joined = found.join("; ");
            assert!(joined.starts_with("JWT_PRIVATE_JWKS: "), "{joined}");
            assert!(joined.contains(expected), "{expected}: {joined}");
            assert!(!joined.contains(&d), "{joined}");
        }
        let two = problems(
            JwtAlgorithm::Es256,
            &jwks_text(&[es.clone(), es256_jwk(2, "active")]),
        );
        assert!(two[0].contains(&kid), "{two:?}");
        assert!(problems(JwtAlgorithm::Hs256, &jwks_text(&[es]))[0].contains("ALGORITHM is HS256"));
    }
}
