//! Storage: the operations the flows need, as traits shaped by use, and their adapters (D1 for
//! users, DRF tokens and the atomic arbiters; KV for refresh-token records; memory fakes for
//! host tests).
//!
//! The traits use native `async fn` and are used through generics only: D1 and KV futures are
//! `!Send`, so there is no `dyn` and no `Send` bound anywhere. Methods whose names start with a
//! condition (`activate` only if inactive, `set_password` only if the hash is unchanged, ...)
//! are compare-and-set writes: they report whether this caller's write won, which is how races
//! are decided. An adapter makes no decision of its own.
#![allow(async_fn_in_trait)] // used through generics on one thread; no Send bound is wanted

pub mod d1;
pub mod kv;
#[cfg(test)]
pub mod memory;
mod types;

pub use types::*;

use crate::domain::event::Event;
use crate::domain::user::{NewUser, ProfileChange, User};

/// A storage result.
pub type Result<T> = std::result::Result<T, StorageError>;

/// Users: look-ups and the conditional writes that arbitrate races on them.
pub trait UserStore {
    /// The user `lookup` names, if any.
    async fn find_user(&self, lookup: UserLookup<'_>) -> Result<Option<User>>;
    /// Every user, by id (the staff list).
    async fn all_users(&self) -> Result<Vec<User>>;
    /// Whether `username` is taken and who owns `email` (case-insensitively); `None` arguments
    /// match nothing.
    async fn conflicts(&self, username: Option<&str>, email: Option<&str>) -> Result<Conflicts>;
    /// Inserts a user; a taken username or e-mail is [`StorageError::Conflict`].
    async fn create_user(&self, new: &NewUser) -> Result<User>;
    /// Sets the e-mail (clearing any pending change); with `deactivate` the user also becomes
    /// inactive and waits for a new activation link. A taken address is a conflict.
    async fn update_email(&self, id: i64, email: &str, deactivate: bool) -> Result<()>;
    /// Merges new profile values (first_name, last_name, the extra fields' JSON) into the user,
    /// in one statement, so concurrent changes of different fields both stay.
    async fn update_profile(&self, id: i64, change: &ProfileChange) -> Result<()>;
    /// Records (or, with `None`, drops) an e-mail change waiting for its confirmation link.
    async fn set_pending_email(&self, id: i64, pending: Option<&str>) -> Result<()>;
    /// Moves the pending address to the e-mail only if `pending` is still the one waiting;
    /// false when it is not (used, cancelled or replaced). A taken address is a conflict.
    async fn confirm_email_change(&self, id: i64, pending: &str) -> Result<bool>;
    /// Drops the pending change only if `pending` is still the one waiting.
    async fn cancel_email_change(&self, id: i64, pending: &str) -> Result<bool>;
    /// Activates the user only if inactive and waiting for activation, and moves last_login to
    /// `now` (which also spends the link); false when not applicable or another request won.
    async fn activate(&self, id: i64, now: i64) -> Result<bool>;
    /// Replaces the password hash only if it is still `old_hash`; optionally moves last_login and
    /// the time before which tokens are refused.
    async fn set_password(&self, id: i64, change: PasswordChange<'_>) -> Result<bool>;
    /// Sets a new username only if the password hash and last_login are still those of `user`
    /// (the state an e-mailed token covers); optionally moves last_login. A taken name is a
    /// conflict.
    async fn set_username(
        &self,
        user: &User,
        username: &str,
        last_login: Option<i64>,
    ) -> Result<bool>;
    /// Ends every session of the user: tokens issued before `now` are refused (the sessions
    /// epoch moves to at least `now`, and always forward).
    async fn end_sessions(&self, id: i64, now: i64) -> Result<()>;
    /// Records a login at `when`. Like every write of last_login, it moves the stored value
    /// strictly forward (at least one second), so each login spends the e-mailed links minted
    /// before it, even within the same second.
    async fn set_last_login(&self, id: i64, when: i64) -> Result<()>;
    /// Deletes the user and its DRF token together.
    async fn delete_user(&self, id: i64) -> Result<()>;
}

/// DRF auth tokens: at most one per user.
pub trait AuthTokenStore {
    /// The owner of a token key.
    async fn user_by_token_key(&self, key: &str) -> Result<Option<User>>;
    /// The user's key, created as `fresh_key` if there is none (a concurrent creation wins and
    /// both callers get its key).
    async fn token_for_user(&self, user_id: i64, fresh_key: &str, now: i64) -> Result<String>;
    /// Deletes the user's key, if any.
    async fn delete_token(&self, user_id: i64) -> Result<()>;
}

/// The strongly consistent half of refresh-token state: which jtis were spent and which
/// families were revoked.
pub trait RefreshArbiter {
    /// When `jti` was spent and whether `family` is revoked, plus the user with `user_id` when
    /// one is asked for, in one round trip.
    async fn refresh_state(
        &self,
        jti: &str,
        family: &str,
        user_id: Option<i64>,
    ) -> Result<(RefreshState, Option<User>)>;
    /// Spends `jti`: true for exactly one caller per jti.
    async fn spend_refresh(&self, spend: &Spend<'_>) -> Result<bool>;
    /// Spends the presented jti and revokes its family in one transaction (a logout that may
    /// race a rotation); true when this call revoked a family that was live.
    async fn end_family(&self, spend: &Spend<'_>, family_expires: i64) -> Result<bool>;
    /// The user with `id` and whether the session (token family) `sid` was ended, in one round
    /// trip: what every request authenticated by an access token of a session needs.
    async fn user_in_session(&self, id: i64, sid: &str) -> Result<(Option<User>, bool)>;
    /// Marks the family revoked until `expires` (a second revocation changes nothing).
    async fn revoke_family(
        &self,
        family: &str,
        user_id: &str,
        now: i64,
        expires: i64,
    ) -> Result<()>;
}

/// Fixed-window throttle counters. The combined methods exist so an adapter can answer the
/// counters and the look-up a throttled request needs in one round trip; their defaults make
/// two calls.
pub trait ThrottleStore: UserStore {
    /// Adds one hit to the client's counter and, only while the client is within
    /// `hit.client_limit`, to each subject's counter; returns what each counter holds.
    async fn hit(&self, hit: &Hit) -> Result<Counts>;

    /// Adds one hit to each counter, whatever the counts (the failures of checks the client was
    /// allowed to make).
    async fn add_hits(&self, counters: &[Counter]) -> Result<()>;

    /// [`ThrottleStore::hit`] and [`UserStore::find_user`].
    async fn hit_and_find_user(
        &self,
        hit: &Hit,
        lookup: UserLookup<'_>,
    ) -> Result<(Counts, Option<User>)> {
        let counts = self.hit(hit).await?;
        Ok((counts, self.find_user(lookup).await?))
    }

    /// [`ThrottleStore::hit`] and [`RefreshArbiter::refresh_state`].
    async fn hit_and_refresh_state(
        &self,
        hit: &Hit,
        jti: &str,
        family: &str,
        user_id: Option<i64>,
    ) -> Result<(Counts, RefreshState, Option<User>)>
    where
        Self: RefreshArbiter,
    {
        let counts = self.hit(hit).await?;
        let (state, user) = self.refresh_state(jti, family, user_id).await?;
        Ok((counts, state, user))
    }

    /// [`ThrottleStore::hit`] and [`UserStore::conflicts`].
    async fn hit_and_conflicts(
        &self,
        hit: &Hit,
        username: Option<&str>,
        email: Option<&str>,
    ) -> Result<(Counts, Conflicts)> {
        let counts = self.hit(hit).await?;
        Ok((counts, self.conflicts(username, email).await?))
    }
}

/// Rows whose time is over: spent jtis, revoked families and throttle counters.
pub trait ExpiredRows {
    /// Deletes at most `limit` rows that expired before `now` from each of those tables, in one
    /// round trip; returns how many went in all.
    async fn purge_expired_chunk(&self, now: i64, limit: usize) -> Result<usize>;
}

/// The session index: one record per live session, under a per-user prefix, so listing a user's
/// sessions is one prefix scan. It is eventually consistent (another location may see a new
/// session up to about a minute late) and decides nothing: ending a session is the arbiter's
/// job.
pub trait SessionIndex {
    /// Stores (or replaces) the record until the session expires.
    async fn put_session(&self, record: &SessionRecord, now: i64) -> Result<()>;
    /// The user's sessions, in no particular order.
    async fn sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>>;
    /// One of the user's sessions.
    async fn session(&self, user_id: &str, id: &str) -> Result<Option<SessionRecord>>;
    /// Forgets a session.
    async fn delete_session(&self, user_id: &str, id: &str) -> Result<()>;
}

/// The security event log.
pub trait EventStore {
    /// Appends events (ids are assigned by the store), each with a `once_since` only when the
    /// user has no event of its kind since then; returns the events written, in order.
    async fn insert_events(&self, events: &[Event]) -> Result<Vec<Event>>;
    /// `user_id`'s events, newest first, with ids below `before` (all when `None`), at most
    /// `limit`.
    async fn events(&self, user_id: i64, before: Option<i64>, limit: usize) -> Result<Vec<Event>>;
    /// Deletes up to `limit` events older than `before` (unix seconds); returns how many.
    async fn purge_events(&self, before: i64, limit: usize) -> Result<usize>;
}

/// Two-factor state: TOTP secrets, backup codes and the challenges between a password check and
/// its second factor. The conditional writes decide races: a time step, a backup code and a
/// challenge are each used once.
pub trait MfaStore {
    /// The user's TOTP record (pending or enabled), if any.
    async fn totp(&self, user_id: i64) -> Result<Option<TotpRecord>>;
    /// Stores a pending secret, replacing a pending one; false (nothing written) when TOTP is
    /// already enabled.
    async fn begin_totp(&self, user_id: i64, sealed_secret: &str, now: i64) -> Result<bool>;
    /// Enables the pending secret `sealed_secret` with `step` used and `code_hashes` as the
    /// backup codes, and marks the user; false when it is no longer the pending one (confirmed
    /// or replaced meanwhile).
    async fn enable_totp(
        &self,
        user_id: i64,
        sealed_secret: &str,
        step: i64,
        code_hashes: &[String],
    ) -> Result<bool>;
    /// Records `step` as used, only if TOTP is enabled and `step` is newer than the last one
    /// used; false when another request used it (or a later one) first.
    async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool>;
    /// Spends a backup code; false when it is not one of the user's unused codes.
    async fn use_backup_code(&self, user_id: i64, code_hash: &str) -> Result<bool>;
    /// Replaces every backup code of the user.
    async fn replace_backup_codes(&self, user_id: i64, code_hashes: &[String]) -> Result<()>;
    /// Turns TOTP off: the secret, the codes and the open challenges go, and the user is
    /// unmarked.
    async fn disable_totp(&self, user_id: i64) -> Result<()>;
    /// Stores a new challenge.
    async fn create_challenge(&self, challenge: &Challenge) -> Result<()>;
    /// The challenge `id` if it exists and has not expired at `now`.
    async fn challenge(&self, id: &str, now: i64) -> Result<Option<Challenge>>;
    /// Counts one wrong code against the challenge, deleting it once it has `max` failures.
    async fn fail_challenge(&self, id: &str, max: i64) -> Result<()>;
    /// Deletes the challenge only if it is still there: false when another request used it.
    async fn consume_challenge(&self, id: &str) -> Result<bool>;
}

/// Passkeys: the credentials and the challenges of their ceremonies. A challenge is used once
/// (`take_passkey_challenge` decides which request gets it) and a sign counter only moves
/// forward (`advance_passkey` is a compare-and-set on the counter read).
pub trait PasskeyStore {
    /// Stores a new challenge.
    async fn create_passkey_challenge(&self, challenge: &PasskeyChallenge) -> Result<()>;
    /// The unexpired signup challenge issued with user handle `ukey`.
    async fn signup_challenge(&self, ukey: &str, now: i64) -> Result<Option<PasskeyChallenge>>;
    /// Deletes and returns the challenge if it is still there, unexpired and of `purpose`:
    /// `None` when it never was, expired, or another request took it.
    async fn take_passkey_challenge(
        &self,
        challenge: &str,
        purpose: &str,
        now: i64,
    ) -> Result<Option<PasskeyChallenge>>;
    /// The user's passkeys, oldest first.
    async fn passkeys(&self, user_id: i64) -> Result<Vec<PasskeyCredential>>;
    /// The passkey with this credential id (base64url).
    async fn passkey_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<PasskeyCredential>>;
    /// Stores a passkey (its `id` is assigned); a credential id already stored is a conflict
    /// on "credential_id".
    async fn add_passkey(&self, credential: &PasskeyCredential) -> Result<i64>;
    /// Moves the counter from `old_count` to `new_count` and marks the use, only if the counter
    /// is still `old_count`: false when a concurrent sign-in moved it first.
    async fn advance_passkey(
        &self,
        id: i64,
        old_count: i64,
        new_count: i64,
        now: i64,
    ) -> Result<bool>;
    /// Renames one of the user's passkeys; false when it has none with `id`.
    async fn rename_passkey(&self, user_id: i64, id: i64, name: &str) -> Result<bool>;
    /// Deletes one of the user's passkeys; false when it has none with `id`.
    async fn delete_passkey(&self, user_id: i64, id: i64) -> Result<bool>;
}

/// Social sign-in: the single-use states between the authorization URL and the callback, and
/// the provider identities linked to users.
pub trait SocialStore {
    /// Stores a new state.
    async fn create_social_state(&self, state: &SocialState) -> Result<()>;
    /// Deletes and returns the state `id` only if it belongs to `provider` and has not expired
    /// at `now`: one caller per state gets it; a foreign or expired state stays as it was.
    async fn consume_social_state(
        &self,
        id: &str,
        provider: &str,
        now: i64,
    ) -> Result<Option<SocialState>>;
    /// The user linked to `(provider, subject)`, with the link's last login moved to `now`.
    async fn social_user(&self, provider: &str, subject: &str, now: i64) -> Result<Option<User>>;
    /// Links an identity to a user; false (nothing written) when the identity is already
    /// linked (to anyone: a concurrent first sign-in may have won).
    async fn link_social(&self, link: &SocialLink<'_>) -> Result<bool>;
}
