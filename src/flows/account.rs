//! The user object: the list, `users/me/`, `users/{id}/` (djoser's UserViewSet retrieve, update
//! and destroy) and the permission rule between them.

use crate::domain::event::{Event, EventKind};
use crate::domain::user::{ProfileChange, User};
use crate::email::templates::EmailKind;
use crate::error::FieldErrors;
use crate::flows::customise;
use crate::flows::links::{self, Purpose};
use crate::flows::password::check_current_password;
use crate::flows::{ok_if_empty, take, Checked, Cx, FlowError, Outbox};
use crate::messages as msg;
use crate::storage::{EventStore, StorageError, ThrottleStore, UserLookup, UserStore};

/// GET users/: staff see every user; everyone else only themself (HIDE_USERS).
pub async fn list<S: UserStore>(cx: &Cx<'_, S>, me: &User) -> Result<Vec<User>, FlowError> {
    if me.is_staff || !cx.settings.hide_users {
        return Ok(cx.store.all_users().await?);
    }
    Ok(vec![me.clone()])
}

/// What the caller wants to do with a user object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// GET.
    Read,
    /// PUT or PATCH.
    Write,
    /// DELETE.
    Delete,
}

/// The user `users/{id}/` names, if `me` may `access` it. djoser-compat: a non-integer id is a
/// plain 404, a missing one names the model; others' objects are hidden (HIDE_USERS) or
/// forbidden, and deleting someone else is always forbidden.
pub async fn target<S: UserStore>(
    cx: &Cx<'_, S>,
    me: &User,
    raw_id: &str,
    access: Access,
) -> Result<User, FlowError> {
    let Ok(id) = raw_id.parse::<i64>() else {
        return Err(FlowError::NotFound);
    };
    let target = if id == me.id {
        me.clone()
    } else {
        cx.store
            .find_user(UserLookup::Id(id))
            .await?
            .ok_or(FlowError::NoSuchUser)?
    };
    if me.is_staff || target.id == me.id {
        return Ok(target);
    }
    match access {
        Access::Delete => Err(FlowError::PermissionDenied),
        _ if cx.settings.hide_users => Err(FlowError::NotFound),
        _ => Err(FlowError::PermissionDenied),
    }
}

/// The user object after an update, and the activation e-mail it may need.
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    /// The user as stored now.
    pub user: User,
    /// The activation e-mail to the (new) address.
    pub mail: Outbox,
}

/// PUT/PATCH users/me/ or users/{id}/: the only writable field is the e-mail (`None` when the
/// body has none).
///
/// With EMAIL_CHANGE_CONFIRMATION (the default) a new address only becomes pending: the account
/// stays active on the old one, the new address gets a confirmation link and the old one a
/// notice with a cancel link, so a stolen access token alone cannot move the account. Without
/// it, djoser's `perform_update`: the change applies at once and, with SEND_ACTIVATION_EMAIL,
/// deactivates the user and sends the activation e-mail to the new address.
pub async fn update<S: UserStore>(
    cx: &Cx<'_, S>,
    target: User,
    email: Checked<Option<String>>,
) -> Result<Updated, FlowError> {
    update_with_profile(cx, target, email, Ok(ProfileChange::default()), false).await
}

/// [`update`] with the configured user fields (USER_FIELDS) too: every field is validated
/// before anything is written, the e-mail rules run first, and the profile values are merged
/// in last, so a refused e-mail changes nothing. `full` (PUT) requires a required e-mail to be
/// sent; the profile's required fields were checked when it was read.
pub async fn update_with_profile<S: UserStore>(
    cx: &Cx<'_, S>,
    target: User,
    email: Checked<Option<String>>,
    profile: Checked<ProfileChange>,
    full: bool,
) -> Result<Updated, FlowError> {
    let email = customise::email_field(cx.settings, email, full);
    let mut errors = FieldErrors::new();
    let email = take(&mut errors, email);
    let profile = take(&mut errors, profile);
    ok_if_empty(errors)?;
    let (Some(email), Some(profile)) = (email, profile) else {
        return Err(FlowError::Internal("validated fields missing".into()));
    };
    let mut done = update_email(cx, target, email).await?;
    if !profile.is_empty() {
        cx.store.update_profile(done.user.id, &profile).await?;
        profile.apply(&mut done.user);
    }
    Ok(done)
}

/// The e-mail half of [`update_with_profile`].
async fn update_email<S: UserStore>(
    cx: &Cx<'_, S>,
    mut target: User,
    email: Option<String>,
) -> Result<Updated, FlowError> {
    let s = cx.settings;
    let mut errors = FieldErrors::new();
    let email = match email {
        Some(email) if !email.is_empty() => {
            let conflicts = cx.store.conflicts(None, Some(&email)).await?;
            if conflicts.email_owner.is_some_and(|id| id != target.id) {
                errors.add("email", msg::EMAIL_TAKEN);
                None
            } else {
                Some(email)
            }
        }
        other => other,
    };
    ok_if_empty(errors)?;
    let mut mail = Vec::new();
    // djoser-compat: the comparison is case-sensitive and the new address is stored as sent.
    let Some(email) = email.filter(|e| *e != target.email) else {
        // djoser's perform_update re-sends the activation e-mail to an inactive user; only to
        // one waiting for activation here, never to a disabled one.
        if s.send_activation_email && !target.is_active && target.activation_pending {
            links::queue(cx, &mut mail, &target, EmailKind::Activation)?;
        }
        return Ok(Updated { user: target, mail });
    };
    if s.email_change_confirmation && !email.is_empty() {
        cx.store.set_pending_email(target.id, Some(&email)).await?;
        cx.record(EventKind::EmailChangeRequested, target.id, None);
        target.pending_email = Some(email);
        links::queue(cx, &mut mail, &target, EmailKind::EmailChangeConfirmation)?;
        links::queue(cx, &mut mail, &target, EmailKind::EmailChangeNotice)?;
        return Ok(Updated { user: target, mail });
    }
    let deactivate = s.send_activation_email;
    match cx.store.update_email(target.id, &email, deactivate).await {
        Ok(()) => {}
        Err(StorageError::Conflict { field: "email" }) => {
            return Err(FlowError::field("email", msg::EMAIL_TAKEN))
        }
        Err(e) => return Err(e.into()),
    }
    cx.record(EventKind::EmailChanged, target.id, None);
    target.email = email;
    target.pending_email = None;
    if deactivate {
        target.is_active = false;
        target.activation_pending = true;
        links::queue(cx, &mut mail, &target, EmailKind::Activation)?;
    }
    Ok(Updated { user: target, mail })
}

/// POST users/email_change_confirm/: moves the account to its pending address with the link
/// mailed there. The change spends the link (and every other e-mailed link, as the address is
/// part of their state).
pub async fn email_change_confirm<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    uid: &str,
    token: &str,
) -> Result<(), FlowError> {
    let user = links::confirm(cx, uid, token, Purpose::EmailChange).await?;
    let Some(pending) = user.pending_email.as_deref() else {
        return Err(FlowError::field("token", msg::INVALID_TOKEN));
    };
    match cx.store.confirm_email_change(user.id, pending).await {
        Ok(true) => {
            cx.record(EventKind::EmailChanged, user.id, None);
            Ok(())
        }
        // Cancelled, replaced or used meanwhile.
        Ok(false) => Err(FlowError::field("token", msg::INVALID_TOKEN)),
        // Someone registered or confirmed the address since it was asked for.
        Err(StorageError::Conflict { field: "email" }) => {
            Err(FlowError::field("email", msg::EMAIL_TAKEN))
        }
        Err(e) => Err(e.into()),
    }
}

/// POST users/email_change_cancel/: drops the pending change with the link mailed to the old
/// address.
pub async fn email_change_cancel<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    uid: &str,
    token: &str,
) -> Result<(), FlowError> {
    let user = links::confirm(cx, uid, token, Purpose::EmailChangeCancel).await?;
    let Some(pending) = user.pending_email.as_deref() else {
        return Err(FlowError::field("token", msg::INVALID_TOKEN));
    };
    if !cx.store.cancel_email_change(user.id, pending).await? {
        return Err(FlowError::field("token", msg::INVALID_TOKEN));
    }
    Ok(())
}

/// The most events one page holds.
pub const MAX_EVENTS_PAGE: usize = 100;

/// One page of a user's event log, newest first, and the cursor of the next (older) page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsPage {
    /// The events.
    pub events: Vec<Event>,
    /// Pass as `cursor` for the next page; `None` on the last one.
    pub next: Option<i64>,
}

/// GET users/me/events/ (and users/{id}/events/ for staff): `target`'s events older than
/// `cursor` (an event id), at most `limit` (1 to [`MAX_EVENTS_PAGE`]).
pub async fn events<S: EventStore>(
    cx: &Cx<'_, S>,
    target: &User,
    cursor: Option<i64>,
    limit: usize,
) -> Result<EventsPage, FlowError> {
    let limit = limit.clamp(1, MAX_EVENTS_PAGE);
    // One more than asked tells whether another page follows.
    let mut events = cx.store.events(target.id, cursor, limit + 1).await?;
    let next = if events.len() > limit {
        events.truncate(limit);
        events.last().map(|e| e.id)
    } else {
        None
    };
    Ok(EventsPage { events, next })
}

/// DELETE users/me/ or users/{id}/: deletes `target` after checking the caller's password.
pub async fn destroy<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    me: &User,
    target: &User,
    current_password: Checked<String>,
) -> Result<(), FlowError> {
    let mut errors = FieldErrors::new();
    check_current_password(cx, me, current_password, &mut errors).await?;
    ok_if_empty(errors)?;
    cx.store.delete_user(target.id).await?;
    cx.record(EventKind::AccountDeleted, target.id, None);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::flows::testing::{cx, link_parts, settings, user_with_password};
    use crate::storage::memory::{block_on, MemoryStore};

    fn staff(id: i64) -> User {
        let mut u = User::for_tests(id, "root", "", "h");
        u.is_staff = true;
        u
    }

    #[test]
    fn the_list_shows_only_oneself_unless_staff() {
        let s = settings();
        let store = MemoryStore::new();
        let me = User::for_tests(1, "a", "", "h");
        store.put_user(me.clone());
        store.put_user(User::for_tests(2, "b", "", "h"));
        assert_eq!(block_on(list(&cx(&s, &store), &me)).unwrap().len(), 1);
        assert_eq!(block_on(list(&cx(&s, &store), &staff(3))).unwrap().len(), 2);
    }

    #[test]
    fn others_objects_are_hidden_forbidden_or_missing_as_djoser_says() {
        let s = settings();
        let store = MemoryStore::new();
        let me = User::for_tests(1, "a", "", "h");
        store.put_user(me.clone());
        store.put_user(User::for_tests(2, "b", "", "h"));
        let cx1 = cx(&s, &store);
        assert_eq!(
            block_on(target(&cx1, &me, "2", Access::Read)),
            Err(FlowError::NotFound)
        );
        assert_eq!(
            block_on(target(&cx1, &me, "2", Access::Delete)),
            Err(FlowError::PermissionDenied)
        );
        assert_eq!(
            block_on(target(&cx1, &me, "x", Access::Read)),
            Err(FlowError::NotFound)
        );
        assert_eq!(
            block_on(target(&cx1, &me, "9", Access::Read)),
            Err(FlowError::NoSuchUser)
        );
        assert_eq!(
            block_on(target(&cx1, &staff(3), "2", Access::Write)).map(|u| u.id),
            Ok(2)
        );
        let open = Settings {
            hide_users: false,
            ..settings()
        };
        assert_eq!(
            block_on(target(&cx(&open, &store), &me, "2", Access::Read)),
            Err(FlowError::PermissionDenied)
        );
    }

    #[test]
    fn with_confirmation_off_an_email_change_deactivates_and_mails_the_new_address() {
        let s = Settings {
            email_change_confirmation: false,
            ..settings()
        };
        let store = MemoryStore::new();
        let me = User::for_tests(1, "a", "old@example.com", "h");
        store.put_user(me.clone());
        let done = block_on(update(
            &cx(&s, &store),
            me,
            Ok(Some("new@example.com".into())),
        ))
        .unwrap();
        assert!(!done.user.is_active);
        assert_eq!(done.mail[0].to, "new@example.com");
        assert_eq!(store.user(1).unwrap().email, "new@example.com");
    }

    #[test]
    fn a_taken_address_is_refused_and_nothing_changes() {
        let s = settings();
        let store = MemoryStore::new();
        let me = User::for_tests(1, "a", "a@example.com", "h");
        store.put_user(me.clone());
        store.put_user(User::for_tests(2, "b", "b@example.com", "h"));
        assert_eq!(
            block_on(update(
                &cx(&s, &store),
                me,
                Ok(Some("B@example.com".into()))
            )),
            Err(FlowError::field("email", msg::EMAIL_TAKEN))
        );
        assert_eq!(store.user(1).unwrap().email, "a@example.com");
    }

    fn pending_change(s: &Settings, store: &MemoryStore) -> Updated {
        let me = User::for_tests(1, "a", "old@example.com", "h");
        store.put_user(me.clone());
        block_on(update(
            &cx(s, store),
            me,
            Ok(Some("new@example.com".into())),
        ))
        .unwrap()
    }

    #[test]
    fn an_email_change_stays_pending_and_mails_both_addresses() {
        let s = settings();
        let store = MemoryStore::new();
        let done = pending_change(&s, &store);
        assert_eq!(done.user.email, "old@example.com");
        assert!(done.user.is_active);
        let kinds: Vec<_> = done.mail.iter().map(|m| (m.kind, m.to.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (EmailKind::EmailChangeConfirmation, "new@example.com"),
                (EmailKind::EmailChangeNotice, "old@example.com"),
            ]
        );
        let stored = store.user(1).unwrap();
        assert_eq!(
            (stored.email.as_str(), stored.pending_email.as_deref()),
            ("old@example.com", Some("new@example.com"))
        );
    }

    #[test]
    fn the_confirmation_link_moves_the_account_once() {
        let s = settings();
        let store = MemoryStore::new();
        let done = pending_change(&s, &store);
        let (uid, token) = link_parts(&done.mail[0]);
        let cx = cx(&s, &store);
        assert_eq!(block_on(email_change_confirm(&cx, &uid, &token)), Ok(()));
        let stored = store.user(1).unwrap();
        assert_eq!(
            (stored.email.as_str(), stored.pending_email),
            ("new@example.com", None)
        );
        assert_eq!(
            block_on(email_change_confirm(&cx, &uid, &token)),
            Err(FlowError::field("token", msg::INVALID_TOKEN))
        );
    }

    #[test]
    fn the_cancel_link_drops_the_change_and_the_confirmation_link_dies() {
        let s = settings();
        let store = MemoryStore::new();
        let done = pending_change(&s, &store);
        let (uid, confirm) = link_parts(&done.mail[0]);
        let (_, cancel) = link_parts(&done.mail[1]);
        let cx = cx(&s, &store);
        // Each link works only for its own purpose.
        assert_eq!(
            block_on(email_change_confirm(&cx, &uid, &cancel)),
            Err(FlowError::field("token", msg::INVALID_TOKEN))
        );
        assert_eq!(block_on(email_change_cancel(&cx, &uid, &cancel)), Ok(()));
        assert_eq!(store.user(1).unwrap().pending_email, None);
        assert_eq!(
            block_on(email_change_confirm(&cx, &uid, &confirm)),
            Err(FlowError::field("token", msg::INVALID_TOKEN))
        );
        assert_eq!(store.user(1).unwrap().email, "old@example.com");
    }

    #[test]
    fn a_second_request_replaces_the_first_and_kills_its_link() {
        let s = settings();
        let store = MemoryStore::new();
        let first = pending_change(&s, &store);
        let (uid, token) = link_parts(&first.mail[0]);
        let me = store.user(1).unwrap();
        block_on(update(
            &cx(&s, &store),
            me,
            Ok(Some("other@example.com".into())),
        ))
        .unwrap();
        assert_eq!(
            block_on(email_change_confirm(&cx(&s, &store), &uid, &token)),
            Err(FlowError::field("token", msg::INVALID_TOKEN))
        );
    }

    #[test]
    fn an_address_taken_before_confirmation_is_refused_at_confirmation() {
        let s = settings();
        let store = MemoryStore::new();
        let done = pending_change(&s, &store);
        store.put_user(User::for_tests(2, "b", "new@example.com", "h"));
        let (uid, token) = link_parts(&done.mail[0]);
        assert_eq!(
            block_on(email_change_confirm(&cx(&s, &store), &uid, &token)),
            Err(FlowError::field("email", msg::EMAIL_TAKEN))
        );
        assert_eq!(store.user(1).unwrap().email, "old@example.com");
    }

    #[test]
    fn plain_activation_or_reset_links_do_not_confirm_a_change() {
        let s = settings();
        let store = MemoryStore::new();
        let done = pending_change(&s, &store);
        let user = store.user(1).unwrap();
        let reset = links::mail(&cx(&s, &store), &user, EmailKind::PasswordReset)
            .unwrap()
            .unwrap();
        let (uid, token) = link_parts(&reset);
        assert_eq!(
            block_on(email_change_confirm(&cx(&s, &store), &uid, &token)),
            Err(FlowError::field("token", msg::INVALID_TOKEN))
        );
        assert_eq!(done.user.pending_email.as_deref(), Some("new@example.com"));
    }

    #[test]
    fn changes_and_deletion_are_recorded_in_the_event_log() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "a", "a@example.com", "secret-pw-1");
        let cx = cx(&s, &store);
        block_on(update(&cx, me.clone(), Ok(Some("b@example.com".into())))).unwrap();
        block_on(destroy(&cx, &me, &me, Ok("secret-pw-1".into()))).unwrap();
        let kinds: Vec<_> = cx.events.take().into_iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [EventKind::EmailChangeRequested, EventKind::AccountDeleted]
        );
    }

    #[test]
    fn the_event_log_pages_newest_first_with_a_cursor() {
        let s = settings();
        let store = MemoryStore::new();
        let me = User::for_tests(1, "a", "", "h");
        let cx = cx(&s, &store);
        for _ in 0..5 {
            cx.record(EventKind::LoginSucceeded, 1, None);
        }
        cx.record(EventKind::LoginFailed, 2, None);
        block_on(store.insert_events(&cx.events.take())).unwrap();
        let first = block_on(events(&cx, &me, None, 2)).unwrap();
        assert_eq!(
            first.events.iter().map(|e| e.id).collect::<Vec<_>>(),
            [5, 4]
        );
        let second = block_on(events(&cx, &me, first.next, 2)).unwrap();
        assert_eq!(
            second.events.iter().map(|e| e.id).collect::<Vec<_>>(),
            [3, 2]
        );
        let last = block_on(events(&cx, &me, second.next, 2)).unwrap();
        assert_eq!((last.events.len(), last.next), (1, None));
        assert_eq!(first.events[0].ip, "203.0.113.0/24");
        // Limits are clamped.
        assert_eq!(block_on(events(&cx, &me, None, 0)).unwrap().events.len(), 1);
    }

    #[test]
    fn deletion_needs_the_current_password() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "a", "", "secret-pw-1");
        let cx = cx(&s, &store);
        assert_eq!(
            block_on(destroy(&cx, &me, &me, Ok("wrong".into()))),
            Err(FlowError::field("current_password", msg::INVALID_PASSWORD))
        );
        assert!(store.user(1).is_some());
        block_on(destroy(&cx, &me, &me, Ok("secret-pw-1".into()))).unwrap();
        assert!(store.user(1).is_none());
    }
}
