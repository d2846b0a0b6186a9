//! Two-factor sign-in at the edge: the TOTP enrolment, backup codes, the status read and
//! `mfa/login/`, the second step of jwt/create and token/login for users with a second factor.

use serde_json::json;
use worker::Response;

use crate::error::ApiError;
use crate::flows::mfa::{self, Opened};
use crate::http::{extract, jwt, response, Ctx};

// GET /auth/mfa/: 200 {totp, backup_codes_left} | 401
/// Whether the caller has a second factor, and how many backup codes are left.
pub async fn status(ctx: &Ctx) -> Result<Response, ApiError> {
    let status = mfa::status(&ctx.flow(), ctx.user()?).await?;
    response::ok(&json!({ "totp": status.totp, "backup_codes_left": status.backup_codes_left }))
}

// POST /auth/mfa/totp/activate/: 200 {otpauth_url, secret} | 400 | 401 | 429
/// A new TOTP secret for the caller's authenticator app, pending until confirmed.
pub async fn activate(ctx: &Ctx) -> Result<Response, ApiError> {
    let current = extract::password(&ctx.body()?, "current_password");
    let enrolment = mfa::activate(&ctx.flow(), ctx.user()?, current).await?;
    response::ok(&json!({ "otpauth_url": enrolment.otpauth_url, "secret": enrolment.secret }))
}

// POST /auth/mfa/totp/activate/confirm/: 200 {backup_codes} | 400 | 401 | 429
/// Enables the pending secret with its first code; the backup codes are shown this once.
pub async fn confirm(ctx: &Ctx) -> Result<Response, ApiError> {
    let code = extract::required(&ctx.body()?, "code");
    let (codes, mail) =
        mfa::confirm(&ctx.flow(), ctx.user()?, code, ctx.session.as_deref()).await?;
    ctx.send(mail);
    response::ok(&json!({ "backup_codes": codes }))
}

// POST /auth/mfa/totp/deactivate/: 204 | 400 | 401 | 429
/// Turns the second factor off, with the password and a code (or a backup code).
pub async fn deactivate(ctx: &Ctx) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    let current = extract::password(&body, "current_password");
    let code = extract::required(&body, "code");
    let mail = mfa::deactivate(
        &ctx.flow(),
        ctx.user()?,
        current,
        code,
        ctx.session.as_deref(),
    )
    .await?;
    ctx.send(mail);
    response::no_content()
}

// POST /auth/mfa/backup_codes/regenerate/: 200 {backup_codes} | 400 | 401 | 429
/// A new set of backup codes; the old ones stop working.
pub async fn regenerate(ctx: &Ctx) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    let current = extract::password(&body, "current_password");
    let code = extract::required(&body, "code");
    let (codes, mail) = mfa::regenerate(&ctx.flow(), ctx.user()?, current, code).await?;
    ctx.send(mail);
    response::ok(&json!({ "backup_codes": codes }))
}

// POST /auth/mfa/login/: 200 {refresh, access} | 200 {auth_token} | 400 | 429
/// The second step of a sign-in: the answer jwt/create or token/login would have given.
pub async fn login(ctx: &Ctx) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    let token = extract::required(&body, "ephemeral_token");
    let code = extract::required(&body, "code");
    let (opened, mail) = mfa::login(&ctx.flow(), token, code).await?;
    ctx.send(mail);
    match opened {
        Opened::Jwt(pair) => jwt::signed_in(ctx, &pair),
        Opened::Token(key) => response::ok(&json!({ "auth_token": key })),
    }
}
