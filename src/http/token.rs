//! DRF token authentication: `token/login/` and `token/logout/` (djoser's TokenCreate/Destroy).

use serde_json::json;
use worker::Response;

use crate::config::LoginField;
use crate::domain::user::User;
use crate::error::{ApiError, FieldErrors};
use crate::http::throttle::{self, Scope};
use crate::http::users::hash_cost;
use crate::http::{random, response, Ctx};
use crate::messages as msg;
use crate::storage::d1::UserLookup;
use crate::tokens::{auth_token, password_hash};

/// The body field that names the account (djoser's LOGIN_FIELD).
pub fn login_field_name(ctx: &Ctx) -> &'static str {
    match ctx.settings.login_field {
        LoginField::Username => "username",
        LoginField::Email => "email",
    }
}

/// Finds the account and checks the password, spending the same argon2 work whether or not the
/// account exists. Returns the user only when the password matches; activity is the caller's rule.
/// A matching password stored at another cost (or as a Django hash) is re-hashed at the current one.
pub async fn authenticate(
    ctx: &Ctx,
    login: &str,
    password: &str,
) -> Result<Option<User>, ApiError> {
    let lookup = match ctx.settings.login_field {
        LoginField::Username => UserLookup::Username(login),
        LoginField::Email => UserLookup::Email(login),
    };
    let user = throttle::check_and_find_user(ctx, Scope::Login, Some(login), lookup).await?;
    let Some(mut user) = user else {
        password_hash::dummy_verify(password, hash_cost(ctx));
        return Ok(None);
    };
    if !password_hash::verify_password(password, &user.password) {
        return Ok(None);
    }
    if password_hash::needs_rehash(&user.password, hash_cost(ctx)) {
        let salt = random::<16>()?;
        let new_hash = password_hash::hash_password(password, hash_cost(ctx), &salt)
            .map_err(ApiError::internal)?;
        // Same password, so tokens stay valid only if the token state is unchanged: e-mailed
        // links made with the old hash stop working, which is the safe side.
        let updated = ctx
            .store
            .set_password(user.id, &user.password, &new_hash, None, None)
            .await
            .map_err(ApiError::internal)?;
        if updated {
            user.password = new_hash;
        }
    }
    Ok(Some(user))
}

// POST /auth/token/login/ (djoser "Token Create"): 200 {auth_token} | 400 non_field_errors | 429
/// Returns the user's DRF token key, creating it on first login; updates last_login.
pub async fn login(ctx: &Ctx) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    let mut errors = FieldErrors::new();
    // djoser-compat: both fields are optional; a missing one is just bad credentials.
    let password = body.optional("password", &mut errors);
    let login = body.optional(login_field_name(ctx), &mut errors);
    errors.into_result()?;
    let (Some(login), Some(password)) = (login, password) else {
        return Err(ApiError::non_field(msg::INVALID_CREDENTIALS));
    };
    if password.chars().count() > password_hash::MAX_PASSWORD_CHARS {
        return Err(ApiError::non_field(msg::INVALID_CREDENTIALS));
    }
    let user = authenticate(ctx, &login, &password).await?;
    let Some(user) = user.filter(|u| u.is_active) else {
        return Err(ApiError::non_field(msg::INVALID_CREDENTIALS));
    };
    let fresh = auth_token::key_from_bytes(&random::<20>()?);
    let key = ctx
        .store
        .token_for_user(user.id, &fresh, ctx.now)
        .await
        .map_err(ApiError::internal)?;
    // Django's user_logged_in signal: last_login moves, which also spends e-mailed tokens.
    ctx.store
        .set_last_login(user.id, ctx.now)
        .await
        .map_err(ApiError::internal)?;
    response::json(200, &json!({ "auth_token": key }))
}

// POST /auth/token/logout/ (djoser "Token Destroy"): 204 | 401
/// Deletes the current user's DRF token (with Token or JWT authentication alike).
pub async fn logout(ctx: &Ctx) -> Result<Response, ApiError> {
    let me = ctx.user()?;
    ctx.store
        .delete_token(me.id)
        .await
        .map_err(ApiError::internal)?;
    response::no_content()
}
