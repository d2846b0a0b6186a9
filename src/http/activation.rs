//! Activation: `users/activation/` (also the brief's `users/confirm/`) and `resend_activation/`,
//! plus the uid/token check that the reset confirm endpoints share.

use serde_json::Value;
use worker::Response;

use crate::domain::email::{email_errors, INVALID_EMAIL};
use crate::domain::user::User;
use crate::email::templates::EmailKind;
use crate::error::{ApiError, FieldErrors};
use crate::http::body::Body;
use crate::http::throttle::{self, Scope};
use crate::http::users::bare_validation_error;
use crate::http::{response, Ctx};
use crate::messages as msg;
use crate::storage::d1::UserLookup;
use crate::tokens::one_time;

/// djoser's UidAndTokenSerializer.validate: the uid must name a user (400 {uid}) and the token
/// must be valid for that user's current state (400 {token}).
/// `bind_username` is set for username-reset links, whose token also covers the username.
pub async fn user_from_uid_and_token(
    ctx: &Ctx,
    body: &Body,
    bind_username: bool,
) -> Result<User, ApiError> {
    // djoser-compat: the raw, untrimmed values are decoded, as djoser reads `initial_data`.
    let raw = |name: &str| match body.raw(name) {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    // Every attempt counts against the throttle, a uid that names nobody included.
    let user = match one_time::decode_uid(&raw("uid")) {
        Some(id) => {
            throttle::check_and_find_user(ctx, Scope::Confirm, None, UserLookup::Id(id)).await?
        }
        None => {
            throttle::check(ctx, Scope::Confirm, None).await?;
            None
        }
    };
    let Some(user) = user else {
        return Err(ApiError::field("uid", msg::INVALID_UID));
    };
    let state = one_time::TokenUserState {
        user_id: user.id,
        password_hash: &user.password,
        last_login: user.last_login,
        email: &user.email,
        username: bind_username.then_some(user.username.as_str()),
    };
    let valid = one_time::check_token(
        ctx.secret()?,
        &state,
        &raw("token"),
        ctx.now,
        ctx.settings.password_reset_timeout,
    );
    if !valid {
        return Err(ApiError::field("token", msg::INVALID_TOKEN));
    }
    Ok(user)
}

// POST /auth/users/activation/ (djoser "User Activate"): 204 | 400 {uid|token} | 403 {detail}
/// Activates the user named by the e-mailed uid and token and sends the confirmation e-mail.
pub async fn activation(ctx: &Ctx) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    let mut errors = FieldErrors::new();
    body.required("uid", &mut errors);
    body.required("token", &mut errors);
    errors.into_result()?;
    let mut user = user_from_uid_and_token(ctx, &body, false).await?;
    // djoser-compat: is_active is not part of the token state, so a reused token is "stale" (403).
    if user.is_active
        || !ctx
            .store
            .activate(user.id)
            .await
            .map_err(ApiError::internal)?
    {
        return Err(ApiError::detail(403, msg::STALE_TOKEN));
    }
    user.is_active = true;
    if ctx.settings.send_confirmation_email {
        ctx.send_email(&user, EmailKind::Confirmation).await?;
    }
    response::no_content()
}

/// What an e-mail look-up (djoser's `get_user`) found.
pub enum EmailUser {
    /// A user with that address, in the wanted activity state and with a usable password.
    Found(User),
    /// Nobody fits; the endpoint still answers 204 so addresses cannot be enumerated.
    Nobody,
    /// Nobody fits and a *_SHOW_EMAIL_NOT_FOUND setting asks to say so.
    NotFound,
}

impl EmailUser {
    /// The 400 djoser answers for [`EmailUser::NotFound`].
    pub fn not_found_response() -> Result<Response, ApiError> {
        // djoser-compat: get_user calls self.fail() after is_valid(), so the body is a bare list
        // `["User with given email does not exist."]` (checked on the reference server).
        bare_validation_error(msg::EMAIL_NOT_FOUND)
    }
}

/// The `email` field of djoser's SendEmailResetSerializer, then the user it names, if any, in the
/// wanted activity state and with a usable password.
pub async fn user_for_email(ctx: &Ctx, is_active: bool) -> Result<EmailUser, ApiError> {
    let body = ctx.body()?;
    let mut errors = FieldErrors::new();
    let email = body.email_text("email", true, INVALID_EMAIL, &mut errors);
    if let Some(email) = &email {
        let problems = email_errors(email, None);
        errors.extend(
            "email",
            body.with_surrogate_message(email, problems, Some(INVALID_EMAIL)),
        );
    }
    errors.into_result()?;
    let Some(email) = email else {
        return Err(ApiError::internal("validated email missing"));
    };
    let user =
        throttle::check_and_find_user(ctx, Scope::Email, Some(&email), UserLookup::Email(&email))
            .await?;
    let user = user.filter(|u| u.is_active == is_active && u.has_usable_password());
    // djoser-compat: either setting turns it on for all three look-up endpoints.
    let show_not_found = ctx.settings.password_reset_show_email_not_found
        || ctx.settings.username_reset_show_email_not_found;
    Ok(match user {
        Some(user) => EmailUser::Found(user),
        None if show_not_found => EmailUser::NotFound,
        None => EmailUser::Nobody,
    })
}

/// reset_password and reset_username: e-mails the `kind` link to the active user the body's
/// address names; unknown addresses get the same 204 (or the *_SHOW_EMAIL_NOT_FOUND 400).
pub async fn send_reset_link(ctx: &Ctx, kind: EmailKind) -> Result<Response, ApiError> {
    match user_for_email(ctx, true).await? {
        EmailUser::Found(user) => ctx.send_email(&user, kind).await?,
        EmailUser::Nobody => {}
        EmailUser::NotFound => return EmailUser::not_found_response(),
    }
    response::no_content()
}

// POST /auth/users/resend_activation/ (djoser "User Resend Activation E-mail"):
// 204 | 400 {email} | 400 [msg] | 400 (empty, activation off) | 429
/// Re-sends the activation e-mail to an inactive user; unknown or active addresses get the same 204.
pub async fn resend_activation(ctx: &Ctx) -> Result<Response, ApiError> {
    let user = match user_for_email(ctx, false).await? {
        EmailUser::NotFound => return EmailUser::not_found_response(),
        EmailUser::Found(user) => Some(user),
        EmailUser::Nobody => None,
    };
    if !ctx.settings.send_activation_email {
        // djoser-compat: `Response(status=400)`: no body and no Content-Type (reference-checked).
        return Response::empty()
            .map(|r| r.with_status(400))
            .map_err(ApiError::internal);
    }
    if let Some(user) = user {
        ctx.send_email(&user, EmailKind::Activation).await?;
    }
    response::no_content()
}
