//! The user record as djoser's default `auth.User` has it, minus what the API never shows.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::Settings;
use crate::domain::profile::Column;

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
    /// The values of the declared extra fields (USER_EXTRA_FIELDS); absent keys are empty.
    pub extra: Map<String, Value>,
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
            extra: Map::new(),
        }
    }

    /// The value of a user field (first_name, last_name or a declared one) as the API shows it.
    pub fn field_value(&self, field: &crate::domain::profile::UserField) -> Value {
        match field.column {
            Column::FirstName => Value::String(self.first_name.clone()),
            Column::LastName => Value::String(self.last_name.clone()),
            Column::Extra => self
                .extra
                .get(&field.name)
                .filter(|v| !v.is_null())
                .cloned()
                .unwrap_or_else(|| field.empty()),
        }
    }

    /// djoser's UserSerializer output with the configured fields: `email`, then USER_FIELDS in
    /// order, then `id` and `username` (djoser's `REQUIRED_FIELDS + (USER_ID_FIELD,
    /// LOGIN_FIELD)`). With no fields configured it is exactly [`User::public`].
    pub fn representation(&self, settings: &Settings) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("email".into(), Value::String(self.email.clone()));
        for field in &settings.user_fields {
            out.insert(field.name.clone(), self.field_value(field));
        }
        out.insert("id".into(), Value::from(self.id));
        out.insert("username".into(), Value::String(self.username.clone()));
        out
    }

    /// djoser's UserCreateSerializer output: `email`, USER_FIELDS, `username`, `id`.
    pub fn created_representation(&self, settings: &Settings) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("email".into(), Value::String(self.email.clone()));
        for field in &settings.user_fields {
            out.insert(field.name.clone(), self.field_value(field));
        }
        out.insert("username".into(), Value::String(self.username.clone()));
        out.insert("id".into(), Value::from(self.id));
        out
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
    /// The profile fields sent at registration.
    pub profile: ProfileChange,
}

/// New values of the profile fields (first_name, last_name, the declared extras); `None` and
/// absent keys leave a value as it is, a `null` extra clears it (a JSON merge patch).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileChange {
    /// A new first_name.
    pub first_name: Option<String>,
    /// A new last_name.
    pub last_name: Option<String>,
    /// New values of extra fields.
    pub extra: Map<String, Value>,
}

impl ProfileChange {
    /// True when nothing changes.
    pub fn is_empty(&self) -> bool {
        self.first_name.is_none() && self.last_name.is_none() && self.extra.is_empty()
    }

    /// Applies the change to a user record (what the stores do, and what the answer shows).
    pub fn apply(&self, user: &mut User) {
        if let Some(v) = &self.first_name {
            user.first_name.clone_from(v);
        }
        if let Some(v) = &self.last_name {
            user.last_name.clone_from(v);
        }
        for (k, v) in &self.extra {
            if v.is_null() {
                user.extra.remove(k);
            } else {
                user.extra.insert(k.clone(), v.clone());
            }
        }
    }
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
