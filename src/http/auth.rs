//! The Authorization header, read as DRF reads it with `(JWTAuthentication, TokenAuthentication)`:
//! simplejwt first (Bearer/JWT words), then DRF's `Token` scheme.
//!
//! `parse_authorization` is pure; `authenticate` resolves credentials to a user through storage.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::domain::user::User;
use crate::error::ApiError;
use crate::messages as msg;
use crate::tokens::auth_token::{self, hex};
use crate::tokens::jwt::{self, Claims, JwtError, TokenType};

/// simplejwt's REVOKE_TOKEN_CLAIM: the password hash a token was issued under.
pub const PASSWORD_BINDING_CLAIM: &str = "hash_password";

/// What the header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No header, or a scheme neither authenticator handles: anonymous.
    None,
    /// A simplejwt access token.
    Jwt(String),
    /// A DRF token key.
    Token(String),
}

/// Python's `bytes.split()`: runs of ASCII whitespace (vertical tab included) separate words.
fn words(header: &str) -> Vec<&str> {
    header
        .split([' ', '\t', '\n', '\r', '\x0b', '\x0c'])
        .filter(|w| !w.is_empty())
        .collect()
}

/// Reads the header; malformed credentials are a 401 even on endpoints that allow anyone.
pub fn parse_authorization(
    header: Option<&str>,
    jwt_words: &[String],
) -> Result<Credentials, ApiError> {
    let Some(header) = header else {
        return Ok(Credentials::None);
    };
    let parts = words(header);
    let Some(first) = parts.first() else {
        return Ok(Credentials::None);
    };
    // djoser-compat: simplejwt compares the scheme word case-sensitively ("bearer x" is anonymous).
    if jwt_words.iter().any(|w| w == first) {
        if parts.len() != 2 {
            return Err(ApiError::coded(
                401,
                msg::BAD_AUTHORIZATION_HEADER,
                "bad_authorization_header",
            ));
        }
        return Ok(Credentials::Jwt(parts[1].to_string()));
    }
    // DRF's TokenAuthentication compares its keyword case-insensitively.
    if first.eq_ignore_ascii_case("token") {
        return match parts.len() {
            1 => Err(ApiError::detail(401, msg::TOKEN_HEADER_NO_CREDENTIALS)),
            2 => Ok(Credentials::Token(parts[1].to_string())),
            _ => Err(ApiError::detail(401, msg::TOKEN_HEADER_SPACES)),
        };
    }
    Ok(Credentials::None)
}

/// The header token failed as an access token: simplejwt's InvalidToken body with `messages`.
pub fn invalid_access_token(error: JwtError) -> ApiError {
    ApiError::Detail {
        status: 401,
        detail: msg::TOKEN_NOT_VALID_ANY_TYPE.into(),
        code: Some("token_not_valid"),
        messages: Some(json!([{
            "token_class": "AccessToken",
            "token_type": "access",
            "message": error.message(),
        }])),
    }
}

/// Validates an access token from the header (signature, time, claims, type) and returns its
/// user id claim as a number. Pure: the caller loads the user.
pub fn access_token_user_id(
    settings: &Settings,
    key: &jwt::JwtKey,
    token: &str,
    now: i64,
) -> Result<(Claims, Option<i64>), ApiError> {
    let claims = jwt::decode(key, token, now, settings.leeway).map_err(invalid_access_token)?;
    jwt::check_claims(&claims, Some(TokenType::Access)).map_err(invalid_access_token)?;
    let Some(raw_id) = claims.user_id.as_deref() else {
        return Err(ApiError::coded(
            401,
            msg::NO_USER_IDENTIFICATION,
            "token_not_valid",
        ));
    };
    // A user_id that is not a number names no user (the reference answers 500 here).
    let id = raw_id.trim().parse::<i64>().ok();
    Ok((claims, id))
}

/// The checks simplejwt's JWTAuthentication.get_user makes once the user is loaded, plus this
/// service's revocation time (set by LOGOUT_ON_PASSWORD_CHANGE).
pub fn check_jwt_user(user: Option<User>, claims: &Claims) -> Result<User, ApiError> {
    let Some(user) = user else {
        return Err(ApiError::coded(401, msg::USER_NOT_FOUND, "user_not_found"));
    };
    if !user.is_active {
        return Err(ApiError::coded(401, msg::USER_INACTIVE, "user_inactive"));
    }
    if issued_before_revocation(claims.iat, user.tokens_valid_after)
        || bound_to_another_password(claims, &user)
    {
        return Err(ApiError::coded(
            401,
            msg::PASSWORD_CHANGED,
            "password_changed",
        ));
    }
    Ok(user)
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

/// The [`PASSWORD_BINDING_CLAIM`] value for a stored password hash: 32 upper-case hex characters.
///
/// djoser-compat: simplejwt's CHECK_REVOKE_TOKEN writes `MD5(user.password)` in this format; we
/// use the first half of SHA-256 (no MD5 in our dependencies). Either way the claim only has to
/// change whenever the stored hash changes, and it reveals nothing usable: the hash it digests
/// carries a secret salt.
pub fn password_binding(password_hash: &str) -> String {
    hex(&Sha256::digest(password_hash.as_bytes())[..16]).to_ascii_uppercase()
}

/// True when the token was issued under a password hash the user no longer has (the password
/// was changed or reset, LOGOUT_ON_PASSWORD_CHANGE's exact test, immune to the whole-second
/// granularity of `iat`). A token without the claim passes here; [`issued_before_revocation`]
/// covers it.
pub fn bound_to_another_password(claims: &Claims, user: &User) -> bool {
    match claims.extra.get(PASSWORD_BINDING_CLAIM) {
        None => false,
        Some(Value::String(bound)) => *bound != password_binding(&user.password),
        Some(_) => true,
    }
}

/// DRF TokenAuthentication's checks once the key was looked up.
pub fn check_token_user(user: Option<User>) -> Result<User, ApiError> {
    match user {
        None => Err(ApiError::detail(401, msg::INVALID_TOKEN_KEY)),
        Some(u) if !u.is_active => Err(ApiError::detail(401, msg::TOKEN_USER_INACTIVE)),
        Some(u) => Ok(u),
    }
}

/// True when a token key is worth a database look-up.
pub fn token_key_plausible(key: &str) -> bool {
    auth_token::is_well_formed(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(h: &str) -> Result<Credentials, ApiError> {
        parse_authorization(Some(h), &["Bearer".to_string(), "JWT".to_string()])
    }

    #[test]
    fn bearer_and_jwt_words_carry_a_jwt() {
        assert_eq!(parse("Bearer abc").unwrap(), Credentials::Jwt("abc".into()));
        assert_eq!(parse("JWT   abc ").unwrap(), Credentials::Jwt("abc".into()));
    }

    #[test]
    fn scheme_word_case_decides_like_simplejwt_and_drf() {
        assert_eq!(parse("bearer abc").unwrap(), Credentials::None);
        assert_eq!(parse("TOKEN k").unwrap(), Credentials::Token("k".into()));
        assert_eq!(parse("Basic xyz").unwrap(), Credentials::None);
        assert_eq!(parse("").unwrap(), Credentials::None);
        assert_eq!(parse_authorization(None, &[]).unwrap(), Credentials::None);
    }

    #[test]
    fn wrong_word_counts_are_401() {
        let e = parse("Bearer").err().unwrap();
        assert_eq!(e.status(), 401);
        assert_eq!(e.body()["code"], "bad_authorization_header");
        assert_eq!(
            parse("Bearer a b").err().unwrap().body()["code"],
            "bad_authorization_header"
        );
        assert_eq!(
            parse("Token").err().unwrap().body()["detail"],
            msg::TOKEN_HEADER_NO_CREDENTIALS
        );
        assert_eq!(
            parse("Token a b").err().unwrap().body()["detail"],
            msg::TOKEN_HEADER_SPACES
        );
    }

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

    fn user_with_hash(password: &str) -> User {
        User::for_tests(1, "alice", "", password)
    }

    fn claims_bound_to(value: Value) -> Claims {
        let mut claims = Claims::default();
        claims.extra.insert(PASSWORD_BINDING_CLAIM.into(), value);
        claims
    }

    #[test]
    fn password_binding_is_32_upper_hex_and_follows_the_hash() {
        let a = password_binding("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
        assert_eq!(
            a,
            password_binding("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
        );
        assert_ne!(
            a,
            password_binding("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaB")
        );
    }

    #[test]
    fn a_token_bound_to_the_current_hash_passes_and_to_an_old_one_fails() {
        let user = user_with_hash("new-hash");
        let current = claims_bound_to(json!(password_binding("new-hash")));
        let old = claims_bound_to(json!(password_binding("old-hash")));
        assert!(!bound_to_another_password(&current, &user));
        assert!(bound_to_another_password(&old, &user));
        assert!(!bound_to_another_password(&Claims::default(), &user));
        assert!(bound_to_another_password(&claims_bound_to(json!(1)), &user));
        assert_eq!(
            check_jwt_user(Some(user), &old).err().unwrap().body()["code"],
            "password_changed"
        );
    }

    #[test]
    fn check_jwt_user_reports_password_change_after_activity() {
        let mut user = User {
            id: 1,
            username: "alice".into(),
            email: String::new(),
            password: String::new(),
            is_active: true,
            is_staff: false,
            first_name: String::new(),
            last_name: String::new(),
            last_login: None,
            tokens_valid_after: 100,
        };
        let old = Claims {
            iat: Some(99),
            ..Claims::default()
        };
        let e = check_jwt_user(Some(user.clone()), &old).err().unwrap();
        assert_eq!(e.body()["code"], "password_changed");
        user.is_active = false;
        let e = check_jwt_user(Some(user), &old).err().unwrap();
        assert_eq!(e.body()["code"], "user_inactive");
        let e = check_jwt_user(None, &old).err().unwrap();
        assert_eq!(e.body()["code"], "user_not_found");
    }

    #[test]
    fn invalid_access_token_body_lists_the_token_class() {
        let body = invalid_access_token(JwtError::Expired).body();
        assert_eq!(
            body.to_string(),
            r#"{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token is expired"}]}"#
        );
    }
}
