//! Passwords at the edge: `set_password/`, `reset_password/` and `reset_password_confirm/`.

use worker::Response;

use crate::error::ApiError;
use crate::flows::password::{self, ResetPasswordConfirmInput, SetPasswordInput};
use crate::http::{extract, response, Ctx};

// POST /auth/users/set_password/ (djoser "Set Password"): 204 | 400 | 401 | 429
/// Changes the current user's password after checking the current one.
pub async fn set_password(ctx: &Ctx) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    let input = SetPasswordInput {
        new_password: extract::password(&body, "new_password"),
        re_new_password: extract::required_if(
            &body,
            ctx.settings.set_password_retype,
            "re_new_password",
        ),
        current_password: extract::password(&body, "current_password"),
    };
    let mail = password::set_password(&ctx.flow(), ctx.user()?, input).await?;
    ctx.send(mail);
    response::no_content()
}

// POST /auth/users/reset_password/ (djoser "Reset Password"): 204 | 400 {email} | 400 [msg] | 429
/// E-mails a reset link to an active user; unknown addresses get the same 204.
pub async fn reset_password(ctx: &Ctx) -> Result<Response, ApiError> {
    let email = extract::lookup_email(&ctx.body()?)?;
    let mail = password::reset_password(&ctx.flow(), &email).await?;
    ctx.send(mail);
    response::no_content()
}

// POST /auth/users/reset_password_confirm/ (djoser "Reset Password Confirmation"): 204 | 400 | 429
/// Sets a new password from an e-mailed uid and token; the token is spent by the change.
pub async fn reset_password_confirm(ctx: &Ctx) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    let uid = extract::required(&body, "uid");
    let token = extract::required(&body, "token");
    let new_password = extract::password(&body, "new_password");
    let re_new = extract::required_if(
        &body,
        ctx.settings.password_reset_confirm_retype,
        "re_new_password",
    );
    extract::all_valid(&[&uid, &token, &new_password, &re_new])?;
    let (Ok(new_password), Ok(re_new_password)) = (new_password, re_new) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    let input = ResetPasswordConfirmInput {
        uid: extract::raw_string(&body, "uid"),
        token: extract::raw_string(&body, "token"),
        new_password,
        re_new_password,
    };
    let mail = password::reset_password_confirm(&ctx.flow(), input).await?;
    ctx.send(mail);
    response::no_content()
}
