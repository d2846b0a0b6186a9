//! Usernames: `set_username/`, `reset_username/` and `reset_username_confirm/`
//! (djoser's `set_{USERNAME_FIELD}` family).

use worker::Response;

use crate::domain::user::User;
use crate::domain::username::username_errors;
use crate::email::templates::EmailKind;
use crate::error::{ApiError, FieldErrors};
use crate::http::activation::{send_reset_link, user_from_uid_and_token};
use crate::http::body::Body;
use crate::http::users::{check_current_password, storage_error};
use crate::http::{response, Ctx};
use crate::messages as msg;
use crate::storage::d1::StorageError;

/// The `new_username` field: required, max length, Django's username characters, and unique.
/// djoser-compat: the uniqueness check excludes nobody, so one's own name counts as taken.
async fn new_username_field(
    ctx: &Ctx,
    body: &Body,
    errors: &mut FieldErrors,
) -> Result<Option<String>, ApiError> {
    let Some(name) = body.text("new_username", true, errors) else {
        return Ok(None);
    };
    let problems = body.with_surrogate_message(&name, username_errors(&name), None);
    if !problems.is_empty() {
        errors.extend("new_username", problems);
        return Ok(None);
    }
    if ctx
        .store
        .user_by_username(&name)
        .await
        .map_err(ApiError::internal)?
        .is_some()
    {
        errors.add("new_username", msg::USERNAME_TAKEN);
        return Ok(None);
    }
    Ok(Some(name))
}

/// The `re_new_username` check of the *_RETYPE variants.
fn check_retype(retype: bool, new_username: &str, re_new: Option<&str>) -> Result<(), ApiError> {
    if retype && re_new != Some(new_username) {
        return Err(ApiError::non_field(msg::USERNAME_MISMATCH));
    }
    Ok(())
}

/// Stores the new username if the user's password hash (the token state) is unchanged.
async fn store_username(
    ctx: &Ctx,
    user: &User,
    name: &str,
    bump_login: bool,
) -> Result<Option<User>, ApiError> {
    let changed = ctx
        .store
        .set_username(user, name, bump_login.then_some(ctx.now))
        .await
        .map_err(|e| match e {
            StorageError::Conflict { .. } => ApiError::field("new_username", msg::USERNAME_TAKEN),
            other => storage_error(other),
        })?;
    if !changed {
        return Ok(None);
    }
    let mut updated = user.clone();
    updated.username = name.to_string();
    if bump_login {
        updated.last_login = Some(ctx.now);
    }
    Ok(Some(updated))
}

// POST /auth/users/set_username/ (djoser "Set Username"): 204 | 400 | 401 | 429
/// Changes the current user's username after checking their password.
pub async fn set_username(ctx: &Ctx) -> Result<Response, ApiError> {
    let me = ctx.user()?.clone();
    let body = ctx.body()?;
    let mut errors = FieldErrors::new();
    // djoser-compat: both are field-level, so both errors can come at once.
    check_current_password(ctx, &body, &mut errors).await?;
    let name = new_username_field(ctx, &body, &mut errors).await?;
    let re_new = body.required_if(
        ctx.settings.set_username_retype,
        "re_new_username",
        &mut errors,
    );
    errors.into_result()?;
    let Some(name) = name else {
        return Err(ApiError::internal("validated field missing"));
    };
    check_retype(ctx.settings.set_username_retype, &name, re_new.as_deref())?;
    // A concurrent password change got there first: the password just checked is no longer current.
    let me = store_username(ctx, &me, &name, false)
        .await?
        .ok_or_else(|| ApiError::field("current_password", msg::INVALID_PASSWORD))?;
    if ctx.settings.username_changed_email_confirmation {
        ctx.send_email(&me, EmailKind::UsernameChangedConfirmation)
            .await?;
    }
    response::no_content()
}

// POST /auth/users/reset_username/ (djoser "Reset Username"): 204 | 400 {email} | 400 [msg] | 429
/// E-mails a username reset link to an active user; unknown addresses get the same 204.
pub async fn reset_username(ctx: &Ctx) -> Result<Response, ApiError> {
    send_reset_link(ctx, EmailKind::UsernameReset).await
}

// POST /auth/users/reset_username_confirm/ (djoser "Reset Username Confirmation"): 204 | 400 | 429
/// Sets a new username from an e-mailed uid and token; the token is spent (last_login moves).
pub async fn reset_username_confirm(ctx: &Ctx) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    let mut errors = FieldErrors::new();
    // djoser-compat: uid and token are not declared fields here; only new_username is checked first.
    let name = new_username_field(ctx, &body, &mut errors).await?;
    let re_new = body.required_if(
        ctx.settings.username_reset_confirm_retype,
        "re_new_username",
        &mut errors,
    );
    errors.into_result()?;
    let Some(name) = name else {
        return Err(ApiError::internal("validated field missing"));
    };
    check_retype(
        ctx.settings.username_reset_confirm_retype,
        &name,
        re_new.as_deref(),
    )?;
    let user = user_from_uid_and_token(ctx, &body, true).await?;
    // A concurrent use of the same link got there first: the token is spent.
    let user = store_username(ctx, &user, &name, true)
        .await?
        .ok_or_else(|| ApiError::field("token", msg::INVALID_TOKEN))?;
    if ctx.settings.username_changed_email_confirmation {
        ctx.send_email(&user, EmailKind::UsernameChangedConfirmation)
            .await?;
    }
    response::no_content()
}
