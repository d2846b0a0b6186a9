//! Composing one of djoser's e-mails for a user: pure, so flows return messages and tests read
//! them; sending is the mailer's job.

use crate::config::Settings;
use crate::domain::user::User;
use crate::email::custom;
use crate::email::templates::{self, EmailContext, EmailKind, RenderedEmail};

/// One e-mail ready to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Which djoser e-mail this is.
    pub kind: EmailKind,
    /// The recipient's id (for the log line of a failed send).
    pub user_id: i64,
    /// DEFAULT_FROM_EMAIL.
    pub from: String,
    /// The user's address.
    pub to: String,
    /// The filled link, for the kinds that carry one.
    pub url: Option<String>,
    /// Subject and bodies.
    pub rendered: RenderedEmail,
    /// djoser's template variables (`email::custom::context`), for KV overrides and the
    /// webhook's `context`.
    pub context: serde_json::Map<String, serde_json::Value>,
}

/// The e-mail `kind` for `user`, sent to `to`, with `url` (the filled `*_URL` template) where
/// the kind has a link; `None` when there is no address to send to.
pub fn compose(
    settings: &Settings,
    user: &User,
    to: &str,
    kind: EmailKind,
    url: Option<String>,
) -> Option<Message> {
    if to.is_empty() {
        return None;
    }
    let context = EmailContext {
        site_name: &settings.site_name,
        domain: &settings.domain,
        protocol: &settings.protocol,
        url: url.as_deref(),
        username: &user.username,
    };
    let rendered = templates::render(kind, &context);
    let context = custom::context(settings, user, url.as_deref(), None);
    Some(Message {
        kind,
        user_id: user.id,
        from: settings.default_from_email.clone(),
        to: to.to_string(),
        url,
        rendered,
        context,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_without_an_address_gets_no_message() {
        let user = User::for_tests(1, "alice", "", "x");
        assert_eq!(
            compose(
                &Settings::default(),
                &user,
                &user.email,
                EmailKind::Confirmation,
                None
            ),
            None
        );
    }

    #[test]
    fn the_message_goes_to_the_user_from_the_configured_sender() {
        let user = User::for_tests(3, "alice", "a@example.com", "x");
        let settings = Settings::default();
        let url = Some("activate/Mw/tok".to_string());
        let message = compose(
            &settings,
            &user,
            &user.email,
            EmailKind::Activation,
            url.clone(),
        )
        .unwrap();
        assert_eq!(message.to, "a@example.com");
        assert_eq!(message.from, settings.default_from_email);
        assert_eq!(message.user_id, 3);
        assert_eq!(message.url, url);
        assert!(message.rendered.text.contains("activate/Mw/tok"));
    }
}
