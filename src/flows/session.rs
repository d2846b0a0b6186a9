//! Sessions: password login, simplejwt's `jwt/create`, `jwt/refresh`, `jwt/verify` and
//! `jwt/blacklist`, and DRF's `token/login` and `token/logout`.
//!
//! Refresh-token state: a token's family is written into its own signed jti (family id, then
//! random); the records store keeps one record per issued refresh token (user, family, expiry),
//! eventually consistent and never decisive; the arbiter decides single use (a spend succeeds
//! once per jti) and keeps revoked families.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::LoginField;
use crate::domain::event::EventKind;
use crate::domain::user::User;
use crate::flows::authn::{
    bound_to_ended_sessions, issued_before_revocation, session_binding, SESSION_BINDING_CLAIM,
    SESSION_CLAIM,
};
use crate::flows::customise;
use crate::flows::throttle::{self, Subject};
use crate::flows::{mfa, sessions};
use crate::flows::{random, Cx, FlowError};
use crate::messages as msg;
use crate::storage::{
    AuthTokenStore, MfaStore, RefreshArbiter, RefreshState, SessionIndex, Spend, ThrottleStore,
    UserLookup, UserStore,
};
use crate::tokens::auth_token::{self, hex};
use crate::tokens::jwt::{self, Claims, JwtError, JwtKeys, TokenType};
use crate::tokens::password_hash;

/// The body field that names the account (djoser's LOGIN_FIELD).
pub fn login_field_name(login_field: LoginField) -> &'static str {
    match login_field {
        LoginField::Username => "username",
        LoginField::Email => "email",
    }
}

/// Finds the account and checks the password, spending the same argon2 work whether or not the
/// account exists. Returns the user only when the password matches; activity is the caller's
/// rule. A matching password stored at another cost (or as a Django hash) is re-hashed.
///
/// Throttled as a password check: an unknown account, a wrong password and an inactive
/// account's right one all count as failures (so the counters say nothing about which it was);
/// only a login that can succeed does not.
pub async fn authenticate<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    login: &str,
    password: &str,
) -> Result<Option<User>, FlowError> {
    let (lookup, subject) = match cx.settings.login_field {
        LoginField::Username => (UserLookup::Username(login), Subject::Username(login)),
        LoginField::Email => (UserLookup::Email(login), Subject::Email(login)),
    };
    let (attempt, user) = throttle::password_check_and_find_user(cx, subject, Some(lookup)).await?;
    let Some(mut user) = user else {
        password_hash::dummy_verify(password, cx.hash_cost());
        attempt.failed(cx).await?;
        return Ok(None);
    };
    if !password_hash::verify_password(password, &user.password) {
        // A hash that is not argon2 at the configured cost (an unusable one, a Django hash not
        // yet upgraded) fails at another speed than an unknown user's dummy work: spend that
        // work too, so the answer time does not tell the account apart.
        if password_hash::needs_rehash(&user.password, cx.hash_cost()) {
            password_hash::dummy_verify(password, cx.hash_cost());
        }
        attempt.failed(cx).await?;
        cx.record(EventKind::LoginFailed, user.id, None);
        return Ok(None);
    }
    if !user.is_active {
        attempt.failed(cx).await?;
        cx.record(EventKind::LoginFailed, user.id, None);
    }
    if password_hash::needs_rehash(&user.password, cx.hash_cost()) {
        let new_hash = cx.hash_new_password(password)?;
        // Same password, so tokens stay valid only if the token state is unchanged: e-mailed
        // links made with the old hash stop working, which is the safe side.
        let change = crate::storage::PasswordChange {
            old_hash: &user.password,
            new_hash: &new_hash,
            last_login: None,
            end_sessions_at: None,
        };
        if cx.store.set_password(user.id, change).await? {
            user.password = new_hash;
        }
    }
    Ok(Some(user))
}

/// What a correct password opens: the session itself, or (for a user with a second factor) a
/// challenge that `mfa/login` completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn<T> {
    /// Signed in: the tokens of the new session.
    Open(T),
    /// The password was right and a second factor is due: the ephemeral token to send back
    /// with the code.
    SecondFactor(String),
}

#[cfg(test)]
impl<T: std::fmt::Debug> SignIn<T> {
    /// The tokens of an opened session (tests of users without a second factor).
    #[allow(clippy::panic)]
    pub fn open(self) -> T {
        match self {
            SignIn::Open(tokens) => tokens,
            other => panic!("expected a session, got {other:?}"),
        }
    }
}

/// POST token/login/: the user's DRF token key, created on first login; last_login moves.
/// `None` inputs are missing fields: djoser treats them as bad credentials.
pub async fn token_login<S: ThrottleStore + AuthTokenStore + SessionIndex + MfaStore>(
    cx: &Cx<'_, S>,
    login: Option<&str>,
    password: Option<&str>,
) -> Result<SignIn<String>, FlowError> {
    let invalid = || FlowError::non_field(msg::INVALID_CREDENTIALS);
    let (Some(login), Some(password)) = (login, password) else {
        return Err(invalid());
    };
    if password.chars().count() > password_hash::MAX_PASSWORD_CHARS {
        return Err(invalid());
    }
    let user = authenticate(cx, login, password).await?;
    let Some(user) = user.filter(|u| u.is_active) else {
        return Err(invalid());
    };
    if user.mfa_enabled {
        let token = mfa::challenge(cx, &user, mfa::Purpose::Token).await?;
        return Ok(SignIn::SecondFactor(token));
    }
    Ok(SignIn::Open(open_token_session(cx, &user).await?))
}

/// The DRF token session of a user whose credentials are checked (by password, and second
/// factor when due): the key (created on first login), its session record, last_login.
pub async fn open_token_session<S: UserStore + AuthTokenStore + SessionIndex>(
    cx: &Cx<'_, S>,
    user: &User,
) -> Result<String, FlowError> {
    let fresh = auth_token::key_from_bytes(&random::<20>()?);
    let key = cx.store.token_for_user(user.id, &fresh, cx.now).await?;
    let sid = sessions::token_session_id(&key);
    let known = sessions::known(cx, &user.id.to_string(), &sid).await;
    let record = sessions::token_record(cx, &user.id.to_string(), &sid, known.as_ref());
    sessions::remember(cx, &record).await;
    cx.record(EventKind::LoginSucceeded, user.id, Some(&sid));
    // Django's user_logged_in signal: last_login moves, which also spends e-mailed tokens.
    cx.store.set_last_login(user.id, cx.now).await?;
    Ok(key)
}

/// POST token/logout/: deletes the signed-in user's DRF token, and its session.
pub async fn token_logout<S: AuthTokenStore + SessionIndex>(
    cx: &Cx<'_, S>,
    me: &User,
) -> Result<(), FlowError> {
    cx.store.delete_token(me.id).await?;
    if let Err(e) = sessions::forget_token_sessions(cx, me).await {
        (cx.warn)(&format!(
            "DRF token session of user {} still indexed: {e:?}",
            me.id
        ));
    }
    Ok(())
}

/// A new jti: 32 lowercase hex characters, as simplejwt's `uuid4().hex`.
fn new_jti() -> Result<String, FlowError> {
    Ok(hex(&random::<16>()?))
}

/// Hex digits of a family id: the first half of every refresh jti of the family.
const FAMILY_HEX: usize = 16;

/// A new family id (64 random bits), for a login.
fn new_family() -> Result<String, FlowError> {
    Ok(hex(&random::<8>()?))
}

/// A refresh jti of `family`: the family id, then 64 random bits; 32 lowercase hex in all.
fn family_jti(family: &str) -> Result<String, FlowError> {
    Ok(format!("{family}{}", hex(&random::<8>()?)))
}

/// The family of a refresh token, read from its signed jti.
///
/// Why not from the record store: it is eventually consistent, so a token presented at another
/// location soon after its issue may find no record there. Falling back to "its own family"
/// would let a thief who refreshes there grow a branch that a later reuse-triggered revocation
/// of the real family never reaches. The jti is covered by the signature, so every location
/// derives the same family with no lookup at all.
///
/// A jti of another shape (a validly signed token from another issuer) maps to a stable digest,
/// so the tokens rotated from it, which carry that digest as their prefix, stay in its family.
pub fn family_of(jti: &str) -> String {
    let ours = jti.len() == 2 * FAMILY_HEX
        && jti
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match jti.get(..FAMILY_HEX) {
        Some(prefix) if ours => prefix.to_string(),
        _ => hex(&Sha256::digest(jti.as_bytes())[..FAMILY_HEX / 2]),
    }
}

/// True when a token spent at `spent_at` and presented again at `now` is a reuse that revokes its
/// family. The grace window is `[spent_at, spent_at + grace)` in whole seconds: a client retrying
/// after a lost response inside it is only refused; `grace == 0` means no tolerance at all, so a
/// replay in the very second of the rotation revokes too. A clock behind `spent_at` (another
/// location's skew) counts as inside the window.
pub fn is_reuse(spent_at: i64, now: i64, grace: i64) -> bool {
    now.saturating_sub(spent_at) >= grace
}

pub(crate) fn jwt_key<S>(cx: &Cx<'_, S>) -> Result<JwtKeys, FlowError> {
    cx.jwt_keys()
}

fn encode(key: &JwtKeys, claims: &Claims) -> Result<String, FlowError> {
    jwt::encode(key, claims)
        .map_err(|e| FlowError::Internal(format!("jwt encode: {}", e.message())))
}

fn not_valid(e: JwtError) -> FlowError {
    FlowError::TokenNotValid(e.message())
}

/// A token pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    /// The refresh token.
    pub refresh: String,
    /// The access token.
    pub access: String,
}

/// POST jwt/create/: logs in with the LOGIN_FIELD and password; a new pair of a new family (or,
/// with a second factor due, the challenge for it).
pub async fn jwt_create<S: ThrottleStore + SessionIndex + MfaStore>(
    cx: &Cx<'_, S>,
    login: &str,
    password: &str,
) -> Result<SignIn<TokenPair>, FlowError> {
    let key = jwt_key(cx)?;
    let user = authenticate(cx, login, password).await?;
    let Some(user) = user.filter(|u| u.is_active) else {
        return Err(FlowError::NoActiveAccount);
    };
    if user.mfa_enabled {
        let token = mfa::challenge(cx, &user, mfa::Purpose::Jwt).await?;
        return Ok(SignIn::SecondFactor(token));
    }
    Ok(SignIn::Open(open_jwt_session(cx, &key, &user).await?))
}

/// The JWT session of a user whose credentials are checked (by password, and second factor
/// when due): a new pair of a new family, its session record, last_login.
pub async fn open_jwt_session<S: UserStore + SessionIndex>(
    cx: &Cx<'_, S>,
    key: &JwtKeys,
    user: &User,
) -> Result<TokenPair, FlowError> {
    let s = cx.settings;
    let family = new_family()?;
    let mut refresh = jwt::new_claims(
        TokenType::Refresh,
        &user.id.to_string(),
        cx.now,
        s.refresh_token_lifetime,
        family_jti(&family)?,
    );
    // The session id, in every token of the login (refresh and access), so ending the session
    // ends its access tokens at once too.
    refresh.extra.insert(SESSION_CLAIM.into(), json!(family));
    if s.logout_on_password_change {
        // simplejwt's CHECK_REVOKE_TOKEN: bind the pair to the user's sessions epoch, so a
        // password change ends it exactly, even within the second it was issued. The access
        // token copies it.
        refresh
            .extra
            .insert(SESSION_BINDING_CLAIM.into(), json!(session_binding(user)));
    }
    let mut access =
        jwt::access_from_refresh(&refresh, cx.now, s.access_token_lifetime, new_jti()?);
    // ACCESS_TOKEN_CLAIMS go into the access token only: the refresh token never carries a
    // copy that could go stale, and each refresh reads them from the user again.
    customise::add_user_claims(s, user, &mut access.extra);
    let record = sessions::jwt_record(cx, &user.id.to_string(), &family, None, refresh.exp);
    sessions::remember(cx, &record).await;
    let refresh_token = encode(key, &refresh)?;
    if s.update_last_login {
        cx.store.set_last_login(user.id, cx.now).await?;
    }
    cx.record(EventKind::LoginSucceeded, user.id, Some(&family));
    Ok(TokenPair {
        refresh: refresh_token,
        access: encode(key, &access)?,
    })
}

/// A decoded refresh-type token with what the arbiter knows about it.
struct Presented {
    claims: Claims,
    jti: String,
    family: String,
    state: RefreshState,
    user: Option<User>,
}

/// Decodes a presented token (signature and time checks first, as simplejwt does). A refresh
/// token also ends REFRESH_TOKEN_LIFETIME after its `iat` as the setting is now: lowering the
/// lifetime shortens tokens already out, so no spent or revoked row is ever purged while a
/// token it governs is still accepted.
fn decode<S>(cx: &Cx<'_, S>, key: &JwtKeys, token: &str) -> Result<Claims, FlowError> {
    let claims = jwt::decode(key, token, cx.now, cx.settings.leeway).map_err(not_valid)?;
    let is_refresh = claims.token_type.as_deref() == Some(TokenType::Refresh.as_str());
    if let (true, Some(iat)) = (is_refresh, claims.iat) {
        let horizon = iat
            .saturating_add(cx.settings.refresh_token_lifetime)
            .saturating_add(cx.settings.leeway);
        if horizon <= cx.now {
            return Err(not_valid(JwtError::Expired));
        }
    }
    Ok(claims)
}

/// Until when a revoked family's row must stay: past the last moment any member can still be
/// accepted. Members are bounded by the presented token's own expiry and by the lifetime rule
/// in [`decode`]; the purge adds LEEWAY as it stands when it runs.
fn family_horizon<S>(cx: &Cx<'_, S>, claims: &Claims) -> i64 {
    let by_lifetime = cx.now.saturating_add(cx.settings.refresh_token_lifetime);
    claims.exp.map_or(by_lifetime, |exp| exp.max(by_lifetime))
}

/// The jti, family and (when `load_user`) user id a decoded token names.
fn token_ids(claims: &Claims, load_user: bool) -> Result<(String, String, Option<i64>), FlowError> {
    // A refresh token without jti cannot be tracked: simplejwt's message fits.
    let jti = claims
        .jti
        .clone()
        .ok_or_else(|| not_valid(JwtError::NoId))?;
    // Validly signed tokens this service never recorded are accepted, as simplejwt does.
    let family = family_of(&jti);
    let user_id = claims
        .user_id
        .as_deref()
        .and_then(|id| id.trim().parse::<i64>().ok())
        .filter(|_| load_user);
    Ok((jti, family, user_id))
}

/// Loads what the arbiter knows of a decoded token; `load_user` is for refresh, which checks the
/// user (verify and blacklist do not read it).
async fn present<S: RefreshArbiter>(
    cx: &Cx<'_, S>,
    claims: Claims,
    load_user: bool,
) -> Result<Presented, FlowError> {
    let (jti, family, user_id) = token_ids(&claims, load_user)?;
    let (state, user) = cx.store.refresh_state(&jti, &family, user_id).await?;
    Ok(Presented {
        claims,
        jti,
        family,
        state,
        user,
    })
}

/// simplejwt's blacklist check, plus reuse detection: a spent token presented again after the
/// grace window revokes its whole family (every descendant stops working). Inside the window,
/// with rotation and blacklisting on, it is a client retrying after a lost answer: the time it
/// was spent comes back, so the caller can hand out the very same successor again.
async fn check_not_blacklisted<S: RefreshArbiter>(
    cx: &Cx<'_, S>,
    p: &Presented,
) -> Result<Option<i64>, FlowError> {
    if p.state.family_revoked {
        return Err(FlowError::TokenNotValid(msg::TOKEN_BLACKLISTED));
    }
    if let Some(spent_at) = p.state.spent_at {
        if is_reuse(spent_at, cx.now, cx.settings.refresh_reuse_grace) {
            let user_id = p.claims.user_id.clone().unwrap_or_default();
            if let Ok(id) = user_id.trim().parse::<i64>() {
                cx.record(EventKind::RefreshReuseDetected, id, Some(&p.family));
            }
            (cx.warn)(&format!(
                "refresh token reuse: jti {} of family {} (user {user_id}) presented {}s after rotation; family revoked",
                p.jti,
                p.family,
                cx.now.saturating_sub(spent_at)
            ));
            cx.store
                .revoke_family(&p.family, &user_id, cx.now, family_horizon(cx, &p.claims))
                .await?;
            return Err(FlowError::TokenNotValid(msg::TOKEN_BLACKLISTED));
        }
        let s = cx.settings;
        if s.rotate_refresh_tokens && s.blacklist_after_rotation {
            return Ok(Some(spent_at));
        }
        return Err(FlowError::TokenNotValid(msg::TOKEN_BLACKLISTED));
    }
    Ok(None)
}

/// The id of a spent token's successor of `kind` ("access" or "refresh"): an HMAC of the spent
/// jti under the signing key, so the same successor can be rebuilt for a retry and nothing
/// secret is stored; `len` bytes as lowercase hex.
fn successor_id<S>(
    cx: &Cx<'_, S>,
    kind: &str,
    spent_jti: &str,
    len: usize,
) -> Result<String, FlowError> {
    let digest = crate::tokens::hmac_sha256(
        cx.secret()?,
        &[
            b"djoser-edge successor\0",
            kind.as_bytes(),
            b"\0",
            spent_jti.as_bytes(),
        ],
    );
    Ok(hex(&digest[..len.min(digest.len())]))
}

/// What jwt/refresh hands back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// A new access token.
    pub access: String,
    /// With rotation, the new refresh token of the same family.
    pub refresh: Option<String>,
}

/// POST jwt/refresh/: a new access token and, with rotation, a new refresh token of the same
/// family; the presented one is spent exactly once, decided by the arbiter. Throttled per client
/// once the signature checks out (a forged token costs no storage), in the same round trip as
/// the arbiter's state: a throttled refresh spends and writes nothing.
pub async fn jwt_refresh<S: ThrottleStore + RefreshArbiter + SessionIndex>(
    cx: &Cx<'_, S>,
    token: &str,
) -> Result<Refreshed, FlowError> {
    let key = jwt_key(cx)?;
    let claims = decode(cx, &key, token)?;
    let (jti, family, user_id) = token_ids(&claims, true)?;
    let (state, user) = throttle::check_and_refresh_state(cx, &jti, &family, user_id).await?;
    let p = Presented {
        claims,
        jti,
        family,
        state,
        user,
    };
    let retry_of = check_not_blacklisted(cx, &p).await?;
    jwt::check_claims(&p.claims, Some(TokenType::Refresh)).map_err(not_valid)?;
    if p.claims.user_id.is_some() {
        let active = p.user.as_ref().filter(|u| u.is_active);
        let Some(user) = active else {
            return Err(FlowError::NoActiveAccountForToken);
        };
        if issued_before_revocation(p.claims.iat, user.tokens_valid_after)
            || bound_to_ended_sessions(&p.claims, user)
        {
            return Err(FlowError::TokenNotValid(msg::TOKEN_BLACKLISTED));
        }
    }
    let s = cx.settings;
    // A token minted without a session id (by another simplejwt issuer) joins its family's.
    let mut claims = p.claims.clone();
    claims
        .extra
        .entry(SESSION_CLAIM.to_string())
        .or_insert_with(|| json!(p.family));
    // With single use, the successor is a function of the spent token and the time it was
    // spent: a retry inside the grace window gets the very same pair (better-auth and OpenAuth
    // do the same), and a first rotation builds it at `now`.
    let single_use = s.rotate_refresh_tokens && s.blacklist_after_rotation;
    let at = retry_of.unwrap_or(cx.now);
    let access_jti = if single_use {
        successor_id(cx, "access", &p.jti, 16)?
    } else {
        new_jti()?
    };
    let mut access = jwt::access_from_refresh(&claims, at, s.access_token_lifetime, access_jti);
    if let Some(user) = p.user.as_ref() {
        customise::add_user_claims(s, user, &mut access.extra);
    }
    let access = encode(&key, &access)?;
    // The session's index record moves on (last use, expiry); the index decides nothing.
    let user_id = p.claims.user_id.clone().unwrap_or_default();
    let known = sessions::known(cx, &user_id, &p.family).await;
    if !s.rotate_refresh_tokens {
        let record = sessions::jwt_record(cx, &user_id, &p.family, known.as_ref(), p.claims.exp);
        sessions::remember(cx, &record).await;
        return Ok(Refreshed {
            access,
            refresh: None,
        });
    }
    let rotated_jti = if single_use {
        format!(
            "{}{}",
            p.family,
            successor_id(cx, "refresh", &p.jti, FAMILY_HEX / 2)?
        )
    } else {
        family_jti(&p.family)?
    };
    let mut rotated = jwt::rotate_refresh(&claims, at, s.refresh_token_lifetime, rotated_jti);
    if !s.refresh_token_sliding {
        // Absolute lifetime: the login's first expiry carries over to every descendant.
        if let (Some(new), Some(old)) = (rotated.exp, p.claims.exp) {
            rotated.exp = Some(new.min(old));
        }
    }
    let refresh = encode(&key, &rotated)?;
    if retry_of.is_some() {
        // Already spent and indexed by the answer that was lost.
        return Ok(Refreshed {
            access,
            refresh: Some(refresh),
        });
    }
    let record = sessions::jwt_record(cx, &user_id, &p.family, known.as_ref(), rotated.exp);
    sessions::remember(cx, &record).await;
    if s.blacklist_after_rotation {
        let spend = Spend {
            jti: &p.jti,
            family: &p.family,
            user_id: &user_id,
            now: cx.now,
            expires: p.claims.exp.unwrap_or(cx.now),
        };
        if !cx.store.spend_refresh(&spend).await? {
            // A concurrent refresh of the same token got there first (the session record
            // written above is the same session's, so it stands).
            return Err(FlowError::TokenNotValid(msg::TOKEN_BLACKLISTED));
        }
    }
    Ok(Refreshed {
        access,
        refresh: Some(refresh),
    })
}

/// POST jwt/verify/: checks a token's signature and time claims (any type); a spent or revoked
/// refresh token is a `non_field_errors` error, as simplejwt's serializer raises it.
pub async fn jwt_verify<S: RefreshArbiter>(cx: &Cx<'_, S>, token: &str) -> Result<(), FlowError> {
    let key = jwt_key(cx)?;
    let claims = decode(cx, &key, token)?;
    jwt::check_claims(&claims, None).map_err(not_valid)?;
    // Only refresh jtis are ever blacklisted, so access tokens need no storage round trip.
    if claims.token_type.as_deref() != Some(TokenType::Access.as_str()) {
        let p = present(cx, claims, false).await?;
        if p.state.family_revoked || p.state.spent_at.is_some() {
            return Err(FlowError::non_field(msg::TOKEN_BLACKLISTED));
        }
    }
    Ok(())
}

/// POST jwt/blacklist/: ends the token's whole family (a logout of that login). Any validly
/// signed member ends it, a token rotated a moment ago included, so a logout that races a
/// refresh cannot leave the family alive; spending the token and revoking the family are one
/// transaction. A family that was already revoked is simplejwt's "blacklisted" answer.
pub async fn jwt_blacklist<S: RefreshArbiter + SessionIndex>(
    cx: &Cx<'_, S>,
    token: &str,
) -> Result<(), FlowError> {
    let key = jwt_key(cx)?;
    let p = present(cx, decode(cx, &key, token)?, false).await?;
    if p.state.family_revoked {
        return Err(FlowError::TokenNotValid(msg::TOKEN_BLACKLISTED));
    }
    jwt::check_claims(&p.claims, Some(TokenType::Refresh)).map_err(not_valid)?;
    let user_id = p.claims.user_id.clone().unwrap_or_default();
    let spend = Spend {
        jti: &p.jti,
        family: &p.family,
        user_id: &user_id,
        now: cx.now,
        expires: p.claims.exp.unwrap_or(cx.now),
    };
    if !cx
        .store
        .end_family(&spend, family_horizon(cx, &p.claims))
        .await?
    {
        // A concurrent logout or reuse detection ended it first.
        return Err(FlowError::TokenNotValid(msg::TOKEN_BLACKLISTED));
    }
    // The family is ended in D1 whatever the index says; forgetting it there is best effort.
    if let Err(e) = cx.store.delete_session(&user_id, &p.family).await {
        (cx.warn)(&format!("ended session {} still indexed: {e}", p.family));
    }
    if let Ok(id) = user_id.trim().parse::<i64>() {
        cx.record(EventKind::SessionEnded, id, Some(&p.family));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::flows::testing::{cx, cx_at, cx_from, settings, user_with_password, NOW};
    use crate::storage::memory::{block_on, both, MemoryStore};

    fn signed_in(s: &Settings, store: &MemoryStore) -> TokenPair {
        user_with_password(store, s, 1, "alice", "a@example.com", "secret-pw-1");
        block_on(jwt_create(&cx(s, store), "alice", "secret-pw-1"))
            .unwrap()
            .open()
    }

    #[test]
    fn replay_inside_the_grace_window_is_not_reuse() {
        assert!(!is_reuse(1_000, 1_000, 10));
        assert!(!is_reuse(1_000, 1_009, 10));
        assert!(is_reuse(1_000, 1_010, 10));
        assert!(is_reuse(1_000, 5_000, 10));
    }

    #[test]
    fn zero_grace_makes_every_replay_a_reuse() {
        assert!(is_reuse(1_000, 1_000, 0));
        assert!(is_reuse(1_000, 1_001, 0));
    }

    #[test]
    fn clock_skew_and_extreme_times_neither_revoke_nor_panic() {
        assert!(!is_reuse(1_000, 999, 10));
        assert!(!is_reuse(i64::MAX, i64::MIN, 0));
        assert!(is_reuse(i64::MIN, i64::MAX, 300));
    }

    #[test]
    fn our_refresh_jtis_carry_their_family_in_the_first_half() {
        let jti = "0123456789abcdef0011223344556677";
        assert_eq!(family_of(jti), "0123456789abcdef");
        let child = format!("{}{}", family_of(jti), "8899aabbccddeeff");
        assert_eq!(family_of(&child), family_of(jti));
    }

    #[test]
    fn foreign_jtis_map_to_a_stable_family_their_descendants_share() {
        for jti in ["", "x/../y", "ü", "0123456789ABCDEF0011223344556677", "abc"] {
            let family = family_of(jti);
            assert_eq!(family.len(), FAMILY_HEX, "{jti:?}");
            assert_eq!(family, family_of(jti));
            assert_ne!(family, family_of(&format!("{jti}x")));
            let child = format!("{family}0011223344556677");
            assert_eq!(family_of(&child), family, "{jti:?}");
        }
        assert_eq!(family_of(&"a".repeat(600)).len(), FAMILY_HEX);
    }

    #[test]
    fn a_login_records_its_refresh_token_and_wrong_passwords_get_nothing() {
        let s = settings();
        let store = MemoryStore::new();
        let pair = signed_in(&s, &store);
        assert!(!pair.access.is_empty());
        assert_eq!(store.snapshot().sessions.len(), 1);
        assert_eq!(
            block_on(jwt_create(&cx(&s, &store), "alice", "wrong")),
            Err(FlowError::NoActiveAccount)
        );
        assert_eq!(
            block_on(jwt_create(&cx(&s, &store), "nobody", "secret-pw-1")),
            Err(FlowError::NoActiveAccount)
        );
    }

    #[test]
    fn rotation_spends_the_old_token_and_a_late_replay_revokes_the_family() {
        let s = settings();
        let store = MemoryStore::new();
        let pair = signed_in(&s, &store);
        let next = block_on(jwt_refresh(&cx(&s, &store), &pair.refresh)).unwrap();
        let rotated = next.refresh.clone().unwrap();
        // Inside the grace window, seconds later: a retry after a lost answer gets the very
        // same pair, and nothing more is spent or revoked.
        let retry = cx_at(&s, &store, NOW + s.refresh_reuse_grace - 1);
        assert_eq!(block_on(jwt_refresh(&retry, &pair.refresh)), Ok(next));
        assert!(store.snapshot().revoked.is_empty());
        assert_eq!(store.snapshot().spent.len(), 1);
        // After it: the whole family dies, the rotated token too.
        let late = cx_at(&s, &store, NOW + s.refresh_reuse_grace);
        assert!(block_on(jwt_refresh(&late, &pair.refresh)).is_err());
        assert_eq!(store.snapshot().revoked.len(), 1);
        assert_eq!(
            block_on(jwt_refresh(&late, &rotated)),
            Err(FlowError::TokenNotValid(msg::TOKEN_BLACKLISTED))
        );
    }

    #[test]
    fn two_racing_refreshes_of_one_token_issue_one_successor() {
        let s = settings();
        let store = MemoryStore::new();
        let pair = signed_in(&s, &store);
        let racing = MemoryStore::interleaved();
        for (id, user) in store.snapshot().users {
            let _ = id;
            racing.put_user(user);
        }
        let cx = cx(&s, &racing);
        let (a, b) = both(
            jwt_refresh(&cx, &pair.refresh),
            jwt_refresh(&cx, &pair.refresh),
        );
        let wins = [a.is_ok(), b.is_ok()].iter().filter(|w| **w).count();
        assert_eq!(wins, 1);
        // Both wrote the same session's record; there is one session.
        assert_eq!(racing.snapshot().sessions.len(), 1);
    }

    #[test]
    fn refreshes_over_the_limit_are_throttled_per_client_and_spend_nothing() {
        let s = Settings {
            rate_limit_refresh: crate::config::RateLimit {
                count: 3,
                window: 60,
            },
            ..settings()
        };
        let store = MemoryStore::new();
        let mut refresh = signed_in(&s, &store).refresh;
        let cx = cx(&s, &store);
        for _ in 0..3 {
            refresh = block_on(jwt_refresh(&cx, &refresh))
                .unwrap()
                .refresh
                .unwrap();
        }
        let spent = store.snapshot().spent.len();
        assert!(matches!(
            block_on(jwt_refresh(&cx, &refresh)),
            Err(FlowError::Throttled { .. })
        ));
        assert_eq!(store.snapshot().spent.len(), spent);
        // The token the throttled call carried still works from another client.
        let other = cx_from(&s, &store, "192.0.2.77");
        assert!(block_on(jwt_refresh(&other, &refresh)).is_ok());
    }

    #[test]
    fn the_refresh_throttle_adds_no_storage_round_trip() {
        let calls = |rate_limits: bool| {
            let s = Settings {
                rate_limits,
                ..settings()
            };
            let store = MemoryStore::new();
            let pair = signed_in(&s, &store);
            let before = store.calls.get();
            block_on(jwt_refresh(&cx(&s, &store), &pair.refresh)).unwrap();
            store.calls.get() - before
        };
        assert_eq!(calls(true), calls(false));
    }

    #[test]
    fn the_absolute_lifetime_carries_over_rotations() {
        let s = settings();
        let store = MemoryStore::new();
        let pair = signed_in(&s, &store);
        let later = cx_at(&s, &store, NOW + 1000);
        let next = block_on(jwt_refresh(&later, &pair.refresh)).unwrap();
        let key = JwtKeys::hs256(s.signing_key.as_deref().unwrap());
        let claims = jwt::decode(&key, &next.refresh.unwrap(), NOW + 1000, 0).unwrap();
        assert_eq!(claims.exp, Some(NOW + s.refresh_token_lifetime));
    }

    #[test]
    fn verify_accepts_live_tokens_and_refuses_spent_ones() {
        let s = settings();
        let store = MemoryStore::new();
        let pair = signed_in(&s, &store);
        let cx = cx(&s, &store);
        assert_eq!(block_on(jwt_verify(&cx, &pair.access)), Ok(()));
        assert_eq!(block_on(jwt_verify(&cx, &pair.refresh)), Ok(()));
        block_on(jwt_refresh(&cx, &pair.refresh)).unwrap();
        assert_eq!(
            block_on(jwt_verify(&cx, &pair.refresh)),
            Err(FlowError::non_field(msg::TOKEN_BLACKLISTED))
        );
        assert_eq!(
            block_on(jwt_verify(&cx, "garbage")),
            Err(FlowError::TokenNotValid(JwtError::Invalid.message()))
        );
    }

    #[test]
    fn blacklisting_ends_the_family() {
        let s = settings();
        let store = MemoryStore::new();
        let pair = signed_in(&s, &store);
        let cx = cx(&s, &store);
        block_on(jwt_blacklist(&cx, &pair.refresh)).unwrap();
        assert_eq!(
            block_on(jwt_refresh(&cx, &pair.refresh)),
            Err(FlowError::TokenNotValid(msg::TOKEN_BLACKLISTED))
        );
        assert_eq!(
            block_on(jwt_blacklist(&cx, &pair.access)),
            Err(FlowError::TokenNotValid(JwtError::WrongType.message()))
        );
    }

    #[test]
    fn a_logout_with_a_token_rotated_a_moment_ago_still_ends_the_family() {
        let s = settings();
        let store = MemoryStore::new();
        let pair = signed_in(&s, &store);
        let cx = cx(&s, &store);
        let next = block_on(jwt_refresh(&cx, &pair.refresh)).unwrap();
        // The client logs out with the token it had, inside the reuse grace window.
        assert_eq!(block_on(jwt_blacklist(&cx, &pair.refresh)), Ok(()));
        assert_eq!(
            block_on(jwt_refresh(&cx, &next.refresh.unwrap())),
            Err(FlowError::TokenNotValid(msg::TOKEN_BLACKLISTED))
        );
        assert_eq!(
            block_on(jwt_blacklist(&cx, &pair.refresh)),
            Err(FlowError::TokenNotValid(msg::TOKEN_BLACKLISTED))
        );
    }

    #[test]
    fn a_logout_racing_a_refresh_leaves_no_live_successor() {
        let s = settings();
        let base = MemoryStore::new();
        let pair = signed_in(&s, &base);
        let store = MemoryStore::interleaved();
        store.put_user(base.user(1).unwrap());
        let cx = cx(&s, &store);
        let (_refreshed, logout) = both(
            jwt_refresh(&cx, &pair.refresh),
            jwt_blacklist(&cx, &pair.refresh),
        );
        assert_eq!(logout, Ok(()));
        let state = store.snapshot();
        assert!(!state.revoked.is_empty());
        for (_, sid) in state.sessions.keys() {
            assert!(state.revoked.contains_key(sid));
        }
    }

    #[test]
    fn revoked_and_spent_rows_outlive_every_token_they_govern() {
        let s = Settings {
            leeway: 30,
            ..settings()
        };
        let store = MemoryStore::new();
        let pair = signed_in(&s, &store);
        block_on(jwt_blacklist(&cx(&s, &store), &pair.refresh)).unwrap();
        let key = JwtKeys::hs256(s.signing_key.as_deref().unwrap());
        let exp = jwt::decode(&key, &pair.refresh, NOW, 0)
            .unwrap()
            .exp
            .unwrap();
        let state = store.snapshot();
        let (_, _, spent_until) = state.spent.values().next().cloned().unwrap();
        let family_until = *state.revoked.values().next().unwrap();
        assert!(spent_until >= exp && family_until >= exp);
        // The token is accepted until exp + leeway; the purge adds the leeway it runs with.
        assert!(block_on(jwt_verify(&cx_at(&s, &store, exp + 29), &pair.refresh)).is_err());
    }

    #[test]
    fn lowering_the_refresh_lifetime_shortens_tokens_already_out() {
        let s = settings();
        let store = MemoryStore::new();
        let pair = signed_in(&s, &store);
        let lowered = Settings {
            refresh_token_lifetime: 600,
            ..settings()
        };
        assert!(block_on(jwt_refresh(
            &cx_at(&lowered, &store, NOW + 599),
            &pair.refresh
        ))
        .is_ok());
        let fresh = MemoryStore::new();
        let pair = signed_in(&s, &fresh);
        assert_eq!(
            block_on(jwt_refresh(
                &cx_at(&lowered, &fresh, NOW + 600),
                &pair.refresh
            )),
            Err(FlowError::TokenNotValid(JwtError::Expired.message()))
        );
    }

    #[test]
    fn a_rehash_at_login_keeps_other_sessions_alive() {
        let old = Settings {
            argon2_memory_kib: 16,
            logout_on_password_change: true,
            ..settings()
        };
        let s = Settings {
            logout_on_password_change: true,
            ..settings()
        };
        let store = MemoryStore::new();
        user_with_password(&store, &old, 1, "alice", "", "secret-pw-1");
        let first = block_on(jwt_create(&cx(&old, &store), "alice", "secret-pw-1"))
            .unwrap()
            .open();
        // The next login is at a new cost: the stored hash changes, the password does not.
        block_on(jwt_create(&cx(&s, &store), "alice", "secret-pw-1"))
            .unwrap()
            .open();
        assert!(block_on(jwt_refresh(&cx(&s, &store), &first.refresh)).is_ok());
        let user = store.user(1).unwrap();
        let key = JwtKeys::hs256(s.signing_key.as_deref().unwrap());
        let access = jwt::decode(&key, &first.access, NOW, 0).unwrap();
        assert_eq!(
            crate::flows::authn::check_jwt_user(Some(user), &access).map(|u| u.id),
            Ok(1)
        );
    }

    #[test]
    fn logins_and_reuse_are_recorded_for_existing_accounts_only() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        let cx = cx(&s, &store);
        let pair = block_on(jwt_create(&cx, "alice", "secret-pw-1"))
            .unwrap()
            .open();
        let _ = block_on(jwt_create(&cx, "alice", "wrong"));
        let _ = block_on(jwt_create(&cx, "nobody", "wrong"));
        block_on(jwt_refresh(&cx, &pair.refresh)).unwrap();
        let late = cx_at(&s, &store, NOW + s.refresh_reuse_grace);
        let _ = block_on(jwt_refresh(&late, &pair.refresh));
        let again = block_on(jwt_create(&cx, "alice", "secret-pw-1"))
            .unwrap()
            .open();
        block_on(jwt_blacklist(&cx, &again.refresh)).unwrap();
        let mut events = cx.events.take();
        events.extend(late.events.take());
        let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.user_id)).collect();
        assert_eq!(
            kinds,
            [
                (EventKind::LoginSucceeded, 1),
                (EventKind::LoginFailed, 1),
                (EventKind::LoginSucceeded, 1),
                (EventKind::SessionEnded, 1),
                (EventKind::RefreshReuseDetected, 1),
            ]
        );
        let key = JwtKeys::hs256(s.signing_key.as_deref().unwrap());
        let jti = jwt::decode(&key, &pair.refresh, NOW, 0)
            .unwrap()
            .jti
            .unwrap();
        assert_eq!(events[0].session, Some(family_of(&jti)));
        assert_eq!(events[4].session, Some(family_of(&jti)));
    }

    #[test]
    fn a_refresh_for_a_deactivated_user_is_refused() {
        let s = settings();
        let store = MemoryStore::new();
        let pair = signed_in(&s, &store);
        let mut user = store.user(1).unwrap();
        user.is_active = false;
        store.put_user(user);
        assert_eq!(
            block_on(jwt_refresh(&cx(&s, &store), &pair.refresh)),
            Err(FlowError::NoActiveAccountForToken)
        );
    }

    #[test]
    fn a_login_at_an_old_cost_rehashes_and_still_verifies() {
        let old = Settings {
            argon2_memory_kib: 16,
            ..settings()
        };
        let s = settings();
        let store = MemoryStore::new();
        let before = user_with_password(&store, &old, 1, "alice", "", "secret-pw-1");
        let user = block_on(authenticate(&cx(&s, &store), "alice", "secret-pw-1"))
            .unwrap()
            .unwrap();
        assert_ne!(user.password, before.password);
        assert!(password_hash::verify_password(
            "secret-pw-1",
            &store.user(1).unwrap().password
        ));
    }

    #[test]
    fn token_login_creates_one_key_and_moves_last_login() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        let cx = cx(&s, &store);
        let a = block_on(token_login(&cx, Some("alice"), Some("secret-pw-1")))
            .unwrap()
            .open();
        assert_eq!(store.user(1).unwrap().last_login, Some(NOW));
        // A second login in the same second still moves last_login, so it spends links too.
        let b = block_on(token_login(&cx, Some("alice"), Some("secret-pw-1")))
            .unwrap()
            .open();
        assert_eq!(a, b);
        assert_eq!(store.user(1).unwrap().last_login, Some(NOW + 1));
        assert_eq!(
            block_on(token_login(&cx, Some("alice"), None)),
            Err(FlowError::non_field(msg::INVALID_CREDENTIALS))
        );
        let me = store.user(1).unwrap();
        block_on(token_logout(&cx, &me)).unwrap();
        assert!(store.snapshot().tokens.is_empty());
    }
}
