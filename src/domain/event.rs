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
    /// The throttle refused a sign-in or e-mail request about the account (recorded once per
    /// window of the limit that refused, however many requests it refuses).
    Throttled,
    /// A second factor (TOTP) was enabled.
    MfaEnabled,
    /// The second factor was turned off.
    MfaDisabled,
    /// A wrong second-factor code (at sign-in, or for deactivation or regeneration).
    MfaFailed,
    /// A backup code was used.
    BackupCodeUsed,
    /// The backup codes were replaced by a new set.
    BackupCodesRegenerated,
    /// An operator disabled the account (`npm run admin -- disable`).
    AccountDisabled,
    /// A passkey was registered (at a passkey signup or added while signed in).
    PasskeyAdded,
    /// A passkey was removed.
    PasskeyRemoved,
    /// A passkey sign-in succeeded.
    PasskeyLogin,
    /// A passkey sign-in was refused because its sign counter did not grow: the authenticator
    /// may have been cloned.
    PasskeyCounterRegressed,
    /// A sign-in through a social provider (`o/{provider}/`) succeeded.
    SocialLogin,
    /// A first social sign-in created the account.
    SocialAccountCreated,
    /// A provider identity was linked to an existing account by its verified e-mail
    /// (SOCIAL_AUTH_ASSOCIATE_BY_EMAIL).
    SocialAccountLinked,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 25] = [
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
        EventKind::Throttled,
        EventKind::MfaEnabled,
        EventKind::MfaDisabled,
        EventKind::MfaFailed,
        EventKind::BackupCodeUsed,
        EventKind::BackupCodesRegenerated,
        EventKind::AccountDisabled,
        EventKind::PasskeyAdded,
        EventKind::PasskeyRemoved,
        EventKind::PasskeyLogin,
        EventKind::PasskeyCounterRegressed,
        EventKind::SocialLogin,
        EventKind::SocialAccountCreated,
        EventKind::SocialAccountLinked,
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
            EventKind::Throttled => "throttled",
            EventKind::MfaEnabled => "mfa_enabled",
            EventKind::MfaDisabled => "mfa_disabled",
            EventKind::MfaFailed => "mfa_failed",
            EventKind::BackupCodeUsed => "backup_code_used",
            EventKind::BackupCodesRegenerated => "backup_codes_regenerated",
            EventKind::AccountDisabled => "account_disabled",
            EventKind::PasskeyAdded => "passkey_added",
            EventKind::PasskeyRemoved => "passkey_removed",
            EventKind::PasskeyLogin => "passkey_login",
            EventKind::PasskeyCounterRegressed => "passkey_counter_regressed",
            EventKind::SocialLogin => "social_login",
            EventKind::SocialAccountCreated => "social_account_created",
            EventKind::SocialAccountLinked => "social_account_linked",
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
    /// When set, the event is written only if the user has no event of its kind at or after
    /// this time: what keeps a kind that can repeat on every request (throttled) to one row per
    /// window.
    #[serde(skip)]
    pub once_since: Option<i64>,
}

/// The header that carries [`webhook_signature`].
pub const WEBHOOK_SIGNATURE_HEADER: &str = "X-Event-Signature";

/// The JSON body EVENTS_WEBHOOK_URL receives for `event`: the stored event as the events
/// endpoint shows it.
pub fn webhook_body(event: &Event) -> String {
    serde_json::to_string(event).unwrap_or_default()
}

/// `t={timestamp},v1={hex HMAC-SHA256 of "{timestamp}.{body}"}` under `secret`: the receiver
/// recomputes it over the raw body and refuses old timestamps, so a captured delivery can be
/// neither altered nor replayed later.
pub fn webhook_signature(secret: &[u8], timestamp: i64, body: &str) -> String {
    let stamp = format!("{timestamp}.");
    let digest = crate::tokens::hmac_sha256(secret, &[stamp.as_bytes(), body.as_bytes()]);
    format!(
        "t={timestamp},v1={}",
        crate::tokens::auth_token::hex(&digest)
    )
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

    #[test]
    fn a_webhook_delivery_is_the_event_as_shown_signed_over_time_and_body() {
        let event = Event {
            id: 7,
            kind: EventKind::Throttled,
            at: 1_700_000_000,
            user_id: 3,
            session: None,
            ip: "203.0.113.0/24".into(),
            user_agent: "ua".into(),
            country: Some("NL".into()),
            once_since: Some(1),
        };
        let body = webhook_body(&event);
        let shown: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(shown["kind"], "throttled");
        assert_eq!(shown["id"], 7);
        assert!(shown.get("once_since").is_none());
        // The value itself is recomputed with Node's crypto by the HTTP test; here, that it
        // depends on the time, the body and the key.
        let sig = webhook_signature(b"Jefe", 1, "what do ya want for nothing?");
        assert!(sig.starts_with("t=1,v1="));
        let other_time = webhook_signature(b"Jefe", 2, "what do ya want for nothing?");
        let other_body = webhook_signature(b"Jefe", 1, "what do ya want for nothing!");
        let other_key = webhook_signature(b"Jeff", 1, "what do ya want for nothing?");
        assert_eq!(sig.len(), "t=1,v1=".len() + 64);
        for other in [other_time, other_body, other_key] {
            assert_ne!(sig[7..], other[other.find("v1=").unwrap() + 3..]);
        }
    }
}
