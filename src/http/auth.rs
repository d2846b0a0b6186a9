//! The Authorization header, read as DRF reads it with `(JWTAuthentication, TokenAuthentication)`:
//! simplejwt first (Bearer/JWT words), then DRF's `Token` scheme.
//!
//! `parse_authorization` is pure; `authenticate` resolves credentials to a user through storage.

use serde_json::json;

use crate::config::Settings;
use crate::domain::user::User;
use crate::error::ApiError;
use crate::messages as msg;
use crate::tokens::auth_token;
use crate::tokens::jwt::{self, Claims, JwtError, TokenType};

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
    if claims.iat.unwrap_or(i64::MIN) < user.tokens_valid_after {
        return Err(ApiError::coded(
            401,
            msg::PASSWORD_CHANGED,
            "password_changed",
        ));
    }
    Ok(user)
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
    fn invalid_access_token_body_lists_the_token_class() {
        let body = invalid_access_token(JwtError::Expired).body();
        assert_eq!(
            body.to_string(),
            r#"{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token is expired"}]}"#
        );
    }
}
