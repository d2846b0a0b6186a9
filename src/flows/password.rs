//! Passwords: `set_password/`, `reset_password/` and `reset_password_confirm/`, and the
//! current-password check that set_username and account deletion share.

use crate::domain::event::EventKind;
use crate::domain::password::{validate_password, SimilarityAttributes};
use crate::domain::user::User;
use crate::email::templates::EmailKind;
use crate::error::FieldErrors;
use crate::flows::links::{self, Purpose};
use crate::flows::throttle::{self, Subject};
use crate::flows::{ok_if_empty, take, Checked, Cx, FlowError, Outbox};
use crate::messages as msg;
use crate::storage::{AuthTokenStore, PasswordChange, ThrottleStore, UserStore};
use crate::tokens::password_hash;

/// The user's similarity attributes for Django's password validator.
pub fn similarity(user: &User) -> SimilarityAttributes<'_> {
    SimilarityAttributes {
        username: &user.username,
        first_name: &user.first_name,
        last_name: &user.last_name,
        email: &user.email,
    }
}

/// Checks the requester's `current_password` (a DRF field-level check, so its error joins the
/// others in `errors`). Throttled as a password check of the user: every check counts against
/// the client, a failed one against the user's account.
pub async fn check_current_password<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    me: &User,
    current: Checked<String>,
    errors: &mut FieldErrors,
) -> Result<(), FlowError> {
    if let Some(current) = take(errors, current) {
        let attempt = throttle::password_check(cx, Subject::UserId(me.id)).await?;
        if !password_hash::verify_password(&current, &me.password) {
            attempt.failed(cx).await?;
            errors.add("current_password", msg::INVALID_PASSWORD);
        }
    }
    Ok(())
}

/// Django's password validators on a new password, reported under `field`.
fn validate_new(password: &str, user: Option<&User>, field: &str) -> Result<(), FlowError> {
    let problems = validate_password(password, user.map(similarity).as_ref());
    if problems.is_empty() {
        return Ok(());
    }
    let mut errors = FieldErrors::new();
    errors.extend(field, problems);
    Err(errors.into())
}

/// The `re_new_password` check of the *_RETYPE variants.
fn check_retype(retype: bool, new_password: &str, re_new: Option<&str>) -> Result<(), FlowError> {
    if retype && re_new != Some(new_password) {
        return Err(FlowError::non_field(msg::PASSWORD_MISMATCH));
    }
    Ok(())
}

/// How a password change ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// set_password: sessions end only with LOGOUT_ON_PASSWORD_CHANGE.
    ByOwner,
    /// reset_password_confirm: the link proves control of the mailbox, so every earlier
    /// session and DRF token ends, whatever the setting; last_login moves, spending the link.
    ByReset,
}

/// Stores a new password only if the hash is still the one the request saw, so two racing
/// changes (or one reset link used twice at once) cannot both succeed. `None` when another
/// change won.
async fn store_password<S: UserStore + AuthTokenStore>(
    cx: &Cx<'_, S>,
    user: &User,
    new_password: &str,
    how: Change,
) -> Result<Option<User>, FlowError> {
    let hash = cx.hash_new_password(new_password)?;
    let end_sessions = how == Change::ByReset || cx.settings.logout_on_password_change;
    let change = PasswordChange {
        old_hash: &user.password,
        new_hash: &hash,
        last_login: (how == Change::ByReset).then_some(cx.now),
        end_sessions_at: end_sessions.then_some(cx.now),
    };
    if !cx.store.set_password(user.id, change).await? {
        return Ok(None);
    }
    if end_sessions {
        cx.store.delete_token(user.id).await?;
    }
    let mut updated = user.clone();
    updated.password = hash;
    Ok(Some(updated))
}

/// set_password's fields, in djoser's order.
#[derive(Debug, Clone)]
pub struct SetPasswordInput {
    /// `new_password`: present, capped.
    pub new_password: Checked<String>,
    /// `re_new_password` when SET_PASSWORD_RETYPE declares it.
    pub re_new_password: Checked<Option<String>>,
    /// `current_password`: present, capped.
    pub current_password: Checked<String>,
}

/// POST users/set_password/: changes the signed-in user's password after checking the current one.
pub async fn set_password<S: ThrottleStore + AuthTokenStore>(
    cx: &Cx<'_, S>,
    me: &User,
    input: SetPasswordInput,
) -> Result<Outbox, FlowError> {
    let s = cx.settings;
    let mut errors = FieldErrors::new();
    // djoser-compat: field order new_password, (re_new_password), current_password.
    let new_password = take(&mut errors, input.new_password);
    let re_new = take(&mut errors, input.re_new_password);
    check_current_password(cx, me, input.current_password, &mut errors).await?;
    ok_if_empty(errors)?;
    let (Some(new_password), Some(re_new)) = (new_password, re_new) else {
        return Err(FlowError::Internal("validated field missing".into()));
    };
    validate_new(&new_password, Some(me), "new_password")?;
    check_retype(s.set_password_retype, &new_password, re_new.as_deref())?;
    // A concurrent change got there first: the password just checked is no longer current.
    let me = store_password(cx, me, &new_password, Change::ByOwner)
        .await?
        .ok_or_else(|| FlowError::field("current_password", msg::INVALID_PASSWORD))?;
    cx.record(EventKind::PasswordChanged, me.id, None);
    let mut mail = Vec::new();
    if s.password_changed_email_confirmation {
        links::queue(cx, &mut mail, &me, EmailKind::PasswordChangedConfirmation)?;
    }
    Ok(mail)
}

/// POST users/reset_password/: mails a reset link to the active user the address names.
pub async fn reset_password<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    email: &str,
) -> Result<Outbox, FlowError> {
    links::send_reset_link(cx, email, EmailKind::PasswordReset).await
}

/// reset_password_confirm's fields.
#[derive(Debug, Clone)]
pub struct ResetPasswordConfirmInput {
    /// The raw `uid`.
    pub uid: String,
    /// The raw `token`.
    pub token: String,
    /// `new_password`: present, capped.
    pub new_password: String,
    /// `re_new_password` when PASSWORD_RESET_CONFIRM_RETYPE declares it.
    pub re_new_password: Option<String>,
}

/// POST users/reset_password_confirm/: sets a new password from an e-mailed link, which the
/// change spends.
pub async fn reset_password_confirm<S: ThrottleStore + AuthTokenStore>(
    cx: &Cx<'_, S>,
    input: ResetPasswordConfirmInput,
) -> Result<Outbox, FlowError> {
    let s = cx.settings;
    // djoser-compat: validated against AnonymousUser (no similarity check), before the uid/token.
    validate_new(&input.new_password, None, "new_password")?;
    check_retype(
        s.password_reset_confirm_retype,
        &input.new_password,
        input.re_new_password.as_deref(),
    )?;
    let user = links::confirm(cx, &input.uid, &input.token, Purpose::PasswordReset).await?;
    // A concurrent use of the same link got there first: the token is spent.
    let user = store_password(cx, &user, &input.new_password, Change::ByReset)
        .await?
        .ok_or_else(|| FlowError::field("token", msg::INVALID_TOKEN))?;
    cx.record(EventKind::PasswordReset, user.id, None);
    let mut mail = Vec::new();
    if s.password_changed_email_confirmation {
        links::queue(cx, &mut mail, &user, EmailKind::PasswordChangedConfirmation)?;
    }
    Ok(mail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::flows::testing::{cx, link_parts, settings, user_with_password, NOW};
    use crate::storage::memory::{block_on, both, MemoryStore};

    fn set_input(new: &str, current: &str) -> SetPasswordInput {
        SetPasswordInput {
            new_password: Ok(new.into()),
            re_new_password: Ok(None),
            current_password: Ok(current.into()),
        }
    }

    #[test]
    fn set_password_with_the_current_password_changes_it_and_mails_a_notice() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "a@example.com", "old-secret-1");
        let mail = block_on(set_password(
            &cx(&s, &store),
            &me,
            set_input("new-secret-2", "old-secret-1"),
        ))
        .unwrap();
        assert_eq!(mail[0].kind, EmailKind::PasswordChangedConfirmation);
        let stored = store.user(1).unwrap();
        assert!(password_hash::verify_password(
            "new-secret-2",
            &stored.password
        ));
    }

    #[test]
    fn a_wrong_current_password_changes_nothing() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "", "old-secret-1");
        let err = block_on(set_password(
            &cx(&s, &store),
            &me,
            set_input("new-secret-2", "nope"),
        ))
        .unwrap_err();
        assert_eq!(
            err,
            FlowError::field("current_password", msg::INVALID_PASSWORD)
        );
        assert_eq!(store.user(1).unwrap().password, me.password);
    }

    #[test]
    fn field_errors_come_in_djosers_order() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "", "old-secret-1");
        let mut missing = FieldErrors::new();
        missing.add("new_password", msg::REQUIRED);
        let input = SetPasswordInput {
            new_password: Err(missing),
            re_new_password: Ok(None),
            current_password: Ok("wrong".into()),
        };
        let mut expected = FieldErrors::new();
        expected.add("new_password", msg::REQUIRED);
        expected.add("current_password", msg::INVALID_PASSWORD);
        assert_eq!(
            block_on(set_password(&cx(&s, &store), &me, input)),
            Err(FlowError::Fields(expected))
        );
    }

    #[test]
    fn a_password_similar_to_the_username_is_refused() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alicewonderland", "", "old-secret-1");
        let err = block_on(set_password(
            &cx(&s, &store),
            &me,
            set_input("alicewonderland1", "old-secret-1"),
        ))
        .unwrap_err();
        assert!(matches!(err, FlowError::Fields(ref f) if f.has("new_password")));
    }

    #[test]
    fn two_racing_changes_with_the_same_current_password_succeed_once() {
        let s = settings();
        let store = MemoryStore::interleaved();
        let me = user_with_password(&store, &s, 1, "alice", "", "old-secret-1");
        let cx = cx(&s, &store);
        let (a, b) = both(
            set_password(&cx, &me, set_input("new-secret-2", "old-secret-1")),
            set_password(&cx, &me, set_input("new-secret-3", "old-secret-1")),
        );
        assert!(a.is_ok());
        assert_eq!(
            b,
            Err(FlowError::field("current_password", msg::INVALID_PASSWORD))
        );
    }

    #[test]
    fn logout_on_password_change_ends_sessions_from_that_second() {
        let s = Settings {
            logout_on_password_change: true,
            ..settings()
        };
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "", "old-secret-1");
        block_on(store.token_for_user(1, &"a".repeat(40), NOW)).unwrap();
        block_on(set_password(
            &cx(&s, &store),
            &me,
            set_input("new-secret-2", "old-secret-1"),
        ))
        .unwrap();
        assert_eq!(store.user(1).unwrap().tokens_valid_after, NOW);
        assert!(store.snapshot().tokens.is_empty());
    }

    #[test]
    fn without_logout_on_password_change_set_password_keeps_sessions() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "", "old-secret-1");
        block_on(store.token_for_user(1, &"a".repeat(40), NOW)).unwrap();
        block_on(set_password(
            &cx(&s, &store),
            &me,
            set_input("new-secret-2", "old-secret-1"),
        ))
        .unwrap();
        assert_eq!(store.user(1).unwrap().tokens_valid_after, 0);
        assert_eq!(store.snapshot().tokens.len(), 1);
    }

    #[test]
    fn a_reset_ends_every_earlier_session_whatever_the_setting() {
        let s = settings();
        assert!(!s.logout_on_password_change);
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "a@example.com", "old-secret-1");
        block_on(store.token_for_user(1, &"a".repeat(40), NOW)).unwrap();
        let (uid, token) = reset_link(&s, &store, "a@example.com");
        block_on(reset_password_confirm(
            &cx(&s, &store),
            confirm_input(&uid, &token, "new-secret-2"),
        ))
        .unwrap();
        assert_eq!(store.user(1).unwrap().tokens_valid_after, NOW);
        assert!(store.snapshot().tokens.is_empty());
    }

    fn reset_link(s: &Settings, store: &MemoryStore, email: &str) -> (String, String) {
        let mail = block_on(reset_password(&cx(s, store), email)).unwrap();
        link_parts(&mail[0])
    }

    fn confirm_input(uid: &str, token: &str, new: &str) -> ResetPasswordConfirmInput {
        ResetPasswordConfirmInput {
            uid: uid.into(),
            token: token.into(),
            new_password: new.into(),
            re_new_password: None,
        }
    }

    #[test]
    fn a_reset_link_sets_the_password_once() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "a@example.com", "old-secret-1");
        let (uid, token) = reset_link(&s, &store, "a@example.com");
        let cx = cx(&s, &store);
        block_on(reset_password_confirm(
            &cx,
            confirm_input(&uid, &token, "new-secret-2"),
        ))
        .unwrap();
        let stored = store.user(1).unwrap();
        assert!(password_hash::verify_password(
            "new-secret-2",
            &stored.password
        ));
        assert_eq!(stored.last_login, Some(NOW));
        assert_eq!(
            block_on(reset_password_confirm(
                &cx,
                confirm_input(&uid, &token, "new-secret-3")
            )),
            Err(FlowError::field("token", msg::INVALID_TOKEN))
        );
    }

    #[test]
    fn two_racing_confirms_of_one_reset_link_succeed_once() {
        let s = settings();
        let store = MemoryStore::interleaved();
        user_with_password(&store, &s, 1, "alice", "a@example.com", "old-secret-1");
        let (uid, token) = reset_link(&s, &store, "a@example.com");
        let cx = cx(&s, &store);
        let (a, b) = both(
            reset_password_confirm(&cx, confirm_input(&uid, &token, "new-secret-2")),
            reset_password_confirm(&cx, confirm_input(&uid, &token, "new-secret-3")),
        );
        assert!(a.is_ok());
        assert_eq!(b, Err(FlowError::field("token", msg::INVALID_TOKEN)));
        let stored = store.user(1).unwrap();
        assert!(password_hash::verify_password(
            "new-secret-2",
            &stored.password
        ));
    }

    #[test]
    fn a_common_new_password_is_refused_before_the_link_is_looked_at() {
        let s = settings();
        let store = MemoryStore::new();
        let err = block_on(reset_password_confirm(
            &cx(&s, &store),
            confirm_input("x", "y", "password"),
        ))
        .unwrap_err();
        assert!(matches!(err, FlowError::Fields(ref f) if f.has("new_password")));
        assert!(store.snapshot().throttle.is_empty());
    }
}
