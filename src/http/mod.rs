//! The route table, the per-request context, and the one place an `ApiError` becomes a response.
//!
//! Order of work for every request, as DRF does it: resolve the route, bound the body (413),
//! authenticate (a bad credential is 401 even where anyone may call), check the permission and
//! the method (an anonymous unmapped method on a users route is 401, otherwise 405), then run the
//! handler, which parses the body only when it needs it.

pub mod activation;
pub mod auth;
pub mod body;
pub mod jwt;
pub mod password;
pub mod response;
pub mod throttle;
pub mod token;
pub mod username;
pub mod users;

use worker::{Env, Request, Response};

use crate::config::Settings;
use crate::domain::user::User;
use crate::email::mailer::{self, Outgoing};
use crate::email::templates::{self, EmailContext, EmailKind};
use crate::error::ApiError;
use crate::storage::d1::Store;
use crate::storage::kv::RefreshStore;
use crate::tokens::jwt::JwtKey;
use crate::tokens::one_time;
use auth::Credentials;
use body::Body;

/// Every endpoint, named after djoser's actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// GET /auth/ — the API root.
    Root,
    /// /auth/users/ — list, register (and, per the API brief, PUT/PATCH of the current user).
    Users,
    /// /auth/users/me/.
    Me,
    /// /auth/users/{id}/.
    UserDetail(String),
    /// /auth/users/activation/ (and the brief's /auth/users/confirm/).
    Activation,
    /// /auth/users/resend_activation/.
    ResendActivation,
    /// /auth/users/set_password/.
    SetPassword,
    /// /auth/users/reset_password/.
    ResetPassword,
    /// /auth/users/reset_password_confirm/.
    ResetPasswordConfirm,
    /// /auth/users/set_username/.
    SetUsername,
    /// /auth/users/reset_username/.
    ResetUsername,
    /// /auth/users/reset_username_confirm/.
    ResetUsernameConfirm,
    /// /auth/jwt/create/.
    JwtCreate,
    /// /auth/jwt/refresh/.
    JwtRefresh,
    /// /auth/jwt/verify/.
    JwtVerify,
    /// /auth/jwt/blacklist/.
    JwtBlacklist,
    /// /auth/token/login/.
    TokenLogin,
    /// /auth/token/logout/.
    TokenLogout,
}

impl Route {
    /// Maps a URL path to a route; `None` is a 404. The trailing slash is optional everywhere.
    pub fn resolve(path: &str) -> Option<Route> {
        let rest = path.strip_prefix("/auth")?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        let rest = rest.trim_start_matches('/');
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Some(Route::Root);
        }
        let segments: Vec<&str> = rest.split('/').collect();
        let route = match segments.as_slice() {
            ["users"] => Route::Users,
            ["users", action] => match *action {
                "me" => Route::Me,
                // The API brief's name for activation.
                "activation" | "confirm" => Route::Activation,
                "resend_activation" => Route::ResendActivation,
                "set_password" => Route::SetPassword,
                "reset_password" => Route::ResetPassword,
                "reset_password_confirm" => Route::ResetPasswordConfirm,
                "set_username" => Route::SetUsername,
                "reset_username" => Route::ResetUsername,
                "reset_username_confirm" => Route::ResetUsernameConfirm,
                // djoser-compat: the detail route takes any segment matching [^/.]+.
                id if !id.is_empty() && !id.contains('.') => Route::UserDetail(id.to_string()),
                _ => return None,
            },
            // djoser-compat: simplejwt's routes are unanchored, so anything after them still matches.
            ["jwt", "create", ..] => Route::JwtCreate,
            ["jwt", "refresh", ..] => Route::JwtRefresh,
            ["jwt", "verify", ..] => Route::JwtVerify,
            ["jwt", "blacklist", ..] => Route::JwtBlacklist,
            ["token", "login"] => Route::TokenLogin,
            ["token", "logout"] => Route::TokenLogout,
            _ => return None,
        };
        Some(route)
    }

    /// The methods the route serves, as its `Allow` header lists them.
    pub fn allow(&self) -> &'static str {
        match self {
            Route::Root => "GET, HEAD, OPTIONS",
            Route::Users => "GET, POST, PUT, PATCH, HEAD, OPTIONS",
            Route::Me | Route::UserDetail(_) => "GET, PUT, PATCH, DELETE, HEAD, OPTIONS",
            _ => "POST, OPTIONS",
        }
    }

    fn serves(&self, method: &str) -> bool {
        self.allow().split(", ").any(|m| m == method)
    }

    /// simplejwt's views set no authentication classes and never read the header.
    fn authenticates(&self) -> bool {
        !matches!(
            self,
            Route::JwtCreate | Route::JwtRefresh | Route::JwtVerify | Route::JwtBlacklist
        )
    }

    /// Routes of djoser's UserViewSet: an unmapped method falls back to CurrentUserOrAdmin.
    fn in_user_viewset(&self) -> bool {
        matches!(
            self,
            Route::Users
                | Route::Me
                | Route::UserDetail(_)
                | Route::Activation
                | Route::ResendActivation
                | Route::SetPassword
                | Route::ResetPassword
                | Route::ResetPasswordConfirm
                | Route::SetUsername
                | Route::ResetUsername
                | Route::ResetUsernameConfirm
        )
    }

    /// True when the (route, method) pair needs an authenticated user.
    fn needs_user(&self, method: &str) -> bool {
        match self {
            Route::Users => method != "POST",
            Route::Me
            | Route::UserDetail(_)
            | Route::SetPassword
            | Route::SetUsername
            | Route::TokenLogout => true,
            _ => false,
        }
    }
}

/// Everything a handler needs about one request.
pub struct Ctx {
    /// The deployment's settings.
    pub settings: &'static Settings,
    /// The Worker environment (bindings).
    pub env: Env,
    /// D1.
    pub store: Store,
    /// The request method, upper case.
    pub method: String,
    /// The authenticated user, if any.
    pub user: Option<User>,
    /// Unix seconds at the start of the request.
    pub now: i64,
    /// The client address (`CF-Connecting-IP`), for throttling.
    pub client_ip: String,
    content_type: Option<String>,
    raw_body: Vec<u8>,
}

impl Ctx {
    /// Parses the body (DRF does it lazily, after authentication and permissions).
    pub fn body(&self) -> Result<Body, ApiError> {
        Body::parse(self.content_type.as_deref(), &self.raw_body)
    }

    /// The authenticated user; 401 NOCREDS otherwise.
    pub fn user(&self) -> Result<&User, ApiError> {
        self.user.as_ref().ok_or_else(ApiError::not_authenticated)
    }

    /// The HS256 key; a missing SIGNING_KEY refuses token work with a configuration error.
    pub fn jwt_key(&self) -> Result<JwtKey, ApiError> {
        Ok(JwtKey::new(self.secret()?))
    }

    /// SIGNING_KEY bytes (the JWT key and the HMAC key of e-mail tokens, as Django's SECRET_KEY).
    pub fn secret(&self) -> Result<&[u8], ApiError> {
        self.settings
            .signing_key
            .as_deref()
            .ok_or_else(missing_signing_key)
    }

    /// The refresh-token records in KV.
    pub fn refresh_store(&self) -> Result<RefreshStore, ApiError> {
        self.env
            .kv("AUTH_KV")
            .map(RefreshStore::new)
            .map_err(ApiError::internal)
    }

    /// Sends one of djoser's e-mails to `user`, if the user has an address. A failed send is logged
    /// and does not fail the request: the state change it reports is already stored.
    pub async fn send_email(&self, user: &User, kind: EmailKind) -> Result<(), ApiError> {
        if user.email.is_empty() {
            return Ok(());
        }
        let url_template = match kind {
            EmailKind::Activation => Some(&self.settings.activation_url),
            EmailKind::PasswordReset => Some(&self.settings.password_reset_confirm_url),
            EmailKind::UsernameReset => Some(&self.settings.username_reset_confirm_url),
            _ => None,
        };
        let url = match url_template {
            Some(template) => {
                let state = one_time::TokenUserState {
                    user_id: user.id,
                    password_hash: &user.password,
                    last_login: user.last_login,
                    email: &user.email,
                    // Username-reset links also die when the username changes (SECURITY.md 16).
                    username: (kind == EmailKind::UsernameReset).then_some(user.username.as_str()),
                };
                let token = one_time::make_token(self.secret()?, &state, self.now);
                Some(templates::fill_url(
                    template,
                    &one_time::encode_uid(user.id),
                    &token,
                ))
            }
            None => None,
        };
        let context = EmailContext {
            site_name: &self.settings.site_name,
            domain: &self.settings.domain,
            protocol: &self.settings.protocol,
            url: url.as_deref(),
            username: &user.username,
        };
        let rendered = templates::render(kind, &context);
        let outgoing = Outgoing {
            from: &self.settings.default_from_email,
            to: &user.email,
            kind,
            rendered: &rendered,
        };
        if let Err(e) = mailer::deliver(self.settings, &self.env, &outgoing).await {
            worker::console_error!("e-mail {} to user {} not sent: {e}", kind.name(), user.id);
        }
        Ok(())
    }
}

/// Handles one request from start to end; every `ApiError` becomes a response here.
pub async fn handle(
    mut req: Request,
    env: Env,
    settings: &'static Settings,
) -> worker::Result<Response> {
    // worker's Method maps methods it does not know to GET; the raw name keeps PROPFIND a 405.
    let method = req.inner().method().to_ascii_uppercase();
    let origin = req.headers().get("Origin").ok().flatten();
    let route = Route::resolve(&req.path());
    let allow = route.as_ref().map(Route::allow);
    let result = match route {
        Some(route) => dispatch(&mut req, env, settings, route, &method).await,
        None => Err(ApiError::not_found()),
    };
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            if let ApiError::Internal(cause) = &e {
                worker::console_error!("{method} {}: {cause}", req.path());
            }
            response::error(&e, settings)?
        }
    };
    let response = response::finish(response, allow, origin.as_deref(), settings)?;
    if method == "HEAD" {
        response::without_body(response)
    } else {
        Ok(response)
    }
}

async fn read_body(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let bytes = req
        .bytes()
        .await
        .map_err(|_| ApiError::Parse("could not read body".into()))?;
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(bytes)
}

async fn dispatch(
    req: &mut Request,
    env: Env,
    settings: &'static Settings,
    route: Route,
    method: &str,
) -> Result<Response, ApiError> {
    if method == "OPTIONS" {
        if let Some(preflight) = response::preflight(req, settings) {
            return Ok(preflight);
        }
    }
    let raw_body = if matches!(method, "GET" | "HEAD" | "OPTIONS") {
        Vec::new()
    } else {
        read_body(req, settings.max_body_bytes).await?
    };
    // Nearly every route signs or checks a token (JWTs, e-mailed links), so without a key the
    // service refuses work up front rather than failing half-way through a change.
    if settings.signing_key.is_none() && route != Route::Root {
        return Err(missing_signing_key());
    }
    let db = env.d1("DB").map_err(ApiError::internal)?;
    let mut ctx = Ctx {
        settings,
        store: Store::new(db),
        method: method.to_string(),
        user: None,
        now: (worker::Date::now().as_millis() / 1000) as i64,
        client_ip: req
            .headers()
            .get("CF-Connecting-IP")
            .ok()
            .flatten()
            .unwrap_or_else(|| "unknown".into()),
        content_type: req.headers().get("Content-Type").ok().flatten(),
        raw_body,
        env,
    };

    if route.authenticates() {
        let header = req.headers().get("Authorization").ok().flatten();
        ctx.user = authenticate(&ctx, header.as_deref()).await?;
    }

    let verb = if method == "HEAD" { "GET" } else { method };
    if verb == "OPTIONS" {
        if (route.in_user_viewset() || route == Route::TokenLogout) && ctx.user.is_none() {
            return Err(ApiError::not_authenticated());
        }
        return response::metadata(&route);
    }
    if !route.serves(verb) {
        if (route.in_user_viewset() || route == Route::TokenLogout) && ctx.user.is_none() {
            return Err(ApiError::not_authenticated());
        }
        return Err(ApiError::MethodNotAllowed(method.to_string()));
    }
    if route.needs_user(verb) && ctx.user.is_none() {
        return Err(ApiError::not_authenticated());
    }

    match (&route, verb) {
        (Route::Root, _) => users::root(req),
        (Route::Users, "GET") => users::list(&ctx).await,
        (Route::Users, "POST") => users::create(&ctx).await,
        (Route::Me, "GET") => users::me(&ctx),
        (Route::Users | Route::Me, "PUT" | "PATCH") => users::update_me(&ctx).await,
        (Route::Me, "DELETE") => users::destroy_me(&ctx).await,
        (Route::UserDetail(id), _) => users::detail(&ctx, id).await,
        (Route::Activation, _) => activation::activation(&ctx).await,
        (Route::ResendActivation, _) => activation::resend_activation(&ctx).await,
        (Route::SetPassword, _) => password::set_password(&ctx).await,
        (Route::ResetPassword, _) => password::reset_password(&ctx).await,
        (Route::ResetPasswordConfirm, _) => password::reset_password_confirm(&ctx).await,
        (Route::SetUsername, _) => username::set_username(&ctx).await,
        (Route::ResetUsername, _) => username::reset_username(&ctx).await,
        (Route::ResetUsernameConfirm, _) => username::reset_username_confirm(&ctx).await,
        (Route::JwtCreate, _) => jwt::create(&ctx).await,
        (Route::JwtRefresh, _) => jwt::refresh(&ctx).await,
        (Route::JwtVerify, _) => jwt::verify(&ctx).await,
        (Route::JwtBlacklist, _) => jwt::blacklist(&ctx).await,
        (Route::TokenLogin, _) => token::login(&ctx).await,
        (Route::TokenLogout, _) => token::logout(&ctx).await,
        _ => Err(ApiError::MethodNotAllowed(method.to_string())),
    }
}

/// Resolves the Authorization header to a user (JWT first, then DRF token), or anonymous.
async fn authenticate(ctx: &Ctx, header: Option<&str>) -> Result<Option<User>, ApiError> {
    match auth::parse_authorization(header, &ctx.settings.auth_header_types)? {
        Credentials::None => Ok(None),
        Credentials::Jwt(token) => {
            let key = ctx.jwt_key()?;
            let (claims, id) = auth::access_token_user_id(ctx.settings, &key, &token, ctx.now)?;
            let user = match id {
                Some(id) => ctx.store.user_by_id(id).await.map_err(ApiError::internal)?,
                None => None,
            };
            auth::check_jwt_user(user, &claims).map(Some)
        }
        Credentials::Token(key) => {
            let user = if auth::token_key_plausible(&key) {
                ctx.store
                    .user_by_token_key(&key)
                    .await
                    .map_err(ApiError::internal)?
            } else {
                None
            };
            auth::check_token_user(user).map(Some)
        }
    }
}

/// The configuration error of a deployment without SIGNING_KEY.
fn missing_signing_key() -> ApiError {
    ApiError::Config(
        "SIGNING_KEY is not set; set it with `wrangler secret put SIGNING_KEY` (32+ random bytes)"
            .into(),
    )
}

/// Random bytes from the platform CSPRNG.
pub fn random<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| ApiError::internal(format!("getrandom: {e}")))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table_is_pinned() {
        let table = [
            ("/auth/", Some(Route::Root)),
            ("/auth", Some(Route::Root)),
            ("/auth/users/", Some(Route::Users)),
            ("/auth/users", Some(Route::Users)),
            ("/auth/users/me/", Some(Route::Me)),
            ("/auth/users/42/", Some(Route::UserDetail("42".into()))),
            ("/auth/users/confirm/", Some(Route::Activation)),
            ("/auth/users/activation", Some(Route::Activation)),
            (
                "/auth/users/resend_activation/",
                Some(Route::ResendActivation),
            ),
            ("/auth/users/set_password/", Some(Route::SetPassword)),
            ("/auth/users/reset_password/", Some(Route::ResetPassword)),
            (
                "/auth/users/reset_password_confirm/",
                Some(Route::ResetPasswordConfirm),
            ),
            ("/auth/users/set_username/", Some(Route::SetUsername)),
            ("/auth/users/reset_username/", Some(Route::ResetUsername)),
            (
                "/auth/users/reset_username_confirm/",
                Some(Route::ResetUsernameConfirm),
            ),
            ("/auth/jwt/create/", Some(Route::JwtCreate)),
            ("/auth/jwt/create/anything", Some(Route::JwtCreate)),
            ("/auth/jwt/refresh", Some(Route::JwtRefresh)),
            ("/auth/jwt/verify/", Some(Route::JwtVerify)),
            ("/auth/jwt/blacklist/", Some(Route::JwtBlacklist)),
            ("/auth/token/login/", Some(Route::TokenLogin)),
            ("/auth/token/logout", Some(Route::TokenLogout)),
            ("/auth/users/me.json", None),
            ("/auth/users/1/extra/", None),
            ("/auth/token/login/x", None),
            ("/authx", None),
            ("/", None),
            ("/other", None),
        ];
        for (path, expected) in table {
            assert_eq!(Route::resolve(path), expected, "{path}");
        }
    }

    #[test]
    fn user_routes_fall_back_to_authentication_for_unmapped_methods() {
        assert!(Route::Activation.in_user_viewset());
        assert!(!Route::JwtCreate.in_user_viewset());
        assert!(!Route::JwtVerify.authenticates());
        assert!(Route::TokenLogin.authenticates());
        assert!(Route::Users.needs_user("GET") && !Route::Users.needs_user("POST"));
    }
}
