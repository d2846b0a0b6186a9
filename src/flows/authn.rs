//! Who is calling: the credentials of the Authorization header resolved to a user, as DRF's
//! `(JWTAuthentication, TokenAuthentication)` do, and the rules that end a token's validity
//! (revocation time and password binding) shared with the session flows.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::user::User;
use crate::flows::{Cx, FlowError};
use crate::storage::{AuthTokenStore, RefreshArbiter, UserLookup, UserStore};
use crate::tokens::auth_token::{self, hex};
use crate::tokens::jwt::{self, Claims, JwtError, TokenType};

/// The session id claim: the login's token family, in every refresh and access token of it.
pub const SESSION_CLAIM: &str = "sid";

/// simplejwt's REVOKE_TOKEN_CLAIM name; here it binds a token to the user's sessions epoch.
pub const SESSION_BINDING_CLAIM: &str = "hash_password";

/// Why header credentials were refused; each has simplejwt's or DRF's own body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// The access token failed a check (signature, time, claims, type).
    InvalidAccessToken(JwtError),
    /// A valid access token without a `user_id` claim.
    NoUserIdentification,
    /// The token's user does not exist.
    UserNotFound,
    /// The token's user is inactive.
    UserInactive,
    /// The token predates a password change that ended every session.
    PasswordChanged,
    /// A DRF token key nobody has.
    InvalidTokenKey,
    /// A DRF token key of an inactive user.
    TokenUserInactive,
    /// An access token of a session that was ended (logout, "sign out other devices").
    SessionEnded,
}

fn refused(failure: AuthFailure) -> FlowError {
    FlowError::Unauthenticated(failure)
}

/// The user of a header access token (simplejwt's JWTAuthentication).
pub async fn user_for_access_token<S: UserStore + RefreshArbiter>(
    cx: &Cx<'_, S>,
    token: &str,
) -> Result<User, FlowError> {
    Ok(access_token_session(cx, token).await?.0)
}

/// The user of an access token and the session (`sid`) it belongs to, read from the claims the
/// verification decoded anyway.
pub async fn access_token_session<S: UserStore + RefreshArbiter>(
    cx: &Cx<'_, S>,
    token: &str,
) -> Result<(User, Option<String>), FlowError> {
    let key = cx.jwt_keys()?;
    let invalid = |e| refused(AuthFailure::InvalidAccessToken(e));
    let claims = jwt::decode(&key, token, cx.now, cx.settings.leeway).map_err(invalid)?;
    jwt::check_claims(&claims, Some(TokenType::Access)).map_err(invalid)?;
    let Some(raw_id) = claims.user_id.as_deref() else {
        return Err(refused(AuthFailure::NoUserIdentification));
    };
    // A user_id that is not a number names no user. A token of a session is checked against
    // the session's end in the same round trip as the user look-up.
    let sid = claims.extra.get(SESSION_CLAIM).and_then(Value::as_str);
    let (user, ended) = match (raw_id.trim().parse::<i64>(), sid) {
        (Ok(id), Some(sid)) => cx.store.user_in_session(id, sid).await?,
        (Ok(id), None) => (cx.store.find_user(UserLookup::Id(id)).await?, false),
        (Err(_), _) => (None, false),
    };
    let user = check_jwt_user(user, &claims)?;
    if ended {
        return Err(refused(AuthFailure::SessionEnded));
    }
    Ok((user, sid.map(str::to_string)))
}

/// The checks simplejwt's JWTAuthentication.get_user makes once the user is loaded, plus this
/// service's revocation time and password binding.
pub fn check_jwt_user(user: Option<User>, claims: &Claims) -> Result<User, FlowError> {
    let Some(user) = user else {
        return Err(refused(AuthFailure::UserNotFound));
    };
    if !user.is_active {
        return Err(refused(AuthFailure::UserInactive));
    }
    if issued_before_revocation(claims.iat, user.tokens_valid_after)
        || bound_to_ended_sessions(claims, &user)
    {
        return Err(refused(AuthFailure::PasswordChanged));
    }
    Ok(user)
}

/// The user of a header DRF token key (DRF's TokenAuthentication).
pub async fn user_for_token_key<S: AuthTokenStore>(
    cx: &Cx<'_, S>,
    key: &str,
) -> Result<User, FlowError> {
    // A key that cannot be one is refused without a look-up.
    let user = if auth_token::is_well_formed(key) {
        cx.store.user_by_token_key(key).await?
    } else {
        None
    };
    match user {
        None => Err(refused(AuthFailure::InvalidTokenKey)),
        Some(u) if !u.is_active => Err(refused(AuthFailure::TokenUserInactive)),
        Some(u) => Ok(u),
    }
}

/// True when a token with this `iat` predates the user's "tokens valid after" time (set by
/// LOGOUT_ON_PASSWORD_CHANGE), so it must be refused.
///
/// `tokens_valid_after == 0` means the user's sessions were never revoked: every token passes,
/// including tokens without `iat` (simplejwt does not require the claim). Once a revocation time
/// is set, a token without `iat` cannot prove it is newer and is refused. Times are whole
/// seconds, so a token issued in the same second as the change (`iat == tokens_valid_after`)
/// survives: refusing it would also refuse the login that follows the change in that second.
pub fn issued_before_revocation(iat: Option<i64>, tokens_valid_after: i64) -> bool {
    if tokens_valid_after <= 0 {
        return false;
    }
    iat.is_none_or(|iat| iat < tokens_valid_after)
}

/// The [`SESSION_BINDING_CLAIM`] value for a user: 32 upper-case hex characters, simplejwt's
/// format for the claim.
///
/// simplejwt's CHECK_REVOKE_TOKEN writes `MD5(user.password)`, so a login that merely re-encodes
/// the same password (a new hash cost, a Django hash upgraded to argon2) ends every other
/// session, and of two racing logins the loser holds tokens bound to a hash that no longer
/// exists. Here the claim digests the user's sessions epoch instead (`tokens_valid_after`), which
/// moves only when every session must end (a password reset, or a password change with
/// LOGOUT_ON_PASSWORD_CHANGE) and always forward, so the check is exact even within one second.
pub fn session_binding(user: &User) -> String {
    let epoch = format!("{}:{}", user.id, user.tokens_valid_after);
    hex(&Sha256::digest(epoch.as_bytes())[..16]).to_ascii_uppercase()
}

/// True when the token was issued in a sessions epoch that has ended. A token without the claim
/// passes here; [`issued_before_revocation`] covers it.
pub fn bound_to_ended_sessions(claims: &Claims, user: &User) -> bool {
    match claims.extra.get(SESSION_BINDING_CLAIM) {
        None => false,
        Some(Value::String(bound)) => *bound != session_binding(user),
        Some(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::testing::{cx, settings, NOW};
    use crate::storage::memory::{block_on, MemoryStore};
    use crate::storage::AuthTokenStore;
    use crate::tokens::jwt::JwtKeys;
    use serde_json::json;

    #[test]
    fn tokens_of_a_never_revoked_user_pass_with_or_without_iat() {
        assert!(!issued_before_revocation(None, 0));
        assert!(!issued_before_revocation(Some(i64::MIN), 0));
        assert!(!issued_before_revocation(Some(1_700_000_000), 0));
    }

    #[test]
    fn tokens_issued_before_the_revocation_second_are_refused() {
        let changed = 1_700_000_000;
        assert!(issued_before_revocation(Some(changed - 1), changed));
        assert!(issued_before_revocation(Some(i64::MIN), changed));
        assert!(issued_before_revocation(None, changed));
        assert!(!issued_before_revocation(Some(changed), changed));
        assert!(!issued_before_revocation(Some(i64::MAX), changed));
    }

    fn claims_bound_to(value: Value) -> Claims {
        let mut claims = Claims::default();
        claims.extra.insert(SESSION_BINDING_CLAIM.into(), value);
        claims
    }

    #[test]
    fn the_session_binding_is_32_upper_hex_and_moves_only_with_the_epoch() {
        let mut user = User::for_tests(
            1,
            "alice",
            "",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        );
        let a = session_binding(&user);
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
        // A re-hash of the same password changes nothing...
        user.password = "pbkdf2_sha256$870000$salt$hash".into();
        assert_eq!(session_binding(&user), a);
        // ...ending every session does.
        user.tokens_valid_after = 1_700_000_000;
        assert_ne!(session_binding(&user), a);
    }

    #[test]
    fn a_token_of_the_current_epoch_passes_and_of_an_ended_one_fails() {
        let mut user = User::for_tests(1, "alice", "", "hash");
        let old = claims_bound_to(json!(session_binding(&user)));
        assert!(!bound_to_ended_sessions(&old, &user));
        user.tokens_valid_after = 5;
        let current = claims_bound_to(json!(session_binding(&user)));
        assert!(!bound_to_ended_sessions(&current, &user));
        assert!(bound_to_ended_sessions(&old, &user));
        assert!(!bound_to_ended_sessions(&Claims::default(), &user));
        assert!(bound_to_ended_sessions(&claims_bound_to(json!(1)), &user));
        assert_eq!(
            check_jwt_user(Some(user), &old),
            Err(refused(AuthFailure::PasswordChanged))
        );
    }

    #[test]
    fn check_jwt_user_reports_password_change_after_activity() {
        let mut user = User::for_tests(1, "alice", "", "");
        user.tokens_valid_after = 100;
        let old = Claims {
            iat: Some(99),
            ..Claims::default()
        };
        assert_eq!(
            check_jwt_user(Some(user.clone()), &old),
            Err(refused(AuthFailure::PasswordChanged))
        );
        user.is_active = false;
        assert_eq!(
            check_jwt_user(Some(user), &old),
            Err(refused(AuthFailure::UserInactive))
        );
        assert_eq!(
            check_jwt_user(None, &old),
            Err(refused(AuthFailure::UserNotFound))
        );
    }

    fn access_token(s: &crate::config::Settings, user_id: &str) -> String {
        let key = JwtKeys::hs256(s.signing_key.as_deref().unwrap());
        let refresh = jwt::new_claims(TokenType::Refresh, user_id, NOW, 60, "a".repeat(32));
        let access = jwt::access_from_refresh(&refresh, NOW, 60, "b".repeat(32));
        jwt::encode(&key, &access).unwrap()
    }

    #[test]
    fn an_access_token_names_its_active_user() {
        let s = settings();
        let store = MemoryStore::new();
        store.put_user(User::for_tests(4, "dora", "", "h"));
        let user = block_on(user_for_access_token(
            &cx(&s, &store),
            &access_token(&s, "4"),
        ));
        assert_eq!(user.map(|u| u.id), Ok(4));
    }

    #[test]
    fn a_refresh_token_in_the_header_is_refused_as_the_wrong_type() {
        let s = settings();
        let store = MemoryStore::new();
        let key = JwtKeys::hs256(s.signing_key.as_deref().unwrap());
        let refresh = jwt::new_claims(TokenType::Refresh, "4", NOW, 60, "a".repeat(32));
        let token = jwt::encode(&key, &refresh).unwrap();
        assert_eq!(
            block_on(user_for_access_token(&cx(&s, &store), &token)),
            Err(refused(AuthFailure::InvalidAccessToken(
                JwtError::WrongType
            )))
        );
    }

    #[test]
    fn a_non_numeric_user_id_names_nobody() {
        let s = settings();
        let store = MemoryStore::new();
        assert_eq!(
            block_on(user_for_access_token(
                &cx(&s, &store),
                &access_token(&s, "x")
            )),
            Err(refused(AuthFailure::UserNotFound))
        );
    }

    #[test]
    fn token_keys_resolve_only_when_well_formed_and_active() {
        let s = settings();
        let store = MemoryStore::new();
        let mut user = User::for_tests(2, "bob", "", "h");
        store.put_user(user.clone());
        let key = "0123456789abcdef0123456789abcdef01234567";
        block_on(store.token_for_user(2, key, NOW)).unwrap();
        let cx = cx(&s, &store);
        assert_eq!(block_on(user_for_token_key(&cx, key)).map(|u| u.id), Ok(2));
        assert_eq!(
            block_on(user_for_token_key(&cx, "short")),
            Err(refused(AuthFailure::InvalidTokenKey))
        );
        user.is_active = false;
        store.put_user(user);
        assert_eq!(
            block_on(user_for_token_key(&cx, key)),
            Err(refused(AuthFailure::TokenUserInactive))
        );
    }
}
