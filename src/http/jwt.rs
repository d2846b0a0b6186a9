//! simplejwt's views at the edge: `jwt/create/`, `jwt/refresh/`, `jwt/verify/` and
//! `jwt/blacklist/`, plus dj-rest-auth's `jwt/logout/`. These views never read the
//! Authorization header. In cookie mode (`JWT_AUTH_COOKIE`) create and refresh also set the
//! cookies, refresh and logout take the refresh token from the cookie when the body has none,
//! and logout clears the cookies. The JWK Set (`jwks/`, `/.well-known/jwks.json`) is served
//! here too.

use serde_json::json;
use worker::Response;

use crate::config::CookieSettings;
use crate::error::ApiError;
use crate::flows::session;
use crate::http::cookies;
use crate::http::{extract, response, Ctx};
use crate::messages as msg;

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
    match session::jwt_create(&ctx.flow(), &login, &password).await? {
        session::SignIn::Open(pair) => signed_in(ctx, &pair),
        session::SignIn::SecondFactor(token) => second_factor_due(&token),
    }
}

/// The answer of a password that is right when a second factor is due (jwt/create and
/// token/login alike): no tokens, no cookies, the ephemeral token for `mfa/login/`.
pub fn second_factor_due(ephemeral_token: &str) -> Result<Response, ApiError> {
    response::ok(&json!({
        "mfa_required": true,
        "ephemeral_token": ephemeral_token,
        "methods": ["totp", "backup_code"],
    }))
}

/// The answer of a JWT sign-in (jwt/create, or mfa/login after it): the pair, and in cookie
/// mode its cookies and a new CSRF token.
pub fn signed_in(ctx: &Ctx, pair: &session::TokenPair) -> Result<Response, ApiError> {
    let Some(mode) = ctx.settings.cookies.as_ref() else {
        return response::ok(&json!({ "refresh": pair.refresh, "access": pair.access }));
    };
    // A sign-in starts a new CSRF token (Django rotates it at login too).
    let csrf = cookies::new_csrf_token()?;
    let body = json!({ "refresh": body_refresh(mode, &pair.refresh), "access": pair.access });
    let set = cookies::signed_in(ctx.settings, mode, &pair.access, Some(&pair.refresh), &csrf);
    response::with_cookies(response::ok(&body)?, &set, Some(&csrf))
}

/// The body's `refresh` in cookie mode: `""` with JWT_AUTH_HTTPONLY, as dj-rest-auth answers, so
/// page scripts never see the token the cookie keeps from them.
pub(crate) fn body_refresh<'a>(mode: &CookieSettings, refresh: &'a str) -> &'a str {
    if mode.http_only {
        ""
    } else {
        refresh
    }
}

/// The refresh token of a cookie-mode jwt/refresh or jwt/logout (dj-rest-auth's
/// `extract_refresh_token`): the body's non-empty `refresh` if there is one, else the refresh
/// cookie, which must come with a CSRF proof. `None` when there is neither.
fn refresh_from(ctx: &Ctx, mode: &CookieSettings) -> Result<Option<String>, ApiError> {
    let body = ctx.body()?;
    if let Some(token) = extract::optional(&body, "refresh")?.filter(|t| !t.is_empty()) {
        return Ok(Some(token));
    }
    match ctx.cookie(&mode.refresh_name) {
        Some(token) => {
            ctx.check_csrf()?;
            Ok(Some(token))
        }
        None => Ok(None),
    }
}

// POST /auth/jwt/refresh/ (simplejwt TokenRefreshView): 200 {access, refresh} | 400 | 401
/// Exchanges a refresh token for a new access token and, with rotation, a new refresh token.
pub async fn refresh(ctx: &Ctx) -> Result<Response, ApiError> {
    let Some(mode) = ctx.settings.cookies.as_ref() else {
        let token = token_field(ctx, "refresh")?;
        let done = session::jwt_refresh(&ctx.flow(), &token).await?;
        return match done.refresh {
            Some(refresh) => response::ok(&json!({ "access": done.access, "refresh": refresh })),
            None => response::ok(&json!({ "access": done.access })),
        };
    };
    let token =
        refresh_from(ctx, mode)?.ok_or_else(|| ApiError::token_not_valid(msg::NO_REFRESH_TOKEN))?;
    let done = session::jwt_refresh(&ctx.flow(), &token).await?;
    // The session keeps its CSRF token (a tab holding it keeps working); a missing one is new.
    let csrf = match ctx.cookie(cookies::CSRF_COOKIE) {
        Some(token) => token,
        None => cookies::new_csrf_token()?,
    };
    let set = cookies::signed_in(
        ctx.settings,
        mode,
        &done.access,
        done.refresh.as_deref(),
        &csrf,
    );
    let body = match &done.refresh {
        Some(refresh) => json!({ "access": done.access, "refresh": body_refresh(mode, refresh) }),
        None => json!({ "access": done.access }),
    };
    response::with_cookies(response::ok(&body)?, &set, Some(&csrf))
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

// POST /auth/jwt/logout/ (dj-rest-auth LogoutView): 200 {"detail"} | 400 | 401 | 403 CSRF
/// Ends the refresh token's family as jwt/blacklist does, the token taken from the body or, in
/// cookie mode, the refresh cookie; in cookie mode the three cookies are cleared whatever the
/// token's fate (only a refused CSRF proof leaves them, so another site cannot log anyone out).
pub async fn logout(ctx: &Ctx) -> Result<Response, ApiError> {
    let Some(mode) = ctx.settings.cookies.as_ref() else {
        let token = token_field(ctx, "refresh")?;
        session::jwt_blacklist(&ctx.flow(), &token).await?;
        return response::ok(&json!({ "detail": msg::LOGGED_OUT }));
    };
    let ended = match refresh_from(ctx, mode)? {
        Some(token) => session::jwt_blacklist(&ctx.flow(), &token)
            .await
            .map_err(ApiError::from),
        None => Err(ApiError::token_not_valid(msg::NO_REFRESH_TOKEN)),
    };
    let answer = match ended {
        Ok(()) => response::ok(&json!({ "detail": msg::LOGGED_OUT }))?,
        Err(e @ ApiError::Internal(_)) => return Err(e),
        Err(e) => response::error(&e, ctx.settings).map_err(ApiError::internal)?,
    };
    response::with_cookies(answer, &cookies::cleared(mode), None)
}

// GET /auth/jwks/ and /.well-known/jwks.json: 200 {"keys":[…]}, public and cacheable
/// The public keys that verify this service's tokens (every configured ES256 / EdDSA key, with
/// `kid`, `alg`, `use`); `{"keys":[]}` with HS256, whose key is secret.
pub async fn jwks(ctx: &Ctx) -> Result<Response, ApiError> {
    let keys = ctx.settings.jwt_keys();
    response::ok(&keys.map_or_else(|| json!({ "keys": [] }), |k| k.public_jwks()))
}
