//! simplejwt's views at the edge: `jwt/create/`, `jwt/refresh/`, `jwt/verify/` and
//! `jwt/blacklist/`, plus the JWK Set (`jwks/`, `/.well-known/jwks.json`). These views never
//! read the Authorization header.

use serde_json::json;
use worker::Response;

use crate::error::ApiError;
use crate::flows::session;
use crate::http::{extract, response, Ctx};

/// Reads the one token field a jwt view takes.
fn token_field(ctx: &Ctx, name: &str) -> Result<String, ApiError> {
    Ok(extract::required(&ctx.body()?, name)?)
}

// POST /auth/jwt/create/ (simplejwt TokenObtainPairView): 200 {refresh, access} | 400 | 401 | 429
/// Logs in with the LOGIN_FIELD and password and returns a new token pair (a new family).
pub async fn create(ctx: &Ctx) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    let login = extract::required(&body, session::login_field_name(ctx.settings.login_field));
    let password = extract::password(&body, "password");
    extract::all_valid(&[&login, &password])?;
    let (Ok(login), Ok(password)) = (login, password) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    let pair = session::jwt_create(&ctx.flow(), &login, &password).await?;
    response::ok(&json!({ "refresh": pair.refresh, "access": pair.access }))
}

// POST /auth/jwt/refresh/ (simplejwt TokenRefreshView): 200 {access, refresh} | 400 | 401
/// Exchanges a refresh token for a new access token and, with rotation, a new refresh token.
pub async fn refresh(ctx: &Ctx) -> Result<Response, ApiError> {
    let token = token_field(ctx, "refresh")?;
    let done = session::jwt_refresh(&ctx.flow(), &token).await?;
    match done.refresh {
        Some(refresh) => response::ok(&json!({ "access": done.access, "refresh": refresh })),
        None => response::ok(&json!({ "access": done.access })),
    }
}

// POST /auth/jwt/verify/ (simplejwt TokenVerifyView): 200 {"token_status":"valid"} | 400 | 401
/// Checks a token's signature and time claims (any type); a spent or revoked refresh token is 400.
pub async fn verify(ctx: &Ctx) -> Result<Response, ApiError> {
    let token = token_field(ctx, "token")?;
    session::jwt_verify(&ctx.flow(), &token).await?;
    // The API brief's body; djoser answers `{}` with the same status.
    response::ok(&json!({ "token_status": "valid" }))
}

// POST /auth/jwt/blacklist/ (simplejwt TokenBlacklistView): 200 {} | 400 | 401
/// Revokes a refresh token and its whole family (a logout of that login).
pub async fn blacklist(ctx: &Ctx) -> Result<Response, ApiError> {
    let token = token_field(ctx, "refresh")?;
    session::jwt_blacklist(&ctx.flow(), &token).await?;
    response::ok(&json!({}))
}

// GET /auth/jwks/ and /.well-known/jwks.json: 200 {"keys":[…]}, public and cacheable
/// The public keys that verify this service's tokens (every configured ES256 / EdDSA key, with
/// `kid`, `alg`, `use`); `{"keys":[]}` with HS256, whose key is secret.
pub async fn jwks(ctx: &Ctx) -> Result<Response, ApiError> {
    let keys = ctx.settings.jwt_keys();
    response::ok(&keys.map_or_else(|| json!({ "keys": [] }), |k| k.public_jwks()))
}
