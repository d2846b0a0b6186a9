//! The user record as djoser's default `auth.User` has it, minus what the API never shows.

use serde::Serialize;

/// A stored user. `password` is the PHC (argon2id) or Django (`pbkdf2_sha256$…`) hash string.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Integer primary key; djoser's USER_ID_FIELD.
    pub id: i64,
    /// Unique, case-sensitive, NFKC-normalised.
    pub username: String,
    /// May be empty; unique (case-insensitively) when not.
    pub email: String,
    /// The password hash; `!`-prefixed means unusable (Django's convention).
    pub password: String,
    /// False until activation (SEND_ACTIVATION_EMAIL), after a djoser-style e-mail change, and
    /// when an operator disabled the account.
    pub is_active: bool,
    /// True while the account waits for its activation link: only then can activation (or a
    /// resent link) make it active, so an operator-disabled account cannot re-enable itself.
    pub activation_pending: bool,
    /// An e-mail change waiting for its confirmation link (EMAIL_CHANGE_CONFIRMATION).
    pub pending_email: Option<String>,
    /// Staff see and edit every user.
    pub is_staff: bool,
    /// Compared by the password similarity validator.
    pub first_name: String,
    /// Compared by the password similarity validator.
    pub last_name: String,
    /// Unix seconds of the last token/login or reset; part of the one-time token state.
    pub last_login: Option<i64>,
    /// Refresh tokens and access tokens issued before this unix second are refused.
    pub tokens_valid_after: i64,
    /// A second factor (TOTP) is enabled: a correct password alone opens no session.
    pub mfa_enabled: bool,
}

impl User {
    /// Django's `has_usable_password`.
    pub fn has_usable_password(&self) -> bool {
        !self.password.is_empty() && !self.password.starts_with('!')
    }

    /// An active, non-staff user with only what unit tests vary; everything else empty.
    #[cfg(test)]
    pub fn for_tests(id: i64, username: &str, email: &str, password: &str) -> User {
        User {
            id,
            username: username.into(),
            email: email.into(),
            password: password.into(),
            is_active: true,
            activation_pending: false,
            pending_email: None,
            is_staff: false,
            first_name: String::new(),
            last_name: String::new(),
            last_login: None,
            tokens_valid_after: 0,
            mfa_enabled: false,
        }
    }

    /// The serializer output `{"email","id","username"}` in djoser's key order.
    pub fn public(&self) -> PublicUser<'_> {
        PublicUser {
            email: &self.email,
            id: self.id,
            username: &self.username,
        }
    }
}

/// djoser's `UserSerializer` representation.
#[derive(Debug, Serialize)]
pub struct PublicUser<'a> {
    /// The e-mail, or "".
    pub email: &'a str,
    /// The id.
    pub id: i64,
    /// The username.
    pub username: &'a str,
}

/// What registration stores.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// NFKC-normalised username.
    pub username: String,
    /// Domain-lower-cased e-mail, or "".
    pub email: String,
    /// The password hash.
    pub password: String,
    /// Active at once only when activation e-mails are off.
    pub is_active: bool,
    /// Waiting for the activation link (when activation e-mails are on).
    pub activation_pending: bool,
    /// Registration time, unix seconds.
    pub date_joined: i64,
}

/// The key that makes e-mails unique regardless of case: full Unicode lower-casing.
pub fn email_key(email: &str) -> String {
    email.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_representation_has_djoser_key_order() {
        let user = User::for_tests(7, "alice", "a@example.com", "x");
        assert_eq!(
            serde_json::to_string(&user.public()).unwrap(),
            r#"{"email":"a@example.com","id":7,"username":"alice"}"#
        );
    }

    #[test]
    fn unusable_password_is_detected() {
        let mut user = User::for_tests(1, "u", "", "!abc");
        assert!(!user.has_usable_password());
        user.password = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into();
        assert!(user.has_usable_password());
    }

    #[test]
    fn email_key_folds_unicode_case() {
        assert_eq!(email_key("Ärger@Example.COM"), "ärger@example.com");
    }
}
