//! E-mailed links: the one-time uid/token pairs of activation and the two resets, minted into
//! e-mails and checked when they come back; and djoser's `get_user` look-up by e-mail that the
//! three "send me a link" endpoints share.

use crate::domain::user::User;
use crate::email::compose::{compose, Message};
use crate::email::custom::context;
use crate::email::templates::{fill_url, EmailKind};
use crate::flows::throttle::{self, Scope, Subject};
use crate::flows::{Cx, FlowError};
use crate::messages as msg;
use crate::storage::{ThrottleStore, UserLookup, UserStore};
use crate::tokens::one_time::{self, TokenUserState};

/// What a link is for; username-reset tokens also cover the username.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// users/activation/.
    Activation,
    /// reset_password_confirm/.
    PasswordReset,
    /// reset_username_confirm/.
    UsernameReset,
    /// email_change_confirm/ (the link to the new address).
    EmailChange,
    /// email_change_cancel/ (the link to the old address).
    EmailChangeCancel,
}

/// The state a link's token is bound to: any change to it kills every link minted before.
/// Username-reset links also die when the username changes, and e-mail change links when the
/// pending address changes (each purpose with its own mark, so one cannot stand for the other);
/// Django's generator has no such input, so those tokens are this service's own. `None` when
/// the purpose needs a pending e-mail change and there is none: no token is valid then.
fn token_state(user: &User, purpose: Purpose) -> Option<(TokenUserState<'_>, Option<String>)> {
    let extra = match purpose {
        Purpose::Activation | Purpose::PasswordReset => None,
        Purpose::UsernameReset => Some(user.username.clone()),
        Purpose::EmailChange => Some(format!("\u{1}{}", user.pending_email.as_deref()?)),
        Purpose::EmailChangeCancel => Some(format!("\u{2}{}", user.pending_email.as_deref()?)),
    };
    let state = TokenUserState {
        user_id: user.id,
        password_hash: &user.password,
        last_login: user.last_login,
        email: &user.email,
        extra: None,
    };
    Some((state, extra))
}

/// A token for `user`'s link of `purpose`, minted now.
fn mint<S>(cx: &Cx<'_, S>, user: &User, purpose: Purpose) -> Result<Option<String>, FlowError> {
    let Some((mut state, extra)) = token_state(user, purpose) else {
        return Ok(None);
    };
    state.extra = extra.as_deref();
    Ok(Some(one_time::make_token(cx.secret()?, &state, cx.now)))
}

/// The e-mail `kind` for `user`, with its link minted now where the kind carries one; `None`
/// when there is no address to send it to. The e-mail change confirmation goes to the pending
/// address, everything else to the user's own.
pub fn mail<S>(cx: &Cx<'_, S>, user: &User, kind: EmailKind) -> Result<Option<Message>, FlowError> {
    let s = cx.settings;
    let link = match kind {
        EmailKind::Activation => Some((Purpose::Activation, &s.activation_url)),
        EmailKind::PasswordReset => Some((Purpose::PasswordReset, &s.password_reset_confirm_url)),
        EmailKind::UsernameReset => Some((Purpose::UsernameReset, &s.username_reset_confirm_url)),
        EmailKind::EmailChangeConfirmation => {
            Some((Purpose::EmailChange, &s.email_change_confirm_url))
        }
        EmailKind::EmailChangeNotice => {
            Some((Purpose::EmailChangeCancel, &s.email_change_cancel_url))
        }
        _ => None,
    };
    let (url, uid_token) = match link {
        Some((purpose, template)) => match mint(cx, user, purpose)? {
            Some(token) => {
                let uid = one_time::encode_uid(user.id);
                (Some(fill_url(template, &uid, &token)), Some((uid, token)))
            }
            None => return Ok(None),
        },
        None => (None, None),
    };
    let to = match kind {
        EmailKind::EmailChangeConfirmation => user.pending_email.as_deref().unwrap_or_default(),
        _ => &user.email,
    };
    let mut message = compose(s, user, to, kind, url);
    if let Some(m) = message.as_mut() {
        let pair = uid_token.as_ref().map(|(u, t)| (u.as_str(), t.as_str()));
        m.context = context(s, user, m.url.as_deref(), pair);
    }
    Ok(message)
}

/// Pushes the e-mail `kind` for `user` onto `outbox` (nothing when the user has no address).
pub fn queue<S>(
    cx: &Cx<'_, S>,
    outbox: &mut Vec<Message>,
    user: &User,
    kind: EmailKind,
) -> Result<(), FlowError> {
    outbox.extend(mail(cx, user, kind)?);
    Ok(())
}

/// djoser's UidAndTokenSerializer.validate: the uid must name a user (`uid` error) and the token
/// must be valid for that user's current state (`token` error). Every attempt counts against the
/// client's confirm throttle, a uid that names nobody included. There is no per-user counter:
/// the token is a 128-bit HMAC, so guessing is hopeless anyway, and a counter keyed by the
/// (sequential) uid would let anyone lock a user's links. `uid` and `token` are the raw values.
pub async fn confirm<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    uid: &str,
    token: &str,
    purpose: Purpose,
) -> Result<User, FlowError> {
    let user = match one_time::decode_uid(uid) {
        Some(id) => {
            throttle::check_and_find_user(cx, Scope::Confirm, None, UserLookup::Id(id)).await?
        }
        None => {
            throttle::check(cx, Scope::Confirm, None).await?;
            None
        }
    };
    check_link(cx, user, token, purpose)
}

/// [`confirm`] for a caller that already counted the request against the confirm throttle (so
/// it is not counted twice).
pub async fn confirm_counted<S: UserStore>(
    cx: &Cx<'_, S>,
    uid: &str,
    token: &str,
    purpose: Purpose,
) -> Result<User, FlowError> {
    let user = match one_time::decode_uid(uid) {
        Some(id) => cx.store.find_user(UserLookup::Id(id)).await?,
        None => None,
    };
    check_link(cx, user, token, purpose)
}

/// The uid names `user` (a `uid` error when nobody) and the token must be valid for its state.
fn check_link<S>(
    cx: &Cx<'_, S>,
    user: Option<User>,
    token: &str,
    purpose: Purpose,
) -> Result<User, FlowError> {
    let Some(user) = user else {
        return Err(FlowError::field("uid", msg::INVALID_UID));
    };
    if !token_valid(cx, &user, token, purpose)? {
        return Err(FlowError::field("token", msg::INVALID_TOKEN));
    }
    Ok(user)
}

/// Whether `token` is valid now for `user`'s link of `purpose`.
pub fn token_valid<S>(
    cx: &Cx<'_, S>,
    user: &User,
    token: &str,
    purpose: Purpose,
) -> Result<bool, FlowError> {
    let Some((mut state, extra)) = token_state(user, purpose) else {
        return Ok(false);
    };
    state.extra = extra.as_deref();
    Ok(cx.verification_secrets()?.into_iter().any(|secret| {
        one_time::check_token(
            secret,
            &state,
            token,
            cx.now,
            cx.settings.password_reset_timeout,
        )
    }))
}

/// Which accounts an e-mail look-up is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// Active accounts (the resets).
    Active,
    /// Accounts waiting for their activation link (resend_activation); an operator-disabled
    /// account is inactive too, but never waits for one.
    AwaitingActivation,
}

/// The user djoser's `get_user` finds for an e-mail address: in the `wanted` state, with a
/// usable password. Unknown addresses are `None`, or the bare "does not exist" error when a
/// *_SHOW_EMAIL_NOT_FOUND setting asks to say so.
pub async fn user_for_email<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    email: &str,
    wanted: Wanted,
) -> Result<Option<User>, FlowError> {
    let user = throttle::check_and_find_user(
        cx,
        Scope::Email,
        Some(Subject::Email(email)),
        UserLookup::Email(email),
    )
    .await?;
    let fits = |u: &User| match wanted {
        Wanted::Active => u.is_active,
        Wanted::AwaitingActivation => !u.is_active && u.activation_pending,
    };
    let user = user.filter(|u| fits(u) && u.has_usable_password());
    // djoser-compat: either setting turns it on for all three look-up endpoints.
    let show_not_found = cx.settings.password_reset_show_email_not_found
        || cx.settings.username_reset_show_email_not_found;
    match user {
        Some(user) => Ok(Some(user)),
        // djoser-compat: get_user calls self.fail() after is_valid(), so the body is a bare list.
        None if show_not_found => Err(FlowError::Bare(msg::EMAIL_NOT_FOUND)),
        None => Ok(None),
    }
}

/// reset_password and reset_username: the `kind` link for the active user the address names;
/// unknown addresses send nothing and succeed alike.
pub async fn send_reset_link<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    email: &str,
    kind: EmailKind,
) -> Result<Vec<Message>, FlowError> {
    let mut outbox = Vec::new();
    if let Some(user) = user_for_email(cx, email, Wanted::Active).await? {
        queue(cx, &mut outbox, &user, kind)?;
    }
    Ok(outbox)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::flows::testing::{cx, cx_at, cx_from, link_parts, settings, NOW};
    use crate::storage::memory::{block_on, MemoryStore};

    #[test]
    fn a_minted_link_confirms_for_its_purpose_only() {
        let s = settings();
        let store = MemoryStore::new();
        let user = User::for_tests(5, "eve", "e@example.com", "hash");
        store.put_user(user.clone());
        let cx = cx(&s, &store);
        let message = mail(&cx, &user, EmailKind::UsernameReset).unwrap().unwrap();
        let (uid, token) = link_parts(&message);
        let found = block_on(confirm(&cx, &uid, &token, Purpose::UsernameReset));
        assert_eq!(found.map(|u| u.id), Ok(5));
        assert_eq!(
            block_on(confirm(&cx, &uid, &token, Purpose::PasswordReset)),
            Err(FlowError::field("token", msg::INVALID_TOKEN))
        );
    }

    #[test]
    fn a_link_mailed_before_a_rotation_works_while_its_key_is_a_fallback() {
        let before = settings();
        let store = MemoryStore::new();
        let user = User::for_tests(5, "eve", "e@example.com", "hash");
        store.put_user(user.clone());
        let message = mail(&cx(&before, &store), &user, EmailKind::PasswordReset)
            .unwrap()
            .unwrap();
        let (uid, token) = link_parts(&message);
        let old_key = before.signing_key.clone().unwrap();
        let new_key = b"rotated-key-0123456789abcdef0123456789abcdef".to_vec();
        let rotated = Settings {
            signing_key: Some(new_key.clone()),
            signing_key_fallbacks: vec![old_key],
            ..before.clone()
        };
        let found = block_on(confirm(
            &cx(&rotated, &store),
            &uid,
            &token,
            Purpose::PasswordReset,
        ));
        assert_eq!(found.map(|u| u.id), Ok(5));
        let removed = Settings {
            signing_key: Some(new_key),
            signing_key_fallbacks: Vec::new(),
            ..before
        };
        assert_eq!(
            block_on(confirm(
                &cx(&removed, &store),
                &uid,
                &token,
                Purpose::PasswordReset
            )),
            Err(FlowError::field("token", msg::INVALID_TOKEN))
        );
    }

    #[test]
    fn a_link_dies_when_the_state_it_covers_changes_or_times_out() {
        let s = settings();
        let store = MemoryStore::new();
        let mut user = User::for_tests(5, "eve", "e@example.com", "hash");
        store.put_user(user.clone());
        let message = mail(&cx(&s, &store), &user, EmailKind::PasswordReset)
            .unwrap()
            .unwrap();
        let (uid, token) = link_parts(&message);
        let late = cx_at(&s, &store, NOW + s.password_reset_timeout + 1);
        assert_eq!(
            block_on(confirm(&late, &uid, &token, Purpose::PasswordReset)),
            Err(FlowError::field("token", msg::INVALID_TOKEN))
        );
        user.last_login = Some(NOW);
        store.put_user(user);
        assert_eq!(
            block_on(confirm(
                &cx(&s, &store),
                &uid,
                &token,
                Purpose::PasswordReset
            )),
            Err(FlowError::field("token", msg::INVALID_TOKEN))
        );
    }

    #[test]
    fn garbage_confirms_from_many_clients_do_not_lock_a_users_link() {
        let s = settings();
        let store = MemoryStore::new();
        let user = User::for_tests(5, "eve", "e@example.com", "hash");
        store.put_user(user.clone());
        let message = mail(&cx(&s, &store), &user, EmailKind::PasswordReset)
            .unwrap()
            .unwrap();
        let (uid, token) = link_parts(&message);
        for i in 0..3 * s.rate_limit_confirm.count {
            let client = format!("198.51.100.{i}");
            let guess = block_on(confirm(
                &cx_from(&s, &store, &client),
                &uid,
                "c1d2e3-0123456789abcdef0123",
                Purpose::PasswordReset,
            ));
            assert_eq!(guess, Err(FlowError::field("token", msg::INVALID_TOKEN)));
        }
        let owner = cx_from(&s, &store, "192.0.2.1");
        let found = block_on(confirm(&owner, &uid, &token, Purpose::PasswordReset));
        assert_eq!(found.map(|u| u.id), Ok(5));
    }

    #[test]
    fn a_uid_naming_nobody_is_a_uid_error() {
        let s = settings();
        let store = MemoryStore::new();
        for uid in ["", "!!", "OTk"] {
            assert_eq!(
                block_on(confirm(&cx(&s, &store), uid, "x-y", Purpose::Activation)),
                Err(FlowError::field("uid", msg::INVALID_UID)),
                "{uid}"
            );
        }
    }

    #[test]
    fn unknown_addresses_are_silent_unless_asked_to_say_so() {
        let s = settings();
        let store = MemoryStore::new();
        let sent = block_on(send_reset_link(
            &cx(&s, &store),
            "x@example.com",
            EmailKind::PasswordReset,
        ));
        assert_eq!(sent, Ok(vec![]));
        let loud = Settings {
            username_reset_show_email_not_found: true,
            ..settings()
        };
        assert_eq!(
            block_on(send_reset_link(
                &cx(&loud, &store),
                "x@example.com",
                EmailKind::PasswordReset
            )),
            Err(FlowError::Bare(msg::EMAIL_NOT_FOUND))
        );
    }

    #[test]
    fn users_without_a_usable_password_get_no_reset_link() {
        let s = settings();
        let store = MemoryStore::new();
        store.put_user(User::for_tests(1, "a", "a@example.com", "!unusable"));
        let sent = block_on(send_reset_link(
            &cx(&s, &store),
            "A@example.com",
            EmailKind::PasswordReset,
        ));
        assert_eq!(sent, Ok(vec![]));
    }
}
