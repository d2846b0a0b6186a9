//! Usernames at the edge: `set_username/`, `reset_username/` and `reset_username_confirm/`.

use worker::Response;

use crate::error::ApiError;
use crate::flows::username::{self, ResetUsernameConfirmInput, SetUsernameInput};
use crate::http::{extract, response, Ctx};

// POST /auth/users/set_username/ (djoser "Set Username"): 204 | 400 | 401 | 429
/// Changes the current user's username after checking their password.
pub async fn set_username(ctx: &Ctx) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    let input = SetUsernameInput {
        current_password: extract::password(&body, "current_password"),
        new_username: extract::username(&body, "new_username"),
        re_new_username: extract::required_if(
            &body,
            ctx.settings.set_username_retype,
            "re_new_username",
        ),
    };
    let mail = username::set_username(&ctx.flow(), ctx.user()?, input).await?;
    ctx.send(mail);
    response::no_content()
}

// POST /auth/users/reset_username/ (djoser "Reset Username"): 204 | 400 {email} | 400 [msg] | 429
/// E-mails a username reset link to an active user; unknown addresses get the same 204.
pub async fn reset_username(ctx: &Ctx) -> Result<Response, ApiError> {
    let email = extract::lookup_email(&ctx.body()?)?;
    let mail = username::reset_username(&ctx.flow(), &email).await?;
    ctx.send(mail);
    response::no_content()
}

// POST /auth/users/reset_username_confirm/ (djoser "Reset Username Confirmation"): 204 | 400 | 429
/// Sets a new username from an e-mailed uid and token; the token is spent (last_login moves).
pub async fn reset_username_confirm(ctx: &Ctx) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    let input = ResetUsernameConfirmInput {
        uid: extract::raw_string(&body, "uid"),
        token: extract::raw_string(&body, "token"),
        new_username: extract::username(&body, "new_username"),
        re_new_username: extract::required_if(
            &body,
            ctx.settings.username_reset_confirm_retype,
            "re_new_username",
        ),
    };
    let mail = username::reset_username_confirm(&ctx.flow(), input).await?;
    ctx.send(mail);
    response::no_content()
}
