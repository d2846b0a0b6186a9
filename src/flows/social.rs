//! Social sign-in, djoser's `o/{provider}/` (djoser.social on python-social-auth), without the
//! server-side session: `GET` begins a sign-in and answers the provider's authorization URL;
//! `POST` completes it with the `code` and `state` the provider sent back to the frontend.
//!
//! The `state` names a single-use row in D1 holding what djoser keeps in the session cookie (the
//! redirect URI) and what it does not have: the PKCE verifier (S256, always) and the OpenID
//! Connect nonce. The callback spends the row with one conditional DELETE before it calls the
//! provider, so a replayed, foreign (another provider's) or expired state is refused, and two
//! concurrent callbacks with the same state cannot both sign in.
//!
//! Accounts: an identity is `(provider, subject)`. Its first sign-in creates an active user (a
//! username derived from what the provider says, made unique; the e-mail only when the provider
//! says it is verified). When the verified e-mail already belongs to an account, the identity
//! joins it only with SOCIAL_AUTH_ASSOCIATE_BY_EMAIL; otherwise the sign-in is refused (linking
//! silently is an account-takeover vector: whoever controls an address at a provider that does
//! not really verify it would take over the local account). Inactive users are refused; a user
//! with a second factor gets jwt/create's MFA challenge instead of tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::{Provider, ProviderKind};
use crate::domain::event::EventKind;
use crate::domain::oidc::{self, Discovery, DiscoveryError, Expected, IdTokenError};
use crate::domain::user::{NewUser, ProfileChange, User};
use crate::domain::username::{username_errors, USERNAME_MAX_LENGTH};
use crate::flows::mfa::{self, Purpose};
use crate::flows::session::{self, SignIn, TokenPair};
use crate::flows::throttle::{self, Scope};
use crate::flows::{random, Cx, FlowError};
use crate::messages as msg;
use crate::storage::{
    MfaStore, SessionIndex, SocialLink, SocialState, SocialStore, StorageError, ThrottleStore,
    UserStore,
};
use crate::tokens::auth_token::hex;

/// Seconds between the authorization URL and its callback (python-social-auth keeps the state
/// in the session for as long as the session lives; ten minutes is plenty for a login page).
pub const STATE_LIFETIME: i64 = 600;
/// Clock skew tolerated on the ID token's times (python-social-auth's JWT_LEEWAY is 1 s; a
/// Worker's clock and a provider's differ by more at times).
pub const ID_TOKEN_LEEWAY: i64 = 60;
/// How old an ID token's `iat` may be (python-social-auth's ID_TOKEN_MAX_AGE).
pub const ID_TOKEN_MAX_AGE: i64 = 600;
/// Longest `code` or `state` looked at.
const MAX_PARAM_LEN: usize = 2048;
/// Longest provider answer read (bytes).
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// A provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// The status.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

/// Why a call to a provider got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// No answer within the timeout.
    Timeout,
    /// The connection failed (the cause, for the log).
    Unreachable(String),
}

/// Whether a GET may be answered from the short cache of provider documents (the discovery
/// document and the JWK Set, in KV at the edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// Always fetched (user data).
    Never,
    /// A cached copy will do; a fetched one is kept.
    Allow,
    /// Fetched whatever is cached, and kept (a JWK Set that lacked the token's key).
    Refresh,
}

/// Outbound HTTP to providers: the Worker's `fetch` with a timeout at the edge, a fake in tests.
#[allow(async_fn_in_trait)] // used through generics on one thread; no Send bound is wanted
pub trait Outbound {
    /// GET `url` with `headers`; `cache` says whether a briefly kept copy will do.
    async fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        cache: Cache,
    ) -> Result<HttpAnswer, NetError>;
    /// POST `form` (form-encoded) to `url` with `headers`.
    async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Result<HttpAnswer, NetError>;
}

/// What a provider says about the person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Its stable id at the provider.
    pub subject: String,
    /// The e-mail address, if any.
    pub email: String,
    /// The provider vouches for the address.
    pub email_verified: bool,
    /// Username candidates, best first (preferred_username, GitHub's login, the e-mail's
    /// local part, the name).
    pub username_hints: Vec<String>,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
}

/// `application/x-www-form-urlencoded` of one value (RFC 3986 unreserved kept).
pub fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `endpoint` with `params` appended to its query.
pub fn with_query(endpoint: &str, params: &[(&str, &str)]) -> String {
    let mut url = endpoint.to_string();
    let mut sep = if endpoint.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        url.push(sep);
        url.push_str(&form_encode(name));
        url.push('=');
        url.push_str(&form_encode(value));
        sep = '&';
    }
    url
}

/// The stored id of a `state`: its SHA-256, so a copy of the table cannot answer a callback.
pub fn state_id(state: &str) -> String {
    hex(&Sha256::digest(state.as_bytes()))
}

/// The error of a provider answer that is not what the protocol says.
fn malformed(cx_warn: fn(&str), provider: &str, what: &str) -> FlowError {
    cx_warn(&format!("social {provider}: {what}"));
    FlowError::non_field(msg::SOCIAL_MALFORMED_RESPONSE)
}

fn net_error(warn: fn(&str), provider: &str, e: NetError) -> FlowError {
    match e {
        NetError::Timeout => {
            warn(&format!("social {provider}: provider timed out"));
            FlowError::non_field(msg::SOCIAL_TIMEOUT)
        }
        NetError::Unreachable(cause) => {
            warn(&format!("social {provider}: provider unreachable: {cause}"));
            FlowError::non_field(msg::SOCIAL_CONNECTION_FAILED)
        }
    }
}

/// A JSON object from a 2xx answer; other statuses are the provider's refusal.
fn json_answer(
    warn: fn(&str),
    provider: &str,
    what: &str,
    answer: HttpAnswer,
) -> Result<Map<String, Value>, FlowError> {
    if !(200..300).contains(&answer.status) {
        warn(&format!(
            "social {provider}: {what} answered {}",
            answer.status
        ));
        return Err(FlowError::non_field(msg::SOCIAL_HTTP_ERROR));
    }
    match serde_json::from_str::<Value>(&answer.body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(malformed(
            warn,
            provider,
            &format!("{what}: not a JSON object"),
        )),
    }
}

/// The discovery document of an OpenID Connect backend.
async fn discover<S, N: Outbound>(
    cx: &Cx<'_, S>,
    net: &N,
    provider: &Provider,
    issuer: &str,
) -> Result<Discovery, FlowError> {
    let answer = net
        .get(
            &oidc::discovery_url(issuer),
            &[("Accept", "application/json")],
            Cache::Allow,
        )
        .await
        .map_err(|e| net_error(cx.warn, provider.name, e))?;
    if !(200..300).contains(&answer.status) {
        (cx.warn)(&format!(
            "social {}: discovery answered {}",
            provider.name, answer.status
        ));
        return Err(FlowError::non_field(msg::SOCIAL_HTTP_ERROR));
    }
    oidc::parse_discovery(&answer.body, issuer).map_err(|e| {
        let why = match e {
            DiscoveryError::Malformed(what) => format!("discovery document: {what}"),
            DiscoveryError::IssuerMismatch => "discovery document of another issuer".into(),
            DiscoveryError::InsecureEndpoint(what) => format!("discovery: {what} is not https"),
        };
        malformed(cx.warn, provider.name, &why)
    })
}

/// The configured backend `name`, or the 404.
fn provider<'a, S>(cx: &'a Cx<'_, S>, name: &str) -> Result<&'a Provider, FlowError> {
    cx.settings
        .social
        .provider(name)
        .ok_or_else(|| FlowError::ProviderNotSupported(name.to_string()))
}

/// GET o/{provider}/?redirect_uri=…: the authorization URL of a new sign-in. As djoser, the
/// redirect_uri is checked first (400, a bare string), then the provider (404).
pub async fn begin<S: SocialStore + ThrottleStore, N: Outbound>(
    cx: &Cx<'_, S>,
    net: &N,
    provider_name: &str,
    redirect_uri: Option<&str>,
) -> Result<String, FlowError> {
    let allowed = &cx.settings.social.allowed_redirect_uris;
    let Some(redirect_uri) = redirect_uri.filter(|r| allowed.iter().any(|a| a == r)) else {
        return Err(FlowError::BareString(msg::SOCIAL_REDIRECT_URI_NOT_ALLOWED));
    };
    let provider = provider(cx, provider_name)?;
    // Each half of a sign-in counts as a password check does: the GET writes a row, the POST
    // calls the provider.
    throttle::check(cx, Scope::Login, None).await?;
    let state = URL_SAFE_NO_PAD.encode(random::<32>()?);
    let verifier = oidc::pkce_verifier(&random::<32>()?);
    let challenge = oidc::pkce_challenge(&verifier);
    let scope = provider.scope.join(" ");
    let (endpoint, nonce) = match &provider.kind {
        ProviderKind::Oidc { issuer } => {
            let found = discover(cx, net, provider, issuer).await?;
            (
                found.authorization_endpoint,
                URL_SAFE_NO_PAD.encode(random::<24>()?),
            )
        }
        ProviderKind::Github {
            authorization_url, ..
        } => (authorization_url.clone(), String::new()),
    };
    cx.store
        .create_social_state(&SocialState {
            id: state_id(&state),
            provider: provider.name.to_string(),
            redirect_uri: redirect_uri.to_string(),
            verifier,
            nonce: nonce.clone(),
            expires_at: cx.now.saturating_add(STATE_LIFETIME),
        })
        .await?;
    let mut params = vec![
        ("client_id", provider.key.as_str()),
        ("redirect_uri", redirect_uri),
        ("state", state.as_str()),
        ("response_type", "code"),
        ("scope", scope.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if !nonce.is_empty() {
        params.push(("nonce", nonce.as_str()));
    }
    Ok(with_query(&endpoint, &params))
}

/// What a completed sign-in answers: djoser's `{access, refresh, user}` (the user as its
/// username, DRF's `CharField` of the user), or the second-factor challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// The token pair.
    pub tokens: TokenPair,
    /// `str(user)`: the username.
    pub user: String,
}

fn param(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty() && v.len() <= MAX_PARAM_LEN)
}

/// POST o/{provider}/ with `code` and `state`: the sign-in, completed.
pub async fn complete<S, N>(
    cx: &Cx<'_, S>,
    net: &N,
    provider_name: &str,
    code: Option<&str>,
    state: Option<&str>,
) -> Result<SignIn<Completed>, FlowError>
where
    S: SocialStore + ThrottleStore + SessionIndex + MfaStore,
    N: Outbound,
{
    let provider = provider(cx, provider_name)?;
    let key = session::jwt_key(cx)?;
    throttle::check(cx, Scope::Login, None).await?;
    let (Some(state), Some(code)) = (param(state), param(code)) else {
        return Err(FlowError::non_field(msg::SOCIAL_MISSING_PARAMETER));
    };
    let Some(begun) = cx
        .store
        .consume_social_state(&state_id(state), provider.name, cx.now)
        .await?
    else {
        return Err(FlowError::non_field(msg::SOCIAL_STATE_INVALID));
    };
    let identity = match &provider.kind {
        ProviderKind::Oidc { issuer } => {
            oidc_identity(cx, net, provider, issuer, &begun, code).await?
        }
        ProviderKind::Github {
            access_token_url,
            api_url,
            ..
        } => github_identity(cx, net, provider, access_token_url, api_url, &begun, code).await?,
    };
    let user = account(cx, provider, &identity).await?;
    if !user.is_active {
        return Err(FlowError::non_field(msg::SOCIAL_DISALLOWED));
    }
    if user.mfa_enabled {
        return Ok(SignIn::SecondFactor(
            mfa::challenge(cx, &user, Purpose::Jwt).await?,
        ));
    }
    let tokens = session::open_jwt_session(cx, &key, &user).await?;
    cx.record(EventKind::SocialLogin, user.id, None);
    Ok(SignIn::Open(Completed {
        tokens,
        user: user.username,
    }))
}

/// The code exchange at `url` (RFC 6749 4.1.3 with the PKCE verifier, RFC 7636 4.5); the token
/// response's members.
async fn exchange<S, N: Outbound>(
    cx: &Cx<'_, S>,
    net: &N,
    provider: &Provider,
    url: &str,
    begun: &SocialState,
    code: &str,
) -> Result<Map<String, Value>, FlowError> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", begun.redirect_uri.as_str()),
        ("client_id", provider.key.as_str()),
        ("client_secret", provider.secret.as_str()),
        ("code_verifier", begun.verifier.as_str()),
    ];
    let answer = net
        .post_form(url, &form, &[("Accept", "application/json")])
        .await
        .map_err(|e| net_error(cx.warn, provider.name, e))?;
    if matches!(answer.status, 400 | 401) {
        (cx.warn)(&format!(
            "social {}: the token endpoint refused the code ({})",
            provider.name, answer.status
        ));
        return Err(FlowError::non_field(msg::SOCIAL_CODE_REJECTED));
    }
    let body = json_answer(cx.warn, provider.name, "token endpoint", answer)?;
    // GitHub answers 200 with an `error` member.
    if body.contains_key("error") {
        (cx.warn)(&format!(
            "social {}: the token endpoint refused the code ({})",
            provider.name,
            body.get("error").and_then(Value::as_str).unwrap_or("?")
        ));
        return Err(FlowError::non_field(msg::SOCIAL_CODE_REJECTED));
    }
    Ok(body)
}

fn id_token_error(e: IdTokenError) -> FlowError {
    FlowError::non_field(match e {
        IdTokenError::Malformed => msg::SOCIAL_MALFORMED_RESPONSE,
        IdTokenError::Signature => msg::SOCIAL_INVALID_SIGNATURE,
        IdTokenError::MissingClaim(_) => msg::SOCIAL_MISSING_CLAIM,
        IdTokenError::InvalidClaim(_) => msg::SOCIAL_INVALID_CLAIM,
        IdTokenError::Nonce => msg::SOCIAL_NONCE_MISMATCH,
        IdTokenError::Expired => msg::SOCIAL_RESPONSE_EXPIRED,
        IdTokenError::NotYetValid => msg::SOCIAL_NOT_YET_VALID,
    })
}

fn text(claims: &Map<String, Value>, name: &str) -> String {
    claims
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// `email_verified` as providers write it (a boolean; some write the string "true").
fn verified(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The identity in a verified ID token's claims.
pub fn identity_from_claims(claims: &Map<String, Value>) -> Identity {
    let email = text(claims, "email");
    let mut hints = vec![text(claims, "preferred_username")];
    if let Some((local, _)) = email.split_once('@') {
        hints.push(local.to_string());
    }
    hints.push(text(claims, "name"));
    Identity {
        subject: text(claims, "sub"),
        email_verified: !email.is_empty() && verified(claims.get("email_verified")),
        email,
        username_hints: hints.into_iter().filter(|h| !h.is_empty()).collect(),
        first_name: text(claims, "given_name"),
        last_name: text(claims, "family_name"),
    }
}

async fn oidc_identity<S, N: Outbound>(
    cx: &Cx<'_, S>,
    net: &N,
    provider: &Provider,
    issuer: &str,
    begun: &SocialState,
    code: &str,
) -> Result<Identity, FlowError> {
    let found = discover(cx, net, provider, issuer).await?;
    let tokens = exchange(cx, net, provider, &found.token_endpoint, begun, code).await?;
    let Some(id_token) = tokens.get("id_token").and_then(Value::as_str) else {
        return Err(malformed(
            cx.warn,
            provider.name,
            "no id_token in the token response",
        ));
    };
    let mut issuers = vec![found.issuer.clone()];
    if found.issuer == crate::config::GOOGLE_ISSUER {
        // Google's ID tokens also carry the issuer without its scheme.
        issuers.push("accounts.google.com".into());
    }
    let expected = Expected {
        issuers: &issuers,
        client_id: &provider.key,
        nonce: &begun.nonce,
        now: cx.now,
        leeway: ID_TOKEN_LEEWAY,
        max_age: ID_TOKEN_MAX_AGE,
    };
    let mut verdict = Err(IdTokenError::Signature);
    // A kept JWK Set may predate a key rotation: a signature it cannot check is tried once more
    // against a fresh one.
    for cache in [Cache::Allow, Cache::Refresh] {
        let answer = net
            .get(&found.jwks_uri, &[("Accept", "application/json")], cache)
            .await
            .map_err(|e| net_error(cx.warn, provider.name, e))?;
        let jwks = Value::Object(json_answer(cx.warn, provider.name, "jwks_uri", answer)?);
        verdict = oidc::verify_id_token(id_token, &jwks, &expected);
        if verdict != Err(IdTokenError::Signature) {
            break;
        }
    }
    let claims = verdict.map_err(|e| {
        (cx.warn)(&format!(
            "social {}: ID token refused: {e:?}",
            provider.name
        ));
        id_token_error(e)
    })?;
    Ok(identity_from_claims(&claims))
}

/// GitHub's identity: `user` (id, login, name, email) and `user/emails` (primary, verified).
pub fn github_identity_from(user: &Map<String, Value>, emails: Option<&Value>) -> Option<Identity> {
    let subject = match user.get("id")? {
        Value::Number(n) => n.to_string(),
        Value::String(s) if !s.is_empty() => s.clone(),
        _ => return None,
    };
    let listed: Vec<&Map<String, Value>> = emails
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    // The primary address when GitHub says it is verified; the profile's public address is
    // never taken as verified.
    let primary = listed
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)));
    let (email, email_verified) = match primary {
        Some(e) => (text(e, "email"), verified(e.get("verified"))),
        None => (text(user, "email"), false),
    };
    let mut hints = vec![text(user, "login")];
    if let Some((local, _)) = email.split_once('@') {
        hints.push(local.to_string());
    }
    let name = text(user, "name");
    let (first_name, last_name) = match name.split_once(' ') {
        Some((first, last)) => (first.to_string(), last.trim().to_string()),
        None => (name.clone(), String::new()),
    };
    Some(Identity {
        subject,
        email_verified: email_verified && !email.is_empty(),
        email,
        username_hints: hints.into_iter().filter(|h| !h.is_empty()).collect(),
        first_name,
        last_name,
    })
}

async fn github_identity<S, N: Outbound>(
    cx: &Cx<'_, S>,
    net: &N,
    provider: &Provider,
    access_token_url: &str,
    api_url: &str,
    begun: &SocialState,
    code: &str,
) -> Result<Identity, FlowError> {
    let tokens = exchange(cx, net, provider, access_token_url, begun, code).await?;
    let Some(access) = tokens.get("access_token").and_then(Value::as_str) else {
        return Err(malformed(cx.warn, provider.name, "no access_token"));
    };
    let authorization = format!("token {access}");
    let headers = [
        ("Authorization", authorization.as_str()),
        ("Accept", "application/vnd.github+json"),
        ("User-Agent", "djoser-edge"),
    ];
    let answer = net
        .get(&format!("{api_url}user"), &headers, Cache::Never)
        .await
        .map_err(|e| net_error(cx.warn, provider.name, e))?;
    let user = json_answer(cx.warn, provider.name, "user API", answer)?;
    let emails = match net
        .get(&format!("{api_url}user/emails"), &headers, Cache::Never)
        .await
    {
        Ok(answer) if (200..300).contains(&answer.status) => {
            serde_json::from_str::<Value>(&answer.body).ok()
        }
        // python-social-auth goes on without the list when it cannot be read.
        _ => None,
    };
    github_identity_from(&user, emails.as_ref())
        .ok_or_else(|| malformed(cx.warn, provider.name, "user API without an id"))
}

/// A username from the provider's hints: Django's username characters only (letters, digits and
/// `@.+-_`), at most 150 characters; `user` when nothing is left.
pub fn derive_username(hints: &[String]) -> String {
    for hint in hints {
        let cleaned: String = hint
            .chars()
            .map(|c| if c.is_whitespace() { '_' } else { c })
            .filter(|c| c.is_alphanumeric() || "@.+-_".contains(*c))
            .take(USERNAME_MAX_LENGTH)
            .collect();
        if !cleaned.is_empty() && username_errors(&cleaned).is_empty() {
            return cleaned;
        }
    }
    "user".to_string()
}

/// The `n`th alternative of `base` (`base`, then `base2`, `base3`, …), within 150 characters.
pub fn numbered(base: &str, n: u32) -> String {
    if n <= 1 {
        return base.to_string();
    }
    let suffix = n.to_string();
    let keep = USERNAME_MAX_LENGTH.saturating_sub(suffix.len());
    let head: String = base.chars().take(keep).collect();
    format!("{head}{suffix}")
}

/// Tries of numbered names before a random suffix.
const NUMBERED_TRIES: u32 = 5;

/// A free username for `identity` (python-social-auth's get_username: the name, made unique).
async fn unique_username<S: UserStore>(
    cx: &Cx<'_, S>,
    identity: &Identity,
    attempt: u32,
) -> Result<String, FlowError> {
    let base = derive_username(&identity.username_hints);
    for n in (attempt * NUMBERED_TRIES + 1)..=(attempt * NUMBERED_TRIES + NUMBERED_TRIES) {
        let name = numbered(&base, n);
        if !cx.store.conflicts(Some(&name), None).await?.name_taken {
            return Ok(name);
        }
    }
    let suffix = hex(&random::<4>()?);
    let head: String = base
        .chars()
        .take(USERNAME_MAX_LENGTH - suffix.len() - 1)
        .collect();
    Ok(format!("{head}_{suffix}"))
}

/// The user the identity signs in as: its linked user, the account it joins by e-mail, or a new
/// one.
async fn account<S: SocialStore + UserStore>(
    cx: &Cx<'_, S>,
    provider: &Provider,
    identity: &Identity,
) -> Result<User, FlowError> {
    if let Some(user) = cx
        .store
        .social_user(provider.name, &identity.subject, cx.now)
        .await?
    {
        return Ok(user);
    }
    let email = if identity.email_verified {
        crate::domain::email::normalize_email(&identity.email)
    } else {
        String::new()
    };
    let link = |user_id: i64| SocialLink {
        provider: provider.name,
        subject: &identity.subject,
        user_id,
        email: &identity.email,
        now: cx.now,
    };
    if !email.is_empty() {
        if let Some(owner) = cx.store.conflicts(None, Some(&email)).await?.email_owner {
            if !cx.settings.social.associate_by_email {
                return Err(FlowError::non_field(msg::SOCIAL_EMAIL_IN_USE));
            }
            if cx.store.link_social(&link(owner)).await? {
                cx.record(EventKind::SocialAccountLinked, owner, None);
            }
            return linked_user(cx, provider, identity).await;
        }
    }
    let mut created = None;
    for attempt in 0..3 {
        let username = unique_username(cx, identity, attempt).await?;
        let new = NewUser {
            username,
            email: email.clone(),
            // Unusable (Django's set_unusable_password): no password sign-in until a reset.
            password: format!("!{}", hex(&random::<20>()?)),
            is_active: true,
            activation_pending: false,
            date_joined: cx.now,
            profile: ProfileChange {
                first_name: Some(identity.first_name.chars().take(150).collect()),
                last_name: Some(identity.last_name.chars().take(150).collect()),
                ..ProfileChange::default()
            },
        };
        match cx.store.create_user(&new).await {
            Ok(user) => {
                created = Some(user);
                break;
            }
            // Another sign-in took the name between the check and the insert.
            Err(StorageError::Conflict { field: "username" }) => continue,
            Err(StorageError::Conflict { field: "email" }) => {
                return Err(FlowError::non_field(msg::SOCIAL_EMAIL_IN_USE))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let Some(user) = created else {
        return Err(FlowError::Internal("social: no free username".into()));
    };
    if cx.store.link_social(&link(user.id)).await? {
        cx.record(EventKind::SocialAccountCreated, user.id, None);
        return Ok(user);
    }
    // A concurrent first sign-in of the same identity linked its own new user first: this one
    // goes, and the winner's is used.
    cx.store.delete_user(user.id).await?;
    linked_user(cx, provider, identity).await
}

async fn linked_user<S: SocialStore + UserStore>(
    cx: &Cx<'_, S>,
    provider: &Provider,
    identity: &Identity,
) -> Result<User, FlowError> {
    cx.store
        .social_user(provider.name, &identity.subject, cx.now)
        .await?
        .ok_or_else(|| FlowError::Internal("social: the link vanished".into()))
}

#[cfg(test)]
mod tests;
