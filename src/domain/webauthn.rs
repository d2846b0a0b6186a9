//! WebAuthn relying-party checks (W3C WebAuthn Level 3, §7.1 registration and §7.2
//! authentication), ported by hand so they run on wasm32: no clock is read here (nothing in a
//! ceremony needs one; the challenge's lifetime is the flow's business), no I/O, no allocation
//! beyond the parsed values.
//!
//! What is checked, in the specification's order: the client data's `type`, `challenge` (exact,
//! constant time), `origin` (exact) and `crossOrigin` (must not be true); the authenticator
//! data's RP id hash, user presence (always required), user verification (when asked for), the
//! backup flags' consistency, the attested credential data (registration: present, credential
//! id at most 1023 bytes, a COSE key of an allowed algorithm), no trailing bytes; then the
//! attestation statement (`none`, or `packed` self-attestation whose signature is checked; any
//! other format, and `packed` with a certificate chain, is taken as `none`: this relying party
//! trusts no attestation roots, so a statement it cannot anchor proves nothing more than none)
//! and, for an assertion, the signature over `authData || SHA-256(clientDataJSON)` and the sign
//! counter (when either side is non-zero, it must grow: anything else suggests a cloned
//! authenticator and is refused).
//!
//! Algorithms: ES256 (COSE -7, P-256), EdDSA (COSE -8, Ed25519) and RS256 (COSE -257,
//! RSASSA-PKCS1-v1_5 with SHA-256; RSA keys of 2048 to 4096 bits with an odd exponent from 3,
//! the policy of `domain::rs256`, which social sign-in's ID tokens share). RS256 is what
//! Windows Hello's TPM-backed credentials use, and with ES256 what Chromium asks for when a site
//! names no algorithm; the `rsa` crate was in the Worker already for ID tokens.

use ciborium::value::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::rs256;

/// User present.
pub const FLAG_UP: u8 = 0x01;
/// User verified.
pub const FLAG_UV: u8 = 0x04;
/// Backup eligible.
pub const FLAG_BE: u8 = 0x08;
/// Backed up.
pub const FLAG_BS: u8 = 0x10;
/// Attested credential data included.
pub const FLAG_AT: u8 = 0x40;
/// Extension data included.
pub const FLAG_ED: u8 = 0x80;

/// The longest credential id the specification allows.
pub const MAX_CREDENTIAL_ID: usize = 1023;

/// COSE algorithm ES256.
pub const COSE_ES256: i64 = -7;
/// COSE algorithm EdDSA.
pub const COSE_EDDSA: i64 = -8;
/// COSE algorithm RS256 (RFC 8812).
pub const COSE_RS256: i64 = -257;

/// A credential public key algorithm this relying party verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// ECDSA over P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl Alg {
    /// The COSE identifier.
    pub fn cose(self) -> i64 {
        match self {
            Alg::Es256 => COSE_ES256,
            Alg::EdDsa => COSE_EDDSA,
            Alg::Rs256 => COSE_RS256,
        }
    }

    /// The algorithm a COSE identifier names, if supported.
    pub fn from_cose(id: i64) -> Option<Alg> {
        [Alg::Es256, Alg::EdDsa, Alg::Rs256]
            .into_iter()
            .find(|a| a.cose() == id)
    }
}

/// Why a ceremony was refused. The HTTP answer is the same for all (djoser's "WebAuthn
/// verification failed."); the reason goes to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// A structure does not parse: which one.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// clientData.type is not the ceremony's.
    #[error("wrong client data type")]
    Type,
    /// clientData.challenge is not the one issued.
    #[error("wrong challenge")]
    Challenge,
    /// clientData.origin is not the configured origin.
    #[error("wrong origin")]
    Origin,
    /// The ceremony ran in a cross-origin iframe.
    #[error("cross-origin ceremony")]
    CrossOrigin,
    /// The authenticator data is for another RP id.
    #[error("wrong RP id hash")]
    RpIdHash,
    /// The user was not present.
    #[error("user not present")]
    UserPresence,
    /// User verification was required and not done.
    #[error("user not verified")]
    UserVerification,
    /// The credential's algorithm is not allowed (or its key is not of that algorithm).
    #[error("algorithm not allowed")]
    Algorithm,
    /// An RSA key outside the accepted sizes or exponents.
    #[error("refused key: {0}")]
    WeakKey(rs256::KeyError),
    /// The attestation statement is wrong.
    #[error("bad attestation statement")]
    Attestation,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// The sign counter did not grow: a cloned authenticator, or a replay.
    #[error("sign counter went from {stored} to {received}")]
    Counter {
        /// The counter stored with the credential.
        stored: u32,
        /// The counter in this assertion.
        received: u32,
    },
}

/// What a ceremony must match: the relying party's settings and the issued challenge.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The challenge as issued (and as the client echoes it, base64url).
    pub challenge: &'a str,
    /// The exact origin, e.g. `https://app.example.com`.
    pub origin: &'a str,
    /// The RP id, e.g. `example.com`.
    pub rp_id: &'a str,
    /// Whether the UV flag is required.
    pub require_user_verification: bool,
    /// The credential algorithms accepted.
    pub algorithms: &'a [Alg],
}

/// The parsed client data (only the members checked).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ClientData {
    /// `webauthn.create` or `webauthn.get`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The challenge, base64url.
    pub challenge: String,
    /// The page's origin.
    pub origin: String,
    /// Whether the ceremony ran in a cross-origin iframe.
    #[serde(rename = "crossOrigin", default)]
    pub cross_origin: Option<bool>,
}

/// Parses clientDataJSON.
pub fn parse_client_data(json: &[u8]) -> Result<ClientData, Reject> {
    serde_json::from_slice(json).map_err(|_| Reject::Malformed("client data"))
}

/// A credential public key, parsed from its COSE form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// A P-256 point.
    Es256(p256::ecdsa::VerifyingKey),
    /// An Ed25519 key.
    EdDsa(ed25519_dalek::VerifyingKey),
    /// An RSA key.
    Rs256(rs256::PublicKey),
}

impl PublicKey {
    /// The algorithm.
    pub fn alg(&self) -> Alg {
        match self {
            PublicKey::Es256(_) => Alg::Es256,
            PublicKey::EdDsa(_) => Alg::EdDsa,
            PublicKey::Rs256(_) => Alg::Rs256,
        }
    }

    /// Verifies `signature` over `message` (ES256: DER, as authenticators send it; RS256: the
    /// modulus's length).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), Reject> {
        match self {
            PublicKey::Es256(key) => {
                use p256::ecdsa::signature::Verifier;
                let sig =
                    p256::ecdsa::Signature::from_der(signature).map_err(|_| Reject::Signature)?;
                key.verify(message, &sig).map_err(|_| Reject::Signature)
            }
            PublicKey::EdDsa(key) => {
                let bytes: [u8; 64] = signature.try_into().map_err(|_| Reject::Signature)?;
                let sig = ed25519_dalek::Signature::from_bytes(&bytes);
                key.verify_strict(message, &sig)
                    .map_err(|_| Reject::Signature)
            }
            PublicKey::Rs256(key) => key
                .verify(message, signature)
                .then_some(())
                .ok_or(Reject::Signature),
        }
    }
}

fn map_get(map: &[(Value, Value)], key: i64) -> Option<&Value> {
    map.iter()
        .find(|(k, _)| k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(key))
        .map(|(_, v)| v)
}

fn int_at(map: &[(Value, Value)], key: i64) -> Option<i64> {
    map_get(map, key)?
        .as_integer()
        .and_then(|i| i64::try_from(i).ok())
}

fn bytes_at(map: &[(Value, Value)], key: i64) -> Option<&[u8]> {
    map_get(map, key)?.as_bytes().map(Vec::as_slice)
}

/// Parses a COSE_Key (RFC 9052/9053, RFC 8230): EC2 P-256 with alg ES256, OKP Ed25519 with
/// EdDSA, or RSA with RS256.
pub fn parse_cose_key(cose: &[u8]) -> Result<PublicKey, Reject> {
    let mut reader = cose;
    let value: Value =
        ciborium::de::from_reader(&mut reader).map_err(|_| Reject::Malformed("COSE key"))?;
    if !reader.is_empty() {
        return Err(Reject::Malformed("COSE key"));
    }
    cose_key_from_value(&value)
}

fn cose_key_from_value(value: &Value) -> Result<PublicKey, Reject> {
    let map = value.as_map().ok_or(Reject::Malformed("COSE key"))?;
    let kty = int_at(map, 1).ok_or(Reject::Malformed("COSE key"))?;
    let alg = int_at(map, 3)
        .and_then(Alg::from_cose)
        .ok_or(Reject::Algorithm)?;
    let crv = int_at(map, -1);
    let x = bytes_at(map, -2);
    match alg {
        Alg::Es256 => {
            let y = bytes_at(map, -3);
            let (2, Some(1), Some(x), Some(y)) = (kty, crv, x, y) else {
                return Err(Reject::Algorithm);
            };
            if x.len() != 32 || y.len() != 32 {
                return Err(Reject::Malformed("COSE key"));
            }
            let mut sec1 = [0u8; 65];
            sec1[0] = 4;
            sec1[1..33].copy_from_slice(x);
            sec1[33..].copy_from_slice(y);
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map(PublicKey::Es256)
                .map_err(|_| Reject::Malformed("COSE key"))
        }
        Alg::EdDsa => {
            let (1, Some(6), Some(x)) = (kty, crv, x) else {
                return Err(Reject::Algorithm);
            };
            let x: [u8; 32] = x.try_into().map_err(|_| Reject::Malformed("COSE key"))?;
            ed25519_dalek::VerifyingKey::from_bytes(&x)
                .map(PublicKey::EdDsa)
                .map_err(|_| Reject::Malformed("COSE key"))
        }
        Alg::Rs256 => {
            // RFC 8230 §4: kty 3, n at -1, e at -2 (where EC2 keys have crv and x).
            let (n, e) = (bytes_at(map, -1), bytes_at(map, -2));
            let (3, Some(n), Some(e)) = (kty, n, e) else {
                return Err(Reject::Algorithm);
            };
            rs256::PublicKey::from_be_bytes(n, e)
                .map(PublicKey::Rs256)
                .map_err(Reject::WeakKey)
        }
    }
}

/// The attested credential data of a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredential {
    /// The authenticator model.
    pub aaguid: [u8; 16],
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The public key as the authenticator encoded it (COSE), which is what is stored.
    pub public_key_cose: Vec<u8>,
    /// The public key.
    pub public_key: PublicKey,
}

/// Parsed authenticator data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthData {
    /// SHA-256 of the RP id the authenticator scoped the credential to.
    pub rp_id_hash: [u8; 32],
    /// The flags byte.
    pub flags: u8,
    /// The signature counter.
    pub sign_count: u32,
    /// Present when the AT flag is.
    pub attested: Option<AttestedCredential>,
}

impl AuthData {
    /// Whether `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Parses authenticator data (§6.1): fixed 37 bytes, then attested credential data (AT), then
/// extensions (ED), then nothing.
pub fn parse_auth_data(data: &[u8]) -> Result<AuthData, Reject> {
    let bad = || Reject::Malformed("authenticator data");
    if data.len() < 37 {
        return Err(bad());
    }
    let mut rp_id_hash = [0u8; 32];
    rp_id_hash.copy_from_slice(&data[..32]);
    let flags = data[32];
    let sign_count = u32::from_be_bytes([data[33], data[34], data[35], data[36]]);
    let mut rest = &data[37..];
    let attested = if flags & FLAG_AT != 0 {
        if rest.len() < 18 {
            return Err(bad());
        }
        let mut aaguid = [0u8; 16];
        aaguid.copy_from_slice(&rest[..16]);
        let id_len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        rest = &rest[18..];
        if id_len == 0 || id_len > MAX_CREDENTIAL_ID || rest.len() < id_len {
            return Err(bad());
        }
        let credential_id = rest[..id_len].to_vec();
        rest = &rest[id_len..];
        let before = rest;
        let value: Value = ciborium::de::from_reader(&mut rest).map_err(|_| bad())?;
        let public_key_cose = before[..before.len() - rest.len()].to_vec();
        let public_key = cose_key_from_value(&value)?;
        Some(AttestedCredential {
            aaguid,
            credential_id,
            public_key_cose,
            public_key,
        })
    } else {
        None
    };
    if flags & FLAG_ED != 0 {
        let value: Value = ciborium::de::from_reader(&mut rest).map_err(|_| bad())?;
        if value.as_map().is_none() {
            return Err(bad());
        }
    }
    if !rest.is_empty() {
        return Err(bad());
    }
    Ok(AuthData {
        rp_id_hash,
        flags,
        sign_count,
        attested,
    })
}

/// The checks common to both ceremonies on the client data (§7.1 steps 7-10, §7.2 11-14).
fn check_client_data(json: &[u8], kind: &str, expect: &Expect<'_>) -> Result<(), Reject> {
    let client = parse_client_data(json)?;
    if client.kind != kind {
        return Err(Reject::Type);
    }
    if expect.challenge.is_empty()
        || !bool::from(
            client
                .challenge
                .as_bytes()
                .ct_eq(expect.challenge.as_bytes()),
        )
    {
        return Err(Reject::Challenge);
    }
    if client.origin != expect.origin {
        return Err(Reject::Origin);
    }
    if client.cross_origin == Some(true) {
        return Err(Reject::CrossOrigin);
    }
    Ok(())
}

/// The checks common to both ceremonies on the authenticator data (§7.1 steps 13-17, §7.2
/// 15-18).
fn check_auth_data(auth: &AuthData, expect: &Expect<'_>) -> Result<(), Reject> {
    let expected: [u8; 32] = Sha256::digest(expect.rp_id.as_bytes()).into();
    if !bool::from(auth.rp_id_hash.ct_eq(&expected)) {
        return Err(Reject::RpIdHash);
    }
    if !auth.has(FLAG_UP) {
        return Err(Reject::UserPresence);
    }
    if expect.require_user_verification && !auth.has(FLAG_UV) {
        return Err(Reject::UserVerification);
    }
    if auth.has(FLAG_BS) && !auth.has(FLAG_BE) {
        return Err(Reject::Malformed("backup flags"));
    }
    Ok(())
}

/// A verified registration: what to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The COSE public key.
    pub public_key_cose: Vec<u8>,
    /// Its algorithm.
    pub alg: Alg,
    /// The initial sign counter.
    pub sign_count: u32,
    /// Whether the user was verified.
    pub user_verified: bool,
    /// Whether the credential may be synced (a multi-device passkey).
    pub backup_eligible: bool,
    /// The authenticator model.
    pub aaguid: [u8; 16],
    /// The attestation format, as sent.
    pub format: String,
}

fn text_key<'v>(map: &'v [(Value, Value)], key: &str) -> Option<&'v Value> {
    map.iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

/// §7.1: verifies a registration's clientDataJSON and attestationObject.
pub fn verify_registration(
    client_data_json: &[u8],
    attestation_object: &[u8],
    expect: &Expect<'_>,
) -> Result<Registered, Reject> {
    check_client_data(client_data_json, "webauthn.create", expect)?;
    let bad = || Reject::Malformed("attestation object");
    let mut reader = attestation_object;
    let object: Value = ciborium::de::from_reader(&mut reader).map_err(|_| bad())?;
    if !reader.is_empty() {
        return Err(bad());
    }
    let map = object.as_map().ok_or_else(bad)?;
    let format = text_key(map, "fmt")
        .and_then(Value::as_text)
        .ok_or_else(bad)?;
    let auth_bytes = text_key(map, "authData")
        .and_then(Value::as_bytes)
        .ok_or_else(bad)?;
    let statement = text_key(map, "attStmt")
        .and_then(Value::as_map)
        .ok_or_else(bad)?;
    let auth = parse_auth_data(auth_bytes)?;
    check_auth_data(&auth, expect)?;
    let Some(credential) = auth.attested.clone() else {
        return Err(Reject::Malformed("attested credential data"));
    };
    let alg = credential.public_key.alg();
    if !expect.algorithms.contains(&alg) {
        return Err(Reject::Algorithm);
    }
    let client_data_hash = Sha256::digest(client_data_json);
    match format {
        "none" if !statement.is_empty() => return Err(Reject::Attestation),
        "packed" if text_key(statement, "x5c").is_none() => {
            // Self attestation (§8.2): signed by the credential key itself, with its algorithm.
            let stated = text_key(statement, "alg")
                .and_then(Value::as_integer)
                .and_then(|i| i64::try_from(i).ok());
            if stated != Some(alg.cose()) {
                return Err(Reject::Attestation);
            }
            let sig = text_key(statement, "sig")
                .and_then(Value::as_bytes)
                .ok_or(Reject::Attestation)?;
            let mut signed = auth_bytes.to_vec();
            signed.extend_from_slice(&client_data_hash);
            credential
                .public_key
                .verify(&signed, sig)
                .map_err(|_| Reject::Attestation)?;
        }
        // Certificate-based statements: no trust roots here, so taken as none (module docs).
        _ => {}
    }
    Ok(Registered {
        credential_id: credential.credential_id,
        public_key_cose: credential.public_key_cose,
        alg,
        sign_count: auth.sign_count,
        user_verified: auth.has(FLAG_UV),
        backup_eligible: auth.has(FLAG_BE),
        aaguid: credential.aaguid,
        format: format.to_string(),
    })
}

/// A verified assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asserted {
    /// The counter to store now.
    pub sign_count: u32,
    /// Whether the user was verified.
    pub user_verified: bool,
    /// Whether the credential is backed up (synced).
    pub backed_up: bool,
}

/// §7.2 step 21: when either counter is non-zero, the new one must be greater.
pub fn check_counter(stored: u32, received: u32) -> Result<(), Reject> {
    if (stored != 0 || received != 0) && received <= stored {
        return Err(Reject::Counter { stored, received });
    }
    Ok(())
}

/// §7.2: verifies an assertion by the stored credential (`public_key_cose`, `stored_count`).
pub fn verify_assertion(
    client_data_json: &[u8],
    authenticator_data: &[u8],
    signature: &[u8],
    public_key_cose: &[u8],
    stored_count: u32,
    expect: &Expect<'_>,
) -> Result<Asserted, Reject> {
    let key = parse_cose_key(public_key_cose)?;
    if !expect.algorithms.contains(&key.alg()) {
        return Err(Reject::Algorithm);
    }
    check_client_data(client_data_json, "webauthn.get", expect)?;
    let auth = parse_auth_data(authenticator_data)?;
    check_auth_data(&auth, expect)?;
    let mut signed = authenticator_data.to_vec();
    signed.extend_from_slice(&Sha256::digest(client_data_json));
    key.verify(&signed, signature)?;
    check_counter(stored_count, auth.sign_count)?;
    Ok(Asserted {
        sign_count: auth.sign_count,
        user_verified: auth.has(FLAG_UV),
        backed_up: auth.has(FLAG_BS),
    })
}

#[cfg(test)]
pub mod testing {
    //! Builds authenticator responses by hand, as an authenticator would, for tests.
    use super::*;
    use ciborium::value::Integer;
    use p256::ecdsa::signature::Signer;

    pub use crate::domain::rs256::testing::TestRsa;

    /// An authenticator's key.
    pub enum TestKey {
        /// P-256.
        P256(p256::ecdsa::SigningKey),
        /// Ed25519.
        Ed(ed25519_dalek::SigningKey),
        /// RSA (2048 bits).
        Rsa(TestRsa),
    }

    fn int(i: i64) -> Value {
        Value::Integer(Integer::from(i))
    }

    /// CBOR bytes of a value.
    pub fn cbor(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(value, &mut out).unwrap();
        out
    }

    impl TestKey {
        /// A key from a seed byte.
        pub fn p256(seed: u8) -> TestKey {
            TestKey::P256(p256::ecdsa::SigningKey::from_slice(&[seed.max(1); 32]).unwrap())
        }

        /// An Ed25519 key from a seed byte.
        pub fn ed25519(seed: u8) -> TestKey {
            TestKey::Ed(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
        }

        /// The shared 2048-bit RSA key.
        pub fn rsa() -> TestKey {
            TestKey::Rsa(TestRsa::shared().clone())
        }

        /// Another 2048-bit RSA key.
        pub fn rsa_other() -> TestKey {
            TestKey::Rsa(TestRsa::other().clone())
        }

        /// The COSE algorithm.
        pub fn alg(&self) -> i64 {
            match self {
                TestKey::P256(_) => COSE_ES256,
                TestKey::Ed(_) => COSE_EDDSA,
                TestKey::Rsa(_) => COSE_RS256,
            }
        }

        /// The COSE_Key value.
        pub fn cose_value(&self) -> Value {
            match self {
                TestKey::P256(k) => {
                    let point = k.verifying_key().to_encoded_point(false);
                    Value::Map(vec![
                        (int(1), int(2)),
                        (int(3), int(COSE_ES256)),
                        (int(-1), int(1)),
                        (int(-2), Value::Bytes(point.x().unwrap().to_vec())),
                        (int(-3), Value::Bytes(point.y().unwrap().to_vec())),
                    ])
                }
                TestKey::Ed(k) => Value::Map(vec![
                    (int(1), int(1)),
                    (int(3), int(COSE_EDDSA)),
                    (int(-1), int(6)),
                    (int(-2), Value::Bytes(k.verifying_key().to_bytes().to_vec())),
                ]),
                TestKey::Rsa(k) => rsa_cose(&k.n(), &k.e()),
            }
        }

        /// The COSE_Key bytes.
        pub fn cose(&self) -> Vec<u8> {
            cbor(&self.cose_value())
        }

        /// A signature as an authenticator sends it (ES256 in DER).
        pub fn sign(&self, message: &[u8]) -> Vec<u8> {
            match self {
                TestKey::P256(k) => {
                    let sig: p256::ecdsa::Signature = k.sign(message);
                    sig.to_der().as_bytes().to_vec()
                }
                TestKey::Ed(k) => {
                    use ed25519_dalek::Signer as _;
                    k.sign(message).to_bytes().to_vec()
                }
                TestKey::Rsa(k) => k.sign(message),
            }
        }
    }

    /// An RSA COSE_Key of modulus `n` and exponent `e` (RFC 8230 §4).
    pub fn rsa_cose(n: &[u8], e: &[u8]) -> Value {
        Value::Map(vec![
            (int(1), int(3)),
            (int(3), int(COSE_RS256)),
            (int(-1), Value::Bytes(n.to_vec())),
            (int(-2), Value::Bytes(e.to_vec())),
        ])
    }

    /// clientDataJSON.
    pub fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false
        }))
        .unwrap()
    }

    /// Authenticator data: `attested` is (credential id, COSE key bytes).
    pub fn auth_data(
        rp_id: &str,
        flags: u8,
        count: u32,
        attested: Option<(&[u8], &[u8])>,
    ) -> Vec<u8> {
        let mut out = Sha256::digest(rp_id.as_bytes()).to_vec();
        out.push(flags);
        out.extend_from_slice(&count.to_be_bytes());
        if let Some((id, cose)) = attested {
            out.extend_from_slice(&[7u8; 16]);
            out.extend_from_slice(&(id.len() as u16).to_be_bytes());
            out.extend_from_slice(id);
            out.extend_from_slice(cose);
        }
        out
    }

    /// An attestation object.
    pub fn attestation_object(fmt: &str, auth: &[u8], statement: Vec<(Value, Value)>) -> Vec<u8> {
        cbor(&Value::Map(vec![
            (Value::Text("fmt".into()), Value::Text(fmt.into())),
            (Value::Text("attStmt".into()), Value::Map(statement)),
            (Value::Text("authData".into()), Value::Bytes(auth.to_vec())),
        ]))
    }

    /// A packed self-attestation statement over `auth` and `client_data`.
    pub fn packed_self(key: &TestKey, auth: &[u8], client_data: &[u8]) -> Vec<(Value, Value)> {
        let mut signed = auth.to_vec();
        signed.extend_from_slice(&Sha256::digest(client_data));
        vec![
            (Value::Text("alg".into()), int(key.alg())),
            (Value::Text("sig".into()), Value::Bytes(key.sign(&signed))),
        ]
    }

    /// An assertion: (authenticatorData, signature).
    pub fn assertion(key: &TestKey, auth: &[u8], client_data: &[u8]) -> Vec<u8> {
        let mut signed = auth.to_vec();
        signed.extend_from_slice(&Sha256::digest(client_data));
        key.sign(&signed)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use ciborium::value::Integer;

    const RP: &str = "example.com";
    const ORIGIN: &str = "https://example.com";
    const CHALLENGE: &str = "Q2hhbGxlbmdlQ2hhbGxlbmdlQ2hhbGxl";
    const ALL: &[Alg] = &[Alg::Es256, Alg::EdDsa, Alg::Rs256];
    const ID: &[u8] = b"credential-one";

    fn expect() -> Expect<'static> {
        Expect {
            challenge: CHALLENGE,
            origin: ORIGIN,
            rp_id: RP,
            require_user_verification: false,
            algorithms: ALL,
        }
    }

    fn register_with(
        key: &TestKey,
        cd: &[u8],
        flags: u8,
        fmt: &str,
        ex: &Expect<'_>,
    ) -> Result<Registered, Reject> {
        let cose = key.cose();
        let auth = auth_data(RP, flags, 0, Some((ID, &cose)));
        let stmt = match fmt {
            "packed" => packed_self(key, &auth, cd),
            _ => vec![],
        };
        verify_registration(cd, &attestation_object(fmt, &auth, stmt), ex)
    }

    fn create_cd() -> Vec<u8> {
        client_data("webauthn.create", CHALLENGE, ORIGIN)
    }

    #[test]
    fn registration_none_and_packed_with_each_algorithm() {
        for key in [TestKey::p256(3), TestKey::ed25519(4), TestKey::rsa()] {
            for fmt in ["none", "packed"] {
                let r = register_with(
                    &key,
                    &create_cd(),
                    FLAG_UP | FLAG_AT | FLAG_UV,
                    fmt,
                    &expect(),
                )
                .unwrap();
                assert_eq!(r.credential_id, ID);
                assert_eq!(r.public_key_cose, key.cose());
                assert_eq!(r.alg.cose(), key.alg());
                assert!(r.user_verified);
                assert_eq!(r.format, fmt);
                assert_eq!(parse_cose_key(&r.public_key_cose).unwrap().alg(), r.alg);
            }
        }
    }

    #[test]
    fn registration_refuses_each_client_data_mismatch() {
        let key = TestKey::p256(5);
        let flags = FLAG_UP | FLAG_AT;
        let cases = [
            (client_data("webauthn.get", CHALLENGE, ORIGIN), Reject::Type),
            (
                client_data("webauthn.create", "other", ORIGIN),
                Reject::Challenge,
            ),
            (
                client_data("webauthn.create", CHALLENGE, "https://evil.example.com"),
                Reject::Origin,
            ),
            (
                client_data("webauthn.create", CHALLENGE, "https://example.com:443"),
                Reject::Origin,
            ),
            (
                client_data("webauthn.create", CHALLENGE, "http://example.com"),
                Reject::Origin,
            ),
            (b"not json".to_vec(), Reject::Malformed("client data")),
            (
                serde_json::to_vec(&serde_json::json!({
                    "type": "webauthn.create", "challenge": CHALLENGE, "origin": ORIGIN,
                    "crossOrigin": true
                }))
                .unwrap(),
                Reject::CrossOrigin,
            ),
        ];
        for (cd, want) in cases {
            assert_eq!(
                register_with(&key, &cd, flags, "none", &expect()),
                Err(want)
            );
        }
        let empty = Expect {
            challenge: "",
            ..expect()
        };
        let cd = client_data("webauthn.create", "", ORIGIN);
        assert_eq!(
            register_with(&key, &cd, flags, "none", &empty),
            Err(Reject::Challenge)
        );
    }

    #[test]
    fn registration_refuses_bad_authenticator_data() {
        let key = TestKey::p256(6);
        let cd = create_cd();
        // Another RP id.
        let cose = key.cose();
        let auth = auth_data("evil.com", FLAG_UP | FLAG_AT, 0, Some((ID, &cose)));
        let obj = attestation_object("none", &auth, vec![]);
        assert_eq!(
            verify_registration(&cd, &obj, &expect()),
            Err(Reject::RpIdHash)
        );
        // No user presence; user verification required and missing.
        assert_eq!(
            register_with(&key, &cd, FLAG_AT, "none", &expect()),
            Err(Reject::UserPresence)
        );
        let uv = Expect {
            require_user_verification: true,
            ..expect()
        };
        assert_eq!(
            register_with(&key, &cd, FLAG_UP | FLAG_AT, "none", &uv),
            Err(Reject::UserVerification)
        );
        assert!(register_with(&key, &cd, FLAG_UP | FLAG_UV | FLAG_AT, "none", &uv).is_ok());
        // Backed up but not backup eligible.
        assert_eq!(
            register_with(&key, &cd, FLAG_UP | FLAG_AT | FLAG_BS, "none", &expect()),
            Err(Reject::Malformed("backup flags"))
        );
        // No attested credential data.
        let auth = auth_data(RP, FLAG_UP, 0, None);
        let obj = attestation_object("none", &auth, vec![]);
        assert_eq!(
            verify_registration(&cd, &obj, &expect()),
            Err(Reject::Malformed("attested credential data"))
        );
        // Trailing bytes, truncated data, an empty or oversized credential id.
        let mut auth = auth_data(RP, FLAG_UP | FLAG_AT, 0, Some((ID, &cose)));
        auth.push(0);
        let obj = attestation_object("none", &auth, vec![]);
        assert_eq!(
            verify_registration(&cd, &obj, &expect()),
            Err(Reject::Malformed("authenticator data"))
        );
        for auth in [
            auth_data(RP, FLAG_UP | FLAG_AT, 0, Some((ID, &cose)))[..60].to_vec(),
            auth_data(RP, FLAG_UP | FLAG_AT, 0, Some((b"", &cose))),
            auth_data(RP, FLAG_UP | FLAG_AT, 0, Some((&[1u8; 1024], &cose))),
            vec![0u8; 36],
        ] {
            let obj = attestation_object("none", &auth, vec![]);
            assert_eq!(
                verify_registration(&cd, &obj, &expect()),
                Err(Reject::Malformed("authenticator data")),
                "{auth:?}"
            );
        }
        // Not CBOR at all.
        assert_eq!(
            verify_registration(&cd, b"\xff\x00", &expect()),
            Err(Reject::Malformed("attestation object"))
        );
    }

    #[test]
    fn extensions_are_parsed_past() {
        let key = TestKey::ed25519(9);
        let cose = key.cose();
        let mut auth = auth_data(RP, FLAG_UP | FLAG_AT | FLAG_ED, 0, Some((ID, &cose)));
        auth.extend(cbor(&Value::Map(vec![(
            Value::Text("credProtect".into()),
            Value::Integer(Integer::from(2)),
        )])));
        let obj = attestation_object("none", &auth, vec![]);
        assert!(verify_registration(&create_cd(), &obj, &expect()).is_ok());
        // ED set without extensions.
        let auth = auth_data(RP, FLAG_UP | FLAG_AT | FLAG_ED, 0, Some((ID, &cose)));
        let obj = attestation_object("none", &auth, vec![]);
        assert!(verify_registration(&create_cd(), &obj, &expect()).is_err());
    }

    #[test]
    fn registration_refuses_disallowed_algorithms_and_keys() {
        let only_es = Expect {
            algorithms: &[Alg::Es256],
            ..expect()
        };
        let ed = TestKey::ed25519(1);
        assert_eq!(
            register_with(&ed, &create_cd(), FLAG_UP | FLAG_AT, "none", &only_es),
            Err(Reject::Algorithm)
        );
        // PS256 (-37), RS1 (-65535), keys whose kty does not fit their alg, an RSA key without e.
        let int = |i: i64| Value::Integer(Integer::from(i));
        let rsa = TestRsa::shared();
        for cose in [
            cbor(&Value::Map(vec![
                (int(1), int(3)),
                (int(3), int(-37)),
                (int(-1), Value::Bytes(rsa.n())),
                (int(-2), Value::Bytes(rsa.e())),
            ])),
            cbor(&Value::Map(vec![
                (int(1), int(3)),
                (int(3), int(-65535)),
                (int(-1), Value::Bytes(rsa.n())),
                (int(-2), Value::Bytes(rsa.e())),
            ])),
            cbor(&Value::Map(vec![
                (int(1), int(2)),
                (int(3), int(COSE_RS256)),
                (int(-1), Value::Bytes(rsa.n())),
                (int(-2), Value::Bytes(rsa.e())),
            ])),
            cbor(&Value::Map(vec![
                (int(1), int(3)),
                (int(3), int(COSE_RS256)),
                (int(-1), Value::Bytes(rsa.n())),
            ])),
            cbor(&Value::Map(vec![
                (int(1), int(1)),
                (int(3), int(COSE_ES256)),
                (int(-1), int(1)),
                (int(-2), Value::Bytes(vec![1; 32])),
                (int(-3), Value::Bytes(vec![1; 32])),
            ])),
        ] {
            let auth = auth_data(RP, FLAG_UP | FLAG_AT, 0, Some((ID, &cose)));
            let obj = attestation_object("none", &auth, vec![]);
            assert_eq!(
                verify_registration(&create_cd(), &obj, &expect()),
                Err(Reject::Algorithm)
            );
        }
        // A P-256 point off the curve.
        let cose = cbor(&Value::Map(vec![
            (int(1), int(2)),
            (int(3), int(COSE_ES256)),
            (int(-1), int(1)),
            (int(-2), Value::Bytes(vec![1; 32])),
            (int(-3), Value::Bytes(vec![1; 32])),
        ]));
        assert_eq!(parse_cose_key(&cose), Err(Reject::Malformed("COSE key")));
    }

    #[test]
    fn rsa_keys_need_2048_to_4096_bits_and_an_odd_exponent_from_3() {
        use crate::domain::rs256::KeyError;
        let rsa = TestRsa::shared();
        let odd = |bytes: usize| vec![0xffu8; bytes];
        let cases = [
            (odd(128), rsa.e(), KeyError::ModulusSize(1024)),
            (odd(255), rsa.e(), KeyError::ModulusSize(2040)),
            (odd(513), rsa.e(), KeyError::ModulusSize(4104)),
            (rsa.n(), vec![1], KeyError::Exponent),
            (rsa.n(), vec![2], KeyError::Exponent),
            (rsa.n(), vec![1, 0, 0], KeyError::Exponent),
            (rsa.n(), vec![], KeyError::Exponent),
        ];
        for (n, e, why) in cases {
            let cose = cbor(&rsa_cose(&n, &e));
            assert_eq!(parse_cose_key(&cose), Err(Reject::WeakKey(why)));
            let auth = auth_data(RP, FLAG_UP | FLAG_AT, 0, Some((ID, &cose)));
            let obj = attestation_object("none", &auth, vec![]);
            assert_eq!(
                verify_registration(&create_cd(), &obj, &expect()),
                Err(Reject::WeakKey(why))
            );
        }
        // A 3072-bit key and exponent 3 pass the policy.
        let cose = cbor(&rsa_cose(&odd(384), &[3]));
        assert_eq!(parse_cose_key(&cose).unwrap().alg(), Alg::Rs256);
        // Refused when RS256 is not among the accepted algorithms.
        let no_rsa = Expect {
            algorithms: &[Alg::Es256, Alg::EdDsa],
            ..expect()
        };
        let key = TestKey::rsa();
        assert_eq!(
            register_with(&key, &create_cd(), FLAG_UP | FLAG_AT, "packed", &no_rsa),
            Err(Reject::Algorithm)
        );
    }

    #[test]
    fn attestation_statements_are_checked() {
        let key = TestKey::p256(7);
        let cd = create_cd();
        let cose = key.cose();
        let auth = auth_data(RP, FLAG_UP | FLAG_AT, 0, Some((ID, &cose)));
        // "none" with a statement.
        let stmt = packed_self(&key, &auth, &cd);
        let obj = attestation_object("none", &auth, stmt);
        assert_eq!(
            verify_registration(&cd, &obj, &expect()),
            Err(Reject::Attestation)
        );
        // packed, signed by another key, or over other client data, or naming another alg.
        let other = TestKey::p256(8);
        for stmt in [
            packed_self(&other, &auth, &cd),
            packed_self(&key, &auth, b"other client data"),
            packed_self(&TestKey::ed25519(2), &auth, &cd),
            vec![],
        ] {
            let obj = attestation_object("packed", &auth, stmt);
            assert_eq!(
                verify_registration(&cd, &obj, &expect()),
                Err(Reject::Attestation)
            );
        }
        // A certificate-based format is taken as none.
        let obj = attestation_object("fido-u2f", &auth, vec![]);
        assert!(verify_registration(&cd, &obj, &expect()).is_ok());
    }

    #[test]
    fn rsa_packed_self_attestation_is_checked() {
        let key = TestKey::rsa();
        let cd = create_cd();
        let cose = key.cose();
        let auth = auth_data(RP, FLAG_UP | FLAG_AT, 0, Some((ID, &cose)));
        let good = packed_self(&key, &auth, &cd);
        let obj = attestation_object("packed", &auth, good.clone());
        assert_eq!(
            verify_registration(&cd, &obj, &expect()).unwrap().alg,
            Alg::Rs256
        );
        // Another RSA key's signature, over other client data, a truncated signature, and the
        // right signature under another stated alg.
        let sig = |stmt: &[(Value, Value)]| stmt[1].1.as_bytes().unwrap().clone();
        let stated = |alg: i64, sig: Vec<u8>| {
            vec![
                (
                    Value::Text("alg".into()),
                    Value::Integer(Integer::from(alg)),
                ),
                (Value::Text("sig".into()), Value::Bytes(sig)),
            ]
        };
        for stmt in [
            packed_self(&TestKey::rsa_other(), &auth, &cd),
            packed_self(&key, &auth, b"other client data"),
            stated(COSE_RS256, sig(&good)[..255].to_vec()),
            stated(COSE_ES256, sig(&good)),
            stated(-37, sig(&good)),
        ] {
            let obj = attestation_object("packed", &auth, stmt);
            assert_eq!(
                verify_registration(&cd, &obj, &expect()),
                Err(Reject::Attestation)
            );
        }
    }

    fn get_cd(challenge: &str) -> Vec<u8> {
        client_data("webauthn.get", challenge, ORIGIN)
    }

    #[test]
    fn assertion_verifies_with_each_algorithm() {
        for key in [TestKey::p256(11), TestKey::ed25519(12), TestKey::rsa()] {
            let cd = get_cd(CHALLENGE);
            let auth = auth_data(RP, FLAG_UP | FLAG_UV, 5, None);
            let sig = assertion(&key, &auth, &cd);
            let got = verify_assertion(&cd, &auth, &sig, &key.cose(), 4, &expect()).unwrap();
            assert_eq!(got.sign_count, 5);
            assert!(got.user_verified);
        }
    }

    #[test]
    fn assertion_refuses_each_failed_check() {
        let key = TestKey::p256(13);
        let cose = key.cose();
        let ok_auth = auth_data(RP, FLAG_UP, 0, None);
        let check = |cd: &[u8], auth: &[u8], sig: &[u8], ex: &Expect<'_>| {
            verify_assertion(cd, auth, sig, &cose, 0, ex)
        };
        let signed = |cd: &[u8], auth: &[u8]| assertion(&key, auth, cd);
        // Baseline passes.
        let cd = get_cd(CHALLENGE);
        assert!(check(&cd, &ok_auth, &signed(&cd, &ok_auth), &expect()).is_ok());
        // Type, challenge, origin.
        let cd = client_data("webauthn.create", CHALLENGE, ORIGIN);
        assert_eq!(
            check(&cd, &ok_auth, &signed(&cd, &ok_auth), &expect()),
            Err(Reject::Type)
        );
        let cd = get_cd("stale");
        assert_eq!(
            check(&cd, &ok_auth, &signed(&cd, &ok_auth), &expect()),
            Err(Reject::Challenge)
        );
        let cd = client_data("webauthn.get", CHALLENGE, "https://example.org");
        assert_eq!(
            check(&cd, &ok_auth, &signed(&cd, &ok_auth), &expect()),
            Err(Reject::Origin)
        );
        // RP id hash, flags.
        let cd = get_cd(CHALLENGE);
        let auth = auth_data("example.org", FLAG_UP, 0, None);
        assert_eq!(
            check(&cd, &auth, &signed(&cd, &auth), &expect()),
            Err(Reject::RpIdHash)
        );
        let auth = auth_data(RP, 0, 0, None);
        assert_eq!(
            check(&cd, &auth, &signed(&cd, &auth), &expect()),
            Err(Reject::UserPresence)
        );
        let uv = Expect {
            require_user_verification: true,
            ..expect()
        };
        assert_eq!(
            check(&cd, &ok_auth, &signed(&cd, &ok_auth), &uv),
            Err(Reject::UserVerification)
        );
        // Signature: by another key, over other data, garbage, tampered authData.
        let other = TestKey::p256(14);
        assert_eq!(
            check(&cd, &ok_auth, &assertion(&other, &ok_auth, &cd), &expect()),
            Err(Reject::Signature)
        );
        assert_eq!(
            check(&cd, &ok_auth, &signed(&get_cd("x"), &ok_auth), &expect()),
            Err(Reject::Signature)
        );
        assert_eq!(
            check(&cd, &ok_auth, b"\x30\x00", &expect()),
            Err(Reject::Signature)
        );
        let sig = signed(&cd, &ok_auth);
        let mut tampered = ok_auth.clone();
        tampered[33] = 9;
        assert_eq!(
            check(&cd, &tampered, &sig, &expect()),
            Err(Reject::Signature)
        );
        // Algorithm no longer allowed.
        let only_ed = Expect {
            algorithms: &[Alg::EdDsa],
            ..expect()
        };
        assert_eq!(check(&cd, &ok_auth, &sig, &only_ed), Err(Reject::Algorithm));
    }

    #[test]
    fn rsa_assertions_refuse_other_signatures() {
        let key = TestKey::rsa();
        let cose = key.cose();
        let cd = get_cd(CHALLENGE);
        let auth = auth_data(RP, FLAG_UP, 3, None);
        let sig = assertion(&key, &auth, &cd);
        assert!(verify_assertion(&cd, &auth, &sig, &cose, 2, &expect()).is_ok());
        let mut flipped = sig.clone();
        flipped[0] ^= 0x80;
        let mut tampered = auth.clone();
        tampered[36] = 4;
        for (auth, sig) in [
            (auth.clone(), assertion(&TestKey::rsa_other(), &auth, &cd)),
            (auth.clone(), assertion(&key, &auth, &get_cd("other"))),
            (auth.clone(), flipped),
            (auth.clone(), sig[..128].to_vec()),
            (auth.clone(), [&[0u8][..], &sig].concat()),
            (auth.clone(), vec![]),
            (tampered, sig.clone()),
        ] {
            assert_eq!(
                verify_assertion(&cd, &auth, &sig, &cose, 2, &expect()),
                Err(Reject::Signature)
            );
        }
        // The counter rule holds for RSA credentials as for the others.
        assert_eq!(
            verify_assertion(&cd, &auth, &sig, &cose, 3, &expect()),
            Err(Reject::Counter {
                stored: 3,
                received: 3
            })
        );
        // A credential stored as RS256 is refused once RS256 is no longer accepted.
        let no_rsa = Expect {
            algorithms: &[Alg::Es256],
            ..expect()
        };
        assert_eq!(
            verify_assertion(&cd, &auth, &sig, &cose, 2, &no_rsa),
            Err(Reject::Algorithm)
        );
    }

    #[test]
    fn counters_never_go_backwards() {
        let key = TestKey::ed25519(15);
        let cd = get_cd(CHALLENGE);
        for (stored, received, ok) in [
            (0, 0, true),
            (0, 1, true),
            (5, 6, true),
            (5, 5, false),
            (5, 4, false),
            (5, 0, false),
        ] {
            let auth = auth_data(RP, FLAG_UP, received, None);
            let sig = assertion(&key, &auth, &cd);
            let got = verify_assertion(&cd, &auth, &sig, &key.cose(), stored, &expect());
            if ok {
                assert_eq!(got.unwrap().sign_count, received);
            } else {
                assert_eq!(got, Err(Reject::Counter { stored, received }));
            }
        }
    }

    #[test]
    fn high_s_es256_signatures_verify() {
        // Authenticators do not normalise S; the check must not depend on it.
        let key = TestKey::p256(16);
        let TestKey::P256(signing) = &key else {
            unreachable!()
        };
        let cd = get_cd(CHALLENGE);
        let auth = auth_data(RP, FLAG_UP, 1, None);
        let mut msg = auth.clone();
        msg.extend_from_slice(&Sha256::digest(&cd));
        use p256::ecdsa::signature::Signer;
        let sig: p256::ecdsa::Signature = signing.sign(&msg);
        let (r, s) = sig.split_scalars();
        let high = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        let der = high.to_der().as_bytes().to_vec();
        assert!(verify_assertion(&cd, &auth, &der, &key.cose(), 0, &expect()).is_ok());
    }
}
