//! djoser's six e-mails (subject, text body, HTML body), rendered byte for byte as djoser 2.3.5
//! renders its `templates/email/*.html` with Django 5.2.
//!
//! Pure string building: no I/O, no settings lookups, no sending (that is `email::mailer`).
//! The djoser templates never switch autoescaping off, so every `{{ variable }}` except
//! `{{ url|safe }}` is HTML-escaped in all three parts, the plain-text body and the subject too.

/// Which djoser e-mail to render; each maps to one djoser template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailKind {
    /// `email/activation.html`: sent on register and on an e-mail change; needs `url`.
    Activation,
    /// `email/confirmation.html`: sent after a successful activation.
    Confirmation,
    /// `email/password_reset.html`: sent by `reset_password`; needs `url` and `username`.
    PasswordReset,
    /// `email/password_changed_confirmation.html`: after `set_password` / `reset_password_confirm`.
    PasswordChangedConfirmation,
    /// `email/username_reset.html`: sent by `reset_username`; needs `url` and `username`.
    UsernameReset,
    /// `email/username_changed_confirmation.html`: after `set_username` / `reset_username_confirm`.
    UsernameChangedConfirmation,
    /// This service's own: to the new address of a pending e-mail change; needs `url` (confirm).
    EmailChangeConfirmation,
    /// This service's own: to the old address of a pending e-mail change; needs `url` (cancel).
    EmailChangeNotice,
    /// This service's own: a second factor was enabled.
    MfaEnabled,
    /// This service's own: the second factor was turned off.
    MfaDisabled,
    /// This service's own: a backup code was used to sign in (or to change the factor).
    BackupCodeUsed,
}

impl EmailKind {
    /// djoser's six kinds, in declaration order.
    pub const ALL: [EmailKind; 6] = [
        EmailKind::Activation,
        EmailKind::Confirmation,
        EmailKind::PasswordReset,
        EmailKind::PasswordChangedConfirmation,
        EmailKind::UsernameReset,
        EmailKind::UsernameChangedConfirmation,
    ];

    /// The djoser template's base name, e.g. "activation" or "password_changed_confirmation".
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            EmailKind::Activation => "activation",
            EmailKind::Confirmation => "confirmation",
            EmailKind::PasswordReset => "password_reset",
            EmailKind::PasswordChangedConfirmation => "password_changed_confirmation",
            EmailKind::UsernameReset => "username_reset",
            EmailKind::UsernameChangedConfirmation => "username_changed_confirmation",
            EmailKind::EmailChangeConfirmation => "email_change_confirmation",
            EmailKind::EmailChangeNotice => "email_change_notice",
            EmailKind::MfaEnabled => "mfa_enabled",
            EmailKind::MfaDisabled => "mfa_disabled",
            EmailKind::BackupCodeUsed => "backup_code_used",
        }
    }
}

/// The template context djoser builds in `BaseDjoserEmail.get_context_data`.
#[derive(Debug, Clone, Copy)]
pub struct EmailContext<'a> {
    /// `SITE_NAME` (djoser's `site_name`).
    pub site_name: &'a str,
    /// `DOMAIN`, e.g. "localhost:3000".
    pub domain: &'a str,
    /// "http", or "https" when the request came in over HTTPS.
    pub protocol: &'a str,
    /// The filled `*_URL` template, e.g. "activate/MQ/tok" (see [`fill_url`]); `None` renders as "".
    pub url: Option<&'a str>,
    /// The recipient's current username (`user.get_username`), shown by the two reset e-mails.
    pub username: &'a str,
}

/// One rendered e-mail: what djoser puts in `subject`, `body` and the `text/html` alternative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// The subject line. Contains a line break only if `site_name` does (Django would refuse to send it).
    pub subject: String,
    /// The `text/plain` part.
    pub text: String,
    /// The `text/html` part.
    pub html: String,
}

/// Renders `kind` with `ctx` exactly as djoser 2.3.5 does.
#[must_use]
pub fn render(kind: EmailKind, ctx: &EmailContext<'_>) -> RenderedEmail {
    // djoser-compat: autoescape stays on in every block of djoser's templates, so site_name,
    // domain, protocol and the username are escaped even in the subject and the text body.
    // Only the url is emitted raw, because the templates write `{{ url|safe }}`.
    let site = django_escape(ctx.site_name);
    let link = format!(
        "{}://{}/{}",
        django_escape(ctx.protocol),
        django_escape(ctx.domain),
        ctx.url.unwrap_or("")
    );
    let username = django_escape(ctx.username);

    let thanks_text = format!("Thanks for using our site!\n\nThe {site} team");
    let thanks_html = format!("<p>Thanks for using our site!</p>\n\n<p>The {site} team</p>");

    // Each string below is the text between `{% block ... %}` and `{% endblock %}` of the
    // djoser template, newlines included; `block` then strips it as djoser does.
    let (subject, text, html) = match kind {
        EmailKind::Activation => (
            format!("\nAccount activation on {site}\n"),
            format!(
                "\nYou're receiving this email because you need to finish activation process on {site}.\n\n\
                 Please go to the following page to activate account:\n\
                 {link}\n\n\
                 {thanks_text}\n"
            ),
            format!(
                "\n<p>You're receiving this email because you need to finish activation process on {site}.</p>\n\n\
                 <p>Please go to the following page to activate account:</p>\n\
                 <p><a href=\"{link}\">{link}</a></p>\n\n\
                 {thanks_html}\n\n"
            ),
        ),
        EmailKind::Confirmation => changed_email(
            &site,
            "Your account has been successfully created and activated!",
            "Your account has been created and is ready to use!",
            &thanks_text,
            &thanks_html,
        ),
        EmailKind::PasswordChangedConfirmation => changed_email(
            &site,
            "Your password has been successfully changed!",
            "Your password has been changed!",
            &thanks_text,
            &thanks_html,
        ),
        EmailKind::UsernameChangedConfirmation => changed_email(
            &site,
            "Your username has been successfully changed!",
            "Your username has been changed!",
            &thanks_text,
            &thanks_html,
        ),
        EmailKind::PasswordReset => reset_email(
            &site,
            ("Password reset", "password", &link, &username),
            &thanks_text,
            &thanks_html,
        ),
        EmailKind::UsernameReset => reset_email(
            &site,
            ("Username reset", "username", &link, &username),
            &thanks_text,
            &thanks_html,
        ),
        EmailKind::EmailChangeConfirmation => link_email(
            format!("Confirm your new email address on {site}"),
            &format!(
                "You're receiving this email because the account {username} at {site} asked to use this address from now on."
            ),
            "Please go to the following page to confirm the change:",
            "If you did not ask for this, ignore this email: nothing changes until the link is used.",
            &link,
            (&thanks_text, &thanks_html),
        ),
        EmailKind::EmailChangeNotice => link_email(
            format!("{site} - A change of your email address was requested"),
            &format!(
                "Someone signed in as {username} at {site} asked to move the account to another email address. It stays at this address until the new one confirms the change."
            ),
            "If this was not you, cancel the change on the following page, then change your password:",
            "If it was you, there is nothing to do.",
            &link,
            (&thanks_text, &thanks_html),
        ),
        EmailKind::MfaEnabled => changed_email(
            &site,
            "Two-factor authentication has been enabled!",
            "Two-factor authentication is now on for your account: signing in asks for a code from your authenticator app.",
            &format!("If this was not you, reset your password now.\n\n{thanks_text}"),
            &format!("<p>If this was not you, reset your password now.</p>\n\n{thanks_html}"),
        ),
        EmailKind::MfaDisabled => changed_email(
            &site,
            "Two-factor authentication has been disabled!",
            "Two-factor authentication is now off for your account: signing in needs only the password.",
            &format!("If this was not you, reset your password and enable it again.\n\n{thanks_text}"),
            &format!(
                "<p>If this was not you, reset your password and enable it again.</p>\n\n{thanks_html}"
            ),
        ),
        EmailKind::BackupCodeUsed => changed_email(
            &site,
            "A backup code has been used!",
            "One of your backup codes was just used. Each code works once; regenerate them when few are left.",
            &format!("If this was not you, reset your password and regenerate your codes.\n\n{thanks_text}"),
            &format!(
                "<p>If this was not you, reset your password and regenerate your codes.</p>\n\n{thanks_html}"
            ),
        ),
    };
    RenderedEmail {
        subject: block(&subject),
        text: block(&text),
        html: block(&html),
    }
}

/// Fills djoser's `{uid}` and `{token}` placeholders of ACTIVATION_URL & co.
///
/// djoser calls Python's `str.format(**context)`, so `{{` and `}}` stand for literal braces
/// and are unescaped here too. Any other `{name}` (which Python would resolve from the context
/// or fail on) is kept verbatim; the settings layer should reject such templates up front.
#[must_use]
pub fn fill_url(template: &str, uid: &str, token: &str) -> String {
    let mut out = String::with_capacity(template.len() + uid.len() + token.len());
    let mut chars = template.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut field = String::new();
                let mut closed = false;
                for inner in chars.by_ref() {
                    if inner == '}' {
                        closed = true;
                        break;
                    }
                    field.push(inner);
                }
                match (field.as_str(), closed) {
                    ("uid", true) => out.push_str(uid),
                    ("token", true) => out.push_str(token),
                    _ => {
                        out.push('{');
                        out.push_str(&field);
                        if closed {
                            out.push('}');
                        }
                    }
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The three "... has been changed" style e-mails share one template shape.
fn changed_email(
    site: &str,
    subject_tail: &str,
    message: &str,
    thanks_text: &str,
    thanks_html: &str,
) -> (String, String, String) {
    (
        format!("\n{site} - {subject_tail}\n"),
        format!("\n{message}\n\n{thanks_text}\n"),
        format!("\n<p>{message}</p>\n\n{thanks_html}\n"),
    )
}

/// The password and username reset e-mails differ only in their nouns.
/// `what` is (subject start, noun, escaped link, escaped username).
fn reset_email(
    site: &str,
    what: (&str, &str, &str, &str),
    thanks_text: &str,
    thanks_html: &str,
) -> (String, String, String) {
    let (subject_start, noun, link, username) = what;
    let intro = format!(
        "You're receiving this email because you requested a {noun} reset for your user account at {site}."
    );
    let choose = format!("Please go to the following page and choose a new {noun}:");
    let forgotten = "Your username, in case you've forgotten:";
    (
        format!("\n{subject_start} on {site}\n"),
        format!("\n{intro}\n\n{choose}\n{link}\n{forgotten} {username}\n\n{thanks_text}\n"),
        // djoser-compat: unlike activation, the reset link is a bare <a> outside any <p>.
        format!(
            "\n<p>{intro}</p>\n\n<p>{choose}</p>\n\
             <a href=\"{link}\">{link}</a>\n\
             <p>{forgotten} <b>{username}</b></p>\n\n\
             {thanks_html}\n"
        ),
    )
}

/// This service's own link e-mails: an intro, the link with its call to action, a closing line.
fn link_email(
    subject: String,
    intro: &str,
    action: &str,
    closing: &str,
    link: &str,
    thanks: (&str, &str),
) -> (String, String, String) {
    let (thanks_text, thanks_html) = thanks;
    (
        subject,
        format!("{intro}\n\n{action}\n{link}\n\n{closing}\n\n{thanks_text}"),
        format!(
            "<p>{intro}</p>\n\n<p>{action}</p>\n<p><a href=\"{link}\">{link}</a></p>\n\n\
             <p>{closing}</p>\n\n{thanks_html}"
        ),
    )
}

/// djoser's `_process_node` keeps `node.render(context).strip()`: Python's `str.strip()`.
fn block(rendered: &str) -> String {
    rendered.trim_matches(python_isspace).to_owned()
}

/// Python's `str.isspace` for one character: Unicode White_Space plus the four ASCII
/// information separators U+001C..U+001F, which Python counts and Rust's `char::is_whitespace` does not.
fn python_isspace(ch: char) -> bool {
    ch.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&ch)
}

/// Django's `escape()` (Python's `html.escape` with quotes): `& < > " '`.
pub fn django_escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for ch in raw.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        subject: &'static str,
        text: &'static str,
        html: &'static str,
    }

    // The fixtures are the decoded text/plain and text/html parts of e-mails that the real
    // reference server (djoser 2.3.5, Django 5.2.19) wrote to its file backend.
    const ACTIVATION: Fixture = Fixture {
        subject: "Account activation on Djoser Reference",
        text: "You're receiving this email because you need to finish activation process on Djoser Reference.\n\
     \n\
     Please go to the following page to activate account:\n\
     http://localhost:3000/activate/MQ/ditatr-05cdeb7d72af32f67b95f33fbfd3c59c\n\
     \n\
     Thanks for using our site!\n\
     \n\
     The Djoser Reference team",
        html: "<p>You're receiving this email because you need to finish activation process on Djoser Reference.</p>\n\
     \n\
     <p>Please go to the following page to activate account:</p>\n\
     <p><a href=\"http://localhost:3000/activate/MQ/ditatr-05cdeb7d72af32f67b95f33fbfd3c59c\">http://localhost:3000/activate/MQ/ditatr-05cdeb7d72af32f67b95f33fbfd3c59c</a></p>\n\
     \n\
     <p>Thanks for using our site!</p>\n\
     \n\
     <p>The Djoser Reference team</p>",
    };

    const CONFIRMATION: Fixture = Fixture {
        subject: "Djoser Reference - Your account has been successfully created and activated!",
        text: "Your account has been created and is ready to use!\n\
     \n\
     Thanks for using our site!\n\
     \n\
     The Djoser Reference team",
        html: "<p>Your account has been created and is ready to use!</p>\n\
     \n\
     <p>Thanks for using our site!</p>\n\
     \n\
     <p>The Djoser Reference team</p>",
    };

    const PASSWORD_RESET: Fixture = Fixture {
        subject: "Password reset on Djoser Reference",
        text: "You're receiving this email because you requested a password reset for your user account at Djoser Reference.\n\
     \n\
     Please go to the following page and choose a new password:\n\
     http://localhost:3000/password/reset/confirm/MQ/ditats-434dbadd2359e291d33a81c890ee66ac\n\
     Your username, in case you've forgotten: ua1\n\
     \n\
     Thanks for using our site!\n\
     \n\
     The Djoser Reference team",
        html: "<p>You're receiving this email because you requested a password reset for your user account at Djoser Reference.</p>\n\
     \n\
     <p>Please go to the following page and choose a new password:</p>\n\
     <a href=\"http://localhost:3000/password/reset/confirm/MQ/ditats-434dbadd2359e291d33a81c890ee66ac\">http://localhost:3000/password/reset/confirm/MQ/ditats-434dbadd2359e291d33a81c890ee66ac</a>\n\
     <p>Your username, in case you've forgotten: <b>ua1</b></p>\n\
     \n\
     <p>Thanks for using our site!</p>\n\
     \n\
     <p>The Djoser Reference team</p>",
    };

    const PASSWORD_CHANGED: Fixture = Fixture {
        subject: "Djoser Reference - Your password has been successfully changed!",
        text: "Your password has been changed!\n\
     \n\
     Thanks for using our site!\n\
     \n\
     The Djoser Reference team",
        html: "<p>Your password has been changed!</p>\n\
     \n\
     <p>Thanks for using our site!</p>\n\
     \n\
     <p>The Djoser Reference team</p>",
    };

    const USERNAME_RESET: Fixture = Fixture {
        subject: "Username reset on Djoser Reference",
        text: "You're receiving this email because you requested a username reset for your user account at Djoser Reference.\n\
     \n\
     Please go to the following page and choose a new username:\n\
     http://localhost:3000/username/reset/confirm/MQ/ditatu-1b5609237bd4e8674242e985abd23144\n\
     Your username, in case you've forgotten: ua1\n\
     \n\
     Thanks for using our site!\n\
     \n\
     The Djoser Reference team",
        html: "<p>You're receiving this email because you requested a username reset for your user account at Djoser Reference.</p>\n\
     \n\
     <p>Please go to the following page and choose a new username:</p>\n\
     <a href=\"http://localhost:3000/username/reset/confirm/MQ/ditatu-1b5609237bd4e8674242e985abd23144\">http://localhost:3000/username/reset/confirm/MQ/ditatu-1b5609237bd4e8674242e985abd23144</a>\n\
     <p>Your username, in case you've forgotten: <b>ua1</b></p>\n\
     \n\
     <p>Thanks for using our site!</p>\n\
     \n\
     <p>The Djoser Reference team</p>",
    };

    const USERNAME_CHANGED: Fixture = Fixture {
        subject: "Djoser Reference - Your username has been successfully changed!",
        text: "Your username has been changed!\n\
     \n\
     Thanks for using our site!\n\
     \n\
     The Djoser Reference team",
        html: "<p>Your username has been changed!</p>\n\
     \n\
     <p>Thanks for using our site!</p>\n\
     \n\
     <p>The Djoser Reference team</p>",
    };

    const HOSTILE_PASSWORD_RESET: Fixture = Fixture {
        subject: "Password reset on &lt;b&gt;Tom &amp; &quot;Jerry&#x27;s&quot;&lt;/b&gt;",
        text: "You're receiving this email because you requested a password reset for your user account at &lt;b&gt;Tom &amp; &quot;Jerry&#x27;s&quot;&lt;/b&gt;.\n\
     \n\
     Please go to the following page and choose a new password:\n\
     http://ex&lt;a&gt;&amp;m.com:3000/password/reset/confirm/MQ/ditb04-d79f16067b95a04035b4ebce75fb636b\n\
     Your username, in case you've forgotten: uw2\n\
     \n\
     Thanks for using our site!\n\
     \n\
     The &lt;b&gt;Tom &amp; &quot;Jerry&#x27;s&quot;&lt;/b&gt; team",
        html: "<p>You're receiving this email because you requested a password reset for your user account at &lt;b&gt;Tom &amp; &quot;Jerry&#x27;s&quot;&lt;/b&gt;.</p>\n\
     \n\
     <p>Please go to the following page and choose a new password:</p>\n\
     <a href=\"http://ex&lt;a&gt;&amp;m.com:3000/password/reset/confirm/MQ/ditb04-d79f16067b95a04035b4ebce75fb636b\">http://ex&lt;a&gt;&amp;m.com:3000/password/reset/confirm/MQ/ditb04-d79f16067b95a04035b4ebce75fb636b</a>\n\
     <p>Your username, in case you've forgotten: <b>uw2</b></p>\n\
     \n\
     <p>Thanks for using our site!</p>\n\
     \n\
     <p>The &lt;b&gt;Tom &amp; &quot;Jerry&#x27;s&quot;&lt;/b&gt; team</p>",
    };

    const HOSTILE_USERNAME_CHANGED: Fixture = Fixture {
        subject: "&lt;b&gt;Tom &amp; &quot;Jerry&#x27;s&quot;&lt;/b&gt; - Your username has been successfully changed!",
        text: "Your username has been changed!\n\
     \n\
     Thanks for using our site!\n\
     \n\
     The &lt;b&gt;Tom &amp; &quot;Jerry&#x27;s&quot;&lt;/b&gt; team",
        html: "<p>Your username has been changed!</p>\n\
     \n\
     <p>Thanks for using our site!</p>\n\
     \n\
     <p>The &lt;b&gt;Tom &amp; &quot;Jerry&#x27;s&quot;&lt;/b&gt; team</p>",
    };

    fn reference(url: Option<&'static str>, username: &'static str) -> EmailContext<'static> {
        EmailContext {
            site_name: "Djoser Reference",
            domain: "localhost:3000",
            protocol: "http",
            url,
            username,
        }
    }

    fn assert_renders(kind: EmailKind, ctx: &EmailContext<'_>, expected: &Fixture) {
        let got = render(kind, ctx);
        assert_eq!(got.subject, expected.subject, "{} subject", kind.name());
        assert_eq!(got.text, expected.text, "{} text", kind.name());
        assert_eq!(got.html, expected.html, "{} html", kind.name());
    }

    #[test]
    fn e_mail_change_messages_carry_their_link_and_escape_the_username() {
        let ctx = reference(Some("email/change/confirm/MQ/tok"), "<b>");
        for kind in [
            EmailKind::EmailChangeConfirmation,
            EmailKind::EmailChangeNotice,
        ] {
            let got = render(kind, &ctx);
            assert!(
                got.text.contains("/email/change/confirm/MQ/tok"),
                "{}",
                kind.name()
            );
            assert!(got.html.contains("&lt;b&gt;") && !got.html.contains("<b>"));
            assert!(!got.subject.contains('\n'));
        }
    }

    #[test]
    fn kind_names_are_djoser_template_names() {
        let names: Vec<_> = EmailKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(
            names,
            [
                "activation",
                "confirmation",
                "password_reset",
                "password_changed_confirmation",
                "username_reset",
                "username_changed_confirmation",
            ]
        );
    }

    #[test]
    fn activation_email_matches_the_reference_server() {
        let url = Some("activate/MQ/ditatr-05cdeb7d72af32f67b95f33fbfd3c59c");
        assert_renders(EmailKind::Activation, &reference(url, "ua1"), &ACTIVATION);
    }

    #[test]
    fn confirmation_email_matches_the_reference_server() {
        assert_renders(
            EmailKind::Confirmation,
            &reference(None, "ua1"),
            &CONFIRMATION,
        );
    }

    #[test]
    fn password_reset_email_matches_the_reference_server() {
        let url = Some("password/reset/confirm/MQ/ditats-434dbadd2359e291d33a81c890ee66ac");
        assert_renders(
            EmailKind::PasswordReset,
            &reference(url, "ua1"),
            &PASSWORD_RESET,
        );
    }

    #[test]
    fn password_changed_email_matches_the_reference_server() {
        let ctx = reference(None, "ua1");
        assert_renders(
            EmailKind::PasswordChangedConfirmation,
            &ctx,
            &PASSWORD_CHANGED,
        );
    }

    #[test]
    fn username_reset_email_matches_the_reference_server() {
        let url = Some("username/reset/confirm/MQ/ditatu-1b5609237bd4e8674242e985abd23144");
        assert_renders(
            EmailKind::UsernameReset,
            &reference(url, "ua1"),
            &USERNAME_RESET,
        );
    }

    #[test]
    fn username_changed_email_matches_the_reference_server() {
        let ctx = reference(None, "ua1_2");
        assert_renders(
            EmailKind::UsernameChangedConfirmation,
            &ctx,
            &USERNAME_CHANGED,
        );
    }

    // A reference server started with DJREF_SITE_NAME='<b>Tom & "Jerry's"</b>' and
    // DJREF_DOMAIN='ex<a>&m.com:3000' escaped both in the subject and in both bodies.
    #[test]
    fn site_name_and_domain_are_escaped_in_subject_text_and_html() {
        let hostile = |url, username| EmailContext {
            site_name: "<b>Tom & \"Jerry's\"</b>",
            domain: "ex<a>&m.com:3000",
            protocol: "http",
            url,
            username,
        };
        let url = Some("password/reset/confirm/MQ/ditb04-d79f16067b95a04035b4ebce75fb636b");
        assert_renders(
            EmailKind::PasswordReset,
            &hostile(url, "uw2"),
            &HOSTILE_PASSWORD_RESET,
        );
        let ctx = hostile(None, "uw2_2");
        assert_renders(
            EmailKind::UsernameChangedConfirmation,
            &ctx,
            &HOSTILE_USERNAME_CHANGED,
        );
    }

    // Rendered by djoser's own BaseDjoserEmail with email/username_reset.html.
    #[test]
    fn username_is_escaped_but_url_is_not() {
        let ctx = EmailContext {
            site_name: "Djoser Reference",
            domain: "localhost:3000",
            protocol: "https",
            url: Some("username/reset/confirm/MQ/a\"b<c>"),
            username: "<b>&\"'",
        };
        let got = render(EmailKind::UsernameReset, &ctx);
        assert_eq!(got.subject, "Username reset on Djoser Reference");
        assert_eq!(
            got.text,
            "You're receiving this email because you requested a username reset for your user account at Djoser Reference.\n\
             \n\
             Please go to the following page and choose a new username:\n\
             https://localhost:3000/username/reset/confirm/MQ/a\"b<c>\n\
             Your username, in case you've forgotten: &lt;b&gt;&amp;&quot;&#x27;\n\
             \n\
             Thanks for using our site!\n\
             \n\
             The Djoser Reference team"
        );
        assert_eq!(
            got.html,
            "<p>You're receiving this email because you requested a username reset for your user account at Djoser Reference.</p>\n\
             \n\
             <p>Please go to the following page and choose a new username:</p>\n\
             <a href=\"https://localhost:3000/username/reset/confirm/MQ/a\"b<c>\">https://localhost:3000/username/reset/confirm/MQ/a\"b<c></a>\n\
             <p>Your username, in case you've forgotten: <b>&lt;b&gt;&amp;&quot;&#x27;</b></p>\n\
             \n\
             <p>Thanks for using our site!</p>\n\
             \n\
             <p>The Djoser Reference team</p>"
        );
    }

    #[test]
    fn missing_url_renders_as_an_empty_path() {
        let ctx = EmailContext {
            site_name: "S",
            domain: "d",
            protocol: "http",
            url: None,
            username: "u",
        };
        assert_eq!(
            render(EmailKind::Activation, &ctx).text,
            "You're receiving this email because you need to finish activation process on S.\n\
             \n\
             Please go to the following page to activate account:\n\
             http://d/\n\
             \n\
             Thanks for using our site!\n\
             \n\
             The S team"
        );
    }

    #[test]
    fn subjects_are_exact_for_every_kind() {
        let ctx = reference(Some("x"), "u");
        let subjects: Vec<_> = EmailKind::ALL
            .iter()
            .map(|&kind| render(kind, &ctx).subject)
            .collect();
        assert_eq!(
            subjects,
            [
                "Account activation on Djoser Reference",
                "Djoser Reference - Your account has been successfully created and activated!",
                "Password reset on Djoser Reference",
                "Djoser Reference - Your password has been successfully changed!",
                "Username reset on Djoser Reference",
                "Djoser Reference - Your username has been successfully changed!",
            ]
        );
    }

    // djoser-compat: Python's str.strip() also strips U+001C..U+001F, which Rust's trim keeps.
    // Expected values rendered by djoser with site_name " \x1c S \u3000".
    #[test]
    fn subjects_are_stripped_like_python_str_strip() {
        let ctx = EmailContext {
            site_name: " \u{1c} S \u{3000}",
            domain: "d",
            protocol: "http",
            url: Some("u"),
            username: "u",
        };
        assert_eq!(
            render(EmailKind::Confirmation, &ctx).subject,
            "S \u{3000} - Your account has been successfully created and activated!"
        );
        assert_eq!(
            render(EmailKind::Activation, &ctx).subject,
            "Account activation on  \u{1c} S"
        );
    }

    #[test]
    fn bodies_never_start_or_end_with_whitespace() {
        let ctx = reference(Some("x"), "u");
        for kind in EmailKind::ALL {
            let got = render(kind, &ctx);
            for part in [&got.subject, &got.text, &got.html] {
                assert_eq!(part.trim(), part.as_str(), "{}", kind.name());
            }
        }
    }

    // Expected values are Python's `template.format(uid="MQ", token="tok-1")`.
    #[test]
    fn fill_url_substitutes_uid_and_token_like_str_format() {
        let cases = [
            ("activate/{uid}/{token}", "activate/MQ/tok-1"),
            ("#/activate?u={uid}&t={token}", "#/activate?u=MQ&t=tok-1"),
            ("x/{{literal}}/{uid}", "x/{literal}/MQ"),
            ("{token}{uid}", "tok-1MQ"),
            ("a}}b{{c", "a}b{c"),
            (
                "password/reset/confirm/{uid}/{token}",
                "password/reset/confirm/MQ/tok-1",
            ),
        ];
        for (template, expected) in cases {
            assert_eq!(fill_url(template, "MQ", "tok-1"), expected, "{template}");
        }
    }

    #[test]
    fn fill_url_keeps_unknown_or_unclosed_placeholders_verbatim() {
        assert_eq!(fill_url("{site_name}/{uid}", "MQ", "t"), "{site_name}/MQ");
        assert_eq!(fill_url("a/{uid", "MQ", "t"), "a/{uid");
        assert_eq!(fill_url("a}b", "MQ", "t"), "a}b");
    }

    #[test]
    fn escape_matches_django_escape() {
        assert_eq!(django_escape("<b>&\"'é"), "&lt;b&gt;&amp;&quot;&#x27;é");
        assert_eq!(django_escape("&amp;"), "&amp;amp;");
    }
}
