//! Activation at the edge: `users/activation/` (also the brief's `users/confirm/`) and
//! `users/resend_activation/`.

use worker::Response;

use crate::error::ApiError;
use crate::flows::registration;
use crate::http::{extract, response, Ctx};

// POST /auth/users/activation/ (djoser "User Activate"): 204 | 400 {uid|token} | 403 {detail} | 429
/// Activates the user named by the e-mailed uid and token and sends the confirmation e-mail.
pub async fn activation(ctx: &Ctx) -> Result<Response, ApiError> {
    let (uid, token) = extract::link(&ctx.body()?)?;
    let mail = registration::activation(&ctx.flow(), &uid, &token).await?;
    ctx.send(mail);
    response::no_content()
}

// POST /auth/users/resend_activation/ (djoser "User Resend Activation E-mail"):
// 204 | 400 {email} | 400 [msg] | 400 (empty, activation off) | 429
/// Re-sends the activation e-mail to an inactive user; unknown or active addresses get the same 204.
pub async fn resend_activation(ctx: &Ctx) -> Result<Response, ApiError> {
    let email = extract::lookup_email(&ctx.body()?)?;
    let mail = registration::resend_activation(&ctx.flow(), &email).await?;
    ctx.send(mail);
    response::no_content()
}
