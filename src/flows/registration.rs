//! Registration: `users/` POST (register), `users/activation/` and `users/resend_activation/`.

use crate::domain::email::normalize_email;
use crate::domain::event::EventKind;
use crate::domain::password::{validate_password, SimilarityAttributes};
use crate::domain::user::{NewUser, ProfileChange, User};
use crate::domain::username::normalize_username;
use crate::email::templates::EmailKind;
use crate::error::FieldErrors;
use crate::flows::customise;
use crate::flows::links::{self, Purpose, Wanted};
use crate::flows::throttle::{self, Scope, Subject};
use crate::flows::{ok_if_empty, take, Checked, Cx, FlowError, Outbox};
use crate::messages as msg;
use crate::storage::{StorageError, ThrottleStore, UserLookup, UserStore};
use crate::tokens::one_time;

/// Registration's fields as the edge read them, each with its own format errors.
#[derive(Debug, Clone)]
pub struct RegisterInput {
    /// The `email` field as sent (the throttle's subject), whatever its validity.
    pub raw_email: Option<String>,
    /// The address: format and length checked; "" is a valid blank address, `None` an absent
    /// one (blank too, unless REQUIRED_FIELDS or LOGIN_FIELD=email require it).
    pub email: Checked<Option<String>>,
    /// The configured user fields (USER_FIELDS), read with their DRF types.
    pub profile: Checked<ProfileChange>,
    /// The username: Django's characters and length checked.
    pub username: Checked<String>,
    /// The password: present, capped.
    pub password: Checked<String>,
    /// `re_password`, when USER_CREATE_PASSWORD_RETYPE declares it.
    pub re_password: Checked<Option<String>>,
}

/// A new account.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    /// The stored user.
    pub user: User,
    /// The activation (or confirmation) e-mail.
    pub mail: Outbox,
}

/// Counts a registration attempt whose body could not be read, so a throttled client hears
/// that first (DRF throttles before it parses).
pub async fn count_unreadable<S: ThrottleStore>(cx: &Cx<'_, S>) -> Result<(), FlowError> {
    throttle::check(cx, Scope::Register, None).await
}

/// POST users/: creates an inactive user (active when activation e-mails are off) and mails it.
pub async fn register<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    input: RegisterInput,
) -> Result<Registered, FlowError> {
    let RegisterInput {
        raw_email,
        email,
        profile,
        username,
        password,
        re_password,
    } = input;
    let s = cx.settings;
    let email = customise::email_field(s, email, true).map(Option::unwrap_or_default);
    // djoser-compat: DRF reports fields in serializer order: email, username, password. Both
    // uniqueness checks share one round trip with the throttle, so they come first.
    // One normalisation and one collision rule for every way a username is set: the NFKC form
    // is what is stored, so it is what must be free ("ａｄｍｉｎ" is "admin").
    let username = username.map(|name| normalize_username(&name));
    let wanted_email = email.as_deref().ok().filter(|e| !e.is_empty());
    let wanted_name = username.as_deref().ok();
    let subject = raw_email.as_deref().map(Subject::Email);
    let conflicts = throttle::check_and_conflicts(cx, subject, wanted_name, wanted_email).await?;
    let mut errors = FieldErrors::new();
    let email = take(&mut errors, email);
    let email = match email {
        Some(e) if conflicts.email_owner.is_some() && !e.is_empty() => {
            errors.add("email", msg::EMAIL_TAKEN);
            None
        }
        other => other,
    };
    // The configured fields come between the e-mail and the username, in serializer order.
    let profile = take(&mut errors, profile);
    let username = take(&mut errors, username);
    let username = match username {
        Some(_) if conflicts.name_taken => {
            errors.add("username", msg::USERNAME_TAKEN);
            None
        }
        other => other,
    };
    let password = take(&mut errors, password);
    let re_password = take(&mut errors, re_password);
    ok_if_empty(errors)?;
    let (Some(email), Some(profile), Some(username), Some(password), Some(re_password)) =
        (email, profile, username, password, re_password)
    else {
        return Err(FlowError::Internal("validated fields missing".into()));
    };

    // Object-level validation: Django's password validators against the unsaved user.
    let attributes = SimilarityAttributes {
        username: &username,
        first_name: profile.first_name.as_deref().unwrap_or_default(),
        last_name: profile.last_name.as_deref().unwrap_or_default(),
        email: &email,
    };
    let problems = validate_password(&password, Some(&attributes));
    if !problems.is_empty() {
        let mut errors = FieldErrors::new();
        errors.extend("password", problems);
        return Err(errors.into());
    }
    if s.user_create_password_retype && re_password.as_deref() != Some(password.as_str()) {
        return Err(FlowError::non_field(msg::PASSWORD_MISMATCH));
    }

    let new_user = NewUser {
        username,
        email: normalize_email(&email),
        password: cx.hash_new_password(&password)?,
        is_active: !s.send_activation_email,
        activation_pending: s.send_activation_email,
        date_joined: cx.now,
        profile,
    };
    let user = insert_user(cx.store, &new_user).await?;
    let mut mail = Vec::new();
    if s.send_activation_email {
        links::queue(cx, &mut mail, &user, EmailKind::Activation)?;
    } else if s.send_confirmation_email {
        links::queue(cx, &mut mail, &user, EmailKind::Confirmation)?;
    }
    Ok(Registered { user, mail })
}

/// POST users/activation/: activates the user named by the e-mailed uid and token, if it is
/// waiting for activation. Activation moves last_login, which the token covers, so the link is
/// spent on every endpoint (in djoser the same link stays a valid password-reset link).
pub async fn activation<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    uid: &str,
    token: &str,
) -> Result<Outbox, FlowError> {
    let mut user = match links::confirm(cx, uid, token, Purpose::Activation).await {
        Ok(user) => user,
        Err(refused) => return Err(stale_if_used(cx, uid, token, refused).await?),
    };
    // djoser-compat: an active user's link is "stale" (403); so is a disabled user's, which no
    // activation link may re-enable.
    let waiting = !user.is_active && user.activation_pending;
    if !waiting || !cx.store.activate(user.id, cx.now).await? {
        return Err(FlowError::StaleToken);
    }
    cx.record(EventKind::AccountActivated, user.id, None);
    user.is_active = true;
    user.activation_pending = false;
    user.last_login = Some(cx.now);
    let mut mail = Vec::new();
    if cx.settings.send_confirmation_email {
        links::queue(cx, &mut mail, &user, EmailKind::Confirmation)?;
    }
    Ok(mail)
}

/// djoser-compat: a link used a second time is "stale" (403) in djoser. Activation spends the
/// link by moving last_login, so a second use fails the token check; it is still told apart
/// from a wrong token by checking it against the state before activation (never logged in).
/// The look-up runs only on this failure path.
async fn stale_if_used<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    uid: &str,
    token: &str,
    refused: FlowError,
) -> Result<FlowError, FlowError> {
    if refused != FlowError::field("token", msg::INVALID_TOKEN) {
        return Ok(refused);
    }
    let Some(id) = one_time::decode_uid(uid) else {
        return Ok(refused);
    };
    let Some(mut user) = cx.store.find_user(UserLookup::Id(id)).await? else {
        return Ok(refused);
    };
    if !user.is_active {
        return Ok(refused);
    }
    user.last_login = None;
    if links::token_valid(cx, &user, token, Purpose::Activation)? {
        return Ok(FlowError::StaleToken);
    }
    Ok(refused)
}

/// POST users/resend_activation/: the activation e-mail again, for an inactive user; unknown or
/// active addresses succeed alike.
pub async fn resend_activation<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    email: &str,
) -> Result<Outbox, FlowError> {
    let user = links::user_for_email(cx, email, Wanted::AwaitingActivation).await?;
    if !cx.settings.send_activation_email {
        return Err(FlowError::ActivationOff);
    }
    let mut mail = Vec::new();
    if let Some(user) = user {
        links::queue(cx, &mut mail, &user, EmailKind::Activation)?;
    }
    Ok(mail)
}

/// Stores a new account. A unique index that refuses it (a concurrent registration of the same
/// name or address won) answers what the loser would have heard a moment later.
pub(crate) async fn insert_user<S: UserStore>(
    store: &S,
    new_user: &NewUser,
) -> Result<User, FlowError> {
    match store.create_user(new_user).await {
        Ok(user) => Ok(user),
        Err(StorageError::Conflict { field: "username" }) => {
            Err(FlowError::field("username", msg::USERNAME_TAKEN))
        }
        Err(StorageError::Conflict { field: "email" }) => {
            Err(FlowError::field("email", msg::EMAIL_TAKEN))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RateLimit, Settings};
    use crate::flows::testing::{cx, link_parts, settings};
    use crate::storage::memory::{block_on, both, MemoryStore};

    fn input(email: &str, username: &str, password: &str) -> RegisterInput {
        RegisterInput {
            raw_email: Some(email.into()),
            email: Ok(Some(email.into())),
            profile: Ok(ProfileChange::default()),
            username: Ok(username.into()),
            password: Ok(password.into()),
            re_password: Ok(None),
        }
    }

    #[test]
    fn registration_stores_an_inactive_user_and_mails_the_activation_link() {
        let s = settings();
        let store = MemoryStore::new();
        let done = block_on(register(
            &cx(&s, &store),
            input("a@Example.COM", "alice", "correct-horse-9"),
        ))
        .unwrap();
        assert!(!done.user.is_active);
        assert_eq!(done.user.email, "a@example.com");
        assert_eq!(done.mail.len(), 1);
        assert_eq!(done.mail[0].kind, EmailKind::Activation);
        assert_eq!(store.user(done.user.id).unwrap().username, "alice");
    }

    #[test]
    fn without_activation_the_user_is_active_and_gets_the_confirmation() {
        let s = Settings {
            send_activation_email: false,
            ..settings()
        };
        let store = MemoryStore::new();
        let done = block_on(register(
            &cx(&s, &store),
            input("a@example.com", "alice", "correct-horse-9"),
        ))
        .unwrap();
        assert!(done.user.is_active);
        assert_eq!(done.mail[0].kind, EmailKind::Confirmation);
    }

    #[test]
    fn taken_username_and_email_are_both_reported_in_field_order() {
        let s = settings();
        let store = MemoryStore::new();
        store.put_user(User::for_tests(1, "alice", "a@example.com", "h"));
        let err = block_on(register(
            &cx(&s, &store),
            input("A@example.com", "alice", "correct-horse-9"),
        ))
        .unwrap_err();
        let mut expected = FieldErrors::new();
        expected.add("email", msg::EMAIL_TAKEN);
        expected.add("username", msg::USERNAME_TAKEN);
        assert_eq!(err, FlowError::Fields(expected));
    }

    #[test]
    fn a_weak_password_is_refused_and_nothing_is_stored() {
        let s = settings();
        let store = MemoryStore::new();
        let err = block_on(register(
            &cx(&s, &store),
            input("a@example.com", "alice", "alice"),
        ))
        .unwrap_err();
        assert!(matches!(err, FlowError::Fields(ref f) if f.has("password")));
        assert!(store.snapshot().users.is_empty());
    }

    #[test]
    fn retype_mismatch_is_a_non_field_error() {
        let s = Settings {
            user_create_password_retype: true,
            ..settings()
        };
        let store = MemoryStore::new();
        let mut i = input("a@example.com", "alice", "correct-horse-9");
        i.re_password = Ok(Some("other-horse-9".into()));
        assert_eq!(
            block_on(register(&cx(&s, &store), i)),
            Err(FlowError::non_field(msg::PASSWORD_MISMATCH))
        );
    }

    #[test]
    fn two_racing_registrations_of_one_name_create_one_user() {
        let s = settings();
        let store = MemoryStore::interleaved();
        let cx = cx(&s, &store);
        let (a, b) = both(
            register(&cx, input("a@example.com", "alice", "correct-horse-9")),
            register(&cx, input("b@example.com", "alice", "correct-horse-9")),
        );
        assert!(a.is_ok());
        assert_eq!(b, Err(FlowError::field("username", msg::USERNAME_TAKEN)));
        assert_eq!(store.snapshot().users.len(), 1);
    }

    #[test]
    fn registrations_over_the_limit_are_throttled() {
        let s = Settings {
            rate_limit_register: RateLimit {
                count: 1,
                window: 3600,
            },
            ..settings()
        };
        let store = MemoryStore::new();
        let cx = cx(&s, &store);
        block_on(register(
            &cx,
            input("a@example.com", "alice", "correct-horse-9"),
        ))
        .unwrap();
        let second = block_on(register(
            &cx,
            input("b@example.com", "bob", "correct-horse-9"),
        ));
        assert!(matches!(second, Err(FlowError::Throttled { .. })));
    }

    #[test]
    fn the_activation_link_activates_once_then_is_stale() {
        let s = settings();
        let store = MemoryStore::new();
        let cx = cx(&s, &store);
        let done = block_on(register(
            &cx,
            input("a@example.com", "alice", "correct-horse-9"),
        ))
        .unwrap();
        let (uid, token) = link_parts(&done.mail[0]);
        let mail = block_on(activation(&cx, &uid, &token)).unwrap();
        assert_eq!(mail[0].kind, EmailKind::Confirmation);
        assert!(store.user(done.user.id).unwrap().is_active);
        assert_eq!(
            block_on(activation(&cx, &uid, &token)),
            Err(FlowError::StaleToken)
        );
    }

    #[test]
    fn two_racing_activations_activate_once() {
        let s = settings();
        let store = MemoryStore::interleaved();
        let cx = cx(&s, &store);
        let done = block_on(register(
            &cx,
            input("a@example.com", "alice", "correct-horse-9"),
        ))
        .unwrap();
        let (uid, token) = link_parts(&done.mail[0]);
        let (a, b) = both(activation(&cx, &uid, &token), activation(&cx, &uid, &token));
        assert!(a.is_ok());
        assert_eq!(b, Err(FlowError::StaleToken));
    }

    #[test]
    fn resend_mails_inactive_users_only_and_refuses_when_activation_is_off() {
        let s = settings();
        let store = MemoryStore::new();
        let mut inactive = User::for_tests(1, "a", "a@example.com", "h");
        inactive.is_active = false;
        inactive.activation_pending = true;
        store.put_user(inactive);
        store.put_user(User::for_tests(2, "b", "b@example.com", "h"));
        let cx1 = cx(&s, &store);
        assert_eq!(
            block_on(resend_activation(&cx1, "a@example.com"))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            block_on(resend_activation(&cx1, "b@example.com")),
            Ok(vec![])
        );
        let off = Settings {
            send_activation_email: false,
            ..settings()
        };
        assert_eq!(
            block_on(resend_activation(&cx(&off, &store), "a@example.com")),
            Err(FlowError::ActivationOff)
        );
    }
}
