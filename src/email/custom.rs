//! Operator e-mail templates: djoser's template variables for each message, and the renderer of
//! the overrides an operator stores in KV (`email_template:<kind>`, a JSON object with any of
//! `subject`, `text` and `html`). Pure; the mailer reads KV. See docs/customisation.md.
//!
//! The syntax is Django's variable tag only: `{{ name }}` or `{{ user.field }}`. An unknown
//! variable renders as "" (Django's default `string_if_invalid`). In `html` every value is
//! HTML-escaped; in `subject` and `text` values are inserted as they are.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::Settings;
use crate::domain::user::User;
use crate::email::templates::{django_escape as escape, RenderedEmail};

/// The KV key prefix of an override: `email_template:activation` and so on.
pub const KV_PREFIX: &str = "email_template:";

/// The longest override part accepted (longer ones are refused and the built-in is sent).
pub const MAX_TEMPLATE_CHARS: usize = 100_000;

/// djoser's `get_context_data` for one message: `site_name`, `domain`, `protocol`, `url` (the
/// filled `*_URL` path), `uid`, `token`, `link` (the full link, `protocol://domain/url`) and
/// `user` (id, username, email, first_name, last_name and the declared fields).
pub fn context(
    settings: &Settings,
    user: &User,
    url: Option<&str>,
    uid_token: Option<(&str, &str)>,
) -> Map<String, Value> {
    let mut shown = Map::new();
    shown.insert("id".into(), Value::from(user.id));
    shown.insert("username".into(), Value::String(user.username.clone()));
    shown.insert("email".into(), Value::String(user.email.clone()));
    shown.insert("first_name".into(), Value::String(user.first_name.clone()));
    shown.insert("last_name".into(), Value::String(user.last_name.clone()));
    for field in &settings.user_fields {
        shown.insert(field.name.clone(), user.field_value(field));
    }
    let mut out = Map::new();
    out.insert(
        "site_name".into(),
        Value::String(settings.site_name.clone()),
    );
    out.insert("domain".into(), Value::String(settings.domain.clone()));
    out.insert("protocol".into(), Value::String(settings.protocol.clone()));
    let (uid, token) = uid_token.unwrap_or(("", ""));
    out.insert("url".into(), Value::String(url.unwrap_or_default().into()));
    out.insert("uid".into(), Value::String(uid.into()));
    out.insert("token".into(), Value::String(token.into()));
    let link = url
        .map(|u| format!("{}://{}/{u}", settings.protocol, settings.domain))
        .unwrap_or_default();
    out.insert("link".into(), Value::String(link));
    out.insert("user".into(), Value::Object(shown));
    out
}

/// An override as stored in KV: each part present replaces the built-in one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// The subject line (a line break in it is replaced by a space).
    pub subject: Option<String>,
    /// The `text/plain` body.
    pub text: Option<String>,
    /// The `text/html` body.
    pub html: Option<String>,
}

impl Override {
    /// Parses a stored override; the reason when it is unusable.
    pub fn parse(text: &str) -> Result<Override, String> {
        let parsed: Override = serde_json::from_str(text)
            .map_err(|e| format!("not an object of subject, text and html strings: {e}"))?;
        for part in [&parsed.subject, &parsed.text, &parsed.html]
            .into_iter()
            .flatten()
        {
            if part.chars().count() > MAX_TEMPLATE_CHARS {
                return Err(format!(
                    "a part is longer than {MAX_TEMPLATE_CHARS} characters"
                ));
            }
        }
        Ok(parsed)
    }

    /// The message with this override's parts rendered in place of the built-in ones.
    pub fn apply(&self, built_in: &RenderedEmail, context: &Map<String, Value>) -> RenderedEmail {
        let subject = self.subject.as_deref().map(|t| {
            // A header cannot hold a line break (Django refuses to send one).
            render(t, context, false)
                .replace(['\r', '\n'], " ")
                .trim()
                .to_string()
        });
        RenderedEmail {
            subject: subject.unwrap_or_else(|| built_in.subject.clone()),
            text: self
                .text
                .as_deref()
                .map_or_else(|| built_in.text.clone(), |t| render(t, context, false)),
            html: self
                .html
                .as_deref()
                .map_or_else(|| built_in.html.clone(), |t| render(t, context, true)),
        }
    }
}

/// Renders `{{ variable }}` tags from `context`; with `html`, values are escaped as Django's
/// `escape` does.
pub fn render(template: &str, context: &Map<String, Value>, html: bool) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let value = lookup(context, after[..end].trim());
        if html {
            out.push_str(&escape(&value));
        } else {
            out.push_str(&value);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A dotted variable's value as text ("" when unknown, `null` or not a scalar).
fn lookup(context: &Map<String, Value>, name: &str) -> String {
    let mut parts = name.split('.');
    let Some(first) = parts.next() else {
        return String::new();
    };
    let mut value = context.get(first);
    for part in parts {
        value = value.and_then(|v| v.get(part));
    }
    match value {
        Some(Value::String(s)) => s.clone(),
        // Django prints Python's True/False.
        Some(Value::Bool(true)) => "True".into(),
        Some(Value::Bool(false)) => "False".into(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Map<String, Value> {
        let mut user = User::for_tests(7, "<script>alert('x')</script>", "a@example.com", "h");
        user.first_name = "Ada & Co".into();
        let settings = Settings::default();
        context(
            &settings,
            &user,
            Some("activate/Nw/tok-en"),
            Some(("Nw", "tok-en")),
        )
    }

    #[test]
    fn the_context_has_djosers_variables_and_the_user() {
        let c = ctx();
        assert_eq!(c["url"], json!("activate/Nw/tok-en"));
        assert_eq!(c["uid"], json!("Nw"));
        assert_eq!(c["token"], json!("tok-en"));
        assert_eq!(c["site_name"], json!("djoser-edge"));
        assert_eq!(c["domain"], json!("localhost:3000"));
        assert_eq!(c["protocol"], json!("https"));
        assert_eq!(
            c["link"],
            json!("https://localhost:3000/activate/Nw/tok-en")
        );
        assert_eq!(c["user"]["id"], json!(7));
        assert_eq!(c["user"]["first_name"], json!("Ada & Co"));
        assert!(c["user"].get("password").is_none());
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let c = ctx();
        let t = "Hi {{ user.username }} ({{user.first_name}}): {{ link }}";
        assert_eq!(
            render(t, &c, true),
            "Hi &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; (Ada &amp; Co): \
             https://localhost:3000/activate/Nw/tok-en"
        );
        assert_eq!(
            render(t, &c, false),
            "Hi <script>alert('x')</script> (Ada & Co): https://localhost:3000/activate/Nw/tok-en"
        );
    }

    #[test]
    fn unknown_variables_are_empty_and_an_unclosed_tag_is_literal() {
        let c = ctx();
        assert_eq!(
            render("[{{ nope }}][{{ user.nope.deeper }}]", &c, false),
            "[][]"
        );
        assert_eq!(render("a {{ url", &c, false), "a {{ url");
        assert_eq!(render("{{ user }}", &c, false), "");
    }

    #[test]
    fn an_override_replaces_only_the_parts_it_has() {
        let built_in = RenderedEmail {
            subject: "S".into(),
            text: "T".into(),
            html: "H".into(),
        };
        let o = Override::parse(r#"{"subject":"Welcome to\n{{ site_name }}"}"#).unwrap();
        let out = o.apply(&built_in, &ctx());
        assert_eq!(out.subject, "Welcome to djoser-edge");
        assert_eq!(out.text, "T");
        assert_eq!(out.html, "H");
        assert!(Override::parse(r#"{"body":"x"}"#).is_err());
        assert!(Override::parse("[]").is_err());
        assert!(
            Override::parse(&json!({"text": "x".repeat(MAX_TEMPLATE_CHARS + 1)}).to_string())
                .is_err()
        );
    }
}
