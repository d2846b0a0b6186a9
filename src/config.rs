//! Settings: djoser's and simplejwt's configuration keys, typed, with their defaults.
//!
//! Every field is named after the djoser/simplejwt key in snake case; the environment variable is the
//! key itself in upper case (`SEND_ACTIVATION_EMAIL`). Values come from wrangler `[vars]`, secrets and
//! `.dev.vars`. Parsing is pure (`from_lookup`) so it is tested on the host; `lib.rs` wires it to `Env`.
//! This module must not decide anything about requests: it only describes the deployment.

use std::fmt;
use std::sync::Arc;

mod customisation;
mod social;

pub use customisation::{Permission, Permissions};
pub use social::{Provider, ProviderKind, SocialSettings, GOOGLE_ISSUER};

use crate::domain::profile::UserField;

#[cfg(test)]
use crate::tokens::jwt::KeyState;
use crate::tokens::jwt::{AsymmetricKeys, JwtAlgorithm, JwtKeys};

/// How outgoing e-mail is delivered (`EMAIL_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailBackend {
    /// Write the whole message to the Worker console (local default).
    Console,
    /// POST a JSON document to `EMAIL_WEBHOOK_URL`.
    Webhook,
    /// Resend's HTTP API with `RESEND_API_KEY`.
    Resend,
    /// Cloudflare Email Routing's `send_email` binding named `EMAIL`.
    Cloudflare,
}

/// Which user attribute the login endpoints take (`LOGIN_FIELD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginField {
    /// djoser's default: the (case-sensitive) username.
    Username,
    /// The e-mail address (compared case-insensitively, as addresses are unique here).
    Email,
}

/// The `SameSite` attribute of the cookies (`JWT_AUTH_SAMESITE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent only on requests from the same site (the default here; OWASP's first choice).
    Strict,
    /// Also sent on top-level navigations from other sites (links into the app).
    Lax,
    /// Sent on every request, cross-site ones too; needs `Secure`.
    None,
}

impl SameSite {
    /// The attribute's value as it appears in `Set-Cookie`.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// Browser cookie mode (dj-rest-auth's `JWT_AUTH_*` settings), on when `JWT_AUTH_COOKIE` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSettings {
    /// JWT_AUTH_COOKIE: the access cookie's name (`__Host-access` recommended). Path `/`.
    pub access_name: String,
    /// JWT_AUTH_REFRESH_COOKIE (`__Secure-refresh`, or `refresh` without `Secure`).
    pub refresh_name: String,
    /// JWT_AUTH_REFRESH_COOKIE_PATH (`/auth/jwt/`): the refresh cookie reaches only the
    /// refresh and logout endpoints (and their jwt/ siblings), never users/ or other paths.
    pub refresh_path: String,
    /// JWT_AUTH_SECURE (true in cookie mode): cookies only travel over https (browsers also
    /// treat http://localhost and 127.0.0.1 as secure).
    pub secure: bool,
    /// JWT_AUTH_HTTPONLY (true): page scripts cannot read the token cookies, and the body's
    /// `refresh` is `""`.
    pub http_only: bool,
    /// JWT_AUTH_SAMESITE (`Strict`).
    pub same_site: SameSite,
    /// JWT_AUTH_COOKIE_DOMAIN (none: host-only cookies).
    pub domain: Option<String>,
    /// JWT_AUTH_COOKIE_USE_CSRF (true in cookie mode): cookie-authenticated unsafe requests
    /// must echo the `csrftoken` cookie in `X-CSRFToken` (the origin check applies either way).
    pub use_csrf: bool,
}

/// The whole configuration of one deployment.
#[derive(Clone)]
pub struct Settings {
    // ---- djoser ----
    /// SEND_ACTIVATION_EMAIL (True): new users are inactive and get the activation e-mail; an e-mail
    /// change through users/me deactivates the user and re-sends it.
    pub send_activation_email: bool,
    /// SEND_CONFIRMATION_EMAIL (True): the "account created and activated" e-mail.
    pub send_confirmation_email: bool,
    /// PASSWORD_CHANGED_EMAIL_CONFIRMATION (True): e-mail after set_password / reset_password_confirm.
    pub password_changed_email_confirmation: bool,
    /// USERNAME_CHANGED_EMAIL_CONFIRMATION (True): e-mail after set_username / reset_username_confirm.
    pub username_changed_email_confirmation: bool,
    /// ACTIVATION_URL ("activate/{uid}/{token}"): frontend path in the activation e-mail.
    pub activation_url: String,
    /// PASSWORD_RESET_CONFIRM_URL ("password/reset/confirm/{uid}/{token}").
    pub password_reset_confirm_url: String,
    /// USERNAME_RESET_CONFIRM_URL ("username/reset/confirm/{uid}/{token}").
    pub username_reset_confirm_url: String,
    /// USER_CREATE_PASSWORD_RETYPE (False): registration requires `re_password`.
    pub user_create_password_retype: bool,
    /// SET_PASSWORD_RETYPE (False): set_password requires `re_new_password`.
    pub set_password_retype: bool,
    /// PASSWORD_RESET_CONFIRM_RETYPE (False): reset_password_confirm requires `re_new_password`.
    pub password_reset_confirm_retype: bool,
    /// SET_USERNAME_RETYPE (False): set_username requires `re_new_username`.
    pub set_username_retype: bool,
    /// USERNAME_RESET_CONFIRM_RETYPE (False): reset_username_confirm requires `re_new_username`.
    pub username_reset_confirm_retype: bool,
    /// LOGOUT_ON_PASSWORD_CHANGE (False): set_password and reset confirm end every session of the user
    /// (DRF token deleted, refresh tokens and older access tokens refused).
    pub logout_on_password_change: bool,
    /// PASSWORD_RESET_SHOW_EMAIL_NOT_FOUND (False): unknown e-mails get 400 instead of a silent 204.
    pub password_reset_show_email_not_found: bool,
    /// USERNAME_RESET_SHOW_EMAIL_NOT_FOUND (False): as above for reset_username.
    pub username_reset_show_email_not_found: bool,
    /// HIDE_USERS (True): other users' objects answer 404 and the list shows only oneself.
    pub hide_users: bool,
    /// EVENTS_RETENTION_DAYS (90, this service's own): how long the security event log keeps
    /// an event before the scheduled purge deletes it.
    pub events_retention_days: i64,
    /// EVENTS_WEBHOOK_URL (unset, this service's own): each security event is also POSTed
    /// there as JSON after the answer, signed with EVENTS_WEBHOOK_SECRET.
    pub events_webhook_url: Option<String>,
    /// EVENTS_WEBHOOK_SECRET (secret, at least 32 characters; required with the URL): the HMAC
    /// key of the `X-Event-Signature` header.
    pub events_webhook_secret: Option<String>,
    /// EMAIL_CHANGE_CONFIRMATION (True, this service's own): an e-mail change through users/me
    /// stays pending until the new address confirms it, the account stays active on the old
    /// one, and the old address gets a notice with a cancel link. False is djoser's behaviour:
    /// the change applies at once and (with SEND_ACTIVATION_EMAIL) deactivates the user.
    pub email_change_confirmation: bool,
    /// EMAIL_CHANGE_CONFIRM_URL ("email/change/confirm/{uid}/{token}"): frontend path of the
    /// confirmation link sent to the new address.
    pub email_change_confirm_url: String,
    /// EMAIL_CHANGE_CANCEL_URL ("email/change/cancel/{uid}/{token}"): frontend path of the
    /// cancel link sent to the old address.
    pub email_change_cancel_url: String,
    /// LOGIN_FIELD ("username"): what jwt/create and token/login take.
    pub login_field: LoginField,
    /// DOMAIN ("localhost:3000"): host of the frontend links in e-mails.
    pub domain: String,
    /// SITE_NAME ("djoser-edge"): `{site_name}` in e-mails.
    pub site_name: String,
    /// PROTOCOL ("https"): scheme of the frontend links in e-mails.
    pub protocol: String,
    /// PASSWORD_RESET_TIMEOUT (259200 s): how long an activation/reset link stays valid.
    pub password_reset_timeout: i64,
    /// DEFAULT_FROM_EMAIL ("webmaster@localhost"): sender of every e-mail.
    pub default_from_email: String,
    /// EMAIL_BACKEND ("console"): console | webhook | resend | cloudflare.
    pub email_backend: EmailBackend,
    /// EMAIL_WEBHOOK_URL: target of the webhook backend.
    pub email_webhook_url: Option<String>,
    /// EMAIL_WEBHOOK_SECRET (secret): sent as `Authorization: Bearer …` to the webhook.
    pub email_webhook_secret: Option<String>,
    /// RESEND_API_KEY (secret): key of the resend backend.
    pub resend_api_key: Option<String>,

    // ---- simplejwt ----
    /// ACCESS_TOKEN_LIFETIME (300 s).
    pub access_token_lifetime: i64,
    /// REFRESH_TOKEN_LIFETIME (86400 s): absolute lifetime of each refresh token.
    pub refresh_token_lifetime: i64,
    /// ROTATE_REFRESH_TOKENS (True): jwt/refresh also returns a new refresh token.
    pub rotate_refresh_tokens: bool,
    /// BLACKLIST_AFTER_ROTATION (True): a rotated refresh token is spent.
    pub blacklist_after_rotation: bool,
    /// REFRESH_TOKEN_SLIDING (False): a rotated refresh token gets a full new lifetime, as
    /// simplejwt does. Off by default so a login ends REFRESH_TOKEN_LIFETIME after it began
    /// however often it is refreshed (an absolute lifetime: refreshing cannot keep a stolen
    /// token alive).
    pub refresh_token_sliding: bool,
    /// UPDATE_LAST_LOGIN (False): jwt/create updates last_login.
    pub update_last_login: bool,
    /// LEEWAY (0 s): clock skew allowed on exp/nbf/iat.
    pub leeway: i64,
    /// AUTH_HEADER_TYPES ("Bearer JWT"): accepted Authorization words; the first names the challenge.
    pub auth_header_types: Vec<String>,
    /// SIGNING_KEY (secret, ≥ 32 bytes): HS256 key of the JWTs and HMAC key of the e-mail tokens.
    /// `None` when missing or too short: token work then answers a configuration error.
    pub signing_key: Option<Vec<u8>>,
    /// MFA_ENCRYPTION_KEY (secret, unset; this service's own): the key TOTP secrets are sealed
    /// with at rest (and backup codes keyed with). Unset, a key derived from SIGNING_KEY is
    /// used; set it before ever rotating SIGNING_KEY, or enrolled authenticators stop working.
    pub mfa_encryption_key: Option<Vec<u8>>,
    /// MFA_ISSUER (SITE_NAME): the issuer an authenticator app shows beside the account.
    pub mfa_issuer: Option<String>,
    /// MFA_CHANGE_ENDS_OTHER_SESSIONS (False, this service's own): enabling or disabling a second
    /// factor ends every other session of the user.
    pub mfa_change_ends_other_sessions: bool,
    /// WEBAUTHN_RP_ID (unset; djoser's WEBAUTHN["RP_ID"]): the passkey relying party's id, a
    /// host name (the site's, or a registrable suffix of it). Unset, the passkey routes are off
    /// (404).
    pub webauthn_rp_id: Option<String>,
    /// WEBAUTHN_RP_NAME (SITE_NAME; djoser's WEBAUTHN["RP_NAME"]): the name authenticators show.
    pub webauthn_rp_name: Option<String>,
    /// WEBAUTHN_ORIGIN (`https://` + WEBAUTHN_RP_ID; djoser's WEBAUTHN["ORIGIN"]): the exact
    /// origin of the page that runs the ceremonies.
    pub webauthn_origin: Option<String>,
    /// WEBAUTHN_CHALLENGE_LENGTH (32, from 16 to 128, a multiple of 4): characters of a
    /// registration challenge (djoser's CHALLENGE_LENGTH; sign-in challenges are always 32).
    pub webauthn_challenge_length: i64,
    /// WEBAUTHN_UKEY_LENGTH (20, from 16 to 64): characters of a user handle (djoser's ukey).
    pub webauthn_ukey_length: i64,
    /// WEBAUTHN_USER_VERIFICATION (False, this service's own): require the UV flag (a PIN or
    /// biometric on the authenticator) at every ceremony; djoser requires only presence.
    pub webauthn_user_verification: bool,
    /// WEBAUTHN_LOGIN_RESPONSE ("token", this service's own): what webauthn/login/ answers:
    /// djoser's 201 `{auth_token}`, or "jwt" for 201 `{refresh, access}` like jwt/create.
    pub webauthn_login_jwt: bool,
    /// SQL_TRACE (False, this service's own, for tests): every distinct D1 statement is logged
    /// once per isolate, so the query-plan test can check them all. Never in production.
    pub sql_trace: bool,
    /// SIGNING_KEY_FALLBACKS (secret, unset; Django's SECRET_KEY_FALLBACKS): earlier signing
    /// keys, comma- or whitespace-separated, each ≥ 32 bytes. They still verify HS256 JWTs and
    /// e-mailed one-time tokens; only SIGNING_KEY signs (docs/operations.md, "Rotating").
    pub signing_key_fallbacks: Vec<Vec<u8>>,
    /// ALGORITHM ("HS256"): `HS256` signs JWTs with SIGNING_KEY; `ES256` or `EdDSA` with the
    /// active key of JWT_PRIVATE_JWKS.
    pub algorithm: JwtAlgorithm,
    /// JWT_PRIVATE_JWKS (secret, required with ES256 and EdDSA): the key set, parsed and
    /// checked once (see `tokens::jwt::AsymmetricKeys::from_json`).
    pub jwt_private_jwks: Option<Arc<AsymmetricKeys>>,
    /// ISSUER (unset): written as `iss` into every token and required on every read.
    pub issuer: Option<String>,
    /// AUDIENCE (unset): written as `aud` into every token and required on every read.
    pub audience: Option<String>,

    // ---- this service ----
    /// REFRESH_REUSE_GRACE (10 s): a spent refresh token presented again within this window is refused
    /// without revoking its family (a client retrying after a lost response).
    pub refresh_reuse_grace: i64,
    /// ARGON2_MEMORY_KIB (19456), ARGON2_ITERATIONS (2), ARGON2_PARALLELISM (1): cost of new hashes.
    pub argon2_memory_kib: u32,
    /// See `argon2_memory_kib`.
    pub argon2_iterations: u32,
    /// See `argon2_memory_kib`.
    pub argon2_parallelism: u32,
    /// MAX_BODY_BYTES (65536): larger request bodies answer 413 before parsing.
    pub max_body_bytes: usize,
    /// CORS_ALLOWED_ORIGINS (""): space- or comma-separated origins allowed to call the API.
    pub cors_allowed_origins: Vec<String>,
    /// RATE_LIMITS ("on"): "off" disables every throttle (local load tests).
    pub rate_limits: bool,
    /// RATE_LIMIT_LOGIN ("10/60"): password checks (logins and current-password checks) per
    /// window (s) per client IP, every attempt counted; and failed checks of one account from one
    /// client.
    pub rate_limit_login: RateLimit,
    /// RATE_LIMIT_LOGIN_ACCOUNT ("100/3600"): failed password checks of one account from all
    /// clients together, so a guesser with many addresses stays bounded.
    pub rate_limit_login_account: RateLimit,
    /// RATE_LIMIT_REGISTER ("20/3600"): registrations per client IP.
    pub rate_limit_register: RateLimit,
    /// RATE_LIMIT_EMAIL ("5/3600"): e-mail-sending requests per client IP and per target address.
    pub rate_limit_email: RateLimit,
    /// RATE_LIMIT_CONFIRM ("20/600"): activation and reset-confirm attempts per client IP.
    pub rate_limit_confirm: RateLimit,
    /// RATE_LIMIT_REFRESH ("60/60"): jwt/refresh calls with a validly signed token per client IP.
    pub rate_limit_refresh: RateLimit,

    /// DEBUG (False, this service's own): a local development Worker. A configuration error's
    /// details then reach the client too (always the log); `npm run dev` writes it to
    /// .dev.vars and `npm run check` refuses it for production.
    pub debug: bool,

    // ---- dj-rest-auth ----
    /// Browser cookie mode: `None` (the default, djoser's behaviour) unless JWT_AUTH_COOKIE is set.
    pub cookies: Option<CookieSettings>,

    // ---- customisation points (docs/customisation.md) ----
    /// USER_FIELDS, USER_EXTRA_FIELDS and REQUIRED_FIELDS (none): the user fields besides
    /// email, id and username, in representation order.
    pub user_fields: Vec<UserField>,
    /// REQUIRED_FIELDS names `email`, or LOGIN_FIELD is email: registration needs an address.
    pub email_required: bool,
    /// PERMISSIONS_USER_CREATE, PERMISSIONS_USER, PERMISSIONS_USER_LIST, PERMISSIONS_USER_DELETE
    /// (djoser's defaults).
    pub permissions: Permissions,
    /// ACCESS_TOKEN_CLAIMS (none): user attributes written into every access token, read from
    /// the user at login and at every refresh.
    pub access_token_claims: Vec<String>,
    /// Social sign-in (`o/{provider}/`, docs/social.md): SOCIAL_AUTH_* keys.
    pub social: SocialSettings,
    /// EMAIL_TEMPLATE_OVERRIDES (False): the mailer uses the operator's templates stored in
    /// AUTH_KV under `email_template:<kind>` (one KV read per e-mail).
    pub email_template_overrides: bool,
    /// EMAIL_WEBHOOK_CONTEXT (False): the webhook payload also carries `context`, djoser's
    /// template variables (url, uid, token, site_name, domain, protocol, link, user).
    pub email_webhook_context: bool,
}

/// The longest throttle window accepted (a year): longer ones are a typo, not a policy.
const MAX_RATE_WINDOW: i64 = 31_536_000;

/// A throttle: at most `count` hits per `window` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Hits allowed per window.
    pub count: u32,
    /// Window length in seconds.
    pub window: i64,
}

/// What is wrong with the configuration; names every offending key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// One entry per bad key: `KEY: reason`.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.problems.join("; "))
    }
}

impl std::error::Error for ConfigError {}

/// Every key `Settings::from_lookup` reads, one a line: `npm run check` flags any other key of
/// `[vars]` or `.dev.vars` as unknown (with the nearest of these). A new setting is one more
/// line here; the test `every_key_read_is_known_and_every_known_key_is_read` fails until it is.
pub const KNOWN_KEYS: &[&str] = &[
    // djoser
    "SEND_ACTIVATION_EMAIL",
    "SEND_CONFIRMATION_EMAIL",
    "PASSWORD_CHANGED_EMAIL_CONFIRMATION",
    "USERNAME_CHANGED_EMAIL_CONFIRMATION",
    "ACTIVATION_URL",
    "PASSWORD_RESET_CONFIRM_URL",
    "USERNAME_RESET_CONFIRM_URL",
    "USER_CREATE_PASSWORD_RETYPE",
    "SET_PASSWORD_RETYPE",
    "PASSWORD_RESET_CONFIRM_RETYPE",
    "SET_USERNAME_RETYPE",
    "USERNAME_RESET_CONFIRM_RETYPE",
    "LOGOUT_ON_PASSWORD_CHANGE",
    "PASSWORD_RESET_SHOW_EMAIL_NOT_FOUND",
    "USERNAME_RESET_SHOW_EMAIL_NOT_FOUND",
    "HIDE_USERS",
    "EMAIL_CHANGE_CONFIRMATION",
    "EMAIL_CHANGE_CONFIRM_URL",
    "EMAIL_CHANGE_CANCEL_URL",
    "LOGIN_FIELD",
    "DOMAIN",
    "SITE_NAME",
    "PROTOCOL",
    "PASSWORD_RESET_TIMEOUT",
    "DEFAULT_FROM_EMAIL",
    "EMAIL_BACKEND",
    "EMAIL_WEBHOOK_URL",
    "EMAIL_WEBHOOK_SECRET",
    "RESEND_API_KEY",
    // simplejwt
    "ACCESS_TOKEN_LIFETIME",
    "REFRESH_TOKEN_LIFETIME",
    "ROTATE_REFRESH_TOKENS",
    "BLACKLIST_AFTER_ROTATION",
    "REFRESH_TOKEN_SLIDING",
    "UPDATE_LAST_LOGIN",
    "LEEWAY",
    "AUTH_HEADER_TYPES",
    "SIGNING_KEY",
    "SIGNING_KEY_FALLBACKS",
    "ALGORITHM",
    "JWT_PRIVATE_JWKS",
    "ISSUER",
    "AUDIENCE",
    // this service
    "REFRESH_REUSE_GRACE",
    "ARGON2_MEMORY_KIB",
    "ARGON2_ITERATIONS",
    "ARGON2_PARALLELISM",
    "MAX_BODY_BYTES",
    "CORS_ALLOWED_ORIGINS",
    "RATE_LIMITS",
    "RATE_LIMIT_LOGIN",
    "RATE_LIMIT_LOGIN_ACCOUNT",
    "RATE_LIMIT_REGISTER",
    "RATE_LIMIT_EMAIL",
    "RATE_LIMIT_CONFIRM",
    "RATE_LIMIT_REFRESH",
    "DEBUG",
    "EVENTS_RETENTION_DAYS",
    "EVENTS_WEBHOOK_URL",
    "EVENTS_WEBHOOK_SECRET",
    "MFA_ENCRYPTION_KEY",
    "MFA_ISSUER",
    "MFA_CHANGE_ENDS_OTHER_SESSIONS",
    "WEBAUTHN_RP_ID",
    "WEBAUTHN_RP_NAME",
    "WEBAUTHN_ORIGIN",
    "WEBAUTHN_CHALLENGE_LENGTH",
    "WEBAUTHN_UKEY_LENGTH",
    "WEBAUTHN_USER_VERIFICATION",
    "WEBAUTHN_LOGIN_RESPONSE",
    "SQL_TRACE",
    // djoser's customisation points
    "USER_EXTRA_FIELDS",
    "USER_FIELDS",
    "REQUIRED_FIELDS",
    "PERMISSIONS_USER_CREATE",
    "PERMISSIONS_USER",
    "PERMISSIONS_USER_LIST",
    "PERMISSIONS_USER_DELETE",
    "EMAIL_TEMPLATE_OVERRIDES",
    "EMAIL_WEBHOOK_CONTEXT",
    "ACCESS_TOKEN_CLAIMS",
    // dj-rest-auth
    "JWT_AUTH_COOKIE",
    "JWT_AUTH_REFRESH_COOKIE",
    "JWT_AUTH_REFRESH_COOKIE_PATH",
    "JWT_AUTH_SECURE",
    "JWT_AUTH_HTTPONLY",
    "JWT_AUTH_SAMESITE",
    "JWT_AUTH_COOKIE_DOMAIN",
    "JWT_AUTH_COOKIE_USE_CSRF",
    // djoser.social and python-social-auth (docs/social.md)
    "SOCIAL_AUTH_ALLOWED_REDIRECT_URIS",
    "SOCIAL_AUTH_ASSOCIATE_BY_EMAIL",
    "SOCIAL_AUTH_OIDC_KEY",
    "SOCIAL_AUTH_OIDC_SECRET",
    "SOCIAL_AUTH_OIDC_SCOPE",
    "SOCIAL_AUTH_OIDC_OIDC_ENDPOINT",
    "SOCIAL_AUTH_GOOGLE_OAUTH2_KEY",
    "SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET",
    "SOCIAL_AUTH_GOOGLE_OAUTH2_SCOPE",
    "SOCIAL_AUTH_GITHUB_KEY",
    "SOCIAL_AUTH_GITHUB_SECRET",
    "SOCIAL_AUTH_GITHUB_SCOPE",
    "SOCIAL_AUTH_GITHUB_AUTHORIZATION_URL",
    "SOCIAL_AUTH_GITHUB_ACCESS_TOKEN_URL",
    "SOCIAL_AUTH_GITHUB_API_URL",
];

/// The keys that are secrets: set with `wrangler secret put` (and `.dev.vars` locally), never
/// in wrangler.toml `[vars]`, which is committed.
pub const SECRET_KEYS: &[&str] = &[
    "SIGNING_KEY",
    "SIGNING_KEY_FALLBACKS",
    "JWT_PRIVATE_JWKS",
    "EMAIL_WEBHOOK_SECRET",
    "RESEND_API_KEY",
    "EVENTS_WEBHOOK_SECRET",
    "MFA_ENCRYPTION_KEY",
    "SOCIAL_AUTH_OIDC_SECRET",
    "SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET",
    "SOCIAL_AUTH_GITHUB_SECRET",
];

/// Shortest SIGNING_KEY accepted: 256 bits (RFC 7518 3.2 for HS256).
pub const MIN_SIGNING_KEY_BYTES: usize = 32;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            send_activation_email: true,
            send_confirmation_email: true,
            password_changed_email_confirmation: true,
            username_changed_email_confirmation: true,
            activation_url: "activate/{uid}/{token}".into(),
            password_reset_confirm_url: "password/reset/confirm/{uid}/{token}".into(),
            username_reset_confirm_url: "username/reset/confirm/{uid}/{token}".into(),
            user_create_password_retype: false,
            set_password_retype: false,
            password_reset_confirm_retype: false,
            set_username_retype: false,
            username_reset_confirm_retype: false,
            logout_on_password_change: false,
            password_reset_show_email_not_found: false,
            username_reset_show_email_not_found: false,
            hide_users: true,
            email_change_confirmation: true,
            events_retention_days: 90,
            events_webhook_url: None,
            events_webhook_secret: None,
            email_change_confirm_url: "email/change/confirm/{uid}/{token}".into(),
            email_change_cancel_url: "email/change/cancel/{uid}/{token}".into(),
            login_field: LoginField::Username,
            domain: "localhost:3000".into(),
            site_name: "djoser-edge".into(),
            protocol: "https".into(),
            password_reset_timeout: 259_200,
            default_from_email: "webmaster@localhost".into(),
            email_backend: EmailBackend::Console,
            email_webhook_url: None,
            email_webhook_secret: None,
            resend_api_key: None,
            access_token_lifetime: 300,
            refresh_token_lifetime: 86_400,
            rotate_refresh_tokens: true,
            blacklist_after_rotation: true,
            refresh_token_sliding: false,
            update_last_login: false,
            leeway: 0,
            auth_header_types: vec!["Bearer".into(), "JWT".into()],
            signing_key: None,
            mfa_encryption_key: None,
            mfa_issuer: None,
            mfa_change_ends_other_sessions: false,
            webauthn_rp_id: None,
            webauthn_rp_name: None,
            webauthn_origin: None,
            webauthn_challenge_length: 32,
            webauthn_ukey_length: 20,
            webauthn_user_verification: false,
            webauthn_login_jwt: false,
            sql_trace: false,
            signing_key_fallbacks: Vec::new(),
            algorithm: JwtAlgorithm::Hs256,
            jwt_private_jwks: None,
            issuer: None,
            audience: None,
            refresh_reuse_grace: 10,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            max_body_bytes: 65_536,
            cors_allowed_origins: Vec::new(),
            rate_limits: true,
            rate_limit_login: RateLimit {
                count: 10,
                window: 60,
            },
            rate_limit_login_account: RateLimit {
                count: 100,
                window: 3600,
            },
            rate_limit_register: RateLimit {
                count: 20,
                window: 3600,
            },
            rate_limit_email: RateLimit {
                count: 5,
                window: 3600,
            },
            rate_limit_confirm: RateLimit {
                count: 20,
                window: 600,
            },
            rate_limit_refresh: RateLimit {
                count: 60,
                window: 60,
            },
            debug: false,
            cookies: None,
            user_fields: Vec::new(),
            email_required: false,
            permissions: Permissions::default(),
            access_token_claims: Vec::new(),
            social: SocialSettings::default(),
            email_template_overrides: false,
            email_webhook_context: false,
        }
    }
}

/// A boolean setting as every key reads it: true/1/yes/on or false/0/no/off, any case.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Collects parse problems so that one error names every bad key at once.
struct Reader<F> {
    lookup: F,
    problems: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    fn raw(&self, key: &str) -> Option<String> {
        (self.lookup)(key).map(|v| v.trim().to_string())
    }

    fn bool(&mut self, key: &str, slot: &mut bool) {
        if let Some(v) = self.raw(key) {
            match parse_bool(&v) {
                Some(b) => *slot = b,
                None => self
                    .problems
                    .push(format!("{key}: expected true or false, got {v:?}")),
            }
        }
    }

    fn int(&mut self, key: &str, slot: &mut i64, min: i64, max: i64) {
        if let Some(v) = self.raw(key) {
            match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => *slot = n,
                _ => self.problems.push(format!(
                    "{key}: expected a whole number from {min} to {max}, got {v:?}"
                )),
            }
        }
    }

    fn u32(&mut self, key: &str, slot: &mut u32, min: u32, max: u32) {
        let mut n = i64::from(*slot);
        self.int(key, &mut n, i64::from(min), i64::from(max));
        *slot = u32::try_from(n).unwrap_or(*slot);
    }

    fn string(&mut self, key: &str, slot: &mut String) {
        if let Some(v) = self.raw(key) {
            *slot = v;
        }
    }

    fn optional(&mut self, key: &str) -> Option<String> {
        self.raw(key).filter(|v| !v.is_empty())
    }

    fn url_template(&mut self, key: &str, slot: &mut String) {
        self.string(key, slot);
        if !(slot.contains("{uid}") && slot.contains("{token}")) {
            self.problems.push(format!(
                "{key}: must contain both {{uid}} and {{token}}, got {slot:?}"
            ));
        }
    }

    fn rate(&mut self, key: &str, slot: &mut RateLimit) {
        if let Some(v) = self.raw(key) {
            let parsed = v.split_once('/').and_then(|(c, w)| {
                let count = c.trim().parse::<u32>().ok()?;
                let window = w.trim().parse::<i64>().ok()?;
                (count > 0 && (1..=MAX_RATE_WINDOW).contains(&window))
                    .then_some(RateLimit { count, window })
            });
            match parsed {
                Some(r) => *slot = r,
                // The value itself is not repeated: this text reaches anonymous clients.
                None => self.problems.push(format!(
                    "{key}: expected COUNT/SECONDS such as 10/60 (both above zero, at most \
                     {MAX_RATE_WINDOW} seconds)"
                )),
            }
        }
    }
}

/// True when `name` is an RFC 6265 cookie-name token (no separators, controls or spaces).
fn is_cookie_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    /// dj-rest-auth's JWT_AUTH_* keys: `None` unless JWT_AUTH_COOKIE names the access cookie.
    /// The other keys only mean something in cookie mode and are ignored without it.
    fn cookies(&mut self) -> Option<CookieSettings> {
        let access_name = self.optional("JWT_AUTH_COOKIE")?;
        let mut secure = true;
        self.bool("JWT_AUTH_SECURE", &mut secure);
        let mut http_only = true;
        self.bool("JWT_AUTH_HTTPONLY", &mut http_only);
        let mut use_csrf = true;
        self.bool("JWT_AUTH_COOKIE_USE_CSRF", &mut use_csrf);
        let refresh_name = self.optional("JWT_AUTH_REFRESH_COOKIE").unwrap_or_else(|| {
            if secure {
                "__Secure-refresh"
            } else {
                "refresh"
            }
            .to_string()
        });
        let refresh_path = self
            .optional("JWT_AUTH_REFRESH_COOKIE_PATH")
            .unwrap_or_else(|| "/auth/jwt/".to_string());
        let same_site = match self.optional("JWT_AUTH_SAMESITE").as_deref() {
            None => SameSite::Strict,
            Some(v) if v.eq_ignore_ascii_case("strict") => SameSite::Strict,
            Some(v) if v.eq_ignore_ascii_case("lax") => SameSite::Lax,
            Some(v) if v.eq_ignore_ascii_case("none") => SameSite::None,
            Some(v) => {
                self.problems.push(format!(
                    "JWT_AUTH_SAMESITE: expected Strict, Lax or None, got {v:?}"
                ));
                SameSite::Strict
            }
        };
        let domain = self.optional("JWT_AUTH_COOKIE_DOMAIN");
        let c = CookieSettings {
            access_name,
            refresh_name,
            refresh_path,
            secure,
            http_only,
            same_site,
            domain,
            use_csrf,
        };
        for (key, name, path) in [
            ("JWT_AUTH_COOKIE", &c.access_name, "/"),
            (
                "JWT_AUTH_REFRESH_COOKIE",
                &c.refresh_name,
                c.refresh_path.as_str(),
            ),
        ] {
            if !is_cookie_token(name) {
                self.problems
                    .push(format!("{key}: not a valid cookie name: {name:?}"));
            }
            if name.starts_with("__Secure-") && !c.secure {
                self.problems.push(format!(
                    "{key}: a __Secure- cookie needs JWT_AUTH_SECURE=true"
                ));
            }
            if name.starts_with("__Host-") && (!c.secure || c.domain.is_some() || path != "/") {
                self.problems.push(format!(
                    "{key}: a __Host- cookie needs JWT_AUTH_SECURE=true, no \
                     JWT_AUTH_COOKIE_DOMAIN and the path /"
                ));
            }
        }
        if c.access_name == c.refresh_name
            || [&c.access_name, &c.refresh_name].contains(&&"csrftoken".to_string())
        {
            self.problems.push(
                "JWT_AUTH_REFRESH_COOKIE: the access, refresh and csrftoken cookies need \
                 distinct names"
                    .into(),
            );
        }
        if !c.refresh_path.starts_with('/')
            || !c
                .refresh_path
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b';')
        {
            self.problems.push(format!(
                "JWT_AUTH_REFRESH_COOKIE_PATH: expected a path starting with /, got {:?}",
                c.refresh_path
            ));
        }
        if let Some(d) = &c.domain {
            if !d
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            {
                self.problems
                    .push(format!("JWT_AUTH_COOKIE_DOMAIN: not a host name: {d:?}"));
            }
        }
        if c.same_site == SameSite::None && !c.secure {
            self.problems
                .push("JWT_AUTH_SAMESITE: None needs JWT_AUTH_SECURE=true".into());
        }
        Some(c)
    }
}

impl Settings {
    /// Builds the settings from any key lookup (the Worker's env, or a map in tests), on top of the
    /// defaults. A missing SIGNING_KEY is not an error here (`signing_key` stays `None` and token work
    /// is refused at request time); a present but short one is.
    pub fn from_lookup<F: Fn(&str) -> Option<String>>(lookup: F) -> Result<Settings, ConfigError> {
        let mut s = Settings::default();
        let mut r = Reader {
            lookup,
            problems: Vec::new(),
        };

        r.bool("SEND_ACTIVATION_EMAIL", &mut s.send_activation_email);
        r.bool("SEND_CONFIRMATION_EMAIL", &mut s.send_confirmation_email);
        r.bool(
            "PASSWORD_CHANGED_EMAIL_CONFIRMATION",
            &mut s.password_changed_email_confirmation,
        );
        r.bool(
            "USERNAME_CHANGED_EMAIL_CONFIRMATION",
            &mut s.username_changed_email_confirmation,
        );
        r.url_template("ACTIVATION_URL", &mut s.activation_url);
        r.url_template(
            "PASSWORD_RESET_CONFIRM_URL",
            &mut s.password_reset_confirm_url,
        );
        r.url_template(
            "USERNAME_RESET_CONFIRM_URL",
            &mut s.username_reset_confirm_url,
        );
        r.bool(
            "USER_CREATE_PASSWORD_RETYPE",
            &mut s.user_create_password_retype,
        );
        r.bool("SET_PASSWORD_RETYPE", &mut s.set_password_retype);
        r.bool(
            "PASSWORD_RESET_CONFIRM_RETYPE",
            &mut s.password_reset_confirm_retype,
        );
        r.bool("SET_USERNAME_RETYPE", &mut s.set_username_retype);
        r.bool(
            "USERNAME_RESET_CONFIRM_RETYPE",
            &mut s.username_reset_confirm_retype,
        );
        r.bool(
            "LOGOUT_ON_PASSWORD_CHANGE",
            &mut s.logout_on_password_change,
        );
        r.bool(
            "PASSWORD_RESET_SHOW_EMAIL_NOT_FOUND",
            &mut s.password_reset_show_email_not_found,
        );
        r.bool(
            "USERNAME_RESET_SHOW_EMAIL_NOT_FOUND",
            &mut s.username_reset_show_email_not_found,
        );
        r.bool("HIDE_USERS", &mut s.hide_users);
        r.bool(
            "EMAIL_CHANGE_CONFIRMATION",
            &mut s.email_change_confirmation,
        );
        r.url_template("EMAIL_CHANGE_CONFIRM_URL", &mut s.email_change_confirm_url);
        r.url_template("EMAIL_CHANGE_CANCEL_URL", &mut s.email_change_cancel_url);
        if let Some(v) = r.raw("LOGIN_FIELD") {
            match v.as_str() {
                "username" => s.login_field = LoginField::Username,
                "email" => s.login_field = LoginField::Email,
                _ => r.problems.push(format!(
                    "LOGIN_FIELD: expected username or email, got {v:?}"
                )),
            }
        }
        r.string("DOMAIN", &mut s.domain);
        r.string("SITE_NAME", &mut s.site_name);
        r.string("PROTOCOL", &mut s.protocol);
        if s.protocol != "http" && s.protocol != "https" {
            r.problems.push(format!(
                "PROTOCOL: expected http or https, got {:?}",
                s.protocol
            ));
        }
        r.int(
            "PASSWORD_RESET_TIMEOUT",
            &mut s.password_reset_timeout,
            1,
            31_536_000,
        );
        r.string("DEFAULT_FROM_EMAIL", &mut s.default_from_email);
        if let Some(v) = r.raw("EMAIL_BACKEND") {
            match v.as_str() {
                "console" => s.email_backend = EmailBackend::Console,
                "webhook" => s.email_backend = EmailBackend::Webhook,
                "resend" => s.email_backend = EmailBackend::Resend,
                "cloudflare" => s.email_backend = EmailBackend::Cloudflare,
                _ => r.problems.push(format!(
                    "EMAIL_BACKEND: expected console, webhook, resend or cloudflare, got {v:?}"
                )),
            }
        }
        r.int(
            "EVENTS_RETENTION_DAYS",
            &mut s.events_retention_days,
            1,
            36_500,
        );
        s.events_webhook_url = r.optional("EVENTS_WEBHOOK_URL");
        s.events_webhook_secret = r.optional("EVENTS_WEBHOOK_SECRET");
        match (&s.events_webhook_url, &s.events_webhook_secret) {
            (Some(url), _) if !url.starts_with("https://") && !url.starts_with("http://") => {
                r.problems.push(format!(
                    "EVENTS_WEBHOOK_URL: expected an http(s) URL, got {url:?}"
                ))
            }
            (Some(_), None) => r
                .problems
                .push("EVENTS_WEBHOOK_SECRET: required when EVENTS_WEBHOOK_URL is set".into()),
            (_, Some(secret)) if secret.chars().count() < 32 => r
                .problems
                .push("EVENTS_WEBHOOK_SECRET: must be at least 32 characters".into()),
            _ => {}
        }
        s.email_webhook_url = r.optional("EMAIL_WEBHOOK_URL");
        s.email_webhook_secret = r.optional("EMAIL_WEBHOOK_SECRET");
        s.resend_api_key = r.optional("RESEND_API_KEY");
        match s.email_backend {
            EmailBackend::Webhook if s.email_webhook_url.is_none() => r
                .problems
                .push("EMAIL_WEBHOOK_URL: required when EMAIL_BACKEND is webhook".into()),
            EmailBackend::Resend if s.resend_api_key.is_none() => r
                .problems
                .push("RESEND_API_KEY: required when EMAIL_BACKEND is resend".into()),
            _ => {}
        }

        r.int(
            "ACCESS_TOKEN_LIFETIME",
            &mut s.access_token_lifetime,
            1,
            31_536_000,
        );
        r.int(
            "REFRESH_TOKEN_LIFETIME",
            &mut s.refresh_token_lifetime,
            60,
            31_536_000,
        );
        r.bool("ROTATE_REFRESH_TOKENS", &mut s.rotate_refresh_tokens);
        r.bool("BLACKLIST_AFTER_ROTATION", &mut s.blacklist_after_rotation);
        r.bool("REFRESH_TOKEN_SLIDING", &mut s.refresh_token_sliding);
        r.bool("UPDATE_LAST_LOGIN", &mut s.update_last_login);
        r.int("LEEWAY", &mut s.leeway, 0, 3600);
        if let Some(v) = r.raw("AUTH_HEADER_TYPES") {
            let words: Vec<String> = v
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect();
            if words.is_empty() {
                r.problems
                    .push("AUTH_HEADER_TYPES: needs at least one word".into());
            } else {
                s.auth_header_types = words;
            }
        }
        if let Some(key) = r.optional("SIGNING_KEY") {
            if key.len() < MIN_SIGNING_KEY_BYTES {
                r.problems.push(format!(
                    "SIGNING_KEY: must be at least {MIN_SIGNING_KEY_BYTES} bytes of random data, got {}",
                    key.len()
                ));
            } else {
                s.signing_key = Some(key.into_bytes());
            }
        }
        if let Some(v) = r.optional("SIGNING_KEY_FALLBACKS") {
            for (i, key) in v
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|k| !k.is_empty())
                .enumerate()
            {
                if key.len() < MIN_SIGNING_KEY_BYTES {
                    // Neither the key nor its length: this text reaches the log.
                    r.problems.push(format!(
                        "SIGNING_KEY_FALLBACKS: key {} is shorter than {MIN_SIGNING_KEY_BYTES} bytes",
                        i + 1
                    ));
                } else {
                    s.signing_key_fallbacks.push(key.as_bytes().to_vec());
                }
            }
        }

        if let Some(key) = r.optional("MFA_ENCRYPTION_KEY") {
            if key.len() < MIN_SIGNING_KEY_BYTES {
                r.problems.push(format!(
                    "MFA_ENCRYPTION_KEY: must be at least {MIN_SIGNING_KEY_BYTES} bytes of random data, got {}",
                    key.len()
                ));
            } else {
                s.mfa_encryption_key = Some(key.into_bytes());
            }
        }
        s.mfa_issuer = r.optional("MFA_ISSUER");
        r.bool(
            "MFA_CHANGE_ENDS_OTHER_SESSIONS",
            &mut s.mfa_change_ends_other_sessions,
        );
        r.bool("SQL_TRACE", &mut s.sql_trace);
        s.webauthn_rp_id = r.optional("WEBAUTHN_RP_ID");
        s.webauthn_rp_name = r.optional("WEBAUTHN_RP_NAME");
        s.webauthn_origin = r.optional("WEBAUTHN_ORIGIN");
        r.int(
            "WEBAUTHN_CHALLENGE_LENGTH",
            &mut s.webauthn_challenge_length,
            16,
            128,
        );
        if s.webauthn_challenge_length % 4 != 0 {
            // A length that is not a multiple of 4 does not survive the browser's base64url
            // round trip unchanged (djoser's challenge is the base64url text itself).
            r.problems.push(format!(
                "WEBAUTHN_CHALLENGE_LENGTH: must be a multiple of 4, got {}",
                s.webauthn_challenge_length
            ));
            s.webauthn_challenge_length = 32;
        }
        r.int("WEBAUTHN_UKEY_LENGTH", &mut s.webauthn_ukey_length, 16, 64);
        r.bool(
            "WEBAUTHN_USER_VERIFICATION",
            &mut s.webauthn_user_verification,
        );
        if let Some(v) = r.raw("WEBAUTHN_LOGIN_RESPONSE") {
            match v.as_str() {
                "token" => s.webauthn_login_jwt = false,
                "jwt" => s.webauthn_login_jwt = true,
                _ => r.problems.push(format!(
                    "WEBAUTHN_LOGIN_RESPONSE: expected token or jwt, got {v:?}"
                )),
            }
        }
        if let (Some(id), Some(origin)) = (&s.webauthn_rp_id, &s.webauthn_origin) {
            let host = origin
                .split_once("://")
                .map(|(_, rest)| rest.split(':').next().unwrap_or(""))
                .unwrap_or("");
            if !(host == id || host.ends_with(&format!(".{id}"))) {
                r.problems.push(format!(
                    "WEBAUTHN_ORIGIN: {origin:?} is not on WEBAUTHN_RP_ID {id:?} or a subdomain of it"
                ));
            }
            // Browsers run WebAuthn only in a secure context: https, or http on localhost.
            let local = host == "localhost" || host.ends_with(".localhost");
            if !(origin.starts_with("https://") || (origin.starts_with("http://") && local)) {
                r.problems.push(format!(
                    "WEBAUTHN_ORIGIN: {origin:?} must be https:// (http:// only on localhost)"
                ));
            }
        }

        if let Some(v) = r.raw("ALGORITHM") {
            match JwtAlgorithm::parse(&v) {
                Some(algorithm) => s.algorithm = algorithm,
                None => r.problems.push(format!(
                    "ALGORITHM: expected HS256, ES256 or EdDSA, got {v:?}"
                )),
            }
        }
        match (r.optional("JWT_PRIVATE_JWKS"), s.algorithm) {
            (None, JwtAlgorithm::Hs256) => {}
            (None, algorithm) => r.problems.push(format!(
                "JWT_PRIVATE_JWKS: required when ALGORITHM is {}",
                algorithm.name()
            )),
            (Some(text), algorithm) => match AsymmetricKeys::from_json(algorithm, &text) {
                Ok(keys) => s.jwt_private_jwks = Some(Arc::new(keys)),
                Err(problems) => r.problems.extend(problems),
            },
        }
        s.issuer = r.optional("ISSUER");
        s.audience = r.optional("AUDIENCE");

        r.int("REFRESH_REUSE_GRACE", &mut s.refresh_reuse_grace, 0, 300);
        r.u32("ARGON2_MEMORY_KIB", &mut s.argon2_memory_kib, 8, 1_048_576);
        r.u32("ARGON2_ITERATIONS", &mut s.argon2_iterations, 1, 100);
        r.u32("ARGON2_PARALLELISM", &mut s.argon2_parallelism, 1, 16);
        let mut body = s.max_body_bytes as i64;
        r.int("MAX_BODY_BYTES", &mut body, 1024, 10_485_760);
        s.max_body_bytes = usize::try_from(body).unwrap_or(s.max_body_bytes);
        if let Some(v) = r.raw("CORS_ALLOWED_ORIGINS") {
            s.cors_allowed_origins = v
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|w| !w.is_empty())
                .map(|w| w.trim_end_matches('/').to_string())
                .collect();
        }
        r.bool("RATE_LIMITS", &mut s.rate_limits);
        r.rate("RATE_LIMIT_LOGIN", &mut s.rate_limit_login);
        r.rate("RATE_LIMIT_LOGIN_ACCOUNT", &mut s.rate_limit_login_account);
        r.rate("RATE_LIMIT_REGISTER", &mut s.rate_limit_register);
        r.rate("RATE_LIMIT_EMAIL", &mut s.rate_limit_email);
        r.rate("RATE_LIMIT_CONFIRM", &mut s.rate_limit_confirm);
        r.rate("RATE_LIMIT_REFRESH", &mut s.rate_limit_refresh);
        r.bool("DEBUG", &mut s.debug);
        s.cookies = r.cookies();
        customisation::read(&mut r, &mut s);
        social::read(&mut r, &mut s);
        if s.cookies.is_some() && s.cors_allowed_origins.iter().any(|o| o == "*") {
            r.problems.push(
                "CORS_ALLOWED_ORIGINS: cannot be * in cookie mode (JWT_AUTH_COOKIE): list the \
                 exact origins that may send credentials"
                    .into(),
            );
        }

        if r.problems.is_empty() {
            Ok(s)
        } else {
            Err(ConfigError {
                problems: r.problems,
            })
        }
    }

    /// Problems that leave the Worker unable to do its work although every value parsed: logged
    /// at isolate start with the parse errors, and errors for `npm run check`.
    pub fn missing(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.signing_key.is_none() {
            out.push(
                "SIGNING_KEY: not set; set it with `wrangler secret put SIGNING_KEY` (32+ random \
                 bytes): every token endpoint answers 500 without it"
                    .to_string(),
            );
        }
        out
    }

    /// The secrets this configuration needs, by name (`npm run check -- --secrets` for production).
    pub fn required_secrets(&self) -> Vec<&'static str> {
        let mut out = vec!["SIGNING_KEY"];
        if self.algorithm != JwtAlgorithm::Hs256 {
            out.push("JWT_PRIVATE_JWKS");
        }
        if self.email_backend == EmailBackend::Resend {
            out.push("RESEND_API_KEY");
        }
        out
    }

    /// Settings that work but are unsafe outside local development, each as a line for the log.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.email_backend == EmailBackend::Console {
            out.push(
                "EMAIL_BACKEND=console writes every e-mail, live activation and reset links \
                 included, to the Worker log: use it for local development only"
                    .to_string(),
            );
        }
        if self.protocol != "https" {
            out.push(format!(
                "PROTOCOL={:?}: e-mailed links are not https; use it for local development only",
                self.protocol
            ));
        }
        if self.sql_trace {
            out.push(
                "SQL_TRACE=true logs every distinct D1 statement: for the query-plan test only"
                    .to_string(),
            );
        }
        if self.debug {
            out.push(
                "DEBUG=true shows configuration errors to every client: use it for local \
                 development only"
                    .to_string(),
            );
        }
        social::warnings(&self.social, &mut out);
        out
    }

    /// The keys JWTs are signed and verified with, with ISSUER and AUDIENCE; `None` when
    /// HS256 has no SIGNING_KEY.
    pub fn jwt_keys(&self) -> Option<JwtKeys> {
        let keys = match (&self.jwt_private_jwks, self.algorithm) {
            (_, JwtAlgorithm::Hs256) => JwtKeys::hs256(self.signing_key.as_deref()?)
                .with_fallbacks(&self.signing_key_fallbacks),
            (Some(set), _) => JwtKeys::asymmetric(Arc::clone(set)),
            (None, _) => return None,
        };
        Some(keys.with_claims(self.issuer.clone(), self.audience.clone()))
    }

    /// The word used in `WWW-Authenticate` challenges (simplejwt: the first AUTH_HEADER_TYPES entry).
    pub fn challenge_word(&self) -> &str {
        self.auth_header_types
            .first()
            .map(String::as_str)
            .unwrap_or("Bearer")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Settings from `KEY, value` pairs (also the customisation module's tests).
    pub(super) fn from(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    /// The `[vars]` of the shipped wrangler.toml: `KEY = "value"` lines, comments stripped.
    fn shipped_vars() -> std::collections::HashMap<String, String> {
        let toml = include_str!("../wrangler.toml");
        let mut in_vars = false;
        let mut vars = std::collections::HashMap::new();
        for line in toml.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_vars = line == "[vars]";
                continue;
            }
            let Some((key, rest)) = line.split_once('=').filter(|_| in_vars) else {
                continue;
            };
            let value = rest.trim().trim_start_matches('"');
            let value = value.split('"').next().unwrap_or_default();
            vars.insert(key.trim().to_string(), value.to_string());
        }
        vars
    }

    #[test]
    fn every_key_read_is_known_and_every_known_key_is_read() {
        use std::cell::RefCell;
        let asked = RefCell::new(std::collections::BTreeSet::new());
        // Two runs: the defaults, and cookie mode (its keys are read only when it is on).
        for cookie in [None, Some("access")] {
            let _ = Settings::from_lookup(|key| {
                asked.borrow_mut().insert(key.to_string());
                (key == "JWT_AUTH_COOKIE").then(|| cookie.map(str::to_string))?
            });
        }
        let asked = asked.into_inner();
        let unknown: Vec<&String> = asked
            .iter()
            .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
            .collect();
        assert!(
            unknown.is_empty(),
            "read but not in KNOWN_KEYS: {unknown:?}"
        );
        let unread: Vec<&&str> = KNOWN_KEYS.iter().filter(|k| !asked.contains(**k)).collect();
        assert!(
            unread.is_empty(),
            "in KNOWN_KEYS but never read: {unread:?}"
        );
        assert!(SECRET_KEYS.iter().all(|k| KNOWN_KEYS.contains(k)));
    }

    #[test]
    fn signing_key_fallbacks_split_like_djangos_list_and_refuse_short_keys() {
        let a = "a".repeat(MIN_SIGNING_KEY_BYTES);
        let b = "b".repeat(40);
        let s = from(&[("SIGNING_KEY_FALLBACKS", &format!(" {a},\n{b}  ,"))]).unwrap();
        assert_eq!(
            s.signing_key_fallbacks,
            vec![a.as_bytes().to_vec(), b.as_bytes().to_vec()]
        );
        assert!(from(&[]).unwrap().signing_key_fallbacks.is_empty());
        let e = from(&[("SIGNING_KEY_FALLBACKS", &format!("{a} hunter2"))])
            .err()
            .unwrap();
        assert_eq!(
            e.problems,
            ["SIGNING_KEY_FALLBACKS: key 2 is shorter than 32 bytes"]
        );
    }

    #[test]
    fn a_missing_signing_key_is_reported_and_debug_is_a_warning() {
        let s = from(&[]).unwrap();
        assert!(s.missing()[0].starts_with("SIGNING_KEY: not set"));
        assert!(!s.debug);
        let s = from(&[("SIGNING_KEY", &"k".repeat(32)), ("DEBUG", "true")]).unwrap();
        assert!(s.missing().is_empty());
        assert!(s.warnings().iter().any(|w| w.starts_with("DEBUG=true")));
        assert_eq!(s.required_secrets(), ["SIGNING_KEY"]);
    }

    #[test]
    fn the_shipped_wrangler_vars_are_production_safe() {
        let vars = shipped_vars();
        assert_eq!(vars.get("PROTOCOL").map(String::as_str), Some("https"));
        let settings = Settings::from_lookup(|key| match key {
            "SIGNING_KEY" => Some("k".repeat(MIN_SIGNING_KEY_BYTES)),
            other => vars.get(other).cloned(),
        })
        .unwrap();
        assert_eq!(settings.warnings(), Vec::<String>::new());
    }

    #[test]
    fn development_values_are_warned_about_and_production_ones_are_not() {
        let dev = Settings {
            protocol: "http".into(),
            ..Settings::default()
        };
        assert_eq!(dev.warnings().len(), 2);
        let prod = Settings {
            email_backend: EmailBackend::Cloudflare,
            protocol: "https".into(),
            ..Settings::default()
        };
        assert!(prod.warnings().is_empty());
    }

    #[test]
    fn empty_environment_gives_djoser_defaults() {
        let s = from(&[]).unwrap();
        assert!(s.send_activation_email && s.rotate_refresh_tokens && s.blacklist_after_rotation);
        assert_eq!(s.access_token_lifetime, 300);
        assert_eq!(s.refresh_token_lifetime, 86_400);
        assert_eq!(s.leeway, 0);
        assert_eq!(s.password_reset_timeout, 259_200);
        assert_eq!(s.challenge_word(), "Bearer");
        assert!(s.signing_key.is_none());
    }

    #[test]
    fn values_override_defaults() {
        let s = from(&[
            ("SEND_ACTIVATION_EMAIL", "False"),
            ("ACCESS_TOKEN_LIFETIME", "60"),
            ("LOGIN_FIELD", "email"),
            ("AUTH_HEADER_TYPES", "JWT"),
            ("SIGNING_KEY", "0123456789abcdef0123456789abcdef"),
            ("RATE_LIMIT_LOGIN", "3/30"),
        ])
        .unwrap();
        assert!(!s.send_activation_email);
        assert_eq!(s.access_token_lifetime, 60);
        assert_eq!(s.login_field, LoginField::Email);
        assert_eq!(s.challenge_word(), "JWT");
        assert_eq!(
            s.signing_key.as_deref(),
            Some(&b"0123456789abcdef0123456789abcdef"[..])
        );
        assert_eq!(
            s.rate_limit_login,
            RateLimit {
                count: 3,
                window: 30
            }
        );
    }

    #[test]
    fn rate_limits_are_on_by_default_with_the_documented_limits() {
        let s = from(&[]).unwrap();
        assert!(s.rate_limits);
        let limit = |count, window| RateLimit { count, window };
        assert_eq!(s.rate_limit_login, limit(10, 60));
        assert_eq!(s.rate_limit_login_account, limit(100, 3600));
        assert_eq!(s.rate_limit_register, limit(20, 3600));
        assert_eq!(s.rate_limit_email, limit(5, 3600));
        assert_eq!(s.rate_limit_confirm, limit(20, 600));
        assert_eq!(s.rate_limit_refresh, limit(60, 60));
        assert!(s.cors_allowed_origins.is_empty());
    }

    #[test]
    fn rate_limits_switch_off_and_parse_count_per_seconds() {
        let s = from(&[("RATE_LIMITS", "off"), ("RATE_LIMIT_EMAIL", " 2 / 86400 ")]).unwrap();
        assert!(!s.rate_limits);
        assert_eq!(
            s.rate_limit_email,
            RateLimit {
                count: 2,
                window: 86_400
            }
        );
    }

    #[test]
    fn malformed_rate_limits_are_refused_with_the_key_named() {
        for bad in [
            "0/60",
            "10/0",
            "10",
            "a/b",
            "-1/60",
            "10/-5",
            "4294967296/60",
            "10/31536001",
            "10/99999999999999999999",
            "",
            "10/60/5",
        ] {
            let err = from(&[("RATE_LIMIT_LOGIN", bad)]).err();
            let text = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(text.contains("RATE_LIMIT_LOGIN"), "{bad:?} accepted");
        }
        assert!(from(&[("RATE_LIMITS", "maybe")]).is_err());
    }

    #[test]
    fn cors_origins_are_split_on_commas_and_spaces_without_trailing_slashes() {
        let s = from(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://a.example, https://b.example/  http://localhost:3000,,",
        )])
        .unwrap();
        assert_eq!(
            s.cors_allowed_origins,
            vec![
                "https://a.example",
                "https://b.example",
                "http://localhost:3000"
            ]
        );
    }

    #[test]
    fn every_bad_key_is_named_in_one_error() {
        let err = from(&[
            ("SEND_ACTIVATION_EMAIL", "maybe"),
            ("ACCESS_TOKEN_LIFETIME", "-5"),
            ("SIGNING_KEY", "short"),
            ("ACTIVATION_URL", "activate/{uid}"),
            ("EMAIL_BACKEND", "webhook"),
        ])
        .err()
        .unwrap();
        let text = err.to_string();
        for key in [
            "SEND_ACTIVATION_EMAIL",
            "ACCESS_TOKEN_LIFETIME",
            "SIGNING_KEY",
            "ACTIVATION_URL",
            "EMAIL_WEBHOOK_URL",
        ] {
            assert!(text.contains(key), "{key} missing from {text}");
        }
    }

    #[test]
    fn events_retention_days_is_read_and_bounded() {
        assert_eq!(from(&[]).unwrap().events_retention_days, 90);
        let s = from(&[("EVENTS_RETENTION_DAYS", "30")]).unwrap();
        assert_eq!(s.events_retention_days, 30);
        for bad in ["0", "-1", "lots"] {
            let text = from(&[("EVENTS_RETENTION_DAYS", bad)])
                .err()
                .unwrap()
                .to_string();
            assert!(text.contains("EVENTS_RETENTION_DAYS"), "{bad}: {text}");
        }
    }

    #[test]
    fn webauthn_settings_are_read_and_checked_against_each_other() {
        let off = from(&[]).unwrap();
        assert_eq!(off.webauthn_rp_id, None);
        assert!(!off.webauthn_login_jwt && !off.webauthn_user_verification);
        assert_eq!(
            (off.webauthn_challenge_length, off.webauthn_ukey_length),
            (32, 20)
        );
        let on = from(&[
            ("WEBAUTHN_RP_ID", "example.com"),
            ("WEBAUTHN_ORIGIN", "https://app.example.com:8443"),
            ("WEBAUTHN_LOGIN_RESPONSE", "jwt"),
            ("WEBAUTHN_CHALLENGE_LENGTH", "48"),
            ("WEBAUTHN_USER_VERIFICATION", "true"),
        ])
        .unwrap();
        assert_eq!(on.webauthn_rp_id.as_deref(), Some("example.com"));
        assert!(on.webauthn_login_jwt && on.webauthn_user_verification);
        assert_eq!(on.webauthn_challenge_length, 48);
        for (key, pairs) in [
            (
                "WEBAUTHN_ORIGIN",
                vec![
                    ("WEBAUTHN_RP_ID", "example.com"),
                    ("WEBAUTHN_ORIGIN", "https://example.org"),
                ],
            ),
            (
                "WEBAUTHN_ORIGIN",
                vec![
                    ("WEBAUTHN_RP_ID", "example.com"),
                    ("WEBAUTHN_ORIGIN", "https://badexample.com"),
                ],
            ),
            (
                "WEBAUTHN_CHALLENGE_LENGTH",
                vec![("WEBAUTHN_CHALLENGE_LENGTH", "33")],
            ),
            (
                "WEBAUTHN_CHALLENGE_LENGTH",
                vec![("WEBAUTHN_CHALLENGE_LENGTH", "8")],
            ),
            (
                "WEBAUTHN_UKEY_LENGTH",
                vec![("WEBAUTHN_UKEY_LENGTH", "200")],
            ),
            (
                "WEBAUTHN_LOGIN_RESPONSE",
                vec![("WEBAUTHN_LOGIN_RESPONSE", "cookie")],
            ),
        ] {
            let text = from(&pairs).err().unwrap().to_string();
            assert!(text.contains(key), "{pairs:?}: {text}");
        }
    }

    #[test]
    fn the_events_webhook_needs_an_http_url_and_a_long_secret() {
        let secret = "s".repeat(32);
        let s = from(&[
            ("EVENTS_WEBHOOK_URL", "https://hooks.example/events"),
            ("EVENTS_WEBHOOK_SECRET", &secret),
        ])
        .unwrap();
        assert_eq!(
            s.events_webhook_url.as_deref(),
            Some("https://hooks.example/events")
        );
        assert_eq!(from(&[]).unwrap().events_webhook_url, None);
        for (pairs, key) in [
            (
                vec![("EVENTS_WEBHOOK_URL", "https://hooks.example/events")],
                "EVENTS_WEBHOOK_SECRET: required",
            ),
            (
                vec![
                    ("EVENTS_WEBHOOK_URL", "hooks.example"),
                    ("EVENTS_WEBHOOK_SECRET", secret.as_str()),
                ],
                "EVENTS_WEBHOOK_URL",
            ),
            (
                vec![
                    ("EVENTS_WEBHOOK_URL", "https://hooks.example/events"),
                    ("EVENTS_WEBHOOK_SECRET", "short"),
                ],
                "at least 32",
            ),
        ] {
            let text = from(&pairs).err().unwrap().to_string();
            assert!(text.contains(key), "{key} missing from {text}");
        }
    }

    #[test]
    fn cookie_mode_is_off_by_default_and_the_other_keys_alone_do_not_turn_it_on() {
        assert_eq!(from(&[]).unwrap().cookies, None);
        let s = from(&[("JWT_AUTH_SECURE", "false"), ("JWT_AUTH_HTTPONLY", "x")]).unwrap();
        assert_eq!(s.cookies, None);
    }

    #[test]
    fn cookie_mode_defaults_follow_owasp() {
        let c = from(&[("JWT_AUTH_COOKIE", "__Host-access")])
            .unwrap()
            .cookies
            .unwrap();
        assert_eq!(
            c,
            CookieSettings {
                access_name: "__Host-access".into(),
                refresh_name: "__Secure-refresh".into(),
                refresh_path: "/auth/jwt/".into(),
                secure: true,
                http_only: true,
                same_site: SameSite::Strict,
                domain: None,
                use_csrf: true,
            }
        );
    }

    #[test]
    fn cookie_settings_are_read_from_dj_rest_auths_keys() {
        let c = from(&[
            ("JWT_AUTH_COOKIE", "access"),
            ("JWT_AUTH_REFRESH_COOKIE", "refresh"),
            ("JWT_AUTH_REFRESH_COOKIE_PATH", "/auth/jwt/refresh/"),
            ("JWT_AUTH_SECURE", "false"),
            ("JWT_AUTH_HTTPONLY", "false"),
            ("JWT_AUTH_SAMESITE", "lax"),
            ("JWT_AUTH_COOKIE_DOMAIN", "example.com"),
            ("JWT_AUTH_COOKIE_USE_CSRF", "false"),
        ])
        .unwrap()
        .cookies
        .unwrap();
        assert_eq!(c.refresh_name, "refresh");
        assert_eq!(c.refresh_path, "/auth/jwt/refresh/");
        assert!(!c.secure && !c.http_only && !c.use_csrf);
        assert_eq!(c.same_site, SameSite::Lax);
        assert_eq!(c.domain.as_deref(), Some("example.com"));
        let plain = from(&[("JWT_AUTH_COOKIE", "access"), ("JWT_AUTH_SECURE", "no")]).unwrap();
        assert_eq!(plain.cookies.unwrap().refresh_name, "refresh");
    }

    #[test]
    fn unsafe_or_impossible_cookie_settings_are_refused_with_the_key_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("JWT_AUTH_COOKIE", "a b")], "JWT_AUTH_COOKIE"),
            (
                &[
                    ("JWT_AUTH_COOKIE", "__Host-a"),
                    ("JWT_AUTH_SECURE", "false"),
                ],
                "JWT_AUTH_COOKIE",
            ),
            (
                &[
                    ("JWT_AUTH_COOKIE", "__Host-a"),
                    ("JWT_AUTH_COOKIE_DOMAIN", "example.com"),
                ],
                "JWT_AUTH_COOKIE",
            ),
            (
                &[
                    ("JWT_AUTH_COOKIE", "a"),
                    ("JWT_AUTH_REFRESH_COOKIE", "__Host-r"),
                ],
                "JWT_AUTH_REFRESH_COOKIE",
            ),
            (
                &[
                    ("JWT_AUTH_COOKIE", "a"),
                    ("JWT_AUTH_REFRESH_COOKIE", "__Secure-r"),
                    ("JWT_AUTH_SECURE", "false"),
                ],
                "JWT_AUTH_REFRESH_COOKIE",
            ),
            (
                &[("JWT_AUTH_COOKIE", "a"), ("JWT_AUTH_REFRESH_COOKIE", "a")],
                "JWT_AUTH_REFRESH_COOKIE",
            ),
            (
                &[("JWT_AUTH_COOKIE", "a"), ("JWT_AUTH_SAMESITE", "sometimes")],
                "JWT_AUTH_SAMESITE",
            ),
            (
                &[
                    ("JWT_AUTH_COOKIE", "a"),
                    ("JWT_AUTH_SAMESITE", "None"),
                    ("JWT_AUTH_SECURE", "false"),
                ],
                "JWT_AUTH_SAMESITE",
            ),
            (
                &[
                    ("JWT_AUTH_COOKIE", "a"),
                    ("JWT_AUTH_REFRESH_COOKIE_PATH", "auth"),
                ],
                "JWT_AUTH_REFRESH_COOKIE_PATH",
            ),
            (
                &[
                    ("JWT_AUTH_COOKIE", "a"),
                    ("JWT_AUTH_COOKIE_DOMAIN", "x.com; Path=/"),
                ],
                "JWT_AUTH_COOKIE_DOMAIN",
            ),
            (
                &[("JWT_AUTH_COOKIE", "a"), ("CORS_ALLOWED_ORIGINS", "*")],
                "CORS_ALLOWED_ORIGINS",
            ),
        ];
        for (pairs, key) in cases {
            let text = from(pairs).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(text.contains(key), "{pairs:?} gave {text:?}");
        }
    }

    /// A private Ed25519 JWK from a fixed seed, as `npm run keys -- new EdDSA` prints one.
    fn ed25519_entry(seed: u8, state: &str) -> String {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{}","d":"{}","state":"{state}"}}"#,
            b64(key.verifying_key().as_bytes()),
            b64(&[seed; 32])
        )
    }

    #[test]
    fn algorithm_defaults_to_hs256_and_is_spelled_exactly() {
        let s = from(&[]).unwrap();
        assert_eq!(s.algorithm, JwtAlgorithm::Hs256);
        assert!(s.jwt_keys().is_none());
        for bad in ["hs256", "RS256", "Ed25519", "none", "ES256 ES256"] {
            let e = from(&[("ALGORITHM", bad)]).err().unwrap();
            assert!(e.problems[0].starts_with("ALGORITHM: expected HS256, ES256 or EdDSA"));
        }
    }

    #[test]
    fn an_asymmetric_algorithm_needs_the_key_set_and_builds_it_once() {
        let e = from(&[("ALGORITHM", "EdDSA")]).err().unwrap();
        assert_eq!(
            e.problems,
            ["JWT_PRIVATE_JWKS: required when ALGORITHM is EdDSA"]
        );
        let jwks = format!(r#"{{"keys":[{}]}}"#, ed25519_entry(1, "active"));
        let s = from(&[("ALGORITHM", "EdDSA"), ("JWT_PRIVATE_JWKS", &jwks)]).unwrap();
        let set = s.jwt_private_jwks.as_ref().unwrap();
        assert_eq!(set.states()[0].1, KeyState::Active);
        assert_eq!(
            s.jwt_keys().unwrap().public_jwks()["keys"][0]["alg"],
            "EdDSA"
        );
    }

    #[test]
    fn a_bad_key_set_is_a_configuration_error_naming_the_key() {
        let two = format!(
            r#"{{"keys":[{},{}]}}"#,
            ed25519_entry(1, "active"),
            ed25519_entry(2, "active")
        );
        let e = from(&[("ALGORITHM", "EdDSA"), ("JWT_PRIVATE_JWKS", &two)])
            .err()
            .unwrap();
        assert!(e.problems[0].starts_with("JWT_PRIVATE_JWKS: 2 active keys"));
        let mismatch = format!(r#"{{"keys":[{}]}}"#, ed25519_entry(1, "active"));
        let e = from(&[("ALGORITHM", "ES256"), ("JWT_PRIVATE_JWKS", &mismatch)])
            .err()
            .unwrap();
        assert!(e.problems[0].contains("does not fit ALGORITHM ES256"));
        assert!(!e.to_string().contains(&ed25519_entry(1, "active")[60..]));
        let e = from(&[("JWT_PRIVATE_JWKS", &mismatch)]).err().unwrap();
        assert!(e.problems[0].contains("ALGORITHM is HS256"));
    }

    #[test]
    fn issuer_and_audience_are_optional_strings() {
        let s = from(&[]).unwrap();
        assert_eq!((s.issuer.as_deref(), s.audience.as_deref()), (None, None));
        let s = from(&[("ISSUER", " https://auth.example "), ("AUDIENCE", "web")]).unwrap();
        assert_eq!(s.issuer.as_deref(), Some("https://auth.example"));
        assert_eq!(s.audience.as_deref(), Some("web"));
        let s = from(&[("ISSUER", ""), ("AUDIENCE", "")]).unwrap();
        assert_eq!((s.issuer.as_deref(), s.audience.as_deref()), (None, None));
    }
}
