//! DRF token authentication at the edge: `token/login/` and `token/logout/`.

use serde_json::json;
use worker::Response;

use crate::error::ApiError;
use crate::flows::session;
use crate::http::{extract, jwt, response, Ctx};

// POST /auth/token/login/ (djoser "Token Create"): 200 {auth_token} | 400 non_field_errors | 429
/// Returns the user's DRF token key, creating it on first login; updates last_login.
pub async fn login(ctx: &Ctx) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    // djoser-compat: both fields are optional; a missing one is just bad credentials.
    let password = extract::optional(&body, "password");
    let login = extract::optional(&body, session::login_field_name(ctx.settings.login_field));
    extract::all_valid(&[&password, &login])?;
    let signed_in = session::token_login(
        &ctx.flow(),
        login.ok().flatten().as_deref(),
        password.ok().flatten().as_deref(),
    )
    .await?;
    match signed_in {
        session::SignIn::Open(key) => response::ok(&json!({ "auth_token": key })),
        session::SignIn::SecondFactor(token) => jwt::second_factor_due(&token),
    }
}

// POST /auth/token/logout/ (djoser "Token Destroy"): 204 | 401
/// Deletes the current user's DRF token (with Token or JWT authentication alike).
pub async fn logout(ctx: &Ctx) -> Result<Response, ApiError> {
    session::token_logout(&ctx.flow(), ctx.user()?).await?;
    response::no_content()
}
