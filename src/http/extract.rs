//! Request extraction in one place: the bounded body, the Authorization header's credentials,
//! and the body fields every handler reads, checked for format and turned into the flows' inputs.

use serde_json::Value;
use worker::Request;

use crate::domain::email::{email_errors, INVALID_EMAIL, MODEL_EMAIL_MAX_LENGTH};
use crate::domain::username::username_errors;
use crate::error::{ApiError, FieldErrors};
use crate::flows::Checked;
use crate::http::body::{python_strip, Body};
use crate::messages as msg;
use crate::tokens::password_hash::MAX_PASSWORD_CHARS;

/// The request's declared `Content-Length`, if it has a valid one.
pub fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// What the Authorization header carries.
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

/// Reads the header as DRF does with `(JWTAuthentication, TokenAuthentication)`: simplejwt's
/// words first, then DRF's `Token`. Malformed credentials are a 401 even where anyone may call.
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

/// Runs one field reader with its own error list.
fn checked<T>(read: impl FnOnce(&mut FieldErrors) -> Option<T>, name: &str) -> Checked<T> {
    let mut errors = FieldErrors::new();
    match read(&mut errors) {
        Some(value) if errors.is_empty() => Ok(value),
        _ if !errors.is_empty() => Err(errors),
        // A reader that found nothing wrong and nothing at all: the field is missing.
        _ => {
            errors.add(name, msg::REQUIRED);
            Err(errors)
        }
    }
}

/// A required DRF CharField.
pub fn required(body: &Body, name: &str) -> Checked<String> {
    checked(|e| body.required(name, e), name)
}

/// A field declared only when a setting is on (djoser's `*_RETYPE` serializers).
pub fn required_if(body: &Body, declared: bool, name: &str) -> Checked<Option<String>> {
    if declared {
        required(body, name).map(Some)
    } else {
        Ok(None)
    }
}

/// A password field: required, trimmed, capped before any hashing.
pub fn password(body: &Body, name: &str) -> Checked<String> {
    checked(|e| body.required_max(name, MAX_PASSWORD_CHARS, e), name)
}

/// An optional CharField: `Ok(None)` when absent.
pub fn optional(body: &Body, name: &str) -> Checked<Option<String>> {
    let mut errors = FieldErrors::new();
    let value = body.optional(name, &mut errors);
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(errors)
    }
}

/// A username field (`username`, `new_username`): required, Django's characters and length.
pub fn username(body: &Body, name: &str) -> Checked<String> {
    let value = checked(|e| body.text(name, true, e), name)?;
    let problems = body.with_surrogate_message(&value, username_errors(&value), None);
    if problems.is_empty() {
        return Ok(value);
    }
    let mut errors = FieldErrors::new();
    errors.extend(name, problems);
    Err(errors)
}

/// The user model's e-mail field (registration, users/me): format and length, no uniqueness.
/// `Ok(None)` when absent; `Ok(Some(""))` is a valid blank address.
pub fn model_email(body: &Body) -> Checked<Option<String>> {
    match body.raw("email") {
        None => return Ok(None),
        // djoser-compat: the model field has blank=True, so "" is a valid e-mail here.
        Some(Value::String(s)) if python_strip(s).is_empty() => return Ok(Some(String::new())),
        Some(_) => {}
    }
    let email = checked(
        |e| body.email_text("email", false, INVALID_EMAIL, e),
        "email",
    )?;
    let problems = body.with_surrogate_message(
        &email,
        email_errors(&email, Some(MODEL_EMAIL_MAX_LENGTH)),
        Some(INVALID_EMAIL),
    );
    if problems.is_empty() {
        return Ok(Some(email));
    }
    let mut errors = FieldErrors::new();
    errors.extend("email", problems);
    Err(errors)
}

/// The `email` field of djoser's SendEmailResetSerializer: required, valid.
pub fn lookup_email(body: &Body) -> Result<String, ApiError> {
    let email = checked(
        |e| body.email_text("email", true, INVALID_EMAIL, e),
        "email",
    )?;
    let problems =
        body.with_surrogate_message(&email, email_errors(&email, None), Some(INVALID_EMAIL));
    if problems.is_empty() {
        return Ok(email);
    }
    let mut errors = FieldErrors::new();
    errors.extend("email", problems);
    Err(errors.into())
}

/// A field's raw string value, untrimmed; "" when absent or not a string.
/// djoser-compat: uid and token are decoded from `initial_data`, as sent.
pub fn raw_string(body: &Body, name: &str) -> String {
    match body.raw(name) {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// The `uid` and `token` of an e-mailed link: both required, then their raw values.
pub fn link(body: &Body) -> Result<(String, String), ApiError> {
    all_valid(&[&required(body, "uid"), &required(body, "token")])?;
    Ok((raw_string(body, "uid"), raw_string(body, "token")))
}

/// `Ok(())` when no field had an error, else the 400.
pub fn all_valid(fields: &[&dyn HasErrors]) -> Result<(), ApiError> {
    let mut errors = FieldErrors::new();
    for field in fields {
        if let Some(e) = field.errors() {
            errors.append(e.clone());
        }
    }
    errors.into_result()
}

/// A checked field whose errors can be collected.
pub trait HasErrors {
    /// The field's errors, if it has any.
    fn errors(&self) -> Option<&FieldErrors>;
}

impl<T> HasErrors for Checked<T> {
    fn errors(&self) -> Option<&FieldErrors> {
        self.as_ref().err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(h: &str) -> Result<Credentials, ApiError> {
        parse_authorization(Some(h), &["Bearer".to_string(), "JWT".to_string()])
    }

    fn body(value: Value) -> Body {
        match value {
            Value::Object(map) => Body::from_map(map),
            _ => unreachable!("test bodies are objects"),
        }
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
    fn a_missing_required_field_has_djangos_message() {
        let b = body(json!({}));
        let err = required(&b, "uid").unwrap_err();
        assert_eq!(ApiError::from(err).body(), json!({"uid": [msg::REQUIRED]}));
        assert_eq!(required_if(&b, false, "re_password"), Ok(None));
    }

    #[test]
    fn the_model_email_allows_blank_and_absent_but_not_malformed() {
        assert_eq!(model_email(&body(json!({}))), Ok(None));
        assert_eq!(
            model_email(&body(json!({"email": "  "}))),
            Ok(Some(String::new()))
        );
        assert_eq!(
            model_email(&body(json!({"email": "a@example.com"}))),
            Ok(Some("a@example.com".into()))
        );
        assert!(model_email(&body(json!({"email": "nope"}))).is_err());
    }

    #[test]
    fn usernames_are_checked_for_djangos_characters() {
        assert_eq!(
            username(&body(json!({"username": " bob "})), "username"),
            Ok("bob".into())
        );
        assert!(username(&body(json!({"username": "b o b"})), "username").is_err());
    }

    #[test]
    fn raw_strings_are_untrimmed_and_non_strings_empty() {
        let b = body(json!({"uid": " MQ ", "token": 5}));
        assert_eq!(raw_string(&b, "uid"), " MQ ");
        assert_eq!(raw_string(&b, "token"), "");
    }
}
