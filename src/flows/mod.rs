//! The djoser actions as flows: every rule of registration, activation, resets, sessions,
//! accounts and throttling lives here, over the storage traits, with no `worker::` import.
//!
//! A flow takes what the edge parsed (field values that passed their format checks, and the
//! field errors the edge already found), a [`Cx`] with the settings, the stores, the time and the
//! client, and returns a typed outcome or a [`FlowError`]. E-mails are returned, not sent: the
//! http layer sends them after answering.

pub mod account;
pub mod authn;
pub mod customise;
pub mod links;
pub mod maintenance;
pub mod mfa;
pub mod password;
pub mod registration;
pub mod session;
pub mod sessions;
pub mod social;
pub mod throttle;
pub mod username;
pub mod webauthn;

use crate::config::Settings;
use crate::domain::event::{Event, EventKind, Events};
use crate::email::compose::Message;
use crate::error::FieldErrors;
use crate::storage::StorageError;
use crate::tokens::jwt::JwtKeys;
use crate::tokens::password_hash::{self, HashCost};

/// What one request's flow works with.
pub struct Cx<'a, S> {
    /// The deployment's settings.
    pub settings: &'a Settings,
    /// The stores (D1 and KV behind the traits, or the memory fake).
    pub store: &'a S,
    /// Unix seconds at the start of the request.
    pub now: i64,
    /// The client's address, for throttling.
    pub client: &'a str,
    /// Where security warnings go (the Worker log; nowhere in tests).
    pub warn: fn(&str),
    /// Who is calling, coarsely, for the event log.
    pub meta: RequestMeta<'a>,
    /// The events this request records (written after the answer).
    pub events: &'a Events,
}

/// What the event log keeps of the caller.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RequestMeta<'a> {
    /// The address, coarsened (see [`coarse_ip`]).
    pub ip: &'a str,
    /// The User-Agent, truncated.
    pub user_agent: &'a str,
    /// The country, when the platform knows it.
    pub country: Option<&'a str>,
    /// The city, when the platform knows it.
    pub city: Option<&'a str>,
    /// The data centre that took the request, when known.
    pub colo: Option<&'a str>,
}

/// A client address reduced to its /24 (IPv4) or /48 (IPv6): enough to tell networks apart in
/// the event log, not enough to pinpoint a household. Anything unparsable is kept as "unknown".
pub fn coarse_ip(raw: &str) -> String {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    match raw.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{}/24", Ipv4Addr::new(a, b, c, 0))
        }
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => coarse_ip(&v4.to_string()),
            None => {
                let s = v6.segments();
                format!("{}/48", Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
            }
        },
        Err(_) => "unknown".to_string(),
    }
}

/// The longest User-Agent the event log keeps, in characters.
pub const MAX_USER_AGENT_CHARS: usize = 200;

impl<S> Cx<'_, S> {
    /// Records an event about `user_id`'s account, in `session` if it has one.
    pub fn record(&self, kind: EventKind, user_id: i64, session: Option<&str>) {
        self.push_event(kind, user_id, session, None);
    }

    /// Records `kind` for `user_id` unless the user already has an event of that kind at or
    /// after `since` (decided by the store when it writes).
    pub fn record_once(&self, kind: EventKind, user_id: i64, since: i64) {
        self.push_event(kind, user_id, None, Some(since));
    }

    fn push_event(
        &self,
        kind: EventKind,
        user_id: i64,
        session: Option<&str>,
        once_since: Option<i64>,
    ) {
        self.events.push(Event {
            id: 0,
            kind,
            at: self.now,
            user_id,
            session: session.map(str::to_string),
            ip: self.meta.ip.to_string(),
            user_agent: self
                .meta
                .user_agent
                .chars()
                .take(MAX_USER_AGENT_CHARS)
                .collect(),
            country: self.meta.country.map(str::to_string),
            once_since,
        });
    }

    /// SIGNING_KEY: the HMAC key of e-mailed tokens (and of the JWTs with HS256).
    pub fn secret(&self) -> Result<&[u8], FlowError> {
        self.settings
            .signing_key
            .as_deref()
            .ok_or(FlowError::MissingSigningKey)
    }

    /// The keys an e-mailed token may have been made with: SIGNING_KEY, then
    /// SIGNING_KEY_FALLBACKS (a link mailed before a rotation still works until it expires).
    pub fn verification_secrets(&self) -> Result<Vec<&[u8]>, FlowError> {
        let mut keys = vec![self.secret()?];
        keys.extend(
            self.settings
                .signing_key_fallbacks
                .iter()
                .map(Vec::as_slice),
        );
        Ok(keys)
    }

    /// The JWT keys: ALGORITHM with SIGNING_KEY or JWT_PRIVATE_JWKS, and ISSUER / AUDIENCE.
    pub fn jwt_keys(&self) -> Result<JwtKeys, FlowError> {
        self.settings.jwt_keys().ok_or(FlowError::MissingSigningKey)
    }

    /// The configured argon2 cost.
    pub fn hash_cost(&self) -> HashCost {
        hash_cost(self.settings)
    }

    /// A new argon2id hash of `password` with a fresh random salt.
    pub fn hash_new_password(&self, password: &str) -> Result<String, FlowError> {
        let salt = random::<16>()?;
        password_hash::hash_password(password, self.hash_cost(), &salt)
            .map_err(|e| FlowError::Internal(format!("hash: {e}")))
    }
}

/// The configured argon2 cost.
pub fn hash_cost(settings: &Settings) -> HashCost {
    HashCost {
        memory_kib: settings.argon2_memory_kib,
        iterations: settings.argon2_iterations,
        parallelism: settings.argon2_parallelism,
    }
}

/// Why a flow refused; `error.rs` alone turns each into a status and djoser's body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FlowError {
    /// DRF serializer errors: field-keyed messages (`non_field_errors` included).
    #[error("invalid fields: {0:?}")]
    Fields(FieldErrors),
    /// A validation error djoser raises outside `is_valid()`: rendered as a bare list.
    #[error("{0}")]
    Bare(&'static str),
    /// A 400 whose body is a bare JSON string (djoser.social's `Response("…", status=400)`).
    #[error("{0}")]
    BareString(&'static str),
    /// `o/{provider}/` for a backend that is not configured: 404 naming it.
    #[error("provider {0:?} not supported")]
    ProviderNotSupported(String),
    /// resend_activation while activation e-mails are off: djoser's empty 400.
    #[error("activation e-mails are off")]
    ActivationOff,
    /// A passkey ceremony did not verify (the reason is logged, never shown).
    #[error("WebAuthn verification failed")]
    WebauthnFailed,
    /// An activation link for a user who is already active (or was activated meanwhile).
    #[error("stale activation token")]
    StaleToken,
    /// Password login failed on a JWT endpoint: no active account with these credentials.
    #[error("no active account")]
    NoActiveAccount,
    /// A refresh token whose user is gone or inactive.
    #[error("no active account for the token")]
    NoActiveAccountForToken,
    /// A token failed a check on a JWT endpoint: simplejwt's `token_not_valid` with this message.
    #[error("token not valid: {0}")]
    TokenNotValid(&'static str),
    /// The Authorization header's credentials were refused.
    #[error("authentication failed: {0:?}")]
    Unauthenticated(authn::AuthFailure),
    /// The endpoint needs a signed-in user.
    #[error("not authenticated")]
    NotAuthenticated,
    /// No such object (or one the caller may not see).
    #[error("not found")]
    NotFound,
    /// `users/{id}/` with an id nobody has.
    #[error("no such user")]
    NoSuchUser,
    /// The caller may not do this to that object.
    #[error("permission denied")]
    PermissionDenied,
    /// Over a rate limit; retry after `wait` seconds.
    #[error("throttled for {wait} s")]
    Throttled {
        /// Seconds until a retry can succeed.
        wait: i64,
    },
    /// The deployment has no SIGNING_KEY.
    #[error("SIGNING_KEY is not set")]
    MissingSigningKey,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Anything else that should not happen (randomness, encoding).
    #[error("{0}")]
    Internal(String),
}

impl FlowError {
    /// One field error.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.add(field, message);
        FlowError::Fields(errors)
    }

    /// One `non_field_errors` message.
    pub fn non_field(message: impl Into<String>) -> Self {
        Self::field("non_field_errors", message)
    }
}

impl From<FieldErrors> for FlowError {
    fn from(errors: FieldErrors) -> Self {
        FlowError::Fields(errors)
    }
}

/// A field as the edge read it: its value, or the field-keyed errors it already has.
pub type Checked<T> = Result<T, FieldErrors>;

/// Moves a checked field's errors into `errors` and returns its value when it had none.
pub fn take<T>(errors: &mut FieldErrors, field: Checked<T>) -> Option<T> {
    match field {
        Ok(value) => Some(value),
        Err(problems) => {
            errors.append(problems);
            None
        }
    }
}

/// `Ok(())` when `errors` is empty.
pub fn ok_if_empty(errors: FieldErrors) -> Result<(), FlowError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(FlowError::Fields(errors))
    }
}

/// Every message a flow asks to send, in order.
pub type Outbox = Vec<Message>;

#[cfg(test)]
mod meta_tests {
    use super::coarse_ip;

    #[test]
    fn addresses_are_coarsened_to_their_network() {
        assert_eq!(coarse_ip("203.0.113.77"), "203.0.113.0/24");
        assert_eq!(coarse_ip("2001:db8:1:2:3::4"), "2001:db8:1::/48");
        assert_eq!(coarse_ip("::ffff:198.51.100.9"), "198.51.100.0/24");
        assert_eq!(coarse_ip("garbage"), "unknown");
    }
}

/// Random bytes from the platform CSPRNG.
pub fn random<const N: usize>() -> Result<[u8; N], FlowError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| FlowError::Internal(format!("getrandom: {e}")))?;
    Ok(buf)
}

/// Shared set-up of the flow tests: settings with a key and a cheap hash, a fixed clock, and
/// users stored in a memory fake.
#[cfg(test)]
pub mod testing {
    use super::*;
    use crate::domain::user::User;
    use crate::storage::memory::MemoryStore;
    use crate::tokens::password_hash;

    /// The fixed clock of the flow tests.
    pub const NOW: i64 = 1_800_000_000;

    /// A client address.
    pub const CLIENT: &str = "203.0.113.9";

    /// Default settings with a signing key and the cheapest argon2 cost.
    pub fn settings() -> Settings {
        Settings {
            signing_key: Some(b"flow-test-key-0123456789abcdef0123456789".to_vec()),
            argon2_memory_kib: 8,
            argon2_iterations: 1,
            ..Settings::default()
        }
    }

    /// A context over `store` at `now`, for `client`.
    pub fn cx_full<'a>(
        settings: &'a Settings,
        store: &'a MemoryStore,
        now: i64,
        client: &'a str,
    ) -> Cx<'a, MemoryStore> {
        Cx {
            settings,
            store,
            now,
            client,
            warn: |_| {},
            meta: RequestMeta {
                ip: "203.0.113.0/24",
                user_agent: "flow-tests",
                country: Some("NL"),
                city: Some("Amsterdam"),
                colo: Some("AMS"),
            },
            // Each test context records into its own log, kept for the test's lifetime.
            events: Box::leak(Box::default()),
        }
    }

    /// A context over `store` at `NOW`.
    pub fn cx<'a>(settings: &'a Settings, store: &'a MemoryStore) -> Cx<'a, MemoryStore> {
        cx_full(settings, store, NOW, CLIENT)
    }

    /// A context at another time.
    pub fn cx_at<'a>(
        settings: &'a Settings,
        store: &'a MemoryStore,
        now: i64,
    ) -> Cx<'a, MemoryStore> {
        cx_full(settings, store, now, CLIENT)
    }

    /// A context at `NOW` for another client address.
    pub fn cx_from<'a>(
        settings: &'a Settings,
        store: &'a MemoryStore,
        client: &'a str,
    ) -> Cx<'a, MemoryStore> {
        cx_full(settings, store, NOW, client)
    }

    /// The uid and token of a message's link.
    pub fn link_parts(message: &Message) -> (String, String) {
        let url = message.url.as_deref().unwrap();
        let mut parts = url.rsplit('/');
        let token = parts.next().unwrap().to_string();
        let uid = parts.next().unwrap().to_string();
        (uid, token)
    }

    /// Stores an active user `id` with `password` (hashed at the settings' cost).
    pub fn user_with_password(
        store: &MemoryStore,
        settings: &Settings,
        id: i64,
        username: &str,
        email: &str,
        password: &str,
    ) -> User {
        let hash = password_hash::hash_password(password, hash_cost(settings), &[7; 16]).unwrap();
        let user = User::for_tests(id, username, email, &hash);
        store.put_user(user.clone());
        user
    }
}
