//! Usernames: `set_username/`, `reset_username/` and `reset_username_confirm/` (djoser's
//! `set_{USERNAME_FIELD}` family).

use crate::domain::event::EventKind;
use crate::domain::user::User;
use crate::domain::username::normalize_username;
use crate::email::templates::EmailKind;
use crate::error::FieldErrors;
use crate::flows::links::{self, Purpose};
use crate::flows::password::check_current_password;
use crate::flows::throttle::{self, Scope};
use crate::flows::{ok_if_empty, take, Checked, Cx, FlowError, Outbox};
use crate::messages as msg;
use crate::storage::{StorageError, ThrottleStore, UserLookup, UserStore};

/// The `new_username` field's uniqueness, after its format passed at the edge. The NFKC form
/// is what is checked and stored, as at registration, so a full-width twin ("ａｄｍｉｎ") cannot
/// sit next to "admin". djoser-compat: the check excludes nobody, so one's own name counts as
/// taken.
async fn unique_name<S: UserStore>(
    cx: &Cx<'_, S>,
    name: Checked<String>,
    errors: &mut FieldErrors,
) -> Result<Option<String>, FlowError> {
    let Some(name) = take(errors, name) else {
        return Ok(None);
    };
    let name = normalize_username(&name);
    if cx
        .store
        .find_user(UserLookup::Username(&name))
        .await?
        .is_some()
    {
        errors.add("new_username", msg::USERNAME_TAKEN);
        return Ok(None);
    }
    Ok(Some(name))
}

/// reset_username_confirm's first step: the confirm throttle, with the `new_username` uniqueness
/// look-up in the same round trip, so a throttled client learns nothing about which names are
/// taken. The NFKC form is checked, as in [`unique_name`].
async fn throttled_unique_name<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    name: Checked<String>,
    errors: &mut FieldErrors,
) -> Result<Option<String>, FlowError> {
    let Some(name) = take(errors, name) else {
        throttle::check(cx, Scope::Confirm, None).await?;
        return Ok(None);
    };
    let name = normalize_username(&name);
    let lookup = UserLookup::Username(&name);
    if throttle::check_and_find_user(cx, Scope::Confirm, None, lookup)
        .await?
        .is_some()
    {
        errors.add("new_username", msg::USERNAME_TAKEN);
        return Ok(None);
    }
    Ok(Some(name))
}

/// The `re_new_username` check of the *_RETYPE variants.
fn check_retype(retype: bool, new_username: &str, re_new: Option<&str>) -> Result<(), FlowError> {
    if retype && re_new != Some(new_username) {
        return Err(FlowError::non_field(msg::USERNAME_MISMATCH));
    }
    Ok(())
}

/// Stores the new name if the user's token state is unchanged; `None` when another change won.
async fn store_username<S: UserStore>(
    cx: &Cx<'_, S>,
    user: &User,
    name: &str,
    bump_login: bool,
) -> Result<Option<User>, FlowError> {
    let changed = match cx
        .store
        .set_username(user, name, bump_login.then_some(cx.now))
        .await
    {
        Ok(changed) => changed,
        Err(StorageError::Conflict { .. }) => {
            return Err(FlowError::field("new_username", msg::USERNAME_TAKEN))
        }
        Err(e) => return Err(e.into()),
    };
    if !changed {
        return Ok(None);
    }
    let mut updated = user.clone();
    updated.username = name.to_string();
    if bump_login {
        updated.last_login = Some(cx.now);
    }
    Ok(Some(updated))
}

/// set_username's fields.
#[derive(Debug, Clone)]
pub struct SetUsernameInput {
    /// `current_password`: present, capped.
    pub current_password: Checked<String>,
    /// `new_username`: Django's characters and length checked.
    pub new_username: Checked<String>,
    /// `re_new_username` when SET_USERNAME_RETYPE declares it.
    pub re_new_username: Checked<Option<String>>,
}

/// POST users/set_username/: changes the signed-in user's username after checking the password.
pub async fn set_username<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    me: &User,
    input: SetUsernameInput,
) -> Result<Outbox, FlowError> {
    let s = cx.settings;
    let mut errors = FieldErrors::new();
    // djoser-compat: both are field-level, so both errors can come at once.
    check_current_password(cx, me, input.current_password, &mut errors).await?;
    let name = unique_name(cx, input.new_username, &mut errors).await?;
    let re_new = take(&mut errors, input.re_new_username);
    ok_if_empty(errors)?;
    let (Some(name), Some(re_new)) = (name, re_new) else {
        return Err(FlowError::Internal("validated field missing".into()));
    };
    check_retype(s.set_username_retype, &name, re_new.as_deref())?;
    // A concurrent password change got there first: the password just checked is no longer current.
    let me = store_username(cx, me, &name, false)
        .await?
        .ok_or_else(|| FlowError::field("current_password", msg::INVALID_PASSWORD))?;
    cx.record(EventKind::UsernameChanged, me.id, None);
    let mut mail = Vec::new();
    if s.username_changed_email_confirmation {
        links::queue(cx, &mut mail, &me, EmailKind::UsernameChangedConfirmation)?;
    }
    Ok(mail)
}

/// POST users/reset_username/: mails a username-reset link to the active user the address names.
pub async fn reset_username<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    email: &str,
) -> Result<Outbox, FlowError> {
    links::send_reset_link(cx, email, EmailKind::UsernameReset).await
}

/// reset_username_confirm's fields.
#[derive(Debug, Clone)]
pub struct ResetUsernameConfirmInput {
    /// The raw `uid` ("" when absent: djoser declares no uid field here).
    pub uid: String,
    /// The raw `token`.
    pub token: String,
    /// `new_username`: Django's characters and length checked.
    pub new_username: Checked<String>,
    /// `re_new_username` when USERNAME_RESET_CONFIRM_RETYPE declares it.
    pub re_new_username: Checked<Option<String>>,
}

/// POST users/reset_username_confirm/: sets a new username from an e-mailed link, which the
/// change spends (last_login moves).
pub async fn reset_username_confirm<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    input: ResetUsernameConfirmInput,
) -> Result<Outbox, FlowError> {
    let s = cx.settings;
    let mut errors = FieldErrors::new();
    // djoser-compat: uid and token are not declared fields here; only new_username is checked
    // first. The confirm throttle comes before it (DRF throttles before the serializer), so the
    // uniqueness check is no unthrottled username oracle; the uid/token check below is not
    // counted again.
    let name = throttled_unique_name(cx, input.new_username, &mut errors).await?;
    let re_new = take(&mut errors, input.re_new_username);
    ok_if_empty(errors)?;
    let (Some(name), Some(re_new)) = (name, re_new) else {
        return Err(FlowError::Internal("validated field missing".into()));
    };
    check_retype(s.username_reset_confirm_retype, &name, re_new.as_deref())?;
    let user = links::confirm_counted(cx, &input.uid, &input.token, Purpose::UsernameReset).await?;
    // A concurrent use of the same link got there first: the token is spent.
    let user = store_username(cx, &user, &name, true)
        .await?
        .ok_or_else(|| FlowError::field("token", msg::INVALID_TOKEN))?;
    cx.record(EventKind::UsernameChanged, user.id, None);
    let mut mail = Vec::new();
    if s.username_changed_email_confirmation {
        links::queue(cx, &mut mail, &user, EmailKind::UsernameChangedConfirmation)?;
    }
    Ok(mail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::testing::{cx, link_parts, settings, user_with_password, NOW};
    use crate::storage::memory::{block_on, both, MemoryStore};

    fn set_input(current: &str, name: &str) -> SetUsernameInput {
        SetUsernameInput {
            current_password: Ok(current.into()),
            new_username: Ok(name.into()),
            re_new_username: Ok(None),
        }
    }

    #[test]
    fn set_username_renames_after_the_password_check() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "a@example.com", "secret-pw-1");
        let mail = block_on(set_username(
            &cx(&s, &store),
            &me,
            set_input("secret-pw-1", "alicia"),
        ))
        .unwrap();
        assert_eq!(mail[0].kind, EmailKind::UsernameChangedConfirmation);
        assert_eq!(store.user(1).unwrap().username, "alicia");
    }

    #[test]
    fn a_wrong_password_and_a_taken_name_are_reported_together() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        store.put_user(User::for_tests(2, "bob", "", "h"));
        let mut expected = FieldErrors::new();
        expected.add("current_password", msg::INVALID_PASSWORD);
        expected.add("new_username", msg::USERNAME_TAKEN);
        assert_eq!(
            block_on(set_username(
                &cx(&s, &store),
                &me,
                set_input("wrong", "bob")
            )),
            Err(FlowError::Fields(expected))
        );
    }

    #[test]
    fn ones_own_name_counts_as_taken() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        assert_eq!(
            block_on(set_username(
                &cx(&s, &store),
                &me,
                set_input("secret-pw-1", "alice")
            )),
            Err(FlowError::field("new_username", msg::USERNAME_TAKEN))
        );
    }

    #[test]
    fn a_full_width_twin_of_a_taken_name_is_taken_and_a_free_one_is_stored_normalised() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        store.put_user(User::for_tests(2, "admin", "", "h"));
        assert_eq!(
            block_on(set_username(
                &cx(&s, &store),
                &me,
                set_input("secret-pw-1", "ａｄｍｉｎ")
            )),
            Err(FlowError::field("new_username", msg::USERNAME_TAKEN))
        );
        block_on(set_username(
            &cx(&s, &store),
            &me,
            set_input("secret-pw-1", "ｒｏｏｔ"),
        ))
        .unwrap();
        assert_eq!(store.user(1).unwrap().username, "root");
    }

    #[test]
    fn a_username_reset_normalises_like_registration() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "a@example.com", "secret-pw-1");
        store.put_user(User::for_tests(2, "admin", "", "h"));
        let (uid, token) = reset_link(&s, &store);
        assert_eq!(
            block_on(reset_username_confirm(
                &cx(&s, &store),
                confirm_input(&uid, &token, "ａｄｍｉｎ")
            )),
            Err(FlowError::field("new_username", msg::USERNAME_TAKEN))
        );
    }

    fn reset_link(s: &crate::config::Settings, store: &MemoryStore) -> (String, String) {
        let mail = block_on(reset_username(&cx(s, store), "a@example.com")).unwrap();
        link_parts(&mail[0])
    }

    fn confirm_input(uid: &str, token: &str, name: &str) -> ResetUsernameConfirmInput {
        ResetUsernameConfirmInput {
            uid: uid.into(),
            token: token.into(),
            new_username: Ok(name.into()),
            re_new_username: Ok(None),
        }
    }

    #[test]
    fn a_username_reset_link_renames_once() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "a@example.com", "secret-pw-1");
        let (uid, token) = reset_link(&s, &store);
        let cx = cx(&s, &store);
        block_on(reset_username_confirm(
            &cx,
            confirm_input(&uid, &token, "alicia"),
        ))
        .unwrap();
        let stored = store.user(1).unwrap();
        assert_eq!(
            (stored.username.as_str(), stored.last_login),
            ("alicia", Some(NOW))
        );
        assert_eq!(
            block_on(reset_username_confirm(
                &cx,
                confirm_input(&uid, &token, "alina")
            )),
            Err(FlowError::field("token", msg::INVALID_TOKEN))
        );
    }

    #[test]
    fn reset_username_confirm_is_throttled_before_it_says_whether_a_name_is_taken() {
        let s = crate::config::Settings {
            rate_limit_confirm: crate::config::RateLimit {
                count: 2,
                window: 600,
            },
            ..settings()
        };
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        let cx = cx(&s, &store);
        let probe = || {
            block_on(reset_username_confirm(
                &cx,
                confirm_input("x", "y", "alice"),
            ))
        };
        for _ in 0..2 {
            assert_eq!(
                probe(),
                Err(FlowError::field("new_username", msg::USERNAME_TAKEN))
            );
        }
        assert!(matches!(probe(), Err(FlowError::Throttled { .. })));
        // A name that fails its format checks is counted all the same.
        let mut bad = FieldErrors::new();
        bad.add("new_username", msg::REQUIRED);
        let input = ResetUsernameConfirmInput {
            new_username: Err(bad),
            ..confirm_input("x", "y", "")
        };
        assert!(matches!(
            block_on(reset_username_confirm(&cx, input)),
            Err(FlowError::Throttled { .. })
        ));
    }

    #[test]
    fn a_username_reset_confirm_counts_once_against_the_confirm_throttle() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "a@example.com", "secret-pw-1");
        let (uid, token) = reset_link(&s, &store);
        block_on(reset_username_confirm(
            &cx(&s, &store),
            confirm_input(&uid, &token, "alicia"),
        ))
        .unwrap();
        let confirm_rows: Vec<_> = store
            .snapshot()
            .throttle
            .into_iter()
            .filter(|(key, _)| key.starts_with("confirm:"))
            .map(|(_, row)| row.hits)
            .collect();
        assert_eq!(confirm_rows, [1]);
    }

    #[test]
    fn two_racing_confirms_of_one_username_link_rename_once() {
        let s = settings();
        let store = MemoryStore::interleaved();
        user_with_password(&store, &s, 1, "alice", "a@example.com", "secret-pw-1");
        let (uid, token) = reset_link(&s, &store);
        let cx = cx(&s, &store);
        let (a, b) = both(
            reset_username_confirm(&cx, confirm_input(&uid, &token, "alicia")),
            reset_username_confirm(&cx, confirm_input(&uid, &token, "alina")),
        );
        assert!(a.is_ok());
        assert_eq!(b, Err(FlowError::field("token", msg::INVALID_TOKEN)));
        assert_eq!(store.user(1).unwrap().username, "alicia");
    }
}
