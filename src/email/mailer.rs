//! The sending adapter: hands a rendered djoser e-mail to the configured backend.
//!
//! A failed send is reported to the caller, which logs it and keeps the request's result: the
//! state change the e-mail reports is already stored, and every e-mail can be asked for again
//! (resend_activation, reset_password, reset_username). Transient failures (network errors and
//! 5xx answers) are retried once.

use serde_json::json;
use worker::{Env, Fetch, Headers, Method, Request, RequestInit, SendEmail, SendEmailBuilder};

use crate::config::{EmailBackend, Settings};
use crate::email::compose::Message;
use crate::email::custom::{Override, KV_PREFIX};

/// Sends `mail` with the configured backend, with the operator's KV override of its kind when
/// EMAIL_TEMPLATE_OVERRIDES is on.
pub async fn deliver(settings: &Settings, env: &Env, mail: &Message) -> Result<(), String> {
    if settings.email_template_overrides {
        let mut mail = mail.clone();
        match stored_override(env, mail.kind.name()).await {
            Ok(Some(over)) => mail.rendered = over.apply(&mail.rendered, &mail.context),
            Ok(None) => {}
            // The built-in e-mail still goes out: a broken template must not lose the link.
            Err(e) => worker::console_error!(
                "e-mail template {KV_PREFIX}{} not used: {e}",
                mail.kind.name()
            ),
        }
        return send(settings, env, &mail).await;
    }
    send(settings, env, mail).await
}

/// The override stored under `email_template:<kind>`, if any.
async fn stored_override(env: &Env, kind: &str) -> Result<Option<Override>, String> {
    let kv = env
        .kv("AUTH_KV")
        .map_err(|e| format!("AUTH_KV binding: {e}"))?;
    let text = kv
        .get(&format!("{KV_PREFIX}{kind}"))
        .text()
        .await
        .map_err(|e| format!("KV: {e}"))?;
    text.map(|t| Override::parse(&t)).transpose()
}

async fn send(settings: &Settings, env: &Env, mail: &Message) -> Result<(), String> {
    match settings.email_backend {
        EmailBackend::Console => {
            // The one log line that carries a live link: the console backend exists to print
            // it on a developer's machine (`npm run check` refuses it for production).
            crate::log::info(
                "email_console",
                json!({
                    "kind": mail.kind.name(),
                    "user_id": mail.user_id,
                    "message": format!(
                        "From: {}\nTo: {}\nSubject: {}\nX-Djoser-Kind: {}\n\n{}",
                        mail.from,
                        mail.to,
                        mail.rendered.subject,
                        mail.kind.name(),
                        mail.rendered.text
                    ),
                }),
            );
            Ok(())
        }
        EmailBackend::Webhook => {
            let url = settings
                .email_webhook_url
                .as_deref()
                .ok_or("EMAIL_WEBHOOK_URL is not set")?;
            let mut body = message_json(mail);
            body["kind"] = json!(mail.kind.name());
            if settings.email_webhook_context {
                // djoser's template variables, so a provider-side template needs no parsing.
                body["context"] = serde_json::Value::Object(mail.context.clone());
            }
            let bearer = settings.email_webhook_secret.as_deref();
            post_json(url, &body, bearer).await
        }
        EmailBackend::Resend => {
            let key = settings
                .resend_api_key
                .as_deref()
                .ok_or("RESEND_API_KEY is not set")?;
            post_json(
                "https://api.resend.com/emails",
                &message_json(mail),
                Some(key),
            )
            .await
        }
        EmailBackend::Cloudflare => {
            let binding: SendEmail = env
                .send_email("EMAIL")
                .map_err(|e| format!("EMAIL binding: {e}"))?;
            let message = SendEmailBuilder::builder(&mail.from, &mail.to, &mail.rendered.subject)
                .text(&mail.rendered.text)
                .html(&mail.rendered.html)
                .build();
            binding
                .send_with_builder(&message)
                .await
                .map(|_| ())
                .map_err(|e| format!("send_email: {e:?}"))
        }
    }
}

/// The message as both HTTP backends take it (Resend's field names; the webhook adds `kind`).
fn message_json(mail: &Message) -> serde_json::Value {
    json!({
        "from": mail.from,
        "to": [mail.to],
        "subject": mail.rendered.subject,
        "text": mail.rendered.text,
        "html": mail.rendered.html,
    })
}

async fn post_json(
    url: &str,
    body: &serde_json::Value,
    bearer: Option<&str>,
) -> Result<(), String> {
    let text = serde_json::to_string(body).map_err(|e| e.to_string())?;
    let authorization = bearer.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = authorization
        .as_deref()
        .map(|value| ("Authorization", value))
        .into_iter()
        .collect();
    let mut last_error = String::new();
    for _attempt in 0..2 {
        match post_once(url, &text, &headers).await {
            Ok(status) if (200..300).contains(&status) => return Ok(()),
            // A 4xx will not get better by retrying.
            Ok(status) if status < 500 => return Err(format!("{url} answered {status}")),
            Ok(status) => last_error = format!("{url} answered {status}"),
            Err(e) => last_error = format!("{url}: {e}"),
        }
    }
    Err(last_error)
}

/// One POST of the JSON text `body` to `url` with `headers` besides its Content-Type; the
/// answer's status (the e-mail webhook and the events webhook both send through it).
pub async fn post_once(url: &str, body: &str, headers: &[(&str, &str)]) -> worker::Result<u16> {
    let all = Headers::new();
    all.set("Content-Type", "application/json")?;
    for (name, value) in headers {
        all.set(name, value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(all)
        .with_body(Some(body.into()));
    let request = Request::new_with_init(url, &init)?;
    let response = Fetch::Request(request).send().await?;
    Ok(response.status_code())
}
