//! Passwords: `set_password/`, `reset_password/` and `reset_password_confirm/`.

use worker::Response;

use crate::domain::password::validate_password;
use crate::domain::user::User;
use crate::email::templates::EmailKind;
use crate::error::{ApiError, FieldErrors};
use crate::http::activation::{send_reset_link, user_from_uid_and_token};
use crate::http::users::{check_current_password, hash_new_password, password_field, similarity};
use crate::http::{response, Ctx};
use crate::messages as msg;

/// Stores a new password; the update only applies if the hash is still the one the request saw,
/// so two racing changes (or a reset token used twice at once) cannot both succeed. With
/// LOGOUT_ON_PASSWORD_CHANGE every session of the user ends.
async fn store_password(
    ctx: &Ctx,
    user: &User,
    new_password: &str,
    bump_login: bool,
) -> Result<Option<User>, ApiError> {
    let hash = hash_new_password(ctx, new_password)?;
    let logout = ctx.settings.logout_on_password_change;
    let changed = ctx
        .store
        .set_password(
            user.id,
            &user.password,
            &hash,
            bump_login.then_some(ctx.now),
            logout.then_some(ctx.now),
        )
        .await
        .map_err(ApiError::internal)?;
    if !changed {
        return Ok(None);
    }
    if logout {
        ctx.store
            .delete_token(user.id)
            .await
            .map_err(ApiError::internal)?;
    }
    let mut updated = user.clone();
    updated.password = hash;
    Ok(Some(updated))
}

/// The `re_new_password` check of the *_RETYPE variants.
fn check_retype(retype: bool, new_password: &str, re_new: Option<&str>) -> Result<(), ApiError> {
    if retype && re_new != Some(new_password) {
        return Err(ApiError::non_field(msg::PASSWORD_MISMATCH));
    }
    Ok(())
}

// POST /auth/users/set_password/ (djoser "Set Password"): 204 | 400 | 401 | 429
/// Changes the current user's password after checking the current one.
pub async fn set_password(ctx: &Ctx) -> Result<Response, ApiError> {
    let me = ctx.user()?.clone();
    let body = ctx.body()?;
    let mut errors = FieldErrors::new();
    // djoser-compat: field order new_password, (re_new_password), current_password.
    let new_password = password_field(&body, "new_password", &mut errors);
    let re_new = body.required_if(
        ctx.settings.set_password_retype,
        "re_new_password",
        &mut errors,
    );
    check_current_password(ctx, &body, &mut errors).await?;
    errors.into_result()?;
    let Some(new_password) = new_password else {
        return Err(ApiError::internal("validated field missing"));
    };
    let problems = validate_password(&new_password, Some(&similarity(&me)));
    if !problems.is_empty() {
        let mut errors = FieldErrors::new();
        errors.extend("new_password", problems);
        return Err(errors.into());
    }
    check_retype(
        ctx.settings.set_password_retype,
        &new_password,
        re_new.as_deref(),
    )?;
    // A concurrent change got there first: the password just checked is no longer current.
    let me = store_password(ctx, &me, &new_password, false)
        .await?
        .ok_or_else(|| ApiError::field("current_password", msg::INVALID_PASSWORD))?;
    if ctx.settings.password_changed_email_confirmation {
        ctx.send_email(&me, EmailKind::PasswordChangedConfirmation)
            .await?;
    }
    response::no_content()
}

// POST /auth/users/reset_password/ (djoser "Reset Password"): 204 | 400 {email} | 400 [msg] | 429
/// E-mails a reset link to an active user; unknown addresses get the same 204.
pub async fn reset_password(ctx: &Ctx) -> Result<Response, ApiError> {
    send_reset_link(ctx, EmailKind::PasswordReset).await
}

// POST /auth/users/reset_password_confirm/ (djoser "Reset Password Confirmation"): 204 | 400 | 429
/// Sets a new password from an e-mailed uid and token; the token is spent by the change.
pub async fn reset_password_confirm(ctx: &Ctx) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    let mut errors = FieldErrors::new();
    body.required("uid", &mut errors);
    body.required("token", &mut errors);
    let new_password = password_field(&body, "new_password", &mut errors);
    let re_new = body.required_if(
        ctx.settings.password_reset_confirm_retype,
        "re_new_password",
        &mut errors,
    );
    errors.into_result()?;
    let Some(new_password) = new_password else {
        return Err(ApiError::internal("validated field missing"));
    };
    // djoser-compat: validated against AnonymousUser (no similarity check), before the uid/token.
    let problems = validate_password(&new_password, None);
    if !problems.is_empty() {
        let mut errors = FieldErrors::new();
        errors.extend("new_password", problems);
        return Err(errors.into());
    }
    check_retype(
        ctx.settings.password_reset_confirm_retype,
        &new_password,
        re_new.as_deref(),
    )?;
    let user = user_from_uid_and_token(ctx, &body, false).await?;
    // A concurrent use of the same link got there first: the token is spent.
    let user = store_password(ctx, &user, &new_password, true)
        .await?
        .ok_or_else(|| ApiError::field("token", msg::INVALID_TOKEN))?;
    if ctx.settings.password_changed_email_confirmation {
        ctx.send_email(&user, EmailKind::PasswordChangedConfirmation)
            .await?;
    }
    response::no_content()
}
