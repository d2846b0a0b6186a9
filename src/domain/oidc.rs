//! The pure parts of social sign-in: PKCE (RFC 7636, S256 only), the OpenID Connect discovery
//! document, and the verification of an ID token against the provider's JWK Set (RS256 and
//! ES256) with the claim checks of OpenID Connect Core 3.1.3.7. No clock is read here: the time
//! always comes in as a parameter.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_compact::alg::Es256;
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::rs256;

/// The PKCE challenge of `verifier` by the S256 method: BASE64URL(SHA256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A PKCE verifier (43 characters of the unreserved set) from 32 random bytes.
pub fn pkce_verifier(random: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// What this service needs of a provider's discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The issuer identifier, exactly as the ID tokens carry it.
    pub issuer: String,
    /// Where the browser is sent.
    pub authorization_endpoint: String,
    /// Where the code is exchanged.
    pub token_endpoint: String,
    /// The provider's JWK Set.
    pub jwks_uri: String,
}

/// Why a discovery document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    /// Not a JSON object, or a required member is missing or not a string.
    Malformed(&'static str),
    /// Its `issuer` is not the configured one (OpenID Connect Discovery 4.3).
    IssuerMismatch,
    /// An endpoint is not https (http only for a loopback host).
    InsecureEndpoint(&'static str),
}

/// Whether `url` may be called: https, or http to a loopback host (local providers in tests
/// and development).
pub fn acceptable_url(url: &str) -> bool {
    if url.starts_with("https://") {
        return url.len() > "https://".len();
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// The issuer without a trailing slash, as configuration spells it either way.
fn issuer_key(issuer: &str) -> &str {
    issuer.strip_suffix('/').unwrap_or(issuer)
}

/// The discovery URL of `issuer` (`/.well-known/openid-configuration` appended).
pub fn discovery_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer_key(issuer))
}

/// Parses a discovery document for the configured `issuer`.
pub fn parse_discovery(document: &str, issuer: &str) -> Result<Discovery, DiscoveryError> {
    let value: Value =
        serde_json::from_str(document).map_err(|_| DiscoveryError::Malformed("not JSON"))?;
    let object = value
        .as_object()
        .ok_or(DiscoveryError::Malformed("not an object"))?;
    let member = |name: &'static str| -> Result<String, DiscoveryError> {
        object
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or(DiscoveryError::Malformed(name))
    };
    let found = Discovery {
        issuer: member("issuer")?,
        authorization_endpoint: member("authorization_endpoint")?,
        token_endpoint: member("token_endpoint")?,
        jwks_uri: member("jwks_uri")?,
    };
    if issuer_key(&found.issuer) != issuer_key(issuer) {
        return Err(DiscoveryError::IssuerMismatch);
    }
    for (name, url) in [
        ("authorization_endpoint", &found.authorization_endpoint),
        ("token_endpoint", &found.token_endpoint),
        ("jwks_uri", &found.jwks_uri),
    ] {
        if !acceptable_url(url) {
            return Err(DiscoveryError::InsecureEndpoint(name));
        }
    }
    Ok(found)
}

/// What an ID token must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected<'a> {
    /// Issuers accepted in `iss` (the discovered one; Google also writes it without a scheme).
    pub issuers: &'a [String],
    /// This client's id: in `aud`, and `azp` when there are several audiences.
    pub client_id: &'a str,
    /// The nonce sent with the authorization request.
    pub nonce: &'a str,
    /// Unix seconds now.
    pub now: i64,
    /// Seconds of clock skew tolerated on `exp`, `nbf` and a future `iat`.
    pub leeway: i64,
    /// Seconds after `iat` an ID token is still taken (python-social-auth's ID_TOKEN_MAX_AGE).
    pub max_age: i64,
}

/// Why an ID token was refused; each is one of python-social-auth's reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdTokenError {
    /// Not a compact JWS with JSON header and claims.
    Malformed,
    /// An algorithm other than RS256 / ES256 (`none` included), no key for it, or a signature
    /// that does not verify.
    Signature,
    /// A required claim is missing.
    MissingClaim(&'static str),
    /// A claim has the wrong value (`iss`, `aud`, `azp`, `sub`).
    InvalidClaim(&'static str),
    /// `nonce` is not the one sent.
    Nonce,
    /// `exp` passed, or `iat` older than the maximum age.
    Expired,
    /// `nbf` or `iat` in the future beyond the leeway.
    NotYetValid,
}

/// Longest ID token looked at.
pub const MAX_ID_TOKEN_LEN: usize = 16 * 1024;

/// Verifies `token` against the JWK Set `jwks` and checks its claims; the claims on success.
pub fn verify_id_token(
    token: &str,
    jwks: &Value,
    expected: &Expected<'_>,
) -> Result<Map<String, Value>, IdTokenError> {
    if token.len() > MAX_ID_TOKEN_LEN {
        return Err(IdTokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdTokenError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| IdTokenError::Malformed)
    };
    let header: Map<String, Value> =
        serde_json::from_slice(&decode(header_b64)?).map_err(|_| IdTokenError::Malformed)?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&decode(claims_b64)?).map_err(|_| IdTokenError::Malformed)?;
    let signature = decode(signature_b64)?;
    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];

    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let kid = header.get("kid").and_then(Value::as_str);
    if header.contains_key("crit") {
        return Err(IdTokenError::Signature);
    }
    let verified = candidate_keys(jwks, alg, kid)
        .iter()
        .any(|key| verify_with_key(alg, key, signing_input.as_bytes(), &signature));
    if !verified {
        return Err(IdTokenError::Signature);
    }
    check_claims(&claims, expected)?;
    Ok(claims)
}

/// The keys of the set that may have made a signature with `alg` (and `kid`, when given).
fn candidate_keys<'a>(jwks: &'a Value, alg: &str, kid: Option<&str>) -> Vec<&'a Value> {
    let kty = match alg {
        "RS256" => "RSA",
        "ES256" => "EC",
        _ => return Vec::new(),
    };
    let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
        return Vec::new();
    };
    keys.iter()
        .filter(|k| k.get("kty").and_then(Value::as_str) == Some(kty))
        .filter(|k| {
            k.get("use")
                .and_then(Value::as_str)
                .is_none_or(|u| u == "sig")
        })
        .filter(|k| {
            k.get("alg")
                .and_then(Value::as_str)
                .is_none_or(|a| a == alg)
        })
        .filter(|k| match kid {
            Some(kid) => k.get("kid").and_then(Value::as_str) == Some(kid),
            None => true,
        })
        .collect()
}

/// The public members of a JWK, without `kid`, `use`, `alg` and the like, which jwt-compact's
/// JWK type does not take.
fn public_jwk(key: &Value) -> Option<JsonWebKey<'static>> {
    let object = key.as_object()?;
    let keep: &[&str] = match object.get("kty").and_then(Value::as_str)? {
        "RSA" => &["kty", "n", "e"],
        "EC" => &["kty", "crv", "x", "y"],
        _ => return None,
    };
    let members: Map<String, Value> = keep
        .iter()
        .filter_map(|name| object.get(*name).map(|v| ((*name).to_string(), v.clone())))
        .collect();
    serde_json::from_value(Value::Object(members)).ok()
}

fn verify_with_key(alg: &str, key: &Value, input: &[u8], signature: &[u8]) -> bool {
    let Some(jwk) = public_jwk(key) else {
        return false;
    };
    match alg {
        "RS256" => verify_rs256(&jwk, input, signature),
        "ES256" => {
            if !matches!(&jwk, JsonWebKey::EllipticCurve { curve, .. } if curve == "P-256") {
                return false;
            }
            let Ok(public) = p256::ecdsa::VerifyingKey::try_from(&jwk) else {
                return false;
            };
            // jwt-compact's fixed-length signature type panics on another length.
            if signature.len() != 64 {
                return false;
            }
            let Ok(signature) = <Es256 as Algorithm>::Signature::try_from_slice(signature) else {
                return false;
            };
            Es256.verify_signature(&signature, &public, input)
        }
        _ => false,
    }
}

/// RS256 with the shared verifier (`domain::rs256`, the `rsa` crate directly: jwt-compact's
/// `rsa` feature would also pull an RNG for key generation that a verifier never needs).
fn verify_rs256(jwk: &JsonWebKey<'_>, input: &[u8], signature: &[u8]) -> bool {
    let JsonWebKey::Rsa {
        modulus,
        public_exponent,
        ..
    } = jwk
    else {
        return false;
    };
    // 2048 to 4096 bits (RFC 7518 3.3 asks for 2048 at least), an odd exponent from 3.
    rs256::PublicKey::from_be_bytes(modulus, public_exponent)
        .is_ok_and(|key| key.verify(input, signature))
}

fn int_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, IdTokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or(IdTokenError::InvalidClaim(name)),
    }
}

/// OpenID Connect Core 3.1.3.7, steps 2 to 11 (the ones that apply to a confidential client).
fn check_claims(claims: &Map<String, Value>, e: &Expected<'_>) -> Result<(), IdTokenError> {
    let iss = claims
        .get("iss")
        .ok_or(IdTokenError::MissingClaim("iss"))?
        .as_str()
        .ok_or(IdTokenError::InvalidClaim("iss"))?;
    if !e.issuers.iter().any(|i| i == iss) {
        return Err(IdTokenError::InvalidClaim("iss"));
    }
    let audiences: Vec<&str> = match claims.get("aud").ok_or(IdTokenError::MissingClaim("aud"))? {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => return Err(IdTokenError::InvalidClaim("aud")),
    };
    if !audiences.contains(&e.client_id) {
        return Err(IdTokenError::InvalidClaim("aud"));
    }
    let azp = claims.get("azp").map(|v| v.as_str());
    match azp {
        Some(Some(azp)) if azp != e.client_id => return Err(IdTokenError::InvalidClaim("azp")),
        Some(None) => return Err(IdTokenError::InvalidClaim("azp")),
        None if audiences.len() > 1 => return Err(IdTokenError::MissingClaim("azp")),
        _ => {}
    }
    match claims.get("sub") {
        None => return Err(IdTokenError::MissingClaim("sub")),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => {}
        Some(_) => return Err(IdTokenError::InvalidClaim("sub")),
    }
    let exp = int_claim(claims, "exp")?.ok_or(IdTokenError::MissingClaim("exp"))?;
    if e.now >= exp.saturating_add(e.leeway) {
        return Err(IdTokenError::Expired);
    }
    let iat = int_claim(claims, "iat")?.ok_or(IdTokenError::MissingClaim("iat"))?;
    if iat > e.now.saturating_add(e.leeway) {
        return Err(IdTokenError::NotYetValid);
    }
    if e.now > iat.saturating_add(e.max_age) {
        return Err(IdTokenError::Expired);
    }
    if let Some(nbf) = int_claim(claims, "nbf")? {
        if nbf > e.now.saturating_add(e.leeway) {
            return Err(IdTokenError::NotYetValid);
        }
    }
    match claims.get("nonce").and_then(Value::as_str) {
        Some(nonce) if !e.nonce.is_empty() && nonce == e.nonce => Ok(()),
        _ => Err(IdTokenError::Nonce),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pkce_s256_matches_the_rfc_7636_appendix_b_vector() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        // The verifier of the RFC's octets (Appendix B) is the same string.
        let octets: [u8; 32] = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        assert_eq!(
            pkce_verifier(&octets),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
    }

    #[test]
    fn discovery_needs_the_configured_issuer_and_secure_endpoints() {
        let doc = json!({
            "issuer": "https://id.example.com",
            "authorization_endpoint": "https://id.example.com/auth",
            "token_endpoint": "https://id.example.com/token",
            "jwks_uri": "https://id.example.com/jwks",
            "userinfo_endpoint": "https://id.example.com/me",
        })
        .to_string();
        let found = parse_discovery(&doc, "https://id.example.com/").unwrap();
        assert_eq!(found.token_endpoint, "https://id.example.com/token");
        assert_eq!(found.jwks_uri, "https://id.example.com/jwks");
        assert_eq!(
            parse_discovery(&doc, "https://evil.example.com"),
            Err(DiscoveryError::IssuerMismatch)
        );
        let insecure = doc.replace(
            "https://id.example.com/token",
            "http://id.example.com/token",
        );
        assert_eq!(
            parse_discovery(&insecure, "https://id.example.com"),
            Err(DiscoveryError::InsecureEndpoint("token_endpoint"))
        );
        let missing = json!({"issuer": "https://id.example.com"}).to_string();
        assert_eq!(
            parse_discovery(&missing, "https://id.example.com"),
            Err(DiscoveryError::Malformed("authorization_endpoint"))
        );
        assert_eq!(
            parse_discovery("[]", "https://id.example.com"),
            Err(DiscoveryError::Malformed("not an object"))
        );
        assert_eq!(
            discovery_url("https://id.example.com/"),
            "https://id.example.com/.well-known/openid-configuration"
        );
    }

    #[test]
    fn only_https_or_loopback_http_urls_are_called() {
        assert!(acceptable_url("https://accounts.google.com/x"));
        assert!(acceptable_url("http://127.0.0.1:4000/token"));
        assert!(acceptable_url("http://localhost/token"));
        assert!(!acceptable_url("http://example.com/token"));
        assert!(!acceptable_url("http://127.0.0.1.evil.com/token"));
        assert!(!acceptable_url("ftp://127.0.0.1/"));
        assert!(!acceptable_url("https://"));
    }

    // ---- ID tokens ----

    const NOW: i64 = 1_800_000_000;
    const CLIENT: &str = "client-1";

    fn issuers() -> Vec<String> {
        vec!["https://id.example.com".to_string()]
    }

    fn expected(issuers: &[String]) -> Expected<'_> {
        Expected {
            issuers,
            client_id: CLIENT,
            nonce: "n-0S6_WzA2Mj",
            now: NOW,
            leeway: 1,
            max_age: 600,
        }
    }

    fn claims() -> Value {
        json!({
            "iss": "https://id.example.com",
            "sub": "248289761001",
            "aud": CLIENT,
            "nonce": "n-0S6_WzA2Mj",
            "exp": NOW + 300,
            "iat": NOW - 10,
            "email": "jane@example.com",
            "email_verified": true,
        })
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn es256_key(seed: u8) -> (p256::ecdsa::SigningKey, Value) {
        let signing = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
        let public = signing.verifying_key();
        let jwk = serde_json::to_value(JsonWebKey::from(public)).unwrap();
        (signing, jwk)
    }

    fn es256_token(key: &p256::ecdsa::SigningKey, kid: &str, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(&json!({"alg": "ES256", "kid": kid, "typ": "JWT"})),
            b64(claims)
        );
        let signature = Es256.sign(key, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_bytes()))
    }

    fn with_kid(mut jwk: Value, kid: &str) -> Value {
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk
    }

    #[test]
    fn an_es256_id_token_of_the_set_verifies_and_its_claims_come_back() {
        let (key, jwk) = es256_key(7);
        let (_, other) = es256_key(8);
        let jwks = json!({"keys": [with_kid(other, "b"), with_kid(jwk, "a")]});
        let token = es256_token(&key, "a", &claims());
        let iss = issuers();
        let got = verify_id_token(&token, &jwks, &expected(&iss)).unwrap();
        assert_eq!(got["sub"], json!("248289761001"));
        // Another kid of the set, or a kid the set lacks: refused.
        let wrong_kid = es256_token(&key, "b", &claims());
        assert_eq!(
            verify_id_token(&wrong_kid, &jwks, &expected(&iss)),
            Err(IdTokenError::Signature)
        );
        let unknown = es256_token(&key, "zz", &claims());
        assert_eq!(
            verify_id_token(&unknown, &jwks, &expected(&iss)),
            Err(IdTokenError::Signature)
        );
    }

    #[test]
    fn a_tampered_or_unsigned_id_token_is_refused() {
        let (key, jwk) = es256_key(7);
        let jwks = json!({"keys": [with_kid(jwk, "a")]});
        let iss = issuers();
        let token = es256_token(&key, "a", &claims());
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let mut changed = claims();
        changed["sub"] = json!("someone-else");
        parts[1] = b64(&changed);
        assert_eq!(
            verify_id_token(&parts.join("."), &jwks, &expected(&iss)),
            Err(IdTokenError::Signature)
        );
        let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims()));
        assert_eq!(
            verify_id_token(&none, &jwks, &expected(&iss)),
            Err(IdTokenError::Signature)
        );
        // HS256 with the public key's bytes as the secret (the classic confusion).
        let hs = format!(
            "{}.{}.c2ln",
            b64(&json!({"alg": "HS256", "kid": "a"})),
            b64(&claims())
        );
        assert_eq!(
            verify_id_token(&hs, &jwks, &expected(&iss)),
            Err(IdTokenError::Signature)
        );
        for junk in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert_eq!(
                verify_id_token(junk, &jwks, &expected(&iss)),
                Err(IdTokenError::Malformed),
                "{junk}"
            );
        }
        // A signature of the wrong length never reaches jwt-compact's fixed-size type.
        let short = format!(
            "{}.{}.{}",
            parts[0],
            b64(&claims()),
            URL_SAFE_NO_PAD.encode([1u8; 10])
        );
        assert_eq!(
            verify_id_token(&short, &jwks, &expected(&iss)),
            Err(IdTokenError::Signature)
        );
    }

    fn rsa_fixture() -> (Value, String, Value) {
        // A 2048-bit key pair made once for this test (see src/domain/testdata/).
        let jwk: Value =
            serde_json::from_str(include_str!("testdata/oidc_rsa_public.json")).unwrap();
        let token = include_str!("testdata/oidc_rs256_token.txt")
            .trim()
            .to_string();
        let claims: Value =
            serde_json::from_str(include_str!("testdata/oidc_rs256_claims.json")).unwrap();
        (jwk, token, claims)
    }

    #[test]
    fn an_rs256_id_token_verifies_against_its_rsa_key_and_a_changed_byte_fails() {
        let (jwk, token, claims) = rsa_fixture();
        let now = claims["iat"].as_i64().unwrap() + 5;
        let iss = vec![claims["iss"].as_str().unwrap().to_string()];
        let e = Expected {
            issuers: &iss,
            client_id: claims["aud"].as_str().unwrap(),
            nonce: claims["nonce"].as_str().unwrap(),
            now,
            leeway: 1,
            max_age: 600,
        };
        let jwks = json!({"keys": [jwk]});
        assert_eq!(
            verify_id_token(&token, &jwks, &e).unwrap()["sub"],
            claims["sub"]
        );
        let mut bytes = token.into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            verify_id_token(&tampered, &jwks, &e),
            Err(IdTokenError::Signature)
        );
        // The RSA key does not verify an ES256 header, whatever the signature.
        let (es_key, _) = es256_key(3);
        let es = es256_token(&es_key, "rsa-1", &claims);
        assert_eq!(
            verify_id_token(&es, &jwks, &e),
            Err(IdTokenError::Signature)
        );
    }

    fn refused(change: impl Fn(&mut Value), why: IdTokenError) {
        let (key, jwk) = es256_key(7);
        let jwks = json!({"keys": [with_kid(jwk, "a")]});
        let mut c = claims();
        change(&mut c);
        let iss = issuers();
        assert_eq!(
            verify_id_token(&es256_token(&key, "a", &c), &jwks, &expected(&iss)),
            Err(why)
        );
    }

    #[test]
    fn each_claim_is_checked() {
        use IdTokenError::*;
        refused(
            |c| c["iss"] = json!("https://evil.example.com"),
            InvalidClaim("iss"),
        );
        refused(|c| c["aud"] = json!("someone-else"), InvalidClaim("aud"));
        refused(
            |c| c["aud"] = json!(["someone-else", CLIENT]),
            MissingClaim("azp"),
        );
        refused(
            |c| {
                c["aud"] = json!(["someone-else", CLIENT]);
                c["azp"] = json!("someone-else");
            },
            InvalidClaim("azp"),
        );
        refused(|c| c["nonce"] = json!("another"), Nonce);
        refused(|c| drop(c.as_object_mut().unwrap().remove("nonce")), Nonce);
        refused(
            |c| drop(c.as_object_mut().unwrap().remove("sub")),
            MissingClaim("sub"),
        );
        refused(|c| c["sub"] = json!(""), InvalidClaim("sub"));
        refused(
            |c| drop(c.as_object_mut().unwrap().remove("exp")),
            MissingClaim("exp"),
        );
        refused(|c| c["exp"] = json!(NOW - 1), Expired);
        refused(
            |c| drop(c.as_object_mut().unwrap().remove("iat")),
            MissingClaim("iat"),
        );
        refused(|c| c["iat"] = json!(NOW - 601), Expired);
        refused(|c| c["iat"] = json!(NOW + 2), NotYetValid);
        refused(|c| c["nbf"] = json!(NOW + 2), NotYetValid);
    }

    #[test]
    fn the_leeway_and_several_audiences_with_azp_are_accepted() {
        let (key, jwk) = es256_key(7);
        let jwks = json!({"keys": [with_kid(jwk, "a")]});
        let iss = issuers();
        let mut c = claims();
        c["exp"] = json!(NOW); // within the one second of leeway
        c["iat"] = json!(NOW + 1);
        c["aud"] = json!(["other", CLIENT]);
        c["azp"] = json!(CLIENT);
        assert!(verify_id_token(&es256_token(&key, "a", &c), &jwks, &expected(&iss)).is_ok());
    }
}
