//! The route table: every endpoint, top to bottom, with its paths, who may call it, and its
//! handler. Adding an endpoint is one entry here, one handler, one flow.

use std::future::Future;
use std::pin::Pin;

use worker::Response;

use crate::error::ApiError;
use crate::http::{
    activation, jwt, mfa, password, schema, sessions, social, token, username, users, webauthn, Ctx,
};

/// A handler's future.
pub type Handled<'a> = Pin<Box<dyn Future<Output = Result<Response, ApiError>> + 'a>>;

/// A handler: parse → flow → respond.
pub type Handler = for<'a> fn(&'a Ctx) -> Handled<'a>;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Anyone, signed in or not.
    Anyone,
    /// A signed-in user only (401 otherwise).
    User,
}

/// How a route treats the Authorization header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Read and checked: a bad credential is 401 even where anyone may call.
    Header,
    /// Never read (simplejwt's views set no authentication classes).
    Never,
}

/// What an anonymous caller hears for a method the route does not serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmapped {
    /// 401 first (djoser's UserViewSet and TokenDestroyView fall back to an authenticated
    /// permission), then 405.
    AuthenticateFirst,
    /// 405 at once.
    NotAllowed,
}

/// Who may keep and read an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Tokens, user data, errors: `Cache-Control: no-store`, CORS only for CORS_ALLOWED_ORIGINS.
    Private,
    /// Public data (the JWK Set, the OpenAPI document): a 200 is cacheable for
    /// [`PUBLIC_MAX_AGE`] seconds and readable from any origin.
    Public,
    /// A page for people (the docs page): private headers, but the page's own
    /// Content-Security-Policy instead of the API's, which forbids running anything.
    Page,
}

/// How long a public answer may be cached, in seconds: the time a new standby key must be
/// published before it is promoted to active (README, Keys and rotation).
pub const PUBLIC_MAX_AGE: u32 = 600;

/// One method of a route.
pub struct Endpoint {
    /// The method, upper case (HEAD is served by GET).
    pub method: &'static str,
    /// Who may call it.
    pub who: Who,
    /// The handler.
    pub handler: Handler,
}

/// One route.
pub struct RouteDef {
    /// djoser's name for the action (`users/me` → "me"), for logs and the pinning test.
    pub action: &'static str,
    /// Paths under `/auth/`, without slashes at either end; `{id}` is one segment without a
    /// dot, and a trailing `/*` also matches anything after (simplejwt's unanchored routes).
    /// A path starting with `/` is a full path from the root instead (`/.well-known/…`).
    pub paths: &'static [&'static str],
    /// DRF's OPTIONS metadata: the view's name and description.
    pub name: &'static str,
    /// See `name`.
    pub description: &'static str,
    /// Whether the Authorization header is read.
    pub auth: Auth,
    /// The answer to an anonymous unmapped method.
    pub unmapped: Unmapped,
    /// The methods it serves, in `Allow` order.
    pub endpoints: &'static [Endpoint],
    /// Whether its answers are private (all but the JWK Set) or public.
    pub exposure: Exposure,
}

/// Wraps an `async fn(&Ctx) -> Result<Response, ApiError>` as a table [`Handler`].
macro_rules! handler {
    ($f:path) => {{
        fn boxed(cx: &Ctx) -> Handled<'_> {
            Box::pin($f(cx))
        }
        boxed as Handler
    }};
}

/// One [`Endpoint`].
macro_rules! ep {
    ($method:literal, $who:ident, $f:path) => {
        Endpoint {
            method: $method,
            who: Who::$who,
            handler: handler!($f),
        }
    };
}

/// This service's own authenticated routes: the authenticate-first fallback, no djoser name.
macro_rules! own_route {
    ($action:literal, $name:literal, [$($path:literal),+], [$($ep:expr),+ $(,)?]) => {
        RouteDef {
            action: $action,
            paths: &[$($path),+],
            name: $name,
            description: "",
            auth: Auth::Header,
            unmapped: Unmapped::AuthenticateFirst,
            exposure: Exposure::Private,
            endpoints: &[$($ep),+],
        }
    };
}

/// djoser's UserViewSet actions share DRF's metadata name and the authenticate-first fallback.
macro_rules! user_route {
    ($action:literal, [$($path:literal),+], [$($ep:expr),+ $(,)?]) => {
        RouteDef {
            action: $action,
            paths: &[$($path),+],
            name: "User",
            description: "",
            auth: Auth::Header,
            unmapped: Unmapped::AuthenticateFirst,
            endpoints: &[$($ep),+],
            exposure: Exposure::Private,
        }
    };
}

/// Every route, in matching order (named `users/` actions before `users/{id}`).
pub static ROUTES: &[RouteDef] = &[
    // GET /auth/ — DRF's API root.
    RouteDef {
        action: "api-root",
        paths: &[""],
        name: "Api Root",
        description: "The default basic root view for DefaultRouter",
        auth: Auth::Header,
        unmapped: Unmapped::NotAllowed,
        endpoints: &[ep!("GET", Anyone, users::root)],
        exposure: Exposure::Private,
    },
    user_route!(
        "users",
        ["users"],
        [
            ep!("GET", User, users::list),
            ep!("POST", Anyone, users::create),
            // The API brief also updates the current user here.
            ep!("PUT", User, users::update_me),
            ep!("PATCH", User, users::update_me),
        ]
    ),
    user_route!(
        "me",
        ["users/me"],
        [
            ep!("GET", User, users::me),
            ep!("PUT", User, users::update_me),
            ep!("PATCH", User, users::update_me),
            ep!("DELETE", User, users::destroy_me),
        ]
    ),
    // This service's own: the security event log.
    user_route!(
        "me-events",
        ["users/me/events"],
        [ep!("GET", User, users::my_events)]
    ),
    user_route!(
        "user-events",
        ["users/{id}/events"],
        [ep!("GET", User, users::user_events)]
    ),
    // The API brief's /users/confirm/ is an alias of activation.
    user_route!(
        "activation",
        ["users/activation", "users/confirm"],
        [ep!("POST", Anyone, activation::activation)]
    ),
    user_route!(
        "resend_activation",
        ["users/resend_activation"],
        [ep!("POST", Anyone, activation::resend_activation)]
    ),
    user_route!(
        "set_password",
        ["users/set_password"],
        [ep!("POST", User, password::set_password)]
    ),
    user_route!(
        "reset_password",
        ["users/reset_password"],
        [ep!("POST", Anyone, password::reset_password)]
    ),
    user_route!(
        "reset_password_confirm",
        ["users/reset_password_confirm"],
        [ep!("POST", Anyone, password::reset_password_confirm)]
    ),
    user_route!(
        "set_username",
        ["users/set_username"],
        [ep!("POST", User, username::set_username)]
    ),
    user_route!(
        "reset_username",
        ["users/reset_username"],
        [ep!("POST", Anyone, username::reset_username)]
    ),
    user_route!(
        "reset_username_confirm",
        ["users/reset_username_confirm"],
        [ep!("POST", Anyone, username::reset_username_confirm)]
    ),
    // This service's own: the two links of a pending e-mail change.
    user_route!(
        "email_change_confirm",
        ["users/email_change_confirm"],
        [ep!("POST", Anyone, users::email_change_confirm)]
    ),
    user_route!(
        "email_change_cancel",
        ["users/email_change_cancel"],
        [ep!("POST", Anyone, users::email_change_cancel)]
    ),
    // This service's own: staff manage a user's sessions.
    own_route!(
        "user-sessions-revoke-all",
        "Sessions",
        ["users/{id}/sessions/revoke_all"],
        [ep!("POST", User, sessions::user_revoke_all)]
    ),
    own_route!(
        "user-session",
        "Sessions",
        ["users/{id}/sessions/{sid}"],
        [ep!("DELETE", User, sessions::user_end)]
    ),
    own_route!(
        "user-sessions",
        "Sessions",
        ["users/{id}/sessions"],
        [ep!("GET", User, sessions::user_list)]
    ),
    // djoser-compat: the detail route takes any segment matching [^/.]+.
    user_route!(
        "user-detail",
        ["users/{id}"],
        [
            ep!("GET", User, users::detail),
            ep!("PUT", User, users::update_detail),
            ep!("PATCH", User, users::update_detail),
            ep!("DELETE", User, users::destroy_detail),
        ]
    ),
    // This service's own: the caller's sessions (devices).
    own_route!(
        "sessions",
        "Sessions",
        ["sessions"],
        [ep!("GET", User, sessions::list)]
    ),
    own_route!(
        "sessions-revoke-others",
        "Sessions",
        ["sessions/revoke_others"],
        [ep!("POST", User, sessions::revoke_others)]
    ),
    own_route!(
        "sessions-revoke-all",
        "Sessions",
        ["sessions/revoke_all"],
        [ep!("POST", User, sessions::revoke_all)]
    ),
    own_route!(
        "session",
        "Sessions",
        ["sessions/{id}"],
        [ep!("DELETE", User, sessions::end)]
    ),
    // This service's own: two-factor sign-in (TOTP and backup codes).
    own_route!("mfa", "Two-factor", ["mfa"], [ep!("GET", User, mfa::status)]),
    own_route!(
        "mfa-totp-activate",
        "Two-factor",
        ["mfa/totp/activate"],
        [ep!("POST", User, mfa::activate)]
    ),
    own_route!(
        "mfa-totp-activate-confirm",
        "Two-factor",
        ["mfa/totp/activate/confirm"],
        [ep!("POST", User, mfa::confirm)]
    ),
    own_route!(
        "mfa-totp-deactivate",
        "Two-factor",
        ["mfa/totp/deactivate"],
        [ep!("POST", User, mfa::deactivate)]
    ),
    own_route!(
        "mfa-backup-codes-regenerate",
        "Two-factor",
        ["mfa/backup_codes/regenerate"],
        [ep!("POST", User, mfa::regenerate)]
    ),
    // The second step of a sign-in: like jwt/create, it never reads the Authorization header.
    RouteDef {
        action: "mfa-login",
        paths: &["mfa/login"],
        name: "Two-factor Login",
        description: "",
        auth: Auth::Never,
        unmapped: Unmapped::NotAllowed,
        endpoints: &[ep!("POST", Anyone, mfa::login)],
        exposure: Exposure::Private,
    },
    // djoser's webauthn app (404 while WEBAUTHN_RP_ID is unset), then this service's own
    // management of several passkeys.
    RouteDef {
        action: "webauthn_signup_request",
        paths: &["webauthn/signup_request"],
        name: "Signup Request",
        description: "",
        auth: Auth::Header,
        unmapped: Unmapped::NotAllowed,
        endpoints: &[ep!("POST", Anyone, webauthn::signup_request)],
        exposure: Exposure::Private,
    },
    RouteDef {
        action: "webauthn_signup",
        paths: &["webauthn/signup/{id}"],
        name: "Signup",
        description: "",
        auth: Auth::Header,
        unmapped: Unmapped::NotAllowed,
        endpoints: &[ep!("POST", Anyone, webauthn::signup)],
        exposure: Exposure::Private,
    },
    RouteDef {
        action: "webauthn_login_request",
        paths: &["webauthn/login_request"],
        name: "Login Request",
        description: "",
        auth: Auth::Header,
        unmapped: Unmapped::NotAllowed,
        endpoints: &[ep!("POST", Anyone, webauthn::login_request)],
        exposure: Exposure::Private,
    },
    RouteDef {
        action: "webauthn_login",
        paths: &["webauthn/login"],
        name: "Login",
        description: "",
        auth: Auth::Header,
        unmapped: Unmapped::NotAllowed,
        endpoints: &[ep!("POST", Anyone, webauthn::login)],
        exposure: Exposure::Private,
    },
    own_route!(
        "webauthn-credentials",
        "Passkeys",
        ["webauthn/credentials"],
        [
            ep!("GET", User, webauthn::list),
            ep!("POST", User, webauthn::add)
        ]
    ),
    own_route!(
        "webauthn-credential",
        "Passkeys",
        ["webauthn/credentials/{id}"],
        [
            ep!("PATCH", User, webauthn::rename),
            ep!("DELETE", User, webauthn::remove)
        ]
    ),
    // djoser.social's ProviderAuthView (a CreateAPIView with AllowAny, DRF's default
    // authentication): GET the authorization URL, POST the provider's code and state.
    RouteDef {
        action: "provider-auth",
        paths: &["o/{id}"],
        name: "Provider Auth",
        description: "",
        auth: Auth::Header,
        unmapped: Unmapped::NotAllowed,
        endpoints: &[
            ep!("GET", Anyone, social::authorization_url),
            ep!("POST", Anyone, social::complete),
        ],
        exposure: Exposure::Private,
    },
    // djoser-compat: simplejwt's routes are unanchored, so anything after them still matches.
    RouteDef {
        action: "jwt-create",
        paths: &["jwt/create/*"],
        name: "Token Obtain Pair",
        description: "Takes a set of user credentials and returns an access and refresh JSON web token pair to prove the authentication of those credentials.",
        auth: Auth::Never,
        unmapped: Unmapped::NotAllowed,
        endpoints: &[ep!("POST", Anyone, jwt::create)],
        exposure: Exposure::Private,
    },
    RouteDef {
        action: "jwt-refresh",
        paths: &["jwt/refresh/*"],
        name: "Token Refresh",
        description: "Takes a refresh type JSON web token and returns an access type JSON web token if the refresh token is valid.",
        auth: Auth::Never,
        unmapped: Unmapped::NotAllowed,
        endpoints: &[ep!("POST", Anyone, jwt::refresh)],
        exposure: Exposure::Private,
    },
    RouteDef {
        action: "jwt-verify",
        paths: &["jwt/verify/*"],
        name: "Token Verify",
        description: "Takes a token and indicates if it is valid.  This view provides no information about a token's fitness for a particular use.",
        auth: Auth::Never,
        unmapped: Unmapped::NotAllowed,
        endpoints: &[ep!("POST", Anyone, jwt::verify)],
        exposure: Exposure::Private,
    },
    RouteDef {
        action: "jwt-blacklist",
        paths: &["jwt/blacklist/*"],
        name: "Token Blacklist",
        description: "Takes a token and blacklists it. Must be used with the `rest_framework_simplejwt.token_blacklist` app installed.",
        auth: Auth::Never,
        unmapped: Unmapped::NotAllowed,
        endpoints: &[ep!("POST", Anyone, jwt::blacklist)],
        exposure: Exposure::Private,
    },
    // dj-rest-auth's LogoutView for JWTs: ends the family and clears the cookies.
    RouteDef {
        action: "jwt-logout",
        paths: &["jwt/logout"],
        name: "Logout",
        description: "Ends the session of a refresh token (from the body or the refresh cookie) and clears the authentication cookies.",
        auth: Auth::Never,
        unmapped: Unmapped::NotAllowed,
        exposure: Exposure::Private,
        endpoints: &[ep!("POST", Anyone, jwt::logout)],
    },
    RouteDef {
        action: "token-login",
        paths: &["token/login"],
        name: "Token Create",
        description: "Use this endpoint to obtain user authentication token.",
        auth: Auth::Header,
        unmapped: Unmapped::NotAllowed,
        endpoints: &[ep!("POST", Anyone, token::login)],
        exposure: Exposure::Private,
    },
    RouteDef {
        action: "token-logout",
        paths: &["token/logout"],
        name: "Token Destroy",
        description: "Use this endpoint to logout user (remove user authentication token).",
        auth: Auth::Header,
        unmapped: Unmapped::AuthenticateFirst,
        endpoints: &[ep!("POST", User, token::logout)],
        exposure: Exposure::Private,
    },
    // This service's own: the public keys of ES256 / EdDSA tokens (empty with HS256).
    RouteDef {
        action: "jwks",
        paths: &["jwks", "/.well-known/jwks.json"],
        name: "JSON Web Key Set",
        description: "The public keys that verify this service's tokens.",
        auth: Auth::Never,
        unmapped: Unmapped::NotAllowed,
        endpoints: &[ep!("GET", Anyone, jwt::jwks)],
        exposure: Exposure::Public,
    },
    // This service's own: the OpenAPI 3.1 document and the page that renders it.
    RouteDef {
        action: "schema",
        paths: &["schema"],
        name: "Schema",
        description: "The OpenAPI 3.1 document of this API.",
        auth: Auth::Never,
        unmapped: Unmapped::NotAllowed,
        endpoints: &[ep!("GET", Anyone, schema::document)],
        exposure: Exposure::Public,
    },
    RouteDef {
        action: "docs",
        paths: &["docs"],
        name: "Docs",
        description: "The OpenAPI document rendered for people.",
        auth: Auth::Never,
        unmapped: Unmapped::NotAllowed,
        endpoints: &[ep!("GET", Anyone, schema::docs)],
        exposure: Exposure::Page,
    },
];

/// A route matched to a path.
pub struct Matched {
    /// The route.
    pub route: &'static RouteDef,
    /// The `{id}` segment, where the route has one.
    pub param: Option<String>,
    /// The `{sid}` segment, where the route has one.
    pub param2: Option<String>,
    /// The table path that matched (`users/{id}`), for logs: never the raw path.
    pub pattern: &'static str,
}

impl Matched {
    /// The matched pattern as a URL path (`/auth/users/{id}/`), the `route` of log lines.
    /// simplejwt's unanchored `/*` tail is left out: its route is the endpoint's.
    pub fn log_route(&self) -> String {
        let pattern = self.pattern.strip_suffix("/*").unwrap_or(self.pattern);
        if pattern.starts_with('/') {
            pattern.to_string()
        } else if pattern.is_empty() {
            "/auth/".to_string()
        } else {
            format!("/auth/{pattern}/")
        }
    }
}

/// Matches `pattern` against the path's segments; `Some((id, sid))` on a match.
fn match_pattern(pattern: &str, segments: &[&str]) -> Option<(Option<String>, Option<String>)> {
    let (pattern, open) = match pattern.strip_suffix("/*") {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let wanted: Vec<&str> = if pattern.is_empty() {
        Vec::new()
    } else {
        pattern.split('/').collect()
    };
    if segments.len() < wanted.len() || (!open && segments.len() != wanted.len()) {
        return None;
    }
    let (mut id, mut sid) = (None, None);
    for (want, got) in wanted.iter().zip(segments) {
        let slot = match *want {
            "{id}" => &mut id,
            "{sid}" => &mut sid,
            _ if want == got => continue,
            _ => return None,
        };
        if got.is_empty() || got.contains('.') {
            return None;
        }
        *slot = Some(got.to_string());
    }
    Some((id, sid))
}

/// A path's segments after its leading slashes, without one trailing slash.
fn segments(path: &str) -> Vec<&str> {
    let rest = path.trim_start_matches('/');
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    }
}

/// Maps a URL path to a route; `None` is a 404. The trailing slash is optional everywhere.
/// Table paths are under `/auth/`, except full paths (starting with `/`), matched from the root.
pub fn resolve(path: &str) -> Option<Matched> {
    let under_auth = path
        .strip_prefix("/auth")
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
        .map(segments);
    let from_root = segments(path);
    ROUTES.iter().find_map(|route| {
        route.paths.iter().find_map(|p| {
            let (param, param2) = match p.strip_prefix('/') {
                Some(full) => match_pattern(full, &from_root)?,
                None => match_pattern(p, under_auth.as_deref()?)?,
            };
            Some(Matched {
                route,
                param,
                param2,
                pattern: p,
            })
        })
    })
}

impl RouteDef {
    /// The methods it serves, as its `Allow` header lists them (HEAD with GET, then OPTIONS).
    pub fn allow(&self) -> String {
        let mut methods: Vec<&str> = self.endpoints.iter().map(|e| e.method).collect();
        methods.dedup();
        if methods.contains(&"GET") {
            methods.push("HEAD");
        }
        methods.push("OPTIONS");
        methods.join(", ")
    }

    /// The endpoint serving `method` (HEAD is GET).
    pub fn endpoint(&self, method: &str) -> Option<&Endpoint> {
        let method = if method == "HEAD" { "GET" } else { method };
        self.endpoints.iter().find(|e| e.method == method)
    }

    /// True for the API root, the JWK Set, the schema and its page: the routes that neither
    /// sign nor check a token nor an e-mailed link, and so work without SIGNING_KEY.
    pub fn needs_no_signing_key(&self) -> bool {
        matches!(self.action, "api-root" | "jwks" | "schema" | "docs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(path: &str) -> Option<(&'static str, Option<String>)> {
        resolve(path).map(|m| (m.route.action, m.param))
    }

    #[test]
    fn the_log_route_is_the_table_pattern_never_the_raw_path() {
        let route = |path: &str| resolve(path).map(|m| m.log_route());
        assert_eq!(
            route("/auth/users/12345/").as_deref(),
            Some("/auth/users/{id}/")
        );
        assert_eq!(
            route("/auth/jwt/create/extra").as_deref(),
            Some("/auth/jwt/create/")
        );
        assert_eq!(route("/auth").as_deref(), Some("/auth/"));
        assert_eq!(
            route("/.well-known/jwks.json").as_deref(),
            Some("/.well-known/jwks.json")
        );
    }

    #[test]
    fn the_route_table_is_pinned() {
        let table: Vec<String> = ROUTES
            .iter()
            .map(|r| format!("{} {} [{}]", r.action, r.paths.join("|"), r.allow()))
            .collect();
        assert_eq!(
            table,
            [
                "api-root  [GET, HEAD, OPTIONS]",
                "users users [GET, POST, PUT, PATCH, HEAD, OPTIONS]",
                "me users/me [GET, PUT, PATCH, DELETE, HEAD, OPTIONS]",
                "me-events users/me/events [GET, HEAD, OPTIONS]",
                "user-events users/{id}/events [GET, HEAD, OPTIONS]",
                "activation users/activation|users/confirm [POST, OPTIONS]",
                "resend_activation users/resend_activation [POST, OPTIONS]",
                "set_password users/set_password [POST, OPTIONS]",
                "reset_password users/reset_password [POST, OPTIONS]",
                "reset_password_confirm users/reset_password_confirm [POST, OPTIONS]",
                "set_username users/set_username [POST, OPTIONS]",
                "reset_username users/reset_username [POST, OPTIONS]",
                "reset_username_confirm users/reset_username_confirm [POST, OPTIONS]",
                "email_change_confirm users/email_change_confirm [POST, OPTIONS]",
                "email_change_cancel users/email_change_cancel [POST, OPTIONS]",
                "user-sessions-revoke-all users/{id}/sessions/revoke_all [POST, OPTIONS]",
                "user-session users/{id}/sessions/{sid} [DELETE, OPTIONS]",
                "user-sessions users/{id}/sessions [GET, HEAD, OPTIONS]",
                "user-detail users/{id} [GET, PUT, PATCH, DELETE, HEAD, OPTIONS]",
                "sessions sessions [GET, HEAD, OPTIONS]",
                "sessions-revoke-others sessions/revoke_others [POST, OPTIONS]",
                "sessions-revoke-all sessions/revoke_all [POST, OPTIONS]",
                "session sessions/{id} [DELETE, OPTIONS]",
                "mfa mfa [GET, HEAD, OPTIONS]",
                "mfa-totp-activate mfa/totp/activate [POST, OPTIONS]",
                "mfa-totp-activate-confirm mfa/totp/activate/confirm [POST, OPTIONS]",
                "mfa-totp-deactivate mfa/totp/deactivate [POST, OPTIONS]",
                "mfa-backup-codes-regenerate mfa/backup_codes/regenerate [POST, OPTIONS]",
                "mfa-login mfa/login [POST, OPTIONS]",
                "webauthn_signup_request webauthn/signup_request [POST, OPTIONS]",
                "webauthn_signup webauthn/signup/{id} [POST, OPTIONS]",
                "webauthn_login_request webauthn/login_request [POST, OPTIONS]",
                "webauthn_login webauthn/login [POST, OPTIONS]",
                "webauthn-credentials webauthn/credentials [GET, POST, HEAD, OPTIONS]",
                "webauthn-credential webauthn/credentials/{id} [PATCH, DELETE, OPTIONS]",
                "provider-auth o/{id} [GET, POST, HEAD, OPTIONS]",
                "jwt-create jwt/create/* [POST, OPTIONS]",
                "jwt-refresh jwt/refresh/* [POST, OPTIONS]",
                "jwt-verify jwt/verify/* [POST, OPTIONS]",
                "jwt-blacklist jwt/blacklist/* [POST, OPTIONS]",
                "jwt-logout jwt/logout [POST, OPTIONS]",
                "token-login token/login [POST, OPTIONS]",
                "token-logout token/logout [POST, OPTIONS]",
                "jwks jwks|/.well-known/jwks.json [GET, HEAD, OPTIONS]",
                "schema schema [GET, HEAD, OPTIONS]",
                "docs docs [GET, HEAD, OPTIONS]",
            ]
        );
    }

    #[test]
    fn paths_resolve_as_djoser_and_simplejwt_route_them() {
        let table = [
            ("/auth/", Some("api-root")),
            ("/auth", Some("api-root")),
            ("/auth/users/", Some("users")),
            ("/auth/users", Some("users")),
            ("/auth/users/me/", Some("me")),
            ("/auth/users/42/", Some("user-detail")),
            ("/auth/users/me/events/", Some("me-events")),
            ("/auth/users/42/events", Some("user-events")),
            ("/auth/users/confirm/", Some("activation")),
            ("/auth/users/activation", Some("activation")),
            ("/auth/users/resend_activation/", Some("resend_activation")),
            ("/auth/users/set_password/", Some("set_password")),
            ("/auth/users/reset_password/", Some("reset_password")),
            (
                "/auth/users/reset_password_confirm/",
                Some("reset_password_confirm"),
            ),
            ("/auth/users/set_username/", Some("set_username")),
            ("/auth/users/reset_username/", Some("reset_username")),
            (
                "/auth/users/reset_username_confirm/",
                Some("reset_username_confirm"),
            ),
            ("/auth/sessions/", Some("sessions")),
            ("/auth/sessions/revoke_all/", Some("sessions-revoke-all")),
            ("/auth/sessions/0123456789abcdef", Some("session")),
            ("/auth/users/7/sessions/", Some("user-sessions")),
            ("/auth/users/7/sessions/abc/", Some("user-session")),
            (
                "/auth/users/7/sessions/revoke_all",
                Some("user-sessions-revoke-all"),
            ),
            ("/auth/jwt/create/", Some("jwt-create")),
            ("/auth/jwt/create/anything", Some("jwt-create")),
            ("/auth/jwt/refresh", Some("jwt-refresh")),
            ("/auth/jwt/verify/", Some("jwt-verify")),
            ("/auth/jwt/blacklist/", Some("jwt-blacklist")),
            ("/auth/jwt/logout/", Some("jwt-logout")),
            ("/auth/jwt/logout", Some("jwt-logout")),
            ("/auth/token/login/", Some("token-login")),
            ("/auth/token/logout", Some("token-logout")),
            ("/auth/jwks/", Some("jwks")),
            ("/auth/jwks", Some("jwks")),
            ("/.well-known/jwks.json", Some("jwks")),
            ("/.well-known/jwks.json/", Some("jwks")),
            ("/auth/schema/", Some("schema")),
            ("/auth/schema", Some("schema")),
            ("/auth/docs/", Some("docs")),
            ("/auth/docs/x", None),
            ("/auth/.well-known/jwks.json", None),
            ("/.well-known/jwks", None),
            ("/.well-known/jwks.json/x", None),
            ("/jwks", None),
            ("/auth/users/me.json", None),
            ("/auth/users/1/extra/", None),
            ("/auth/token/login/x", None),
            ("/auth/jwt", None),
            ("/authx", None),
            ("/", None),
            ("/other", None),
        ];
        for (path, expected) in table {
            assert_eq!(action(path).map(|(a, _)| a), expected, "{path}");
        }
        assert_eq!(action("/auth/users/42/").unwrap().1.as_deref(), Some("42"));
    }

    #[test]
    fn who_may_call_and_the_unmapped_fallback_follow_djoser() {
        let route = |p: &str| resolve(p).unwrap().route;
        assert_eq!(
            route("/auth/users/activation/").unmapped,
            Unmapped::AuthenticateFirst
        );
        assert_eq!(
            route("/auth/token/logout/").unmapped,
            Unmapped::AuthenticateFirst
        );
        assert_eq!(route("/auth/jwt/create/").unmapped, Unmapped::NotAllowed);
        assert_eq!(route("/auth/jwt/verify/").auth, Auth::Never);
        assert_eq!(route("/auth/token/login/").auth, Auth::Header);
        let users = route("/auth/users/");
        assert_eq!(users.endpoint("GET").unwrap().who, Who::User);
        assert_eq!(users.endpoint("HEAD").unwrap().who, Who::User);
        assert_eq!(users.endpoint("POST").unwrap().who, Who::Anyone);
        assert!(users.endpoint("DELETE").is_none());
    }
}
