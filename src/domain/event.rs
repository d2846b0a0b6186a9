//! The security event log: what happened to an account, when, and from where (coarsely).
//! Append-only; the owner reads it at `users/me/events/`.

use std::cell::RefCell;

use serde::Serialize;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A password login of an existing account succeeded.
    LoginSucceeded,
    /// A password login of an existing account failed (wrong password, inactive).
    LoginFailed,
    /// A spent refresh token came back after the grace window: its family was revoked.
    RefreshReuseDetected,
    /// A session (token family) was ended by a logout.
    SessionEnded,
    /// The password was changed by its owner.
    PasswordChanged,
    /// The password was reset through an e-mailed link.
    PasswordReset,
    /// An e-mail change was asked for and waits for confirmation.
    EmailChangeRequested,
    /// The account moved to a new e-mail address.
    EmailChanged,
    /// The username was changed (directly or through a link).
    UsernameChanged,
    /// The account was activated.
    AccountActivated,
    /// The account was deleted.
    AccountDeleted,
    /// An operator disabled the account (`npm run admin -- disable`).
    AccountDisabled,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 12] = [
        EventKind::LoginSucceeded,
        EventKind::LoginFailed,
        EventKind::RefreshReuseDetected,
        EventKind::SessionEnded,
        EventKind::PasswordChanged,
        EventKind::PasswordReset,
        EventKind::EmailChangeRequested,
        EventKind::EmailChanged,
        EventKind::UsernameChanged,
        EventKind::AccountActivated,
        EventKind::AccountDeleted,
        EventKind::AccountDisabled,
    ];

    /// The kind stored under `name`.
    pub fn parse(name: &str) -> Option<EventKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The name stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::LoginSucceeded => "login_succeeded",
            EventKind::LoginFailed => "login_failed",
            EventKind::RefreshReuseDetected => "refresh_reuse_detected",
            EventKind::SessionEnded => "session_ended",
            EventKind::PasswordChanged => "password_changed",
            EventKind::PasswordReset => "password_reset",
            EventKind::EmailChangeRequested => "email_change_requested",
            EventKind::EmailChanged => "email_changed",
            EventKind::UsernameChanged => "username_changed",
            EventKind::AccountActivated => "account_activated",
            EventKind::AccountDeleted => "account_deleted",
            EventKind::AccountDisabled => "account_disabled",
        }
    }
}

/// One event as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Its id (0 until stored); newer events have larger ids.
    pub id: i64,
    /// What happened.
    pub kind: EventKind,
    /// Unix seconds.
    pub at: i64,
    /// Whose account.
    pub user_id: i64,
    /// The session (token family) it happened in or to, if any.
    pub session: Option<String>,
    /// The client's address, coarsened to its /24 (IPv4) or /48 (IPv6).
    pub ip: String,
    /// The client's User-Agent, truncated.
    pub user_agent: String,
    /// The client's country, when the platform knows it.
    pub country: Option<String>,
}

/// The events a request recorded, written after the answer.
#[derive(Debug, Default)]
pub struct Events(RefCell<Vec<Event>>);

impl Events {
    /// Records one event.
    pub fn push(&self, event: Event) {
        self.0.borrow_mut().push(event);
    }

    /// Takes every event recorded so far.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_back_from_its_name_and_serialises_as_it() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.name()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
        assert_eq!(EventKind::parse("nope"), None);
    }
}
