//! The values that cross the storage traits.

use serde::{Deserialize, Serialize};

/// A storage failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// A unique constraint refused the write; `field` is the user attribute (`username`, `email`).
    #[error("unique constraint on {field}")]
    Conflict {
        /// Which attribute was taken.
        field: &'static str,
    },
    /// Anything else the backend reported.
    #[error("storage: {0}")]
    Backend(String),
}

/// Which user a look-up names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserLookup<'a> {
    /// By primary key.
    Id(i64),
    /// By exact (case-sensitive) username.
    Username(&'a str),
    /// By e-mail, case-insensitively.
    Email(&'a str),
}

/// What registration's uniqueness query found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Conflicts {
    /// The username is taken.
    pub name_taken: bool,
    /// The id of the user who owns the e-mail address, if any.
    pub email_owner: Option<i64>,
}

/// A conditional password change: applies only while the stored hash is `old_hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordChange<'a> {
    /// The hash the caller saw.
    pub old_hash: &'a str,
    /// The hash to store.
    pub new_hash: &'a str,
    /// A new last_login (a reset spends its link this way), or unchanged.
    pub last_login: Option<i64>,
    /// Ends every earlier session at this time: tokens issued before it are refused (the stored
    /// time moves to at least this second, and always forward), or `None` to keep sessions.
    pub end_sessions_at: Option<i64>,
}

/// The spending of one refresh jti.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spend<'a> {
    /// The jti spent.
    pub jti: &'a str,
    /// Its family.
    pub family: &'a str,
    /// Its user_id claim.
    pub user_id: &'a str,
    /// When (unix seconds).
    pub now: i64,
    /// When the row may go: once nothing it governs can still be accepted.
    pub expires: i64,
}

/// What the arbiter knows about one refresh token.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RefreshState {
    /// Unix second it was rotated or blacklisted, if it was.
    pub spent_at: Option<i64>,
    /// True when its family was revoked (reuse detected, logout, blacklist).
    pub family_revoked: bool,
}

/// A signed-in session as the session index lists it: one login (a JWT token family, or the
/// DRF token), with where and when it was last used. The index decides nothing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session id: the family id carried in every token of the login (`sid`), or the DRF
    /// token's session id.
    pub id: String,
    /// `jwt` or `token`.
    pub kind: String,
    /// The user's id.
    pub user_id: String,
    /// When the login happened (unix seconds).
    pub created: i64,
    /// When a token of it was last refreshed (the login time until then).
    pub refreshed: i64,
    /// When its last refresh token expires; 0 for a DRF token (until logout).
    pub expires: i64,
    /// The User-Agent of its last use, truncated.
    pub user_agent: String,
    /// The address of its last use, coarsened.
    pub ip: String,
    /// The country of its last use, when known.
    pub country: Option<String>,
    /// The city of its last use, when known.
    pub city: Option<String>,
    /// The data centre of its last use, when known.
    pub colo: Option<String>,
}

/// One fixed-window throttle counter row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// The row's key.
    pub key: String,
    /// Start of the window it counts in.
    pub window_start: i64,
    /// When the row may be purged.
    pub expires: i64,
}

/// The counters one throttled request adds to, in one round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The client's counter: always one hit more.
    pub client: Counter,
    /// The subject counters get their hit only while the client's hits in its window, this one
    /// included, are at most this; a throttled client adds no subject rows.
    pub client_limit: i64,
    /// The subjects' counters.
    pub subjects: Vec<Counter>,
    /// Counters only read, never written (failure counts, written after a failed check).
    pub reads: Vec<Counter>,
}

/// The hits a [`Hit`]'s counters hold afterwards; `None` where the store returned no row (a
/// subject counter not written because the client is over its limit, or a broken store).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// The client's hits in its window, this one included.
    pub client: Option<i64>,
    /// Each subject's hits in its window, this one included, in the order of the hit.
    pub subjects: Vec<Option<i64>>,
    /// Each read counter's hits in its window (0 when it has none there).
    pub reads: Vec<Option<i64>>,
}

/// A user's TOTP state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    /// The secret, sealed (`tokens::seal`); never stored in the clear.
    pub sealed_secret: String,
    /// Confirmed with a code: sign-ins need a second factor.
    pub enabled: bool,
    /// The newest time step used; codes of it and earlier steps are dead.
    pub last_step: i64,
    /// Backup codes not yet used.
    pub backup_codes_left: usize,
}

/// A password check waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The SHA-256 (hex) of the ephemeral token's random part.
    pub id: String,
    /// Whose password was checked.
    pub user_id: i64,
    /// What the sign-in answers once the second factor is in: `jwt` or `token`.
    pub purpose: String,
    /// A digest of the password hash that was checked: a password changed in between voids it.
    pub binding: String,
    /// Wrong codes so far.
    pub failures: i64,
    /// Unix seconds after which it is dead.
    pub expires_at: i64,
}

/// A registered passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyCredential {
    /// The row id (`webauthn/credentials/{id}/`).
    pub id: i64,
    /// Whose it is.
    pub user_id: i64,
    /// The credential id, base64url.
    pub credential_id: String,
    /// The COSE public key, base64url.
    pub public_key: String,
    /// The last sign counter seen.
    pub sign_count: i64,
    /// The user handle the credential was created with (djoser's ukey).
    pub ukey: String,
    /// The owner's label.
    pub name: String,
    /// When it was registered.
    pub created: i64,
    /// When it last signed in.
    pub last_used: Option<i64>,
}

/// An issued WebAuthn challenge, waiting for its ceremony.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyChallenge {
    /// The challenge as issued (the client data echoes it).
    pub challenge: String,
    /// `signup`, `login` or `add`.
    pub purpose: String,
    /// signup: the user handle in the signup URL.
    pub ukey: Option<String>,
    /// signup: the name asked for.
    pub username: Option<String>,
    /// signup: the display name asked for.
    pub display_name: Option<String>,
    /// login by name and add: the user.
    pub user_id: Option<i64>,
    /// Unix seconds after which it is dead.
    pub expires_at: i64,
}
/// A social sign-in begun: what the callback needs, stored under the digest of its `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocialState {
    /// The SHA-256 (hex) of the `state` sent to the provider.
    pub id: String,
    /// The backend it was begun with.
    pub provider: String,
    /// The redirect URI the provider was given (the code exchange repeats it).
    pub redirect_uri: String,
    /// The PKCE code verifier.
    pub verifier: String,
    /// The OpenID Connect nonce the ID token must carry (empty for GitHub).
    pub nonce: String,
    /// Unix seconds after which it is dead.
    pub expires_at: i64,
}

/// A provider identity linked to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocialLink<'a> {
    /// The backend.
    pub provider: &'a str,
    /// The provider's stable id of the person (`sub`, GitHub's numeric id).
    pub subject: &'a str,
    /// The user it signs in as.
    pub user_id: i64,
    /// The address the provider gave at linking (for the operator; never decides anything).
    pub email: &'a str,
    /// Unix seconds.
    pub now: i64,
}
